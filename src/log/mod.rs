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

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::events::{Event, EventSink, Fanout, StderrSink};

pub mod event_log;
mod journal;
mod jsonl;
mod read;
mod syslog;

#[cfg(unix)]
pub use journal::JournalSink;
pub use journal::{
    JOURNAL_SOCKET, MESSAGE_ID_PREFIX, journal_payload, message_id, message_id_table,
};
pub use jsonl::{DEFAULT_KEEP, DEFAULT_MAX_BYTES, EVENT_LOG_NAME, JsonLogSink, rotated_path};
pub use read::{BadLine, Follower, parse_lines, read_all, read_log};
#[cfg(unix)]
pub use syslog::SyslogSink;
pub use syslog::{SYSLOG_SOCKET, syslog_line};

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
pub(crate) struct FailOnce {
    what: &'static str,
    pub(crate) reported: AtomicBool,
}

impl FailOnce {
    pub(crate) const fn new(what: &'static str) -> Self {
        Self {
            what,
            reported: AtomicBool::new(false),
        }
    }

    pub(crate) fn report(&self, target: &str, err: &io::Error, event: &Event) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "ipkit: cannot write events to the {} ({target}): {err}; this event and later ones are still on the other sinks: {}",
                self.what,
                event.human()
            );
        }
    }
}

/// What the sinks' tests share: a resource and an event about it.
#[cfg(test)]
mod testing {
    use std::time::SystemTime;

    use crate::events::{Event, Kind};
    use crate::resource::{Definition, Operation};

    pub fn def() -> Definition {
        crate::resource::sample_definition(false)
    }

    pub fn ev(kind: Kind) -> Event {
        Event::about(&def(), Operation::Restore, "n1", &kind, SystemTime::now())
    }
}
