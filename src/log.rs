//! Event sinks for operators (issue 4, SPEC §2 "Windows event log"): the
//! system journal, syslog, the JSON-lines event log (with rotation), stderr.
//!
//! [`standard_sinks`] builds what every face of ipkit uses:
//! - the **systemd journal** over its native protocol
//!   (`/run/systemd/journal/socket`) when that socket exists, with a stable
//!   `MESSAGE_ID` per catalog entry ([`message_id`]), `PRIORITY` from the
//!   severity and the fields `IPKIT_EVENT`, `IPKIT_TAG`, `IPKIT_ADDRESS`,
//!   `IPKIT_ADAPTER`, `IPKIT_OPERATION`, `IPKIT_NODE`, `IPKIT_ERROR`,
//!   `SYSLOG_IDENTIFIER=ipkit`;
//! - otherwise **syslog** via `/dev/log` (RFC 3164 form, facility daemon)
//!   when that socket exists;
//! - always the **JSON-lines event log** `<state_dir>/events.jsonl`: one
//!   [`Event`] per line, appended with a single `write` under an advisory
//!   lock, capped at [`DEFAULT_MAX_BYTES`] and rotated to `events.jsonl.1`
//!   .. `events.jsonl.N` ([`DEFAULT_KEEP`] files), oldest dropped;
//! - **stderr** in the human form
//!   `Information 6013 Restore IP Address 198.51.100.10 Start` if asked.
//!
//! A sink that cannot deliver says so once on stderr and keeps trying for
//! later events; no event is silently dropped (SPEC §7).
//!
//! The log files are created mode 0640 whatever the umask, and are never
//! written or read through a symbolic link (issue 10): the store's file
//! primitives open them (`crate::store::fs`).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::events::{CATALOG, EXTRA_CATALOG, Event, EventSink, Fanout, Severity, StderrSink};
use crate::store::FileKind;
use crate::store::fs::{self as files, FileId};

pub mod event_log;

/// The journald socket (native protocol).
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// The syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";
/// Size at which `events.jsonl` is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// How many rotated files (`events.jsonl.1` .. `.N`) are kept.
pub const DEFAULT_KEEP: u32 = 5;
/// The file name of the JSON-lines log inside the state directory.
pub const EVENT_LOG_NAME: &str = "events.jsonl";

/// The sinks every face of ipkit uses (see the module doc).
pub fn standard_sinks(state_dir: &Path, to_stderr: bool) -> Fanout {
    let mut fan = Fanout::new();
    if let Some(system) = system_sink() {
        fan.push(system);
    }
    fan.push(Box::new(JsonLogSink::new(state_dir.join(EVENT_LOG_NAME))));
    if to_stderr {
        fan.push(Box::new(StderrSink));
    }
    fan
}

/// The system's own log: the journal, else syslog.
#[cfg(unix)]
fn system_sink() -> Option<Box<dyn EventSink>> {
    if Path::new(JOURNAL_SOCKET).exists() {
        Some(Box::new(JournalSink::new(JOURNAL_SOCKET)))
    } else if Path::new(SYSLOG_SOCKET).exists() {
        Some(Box::new(SyslogSink::new(SYSLOG_SOCKET)))
    } else {
        None
    }
}

/// The system's own log: the Windows Event Log (docs/windows.md).
#[cfg(windows)]
fn system_sink() -> Option<Box<dyn EventSink>> {
    Some(Box::new(event_log::EventLogSink::new()))
}

/// Reports a sink's failure on stderr the first time only.
struct FailOnce {
    what: &'static str,
    reported: AtomicBool,
}

impl FailOnce {
    const fn new(what: &'static str) -> Self {
        Self {
            what,
            reported: AtomicBool::new(false),
        }
    }

    fn report(&self, target: &str, err: &io::Error, event: &Event) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "ipkit: cannot write events to the {} ({target}): {err}; this event and later ones are still on the other sinks: {}",
                self.what,
                event.human()
            );
        }
    }
}

