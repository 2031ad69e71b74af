//! The `ipkit` binary. Installed (or symlinked) as `vip`, it is the OCF
//! resource agent (`/usr/lib/ocf/resource.d/ipkit/vip ACTION`); otherwise it
//! is the command line (`ipkit ...`, `ipkit ocf ACTION`, `ipkit daemon`).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ipkit")
        .to_owned();
    if name == "vip" {
        let action = args
            .next()
            .and_then(|a| a.into_string().ok())
            .unwrap_or_default();
        return ExitCode::from(ipkit::ocf::run_action(&action));
    }
    ipkit::cli::main()
}
