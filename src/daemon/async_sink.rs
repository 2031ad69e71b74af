//! Where the daemon's events go: the status counters at once, and the
//! operator's sinks from a writer thread of their own, so that a slow
//! journal or disk never delays a recovery. Nothing is dropped: the writer
//! drains its channel before the daemon exits. The stepped daemon (tests)
//! writes inline instead, so events come out in a fixed order.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::status::Status;
use crate::events::{Event, EventSink};

pub struct AsyncSink {
    status: Arc<Status>,
    writer: Writer,
}

enum Writer {
    Thread {
        tx: Mutex<Option<Sender<Event>>>,
        handle: Mutex<Option<JoinHandle<()>>>,
    },
    Inline(Box<dyn EventSink>),
}

impl AsyncSink {
    /// Events reach `sink` from a writer thread.
    pub fn new(sink: Box<dyn EventSink>, status: Arc<Status>) -> Self {
        let (tx, rx) = channel::<Event>();
        let handle = std::thread::Builder::new()
            .name("ipkit-events".into())
            .spawn(move || {
                for e in rx {
                    sink.emit(&e);
                }
            })
            .ok();
        Self {
            status,
            writer: Writer::Thread {
                tx: Mutex::new(Some(tx)),
                handle: Mutex::new(handle),
            },
        }
    }

    /// Events reach `sink` at once, in the emitting thread.
    pub fn inline(sink: Box<dyn EventSink>, status: Arc<Status>) -> Self {
        Self {
            status,
            writer: Writer::Inline(sink),
        }
    }

    /// Write out what is queued and stop the writer.
    pub fn flush_and_close(&self) {
        if let Writer::Thread { tx, handle } = &self.writer {
            tx.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(w) = handle.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = w.join();
            }
        }
    }
}

impl EventSink for AsyncSink {
    fn emit(&self, event: &Event) {
        self.status.emit(event);
        match &self.writer {
            Writer::Inline(sink) => sink.emit(event),
            Writer::Thread { tx, .. } => {
                let g = tx.lock().unwrap_or_else(|e| e.into_inner());
                let sent = g.as_ref().is_some_and(|tx| tx.send(event.clone()).is_ok());
                if !sent {
                    // Closed (shutting down) or the writer died: still never lost.
                    eprintln!("{}", event.human());
                }
            }
        }
    }
}
