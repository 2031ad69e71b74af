//! The fuzz targets' bodies: every parser that takes bytes from outside, one function each (issue 10).
//!
//! `fuzz/fuzz_targets/<name>.rs` hands libFuzzer's input to the function
//! of the same name (`cargo fuzz run <name>`); `tests/fuzz_corpus.rs`
//! replays the committed corpus and regression inputs through the same
//! functions in every `cargo test`, on the stable toolchain. A target
//! passes when nothing panics; where a parser's output can be checked
//! cheaply, the target also checks it (a value that parses prints back to
//! a text that parses to the same value).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipkit::config::Config;
use ipkit::daemon::status::Status;
use ipkit::events::Event;
use ipkit::net::linux::netlink::parse as netlink;
use ipkit::net::linux::packet::claimant;
use ipkit::net::linux::pdu::ethernet::EthernetFrame;
use ipkit::ocf::{OcfEnv, Params};
use ipkit::resource::{Mac, Tag};

/// A target's body: one input, no panic.
pub type Target = fn(&[u8]);

/// Every target, by name (the directories under `fuzz/corpus/`).
pub const TARGETS: [(&str, Target); 7] = [
    ("frame", frame),
    ("netlink", netlink_datagram),
    ("definition", definition),
    ("config", config),
    ("ocf_env", ocf_env),
    ("http_request", http_request),
    ("event_line", event_line),
];

const OURS: Mac = Mac([0x02, 0, 0, 0xaa, 0xbb, 0xcc]);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));

/// A frame from a packet socket: the Ethernet, ARP, IPv6 and ND views,
/// and the claim check the prober and the conflict watch run on it.
pub fn frame(data: &[u8]) {
    for ip in [V4, V6] {
        if let Some(mac) = claimant(data, ip, OURS) {
            assert_ne!(mac, OURS, "our own MAC never claims");
        }
    }
    let Ok(eth) = EthernetFrame::parse(data) else {
        return;
    };
    let _ = (
        eth.destination(),
        eth.source(),
        eth.ethertype(),
        eth.payload(),
    );
    if let Ok(arp) = eth.arp() {
        let _ = (arp.operation(), arp.sender_mac(), arp.sender_ip());
        let _ = (arp.target_mac(), arp.target_ip());
    }
    if let Ok(ip) = eth.ipv6() {
        let _ = (
            ip.next_header(),
            ip.hop_limit(),
            ip.source(),
            ip.destination(),
        );
        if let Ok(nd) = ip.nd() {
            let _ = (nd.kind(), nd.source(), nd.destination(), nd.flags());
            let _ = (nd.target(), nd.link_layer_address());
        }
    }
}

/// A datagram from a `NETLINK_ROUTE` socket: its messages, each payload
/// read as a link, an address and a neighbour (whatever its type says,
/// so every decoder sees every shape).
pub fn netlink_datagram(data: &[u8]) {
    for message in netlink::messages(data).take(64) {
        let Ok(message) = message else {
            continue;
        };
        let payload = message.payload;
        let _ = netlink::parse_link(payload);
        let _ = netlink::parse_addr(payload);
        let _ = netlink::parse_neigh(payload);
        let _ = netlink::leading_i32(payload);
        let _ = (netlink::ip_from(payload), netlink::mac_from(payload));
    }
}

/// A definition file (`resources/<tag>.toml`): what parses is valid, and
/// writes back to a file that parses and writes back to the same text.
pub fn definition(data: &[u8]) {
    let tag = Tag::new("vip").expect("a valid tag");
    let path = PathBuf::from("/fuzz/resources/vip.toml");
    let Ok(def) = ipkit::store::parse_definition(path.clone(), &tag, data.to_vec()) else {
        return;
    };
    let text = toml::to_string(&def).expect("a valid definition encodes");
    let again = ipkit::store::parse_definition(path, &tag, text.clone().into_bytes())
        .expect("what was written parses");
    assert_eq!(toml::to_string(&again).expect("encodes"), text);
}

/// The daemon's `ipkit.toml`.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
    }
}

/// The OCF environment: `NAME=value` lines (the agent sees only `OCF_*`
/// and `HA_*`), then the parameters, the definition and the instance tag.
pub fn ocf_env(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let env = OcfEnv::from_pairs(text.lines().filter_map(|l| l.split_once('=')));
    let _ = (
        env.is_probe(),
        env.check_level(),
        env.node(),
        env.state_dir(),
    );
    let _ = (env.under_pacemaker(), env.legacy_instance_tag());
    if let Some(Ok(tag)) = env.instance_tag() {
        assert!(Tag::new(tag.as_str()).is_ok(), "an instance tag is a tag");
    }
    if let Ok(params) = Params::from_env(&env) {
        let _ = params.definition();
    }
}

/// The status API's request head as it arrives from a client: where the
/// head ends, its parse (request line, headers, limits), then the answer
/// to it, with and without a token, so the token check and the routes see
/// every head that parses.
pub fn http_request(data: &[u8]) {
    let end = ipkit::daemon::http::head_end(data).unwrap_or(data.len());
    assert!(end <= data.len(), "the head ends inside the bytes read");
    if let Ok(head) = ipkit::daemon::http::parse_head(&data[..end]) {
        let status = Status::new("node1".to_owned());
        for token in [None, Some("s3cret")] {
            let response = ipkit::daemon::api::answer(&head, token, &status);
            assert!((200..600).contains(&response.status), "an HTTP status");
        }
    }
}

/// Lines of `events.jsonl`: what parses prints (as `ipkit events --json`
/// does) to a line that parses and prints the same again, and shows as
/// text.
pub fn event_line(data: &[u8]) {
    let mut events = Vec::new();
    let mut bad = Vec::new();
    ipkit::log::parse_lines(Path::new("events.jsonl"), data, &mut events, &mut bad);
    for event in &events {
        let line = ipkit::cli::events::json_line(event);
        let again: Event = serde_json::from_str(&line).expect("a printed event parses");
        assert_eq!(ipkit::cli::events::json_line(&again), line);
        let _ = ipkit::cli::events::human_line(event);
        let _ = ipkit::log::syslog_line(event);
        let _ = ipkit::log::journal_payload(event);
    }
}
