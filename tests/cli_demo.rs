//! `ipkit demo` end to end through the real binary, as a newcomer runs it:
//! it succeeds, narrates the events (6013/6001, 6507, 6605/6603, 6101),
//! shows the client's neighbour entry following the address to the backup
//! adapter, and leaves no namespace and no temporary directory behind —
//! also when interrupted with SIGINT.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

use std::process::{Command, Stdio};

fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("ipk{pid}x");
    let mut left = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) {
                left.push(format!("/run/netns/{n}"));
            }
        }
    }
    let tmp = format!("ipkit-demo-{pid}-");
    if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&tmp) {
                left.push(n);
            }
        }
    }
    left
}

#[test]
fn demo_runs_end_to_end_and_cleans_up() {
    let child = Command::new(assert_cmd::cargo::cargo_bin!("ipkit"))
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "event: Information 6013 Restore IP Address 198.51.100.10 Start",
        "event: Information 6001 Restore IP Address 198.51.100.10 End: Successful",
        "the client reaches it",
        "event: Error 6507 Network cable for IP address 198.51.100.10 on network adapter eth0 is disconnected !.",
        "event: Information 6603 Recover IP Address 198.51.100.10 End: Successful",
        "address on eth1",
        "(eth1), updated by the announcement alone",
        "event: Information 6101 Remove IP Address 198.51.100.10 End: Successful",
        "address on no adapter",
        "Tearing the lab down",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn demo_interrupted_tears_down() {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("ipkit"))
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Interrupt once the lab exists (step 2 is printed after it is built).
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("Step 2.") {
        use std::io::Read;
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "demo ended before step 2: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // SAFETY: kill on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let mut rest = Vec::new();
    use std::io::Read;
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("Tearing the lab down"), "{rest}");
    // Interrupted before the end, or finished just before the signal.
    assert!(
        status.code().is_some(),
        "exited normally, not killed: {status:?}"
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}
