//! What goes into the policy and what comes out of it: inputs, the jobs it
//! asks for, and the reports that come back from the executor.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::resource::{AdapterName, Mac, Tag};

/// What the daemon's event loop feeds in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// An adapter's cable state as the change source reports it (SPEC §2:
    /// connected = administratively up and carrier).
    Link { name: AdapterName, connected: bool },
    /// An adapter disappeared.
    LinkGone { name: AdapterName },
    /// An address was deleted (`adapter` when the ifindex is known).
    AddressRemoved {
        ip: IpAddr,
        adapter: Option<AdapterName>,
    },
    /// An address was added.
    AddressAdded {
        ip: IpAddr,
        adapter: Option<AdapterName>,
    },
    /// Another host, with `mac`, claims the address `ip` on `adapter`
    /// (None when the ifindex is unknown): RFC 5227 §2.4.
    AddressClaimed {
        ip: IpAddr,
        adapter: Option<AdapterName>,
        mac: Mac,
    },
    /// The change source overran: the caller re-read every link (as `Link` inputs) and
    /// now every in-service resource is checked.
    Resync,
    /// A job finished.
    Done { tag: Tag, report: Report },
    /// Nothing but the passage of time.
    Tick,
}

/// Why a quickCheck runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A reported change (after the debounce, which the policy already waited:
    /// the job runs quickCheck with `link_debounce` 0).
    Event,
    /// The periodic safety net (quickCheck keeps its own debounce).
    Timer,
}

/// Why a resource is marked failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// More local recoveries were needed than `restart_threshold` allows in
    /// `restart_window` (event 7104).
    Threshold { count: u32, window_secs: u64 },
    /// recover ran and failed (6604).
    RecoverFailed,
    /// quickCheck failed and local recovery is off.
    LocalRecoveryOff,
}

impl FailReason {
    /// The text handed to `on_failure` as `IPKIT_REASON`.
    pub fn text(&self) -> String {
        match self {
            FailReason::Threshold { count, window_secs } => {
                format!("restart threshold exceeded: {count} local recoveries in {window_secs} s")
            }
            FailReason::RecoverFailed => "local recovery failed".to_owned(),
            FailReason::LocalRecoveryOff => {
                "quickCheck failed and local recovery is off".to_owned()
            }
        }
    }
}

/// Work for the executor, one resource at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// quickCheck; when it fails and `recover` is true, recover under the
    /// same lock.
    Check {
        trigger: Trigger,
        recover: bool,
    },
    DeepCheck,
    /// Bring a `hold_in_service` resource up.
    Restore,
    /// Re-announce the address (`announce_refresh`).
    Refresh,
    /// Persist `failed`, emit 7104 for a threshold, run `on_failure` once.
    MarkFailed(FailReason),
    /// Another host (`mac`) claims the address in service on `adapter`:
    /// report it (7108) and defend it with one announcement when it is
    /// still ours alone there (RFC 5227 §2.4). At most one per
    /// [`DEFEND_INTERVAL`](super::DEFEND_INTERVAL).
    Defend {
        mac: Mac,
        adapter: AdapterName,
    },
}

/// What the executor reports back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// The resource's state (read from the store) says it is not in service,
    /// or is marked failed; nothing was run.
    Skipped {
        in_service: bool,
        failed: bool,
    },
    /// quickCheck ran; `recovered` is Some(success) when recover ran too.
    Checked {
        ok: bool,
        recovered: Option<bool>,
        active: AdapterName,
        in_service: bool,
    },
    DeepChecked,
    Restored {
        ok: bool,
        active: AdapterName,
    },
    Refreshed,
    MarkedFailed,
    Defended,
    /// The job could not run (lock busy, store error); retried by the timer.
    Error,
    /// A member of a batch whose lock another operation held: left out of
    /// the batch, so that the others do not wait for it; checked again at
    /// once on its own (that check waits for the lock).
    Deferred,
}

/// What comes out: run `job` on `tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    pub tag: Tag,
    pub job: Job,
    /// The requests of one step with the same batch run together, as one
    /// job (issue 11): the checks of every resource whose adapter lost its
    /// cable. None: on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
}
