//! `ipkit doctor` on the real kernel: node A of a namespace lab, every check
//! with its finding and its clean case, the exit statuses 0 / 1 / 2.
//!
//! Sysctls are written inside node A's namespace only (`/proc/sys/net` is
//! per namespace; [`ipkit_lab::NetNs::set_sysctl`] writes from a thread
//! that entered it). A new namespace inherits `conf.all` and
//! `conf.default` from the host, so every test sets each value it relies
//! on. Corosync's configuration is always a file of the test's own.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

mod cli_support;
#[path = "cli_doctor/harness.rs"]
mod harness;

use std::net::IpAddr;

use cli_support::{Drop_, code, stderr};
use harness::{Doctor, VIP};
use ipkit_lab::{FrameKind, Port};

#[test]
fn a_node_set_up_as_recommended_is_clean_and_exits_0() {
    let d = Doctor::new();
    d.create("web6", "2001:db8:1::10/64", true);
    let r = d.check();
    assert_eq!(r.not_ok(), Vec::<String>::new());
    assert_eq!(r.code, 0, "{}", r.text);
    for (id, subject) in [
        ("cap-net-admin", "node"),
        ("cap-net-raw", "node"),
        ("unique-address", "web"),
        ("adapter-exists", "web/eth0"),
        ("adapter-up", "web/eth1"),
        ("same-segment", "web/eth1"),
        ("same-segment", "web6/eth1"),
        ("arp-ignore", "web/eth1"),
        ("arp-announce", "web/eth0"),
        ("promote-secondaries", "web/eth0"),
        ("rp-filter", "web/eth1"),
        ("ignore-routes-with-linkdown", "web/eth0"),
        ("ignore-routes-with-linkdown", "web6/eth1"),
        ("ipv6-disabled", "web6/eth1"),
        ("routing-policy", "web"),
        ("routing-policy", "web6"),
    ] {
        assert_eq!(
            r.severity(id, subject),
            ["ok"],
            "{id} {subject}:\n{}",
            r.text
        );
    }
    assert!(
        r.text
            .lines()
            .any(|l| l.starts_with("ok      cap-net-admin node: ")),
        "{}",
        r.text
    );
}

/// One sysctl check: the finding after `bad` is written, the fix it names
/// applied as written, and the clean case after.
struct SysctlCase {
    id: &'static str,
    subject: &'static str,
    /// (family, scope, setting, value) written to provoke the finding.
    bad: &'static [(&'static str, &'static str, &'static str, &'static str)],
    severity: &'static str,
}

const SYSCTL_CASES: [SysctlCase; 8] = [
    // Kernel defaults on the recovery adapter: ARP flux.
    SysctlCase {
        id: "arp-ignore",
        subject: "web/eth1",
        bad: &[
            ("ipv4", "all", "arp_ignore", "0"),
            ("ipv4", "eth1", "arp_ignore", "0"),
        ],
        severity: "warning",
    },
    // all 3 overrides eth1's 1 (the kernel takes the larger): the fix
    // must lower all.
    SysctlCase {
        id: "arp-ignore",
        subject: "web/eth1",
        bad: &[("ipv4", "all", "arp_ignore", "3")],
        severity: "warning",
    },
    // 8 on the primary: the address is never answered there.
    SysctlCase {
        id: "arp-ignore",
        subject: "web/eth0",
        bad: &[("ipv4", "eth0", "arp_ignore", "8")],
        severity: "error",
    },
    SysctlCase {
        id: "arp-announce",
        subject: "web/eth1",
        bad: &[
            ("ipv4", "all", "arp_announce", "0"),
            ("ipv4", "eth1", "arp_announce", "1"),
        ],
        severity: "warning",
    },
    SysctlCase {
        id: "promote-secondaries",
        subject: "web/eth0",
        bad: &[
            ("ipv4", "all", "promote_secondaries", "0"),
            ("ipv4", "eth0", "promote_secondaries", "0"),
        ],
        severity: "warning",
    },
    SysctlCase {
        id: "rp-filter",
        subject: "web/eth1",
        bad: &[
            ("ipv4", "all", "rp_filter", "0"),
            ("ipv4", "eth1", "rp_filter", "1"),
        ],
        severity: "warning",
    },
    // Only where ipkit's source routing is off (`routing-policy`): the
    // resources `plain` and `plain6`, `--source-rule-priority 0`.
    SysctlCase {
        id: "ignore-routes-with-linkdown",
        subject: "plain/eth0",
        bad: &[
            ("ipv4", "all", "ignore_routes_with_linkdown", "0"),
            ("ipv4", "eth0", "ignore_routes_with_linkdown", "0"),
        ],
        severity: "warning",
    },
    SysctlCase {
        id: "ignore-routes-with-linkdown",
        subject: "plain6/eth1",
        bad: &[("ipv6", "eth1", "ignore_routes_with_linkdown", "0")],
        severity: "warning",
    },
];

