//! The syslog sink: RFC 3164 lines, facility daemon, over `/dev/log`.

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
use crate::events::Event;
#[cfg(unix)]
use crate::events::EventSink;

/// The syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Sends events to the syslog socket (RFC 3164, facility daemon).
#[cfg(unix)]
pub struct SyslogSink {
    path: PathBuf,
    socket: Mutex<Option<UnixDatagram>>,
    fail: FailOnce,
}

/// syslog facility "daemon".
const LOG_DAEMON: u8 = 3 << 3;

#[cfg(unix)]
impl SyslogSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            socket: Mutex::new(None),
            fail: FailOnce::new("syslog socket"),
        }
    }
}

/// `<PRI>Mmm dd hh:mm:ss ipkit[pid]: Information 6013 ...`
pub fn syslog_line(event: &Event) -> String {
    let t = time::OffsetDateTime::from(event.time);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[usize::from(u8::from(t.month())) - 1];
    format!(
        "<{}>{} {:>2} {:02}:{:02}:{:02} ipkit[{}]: {}",
        LOG_DAEMON + event.severity.syslog_priority(),
        month,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        std::process::id(),
        event.human()
    )
}

#[cfg(unix)]
impl EventSink for SyslogSink {
    fn emit(&self, event: &Event) {
        let line = syslog_line(event);
        let result = (|| {
            let mut guard = self.socket.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                *guard = Some(UnixDatagram::unbound()?);
            }
            match guard.as_ref() {
                Some(sock) => sock.send_to(line.as_bytes(), &self.path).map(|_| ()),
                None => Err(io::Error::other("no socket")),
            }
        })();
        if let Err(e) = result {
            self.fail
                .report(&self.path.display().to_string(), &e, event);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::log::testing::ev;

    #[test]
    fn syslog_sink_delivers_to_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&sock).unwrap();
        SyslogSink::new(&sock).emit(&ev(Kind::RestoreFailed));
        let mut buf = vec![0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(text.starts_with("<27>"), "{text}");
        assert!(
            text.ends_with("]: Error 6002 Restore IP Address 198.51.100.10 Failed"),
            "{text}"
        );
    }
}
