//! Classic BPF socket filters: drop everything (an idle listener), and keep
//! only the frames that may claim one of the watched addresses (or, when
//! they are too many to list, every frame of a claim's kind).
//!
//! A filter runs in the kernel on every frame the socket's binding lets
//! through (its interface and EtherType) before anything is queued or the
//! daemon woken, so a listener on a busy IPv6 link costs a few loads and
//! compares per frame, not a wake-up. The filter only narrows: the frame
//! views and [`claimed_address`](super::claimed_address) decide. Offsets
//! count from the Ethernet header (a `SOCK_RAW` packet socket's filter
//! sees it).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::net::linux::pdu::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6};
use crate::net::linux::pdu::ndp::{ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION};

/// One classic BPF program.
pub(super) type Program = Vec<libc::sock_filter>;

/// Keep the whole frame.
const ACCEPT: u32 = u32::MAX;
const DROP: u32 = 0;

/// The longest program the kernel takes (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

/// The packet type, loaded from the socket buffer's metadata
/// (`SKF_AD_OFF + SKF_AD_PKTTYPE`).
const PACKET_TYPE: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
/// `PACKET_OUTGOING`; above it only `PACKET_LOOPBACK`: both are this
/// host's own frames (its kernel's own neighbour discovery is looped back
/// to the IPv6 tap).
const PACKET_OUTGOING: u32 = 4;

const ETHERTYPE_AT: u32 = 12;
/// The ARP operation and sender IP, after the Ethernet header.
const ARP_OPERATION_AT: u32 = 14 + 6;
const ARP_SENDER_IP_AT: u32 = 14 + 14;
/// The IPv6 next header and source; the ICMPv6 type and the NS/NA target.
const IPV6_NEXT_HEADER_AT: u32 = 14 + 6;
const IPV6_SOURCE_AT: u32 = 14 + 8;
const ICMPV6_TYPE_AT: u32 = 14 + 40;
const ND_TARGET_AT: u32 = 14 + 40 + 8;
const NEXT_HEADER_ICMPV6: u32 = 58;

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A conditional jump: `jt` / `jf` instructions forward.
fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

fn load_word(at: u32) -> libc::sock_filter {
    statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, at)
}

fn load_half(at: u32) -> libc::sock_filter {
    statement(libc::BPF_LD | libc::BPF_H | libc::BPF_ABS, at)
}

fn load_byte(at: u32) -> libc::sock_filter {
    statement(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, at)
}

fn ret(k: u32) -> libc::sock_filter {
    statement(libc::BPF_RET | libc::BPF_K, k)
}

/// Jump `by` instructions forward, whatever the distance.
fn skip(by: usize) -> libc::sock_filter {
    statement(libc::BPF_JMP | libc::BPF_JA, by as u32)
}

/// Go on only when the loaded value is `k`; drop the frame otherwise.
fn require(p: &mut Program, k: u32) {
    p.push(jump_if_equal(k, 1, 0));
    p.push(ret(DROP));
}

/// Accepts nothing: an idle socket queues (and clones) no frame.
pub(super) fn drop_all() -> Program {
    vec![ret(DROP)]
}

/// Frames this host did not send, of `ethertype`.
fn prologue(ethertype: u16) -> Program {
    let mut p = vec![
        load_word(PACKET_TYPE),
        statement(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, PACKET_OUTGOING),
    ];
    // jge: true (ours) falls on the drop, false skips it.
    p[1].jf = 1;
    p.push(ret(DROP));
    p.push(load_half(ETHERTYPE_AT));
    require(&mut p, u32::from(ethertype));
    p
}

/// ARP requests and replies from another host.
fn arp_head() -> Program {
    let mut p = prologue(ETHERTYPE_ARP);
    p.push(load_half(ARP_OPERATION_AT));
    // Request (1) or reply (2).
    p.push(jump_if_equal(1, 2, 0));
    require(&mut p, 2);
    p
}

/// Every ARP request and reply from another host: the program when the
/// addresses are too many to list, or the kernel has no room for their
/// list (see `watch.rs`).
pub(super) fn all_arp_claims() -> Program {
    let mut p = arp_head();
    p.push(ret(ACCEPT));
    p
}