#[test]
fn each_sysctl_finding_comes_and_goes_with_its_fix() {
    let d = Doctor::new();
    d.create("web6", "2001:db8:1::10/64", true);
    for (tag, address) in [
        ("plain", "198.51.100.20/24"),
        ("plain6", "2001:db8:1::20/64"),
    ] {
        let args = [
            "create",
            tag,
            "--address",
            address,
            "--adapter",
            "eth0",
            "--recovery-adapter",
            "eth1",
            "--source-rule-priority",
            "0",
            "--no-probe",
        ];
        let out = d.env.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    for case in &SYSCTL_CASES {
        d.recommend();
        let clean = d.check();
        assert_eq!(
            clean.severity(case.id, case.subject),
            ["ok"],
            "{}",
            clean.text
        );
        for (family, scope, name, value) in case.bad {
            d.set(family, scope, name, value);
        }
        let r = d.check();
        let what = format!("{} {} after {:?}", case.id, case.subject, case.bad);
        let found = r.one(case.id, case.subject);
        assert_eq!(found.severity, case.severity, "{what}:\n{}", r.text);
        let expected_exit = if case.severity == "error" { 2 } else { 1 };
        assert_eq!(r.code, expected_exit, "{what}:\n{}", r.text);
        let fix = found
            .fix
            .as_deref()
            .unwrap_or_else(|| panic!("{what}: no fix"));
        assert!(fix.contains("/etc/sysctl.d/90-ipkit.conf"), "{fix}");
        d.apply(fix);
        let fixed = d.check();
        assert_eq!(
            fixed.severity(case.id, case.subject),
            ["ok"],
            "{what}, fixed by {fix}:\n{}",
            fixed.text
        );
    }
}

#[test]
fn ipv6_disabled_on_an_adapter_is_an_error() {
    let d = Doctor::new();
    d.create("web6", "2001:db8:1::10/64", true);
    assert_eq!(d.check().severity("ipv6-disabled", "web6/eth1"), ["ok"]);
    d.set("ipv6", "eth1", "disable_ipv6", "1");
    let r = d.check();
    assert_eq!(
        r.severity("ipv6-disabled", "web6/eth1"),
        ["error"],
        "{}",
        r.text
    );
    assert_eq!(r.code, 2);
    // The IPv4 resource has no such check.
    assert!(r.of("ipv6-disabled", "web/eth1").is_empty());
}

#[test]
fn adapters_down_missing_or_on_another_segment() {
    let d = Doctor::new();
    d.create("web6", "2001:db8:1::10/64", true);
    let lab = &d.env.lab;
    let r = d.check();
    for subject in ["web/eth1", "web6/eth1"] {
        assert_eq!(r.severity("same-segment", subject), ["ok"], "{}", r.text);
    }

    // eth1's switch port on a switch of its own: nothing crosses.
    let sw = lab.switch_nl();
    sw.create_bridge("lan2").unwrap();
    sw.set_up("lan2", true).unwrap();
    sw.set_master(Port::ABackup.switch_side(), "lan2").unwrap();
    let r = d.check();
    for subject in ["web/eth1", "web6/eth1"] {
        let found = r.one("same-segment", subject);
        assert_eq!(found.severity, "error", "{}", r.text);
        assert!(
            found.message.contains("did not arrive on eth0"),
            "{}",
            found.message
        );
    }
    assert_eq!(r.code, 2);
    sw.set_master(Port::ABackup.switch_side(), ipkit_lab::BRIDGE)
        .unwrap();
    assert_eq!(d.check().severity("same-segment", "web/eth1"), ["ok"]);

    // The recovery adapter's cable out: a warning, and no segment test.
    lab.pull_cable(Port::ABackup).unwrap();
    let r = d.check();
    assert_eq!(
        r.severity("adapter-up", "web/eth1"),
        ["warning"],
        "{}",
        r.text
    );
    assert_eq!(r.severity("adapter-up", "web/eth0"), ["ok"]);
    assert!(r.of("same-segment", "web/eth1").is_empty(), "{}", r.text);
    assert_eq!(r.code, 1);
    lab.plug_cable(Port::ABackup).unwrap();

    // The primary's cable out: an error.
    lab.pull_cable(Port::APrimary).unwrap();
    let r = d.check();
    assert_eq!(
        r.severity("adapter-up", "web/eth0"),
        ["error"],
        "{}",
        r.text
    );
    assert_eq!(r.code, 2);
    lab.plug_cable(Port::APrimary).unwrap();
    assert_eq!(d.check().severity("adapter-up", "web/eth0"), ["ok"]);

    // The recovery adapter gone.
    lab.delete_adapter(Port::ABackup).unwrap();
    let r = d.check();
    let gone = r.one("adapter-exists", "web/eth1");
    assert_eq!(gone.severity, "warning", "{}", r.text);
    assert!(
        gone.message.contains("eth1 does not exist"),
        "{}",
        gone.message
    );
    assert_eq!(r.severity("adapter-exists", "web/eth0"), ["ok"]);
}

#[test]
fn the_segment_test_changes_no_neighbour_cache() {
    let d = Doctor::new();
    let lab = &d.env.lab;
    let vip: IpAddr = VIP.parse().unwrap();
    // In service on eth0, and the client has resolved it there.
    let out = d.env.run(&["restore", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lab.client_reaches(vip).unwrap());
    let eth0 = lab.mac_of(Port::APrimary).unwrap();
    assert_eq!(lab.client_neighbour(vip).unwrap(), Some(eth0));

    let capture = lab.capture(Port::ABackup).unwrap();
    let r = d.check();
    assert_eq!(r.severity("same-segment", "web/eth1"), ["ok"], "{}", r.text);
    let frames = capture.stop().unwrap();
    let eth1 = lab.mac_of(Port::ABackup).unwrap();
    let probes: Vec<_> = frames
        .iter()
        .filter(|f| f.from_node && ipkit_lab::kind_of(&f.bytes, vip) == Some(FrameKind::ArpProbe))
        .collect();
    assert!(!probes.is_empty(), "no ARP probe from eth1");
    assert!(probes.iter().all(|f| f.bytes[6..12] == eth1));
    // Nothing from eth1 named the address as its sender.
    for kind in [FrameKind::ArpRequest, FrameKind::ArpReply] {
        assert!(
            !frames
                .iter()
                .any(|f| f.from_node && ipkit_lab::kind_of(&f.bytes, vip) == Some(kind)),
            "{kind:?} from eth1"
        );
    }
    assert_eq!(
        lab.client_neighbour(vip).unwrap(),
        Some(eth0),
        "the client still has eth0"
    );

    // --no-probe sends nothing and reports no segment test.
    let capture = lab.capture(Port::ABackup).unwrap();
    let r = d.run(&["--no-probe"], Drop_::Nothing);
    assert!(r.of("same-segment", "web/eth1").is_empty(), "{}", r.text);
    let frames = capture.stop().unwrap();
    assert!(
        !frames
            .iter()
            .any(|f| f.from_node && ipkit_lab::kind_of(&f.bytes, vip).is_some()),
        "--no-probe sent {frames:?}"
    );
}

#[test]
fn capabilities_held_as_root_warned_without() {
    let d = Doctor::new();
    let r = d.check();
    assert_eq!(r.severity("cap-net-raw", "node"), ["ok"]);
    assert_eq!(r.severity("cap-net-admin", "node"), ["ok"]);

    let r = d.run(&[], Drop_::NetRaw);
    assert_eq!(r.severity("cap-net-raw", "node"), ["warning"], "{}", r.text);
    assert_eq!(r.severity("cap-net-admin", "node"), ["ok"]);
    // The segment test needs it: not run, and said so.
    let untested = r.one("same-segment", "web/eth1");
    assert_eq!(untested.severity, "warning");
    assert!(
        untested.message.contains("CAP_NET_RAW"),
        "{}",
        untested.message
    );
    assert_eq!(r.code, 1, "{}", r.text);

    let r = d.run(&[], Drop_::NetAdmin);
    assert_eq!(
        r.severity("cap-net-admin", "node"),
        ["warning"],
        "{}",
        r.text
    );
    assert_eq!(r.code, 1);
}

#[test]
fn a_corosync_ring_over_a_protected_adapter_warns() {
    let d = Doctor::new();
    let lab = &d.env.lab;
    lab.add_address(Port::ABackup, "203.0.113.3".parse().unwrap(), 24)
        .unwrap();
    // No corosync.conf: no check.
    assert!(d.check().of("corosync-ring", "node").is_empty());

    let ring_on = |ring: &str| {
        let text = format!(
            "totem {{\n    version: 2\n    transport: knet\n}}\nnodelist {{\n    node {{\n        ring0_addr: {ring}\n        name: a\n        nodeid: 1\n    }}\n    node {{\n        ring0_addr: 198.51.100.200\n        name: b\n        nodeid: 2\n    }}\n}}\n"
        );
        std::fs::write(&d.corosync, text).unwrap();
    };
    // On eth0's base address: eth0 is web's primary.
    ring_on("198.51.100.2");
    let r = d.check();
    let found = r.one("corosync-ring", "web/eth0");
    assert_eq!(found.severity, "warning", "{}", r.text);
    assert!(
        found.message.contains("ring 0 runs over eth0"),
        "{}",
        found.message
    );
    assert_eq!(r.code, 1);

    // A resource without a recovery adapter, and the ring on eth1 (found
    // through totem.interface.bindnetaddr): nothing protected carries it.
    let out = d.env.run(&["delete", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    d.create("solo", "198.51.100.10/24", false);
    std::fs::write(
        &d.corosync,
        "totem {\n    interface {\n        ringnumber: 0\n        bindnetaddr: 203.0.113.0\n    }\n}\n",
    )
    .unwrap();
    let r = d.check();
    let ok = r.one("corosync-ring", "node");
    assert_eq!(ok.severity, "ok", "{}", r.text);
    assert!(
        ok.message.contains("over eth1, which no resource protects"),
        "{}",
        ok.message
    );
    assert_eq!(r.code, 0, "{}", r.text);

    // A file the doctor cannot make sense of: a warning, not silence.
    std::fs::write(&d.corosync, "totem {\n").unwrap();
    assert_eq!(d.check().severity("corosync-ring", "node"), ["warning"]);
}

#[test]
fn duplicate_and_broken_definitions_are_errors() {
    let d = Doctor::new();
    let r = d.check();
    assert_eq!(r.severity("unique-address", "web"), ["ok"]);
    assert!(r.of("definition-readable", "node").is_empty());

    // A hand-made copy of web under another tag.
    let resources = d.env.config_dir().join("resources");
    let web = std::fs::read_to_string(resources.join("web.toml")).unwrap();
    let copy = web.replace("tag = \"web\"", "tag = \"copy\"");
    assert_ne!(copy, web);
    std::fs::write(resources.join("copy.toml"), copy).unwrap();
    std::fs::write(resources.join("broken.toml"), "tag = \n").unwrap();
    let r = d.check();
    for tag in ["web", "copy"] {
        let dup = r.one("unique-address", tag);
        assert_eq!(dup.severity, "error", "{}", r.text);
        assert!(
            dup.message.contains(&format!("{VIP} too")),
            "{}",
            dup.message
        );
    }
    let broken = r.one("definition-readable", "node");
    assert_eq!(broken.severity, "error");
    assert!(broken.message.contains("broken.toml"), "{}", broken.message);
    assert_eq!(r.code, 2);
}

/// `routing-policy` (issue 11): ipkit's rule after a restore is ok, and
/// makes `ignore_routes_with_linkdown` unnecessary; the rule taken away by
/// hand warns, and the fix as written (`ipkit deepcheck web`) puts it
/// back; an operator's rule at ipkit's priority warns, one after it not.
#[test]
fn routing_policy_finds_a_missing_rule_and_an_operator_rule_in_its_way() {
    let d = Doctor::new();
    let restored = d.env.run(&["restore", "web"]);
    assert_eq!(code(&restored), 0, "{}", stderr(&restored));
    for scope in ["all", "eth0", "eth1"] {
        d.set("ipv4", scope, "ignore_routes_with_linkdown", "0");
    }
    let r = d.check();
    let ok = r.one("routing-policy", "web");
    assert_eq!(ok.severity, "ok", "{}", r.text);
    assert!(ok.message.contains("leaves through eth0"), "{}", r.text);
    let linkdown = r.one("ignore-routes-with-linkdown", "web/eth0");
    assert_eq!(linkdown.severity, "ok", "{}", r.text);
    assert!(linkdown.message.contains("not needed"), "{}", r.text);
    assert_eq!(r.code, 0, "{}", r.text);

    d.env.ip(&["rule", "del", "from", VIP, "priority", "32000"]);
    let r = d.check();
    let missing = r.one("routing-policy", "web");
    assert_eq!(missing.severity, "warning", "{}", r.text);
    assert_eq!(r.code, 1);
    let fix = missing.fix.as_deref().expect("a fix");
    assert!(fix.starts_with("`ipkit deepcheck web`"), "{fix}");
    let checked = d.env.run(&["deepcheck", "web"]);
    assert_eq!(code(&checked), 0, "{}", stderr(&checked));
    assert_eq!(d.check().severity("routing-policy", "web"), ["ok"]);

    let operator = ["from", "198.51.100.0/24", "lookup", "100", "priority"];
    d.env
        .ip(&[&["rule", "add"][..], &operator, &["32000"]].concat());
    let r = d.check();
    assert_eq!(
        r.severity("routing-policy", "web"),
        ["ok", "warning"],
        "{}",
        r.text
    );
    assert!(
        r.of("routing-policy", "web")[1]
            .message
            .contains("has the priority of ipkit's rule"),
        "{}",
        r.text
    );
    d.env
        .ip(&[&["rule", "del"][..], &operator, &["32000"]].concat());
    d.env
        .ip(&[&["rule", "add"][..], &operator, &["32100"]].concat());
    assert_eq!(d.check().severity("routing-policy", "web"), ["ok"]);
}
