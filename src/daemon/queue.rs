//! The job queue between the event loop and the worker threads, and the
//! workers themselves: each takes the next job, runs it with its own kernel
//! handle, and reports back to the loop. Event-triggered work jumps the
//! queue. A batch (the checks of one adapter's cable loss, or the
//! deepChecks due at once, issue 11) is one piece of work, run by one
//! worker, with one report per member.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::control::{Control, Message};
use super::executor::Executor;
use super::policy::{Job, Report};
use crate::net::Kernel;
use crate::resource::{Definition, Tag};

/// What one worker runs at a time.
pub enum Work {
    /// One job for one resource.
    One { def: Box<Definition>, job: Job },
    /// The checks of a batch, each member with whether it may recover.
    Batch(Vec<(Definition, bool)>),
    /// The deepChecks due at once (issue 11).
    DeepChecks(Vec<Definition>),
}

impl Work {
    /// How many resources it reports on.
    pub fn len(&self) -> usize {
        match self {
            Work::One { .. } => 1,
            Work::Batch(members) => members.len(),
            Work::DeepChecks(defs) => defs.len(),
        }
    }

    /// Run it to its end: one report per resource.
    pub fn run(self, executor: &Executor, kernel: &dyn Kernel) -> Vec<(Tag, Report)> {
        match self {
            Work::One { def, job } => {
                let report = executor.run(kernel, &def, job);
                vec![(def.tag, report)]
            }
            Work::Batch(members) => {
                let batch: Vec<(&Definition, bool)> = members
                    .iter()
                    .map(|(def, recover)| (def, *recover))
                    .collect();
                let reports = executor.check_batch(kernel, &batch);
                members
                    .into_iter()
                    .map(|(def, _)| def.tag)
                    .zip(reports)
                    .collect()
            }
            Work::DeepChecks(defs) => {
                let batch: Vec<&Definition> = defs.iter().collect();
                let reports = executor.deep_check_batch(kernel, &batch);
                defs.into_iter().map(|def| def.tag).zip(reports).collect()
            }
        }
    }
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
            while let Some(work) = queue.pop() {
                for (tag, report) in work.run(&executor, kernel.as_ref()) {
                    inbox.send(Message::Done { tag, report });
                }
            }
        })
}