/// ARP requests and replies from another host whose sender IP is one of
/// `ips` (every ARP request and reply when they are too many to list).
pub(super) fn arp_claims(ips: &[Ipv4Addr]) -> Program {
    let mut p = arp_head();
    // The load, a compare and an accept per address, the final drop.
    let needed = p.len() + 1 + 2 * ips.len() + 1;
    if needed > MAX_INSTRUCTIONS {
        return all_arp_claims();
    }
    p.push(load_word(ARP_SENDER_IP_AT));
    for ip in ips {
        p.push(jump_if_equal(u32::from(*ip), 0, 1));
        p.push(ret(ACCEPT));
    }
    p.push(ret(DROP));
    p
}

/// Instructions per address in [`match_address`].
const PER_IPV6_ADDRESS: usize = 9;

/// Accept when the 16 bytes at `at` are `ip`; else go on after this block.
fn match_address(p: &mut Program, at: u32, ip: Ipv6Addr) {
    let o = ip.octets();
    // The last word first: addresses of one prefix differ there.
    for (n, word) in (0..4u32).rev().enumerate() {
        let i = word as usize * 4;
        let value = u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        p.push(load_word(at + word * 4));
        // On a mismatch, skip the rest of the block (and its accept).
        let rest = (3 - n) * 2 + 1;
        p.push(jump_if_equal(value, 0, rest as u8));
    }
    p.push(ret(ACCEPT));
}

/// ICMPv6 from another host, its type loaded.
fn nd_head() -> Program {
    let mut p = prologue(ETHERTYPE_IPV6);
    p.push(load_byte(IPV6_NEXT_HEADER_AT));
    require(&mut p, NEXT_HEADER_ICMPV6);
    p.push(load_byte(ICMPV6_TYPE_AT));
    p
}

/// Every NA and NS from another host: the program when the addresses are
/// too many to list, or the kernel has no room for their list.
pub(super) fn all_nd_claims() -> Program {
    let mut p = nd_head();
    p.push(jump_if_equal(
        u32::from(ICMPV6_NEIGHBOR_ADVERTISEMENT),
        2,
        0,
    ));
    require(&mut p, u32::from(ICMPV6_NEIGHBOR_SOLICITATION));
    p.push(ret(ACCEPT));
    p
}

