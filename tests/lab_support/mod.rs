//! Shared by the tests that run ipkit in the namespace lab (`tests/daemon.rs`, `tests/source_routing.rs`): a node's store, definitions, operations run as the command line runs them, the daemon started inside a node, and what the kernel holds.

#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipkit::cluster::Standalone;
use ipkit::config::Config;
use ipkit::daemon::{Daemon, DaemonOptions};
use ipkit::events::Recorder;
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{AdapterName, Address, Definition, Operation, Tag};
use ipkit::store::Store;
use ipkit_lab::netlink::RouteSocket;
use ipkit_lab::{Lab, Port};

pub const BOUND: Duration = Duration::from_secs(20);

pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + BOUND;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {BOUND:?} waiting for {what}");
}

pub fn nic(s: &str) -> AdapterName {
    AdapterName::new(s).unwrap()
}

pub struct Node {
    pub _dir: tempfile::TempDir,
    pub opts: DaemonOptions,
    pub store: Store,
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let opts = DaemonOptions {
            config_dir: dir.path().join("etc"),
            state_dir: dir.path().join("var"),
        };
        let store = Store::new(&opts.config_dir, &opts.state_dir);
        Node {
            _dir: dir,
            opts,
            store,
        }
    }

    pub fn define(&self, def: &Definition) {
        self.store.create_definition(def).unwrap();
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(&self.opts.config_dir).unwrap();
        std::fs::write(Config::path(&self.opts.config_dir), text).unwrap();
    }
}

pub fn vip_def(tag: &str, addr: &str) -> Definition {
    let mut d = Definition::new(
        Tag::new(tag).unwrap(),
        addr.parse::<Address>().unwrap(),
        nic("eth0"),
        Some(nic("eth1")),
    )
    .unwrap();
    // The lab has nobody else on the address: keep restores quick.
    d.tunables.probe_timeout = Duration::from_millis(50);
    d.tunables.quick_check_interval = Duration::from_millis(500);
    d.tunables.deep_check_interval = Duration::from_millis(500);
    d
}

/// No periodic check within the tests' bounds: only netlink events can
/// make the daemon act.
pub fn event_only(mut d: Definition) -> Definition {
    d.tunables.quick_check_interval = Duration::from_secs(3600);
    d.tunables.deep_check_interval = Duration::from_secs(3600);
    d
}

/// Run an operation as the command line would (lock, load, persist), in
/// the namespace of `port`'s node.
pub fn op(lab: &Lab, port: Port, node: &Node, tag: &str, which: Operation) -> ops::Outcome {
    op_events(lab, port, node, tag, which).0
}

/// [`op`], with the events it emitted.
pub fn op_events(
    lab: &Lab,
    port: Port,
    node: &Node,
    tag: &str,
    which: Operation,
) -> (ops::Outcome, Recorder) {
    let store = node.store.clone();
    let tag = Tag::new(tag).unwrap();
    lab.ns_of(port)
        .run(move || {
            let kernel = LinuxKernel::open().unwrap();
            let rec = Recorder::new();
            let ctx = Ctx {
                kernel: &kernel,
                cluster: &Standalone,
                events: &rec,
                clock: &SystemClock,
                node: "test",
            };
            let out = ops::run(&store, &ctx, &tag, which).unwrap();
            (out, rec)
        })
        .unwrap()
}

pub fn start(lab: &Lab, port: Port, node: &Node, config: Config, rec: &Arc<Recorder>) -> Daemon {
    let opts = node.opts.clone();
    let sink = Box::new(rec.clone());
    lab.ns_of(port)
        .run(move || ipkit::daemon::spawn(&opts, config, sink))
        .unwrap()
        .unwrap()
}

/// Start the daemon on node A (API on loopback) and wait until `tag` has
/// passed its first quickCheck and the daemon is idle.
pub fn start_serving(lab: &Lab, node: &Node, tag: &Tag, rec: &Arc<Recorder>) -> Daemon {
    let d = start(lab, Port::APrimary, node, config_local(), rec);
    wait_for("the first quickCheck, then idle", || {
        d.status().resource(tag).is_some_and(|r| r.up == Some(true)) && d.status().in_flight() == 0
    });
    d
}

pub fn holders(nl: &RouteSocket, ip: IpAddr) -> Vec<String> {
    nl.holders(ip).unwrap()
}

pub fn count(rec: &Recorder, id: u16) -> usize {
    rec.snapshot().iter().filter(|e| e.id == id).count()
}

pub fn config_local() -> Config {
    Config {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    }
}
