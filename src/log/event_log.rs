//! Events to the Windows Event Log (SPEC §2 "Windows event log", issue
//! 13): the Application log, source `ipkit`, one entry per event with the
//! event ID equal to the catalog number and the entry type equal to the
//! severity — where the seed's operators look for 6507. The entry's text
//! is the event's own text, then its structured fields one per line.
//!
//! The text and the type are built here on every platform (and tested on
//! Linux too); the sink itself needs Windows.

use crate::events::{Event, Severity};

/// The event source name in the Application log.
pub const SOURCE: &str = "ipkit";

/// The entry type for a severity (`EVENTLOG_*_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Error,
    Warning,
    Information,
}

pub fn entry_kind(severity: Severity) -> EntryKind {
    match severity {
        Severity::Error => EntryKind::Error,
        Severity::Warning => EntryKind::Warning,
        Severity::Information => EntryKind::Information,
    }
}

/// The entry's text: the event's message, then `name: value` for each
/// structured field it has.
pub fn entry_text(event: &Event) -> String {
    let mut text = event.message.clone();
    let fields = [
        ("tag", event.tag.clone()),
        ("address", event.address.clone()),
        ("adapter", event.adapter.clone()),
        ("operation", event.operation.map(|o| o.name().to_owned())),
        ("node", event.node.clone()),
        ("error", event.error.clone()),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            text.push_str(&format!("\r\n{name}: {v}"));
        }
    }
    text
}

#[cfg(windows)]
pub use sink::EventLogSink;

#[cfg(windows)]
mod sink {
    use std::sync::Mutex;

    use super::{EntryKind, SOURCE, entry_kind, entry_text};
    use crate::events::{Event, EventSink};
    use crate::sys::windows::event_log::{EntryType, EventSource};

    /// Reports events to the Application log; a failure is said once on
    /// stderr and tried again with the next event.
    pub struct EventLogSink {
        source: Mutex<Option<EventSource>>,
        fail: super::super::FailOnce,
    }

    impl Default for EventLogSink {
        fn default() -> Self {
            Self::new()
        }
    }

    impl EventLogSink {
        pub fn new() -> Self {
            Self {
                source: Mutex::new(None),
                fail: super::super::FailOnce::new("Windows Event Log"),
            }
        }
    }

    impl EventSink for EventLogSink {
        fn emit(&self, event: &Event) {
            let kind = match entry_kind(event.severity) {
                EntryKind::Error => EntryType::Error,
                EntryKind::Warning => EntryType::Warning,
                EntryKind::Information => EntryType::Information,
            };
            let result = (|| {
                let mut guard = self.source.lock().unwrap_or_else(|e| e.into_inner());
                if guard.is_none() {
                    *guard = Some(EventSource::register(SOURCE)?);
                }
                match guard.as_ref() {
                    Some(source) => source.report(kind, u32::from(event.id), &entry_text(event)),
                    None => Err(std::io::Error::other("no event source")),
                }
            })();
            if let Err(e) = result {
                self.fail.report(SOURCE, &e, event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::resource::{AdapterName, Definition, Operation};

    #[test]
    fn the_entry_is_the_catalog_number_severity_and_text_with_fields() {
        let def = Definition::new(
            crate::resource::Tag::new("vip").unwrap(),
            "198.51.100.10/24".parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            None,
        )
        .unwrap();
        let ev = Event::about(
            &def,
            Operation::QuickCheck,
            "node-a",
            &Kind::CableDisconnected {
                nic: AdapterName::new("eth0").unwrap(),
            },
            std::time::SystemTime::UNIX_EPOCH,
        );
        assert_eq!(ev.id, 6507);
        assert_eq!(entry_kind(ev.severity), EntryKind::Error);
        let text = entry_text(&ev);
        assert!(
            text.starts_with(
                "Network cable for IP address 198.51.100.10 on network adapter eth0 is disconnected !."
            ),
            "{text}"
        );
        assert!(text.contains("\r\ntag: vip\r\n"), "{text}");
        assert!(text.contains("\r\noperation: quickCheck"), "{text}");
        assert_eq!(entry_kind(Severity::Warning), EntryKind::Warning);
        assert_eq!(entry_kind(Severity::Information), EntryKind::Information);
    }
}
