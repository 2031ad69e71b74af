//! AF_PACKET announcements (gratuitous ARP, unsolicited NA) and in-use
//! probes (RFC 5227 ARP probe, DAD NS), SPEC §2 rows `ips_arpupdate` and
//! "is the VIP already in use?".
//!
//! Three layers:
//! - frames: checked views over received bytes ([`EthernetFrame`],
//!   [`ArpPacket`], [`Ipv6Packet`], [`NdMessage`]) and pure builders for the
//!   four frames we send;
//! - pure logic: [`claimant`] (does a frame claim the address?) and the
//!   [`Prober`] state machine (when to send, how long to wait), testable
//!   without a socket or a clock;
//! - I/O: [`announce`] and [`probe`] over `AF_PACKET` sockets ([`Sockets`]
//!   keeps them open across calls), and the announcer registry
//!   ([`stop_announcing`]): at most one background sender per address and
//!   network namespace, stopped when the address is deleted or announced
//!   again.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::net::{AnnouncePlan, KernelError, KernelOp, ProbeResult};
use crate::resource::Mac;

// ---------------------------------------------------------------------------
// Constants of the wire formats
// ---------------------------------------------------------------------------

pub const ETH_HEADER_LEN: usize = 14;
/// Minimum Ethernet frame without FCS; short frames are zero-padded to it.
pub const ETH_MIN_FRAME_LEN: usize = 60;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ARP_LEN: usize = 28;
pub const IPV6_HEADER_LEN: usize = 40;
/// ICMPv6 header + reserved/flags + target address (NS and NA alike).
pub const ND_FIXED_LEN: usize = 24;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// NDP option types (RFC 4861 §4.6.1).
pub const ND_OPT_SOURCE_LL: u8 = 1;
pub const ND_OPT_TARGET_LL: u8 = 2;
/// NA flag bits in the first byte after the checksum.
pub const NA_FLAG_ROUTER: u8 = 0x80;
pub const NA_FLAG_SOLICITED: u8 = 0x40;
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

pub const BROADCAST_MAC: Mac = Mac([0xff; 6]);
pub const ZERO_MAC: Mac = Mac([0; 6]);
/// ff02::1, all-nodes, and its multicast MAC.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_NODES_MAC: Mac = Mac([0x33, 0x33, 0, 0, 0, 1]);

/// Length of an unsolicited NA frame: Ethernet + IPv6 + NA + target
/// link-layer address option.
pub const NA_FRAME_LEN: usize = ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_FIXED_LEN + 8;
/// Length of a DAD NS frame (no source link-layer option: RFC 4862 §5.4.2).
pub const DAD_NS_FRAME_LEN: usize = ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_FIXED_LEN;

/// Why received bytes are not the frame we were looking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{what} needs {need} bytes, got {got}")]
    TooShort {
        what: &'static str,
        need: usize,
        got: usize,
    },
    #[error("ethertype {found:#06x} is not {expected:#06x}")]
    EtherType { found: u16, expected: u16 },
    #[error("ARP hardware type {0} is not Ethernet (1)")]
    ArpHardwareType(u16),
    #[error("ARP protocol type {0:#06x} is not IPv4")]
    ArpProtocolType(u16),
    #[error("ARP address lengths {hlen}/{plen} are not 6/4")]
    ArpAddressLengths { hlen: u8, plen: u8 },
    #[error("ARP operation {0} is neither request (1) nor reply (2)")]
    ArpOperation(u16),
    #[error("IP version {0} is not 6")]
    IpVersion(u8),
    #[error("IPv6 payload length {declared} exceeds the {available} bytes present")]
    Ipv6PayloadLength { declared: usize, available: usize },
    #[error("next header {0} is not ICMPv6 (58)")]
    NextHeader(u8),
    #[error("hop limit {0} is not 255, as neighbour discovery requires")]
    HopLimit(u8),
    #[error("ICMPv6 type {0} is not a neighbour solicitation or advertisement")]
    IcmpType(u8),
    #[error("ICMPv6 code {0} is not 0")]
    IcmpCode(u8),
    #[error("ICMPv6 checksum {found:#06x} is wrong (expected {expected:#06x})")]
    Checksum { found: u16, expected: u16 },
    #[error("neighbour discovery option at offset {offset} has a bad length")]
    NdOption { offset: usize },
}

fn need(what: &'static str, need: usize, bytes: &[u8]) -> Result<(), FrameError> {
    if bytes.len() < need {
        Err(FrameError::TooShort {
            what,
            need,
            got: bytes.len(),
        })
    } else {
        Ok(())
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn mac_at(b: &[u8], at: usize) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    Mac(m)
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

// ---------------------------------------------------------------------------
// Checked views
// ---------------------------------------------------------------------------

/// An Ethernet II frame (no FCS, no VLAN tag).
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a> {
    bytes: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        need("Ethernet header", ETH_HEADER_LEN, bytes)?;
        Ok(Self { bytes })
    }

    pub fn destination(&self) -> Mac {
        mac_at(self.bytes, 0)
    }

    pub fn source(&self) -> Mac {
        mac_at(self.bytes, 6)
    }

    pub fn ethertype(&self) -> u16 {
        be16(self.bytes, 12)
    }

    /// Everything after the header (padding included).
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[ETH_HEADER_LEN..]
    }

    /// The ARP packet inside, checked.
    pub fn arp(&self) -> Result<ArpPacket<'a>, FrameError> {
        self.expect(ETHERTYPE_ARP)?;
        ArpPacket::parse(self.payload())
    }

    /// The IPv6 packet inside, checked.
    pub fn ipv6(&self) -> Result<Ipv6Packet<'a>, FrameError> {
        self.expect(ETHERTYPE_IPV6)?;
        Ipv6Packet::parse(self.payload())
    }

    fn expect(&self, expected: u16) -> Result<(), FrameError> {
        let found = self.ethertype();
        if found == expected {
            Ok(())
        } else {
            Err(FrameError::EtherType { found, expected })
        }
    }
}

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request = 1,
    Reply = 2,
}

/// An Ethernet/IPv4 ARP packet (RFC 826).
#[derive(Debug, Clone, Copy)]
pub struct ArpPacket<'a> {
    bytes: &'a [u8],
}

impl<'a> ArpPacket<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        need("ARP packet", ARP_LEN, bytes)?;
        let htype = be16(bytes, 0);
        if htype != 1 {
            return Err(FrameError::ArpHardwareType(htype));
        }
        let ptype = be16(bytes, 2);
        if ptype != ETHERTYPE_IPV4 {
            return Err(FrameError::ArpProtocolType(ptype));
        }
        let (hlen, plen) = (bytes[4], bytes[5]);
        if (hlen, plen) != (6, 4) {
            return Err(FrameError::ArpAddressLengths { hlen, plen });
        }
        let op = be16(bytes, 6);
        if op != 1 && op != 2 {
            return Err(FrameError::ArpOperation(op));
        }
        Ok(Self {
            bytes: &bytes[..ARP_LEN],
        })
    }

    pub fn operation(&self) -> ArpOp {
        if be16(self.bytes, 6) == 1 {
            ArpOp::Request
        } else {
            ArpOp::Reply
        }
    }

    pub fn sender_mac(&self) -> Mac {
        mac_at(self.bytes, 8)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        ipv4_at(self.bytes, 14)
    }

    pub fn target_mac(&self) -> Mac {
        mac_at(self.bytes, 18)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4_at(self.bytes, 24)
    }
}

