//! The `ipkit` binary. Installed (or symlinked) as `vip`, it is the OCF
//! resource agent (`/usr/lib/ocf/resource.d/ipkit/vip ACTION`); otherwise it
//! is the command line (`ipkit ...`, `ipkit ocf ACTION`, `ipkit daemon`).
//!
//! Its entry point is the C `main`, not the Rust runtime's: Pacemaker runs
//! the agent as a new process for every monitor, and the runtime's start-up
//! (it reads `/proc/self/maps` to find the main thread's stack guard and
//! maps an alternate signal stack) cost about 0.15 ms a process, a tenth of
//! a whole monitor (issue 11 §4, BENCHMARKS.md "The agent's own costs").
//! What of that start-up the binary relies on is done here: SIGPIPE is
//! ignored (a write to a closed pipe is an error, not death), file
//! descriptors 0-2 are open (on `/dev/null` when they were closed), a panic
//! exits with 101, and `process::exit` flushes stdout. Left out: the
//! message on a stack overflow (it is a plain SIGSEGV) and the main
//! thread's name in panic messages.
//!
//! On Windows the Rust runtime's entry point stays: none of that start-up
//! cost applies there, and neither do SIGPIPE or `/dev/null`.
#![cfg_attr(all(not(test), unix), no_main)]

#[cfg(all(not(test), unix))]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    prepare_process();
    let status = std::panic::catch_unwind(run).unwrap_or(101);
    std::process::exit(i32::from(status))
}

#[cfg(all(not(test), windows))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(run())
}

/// The agent (by the name it was run as) or the command line; the exit
/// status.
#[cfg(not(test))]
fn run() -> u8 {
    use std::path::Path;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ipkit")
        .to_owned();
    if name == "vip" {
        let action = args
            .next()
            .and_then(|a| a.into_string().ok())
            .unwrap_or_default();
        return ipkit::ocf::run_action(&action);
    }
    ipkit::cli::main()
}

/// What the Rust runtime would have done before `main` that this binary
/// needs (see the module doc).
#[cfg(all(not(test), unix))]
fn prepare_process() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no
    // preconditions; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let mut standard = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `standard` is an array of three initialised pollfds; a zero
    // timeout never blocks.
    let polled = unsafe { libc::poll(standard.as_mut_ptr(), 3, 0) };
    if polled < 0 {
        return;
    }
    for closed in standard.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a NUL-terminated path; open returns the lowest free
        // descriptor, which is the closed one (lower ones were checked).
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != closed.fd {
            std::process::abort();
        }
    }
}
