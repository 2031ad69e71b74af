//! The actions on a resource (start, stop, monitor, validate-all, reload-agent) and their OCF exit codes.
//!
//! Each runs the operation of SPEC §4 that SPEC §6 maps it to, under the
//! resource's lock and with its runtime state in `$HA_RSCTMP/ipkit`, and
//! turns the outcome into an OCF exit code and exit reason.

use std::path::Path;

use super::doctor;
use super::env::OcfEnv;
use super::monitor::monitor;
use super::outcome::{exit_for_kernel_error, reply_for};
use super::params::Params;
use super::publish::{publish_definition, republish, tell_daemon, withdraw_definition};
use super::upgrade::{self, TakeOver};
use super::{Deps, OcfExit, Reply};
use crate::events::{Event, EventSink, Recorder};
use crate::net::memo::ReadMemo;
use crate::net::{Kernel, KernelError, LinkInfo, LinkState};
use crate::ops::{self, Ctx};
use crate::resource::{AdapterName, Definition, InvalidInput, Mac, Operation, RuntimeState};
use crate::store::{ResourceLock, Store, StoreError};

/// The actions that work on the resource the parameters describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResourceAction {
    Start,
    Stop,
    Monitor,
    ValidateAll,
    ReloadAgent,
}

/// Parse the parameters, then run `action` on the resource.
pub(super) fn run(action: ResourceAction, env: &OcfEnv, deps: &Deps<'_>) -> Reply {
    let params = match Params::from_env(env) {
        Ok(p) => p,
        Err(e) => return config_error(action, env, &e),
    };
    Agent {
        env,
        deps,
        params: &params,
    }
    .run(action)
}

/// A bad parameter. `stop` and probes must not fail on configuration a
/// resource that never ran cannot have used: a stop with a broken
/// configuration has nothing of ours to remove, and a probe reports "not
/// running".
fn config_error(action: ResourceAction, env: &OcfEnv, e: &InvalidInput) -> Reply {
    match action {
        ResourceAction::Stop => Reply::success(),
        ResourceAction::Monitor if env.is_probe() => Reply::bare(OcfExit::NotRunning),
        _ => Reply::failure(OcfExit::ErrConfigured, e.to_string()),
    }
}

struct Agent<'a> {
    env: &'a OcfEnv,
    deps: &'a Deps<'a>,
    params: &'a Params,
}

impl Agent<'_> {
    fn run(&self, action: ResourceAction) -> Reply {
        let def = match self.params.definition() {
            Ok(d) => d,
            Err(e) => return config_error(action, self.env, &e),
        };
        let opened = match (self.deps.open_kernel)() {
            Ok(k) => k,
            Err(e) => return kernel_unavailable(action, &e),
        };
        // One process, one action: each read of the kernel is made once
        // until the action changes something or waits (net::memo), so a
        // monitor costs one address dump, not one per question asked.
        let memo = ReadMemo::new(opened.as_ref(), self.deps.clock);
        let kernel: &dyn Kernel = &memo;
        let state_dir = self.env.state_dir();
        match action {
            ResourceAction::ValidateAll => {
                let mut reply = validate(kernel, &def, action);
                if reply.is_success() {
                    let read_host = self.deps.read_host;
                    let advice = doctor::warnings(kernel, &def, &state_dir, read_host);
                    reply.stderr.push_str(&advice);
                }
                return reply;
            }
            ResourceAction::ReloadAgent => {
                let reply = validate(kernel, &def, action);
                if reply.is_success() {
                    republish(&state_dir, &def);
                }
                return reply;
            }
            ResourceAction::Start => {
                if let Some(refusal) = refuse_loopback(kernel, &def) {
                    return refusal;
                }
            }
            ResourceAction::Stop | ResourceAction::Monitor => {}
        }
        let recorder = Recorder::new();
        let events = EventTee {
            recorder: &recorder,
            sink: self.deps.events,
        };
        let cluster = (self.deps.cluster)(self.env);
        let node = self.env.node();
        let ctx = Ctx {
            kernel,
            cluster: cluster.as_ref(),
            events: &events,
            clock: &memo,
            node: &node,
        };
        let store = Store::new(&state_dir, &state_dir);
        let (_lock, mut state) = match lock_and_load(&store, &def) {
            Ok(held) => held,
            // Nothing can be recorded, but a stop must still take the
            // address away, and succeed when nothing of ours is held.
            Err(e) if action == ResourceAction::Stop && !matches!(e, StoreError::Busy { .. }) => {
                return stop_without_state(&ctx, &def, &recorder, &state_dir, &e);
            }
            Err(e) => return Reply::failure(OcfExit::ErrGeneric, format!("state: {e}")),
        };
        let loaded = state.clone();
        let taken_over = match self.env.legacy_instance_tag() {
            Some(legacy) => upgrade::take_over(&store, &def, &legacy, &mut state),
            None => TakeOver::default(),
        };
        forget_foreign_active_adapter(&def, &mut state);
        let started_here = state.in_service;
        // The kernel is the truth (ops::prepare): a stop's intent is
        // written before it deletes. A monitor of a resource not started
        // here adopts nothing: it reports what it sees (monitor.rs).
        if (action != ResourceAction::Monitor || started_here)
            && let Err(e) = ops::prepare(
                &store,
                &ctx,
                &def,
                operation_of(action, self.env),
                &mut state,
            )
        {
            eprintln!("ipkit: could not save the state of {}: {e}", def.tag);
        }
        let mut reply = match action {
            ResourceAction::Start => start(&ctx, &def, &mut state, &recorder),
            ResourceAction::Stop => stop(&ctx, &def, &mut state, &recorder),
            _ => monitor(
                &ctx,
                &def,
                &mut state,
                &recorder,
                self.env,
                self.params.arp_count_refresh,
            ),
        };
        // The definition is published for a daemon serving this state dir
        // while the resource runs here (still under the lock).
        let published = match (action, reply.is_success()) {
            (ResourceAction::Start, true) => publish_definition(&store, &def),
            (ResourceAction::Stop, true) => withdraw_definition(&store, &def.tag),
            _ => false,
        };
        // A monitor of a resource not started here records nothing; one
        // that ends as the last look did has no news to write (only the
        // time of a repeated result would change).
        let news = match action {
            ResourceAction::Monitor => started_here && !state.same_but_for_times(&loaded),
            _ => true,
        };
        if news && let Err(e) = store.save_state(&def.tag, &state) {
            // The kernel already changed; report it, the state is rebuilt
            // from the kernel on the next call.
            eprintln!("ipkit: could not save the state of {}: {e}", def.tag);
        }
        if published || taken_over.republished {
            tell_daemon(store.state_dir());
        }
        for note in taken_over.notes {
            reply.stderr.push_str(&note);
            reply.stderr.push('\n');
        }
        reply
    }
}

