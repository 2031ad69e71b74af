//! The harness of `tests/cli_doctor.rs`: node A set up as recommended, a
//! resource, sysctls written inside its namespace, and `ipkit doctor`
//! run both ways (text and `--json`) with its findings parsed.

use std::path::PathBuf;

use crate::cli_support::{Drop_, Env, code, stderr, stdout};
use ipkit_lab::Port;
use serde_json::Value;
pub const VIP: &str = "198.51.100.10";

/// The values docs/doctor.md recommends: (family, setting, value).
const RECOMMENDED: [(&str, &str, &str); 7] = [
    ("ipv4", "arp_ignore", "1"),
    ("ipv4", "arp_announce", "2"),
    ("ipv4", "promote_secondaries", "1"),
    ("ipv4", "rp_filter", "2"),
    ("ipv4", "ignore_routes_with_linkdown", "1"),
    ("ipv6", "ignore_routes_with_linkdown", "1"),
    ("ipv6", "disable_ipv6", "0"),
];

pub struct Doctor {
    pub env: Env,
    pub corosync: PathBuf,
}

/// One finding of `--json`.
#[derive(Debug)]
pub struct Found {
    pub id: String,
    pub severity: String,
    pub subject: String,
    pub message: String,
    pub fix: Option<String>,
}

pub struct Report {
    pub code: i32,
    pub found: Vec<Found>,
    pub text: String,
}

impl Report {
    /// The severities of `id` about `subject` (`web/eth1`, `web`, `node`).
    pub fn severity(&self, id: &str, subject: &str) -> Vec<&str> {
        self.of(id, subject)
            .iter()
            .map(|f| f.severity.as_str())
            .collect()
    }

    pub fn of(&self, id: &str, subject: &str) -> Vec<&Found> {
        self.found
            .iter()
            .filter(|f| f.id == id && f.subject == subject)
            .collect()
    }

    pub fn one(&self, id: &str, subject: &str) -> &Found {
        let found = self.of(id, subject);
        assert_eq!(found.len(), 1, "{id} {subject}:\n{}", self.text);
        found[0]
    }

    pub fn not_ok(&self) -> Vec<String> {
        self.found
            .iter()
            .filter(|f| f.severity != "ok")
            .map(|f| format!("{} {} {}: {}", f.severity, f.id, f.subject, f.message))
            .collect()
    }
}

fn field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Doctor {
    /// Node A with base addresses on both adapters (as real nodes have) and
    /// the recommended sysctls, and `web` (IPv4) protected on eth0 with
    /// recovery on eth1.
    pub fn new() -> Doctor {
        let env = Env::new();
        let corosync = env.dir.path().join("corosync.conf");
        let d = Doctor { env, corosync };
        for (port, ip) in [
            (Port::APrimary, "198.51.100.2"),
            (Port::ABackup, "198.51.100.3"),
        ] {
            d.env
                .lab
                .add_address(port, ip.parse().unwrap(), 24)
                .expect("base address");
        }
        d.recommend();
        d.create("web", "198.51.100.10/24", true);
        d
    }

    /// A resource on eth0, with eth1 as its recovery adapter or none.
    pub fn create(&self, tag: &str, address: &str, recovery: bool) {
        let mut args = vec!["create", tag, "--address", address, "--adapter", "eth0"];
        if recovery {
            args.extend_from_slice(&["--recovery-adapter", "eth1"]);
        }
        args.push("--no-probe");
        let out = self.env.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }

    /// `net/<family>/conf/<scope>/<name> = value` in node A's namespace.
    pub fn set(&self, family: &str, scope: &str, name: &str, value: &str) {
        let key = format!("net/{family}/conf/{scope}/{name}");
        self.env
            .lab
            .node_a()
            .set_sysctl(&key, value)
            .unwrap_or_else(|e| panic!("{key} = {value}: {e}"));
    }

    pub fn recommend(&self) {
        for scope in ["all", "eth0", "eth1"] {
            for (family, name, value) in RECOMMENDED {
                self.set(family, scope, name, value);
            }
        }
    }

    /// Applies a fix's sysctl.d lines (`"net.ipv4.conf.eth1.arp_ignore = 1"`)
    /// the way `sysctl --system` would, in node A's namespace.
    pub fn apply(&self, fix: &str) {
        let mut applied = 0;
        for line in fix.split('"').skip(1).step_by(2) {
            let (key, value) = line.split_once(" = ").expect(line);
            let path = key.replace('.', "/");
            self.env
                .lab
                .node_a()
                .set_sysctl(&path, value)
                .unwrap_or_else(|e| panic!("{path} = {value}: {e}"));
            applied += 1;
        }
        assert!(applied > 0, "no sysctl line in {fix:?}");
    }

    pub fn run(&self, extra: &[&str], drop: Drop_) -> Report {
        let corosync = self.corosync.to_str().unwrap();
        let mut args = vec!["doctor", "--corosync-conf", corosync];
        args.extend_from_slice(extra);
        let text_out = self
            .env
            .ipkit_dropping(&args, drop)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ipkit doctor");
        args.push("--json");
        let out = self
            .env
            .ipkit_dropping(&args, drop)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ipkit doctor --json");
        let json: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
        let found: Vec<Found> = json
            .as_array()
            .expect("an array of findings")
            .iter()
            .map(|f| {
                let subject = match (field(f, "resource"), field(f, "adapter")) {
                    (Some(r), Some(a)) => format!("{r}/{a}"),
                    (Some(r), None) => r,
                    (None, Some(a)) => a,
                    (None, None) => "node".to_owned(),
                };
                Found {
                    id: field(f, "id").expect("id"),
                    severity: field(f, "severity").expect("severity"),
                    subject,
                    message: field(f, "message").expect("message"),
                    fix: field(f, "fix"),
                }
            })
            .collect();
        let text = stdout(&text_out);
        assert_eq!(code(&text_out), code(&out), "text and JSON agree");
        assert_eq!(
            text.lines().count(),
            found.len(),
            "one line per finding:\n{text}"
        );
        Report {
            code: code(&out),
            found,
            text,
        }
    }

    pub fn check(&self) -> Report {
        self.run(&[], Drop_::Nothing)
    }
}