/// An IPv6 packet (fixed header only; extension headers are not followed).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        need("IPv6 header", IPV6_HEADER_LEN, bytes)?;
        let version = bytes[0] >> 4;
        if version != 6 {
            return Err(FrameError::IpVersion(version));
        }
        let declared = usize::from(be16(bytes, 4));
        let available = bytes.len() - IPV6_HEADER_LEN;
        if declared > available {
            return Err(FrameError::Ipv6PayloadLength {
                declared,
                available,
            });
        }
        // Trim Ethernet padding.
        Ok(Self {
            bytes: &bytes[..IPV6_HEADER_LEN + declared],
        })
    }

    pub fn next_header(&self) -> u8 {
        self.bytes[6]
    }

    pub fn hop_limit(&self) -> u8 {
        self.bytes[7]
    }

    pub fn source(&self) -> Ipv6Addr {
        ipv6_at(self.bytes, 8)
    }

    pub fn destination(&self) -> Ipv6Addr {
        ipv6_at(self.bytes, 24)
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[IPV6_HEADER_LEN..]
    }

    /// The neighbour discovery message inside, checked (RFC 4861 §7.1.1
    /// and §7.1.2 validity: hop limit 255, code 0, checksum, options).
    pub fn nd(&self) -> Result<NdMessage<'a>, FrameError> {
        NdMessage::parse(self)
    }
}

/// Neighbour solicitation or advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdKind {
    Solicitation,
    Advertisement,
}

/// A validated NS or NA (ICMPv6 part only; the IPv6 addresses are kept).
#[derive(Debug, Clone, Copy)]
pub struct NdMessage<'a> {
    source: Ipv6Addr,
    destination: Ipv6Addr,
    bytes: &'a [u8],
}

impl<'a> NdMessage<'a> {
    pub fn parse(ip: &Ipv6Packet<'a>) -> Result<Self, FrameError> {
        if ip.next_header() != IPPROTO_ICMPV6 {
            return Err(FrameError::NextHeader(ip.next_header()));
        }
        let bytes = ip.payload();
        need("neighbour discovery message", ND_FIXED_LEN, bytes)?;
        let kind = bytes[0];
        if kind != ICMPV6_NEIGHBOR_SOLICITATION && kind != ICMPV6_NEIGHBOR_ADVERTISEMENT {
            return Err(FrameError::IcmpType(kind));
        }
        if ip.hop_limit() != 255 {
            return Err(FrameError::HopLimit(ip.hop_limit()));
        }
        if bytes[1] != 0 {
            return Err(FrameError::IcmpCode(bytes[1]));
        }
        let found = be16(bytes, 2);
        let expected = icmpv6_checksum(ip.source(), ip.destination(), bytes);
        if found != expected {
            return Err(FrameError::Checksum { found, expected });
        }
        let msg = Self {
            source: ip.source(),
            destination: ip.destination(),
            bytes,
        };
        // Validate the option chain once, so accessors cannot fail.
        let mut at = ND_FIXED_LEN;
        while at < bytes.len() {
            if bytes.len() - at < 2 || bytes[at + 1] == 0 {
                return Err(FrameError::NdOption { offset: at });
            }
            let len = usize::from(bytes[at + 1]) * 8;
            if len > bytes.len() - at {
                return Err(FrameError::NdOption { offset: at });
            }
            at += len;
        }
        Ok(msg)
    }

    pub fn kind(&self) -> NdKind {
        if self.bytes[0] == ICMPV6_NEIGHBOR_SOLICITATION {
            NdKind::Solicitation
        } else {
            NdKind::Advertisement
        }
    }

    pub fn source(&self) -> Ipv6Addr {
        self.source
    }

    pub fn destination(&self) -> Ipv6Addr {
        self.destination
    }

    /// The R/S/O flags byte of an NA (0 for an NS).
    pub fn flags(&self) -> u8 {
        match self.kind() {
            NdKind::Advertisement => self.bytes[4],
            NdKind::Solicitation => 0,
        }
    }

    pub fn target(&self) -> Ipv6Addr {
        ipv6_at(self.bytes, 8)
    }