/// The operation of SPEC §4 that SPEC §6 maps an action to: a monitor at
/// `OCF_CHECK_LEVEL` 10 is a deepCheck (after its quickCheck), and is
/// reconciled as one, routing included (`ops::reconcile`,
/// `settles_routing`); at depth 0 it is a quickCheck.
fn operation_of(action: ResourceAction, env: &OcfEnv) -> Operation {
    match action {
        ResourceAction::Start => Operation::Restore,
        ResourceAction::Stop => Operation::Remove,
        ResourceAction::Monitor if env.check_level() >= 10 => Operation::DeepCheck,
        ResourceAction::Monitor | ResourceAction::ValidateAll | ResourceAction::ReloadAgent => {
            Operation::QuickCheck
        }
    }
}

/// Take the resource's lock and load its state. A corrupt state file is
/// not fatal: the kernel is the truth for an address; start over from it.
fn lock_and_load(
    store: &Store,
    def: &Definition,
) -> Result<(ResourceLock, RuntimeState), StoreError> {
    let lock = store.lock(&def.tag, def.tunables.lock_timeout)?;
    match store.load_state(&def.tag) {
        Ok(state) => Ok((lock, state)),
        Err(StoreError::Corrupt { .. }) => Ok((lock, RuntimeState::default())),
        Err(e) => Err(e),
    }
}

/// `stop` when the state directory cannot be used (`HA_RSCTMP` missing, a
/// file, unwritable): remove the address wherever it is, as any stop does,
/// without the lock (no other call can take it either) and without
/// recording anything. Nothing held afterwards: 0, with a warning.
fn stop_without_state(
    ctx: &Ctx<'_>,
    def: &Definition,
    rec: &Recorder,
    state_dir: &Path,
    e: &StoreError,
) -> Reply {
    let problem = format!(
        "the state directory {} is unusable ({e})",
        state_dir.display()
    );
    let out = ops::remove(ctx, def, &mut RuntimeState::default());
    if out.success {
        return Reply {
            stderr: format!("ipkit: warning: {problem}; stopped without recording it\n"),
            ..Reply::success()
        };
    }
    let mut reply = reply_for(out, rec, "stop failed");
    if let Some(reason) = &mut reply.reason {
        reason.push_str(&format!("; {problem}"));
    }
    reply
}

