//! The node configuration file `<config_dir>/ipkit.toml`: the daemon, its peers (docs/daemon.md).
//!
//! ```toml
//! [daemon]
//! listen = "127.0.0.1:7480"      # status API; "off" disables it
//! token = "s3cret"               # or token_file = "/etc/ipkit/token"
//! on_failure = ["/usr/local/sbin/ipkit-handover", "--now"]
//! on_failure_timeout_ms = 60000
//! on_stop = "keep"               # or "remove"
//! workers = 2
//!
//! [[peer]]
//! name = "node-b"
//! url = "http://203.0.113.12:7480"
//! token = "s3cret"
//! timeout_ms = 500
//! ```
//!
//! Other top-level tables belong to other parts of ipkit and are ignored
//! here; inside `[daemon]` and `[[peer]]` an unknown key is an error that
//! names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::resource::InvalidInput;

/// The default status API address (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7480";

/// What SIGTERM does with the addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnStop {
    /// Leave every address where it is (a restart does not interrupt
    /// service).
    #[default]
    Keep,
    /// Run remove on every in-service resource.
    Remove,
}

impl OnStop {
    /// As `ipkit.toml` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnStop::Keep => "keep",
            OnStop::Remove => "remove",
        }
    }
}

/// `on_failure`: a program path, or an argv list. No shell is involved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Program(String),
    Argv(Vec<String>),
}

impl Command {
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Program(p) => vec![p.clone()],
            Command::Argv(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    listen: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    on_failure: Option<Command>,
    on_failure_timeout_ms: Option<u64>,
    #[serde(default)]
    on_stop: OnStop,
    workers: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: String,
    url: String,
    token: Option<String>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawFile {
    daemon: Option<RawDaemon>,
    #[serde(default)]
    peer: Vec<RawPeer>,
}

/// One peer daemon (SPEC §5 Peers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `host:port` of its status API (plain HTTP).
    pub authority: String,
    /// Path prefix of the URL (usually empty).
    pub base_path: String,
    pub token: Option<String>,
    pub timeout: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// None: the status API is off.
    pub listen: Option<SocketAddr>,
    pub token: Option<String>,
    pub on_failure: Option<Vec<String>>,
    pub on_failure_timeout: Duration,
    pub on_stop: OnStop,
    pub workers: usize,
    pub peers: Vec<Peer>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().ok(),
            token: None,
            on_failure: None,
            on_failure_timeout: Duration::from_secs(60),
            on_stop: OnStop::Keep,
            workers: 2,
            peers: Vec::new(),
        }
    }
}

/// A configuration problem: the file, the field and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub reason: String,
}

impl Config {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("ipkit.toml")
    }

    /// Load `<config_dir>/ipkit.toml`; a missing file is the default.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let path = Self::path(config_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(ConfigError {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        Self::parse(&text).map_err(|reason| ConfigError { path, reason })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        let mut cfg = Self::default();
        if let Some(d) = raw.daemon {
            if let Some(l) = d.listen {
                cfg.listen = if l == "off" {
                    None
                } else {
                    Some(l.parse().map_err(|_| {
                        InvalidInput::new(
                            "daemon.listen",
                            format!("{l:?} is not ADDRESS:PORT (e.g. 127.0.0.1:7480) or \"off\""),
                        )
                        .to_string()
                    })?)
                };
            }
            cfg.token = match (d.token, d.token_file) {
                (Some(_), Some(_)) => {
                    return Err(InvalidInput::new(
                        "daemon.token",
                        "set token or token_file, not both",
                    )
                    .to_string());
                }
                (Some(t), None) => Some(t),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(&f)
                        .map_err(|e| {
                            InvalidInput::new("daemon.token_file", format!("{}: {e}", f.display()))
                                .to_string()
                        })?
                        .trim()
                        .to_owned(),
                ),
                (None, None) => None,
            };
            if cfg.token.as_deref() == Some("") {
                return Err(InvalidInput::new("daemon.token", "must not be empty").to_string());
            }
            if let Some(c) = d.on_failure {
                let argv = c.argv();
                if argv.is_empty() || argv[0].is_empty() {
                    return Err(
                        InvalidInput::new("daemon.on_failure", "names no program").to_string()
                    );
                }
                cfg.on_failure = Some(argv);
            }
            if let Some(t) = d.on_failure_timeout_ms {
                cfg.on_failure_timeout = Duration::from_millis(t);
            }
            cfg.on_stop = d.on_stop;
            if let Some(w) = d.workers {
                if !(1..=64).contains(&w) {
                    return Err(InvalidInput::new("daemon.workers", "must be 1 to 64").to_string());
                }
                cfg.workers = w;
            }
        }
        for p in raw.peer {
            cfg.peers.push(parse_peer(p)?);
        }
        Ok(cfg)
    }
}

