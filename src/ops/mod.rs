//! The five operations of SPEC §4, one file each, steps numbered as in the
//! spec. They reach the system only through [`Kernel`], [`ClusterView`],
//! [`EventSink`] and [`Clock`]; [`run`] adds the store: it takes the
//! resource's lock, loads definition and state, reconciles the state with
//! the kernel ([`reconcile`], issue 10), runs the operation and persists
//! the state before it returns.

use std::net::IpAddr;

use crate::cluster::ClusterView;
use crate::events::{Event, EventSink, Kind};
use crate::net::{AddOptions, AnnouncePlan, Kernel, KernelError, KernelOp};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState, Tag};
use crate::store::{Store, StoreError};

mod deep_check;
mod in_use;
mod quick_check;
mod reconcile;
mod recover;
mod remove;
mod restore;

pub use deep_check::deep_check;
pub use quick_check::{quick_check, quick_check_many, quick_check_since};
pub use reconcile::{Correction, corrections, disagreements, reconcile, reconcile_many};
pub use recover::{recover, recover_many};
pub use remove::remove;
pub use restore::restore;

/// Time moved to [`crate::clock`]; the operations still take it from here.
pub use crate::clock::{Clock, SystemClock};

/// What an operation works with.
pub struct Ctx<'a> {
    pub kernel: &'a dyn Kernel,
    pub cluster: &'a dyn ClusterView,
    pub events: &'a dyn EventSink,
    pub clock: &'a dyn Clock,
    /// This node's name (the `node` field of events).
    pub node: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn emit(&self, def: &Definition, op: Operation, kind: Kind) {
        let event = Event::about(def, op, self.node, &kind, self.clock.now());
        self.events.emit(&event);
    }

    /// A kernel error inside an operation: reported as 7004, remembered so
    /// the caller can tell a missing privilege from a failure.
    pub(crate) fn kernel_error(
        &self,
        def: &Definition,
        op: Operation,
        out: &mut Outcome,
        e: KernelError,
    ) {
        self.emit(def, op, Kind::KernelError { err: e.to_string() });
        if out.error.is_none() {
            out.error = Some(e);
        }
    }
}

/// One resource of a batch (issue 11): its definition and its state,
/// which the operation changes as it would for that resource alone.
pub struct Member<'a> {
    pub def: &'a Definition,
    pub state: &'a mut RuntimeState,
}

/// The members of `which` (indices into `members`, ascending), borrowed
/// again as a batch of their own.
pub(crate) fn subset<'s>(members: &'s mut [Member<'_>], which: &[usize]) -> Vec<Member<'s>> {
    let mut wanted = which.iter().peekable();
    members
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| wanted.next_if_eq(&i).is_some())
        .map(|(_, m)| Member {
            def: m.def,
            state: &mut *m.state,
        })
        .collect()
}

/// The result of an operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    /// The first kernel error met, if any (EPERM tells "needs CAP_NET_ADMIN").
    pub error: Option<KernelError>,
    /// The catalog number that decided a failure (6507, 6508, 6002, ...).
    pub event: Option<u16>,
}

impl Outcome {
    pub(crate) fn new() -> Self {
        Self {
            success: false,
            error: None,
            event: None,
        }
    }

    pub(crate) fn finish(
        mut self,
        ctx: &Ctx<'_>,
        op: Operation,
        state: &mut RuntimeState,
        success: bool,
        event: Option<u16>,
    ) -> Self {
        self.success = success;
        self.event = event;
        state.record(op, success, event, ctx.clock.now());
        self
    }

    /// Whether the failure came from a missing privilege.
    pub fn needs_privilege(&self) -> bool {
        self.error.as_ref().is_some_and(KernelError::is_permission)
    }
}

/// The announcement plan of a definition.
pub(crate) fn announce_plan(def: &Definition) -> AnnouncePlan {
    AnnouncePlan {
        count: def.tunables.announce_count,
        interval: def.tunables.announce_interval,
    }
}

/// The results of a batch call, exactly `n` of them: a backend that gave
/// fewer (a bug) leaves the rest failed with EIO rather than unanswered.
pub(crate) fn answers<T>(
    mut results: Vec<Result<T, KernelError>>,
    n: usize,
    op: KernelOp,
) -> Vec<Result<T, KernelError>> {
    results.truncate(n);
    while results.len() < n {
        results.push(Err(KernelError::with_message(
            op,
            None,
            libc::EIO,
            "the kernel seam gave no result for this request",
        )));
    }
    results
}

/// How the address is added: prefix route, deprecated or not, and the
/// source rule's priority.
pub(crate) fn add_options(def: &Definition) -> AddOptions {
    AddOptions {
        noprefixroute: def.tunables.noprefixroute,
        never_as_source: def.tunables.never_as_source,
        source_rule_priority: def.tunables.source_rule_priority,
    }
}

/// Is the address held by exactly `adapter` and nowhere else?
pub(crate) fn held_exactly_by(holders: &[AdapterName], adapter: &AdapterName) -> bool {
    holders.len() == 1 && &holders[0] == adapter
}

/// Flush neighbour entries; a failure is reported and the operation goes on
/// (SPEC gives the flush no failure branch).
pub(crate) fn flush(ctx: &Ctx<'_>, def: &Definition, op: Operation, out: &mut Outcome, ip: IpAddr) {
    if let Err(e) = ctx.kernel.flush_neighbours(ip) {
        ctx.kernel_error(def, op, out, e);
    }
}

