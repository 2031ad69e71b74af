//! The thin seam under the Windows kernel: one method per IP Helper call
//! ipkit makes, in plain Rust types, so the kernel above it runs — and is
//! tested call by call — on any platform. The real implementation is
//! `crate::sys::windows::iphlpapi` (Windows only); the recording fake is
//! [`super::RecordingIpHelper`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::net::{KernelError, KernelOp};
use crate::resource::Mac;

/// An adapter's locally unique id (`NET_LUID`): the key the IP Helper
/// calls take.
pub type Luid = u64;

/// An adapter's GUID, the identity the seed's `ips_ipchange` uses,
/// written `{4D36E972-E325-11CE-BFC1-08002BE10318}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.data4;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

impl FromStr for Guid {
    type Err = ();

    /// With or without braces, any case.
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(s);
        let parts: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if parts.len() != 5
            || parts.iter().zip(lens).any(|(p, n)| p.len() != n)
            || !s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
        {
            return Err(());
        }
        let hex = |t: &str| u64::from_str_radix(t, 16).map_err(|_| ());
        let tail = format!("{}{}", parts[3], parts[4]);
        let mut data4 = [0u8; 8];
        for (i, byte) in data4.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&tail[2 * i..2 * i + 2], 16).map_err(|_| ())?;
        }
        Ok(Guid {
            data1: hex(parts[0])? as u32,
            data2: hex(parts[1])? as u16,
            data3: hex(parts[2])? as u16,
            data4,
        })
    }
}

/// Which addresses a table call lists (`AF_INET`, `AF_INET6`, `AF_UNSPEC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Both,
}

impl Family {
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

/// One row of `GetIfTable2` (`MIB_IF_ROW2`), the fields ipkit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfRow {
    pub luid: Luid,
    pub index: u32,
    pub guid: Guid,
    /// The interface alias: the adapter's friendly name ("Ethernet 2").
    pub alias: String,
    /// None unless the physical address is 6 bytes long.
    pub mac: Option<Mac>,
    /// `AdminStatus == NET_IF_ADMIN_STATUS_UP`.
    pub admin_up: bool,
    /// `MediaConnectState == MediaConnectStateConnected`: the cable.
    pub media_connected: bool,
    /// A filter driver's view of another adapter
    /// (`InterfaceAndOperStatusFlags.FilterInterface`): never an adapter
    /// of its own.
    pub filter: bool,
}

/// Windows' duplicate address detection state of an address
/// (`NL_DAD_STATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DadState {
    Invalid,
    Tentative,
    Duplicate,
    Deprecated,
    Preferred,
}

/// One row of `GetUnicastIpAddressTable` (`MIB_UNICASTIPADDRESS_ROW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicastRow {
    pub luid: Luid,
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    pub dad_state: DadState,
}

/// What `CreateUnicastIpAddressEntry` is given (the rest of the row is
/// what `InitializeUnicastIpAddressEntry` sets: manual origin, infinite
/// lifetimes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewUnicast {
    pub luid: Luid,
    pub ip: IpAddr,
    pub prefix: u8,
    /// `IpDadStatePreferred` skips duplicate address detection (as
    /// `nodad` does on Linux); `IpDadStateTentative` runs it.
    pub dad_state: DadState,
    /// `SkipAsSource`: keep the address out of source address selection.
    pub skip_as_source: bool,
}

/// A neighbour entry's reachability (`NL_NEIGHBOR_STATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    Unreachable,
    Incomplete,
    Probe,
    Delay,
    Stale,
    Reachable,
    Permanent,
}

/// One row of `GetIpNetTable2` (`MIB_IPNET_ROW2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourRow {
    pub luid: Luid,
    pub index: u32,
    pub ip: IpAddr,
    pub mac: Option<Mac>,
    pub state: NeighbourState,
}

/// A Win32 error code as an IP Helper call returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Win32Error(pub u32);

impl Win32Error {
    pub const ACCESS_DENIED: Self = Self(5);
    pub const NOT_ENOUGH_MEMORY: Self = Self(8);
    pub const NOT_SUPPORTED: Self = Self(50);
    pub const BAD_NET_NAME: Self = Self(67);
    pub const INVALID_PARAMETER: Self = Self(87);
    pub const INSUFFICIENT_BUFFER: Self = Self(122);
    /// `GetProcAddress` found no such export: this system's iphlpapi.dll
    /// lacks the call (Wine 8 lacks several).
    pub const PROC_NOT_FOUND: Self = Self(127);
    pub const NOT_FOUND: Self = Self(1168);
    pub const NETWORK_UNREACHABLE: Self = Self(1231);
    pub const OBJECT_ALREADY_EXISTS: Self = Self(5010);

    /// The errno the kernel seam carries for this code (so callers'
    /// rules — EACCES is a missing privilege — hold on Windows too).
    pub fn errno(self) -> i32 {
        match self {
            Self::ACCESS_DENIED => libc::EACCES,
            Self::NOT_ENOUGH_MEMORY | Self::INSUFFICIENT_BUFFER => libc::ENOMEM,
            Self::NOT_SUPPORTED => libc::EOPNOTSUPP,
            Self::BAD_NET_NAME => libc::EHOSTUNREACH,
            Self::INVALID_PARAMETER => libc::EINVAL,
            Self::PROC_NOT_FOUND => libc::ENOSYS,
            Self::NOT_FOUND => libc::ENOENT,
            Self::NETWORK_UNREACHABLE => libc::ENETUNREACH,
            Self::OBJECT_ALREADY_EXISTS => libc::EEXIST,
            _ => libc::EIO,
        }
    }

