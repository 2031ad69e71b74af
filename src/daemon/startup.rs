//! Starting the daemon: subscribe to changes, read the links and the
//! definitions, open the status API, start the workers and the loop. The
//! same start serves the threaded daemon ([`spawn`], [`spawn_with`]) and
//! the stepped one ([`SteppedDaemon`]: one thread, jobs inline, for
//! deterministic tests on a simulated network).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use std::time::Duration;

use super::DaemonOptions;
use super::api::Api;
use super::async_sink::AsyncSink;
use super::control::Control;
use super::error::DaemonError;
use super::event_loop::{EventLoop, Jobs, load_definitions};
use super::executor::Executor;
use super::hook::{HookRunner, ProcessHooks};
use super::policy::Policy;
use super::queue::{Queue, start_worker};
use super::status::Status;
use super::view::Cache;
use crate::clock::{Clock, SystemClock};
use crate::cluster::peers::PeerCluster;
use crate::cluster::{ClusterView, Standalone};
use crate::config::Config;
use crate::events::{EventSink, Kind};
use crate::net::Backend;
use crate::store::Store;

/// What the daemon runs on besides its files: the system (kernel handles
/// and changes), time, the `on_failure` runner and the cluster view.
pub struct Parts {
    pub backend: Arc<dyn Backend>,
    pub clock: Arc<dyn Clock>,
    pub hooks: Arc<dyn HookRunner>,
    /// None: from the configuration (the peers, or standalone).
    pub cluster: Option<Box<dyn ClusterView>>,
}

impl Parts {
    /// The platform's backend, the system clock, `on_failure` as a process,
    /// the cluster view from the configuration.
    pub fn native() -> Self {
        Self::on(
            crate::net::backend::native_long_lived(),
            Arc::new(SystemClock),
        )
    }

    /// `backend` and `clock`, `on_failure` as a process, the cluster view
    /// from the configuration.
    pub fn on(backend: Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Self {
        Self {
            backend,
            clock,
            hooks: Arc::new(ProcessHooks),
            cluster: None,
        }
    }
}

/// A running daemon (in this process, in the network namespace of the
/// thread that spawned it).
pub struct Daemon {
    control: Control,
    thread: Option<JoinHandle<()>>,
    api_addr: Option<SocketAddr>,
    status: Arc<Status>,
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

/// Start the daemon on this platform's kernel, in the calling thread's
/// network namespace. Returns once changes are subscribed, the state is
/// read and the API listens: the moment to tell systemd READY=1.
pub fn spawn(
    opts: &DaemonOptions,
    config: Config,
    sink: Box<dyn EventSink>,
) -> Result<Daemon, DaemonError> {
    spawn_with(opts, config, sink, Parts::native())
}

/// [`spawn`] on the given parts.
pub fn spawn_with(
    opts: &DaemonOptions,
    config: Config,
    sink: Box<dyn EventSink>,
    parts: Parts,
) -> Result<Daemon, DaemonError> {
    let started = start(opts, config, sink, parts, false)?;
    let event_loop = started.event_loop;
    let thread = std::thread::Builder::new()
        .name("ipkit-daemon".into())
        .spawn(move || event_loop.run())
        .map_err(DaemonError::thread("daemon"))?;
    Ok(Daemon {
        control: started.control,
        thread: Some(thread),
        api_addr: started.api_addr,
        status: started.status,
    })
}

/// The daemon in the caller's thread, one turn at a time, with every job
/// run inline and events written as they happen. With a simulated backend
/// and its clock this is deterministic: waits pass in virtual time.
pub struct SteppedDaemon {
    event_loop: Option<EventLoop>,
    control: Control,
    status: Arc<Status>,
    clock: Arc<dyn Clock>,
}

impl SteppedDaemon {
    pub fn start(
        opts: &DaemonOptions,
        config: Config,
        sink: Box<dyn EventSink>,
        parts: Parts,
    ) -> Result<Self, DaemonError> {
        let clock = parts.clock.clone();
        let started = start(opts, config, sink, parts, true)?;
        Ok(Self {
            event_loop: Some(started.event_loop),
            control: started.control,
            status: started.status,
            clock,
        })
    }

    pub fn status(&self) -> &Arc<Status> {
        &self.status
    }

