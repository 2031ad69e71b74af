//! The read-only status API: what it answers, to whom, and on what server.
//!
//! - `GET /v1/resources`, `GET /v1/resources/{tag}`: JSON;
//! - `GET /v1/adapters`: link states;
//! - `GET /metrics`: Prometheus text.
//!
//! When a token is configured, every client must send `Authorization:
//! Bearer <token>` (the scheme in any case, RFC 9110 §11.1). The token is
//! checked first, on a request head of at most 8 KiB, and nothing more is
//! ever read: a request with a body is refused. The server
//! (`http_server.rs`) bounds connections, time and memory (issue 10
//! defect 6, docs/daemon.md "Status API").

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use super::fd_limit;
use super::http::{self, JSON, Method, RequestHead, Response, TEXT};
use super::http_server::{Limits, Server};
use super::status::Status;

pub struct Api {
    server: Server,
}

impl Api {
    /// Bind and serve on a thread of its own, holding at most as many
    /// connections as the descriptor budget allows.
    pub fn start(
        listen: SocketAddr,
        token: Option<String>,
        status: Arc<Status>,
    ) -> io::Result<Api> {
        let listener = TcpListener::bind(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("status API on {listen}: {e}")))?;
        let soft = fd_limit::limits().map(|(soft, _)| soft).unwrap_or(1024);
        let limits = Limits {
            max_connections: fd_limit::api_connections(soft),
            ..Limits::default()
        };
        let handler = move |head: &RequestHead<'_>, _peer: SocketAddr| {
            answer(head, token.as_deref(), &status)
        };
        let server = Server::start(listener, limits, Box::new(handler))?;
        Ok(Api { server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn stop(self) {
        self.server.stop();
    }
}

/// Does the request carry the configured token (any when none is)?
fn authorized(head: &RequestHead<'_>, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    head.single("Authorization")
        .and_then(http::bearer_token)
        .is_some_and(|sent| http::same_secret(sent, token.as_bytes()))
}

/// Answer one request: the token first, then the method, then the route.
pub fn answer(head: &RequestHead<'_>, token: Option<&str>, status: &Status) -> Response {
    if !authorized(head, token) {
        return Response::text(401, "a bearer token is required")
            .with("WWW-Authenticate", "Bearer");
    }
    if head.method == Method::Other {
        return Response::text(405, "only GET is served").with("Allow", "GET, HEAD");
    }
    // A GET has no body here; one announced is not read.
    let has_body = head.values("Transfer-Encoding").next().is_some()
        || head.values("Content-Length").any(|v| v != b"0");
    if has_body {
        return Response::text(413, "a request body is not accepted");
    }
    route(head.path(), status)
}

/// The resource at `path`.
fn route(path: &str, status: &Status) -> Response {
    match path {
        "/v1/resources" | "/v1/resources/" => Response::new(200, JSON, status.resources_json()),
        "/v1/adapters" => Response::new(200, JSON, status.adapters_json()),
        "/metrics" => Response::new(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            status.metrics_text(),
        ),
        _ => match path.strip_prefix("/v1/resources/") {
            Some(tag) => match status.resource_json(tag) {
                Some(body) => Response::new(200, JSON, body),
                None => {
                    let error = serde_json::json!({ "error": format!("no resource \"{tag}\"") });
                    Response::new(404, JSON, error.to_string())
                }
            },
            None => Response::new(404, TEXT, "not found\n"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(raw: &str, token: Option<&str>, s: &Status) -> Response {
        let head = http::parse_head(raw.as_bytes()).unwrap();
        answer(&head, token, s)
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
    }

    #[test]
    fn routes() {
        let s = Status::new("n".into());
        assert_eq!(ask(&get("/v1/resources"), None, &s).status, 200);
        assert_eq!(ask(&get("/v1/adapters"), None, &s).status, 200);
        assert_eq!(ask(&get("/metrics?x=1"), None, &s).status, 200);
        assert_eq!(ask(&get("/"), None, &s).status, 404);
        let post = ask("POST /metrics HTTP/1.1\r\n\r\n", None, &s);
        assert_eq!(post.status, 405);
        assert_eq!(post.fields, [("Allow", "GET, HEAD")]);
        let body = ask(
            "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            None,
            &s,
        );
        assert_eq!(body.status, 413);
        let chunked = ask(
            "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            None,
            &s,
        );
        assert_eq!(chunked.status, 413);
        assert_eq!(
            ask(
                "GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                None,
                &s
            )
            .status,
            200
        );
    }

    /// Issue 10 defect 6: the 404 body is JSON, whatever the tag.
    #[test]
    fn a_missing_resource_is_a_json_404() {
        let s = Status::new("n".into());
        for tag in ["nope", "x%22y", "a\\\\b"] {
            let r = ask(&get(&format!("/v1/resources/{tag}")), None, &s);
            assert_eq!((r.status, r.content_type), (404, JSON));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["error"], format!("no resource \"{tag}\""));
        }
    }

    /// Every client sends the token when one is configured, loopback too;
    /// the scheme is case-insensitive; the field must come once.
    #[test]
    fn the_token_is_checked_first() {
        let s = Status::new("n".into());
        let with = |auth: &str| format!("POST /nowhere HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n");
        for auth in ["Bearer t", "bearer t", "BEARER   t"] {
            assert_eq!(ask(&with(auth), Some("t"), &s).status, 405, "{auth}");
        }
        for auth in ["Bearer u", "Basic dA==", "Bearer", "t"] {
            let r = ask(&with(auth), Some("t"), &s);
            assert_eq!(r.status, 401, "{auth}");
            assert_eq!(r.fields, [("WWW-Authenticate", "Bearer")]);
        }
        assert_eq!(ask(&get("/metrics"), Some("t"), &s).status, 401);
        let twice =
            "GET /metrics HTTP/1.1\r\nAuthorization: Bearer t\r\nAuthorization: Bearer t\r\n\r\n";
        assert_eq!(ask(twice, Some("t"), &s).status, 401);
        assert_eq!(ask(&with("Bearer t"), None, &s).status, 405);
    }
}
