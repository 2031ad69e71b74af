//! The ipkit command line (SPEC §6, issue 4).
//!
//! `main` parses with clap, runs one command and maps the result to the
//! documented exit statuses ([`Exit`]). The commands live in their own
//! files: [`create`] (validation), [`delete`], [`status`] (list, show, status),
//! [`events`] (reading the event log back), [`demo`] (the throwaway lab),
//! [`doctor`] (what on this node would break a failover).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::events::{Event, EventSink, Kind};
use crate::ops::{self, Ctx, Outcome, SystemClock};
use crate::resource::{Operation, Tag};
use crate::store::Store;

pub mod agent_page;
#[cfg(target_os = "linux")]
pub mod caps;
#[cfg(windows)]
#[path = "caps_windows.rs"]
pub mod caps;
pub mod create;
pub mod daemon;
pub mod delete;
#[cfg(target_os = "linux")]
pub mod demo;
#[cfg(not(target_os = "linux"))]
#[path = "demo_unsupported.rs"]
pub mod demo;
pub mod doctor;
pub mod events;
pub mod exit;
pub mod man;
pub mod status;
pub mod system;

pub use exit::{CliError, Exit, say_out, stdout_error};
use exit::{EXIT_HELP, usage_error};

#[derive(Debug, Parser)]
#[command(
    name = "ipkit",
    version,
    about = "Keep a switchable (virtual) IP address alive as an HA cluster resource",
    long_about = "ipkit keeps a switchable (virtual) IP address alive as a high-availability \
cluster resource on Linux, following the LifeKeeper IP Recovery Kit: define a resource, \
then restore, remove, quickCheck, deepCheck and recover it. Try `ipkit demo` (as root).",
    after_help = EXIT_HELP
)]
pub struct Cli {
    /// Where resource definitions live (TOML, one file per resource).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "IPKIT_CONFIG_DIR",
        default_value_os_t = crate::sys::default_config_dir()
    )]
    pub config_dir: PathBuf,
    /// Where runtime state, locks and the event log live.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "IPKIT_STATE_DIR",
        default_value_os_t = crate::sys::default_state_dir()
    )]
    pub state_dir: PathBuf,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `create`: see README "Configuration" for every tunable.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The resource's tag (default: ip-<address>).
    pub tag: Option<String>,
    /// The protected address with its prefix length, e.g. 198.51.100.10/24.
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub address: String,
    /// The primary network adapter.
    #[arg(long, value_name = "IF")]
    pub adapter: String,
    /// The local recovery adapter (on this node).
    #[arg(long, value_name = "IF")]
    pub recovery_adapter: Option<String>,
    /// Local recovery on or off (default on).
    #[arg(long, value_name = "on|off")]
    pub local_recovery: Option<OnOff>,
    /// How long restore listens for another owner of the address; 0 = no probe (default 200).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub probe_timeout: Option<u64>,
    /// Gratuitous ARP / unsolicited NA rounds after an add (default 5).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub announce_count: Option<u32>,
    /// Pause between announcement rounds (default 200).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub announce_interval: Option<u64>,
    /// Re-announce every MS while in service; 0 = off (default 0).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub announce_refresh: Option<u64>,
    /// The daemon's quickCheck interval (default 5000).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub quick_check_interval: Option<u64>,
    /// The daemon's deepCheck interval (default 60000).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub deep_check_interval: Option<u64>,
    /// How long a link must stay down before quickCheck fails on it (default 0).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub link_debounce: Option<u64>,
    /// Local recoveries allowed per restart window before the resource is failed (default 3).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub restart_threshold: Option<u32>,
    /// The restart window (default 900000 = 15 min).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub restart_window: Option<u64>,
    /// How long an operation waits for another one on the same resource (default 30000).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub lock_timeout: Option<u64>,
    /// Add the address without a prefix route.
    #[arg(long)]
    pub noprefixroute: bool,
    /// Never choose the address as the source of this node's own outgoing
    /// connections (added deprecated, preferred_lft 0; IPv6 only, the
    /// kernel ignores it for IPv4).
    #[arg(long)]
    pub never_as_source: bool,
    /// Priority of the policy rule that sends traffic from the address
    /// through the adapter holding it; 0 = no rule (default 32000).
    #[arg(long, value_name = "P")]
    pub source_rule_priority: Option<u32>,
    /// The daemon brings the resource up by itself and keeps it up.
    #[arg(long)]
    pub hold_in_service: bool,
    /// Skip the create-time check that nobody answers for the address on
    /// the wire (restore's own probe is set by --probe-timeout).
    #[arg(long)]
    pub no_probe: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Define a resource (validates everything before writing anything).
    Create(Box<CreateArgs>),
    /// Delete a resource's definition and state (refused while in service unless --force).
    Delete {
        tag: String,
        /// Delete even while the resource is in service; the address stays
        /// where it is, unprotected.
        #[arg(long)]
        force: bool,
    },
    /// List the defined resources.
    List,
    /// Show one resource: definition, runtime state, last results.
    Show { tag: String },
    /// Every resource at a glance (never waits for a lock).
    Status,
    /// Bring the address up: refuse if someone else holds it, add it to the
    /// primary (or recovery) adapter, announce it and verify it.
    Restore { tag: String },
    /// Take the address down from every adapter (succeeds when it is already gone).
    Remove { tag: String },
    /// Check that the address is on its active adapter only and that adapter's cable is in.
    #[command(name = "quickcheck", visible_alias = "quickCheck")]
    QuickCheck { tag: String },
    /// Check the cables of the standby nodes that are up (a pulled one is a
    /// warning, not a failure).
    #[command(name = "deepcheck", visible_alias = "deepCheck")]
    DeepCheck { tag: String },
    /// Local recovery: move the address back to the primary or onto the recovery adapter.
    Recover { tag: String },
    /// Clear the failed mark the daemon sets past the restart threshold.
    Clear { tag: String },
    /// Read the event log (oldest first).
    Events {
        /// Only events of this resource.
        #[arg(long)]
        tag: Option<String>,
        /// Keep printing new events as they arrive (across log rotation).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N events (before following).
        #[arg(long, short = 'n', value_name = "N")]
        last: Option<usize>,
    },
    /// Check this node before its first failover: sysctls, adapters,
    /// capabilities, the Corosync ring, the definitions; each finding with its fix.
    #[command(after_help = doctor::DOCTOR_HELP, after_long_help = doctor::long_help())]
    Doctor(doctor::DoctorArgs),
    /// A guided tour in a throwaway namespace lab (root; never touches host interfaces).
    Demo,
    /// Run an OCF resource-agent action (start, stop, monitor, meta-data, ...);
    /// it speaks the OCF exit codes and ignores --json.
    Ocf { action: String },
    /// Run the event-driven monitoring daemon (or check its configuration).
    #[command(after_help = crate::daemon::error::exit_help())]
    Daemon(daemon::DaemonArgs),
    /// Print the man page ipkit(1), or write every page under --out-dir.
    Man {
        /// The root of a man tree (e.g. /usr/local/share/man): writes
        /// man1/ipkit.1 and one page per command, man5/ipkit.toml.5 and
        /// man7/ocf_ipkit_vip.7.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

/// The global options every command gets.
pub struct Global {
    pub store: Store,
    pub json: bool,
}

impl Global {
    pub fn config_dir(&self) -> &Path {
        self.store.config_dir()
    }
    pub fn state_dir(&self) -> &Path {
        self.store.state_dir()
    }
}

/// The command line from the process's arguments: parse (a refusal is
/// reported as [`refused`] says), run; the exit status.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return refused(&e),
    };
    run(cli).code()
}

