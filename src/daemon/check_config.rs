//! `ipkit daemon --check-config`: read `ipkit.toml` and every definition
//! the way the daemon's start does, and judge them with the same rules and
//! exit statuses, without starting anything (no socket, no pid file, no
//! thread, nothing written).

use std::path::PathBuf;

use super::DaemonOptions;
use super::error::{DaemonError, DaemonExit};
use super::event_loop::load_definitions;
use crate::config::Config;
use crate::resource::Definition;
use crate::store::Store;

/// What the check found.
#[derive(Debug)]
pub struct ConfigCheck {
    /// `<config_dir>/ipkit.toml`.
    pub config_path: PathBuf,
    /// Whether that file exists (without it the daemon runs on defaults).
    pub config_found: bool,
    /// The configuration, when it is valid.
    pub config: Option<Config>,
    /// The definitions that read and validate.
    pub definitions: Vec<Definition>,
    /// What would stop the daemon, in the order its start meets them.
    pub problems: Vec<DaemonError>,
}

impl ConfigCheck {
    /// Read and validate; reads files only.
    pub fn run(opts: &DaemonOptions) -> Self {
        let config_path = Config::path(&opts.config_dir);
        let config_found = std::fs::symlink_metadata(&config_path).is_ok();
        let mut problems = Vec::new();
        let config = Config::load(&opts.config_dir)
            .map_err(|e| problems.push(DaemonError::Config(e)))
            .ok();
        let store = Store::new(&opts.config_dir, &opts.state_dir);
        let definitions = match load_definitions(&store) {
            Ok((defs, broken)) => {
                if !broken.is_empty() {
                    problems.push(DaemonError::BrokenDefinitions(broken));
                }
                defs
            }
            Err(e) => {
                problems.push(DaemonError::Definitions(e));
                Vec::new()
            }
        };
        Self {
            config_path,
            config_found,
            config,
            definitions,
            problems,
        }
    }

    /// The status `ipkit daemon` would exit with for the first problem its
    /// start meets ([`DaemonError::exit`]: the same table), else Ok.
    pub fn exit(&self) -> DaemonExit {
        self.problems
            .first()
            .map(DaemonError::exit)
            .unwrap_or(DaemonExit::Ok)
    }

    /// What the daemon would warn about at start.
    pub fn warnings(&self) -> Vec<String> {
        self.config.as_ref().map(warnings).unwrap_or_default()
    }
}

/// Warnings about a valid configuration (printed at start, and by the
/// check).
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(addr) = config.listen
        && !addr.ip().is_loopback()
        && config.token.is_none()
    {
        out.push(format!(
            "the status API listens on {addr} without a token; set [daemon] token"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &std::path::Path) -> DaemonOptions {
        DaemonOptions {
            config_dir: dir.join("etc"),
            state_dir: dir.join("var"),
        }
    }

    #[test]
    fn a_node_without_files_is_valid_on_defaults_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        let check = ConfigCheck::run(&o);
        assert!(!check.config_found);
        assert_eq!(check.config.as_ref(), Some(&Config::default()));
        assert_eq!(check.exit(), DaemonExit::Ok);
        assert!(!o.state_dir.exists(), "the check wrote the state directory");
    }

    #[test]
    fn a_bad_file_or_a_broken_definition_is_the_daemons_exit_2() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        std::fs::create_dir_all(&o.config_dir).unwrap();
        std::fs::write(o.config_dir.join("ipkit.toml"), "[daemon]\nworkers = 0\n").unwrap();
        let check = ConfigCheck::run(&o);
        assert_eq!(check.exit(), DaemonExit::BadConfig);
        assert!(check.config.is_none());
        assert!(check.problems[0].to_string().contains("daemon.workers"));

        std::fs::write(
            o.config_dir.join("ipkit.toml"),
            "[daemon]\nlisten = \"0.0.0.0:7480\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(o.config_dir.join("resources")).unwrap();
        std::fs::write(o.config_dir.join("resources/web.toml"), "address = 1\n").unwrap();
        let check = ConfigCheck::run(&o);
        assert_eq!(check.exit(), DaemonExit::BadConfig);
        assert_eq!(check.problems.len(), 1);
        let text = check.problems[0].to_string();
        assert!(text.contains("web.toml"), "{text}");
        assert_eq!(check.warnings().len(), 1, "{:?}", check.warnings());
    }
}
