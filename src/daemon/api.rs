//! The read-only status API (HTTP/1.1 over tiny_http).
//!
//! - `GET /v1/resources`, `GET /v1/resources/{tag}`: JSON;
//! - `GET /v1/adapters`: link states;
//! - `GET /metrics`: Prometheus text.
//!
//! Loopback clients need no token. Every other client must send
//! `Authorization: Bearer <token>` when a token is configured.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server};

use super::status::Status;

pub struct Api {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Api {
    /// Bind and serve on a thread of its own.
    pub fn start(
        listen: SocketAddr,
        token: Option<String>,
        status: Arc<Status>,
    ) -> io::Result<Api> {
        let server = Server::http(listen).map_err(|e| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("status API on {listen}: {e}"),
            )
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("status API: not an IP listener"))?;
        let server = Arc::new(server);
        let srv = server.clone();
        let thread = std::thread::Builder::new()
            .name("ipkit-api".into())
            .spawn(move || {
                // recv() fails only once the server is unblocked (stop).
                while let Ok(req) = srv.recv() {
                    serve(req, token.as_deref(), &status);
                }
            })?;
        Ok(Api {
            server,
            addr,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &Request, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    if req.remote_addr().is_some_and(|a| is_loopback(a.ip())) {
        return true;
    }
    req.headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()))
}

/// Answer one request: (status, content type, body).
pub fn route(method: &Method, url: &str, status: &Status) -> (u16, &'static str, String) {
    const JSON: &str = "application/json";
    const TEXT: &str = "text/plain; charset=utf-8";
    if !matches!(method, Method::Get | Method::Head) {
        return (405, TEXT, "only GET is served\n".into());
    }
    let path = url.split('?').next().unwrap_or("");
    match path {
        "/v1/resources" | "/v1/resources/" => (200, JSON, status.resources_json()),
        "/v1/adapters" => (200, JSON, status.adapters_json()),
        "/metrics" => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            status.metrics_text(),
        ),
        _ => match path.strip_prefix("/v1/resources/") {
            Some(tag) => match status.resource_json(tag) {
                Some(body) => (200, JSON, body),
                None => (
                    404,
                    JSON,
                    format!(
                        "{{\"error\":\"no resource {:?}\"}}",
                        tag.escape_default().to_string()
                    ),
                ),
            },
            None => (404, TEXT, "not found\n".into()),
        },
    }
}

fn serve(req: Request, token: Option<&str>, status: &Status) {
    let (code, ctype, body) = if authorized(&req, token) {
        route(req.method(), req.url(), status)
    } else {
        (
            401,
            "text/plain; charset=utf-8",
            "a bearer token is required\n".into(),
        )
    };
    let mut resp = Response::from_string(body).with_status_code(code);
    if let Some(h) = header("Content-Type", ctype) {
        resp = resp.with_header(h);
    }
    if code == 401
        && let Some(h) = header("WWW-Authenticate", "Bearer")
    {
        resp = resp.with_header(h);
    }
    // A client that went away is no concern of ours.
    let _ = req.respond(resp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let s = Status::new("n".into());
        assert_eq!(route(&Method::Get, "/v1/resources", &s).0, 200);
        assert_eq!(route(&Method::Get, "/v1/resources/x", &s).0, 404);
        assert_eq!(route(&Method::Get, "/v1/adapters", &s).0, 200);
        assert_eq!(route(&Method::Get, "/metrics?x=1", &s).0, 200);
        assert_eq!(route(&Method::Post, "/metrics", &s).0, 405);
        assert_eq!(route(&Method::Get, "/", &s).0, 404);
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("198.51.100.1".parse().unwrap()));
    }
}
