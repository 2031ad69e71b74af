//! Route operations on a [`Netlink`] socket for ipkit's own tables: dump one table, replace and delete a route, purge the neighbour entries of dead adapters.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};

use super::parse::NeighRecord;
use super::parse_fib::{self, RTM_NEWROUTE, RouteRecord};
use super::route::{Family, neighbour_message};
use super::socket::{ExchangeError, Expect, Netlink};
use crate::net::{KernelError, KernelOp};

/// The kernel's main table (`RT_TABLE_MAIN`).
pub const MAIN_TABLE: u32 = 254;

/// A single-path unicast route ipkit puts in one of its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRoute {
    pub table: u32,
    pub destination: IpAddr,
    pub prefix: u8,
    pub oif: u32,
    pub gateway: Option<IpAddr>,
    pub metric: u32,
    pub protocol: u8,
}

impl TableRoute {
    /// A dump's route in this form (single path, with a device).
    pub fn from_record(r: &RouteRecord) -> Option<TableRoute> {
        (r.kind == parse_fib::RTN_UNICAST && !r.multipath).then_some(())?;
        Some(TableRoute {
            table: r.table,
            destination: r.destination,
            prefix: r.prefix,
            oif: r.oif?,
            gateway: r.gateway,
            metric: r.metric,
            protocol: r.protocol,
        })
    }

    /// What identifies the route in its table (the kernel's replace key).
    pub fn key(&self) -> (IpAddr, u8, u32) {
        (self.destination, self.prefix, self.metric)
    }

    fn message(&self) -> RouteMessage {
        let mut message = RouteMessage::default();
        message.header.address_family = Family::address_family(Some(Family::of(self.destination)));
        message.header.destination_prefix_length = self.prefix;
        message.header.protocol = RouteProtocol::from(self.protocol);
        message.header.kind = RouteType::Unicast;
        message.header.scope = if self.gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        // RT_TABLE_UNSPEC in the header, all 32 bits in RTA_TABLE.
        message.header.table = 0;
        if self.prefix > 0 {
            message
                .attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    self.destination,
                )));
        }
        if let Some(gateway) = self.gateway {
            message
                .attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
        }
        message.attributes.extend([
            RouteAttribute::Oif(self.oif),
            RouteAttribute::Priority(self.metric),
            RouteAttribute::Table(self.table),
        ]);
        message
    }
}

impl std::fmt::Display for TableRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.destination, self.prefix)?;
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        write!(
            f,
            " ifindex {} metric {} table {}",
            self.oif, self.metric, self.table
        )
    }
}

impl Netlink {
    /// Every route of `family` in `table`. The kernel filters by table when
    /// strict checking is on (and answers ENOENT for a table that does not
    /// exist: no routes); the filter is applied here again for kernels
    /// without it.
    pub fn table_routes(
        &self,
        family: Family,
        table: u32,
    ) -> Result<Vec<RouteRecord>, KernelError> {
        let mut message = RouteMessage::default();
        message.header.address_family = Family::address_family(Some(family));
        if let Ok(small) = u8::try_from(table) {
            message.header.table = small;
        }
        message.attributes.push(RouteAttribute::Table(table));
        let mut routes = match self.dump(
            RouteNetlinkMessage::GetRoute(message),
            RTM_NEWROUTE,
            KernelOp::Route,
            parse_fib::parse_route,
        ) {
            Ok(routes) => routes,
            Err(e) if e.errno == libc::ENOENT => Vec::new(),
            Err(mut e) => {
                e.target = Some(format!("dump table {table}"));
                return Err(e);
            }
        };
        routes.retain(|r| r.table == table);
        Ok(routes)
    }

