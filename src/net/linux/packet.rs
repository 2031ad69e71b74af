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
//! - I/O: [`announce`] and [`probe`] over an `AF_PACKET` socket.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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
// I/O: AF_PACKET socket
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

/// A raw `AF_PACKET` socket on one interface.
struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// Opens a socket; with `listen`, binds it to `ifindex` for `ethertype`
    /// (protocol 0 at creation, so nothing from other interfaces is queued
    /// before the bind). Without, it only sends.
    fn open(ifindex: u32, listen: Option<u16>) -> io::Result<Self> {
        if ifindex == 0 || i32::try_from(ifindex).is_err() {
            return Err(io::Error::from_raw_os_error(libc::ENODEV));
        }
        // SAFETY: plain socket(2) call.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if let Some(ethertype) = listen {
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
        }
        Ok(Self { fd, ifindex })
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        let eth = EthernetFrame::parse(frame)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let sll = link_addr(self.ifindex, eth.ethertype(), eth.destination());
        let rc = send_raw(self.fd.as_raw_fd(), frame, &sll);
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
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
// announce
// ---------------------------------------------------------------------------

/// First round synchronously; the remaining rounds continue in the background
/// (a double-forked child that only calls sendto/nanosleep/_exit, so they go on
/// after a command-line process exits, and leave no zombie).
///
/// A round is a gratuitous ARP request and reply (IPv4) or one unsolicited
/// NA (IPv6). `plan.count` 0 sends nothing; 1 does not fork.
pub fn announce(ifindex: u32, mac: Mac, ip: IpAddr, plan: AnnouncePlan) -> Result<(), KernelError> {
    let op = KernelOp::Announce;
    check_ip(op, ifindex, ip)?;
    if plan.count == 0 {
        return Ok(());
    }
    let err = |e: &io::Error| KernelError::from_io(op, target(ifindex, ip), e);
    let sock = PacketSocket::open(ifindex, None).map_err(|e| err(&e))?;
    let frames = announcement_frames(mac, ip);
    for f in &frames {
        sock.send(f).map_err(|e| err(&e))?;
    }
    if plan.count > 1 {
        background_rounds(&sock, &frames, plan.count - 1, plan.interval).map_err(|e| err(&e))?;
    }
    Ok(())
}

/// Forks twice; the grandchild sleeps `interval`, sends `frames`, `rounds`
/// times, then `_exit`s. It is reparented to init (no zombie); the
/// intermediate child is reaped here.
fn background_rounds(
    sock: &PacketSocket,
    frames: &[Vec<u8>],
    rounds: u32,
    interval: Duration,
) -> io::Result<()> {
    // Everything the grandchild touches is prepared before fork: it must not
    // allocate or lock (the parent may be multi-threaded).
    let fd = sock.fd.as_raw_fd();
    let addrs: Vec<libc::sockaddr_ll> = frames
        .iter()
        .map(|f| {
            let eth =
                EthernetFrame::parse(f).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e));
            eth.map(|eth| link_addr(sock.ifindex, eth.ethertype(), eth.destination()))
        })
        .collect::<io::Result<_>>()?;
    let pause = libc::timespec {
        tv_sec: interval.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(interval.subsec_nanos() as i32),
    };

    // SAFETY: fork(2); the children below only call async-signal-safe
    // functions (fork, setsid, close_range/close, nanosleep, sendto,
    // _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // Intermediate child: fork the sender and exit at once.
        unsafe {
            let sender = libc::fork();
            if sender != 0 {
                libc::_exit(if sender < 0 { 1 } else { 0 });
            }
            // Own session: a terminal hang-up or Ctrl-C after the command
            // has exited does not cut the announcements short.
            libc::setsid();
            close_all_but(fd);
            for _ in 0..rounds {
                sleep_full(&pause);
                for (f, a) in frames.iter().zip(&addrs) {
                    send_raw(fd, f, a);
                }
            }
            libc::_exit(0);
        }
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

/// Closes every descriptor but `keep` (stdio included, so a caller reading
/// our output through a pipe sees EOF when the command exits).
///
/// # Safety
/// Only for the forked sender: async-signal-safe system calls only.
unsafe fn close_all_but(keep: RawFd) {
    let keep = keep as libc::c_uint;
    // SAFETY: raw close_range(2) system calls.
    let ok = unsafe {
        (keep == 0 || libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) == 0)
            && libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32) == 0
    };
    if !ok {
        for fd in 0..1024 {
            if fd != keep as RawFd {
                // SAFETY: closing descriptors in the forked sender.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// nanosleep(2) for the whole duration, resuming after signals.
fn sleep_full(pause: &libc::timespec) {
    let mut req = *pause;
    let mut rem = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespecs.
    while unsafe { libc::nanosleep(&req, &mut rem) } != 0 {
        req = rem;
    }
}

// ---------------------------------------------------------------------------
// probe
// ---------------------------------------------------------------------------

/// RFC 5227 ARP probe (sender IP 0.0.0.0) / DAD NS from :: to the
/// solicited-node group; listens for an answer or announcement from a MAC
/// that is not `mac`. timeout 0 = Free without sending.
pub fn probe(
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
    let sock = PacketSocket::open(ifindex, Some(ethertype_of(ip))).map_err(|e| err(&e))?;
    let frame = probe_frame(mac, ip);
    let mut prober = Prober::new(ip, mac, Instant::now(), timeout);
    let mut buf = [0u8; 2048];
    loop {
        match prober.poll(Instant::now()) {
            ProbeStep::Send => sock.send(&frame).map_err(|e| err(&e))?,
            ProbeStep::Wait(d) => {
                if let Some(n) = sock.recv(&mut buf, d).map_err(|e| err(&e))?
                    && let Some(r) = prober.on_frame(&buf[..n])
                {
                    return Ok(r);
                }
            }
            ProbeStep::Done(r) => return Ok(r),
        }
    }
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
