//! Concurrent `create` through the real binary (issue 10 defect 4): the
//! uniqueness checks (tag, and address across definitions) and the write
//! are one atomic step, so of 10 creates started together exactly one
//! wins and the others are refused with a clear "exists" message. Several
//! rounds, because one lucky round proves little.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;

use std::process::{Output, Stdio};

use cli_support::{Env, code, stderr};

const RACERS: usize = 10;
const ROUNDS: usize = 5;

/// Start every command before waiting for any.
fn race(env: &Env, commands: Vec<Vec<String>>) -> Vec<Output> {
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            env.ipkit(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn ipkit")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for ipkit"))
        .collect()
}

fn create(tag: &str, addr: &str) -> Vec<String> {
    [
        "create",
        tag,
        "--address",
        addr,
        "--adapter",
        "eth0",
        "--no-probe",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn definitions(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.config_dir().join("resources"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Exactly one exit 0; every other one exit 2 with `refusal` in stderr.
fn one_winner(outs: &[Output], refusal: &str, round: &str) -> usize {
    let winners: Vec<usize> = (0..outs.len()).filter(|i| code(&outs[*i]) == 0).collect();
    assert_eq!(
        winners.len(),
        1,
        "{round}: {} winners; stderr:\n{}",
        winners.len(),
        outs.iter().map(stderr).collect::<Vec<_>>().join("---\n")
    );
    for (i, o) in outs.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(code(o), 2, "{round}: {}", stderr(o));
            assert!(stderr(o).contains(refusal), "{round}: {}", stderr(o));
        }
    }
    winners[0]
}

#[test]
fn concurrent_creates_of_one_tag_or_one_address_have_exactly_one_winner() {
    let env = Env::new();
    for round in 0..ROUNDS {
        // One tag, ten addresses.
        let outs = race(
            &env,
            (0..RACERS)
                .map(|i| create("web", &format!("198.51.100.{}/24", 10 + i)))
                .collect(),
        );
        one_winner(&outs, "already exists", &format!("tag round {round}"));
        assert_eq!(definitions(&env), vec!["web.toml"]);
        let out = env.run(&["delete", "web"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));

        // One address, ten tags.
        let outs = race(
            &env,
            (0..RACERS)
                .map(|i| create(&format!("web{i}"), "198.51.100.20/24"))
                .collect(),
        );
        let w = one_winner(
            &outs,
            "already protected",
            &format!("address round {round}"),
        );
        assert_eq!(definitions(&env), vec![format!("web{w}.toml")]);
        let out = env.run(&["delete", &format!("web{w}")]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
}
