//! quickCheck's debounce on the real kernel (issue 10 defect 10): it is
//! counted from the carrier change, which a one-shot quickCheck (command
//! line, OCF monitor) learns from the kernel's carrier-change counter and
//! the state it persisted at its last look. A cable dead since the last
//! look fails at once; only a new loss waits.
//!
//! Runs in a throwaway lab of network namespaces (needs root); nothing is
//! timed: the clock counts how long the check slept.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ipkit::clock::{Clock, SystemClock};
use ipkit::cluster::Standalone;
use ipkit::events::Recorder;
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, Outcome};
use ipkit::resource::{AdapterName, Definition, Operation, Tag};
use ipkit::store::Store;
use ipkit_lab::{Lab, LabConfig, Port};

/// The system clock, adding up how long it was asked to sleep.
#[derive(Default)]
struct SleepCounter(Mutex<Duration>);

impl Clock for SleepCounter {
    fn now(&self) -> SystemTime {
        SystemClock.now()
    }
    fn monotonic(&self) -> Duration {
        SystemClock.monotonic()
    }
    fn sleep(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
        SystemClock.sleep(d);
    }
}

/// Run `op` through `ops::run` in node A's namespace: its outcome and how
/// long it slept.
fn run(lab: &Lab, store: &Store, op: Operation) -> (Outcome, Duration) {
    let store = store.clone();
    lab.node_a()
        .run(move || {
            let kernel = LinuxKernel::open().unwrap();
            let clock = SleepCounter::default();
            let ctx = Ctx {
                kernel: &kernel,
                cluster: &Standalone,
                events: &Recorder::new(),
                clock: &clock,
                node: "test",
            };
            let out = ops::run(&store, &ctx, &Tag::new("vip").unwrap(), op).unwrap();
            let slept = *clock.0.lock().unwrap();
            (out, slept)
        })
        .unwrap()
}

#[test]
fn a_cable_dead_since_the_last_look_fails_at_once() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("etc"), dir.path().join("var"));
    let mut def = Definition::new(
        Tag::new("vip").unwrap(),
        "198.51.100.90/24".parse().unwrap(),
        AdapterName::new("eth0").unwrap(),
        None,
    )
    .unwrap();
    def.tunables.probe_timeout = Duration::from_millis(50);
    def.tunables.link_debounce = Duration::from_millis(200);
    store.create_definition(&def).unwrap();
    assert!(run(&lab, &store, Operation::Restore).0.success);
    let (out, slept) = run(&lab, &store, Operation::QuickCheck);
    assert!(out.success);
    assert_eq!(slept, Duration::ZERO);

    // A new loss: the first look waits the debounce, then fails.
    lab.pull_cable(Port::APrimary).unwrap();
    let (out, slept) = run(&lab, &store, Operation::QuickCheck);
    assert_eq!(out.event, Some(6507));
    assert!(
        slept > Duration::ZERO && slept <= def.tunables.link_debounce,
        "{slept:?}"
    );
    // The same loss, at the next looks: at once.
    for _ in 0..2 {
        let (out, slept) = run(&lab, &store, Operation::QuickCheck);
        assert_eq!((out.event, slept), (Some(6507), Duration::ZERO));
    }
    // Plugged and pulled again between two looks: a new loss, a new wait.
    lab.plug_cable(Port::APrimary).unwrap();
    lab.pull_cable(Port::APrimary).unwrap();
    let (out, slept) = run(&lab, &store, Operation::QuickCheck);
    assert_eq!(out.event, Some(6507));
    assert!(slept > Duration::ZERO, "{slept:?}");
}
