//! The ipkit command line.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    eprintln!("ipkit: the command line is not built yet");
    ExitCode::from(2)
}