/// A command line clap refused, or `--help` / `--version`. With `--json`
/// anywhere before `--`, a refusal is also one JSON object on stdout.
fn refused(e: &clap::Error) -> u8 {
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if e.use_stderr() && json {
        let _ = writeln!(std::io::stdout().lock(), "{}", usage_error(e).to_json());
    }
    let _ = e.print();
    u8::try_from(e.exit_code()).unwrap_or(Exit::Invalid.code())
}

/// Run one parsed command line; prints errors and returns the exit status.
pub fn run(cli: Cli) -> Exit {
    let g = Global {
        store: Store::new(&cli.config_dir, &cli.state_dir),
        json: cli.json,
    };
    let result = match cli.command {
        Command::Create(a) => cmd_create(&g, *a),
        Command::Delete { tag, force } => delete::delete(&g, &tag, force),
        Command::List => status::list(&g),
        Command::Show { tag } => status::show(&g, &tag),
        Command::Status => status::status(&g),
        Command::Restore { tag } => cmd_op(&g, &tag, Operation::Restore),
        Command::Remove { tag } => cmd_op(&g, &tag, Operation::Remove),
        Command::QuickCheck { tag } => cmd_op(&g, &tag, Operation::QuickCheck),
        Command::DeepCheck { tag } => cmd_op(&g, &tag, Operation::DeepCheck),
        Command::Recover { tag } => cmd_op(&g, &tag, Operation::Recover),
        Command::Clear { tag } => cmd_clear(&g, &tag),
        Command::Events { tag, follow, last } => events::events(&g, tag.as_deref(), follow, last),
        Command::Doctor(args) => doctor::doctor(&g, &args),
        Command::Demo => demo::demo(),
        Command::Ocf { action } => return exit_from_code(crate::ocf::run_action(&action)),
        Command::Daemon(args) => daemon::daemon(&g, &args),
        Command::Man { out_dir } => cmd_man(out_dir.as_deref()),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "ipkit", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
    };
    match result {
        Ok(exit) => exit,
        // A reader that went away (`ipkit events | head`) is not an error.
        Err(e) if e.is_broken_pipe() => Exit::Ok,
        Err(e) => {
            e.report(g.json);
            e.exit
        }
    }
}

