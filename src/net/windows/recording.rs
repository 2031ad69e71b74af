//! A recording fake of [`IpHelper`]: a small in-memory Windows network
//! stack (interfaces, unicast addresses, neighbours, hosts that answer on
//! the wire) that records every call with its arguments, with calls made
//! to fail — or to be missing, as on Wine — on demand. The unit tests of
//! [`super::WindowsKernel`] check, per SPEC §4 step, the exact Win32 calls
//! an operation makes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use super::iphelper::{
    DadState, Family, Guid, IfRow, IpHelper, Luid, NeighbourRow, NeighbourState, NewUnicast,
    UnicastRow, Win32Error,
};
use crate::resource::{Address, Mac};

/// One recorded IP Helper call and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    GetIfTable2,
    GetUnicastIpAddressTable(Family),
    CreateUnicastIpAddressEntry(NewUnicast),
    DeleteUnicastIpAddressEntry {
        luid: Luid,
        ip: IpAddr,
    },
    GetIpNetTable2(Family),
    DeleteIpNetEntry2 {
        luid: Luid,
        ip: IpAddr,
    },
    ResolveIpNetEntry2 {
        luid: Luid,
        ip: IpAddr,
        source: Option<IpAddr>,
    },
    SendArp {
        dest: Ipv4Addr,
        source: Ipv4Addr,
    },
}

impl Call {
    /// The Win32 function's name.
    pub fn name(&self) -> &'static str {
        match self {
            Call::GetIfTable2 => "GetIfTable2",
            Call::GetUnicastIpAddressTable(_) => "GetUnicastIpAddressTable",
            Call::CreateUnicastIpAddressEntry(_) => "CreateUnicastIpAddressEntry",
            Call::DeleteUnicastIpAddressEntry { .. } => "DeleteUnicastIpAddressEntry",
            Call::GetIpNetTable2(_) => "GetIpNetTable2",
            Call::DeleteIpNetEntry2 { .. } => "DeleteIpNetEntry2",
            Call::ResolveIpNetEntry2 { .. } => "ResolveIpNetEntry2",
            Call::SendArp { .. } => "SendARP",
        }
    }
}

#[derive(Default)]
struct World {
    interfaces: Vec<IfRow>,
    addresses: Vec<UnicastRow>,
    neighbours: Vec<NeighbourRow>,
    /// Hosts on the wire: who answers for an address.
    answers: HashMap<IpAddr, Mac>,
    failing: HashMap<&'static str, Win32Error>,
    calls: Vec<Call>,
}

impl World {
    fn interface(&self, alias: &str) -> &IfRow {
        self.interfaces
            .iter()
            .find(|i| i.alias == alias)
            .unwrap_or_else(|| panic!("no interface {alias} in the fake"))
    }

    fn by_luid(&self, luid: Luid) -> Option<&IfRow> {
        self.interfaces.iter().find(|i| i.luid == luid)
    }

    fn begin(&mut self, call: Call) -> Result<(), Win32Error> {
        let name = call.name();
        self.calls.push(call);
        match self.failing.get(name) {
            Some(e) => Err(*e),
            None => Ok(()),
        }
    }
}

/// The fake (see the module doc). Interfaces get indexes 2, 3, ... and
/// LUIDs `0x0006_0000_0000_0000 | index` (an Ethernet LUID's shape).
#[derive(Default)]
pub struct RecordingIpHelper {
    world: Mutex<World>,
}

impl RecordingIpHelper {
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls Wine 8 lacks are missing (`ERROR_PROC_NOT_FOUND`), and
    /// `SendARP` answers `ERROR_NOT_SUPPORTED` (issue 13's probe of Wine).
    pub fn wine() -> Self {
        let fake = Self::new();
        for name in [
            "CreateUnicastIpAddressEntry",
            "DeleteUnicastIpAddressEntry",
            "DeleteIpNetEntry2",
            "ResolveIpNetEntry2",
        ] {
            fake.fail(name, Win32Error::PROC_NOT_FOUND);
        }
        fake.fail("SendARP", Win32Error::NOT_SUPPORTED);
        fake
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connected, administratively up interface; returns its LUID.
    pub fn add_interface(&self, alias: &str, mac: Mac) -> Luid {
        let mut w = self.world();
        let index = w.interfaces.len() as u32 + 2;
        let luid = 0x0006_0000_0000_0000 | u64::from(index);
        w.interfaces.push(IfRow {
            luid,
            index,
            guid: Guid {
                data1: 0x1ce0_0000 | index,
                data2: 0xe325,
                data3: 0x11ce,
                data4: [0xbf, 0xc1, 0x08, 0x00, 0x2b, 0xe1, 0x03, index as u8],
            },
            alias: alias.to_owned(),
            mac: Some(mac),
            admin_up: true,
            media_connected: true,
            filter: false,
        });
        luid
    }

    /// A filter driver's interface beside a real one (as Windows lists
    /// them): never an adapter.
    pub fn add_filter_interface(&self, alias: &str) {
        let luid = self.add_interface(alias, Mac([2, 0, 0, 0, 0, 0xff]));
        let mut w = self.world();
        if let Some(i) = w.interfaces.iter_mut().find(|i| i.luid == luid) {
            i.filter = true;
        }
    }

    pub fn interface(&self, alias: &str) -> IfRow {
        self.world().interface(alias).clone()
    }

    pub fn set_media_connected(&self, alias: &str, connected: bool) {
        let mut w = self.world();
        if let Some(i) = w.interfaces.iter_mut().find(|i| i.alias == alias) {
            i.media_connected = connected;
        }
    }

    pub fn set_admin_up(&self, alias: &str, up: bool) {
        let mut w = self.world();
        if let Some(i) = w.interfaces.iter_mut().find(|i| i.alias == alias) {
            i.admin_up = up;
        }
    }

    /// Put an address on an interface (set-up: not recorded).
    pub fn assign(&self, alias: &str, addr: Address) {
        let mut w = self.world();
        let i = w.interface(alias).clone();
        w.addresses.push(UnicastRow {
            luid: i.luid,
            index: i.index,
            ip: addr.ip(),
            prefix: addr.prefix(),
            dad_state: DadState::Preferred,
        });
    }

    /// A neighbour entry (set-up: not recorded).
    pub fn add_neighbour(&self, alias: &str, ip: IpAddr, mac: Mac, state: NeighbourState) {
        let mut w = self.world();
        let i = w.interface(alias).clone();
        w.neighbours.push(NeighbourRow {
            luid: i.luid,
            index: i.index,
            ip,
            mac: Some(mac),
            state,
        });
    }

    /// Another host on the wire answers for `ip` with `mac`.
    pub fn answer(&self, ip: IpAddr, mac: Mac) {
        self.world().answers.insert(ip, mac);
    }

    /// Every later call of the Win32 function `name` fails with `error`.
    pub fn fail(&self, name: &'static str, error: Win32Error) {
        self.world().failing.insert(name, error);
    }

    pub fn addresses(&self) -> Vec<UnicastRow> {
        self.world().addresses.clone()
    }

    pub fn neighbours(&self) -> Vec<NeighbourRow> {
        self.world().neighbours.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }

    /// The calls so far, forgetting them.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.world().calls)
    }
}

