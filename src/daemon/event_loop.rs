//! The daemon's event loop: reported changes and job results in, the
//! policy's job requests out, to the workers or run inline.
//!
//! One loop thread owns the [`ChangeSource`] and the [`Policy`]. It waits in
//! [`ChangeSource::wait`] with the policy's next deadline as the timeout (on
//! Linux: one `poll(2)`), so a carrier loss is acted on the moment the
//! kernel reports it, and an idle daemon does not wake up between
//! deadlines. Worker completions, reload and stop end the wait through the
//! source's [`Waker`](crate::net::Waker).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::Duration;

use super::api::Api;
use super::control::Message;
use super::executor::Executor;
use super::policy::{Input, Job, JobRequest, Ms, Policy, Report, Trigger};
use super::queue::{Queue, Work};
use super::status::AdapterEntry;
use super::wire_watch::ClaimWatch;
use crate::config::OnStop;
use crate::events::Kind;
use crate::net::{Backend, Change, ChangeSource, Kernel, LinkStatus};
use crate::resource::{AdapterName, ConflictRecord, Definition, Tag};
use crate::store::{Store, StoreError};

/// At most this many deepChecks in one piece of work: their locks are held
/// together, one descriptor each, and a worker is not kept from the rest
/// for long (the policy starts no more at once).
const DEEP_BATCH: usize = super::policy::DEEP_AT_ONCE;

/// Where jobs run.
pub(super) enum Jobs {
    /// On worker threads, through the queue.
    Workers {
        queue: Arc<Queue>,
        threads: Vec<JoinHandle<()>>,
    },
    /// In the loop's thread, at once, with this kernel handle.
    Inline(Box<dyn Kernel>),
}

pub(super) struct EventLoop {
    pub executor: Arc<Executor>,
    pub policy: Policy,
    pub defs: BTreeMap<Tag, Definition>,
    /// The clock's monotonic reading at start: the policy's time 0.
    pub origin: Duration,
    pub changes: Box<dyn ChangeSource>,
    pub inbox: Receiver<Message>,
    pub api: Option<Api>,
    pub jobs: Jobs,
    /// Opens the kernel handle for `on_stop = "remove"`.
    pub backend: Arc<dyn Backend>,
    pub on_stop: OnStop,
    pub in_flight: usize,
    /// Jobs already done (inline, or answered from the snapshot), to be fed
    /// back to the policy as `Done`.
    pub finished: VecDeque<(Tag, Report)>,
    /// The addresses the change source listens for claims of.
    pub claims: ClaimWatch,
}

