//! The daemon in the namespace lab (issue 6, "Tests"): cable pull, address
//! deletion, flaps with debounce / restart threshold / on_failure, peers for
//! deepCheck, SIGHUP, /metrics as Prometheus text; and (issue 10) another
//! node claiming an address in service, reported and defended once, and a
//! node whose own kernel was given the address by hand, named by its MAC.
//!
//! Every test builds its own lab (network namespaces torn down on drop,
//! also on panic) and never touches the host's interfaces. Nothing is
//! timed: each wait is for a condition, with a generous bound.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipkit::cluster::peers::{self, PeerCluster};
use ipkit::config::{Config, Peer};
use ipkit::daemon::Daemon;
use ipkit::events::{Event, Recorder};
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{Address, Definition, Mac, Operation, Tag};
use ipkit_lab::{FrameKind, Lab, LabConfig, Port, inject};

mod lab_support;
use lab_support::*;

/// GET from a status API, from inside `port`'s namespace.
fn http_get(lab: &Lab, port: Port, addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let peer = Peer {
        name: "test".into(),
        authority: addr.to_string(),
        base_path: String::new(),
        token: None,
        timeout: Duration::from_secs(5),
    };
    let path = path.to_owned();
    let (code, body) = lab
        .ns_of(port)
        .run(move || peers::get(&peer, &path))
        .unwrap()
        .unwrap();
    (code, String::from_utf8(body).unwrap())
}

#[test]
fn cable_pull_moves_the_address_to_the_backup_and_the_client_follows() {
    cable_pull("198.51.100.10/24");
}

#[test]
fn cable_pull_ipv6_the_client_follows_the_unsolicited_na() {
    cable_pull("2001:db8:1::10/64");
}

fn cable_pull(address: &str) {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let ip: IpAddr = address.parse::<Address>().unwrap().ip();
    node.define(&event_only(vip_def("vip", address)));
    assert!(op(&lab, Port::APrimary, &node, "vip", Operation::Restore).success);
    assert!(lab.client_reaches(ip).unwrap());
    let mac0 = lab.mac_of(Port::APrimary).unwrap();
    let mac1 = lab.mac_of(Port::ABackup).unwrap();
    assert_eq!(lab.client_neighbour(ip).unwrap(), Some(mac0));

    let rec = Arc::new(Recorder::new());
    let tag = Tag::new("vip").unwrap();
    let d = start_serving(&lab, &node, &tag, &rec);
    assert_eq!(count(&rec, 7101), 1);

    lab.pull_cable(Port::APrimary).unwrap();
    let nl = lab.nl_of(Port::APrimary);
    wait_for("the address on eth1 only", || holders(nl, ip) == ["eth1"]);
    wait_for("the client's neighbour entry on eth1's MAC", || {
        lab.client_neighbour(ip).unwrap() == Some(mac1)
    });
    assert!(lab.client_reaches(ip).unwrap());
    wait_for("6603", || count(&rec, 6603) == 1);
    assert!(count(&rec, 6507) >= 1, "{:#?}", rec.snapshot());
    // 6603 is emitted inside the recover; its state is saved right after.
    wait_for("the recovered state saved", || {
        node.store.load_state(&tag).unwrap().active_adapter == Some(nic("eth1"))
    });
    let st = node.store.load_state(&tag).unwrap();
    assert_eq!(st.active_adapter, Some(nic("eth1")));
    assert!(st.in_service && !st.failed);
    let r = d.status().resource(&tag).unwrap();
    assert_eq!(r.recoveries_ok, 1);
    d.stop();
    assert_eq!(count(&rec, 7102), 1);
    // SIGTERM-equivalent stop leaves the address in place.
    assert_eq!(holders(nl, ip), ["eth1"]);
}

#[test]
fn a_deleted_address_is_restored() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let ip: IpAddr = "198.51.100.20".parse().unwrap();
    node.define(&event_only(vip_def("vip20", "198.51.100.20/24")));
    assert!(op(&lab, Port::APrimary, &node, "vip20", Operation::Restore).success);
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, config_local(), &rec);
    let tag = Tag::new("vip20").unwrap();
    wait_for("the first quickCheck, then idle", || {
        d.status()
            .resource(&tag)
            .is_some_and(|r| r.up == Some(true))
            && d.status().in_flight() == 0
    });
    let nl = lab.nl_of(Port::APrimary);
    let idx = lab.ifindex_of(Port::APrimary).unwrap();
    nl.delete_address(idx, ip, 24).unwrap();
    wait_for("6508 then 6603", || {
        count(&rec, 6508) >= 1 && count(&rec, 6603) == 1
    });
    assert_eq!(holders(nl, ip), ["eth0"]);
    assert!(lab.client_reaches(ip).unwrap());
    d.stop();
}