/// Run one operation by tag: lock, load, reconcile, run, persist (SPEC §4
/// preamble).
///
/// Crash safety (issue 10): every step that changes the kernel is followed
/// by the state write, and [`reconcile`] repairs what a crash in between
/// leaves: an address added without its state (held, but "out of
/// service") or moved without it (the wrong `active_adapter`). Taking the
/// address away is the one change the kernel cannot tell apart from a
/// fault (an address gone while "in service" is what recover repairs), so
/// remove writes "out of service" first: a crash after its deletes leaves
/// a consistent state, one before them an address that reconcile puts
/// back in service.
pub fn run(store: &Store, ctx: &Ctx<'_>, tag: &Tag, op: Operation) -> Result<Outcome, StoreError> {
    let def = store.load_definition(tag)?;
    let _lock = store.lock(tag, def.tunables.lock_timeout)?;
    // Re-read under the lock: the definition may have changed meanwhile.
    let def = store.load_definition(tag)?;
    let mut state = store.load_state(tag)?;
    prepare(store, ctx, &def, op, &mut state)?;
    let outcome = run_loaded(ctx, &def, &mut state, op);
    store.save_state(tag, &state)?;
    Ok(outcome)
}

/// Make a state just loaded under the resource's lock fit for `op` to act
/// on (issue 10): [`reconcile`] it with the kernel, and before a remove,
/// persist "out of service" (see [`run`] for why). Every path that loads a
/// state to run an operation calls it: [`run`] (the command line), the
/// daemon's executor and the OCF agent. Returns the corrections made; an
/// error means the remove's intent could not be written (the state in
/// memory is reconciled all the same).
pub fn prepare(
    store: &Store,
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    state: &mut RuntimeState,
) -> Result<Vec<Correction>, StoreError> {
    let corrected = reconcile(ctx, def, op, state);
    write_remove_intent(store, def, op, state)?;
    Ok(corrected)
}

/// [`prepare`] of several states at once (the daemon's batch, issue 11):
/// reconciled with one reading of the holders for all of them
/// ([`reconcile_many`]). One result per member, in order.
pub fn prepare_many(
    store: &Store,
    ctx: &Ctx<'_>,
    members: &mut [Member<'_>],
    op: Operation,
) -> Vec<Result<Vec<Correction>, StoreError>> {
    let corrected = reconcile_many(ctx, members, op);
    members
        .iter()
        .zip(corrected)
        .map(|(m, corrected)| {
            write_remove_intent(store, m.def, op, m.state)?;
            Ok(corrected)
        })
        .collect()
}

/// Before a remove of a resource in service, "out of service" is persisted
/// (see [`run`] for why).
fn write_remove_intent(
    store: &Store,
    def: &Definition,
    op: Operation,
    state: &RuntimeState,
) -> Result<(), StoreError> {
    if op == Operation::Remove && state.in_service {
        let intent = RuntimeState {
            in_service: false,
            ..state.clone()
        };
        store.save_state(&def.tag, &intent)?;
    }
    Ok(())
}

/// Run one operation on a loaded definition and state (no lock, no store,
/// no reconcile: a caller that loads the state runs [`reconcile`] first).
pub fn run_loaded(
    ctx: &Ctx<'_>,
    def: &Definition,
    state: &mut RuntimeState,
    op: Operation,
) -> Outcome {
    match op {
        Operation::QuickCheck => quick_check(ctx, def, state),
        Operation::DeepCheck => deep_check(ctx, def, state),
        Operation::Restore => restore(ctx, def, state),
        Operation::Remove => remove(ctx, def, state),
        Operation::Recover => recover(ctx, def, state),
        // Not one of SPEC §4's five operations (these tags only label
        // events of the command line and the daemon): nothing runs, and
        // the outcome says it did not succeed.
        Operation::Create | Operation::Delete | Operation::Daemon => Outcome::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sim::SimCluster;
    use crate::events::Recorder;
    use crate::net::sim::{CallKind, SimNet};
    use crate::resource::Mac;
    use std::sync::{Arc, Mutex};

    #[test]
    fn remove_is_out_of_service_on_disk_before_the_address_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("etc"), dir.path().join("var"));
        let def = crate::resource::sample_definition(false);
        store.create_definition(&def).unwrap();
        let net = SimNet::new();
        net.add_adapter(def.adapter.clone(), Mac([2, 0, 0, 0, 0, 1]));
        net.assign(&def.adapter, def.address);
        let in_service = RuntimeState {
            in_service: true,
            ..RuntimeState::default()
        };
        store.save_state(&def.tag, &in_service).unwrap();
        // The persisted state at every delete.
        let at_delete = Arc::new(Mutex::new(Vec::new()));
        let (seen, files, tag) = (at_delete.clone(), store.clone(), def.tag.clone());
        net.before_each_call(move |kind| {
            if kind == CallKind::Delete {
                let persisted = files.load_state(&tag).expect("state readable");
                seen.lock().unwrap().push(persisted.in_service);
            }
        });
        let ctx = Ctx {
            kernel: &net,
            cluster: &SimCluster::new(),
            events: &Recorder::new(),
            clock: net.clock(),
            node: "node1",
        };
        let out = run(&store, &ctx, &def.tag, Operation::Remove).unwrap();
        assert!(out.success);
        // A crash during the delete leaves "out of service": consistent
        // with the address gone, and reconciled back if it is still there.
        assert_eq!(*at_delete.lock().unwrap(), vec![false]);
        assert!(!store.load_state(&def.tag).unwrap().in_service);
    }
}
