//! The one module that speaks netlink (netlink-packet-route + netlink-sys): route socket, parsers, route operations, event monitor.
//!
//! Laid out as netavark's `netlink.rs` / `netlink_route.rs`:
//! - `socket`: the synchronous socket core ([`Netlink`]): sequence numbers,
//!   ACK / error handling, multi-part dumps read until consistent.
//! - [`parse`]: bounds-checked decoding of datagrams and of the link,
//!   address and neighbour records ipkit needs (no panics on any input).
//! - `route`: the operations on domain types (links, addresses, neighbours);
//!   `batch`: adds, deletes and neighbour flushes of many addresses,
//!   pipelined (issue 11).
//! - `monitor`: the [`Monitor`] socket the daemon listens on (SPEC §6).
//! - [`parse_fib`], `rule`, `table`: policy rules and the routes of ipkit's
//!   own tables (source routing, `docs/linux-backend.md`).
//!
//! Nothing outside this folder names `netlink-packet-*` or `netlink-sys`.
//! Errors keep the kernel's errno in [`crate::net::KernelError`].

mod batch;
mod monitor;
pub mod parse;
pub mod parse_fib;
mod route;
mod rule;
mod socket;
mod table;
#[cfg(test)]
mod test_support;

pub use monitor::{Monitor, NetEvent};
pub use parse::{AddrRecord, LinkRecord, NeighRecord};
pub use parse_fib::{RouteRecord, RuleRecord};
pub use route::Family;
pub use rule::SourceRule;
pub use socket::Netlink;
pub use table::{MAIN_TABLE, TableRoute};
