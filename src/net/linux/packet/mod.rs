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
//!   again; one sender may serve many addresses (`rounds`, issue 11), in a
//!   detached process or, for the daemon, on a thread.

mod announce;
mod claimant;
mod detach;
mod prober;
mod registry;
mod rounds;
mod socket;
mod sockets;

pub use announce::{Announcement, announce, announcement_frames};
pub use claimant::claimant;
pub use prober::{PROBES_PER_TIMEOUT, ProbeStep, Prober, probe, probe_frame};
pub use registry::{CLAIM_PATIENCE, announcer_name, stop_announcing, stop_announcing_all};
pub use rounds::Background;
pub use sockets::Sockets;
