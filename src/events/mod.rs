//! The numbered event catalog of SPEC §3, the event record, and sinks.
//!
//! Number, severity and wording are a compatibility contract: operators
//! grep for them. [`Kind::render`] produces the exact catalog text; the unit
//! tests compare every entry with SPEC §3 character for character.
//!
//! Events beyond the seed's use numbers outside 6000–6999 (7xxx), with the
//! same structure; they are listed in [`EXTRA_CATALOG`].
//!
//! Files: [`kind`] (one variant per catalog entry and its rendering),
//! [`catalog`] (the numbers, severities and wording); this file holds the
//! event record and the sinks.

use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::resource::{Definition, Operation, Tag};

mod catalog;
mod kind;

pub use catalog::{CATALOG, EXTRA_CATALOG};
pub use kind::{Kind, Subject};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Severity {
    Information,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Information => "Information",
            Severity::Warning => "Warning",
            Severity::Error => "Error",
        }
    }

    /// syslog / journald PRIORITY.
    pub fn syslog_priority(self) -> u8 {
        match self {
            Severity::Information => 6,
            Severity::Warning => 4,
            Severity::Error => 3,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One emitted event with its structured fields (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "crate::resource::rfc3339")]
    pub time: SystemTime,
    pub id: u16,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub message: String,
}

impl Event {
    /// An event about a resource.
    pub fn about(
        def: &Definition,
        op: Operation,
        node: &str,
        kind: &Kind,
        time: SystemTime,
    ) -> Self {
        let node_field = match kind {
            Kind::StandbyCableDisconnected { node, .. } => node.clone(),
            _ => node.to_owned(),
        };
        Self {
            time,
            id: kind.id(),
            severity: kind.severity(),
            tag: Some(def.tag.to_string()),
            address: Some(def.address.to_string()),
            adapter: kind.adapter().map(|a| a.to_string()),
            node: Some(node_field),
            operation: Some(op),
            error: kind.error(),
            message: kind.render(&Subject::of(def)),
        }
    }

    /// An event about the daemon itself (no resource).
    pub fn daemon(node: &str, kind: &Kind, time: SystemTime) -> Self {
        let subject = Subject {
            tag: "",
            ip: IpAddr::from([0, 0, 0, 0]),
            mask: String::new(),
        };
        Self {
            time,
            id: kind.id(),
            severity: kind.severity(),
            tag: None,
            address: None,
            adapter: None,
            node: Some(node.to_owned()),
            operation: Some(Operation::Daemon),
            error: kind.error(),
            message: kind.render(&subject),
        }
    }

    /// The human form: `Information 6013 Restore IP Address 198.51.100.10 Start`.
    pub fn human(&self) -> String {
        format!("{} {} {}", self.severity, self.id, self.message)
    }

    pub fn tag_is(&self, tag: &Tag) -> bool {
        self.tag.as_deref() == Some(tag.as_str())
    }
}

/// Where events go. Sinks must never lose an event silently: a sink that
/// cannot deliver reports it on stderr (SPEC §7).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);
}

/// Collects events in memory (tests, and operations that report their
/// events to their caller).
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl EventSink for Recorder {
    fn emit(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

/// Sends every event to several sinks, in order.
#[derive(Default)]
pub struct Fanout {
    sinks: Vec<Box<dyn EventSink>>,
}

impl Fanout {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, sink: impl EventSink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    pub fn push(&mut self, sink: Box<dyn EventSink>) {
        self.sinks.push(sink);
    }
}

impl EventSink for Fanout {
    fn emit(&self, event: &Event) {
        for s in &self.sinks {
            s.emit(event);
        }
    }
}

impl<T: EventSink + ?Sized> EventSink for std::sync::Arc<T> {
    fn emit(&self, event: &Event) {
        (**self).emit(event)
    }
}

/// Writes the human form to stderr.
pub struct StderrSink;

impl EventSink for StderrSink {
    fn emit(&self, event: &Event) {
        eprintln!("{}", event.human());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def4() -> Definition {
        crate::resource::sample_definition(true)
    }

    #[test]
    fn event_record_round_trips_as_json() {
        let d = def4();
        let e = Event::about(
            &d,
            Operation::Restore,
            "node1",
            &Kind::RestoreStart,
            SystemTime::UNIX_EPOCH,
        );
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.contains("\"time\":\"1970-01-01T00:00:00Z\""), "{line}");
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            e.human(),
            "Information 6013 Restore IP Address 198.51.100.10 Start"
        );
    }
}
