//! The Windows Event Log: `RegisterEventSourceW` / `ReportEventW` /
//! `DeregisterEventSource`, for `log::event_log::EventLogSink`.

use std::io;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};

use super::wide;

/// An entry's type (its level in Event Viewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Error,
    Warning,
    Information,
}

/// A registered event source, deregistered when dropped.
#[derive(Debug)]
pub struct EventSource(HANDLE);

// SAFETY: an event source handle may be used from any thread.
unsafe impl Send for EventSource {}
// SAFETY: ReportEventW is thread-safe.
unsafe impl Sync for EventSource {}

impl EventSource {
    /// Register the source `name` in the Application log of this machine.
    pub fn register(name: &str) -> io::Result<Self> {
        let w = wide(name);
        // SAFETY: a null server is the local machine; w is NUL-terminated.
        let h = unsafe { RegisterEventSourceW(std::ptr::null(), w.as_ptr()) };
        if h.is_null() {
            Err(io::Error::last_os_error())
        } else {
            Ok(Self(h))
        }
    }

    /// One entry with the event ID `id` and the single string `text`.
    pub fn report(&self, kind: EntryType, id: u32, text: &str) -> io::Result<()> {
        let kind = match kind {
            EntryType::Error => EVENTLOG_ERROR_TYPE,
            EntryType::Warning => EVENTLOG_WARNING_TYPE,
            EntryType::Information => EVENTLOG_INFORMATION_TYPE,
        };
        let w = wide(text);
        let strings = [w.as_ptr()];
        // SAFETY: one NUL-terminated string, no raw data, no user SID.
        let ok = unsafe {
            ReportEventW(
                self.0,
                kind,
                0,
                id,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok != 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        // SAFETY: registered above.
        unsafe { DeregisterEventSource(self.0) };
    }
}
