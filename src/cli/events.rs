//! `ipkit events [--tag TAG] [--follow] [-n N]`: the JSON-lines event log
//! read back, oldest first; `--follow` keeps printing new events as they
//! arrive, across rotation (see [`crate::log::Follower`]).

use std::io::Write;
use std::time::Duration;

use crate::events::Event;
use crate::log::{self, Follower};
use crate::resource::{Tag, rfc3339};

use super::{CliError, Exit, Global, parse_tag};

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// The `--json` form: one object per line with every field present
/// (`null` when the event has none), `message` the exact catalog text.
pub fn json_line(e: &Event) -> String {
    serde_json::json!({
        "time": rfc3339::format(e.time),
        "id": e.id,
        "severity": e.severity,
        "tag": e.tag,
        "address": e.address,
        "adapter": e.adapter,
        "node": e.node,
        "operation": e.operation,
        "error": e.error,
        "message": e.message,
    })
    .to_string()
}

/// The human form: time, then `Information 6013 Restore IP Address ...`.
pub fn human_line(e: &Event) -> String {
    format!(
        "{} {:<14} {}",
        human_time(e.time),
        e.tag.as_deref().unwrap_or("-"),
        e.human()
    )
}

/// `2026-11-25T09:08:30.678Z`: RFC 3339 in UTC with milliseconds, fixed
/// width so that columns line up.
pub fn human_time(t: std::time::SystemTime) -> String {
    let d = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.millisecond()
    )
}

fn print(out: &mut impl Write, json: bool, e: &Event) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", json_line(e))
    } else {
        writeln!(out, "{}", human_line(e))
    }
}

fn out_err(e: std::io::Error) -> CliError {
    super::stdout_error(e)
}

pub fn events(
    g: &Global,
    tag: Option<&str>,
    follow: bool,
    last: Option<usize>,
) -> Result<Exit, CliError> {
    let tag: Option<Tag> = tag.map(parse_tag).transpose()?;
    let path = g.store.event_log_path();
    let keep = |e: &Event| tag.as_ref().is_none_or(|t| e.tag_is(t));
    // The follower continues exactly where the reading stopped.
    let (events, bad, follower) = log::read_log(&path)
        .map_err(|e| CliError::new(Exit::Failed, format!("{}: {e}", path.display())))?;
    let mut follower: Option<Follower> = follow.then_some(follower);
    for b in &bad {
        eprintln!(
            "ipkit: {}:{}: not an event, skipped ({})",
            b.file.display(),
            b.line,
            b.reason
        );
    }
    let selected: Vec<&Event> = events.iter().filter(|e| keep(e)).collect();
    let skip = last.map_or(0, |n| selected.len().saturating_sub(n));
    {
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        for e in &selected[skip..] {
            print(&mut stdout, g.json, e).map_err(out_err)?;
        }
        stdout.flush().map_err(out_err)?;
    }
    let Some(f) = follower.as_mut() else {
        return Ok(Exit::Ok);
    };
    loop {
        let new = f
            .poll()
            .map_err(|e| CliError::new(Exit::Failed, format!("{}: {e}", path.display())))?;
        if !new.is_empty() {
            let mut stdout = std::io::stdout().lock();
            for e in new.iter().filter(|e| keep(e)) {
                print(&mut stdout, g.json, e).map_err(out_err)?;
            }
            stdout.flush().map_err(out_err)?;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}
