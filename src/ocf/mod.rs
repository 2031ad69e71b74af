//! The OCF resource-agent face for Pacemaker (OCF resource-agent API 1.1).
//!
//! Pacemaker runs the agent as `/usr/lib/ocf/resource.d/ipkit/vip ACTION`
//! (the `ipkit` binary under that name; `ipkit ocf ACTION` is the same), with
//! its parameters in `OCF_RESKEY_*`. Every call rebuilds the resource
//! definition from the environment, since Pacemaker's CIB is its home, and
//! maps the action onto an operation of SPEC §4 (SPEC §6): `start` = restore,
//! `stop` = remove, `monitor` = quickCheck (deepCheck too at `OCF_CHECK_LEVEL`
//! 10; a failed quickCheck on a resource started here runs recover first),
//! plus `validate-all`, `reload-agent` and `meta-data`. Each operation takes
//! the resource's lock and keeps its runtime state under `$HA_RSCTMP/ipkit`
//! (tmpfs: a reboot forgets it, as Pacemaker expects), named by a tag that
//! `OCF_RESOURCE_INSTANCE` maps to injectively. While the resource runs here
//! its definition is also published in that directory, so that an `ipkit
//! daemon` serving it recovers the address on netlink events.
//!
//! - `env`: the `OCF_*` / `HA_*` environment ([`OcfEnv`]) and the tag;
//! - `params`: the parameter table and the parser built on it ([`Params`]);
//! - `actions`: the actions on a resource and their OCF exit codes;
//! - `doctor`: `validate-all`'s warnings, `ipkit doctor`'s findings for the
//!   resource;
//! - `monitor`: the monitor action (recover only for a resource started here);
//! - `upgrade`: taking over what earlier agents kept under their old tag;
//! - `publish`: the definition published for a daemon, and its SIGHUP;
//! - `meta_data`: the meta-data XML, rendered from the parameter table.

mod actions;
mod doctor;
mod env;
mod meta_data;
mod monitor;
mod outcome;
mod params;
mod publish;
mod upgrade;

pub use env::OcfEnv;
pub use meta_data::{
    ADVERTISED_ACTIONS, AGENT_DESCRIPTION, AGENT_SUMMARY, AdvertisedAction, meta_data,
};
pub use params::{Param, ParamDefault, ParamSyntax, Params, parameters};

use crate::cluster::{ClusterView, Standalone};
use crate::doctor::{HostFacts, HostPaths};
use crate::events::EventSink;
use crate::net::{Kernel, KernelError};
use crate::ops::{Clock, SystemClock};
use crate::resource::AdapterName;
use actions::ResourceAction;

/// The OCF exit codes (OCF RA API 1.1, "Return codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcfExit {
    Success,
    ErrGeneric,
    ErrArgs,
    ErrUnimplemented,
    ErrPerm,
    ErrInstalled,
    ErrConfigured,
    NotRunning,
}

impl OcfExit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            OcfExit::Success => 0,
            OcfExit::ErrGeneric => 1,
            OcfExit::ErrArgs => 2,
            OcfExit::ErrUnimplemented => 3,
            OcfExit::ErrPerm => 4,
            OcfExit::ErrInstalled => 5,
            OcfExit::ErrConfigured => 6,
            OcfExit::NotRunning => 7,
        }
    }

    /// The name the OCF standard gives it (`OCF_SUCCESS` ...).
    pub fn name(self) -> &'static str {
        match self {
            OcfExit::Success => "OCF_SUCCESS",
            OcfExit::ErrGeneric => "OCF_ERR_GENERIC",
            OcfExit::ErrArgs => "OCF_ERR_ARGS",
            OcfExit::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfExit::ErrPerm => "OCF_ERR_PERM",
            OcfExit::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfExit::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfExit::NotRunning => "OCF_NOT_RUNNING",
        }
    }
}

/// What an action answers Pacemaker: the exit code, the `ocf-exit-reason`
/// of a failure, and the text it prints (meta-data, usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub exit: OcfExit,
    pub reason: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

impl Reply {
    /// `OCF_SUCCESS`, nothing printed.
    pub fn success() -> Self {
        Self::bare(OcfExit::Success)
    }

    /// This exit code without a reason (success, or "not running").
    pub fn bare(exit: OcfExit) -> Self {
        Self {
            exit,
            reason: None,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// A failure and the `ocf-exit-reason` that explains it.
    pub fn failure(exit: OcfExit, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::bare(exit)
        }
    }

    pub fn is_success(&self) -> bool {
        self.exit == OcfExit::Success
    }
}

/// What the agent needs from outside: the kernel, the cluster view, the
/// event sink, the clock, and the host facts `validate-all` reports on
/// (sysctls, capabilities, Corosync: `ipkit doctor`'s). [`run_action`] uses
/// the real ones; tests inject the simulated network and cluster.
pub struct Deps<'a> {
    pub open_kernel: &'a dyn Fn() -> Result<Box<dyn Kernel>, KernelError>,
    pub cluster: &'a dyn Fn(&OcfEnv) -> Box<dyn ClusterView>,
    pub events: &'a dyn EventSink,
    pub clock: &'a dyn Clock,
    pub read_host: &'a dyn Fn(&[AdapterName]) -> HostFacts,
}