#[test]
fn flaps_debounce_threshold_and_on_failure_once() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let ip: IpAddr = "198.51.100.30".parse().unwrap();
    let mut def = vip_def("vip30", "198.51.100.30/24");
    def.tunables.link_debounce = Duration::from_millis(300);
    def.tunables.restart_threshold = 2;
    def.tunables.restart_window = Duration::from_secs(600);
    node.define(&def);
    assert!(op(&lab, Port::APrimary, &node, "vip30", Operation::Restore).success);
    let hook_out = node._dir.path().join("hook.log");
    let mut cfg = config_local();
    cfg.on_failure = Some(vec![
        "/bin/sh".into(),
        "-c".into(),
        format!(
            "echo \"$IPKIT_TAG|$IPKIT_ADDRESS|$IPKIT_REASON\" >> {}",
            hook_out.display()
        ),
    ]);
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, cfg, &rec);
    let tag = Tag::new("vip30").unwrap();
    let checks = || {
        d.status()
            .resource(&tag)
            .map(|r| r.quick_checks)
            .unwrap_or(0)
    };
    wait_for("the first quickCheck, then idle", || {
        checks() >= 1 && d.status().in_flight() == 0
    });
    let nl = lab.nl_of(Port::APrimary);

    // 1. Flaps shorter than the debounce: no check fails, nothing moves.
    for _ in 0..3 {
        lab.pull_cable(Port::APrimary).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        lab.plug_cable(Port::APrimary).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    // Let the debounce run out, then see a later periodic check pass.
    std::thread::sleep(Duration::from_millis(400));
    let seen = checks();
    wait_for("two more periodic checks", || checks() >= seen + 2);
    assert_eq!(count(&rec, 6507), 0, "{:#?}", rec.snapshot());
    assert_eq!(count(&rec, 6605), 0);
    assert_eq!(holders(nl, ip), ["eth0"]);

    // 2. Two real losses: two local recoveries (the threshold allows 2).
    lab.pull_cable(Port::APrimary).unwrap();
    wait_for("recovery 1 to eth1", || {
        holders(nl, ip) == ["eth1"] && count(&rec, 6603) == 1
    });
    lab.plug_cable(Port::APrimary).unwrap();
    lab.pull_cable(Port::ABackup).unwrap();
    wait_for("recovery 2 back to eth0", || {
        holders(nl, ip) == ["eth0"] && count(&rec, 6603) == 2
    });
    lab.plug_cable(Port::ABackup).unwrap();

    // 3. A third loss exceeds it: failed, 7104, on_failure exactly once.
    lab.pull_cable(Port::APrimary).unwrap();
    wait_for("7104 and 7106", || {
        count(&rec, 7104) == 1 && count(&rec, 7106) == 1
    });
    assert!(node.store.load_state(&tag).unwrap().failed);
    assert_eq!(count(&rec, 6605), 2, "no third recovery");
    // More flaps while failed: nothing more runs. (A negative claim: give
    // the daemon a debounce and three check intervals to misbehave.)
    lab.plug_cable(Port::APrimary).unwrap();
    lab.pull_cable(Port::APrimary).unwrap();
    lab.plug_cable(Port::APrimary).unwrap();
    std::thread::sleep(Duration::from_millis(1800));
    let lines = std::fs::read_to_string(&hook_out).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(
        lines.starts_with("vip30|198.51.100.30/24|restart threshold exceeded"),
        "{lines}"
    );
    assert_eq!(count(&rec, 7106), 1);
    assert_eq!(count(&rec, 6605), 2);
    let m = d.status().metrics_text();
    assert!(
        m.contains("ipkit_resource_failed{tag=\"vip30\"} 1\n"),
        "{m}"
    );
    d.stop();
}

/// A management link between node A and node B (so the peers still talk
/// with B's LAN cable pulled): A 203.0.113.1/24, B 203.0.113.2/24.
fn management_link(lab: &Lab) {
    let a = lab.nl_of(Port::APrimary);
    let b = lab.nl_of(Port::B);
    a.create_veth("mgmt", "mgmt", Some(lab.node_b().fd()))
        .unwrap();
    for (nl, ip) in [(a, "203.0.113.1"), (b, "203.0.113.2")] {
        nl.set_up("mgmt", true).unwrap();
        let l = nl.link_by_name("mgmt").unwrap().unwrap();
        nl.add_address(l.index, ip.parse().unwrap(), 24).unwrap();
    }
}

