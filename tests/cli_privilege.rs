//! Without CAP_NET_ADMIN (dropped in the child before exec: bounding set,
//! effective, permitted and inheritable), an operation that changes
//! addresses exits 3 with "needs CAP_NET_ADMIN" and changes nothing; one
//! that only reads still works.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;

use cli_support::{Drop_, Env, code, stderr};

fn run_without_net_admin(env: &Env, args: &[&str]) -> std::process::Output {
    env.ipkit_dropping(args, Drop_::NetAdmin)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ipkit")
}

#[test]
fn operations_without_cap_net_admin_exit_3_and_change_nothing() {
    let env = Env::new();
    let out = env.run(&[
        "create",
        "web",
        "--address",
        "198.51.100.10/24",
        "--adapter",
        "eth0",
        "--recovery-adapter",
        "eth1",
        "--no-probe",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    for op in ["restore", "recover", "remove"] {
        let before = env.snapshot();
        let out = run_without_net_admin(&env, &[op, "web"]);
        assert_eq!(code(&out), 3, "{op}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("needs CAP_NET_ADMIN"),
            "{op}: {}",
            stderr(&out)
        );
        let after = env.snapshot();
        assert_eq!(before, after, "{op} changed something");
    }
    assert!(!env.ip(&["-o", "addr", "show"]).contains("198.51.100.10"));

    // Bring it up with the privilege, then: a read-only check works
    // without it, and remove without it is refused and leaves the address.
    let out = env.run(&["restore", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_without_net_admin(&env, &["quickcheck", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_without_net_admin(&env, &["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_without_net_admin(&env, &["remove", "web"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        env.ip(&["-o", "addr", "show", "dev", "eth0"])
            .contains("198.51.100.10")
    );
}

#[test]
fn the_child_really_lacks_cap_net_admin() {
    // Guards the test above: the dropped capability is gone in the exec'd
    // process (read from /proc/self/status by a child shell).
    let env = Env::new();
    let mut sh = std::process::Command::new("/bin/sh");
    sh.args(["-c", "grep CapEff /proc/self/status"]);
    let out = env.enter(sh, Drop_::NetAdmin).output().expect("run sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().nth(1).expect("CapEff value");
    let eff = u64::from_str_radix(hex, 16).expect("hex");
    assert_eq!(eff & (1 << 12), 0, "CAP_NET_ADMIN still effective: {text}");
}
