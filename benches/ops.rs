//! In-process benchmark of the five operations on the real kernel, in a
//! throwaway lab (needs root). Not a test: it measures and prints.
//!
//! `cargo bench --bench ops` (optionally `-- --quick` for fewer rounds).
//!
//! Every operation runs through `ipkit::ops::run_loaded` with one
//! `LinuxKernel` opened in node A's namespace, default tunables (announce
//! 5 x 200 ms, probe 200 ms) unless the row says otherwise. Only the
//! operation itself is timed; the set-up step that makes it meaningful
//! (e.g. a remove before each restore) is not.

use std::time::{Duration, Instant};

use ipkit::cluster::Standalone;
use ipkit::events::{Event, EventSink};
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{AdapterName, Address, Definition, Operation, RuntimeState, Tag};
use ipkit_lab::{Lab, LabConfig, Port};

/// Events are built and rendered as usual, then dropped.
struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: &Event) {}
}

struct Stats {
    name: String,
    samples: Vec<Duration>,
}

impl Stats {
    fn percentile(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        let i = ((s.len() as f64 - 1.0) * p).round() as usize;
        s[i.min(s.len() - 1)]
    }

    fn row(&self) -> String {
        let mean = self.samples.iter().sum::<Duration>() / self.samples.len().max(1) as u32;
        format!(
            "| {} | {} | {} | {} | {} |",
            self.name,
            self.samples.len(),
            fmt(self.percentile(0.5)),
            fmt(self.percentile(0.99)),
            fmt(mean),
        )
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.3} ms", us / 1000.0)
    }
}

fn definition(address: &str) -> Definition {
    Definition::new(
        Tag::new("bench").expect("tag"),
        address.parse::<Address>().expect("address"),
        AdapterName::new("eth0").expect("adapter"),
        Some(AdapterName::new("eth1").expect("adapter")),
    )
    .expect("definition")
}

/// Run `op` once and check it did what the benchmark assumes.
fn run(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, op: Operation) -> Duration {
    let t = Instant::now();
    let out = ops::run_loaded(ctx, def, state, op);
    let d = t.elapsed();
    assert!(out.success, "{op:?} failed during the benchmark: {out:?}");
    d
}

fn bench_family(lab: &Lab, address: &str, rounds: usize, probe_rounds: usize) -> Vec<Stats> {
    lab.node_a()
        .run(|| {
            let kernel = LinuxKernel::open().expect("open LinuxKernel");
            let ctx = Ctx {
                kernel: &kernel,
                cluster: &Standalone,
                events: &Discard,
                clock: &SystemClock,
                node: "bench",
            };
            let family = if address.contains(':') {
                "IPv6"
            } else {
                "IPv4"
            };
            let mut out = Vec::new();
            let mut state = RuntimeState::default();

            // restore without probe (remove before each, untimed)
            let mut def = definition(address);
            def.tunables.probe_timeout = Duration::ZERO;
            let mut s = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                run(&ctx, &def, &mut state, Operation::Remove);
                s.push(run(&ctx, &def, &mut state, Operation::Restore));
            }
            out.push(Stats {
                name: format!("{family} restore, no probe"),
                samples: s,
            });

            // the same without background announcement rounds (count 1: no
            // fork), to show what the fork of the announcer costs
            let mut one = def.clone();
            one.tunables.announce_count = 1;
            let mut s = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                run(&ctx, &one, &mut state, Operation::Remove);
                s.push(run(&ctx, &one, &mut state, Operation::Restore));
            }
            out.push(Stats {
                name: format!("{family} restore, no probe, announce_count 1"),
                samples: s,
            });

            // remove (restore before each, untimed)
            let mut s = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                run(&ctx, &def, &mut state, Operation::Restore);
                s.push(run(&ctx, &def, &mut state, Operation::Remove));
            }
            out.push(Stats {
                name: format!("{family} remove"),
                samples: s,
            });

            // quickCheck (address in place)
            run(&ctx, &def, &mut state, Operation::Restore);
            let mut s = Vec::with_capacity(rounds * 10);
            for _ in 0..rounds * 10 {
                s.push(run(&ctx, &def, &mut state, Operation::QuickCheck));
            }
            out.push(Stats {
                name: format!("{family} quickCheck"),
                samples: s,
            });

            // recover (address in place on the primary: delete, add, announce,
            // quickCheck, deepCheck)
            let mut s = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                s.push(run(&ctx, &def, &mut state, Operation::Recover));
            }
            out.push(Stats {
                name: format!("{family} recover"),
                samples: s,
            });

            // restore with the default probe (200 ms of listening)
            let def = definition(address);
            let mut s = Vec::with_capacity(probe_rounds);
            for _ in 0..probe_rounds {
                run(&ctx, &def, &mut state, Operation::Remove);
                s.push(run(&ctx, &def, &mut state, Operation::Restore));
            }
            out.push(Stats {
                name: format!(
                    "{family} restore, default probe ({} ms)",
                    def.tunables.probe_timeout.as_millis()
                ),
                samples: s,
            });
            run(&ctx, &def, &mut state, Operation::Remove);
            out
        })
        .expect("run in node A")
}

fn main() {
    // `cargo bench` passes `--bench`; `--quick` shortens the run.
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, probe_rounds) = if quick { (100, 5) } else { (1000, 20) };
    let lab = Lab::build(LabConfig::unique()).expect("build lab");
    // The client is on the LAN but idle; node A's cables are plugged.
    assert!(lab.mac_of(Port::APrimary).is_ok());

    let mut rows = Vec::new();
    rows.extend(bench_family(&lab, "198.51.100.10/24", rounds, probe_rounds));
    rows.extend(bench_family(
        &lab,
        "2001:db8:1::10/64",
        rounds,
        probe_rounds,
    ));

    println!("| operation (in-process, real kernel) | n | median | p99 | mean |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.row());
    }
}
