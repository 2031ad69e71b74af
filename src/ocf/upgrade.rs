//! Taking over what an earlier agent kept under its old, non-injective tag for the same resource.
//!
//! Earlier agents mapped `OCF_RESOURCE_INSTANCE` to a tag by turning every
//! character a tag may not hold into `-`, so `web:0` was kept as `web-0`.
//! The mapping is injective now (`web:0` is `web.3a0`), and a resource
//! started before the upgrade still has its state (`state/web-0.json`) and
//! its published definition (`resources/web-0.toml`) under the old tag.
//! Left there, the agent would not know it started the resource, and a
//! daemon would keep watching the old definition after a stop.
//!
//! So the first call with the resource's lock looks for the old tag's
//! published definition. The old tag may belong to another resource
//! (`web-0` keeps its tag), so the files are taken over only when that
//! definition protects this resource's address, which no two resources
//! share (`ip` is unique). Then, under the old tag's lock too: the state
//! is written under the new tag (unless the new one already says in
//! service), the definition is published under the new tag, and the old
//! files are removed, in that order, so a crash in between leaves both
//! and the next call finishes the move.

use std::time::Duration;

use super::publish::publish_definition;
use crate::resource::{Definition, RuntimeState, Tag};
use crate::store::{Store, StoreError};

/// How long to wait for the old tag's lock: a call that cannot take it
/// leaves the move to the next call.
const LEGACY_LOCK_TIMEOUT: Duration = Duration::from_millis(100);

/// What the take-over did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct TakeOver {
    /// Published definitions changed: a daemon must reload.
    pub republished: bool,
    /// What to tell the operator (stderr, which Pacemaker logs).
    pub notes: Vec<String>,
}

/// Take over the files `legacy` holds for `def`'s address; `state` (the new
/// tag's, loaded under its lock) becomes the old one unless it already
/// says in service.
pub(super) fn take_over(
    store: &Store,
    def: &Definition,
    legacy: &Tag,
    state: &mut RuntimeState,
) -> TakeOver {
    let mut done = TakeOver::default();
    let old = match store.load_definition(legacy) {
        Ok(old) if old.address.ip() == def.address.ip() => old,
        // Not ours (another resource's tag), or nothing there.
        Ok(_) | Err(StoreError::UnknownTag(_)) => return done,
        Err(e) => {
            done.notes.push(format!(
                "ipkit: warning: could not read {}, which an earlier agent may have kept for {}: {e}",
                store.definition_path(legacy).display(),
                def.tag
            ));
            return done;
        }
    };
    let _lock = match store.lock(legacy, LEGACY_LOCK_TIMEOUT) {
        Ok(lock) => lock,
        Err(e) => {
            done.notes.push(format!(
                "ipkit: warning: the earlier tag {legacy} of {} is busy, its state is taken over later: {e}",
                def.tag
            ));
            return done;
        }
    };
    // An unreadable old state is a stopped one: the kernel is the truth.
    let old_state = store.load_state(legacy).unwrap_or_default();
    if !state.in_service {
        *state = old_state;
        if let Err(e) = store.save_state(&def.tag, state) {
            done.notes.push(format!(
                "ipkit: warning: could not move the state of {legacy} to {}: {e}",
                def.tag
            ));
            return done;
        }
    }
    if state.in_service && !publish_definition(store, def) {
        return done;
    }
    if let Err(e) = store.delete_definition(legacy) {
        done.notes.push(format!(
            "ipkit: warning: could not remove the earlier files of {} under {legacy}: {e}",
            def.tag
        ));
    }
    done.republished = true;
    done.notes.push(format!(
        "ipkit: note: took over the state of {} that an earlier agent kept under the tag {legacy} ({}, {})",
        def.tag,
        old.address,
        if state.in_service {
            "in service"
        } else {
            "not in service"
        }
    ));
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::AdapterName;

    fn def(tag: &str, address: &str) -> Definition {
        Definition::new(
            Tag::new(tag).unwrap(),
            address.parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            None,
        )
        .unwrap()
    }

    fn running(adapter: &str) -> RuntimeState {
        RuntimeState {
            in_service: true,
            active_adapter: Some(AdapterName::new(adapter).unwrap()),
            ..RuntimeState::default()
        }
    }

    /// A store where an earlier agent runs `web:0` under `web-0`.
    fn earlier_agent(dir: &std::path::Path, address: &str) -> (Store, Tag) {
        let store = Store::new(dir, dir);
        let legacy = def("web-0", address);
        store.save_definition(&legacy).unwrap();
        store.save_state(&legacy.tag, &running("eth0")).unwrap();
        (store, legacy.tag)
    }

    #[test]
    fn the_same_address_is_taken_over_and_the_old_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let (store, legacy) = earlier_agent(dir.path(), "198.51.100.50/24");
        let new = def("web.3a0", "198.51.100.50/24");
        let mut state = RuntimeState::default();
        let done = take_over(&store, &new, &legacy, &mut state);
        assert!(done.republished, "{done:?}");
        assert_eq!(state, running("eth0"));
        assert_eq!(store.load_state(&new.tag).unwrap(), running("eth0"));
        assert!(store.exists(&new.tag));
        assert!(!store.exists(&legacy));
        assert!(!store.state_path(&legacy).exists());
        // Nothing is left to take over the second time.
        let again = take_over(&store, &new, &legacy, &mut state);
        assert_eq!(again, TakeOver::default());
    }

    #[test]
    fn another_address_belongs_to_another_resource() {
        let dir = tempfile::tempdir().unwrap();
        let (store, legacy) = earlier_agent(dir.path(), "198.51.100.51/24");
        let new = def("web.3a0", "198.51.100.50/24");
        let mut state = RuntimeState::default();
        assert_eq!(
            take_over(&store, &new, &legacy, &mut state),
            TakeOver::default()
        );
        assert_eq!(state, RuntimeState::default());
        assert!(store.exists(&legacy) && !store.exists(&new.tag));
        assert_eq!(store.load_state(&legacy).unwrap(), running("eth0"));
    }

    #[test]
    fn a_state_already_in_service_is_kept_and_the_old_files_still_go() {
        let dir = tempfile::tempdir().unwrap();
        let (store, legacy) = earlier_agent(dir.path(), "198.51.100.50/24");
        let new = def("web.3a0", "198.51.100.50/24");
        let mut state = running("eth1");
        let done = take_over(&store, &new, &legacy, &mut state);
        assert!(done.republished);
        assert_eq!(state, running("eth1"));
        assert!(!store.exists(&legacy) && store.exists(&new.tag));
    }

    #[test]
    fn a_busy_old_tag_is_left_for_the_next_call() {
        let dir = tempfile::tempdir().unwrap();
        let (store, legacy) = earlier_agent(dir.path(), "198.51.100.50/24");
        let _held = store.lock(&legacy, Duration::ZERO).unwrap();
        let new = def("web.3a0", "198.51.100.50/24");
        let mut state = RuntimeState::default();
        let done = take_over(&store, &new, &legacy, &mut state);
        assert!(!done.republished);
        assert!(done.notes[0].contains("busy"), "{:?}", done.notes);
        assert_eq!(state, RuntimeState::default());
        assert!(store.exists(&legacy));
    }
}