/// OCF statuses pass through unchanged (they have their own meanings; see
/// docs/pacemaker.md).
fn exit_from_code(code: u8) -> Exit {
    // The Exit enum only names the CLI's statuses; others are carried by
    // exiting directly.
    Exit::from_code(code).unwrap_or_else(|| std::process::exit(i32::from(code)))
}

pub fn parse_tag(tag: &str) -> Result<Tag, CliError> {
    Ok(Tag::new(tag)?)
}

/// Which capabilities each operation needs to change the system.
fn needed_caps(op: Operation) -> &'static [u32] {
    match op {
        Operation::Restore | Operation::Recover => &[caps::CAP_NET_ADMIN, caps::CAP_NET_RAW],
        Operation::Remove => &[caps::CAP_NET_ADMIN],
        _ => &[],
    }
}

/// Refuse (exit 3) before anything changes when a capability is missing.
pub fn require_caps(what: &str, wanted: &[u32]) -> Result<(), CliError> {
    let missing = caps::missing(wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let mut names: Vec<&str> = missing.iter().map(|c| caps::name(*c)).collect();
    names.dedup();
    Err(CliError::new(
        Exit::Privilege,
        format!(
            "{what} needs {} to change network addresses; run it as root (nothing was changed)",
            names.join(" and ")
        ),
    ))
}

fn node() -> String {
    crate::node_name()
}

fn cmd_op(g: &Global, tag: &str, op: Operation) -> Result<Exit, CliError> {
    let tag = parse_tag(tag)?;
    // Unknown tag (5) and a broken definition (2) come before privilege.
    g.store.load_definition(&tag)?;
    require_caps(op.name(), needed_caps(op))?;
    let kernel = system::open_kernel().map_err(|e| CliError::kernel(&e))?;
    let cluster = system::cluster_view(g.config_dir())?;
    let sinks = crate::log::standard_sinks(g.state_dir(), true);
    let node = node();
    let ctx = Ctx {
        kernel: &*kernel,
        cluster: &*cluster,
        events: &sinks,
        clock: &SystemClock,
        node: &node,
    };
    let outcome = ops::run(&g.store, &ctx, &tag, op)?;
    // The adapter that holds the address now (when in service).
    let state = g.store.load_state(&tag).ok();
    let active = state
        .as_ref()
        .filter(|s| s.in_service)
        .and_then(|s| s.active_adapter.clone());
    let exit = if outcome.success {
        Exit::Ok
    } else if outcome.needs_privilege() {
        Exit::Privilege
    } else {
        Exit::Failed
    };
    // The operation has happened: a failure to print its result must not
    // change the exit status that reports it.
    let active = active.as_ref().map(|a| a.as_str());
    if let Err(e) = report_outcome(g, &tag, op, &outcome, active, exit)
        && !e.is_broken_pipe()
    {
        eprintln!("ipkit: {}", e.message);
    }
    if exit == Exit::Privilege {
        let err = outcome
            .error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default();
        eprintln!(
            "ipkit: {op} of {tag} failed: {err}: needs CAP_NET_ADMIN (and CAP_NET_RAW); run as root"
        );
    }
    Ok(exit)
}

/// The result line, or with `--json` one object that also carries the
/// exit status (`exit`, `kind`), failed or not.
fn report_outcome(
    g: &Global,
    tag: &Tag,
    op: Operation,
    out: &Outcome,
    active: Option<&str>,
    exit: Exit,
) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    let r = if g.json {
        let v = serde_json::json!({
            "exit": exit.code(),
            "kind": exit,
            "tag": tag.as_str(),
            "operation": op,
            "success": out.success,
            "event": out.event,
            "error": out.error.as_ref().map(|e| e.to_string()),
            "errno": out.error.as_ref().map(|e| e.errno),
            "active_adapter": active,
        });
        writeln!(stdout, "{v}")
    } else if out.success {
        match active {
            Some(a) => writeln!(stdout, "{op} {tag}: success (active adapter {a})"),
            None => writeln!(stdout, "{op} {tag}: success"),
        }
    } else {
        match out.event {
            Some(ev) => writeln!(stdout, "{op} {tag}: FAILED (event {ev})"),
            None => writeln!(stdout, "{op} {tag}: FAILED"),
        }
    };
    r.map_err(stdout_error)
}