#[test]
fn peers_deep_check_warns_about_a_standby_without_cable_and_not_about_a_dead_peer() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    management_link(&lab);
    let a = Node::new();
    let b = Node::new();
    let mut def = vip_def("vip40", "198.51.100.40/24");
    def.tunables.deep_check_interval = Duration::from_millis(200);
    a.define(&def);
    let mut bdef = def.clone();
    bdef.recovery_adapter = None;
    b.define(&bdef);
    assert!(op(&lab, Port::APrimary, &a, "vip40", Operation::Restore).success);

    let brec = Arc::new(Recorder::new());
    let bcfg = Config {
        listen: Some("203.0.113.2:7480".parse().unwrap()),
        token: Some("s3cret".into()),
        ..Config::default()
    };
    let bd = start(&lab, Port::B, &b, bcfg, &brec);
    let arec = Arc::new(Recorder::new());
    let acfg = Config::parse(
        "[daemon]\nlisten = \"127.0.0.1:0\"\n[[peer]]\nname = \"node-b\"\nurl = \"http://203.0.113.2:7480\"\ntoken = \"s3cret\"\ntimeout_ms = 500\n",
    )
    .unwrap();
    let ad = start(&lab, Port::APrimary, &a, acfg.clone(), &arec);
    let tag = Tag::new("vip40").unwrap();
    let deep = || {
        ad.status()
            .resource(&tag)
            .map(|r| r.deep_checks)
            .unwrap_or(0)
    };
    wait_for("deepChecks with B connected", || deep() >= 2);
    assert_eq!(count(&arec, 6406), 0, "{:#?}", arec.snapshot());

    // The token is required from A (not loopback for B).
    let nopeer = Peer {
        token: None,
        ..acfg.peers[0].clone()
    };
    let (code, _) = lab
        .node_a()
        .run(move || peers::get(&nopeer, "/v1/resources/vip40"))
        .unwrap()
        .unwrap();
    assert_eq!(code, 401);

    lab.pull_cable(Port::B).unwrap();
    wait_for("6406 naming node-b", || {
        arec.snapshot()
            .iter()
            .any(|e: &Event| e.id == 6406 && e.node.as_deref() == Some("node-b"))
    });
    let e = arec.snapshot().into_iter().find(|e| e.id == 6406).unwrap();
    assert!(e.message.contains("on system node-b"), "{}", e.message);
    assert_eq!(e.adapter.as_deref(), Some("eth0"));

    // B's daemon stops (its cable still pulled): B counts as down.
    bd.stop();
    let seen = deep();
    wait_for("a deepCheck after B stopped", || deep() > seen);
    let warnings = count(&arec, 6406);
    let seen = deep();
    wait_for("three more deepChecks", || deep() >= seen + 3);
    assert_eq!(count(&arec, 6406), warnings, "no new 6406 from a dead peer");
    assert_eq!(count(&arec, 7006), 0);
    // And a one-shot deepCheck through the peers view succeeds silently.
    let cluster = PeerCluster::new(acfg.peers.clone());
    let store = a.store.clone();
    let outcome = lab
        .node_a()
        .run(move || {
            let kernel = LinuxKernel::open().unwrap();
            let rec = Recorder::new();
            let ctx = Ctx {
                kernel: &kernel,
                cluster: &cluster,
                events: &rec,
                clock: &SystemClock,
                node: "a",
            };
            let o = ops::run(
                &store,
                &ctx,
                &Tag::new("vip40").unwrap(),
                Operation::DeepCheck,
            )
            .unwrap();
            (o, rec.snapshot().len())
        })
        .unwrap();
    assert!(outcome.0.success);
    assert_eq!(outcome.0.event, None);
    assert_eq!(outcome.1, 0);
    ad.stop();
}

// ------------------------------------------------------------ /metrics

