//! `ipkit doctor`: what on this node would break a failover, each finding with its fix (docs/doctor.md).
//!
//! Two halves:
//! - [`gather`]: the one module that reads the system (the kernel seam
//!   for links, addresses and the same-segment test; `/proc` for sysctls
//!   and capabilities; `corosync.conf`) into [`NodeFacts`];
//! - [`rules`]: pure checks over those facts, each yielding
//!   [`Finding`]s with a stable [`FindingId`], a [`Severity`] and a fix.
//!
//! Beside them: [`conf`] (how the kernel combines `conf.all` with an
//! interface's own sysctl, and the sysctl.d fix lines), [`corosync`] (the
//! ring addresses of `corosync.conf`), [`facts`], [`finding`].
//! The command line runs it as `ipkit doctor`; the OCF agent's
//! `validate-all` reports the same findings for its resource as warnings.

pub mod conf;
pub mod corosync;
pub mod facts;
pub mod finding;
pub mod gather;
pub mod rules;

pub use facts::{Capabilities, Corosync, HostFacts, NodeFacts, SegmentOutcome, SegmentTest};
pub use finding::{Finding, FindingId, Severity, exit_code};
pub use gather::{Gather, HostPaths, SEGMENT_TIMEOUT, read_host};
pub use rules::diagnose;