    /// Reload and stop take effect at the next turn.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// One turn of the loop: wait at most until the next deadline (or
    /// `limit`), handle what came. False once the daemon has stopped.
    pub fn turn(&mut self, limit: Option<Duration>) -> bool {
        let Some(event_loop) = self.event_loop.as_mut() else {
            return false;
        };
        if event_loop.turn(limit) {
            return true;
        }
        self.event_loop = None;
        false
    }

    /// Turn until the clock has moved `d` on (or the daemon stopped).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.clock.monotonic() + d;
        loop {
            let now = self.clock.monotonic();
            if now >= end || !self.turn(Some(end - now)) {
                return;
            }
        }
    }

    /// Stop as SIGTERM does.
    pub fn stop(mut self) {
        self.control.stop();
        while self.turn(Some(Duration::ZERO)) {}
    }
}

struct Started {
    event_loop: EventLoop,
    control: Control,
    api_addr: Option<SocketAddr>,
    status: Arc<Status>,
}

fn start(
    opts: &DaemonOptions,
    config: Config,
    sink: Box<dyn EventSink>,
    parts: Parts,
    inline: bool,
) -> Result<Started, DaemonError> {
    let node = crate::node_name();
    let status = Arc::new(Status::new(node.clone()));
    let store = Store::new(&opts.config_dir, &opts.state_dir);

    // Subscribe first, then read: nothing can fall between the two.
    let mut changes = parts
        .backend
        .open_changes()
        .map_err(DaemonError::kernel("watching links and addresses"))?;
    let links = changes
        .links()
        .map_err(DaemonError::kernel("reading links"))?;
    let (defs, errors) = load_definitions(&store).map_err(DaemonError::Definitions)?;
    if !errors.is_empty() {
        return Err(DaemonError::BrokenDefinitions(errors));
    }

    let api = match config.listen {
        Some(addr) => {
            Some(Api::start(addr, config.token.clone(), status.clone()).map_err(DaemonError::Api)?)
        }
        None => None,
    };
    let api_addr = api.as_ref().map(Api::addr);

    let events = Arc::new(if inline {
        AsyncSink::inline(sink, status.clone())
    } else {
        AsyncSink::new(sink, status.clone())
    });
    let cluster = parts.cluster.unwrap_or_else(|| {
        if config.peers.is_empty() {
            Box::new(Standalone)
        } else {
            Box::new(PeerCluster::new(config.peers.clone()))
        }
    });
    let (tx, inbox) = channel();
    let control = Control::new(tx, changes.waker());
    let executor = Arc::new(Executor {
        store,
        status: status.clone(),
        events,
        cluster,
        node,
        clock: parts.clock.clone(),
        hooks: parts.hooks,
        on_failure: config
            .on_failure
            .clone()
            .map(|argv| (argv, config.on_failure_timeout)),
        snapshots: Cache::new(parts.clock.clone()),
    });

    let jobs = if inline {
        let kernel = parts
            .backend
            .open_kernel()
            .map_err(DaemonError::kernel("opening the kernel"))?;
        Jobs::Inline(kernel)
    } else {
        let queue = Arc::new(Queue::default());
        let mut threads = Vec::with_capacity(config.workers);
        for i in 0..config.workers {
            let kernel = parts
                .backend
                .open_kernel()
                .map_err(DaemonError::kernel("opening the kernel"))?;
            let t = start_worker(i, queue.clone(), executor.clone(), kernel, control.clone())
                .map_err(DaemonError::thread("worker"))?;
            threads.push(t);
        }
        Jobs::Workers { queue, threads }
    };

    let mut event_loop = EventLoop {
        executor: executor.clone(),
        policy: Policy::new(),
        defs: BTreeMap::new(),
        origin: parts.clock.monotonic(),
        changes,
        inbox,
        api,
        jobs,
        backend: parts.backend,
        on_stop: config.on_stop,
        in_flight: 0,
        finished: VecDeque::new(),
        claims: Default::default(),
    };
    event_loop.install_links(&links);
    let n = defs.len();
    // Announced before the first checks, which run at once when inline.
    executor.daemon_event(&Kind::DaemonStarted { resources: n });
    event_loop.install(defs);
    status.set_in_flight(event_loop.in_flight);
    Ok(Started {
        event_loop,
        control,
        api_addr,
        status,
    })
}
