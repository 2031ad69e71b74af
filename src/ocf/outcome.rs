//! How an operation's outcome becomes an OCF exit code and exit reason (shared by the actions and the monitor).

use super::{OcfExit, Reply};
use crate::events::{Event, Recorder, Severity};
use crate::net::KernelError;
use crate::ops::Outcome;
use crate::resource::AdapterName;

/// The reply for an operation's outcome: success, a missing privilege, or
/// a generic failure.
pub(super) fn reply_for(out: Outcome, rec: &Recorder, fallback: &str) -> Reply {
    if out.success {
        return Reply::success();
    }
    let exit = if out.needs_privilege() {
        OcfExit::ErrPerm
    } else {
        OcfExit::ErrGeneric
    };
    Reply::failure(exit, failure_reason(rec, &out, fallback))
}

/// The exit reason: the first error event that decided the failure (the
/// cause, e.g. 6019 or 7001), else the last error event, else `fallback`.
pub(super) fn failure_reason(rec: &Recorder, out: &Outcome, fallback: &str) -> String {
    let events = rec.snapshot();
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .collect();
    let cause = errors
        .iter()
        .find(|e| !matches!(e.id, 6002 | 6102 | 6604 | 7004))
        .or_else(|| errors.last());
    let mut text = match cause {
        Some(e) => format!("{} {}", e.id, e.message),
        None => fallback.to_owned(),
    };
    if let Some(err) = &out.error
        && !text.contains(&err.message)
    {
        text.push_str(&format!(" ({err})"));
    }
    text
}

/// The exit code for a kernel error: a missing privilege or a generic
/// failure.
pub(super) fn exit_for_kernel_error(e: &KernelError) -> OcfExit {
    if e.is_permission() {
        OcfExit::ErrPerm
    } else {
        OcfExit::ErrGeneric
    }
}

/// Adapter names as one list for a message (`eth0, eth1`).
pub(super) fn adapter_list(list: &[AdapterName]) -> String {
    list.iter()
        .map(AdapterName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
