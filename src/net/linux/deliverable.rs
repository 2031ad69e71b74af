//! Waiting until a freshly added IPv6 address is deliverable: the kernel adds its `local` route from a worker, after the add has been acknowledged.
//!
//! An IPv6 address added with `IFA_F_NODAD` is in the address list at once,
//! but the kernel installs its `local` route (and announces the address on
//! netlink) only when its address worker runs, 0.1–2 ms later and longer on
//! a busy machine (measured on 6.18: `docs/linux-backend.md`, "IPv6
//! addresses are not deliverable at once"). Until then packets to the
//! address are dropped, among them the neighbour advertisement that
//! answers the node's first solicitation from the new adapter: that
//! neighbour then waits a whole retransmission time (1 s by default) and
//! with it every reply to a client. IPv4 installs its local route inside
//! the add.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::netlink::{Monitor, Netlink};
use crate::net::KernelError;

/// How long an add waits for the worker at most; past it the address is
/// used as it is (it becomes deliverable when the worker runs).
pub const BOUND: Duration = Duration::from_secs(1);

/// Waits until `ip` is routed locally: checks, then waits for the
/// address's own notification on `monitor` (subscribed before the add, so
/// nothing is missed), and checks again. True when it is.
pub fn wait(nl: &Netlink, monitor: &mut Monitor, ip: IpAddr) -> Result<bool, KernelError> {
    let deadline = Instant::now() + BOUND;
    loop {
        if nl.routes_locally(ip)? {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // Whatever arrived (ours, another change, an overrun), look again.
        monitor.recv(Some(left))?;
    }
}