    /// The link-layer address option that fits the message: source for an
    /// NS, target for an NA.
    pub fn link_layer_address(&self) -> Option<Mac> {
        let wanted = match self.kind() {
            NdKind::Solicitation => ND_OPT_SOURCE_LL,
            NdKind::Advertisement => ND_OPT_TARGET_LL,
        };
        let mut at = ND_FIXED_LEN;
        while at + 2 <= self.bytes.len() {
            let len = usize::from(self.bytes[at + 1]) * 8;
            if len == 0 {
                return None;
            }
            if self.bytes[at] == wanted && len >= 8 {
                return Some(mac_at(self.bytes, at + 2));
            }
            at += len;
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Checksum and addresses
// ---------------------------------------------------------------------------

/// The ICMPv6 checksum (RFC 4443 §2.3) over the pseudo-header and `message`,
/// whose checksum field (bytes 2..4) is treated as zero.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    fn add(sum: &mut u32, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            *sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            *sum += u32::from(*last) << 8;
        }
    }
    let mut sum = 0u32;
    add(&mut sum, &src.octets());
    add(&mut sum, &dst.octets());
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&mut sum, &len.to_be_bytes());
    add(&mut sum, &[0, 0, 0, IPPROTO_ICMPV6]);
    if message.len() >= 4 {
        add(&mut sum, &message[..2]);
        add(&mut sum, &message[4..]);
    } else {
        add(&mut sum, message);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The solicited-node multicast group of `ip` (RFC 4291 §2.7.1).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast MAC of an IPv6 multicast group (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

// ---------------------------------------------------------------------------
// Builders (pure)
// ---------------------------------------------------------------------------

fn put_eth(buf: &mut [u8], dst: Mac, src: Mac, ethertype: u16) {
    buf[0..6].copy_from_slice(&dst.0);
    buf[6..12].copy_from_slice(&src.0);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// An Ethernet ARP frame, zero-padded to the 60-byte minimum.
pub fn arp_frame(
    eth_dst: Mac,
    op: ArpOp,
    sender_mac: Mac,
    sender_ip: Ipv4Addr,
    target_mac: Mac,
    target_ip: Ipv4Addr,
) -> [u8; ETH_MIN_FRAME_LEN] {
    let mut f = [0u8; ETH_MIN_FRAME_LEN];
    put_eth(&mut f, eth_dst, sender_mac, ETHERTYPE_ARP);
    let a = &mut f[ETH_HEADER_LEN..ETH_HEADER_LEN + ARP_LEN];
    a[0..2].copy_from_slice(&1u16.to_be_bytes());
    a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    a[4] = 6;
    a[5] = 4;
    a[6..8].copy_from_slice(&(op as u16).to_be_bytes());
    a[8..14].copy_from_slice(&sender_mac.0);
    a[14..18].copy_from_slice(&sender_ip.octets());
    a[18..24].copy_from_slice(&target_mac.0);
    a[24..28].copy_from_slice(&target_ip.octets());
    f
}

/// Gratuitous ARP request: broadcast, sender IP = target IP = `ip`, target
/// MAC zero (as the kernel's own `arp_notify` sends it).
pub fn gratuitous_arp_request(mac: Mac, ip: Ipv4Addr) -> [u8; ETH_MIN_FRAME_LEN] {
    arp_frame(BROADCAST_MAC, ArpOp::Request, mac, ip, ZERO_MAC, ip)
}

/// Gratuitous ARP reply: broadcast, sender IP = target IP = `ip`, target MAC
/// = our MAC (as `arping -A` sends it).
pub fn gratuitous_arp_reply(mac: Mac, ip: Ipv4Addr) -> [u8; ETH_MIN_FRAME_LEN] {
    arp_frame(BROADCAST_MAC, ArpOp::Reply, mac, ip, mac, ip)
}

/// RFC 5227 §2.1.1 ARP probe: broadcast request, sender IP 0.0.0.0, target
/// MAC zero, target IP = `ip`.
pub fn arp_probe(mac: Mac, ip: Ipv4Addr) -> [u8; ETH_MIN_FRAME_LEN] {
    arp_frame(
        BROADCAST_MAC,
        ArpOp::Request,
        mac,
        Ipv4Addr::UNSPECIFIED,
        ZERO_MAC,
        ip,
    )
}

fn put_ipv6(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) {
    let h = &mut buf[ETH_HEADER_LEN..ETH_HEADER_LEN + IPV6_HEADER_LEN];
    h[0] = 0x60;
    h[1..4].fill(0);
    // payload_len is one of our fixed ND sizes, far below u16::MAX.
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = IPPROTO_ICMPV6;
    h[7] = 255;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

fn seal_icmpv6(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let at = ETH_HEADER_LEN + IPV6_HEADER_LEN;
    let sum = icmpv6_checksum(src, dst, &buf[at..]);
    buf[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
}

/// Unsolicited Neighbour Advertisement (RFC 4861 §7.2.6): from `ip` to
/// ff02::1, hop limit 255, override flag, target link-layer address option.
pub fn unsolicited_na(mac: Mac, ip: Ipv6Addr) -> [u8; NA_FRAME_LEN] {
    let mut f = [0u8; NA_FRAME_LEN];
    put_eth(&mut f, ALL_NODES_MAC, mac, ETHERTYPE_IPV6);
    put_ipv6(&mut f, ip, ALL_NODES, ND_FIXED_LEN + 8);
    let m = &mut f[ETH_HEADER_LEN + IPV6_HEADER_LEN..];
    m[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
    m[4] = NA_FLAG_OVERRIDE;
    m[8..24].copy_from_slice(&ip.octets());
    m[24] = ND_OPT_TARGET_LL;
    m[25] = 1;
    m[26..32].copy_from_slice(&mac.0);
    seal_icmpv6(&mut f, ip, ALL_NODES);
    f
}

/// DAD Neighbour Solicitation (RFC 4862 §5.4.2): from :: to the
/// solicited-node group of `ip` (and its multicast MAC), no options.
pub fn dad_ns(mac: Mac, ip: Ipv6Addr) -> [u8; DAD_NS_FRAME_LEN] {
    let group = solicited_node(ip);
    let mut f = [0u8; DAD_NS_FRAME_LEN];
    put_eth(&mut f, multicast_mac(group), mac, ETHERTYPE_IPV6);
    put_ipv6(&mut f, Ipv6Addr::UNSPECIFIED, group, ND_FIXED_LEN);
    let m = &mut f[ETH_HEADER_LEN + IPV6_HEADER_LEN..];
    m[0] = ICMPV6_NEIGHBOR_SOLICITATION;
    m[8..24].copy_from_slice(&ip.octets());
    seal_icmpv6(&mut f, Ipv6Addr::UNSPECIFIED, group);
    f
}

/// The frames of one announcement round for `ip`: ARP request + reply for
/// IPv4, one NA for IPv6.
pub fn announcement_frames(mac: Mac, ip: IpAddr) -> Vec<Vec<u8>> {
    match ip {
        IpAddr::V4(v4) => vec![
            gratuitous_arp_request(mac, v4).to_vec(),
            gratuitous_arp_reply(mac, v4).to_vec(),
        ],
        IpAddr::V6(v6) => vec![unsolicited_na(mac, v6).to_vec()],
    }
}

/// The probe frame for `ip`.
pub fn probe_frame(mac: Mac, ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => arp_probe(mac, v4).to_vec(),
        IpAddr::V6(v6) => dad_ns(mac, v6).to_vec(),
    }
}

// ---------------------------------------------------------------------------
// Pure logic: who claims the address?
// ---------------------------------------------------------------------------

/// If `frame` shows another host claiming `ip`, that host's MAC.
///
/// Claims: an ARP request or reply with sender IP = `ip` (an answer to our
/// probe, or an announcement); an RFC 5227 probe for `ip` by someone else
/// (§2.1.1: a simultaneous probe is a conflict); an NA for target `ip`; a
/// DAD NS for `ip` by someone else (RFC 4862 §5.4.3). Frames sent from `ours`
/// (our own frames, looped back) never claim.
pub fn claimant(frame: &[u8], ip: IpAddr, ours: Mac) -> Option<Mac> {
    let eth = EthernetFrame::parse(frame).ok()?;
    if eth.source() == ours {
        return None;
    }
    let mac = match ip {
        IpAddr::V4(v4) => {
            let arp = eth.arp().ok()?;
            let announces = arp.sender_ip() == v4;
            let probes = arp.operation() == ArpOp::Request
                && arp.sender_ip().is_unspecified()
                && arp.target_ip() == v4;
            if !(announces || probes) {
                return None;
            }
            arp.sender_mac()
        }
        IpAddr::V6(v6) => {
            let nd = eth.ipv6().ok()?.nd().ok()?;
            if nd.target() != v6 {
                return None;
            }
            match nd.kind() {
                NdKind::Advertisement => nd.link_layer_address().unwrap_or(eth.source()),
                NdKind::Solicitation if nd.source().is_unspecified() => eth.source(),
                NdKind::Solicitation => return None,
            }
        }
    };
    (mac != ours).then_some(mac)
}

// ---------------------------------------------------------------------------
// Pure logic: the probe schedule
// ---------------------------------------------------------------------------

/// Probes sent within one timeout (spread evenly, the first at once), so
/// that one lost frame does not make a used address look free.
pub const PROBES_PER_TIMEOUT: u32 = 2;

/// What the probe loop should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    /// Send the probe frame now, then poll again.
    Send,
    /// Listen for at most this long, feeding frames to [`Prober::on_frame`].
    Wait(Duration),
    /// Finished.
    Done(ProbeResult),
}

/// The probe as a state machine: time and frames go in, steps come out.
#[derive(Debug, Clone)]
pub struct Prober {
    ip: IpAddr,
    ours: Mac,
    start: Instant,
    timeout: Duration,
    sent: u32,
    result: Option<ProbeResult>,
}

impl Prober {
    pub fn new(ip: IpAddr, ours: Mac, start: Instant, timeout: Duration) -> Self {
        Self {
            ip,
            ours,
            start,
            timeout,
            sent: 0,
            result: None,
        }
    }

    fn send_time(&self, n: u32) -> Instant {
        self.start + self.timeout * n / PROBES_PER_TIMEOUT
    }

    pub fn poll(&mut self, now: Instant) -> ProbeStep {
        if let Some(r) = self.result {
            return ProbeStep::Done(r);
        }
        let deadline = self.start + self.timeout;
        if self.timeout.is_zero() || now >= deadline {
            self.result = Some(ProbeResult::Free);
            return ProbeStep::Done(ProbeResult::Free);
        }
        if self.sent < PROBES_PER_TIMEOUT {
            let due = self.send_time(self.sent);
            if now >= due {
                self.sent += 1;
                return ProbeStep::Send;
            }
            return ProbeStep::Wait(due - now);
        }
        ProbeStep::Wait(deadline - now)
    }

    /// Feed a received frame; returns the result once someone claims it.
    pub fn on_frame(&mut self, frame: &[u8]) -> Option<ProbeResult> {
        if self.result.is_none()
            && let Some(mac) = claimant(frame, self.ip, self.ours)
        {
            self.result = Some(ProbeResult::InUse { mac });
        }
        self.result
    }
}

// ---------------------------------------------------------------------------
// I/O: AF_PACKET sockets
// ---------------------------------------------------------------------------

const PACKET_OUTGOING: u8 = 4;

fn ethertype_of(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => ETHERTYPE_ARP,
        IpAddr::V6(_) => ETHERTYPE_IPV6,
    }
}

fn link_addr(ifindex: u32, ethertype: u16, dst: Mac) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&dst.0);
    sll
}

/// The link-layer destination of `frame` on `ifindex`.
fn frame_addr(ifindex: u32, frame: &[u8]) -> io::Result<libc::sockaddr_ll> {
    let eth =
        EthernetFrame::parse(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(link_addr(ifindex, eth.ethertype(), eth.destination()))
}

fn check_ifindex(ifindex: u32) -> io::Result<()> {
    if ifindex == 0 || i32::try_from(ifindex).is_err() {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    Ok(())
}

/// A raw `AF_PACKET` socket with protocol 0: it receives nothing until it
/// is bound, and can send on any interface.
fn open_packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn send_frame(fd: RawFd, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    let sll = frame_addr(ifindex, frame)?;
    if send_raw(fd, frame, &sll) < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// sendto(2) on a prepared address; async-signal-safe (used after fork).
fn send_raw(fd: RawFd, frame: &[u8], sll: &libc::sockaddr_ll) -> isize {
    // SAFETY: frame and sll are valid for their lengths.
    unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value is valid for size_of::<T>() bytes.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A packet socket bound to one interface and EtherType, kept between
/// probes. While idle it carries a socket filter that drops everything,
/// so nothing is queued (or even cloned) for it.
#[derive(Debug)]
struct Listener {
    fd: OwnedFd,
    ifindex: u32,
    ethertype: u16,
}

impl Listener {
    /// Created with protocol 0, so nothing from other interfaces is
    /// queued before the bind.
    fn open(ifindex: u32, ethertype: u16) -> io::Result<Self> {
        let fd = open_packet_socket()?;
        let sll = link_addr(ifindex, ethertype, ZERO_MAC);
        // SAFETY: sll is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// Still bound to its interface (the kernel unbinds a packet socket
    /// whose interface is unregistered: its ifindex becomes -1), with any
    /// pending error (ENETDOWN after a down/up) cleared.
    fn usable(&self) -> bool {
        // SAFETY: zeroed sockaddr_ll is valid; sizes match the buffers.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if rc < 0 || sll.sll_ifindex != self.ifindex as i32 {
            return false;
        }
        let mut err: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err is a c_int of the given size; reading SO_ERROR clears it.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        rc == 0
    }

    /// Idle: attach a filter that accepts nothing. Listening: detach it.
    fn set_idle(&self, idle: bool) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        if idle {
            let mut drop_all = [libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: 0,
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: drop_all.as_mut_ptr(),
            };
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
        } else {
            match setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                &0 as &libc::c_int,
            ) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                r => r,
            }
        }
    }

    /// Throws away frames queued before the filter went on.
    fn drain(&self) {
        let mut buf = [0u8; 64];
        for _ in 0..4096 {
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                break;
            }
        }
    }

    /// Waits at most `timeout` for one incoming frame (outgoing copies are
    /// skipped). `Ok(None)` on timeout.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if rc == 0 {
            return Ok(None);
        }
        // SAFETY: zeroed sockaddr_ll is valid; sizes passed match buffers.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        if from.sll_pkttype == PACKET_OUTGOING {
            return Ok(None);
        }
        Ok(Some(n as usize))
    }
}

