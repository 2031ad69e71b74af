//! The lines of the OCF cases: the steps `input.jsonl` holds and the lines `output.jsonl` holds (see the harness's doc comment).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipkit::net::LinkState;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- input

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Description(String),
    Env(BTreeMap<String, Option<String>>),
    Adapter(AdapterIn),
    Assign(Placement),
    Unassign(Placement),
    Carrier(Switch),
    Admin(Switch),
    Vanish(String),
    Remote(RemoteIn),
    Standby(StandbyIn),
    ClusterUnreadable(Option<String>),
    Fault(FaultIn),
    KernelUnavailable(Option<String>),
    Rsctmp(RsctmpIn),
    Run(RunIn),
}

/// What `HA_RSCTMP` points at.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RsctmpIn {
    Usable,
    AFile,
    UnderAFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterIn {
    pub name: String,
    #[serde(default = "yes")]
    pub carrier: bool,
    #[serde(default = "yes")]
    pub admin_up: bool,
    #[serde(default)]
    pub loopback: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub adapter: String,
    pub address: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub adapter: String,
    pub up: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteIn {
    pub mac: String,
    pub ips: Vec<IpAddr>,
    /// The adapters on whose segment it answers (all when absent).
    pub via: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandbyIn {
    pub node: String,
    pub adapter: String,
    #[serde(default = "yes")]
    pub up: bool,
    pub link: LinkState,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultIn {
    /// link, holders, add, delete, flush, announce, probe
    pub call: String,
    pub adapter: Option<String>,
    pub errno: String,
    /// 0 = every matching call from then on.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RunIn {
    Action(String),
    WithEnv {
        action: String,
        env: BTreeMap<String, Option<String>>,
    },
}

// ---------------------------------------------------------------- output

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Run(RunIn),
    Event(EventOut),
    Stdout(String),
    Stderr(String),
    Exit(ExitOut),
    After(AfterOut),
}

#[derive(Serialize)]
pub struct EventOut {
    pub id: u16,
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub message: String,
}

#[derive(Serialize)]
pub struct ExitOut {
    pub code: u8,
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct AfterOut {
    /// "ADAPTER ADDRESS/PREFIX", the whole simulated address table.
    pub addresses: Vec<String>,
    /// "ADAPTER IP COUNTxINTERVALms" sent during this action.
    pub announced: Vec<String>,
    /// Definitions published for a daemon (`resources/*.toml`).
    pub published: Vec<PublishedOut>,
    /// Runtime state files (`state/*.json`).
    pub state: Vec<StateOut>,
}

#[derive(Serialize)]
pub struct PublishedOut {
    pub tag: String,
    pub address: String,
    pub adapter: String,
    pub recovery_adapter: Option<String>,
    pub local_recovery: bool,
    pub hold_in_service: bool,
    pub probe_timeout_ms: u128,
    pub announce_count: u32,
    pub announce_interval_ms: u128,
}

#[derive(Serialize)]
pub struct StateOut {
    pub tag: String,
    pub in_service: bool,
    pub active_adapter: Option<String>,
}
