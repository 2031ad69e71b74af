//! The stall of an established TCP stream across a pulled cable (issue 11
//! part 2), in the namespace lab with base addresses on both of node A's
//! adapters and the kernel's default sysctls; results in BENCHMARKS.md,
//! "TCP stream across a cable pull".
//!
//! Each round builds a lab, restores a VIP on eth0, starts `ipkit daemon`
//! (in-process, inside node A), starts a stream from a server bound to the
//! VIP to the client (1,000 bytes every millisecond, TCP_NODELAY), pulls
//! eth0's cable, and waits for the address on eth1 and 300 kB more. The
//! stall is the longest pause between two reads of the client that was
//! under way at the pull or began within 100 ms after it; "before" is the
//! longest pause in the second before the pull (the machine's own noise).
//!
//! Arguments: `--rounds N` (default 20), `--family 4|6|both`,
//! `--priority P` (the resource's `source_rule_priority`; 0 shows the
//! defect), `--bulk` (write as fast as the socket takes it, no pacing).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipkit::cluster::Standalone;
use ipkit::config::Config;
use ipkit::daemon::DaemonOptions;
use ipkit::events::Recorder;
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{AdapterName, Definition, Operation, Tag};
use ipkit::store::Store;
use ipkit_lab::{Lab, LabConfig, Pace, Port, Stream};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rounds: usize = arg("--rounds").and_then(|v| v.parse().ok()).unwrap_or(20);
    let priority: u32 = arg("--priority")
        .and_then(|v| v.parse().ok())
        .unwrap_or(32000);
    let bulk = args.iter().any(|a| a == "--bulk");
    let families = match arg("--family").as_deref() {
        Some("4") => vec!["198.51.100.10/24"],
        Some("6") => vec!["2001:db8:1::10/64"],
        _ => vec!["198.51.100.10/24", "2001:db8:1::10/64"],
    };
    let pace = Pace {
        interval: if bulk {
            Duration::ZERO
        } else {
            Pace::default().interval
        },
        timeout: Duration::from_secs(5),
        ..Pace::default()
    };
    println!(
        "| address | rounds | survived | stall p50 | p90 | max | noise before the pull, max |"
    );
    println!("|---|---|---|---|---|---|---|");
    for address in families {
        let mut stalls = Vec::new();
        let mut noise = Duration::ZERO;
        let mut survived = 0;
        for _ in 0..rounds {
            let r = round(address, priority, pace);
            survived += usize::from(r.0);
            if let Some(s) = r.1 {
                stalls.push(s);
            }
            noise = noise.max(r.2);
        }
        stalls.sort();
        let at = |q: f64| {
            stalls
                .get(((stalls.len() as f64 - 1.0) * q).round() as usize)
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "| {address} | {rounds} | {survived} | {} | {} | {} | {:.1} ms |",
            at(0.5),
            at(0.9),
            at(1.0),
            noise.as_secs_f64() * 1e3
        );
    }
}

fn nic(s: &str) -> AdapterName {
    AdapterName::new(s).unwrap()
}

/// One pull: (survived, the stall, the longest pause in the second before).
fn round(address: &str, priority: u32, pace: Pace) -> (bool, Option<Duration>, Duration) {
    let lab = Lab::build(LabConfig::unique().with_base_addresses()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        config_dir: dir.path().join("etc"),
        state_dir: dir.path().join("var"),
    };
    let store = Store::new(&opts.config_dir, &opts.state_dir);
    let mut def = Definition::new(
        Tag::new("vip").unwrap(),
        address.parse().unwrap(),
        nic("eth0"),
        Some(nic("eth1")),
    )
    .unwrap();
    def.tunables.probe_timeout = Duration::from_millis(50);
    def.tunables.quick_check_interval = Duration::from_secs(3600);
    def.tunables.deep_check_interval = Duration::from_secs(3600);
    def.tunables.source_rule_priority = priority;
    store.create_definition(&def).unwrap();
    let ip: IpAddr = def.address.ip();
    let restore_store = store.clone();
    let restored = lab
        .node_a()
        .run(move || {
            let kernel = LinuxKernel::open().unwrap();
            let ctx = Ctx {
                kernel: &kernel,
                cluster: &Standalone,
                events: &Recorder::new(),
                clock: &SystemClock,
                node: "bench",
            };
            ops::run(
                &restore_store,
                &ctx,
                &Tag::new("vip").unwrap(),
                Operation::Restore,
            )
            .unwrap()
            .success
        })
        .unwrap();
    assert!(restored, "restore {address}");
    let rec = Arc::new(Recorder::new());
    let sink = Box::new(rec.clone());
    let daemon_opts = opts.clone();
    let daemon = lab
        .node_a()
        .run(move || {
            let config = Config {
                listen: None,
                ..Config::default()
            };
            ipkit::daemon::spawn(&daemon_opts, config, sink)
        })
        .unwrap()
        .unwrap();
    let stream = Stream::start(lab.node_a(), lab.client(), ip, 5001, pace).unwrap();
    // A second of stream before the fault.
    assert!(stream.wait_beyond(0, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_secs(1));
    let pulled = stream.elapsed();
    lab.pull_cable(Port::APrimary).unwrap();
    let nl = lab.nl_of(Port::APrimary);
    let eth1 = lab.ifindex_of(Port::ABackup).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let held: Vec<u32> = nl
            .addresses()
            .unwrap()
            .into_iter()
            .filter(|a| a.ip == ip)
            .map(|a| a.ifindex)
            .collect();
        if held == [eth1] {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let moved = stream.received();
    stream.wait_beyond(moved + 300_000, Duration::from_secs(8));
    let report = stream.finish();
    daemon.stop();
    let stall = report.stall_after(pulled, Duration::from_millis(100));
    let before = report
        .pauses
        .iter()
        .filter(|(began, _)| *began + Duration::from_secs(1) >= pulled && *began < pulled)
        .filter(|(began, length)| *began + *length < pulled)
        .map(|(_, length)| *length)
        .max()
        .unwrap_or_default();
    (
        report.survived(),
        stall.filter(|_| report.survived()),
        before,
    )
}