/// Packet sockets kept open across [`Sockets::announce`] and
/// [`Sockets::probe`] calls, for the network namespace they were opened in
/// (a [`LinuxKernel`](super::LinuxKernel) owns one).
///
/// Why keep them: closing an `AF_PACKET` socket waits for an RCU grace
/// period (`packet_release` calls `synchronize_net()`, 5-20 ms), whoever
/// holds the last reference pays it, and a process's exit counts. So one
/// send socket (protocol 0, receives nothing) serves every announcement,
/// and one listening socket per (interface, EtherType) serves the probes;
/// and every background sender inherits all of them, so that when a
/// short-lived process (the command line, the OCF agent) exits, its close
/// is not the last one: the sender pays at its own exit, off everyone's
/// path. A long-lived process (the daemon) never closes them. When the
/// `Sockets` is dropped with no running sender holding them all, a
/// detached closer child takes a reference first and lets go only once
/// ours are closed: the grace period is the closer's (costs one fork).
#[derive(Debug, Default)]
pub struct Sockets {
    cache: Mutex<Cache>,
    /// One-shot use ([`announce`], [`probe`]): plain close on drop.
    one_shot: bool,
}

#[derive(Debug, Default)]
struct Cache {
    send: Option<OwnedFd>,
    listeners: Vec<Listener>,
    /// Until when (at least) a background sender holds every socket above.
    held_until: Option<Instant>,
}

impl Cache {
    fn fds(&self) -> Vec<RawFd> {
        self.send
            .iter()
            .map(|fd| fd.as_raw_fd())
            .chain(self.listeners.iter().map(|l| l.fd.as_raw_fd()))
            .collect()
    }
}

/// Closing the kept sockets: unless a running background sender holds
/// them all (and outlives us by a margin), a detached closer child takes a
/// reference first, so that this close is never the last one and the
/// grace period is paid by the closer, not by the caller.
impl Drop for Sockets {
    fn drop(&mut self) {
        let cache = self.cache.get_mut().unwrap_or_else(|p| p.into_inner());
        let fds = cache.fds();
        if fds.is_empty() || self.one_shot {
            return;
        }
        let margin = Duration::from_millis(100);
        if cache
            .held_until
            .is_some_and(|t| Instant::now() + margin < t)
        {
            return;
        }
        let mut pipe = [0; 2];
        // SAFETY: pipe has room for two descriptors.
        if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        // SAFETY: fresh descriptors we own.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
        // If the fork fails, the close below simply pays.
        let _ = spawn_closer(&fds, rx.as_raw_fd());
        drop(rx);
        // Ours first (cheap, the closer still holds them) ...
        drop(cache.send.take());
        cache.listeners.clear();
        // ... then the closer may go.
        drop(tx);
    }
}

impl Sockets {
    pub fn new() -> Self {
        Self::default()
    }