/// A strict parser of the Prometheus text format (0.0.4): every line is a
/// HELP, a TYPE or a sample; names and labels are well-formed; every
/// sample's family has a TYPE given before it; no series repeats.
fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>, String> {
    fn name_ok(n: &str) -> bool {
        let mut c = n.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut series = BTreeMap::new();
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kw = parts.next().unwrap_or("");
            let name = parts.next().ok_or(format!("line {n}: no metric name"))?;
            if !name_ok(name) {
                return Err(format!("line {n}: bad name {name:?}"));
            }
            let arg = parts.next().ok_or(format!("line {n}: no text"))?;
            match kw {
                "HELP" => {
                    if !helps.insert(name.to_owned()) {
                        return Err(format!("line {n}: second HELP for {name}"));
                    }
                }
                "TYPE" => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                        return Err(format!("line {n}: bad type {arg:?}"));
                    }
                    if types.insert(name.to_owned(), arg.to_owned()).is_some() {
                        return Err(format!("line {n}: second TYPE for {name}"));
                    }
                }
                _ => return Err(format!("line {n}: unknown comment {kw:?}")),
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            return Err(format!("line {n}: stray line {line:?}"));
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(p) => (&line[..p], &line[p..]),
            None => return Err(format!("line {n}: no value")),
        };
        if !name_ok(name) {
            return Err(format!("line {n}: bad name {name:?}"));
        }
        // A histogram's series carry a suffix its TYPE line does not.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(format!("line {n}: {name} has no TYPE before it"));
        }
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            // Labels: k="v" pairs with \\ \" \n escapes.
            let mut labels = Vec::new();
            let mut chars = r.char_indices().peekable();
            let mut end = None;
            while let Some((start, c)) = chars.next() {
                if c == '}' {
                    end = Some(start + 1);
                    break;
                }
                if c == ',' {
                    continue;
                }
                let mut key = String::from(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                if !name_ok(&key) || key.starts_with("__") {
                    return Err(format!("line {n}: bad label name {key:?}"));
                }
                if chars.next().map(|x| x.1) != Some('"') {
                    return Err(format!("line {n}: label {key} not quoted"));
                }
                let mut val = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|x| x.1) {
                            Some('\\') => val.push('\\'),
                            Some('"') => val.push('"'),
                            Some('n') => val.push('\n'),
                            other => {
                                return Err(format!("line {n}: bad escape {other:?}"));
                            }
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => val.push(c),
                    }
                }
                if !closed {
                    return Err(format!("line {n}: unterminated label value"));
                }
                labels.push(format!("{key}={val:?}"));
                match chars.peek().map(|x| x.1) {
                    Some(',') | Some('}') => {}
                    other => return Err(format!("line {n}: expected , or }} not {other:?}")),
                }
            }
            let end = end.ok_or(format!("line {n}: labels not closed"))?;
            (labels, &r[end..])
        } else {
            (Vec::new(), rest)
        };
        let value = value
            .strip_prefix(' ')
            .ok_or(format!("line {n}: no space before the value"))?;
        let mut vparts = value.split(' ');
        let v = vparts.next().unwrap_or("");
        let v: f64 = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .map_err(|_| format!("line {n}: bad value {v:?}"))?,
        };
        if let Some(ts) = vparts.next()
            && ts.parse::<i64>().is_err()
        {
            return Err(format!("line {n}: bad timestamp {ts:?}"));
        }
        if vparts.next().is_some() {
            return Err(format!("line {n}: trailing text"));
        }
        if types[family] == "counter" && v < 0.0 {
            return Err(format!("line {n}: negative counter"));
        }
        let key = format!("{name}{{{}}}", labels.join(","));
        if series.insert(key.clone(), v).is_some() {
            return Err(format!("line {n}: series {key} repeats"));
        }
    }
    Ok(series)
}

