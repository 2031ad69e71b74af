//! Cluster view from peer ipkit daemons (SPEC §5 Peers).
//!
//! deepCheck asks every peer listed in `ipkit.toml` for
//! `GET /v1/resources/{tag}` with a bounded timeout (default 500 ms) and
//! reads the link state of the adapter that would receive the address
//! there (`standby_adapter` / `standby_link`).
//!
//! - a peer that does not answer in time, or answers with an error, counts
//!   as down: it is no standby, and there is no warning. So that 1,000
//!   resources do not each wait for it, it is not asked again for
//!   [`DOWN_BACKOFF`];
//! - a peer that does not define the tag (404) is no standby for it;
//! - a peer that has the resource in service is the active node, not a
//!   standby.
//!
//! The client is a few lines of HTTP/1.1 over a `TcpStream`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{ClusterError, ClusterView, StandbyNode};
use crate::daemon::config::Peer;
use crate::net::LinkState;
use crate::resource::{AdapterName, Definition};

/// How long a peer that did not answer is taken as down without asking.
pub const DOWN_BACKOFF: Duration = Duration::from_secs(5);

/// Largest answer read from a peer.
const MAX_BODY: usize = 1 << 20;

pub struct PeerCluster {
    peers: Vec<Peer>,
    down_until: Mutex<HashMap<String, Instant>>,
}

#[derive(Deserialize)]
struct PeerResource {
    in_service: bool,
    standby_adapter: String,
    standby_link: LinkState,
}

impl PeerCluster {
    pub fn new(peers: Vec<Peer>) -> Self {
        Self {
            peers,
            down_until: Mutex::new(HashMap::new()),
        }
    }

    fn is_backed_off(&self, name: &str) -> bool {
        let g = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        g.get(name).is_some_and(|t| Instant::now() < *t)
    }

    fn set_down(&self, name: &str, down: bool) {
        let mut g = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        if down {
            g.insert(name.to_owned(), Instant::now() + DOWN_BACKOFF);
        } else {
            g.remove(name);
        }
    }

    /// Ask one peer; Ok(None) when it is no standby for this resource.
    fn ask(&self, peer: &Peer, def: &Definition) -> Result<Option<StandbyNode>, String> {
        let path = format!("{}/v1/resources/{}", peer.base_path, def.tag);
        let (code, body) = get(peer, &path)?;
        match code {
            200 => {}
            404 => return Ok(None),
            other => return Err(format!("HTTP {other}")),
        }
        let r: PeerResource =
            serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))?;
        if r.in_service {
            return Ok(None);
        }
        let adapter = AdapterName::new(&r.standby_adapter).map_err(|e| e.to_string())?;
        Ok(Some(StandbyNode {
            name: peer.name.clone(),
            adapter,
            link: Some(r.standby_link),
        }))
    }
}

/// The cluster view a command-line deepCheck should use: the peers of
/// `<config_dir>/ipkit.toml` when it lists any, else standalone.
pub fn view_for(
    config_dir: &std::path::Path,
) -> Result<Box<dyn ClusterView>, crate::daemon::config::ConfigError> {
    let cfg = crate::daemon::config::Config::load(config_dir)?;
    Ok(if cfg.peers.is_empty() {
        Box::new(super::Standalone)
    } else {
        Box::new(PeerCluster::new(cfg.peers))
    })
}

impl ClusterView for PeerCluster {
    fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        let mut out = Vec::new();
        for peer in &self.peers {
            if self.is_backed_off(&peer.name) {
                continue;
            }
            match self.ask(peer, def) {
                Ok(node) => {
                    self.set_down(&peer.name, false);
                    out.extend(node);
                }
                // SPEC §5: a peer that does not answer counts as down.
                Err(_) => self.set_down(&peer.name, true),
            }
        }
        Ok(out)
    }
}

/// `GET path` from a peer within its timeout: (status code, body).
pub fn get(peer: &Peer, path: &str) -> Result<(u16, Vec<u8>), String> {
    let deadline = Instant::now() + peer.timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "timed out".to_owned())
    };
    let addrs: Vec<_> = peer
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", peer.authority))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut s = stream.ok_or(last)?;
    let _ = s.set_nodelay(true);
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ipkit/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        peer.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(t) = &peer.token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    s.set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_BODY {
                    return Err("answer too large".into());
                }
                if let Some(done) = complete(&buf) {
                    return done;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    complete(&buf).unwrap_or_else(|| Err("connection closed mid-answer".into()))
}

/// A whole response in `buf`? None while more bytes are needed.
fn complete(buf: &[u8]) -> Option<Result<(u16, Vec<u8>), String>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let body = &buf[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = match status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
    {
        Some(c) if status.starts_with("HTTP/1.") => c,
        _ => return Some(Err(format!("not an HTTP answer: {status:?}"))),
    };
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        return dechunk(body).map(|b| Ok((code, b)));
    }
    match length {
        Some(n) if body.len() >= n => Some(Ok((code, body[..n].to_vec()))),
        Some(_) => None,
        // No length: the body runs to the end of the connection; the
        // caller's read loop ends on EOF and calls us once more.
        None => None,
    }
}

/// Decode a complete chunked body; None while incomplete.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn peer(port: u16, timeout_ms: u64) -> Peer {
        Peer {
            name: "b".into(),
            authority: format!("127.0.0.1:{port}"),
            base_path: String::new(),
            token: Some("t0k".into()),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn def() -> Definition {
        crate::resource::sample_definition(false)
    }

    /// A one-shot server that answers `answer` and hands back the request.
    fn serve_once(answer: String) -> (u16, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap();
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (port, h)
    }

    #[test]
    fn parses_answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(complete(ok), Some(Ok((200, b"hi".to_vec()))));
        assert_eq!(complete(&ok[..ok.len() - 1]), None);
        let ch =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n";
        assert_eq!(complete(ch), Some(Ok((200, b"hi!".to_vec()))));
        assert!(matches!(complete(b"SSH-2.0\r\n\r\n"), Some(Err(_))));
    }

    #[test]
    fn a_disconnected_standby_is_reported_with_the_token_sent() {
        let body = r#"{"in_service":false,"standby_adapter":"eth0","standby_link":"disconnected"}"#;
        let (port, h) = serve_once(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        let c = PeerCluster::new(vec![peer(port, 2000)]);
        let nodes = c.standby_nodes(&def()).unwrap();
        let req = h.join().unwrap();
        assert!(
            req.starts_with("GET /v1/resources/vip HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("Authorization: Bearer t0k\r\n"), "{req}");
        assert_eq!(
            nodes,
            vec![StandbyNode {
                name: "b".into(),
                adapter: AdapterName::new("eth0").unwrap(),
                link: Some(LinkState::Disconnected)
            }]
        );
    }

    #[test]
    fn unknown_tag_and_silent_or_absent_peers_are_no_standby() {
        let (port, h) = serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into());
        let c = PeerCluster::new(vec![peer(port, 2000)]);
        assert_eq!(c.standby_nodes(&def()).unwrap(), vec![]);
        h.join().unwrap();

        // Nobody listening: down, no error.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = PeerCluster::new(vec![peer(port, 200)]);
        assert_eq!(c.standby_nodes(&def()).unwrap(), vec![]);
        assert!(c.is_backed_off("b"));

        // Accepts but never answers: the timeout bounds the wait.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = PeerCluster::new(vec![peer(port, 100)]);
        assert_eq!(c.standby_nodes(&def()).unwrap(), vec![]);
        assert!(c.is_backed_off("b"));
        drop(l);
    }
}
