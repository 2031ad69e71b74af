//! `ipkit events` through the real binary: reading back, `--tag`, `--json`,
//! `-n`, and `--follow` printing an event emitted by another process. Also
//! the commands that need no network: `clear`, `list`, `show`, `man`,
//! `completions`, and the exit statuses of unknown tags.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn ipkit(dir: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("ipkit"));
    c.env("IPKIT_CONFIG_DIR", dir.join("etc"))
        .env("IPKIT_STATE_DIR", dir.join("var"))
        .stdin(Stdio::null());
    c
}

/// A definition written by hand, as an operator may (no network needed).
fn define(dir: &Path, tag: &str, addr: &str) {
    let res = dir.join("etc/resources");
    std::fs::create_dir_all(&res).unwrap();
    std::fs::write(
        res.join(format!("{tag}.toml")),
        format!("tag = \"{tag}\"\naddress = \"{addr}\"\nadapter = \"eth0\"\n"),
    )
    .unwrap();
}

fn mark_failed(dir: &Path, tag: &str) {
    let st = dir.join("var/state");
    std::fs::create_dir_all(&st).unwrap();
    std::fs::write(st.join(format!("{tag}.json")), "{\"failed\": true}").unwrap();
}

#[test]
fn events_read_back_filtered_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    define(dir.path(), "a", "198.51.100.10/24");
    define(dir.path(), "b", "198.51.100.11/24");
    for t in ["a", "b", "a"] {
        mark_failed(dir.path(), t);
        let out = ipkit(dir.path()).args(["clear", t]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The human form on stderr, as it happens.
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains(&format!("Information 7107 Failed mark of {t} (198.51.100.")),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ipkit(dir.path())
        .args(["events", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let tags: Vec<&str> = lines.iter().map(|e| e["tag"].as_str().unwrap()).collect();
    assert_eq!(tags, ["a", "b", "a"]);
    for e in &lines {
        assert_eq!(e["id"], 7107);
        assert_eq!(e["severity"], "Information");
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
        assert!(e.get("operation").is_some(), "operation key present: {e}");
    }
    let out = ipkit(dir.path())
        .args(["events", "--tag", "b"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("Information 7107 Failed mark of b (198.51.100.11)"));
    let out = ipkit(dir.path())
        .args(["events", "-n", "1", "--json"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

#[test]
fn events_follow_prints_what_another_process_emits() {
    let dir = tempfile::tempdir().unwrap();
    define(dir.path(), "a", "198.51.100.10/24");
    mark_failed(dir.path(), "a");
    let mut follower = ipkit(dir.path())
        .args(["events", "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let out = ipkit(dir.path()).args(["clear", "a"]).output().unwrap();
    assert!(out.status.success());
    // Generous bound: this is a liveness check, not a timing assertion.
    let line = rx.recv_timeout(Duration::from_secs(20));
    follower.kill().unwrap();
    follower.wait().unwrap();
    let line = line.expect("the follower printed the event").unwrap();
    let e: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(e["id"], 7107);
    assert_eq!(e["tag"], "a");
}

#[test]
fn reading_commands_need_no_network() {
    let dir = tempfile::tempdir().unwrap();
    define(dir.path(), "web", "198.51.100.10/24");
    let out = ipkit(dir.path()).args(["list"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "web  198.51.100.10/24  eth0"
    );
    let out = ipkit(dir.path())
        .args(["show", "web", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["definition"]["adapter"], "eth0");
    assert_eq!(v["state"]["in_service"], false);
    let out = ipkit(dir.path()).args(["show", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tag \"nope\""));
    let out = ipkit(dir.path()).args(["clear", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn a_broken_definition_names_its_file_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    define(dir.path(), "good", "198.51.100.10/24");
    let res = dir.path().join("etc/resources");
    std::fs::write(
        res.join("bad.toml"),
        "tag = \"bad\"\naddress = \"198.51.100.0/24\"\nadapter = \"eth0\"\n",
    )
    .unwrap();
    let out = ipkit(dir.path()).args(["show", "bad"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("network address"),
        "{err}"
    );
    let out = ipkit(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "the good resource is still shown");
    assert!(
        rows.iter()
            .any(|r| r["tag"] == "bad" && r["error"].is_string())
    );
}

#[test]
fn man_page_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let out = ipkit(dir.path()).args(["man"]).output().unwrap();
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(man.contains(".TH ipkit"), "{}", &man[..200.min(man.len())]);
    assert!(man.contains("quickcheck"));
    let out = ipkit(dir.path())
        .args(["man", "--out-dir"])
        .arg(dir.path().join("man"))
        .output()
        .unwrap();
    assert!(out.status.success());
    // A man tree: the commands in man1, the configuration in man5, the agent in man7.
    for page in [
        "man1/ipkit.1",
        "man1/ipkit-create.1",
        "man5/ipkit.toml.5",
        "man7/ocf_ipkit_vip.7",
    ] {
        assert!(dir.path().join("man").join(page).exists(), "{page}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = ipkit(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("quickcheck"),
            "{shell}"
        );
    }
}

#[test]
fn help_lists_the_exit_statuses() {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("ipkit"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for l in [
        "0  success",
        "1  the operation ran and failed",
        "2  invalid input",
        "3  missing privilege",
        "4  resource busy",
        "5  unknown tag",
    ] {
        assert!(text.contains(l), "{l}");
    }
}

/// The command line's deepCheck uses the peers of `ipkit.toml` (SPEC §5):
/// a peer that does not answer counts as down, so deepCheck succeeds with
/// no warning; a broken `ipkit.toml` is refused as a configuration error
/// (exit 2) that names the file.
#[test]
fn deepcheck_uses_the_peers_configuration() {
    let dir = tempfile::tempdir().unwrap();
    define(dir.path(), "a", "198.51.100.10/24");
    // Port 9 on loopback: nobody listens, the connection is refused at once.
    std::fs::write(
        dir.path().join("etc/ipkit.toml"),
        "[[peer]]\nname = \"node-b\"\nurl = \"http://127.0.0.1:9\"\ntimeout_ms = 200\n",
    )
    .unwrap();
    let out = ipkit(dir.path()).args(["deepcheck", "a"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("6406"), "{stderr}");

    std::fs::write(dir.path().join("etc/ipkit.toml"), "[[peer]]\nname = 3\n").unwrap();
    let out = ipkit(dir.path()).args(["deepcheck", "a"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ipkit.toml"), "{stderr}");
}
