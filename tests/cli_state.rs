//! The kernel is the truth (issue 10 defects 1, 2 and 3), through the real
//! binary inside node A of a namespace lab: `status` shows where the state
//! and the kernel disagree, the next operation corrects the state (7007),
//! `recover` never brings up an address that is not in service here
//! (7008), and `delete` of a resource whose address is up needs --force.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;

use cli_support::{Env, code, stderr, stdout};

const ADDR: &str = "198.51.100.10/24";
const IP: &str = "198.51.100.10";

fn created(env: &Env) {
    let out = env.run(&[
        "create",
        "web",
        "--address",
        ADDR,
        "--adapter",
        "eth0",
        "--recovery-adapter",
        "eth1",
        "--no-probe",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

fn on(env: &Env, nic: &str) -> bool {
    env.ip(&["-o", "addr", "show", "dev", nic])
        .contains(&format!(" {IP}/"))
}

fn status_row(env: &Env) -> serde_json::Value {
    let out = env.run(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    rows[0].clone()
}

#[test]
fn an_address_held_by_hand_is_shown_then_corrected_and_delete_needs_force() {
    let env = Env::new();
    created(&env);
    // Up on the primary behind ipkit's back (or a restore killed before
    // it wrote its state): the state says out of service.
    env.ip(&["addr", "add", ADDR, "dev", "eth0"]);

    let row = status_row(&env);
    let found = row["disagreements"].to_string();
    assert!(
        found.contains("in_service") && found.contains("eth0"),
        "status --json shows no disagreement: {row}"
    );
    let out = env.run(&["status"]);
    assert!(
        stdout(&out).contains("disagree"),
        "status shows no disagreement:\n{}",
        stdout(&out)
    );

    // delete refuses while the address is up here.
    let out = env.run(&["delete", "web"]);
    assert_eq!(code(&out), 2, "delete without --force: {}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(env.config_dir().join("resources/web.toml").exists());

    // The next operation corrects the state from the kernel (7007).
    let out = env.run(&["quickcheck", "web"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("Warning 7007"), "{}", stderr(&out));
    let row = status_row(&env);
    assert_eq!(row["in_service"], true, "{row}");
    assert!(
        row["disagreements"].as_array().is_none_or(Vec::is_empty),
        "{row}"
    );

    let out = env.run(&["delete", "--force", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        on(&env, "eth0"),
        "delete --force leaves the address where it is"
    );
}

#[test]
fn restore_after_a_crash_that_left_a_stale_active_adapter_succeeds() {
    let env = Env::new();
    created(&env);
    env.ip(&["addr", "add", ADDR, "dev", "eth0"]);
    // What a recover killed between its kernel change and its state write
    // leaves: the state names eth1, the kernel has the address on eth0.
    let state = env.state_dir().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("web.json"),
        "{\"active_adapter\": \"eth1\", \"in_service\": true}",
    )
    .unwrap();
    let out = env.run(&["restore", "web"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("active_adapter eth1 -> eth0"),
        "{}",
        stderr(&out)
    );
    assert!(on(&env, "eth0") && !on(&env, "eth1"));
    assert_eq!(status_row(&env)["active_adapter"], "eth0");
}

#[test]
fn recover_refuses_a_resource_that_is_not_in_service_here() {
    let env = Env::new();
    created(&env);
    let out = env.run(&["recover", "web"]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("Error 7008"), "{}", stderr(&out));
    assert!(
        !on(&env, "eth0") && !on(&env, "eth1"),
        "recover added the address"
    );
}
