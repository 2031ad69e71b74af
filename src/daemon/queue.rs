//! The job queue between the event loop and the worker threads, and the
//! workers themselves: each takes the next job, runs it with its own kernel
//! handle, and reports back to the loop. Event-triggered work jumps the
//! queue.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::event_loop::{Control, Message};
use super::executor::Executor;
use super::policy::Job;
use crate::net::Kernel;
use crate::resource::Definition;

/// One job for one resource.
pub struct Work {
    pub def: Definition,
    pub job: Job,
}

/// Work waiting for a worker.
#[derive(Default)]
pub struct Queue {
    /// The waiting work, and whether the queue is closed.
    items: Mutex<(VecDeque<Work>, bool)>,
    ready: Condvar,
}

impl Queue {
    pub fn push(&self, w: Work, urgent: bool) {
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if urgent {
            g.0.push_front(w);
        } else {
            g.0.push_back(w);
        }
        self.ready.notify_one();
    }

    /// Next work item; None once closed.
    fn pop(&self) -> Option<Work> {
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if g.1 {
                return None;
            }
            if let Some(w) = g.0.pop_front() {
                return Some(w);
            }
            g = self.ready.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Drop what has not started and let the workers end.
    pub fn close(&self) -> Vec<Work> {
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        g.1 = true;
        self.ready.notify_all();
        g.0.drain(..).collect()
    }
}

/// Start a worker thread that runs jobs from `queue` with `kernel` and
/// tells the loop through `inbox` when each is done.
pub fn start_worker(
    index: usize,
    queue: Arc<Queue>,
    executor: Arc<Executor>,
    kernel: Box<dyn Kernel>,
    inbox: Control,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("ipkit-worker-{index}"))
        .spawn(move || {
            while let Some(w) = queue.pop() {
                let tag = w.def.tag.clone();
                let report = executor.run(kernel.as_ref(), &w.def, w.job);
                inbox.send(Message::Done { tag, report });
            }
        })
}