fn parse_peer(p: RawPeer) -> Result<Peer, String> {
    if p.name.trim().is_empty() {
        return Err(InvalidInput::new("peer.name", "must not be empty").to_string());
    }
    let rest = p.url.strip_prefix("http://").ok_or_else(|| {
        InvalidInput::new(
            "peer.url",
            format!(
                "{:?} (peer {}) must start with http:// (the status API speaks plain HTTP; use a token, and a private network)",
                p.url, p.name
            ),
        )
        .to_string()
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
    if !has_port {
        return Err(InvalidInput::new(
            "peer.url",
            format!("{:?} (peer {}) needs HOST:PORT", p.url, p.name),
        )
        .to_string());
    }
    let timeout = Duration::from_millis(p.timeout_ms.unwrap_or(500));
    if timeout.is_zero() || timeout > Duration::from_secs(30) {
        return Err(InvalidInput::new("peer.timeout_ms", "must be 1 to 30000").to_string());
    }
    Ok(Peer {
        name: p.name,
        authority: authority.to_owned(),
        base_path: path.to_owned(),
        token: p.token,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file_or_section() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen, Some("127.0.0.1:7480".parse().unwrap()));
        // Other faces' tables are not ours to judge.
        assert!(Config::parse("[cli]\ncolor = true\n").is_ok());
    }

    #[test]
    fn full_file() {
        let c = Config::parse(
            r#"
[daemon]
listen = "0.0.0.0:9000"
token = "t"
on_failure = ["/bin/echo", "x"]
on_stop = "remove"
workers = 3
[[peer]]
name = "b"
url = "http://203.0.113.2:7480/"
token = "u"
timeout_ms = 250
"#,
        )
        .unwrap();
        assert_eq!(c.listen, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(c.on_failure, Some(vec!["/bin/echo".into(), "x".into()]));
        assert_eq!(c.on_stop, OnStop::Remove);
        assert_eq!(c.peers[0].authority, "203.0.113.2:7480");
        assert_eq!(c.peers[0].base_path, "");
        assert_eq!(c.peers[0].timeout, Duration::from_millis(250));
        let c = Config::parse("[daemon]\nlisten = \"off\"\non_failure = \"/bin/true\"").unwrap();
        assert_eq!(c.listen, None);
        assert_eq!(c.on_failure, Some(vec!["/bin/true".into()]));
    }

    #[test]
    fn errors_name_the_field() {
        for (text, field) in [
            ("[daemon]\nlisten = \"localhost\"", "daemon.listen"),
            ("[daemon]\ntoken = \"\"", "daemon.token"),
            ("[daemon]\non_failure = []", "daemon.on_failure"),
            ("[daemon]\nworkers = 0", "daemon.workers"),
            ("[daemon]\nlisten_on = \"x\"", "listen_on"),
            ("[daemon]\non_stop = \"drop\"", "drop"),
            ("[[peer]]\nname = \"b\"\nurl = \"https://b:1\"", "peer.url"),
            ("[[peer]]\nname = \"b\"\nurl = \"http://b\"", "peer.url"),
            ("[[peer]]\nname = \"\"\nurl = \"http://b:1\"", "peer.name"),
            (
                "[[peer]]\nname = \"b\"\nurl = \"http://b:1\"\ntimeout_ms = 0",
                "peer.timeout_ms",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(field), "{text:?}: {e}");
        }
    }
}