#[test]
fn the_strict_parser_refuses_what_prometheus_refuses() {
    let good = "# HELP a_b x y\n# TYPE a_b counter\na_b{t=\"q\\\"\"} 1\na_b{t=\"r\"} 2.5\n";
    assert_eq!(parse_prometheus(good).unwrap().len(), 2);
    for bad in [
        "a 1\n",
        "# TYPE a counter\na{t=\"x\"} 1\na{t=\"x\"} 2\n",
        "# TYPE a counter\na{t=x} 1\n",
        "# TYPE a counter\na 1 2 3\n",
        "# TYPE a counter\na -1\n",
        "# TYPE a gauge\na one\n",
        "# TYPE a foo\na 1\n",
        "# TYPE a gauge\na 1",
        "# TYPE a gauge\n\na 1\n",
        "# TYPE 1a gauge\n",
    ] {
        assert!(parse_prometheus(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn metrics_parse_as_prometheus_text_and_api_answers() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    node.define(&vip_def("vip50", "198.51.100.50/24"));
    node.define(&vip_def("vip6", "2001:db8:1::50/64"));
    assert!(op(&lab, Port::APrimary, &node, "vip50", Operation::Restore).success);
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, config_local(), &rec);
    let addr = d.api_addr().unwrap();
    let tag = Tag::new("vip50").unwrap();
    wait_for("the first quickCheck", || {
        d.status()
            .resource(&tag)
            .is_some_and(|r| r.quick_checks >= 1)
    });
    let (code, text) = http_get(&lab, Port::APrimary, addr, "/metrics");
    assert_eq!(code, 200);
    let series = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for key in [
        "ipkit_resource_up{tag=\"vip50\"}",
        "ipkit_resource_in_service{tag=\"vip6\"}",
        "ipkit_checks_total{tag=\"vip50\",kind=\"quick\"}",
        "ipkit_check_failures_total{tag=\"vip50\",kind=\"deep\"}",
        "ipkit_recoveries_total{tag=\"vip50\",result=\"success\"}",
        "ipkit_recovery_duration_seconds_count{tag=\"vip50\"}",
        "ipkit_recovery_duration_seconds_bucket{tag=\"vip50\",le=\"+Inf\"}",
        "ipkit_events_total{id=\"7101\",severity=\"Information\"}",
        "ipkit_daemon_start_time_seconds{}",
    ] {
        assert!(series.contains_key(key), "{key} missing:\n{text}");
    }
    assert_eq!(series["ipkit_resource_up{tag=\"vip50\"}"], 1.0);
    assert_eq!(series["ipkit_resource_in_service{tag=\"vip6\"}"], 0.0);
    let build = format!(
        "ipkit_build_info{{version=\"{}\",os=\"linux\",arch=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    assert_eq!(series.get(&build), Some(&1.0), "{text}");
    // Adapters: the ones the resources name (eth0, eth1), not lo.
    let adapters: Vec<&str> = series
        .keys()
        .filter_map(|k| k.strip_prefix("ipkit_adapter_connected{adapter=\""))
        .collect();
    assert_eq!(adapters, ["eth0\"}", "eth1\"}"], "{text}");

    let (code, body) = http_get(&lab, Port::APrimary, addr, "/v1/resources");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (code, body) = http_get(&lab, Port::APrimary, addr, "/v1/resources/vip50");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["active_adapter"], "eth0");
    assert_eq!(v["standby_link"], "connected");
    assert_eq!(
        http_get(&lab, Port::APrimary, addr, "/v1/resources/nope").0,
        404
    );
    let (code, body) = http_get(&lab, Port::APrimary, addr, "/v1/adapters");
    assert_eq!(code, 200);
    assert!(body.contains("\"name\":\"eth1\""), "{body}");
    d.stop();
}

// ------------------------------------------------------------ the binary

fn setns_fd(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: setns on a namespace fd; runs in the forked child only.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn read_events(state_dir: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(state_dir.join("events.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The real `ipkit daemon` in node A's namespace with `node`'s
/// directories, under systemd's side of Type=notify: a datagram socket in
/// NOTIFY_SOCKET (its read timeout BOUND), and `env` on top.
fn spawn_notifying_daemon(
    lab: &Lab,
    node: &Node,
    env: &[(&str, &str)],
) -> (std::process::Child, std::os::unix::net::UnixDatagram) {
    let notify_path = node._dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(BOUND)).unwrap();
    let fd = lab.node_a().fd().as_raw_fd();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ipkit"));
    cmd.arg("--config-dir")
        .arg(&node.opts.config_dir)
        .arg("--state-dir")
        .arg(&node.opts.state_dir)
        .arg("daemon")
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null());
    // SAFETY: the closure only calls setns(2), async-signal-safe.
    unsafe {
        cmd.pre_exec(move || setns_fd(fd));
    }
    (cmd.spawn().unwrap(), notify)
}

/// The next state the daemon notified (one a datagram, newline-terminated
/// by the sd-notify crate).
fn next_notice(notify: &std::os::unix::net::UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("a notification in time");
    String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()
}

#[test]
fn the_binary_reloads_on_sighup_and_stops_on_sigterm_leaving_addresses() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    node.write_config("[daemon]\nlisten = \"127.0.0.1:7480\"\n");
    let ip: IpAddr = "198.51.100.60".parse().unwrap();
    node.define(&vip_def("vip60", "198.51.100.60/24"));
    assert!(op(&lab, Port::APrimary, &node, "vip60", Operation::Restore).success);

    let (mut child, notify) = spawn_notifying_daemon(&lab, &node, &[]);
    let next_notice = || next_notice(&notify);
    let pid = child.id() as libc::pid_t;
    struct Kill(libc::pid_t);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: plain kill(2) of our own child (no-op once reaped).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let guard = Kill(pid);
    let api: std::net::SocketAddr = "127.0.0.1:7480".parse().unwrap();
    let get = |path: &str| {
        let peer = Peer {
            name: "t".into(),
            authority: api.to_string(),
            base_path: String::new(),
            token: None,
            timeout: Duration::from_secs(2),
        };
        let path = path.to_owned();
        lab.node_a().run(move || peers::get(&peer, &path)).unwrap()
    };
    // READY=1 comes once netlink is subscribed and the API listens: the
    // API answers at once, without waiting.
    assert_eq!(next_notice(), "READY=1");
    assert_eq!(get("/v1/resources/vip60").unwrap().0, 200);
    assert_eq!(get("/v1/resources/vip61").unwrap().0, 404);

    node.define(&vip_def("vip61", "198.51.100.61/24"));
    // SAFETY: kill(2) of our child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert_eq!(next_notice(), "RELOADING=1");
    assert_eq!(next_notice(), "READY=1");
    wait_for("vip61 after SIGHUP", || {
        get("/v1/resources/vip61").is_ok_and(|r| r.0 == 200)
    });
    // SAFETY: kill(2) of our child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(next_notice(), "STOPPING=1");
    let status = child.wait().unwrap();
    drop(guard);
    assert_eq!(status.code(), Some(0));
    let ids: Vec<u16> = read_events(&node.opts.state_dir)
        .iter()
        .map(|e| e.id)
        .collect();
    for want in [7101, 7103, 7102] {
        assert!(ids.contains(&want), "{want} not in {ids:?}");
    }
    // The addresses stay after SIGTERM (on_stop = keep).
    assert_eq!(holders(lab.nl_of(Port::APrimary), ip), ["eth0"]);
}

/// `WatchdogSec=`: systemd sets WATCHDOG_USEC; the binary feeds it
/// (`WATCHDOG=1`) every half period while its loop answers (the hung-loop
/// case is src/daemon/watchdog.rs's unit test).
#[test]
fn the_binary_feeds_the_systemd_watchdog() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    node.write_config("[daemon]\nlisten = \"off\"\n");
    node.define(&vip_def("vip62", "198.51.100.62/24"));
    let (mut child, notify) = spawn_notifying_daemon(&lab, &node, &[("WATCHDOG_USEC", "200000")]);
    let mut notices = Vec::new();
    let started = Instant::now();
    while notices.iter().filter(|n| *n == "WATCHDOG=1").count() < 3 {
        notices.push(next_notice(&notify));
    }
    let took = started.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(notices[0], "READY=1", "{notices:?}");
    assert!(
        notices[1..].iter().all(|n| n == "WATCHDOG=1"),
        "{notices:?}"
    );
    // Three feeds of a 200 ms watchdog: every 100 ms, not all at once.
    assert!(took >= Duration::from_millis(250), "{took:?}");
}

#[test]
fn starts_nothing_but_hold_in_service_and_notices_a_command_line_restore() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let plain: IpAddr = "198.51.100.70".parse().unwrap();
    let held: IpAddr = "198.51.100.71".parse().unwrap();
    node.define(&event_only(vip_def("plain", "198.51.100.70/24")));
    let mut h = event_only(vip_def("held", "198.51.100.71/24"));
    h.hold_in_service = true;
    node.define(&h);
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, config_local(), &rec);
    let nl = lab.nl_of(Port::APrimary);
    wait_for("the held resource restored by the daemon", || {
        holders(nl, held) == ["eth0"] && count(&rec, 6001) == 1
    });
    wait_for("idle", || d.status().in_flight() == 0);
    assert!(holders(nl, plain).is_empty(), "the daemon brought up plain");
    let plain_tag = Tag::new("plain").unwrap();
    assert!(!d.status().resource(&plain_tag).unwrap().in_service);

    // A command-line restore: the daemon sees the address arrive and
    // watches the resource from then on (no periodic check in reach).
    assert!(op(&lab, Port::APrimary, &node, "plain", Operation::Restore).success);
    wait_for("the daemon to take plain as in service", || {
        d.status()
            .resource(&plain_tag)
            .is_some_and(|r| r.in_service && r.up == Some(true))
            && d.status().in_flight() == 0
    });
    lab.pull_cable(Port::APrimary).unwrap();
    wait_for("both moved to eth1", || {
        holders(nl, plain) == ["eth1"] && holders(nl, held) == ["eth1"]
    });
    d.stop();
}

