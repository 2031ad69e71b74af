//! `validate-all`'s advice: `ipkit doctor`'s findings for the resource, as warnings on stderr (the exit code stays the validation's).

use std::path::Path;

use crate::doctor::{Gather, HostFacts, SEGMENT_TIMEOUT, Severity, diagnose};
use crate::net::Kernel;
use crate::resource::{AdapterName, Definition};
use crate::store::Store;

/// One `ipkit: warning: doctor <id> <subject>: <message>; fix: <fix>` line
/// per finding that is not ok, for the resource `def` and the node. The
/// same-segment test takes the resource's lock in `state_dir`.
pub(super) fn warnings(
    kernel: &dyn Kernel,
    def: &Definition,
    state_dir: &Path,
    read_host: &dyn Fn(&[AdapterName]) -> HostFacts,
) -> String {
    let store = Store::new(state_dir, state_dir);
    let facts = Gather {
        kernel,
        store: &store,
        read_host,
        segment_timeout: Some(SEGMENT_TIMEOUT),
    }
    .facts(vec![def.clone()], Vec::new());
    diagnose(&facts)
        .iter()
        .filter(|f| f.severity != Severity::Ok)
        .map(|f| {
            let fix = f
                .fix
                .as_ref()
                .map(|x| format!("; fix: {x}"))
                .unwrap_or_default();
            format!(
                "ipkit: warning: doctor {} {}: {}{fix}\n",
                f.id,
                f.subject(),
                f.message
            )
        })
        .collect()
}