/// The action names this agent understands.
enum OcfAction {
    OnResource(ResourceAction),
    MetaData,
    Usage,
}

impl OcfAction {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "start" => Self::OnResource(ResourceAction::Start),
            "stop" => Self::OnResource(ResourceAction::Stop),
            "monitor" => Self::OnResource(ResourceAction::Monitor),
            "validate-all" => Self::OnResource(ResourceAction::ValidateAll),
            "reload-agent" => Self::OnResource(ResourceAction::ReloadAgent),
            "meta-data" => Self::MetaData,
            "usage" | "help" => Self::Usage,
            _ => return None,
        })
    }
}

const USAGE: &str = "usage: vip {start|stop|monitor|validate-all|reload-agent|meta-data}";

/// Run one OCF action with parameters from `OCF_RESKEY_*`; returns the OCF
/// exit code (0-7).
pub fn run_action(action: &str) -> u8 {
    let env = OcfEnv::from_process();
    if action == "meta-data" {
        // Before any sink: ocf-tester runs meta-data as nobody, who may not
        // reach the state directory.
        print!("{}", meta_data());
        return OcfExit::Success.code();
    }
    // Events: journal (or syslog), `<state dir>/events.jsonl`, and stderr,
    // which Pacemaker's executor copies into its log with the operation.
    let sink = crate::log::standard_sinks(&env.state_dir(), true);
    let deps = Deps {
        open_kernel: &open_native_kernel,
        cluster: &cluster_view,
        events: &sink,
        clock: &SystemClock,
        read_host: &|adapters| crate::doctor::read_host(adapters, &HostPaths::system()),
    };
    let reply = run(action, &env, &deps);
    // Nothing to say is the common case (a monitor that passes): then the
    // standard streams are never set up.
    if !reply.stdout.is_empty() {
        print!("{}", reply.stdout);
    }
    if !reply.stderr.is_empty() {
        eprint!("{}", reply.stderr);
    }
    if let Some(reason) = reply.reason {
        eprintln!("ocf-exit-reason:{reason}");
    }
    reply.exit.code()
}

/// The platform's kernel seam. On Linux its `delete_address` stops the
/// address's background announcement rounds first
/// (`packet::stop_announcing`), so a stop followed at once by a start on
/// another node (a move) never lets the new node's in-use probe hear this
/// node's trailing announcements.
fn open_native_kernel() -> Result<Box<dyn Kernel>, KernelError> {
    crate::net::backend::native().open_kernel()
}

/// The Pacemaker cluster view under Pacemaker, else standalone.
fn cluster_view(env: &OcfEnv) -> Box<dyn ClusterView> {
    if env.under_pacemaker() {
        Box::new(crate::cluster::pacemaker::Pacemaker::new(env.node()))
    } else {
        Box::new(Standalone)
    }
}

/// Run one action in `env`; the reply says what to print and how to exit.
pub fn run(action: &str, env: &OcfEnv, deps: &Deps<'_>) -> Reply {
    match OcfAction::parse(action) {
        Some(OcfAction::OnResource(action)) => actions::run(action, env, deps),
        Some(OcfAction::MetaData) => Reply {
            stdout: meta_data(),
            ..Reply::success()
        },
        Some(OcfAction::Usage) => Reply {
            stdout: format!("{USAGE}\n"),
            ..Reply::success()
        },
        None if action.is_empty() => Reply {
            stderr: format!("{USAGE}\n"),
            ..Reply::failure(OcfExit::ErrArgs, "no action given")
        },
        None => Reply::failure(
            OcfExit::ErrUnimplemented,
            format!("action {action:?} is not implemented"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_ocf_numbers() {
        let all = [
            OcfExit::Success,
            OcfExit::ErrGeneric,
            OcfExit::ErrArgs,
            OcfExit::ErrUnimplemented,
            OcfExit::ErrPerm,
            OcfExit::ErrInstalled,
            OcfExit::ErrConfigured,
            OcfExit::NotRunning,
        ];
        let codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(OcfExit::ErrInstalled.name(), "OCF_ERR_INSTALLED");
        assert_eq!(OcfExit::NotRunning.name(), "OCF_NOT_RUNNING");
    }
}
