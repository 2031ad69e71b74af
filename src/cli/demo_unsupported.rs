//! `ipkit demo` where there are no Linux network namespaces to build its
//! lab in: the command exists (the command line is the same everywhere)
//! and refuses with exit status 2.

use super::{CliError, Exit};

pub fn demo() -> Result<Exit, CliError> {
    Err(CliError::new(
        Exit::Invalid,
        "demo builds its lab out of Linux network namespaces; it runs on Linux only",
    ))
}