#[test]
fn on_stop_remove_takes_the_addresses_down() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let ip: IpAddr = "198.51.100.80".parse().unwrap();
    node.define(&event_only(vip_def("vip80", "198.51.100.80/24")));
    assert!(op(&lab, Port::APrimary, &node, "vip80", Operation::Restore).success);
    let cfg = Config::parse("[daemon]\nlisten = \"off\"\non_stop = \"remove\"\n").unwrap();
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, cfg, &rec);
    assert_eq!(d.api_addr(), None);
    let tag = Tag::new("vip80").unwrap();
    wait_for("the first quickCheck", || {
        d.status()
            .resource(&tag)
            .is_some_and(|r| r.up == Some(true))
    });
    d.stop();
    assert!(holders(lab.nl_of(Port::APrimary), ip).is_empty());
    assert!(!node.store.load_state(&tag).unwrap().in_service);
    assert_eq!(count(&rec, 6101), 1);
    assert_eq!(count(&rec, 7102), 1);
}

/// Twenty VIPs on eth0, each brought up as `ipkit restore` would. eth0
/// has a base address in their subnet first, as on a real node: the VIPs
/// are its secondaries (deleting a subnet's primary address takes its
/// secondaries along, unless `promote_secondaries` is set).
fn twenty_on_eth0(lab: &Lab, node: &Node) -> Vec<Definition> {
    lab.add_address(Port::APrimary, "198.51.100.2".parse().unwrap(), 24)
        .unwrap();
    let defs: Vec<Definition> = (0..20)
        .map(|i| {
            event_only(vip_def(
                &format!("vip{i:02}"),
                &format!("198.51.100.{}/24", 40 + i),
            ))
        })
        .collect();
    for def in &defs {
        node.define(def);
        assert!(
            op(
                lab,
                Port::APrimary,
                node,
                def.tag.as_str(),
                Operation::Restore
            )
            .success
        );
    }
    defs
}

