//! `ipkit daemon --help` and `ipkit daemon --check-config` through the real
//! binary: the help lists the daemon's exit statuses from their one table
//! (`DaemonExit` in src/daemon/error.rs), and the check judges
//! `ipkit.toml` and the definitions with the daemon's own statuses, writes
//! nothing and starts nothing (no namespace needed: it reads files only).

use std::path::Path;
use std::process::{Command, Output};

use ipkit::daemon::DaemonExit;

fn ipkit(dir: &Path, args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin!("ipkit"))
        .args(args)
        .env("IPKIT_CONFIG_DIR", dir.join("etc"))
        .env("IPKIT_STATE_DIR", dir.join("var"))
        .output()
        .expect("run ipkit")
}

fn code(out: &Output) -> u8 {
    u8::try_from(out.status.code().expect("exited")).expect("a status byte")
}

#[test]
fn the_daemons_help_lists_every_exit_status_of_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = ipkit(dir.path(), &["daemon", "--help"]);
    assert_eq!(code(&out), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    let section = help
        .split("Exit status:")
        .nth(1)
        .expect("an exit status section");
    for e in DaemonExit::ALL {
        let line = format!("  {}  {}", e.code(), e.meaning());
        assert!(section.contains(&line), "missing {line:?} in:\n{help}");
    }
    assert!(help.contains("--check-config"), "{help}");
}

#[test]
fn check_config_judges_with_the_daemons_statuses_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("resources")).unwrap();
    std::fs::write(
        etc.join("resources/web.toml"),
        "tag = \"web\"\naddress = \"198.51.100.10/24\"\nadapter = \"eth0\"\n",
    )
    .unwrap();
    let out = ipkit(dir.path(), &["daemon", "--check-config"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), DaemonExit::Ok.code(), "{text}");
    assert!(text.contains("definition web: ok"), "{text}");

    std::fs::write(etc.join("ipkit.toml"), "[daemon]\nworkers = 0\n").unwrap();
    let out = ipkit(dir.path(), &["--json", "daemon", "--check-config"]);
    assert_eq!(code(&out), DaemonExit::BadConfig.code());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["exit"], DaemonExit::BadConfig.code());
    let problems = v["problems"].to_string();
    assert!(problems.contains("daemon.workers"), "{v}");
    assert_eq!(v["definitions"][0]["tag"], "web", "{v}");
    assert!(
        !dir.path().join("var").exists(),
        "the check wrote the state directory"
    );
}
