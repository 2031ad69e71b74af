//! Code the tests run before every kernel call of the simulated network: to look at the files between two calls, or to stop the caller there as a crash would.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::CallKind;

type Hook = Arc<dyn Fn(CallKind) + Send + Sync>;

/// The hooks of a [`super::SimNet`], run in the order they were added.
#[derive(Default)]
pub(super) struct Hooks(Mutex<Vec<Hook>>);

impl Hooks {
    pub(super) fn add(&self, hook: impl Fn(CallKind) + Send + Sync + 'static) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(hook));
    }

    /// Run every hook for a call of `kind`. The list is copied first, so a
    /// hook may call the network (or panic, as a killed process stops)
    /// without leaving anything locked.
    pub(super) fn run(&self, kind: CallKind) {
        let hooks = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for hook in hooks {
            hook(kind);
        }
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map_or(0, |h| h.len());
        write!(f, "Hooks({n})")
    }
}