fn all_up(d: &Daemon, defs: &[Definition]) -> bool {
    defs.iter().all(|def| {
        d.status()
            .resource(&def.tag)
            .is_some_and(|r| r.up == Some(true))
    }) && d.status().in_flight() == 0
}

fn on_eth1_and_saved(lab: &Lab, node: &Node, def: &Definition) -> bool {
    holders(lab.nl_of(Port::APrimary), def.address.ip()) == ["eth1"]
        && node
            .store
            .load_state(&def.tag)
            .is_ok_and(|s| s.in_service && s.active_adapter == Some(nic("eth1")))
}

#[test]
fn a_cable_pull_moves_twenty_vips_together_each_with_its_events_and_state() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let defs = twenty_on_eth0(&lab, &node);
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, config_local(), &rec);
    wait_for("every first quickCheck, then idle", || all_up(&d, &defs));

    lab.pull_cable(Port::APrimary).unwrap();
    wait_for("every VIP on eth1 with its state saved", || {
        defs.iter().all(|def| on_eth1_and_saved(&lab, &node, def))
    });
    wait_for("every 6603", || count(&rec, 6603) == defs.len());
    let events = rec.snapshot();
    for def in &defs {
        let mine: Vec<u16> = events
            .iter()
            .filter(|e| e.tag.as_deref() == Some(def.tag.as_str()))
            .map(|e| e.id)
            .collect();
        assert_eq!(mine, [6507, 6605, 6507, 6603], "{}", def.tag);
        assert_eq!(d.status().resource(&def.tag).unwrap().recoveries_ok, 1);
    }
    // (Whether the client's replies leave through eth1 while eth0's base
    // address still routes the subnet is issue 11 part 2, routing.)
    d.stop();
}

#[test]
fn a_command_line_operation_holding_one_members_lock_delays_only_that_member() {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let defs = twenty_on_eth0(&lab, &node);
    let rec = Arc::new(Recorder::new());
    let d = start(&lab, Port::APrimary, &node, config_local(), &rec);
    wait_for("every first quickCheck, then idle", || all_up(&d, &defs));

    // A command-line operation on vip03 holds its lock, longer than the
    // others take to move (its lock_timeout is the default 30 s, beyond
    // wait_for's bound: had the batch waited for it, nothing would move).
    let busy = &defs[3];
    let held = node.store.lock(&busy.tag, Duration::from_secs(1)).unwrap();
    lab.pull_cable(Port::APrimary).unwrap();
    let others: Vec<&Definition> = defs.iter().filter(|d| d.tag != busy.tag).collect();
    wait_for("the other nineteen on eth1 with their states saved", || {
        others.iter().all(|def| on_eth1_and_saved(&lab, &node, def))
    });
    assert_eq!(
        holders(lab.nl_of(Port::APrimary), busy.address.ip()),
        ["eth0"]
    );
    assert_eq!(
        node.store.load_state(&busy.tag).unwrap().active_adapter,
        Some(nic("eth0"))
    );
    // Its own check waits for the lock; once the operation ends, it moves.
    drop(held);
    wait_for("vip03 on eth1 too", || on_eth1_and_saved(&lab, &node, busy));
    wait_for("every 6603", || count(&rec, 6603) == defs.len());
    d.stop();
}

#[test]
fn another_host_claiming_the_address_is_reported_and_defended_once() {
    claimed("198.51.100.40/24");
}

#[test]
fn another_host_claiming_the_ipv6_address_is_reported_and_defended_once() {
    claimed("2001:db8:1::40/64");
}

#[test]
fn a_host_given_the_address_by_hand_is_named_by_its_mac() {
    given_by_hand("198.51.100.41/24", "198.51.100.77");
}

#[test]
fn a_host_given_the_ipv6_address_by_hand_is_named_by_its_mac() {
    given_by_hand("2001:db8:1::41/64", "2001:db8:1::77");
}

