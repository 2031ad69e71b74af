//! The command line's exit statuses, its error type, and how an error is
//! reported: one line on stderr always, and with `--json` one JSON object
//! on stdout (`{"exit", "kind", "error", "field"?}`), for every command.

use std::io::Write;

use serde::Serialize;

use crate::net::KernelError;
use crate::resource::InvalidInput;
use crate::store::StoreError;

/// The exit statuses of every `ipkit` command (README "Exit statuses").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Exit {
    /// The command succeeded.
    Ok = 0,
    /// The operation ran and failed as the spec defines failure.
    Failed = 1,
    /// Invalid input or configuration; nothing was changed.
    Invalid = 2,
    /// Missing privilege (CAP_NET_ADMIN / CAP_NET_RAW, or file access).
    Privilege = 3,
    /// The resource is busy: its lock was not free within lock_timeout.
    Busy = 4,
    /// No resource has that tag.
    UnknownTag = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status of a code (OCF and daemon statuses 0-5 included); None
    /// for a code the command line does not name.
    pub fn from_code(code: u8) -> Option<Exit> {
        Some(match code {
            0 => Exit::Ok,
            1 => Exit::Failed,
            2 => Exit::Invalid,
            3 => Exit::Privilege,
            4 => Exit::Busy,
            5 => Exit::UnknownTag,
            _ => return None,
        })
    }
}

pub(super) const EXIT_HELP: &str = "\
Exit status:
  0  success
  1  the operation ran and failed (e.g. quickcheck found the cable out, 6507)
  2  invalid input or configuration (the message names the field); nothing was changed
  3  missing privilege (needs CAP_NET_ADMIN / CAP_NET_RAW, or write access to the directories)
  4  resource busy: another operation held its lock for longer than lock_timeout
  5  unknown tag: no such resource is defined

With --json, a failure prints one object on stdout: {\"exit\", \"kind\", \"error\", \"field\"}.

Environment: IPKIT_CONFIG_DIR, IPKIT_STATE_DIR (see --config-dir, --state-dir).";

pub(super) const BROKEN_PIPE: &str = "stdout: reader went away";

/// An error writing the command's output on stdout.
pub fn stdout_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::new(Exit::Ok, BROKEN_PIPE)
    } else {
        CliError::new(Exit::Failed, format!("stdout: {e}"))
    }
}

/// Print one line on stdout (no panic when the reader went away).
pub fn say_out(line: impl std::fmt::Display) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(stdout_error)
}

/// A command's failure: the exit status, the message for stderr, and for
/// invalid input the field it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub field: Option<String>,
}

/// The JSON form of a failure (`--json`): what scripts read instead of
/// parsing stderr.
#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    exit: u8,
    kind: Exit,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            field: None,
        }
    }

    /// Invalid input (2) naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(Exit::Invalid, message)
        }
    }

    /// A kernel error outside an operation: EPERM/EACCES is a missing
    /// privilege (3), anything else a failure (1). The errno is kept.
    pub fn kernel(e: &KernelError) -> Self {
        if e.is_permission() {
            Self::new(
                Exit::Privilege,
                format!("{e}: needs CAP_NET_ADMIN (and CAP_NET_RAW); run as root"),
            )
        } else {
            Self::new(Exit::Failed, e.to_string())
        }
    }

    /// Whether this is the reader of stdout going away (not an error).
    pub fn is_broken_pipe(&self) -> bool {
        self.message.ends_with(BROKEN_PIPE)
    }

    /// The `--json` object: `{"exit", "kind", "error", "field"?}`.
    pub fn to_json(&self) -> String {
        let v = ErrorJson {
            exit: self.exit.code(),
            kind: self.exit,
            error: &self.message,
            field: self.field.as_deref(),
        };
        serde_json::to_string(&v).unwrap_or_else(|_| format!("{{\"exit\":{}}}", self.exit.code()))
    }

    /// Report it: the message on stderr, and with `json` the object on
    /// stdout (a reader that went away is not told).
    pub fn report(&self, json: bool) {
        eprintln!("ipkit: {}", self.message);
        if json {
            let _ = writeln!(std::io::stdout().lock(), "{}", self.to_json());
        }
    }
}

impl From<InvalidInput> for CliError {
    fn from(e: InvalidInput) -> Self {
        Self::invalid(e.field, e.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let exit = match &e {
            StoreError::UnknownTag(_) => Exit::UnknownTag,
            StoreError::Exists(_) => return Self::invalid("tag", e.to_string()),
            StoreError::Corrupt { .. } | StoreError::Refused(_) => Exit::Invalid,
            StoreError::Busy { .. } | StoreError::DefinitionsBusy { .. } => Exit::Busy,
            StoreError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Self::new(
                    Exit::Privilege,
                    format!(
                        "{e}: needs write access to the config and state directories (run as root)"
                    ),
                );
            }
            StoreError::Io { .. } | StoreError::Unwritable { .. } => Exit::Failed,
        };
        Self::new(exit, e.to_string())
    }
}

/// A command line clap refused (exit 2): its message, and the field it
/// names, `--probe-timeout <MS>` becoming `probe_timeout`.
pub fn usage_error(e: &clap::Error) -> CliError {
    use clap::error::{ContextKind, ContextValue};
    let field = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => field_of(arg),
        _ => None,
    };
    let first = e.to_string();
    let message = first
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned();
    CliError {
        exit: Exit::Invalid,
        message,
        field,
    }
}

/// `--probe-timeout <MS>` → `probe_timeout`, `<TAG>` → `tag`.
fn field_of(arg: &str) -> Option<String> {
    let name = arg.split([' ', '=']).next()?;
    let name = name.trim_start_matches('-').trim_matches(['<', '>']);
    (!name.is_empty()).then(|| name.to_ascii_lowercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_object_has_the_exit_the_kind_and_the_field_of_invalid_input() {
        let e: CliError = InvalidInput::new("address", "no prefix length").into();
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["exit"], 2);
        assert_eq!(v["kind"], "invalid");
        assert_eq!(v["field"], "address");
        assert_eq!(v["error"], "invalid address: no prefix length");
        let busy: CliError = StoreError::Busy {
            tag: "web".into(),
            waited_ms: 5,
        }
        .into();
        let v: serde_json::Value = serde_json::from_str(&busy.to_json()).unwrap();
        assert_eq!(
            (v["exit"].as_u64(), v["kind"].as_str()),
            (Some(4), Some("busy"))
        );
        assert!(v.get("field").is_none(), "{v}");
        let unknown: CliError = StoreError::UnknownTag("web".into()).into();
        assert!(unknown.to_json().contains("\"kind\":\"unknown_tag\""));
    }

    #[test]
    fn clap_arguments_become_field_names() {
        assert_eq!(
            field_of("--probe-timeout <MS>").as_deref(),
            Some("probe_timeout")
        );
        assert_eq!(field_of("<TAG>").as_deref(), Some("tag"));
        assert_eq!(
            field_of("--local-recovery=<on|off>").as_deref(),
            Some("local_recovery")
        );
        assert_eq!(field_of(""), None);
    }

    #[test]
    fn every_code_the_enum_names_round_trips() {
        for code in 0..=5 {
            assert_eq!(Exit::from_code(code).map(Exit::code), Some(code));
        }
        assert_eq!(Exit::from_code(6), None);
    }
}