fn matches(family: Family, ip: IpAddr) -> bool {
    family == Family::Both || family == Family::of(ip)
}

impl IpHelper for RecordingIpHelper {
    fn get_if_table2(&self) -> Result<Vec<IfRow>, Win32Error> {
        let mut w = self.world();
        w.begin(Call::GetIfTable2)?;
        Ok(w.interfaces.clone())
    }

    fn get_unicast_ip_address_table(&self, family: Family) -> Result<Vec<UnicastRow>, Win32Error> {
        let mut w = self.world();
        w.begin(Call::GetUnicastIpAddressTable(family))?;
        Ok(w.addresses
            .iter()
            .filter(|a| matches(family, a.ip))
            .copied()
            .collect())
    }

    fn create_unicast_ip_address_entry(&self, row: &NewUnicast) -> Result<(), Win32Error> {
        let mut w = self.world();
        w.begin(Call::CreateUnicastIpAddressEntry(*row))?;
        let Some(index) = w.by_luid(row.luid).map(|i| i.index) else {
            return Err(Win32Error::NOT_FOUND);
        };
        if w.addresses
            .iter()
            .any(|a| a.luid == row.luid && a.ip == row.ip)
        {
            return Err(Win32Error::OBJECT_ALREADY_EXISTS);
        }
        w.addresses.push(UnicastRow {
            luid: row.luid,
            index,
            ip: row.ip,
            prefix: row.prefix,
            dad_state: row.dad_state,
        });
        Ok(())
    }

    fn delete_unicast_ip_address_entry(&self, luid: Luid, ip: IpAddr) -> Result<(), Win32Error> {
        let mut w = self.world();
        w.begin(Call::DeleteUnicastIpAddressEntry { luid, ip })?;
        let before = w.addresses.len();
        w.addresses.retain(|a| !(a.luid == luid && a.ip == ip));
        if w.addresses.len() == before {
            return Err(Win32Error::NOT_FOUND);
        }
        Ok(())
    }

    fn get_ip_net_table2(&self, family: Family) -> Result<Vec<NeighbourRow>, Win32Error> {
        let mut w = self.world();
        w.begin(Call::GetIpNetTable2(family))?;
        Ok(w.neighbours
            .iter()
            .filter(|n| matches(family, n.ip))
            .copied()
            .collect())
    }

    fn delete_ip_net_entry2(&self, luid: Luid, ip: IpAddr) -> Result<(), Win32Error> {
        let mut w = self.world();
        w.begin(Call::DeleteIpNetEntry2 { luid, ip })?;
        let before = w.neighbours.len();
        w.neighbours.retain(|n| !(n.luid == luid && n.ip == ip));
        if w.neighbours.len() == before {
            return Err(Win32Error::NOT_FOUND);
        }
        Ok(())
    }

    fn resolve_ip_net_entry2(
        &self,
        luid: Luid,
        ip: IpAddr,
        source: Option<IpAddr>,
    ) -> Result<Option<Mac>, Win32Error> {
        let mut w = self.world();
        w.begin(Call::ResolveIpNetEntry2 { luid, ip, source })?;
        let Some(index) = w.by_luid(luid).map(|i| i.index) else {
            return Err(Win32Error::NOT_FOUND);
        };
        // Windows flushes the entry, asks, and records what it heard.
        w.neighbours.retain(|n| !(n.luid == luid && n.ip == ip));
        let answer = w.answers.get(&ip).copied();
        w.neighbours.push(NeighbourRow {
            luid,
            index,
            ip,
            mac: answer,
            state: if answer.is_some() {
                NeighbourState::Reachable
            } else {
                NeighbourState::Unreachable
            },
        });
        Ok(answer)
    }

    fn send_arp(&self, dest: Ipv4Addr, source: Ipv4Addr) -> Result<Option<Mac>, Win32Error> {
        let mut w = self.world();
        w.begin(Call::SendArp { dest, source })?;
        Ok(w.answers.get(&IpAddr::V4(dest)).copied())
    }
}