/// Nothing injected: node B's own kernel gets the address node A's daemon
/// keeps in service (a misconfigured server, a VM clone), and B sends a
/// datagram from it to a neighbour it has not resolved. B's kernel asks
/// for that neighbour with the address as its sender (an ARP request, or
/// an NS from that source): RFC 5227 §2.4 "sender IP address is ours from
/// another hardware address". The daemon's event names B's MAC.
fn given_by_hand(address: &str, neighbour: &str) {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let parsed = address.parse::<Address>().unwrap();
    let ip = parsed.ip();
    node.define(&event_only(vip_def("vip", address)));
    assert!(op(&lab, Port::APrimary, &node, "vip", Operation::Restore).success);
    let rec = Arc::new(Recorder::new());
    let tag = Tag::new("vip").unwrap();
    let d = start_serving(&lab, &node, &tag, &rec);

    lab.add_address(Port::B, ip, parsed.prefix()).unwrap();
    let to: IpAddr = neighbour.parse().unwrap();
    lab.node_b()
        .run(move || {
            let socket = std::net::UdpSocket::bind((ip, 0))?;
            socket.send_to(b"hello", (to, 9))
        })
        .unwrap()
        .unwrap();
    wait_for("7108", || count(&rec, 7108) >= 1);
    let event = rec.snapshot().into_iter().find(|e| e.id == 7108).unwrap();
    let b = lab.mac_of(Port::B).unwrap();
    assert!(event.message.contains(&Mac(b).to_string()), "{event:?}");
    assert_eq!(event.adapter.as_deref(), Some("eth0"));
    // Reported, not given up: still in service on eth0.
    assert_eq!(holders(lab.nl_of(Port::APrimary), ip), ["eth0"]);
    wait_for("the conflict in the state", || {
        node.store.load_state(&tag).unwrap().last_conflict.is_some()
    });
    let last = node.store.load_state(&tag).unwrap().last_conflict.unwrap();
    assert_eq!((last.mac, last.adapter), (Some(Mac(b)), Some(nic("eth0"))));
    d.stop();
}

/// Node B claims the address node A's daemon keeps in service (a
/// gratuitous ARP / unsolicited NA sent from B's adapter): RFC 5227 §2.4.
/// An event names B's MAC and eth0, the daemon sends one announcement
/// round, and a second claim within 10 s is counted but not answered.
fn claimed(address: &str) {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new();
    let ip: IpAddr = address.parse::<Address>().unwrap().ip();
    let mut def = event_only(vip_def("vip", address));
    // One round at restore, sent before the capture starts.
    def.tunables.announce_count = 1;
    node.define(&def);
    assert!(op(&lab, Port::APrimary, &node, "vip", Operation::Restore).success);
    let rec = Arc::new(Recorder::new());
    let tag = Tag::new("vip").unwrap();
    // In service and idle: the loop has told its source what to listen for.
    let d = start_serving(&lab, &node, &tag, &rec);
    let capture = lab.capture(Port::APrimary).unwrap();
    let b = lab.mac_of(Port::B).unwrap();
    let claim = inject::claim(b, ip).unwrap();
    lab.send_frame(Port::B, &claim).unwrap();
    wait_for("7108", || count(&rec, 7108) == 1);
    let event = rec.snapshot().into_iter().find(|e| e.id == 7108).unwrap();
    let b_text = Mac(b).to_string();
    assert!(event.message.contains(&b_text), "{event:?}");
    assert_eq!(event.adapter.as_deref(), Some("eth0"));
    let defence = if ip.is_ipv4() {
        FrameKind::ArpRequest
    } else {
        FrameKind::NeighbourAdvertisement
    };
    assert!(
        capture.wait_for_count(defence, ip, 1, BOUND),
        "no announcement on the wire"
    );

    // Again at once: counted, not answered.
    lab.send_frame(Port::B, &claim).unwrap();
    wait_for("the second claim counted", || {
        d.status()
            .resource(&tag)
            .is_some_and(|r| r.conflicts.heard == 2)
            && d.status().in_flight() == 0
    });
    // A marker frame from node A's eth0 after that: once it is captured,
    // whatever the daemon sent before it has been captured too.
    let marker: IpAddr = "198.51.100.99".parse().unwrap();
    let a = lab.mac_of(Port::APrimary).unwrap();
    lab.send_frame(Port::APrimary, &inject::claim(a, marker).unwrap())
        .unwrap();
    assert!(capture.wait_for_count(FrameKind::ArpRequest, marker, 1, BOUND));
    assert_eq!(capture.count(defence, ip), 1, "defended twice within 10 s");
    assert_eq!(count(&rec, 7108), 1);

    let metrics = d.status().metrics_text();
    assert!(
        metrics.contains("ipkit_address_conflicts_total{tag=\"vip\",source=\"wire\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ipkit_address_defences_total{tag=\"vip\"} 1\n"),
        "{metrics}"
    );
    // `ipkit status` reads it from the state.
    let last = node.store.load_state(&tag).unwrap().last_conflict.unwrap();
    assert_eq!((last.mac, last.adapter), (Some(Mac(b)), Some(nic("eth0"))));
    d.stop();
}
