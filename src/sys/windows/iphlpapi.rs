//! The real [`IpHelper`]: iphlpapi.dll through `windows_sys`. Each method
//! is one IP Helper call, its table freed with `FreeMibTable`. The calls
//! an older Windows or Wine 8 lacks (`CreateUnicastIpAddressEntry`,
//! `DeleteUnicastIpAddressEntry`, `DeleteIpNetEntry2`,
//! `ResolveIpNetEntry2`, `InitializeUnicastIpAddressEntry`) are looked up
//! with `GetProcAddress` when opened: a missing one answers
//! `ERROR_PROC_NOT_FOUND` instead of aborting the process.

use std::ffi::c_void;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use windows_sys::Win32::NetworkManagement::IpHelper::{
    FreeMibTable, GetIfTable2, GetIpNetTable2, GetUnicastIpAddressTable, MIB_IF_TABLE2,
    MIB_IPNET_ROW2, MIB_IPNET_TABLE2, MIB_UNICASTIPADDRESS_ROW, MIB_UNICASTIPADDRESS_TABLE,
    SendARP,
};
use windows_sys::Win32::NetworkManagement::Ndis::{
    MediaConnectStateConnected, NET_IF_ADMIN_STATUS_UP,
};
use windows_sys::Win32::Networking::WinSock::{
    ADDRESS_FAMILY, AF_INET, AF_INET6, AF_UNSPEC, IpDadStateDeprecated, IpDadStateDuplicate,
    IpDadStatePreferred, IpDadStateTentative, NL_DAD_STATE, NlnsDelay, NlnsIncomplete,
    NlnsPermanent, NlnsProbe, NlnsReachable, NlnsStale, SOCKADDR_INET,
};

use super::{Library, from_wide};
use crate::net::windows::iphelper::{
    DadState, Family, Guid, IfRow, IpHelper, Luid, NeighbourRow, NeighbourState, NewUnicast,
    UnicastRow, Win32Error,
};
use crate::resource::Mac;

type InitializeUnicast = unsafe extern "system" fn(*mut MIB_UNICASTIPADDRESS_ROW);
type UnicastCall = unsafe extern "system" fn(*const MIB_UNICASTIPADDRESS_ROW) -> u32;
type NeighbourCall = unsafe extern "system" fn(*const MIB_IPNET_ROW2) -> u32;
type ResolveCall = unsafe extern "system" fn(*mut MIB_IPNET_ROW2, *const SOCKADDR_INET) -> u32;

/// iphlpapi.dll, with the optional calls looked up.
#[derive(Debug, Clone, Copy)]
pub struct Win32IpHelper {
    initialize_unicast: Option<InitializeUnicast>,
    create_unicast: Option<UnicastCall>,
    delete_unicast: Option<UnicastCall>,
    delete_neighbour: Option<NeighbourCall>,
    resolve_neighbour: Option<ResolveCall>,
}

impl Win32IpHelper {
    pub fn open() -> Self {
        let lib = Library::load("iphlpapi.dll");
        let find = |name: &'static [u8]| lib.and_then(|l| l.function(name));
        // SAFETY (each transmute): the export has exactly this signature
        // (netioapi.h).
        unsafe {
            Self {
                initialize_unicast: find(b"InitializeUnicastIpAddressEntry\0")
                    .map(|f| std::mem::transmute::<*const c_void, InitializeUnicast>(f)),
                create_unicast: find(b"CreateUnicastIpAddressEntry\0")
                    .map(|f| std::mem::transmute::<*const c_void, UnicastCall>(f)),
                delete_unicast: find(b"DeleteUnicastIpAddressEntry\0")
                    .map(|f| std::mem::transmute::<*const c_void, UnicastCall>(f)),
                delete_neighbour: find(b"DeleteIpNetEntry2\0")
                    .map(|f| std::mem::transmute::<*const c_void, NeighbourCall>(f)),
                resolve_neighbour: find(b"ResolveIpNetEntry2\0")
                    .map(|f| std::mem::transmute::<*const c_void, ResolveCall>(f)),
            }
        }
    }
}

fn result(rc: u32) -> Result<(), Win32Error> {
    if rc == 0 { Ok(()) } else { Err(Win32Error(rc)) }
}

fn family_code(f: Family) -> ADDRESS_FAMILY {
    match f {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
        Family::Both => AF_UNSPEC,
    }
}

/// The address in a `SOCKADDR_INET`, None for another family.
fn ip_of(a: &SOCKADDR_INET) -> Option<IpAddr> {
    // SAFETY: si_family is the common prefix of every member; the member
    // read below is the one it names.
    unsafe {
        match a.si_family {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                a.Ipv4.sin_addr.S_un.S_addr,
            )))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(a.Ipv6.sin6_addr.u.Byte))),
            _ => None,
        }
    }
}

