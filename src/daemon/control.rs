//! What other threads send the event loop (job reports, reload, stop, the
//! watchdog's ping) and [`Control`], the handle they send it through.

use std::sync::mpsc::{Sender, SyncSender};
use std::time::Duration;

use super::policy::Report;
use crate::net::Waker;
use crate::resource::Tag;

/// What reaches the loop from other threads.
pub(super) enum Message {
    Done {
        tag: Tag,
        report: Report,
    },
    Reload,
    Stop,
    /// The watchdog's question: answered when the loop next reads its
    /// messages, i.e. after a whole turn.
    Ping(SyncSender<()>),
}

/// Asks a running daemon to reload or stop (cheap to clone, e.g. into a
/// signal thread).
#[derive(Clone)]
pub struct Control {
    tx: Sender<Message>,
    waker: Waker,
}

impl Control {
    pub(super) fn new(tx: Sender<Message>, waker: Waker) -> Self {
        Self { tx, waker }
    }

    /// SIGHUP: reload the definitions (addresses stay where they are).
    pub fn reload(&self) {
        self.send(Message::Reload);
    }

    /// SIGTERM: stop cleanly.
    pub fn stop(&self) {
        self.send(Message::Stop);
    }

    /// Whether the loop reads its messages within `within`: the health
    /// check behind the systemd watchdog (docs/daemon.md "systemd").
    pub fn answers_within(&self, within: Duration) -> bool {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.send(Message::Ping(answer));
        answered.recv_timeout(within).is_ok()
    }

    pub(super) fn send(&self, message: Message) {
        let _ = self.tx.send(message);
        self.waker.wake();
    }
}
