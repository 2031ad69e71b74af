//! `ipkit daemon`: run the monitoring daemon, or with `--check-config`
//! print what its start would read and judge, and exit (docs/daemon.md).

use std::path::Path;

use clap::Args;

use super::{CliError, Exit, Global, say_out};
use crate::daemon::check_config::ConfigCheck;
use crate::daemon::{DaemonError, DaemonExit, DaemonOptions};

/// `ipkit daemon [--check-config]`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Validate ipkit.toml and every definition, print what was found and
    /// exit (0 valid, 2 invalid) without starting anything: no socket, no
    /// pid file, nothing written.
    #[arg(long)]
    pub check_config: bool,
}

pub fn daemon(g: &Global, args: &DaemonArgs) -> Result<Exit, CliError> {
    let opts = DaemonOptions {
        config_dir: g.config_dir().to_path_buf(),
        state_dir: g.state_dir().to_path_buf(),
    };
    if args.check_config {
        return check(g, &ConfigCheck::run(&opts));
    }
    crate::daemon::main(&opts).map_err(|e| daemon_error(&e))?;
    Ok(Exit::Ok)
}

/// The daemon's own status (its table, [`DaemonExit`]) as the command
/// line's: both name 0-2.
fn exit_of(e: DaemonExit) -> Exit {
    Exit::from_code(e.code()).unwrap_or(Exit::Failed)
}

fn daemon_error(e: &DaemonError) -> CliError {
    CliError::new(exit_of(e.exit()), format!("daemon: {e}"))
}

fn check(g: &Global, found: &ConfigCheck) -> Result<Exit, CliError> {
    let exit = exit_of(found.exit());
    let warnings = found.warnings();
    let problems: Vec<String> = found.problems.iter().map(ToString::to_string).collect();
    if g.json {
        let config = found.config.as_ref().map(|c| {
            serde_json::json!({
                "listen": c.listen.map(|a| a.to_string()),
                "token": c.token.is_some(),
                "on_failure": c.on_failure,
                "on_failure_timeout_ms": c.on_failure_timeout.as_millis() as u64,
                "on_stop": c.on_stop.as_str(),
                "workers": c.workers,
                "peers": c.peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            })
        });
        let definitions: Vec<_> = found
            .definitions
            .iter()
            .map(|d| {
                serde_json::json!({
                    "tag": d.tag.as_str(),
                    "address": d.address.to_string(),
                    "adapter": d.adapter.as_str(),
                    "recovery_adapter": d.recovery_adapter.as_ref().map(|a| a.as_str()),
                    "hold_in_service": d.hold_in_service,
                })
            })
            .collect();
        say_out(serde_json::json!({
            "exit": exit.code(),
            "kind": exit,
            "config_file": found.config_path,
            "config_found": found.config_found,
            "config": config,
            "definitions": definitions,
            "problems": problems,
            "warnings": warnings,
        }))?;
    } else {
        say_out(config_line(&found.config_path, found))?;
        for d in &found.definitions {
            let recovery = d
                .recovery_adapter
                .as_ref()
                .map(|r| format!(", recovery {r}"))
                .unwrap_or_default();
            say_out(format!(
                "definition {}: ok ({} on {}{recovery})",
                d.tag, d.address, d.adapter
            ))?;
        }
        for p in &problems {
            say_out(format!("error: {p}"))?;
        }
        for w in &warnings {
            say_out(format!("warning: {w}"))?;
        }
        say_out(match exit {
            Exit::Ok => format!(
                "valid: the daemon would start with {} definition(s)",
                found.definitions.len()
            ),
            _ => format!("invalid: the daemon would exit with status {}", exit.code()),
        })?;
    }
    Ok(exit)
}

fn config_line(path: &Path, found: &ConfigCheck) -> String {
    let Some(c) = &found.config else {
        return format!("config {}: invalid", path.display());
    };
    let api = c
        .listen
        .map(|a| format!("status API on {a}"))
        .unwrap_or_else(|| "status API off".into());
    let state = if found.config_found {
        "ok"
    } else {
        "not found, the defaults"
    };
    format!(
        "config {}: {state} ({api}, {} worker(s), on_stop {}, {} peer(s))",
        path.display(),
        c.workers,
        c.on_stop.as_str(),
        c.peers.len()
    )
}
