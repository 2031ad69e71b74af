//! `ipkit demo`: the newcomer's first minute (issue 4 point 4).
//!
//! Builds a throwaway lab ([`ipkit_lab::Lab`]: a LAN switch, node A with
//! a primary `eth0` and a backup `eth1`, a client at 198.51.100.100) with
//! its own temporary config and state directories, then runs the real
//! operations in node A's namespace and narrates each step with the events
//! as they happen. Everything is torn down at the end, on failure, on a
//! panic (the lab's `Drop`) and on Ctrl-C (a SIGINT/SIGTERM flag checked
//! between steps). The host's own interfaces are never touched: every
//! address lives inside the lab's namespaces.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::events::{Event, EventSink, Fanout};
use crate::log::JsonLogSink;
use crate::net::Kernel;
use crate::net::linux::LinuxKernel;
use crate::ops::{self, Ctx, SystemClock};
use crate::resource::{Mac, Operation, Tag};
use crate::store::Store;

use ipkit_lab::{Lab, LabConfig, Port};

use super::{CliError, Exit, create, status, system};

const TAG: &str = "demo-vip";
const ADDRESS: &str = "198.51.100.10/24";

/// Prints each event as it is emitted, indented under the current step.
struct Narrator;

impl EventSink for Narrator {
    fn emit(&self, event: &Event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "      event: {}", event.human());
        let _ = out.flush();
    }
}

/// A temporary directory removed on drop (tempfile is a dev-dependency
/// only).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("ipkit-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&p)?;
        Ok(Self(p))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::new(Exit::Failed, format!("demo: {what}: {e}"))
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

pub fn demo() -> Result<Exit, CliError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CliError::new(
            Exit::Privilege,
            "ipkit demo needs root: it builds its own network namespaces (try: sudo ipkit demo). It never touches this host's interfaces.",
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| fail("installing the Ctrl-C handler", e))?;
    }
    let started = Instant::now();
    let dir = TempDir::new().map_err(|e| fail("creating a temporary directory", e))?;
    say("ipkit demo: a throwaway lab in network namespaces; nothing on this host changes.");
    say("");
    say("Step 1. Build the lab: a switch (bridge \"lan\"), node A with a primary");
    say("        adapter eth0 and a backup adapter eth1, a client at 198.51.100.100/24.");
    let lab = Lab::build(LabConfig::unique()).map_err(|e| fail("building the lab", e))?;
    say(&format!(
        "        config in {0}/etc, state and event log in {0}/var",
        dir.path().display()
    ));
    let result = lab
        .node_a()
        .run(|| tour(&lab, dir.path(), &stop))
        .map_err(|e| fail("entering node A's namespace", e))
        .and_then(|r| r);
    say("");
    say("Tearing the lab down (namespaces, interfaces, temporary directories).");
    drop(lab);
    drop(dir);
    match result {
        Ok(()) => {
            say(&format!(
                "Done in {:.1} s. Next: README.md (\"The command line\"), `ipkit --help`.",
                started.elapsed().as_secs_f64()
            ));
            Ok(Exit::Ok)
        }
        Err(e) => Err(e),
    }
}

fn check_stop(stop: &AtomicBool) -> Result<(), CliError> {
    if stop.load(Ordering::Relaxed) {
        Err(CliError::new(Exit::Failed, "demo interrupted; cleaning up"))
    } else {
        Ok(())
    }
}

