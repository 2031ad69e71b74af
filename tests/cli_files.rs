//! Hostile and broken files through the real binary (issue 10 defects 7 and
//! 8): modes never come from the umask, symbolic links inside the config
//! and state directories are refused with a message naming the path (and
//! never followed, so nothing is read or written through them), a file's
//! contents never appear in a message, and one broken definition never
//! blocks work on the others.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cli_support::{Env, code, stderr, stdout};

/// A line no message may ever show: it stands for `/etc/shadow`.
const SECRET: &str = "root:$6$SECRET-HASH-never-printed:19000:0:99999:7:::";

/// `create` of the resource these tests work with (on node A's eth0).
const CREATE_WEB: [&str; 7] = [
    "create",
    "web",
    "--address",
    "198.51.100.10/24",
    "--adapter",
    "eth0",
    "--no-probe",
];

fn ipkit(dir: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("ipkit"));
    c.env("IPKIT_CONFIG_DIR", dir.join("etc"))
        .env("IPKIT_STATE_DIR", dir.join("var"))
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    ipkit(dir).args(args).output().expect("run ipkit")
}

/// A definition written by hand, as an operator may (no network needed).
fn define(dir: &Path, tag: &str, addr: &str) -> PathBuf {
    let res = dir.join("etc/resources");
    std::fs::create_dir_all(&res).unwrap();
    let path = res.join(format!("{tag}.toml"));
    std::fs::write(
        &path,
        format!("tag = \"{tag}\"\naddress = \"{addr}\"\nadapter = \"eth0\"\n"),
    )
    .unwrap();
    path
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn modes_are_explicit_under_umask_000() {
    let env = Env::new();
    let umask_000 = |mut cmd: Command| -> Output {
        // SAFETY: umask is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
        cmd.stdin(Stdio::null()).output().expect("run ipkit")
    };
    let out = umask_000(env.ipkit(&CREATE_WEB));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = umask_000(env.ipkit(&["restore", "web"]));
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let etc = env.config_dir();
    let var = env.state_dir();
    let want = [
        (etc.clone(), 0o755),
        (etc.join("resources"), 0o755),
        (etc.join("resources/web.toml"), 0o644),
        (var.clone(), 0o755),
        (var.join("state"), 0o755),
        (var.join("state/web.json"), 0o644),
        (var.join("locks"), 0o755),
        (var.join("locks/web.lock"), 0o600),
        (var.join("events.jsonl"), 0o640),
    ];
    let wrong: Vec<String> = want
        .iter()
        .filter(|(p, m)| mode(p) != *m)
        .map(|(p, m)| format!("{}: {:o}, want {m:o}", p.display(), mode(p)))
        .collect();
    assert!(
        wrong.is_empty(),
        "modes under umask 000:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_symlinked_definition_is_refused_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    define(d, "web", "198.51.100.10/24");
    let secret = d.join("shadow");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    symlink(&secret, d.join("etc/resources/evil.toml")).unwrap();
    // A regular file with the same line: its contents are not shown either.
    std::fs::write(d.join("etc/resources/copy.toml"), format!("{SECRET}\n")).unwrap();

    let out = run(d, &["list"]);
    let text = all_output(&out);
    assert!(
        !text.contains("SECRET"),
        "list printed file contents:\n{text}"
    );
    assert!(stdout(&out).contains("web"), "{text}");
    assert!(
        stderr(&out).contains("evil.toml") && stderr(&out).contains("symbolic link"),
        "{text}"
    );
    assert!(stderr(&out).contains("copy.toml"), "{text}");
    assert_eq!(code(&out), 2, "{text}");

    for args in [
        &["show", "evil"][..],
        &["show", "copy"],
        &["list", "--json"],
    ] {
        let out = run(d, args);
        let text = all_output(&out);
        assert!(
            !text.contains("SECRET"),
            "{args:?} printed contents:\n{text}"
        );
        assert_eq!(code(&out), 2, "{args:?}: {text}");
    }
    let out = run(d, &["show", "evil"]);
    assert!(
        stderr(&out).contains("evil.toml") && stderr(&out).contains("symbolic link"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_event_log_lock_and_state_are_never_used_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    define(d, "web", "198.51.100.10/24");
    let var = d.join("var");
    std::fs::create_dir_all(var.join("state")).unwrap();
    std::fs::create_dir_all(var.join("locks")).unwrap();
    let outside = d.join("outside");
    std::fs::create_dir_all(&outside).unwrap();

    // The event log is a link to a file elsewhere: `clear` emits 7107, which
    // must not be appended there.
    let log_target = outside.join("log");
    std::fs::write(&log_target, "untouched\n").unwrap();
    symlink(&log_target, var.join("events.jsonl")).unwrap();
    std::fs::write(var.join("state/web.json"), "{\"failed\": true}").unwrap();
    let out = run(d, &["clear", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&log_target).unwrap(), "untouched\n");
    assert!(
        stderr(&out).contains("events.jsonl") && stderr(&out).contains("symbolic link"),
        "{}",
        stderr(&out)
    );

    // The lock file is a link to a path that does not exist: refused, and
    // the target is not created.
    let lock_target = outside.join("created-through-the-lock");
    std::fs::remove_file(var.join("locks/web.lock")).unwrap();
    symlink(&lock_target, var.join("locks/web.lock")).unwrap();
    let out = run(d, &["clear", "web"]);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("web.lock") && stderr(&out).contains("symbolic link"),
        "{}",
        stderr(&out)
    );
    assert!(
        !lock_target.exists(),
        "the lock was created through the link"
    );
    std::fs::remove_file(var.join("locks/web.lock")).unwrap();

    // The state file is a link to a file elsewhere: refused, not read, and
    // not replaced.
    let state_target = outside.join("state");
    std::fs::write(&state_target, format!("{SECRET}\n")).unwrap();
    let state_target_mode = mode(&state_target);
    std::fs::remove_file(var.join("state/web.json")).unwrap();
    symlink(&state_target, var.join("state/web.json")).unwrap();
    let out = run(d, &["clear", "web"]);
    let text = all_output(&out);
    assert_eq!(code(&out), 2, "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    assert!(
        stderr(&out).contains("web.json") && stderr(&out).contains("symbolic link"),
        "{text}"
    );
    assert!(
        std::fs::symlink_metadata(var.join("state/web.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&state_target).unwrap(),
        format!("{SECRET}\n")
    );
    assert_eq!(mode(&state_target), state_target_mode);
}

#[test]
fn a_broken_definition_blocks_nobody_and_delete_force_removes_it() {
    let env = Env::new();
    let res = env.config_dir().join("resources");
    std::fs::create_dir_all(&res).unwrap();
    // Not UTF-8; cut short in the middle of a value; a link to nowhere.
    std::fs::write(
        res.join("binary.toml"),
        b"tag = \"binary\"\n\xff\xfe\x00\x01",
    )
    .unwrap();
    std::fs::write(
        res.join("trunc.toml"),
        "tag = \"trunc\"\naddress = \"198.51.1",
    )
    .unwrap();
    let nowhere = env.dir.path().join("nowhere");
    symlink(&nowhere, res.join("gone.toml")).unwrap();
    let broken = ["binary.toml", "trunc.toml", "gone.toml"];

    let out = env.run(&CREATE_WEB);
    assert_eq!(code(&out), 0, "create was blocked: {}", stderr(&out));
    for b in broken {
        assert!(
            stderr(&out).contains(b),
            "create does not name {b}: {}",
            stderr(&out)
        );
    }

    let out = env.run(&["list"]);
    assert!(stdout(&out).contains("web"), "{}", all_output(&out));
    for b in broken {
        assert!(
            stderr(&out).contains(b),
            "list does not name {b}: {}",
            stderr(&out)
        );
    }
    assert_eq!(code(&out), 2);

    let out = env.run(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    let tags: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["tag"].as_str())
        .collect();
    assert_eq!(tags, vec!["binary", "gone", "trunc", "web"], "{rows}");
    assert_eq!(code(&out), 2);

    // Not UTF-8 is a configuration error (2), like any broken definition.
    let out = env.run(&["show", "binary"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("binary.toml"), "{}", stderr(&out));

    // delete without --force says how; with it, the file goes (the link,
    // never its target).
    let out = env.run(&["delete", "trunc"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    for tag in ["binary", "trunc", "gone"] {
        let out = env.run(&["delete", "--force", tag]);
        assert_eq!(code(&out), 0, "delete --force {tag}: {}", stderr(&out));
        assert!(std::fs::symlink_metadata(res.join(format!("{tag}.toml"))).is_err());
    }
    let out = env.run(&["list"]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    // The rest still works.
    let out = env.run(&["restore", "web"]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert!(
        std::fs::metadata(&nowhere).is_err(),
        "delete followed the link"
    );
    assert_eq!(std::fs::metadata(res.join("web.toml")).unwrap().nlink(), 1);
}
