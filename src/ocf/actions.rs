//! The actions on a resource (start, stop, monitor, validate-all, reload-agent) and their OCF exit codes.
//!
//! Each runs the operation of SPEC §4 that SPEC §6 maps it to, under the
//! resource's lock and with its runtime state in `$HA_RSCTMP/ipkit`, and
//! turns the outcome into an OCF exit code and exit reason.

use super::env::OcfEnv;
use super::params::Params;
use super::publish::{publish_definition, republish, tell_daemon, withdraw_definition};
use super::{Deps, OcfExit, Reply};
use crate::events::{Event, EventSink, Kind, Recorder, Severity};
use crate::net::{AnnouncePlan, Kernel, KernelError, LinkState};
use crate::ops::{self, Ctx, Outcome};
use crate::resource::{AdapterName, Definition, InvalidInput, Operation, RuntimeState};
use crate::store::{Store, StoreError};

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
        let kernel = match (self.deps.open_kernel)() {
            Ok(k) => k,
            Err(e) => return kernel_unavailable(action, &e),
        };
        let state_dir = self.env.state_dir();
        match action {
            ResourceAction::ValidateAll => return validate(kernel.as_ref(), &def, action),
            ResourceAction::ReloadAgent => {
                let reply = validate(kernel.as_ref(), &def, action);
                if reply.is_success() {
                    republish(&state_dir, &def);
                }
                return reply;
            }
            ResourceAction::Start | ResourceAction::Stop | ResourceAction::Monitor => {}
        }
        let store = Store::new(&state_dir, &state_dir);
        let _lock = match store.lock(&def.tag, def.tunables.lock_timeout) {
            Ok(l) => l,
            Err(e) => return Reply::failure(OcfExit::ErrGeneric, format!("state: {e}")),
        };
        let mut state = match store.load_state(&def.tag) {
            Ok(s) => s,
            // A corrupt state file is not fatal: the kernel is the truth
            // for an address; start over from it.
            Err(StoreError::Corrupt { .. }) => RuntimeState::default(),
            Err(e) => return Reply::failure(OcfExit::ErrGeneric, format!("state: {e}")),
        };
        forget_foreign_active_adapter(&def, &mut state);
        let recorder = Recorder::new();
        let events = EventTee {
            recorder: &recorder,
            sink: self.deps.events,
        };
        let cluster = (self.deps.cluster)(self.env);
        let node = self.env.node();
        let ctx = Ctx {
            kernel: kernel.as_ref(),
            cluster: cluster.as_ref(),
            events: &events,
            clock: self.deps.clock,
            node: &node,
        };
        let reply = match action {
            ResourceAction::Start => start(&ctx, &def, &mut state, &recorder),
            ResourceAction::Stop => stop(&ctx, &def, &mut state, &recorder),
            _ => self.monitor(&ctx, &def, &mut state, &recorder),
        };
        // The definition is published for a daemon serving this state dir
        // while the resource runs here (still under the lock).
        let published = match (action, reply.is_success()) {
            (ResourceAction::Start, true) => publish_definition(&store, &def),
            (ResourceAction::Stop, true) => withdraw_definition(&store, &def.tag),
            _ => false,
        };
        if let Err(e) = store.save_state(&def.tag, &state) {
            // The kernel already changed; report it, the state is rebuilt
            // from the kernel on the next call.
            eprintln!("ipkit: could not save the state of {}: {e}", def.tag);
        }
        if published {
            tell_daemon(store.state_dir());
        }
        reply
    }

    /// `monitor` (SPEC §6): quickCheck, deepCheck at `OCF_CHECK_LEVEL` 10,
    /// and recover before reporting a failed quickCheck.
    fn monitor(
        &self,
        ctx: &Ctx<'_>,
        def: &Definition,
        state: &mut RuntimeState,
        rec: &Recorder,
    ) -> Reply {
        let ip = def.address.ip();
        let holders = match ctx.kernel.holders(ip) {
            Ok(h) => h,
            Err(e) => return Reply::failure(exit_for_kernel_error(&e), e.to_string()),
        };
        if !state.in_service {
            // Not started by us (or this node rebooted): report what the
            // kernel shows. Present nowhere: not running.
            if holders.is_empty() {
                return Reply::bare(OcfExit::NotRunning);
            }
            // Found on one of our adapters: adopt it and check it.
            match holders.as_slice() {
                [one] if *one == def.adapter || Some(one) == def.recovery_adapter.as_ref() => {
                    state.active_adapter = Some(one.clone());
                    state.in_service = true;
                }
                _ => {
                    return Reply::failure(
                        OcfExit::ErrGeneric,
                        format!(
                            "address {ip} is held by {}, not (only) by nic {} or recovery_nic",
                            adapter_list(&holders),
                            def.adapter
                        ),
                    );
                }
            }
        }
        // In service. quickCheck; a failure runs recover first.
        let quick = ops::quick_check(ctx, def, state);
        if quick.success {
            if self.env.check_level() >= 10 {
                ops::deep_check(ctx, def, state);
            }
            self.refresh(ctx, def, state);
            return Reply::success();
        }
        let out = ops::recover(ctx, def, state);
        if out.success {
            return Reply::success();
        }
        let reason = failure_reason(rec, &out, "monitor: quickCheck and local recovery failed");
        match ctx.kernel.holders(ip) {
            Ok(h) if h.is_empty() => Reply::failure(OcfExit::NotRunning, reason),
            _ => Reply::failure(OcfExit::ErrGeneric, reason),
        }
    }

    /// `arp_count_refresh`: re-announce on each successful monitor.
    fn refresh(&self, ctx: &Ctx<'_>, def: &Definition, state: &RuntimeState) {
        let count = self.params.arp_count_refresh;
        if count == 0 {
            return;
        }
        let plan = AnnouncePlan {
            count,
            interval: def.tunables.announce_interval,
        };
        let active = state.active_adapter(def).clone();
        if let Err(e) = ctx.kernel.announce(&active, def.address.ip(), plan) {
            let event = Event::about(
                def,
                Operation::QuickCheck,
                ctx.node,
                &Kind::AnnounceFailed {
                    err: e.to_string(),
                    guid: active,
                },
                ctx.clock.now(),
            );
            ctx.events.emit(&event);
        }
    }
}

/// `validate-all` (and the check before `reload-agent`): the adapters must
/// exist on this node. Read only.
fn validate(kernel: &dyn Kernel, def: &Definition, action: ResourceAction) -> Reply {
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

/// The reply for an operation's outcome: success, a missing privilege, or
/// a generic failure.
fn reply_for(out: Outcome, rec: &Recorder, fallback: &str) -> Reply {
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
fn failure_reason(rec: &Recorder, out: &Outcome, fallback: &str) -> String {
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

fn exit_for_kernel_error(e: &KernelError) -> OcfExit {
    if e.is_permission() {
        OcfExit::ErrPerm
    } else {
        OcfExit::ErrGeneric
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

fn adapter_list(list: &[AdapterName]) -> String {
    list.iter()
        .map(AdapterName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
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
