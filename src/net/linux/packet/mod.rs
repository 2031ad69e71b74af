//! `AF_PACKET` announcements (gratuitous ARP, unsolicited NA) and in-use probes (ARP probe, DAD NS).
//!
//! SPEC §2 rows `ips_arpupdate` and "is the VIP already in use?". The
//! frames themselves are in [`pdu`](super::pdu). Here:
//! - pure logic: [`claimant()`] (does a frame claim the address?) and the
//!   [`Prober`] state machine (when to send, how long to wait), testable
//!   without a socket or a clock;
//! - I/O: [`announce()`] and [`probe()`] over `AF_PACKET` sockets ([`Sockets`]
//!   keeps them open across calls), and the announcer registry
//!   ([`stop_announcing`]): at most one background sender per address and
//!   network namespace, stopped when the address is deleted or announced
//!   again;
//! - the same-segment test of `ipkit doctor` ([`Sockets::same_segment`]):
//!   the probe frame sent on one adapter, listened for on another.

mod announce;
mod claimant;
mod detach;
mod prober;
mod registry;
mod segment;
mod socket;
mod sockets;

pub use announce::{announce, announcement_frames};
pub use claimant::claimant;
pub use prober::{PROBES_PER_TIMEOUT, ProbeStep, Prober, probe, probe_frame};
pub use registry::{CLAIM_PATIENCE, announcer_name, stop_announcing};
pub use segment::{End, is_test_frame};
pub use sockets::Sockets;
