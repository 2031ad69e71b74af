//! ipkit keeps a switchable (virtual) IP address alive as a
//! high-availability cluster resource on Linux, following the LifeKeeper IP
//! Recovery Kit.
//!
//! The contract is `docs/spec.md` (interpretations in `docs/spec-notes.md`).
//! Every "SPEC §n" in this crate, its tests and its docs refers to section n
//! of that file, and "restore step 3-2" and the like to its numbered steps.
//!
//! Crate map:
//! - [`resource`]: the resource model (SPEC §1): tag, address, adapter,
//!   definition with tunables, runtime state.
//! - [`events`]: the numbered event catalog (SPEC §3), event records, sinks.
//! - [`log`]: where events go for operators: journal, syslog, JSON log, stderr.
//! - [`net`]: the kernel seam (SPEC §2) with its Linux (`net::linux`) and
//!   simulated (`net::sim`) implementations.
//! - [`cluster`]: the cluster view (SPEC §5): standalone, simulated, peers,
//!   Pacemaker.
//! - [`store`]: persisted definitions and state, atomic writes, locks.
//! - [`ops`]: the five operations (SPEC §4), one file each.
//! - [`clock`]: wall-clock and monotonic time, swappable for a fake.
//! - [`sys`]: the operating system's small services, one module per
//!   platform (the only place that names `windows_sys`).
//! - [`cli`], [`ocf`], [`daemon`]: the three faces of SPEC §6.
//! - [`doctor`]: what on this node would break a failover (`ipkit doctor`).
//!
//! The throwaway namespace lab behind `ipkit demo`, the tests and the
//! benchmarks is the workspace crate `ipkit-lab` (`crates/ipkit-lab`).

pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod events;
pub mod log;
pub mod net;
pub mod ocf;
pub mod ops;
pub mod resource;
pub mod store;
pub mod sys;

/// This node's name (the kernel's hostname in the current UTS namespace;
/// on Windows the DNS host name), used as `{node}` in events.
pub fn node_name() -> String {
    sys::node_name()
}
