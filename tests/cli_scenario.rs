//! A full command-line scenario in a namespace lab (issue 4 "Done when"):
//! create, restore, quickcheck, pull the cable, recover, status --json,
//! events --json, remove, delete — through the real binary, inside node A.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;

use cli_support::{Env, code, stderr, stdout};
use ipkit::resource::Mac;
use ipkit_lab::Port;

fn ok(env: &Env, args: &[&str]) -> (String, String) {
    let out = env.run(args);
    assert_eq!(
        code(&out),
        0,
        "ipkit {args:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    (stdout(&out), stderr(&out))
}

fn event_ids(stderr: &str) -> Vec<u16> {
    stderr
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next()) {
                (Some("Information" | "Warning" | "Error"), Some(n)) => n.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

fn scenario(addr: &str, ip: &str) {
    let env = Env::new();
    let mac0 = Mac(env.lab.mac_of(Port::APrimary).expect("eth0 MAC"));
    let mac1 = Mac(env.lab.mac_of(Port::ABackup).expect("eth1 MAC"));

    // create: validated (including the wire probe), MAC and ifindex recorded.
    let (out, _) = ok(
        &env,
        &[
            "create",
            "web",
            "--address",
            addr,
            "--adapter",
            "eth0",
            "--recovery-adapter",
            "eth1",
        ],
    );
    assert!(out.contains("created web"), "{out}");
    let def = std::fs::read_to_string(env.config_dir().join("resources/web.toml")).unwrap();
    assert!(def.contains(&format!("mac = \"{mac0}\"")), "{def}");
    assert!(def.contains(&format!("mac = \"{mac1}\"")), "{def}");

    // restore: 6013 .. 6001, the address on eth0 only.
    let (out, err) = ok(&env, &["restore", "web"]);
    assert_eq!(event_ids(&err), vec![6013, 6001], "{err}");
    assert!(
        out.contains("restore web: success (active adapter eth0)"),
        "{out}"
    );
    assert!(env.ip(&["-o", "addr", "show", "dev", "eth0"]).contains(ip));
    assert!(!env.ip(&["-o", "addr", "show", "dev", "eth1"]).contains(ip));
    let (ipaddr, _) = (ip.parse().unwrap(), ());
    assert!(
        env.lab.client_reaches(ipaddr).unwrap(),
        "client reaches {ip}"
    );

    // quickcheck passes, under both spellings.
    ok(&env, &["quickcheck", "web"]);
    ok(&env, &["quickCheck", "web"]);

    // Pull the primary's cable: quickcheck fails with 6507, exit 1.
    env.lab.pull_cable(Port::APrimary).unwrap();
    let out = env.run(&["quickcheck", "web"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(event_ids(&stderr(&out)), vec![6507]);
    assert!(stderr(&out).contains(&format!(
        "Error 6507 Network cable for IP address {ip} on network adapter eth0 is disconnected !."
    )));

    // recover: onto eth1.
    let (out, err) = ok(&env, &["recover", "web"]);
    let ids = event_ids(&err);
    assert_eq!(ids.first(), Some(&6605), "{err}");
    assert_eq!(ids.last(), Some(&6603), "{err}");
    assert!(out.contains("active adapter eth1"), "{out}");
    assert!(env.ip(&["-o", "addr", "show", "dev", "eth1"]).contains(ip));
    assert!(!env.ip(&["-o", "addr", "show", "dev", "eth0"]).contains(ip));

    // status --json.
    let (out, _) = ok(&env, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("status --json is JSON");
    let rows = v.as_array().expect("an array");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["tag"], "web");
    assert_eq!(r["address"], addr);
    assert_eq!(r["adapter"], "eth0");
    assert_eq!(r["recovery_adapter"], "eth1");
    assert_eq!(r["active_adapter"], "eth1");
    assert_eq!(r["in_service"], true);
    assert_eq!(r["carrier"], "connected");
    assert_eq!(r["held_by"], serde_json::json!(["eth1"]));
    assert!(r["last_check"].is_string(), "{r}");
    assert_eq!(r["last_result"]["operation"], "recover");
    assert_eq!(r["last_result"]["success"], true);

    // Human status names the resource and the active adapter.
    let (out, _) = ok(&env, &["status"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("web ") && l.contains("eth1")),
        "{out}"
    );

    // remove, then delete.
    let (_, err) = ok(&env, &["remove", "web"]);
    assert_eq!(event_ids(&err), vec![6101], "{err}");
    assert!(!env.ip(&["-o", "addr", "show"]).contains(ip));

    // events --json: every event so far, one object per line, with the fields.
    let (out, _) = ok(&env, &["events", "--json", "--tag", "web"]);
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    for want in [7201, 6013, 6001, 6507, 6605, 6603, 6101] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let pos = |n: u64| ids.iter().position(|i| *i == n).unwrap();
    assert!(pos(6013) < pos(6001) && pos(6001) < pos(6605) && pos(6605) < pos(6101));
    for e in &events {
        for k in ["time", "id", "severity", "tag", "operation", "message"] {
            assert!(!e[k].is_null(), "{k} missing in {e}");
        }
        assert_eq!(e["tag"], "web");
    }
    let start = events.iter().find(|e| e["id"] == 6013).unwrap();
    assert_eq!(start["message"], format!("Restore IP Address {ip} Start"));
    assert_eq!(start["severity"], "Information");
    assert_eq!(start["operation"], "restore");

    // delete: the definition and state are gone, list is empty.
    ok(&env, &["delete", "web"]);
    assert!(!env.config_dir().join("resources/web.toml").exists());
    let (out, _) = ok(&env, &["list", "--json"]);
    assert_eq!(out.trim(), "[]");
    let out = env.run(&["show", "web"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
}

#[test]
fn ipv4_scenario() {
    scenario("198.51.100.10/24", "198.51.100.10");
}

#[test]
fn ipv6_scenario() {
    scenario("2001:db8:1::10/64", "2001:db8:1::10");
}

#[test]
fn delete_refuses_while_in_service_unless_forced() {
    let env = Env::new();
    ok(
        &env,
        &[
            "create",
            "web",
            "--address",
            "198.51.100.11/24",
            "--adapter",
            "eth0",
            "--no-probe",
            "--probe-timeout",
            "0",
        ],
    );
    ok(&env, &["restore", "web"]);
    let out = env.run(&["delete", "web"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("is in service"), "{}", stderr(&out));
    assert!(env.config_dir().join("resources/web.toml").exists());
    let (_, err) = ok(&env, &["delete", "--force", "web"]);
    assert!(err.contains("no longer protected"), "{err}");
    assert!(!env.config_dir().join("resources/web.toml").exists());
    // --force leaves the address where it was.
    assert!(
        env.ip(&["-o", "addr", "show", "dev", "eth0"])
            .contains("198.51.100.11")
    );
}

#[test]
fn busy_resource_gives_exit_4() {
    let env = Env::new();
    ok(
        &env,
        &[
            "create",
            "web",
            "--address",
            "198.51.100.12/24",
            "--adapter",
            "eth0",
            "--no-probe",
            "--lock-timeout",
            "100",
        ],
    );
    // Hold the resource's lock as another operation would.
    let store = ipkit::store::Store::new(env.config_dir(), env.state_dir());
    let tag = ipkit::resource::Tag::new("web").unwrap();
    let held = store.lock(&tag, std::time::Duration::from_secs(1)).unwrap();
    let out = env.run(&["quickcheck", "web"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("busy"), "{}", stderr(&out));
    // status never waits for the lock.
    let (out, _) = ok(&env, &["status", "--json"]);
    assert!(out.contains("\"tag\":\"web\""), "{out}");
    drop(held);
    let out = env.run(&["quickcheck", "web"]);
    assert_eq!(code(&out), 1, "not restored yet: 6508");
    assert!(stderr(&out).contains("6508"));
}

#[test]
fn clear_resets_the_failed_mark() {
    let env = Env::new();
    ok(
        &env,
        &[
            "create",
            "web",
            "--address",
            "198.51.100.13/24",
            "--adapter",
            "eth0",
            "--no-probe",
        ],
    );
    let state_path = env.state_dir().join("state/web.json");
    std::fs::create_dir_all(state_path.parent().unwrap()).unwrap();
    std::fs::write(&state_path, "{\"failed\": true}").unwrap();
    let (out, _) = ok(&env, &["status", "--json"]);
    assert!(out.contains("\"failed\":true"), "{out}");
    let (out, err) = ok(&env, &["clear", "web"]);
    assert!(out.contains("cleared"), "{out}");
    assert!(err.contains("7107"), "{err}");
    let (out, _) = ok(&env, &["status", "--json"]);
    assert!(out.contains("\"failed\":false"), "{out}");
}

#[test]
fn a_replaced_nic_is_reported_by_status_and_show() {
    let env = Env::new();
    ok(
        &env,
        &[
            "create",
            "web",
            "--address",
            "198.51.100.14/24",
            "--adapter",
            "eth0",
            "--recovery-adapter",
            "eth1",
            "--no-probe",
        ],
    );
    let (out, _) = ok(&env, &["status", "--json"]);
    assert!(!out.contains("adapter_changed"), "{out}");
    // "Replace" eth1: same name, another MAC.
    env.ip(&["link", "set", "dev", "eth1", "address", "02:00:5e:00:53:77"]);
    let (out, _) = ok(&env, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let changed = v[0]["adapter_changed"]
        .as_array()
        .expect("adapter_changed listed");
    assert_eq!(changed.len(), 1, "{out}");
    assert!(
        changed[0]
            .as_str()
            .unwrap()
            .starts_with("eth1: MAC 02:00:5e:00:53:77 now, "),
        "{out}"
    );
    let (out, _) = ok(&env, &["show", "web"]);
    assert!(
        out.contains("not the NIC recorded at definition time (eth1: MAC"),
        "{out}"
    );
}

#[test]
fn create_adopts_an_address_on_the_primary_and_says_when_it_cannot_probe() {
    let env = Env::new();
    env.ip(&["addr", "add", "198.51.100.15/24", "dev", "eth0"]);
    let (_, err) = ok(
        &env,
        &[
            "create",
            "web",
            "--address",
            "198.51.100.15/24",
            "--adapter",
            "eth0",
        ],
    );
    assert!(
        err.contains("already on eth0; the resource adopts it"),
        "{err}"
    );
    let (_, err) = ok(&env, &["restore", "web"]);
    // An address added by hand has no source routing yet: the reconcile
    // before the restore installs it, one 7007 per rule and route.
    let (routing, rest): (Vec<&str>, Vec<&str>) =
        err.lines().partition(|l| l.contains("source routing:"));
    assert_eq!(event_ids(&rest.join("\n")), vec![6013, 6001], "{err}");
    assert!(
        routing.len() >= 2 && routing.iter().all(|l| l.starts_with("Warning 7007")),
        "{err}"
    );

    env.lab.pull_cable(Port::APrimary).unwrap();
    env.lab.pull_cable(Port::ABackup).unwrap();
    let (_, err) = ok(
        &env,
        &[
            "create",
            "other",
            "--address",
            "198.51.100.16/24",
            "--adapter",
            "eth0",
            "--recovery-adapter",
            "eth1",
        ],
    );
    assert!(err.contains("the in-use probe could not run"), "{err}");
}