// ---------------------------------------------------------------- journal

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

// ----------------------------------------------------------------- syslog

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

// ---------------------------------------------------------- JSON-lines log

/// Appends events to `events.jsonl`, rotating it at a size cap.
///
/// Several processes (the daemon, command lines, the OCF agent) append to
/// the same file. Each event is one `write(2)` of a whole line on an
/// `O_APPEND` descriptor, made under an exclusive `flock` of the file; the
/// writer that finds the file at its cap rotates it
/// (`.N-1` → `.N`, …, `events.jsonl` → `.1`) while holding the lock. A
/// writer that waited for the lock checks that its descriptor is still the
/// file at the path, and reopens it if a rotation happened meanwhile.
pub struct JsonLogSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    fail: FailOnce,
    guard: Mutex<()>,
}

impl JsonLogSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_limits(path, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
    }

    pub fn with_limits(path: impl Into<PathBuf>, max_bytes: u64, keep: u32) -> Self {
        Self {
            path: path.into(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            fail: FailOnce::new("JSON event log"),
            guard: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_locked(&self) -> io::Result<File> {
        loop {
            let file = files::open_append(&self.path, FileKind::EventLog)?;
            files::lock(&file)?;
            // Still the file at the path? (Another writer may have rotated it
            // while we waited for the lock.)
            let ours = files::file_id(&file)?;
            if files::path_id(&self.path) == Some(ours) {
                return Ok(file);
            }
        }
    }

    fn rotate(&self) -> io::Result<()> {
        let name = |n: u32| rotated_path(&self.path, n);
        // Drop the oldest, shift the rest up by one.
        match fs::remove_file(name(self.keep)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for n in (1..self.keep).rev() {
            match fs::rename(name(n), name(n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        fs::rename(&self.path, name(1))
    }

    /// Append one event (exposed for tests and the daemon).
    pub fn append(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let _g = self.guard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = self.path.parent() {
            files::create_dir_all(dir)?;
        }
        let mut file = self.open_locked()?;
        let size = file.metadata()?.len();
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
            // The lock on the old file keeps other writers waiting; they
            // will notice the new inode and reopen.
            let fresh = self.open_locked()?;
            drop(file);
            file = fresh;
        }
        file.write_all(&line)?;
        file.flush()
    }
}

impl EventSink for JsonLogSink {
    fn emit(&self, event: &Event) {
        if let Err(e) = self.append(event) {
            self.fail
                .report(&self.path.display().to_string(), &e, event);
        }
    }
}

/// `events.jsonl.N`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// A line of the log that is not an event (e.g. cut short by a full disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// Every event in the log, oldest first: `events.jsonl.N` .. `.1`, then
/// `events.jsonl`. Unparsable lines are returned apart, never hidden.
pub fn read_all(path: &Path) -> io::Result<(Vec<Event>, Vec<BadLine>)> {
    read_log(path).map(|(events, bad, _)| (events, bad))
}

/// The events in `text` (the bytes of one log file, `file`), and the lines
/// that are not events. The parser every line of the log goes through;
/// public for the fuzzer (`fuzz/`).
#[doc(hidden)]
pub fn parse_lines(file: &Path, text: &[u8], events: &mut Vec<Event>, bad: &mut Vec<BadLine>) {
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(ev) => events.push(ev),
            Err(e) => bad.push(BadLine {
                file: file.to_owned(),
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
}

/// [`read_all`], plus a [`Follower`] that continues exactly where the
/// reading stopped (no event is printed twice or missed between the two).
pub fn read_log(path: &Path) -> io::Result<(Vec<Event>, Vec<BadLine>, Follower)> {
    // The live file first: a rotation after this point moves it to .1,
    // which is then recognised by its inode and not read twice.
    let mut live = match files::open_read(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let live_id = match &live {
        Some(f) => Some(files::file_id(f)?),
        None => None,
    };
    let mut rotated: Vec<PathBuf> = Vec::new();
    let mut n = 1;
    while let Some(id) = files::path_id(&rotated_path(path, n)) {
        if Some(id) != live_id {
            rotated.push(rotated_path(path, n));
        }
        n += 1;
    }
    rotated.reverse();
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for f in rotated {
        match files::open_read(&f).and_then(|mut file| {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map(|_| bytes)
        }) {
            Ok(bytes) => parse_lines(&f, &bytes, &mut events, &mut bad),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut pending = Vec::new();
    if let Some(f) = live.as_mut() {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        // A last line without its newline is still being written: the
        // follower completes it.
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        pending = bytes.split_off(complete);
        parse_lines(path, &bytes, &mut events, &mut bad);
    }
    let follower = Follower {
        path: path.to_owned(),
        file: live,
        ino: live_id,
        pending,
    };
    Ok((events, bad, follower))
}

/// Tails `events.jsonl` from its current end, across rotations: when the
/// path names a new file, the rest of the old one is read first.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: Option<FileId>,
    pending: Vec<u8>,
}

impl Follower {
    /// Start at the current end of the log (or at the start of a log that
    /// does not exist yet).
    pub fn from_end(path: &Path) -> Self {
        let mut f = Self {
            path: path.to_owned(),
            file: None,
            ino: None,
            pending: Vec::new(),
        };
        if let Ok(mut file) = files::open_read(path)
            && let Ok(id) = files::file_id(&file)
            && file.seek(SeekFrom::End(0)).is_ok()
        {
            f.ino = Some(id);
            f.file = Some(file);
        }
        f
    }

    fn drain(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.read_to_end(&mut self.pending)?;
        }
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            if let Ok(ev) = serde_json::from_slice::<Event>(&line) {
                out.push(ev);
            }
        }
        Ok(())
    }

    /// New events since the last call (never blocks).
    pub fn poll(&mut self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        self.drain(&mut out)?;
        let now = files::path_id(&self.path);
        if now.is_some() && now != self.ino {
            // Rotated (or created): the old file was finished above. Files
            // rotated in between (newer than ours, older than the current
            // one) are read whole, then the new file from its start.
            self.pending.clear();
            let mut newer = Vec::new();
            let mut n = 1;
            loop {
                let p = rotated_path(&self.path, n);
                let Some(id) = files::path_id(&p) else {
                    break;
                };
                if Some(id) == self.ino {
                    break;
                }
                newer.push(p);
                n += 1;
            }
            if self.ino.is_none() {
                newer.clear();
            }
            for p in newer.iter().rev() {
                if let Ok(file) = files::open_read(p) {
                    self.file = Some(file);
                    self.drain(&mut out)?;
                    self.pending.clear();
                }
            }
            match files::open_read(&self.path) {
                Ok(file) => {
                    self.ino = files::file_id(&file).ok();
                    self.file = Some(file);
                    self.drain(&mut out)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::resource::{AdapterName, Definition, Operation};
    use std::time::SystemTime;

    fn def() -> Definition {
        crate::resource::sample_definition(false)
    }

    fn ev(kind: Kind) -> Event {
        Event::about(&def(), Operation::Restore, "n1", &kind, SystemTime::now())
    }

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

    #[cfg(unix)]
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

    #[test]
    fn json_log_appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sink = JsonLogSink::new(&path);
        sink.emit(&ev(Kind::RestoreStart));
        sink.emit(&ev(Kind::RestoreSucceeded));
        let (events, bad) = read_all(&path).unwrap();
        assert!(bad.is_empty());
        assert_eq!(
            events.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![6013, 6001]
        );
    }

    #[test]
    fn json_log_rotates_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let one = serde_json::to_vec(&ev(Kind::RestoreStart)).unwrap().len() as u64 + 1;
        // Room for two events per file, three rotated files.
        let sink = JsonLogSink::with_limits(&path, 2 * one + 10, 3);
        for _ in 0..20 {
            sink.append(&ev(Kind::RestoreStart)).unwrap();
        }
        assert!(rotated_path(&path, 3).exists());
        assert!(!rotated_path(&path, 4).exists());
        for p in [
            path.clone(),
            rotated_path(&path, 1),
            rotated_path(&path, 2),
            rotated_path(&path, 3),
        ] {
            assert!(fs::metadata(&p).unwrap().len() <= 2 * one + 10, "{p:?}");
        }
        let (events, _) = read_all(&path).unwrap();
        assert_eq!(events.len(), 8, "4 files of 2 events each are kept");
    }

    #[test]
    fn json_log_failure_is_reported_not_panicking() {
        let dir = tempfile::tempdir().unwrap();
        // The log path is a directory: every append fails.
        let path = dir.path().join("events.jsonl");
        fs::create_dir(&path).unwrap();
        let sink = JsonLogSink::new(&path);
        assert!(sink.append(&ev(Kind::RestoreStart)).is_err());
        sink.emit(&ev(Kind::RestoreStart));
        assert!(sink.fail.reported.load(Ordering::Relaxed));
    }

    #[cfg(unix)]
    #[test]
    fn json_log_is_never_appended_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "untouched\n").unwrap();
        let path = dir.path().join("events.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = JsonLogSink::new(&path)
            .append(&ev(Kind::RestoreStart))
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(e.to_string().contains("events.jsonl"), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched\n");
    }

    #[test]
    fn follower_tails_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let one = serde_json::to_vec(&ev(Kind::RestoreStart)).unwrap().len() as u64 + 1;
        let sink = JsonLogSink::with_limits(&path, 2 * one + 10, 5);
        sink.append(&ev(Kind::RestoreStart)).unwrap();
        let mut f = Follower::from_end(&path);
        assert!(f.poll().unwrap().is_empty(), "starts at the end");
        sink.append(&ev(Kind::RestoreSucceeded)).unwrap();
        assert_eq!(
            f.poll().unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![6001]
        );
        // The followed file is full: 6101 rotates it to .1 and starts a new
        // file, 6102 joins it, 6605 rotates again. Between two polls the
        // followed file moved twice; nothing may be missed.
        sink.append(&ev(Kind::RemoveSucceeded)).unwrap();
        sink.append(&ev(Kind::RemoveFailed)).unwrap();
        sink.append(&ev(Kind::RecoverStart)).unwrap();
        assert!(rotated_path(&path, 2).exists());
        let got: Vec<u16> = f.poll().unwrap().iter().map(|e| e.id).collect();
        assert_eq!(got, vec![6101, 6102, 6605]);
    }

    #[test]
    fn read_log_then_follow_misses_nothing_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sink = JsonLogSink::new(&path);
        sink.append(&ev(Kind::RestoreStart)).unwrap();
        // Half a line: a writer in the middle of its write.
        let line = serde_json::to_vec(&ev(Kind::RestoreSucceeded)).unwrap();
        let (first, rest) = line.split_at(10);
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(first)
            .unwrap();
        let (events, bad, mut f) = read_log(&path).unwrap();
        assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![6013]);
        assert!(bad.is_empty(), "{bad:?}");
        let mut tail = rest.to_vec();
        tail.push(b'\n');
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        sink.append(&ev(Kind::RemoveSucceeded)).unwrap();
        assert_eq!(
            f.poll().unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![6001, 6101]
        );
        assert!(f.poll().unwrap().is_empty());
    }

    #[test]
    fn follower_sees_a_log_created_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = Follower::from_end(&path);
        assert!(f.poll().unwrap().is_empty());
        JsonLogSink::new(&path)
            .append(&ev(Kind::RestoreStart))
            .unwrap();
        assert_eq!(f.poll().unwrap().len(), 1);
    }
}