fn cmd_create(g: &Global, a: CreateArgs) -> Result<Exit, CliError> {
    let req = create::Request {
        tag: a.tag,
        address: a.address,
        adapter: a.adapter,
        recovery_adapter: a.recovery_adapter,
        local_recovery: a.local_recovery.map(|v| v == OnOff::On),
        hold_in_service: a.hold_in_service,
        probe_timeout_ms: a.probe_timeout,
        announce_count: a.announce_count,
        announce_interval_ms: a.announce_interval,
        announce_refresh_ms: a.announce_refresh,
        quick_check_interval_ms: a.quick_check_interval,
        deep_check_interval_ms: a.deep_check_interval,
        link_debounce_ms: a.link_debounce,
        restart_threshold: a.restart_threshold,
        restart_window_ms: a.restart_window,
        lock_timeout_ms: a.lock_timeout,
        noprefixroute: a.noprefixroute,
        never_as_source: a.never_as_source,
        source_rule_priority: a.source_rule_priority,
        no_probe: a.no_probe,
    };
    // 1. Syntax.
    let def = create::parse(&req)?;
    // 2. The store.
    create::check_store(&g.store, &def)?;
    // 3. The system (the probe needs CAP_NET_RAW).
    if !req.no_probe {
        require_caps(
            "create (its in-use probe; or pass --no-probe)",
            &[caps::CAP_NET_RAW],
        )?;
    }
    let kernel = system::open_kernel().map_err(|e| CliError::kernel(&e))?;
    let def = create::check_system(&*kernel, def, !req.no_probe)?;
    // Say what the checks could not do.
    let ip = def.address.ip();
    // check_system refused any other holder: this is the primary.
    let adopted = kernel.holders(ip).is_ok_and(|h| !h.is_empty());
    if adopted {
        eprintln!(
            "ipkit: note: {ip} is already on {}; the resource adopts it (in service there; restore keeps it there)",
            def.adapter
        );
    } else if !req.no_probe {
        let cabled = [Some(&def.adapter), def.recovery_adapter.as_ref()]
            .into_iter()
            .flatten()
            .any(|a| kernel.link_state(a).is_ok_and(|l| l.is_connected()));
        if !cabled {
            eprintln!(
                "ipkit: note: no adapter of {} has its cable in, so the in-use probe could not run",
                def.tag
            );
        }
    }
    // Everything checked: write, checking the store again under the
    // definitions' lock (another create may have run meanwhile).
    g.store
        .create_definition_checked(&def, |all| create::is_free(&g.store, &def, all))?;
    if adopted {
        // Never "out of service" while this node holds the address (issue 10).
        let state = crate::resource::RuntimeState {
            active_adapter: Some(def.adapter.clone()),
            in_service: true,
            ..Default::default()
        };
        g.store.save_state(&def.tag, &state)?;
    }
    let sinks = crate::log::standard_sinks(g.state_dir(), true);
    sinks.emit(&Event::about(
        &def,
        Operation::Create,
        &node(),
        &Kind::ResourceCreated {
            nic: def.adapter.clone(),
        },
        std::time::SystemTime::now(),
    ));
    let mut stdout = std::io::stdout().lock();
    let r = if g.json {
        writeln!(
            stdout,
            "{}",
            serde_json::to_string(&def).unwrap_or_else(|_| "{}".into())
        )
    } else {
        writeln!(
            stdout,
            "created {} ({} on {}) in {}",
            def.tag,
            def.address,
            def.adapter,
            g.store.definition_path(&def.tag).display()
        )
    };
    r.map_err(stdout_error)?;
    Ok(Exit::Ok)
}