    fn one_shot() -> Self {
        Self {
            cache: Mutex::default(),
            one_shot: true,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many packet sockets are open (for tests).
    pub fn open_count(&self) -> usize {
        let c = self.lock();
        usize::from(c.send.is_some()) + c.listeners.len()
    }

    /// [`announce`] over the kept sockets.
    pub fn announce(
        &self,
        ifindex: u32,
        mac: Mac,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        let op = KernelOp::Announce;
        check_ip(op, ifindex, ip)?;
        let err = |e: &io::Error| KernelError::from_io(op, target(ifindex, ip), e);
        // Whatever announced this address before (from any adapter, any
        // process of this network namespace) is stopped, and gone, before
        // the first frame of this announcement.
        let ctl = claim(ip).ok().flatten();
        if plan.count == 0 {
            return Ok(());
        }
        check_ifindex(ifindex).map_err(|e| err(&e))?;
        let mut cache = self.lock();
        let send = match &cache.send {
            Some(fd) => fd.as_raw_fd(),
            None => {
                let fd = open_packet_socket().map_err(|e| err(&e))?;
                let raw = fd.as_raw_fd();
                cache.send = Some(fd);
                cache.held_until = None;
                raw
            }
        };
        let frames = announcement_frames(mac, ip);
        for f in &frames {
            send_frame(send, ifindex, f).map_err(|e| err(&e))?;
        }
        // Without the name (still held by a sender that did not stop in
        // time), no background rounds: no sender may run unregistered.
        if plan.count > 1
            && let Some(ctl) = ctl
        {
            let mut keep: Vec<RawFd> = vec![send, ctl.as_raw_fd()];
            keep.extend(cache.listeners.iter().map(|l| l.fd.as_raw_fd()));
            let rounds = Rounds {
                send,
                ctl: ctl.as_raw_fd(),
                keep,
                ifindex,
                frames: &frames,
                count: plan.count - 1,
                interval: plan.interval,
            };
            let started = Instant::now();
            background_rounds(&rounds).map_err(|e| err(&e))?;
            cache.held_until = Some(started + plan.interval * (plan.count - 1));
        }
        Ok(())
    }

    /// [`probe`] over the kept sockets.
    pub fn probe(
        &self,
        ifindex: u32,
        mac: Mac,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        let op = KernelOp::Probe;
        check_ip(op, ifindex, ip)?;
        if timeout.is_zero() {
            return Ok(ProbeResult::Free);
        }
        let err = |e: &io::Error| KernelError::from_io(op, target(ifindex, ip), e);
        check_ifindex(ifindex).map_err(|e| err(&e))?;
        let listener = self
            .take_listener(ifindex, ethertype_of(ip))
            .map_err(|e| err(&e))?;
        let r = run_probe(&listener, mac, ip, timeout);
        // Back into the cache, idle; one that cannot be made idle is
        // closed instead (rare: it pays the grace period here).
        if listener.set_idle(true).is_ok() {
            self.lock().listeners.push(listener);
        }
        r.map_err(|e| err(&e))
    }

    /// A listening socket for (ifindex, ethertype): the kept one, drained
    /// and listening again, or a new one.
    fn take_listener(&self, ifindex: u32, ethertype: u16) -> io::Result<Listener> {
        let kept = {
            let mut c = self.lock();
            c.listeners
                .iter()
                .position(|l| l.ifindex == ifindex && l.ethertype == ethertype)
                .map(|i| c.listeners.swap_remove(i))
        };
        // One whose interface is gone is dropped (paying one grace
        // period, once per vanished interface).
        if let Some(l) = kept
            && l.usable()
        {
            l.drain();
            l.set_idle(false)?;
            return Ok(l);
        }
        let l = Listener::open(ifindex, ethertype)?;
        // No running sender holds this one.
        self.lock().held_until = None;
        Ok(l)
    }
}

fn run_probe(sock: &Listener, mac: Mac, ip: IpAddr, timeout: Duration) -> io::Result<ProbeResult> {
    let frame = probe_frame(mac, ip);
    let mut prober = Prober::new(ip, mac, Instant::now(), timeout);
    let mut buf = [0u8; 2048];
    loop {
        match prober.poll(Instant::now()) {
            ProbeStep::Send => send_frame(sock.fd.as_raw_fd(), sock.ifindex, &frame)?,
            ProbeStep::Wait(d) => {
                if let Some(n) = sock.recv(&mut buf, d)?
                    && let Some(r) = prober.on_frame(&buf[..n])
                {
                    return Ok(r);
                }
            }
            ProbeStep::Done(r) => return Ok(r),
        }
    }
}

fn target(ifindex: u32, ip: IpAddr) -> Option<String> {
    Some(format!("{ip} via ifindex {ifindex}"))
}

fn check_ip(op: KernelOp, ifindex: u32, ip: IpAddr) -> Result<(), KernelError> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(KernelError::with_message(
            op,
            target(ifindex, ip),
            libc::EINVAL,
            format!("{ip} cannot be announced or probed (unspecified or multicast)"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The announcer registry
// ---------------------------------------------------------------------------

/// The abstract `AF_UNIX` name (leading NUL) that the background sender of
/// `ip`'s announcements holds. Abstract names belong to a network
/// namespace, exactly the scope of an address, and vanish with the last
/// descriptor of the socket: nothing on disk to clean up after a crash.
pub fn announcer_name(ip: IpAddr) -> Vec<u8> {
    format!("\0ipkit/announce/{ip}").into_bytes()
}

/// How long a claim waits for the previous sender to exit.
pub const CLAIM_PATIENCE: Duration = Duration::from_millis(50);

fn unix_addr(name: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain old data; all-zero is valid.
    let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let n = name.len().min(sun.sun_path.len());
    for (d, s) in sun.sun_path.iter_mut().zip(&name[..n]) {
        *d = *s as libc::c_char;
    }
    let len = mem::size_of::<libc::sa_family_t>() + n;
    (sun, len as libc::socklen_t)
}

fn unix_dgram() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Binds `ip`'s announcer name, after asking whoever holds it to stop and
/// waiting (at most [`CLAIM_PATIENCE`]) until it has exited. `Ok(None)` if
/// the name is still held then.
fn claim(ip: IpAddr) -> io::Result<Option<OwnedFd>> {
    let (sun, len) = unix_addr(&announcer_name(ip));
    let addr = (&sun as *const libc::sockaddr_un).cast::<libc::sockaddr>();
    let sock = unix_dgram()?;
    // The sender checks who asks it to stop.
    setsockopt(
        sock.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_PASSCRED,
        &1 as &libc::c_int,
    )?;
    let deadline = Instant::now() + CLAIM_PATIENCE;
    let mut asker: Option<OwnedFd> = None;
    for attempt in 0u32.. {
        // SAFETY: addr points to a sockaddr_un valid for len bytes.
        if unsafe { libc::bind(sock.as_raw_fd(), addr, len) } == 0 {
            return Ok(Some(sock));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EADDRINUSE) {
            return Err(e);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        let a = match &asker {
            Some(a) => a.as_raw_fd(),
            None => asker.insert(unix_dgram()?).as_raw_fd(),
        };
        // SAFETY: a valid message and address. Errors are fine: the holder
        // may have just gone (ECONNREFUSED), or have a full queue.
        unsafe {
            libc::sendto(a, b"stop".as_ptr().cast(), 4, libc::MSG_DONTWAIT, addr, len);
        }
        // The sender exits within tens of microseconds of the request:
        // yield to it first (a sleep rounds up to the 50 us timer slack),
        // then poll more gently.
        if attempt < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    Ok(None)
}

/// Stops the background announcement rounds of `ip` in this network
/// namespace, whichever adapter and process they came from, and returns
/// once their sender has exited (or after [`CLAIM_PATIENCE`]): no
/// announcement of `ip` leaves this node after it returns. Called before
/// the address is deleted, so that its last owner never announces it once
/// it is gone (a Pacemaker move would fail the new node's in-use probe; a
/// local recovery would see the old adapter's MAC re-announced).
pub fn stop_announcing(ip: IpAddr) {
    // Claiming the name stops the holder; dropping it frees the name.
    let _ = claim(ip);
}

// ---------------------------------------------------------------------------
// announce
// ---------------------------------------------------------------------------

/// First round synchronously; the remaining rounds continue in the background
/// (a double-forked child that only calls ppoll/recvmsg/sendto/_exit, so they
/// go on after a command-line process exits, and leave no zombie).
///
/// A round is a gratuitous ARP request and reply (IPv4) or one unsolicited
/// NA (IPv6). Any earlier background rounds for `ip` in this network
/// namespace are stopped first (see [`stop_announcing`]); `plan.count` 0
/// then sends nothing; 1 does not fork.
///
/// One-shot: opens and closes its own packet socket. A long-lived caller
/// keeps a [`Sockets`] instead.
pub fn announce(ifindex: u32, mac: Mac, ip: IpAddr, plan: AnnouncePlan) -> Result<(), KernelError> {
    Sockets::one_shot().announce(ifindex, mac, ip, plan)
}

/// What the background sender needs, prepared before the fork.
struct Rounds<'a> {
    send: RawFd,
    ctl: RawFd,
    /// Descriptors the sender keeps open (all others are closed).
    keep: Vec<RawFd>,
    ifindex: u32,
    frames: &'a [Vec<u8>],
    count: u32,
    interval: Duration,
}

/// Forks twice; the grandchild waits `interval` on the control socket,
/// sends `frames`, `count` times, then `_exit`s; a datagram from root or
/// our own user on the control socket ends it at once. It is reparented to
/// init (no zombie); the intermediate child is reaped here.
fn background_rounds(r: &Rounds<'_>) -> io::Result<()> {
    // Everything the grandchild touches is prepared before fork: it must not
    // allocate or lock (the parent may be multi-threaded).
    let addrs: Vec<libc::sockaddr_ll> = r
        .frames
        .iter()
        .map(|f| frame_addr(r.ifindex, f))
        .collect::<io::Result<_>>()?;
    let interval_ns = i64::try_from(r.interval.as_nanos()).unwrap_or(i64::MAX);
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    let (send, ctl, frames, count) = (r.send, r.ctl, r.frames, r.count);
    spawn_detached(&r.keep, || {
        for _ in 0..count {
            if stop_requested_within(ctl, interval_ns, uid) {
                break;
            }
            for (f, a) in frames.iter().zip(&addrs) {
                send_raw(send, f, a);
            }
        }
        // Free the name before exiting: at exit the kernel releases the
        // descriptors last-opened first, and the packet sockets' release
        // may wait for an RCU grace period (we may hold the last reference)
        // which whoever is waiting for the name would otherwise wait out.
        // SAFETY: close(2) is async-signal-safe; nothing is sent after it.
        unsafe { libc::close(ctl) };
    })
}

/// Forks twice; the grandchild, in its own session (a terminal hang-up or
/// Ctrl-C after the command has exited does not reach it) and with every
/// descriptor but `keep` closed, runs `body` and `_exit`s. It is
/// reparented to init (no zombie); the intermediate child is reaped here.
///
/// `body` runs after fork in a possibly multi-threaded process: it must
/// only make async-signal-safe calls on memory prepared before (no
/// allocation, no locks).
fn spawn_detached(keep: &[RawFd], body: impl FnOnce()) -> io::Result<()> {
    let mut keep: Vec<libc::c_uint> = keep.iter().map(|&fd| fd as libc::c_uint).collect();
    keep.sort_unstable();
    keep.dedup();
    // SAFETY: fork(2); the children only call async-signal-safe functions
    // (fork, setsid, close_range/close, and what `body` calls), then _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // Intermediate child: fork the worker and exit at once.
        unsafe {
            let worker = libc::fork();
            if worker != 0 {
                libc::_exit(if worker < 0 { 1 } else { 0 });
            }
            libc::setsid();
            close_all_but(&keep);
        }
        body();
        // SAFETY: leave the child without running the parent's exit path.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc >= 0 {
            break;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            // Someone else (SIGCHLD = SIG_IGN, or a reaper) took it.
            _ => break,
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
        return Err(io::Error::from_raw_os_error(libc::EAGAIN));
    }
    Ok(())
}

/// How long the closer (see [`Sockets`]'s `Drop`) waits at most for the
/// parent to close its copies.
const CLOSER_PATIENCE_NS: i64 = 10_000_000_000;

/// Hands `fds` to a detached child that keeps them until `hangup` (the
/// read end of a pipe) reports that the parent closed the write end, so
/// that the parent's close of `fds` is not the last one.
fn spawn_closer(fds: &[RawFd], hangup: RawFd) -> io::Result<()> {
    let mut keep = fds.to_vec();
    keep.push(hangup);
    spawn_detached(&keep, || {
        let deadline = monotonic_ns().saturating_add(CLOSER_PATIENCE_NS);
        loop {
            let left = deadline - monotonic_ns();
            if left <= 0 {
                return;
            }
            let ts = libc::timespec {
                tv_sec: (left / 1_000_000_000) as libc::time_t,
                tv_nsec: (left % 1_000_000_000) as libc::c_long,
            };
            let mut pfd = libc::pollfd {
                fd: hangup,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd and timespec.
            let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
            if rc > 0 || (rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
            {
                return;
            }
        }
    })
}

/// The ranges `(first, last)` of descriptors not in `keep` (sorted,
/// deduplicated), up to `u32::MAX`: what the sender closes. No allocation
/// (it runs after fork).
fn closable(keep: &[libc::c_uint]) -> impl Iterator<Item = (libc::c_uint, libc::c_uint)> + '_ {
    let starts = std::iter::once(Some(0)).chain(keep.iter().map(|k| k.checked_add(1)));
    let ends = keep
        .iter()
        .map(|k| k.checked_sub(1))
        .chain(std::iter::once(Some(libc::c_uint::MAX)));
    starts.zip(ends).filter_map(|(from, to)| match (from, to) {
        (Some(from), Some(to)) if to >= from => Some((from, to)),
        _ => None,
    })
}

/// Closes every descriptor not in `keep` (sorted, deduplicated), stdio
/// included, so a caller reading our output through a pipe sees EOF when
/// the command exits.
///
/// # Safety
/// Only for the forked sender: async-signal-safe system calls only.
unsafe fn close_all_but(keep: &[libc::c_uint]) {
    let mut ok = true;
    for (from, to) in closable(keep) {
        // SAFETY: raw close_range(2) system call.
        ok &= unsafe { libc::syscall(libc::SYS_close_range, from, to, 0u32) } == 0;
    }
    if !ok {
        for fd in 0..1024 {
            if !keep.contains(&(fd as libc::c_uint)) {
                // SAFETY: closing descriptors in the forked sender.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds; async-signal-safe.
fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec; clock_gettime is async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

/// Waits `ns` nanoseconds on `ctl`; true as soon as a datagram from root
/// or `uid` arrives there (anyone else's is read and ignored).
/// Async-signal-safe: clock_gettime, ppoll, recvmsg.
fn stop_requested_within(ctl: RawFd, ns: i64, uid: libc::uid_t) -> bool {
    let deadline = monotonic_ns().saturating_add(ns);
    loop {
        let left = deadline - monotonic_ns();
        if left <= 0 {
            return false;
        }
        let ts = libc::timespec {
            tv_sec: (left / 1_000_000_000) as libc::time_t,
            tv_nsec: (left % 1_000_000_000) as libc::c_long,
        };
        let mut pfd = libc::pollfd {
            fd: ctl,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd and timespec.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if rc == 0 {
            continue;
        }
        if rc < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // Cannot wait on the control socket: stop rather than risk
            // announcing an address that may have moved.
            return true;
        }
        if pfd.revents & libc::POLLIN == 0 {
            return true;
        }
        if stop_sender_allowed(ctl, uid) {
            return true;
        }
    }
}

/// Reads one datagram from `ctl`; true if it came from root or `uid`
/// (its SCM_CREDENTIALS, which SO_PASSCRED makes the kernel attach).
fn stop_sender_allowed(ctl: RawFd, uid: libc::uid_t) -> bool {
    let mut data = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one ucred control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: msg points to valid buffers; recvmsg is async-signal-safe.
    let n = unsafe { libc::recvmsg(ctl, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return false;
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                let cred: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return cred.uid == 0 || cred.uid == uid;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    false
}

// ---------------------------------------------------------------------------
// probe
// ---------------------------------------------------------------------------

/// RFC 5227 ARP probe (sender IP 0.0.0.0) / DAD NS from :: to the
/// solicited-node group; listens for an answer or announcement from a MAC
/// that is not `mac`. timeout 0 = Free without sending.
///
/// One-shot: opens and closes its own packet socket. A long-lived caller
/// keeps a [`Sockets`] instead.
pub fn probe(
    ifindex: u32,
    mac: Mac,
    ip: IpAddr,
    timeout: Duration,
) -> Result<ProbeResult, KernelError> {
    Sockets::one_shot().probe(ifindex, mac, ip, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]);
    const OTHER: Mac = Mac([0x02, 0x00, 0x00, 0x11, 0x22, 0x33]);
    const V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    // --- byte layout of each frame kind ---------------------------------

    #[test]
    fn gratuitous_arp_request_layout() {
        let f = gratuitous_arp_request(MAC, V4);
        let mut want = hex("ffffffffffff 020000aabbcc 0806
             0001 0800 06 04 0001 020000aabbcc c633640a 000000000000 c633640a");
        want.resize(60, 0);
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn gratuitous_arp_reply_layout() {
        let f = gratuitous_arp_reply(MAC, V4);
        let mut want = hex("ffffffffffff 020000aabbcc 0806
             0001 0800 06 04 0002 020000aabbcc c633640a 020000aabbcc c633640a");
        want.resize(60, 0);
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn arp_probe_layout() {
        let f = arp_probe(MAC, V4);
        let mut want = hex("ffffffffffff 020000aabbcc 0806
             0001 0800 06 04 0001 020000aabbcc 00000000 000000000000 c633640a");
        want.resize(60, 0);
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn unsolicited_na_layout() {
        let f = unsolicited_na(MAC, V6);
        let want = hex("333300000001 020000aabbcc 86dd
             60000000 0020 3a ff
             20010db8000100000000000000000010
             ff020000000000000000000000000001
             88 00 3c95 20000000
             20010db8000100000000000000000010
             02 01 020000aabbcc");
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn dad_ns_layout() {
        let f = dad_ns(MAC, V6);
        let want = hex("3333ff000010 020000aabbcc 86dd
             60000000 0018 3a ff
             00000000000000000000000000000000
             ff0200000000000000000001ff000010
             87 00 4cce 00000000
             20010db8000100000000000000000010");
        assert_eq!(f.to_vec(), want);
    }

    /// Cross-check our checksums with an independent implementation.
    #[test]
    fn checksums_agree_with_etherparse() {
        for f in [unsolicited_na(MAC, V6).to_vec(), dad_ns(MAC, V6).to_vec()] {
            let ip = Ipv6Packet::parse(&f[ETH_HEADER_LEN..]).expect("ipv6");
            let icmp = etherparse::Icmpv6Slice::from_slice(ip.payload()).expect("icmpv6");
            assert!(icmp.is_checksum_valid(ip.source().octets(), ip.destination().octets()));
        }
    }

    #[test]
    fn built_frames_parse_back() {
        let f = gratuitous_arp_reply(MAC, V4);
        let arp = EthernetFrame::parse(&f).and_then(|e| e.arp()).expect("arp");
        assert_eq!(arp.operation(), ArpOp::Reply);
        assert_eq!((arp.sender_mac(), arp.sender_ip()), (MAC, V4));
        assert_eq!((arp.target_mac(), arp.target_ip()), (MAC, V4));

        let f = unsolicited_na(MAC, V6);
        let eth = EthernetFrame::parse(&f).expect("eth");
        let nd = eth.ipv6().and_then(|ip| ip.nd()).expect("nd");
        assert_eq!(nd.kind(), NdKind::Advertisement);
        assert_eq!(nd.flags(), NA_FLAG_OVERRIDE);
        assert_eq!(nd.target(), V6);
        assert_eq!(nd.source(), V6);
        assert_eq!(nd.destination(), ALL_NODES);
        assert_eq!(nd.link_layer_address(), Some(MAC));

        let f = dad_ns(MAC, V6);
        let nd = EthernetFrame::parse(&f)
            .and_then(|e| e.ipv6())
            .and_then(|ip| ip.nd())
            .expect("nd");
        assert_eq!(nd.kind(), NdKind::Solicitation);
        assert!(nd.source().is_unspecified());
        assert_eq!(nd.destination(), solicited_node(V6));
        assert_eq!(nd.link_layer_address(), None);
    }

    #[test]
    fn solicited_node_and_multicast_mac() {
        let g = solicited_node("2001:db8::1:2:abcd:ef01".parse().expect("ip"));
        assert_eq!(g, "ff02::1:ffcd:ef01".parse::<Ipv6Addr>().expect("ip"));
        assert_eq!(multicast_mac(g), Mac([0x33, 0x33, 0xff, 0xcd, 0xef, 0x01]));
        assert_eq!(multicast_mac(ALL_NODES), ALL_NODES_MAC);
    }

    #[test]
    fn announcement_round_contents() {
        let v4 = announcement_frames(MAC, IpAddr::V4(V4));
        assert_eq!(v4.len(), 2);
        assert_eq!(v4[0], gratuitous_arp_request(MAC, V4).to_vec());
        assert_eq!(v4[1], gratuitous_arp_reply(MAC, V4).to_vec());
        let v6 = announcement_frames(MAC, IpAddr::V6(V6));
        assert_eq!(v6, vec![unsolicited_na(MAC, V6).to_vec()]);
    }

    // --- each error case --------------------------------------------------

    #[test]
    fn ethernet_too_short() {
        assert_eq!(
            EthernetFrame::parse(&[0; 13]).err(),
            Some(FrameError::TooShort {
                what: "Ethernet header",
                need: 14,
                got: 13
            })
        );
    }

    #[test]
    fn wrong_ethertype() {
        let f = unsolicited_na(MAC, V6);
        let eth = EthernetFrame::parse(&f).expect("eth");
        assert_eq!(
            eth.arp().err(),
            Some(FrameError::EtherType {
                found: ETHERTYPE_IPV6,
                expected: ETHERTYPE_ARP
            })
        );
        let f = arp_probe(MAC, V4);
        let eth = EthernetFrame::parse(&f).expect("eth");
        assert!(matches!(eth.ipv6(), Err(FrameError::EtherType { .. })));
    }

    fn arp_bytes() -> Vec<u8> {
        gratuitous_arp_request(MAC, V4)[ETH_HEADER_LEN..ETH_HEADER_LEN + ARP_LEN].to_vec()
    }

    #[test]
    fn arp_too_short() {
        assert!(matches!(
            ArpPacket::parse(&arp_bytes()[..27]),
            Err(FrameError::TooShort {
                need: 28,
                got: 27,
                ..
            })
        ));
    }

    #[test]
    fn arp_bad_hardware_type() {
        let mut a = arp_bytes();
        a[1] = 6;
        assert_eq!(
            ArpPacket::parse(&a).err(),
            Some(FrameError::ArpHardwareType(6))
        );
    }

    #[test]
    fn arp_bad_protocol_type() {
        let mut a = arp_bytes();
        a[2..4].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(
            ArpPacket::parse(&a).err(),
            Some(FrameError::ArpProtocolType(ETHERTYPE_IPV6))
        );
    }

    #[test]
    fn arp_bad_lengths() {
        let mut a = arp_bytes();
        a[4] = 8;
        assert_eq!(
            ArpPacket::parse(&a).err(),
            Some(FrameError::ArpAddressLengths { hlen: 8, plen: 4 })
        );
    }

    #[test]
    fn arp_bad_operation() {
        let mut a = arp_bytes();
        a[7] = 3;
        assert_eq!(
            ArpPacket::parse(&a).err(),
            Some(FrameError::ArpOperation(3))
        );
    }

    fn na_ip_bytes() -> Vec<u8> {
        unsolicited_na(MAC, V6)[ETH_HEADER_LEN..].to_vec()
    }

    #[test]
    fn ipv6_too_short() {
        assert!(matches!(
            Ipv6Packet::parse(&na_ip_bytes()[..39]),
            Err(FrameError::TooShort {
                need: 40,
                got: 39,
                ..
            })
        ));
    }

    #[test]
    fn ipv6_bad_version() {
        let mut p = na_ip_bytes();
        p[0] = 0x45;
        assert_eq!(Ipv6Packet::parse(&p).err(), Some(FrameError::IpVersion(4)));
    }

    #[test]
    fn ipv6_payload_length_overrun() {
        let p = na_ip_bytes();
        assert_eq!(
            Ipv6Packet::parse(&p[..p.len() - 1]).err(),
            Some(FrameError::Ipv6PayloadLength {
                declared: 32,
                available: 31
            })
        );
    }

    #[test]
    fn ipv6_padding_is_trimmed() {
        let mut p = na_ip_bytes();
        p.extend_from_slice(&[0; 6]);
        let ip = Ipv6Packet::parse(&p).expect("ipv6");
        assert_eq!(ip.payload().len(), 32);
        assert!(ip.nd().is_ok());
    }

    fn nd_err(p: &[u8]) -> Option<FrameError> {
        Ipv6Packet::parse(p).expect("ipv6").nd().err()
    }

    #[test]
    fn nd_not_icmpv6() {
        let mut p = na_ip_bytes();
        p[6] = 17;
        assert_eq!(nd_err(&p), Some(FrameError::NextHeader(17)));
    }

    #[test]
    fn nd_too_short() {
        let mut p = na_ip_bytes();
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        assert!(matches!(
            nd_err(&p),
            Some(FrameError::TooShort {
                need: 24,
                got: 20,
                ..
            })
        ));
    }

    #[test]
    fn nd_bad_type() {
        let mut p = na_ip_bytes();
        p[40] = 128;
        assert_eq!(nd_err(&p), Some(FrameError::IcmpType(128)));
    }

    #[test]
    fn nd_bad_hop_limit() {
        let mut p = na_ip_bytes();
        p[7] = 64;
        assert_eq!(nd_err(&p), Some(FrameError::HopLimit(64)));
    }

    #[test]
    fn nd_bad_code() {
        let mut p = na_ip_bytes();
        p[41] = 1;
        assert_eq!(nd_err(&p), Some(FrameError::IcmpCode(1)));
    }

    #[test]
    fn nd_bad_checksum() {
        let mut p = na_ip_bytes();
        p[42] ^= 0xff;
        assert!(matches!(nd_err(&p), Some(FrameError::Checksum { .. })));
    }

    #[test]
    fn nd_bad_option_length() {
        let mut f = unsolicited_na(MAC, V6);
        f[ETH_HEADER_LEN + IPV6_HEADER_LEN + 25] = 0; // option length 0
        seal_icmpv6(&mut f, V6, ALL_NODES);
        assert_eq!(
            nd_err(&f[ETH_HEADER_LEN..]),
            Some(FrameError::NdOption { offset: 24 })
        );
        f[ETH_HEADER_LEN + IPV6_HEADER_LEN + 25] = 2; // 16 bytes, only 8 left
        seal_icmpv6(&mut f, V6, ALL_NODES);
        assert_eq!(
            nd_err(&f[ETH_HEADER_LEN..]),
            Some(FrameError::NdOption { offset: 24 })
        );
    }

    // --- claimant ----------------------------------------------------------

    #[test]
    fn arp_claims() {
        let ip = IpAddr::V4(V4);
        // A reply to our probe (unicast to us) from the holder.
        let reply = arp_frame(MAC, ArpOp::Reply, OTHER, V4, MAC, Ipv4Addr::UNSPECIFIED);
        assert_eq!(claimant(&reply, ip, MAC), Some(OTHER));
        // Someone's announcement of the address.
        assert_eq!(
            claimant(&gratuitous_arp_request(OTHER, V4), ip, MAC),
            Some(OTHER)
        );
        assert_eq!(
            claimant(&gratuitous_arp_reply(OTHER, V4), ip, MAC),
            Some(OTHER)
        );
        // Someone else probing for it at the same time.
        assert_eq!(claimant(&arp_probe(OTHER, V4), ip, MAC), Some(OTHER));
        // Our own frames, and frames about other addresses, do not claim.
        assert_eq!(claimant(&gratuitous_arp_request(MAC, V4), ip, MAC), None);
        assert_eq!(claimant(&arp_probe(MAC, V4), ip, MAC), None);
        let other_ip = Ipv4Addr::new(198, 51, 100, 11);
        assert_eq!(
            claimant(&gratuitous_arp_reply(OTHER, other_ip), ip, MAC),
            None
        );
        // A plain request *for* the address does not claim it.
        let ask = arp_frame(BROADCAST_MAC, ArpOp::Request, OTHER, other_ip, ZERO_MAC, V4);
        assert_eq!(claimant(&ask, ip, MAC), None);
        // Wrong family or garbage.
        assert_eq!(claimant(&unsolicited_na(OTHER, V6), ip, MAC), None);
        assert_eq!(claimant(&[0u8; 10], ip, MAC), None);
    }

    #[test]
    fn nd_claims() {
        let ip = IpAddr::V6(V6);
        assert_eq!(claimant(&unsolicited_na(OTHER, V6), ip, MAC), Some(OTHER));
        assert_eq!(claimant(&dad_ns(OTHER, V6), ip, MAC), Some(OTHER));
        assert_eq!(claimant(&unsolicited_na(MAC, V6), ip, MAC), None);
        assert_eq!(claimant(&dad_ns(MAC, V6), ip, MAC), None);
        let other_ip: Ipv6Addr = "2001:db8:1::11".parse().expect("ip");
        assert_eq!(claimant(&unsolicited_na(OTHER, other_ip), ip, MAC), None);
        // A corrupted NA is ignored, not believed.
        let mut bad = unsolicited_na(OTHER, V6);
        bad[ETH_HEADER_LEN + IPV6_HEADER_LEN + 2] ^= 1;
        assert_eq!(claimant(&bad, ip, MAC), None);
        assert_eq!(claimant(&gratuitous_arp_reply(OTHER, V4), ip, MAC), None);
    }

    #[test]
    fn na_without_option_claims_by_ethernet_source() {
        let mut f = unsolicited_na(OTHER, V6).to_vec();
        f.truncate(NA_FRAME_LEN - 8);
        f[ETH_HEADER_LEN + 5] = ND_FIXED_LEN as u8;
        let at = ETH_HEADER_LEN + IPV6_HEADER_LEN;
        let sum = icmpv6_checksum(V6, ALL_NODES, &f[at..]);
        f[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(claimant(&f, IpAddr::V6(V6), MAC), Some(OTHER));
    }

    // --- prober -------------------------------------------------------------

    #[test]
    fn prober_zero_timeout_sends_nothing() {
        let t0 = Instant::now();
        let mut p = Prober::new(IpAddr::V4(V4), MAC, t0, Duration::ZERO);
        assert_eq!(p.poll(t0), ProbeStep::Done(ProbeResult::Free));
    }

    #[test]
    fn prober_schedule_without_answer() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Prober::new(IpAddr::V4(V4), MAC, t0, ms(300));
        assert_eq!(p.poll(t0), ProbeStep::Send);
        assert_eq!(p.poll(t0), ProbeStep::Wait(ms(150)));
        assert_eq!(p.poll(t0 + ms(100)), ProbeStep::Wait(ms(50)));
        assert_eq!(p.poll(t0 + ms(150)), ProbeStep::Send);
        assert_eq!(p.poll(t0 + ms(160)), ProbeStep::Wait(ms(140)));
        assert_eq!(p.poll(t0 + ms(300)), ProbeStep::Done(ProbeResult::Free));
    }

    #[test]
    fn prober_answer_ends_the_probe() {
        let t0 = Instant::now();
        let mut p = Prober::new(IpAddr::V6(V6), MAC, t0, Duration::from_millis(300));
        assert_eq!(p.poll(t0), ProbeStep::Send);
        assert_eq!(p.on_frame(&unsolicited_na(MAC, V6)), None);
        let r = ProbeResult::InUse { mac: OTHER };
        assert_eq!(p.on_frame(&unsolicited_na(OTHER, V6)), Some(r));
        assert_eq!(p.poll(t0 + Duration::from_millis(1)), ProbeStep::Done(r));
    }

    // --- the announcer registry and the sender's descriptors ------------------

    #[test]
    fn announcer_names_are_abstract_per_address_and_fit() {
        let v4 = announcer_name(IpAddr::V4(V4));
        assert_eq!(v4, b"\0ipkit/announce/198.51.100.10".to_vec());
        let v6 = announcer_name(IpAddr::V6(V6));
        assert_eq!(v6, b"\0ipkit/announce/2001:db8:1::10".to_vec());
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .expect("ip");
        let name = announcer_name(longest);
        // SAFETY: all-zero sockaddr_un is valid.
        let room = unsafe { mem::zeroed::<libc::sockaddr_un>() }.sun_path.len();
        assert!(name.len() <= room, "{} > {room}", name.len());
        let (sun, len) = unix_addr(&name);
        assert_eq!(
            len as usize,
            mem::size_of::<libc::sa_family_t>() + name.len()
        );
        assert_eq!(sun.sun_path[0], 0, "abstract: leading NUL");
    }

    #[test]
    fn closable_ranges_skip_exactly_the_kept_descriptors() {
        let all = |keep: &[u32]| closable(keep).collect::<Vec<_>>();
        assert_eq!(all(&[]), vec![(0, u32::MAX)]);
        assert_eq!(all(&[0]), vec![(1, u32::MAX)]);
        assert_eq!(all(&[3]), vec![(0, 2), (4, u32::MAX)]);
        assert_eq!(all(&[3, 4, 7]), vec![(0, 2), (5, 6), (8, u32::MAX)]);
        assert_eq!(all(&[0, 1, 2]), vec![(3, u32::MAX)]);
        assert_eq!(all(&[5, u32::MAX]), vec![(0, 4), (6, u32::MAX - 1)]);
    }

    // --- argument errors keep an errno ----------------------------------------

    #[test]
    fn bad_arguments_are_einval_or_enodev() {
        let plan = AnnouncePlan {
            count: 1,
            interval: Duration::ZERO,
        };
        let e = announce(1, MAC, IpAddr::V4(Ipv4Addr::UNSPECIFIED), plan).expect_err("0.0.0.0");
        assert_eq!((e.op, e.errno), (KernelOp::Announce, libc::EINVAL));
        let e = probe(0, MAC, IpAddr::V4(V4), Duration::from_millis(10)).expect_err("ifindex 0");
        assert_eq!((e.op, e.errno), (KernelOp::Probe, libc::ENODEV));
        assert_eq!(
            probe(0, MAC, IpAddr::V4(V4), Duration::ZERO),
            Ok(ProbeResult::Free)
        );
    }
}
