//! The daemon's event loop and workers: the I/O around [`super::policy`].
//!
//! One loop thread owns the netlink [`Monitor`] and the policy. It sleeps in
//! `poll(2)` on the monitor socket and an eventfd (worker completions,
//! reload, stop) with the policy's next deadline as the timeout, so a
//! carrier loss is acted on the moment the kernel reports it and an idle
//! daemon does not wake up between deadlines.
//!
//! Jobs run on a few worker threads. Each job takes the resource's lock
//! (the one `ops::run` and the command line take), reads the persisted
//! state under it, runs the operations with `ops::*`, and writes the state
//! back when it changed. Event-triggered checks jump the queue.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::DaemonOptions;
use super::api::Api;
use super::config::{Config, OnStop};
use super::hook;
use super::policy::{FailReason, Input, Job, Ms, Policy, Report, Trigger};
use super::status::{AdapterEntry, Status};
use super::view::{Cache, Quiet, Snapshot, SnapshotKernel};
use crate::cluster::peers::PeerCluster;
use crate::cluster::{ClusterView, Standalone};
use crate::events::{Event, EventSink, Kind};
use crate::net::linux::LinuxKernel;
use crate::net::linux::netlink::{LinkRecord, Monitor, NetEvent, Netlink};
use crate::net::{AnnouncePlan, Kernel, LinkState};
use crate::ops::{self, Clock, Ctx, SystemClock};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState, Tag};
use crate::store::Store;

/// A running daemon (in this process, in the network namespace of the
/// thread that spawned it).
pub struct Daemon {
    control: Control,
    thread: Option<JoinHandle<()>>,
    api_addr: Option<SocketAddr>,
    status: Arc<Status>,
}

/// Asks a running daemon to reload or stop (cheap to clone, e.g. into a
/// signal thread).
#[derive(Clone)]
pub struct Control {
    tx: Sender<Msg>,
    waker: Arc<Waker>,
}

impl Control {
    /// SIGHUP: reload the definitions (addresses stay where they are).
    pub fn reload(&self) {
        let _ = self.tx.send(Msg::Reload);
        self.waker.wake();
    }

    /// SIGTERM: stop cleanly.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
        self.waker.wake();
    }
}

impl Daemon {
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// The bound status API address (None when it is off).
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }

    pub fn status(&self) -> &Arc<Status> {
        &self.status
    }

    /// Wait until the daemon has stopped (after [`Control::stop`]).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stop and wait.
    pub fn stop(self) {
        self.control.stop();
        self.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.control.stop();
            let _ = t.join();
        }
    }
}

enum Msg {
    Done { tag: Tag, report: Report },
    Reload,
    Stop,
}

/// An eventfd that wakes the loop's poll.
struct Waker {
    fd: OwnedFd,
}

impl Waker {
    fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. EAGAIN (counter full)
        // means a wake-up is pending anyway.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8);
        }
    }

    fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64; EAGAIN when not signalled.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&raw mut v).cast(), 8);
        }
    }
}

/// Work queue shared with the workers.
struct Queue {
    items: Mutex<(VecDeque<Work>, bool)>,
    cv: Condvar,
}

struct Work {
    def: Definition,
    job: Job,
}

impl Queue {
    fn push(&self, w: Work, urgent: bool) {
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if urgent {
            g.0.push_front(w);
        } else {
            g.0.push_back(w);
        }
        self.cv.notify_one();
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
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Drop what has not started and let the workers end.
    fn close(&self) -> Vec<Work> {
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        g.1 = true;
        self.cv.notify_all();
        g.0.drain(..).collect()
    }
}

/// Events go to the operator's sinks from a thread of their own, so that a
/// slow journal or disk never delays a recovery; the status counters are
/// updated synchronously. Nothing is dropped: the writer drains the channel
/// before the daemon exits.
struct AsyncSink {
    tx: Mutex<Option<Sender<Event>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    status: Arc<Status>,
}

impl AsyncSink {
    fn new(sink: Box<dyn EventSink>, status: Arc<Status>) -> Self {
        let (tx, rx) = channel::<Event>();
        let writer = std::thread::Builder::new()
            .name("ipkit-events".into())
            .spawn(move || {
                for e in rx {
                    sink.emit(&e);
                }
            })
            .ok();
        Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(writer),
            status,
        }
    }

