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
//! - a peer that has the resource in service is no standby: it holds the
//!   address ([`ClusterNodes::holding`]), which deepCheck reports as an
//!   address conflict when the resource is in service here too.
//!
//! The client is `ureq` (plain HTTP, no TLS: the status API speaks plain
//! HTTP) with one global timeout over the whole exchange: connecting,
//! sending, and reading the head and the body.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{ClusterError, ClusterNodes, ClusterView, StandbyNode};
use crate::config::Peer;
use crate::net::LinkState;
use crate::resource::{AdapterName, Definition};

/// How long a peer that did not answer is taken as down without asking.
pub const DOWN_BACKOFF: Duration = Duration::from_secs(5);

/// Largest answer read from a peer.
const MAX_BODY: u64 = 1 << 20;

pub struct PeerCluster {
    peers: Vec<Peer>,
    down_until: Mutex<HashMap<String, Instant>>,
}

/// What one peer says about a resource.
#[derive(Debug)]
enum PeerAnswer {
    /// It does not define the resource (404).
    Undefined,
    /// It has the resource in service: it holds the address.
    Holding,
    /// It would take the address on this adapter.
    Standby(StandbyNode),
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

    /// Ask one peer about a resource.
    fn ask(&self, peer: &Peer, def: &Definition) -> Result<PeerAnswer, String> {
        let path = format!("{}/v1/resources/{}", peer.base_path, def.tag);
        let (code, body) = get(peer, &path)?;
        match code {
            200 => {}
            404 => return Ok(PeerAnswer::Undefined),
            other => return Err(format!("HTTP {other}")),
        }
        let r: PeerResource =
            serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))?;
        if r.in_service {
            return Ok(PeerAnswer::Holding);
        }
        let adapter = AdapterName::new(&r.standby_adapter).map_err(|e| e.to_string())?;
        Ok(PeerAnswer::Standby(StandbyNode {
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
) -> Result<Box<dyn ClusterView>, crate::config::ConfigError> {
    let cfg = crate::config::Config::load(config_dir)?;
    Ok(if cfg.peers.is_empty() {
        Box::new(super::Standalone)
    } else {
        Box::new(PeerCluster::new(cfg.peers))
    })
}

impl ClusterView for PeerCluster {
    fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        Ok(self.nodes(def)?.standby)
    }

    /// Every peer not backed off is asked once.
    fn nodes(&self, def: &Definition) -> Result<ClusterNodes, ClusterError> {
        let mut out = ClusterNodes::default();
        for peer in &self.peers {
            if self.is_backed_off(&peer.name) {
                continue;
            }
            match self.ask(peer, def) {
                Ok(answer) => {
                    self.set_down(&peer.name, false);
                    match answer {
                        PeerAnswer::Undefined => {}
                        PeerAnswer::Holding => out.holding.push(peer.name.clone()),
                        PeerAnswer::Standby(node) => out.standby.push(node),
                    }
                }
                // SPEC §5: a peer that does not answer counts as down.
                Err(_) => self.set_down(&peer.name, true),
            }
        }
        Ok(out)
    }
}

/// `GET path` from a peer, the whole exchange within its timeout: (status
/// code, body). Any status is an answer; a refused connection, a timeout or
/// a broken answer is an error.
pub fn get(peer: &Peer, path: &str) -> Result<(u16, Vec<u8>), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(peer.timeout))
        .http_status_as_error(false)
        // Peers are named by address: never through an http_proxy from the
        // environment, never redirected elsewhere.
        .proxy(None)
        .max_redirects(0)
        .max_idle_connections(0)
        .user_agent(concat!("ipkit/", env!("CARGO_PKG_VERSION")))
        .accept("application/json")
        .build()
        .into();
    let url = format!("http://{}{path}", peer.authority);
    let mut request = agent.get(&url);
    if let Some(t) = &peer.token {
        request = request.header("Authorization", format!("Bearer {t}"));
    }
    let mut response = request
        .call()
        .map_err(|e| format!("{}: {e}", peer.authority))?;
    let code = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| format!("{}: {e}", peer.authority))?;
    Ok((code, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
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

    /// A one-connection server: reads the request, lets `answer` write
    /// the reply, and hands back the request.
    fn serve(
        answer: impl FnOnce(&mut std::net::TcpStream) + Send + 'static,
    ) -> (u16, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap();
            answer(&mut s);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (port, h)
    }

    /// A one-shot server that answers `answer` and hands back the request.
    fn serve_once(answer: String) -> (u16, std::thread::JoinHandle<String>) {
        serve(move |s| s.write_all(answer.as_bytes()).unwrap())
    }

    /// A one-shot server that answers 200 with this JSON body.
    fn serve_json(body: &str) -> (u16, std::thread::JoinHandle<String>) {
        serve_once(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    #[test]
    fn reads_chunked_and_sized_answers_and_any_status() {
        let (port, h) = serve_once(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n"
                .into(),
        );
        assert_eq!(get(&peer(port, 2000), "/x"), Ok((200, b"hi!".to_vec())));
        h.join().unwrap();
        let (port, h) = serve_once("HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno".into());
        assert_eq!(get(&peer(port, 2000), "/x"), Ok((503, b"no".to_vec())));
        h.join().unwrap();
        let (port, h) = serve_once("SSH-2.0-OpenSSH_9.2\r\n".into());
        assert!(get(&peer(port, 2000), "/x").is_err());
        h.join().unwrap();
    }

    /// A peer that sends its answer one byte every 50 ms (2.5 s in all)
    /// counts as down after the 300 ms timeout: the timeout bounds the
    /// whole exchange, not each read.
    #[test]
    fn a_peer_trickling_its_answer_slower_than_the_timeout_is_down() {
        let body = r#"{"in_service":false,"standby_adapter":"eth0","standby_link":"connected"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (port, server) = serve(move |s| {
            // Until the client hangs up (or 50 bytes, 2.5 s).
            for byte in answer.as_bytes().iter().take(50) {
                if s.write_all(std::slice::from_ref(byte)).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let c = PeerCluster::new(vec![peer(port, 300)]);
        let start = Instant::now();
        assert_eq!(c.standby_nodes(&def()).unwrap(), vec![]);
        let took = start.elapsed();
        assert!(c.is_backed_off("b"));
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        server.join().unwrap();
    }

    #[test]
    fn a_disconnected_standby_is_reported_with_the_token_sent() {
        let (port, h) = serve_json(
            r#"{"in_service":false,"standby_adapter":"eth0","standby_link":"disconnected"}"#,
        );
        let c = PeerCluster::new(vec![peer(port, 2000)]);
        let nodes = c.standby_nodes(&def()).unwrap();
        let req = h.join().unwrap();
        assert!(
            req.starts_with("GET /v1/resources/vip HTTP/1.1\r\n"),
            "{req}"
        );
        // Header names are case-insensitive (RFC 9110 §5.1).
        assert!(
            req.to_ascii_lowercase()
                .contains("\r\nauthorization: bearer t0k\r\n"),
            "{req}"
        );
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
    fn a_peer_with_the_resource_in_service_holds_it_and_is_no_standby() {
        let (port, h) = serve_json(
            r#"{"in_service":true,"standby_adapter":"eth1","standby_link":"connected"}"#,
        );
        let c = PeerCluster::new(vec![peer(port, 2000)]);
        assert_eq!(
            c.nodes(&def()).unwrap(),
            ClusterNodes {
                standby: vec![],
                holding: vec!["b".into()]
            }
        );
        h.join().unwrap();
        assert!(!c.is_backed_off("b"));
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
