//! ipkit keeps a switchable (virtual) IP address alive as a
//! high-availability cluster resource on Linux, following the LifeKeeper IP
//! Recovery Kit (see `SPEC.md`).
//!
//! Crate map:
//! - [`resource`]: the resource model (SPEC §1): tag, address, adapter,
//!   definition with tunables, runtime state.
//! - [`events`]: the numbered event catalog (SPEC §3), event records, sinks.
//! - [`net`]: the kernel seam (SPEC §2) with its Linux and simulated
//!   implementations.
//! - [`cluster`]: the cluster view (SPEC §5).
//! - [`store`]: persisted definitions and state, atomic writes, locks.
//! - [`ops`]: the five operations (SPEC §4), one file each.

pub mod cluster;
pub mod events;
pub mod net;
pub mod ops;
pub mod resource;
pub mod store;
