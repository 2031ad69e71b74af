//! `ipkit demo`: the newcomer's first minute, in a throwaway lab.

use super::{CliError, Exit};

pub fn demo() -> Result<Exit, CliError> {
    Err(CliError::new(
        Exit::Failed,
        "the demo needs the namespace lab (ipkit::lab), which is not built into this binary yet",
    ))
}