fn sockaddr(ip: IpAddr) -> SOCKADDR_INET {
    let mut a = SOCKADDR_INET::default();
    match ip {
        IpAddr::V4(v4) => {
            a.Ipv4.sin_family = AF_INET;
            a.Ipv4.sin_addr.S_un.S_addr = u32::from(v4).to_be();
        }
        IpAddr::V6(v6) => {
            a.Ipv6.sin6_family = AF_INET6;
            a.Ipv6.sin6_addr.u.Byte = v6.octets();
        }
    }
    a
}

fn mac_of(bytes: &[u8], len: u32) -> Option<Mac> {
    (len == 6).then(|| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&bytes[..6]);
        Mac(m)
    })
}

#[allow(non_upper_case_globals)]
fn dad_state(s: NL_DAD_STATE) -> DadState {
    match s {
        IpDadStateTentative => DadState::Tentative,
        IpDadStateDuplicate => DadState::Duplicate,
        IpDadStateDeprecated => DadState::Deprecated,
        IpDadStatePreferred => DadState::Preferred,
        _ => DadState::Invalid,
    }
}

fn dad_code(s: DadState) -> NL_DAD_STATE {
    match s {
        DadState::Tentative => IpDadStateTentative,
        DadState::Duplicate => IpDadStateDuplicate,
        DadState::Deprecated => IpDadStateDeprecated,
        DadState::Preferred => IpDadStatePreferred,
        DadState::Invalid => 0,
    }
}

#[allow(non_upper_case_globals)]
fn neighbour_state(s: i32) -> NeighbourState {
    match s {
        NlnsIncomplete => NeighbourState::Incomplete,
        NlnsProbe => NeighbourState::Probe,
        NlnsDelay => NeighbourState::Delay,
        NlnsStale => NeighbourState::Stale,
        NlnsReachable => NeighbourState::Reachable,
        NlnsPermanent => NeighbourState::Permanent,
        _ => NeighbourState::Unreachable,
    }
}

/// The rows of a table Windows allocated, copied out, the table freed.
///
/// # Safety
/// `table` points to a `{ NumEntries: u32, Table: [R; 1] }` table
/// allocated by an IP Helper call (or is null).
unsafe fn rows<T, R: Copy>(table: *mut T, entries: impl Fn(&T) -> (u32, *const R)) -> Vec<R> {
    if table.is_null() {
        return Vec::new();
    }
    // SAFETY: per the function's contract.
    let (n, first) = entries(unsafe { &*table });
    // SAFETY: the table holds n rows from `first`.
    let out = unsafe { std::slice::from_raw_parts(first, n as usize) }.to_vec();
    // SAFETY: allocated by the IP Helper API.
    unsafe { FreeMibTable(table as *const c_void) };
    out
}

fn unicast_row(luid: Luid, ip: IpAddr) -> MIB_UNICASTIPADDRESS_ROW {
    // SAFETY: all-zero is a valid MIB_UNICASTIPADDRESS_ROW.
    let mut row: MIB_UNICASTIPADDRESS_ROW = unsafe { std::mem::zeroed() };
    row.InterfaceLuid.Value = luid;
    row.Address = sockaddr(ip);
    row
}

fn neighbour_row(luid: Luid, ip: IpAddr) -> MIB_IPNET_ROW2 {
    // SAFETY: all-zero is a valid MIB_IPNET_ROW2.
    let mut row: MIB_IPNET_ROW2 = unsafe { std::mem::zeroed() };
    row.InterfaceLuid.Value = luid;
    row.Address = sockaddr(ip);
    row
}

impl IpHelper for Win32IpHelper {
    fn get_if_table2(&self) -> Result<Vec<IfRow>, Win32Error> {
        let mut table: *mut MIB_IF_TABLE2 = std::ptr::null_mut();
        // SAFETY: table receives an allocated table.
        result(unsafe { GetIfTable2(&mut table) })?;
        // SAFETY: filled by GetIfTable2.
        let raw = unsafe { rows(table, |t: &MIB_IF_TABLE2| (t.NumEntries, t.Table.as_ptr())) };
        Ok(raw
            .iter()
            .map(|r| IfRow {
                // SAFETY: NET_LUID_LH is a u64 union.
                luid: unsafe { r.InterfaceLuid.Value },
                index: r.InterfaceIndex,
                guid: Guid {
                    data1: r.InterfaceGuid.data1,
                    data2: r.InterfaceGuid.data2,
                    data3: r.InterfaceGuid.data3,
                    data4: r.InterfaceGuid.data4,
                },
                alias: from_wide(&r.Alias),
                mac: mac_of(&r.PhysicalAddress, r.PhysicalAddressLength),
                admin_up: r.AdminStatus == NET_IF_ADMIN_STATUS_UP,
                media_connected: r.MediaConnectState == MediaConnectStateConnected,
                filter: r.InterfaceAndOperStatusFlags._bitfield & 0b10 != 0,
            })
            .collect())
    }

