//! What the daemon benches share: their command-line arguments, addresses, waiting, percentiles, the daemon started in node A, and the lab torn down on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipkit::config::Config;
use ipkit::daemon::{Daemon, DaemonOptions};
use ipkit::events::Recorder;
use ipkit::resource::Address;
use ipkit_lab::Lab;

/// The value after `name` on the bench's command line (`--pulls 30`).
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The i-th benchmark address: 198.51.100.0/24 (around the lab client's
/// .100), 203.0.113.0/24, then IPv6.
pub fn bench_address(i: usize) -> Address {
    let text = if i < 200 {
        let host = 10 + i;
        format!(
            "198.51.100.{}/24",
            if host >= 100 { host + 1 } else { host }
        )
    } else if i < 450 {
        format!("203.0.113.{}/24", 1 + i - 200)
    } else {
        format!("2001:db8:2::{:x}/64", 0x100 + i)
    };
    text.parse().unwrap()
}

pub fn wait_for(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + bound;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("timed out waiting for {what}");
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn count(rec: &Recorder, id: u16) -> usize {
    rec.snapshot().iter().filter(|e| e.id == id).count()
}

/// `ipkit daemon` in-process in node A's namespace, without the status
/// API, its events recorded in `rec`.
pub fn spawn_in_node_a(lab: &Lab, opts: &DaemonOptions, rec: &Arc<Recorder>) -> Daemon {
    let cfg = Config {
        listen: None,
        ..Config::default()
    };
    let sink = Box::new(rec.clone());
    let opts = opts.clone();
    lab.node_a()
        .run(move || ipkit::daemon::spawn(&opts, cfg, sink))
        .unwrap()
        .unwrap()
}

/// Remove the labs' namespaces on SIGINT/SIGTERM too: their `Drop` runs
/// only when a bench ends or panics, and a bench of 10,000 resources is
/// often interrupted. A thread waits for either signal, removes every
/// `/run/netns` mount of this process (`ipkit_lab::netns::remove_all_mounts`)
/// and exits with 128 + the signal; the namespaces go with the process's
/// descriptors (and an `ipkit daemon` child with its parent death signal).
pub fn tear_down_on_signal() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).expect("signal handlers");
    std::thread::Builder::new()
        .name("teardown".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                eprintln!("\ninterrupted (signal {sig}): removing the lab's namespaces");
                ipkit_lab::netns::remove_all_mounts();
                std::process::exit(128 + sig);
            }
        })
        .expect("teardown thread");
}