/// Neighbour advertisements for one of `ips` and neighbour solicitations
/// sent from one of them, by another host (every NA and NS when they are
/// too many to list).
pub(super) fn nd_claims(ips: &[Ipv6Addr]) -> Program {
    let mut p = nd_head();
    let block = 1 + PER_IPV6_ADDRESS * ips.len();
    if p.len() + 5 + 2 * block > MAX_INSTRUCTIONS {
        return all_nd_claims();
    }
    // NA: on to its block (past the two checks below and the skip); NS:
    // to the skip over the NA block, onto its own.
    p.push(jump_if_equal(
        u32::from(ICMPV6_NEIGHBOR_ADVERTISEMENT),
        3,
        0,
    ));
    require(&mut p, u32::from(ICMPV6_NEIGHBOR_SOLICITATION));
    p.push(skip(block));
    for ip in ips {
        match_address(&mut p, ND_TARGET_AT, *ip);
    }
    p.push(ret(DROP));
    for ip in ips {
        match_address(&mut p, IPV6_SOURCE_AT, *ip);
    }
    p.push(ret(DROP));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::arp::{arp_probe, gratuitous_arp_reply, gratuitous_arp_request};
    use crate::net::linux::pdu::fixtures::{OTHER, V4, V6};
    use crate::net::linux::pdu::ndp::{dad_ns, unsolicited_na};

    /// The packet types of a frame from another host, and of our own.
    const HOST: u32 = 0;
    const OUTGOING: u32 = 4;
    const LOOPBACK: u32 = 5;

    /// Runs `program` on `frame` as the kernel would for the instructions
    /// used here: the number of bytes kept (0 = dropped).
    fn run(program: &Program, frame: &[u8], packet_type: u32) -> u32 {
        let mut a: u32 = 0;
        let mut pc = 0usize;
        loop {
            let i = program[pc];
            let code = u32::from(i.code);
            let load = |size: usize| -> Option<u32> {
                if i.k == PACKET_TYPE {
                    return Some(packet_type);
                }
                let at = i.k as usize;
                let bytes = frame.get(at..at + size)?;
                Some(bytes.iter().fold(0, |v, b| v << 8 | u32::from(*b)))
            };
            pc += 1;
            match code {
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => match load(4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == libc::BPF_LD | libc::BPF_H | libc::BPF_ABS => match load(2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == libc::BPF_LD | libc::BPF_B | libc::BPF_ABS => match load(1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += i.k as usize,
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf })
                }
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => {
                    pc += usize::from(if a >= i.k { i.jt } else { i.jf })
                }
                other => panic!("instruction {other:#x} not in the test interpreter"),
            }
        }
    }

    fn kept(program: &Program, frame: &[u8]) -> bool {
        run(program, frame, HOST) > 0
    }

    /// Another address in the same /24 and /64.
    const V4_OTHER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
    const V6_OTHER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x11);

    #[test]
    fn arp_claims_of_listed_addresses_only() {
        let p = arp_claims(&[V4_OTHER, V4]);
        assert!(kept(&p, &gratuitous_arp_request(OTHER, V4)));
        assert!(kept(&p, &gratuitous_arp_reply(OTHER, V4)));
        assert!(kept(&p, &gratuitous_arp_reply(OTHER, V4_OTHER)));
        let unlisted = Ipv4Addr::new(198, 51, 100, 12);
        assert!(!kept(&p, &gratuitous_arp_request(OTHER, unlisted)));
        // A probe's sender IP is 0.0.0.0.
        assert!(!kept(&p, &arp_probe(OTHER, V4)));
        // Not ARP, and our own frames.
        assert!(!kept(&p, &unsolicited_na(OTHER, V6)));
        let ours = gratuitous_arp_request(OTHER, V4);
        assert_eq!(run(&p, &ours, OUTGOING), 0);
        assert_eq!(run(&p, &ours, LOOPBACK), 0);
        // An operation other than request or reply.
        let mut odd = gratuitous_arp_request(OTHER, V4);
        odd[21] = 3;
        assert!(!kept(&p, &odd));
        // Truncated frames are dropped, not read past their end.
        assert!(!kept(&p, &gratuitous_arp_request(OTHER, V4)[..30]));
    }

    #[test]
    fn nd_claims_of_listed_addresses_only() {
        let p = nd_claims(&[V6_OTHER, V6]);
        assert!(kept(&p, &unsolicited_na(OTHER, V6)));
        assert!(kept(&p, &unsolicited_na(OTHER, V6_OTHER)));
        let unlisted = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x12);
        assert!(!kept(&p, &unsolicited_na(OTHER, unlisted)));
        // Same last word, another prefix.
        let elsewhere = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10);
        assert!(!kept(&p, &unsolicited_na(OTHER, elsewhere)));
        // A DAD solicitation comes from ::, which is never listed.
        assert!(!kept(&p, &dad_ns(OTHER, V6)));
        // A solicitation from a listed address is kept.
        let mut from_v6 = dad_ns(OTHER, V6).to_vec();
        from_v6[22..38].copy_from_slice(&V6.octets());
        assert!(kept(&p, &from_v6));
        assert!(!kept(&p, &gratuitous_arp_reply(OTHER, V4)));
        assert_eq!(run(&p, &unsolicited_na(OTHER, V6), LOOPBACK), 0);
    }

    #[test]
    fn too_many_addresses_keep_the_protocol_filter() {
        let many: Vec<Ipv4Addr> = (0..3000u32).map(Ipv4Addr::from).collect();
        let p = arp_claims(&many);
        assert!(p.len() <= MAX_INSTRUCTIONS);
        assert!(kept(&p, &gratuitous_arp_request(OTHER, V4)));
        assert!(!kept(&p, &unsolicited_na(OTHER, V6)));

        let many: Vec<Ipv6Addr> = (0..300u128).map(Ipv6Addr::from).collect();
        let p = nd_claims(&many);
        assert!(p.len() <= MAX_INSTRUCTIONS);
        assert!(kept(&p, &unsolicited_na(OTHER, V6)));
        assert!(!kept(&p, &gratuitous_arp_request(OTHER, V4)));
        // The largest lists that still fit are listed exactly.
        let fit: Vec<Ipv6Addr> = (0..200u128).map(Ipv6Addr::from).collect();
        let p = nd_claims(&fit);
        assert!(p.len() <= MAX_INSTRUCTIONS);
        assert!(!kept(&p, &unsolicited_na(OTHER, V6)));
    }

    #[test]
    fn drop_all_drops() {
        assert!(!kept(&drop_all(), &gratuitous_arp_request(OTHER, V4)));
    }
}