/// Read every definition. A broken file is reported and left out.
pub(super) fn load_definitions(
    store: &Store,
) -> Result<(Vec<Definition>, Vec<String>), StoreError> {
    let tags = store.list_tags()?;
    let mut defs = Vec::with_capacity(tags.len());
    let mut errors = Vec::new();
    for t in tags {
        match store.load_definition(&t) {
            Ok(d) => defs.push(d),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok((defs, errors))
}

impl EventLoop {
    /// The policy's time: milliseconds since the start.
    fn now(&self) -> Ms {
        let elapsed = self.executor.clock.monotonic().saturating_sub(self.origin);
        u64::try_from(elapsed.as_millis()).unwrap_or(Ms::MAX)
    }

    pub fn install_links(&mut self, links: &[LinkStatus]) {
        self.executor
            .status
            .replace_adapters(links.iter().map(AdapterEntry::from).collect());
        for l in links {
            self.feed(Input::Link {
                name: l.name.clone(),
                connected: l.is_connected(),
            });
        }
    }

    pub fn install(&mut self, defs: Vec<Definition>) {
        self.executor.status.set_definitions(&defs);
        self.defs = defs.iter().map(|d| (d.tag.clone(), d.clone())).collect();
        let now = self.now();
        let requests = self.policy.load(defs, now);
        self.dispatch(requests);
        self.feed(Input::Tick);
    }

    fn dispatch(&mut self, requests: Vec<JobRequest>) {
        // The checks of one batch, gathered into one piece of work.
        let mut batches: Vec<(u64, Vec<(Definition, bool)>)> = Vec::new();
        // The deepChecks due now, prepared together (issue 11).
        let mut deep: Vec<Definition> = Vec::new();
        for request in requests {
            let Some(def) = self.defs.get(&request.tag) else {
                continue;
            };
            // A periodic check that a fresh snapshot answers with a pass
            // costs microseconds: done here, without waking a worker.
            if let Job::Check {
                trigger: Trigger::Timer,
                ..
            } = request.job
                && let Some(snap) = self.executor.snapshots.fresh()
                && let Some(report) = self.executor.fast_check(&snap, def)
            {
                self.finished.push_back((request.tag, report));
                continue;
            }
            if let (Some(number), Job::Check { recover, .. }) = (request.batch, &request.job) {
                let member = (def.clone(), *recover);
                match batches.iter_mut().find(|(n, _)| *n == number) {
                    Some((_, members)) => members.push(member),
                    None => batches.push((number, vec![member])),
                }
                continue;
            }
            if matches!(request.job, Job::DeepCheck) {
                deep.push(def.clone());
                continue;
            }
            let urgent = matches!(
                request.job,
                Job::Check {
                    trigger: Trigger::Event,
                    ..
                } | Job::MarkFailed(_)
                    | Job::Defend { .. }
            );
            let work = Work::One {
                def: Box::new(def.clone()),
                job: request.job,
            };
            self.start(work, urgent);
        }
        for (_, members) in batches {
            self.start(Work::Batch(members), true);
        }
        if let [_] = deep.as_slice() {
            let def = Box::new(deep.remove(0));
            self.start(
                Work::One {
                    def,
                    job: Job::DeepCheck,
                },
                false,
            );
        }
        while !deep.is_empty() {
            let rest = deep.split_off(deep.len().min(DEEP_BATCH));
            let members = std::mem::replace(&mut deep, rest);
            self.start(Work::DeepChecks(members), false);
        }
    }

    /// Run `work` inline, or hand it to the workers.
    fn start(&mut self, work: Work, urgent: bool) {
        match &self.jobs {
            Jobs::Inline(kernel) => {
                let reports = work.run(&self.executor, kernel.as_ref());
                self.finished.extend(reports);
            }
            Jobs::Workers { queue, .. } => {
                self.in_flight += work.len();
                queue.push(work, urgent);
            }
        }
    }

    fn feed(&mut self, input: Input) {
        let requests = self.policy.handle(self.now(), input);
        self.dispatch(requests);
        while let Some((tag, report)) = self.finished.pop_front() {
            let requests = self.policy.handle(self.now(), Input::Done { tag, report });
            self.dispatch(requests);
        }
    }

    /// How long the next wait may last: until the policy's next deadline,
    /// and at most `limit`.
    fn timeout(&self, limit: Option<Duration>) -> Option<Duration> {
        let deadline = self
            .policy
            .next_deadline()
            .map(|d| Duration::from_millis(d.saturating_sub(self.now())));
        match (deadline, limit) {
            (Some(d), Some(l)) => Some(d.min(l)),
            (d, l) => d.or(l),
        }
    }

    /// One turn: wait for changes (at most until the next deadline, and at
    /// most `limit`), then handle them, the messages and the timers.
    /// Returns false once the daemon has stopped.
    pub fn turn(&mut self, limit: Option<Duration>) -> bool {
        match self.changes.wait(self.timeout(limit)) {
            Ok(changes) => {
                for change in changes {
                    self.on_change(change);
                }
            }
            Err(e) => {
                eprintln!("ipkit daemon: {e}; re-reading all state");
                self.on_change(Change::Overrun);
            }
        }
        while let Ok(message) = self.inbox.try_recv() {
            match message {
                Message::Done { tag, report } => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.feed(Input::Done { tag, report });
                }
                Message::Reload => self.reload(),
                // The asker may have given up waiting: nothing to do then.
                Message::Ping(answer) => {
                    let _ = answer.try_send(());
                }
                Message::Stop => {
                    self.shutdown();
                    return false;
                }
            }
        }
        self.feed(Input::Tick);
        self.claims
            .update(&self.policy, &self.executor.status, self.changes.as_mut());
        // Published once per turn: 0 means idle, not between a job's end
        // and the one it caused.
        self.executor.status.set_in_flight(self.in_flight);
        true
    }

    /// Turn until stopped (the loop thread).
    pub fn run(mut self) {
        while self.turn(None) {}
    }

    fn adapter_at(&self, ifindex: u32) -> Option<AdapterName> {
        self.executor
            .status
            .adapter_by_index(ifindex)
            .and_then(|n| AdapterName::new(&n).ok())
    }

    fn on_change(&mut self, change: Change) {
        let status = self.executor.status.clone();
        if matches!(
            change,
            Change::Link(_) | Change::LinkGone { .. } | Change::Overrun
        ) {
            // An adapter's interface index may have changed.
            self.claims.mark_stale();
        }
        match change {
            Change::Link(l) => {
                // A rename: the old name is gone.
                if let Some(old) = status.adapter_by_index(l.ifindex)
                    && old != l.name.as_str()
                {
                    status.remove_adapter(&old);
                    if let Ok(name) = AdapterName::new(&old) {
                        self.feed(Input::LinkGone { name });
                    }
                }
                status.set_adapter(AdapterEntry::from(&l), self.executor.clock.now());
                let connected = l.is_connected();
                self.feed(Input::Link {
                    name: l.name,
                    connected,
                });
            }
            Change::LinkGone { name, .. } => {
                status.remove_adapter(name.as_str());
                self.feed(Input::LinkGone { name });
            }
            Change::AddressAdded { ifindex, ip } => {
                let adapter = self.adapter_at(ifindex);
                self.feed(Input::AddressAdded { ip, adapter });
            }
            Change::AddressRemoved { ifindex, ip } => {
                let adapter = self.adapter_at(ifindex);
                self.feed(Input::AddressRemoved { ip, adapter });
            }
            Change::AddressClaimed { ifindex, ip, mac } => {
                let adapter = self.adapter_at(ifindex);
                // Counted for every claim heard; the policy decides what
                // is reported and defended.
                if let Some(heard_on) = &adapter {
                    let now = self.executor.clock.now();
                    for def in self.defs.values().filter(|d| d.address.ip() == ip) {
                        if self.policy.watching(&def.tag) {
                            let record = ConflictRecord::heard(now, mac, heard_on.clone());
                            status.update(&def.tag, |e| e.conflicts.heard(record));
                        }
                    }
                }
                self.feed(Input::AddressClaimed { ip, adapter, mac });
            }
            Change::Overrun => {
                self.executor.daemon_event(&Kind::ChangesOverrun);
                match self.changes.links() {
                    Ok(links) => self.install_links(&links),
                    Err(e) => eprintln!("ipkit daemon: re-reading links: {e}"),
                }
                self.feed(Input::Resync);
            }
        }
    }

    fn reload(&mut self) {
        let store = &self.executor.store;
        match load_definitions(store) {
            Ok((mut defs, errors)) => {
                // A definition that is now broken keeps its last good form.
                for e in &errors {
                    eprintln!("ipkit daemon: reload: {e}; keeping the last good definition");
                }
                if !errors.is_empty() {
                    let loaded: Vec<Tag> = defs.iter().map(|d| d.tag.clone()).collect();
                    for (tag, d) in &self.defs {
                        if store.exists(tag) && !loaded.contains(tag) {
                            defs.push(d.clone());
                        }
                    }
                    defs.sort_by(|a, b| a.tag.cmp(&b.tag));
                }
                let n = defs.len();
                self.install(defs);
                self.executor
                    .daemon_event(&Kind::DaemonReloaded { resources: n });
            }
            Err(e) => eprintln!("ipkit daemon: reload failed, keeping the definitions: {e}"),
        }
    }

    fn shutdown(&mut self) {
        // Jobs not started are dropped; running ones finish.
        if let Jobs::Workers { queue, threads } = &mut self.jobs {
            let dropped: usize = queue.close().iter().map(Work::len).sum();
            self.in_flight = self.in_flight.saturating_sub(dropped);
            for t in threads.drain(..) {
                let _ = t.join();
            }
        }
        if self.on_stop == OnStop::Remove {
            match self.backend.open_kernel() {
                Ok(k) => self.executor.remove_all(k.as_ref(), self.defs.values()),
                Err(e) => eprintln!("ipkit daemon: cannot remove addresses on stop: {e}"),
            }
        }
        self.executor.daemon_event(&Kind::DaemonStopping);
        if let Some(api) = self.api.take() {
            api.stop();
        }
        self.executor.events.flush_and_close();
    }
}
