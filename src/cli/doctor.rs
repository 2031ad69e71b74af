//! `ipkit doctor`: gather this node's facts, run every check, print one line (or JSON object) per finding, exit 0 / 1 / 2.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Exit, Global, stdout_error, system};
use crate::doctor::{
    self, Finding, FindingId, Gather, HostPaths, NodeFacts, SEGMENT_TIMEOUT, Severity, gather,
};
use crate::resource::AdapterName;

pub const DOCTOR_HELP: &str = "\
Each line: severity (ok, warning, error), finding id, subject (resource/adapter,
resource, adapter or node), what was found, and the fix. With --json: an array
of {id, severity, resource, adapter, message, fix}. docs/doctor.md says why each
finding matters and how to fix it.

Exit status:
  0  every check passed
  1  warnings (and no error)
  2  errors";

/// The long help (and ipkit-doctor(1)): [`DOCTOR_HELP`] after every
/// finding id with what its check wants.
pub fn long_help() -> String {
    let ids: String = FindingId::ALL
        .iter()
        .map(|id| format!("  {}: {}\n", id.as_str(), id.summary()))
        .collect();
    format!("Finding ids (each also reported as ok when the check passes):\n{ids}\n{DOCTOR_HELP}")
}

/// `doctor`: what on this node would break a failover.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Send no test frame: leave out the same-segment test of the
    /// adapters (an ARP probe / DAD NS for the address, which changes no
    /// neighbour cache).
    #[arg(long)]
    pub no_probe: bool,
    /// Corosync's configuration, read for the ring addresses (when it
    /// does not exist, no Corosync check is made).
    #[arg(long, value_name = "FILE", default_value = gather::COROSYNC_CONF)]
    pub corosync_conf: PathBuf,
}

pub fn doctor(g: &Global, args: &DoctorArgs) -> Result<Exit, CliError> {
    let (definitions, broken) = match g.store.load_all() {
        Ok(all) => (
            all.loaded,
            all.broken.iter().map(ToString::to_string).collect(),
        ),
        Err(e) => (Vec::new(), vec![e.to_string()]),
    };
    let paths = HostPaths {
        corosync_conf: args.corosync_conf.clone(),
        ..HostPaths::system()
    };
    let read_host = |adapters: &[AdapterName]| doctor::read_host(adapters, &paths);
    let facts = match system::open_kernel() {
        Ok(kernel) => Gather {
            kernel: &*kernel,
            store: &g.store,
            read_host: &read_host,
            segment_timeout: (!args.no_probe).then_some(SEGMENT_TIMEOUT),
        }
        .facts(definitions, broken),
        Err(e) => {
            let adapters: Vec<AdapterName> = definitions
                .iter()
                .flat_map(doctor::rules::resource_adapters)
                .cloned()
                .collect();
            NodeFacts {
                host: read_host(&adapters),
                definitions,
                broken_definitions: broken,
                node: Err(e.to_string()),
                routing: Err(e.to_string()),
                segments: Vec::new(),
            }
        }
    };
    let findings = doctor::diagnose(&facts);
    report(g.json, &findings)?;
    Ok(match doctor::exit_code(&findings) {
        0 => Exit::Ok,
        1 => Exit::Failed,
        _ => Exit::Invalid,
    })
}

/// One line per finding (or one JSON array), and a count on stderr.
fn report(json: bool, findings: &[Finding]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string(findings)
            .map_err(|e| CliError::new(Exit::Failed, format!("findings as JSON: {e}")))?;
        writeln!(stdout, "{text}").map_err(stdout_error)?;
    } else {
        for f in findings {
            writeln!(stdout, "{f}").map_err(stdout_error)?;
        }
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    eprintln!(
        "ipkit doctor: {} ok, {} warning(s), {} error(s)",
        count(Severity::Ok),
        count(Severity::Warning),
        count(Severity::Error)
    );
    Ok(())
}
