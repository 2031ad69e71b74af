//! The records the simulated network keeps for tests to inspect: the
//! neighbour cache entries, the announcements sent, and every kernel call.

use std::fmt;
use std::net::IpAddr;

use super::CallKind;
use crate::net::AnnouncePlan;
use crate::resource::{AdapterName, Mac};

/// One entry of the neighbour (ARP/NDP) cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub adapter: AdapterName,
    pub ip: IpAddr,
    pub mac: Mac,
}

/// One announcement sent (gratuitous ARP / unsolicited NA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub adapter: AdapterName,
    pub ip: IpAddr,
    pub plan: AnnouncePlan,
    /// Whether the adapter had carrier, i.e. the frames reached the wire.
    pub on_wire: bool,
}

/// One kernel call as the operations made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// 1-based, counting every call.
    pub n: u64,
    pub kind: CallKind,
    pub adapter: Option<AdapterName>,
    pub ip: Option<IpAddr>,
    /// `None` on success, else the errno returned.
    pub errno: Option<i32>,
    /// A fault changed this call's result.
    pub faulted: bool,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.n, self.kind)?;
        if let Some(a) = &self.adapter {
            write!(f, " {a}")?;
        }
        if let Some(ip) = &self.ip {
            write!(f, " {ip}")?;
        }
        match self.errno {
            None => f.write_str(" -> ok")?,
            Some(e) => write!(f, " -> errno {e}")?,
        }
        if self.faulted {
            f.write_str(" (fault)")?;
        }
        Ok(())
    }
}
