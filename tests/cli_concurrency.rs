//! Concurrent commands through the real binary (issue 10).
//!
//! - `create` (defect 4): the uniqueness checks (tag, and address across
//!   definitions) and the write are one atomic step, so of 10 creates
//!   started together exactly one wins and the others are refused with a
//!   clear "exists" message. Several rounds, because one lucky round
//!   proves little.
//! - 100 mixed operations on one resource, all started at once: the
//!   resource's lock serialises them, so in `events.jsonl` no operation's
//!   events fall between another one's Start and End, every one of them
//!   runs (none is refused as busy), the address is never on two adapters,
//!   and at the end the state agrees with the kernel.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;

use std::net::IpAddr;
use std::process::{Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cli_support::{Env, code, event_log, stderr, stdout};

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

/// The Start and End ids of the operations that log a Start (restore,
/// recover; 6605 is also recover's error when local recovery is off, which
/// is never a Start here).
const PAIRS: [(u16, [u16; 2]); 2] = [(6013, [6001, 6002]), (6605, [6603, 6604])];
/// The ids only one operation's own run emits: the Starts and Ends above,
/// remove's End (it logs no Start), and the reconcile of a load (7007).
const OWN_RUN: [u16; 9] = [6013, 6001, 6002, 6605, 6603, 6604, 6101, 6102, 7007];

/// The first place where an operation's events fall between another one's
/// Start and End: (line, what), or None.
fn interleaving(ids: &[u16]) -> Option<(usize, String)> {
    let mut open: Option<(u16, [u16; 2])> = None;
    for (line, id) in ids.iter().enumerate() {
        match open {
            Some((_, ends)) if ends.contains(id) => open = None,
            Some((start, _)) if OWN_RUN.contains(id) => {
                return Some((line, format!("{id} inside {start}..End")));
            }
            Some(_) => {}
            None => {
                if let Some(pair) = PAIRS.iter().find(|(start, _)| start == id) {
                    open = Some(*pair);
                } else if PAIRS.iter().any(|(_, ends)| ends.contains(id)) {
                    return Some((line, format!("{id} without its Start")));
                }
            }
        }
    }
    open.map(|(start, _)| (ids.len(), format!("{start} never ended")))
}

#[test]
fn the_interleaving_check_can_fail() {
    assert_eq!(
        interleaving(&[6013, 6507, 6001, 6101, 6605, 6507, 6603]),
        None
    );
    assert!(interleaving(&[6013, 6605, 6603, 6001]).is_some());
    assert!(interleaving(&[6605, 6101, 6603]).is_some());
    assert!(interleaving(&[6013, 7007, 6001]).is_some());
    assert!(interleaving(&[6001]).is_some());
    assert!(interleaving(&[6013]).is_some());
}

const MIXED: usize = 100;
const OPERATIONS: [&str; 5] = ["restore", "recover", "remove", "quickcheck", "deepcheck"];

#[test]
fn a_hundred_concurrent_operations_on_one_resource_never_interleave() {
    let env = Env::new();
    let out = env.run(&[
        "create",
        "vip",
        "--address",
        "198.51.100.30/24",
        "--adapter",
        "eth0",
        "--recovery-adapter",
        "eth1",
        "--no-probe",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ip: IpAddr = "198.51.100.30".parse().unwrap();
    let commands: Vec<Vec<String>> = (0..MIXED)
        .map(|i| {
            vec![
                OPERATIONS[i % OPERATIONS.len()].to_owned(),
                "vip".to_owned(),
            ]
        })
        .collect();

    let stop = AtomicBool::new(false);
    let doubled = Mutex::new(Vec::new());
    let outs = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let held = env.holders(ip);
                if held.len() > 1 {
                    doubled.lock().unwrap().push(held);
                }
            }
        });
        let outs = race(&env, commands.clone());
        stop.store(true, Ordering::Relaxed);
        outs
    });

    // Every operation ran: 0, or 1 for one that ran and failed (quickcheck
    // or recover on a resource another one just removed). None busy (4).
    for (args, out) in commands.iter().zip(&outs) {
        assert!(
            matches!(code(out), 0 | 1),
            "{args:?}: exit {}: {}",
            code(out),
            stderr(out)
        );
    }
    assert_eq!(*doubled.lock().unwrap(), Vec::<Vec<String>>::new());

    let events = event_log(&env.state_dir());
    let ids: Vec<u16> = events.iter().map(|e| e.id).collect();
    if let Some((line, what)) = interleaving(&ids) {
        panic!("events.jsonl line {}: {what}; ids: {ids:?}", line + 1);
    }
    // Each restore and recover logged its own Start and End, each remove
    // its End.
    let count = |id: u16| ids.iter().filter(|i| **i == id).count();
    let ran = |op: &str| commands.iter().filter(|c| c[0] == op).count();
    assert_eq!(count(6013), ran("restore"), "{ids:?}");
    assert_eq!(count(6001) + count(6002), ran("restore"), "{ids:?}");
    assert_eq!(count(6603) + count(6604), ran("recover"), "{ids:?}");
    assert_eq!(count(6101) + count(6102), ran("remove"), "{ids:?}");

    let exits = |c: i32| outs.iter().filter(|o| code(o) == c).count();
    println!(
        "{MIXED} concurrent operations: {} exited 0, {} exited 1; {} Start..End pairs \
         and {} removes in events.jsonl, none interleaved",
        exits(0),
        exits(1),
        count(6013) + count(6605),
        count(6101) + count(6102)
    );

    // The state agrees with the kernel at the end.
    let out = env.run(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let row = &rows[0];
    assert!(row.get("disagreements").is_none(), "{row}");
    let held = env.holders(ip);
    assert!(held.len() <= 1, "{held:?}");
    assert_eq!(row["in_service"], !held.is_empty(), "{row} {held:?}");
}
