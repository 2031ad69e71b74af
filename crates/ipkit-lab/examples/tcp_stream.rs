//! The lab's TCP stream as two commands, for shell benchmarks (`scripts/bench-compare.sh`): run each inside the namespace it belongs to.
//!
//! ```text
//! tcp_stream serve IP PORT              # accept one client, write 1,000 bytes every ms
//! tcp_stream read IP PORT SECONDS       # read for SECONDS, then report
//! ```
//!
//! `read` prints `end=<closed|stopped|reset|timeout|failed> received=N`,
//! then one `pause <start, Unix seconds> <length, ms>` line per pause of at
//! least 3 ms: the script finds the stall after its fault from them.

use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipkit_lab::{Pace, StreamEnd, read_to_end, write_until_stopped};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = |ip: &str, port: &str| -> Option<SocketAddr> {
        Some(SocketAddr::new(
            ip.parse::<IpAddr>().ok()?,
            port.parse().ok()?,
        ))
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", ip, port] => match address(ip, port) {
            Some(at) => serve(at),
            None => usage(),
        },
        ["read", ip, port, secs] => match (address(ip, port), secs.parse::<f64>()) {
            (Some(at), Ok(secs)) if secs > 0.0 => read(at, Duration::from_secs_f64(secs)),
            _ => usage(),
        },
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: tcp_stream serve IP PORT | tcp_stream read IP PORT SECONDS");
    ExitCode::from(2)
}

fn serve(at: SocketAddr) -> ExitCode {
    let listener = match TcpListener::bind(at) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tcp_stream: bind {at}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok((server, _)) = listener.accept() else {
        return ExitCode::FAILURE;
    };
    let pace = Pace::default();
    if server.set_nodelay(true).is_err() || server.set_write_timeout(Some(pace.timeout)).is_err() {
        return ExitCode::FAILURE;
    }
    let (sent, error) = write_until_stopped(server, pace, &AtomicBool::new(false));
    eprintln!("tcp_stream: sent {sent}, {}", error.unwrap_or_default());
    ExitCode::SUCCESS
}

fn read(at: SocketAddr, secs: Duration) -> ExitCode {
    let pace = Pace::default();
    let client = match TcpStream::connect_timeout(&at, pace.timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tcp_stream: connect {at}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if client.set_read_timeout(Some(pace.timeout)).is_err() {
        return ExitCode::FAILURE;
    }
    let stopping = Arc::new(AtomicBool::new(false));
    if let Ok(other) = client.try_clone() {
        let stopping = stopping.clone();
        std::thread::spawn(move || {
            std::thread::sleep(secs);
            stopping.store(true, Ordering::SeqCst);
            let _ = other.shutdown(Shutdown::Both);
        });
    }
    let started = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let reading = read_to_end(client, started);
    let end = match reading.end {
        StreamEnd::Closed if stopping.load(Ordering::SeqCst) => "stopped",
        StreamEnd::Closed => "closed",
        StreamEnd::Reset => "reset",
        StreamEnd::TimedOut => "timeout",
        StreamEnd::Failed(_) => "failed",
    };
    println!("end={end} received={}", reading.received);
    for (began, length) in reading
        .pauses
        .iter()
        .filter(|(_, l)| *l >= ipkit_lab::NOTED_PAUSE)
    {
        println!(
            "pause {:.6} {:.3}",
            (wall + *began).as_secs_f64(),
            length.as_secs_f64() * 1e3
        );
    }
    ExitCode::SUCCESS
}