fn holders_text(kernel: &dyn Kernel, ip: IpAddr) -> String {
    match kernel.holders(ip) {
        Ok(h) if h.is_empty() => "on no adapter".into(),
        Ok(h) => format!(
            "on {}",
            h.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => format!("unknown ({e})"),
    }
}

/// Show which adapter holds the address, whether the client reaches it and
/// which MAC its neighbour entry holds; an error unless the client reaches
/// it through `adapter` (`want`). After a recover the entry is read before
/// the client sends anything, so the announcement alone is what moved it.
fn show_client(
    lab: &Lab,
    kernel: &dyn Kernel,
    ip: IpAddr,
    want: Mac,
    adapter: &str,
    after_recover: bool,
) -> Result<(), String> {
    let ping = || {
        lab.client_reaches(ip)
            .map_err(|e| format!("pinging from the client: {e}"))
    };
    let (reaches, learnt) = if after_recover {
        let learnt = neighbour_becomes(lab, ip, want);
        (ping()?, learnt)
    } else {
        let reaches = ping()?;
        (reaches, neighbour_becomes(lab, ip, want))
    };
    say(&format!(
        "        address {}; the client {} it",
        holders_text(kernel, ip),
        if reaches { "reaches" } else { "does NOT reach" }
    ));
    say(&format!(
        "        client's neighbour entry: {ip} -> {} ({}){}",
        learnt
            .map(|m| m.to_string())
            .unwrap_or_else(|| "none".into()),
        if learnt == Some(want) {
            adapter
        } else {
            "unexpected"
        },
        if after_recover {
            ", updated by the announcement alone"
        } else {
            ""
        }
    ));
    if reaches && learnt == Some(want) {
        Ok(())
    } else {
        Err(format!(
            "the client does not reach the address on {adapter}"
        ))
    }
}

/// The client's neighbour entry for `ip`, waiting up to 1 s for it to
/// become `want` (announcements travel asynchronously).
fn neighbour_becomes(lab: &Lab, ip: IpAddr, want: Mac) -> Option<Mac> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let now = lab.client_neighbour(ip).ok().flatten().map(Mac);
        if now == Some(want) || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tour(lab: &Lab, dir: &Path, stop: &AtomicBool) -> Result<(), CliError> {
    let store = Store::new(dir.join("etc"), dir.join("var"));
    let kernel = LinuxKernel::open().map_err(|e| fail("opening netlink in node A", e))?;
    let cluster = system::cluster_view(store.config_dir())?;
    let sinks = Fanout::new()
        .with(Narrator)
        .with(JsonLogSink::new(store.event_log_path()));
    let node = "node-a".to_owned();
    let ctx = Ctx {
        kernel: &kernel,
        cluster: &*cluster,
        events: &sinks,
        clock: &SystemClock,
        node: &node,
    };
    let mac_primary = lab
        .mac_of(Port::APrimary)
        .map(Mac)
        .map_err(|e| fail("reading eth0's MAC", e))?;
    let mac_backup = lab
        .mac_of(Port::ABackup)
        .map(Mac)
        .map_err(|e| fail("reading eth1's MAC", e))?;
    let tag = Tag::new(TAG)?;
    let run = |op: Operation| -> Result<bool, CliError> {
        let out = ops::run(&store, &ctx, &tag, op)?;
        say(&format!(
            "      => {op} {}",
            if out.success { "succeeded" } else { "FAILED" }
        ));
        Ok(out.success)
    };

    check_stop(stop)?;
    say("");
    say(&format!(
        "Step 2. Define the resource (validated before anything is written):\n        ipkit create {TAG} --address {ADDRESS} --adapter eth0 --recovery-adapter eth1"
    ));
    let req = create::Request {
        tag: Some(TAG.into()),
        address: ADDRESS.into(),
        adapter: "eth0".into(),
        recovery_adapter: Some("eth1".into()),
        announce_interval_ms: Some(100),
        ..Default::default()
    };
    let def = create::parse(&req)?;
    create::check_store(&store, &def)?;
    let def = create::check_system(&kernel, def, true)?;
    store.create_definition(&def)?;
    sinks.emit(&Event::about(
        &def,
        Operation::Create,
        &node,
        &crate::events::Kind::ResourceCreated {
            nic: def.adapter.clone(),
        },
        SystemTime::now(),
    ));
    let ip = def.address.ip();
    say(&format!(
        "        eth0 is {mac_primary}, eth1 is {mac_backup}; nobody answered a probe for {ip}."
    ));

    check_stop(stop)?;
    say("");
    say(&format!(
        "Step 3. Restore: bring {ip} up on the primary adapter.   (ipkit restore {TAG})"
    ));
    if !run(Operation::Restore)? {
        return Err(fail("restore", "failed (see the events above)"));
    }
    show_client(lab, &kernel, ip, mac_primary, "eth0", false).map_err(|e| fail("restore", e))?;

    check_stop(stop)?;
    say("");
    say("Step 4. Pull the primary's cable (switch port a0 goes down), then quickCheck.");
    lab.pull_cable(Port::APrimary)
        .map_err(|e| fail("pulling the cable", e))?;
    say(&format!("        (ipkit quickcheck {TAG}; expect 6507)"));
    if run(Operation::QuickCheck)? {
        return Err(fail("quickcheck", "passed with the cable pulled"));
    }

    check_stop(stop)?;
    say("");
    say(&format!(
        "Step 5. Recover: local recovery onto the backup adapter.   (ipkit recover {TAG})"
    ));
    say("        (recover tries the primary first; its quickCheck fails with 6507, so the");
    say("        address moves on to the recovery adapter eth1 and is announced there)");
    if !run(Operation::Recover)? {
        return Err(fail("recover", "failed (see the events above)"));
    }
    show_client(lab, &kernel, ip, mac_backup, "eth1", true).map_err(|e| fail("recover", e))?;

    check_stop(stop)?;
    say("");
    say("Step 6. Status at a glance.   (ipkit status)");
    let view = system::system_view().ok();
    let state = store.load_state(&tag)?;
    let row = status::row(&def, &state, view.as_ref());
    let mut table = Vec::new();
    let _ = status::write_table(&mut table, &[row]);
    for line in String::from_utf8_lossy(&table).lines() {
        say(&format!("        {line}"));
    }

    check_stop(stop)?;
    say("");
    say(&format!(
        "Step 7. Remove the address.   (ipkit remove {TAG})"
    ));
    if !run(Operation::Remove)? {
        return Err(fail("remove", "failed (see the events above)"));
    }
    say(&format!("        address {}", holders_text(&kernel, ip)));
    say("");
    say(&format!(
        "Every event above was also appended to {} (JSON lines);\non a real node, `ipkit events --json` reads them back.",
        store.event_log_path().display()
    ));
    Ok(())
}
