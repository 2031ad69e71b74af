//! The systemd journal sink: its native protocol over `/run/systemd/journal/socket`, with a stable MESSAGE_ID per catalog entry.

#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
#[cfg(unix)]
use std::path::PathBuf;
#[cfg(unix)]
use std::sync::Mutex;

#[cfg(unix)]
use super::FailOnce;
#[cfg(unix)]
use crate::events::EventSink;
use crate::events::{CATALOG, EXTRA_CATALOG, Event, Severity};

/// The journald socket (native protocol).
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The journal MESSAGE_ID of a catalog entry: a fixed 96-bit ipkit prefix,
/// then the event number as four decimal digits, then `000` and the syslog
/// priority of the severity (so the two 6605 entries differ). Example:
/// 6013 Information = `5e1c0a7d3b924f6e8a41c7d2` `6013` `0006`.
pub fn message_id(id: u16, severity: Severity) -> String {
    format!(
        "{MESSAGE_ID_PREFIX}{:04}{:04}",
        id,
        severity.syslog_priority()
    )
}

/// The 24 hex digits every ipkit MESSAGE_ID starts with.
pub const MESSAGE_ID_PREFIX: &str = "5e1c0a7d3b924f6e8a41c7d2";

/// Every (number, severity, MESSAGE_ID) of the catalog and its extension,
/// in catalog order (the README table is checked against it).
pub fn message_id_table() -> Vec<(u16, Severity, String)> {
    CATALOG
        .iter()
        .chain(EXTRA_CATALOG.iter())
        .map(|(n, s, _)| (*n, *s, message_id(*n, *s)))
        .collect()
}

/// Sends events to journald over its native protocol.
#[cfg(unix)]
pub struct JournalSink {
    path: PathBuf,
    socket: Mutex<Option<UnixDatagram>>,
    fail: FailOnce,
}

#[cfg(unix)]
impl JournalSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            socket: Mutex::new(None),
            fail: FailOnce::new("system journal"),
        }
    }

    fn send(&self, payload: &[u8]) -> io::Result<()> {
        let mut guard = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(UnixDatagram::unbound()?);
        }
        match guard.as_ref() {
            Some(sock) => sock.send_to(payload, &self.path).map(|_| ()),
            None => Err(io::Error::other("no socket")),
        }
    }
}

/// One journal entry in the native protocol. Values with a newline use the
/// binary form (name, `\n`, little-endian u64 length, value, `\n`).
pub fn journal_payload(event: &Event) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, name: &str, value: &str) {
        out.extend_from_slice(name.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
        } else {
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'\n');
    }
    let mut out = Vec::with_capacity(512);
    field(&mut out, "MESSAGE", &event.human());
    field(
        &mut out,
        "MESSAGE_ID",
        &message_id(event.id, event.severity),
    );
    field(
        &mut out,
        "PRIORITY",
        &event.severity.syslog_priority().to_string(),
    );
    field(&mut out, "SYSLOG_IDENTIFIER", "ipkit");
    field(&mut out, "IPKIT_EVENT", &event.id.to_string());
    field(&mut out, "IPKIT_SEVERITY", event.severity.as_str());
    if let Some(t) = &event.tag {
        field(&mut out, "IPKIT_TAG", t);
    }
    if let Some(a) = &event.address {
        field(&mut out, "IPKIT_ADDRESS", a);
    }
    if let Some(a) = &event.adapter {
        field(&mut out, "IPKIT_ADAPTER", a);
    }
    if let Some(o) = &event.operation {
        field(&mut out, "IPKIT_OPERATION", o.name());
    }
    if let Some(n) = &event.node {
        field(&mut out, "IPKIT_NODE", n);
    }
    if let Some(e) = &event.error {
        field(&mut out, "IPKIT_ERROR", e);
    }
    out
}

#[cfg(unix)]
impl EventSink for JournalSink {
    fn emit(&self, event: &Event) {
        if let Err(e) = self.send(&journal_payload(event)) {
            self.fail
                .report(&self.path.display().to_string(), &e, event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::log::testing::ev;
    use crate::resource::AdapterName;

    #[test]
    fn message_ids_are_distinct_and_128_bit() {
        let table = message_id_table();
        let mut ids: Vec<&String> = table.iter().map(|(_, _, id)| id).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "MESSAGE_IDs must be unique");
        assert_eq!(
            message_id(6013, Severity::Information),
            "5e1c0a7d3b924f6e8a41c7d260130006"
        );
        assert_ne!(
            message_id(6605, Severity::Information),
            message_id(6605, Severity::Error)
        );
    }

    #[test]
    fn journal_payload_has_the_fields() {
        let e = ev(Kind::CableDisconnected {
            nic: AdapterName::new("eth0").unwrap(),
        });
        let text = String::from_utf8(journal_payload(&e)).unwrap();
        for want in [
            "MESSAGE=Error 6507 Network cable for IP address 198.51.100.10 on network adapter eth0 is disconnected !.\n",
            "MESSAGE_ID=5e1c0a7d3b924f6e8a41c7d265070003\n",
            "PRIORITY=3\n",
            "SYSLOG_IDENTIFIER=ipkit\n",
            "IPKIT_EVENT=6507\n",
            "IPKIT_TAG=vip\n",
            "IPKIT_ADDRESS=198.51.100.10/24\n",
            "IPKIT_ADAPTER=eth0\n",
            "IPKIT_OPERATION=restore\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in {text}");
        }
    }

    #[test]
    fn journal_binary_form_for_newlines() {
        let mut e = ev(Kind::RestoreStart);
        e.error = Some("a\nb".into());
        let p = journal_payload(&e);
        let needle = b"IPKIT_ERROR\n\x03\0\0\0\0\0\0\0a\nb\n";
        assert!(p.windows(needle.len()).any(|w| w == needle));
    }

    #[cfg(unix)]
    #[test]
    fn journal_sink_delivers_to_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("journal.sock");
        let server = UnixDatagram::bind(&sock).unwrap();
        let sink = JournalSink::new(&sock);
        sink.emit(&ev(Kind::RestoreStart));
        let mut buf = vec![0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.contains("IPKIT_EVENT=6013\n"), "{text}");
    }
}
