//! The definition the agent publishes for an `ipkit daemon`, and the SIGHUP that tells it.
//!
//! While the resource runs on this node, its definition is kept as
//! `resources/<tag>.toml` in the agent's state directory, with
//! `hold_in_service = false`: a daemon serving that directory recovers the
//! address on netlink events but never brings the resource up by itself.
//! `start` publishes it, `reload-agent` rewrites it, `stop` withdraws it; the
//! daemon is found by its `daemon.pid` ([`crate::daemon::pidfile`]).
//! Failures here are warnings only: the resource runs, the daemon just does
//! not watch it.

use std::path::Path;

use crate::resource::{Definition, Tag};
use crate::store::{Store, StoreError};

/// Write the definition a daemon serving the state dir watches. Returns
/// whether it was written.
pub(super) fn publish_definition(store: &Store, def: &Definition) -> bool {
    let mut published = def.clone();
    published.hold_in_service = false;
    match store.save_definition(&published) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "ipkit: warning: could not publish the definition of {} for the daemon: {e}",
                def.tag
            );
            false
        }
    }
}

/// Remove the published definition after a stop (none is fine). Returns
/// whether a daemon should hear about it.
pub(super) fn withdraw_definition(store: &Store, tag: &Tag) -> bool {
    match store.delete_definition(tag) {
        Ok(()) => true,
        Err(StoreError::UnknownTag(_)) => false,
        Err(e) => {
            eprintln!("ipkit: warning: could not withdraw the definition of {tag}: {e}");
            // Still tell a daemon: the state says stopped, so it leaves
            // the address alone either way.
            true
        }
    }
}

/// `reload-agent` with new parameters: a resource running here (its
/// definition is published) gets the new definition, and the daemon, if
/// any, reloads it. A stopped resource publishes nothing.
pub(super) fn republish(state_dir: &Path, def: &Definition) {
    let store = Store::new(state_dir, state_dir);
    if !store.exists(&def.tag) {
        return;
    }
    let Ok(_lock) = store.lock(&def.tag, def.tunables.lock_timeout) else {
        return;
    };
    if store.exists(&def.tag) && publish_definition(&store, def) {
        tell_daemon(store.state_dir());
    }
}

/// SIGHUP the daemon serving `state_dir`, if one runs (no daemon: nothing).
pub(super) fn tell_daemon(state_dir: &Path) {
    use crate::daemon::pidfile::{Reload, signal_reload};
    match signal_reload(state_dir) {
        Reload::NoDaemon | Reload::Sent(_) => {}
        Reload::Failed(pid, errno) => eprintln!(
            "ipkit: warning: could not tell the daemon (pid {pid}) to reload: {}",
            std::io::Error::from_raw_os_error(errno)
        ),
    }
}