    /// Does the kernel deliver packets for `ip` locally (a route lookup
    /// for it, as `ip route get`, finds a `local` route)?
    pub fn routes_locally(&self, ip: IpAddr) -> Result<bool, KernelError> {
        const RTN_LOCAL: u8 = 2;
        let mut message = RouteMessage::default();
        message.header.address_family = Family::address_family(Some(Family::of(ip)));
        message.header.destination_prefix_length = if ip.is_ipv4() { 32 } else { 128 };
        message
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::from(ip)));
        let mut out = Vec::with_capacity(1);
        match self.exchange(
            RouteNetlinkMessage::GetRoute(message),
            Expect::Ack,
            0,
            &mut out,
            |kind, payload| {
                if kind == RTM_NEWROUTE {
                    Ok(parse_fib::parse_route(payload)?)
                } else {
                    Ok(None)
                }
            },
        ) {
            Ok(()) => Ok(out.iter().any(|r| r.kind == RTN_LOCAL)),
            Err(ExchangeError::Errno(libc::ENETUNREACH | libc::EHOSTUNREACH)) => Ok(false),
            Err(e) => Err(e.into_kernel(KernelOp::Route, Some(format!("get {ip}")))),
        }
    }

    /// Add `route`, replacing the one with the same destination, prefix and
    /// metric in its table.
    pub fn replace_route(&self, route: &TableRoute) -> Result<(), KernelError> {
        self.ack(
            RouteNetlinkMessage::NewRoute(route.message()),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map_err(|e| e.into_kernel(KernelOp::Route, Some(format!("replace {route}"))))
    }

    /// Delete `route`; one already gone (ESRCH / ENOENT) counts as done.
    pub fn delete_route(&self, route: &TableRoute) -> Result<(), KernelError> {
        match self.ack(RouteNetlinkMessage::DelRoute(route.message()), 0) {
            Ok(()) | Err(ExchangeError::Errno(libc::ESRCH | libc::ENOENT)) => Ok(()),
            Err(e) => Err(e.into_kernel(KernelOp::Route, Some(format!("delete {route}")))),
        }
    }

    /// Delete every neighbour entry of `family` on the interfaces in
    /// `ifindexes` except permanent ones, and with them the packets queued
    /// on entries still waiting for resolution. Returns how many went.
    pub fn purge_neighbours(
        &self,
        family: Family,
        ifindexes: &[u32],
    ) -> Result<usize, KernelError> {
        const NUD_NOARP: u16 = 0x40;
        const NUD_PERMANENT: u16 = 0x80;
        if ifindexes.is_empty() {
            return Ok(0);
        }
        let entries: Vec<NeighRecord> = self.neighbours(Some(family))?;
        let mut purged = 0;
        for entry in entries.iter().filter(|n| {
            ifindexes.contains(&n.ifindex) && n.state & (NUD_NOARP | NUD_PERMANENT) == 0
        }) {
            let message = neighbour_message(entry.ifindex, entry.ip);
            match self.ack(RouteNetlinkMessage::DelNeighbour(message), 0) {
                Ok(()) => purged += 1,
                Err(ExchangeError::Errno(libc::ENOENT)) => {}
                Err(e) => {
                    return Err(e.into_kernel(
                        KernelOp::FlushNeighbours,
                        Some(format!("{} ifindex {}", entry.ip, entry.ifindex)),
                    ));
                }
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    //! In a fresh network namespace each (never the host's routes).

    use super::*;
    use crate::net::AddOptions;
    use crate::net::linux::netlink::test_support::{addr, in_netns, v4, veth_up};
    use crate::resource::Mac;

    #[test]
    fn routes_of_a_table_are_replaced_and_deleted_idempotently() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            let _admin = veth_up();
            let a = nl.link_by_name("a").expect("lookup").expect("a").index;
            let b = nl.link_by_name("b").expect("lookup").expect("b").index;
            let table = 0x6970_0002;
            assert_eq!(
                nl.table_routes(Family::V4, table)
                    .expect("no such table: empty"),
                vec![]
            );
            let mut route = TableRoute {
                table,
                destination: v4("198.51.100.0"),
                prefix: 24,
                oif: a,
                gateway: None,
                metric: 0,
                protocol: 0x69,
            };
            let present = |nl: &Netlink| -> Vec<TableRoute> {
                nl.table_routes(Family::V4, table)
                    .expect("dump")
                    .iter()
                    .filter_map(TableRoute::from_record)
                    .collect()
            };
            nl.replace_route(&route).expect("add");
            assert_eq!(present(&nl), vec![route]);
            // Re-pointed in place: the same key, another device.
            route.oif = b;
            nl.replace_route(&route).expect("replace");
            assert_eq!(present(&nl), vec![route]);
            // Not in main.
            assert!(
                !nl.table_routes(Family::V4, MAIN_TABLE)
                    .expect("main")
                    .iter()
                    .any(|r| r.protocol == 0x69)
            );
            nl.delete_route(&route).expect("delete");
            nl.delete_route(&route).expect("deleting again is ok");
            assert_eq!(present(&nl), vec![]);
        });
    }

    #[test]
    fn local_delivery_and_neighbour_purge() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            let _admin = veth_up();
            let a = nl.link_by_name("a").expect("lookup").expect("a").index;
            let b = nl.link_by_name("b").expect("lookup").expect("b").index;
            assert!(!nl.routes_locally(v4("198.51.100.10")).expect("get"));
            nl.add_address(a, &addr("198.51.100.10/24"), AddOptions::default())
                .expect("add");
            assert!(nl.routes_locally(v4("198.51.100.10")).expect("get"));
            assert!(!nl.routes_locally(v4("198.51.100.11")).expect("get"));

            let mac = Mac([2, 0, 0, 0, 0, 9]);
            nl.add_neighbour(a, v4("198.51.100.20"), mac)
                .expect("permanent");
            nl.add_neighbour(b, v4("198.51.100.21"), mac)
                .expect("permanent");
            // Permanent entries stay; nothing on other adapters is touched.
            assert_eq!(nl.purge_neighbours(Family::V4, &[a]).expect("purge"), 0);
            assert_eq!(nl.purge_neighbours(Family::V4, &[]).expect("purge"), 0);
            let count = |nl: &Netlink| nl.neighbours(Some(Family::V4)).expect("dump").len();
            assert_eq!(count(&nl), 2);
        });
    }
}