    fn flush_and_close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = w.join();
        }
    }
}

impl EventSink for AsyncSink {
    fn emit(&self, event: &Event) {
        self.status.emit(event);
        let g = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let sent = g.as_ref().is_some_and(|tx| tx.send(event.clone()).is_ok());
        if !sent {
            // Closed (shutting down) or the writer died: still never lost.
            eprintln!("{}", event.human());
        }
    }
}

/// Everything a worker needs.
struct Shared {
    store: Store,
    config: Config,
    status: Arc<Status>,
    events: Arc<AsyncSink>,
    cluster: Box<dyn ClusterView>,
    node: String,
    queue: Queue,
    snapshots: Cache,
    tx: Mutex<Sender<Msg>>,
    waker: Arc<Waker>,
}

impl Shared {
    fn daemon_event(&self, kind: &Kind) {
        self.events
            .emit(&Event::daemon(&self.node, kind, SystemTime::now()));
    }

    fn send(&self, msg: Msg) {
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(msg);
        self.waker.wake();
    }
}

/// Read every definition. A broken file is reported and left out.
fn load_definitions(store: &Store) -> Result<(Vec<Definition>, Vec<String>), String> {
    let tags = store.list_tags().map_err(|e| e.to_string())?;
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

fn adapter_entry(l: &LinkRecord) -> AdapterEntry {
    AdapterEntry {
        name: l.name.clone(),
        ifindex: l.index,
        mac: l.mac.map(|m| m.to_string()),
        admin_up: l.admin_up,
        carrier: l.carrier,
        link: if l.admin_up && l.carrier {
            LinkState::Connected
        } else {
            LinkState::Disconnected
        },
    }
}

/// Start the daemon in the calling thread's network namespace. Returns once
/// netlink is subscribed, the state is read and the API listens: the moment
/// to tell systemd READY=1.
pub fn spawn(
    opts: &DaemonOptions,
    config: Config,
    sink: Box<dyn EventSink>,
) -> Result<Daemon, String> {
    let node = crate::node_name();
    let status = Arc::new(Status::new(node.clone()));
    let store = Store::new(&opts.config_dir, &opts.state_dir);

    // Subscribe first, then read: nothing can fall between the two.
    let monitor = Monitor::open().map_err(|e| format!("netlink monitor: {e}"))?;
    let nl = Netlink::open().map_err(|e| format!("netlink: {e}"))?;
    let links = nl.links().map_err(|e| format!("reading links: {e}"))?;
    let (defs, errors) = load_definitions(&store)?;
    if !errors.is_empty() {
        return Err(format!(
            "refusing to start with broken definitions:\n  {}",
            errors.join("\n  ")
        ));
    }

    let api = match config.listen {
        Some(addr) => Some(
            Api::start(addr, config.token.clone(), status.clone()).map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let api_addr = api.as_ref().map(Api::addr);

    let events = Arc::new(AsyncSink::new(sink, status.clone()));
    let cluster: Box<dyn ClusterView> = if config.peers.is_empty() {
        Box::new(Standalone)
    } else {
        Box::new(PeerCluster::new(config.peers.clone()))
    };
    let (tx, rx) = channel();
    let waker = Arc::new(Waker::new().map_err(|e| format!("eventfd: {e}"))?);
    let workers = config.workers;
    let shared = Arc::new(Shared {
        store,
        config,
        status: status.clone(),
        events,
        cluster,
        node,
        queue: Queue {
            items: Mutex::new((VecDeque::new(), false)),
            cv: Condvar::new(),
        },
        snapshots: Cache::default(),
        tx: Mutex::new(tx.clone()),
        waker: waker.clone(),
    });

    let mut worker_threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let kernel = LinuxKernel::open().map_err(|e| format!("netlink: {e}"))?;
        let sh = shared.clone();
        let t = std::thread::Builder::new()
            .name(format!("ipkit-worker-{i}"))
            .spawn(move || worker(&sh, &kernel))
            .map_err(|e| format!("worker thread: {e}"))?;
        worker_threads.push(t);
    }

    let mut lp = Loop {
        shared: shared.clone(),
        policy: Policy::new(),
        defs: BTreeMap::new(),
        start: Instant::now(),
        monitor,
        nl,
        rx,
        api,
        workers: worker_threads,
        in_flight: 0,
        inline: VecDeque::new(),
    };
    lp.install_links(&links);
    let n = defs.len();
    lp.install(defs);
    status.set_in_flight(lp.in_flight);
    shared.daemon_event(&Kind::DaemonStarted { resources: n });

    let thread = std::thread::Builder::new()
        .name("ipkit-daemon".into())
        .spawn(move || lp.run())
        .map_err(|e| format!("daemon thread: {e}"))?;
    Ok(Daemon {
        control: Control { tx, waker },
        thread: Some(thread),
        api_addr,
        status,
    })
}

struct Loop {
    shared: Arc<Shared>,
    policy: Policy,
    defs: BTreeMap<Tag, Definition>,
    start: Instant,
    monitor: Monitor,
    nl: Netlink,
    rx: Receiver<Msg>,
    api: Option<Api>,
    workers: Vec<JoinHandle<()>>,
    in_flight: usize,
    /// Jobs done inline by `dispatch`, to be fed back as `Done`.
    inline: VecDeque<(Tag, Report)>,
}

impl Loop {
    fn now(&self) -> Ms {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(Ms::MAX)
    }

    fn install_links(&mut self, links: &[LinkRecord]) {
        self.shared
            .status
            .replace_adapters(links.iter().map(adapter_entry).collect());
        for l in links {
            if let Ok(name) = AdapterName::new(&l.name) {
                self.feed(Input::Link {
                    name,
                    connected: l.admin_up && l.carrier,
                });
            }
        }
    }

    fn install(&mut self, defs: Vec<Definition>) {
        self.shared.status.set_definitions(&defs);
        self.defs = defs.iter().map(|d| (d.tag.clone(), d.clone())).collect();
        let now = self.now();
        let actions = self.policy.load(defs, now);
        self.dispatch(actions);
        self.feed(Input::Tick);
    }

    fn dispatch(&mut self, actions: Vec<super::policy::Action>) {
        for a in actions {
            let Some(def) = self.defs.get(&a.tag) else {
                continue;
            };
            // A periodic check that a fresh snapshot answers with a pass
            // costs microseconds: done here, without waking a worker.
            if let Job::Check {
                trigger: Trigger::Timer,
                ..
            } = a.job
                && let Some(snap) = self.shared.snapshots.fresh()
                && let Some(report) = fast_check(&self.shared, &snap, def)
            {
                self.inline.push_back((a.tag, report));
                continue;
            }
            let urgent = matches!(
                a.job,
                Job::Check {
                    trigger: Trigger::Event,
                    ..
                } | Job::MarkFailed(_)
            );
            self.in_flight += 1;
            self.shared.queue.push(
                Work {
                    def: def.clone(),
                    job: a.job,
                },
                urgent,
            );
        }
    }

    fn feed(&mut self, input: Input) {
        let now = self.now();
        let actions = self.policy.handle(now, input);
        self.dispatch(actions);
        while let Some((tag, report)) = self.inline.pop_front() {
            let actions = self.policy.handle(now, Input::Done { tag, report });
            self.dispatch(actions);
        }
    }

    fn run(mut self) {
        let mon_fd = self.monitor.as_raw_fd();
        let wake_fd = self.shared.waker.fd.as_raw_fd();
        loop {
            let timeout = match self.policy.next_deadline() {
                None => -1,
                Some(d) => {
                    let left = d.saturating_sub(self.now());
                    libc::c_int::try_from(left).unwrap_or(libc::c_int::MAX)
                }
            };
            let (mon, wake) = poll2(mon_fd, wake_fd, timeout);
            if mon {
                match self.monitor.recv(Some(Duration::ZERO)) {
                    Ok(evs) => {
                        for ev in evs {
                            self.on_net(ev);
                        }
                    }
                    Err(e) => {
                        eprintln!("ipkit daemon: netlink monitor: {e}; re-reading all state");
                        self.on_net(NetEvent::Overrun);
                    }
                }
            }
            if wake {
                self.shared.waker.drain();
                while let Ok(msg) = self.rx.try_recv() {
                    match msg {
                        Msg::Done { tag, report } => {
                            self.in_flight = self.in_flight.saturating_sub(1);
                            self.feed(Input::Done { tag, report });
                        }
                        Msg::Reload => self.reload(),
                        Msg::Stop => {
                            self.shutdown();
                            return;
                        }
                    }
                }
            }
            self.feed(Input::Tick);
            // Published once per turn: 0 means idle, not between a job's
            // end and the one it caused.
            self.shared.status.set_in_flight(self.in_flight);
        }
    }

    fn on_net(&mut self, ev: NetEvent) {
        let status = &self.shared.status;
        match ev {
            NetEvent::Link(l) => {
                // A rename: the old name is gone.
                if let Some(old) = status.adapter_by_index(l.index)
                    && old != l.name
                {
                    status.remove_adapter(&old);
                    if let Ok(name) = AdapterName::new(&old) {
                        self.feed(Input::LinkGone { name });
                    }
                }
                self.shared.status.set_adapter(adapter_entry(&l));
                if let Ok(name) = AdapterName::new(&l.name) {
                    self.feed(Input::Link {
                        name,
                        connected: l.admin_up && l.carrier,
                    });
                }
            }
            NetEvent::LinkRemoved { name, .. } => {
                status.remove_adapter(&name);
                if let Ok(name) = AdapterName::new(&name) {
                    self.feed(Input::LinkGone { name });
                }
            }
            NetEvent::AddressAdded(a) => {
                let adapter = status
                    .adapter_by_index(a.ifindex)
                    .and_then(|n| AdapterName::new(&n).ok());
                self.feed(Input::AddressAdded { ip: a.ip, adapter });
            }
            NetEvent::AddressRemoved(a) => {
                let adapter = status
                    .adapter_by_index(a.ifindex)
                    .and_then(|n| AdapterName::new(&n).ok());
                self.feed(Input::AddressRemoved { ip: a.ip, adapter });
            }
            NetEvent::Overrun => {
                self.shared.daemon_event(&Kind::NetlinkOverrun);
                match self.nl.links() {
                    Ok(links) => self.install_links(&links),
                    Err(e) => eprintln!("ipkit daemon: re-reading links: {e}"),
                }
                self.feed(Input::Resync);
            }
        }
    }

    fn reload(&mut self) {
        match load_definitions(&self.shared.store) {
            Ok((mut defs, errors)) => {
                // A definition that is now broken keeps its last good form.
                for e in &errors {
                    eprintln!("ipkit daemon: reload: {e}; keeping the last good definition");
                }
                if !errors.is_empty() {
                    let loaded: Vec<Tag> = defs.iter().map(|d| d.tag.clone()).collect();
                    for (tag, d) in &self.defs {
                        let still_there = self.shared.store.exists(tag);
                        if still_there && !loaded.contains(tag) {
                            defs.push(d.clone());
                        }
                    }
                    defs.sort_by(|a, b| a.tag.cmp(&b.tag));
                }
                let n = defs.len();
                self.install(defs);
                self.shared
                    .daemon_event(&Kind::DaemonReloaded { resources: n });
            }
            Err(e) => eprintln!("ipkit daemon: reload failed, keeping the definitions: {e}"),
        }
    }

    fn shutdown(&mut self) {
        // Jobs not started are dropped; running ones finish.
        let dropped = self.shared.queue.close();
        self.in_flight = self.in_flight.saturating_sub(dropped.len());
        for t in self.workers.drain(..) {
            let _ = t.join();
        }
        if self.shared.config.on_stop == OnStop::Remove {
            match LinuxKernel::open() {
                Ok(k) => {
                    for def in self.defs.values() {
                        let _ = with_lock(
                            &self.shared,
                            def,
                            def.tunables.lock_timeout,
                            |ctx, state| {
                                if state.in_service {
                                    ops::remove(ctx, def, state);
                                }
                            },
                            &k,
                        );
                    }
                }
                Err(e) => eprintln!("ipkit daemon: cannot remove addresses on stop: {e}"),
            }
        }
        self.shared.daemon_event(&Kind::DaemonStopping);
        if let Some(api) = self.api.take() {
            api.stop();
        }
        self.shared.events.flush_and_close();
    }
}

/// poll(2) on two fds; (first readable, second readable).
fn poll2(a: RawFd, b: RawFd, timeout_ms: libc::c_int) -> (bool, bool) {
    let mut fds = [
        libc::pollfd {
            fd: a,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two valid pollfd structs.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if rc <= 0 {
        return (false, false);
    }
    let ready = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    (ready(&fds[0]), ready(&fds[1]))
}

/// What the persisted state means, without the times of repeated results:
/// a periodic check that ends as the last one did is not written again.
fn material(s: &RuntimeState) -> impl PartialEq + use<> {
    (
        s.active_adapter.clone(),
        s.in_service,
        s.failed,
        s.last
            .iter()
            .map(|(op, r)| (*op, r.success, r.event))
            .collect::<Vec<_>>(),
    )
}

/// Take the lock, read the state, run `f`, write the state if it changed.
fn with_lock<T>(
    sh: &Shared,
    def: &Definition,
    wait: Duration,
    f: impl FnOnce(&Ctx<'_>, &mut RuntimeState) -> T,
    kernel: &dyn Kernel,
) -> Result<T, String> {
    let _lock = sh.store.lock(&def.tag, wait).map_err(|e| e.to_string())?;
    let mut state = sh.store.load_state(&def.tag).map_err(|e| e.to_string())?;
    let before = material(&state);
    let clock = SystemClock;
    let ctx = Ctx {
        kernel,
        cluster: sh.cluster.as_ref(),
        events: sh.events.as_ref(),
        clock: &clock,
        node: &sh.node,
    };
    let out = f(&ctx, &mut state);
    if material(&state) != before {
        sh.store
            .save_state(&def.tag, &state)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn worker(sh: &Shared, kernel: &LinuxKernel) {
    while let Some(w) = sh.queue.pop() {
        let tag = w.def.tag.clone();
        let report = perform(sh, kernel, &w.def, w.job);
        sh.send(Msg::Done { tag, report });
    }
}

/// The periodic check of a resource the daemon believes in service,
/// answered from a snapshot without files or lock: Some only for a pass.
fn fast_check(sh: &Shared, snap: &Snapshot, def: &Definition) -> Option<Report> {
    let active = sh.status.watched_active(&def.tag)?;
    let clock = SystemClock;
    let sk = SnapshotKernel(snap);
    let ctx = Ctx {
        kernel: &sk,
        cluster: sh.cluster.as_ref(),
        events: &Quiet,
        clock: &clock,
        node: &sh.node,
    };
    let mut trial = RuntimeState {
        active_adapter: Some(active.clone()),
        in_service: true,
        ..RuntimeState::default()
    };
    if !ops::quick_check(&ctx, &no_debounce(def), &mut trial).success {
        return None;
    }
    let now = clock.now();
    sh.status.update(&def.tag, |e| {
        e.quick_checks += 1;
        e.last_quick = Some((now, true));
        e.up = Some(true);
    });
    Some(Report::Checked {
        ok: true,
        recovered: None,
        active,
        in_service: true,
    })
}

/// Periodic work does not queue behind a long operation of someone else:
/// it waits at most this for the lock and tries again next interval.
const PERIODIC_LOCK_WAIT: Duration = Duration::from_secs(1);

fn periodic_wait(def: &Definition) -> Duration {
    PERIODIC_LOCK_WAIT.min(def.tunables.lock_timeout)
}

fn no_debounce(def: &Definition) -> Definition {
    let mut d = def.clone();
    d.tunables.link_debounce = Duration::ZERO;
    d
}

fn perform(sh: &Shared, kernel: &LinuxKernel, def: &Definition, job: Job) -> Report {
    let tag = &def.tag;
    let status = &sh.status;
    let clock = SystemClock;
    match job {
        Job::Check { trigger, recover } => {
            // The periodic check of a resource the daemon believes in
            // service: one look at the shared snapshot, no files, no lock.
            // Anything but a pass goes the full way below.
            if trigger == Trigger::Timer
                && let Ok(snap) = sh.snapshots.get(kernel.netlink())
                && let Some(report) = fast_check(sh, &snap, def)
            {
                return report;
            }
            // Most resources are idle: a periodic look goes without the
            // lock first. An event may come from a command-line operation
            // still running (its state not written yet): that waits for
            // the lock, below, and reads what the operation wrote.
            let peek = match trigger {
                Trigger::Timer => Some(sh.store.load_state(tag)),
                Trigger::Event => None,
            };
            match peek {
                None => {}
                Some(Ok(s)) if !s.in_service || s.failed => {
                    status.update(tag, |e| {
                        e.in_service = s.in_service;
                        e.failed = s.failed;
                    });
                    return Report::Skipped {
                        in_service: s.in_service,
                        failed: s.failed,
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    eprintln!("ipkit daemon: {tag}: {e}");
                    return Report::Error;
                }
            }
            // The policy already waited the debounce for an event.
            let qdef = match trigger {
                Trigger::Event => no_debounce(def),
                Trigger::Timer => def.clone(),
            };
            let r = with_lock(
                sh,
                def,
                if trigger == Trigger::Timer {
                    periodic_wait(def)
                } else {
                    def.tunables.lock_timeout
                },
                |ctx, state| {
                    if !state.in_service || state.failed {
                        status.update(tag, |e| {
                            e.in_service = state.in_service;
                            e.failed = state.failed;
                        });
                        return Report::Skipped {
                            in_service: state.in_service,
                            failed: state.failed,
                        };
                    }
                    // A periodic check first tries the shared snapshot,
                    // silently; only a pass counts (see view.rs).
                    let mut passed = None;
                    if trigger == Trigger::Timer
                        && let Ok(snap) = sh.snapshots.get(kernel.netlink())
                    {
                        let sk = SnapshotKernel(&snap);
                        let quiet_ctx = Ctx {
                            kernel: &sk,
                            events: &Quiet,
                            ..*ctx
                        };
                        let mut trial = state.clone();
                        let q = ops::quick_check(&quiet_ctx, &no_debounce(def), &mut trial);
                        if q.success {
                            *state = trial;
                            passed = Some(q);
                        }
                    }
                    let q = match passed {
                        Some(q) => q,
                        None => ops::quick_check(ctx, &qdef, state),
                    };
                    let mut recovered = None;
                    let mut took = None;
                    if !q.success && recover {
                        let t0 = Instant::now();
                        let r = ops::recover(ctx, &no_debounce(def), state);
                        took = Some(t0.elapsed());
                        recovered = Some(r.success);
                    }
                    let active = state.active_adapter(def).clone();
                    let now = clock.now();
                    status.update(tag, |e| {
                        e.quick_checks += 1;
                        if !q.success {
                            e.quick_failures += 1;
                        }
                        e.last_quick = Some((now, q.success));
                        e.up = Some(q.success || recovered == Some(true));
                        if let (Some(ok), Some(d)) = (recovered, took) {
                            if ok {
                                e.recoveries_ok += 1;
                            } else {
                                e.recoveries_failed += 1;
                            }
                            e.last_recovery = Some((now, d, ok));
                        }
                        e.active = active.clone();
                        e.in_service = state.in_service;
                        e.failed = state.failed;
                    });
                    Report::Checked {
                        ok: q.success,
                        recovered,
                        active,
                        in_service: state.in_service,
                    }
                },
                kernel,
            );
            r.unwrap_or_else(|e| {
                eprintln!("ipkit daemon: {tag}: {e}");
                Report::Error
            })
        }
        Job::DeepCheck => with_lock(
            sh,
            def,
            periodic_wait(def),
            |ctx, state| {
                if state.in_service && !state.failed {
                    let out = ops::deep_check(ctx, def, state);
                    let now = clock.now();
                    status.update(tag, |e| {
                        e.deep_checks += 1;
                        let warned = !out.success || out.event.is_some();
                        if warned {
                            e.deep_warnings += 1;
                        }
                        e.last_deep = Some((now, !warned));
                    });
                }
                Report::DeepChecked
            },
            kernel,
        )
        .unwrap_or(Report::DeepChecked),
        Job::Restore => with_lock(
            sh,
            def,
            def.tunables.lock_timeout,
            |ctx, state| {
                let out = ops::restore(ctx, def, state);
                let active = state.active_adapter(def).clone();
                status.update(tag, |e| {
                    e.in_service = state.in_service;
                    e.failed = state.failed;
                    e.active = active.clone();
                    e.up = Some(out.success);
                });
                Report::Restored {
                    ok: out.success,
                    active,
                }
            },
            kernel,
        )
        .unwrap_or_else(|e| {
            eprintln!("ipkit daemon: {tag}: {e}");
            Report::Restored {
                ok: false,
                active: def.adapter.clone(),
            }
        }),
        Job::Refresh => {
            let _ = with_lock(
                sh,
                def,
                periodic_wait(def),
                |ctx, state| {
                    if !state.in_service || state.failed {
                        return;
                    }
                    let active = state.active_adapter(def).clone();
                    let held = ctx
                        .kernel
                        .holders(def.address.ip())
                        .is_ok_and(|h| h.len() == 1 && h[0] == active);
                    if !held {
                        return;
                    }
                    let plan = AnnouncePlan {
                        count: 1,
                        interval: def.tunables.announce_interval,
                    };
                    if let Err(e) = ctx.kernel.announce(&active, def.address.ip(), plan) {
                        let ev = Event::about(
                            def,
                            Operation::Daemon,
                            ctx.node,
                            &Kind::AnnounceFailed {
                                err: e.to_string(),
                                guid: active,
                            },
                            clock.now(),
                        );
                        ctx.events.emit(&ev);
                    }
                },
                kernel,
            );
            Report::Refreshed
        }
        Job::MarkFailed(reason) => {
            let marked = with_lock(
                sh,
                def,
                def.tunables.lock_timeout,
                |ctx, state| {
                    state.failed = true;
                    if let FailReason::Threshold { count, window_secs } = &reason {
                        let ev = Event::about(
                            def,
                            Operation::Daemon,
                            ctx.node,
                            &Kind::RestartThresholdExceeded {
                                count: *count,
                                window_secs: *window_secs,
                            },
                            clock.now(),
                        );
                        ctx.events.emit(&ev);
                    }
                    state.active_adapter(def).clone()
                },
                kernel,
            );
            let active = match marked {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("ipkit daemon: {tag}: cannot mark failed: {e}");
                    def.adapter.clone()
                }
            };
            status.update(tag, |e| {
                e.failed = true;
                e.up = Some(false);
            });
            if let Some(argv) = &sh.config.on_failure {
                let events: Arc<dyn EventSink> = sh.events.clone();
                hook::spawn(
                    argv.clone(),
                    sh.config.on_failure_timeout,
                    def.clone(),
                    active,
                    sh.node.clone(),
                    reason.text(),
                    events,
                );
            }
            Report::MarkedFailed
        }
    }
}
