//! `AF_PACKET` announcements (gratuitous ARP, unsolicited NA), in-use probes (ARP probe, DAD NS) and conflict watching.
//!
//! SPEC §2 rows `ips_arpupdate` and "is the VIP already in use?", and the
//! daemon's ongoing conflict detection (RFC 5227 §2.4). The frames
//! themselves are in [`pdu`](super::pdu). Here:
//! - pure logic: [`claimant()`] (does a frame claim the address?) and the
//!   [`Prober`] state machine (when to send, how long to wait), testable
//!   without a socket or a clock;
//! - I/O: [`announce()`] and [`probe()`] over `AF_PACKET` sockets ([`Sockets`]
//!   keeps them open across calls), and the announcer registry
//!   ([`stop_announcing`]): at most one background sender per address and
//!   network namespace, stopped when the address is deleted or announced
//!   again; one sender may serve many addresses (`rounds`, issue 11), in a
//!   detached process or, for the daemon, on a thread;
//! - the same-segment test of `ipkit doctor` ([`Sockets::same_segment`]):
//!   the probe frame sent on one adapter, listened for on another;
//! - [`ClaimWatcher`]: sockets filtered in the kernel (`filter.rs`) to the
//!   claims of the addresses in service, polled by the change source;
//!   [`claimed_address()`] reads a claim.

mod announce;
mod claimant;
mod detach;
mod filter;
mod prober;
mod registry;
mod rounds;
mod segment;
mod socket;
mod sockets;
mod watch;

pub use announce::{Announcement, announce, announcement_frames};
pub use claimant::{claimant, claimed_address};
pub use prober::{PROBES_PER_TIMEOUT, ProbeStep, Prober, probe, probe_frame};
pub use registry::{CLAIM_PATIENCE, announcer_name, stop_announcing, stop_announcing_all};
pub use rounds::Background;
pub use segment::{End, is_test_frame};
pub use sockets::Sockets;
pub use watch::ClaimWatcher;