    /// The code's symbolic name (the same text on every platform).
    pub fn name(self) -> &'static str {
        match self {
            Self::ACCESS_DENIED => "ERROR_ACCESS_DENIED",
            Self::NOT_ENOUGH_MEMORY => "ERROR_NOT_ENOUGH_MEMORY",
            Self::NOT_SUPPORTED => "ERROR_NOT_SUPPORTED",
            Self::BAD_NET_NAME => "ERROR_BAD_NET_NAME",
            Self::INVALID_PARAMETER => "ERROR_INVALID_PARAMETER",
            Self::INSUFFICIENT_BUFFER => "ERROR_INSUFFICIENT_BUFFER",
            Self::PROC_NOT_FOUND => "ERROR_PROC_NOT_FOUND",
            Self::NOT_FOUND => "ERROR_NOT_FOUND",
            Self::NETWORK_UNREACHABLE => "ERROR_NETWORK_UNREACHABLE",
            Self::OBJECT_ALREADY_EXISTS => "ERROR_OBJECT_ALREADY_EXISTS",
            _ => "Win32 error",
        }
    }

    /// The seam's error for this code, from `call` (an IP Helper function)
    /// during `op` on `target`.
    pub fn kernel(self, op: KernelOp, target: Option<String>, call: &str) -> KernelError {
        let what = if self == Self::PROC_NOT_FOUND {
            format!("{call} is not exported by this system's iphlpapi.dll")
        } else {
            format!("{call}: {} ({})", self.name(), self.0)
        };
        KernelError::with_message(op, target, self.errno(), what)
    }
}

/// The IP Helper calls ipkit makes, one method each. Every method is one
/// call (the real one frees what Windows allocated); nothing here decides
/// anything — that is [`super::WindowsKernel`]'s part.
pub trait IpHelper: Send + Sync {
    /// `GetIfTable2`: every interface.
    fn get_if_table2(&self) -> Result<Vec<IfRow>, Win32Error>;

    /// `GetUnicastIpAddressTable`: every unicast address of `family`.
    fn get_unicast_ip_address_table(&self, family: Family) -> Result<Vec<UnicastRow>, Win32Error>;

    /// `InitializeUnicastIpAddressEntry` + `CreateUnicastIpAddressEntry`.
    fn create_unicast_ip_address_entry(&self, row: &NewUnicast) -> Result<(), Win32Error>;

    /// `DeleteUnicastIpAddressEntry` of the address `ip` on `luid`.
    fn delete_unicast_ip_address_entry(&self, luid: Luid, ip: IpAddr) -> Result<(), Win32Error>;

    /// `GetIpNetTable2`: every neighbour entry of `family`.
    fn get_ip_net_table2(&self, family: Family) -> Result<Vec<NeighbourRow>, Win32Error>;

    /// `DeleteIpNetEntry2` of the neighbour `ip` on `luid`.
    fn delete_ip_net_entry2(&self, luid: Luid, ip: IpAddr) -> Result<(), Win32Error>;

    /// `ResolveIpNetEntry2` of `ip` on `luid` (an ARP request or a
    /// neighbour solicitation, sent even when an entry exists), from
    /// `source` when given: the answerer's MAC, or None when nobody
    /// answered (`ERROR_BAD_NET_NAME`, or an unreachable entry).
    fn resolve_ip_net_entry2(
        &self,
        luid: Luid,
        ip: IpAddr,
        source: Option<IpAddr>,
    ) -> Result<Option<Mac>, Win32Error>;

    /// `SendARP` for `dest` from `source` (0.0.0.0: Windows chooses): the
    /// answerer's MAC, or None when nobody answered.
    fn send_arp(&self, dest: Ipv4Addr, source: Ipv4Addr) -> Result<Option<Mac>, Win32Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_read_and_print_as_windows_writes_them() {
        let text = "{4D36E972-E325-11CE-BFC1-08002BE10318}";
        let g: Guid = text.parse().unwrap();
        assert_eq!(g.data1, 0x4D36_E972);
        assert_eq!(g.data4, [0xBF, 0xC1, 0x08, 0x00, 0x2B, 0xE1, 0x03, 0x18]);
        assert_eq!(g.to_string(), text);
        assert_eq!(
            "4d36e972-e325-11ce-bfc1-08002be10318".parse::<Guid>(),
            Ok(g)
        );
        for bad in [
            "",
            "{}",
            "4D36E972E32511CEBFC108002BE10318",
            "{4D36E972-E325-11CE-BFC1-08002BE1031G}",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn win32_errors_keep_the_seams_rules() {
        let e = Win32Error::ACCESS_DENIED.kernel(
            KernelOp::AddAddress,
            None,
            "CreateUnicastIpAddressEntry",
        );
        assert!(e.is_permission());
        assert_eq!(
            e.message,
            "CreateUnicastIpAddressEntry: ERROR_ACCESS_DENIED (5)"
        );
        let e =
            Win32Error::PROC_NOT_FOUND.kernel(KernelOp::FlushNeighbours, None, "DeleteIpNetEntry2");
        assert_eq!(e.errno, libc::ENOSYS);
        assert!(
            e.to_string().contains("DeleteIpNetEntry2 is not exported"),
            "{e}"
        );
    }
}