fn cmd_clear(g: &Global, tag: &str) -> Result<Exit, CliError> {
    let tag = parse_tag(tag)?;
    let def = g.store.load_definition(&tag)?;
    let _lock = g.store.lock(&tag, def.tunables.lock_timeout)?;
    let mut state = g.store.load_state(&tag)?;
    let was = state.failed;
    state.failed = false;
    g.store.save_state(&tag, &state)?;
    if was {
        let mut ev = Event::about(
            &def,
            Operation::Daemon,
            &node(),
            &Kind::FailedCleared,
            std::time::SystemTime::now(),
        );
        ev.operation = None;
        crate::log::standard_sinks(g.state_dir(), true).emit(&ev);
    }
    if g.json {
        say_out(serde_json::json!({"tag": tag.as_str(), "was_failed": was}))?;
    } else if was {
        say_out(format!("cleared the failed mark of {tag}"))?;
    } else {
        say_out(format!("{tag} was not marked failed"))?;
    }
    Ok(Exit::Ok)
}

fn cmd_man(out_dir: Option<&Path>) -> Result<Exit, CliError> {
    match out_dir {
        Some(dir) => {
            man::write_tree(dir)
                .map_err(|e| CliError::new(Exit::Failed, format!("{}: {e}", dir.display())))?;
        }
        None => {
            let page = man::main_page().map_err(|e| CliError::new(Exit::Failed, e.to_string()))?;
            std::io::stdout().write_all(&page).map_err(stdout_error)?;
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lifekeeper_spellings_are_aliases() {
        for spelling in ["quickCheck", "quickcheck"] {
            let c = Cli::try_parse_from(["ipkit", spelling, "vip"]).unwrap();
            assert!(matches!(c.command, Command::QuickCheck { .. }));
        }
        let c = Cli::try_parse_from(["ipkit", "deepCheck", "vip"]).unwrap();
        assert!(matches!(c.command, Command::DeepCheck { .. }));
    }

    #[test]
    fn help_documents_exit_statuses() {
        let help = Cli::command().render_help().to_string();
        for line in ["0  success", "3  missing privilege", "5  unknown tag"] {
            assert!(help.contains(line), "{help}");
        }
    }
}
