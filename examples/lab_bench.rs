//! Benchmark of the lab and the packet layer on the real kernel (root).
//!
//! `cargo run --release --example lab_bench [ROUNDS]` prints median and p99
//! of: building + dropping a lab, a first announcement round (count 1, and
//! count 5 which forks the background sender), an in-use probe answered by
//! the client (IPv4, IPv6), and a cable pull + plug. Results: BENCHMARKS.md.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipkit::net::linux::packet;
use ipkit::net::{AnnouncePlan, ProbeResult};
use ipkit::resource::Mac;
use ipkit_lab::{CLIENT_V4, CLIENT_V6, Lab, LabConfig, Port};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let median = samples[n / 2];
    let p99 = samples[((n * 99).div_ceil(100)).saturating_sub(1).min(n - 1)];
    println!("{name:<40} n={n:<5} median {median:>12.3?}  p99 {p99:>12.3?}");
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed(), r)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);

    let mut build = Vec::new();
    for _ in 0..rounds.min(100) {
        let (d, lab) = time(|| Lab::build(LabConfig::unique()));
        let lab = lab?;
        let (d2, ()) = time(|| drop(lab));
        build.push(d + d2);
    }
    report("lab build + drop", build);

    let lab = Lab::build(LabConfig::unique())?;
    let index = lab.ifindex_of(Port::APrimary)?;
    let mac = Mac(lab.mac_of(Port::APrimary)?);
    let client = Mac(lab.mac_of(Port::Client)?);
    let vip: IpAddr = "198.51.100.10".parse()?;
    let a = lab.node_a();

    for (label, count) in [
        ("announce v4, count 1", 1),
        ("announce v4, count 5 (forks)", 5),
    ] {
        let plan = AnnouncePlan {
            count,
            interval: Duration::from_millis(200),
        };
        let samples = a.run(|| {
            (0..rounds)
                .map(|_| {
                    let (d, r) = time(|| packet::announce(index, mac, vip, plan));
                    r.map(|()| d)
                })
                .collect::<Result<Vec<_>, _>>()
        })??;
        report(label, samples);
    }

    for (label, ip) in [
        ("probe in use (client answers), v4", IpAddr::V4(CLIENT_V4)),
        ("probe in use (client answers), v6", IpAddr::V6(CLIENT_V6)),
    ] {
        let samples = a.run(|| {
            (0..rounds)
                .map(|_| {
                    let (d, r) = time(|| packet::probe(index, mac, ip, Duration::from_millis(300)));
                    match r {
                        Ok(ProbeResult::InUse { mac }) if mac == client => Ok(d),
                        other => Err(format!("unexpected probe result {other:?}")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })??;
        report(label, samples);
    }

    let mut cable = Vec::new();
    for _ in 0..rounds.min(100) {
        let (d, r) = time(|| {
            lab.pull_cable(Port::APrimary)?;
            lab.plug_cable(Port::APrimary)
        });
        r?;
        cable.push(d);
    }
    report("pull + plug cable (settled)", cable);
    Ok(())
}
