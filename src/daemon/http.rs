//! HTTP/1.1 request heads and responses as bytes, for the status API:
//! where a head ends, the request line and header fields parsed with hard
//! limits (RFC 9112 §2–5), the bearer credentials (RFC 6750 §2.1, RFC 9110
//! §11), and a response written out. Pure functions, no I/O: the server
//! (`http_server.rs`) and a fuzz target call them on whatever bytes came.

use std::fmt::Write as _;

/// The most a request head (request line, header fields, the empty line)
/// may take. Nothing the API serves needs more than a few hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// The most header fields a request may have.
pub const MAX_FIELDS: usize = 32;

/// The request methods the API tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other well-formed method (405).
    Other,
}

/// A parsed request head; borrows the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: Method,
    /// The request target in origin form (`/path?query`).
    pub target: &'a str,
    /// Header fields in order: name as sent, value without surrounding
    /// blanks.
    pub fields: Vec<(&'a str, &'a [u8])>,
}

impl<'a> RequestHead<'a> {
    /// Every value of the field `name` (names compare case-insensitively).
    pub fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The one value of `name`: None when absent or given more than once.
    pub fn single(&self, name: &str) -> Option<&'a [u8]> {
        let mut all = self.values(name);
        let first = all.next()?;
        all.next().is_none().then_some(first)
    }

    /// The path of the target, without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// Why a head was refused, with the status it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Longer than [`MAX_HEAD`], or more than [`MAX_FIELDS`] fields (431).
    TooLarge,
    /// Not HTTP/1.0 or HTTP/1.1 (505).
    Version,
    /// Not a well-formed request head (400); what was wrong.
    Malformed(&'static str),
}

impl HeadError {
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Version => 505,
            HeadError::Malformed(_) => 400,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            HeadError::TooLarge => "the request head is too large",
            HeadError::Version => "only HTTP/1.0 and HTTP/1.1 are served",
            HeadError::Malformed(why) => why,
        }
    }
}

/// The length of the head at the start of `bytes` (through its empty
/// line), once it is all there.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// `tchar` of RFC 9110 §5.6.2: what a method or a field name is made of.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

/// Parse a complete head: the request line, the header fields, and the
/// empty line that ends it (as [`head_end`] delimits it; anything after
/// it is refused). Strict: CRLF line ends only, no obsolete line folding,
/// no blank before a field's colon (RFC 9112 §2.2, §5.1, §5.2).
pub fn parse_head(head: &[u8]) -> Result<RequestHead<'_>, HeadError> {
    if head.len() > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    if !head.ends_with(b"\r\n\r\n") {
        return Err(HeadError::Malformed(
            "the head does not end with an empty line",
        ));
    }
    // Every line but the empty one, each still ending in CR.
    let lines = &head[..head.len() - 3];
    let mut lines = lines.split(|&b| b == b'\n').map(|line| {
        line.strip_suffix(b"\r")
            .ok_or(HeadError::Malformed("a line ends without CR"))
    });
    let request_line = lines.next().unwrap_or(Ok(b""))?;
    let (method, target) = parse_request_line(request_line)?;
    let mut fields = Vec::new();
    for line in lines {
        if fields.len() == MAX_FIELDS {
            return Err(HeadError::TooLarge);
        }
        fields.push(parse_field(line?)?);
    }
    Ok(RequestHead {
        method,
        target,
        fields,
    })
}

fn parse_request_line(line: &[u8]) -> Result<(Method, &str), HeadError> {
    if line.contains(&b'\r') {
        return Err(HeadError::Malformed("a bare CR in the request line"));
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "the request line is not METHOD TARGET VERSION",
        ));
    };
    if !is_token(method) {
        return Err(HeadError::Malformed("the method is not a token"));
    }
    if !matches!(version, b"HTTP/1.1" | b"HTTP/1.0") {
        return Err(if version.starts_with(b"HTTP/") {
            HeadError::Version
        } else {
            HeadError::Malformed("no HTTP version")
        });
    }
    if target.first() != Some(&b'/') || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(HeadError::Malformed("the target is not an absolute path"));
    }
    let target = std::str::from_utf8(target)
        .map_err(|_| HeadError::Malformed("the target is not an absolute path"))?;
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    Ok((method, target))
}

fn parse_field(line: &[u8]) -> Result<(&str, &[u8]), HeadError> {
    // A line starting with a blank continues the previous one (RFC 9112
    // §5.2): refused.
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Err(HeadError::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::Malformed("a header line without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // No blank before the colon either (RFC 9112 §5.1).
    if !is_token(name) {
        return Err(HeadError::Malformed("a header name is not a token"));
    }
    let name = std::str::from_utf8(name)
        .map_err(|_| HeadError::Malformed("a header name is not a token"))?;
    // field-value: visible bytes, blanks, obs-text; no other control byte.
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::Malformed("a control byte in a header value"));
    }
    Ok((name, value.trim_ascii()))
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1); the
/// scheme is case-insensitive (RFC 9110 §11.1), one or more spaces follow
/// it.
pub fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Compare in time that depends on the lengths only, so a token cannot be
/// guessed byte by byte.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A response to write back; the connection closes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// More header fields (`WWW-Authenticate`, `Allow`).
    pub fields: Vec<(&'static str, &'static str)>,
}

pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            fields: Vec::new(),
        }
    }

    /// A short plain-text answer (errors).
    pub fn text(status: u16, message: &str) -> Self {
        Self::new(status, TEXT, format!("{message}\n"))
    }

    pub fn with(mut self, name: &'static str, value: &'static str) -> Self {
        self.fields.push((name, value));
        self
    }

    /// The bytes on the wire; without the body for a HEAD request.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut head = String::with_capacity(160);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.fields {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_with_fields() {
        let raw = b"GET /v1/resources/vip?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization:  Bearer  t0k \r\nX-A:\r\n\r\n";
        assert_eq!(head_end(raw), Some(raw.len()));
        assert_eq!(head_end(&raw[..raw.len() - 1]), None);
        let h = parse_head(raw).unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.target, "/v1/resources/vip?x=1");
        assert_eq!(h.path(), "/v1/resources/vip");
        assert_eq!(h.single("authorization"), Some(&b"Bearer  t0k"[..]));
        assert_eq!(h.single("x-a"), Some(&b""[..]));
        assert_eq!(h.single("missing"), None);
        let twice = b"HEAD / HTTP/1.0\r\nA: 1\r\na: 2\r\n\r\n";
        let h = parse_head(twice).unwrap();
        assert_eq!(h.method, Method::Head);
        assert_eq!(h.single("A"), None);
        assert_eq!(h.values("a").count(), 2);
        assert_eq!(
            parse_head(b"DELETE / HTTP/1.1\r\n\r\n").unwrap().method,
            Method::Other
        );
    }

    #[test]
    fn refusals_say_why() {
        for (raw, want) in [
            (&b"GET / HTTP/2.0\r\n\r\n"[..], HeadError::Version),
            (b"PRI * HTTP/2.0\r\n\r\n", HeadError::Version),
            (
                b"GET / HTTP/1.1\r\n\r\nbody",
                HeadError::Malformed("the head does not end with an empty line"),
            ),
            (
                b"GET /\r\n\r\n",
                HeadError::Malformed("the request line is not METHOD TARGET VERSION"),
            ),
            (
                b"GET  / HTTP/1.1\r\n\r\n",
                HeadError::Malformed("the request line is not METHOD TARGET VERSION"),
            ),
            (
                b"G(T / HTTP/1.1\r\n\r\n",
                HeadError::Malformed("the method is not a token"),
            ),
            (
                b"GET http://a/ HTTP/1.1\r\n\r\n",
                HeadError::Malformed("the target is not an absolute path"),
            ),
            (
                b"GET /\xff HTTP/1.1\r\n\r\n",
                HeadError::Malformed("the target is not an absolute path"),
            ),
            (
                b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n",
                HeadError::Malformed("a line ends without CR"),
            ),
            (
                b"GET / HTTP/1.1\r\nA : 1\r\n\r\n",
                HeadError::Malformed("a header name is not a token"),
            ),
            (
                b"GET / HTTP/1.1\r\nA: 1\r\n b\r\n\r\n",
                HeadError::Malformed("obsolete line folding"),
            ),
            (
                b"GET / HTTP/1.1\r\nA 1\r\n\r\n",
                HeadError::Malformed("a header line without a colon"),
            ),
            (
                b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n",
                HeadError::Malformed("a control byte in a header value"),
            ),
            (
                b"GET / HTTP/1.1\rX\r\n\r\n",
                HeadError::Malformed("a bare CR in the request line"),
            ),
            (
                b"",
                HeadError::Malformed("the head does not end with an empty line"),
            ),
        ] {
            assert_eq!(
                parse_head(raw),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_FIELDS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many), Err(HeadError::TooLarge));
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_head(&long), Err(HeadError::TooLarge));
        assert_eq!(HeadError::TooLarge.status(), 431);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in [
            &b"Bearer abc"[..],
            b"bearer abc",
            b"BEARER  abc ",
            b"bEaReR abc",
        ] {
            assert_eq!(bearer_token(v), Some(&b"abc"[..]), "{v:?}");
        }
        for v in [
            &b"Basic abc"[..],
            b"Bearerabc",
            b"Bearer",
            b"Bearer  ",
            b"Bear",
            b"",
        ] {
            assert_eq!(bearer_token(v), None, "{v:?}");
        }
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }

    #[test]
    fn a_response_closes_the_connection_and_head_has_no_body() {
        let r =
            Response::text(401, "a bearer token is required").with("WWW-Authenticate", "Bearer");
        let full = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{full}");
        assert!(full.contains("\r\nConnection: close\r\n"));
        assert!(full.contains("\r\nWWW-Authenticate: Bearer\r\n"));
        assert!(full.contains("\r\nContent-Length: 27\r\n"));
        assert!(full.ends_with("\r\n\r\na bearer token is required\n"));
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("Content-Length: 27\r\nCache-Control: no-store\r\nConnection: close\r\nWWW-Authenticate: Bearer\r\n\r\n"), "{head}");
    }
}