/// The loopback adapter as `nic` or `recovery_nic`: by its name (the
/// command line's check), or renamed, by what the kernel reports of it:
/// ifindex 1 (the first device of every network namespace) and no MAC.
fn refuse_loopback(kernel: &dyn Kernel, def: &Definition) -> Option<Reply> {
    let adapters = std::iter::once(("nic", &def.adapter))
        .chain(def.recovery_adapter.as_ref().map(|r| ("recovery_nic", r)));
    for (field, adapter) in adapters {
        let refusal = match adapter.refuse_loopback(field) {
            Err(e) => e,
            Ok(()) => match kernel.link(adapter) {
                Ok(info) if is_loopback(&info) => InvalidInput::new(
                    field,
                    format!(
                        "{adapter} is the loopback adapter (ifindex 1, no MAC); a switchable \
                         address needs a network adapter"
                    ),
                ),
                _ => continue,
            },
        };
        return Some(Reply::failure(OcfExit::ErrConfigured, refusal.to_string()));
    }
    None
}

/// What the kernel reports of the loopback adapter under any name.
fn is_loopback(info: &LinkInfo) -> bool {
    info.ifindex == 1 && info.mac == Mac([0; 6])
}

/// `validate-all` (and the check before `reload-agent`): the adapters must
/// exist on this node. Read only.
fn validate(kernel: &dyn Kernel, def: &Definition, action: ResourceAction) -> Reply {
    if let Some(refusal) = refuse_loopback(kernel, def) {
        return refusal;
    }
    for nic in std::iter::once(&def.adapter).chain(def.recovery_adapter.as_ref()) {
        match kernel.link_state(nic) {
            Ok(LinkState::Missing) => {
                let field = if *nic == def.adapter {
                    "nic"
                } else {
                    "recovery_nic"
                };
                return Reply::failure(
                    OcfExit::ErrInstalled,
                    format!("invalid {field}: adapter {nic} does not exist on this node"),
                );
            }
            Ok(_) => {}
            Err(e) => return kernel_unavailable(action, &e),
        }
    }
    Reply::success()
}

/// `start` = restore (SPEC §6).
fn start(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, rec: &Recorder) -> Reply {
    // An adapter missing on this node is a node-local installation
    // problem (the cluster tries another node), not a failed start.
    let missing = |a: &AdapterName| matches!(ctx.kernel.link_state(a), Ok(LinkState::Missing));
    let recovery_missing = match &def.recovery_adapter {
        Some(r) => missing(r),
        None => true,
    };
    if missing(&def.adapter) && (recovery_missing || !def.local_recovery) {
        return Reply::failure(
            OcfExit::ErrInstalled,
            format!(
                "invalid nic: adapter {} does not exist on this node",
                def.adapter
            ),
        );
    }
    let out = ops::restore(ctx, def, state);
    reply_for(out, rec, "start failed")
}

/// `stop` = remove (SPEC §6).
fn stop(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, rec: &Recorder) -> Reply {
    let out = ops::remove(ctx, def, state);
    reply_for(out, rec, "stop failed")
}

/// Forget an `active_adapter` that is neither of this definition's adapters
/// (the parameters changed since it was recorded).
fn forget_foreign_active_adapter(def: &Definition, state: &mut RuntimeState) {
    if let Some(a) = &state.active_adapter
        && *a != def.adapter
        && Some(a) != def.recovery_adapter.as_ref()
    {
        state.active_adapter = None;
    }
}

/// The kernel could not be opened or read (no privilege, no backend).
fn kernel_unavailable(action: ResourceAction, e: &KernelError) -> Reply {
    let reason = format!("cannot reach the kernel: {e}");
    let exit = match action {
        ResourceAction::ValidateAll | ResourceAction::ReloadAgent if !e.is_permission() => {
            OcfExit::ErrInstalled
        }
        _ => exit_for_kernel_error(e),
    };
    Reply::failure(exit, reason)
}

/// Sends every event both to the caller's sink and to a recorder, from
/// which the exit reason is chosen.
struct EventTee<'a> {
    recorder: &'a Recorder,
    sink: &'a dyn EventSink,
}

impl EventSink for EventTee<'_> {
    fn emit(&self, event: &Event) {
        self.recorder.emit(event);
        self.sink.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, ifindex: u32, mac: [u8; 6]) -> LinkInfo {
        LinkInfo {
            name: AdapterName::new(name).unwrap(),
            ifindex,
            mac: Mac(mac),
            state: LinkState::Connected,
            carrier_changes: None,
        }
    }

    #[test]
    fn the_loopback_is_known_by_ifindex_1_and_no_mac() {
        assert!(is_loopback(&link("lo9", 1, [0; 6])));
        // A device without a MAC (tun, wireguard) is not the loopback.
        assert!(!is_loopback(&link("tun0", 7, [0; 6])));
        assert!(!is_loopback(&link("eth0", 2, [2, 0, 0, 0, 0, 1])));
    }
}
