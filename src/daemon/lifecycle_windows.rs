//! How Windows tells the daemon to reload or stop. Started by the service
//! control manager (the service `ipkit`, docs/windows.md), it reports its
//! status there; stop and shutdown stop it, `paramchange`
//! (`sc.exe control ipkit paramchange`) reloads the definitions. Run by
//! hand in a console, Ctrl-C stops it and Ctrl-Break reloads.

use std::sync::{Arc, Mutex};

use super::error::{DaemonError, DaemonExit};
use super::{Control, DaemonOptions};
use crate::sys::windows::service::{self, Dispatch, Request, ServiceStatus};

/// The service's name in the service control manager.
pub const SERVICE_NAME: &str = "ipkit";

/// Who runs the daemon.
pub enum Lifecycle {
    Console,
    Service(ServiceStatus),
}

/// Run the daemon as the service when the service control manager started
/// this process, else in the console. As a service, the daemon's exit
/// status goes to the service control manager as its service-specific
/// code, and its error (why it could not start) comes back from here too.
pub fn run(
    opts: &DaemonOptions,
    serve: fn(&DaemonOptions, Lifecycle) -> Result<(), DaemonError>,
) -> Result<(), DaemonError> {
    let owned = opts.clone();
    let failure: Arc<Mutex<Option<DaemonError>>> = Arc::default();
    let failed = failure.clone();
    let body = Box::new(
        move |status| match serve(&owned, Lifecycle::Service(status)) {
            Ok(()) => DaemonExit::Ok.code(),
            Err(e) => {
                let code = e.exit().code();
                *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                code
            }
        },
    );
    match service::dispatch(SERVICE_NAME, body) {
        Dispatch::Ran(_) => match failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(e) => Err(e),
            None => Ok(()),
        },
        Dispatch::NotAService => serve(opts, Lifecycle::Console),
        Dispatch::Failed(e) => Err(DaemonError::Signals(std::io::Error::new(
            e.kind(),
            format!("the service control dispatcher: {e}"),
        ))),
    }
}

/// Requests that came before the daemon was ready wait here.
#[derive(Default)]
struct Pending {
    control: Option<Control>,
    stop: bool,
    reload: bool,
}

fn act(control: &Control, request: Request) {
    match request {
        Request::Stop => control.stop(),
        Request::Reload => control.reload(),
    }
}

pub struct Registered {
    status: Option<ServiceStatus>,
    pending: Arc<Mutex<Pending>>,
}

pub struct Watching {
    status: Option<ServiceStatus>,
}

impl Lifecycle {
    /// Take stop and reload requests from now on (held until
    /// [`Registered::ready`]).
    pub fn register(self) -> Result<Registered, DaemonError> {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let shared = pending.clone();
        service::on_request(Some(Box::new(move |request| {
            let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
            match &p.control {
                Some(control) => act(control, request),
                None if request == Request::Stop => p.stop = true,
                None => p.reload = true,
            }
        })));
        let status = match self {
            Lifecycle::Service(status) => Some(status),
            Lifecycle::Console => {
                service::watch_console().map_err(DaemonError::Signals)?;
                None
            }
        };
        Ok(Registered { status, pending })
    }
}

impl Registered {
    /// The daemon runs: tell the service control manager, and act on the
    /// requests (those that came meanwhile first).
    pub fn ready(self, control: Control) -> Result<Watching, DaemonError> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.reload {
            control.reload();
        }
        if p.stop {
            control.stop();
        }
        p.control = Some(control);
        drop(p);
        if let Some(status) = &self.status {
            status.running();
        }
        Ok(Watching {
            status: self.status,
        })
    }
}

impl Watching {
    /// The daemon has stopped: no more requests.
    pub fn finish(self) {
        service::on_request(None);
        if let Some(status) = &self.status {
            status.stopping();
        }
    }
}