    fn get_unicast_ip_address_table(&self, family: Family) -> Result<Vec<UnicastRow>, Win32Error> {
        let mut table: *mut MIB_UNICASTIPADDRESS_TABLE = std::ptr::null_mut();
        // SAFETY: table receives an allocated table.
        result(unsafe { GetUnicastIpAddressTable(family_code(family), &mut table) })?;
        // SAFETY: filled by GetUnicastIpAddressTable.
        let raw = unsafe {
            rows(table, |t: &MIB_UNICASTIPADDRESS_TABLE| {
                (t.NumEntries, t.Table.as_ptr())
            })
        };
        Ok(raw
            .iter()
            .filter_map(|r| {
                Some(UnicastRow {
                    // SAFETY: NET_LUID_LH is a u64 union.
                    luid: unsafe { r.InterfaceLuid.Value },
                    index: r.InterfaceIndex,
                    ip: ip_of(&r.Address)?,
                    prefix: r.OnLinkPrefixLength,
                    dad_state: dad_state(r.DadState),
                })
            })
            .collect())
    }

    fn create_unicast_ip_address_entry(&self, new: &NewUnicast) -> Result<(), Win32Error> {
        let (Some(init), Some(create)) = (self.initialize_unicast, self.create_unicast) else {
            return Err(Win32Error::PROC_NOT_FOUND);
        };
        let mut row = unicast_row(new.luid, new.ip);
        // SAFETY: row is a valid, writable row.
        unsafe { init(&mut row) };
        row.InterfaceLuid.Value = new.luid;
        row.Address = sockaddr(new.ip);
        row.OnLinkPrefixLength = new.prefix;
        row.DadState = dad_code(new.dad_state);
        row.SkipAsSource = new.skip_as_source;
        // SAFETY: row is initialised.
        result(unsafe { create(&row) })
    }

    fn delete_unicast_ip_address_entry(&self, luid: Luid, ip: IpAddr) -> Result<(), Win32Error> {
        let delete = self.delete_unicast.ok_or(Win32Error::PROC_NOT_FOUND)?;
        let row = unicast_row(luid, ip);
        // SAFETY: the row names the interface and the address.
        result(unsafe { delete(&row) })
    }

    fn get_ip_net_table2(&self, family: Family) -> Result<Vec<NeighbourRow>, Win32Error> {
        let mut table: *mut MIB_IPNET_TABLE2 = std::ptr::null_mut();
        // SAFETY: table receives an allocated table.
        result(unsafe { GetIpNetTable2(family_code(family), &mut table) })?;
        // SAFETY: filled by GetIpNetTable2.
        let raw = unsafe {
            rows(table, |t: &MIB_IPNET_TABLE2| {
                (t.NumEntries, t.Table.as_ptr())
            })
        };
        Ok(raw
            .iter()
            .filter_map(|r| {
                Some(NeighbourRow {
                    // SAFETY: NET_LUID_LH is a u64 union.
                    luid: unsafe { r.InterfaceLuid.Value },
                    index: r.InterfaceIndex,
                    ip: ip_of(&r.Address)?,
                    mac: mac_of(&r.PhysicalAddress, r.PhysicalAddressLength),
                    state: neighbour_state(r.State),
                })
            })
            .collect())
    }

    fn delete_ip_net_entry2(&self, luid: Luid, ip: IpAddr) -> Result<(), Win32Error> {
        let delete = self.delete_neighbour.ok_or(Win32Error::PROC_NOT_FOUND)?;
        let row = neighbour_row(luid, ip);
        // SAFETY: the row names the interface and the address.
        result(unsafe { delete(&row) })
    }

    fn resolve_ip_net_entry2(
        &self,
        luid: Luid,
        ip: IpAddr,
        source: Option<IpAddr>,
    ) -> Result<Option<Mac>, Win32Error> {
        let resolve = self.resolve_neighbour.ok_or(Win32Error::PROC_NOT_FOUND)?;
        let mut row = neighbour_row(luid, ip);
        let from = source.map(sockaddr);
        let from_ptr = from
            .as_ref()
            .map_or(std::ptr::null(), |s| s as *const SOCKADDR_INET);
        // SAFETY: row is writable; from_ptr is null or points to `from`.
        match result(unsafe { resolve(&mut row, from_ptr) }) {
            Ok(())
                if matches!(
                    neighbour_state(row.State),
                    NeighbourState::Unreachable | NeighbourState::Incomplete
                ) =>
            {
                Ok(None)
            }
            Ok(()) => Ok(mac_of(&row.PhysicalAddress, row.PhysicalAddressLength)),
            Err(e) if e == Win32Error::BAD_NET_NAME => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn send_arp(&self, dest: Ipv4Addr, source: Ipv4Addr) -> Result<Option<Mac>, Win32Error> {
        let mut mac = [0u8; 8];
        let mut len = mac.len() as u32;
        // SAFETY: mac holds len bytes; addresses in network byte order.
        let rc = unsafe {
            SendARP(
                u32::from(dest).to_be(),
                u32::from(source).to_be(),
                mac.as_mut_ptr().cast(),
                &mut len,
            )
        };
        match result(rc) {
            Ok(()) => Ok(mac_of(&mac, len)),
            Err(e) if e == Win32Error::BAD_NET_NAME => Ok(None),
            Err(e) => Err(e),
        }
    }
}
