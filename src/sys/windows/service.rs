//! The service control manager: the dispatcher (`StartServiceCtrlDispatcherW`),
//! the control handler (stop, shutdown, paramchange) and the status the
//! service reports (`SetServiceStatus`); and the console's Ctrl-C and
//! Ctrl-Break (`SetConsoleCtrlHandler`) for a daemon run by hand.

use std::ffi::c_void;
use std::io;
use std::sync::Mutex;

use windows_sys::Win32::Foundation::{ERROR_FAILED_SERVICE_CONTROLLER_CONNECT, NO_ERROR};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Services::{
    RegisterServiceCtrlHandlerExW, SERVICE_ACCEPT_PARAMCHANGE, SERVICE_ACCEPT_SHUTDOWN,
    SERVICE_ACCEPT_STOP, SERVICE_CONTROL_INTERROGATE, SERVICE_CONTROL_PARAMCHANGE,
    SERVICE_CONTROL_SHUTDOWN, SERVICE_CONTROL_STOP, SERVICE_RUNNING, SERVICE_START_PENDING,
    SERVICE_STATUS, SERVICE_STATUS_HANDLE, SERVICE_STOP_PENDING, SERVICE_STOPPED,
    SERVICE_TABLE_ENTRYW, SERVICE_WIN32_OWN_PROCESS, SetServiceStatus, StartServiceCtrlDispatcherW,
};

use super::wide;

/// What the service control manager or the console asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Stop (service stop or shutdown; Ctrl-C, closing the console).
    Stop,
    /// Read the definitions again (`sc.exe control ipkit paramchange`;
    /// Ctrl-Break in the console).
    Reload,
}

type Handler = Box<dyn Fn(Request) + Send>;
type Body = Box<dyn FnOnce(ServiceStatus) -> u8 + Send>;

/// Where requests go (set by [`on_request`]).
static HANDLER: Mutex<Option<Handler>> = Mutex::new(None);
/// The service's work, run by [`service_main`].
static BODY: Mutex<Option<Body>> = Mutex::new(None);
static NAME: Mutex<Vec<u16>> = Mutex::new(Vec::new());
static EXIT: Mutex<Option<u8>> = Mutex::new(None);

/// Send requests to `handler` from now on (replacing any earlier one);
/// None stops delivering them.
pub fn on_request(handler: Option<Handler>) {
    *HANDLER.lock().unwrap_or_else(|e| e.into_inner()) = handler;
}

fn deliver(request: Request) -> bool {
    match HANDLER.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(h) => {
            h(request);
            true
        }
        None => false,
    }
}

/// The status handle of the running service.
#[derive(Debug, Clone, Copy)]
pub struct ServiceStatus(SERVICE_STATUS_HANDLE);

// SAFETY: a service status handle may be used from any thread.
unsafe impl Send for ServiceStatus {}

impl ServiceStatus {
    fn set(&self, state: u32, accepted: u32, exit: u8) {
        let status = SERVICE_STATUS {
            dwServiceType: SERVICE_WIN32_OWN_PROCESS,
            dwCurrentState: state,
            dwControlsAccepted: accepted,
            // ERROR_SERVICE_SPECIFIC_ERROR carries the daemon's own status.
            dwWin32ExitCode: if exit == 0 { NO_ERROR } else { 1066 },
            dwServiceSpecificExitCode: u32::from(exit),
            dwCheckPoint: 0,
            dwWaitHint: if state == SERVICE_RUNNING || state == SERVICE_STOPPED {
                0
            } else {
                30_000
            },
        };
        // SAFETY: the handle came from RegisterServiceCtrlHandlerExW.
        unsafe { SetServiceStatus(self.0, &status) };
    }

    pub fn starting(&self) {
        self.set(SERVICE_START_PENDING, 0, 0);
    }

    pub fn running(&self) {
        self.set(
            SERVICE_RUNNING,
            SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE,
            0,
        );
    }

    pub fn stopping(&self) {
        self.set(SERVICE_STOP_PENDING, 0, 0);
    }

    fn stopped(&self, exit: u8) {
        self.set(SERVICE_STOPPED, 0, exit);
    }
}

unsafe extern "system" fn control_handler(
    control: u32,
    _event_type: u32,
    _event_data: *mut c_void,
    _context: *mut c_void,
) -> u32 {
    match control {
        SERVICE_CONTROL_STOP | SERVICE_CONTROL_SHUTDOWN => {
            deliver(Request::Stop);
            NO_ERROR
        }
        SERVICE_CONTROL_PARAMCHANGE => {
            deliver(Request::Reload);
            NO_ERROR
        }
        SERVICE_CONTROL_INTERROGATE => NO_ERROR,
        // ERROR_CALL_NOT_IMPLEMENTED
        _ => 120,
    }
}

unsafe extern "system" fn service_main(_argc: u32, _argv: *mut *mut u16) {
    let name = NAME.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // SAFETY: name is NUL-terminated; the handler is a plain function.
    let handle = unsafe {
        RegisterServiceCtrlHandlerExW(name.as_ptr(), Some(control_handler), std::ptr::null())
    };
    if handle.is_null() {
        return;
    }
    let status = ServiceStatus(handle);
    status.starting();
    let body = BODY.lock().unwrap_or_else(|e| e.into_inner()).take();
    let exit = body.map_or(1, |b| b(status));
    *EXIT.lock().unwrap_or_else(|e| e.into_inner()) = Some(exit);
    status.stopped(exit);
}

/// How [`dispatch`] went.
#[derive(Debug)]
pub enum Dispatch {
    /// The process was not started by the service control manager (run
    /// from a console): nothing ran.
    NotAService,
    /// The service ran `body`, which returned this status.
    Ran(u8),
    Failed(io::Error),
}

/// Hand this process to the service control manager as the service
/// `name`, which runs `body` on its own thread; returns when the service
/// has stopped. From a console this returns [`Dispatch::NotAService`] at
/// once.
pub fn dispatch(name: &str, body: Body) -> Dispatch {
    let w = wide(name);
    *NAME.lock().unwrap_or_else(|e| e.into_inner()) = w.clone();
    *BODY.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
    let table = [
        SERVICE_TABLE_ENTRYW {
            lpServiceName: w.as_ptr() as *mut u16,
            lpServiceProc: Some(service_main),
        },
        SERVICE_TABLE_ENTRYW {
            lpServiceName: std::ptr::null_mut(),
            lpServiceProc: None,
        },
    ];
    // SAFETY: the table ends with a null entry; w outlives the call.
    let ok = unsafe { StartServiceCtrlDispatcherW(table.as_ptr()) };
    if ok != 0 {
        let exit = EXIT.lock().unwrap_or_else(|e| e.into_inner()).take();
        return Dispatch::Ran(exit.unwrap_or(1));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT as i32) {
        Dispatch::NotAService
    } else {
        Dispatch::Failed(e)
    }
}

const CTRL_C_EVENT: u32 = 0;
const CTRL_BREAK_EVENT: u32 = 1;

unsafe extern "system" fn console_handler(ctrl: u32) -> i32 {
    let request = match ctrl {
        CTRL_BREAK_EVENT => Request::Reload,
        CTRL_C_EVENT => Request::Stop,
        // Closing the console, logoff, shutdown.
        _ => Request::Stop,
    };
    i32::from(deliver(request))
}

/// Deliver Ctrl-C (stop), Ctrl-Break (reload) and the console's close to
/// the [`on_request`] handler.
pub fn watch_console() -> io::Result<()> {
    // SAFETY: a plain function as the handler.
    if unsafe { SetConsoleCtrlHandler(Some(console_handler), 1) } != 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
