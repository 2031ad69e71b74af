//! The operator's `on_failure` command: the one place in `src/` that runs
//! an external program (TEAM rule), because the operator configured it.
//!
//! It runs once per failure (the policy guarantees that), with no shell,
//! stdin from /dev/null, and in its environment:
//! `IPKIT_TAG`, `IPKIT_ADDRESS` (address/prefix), `IPKIT_ID` (address),
//! `IPKIT_ADAPTER` (active adapter), `IPKIT_NODE`, `IPKIT_REASON`.
//! It is killed after `on_failure_timeout_ms`. Its end is event 7106.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::events::{Event, EventSink, Kind};
use crate::resource::{AdapterName, Definition, Operation};

/// One `on_failure` run the executor asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureHook {
    pub argv: Vec<String>,
    pub timeout: Duration,
    pub def: Definition,
    /// The adapter the resource was active on.
    pub active: AdapterName,
    pub node: String,
    /// Why the resource was marked failed (`IPKIT_REASON`).
    pub reason: String,
}

/// Starts `on_failure` commands without waiting for them. The daemon uses
/// [`ProcessHooks`]; a test may record the request instead.
pub trait HookRunner: Send + Sync {
    fn start(&self, hook: FailureHook, events: Arc<dyn EventSink>);
}

/// Runs the command as a process, on a thread of its own; emits 7106 when
/// it ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessHooks;

impl HookRunner for ProcessHooks {
    fn start(&self, hook: FailureHook, events: Arc<dyn EventSink>) {
        spawn(hook, events);
    }
}

/// Run `hook` on a thread of its own; emits 7106 when it ends.
pub fn spawn(hook: FailureHook, events: Arc<dyn EventSink>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let FailureHook {
            argv,
            timeout,
            def,
            active,
            node,
            reason,
        } = hook;
        let status = run(&argv, timeout, &def, &active, &node, &reason);
        let e = Event::about(
            &def,
            Operation::Daemon,
            &node,
            &Kind::OnFailureRan { status },
            SystemTime::now(),
        );
        events.emit(&e);
    })
}

/// Run and wait; the text says how it ended.
pub fn run(
    argv: &[String],
    timeout: Duration,
    def: &Definition,
    active: &AdapterName,
    node: &str,
    reason: &str,
) -> String {
    let Some((program, args)) = argv.split_first() else {
        return "no program configured".to_owned();
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .env("IPKIT_TAG", def.tag.as_str())
        .env("IPKIT_ADDRESS", def.address.to_string())
        .env("IPKIT_ID", def.id())
        .env("IPKIT_ADAPTER", active.as_str())
        .env("IPKIT_NODE", node)
        .env("IPKIT_REASON", reason)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("{program} could not be started: {e}"),
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return format!("{program} {st}"),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return format!("{program} killed after {} ms", timeout.as_millis());
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(e) => return format!("{program}: waiting failed: {e}"),
        }
    }
}

#[cfg(all(test, unix))] // the hooks under test are /bin/sh scripts
mod tests {
    use super::*;

    fn def() -> Definition {
        crate::resource::sample_definition(false)
    }

    #[test]
    fn environment_and_status() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let argv = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            format!(
                "echo \"$IPKIT_TAG $IPKIT_ADDRESS $IPKIT_REASON\" > {}; exit 3",
                out.display()
            ),
        ];
        let a = AdapterName::new("eth1").unwrap();
        let st = run(&argv, Duration::from_secs(30), &def(), &a, "n", "why not");
        assert!(st.contains("exit status: 3"), "{st}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "vip 198.51.100.10/24 why not\n"
        );
        let st = run(
            &["/nonexistent/ipkit-hook".to_owned()],
            Duration::from_secs(1),
            &def(),
            &a,
            "n",
            "r",
        );
        assert!(st.contains("could not be started"), "{st}");
        let st = run(
            &["/bin/sleep".to_owned(), "30".to_owned()],
            Duration::from_millis(50),
            &def(),
            &a,
            "n",
            "r",
        );
        assert!(st.contains("killed"), "{st}");
    }
}
