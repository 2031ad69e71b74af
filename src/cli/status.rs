//! `list`, `show TAG` and `status` (issue 4 point 3). They read the store
//! without taking any lock (every write to it is atomic, so a read sees the
//! old or the new file), and the system through one link dump and one
//! address dump for all resources together: a status never waits behind a
//! slow restore, and costs the same two netlink requests for 1 or 1,000
//! resources.

use std::io::Write;

use serde::Serialize;

use crate::net::NodeSnapshot;
use crate::ops::disagreements;
use crate::resource::{ConflictRecord, Definition, LastResult, Operation, RuntimeState, rfc3339};

use super::system::{self, identity_change};
use super::{CliError, Exit, Global, parse_tag};

/// One row of `status` (and its `--json` object).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tag: String,
    /// `ADDR/PREFIX`.
    pub address: String,
    pub adapter: String,
    pub recovery_adapter: Option<String>,
    pub local_recovery: bool,
    pub active_adapter: String,
    pub in_service: bool,
    /// Marked failed by the daemon past the restart threshold.
    pub failed: bool,
    /// Cable of the active adapter: connected / disconnected / missing /
    /// unknown (the system could not be read).
    pub carrier: String,
    /// The adapters that hold the address right now (`null` if unknown).
    pub held_by: Option<Vec<String>>,
    /// When the last quickCheck or deepCheck ran (RFC 3339).
    pub last_check: Option<String>,
    /// The most recent operation's result.
    pub last_result: Option<LastOut>,
    /// The adapters that are not the NICs recorded at definition time
    /// (replaced or renamed), e.g. `eth0: MAC .. now, .. recorded`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adapter_changed: Vec<String>,
    /// Where the runtime state and the kernel disagree (issue 10), e.g.
    /// `in_service is false in the state, but eth0 holds the address`; the
    /// next operation corrects the state where the kernel tells how.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<String>,
    /// The last address conflict the daemon saw while in service here:
    /// another host's MAC heard claiming the address (and on which
    /// adapter), or a peer reporting it in service too (issue 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_conflict: Option<ConflictRecord>,
    /// A definition or state file that could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastOut {
    pub operation: Operation,
    pub success: bool,
    pub time: String,
    pub event: Option<u16>,
}

fn latest<'a>(state: &'a RuntimeState, ops: &[Operation]) -> Option<(Operation, &'a LastResult)> {
    state
        .last
        .iter()
        .filter(|(op, _)| ops.is_empty() || ops.contains(op))
        .max_by_key(|(_, r)| r.time)
        .map(|(op, r)| (*op, r))
}

/// Build a row from what was read (pure: tested without a system).
pub fn row(def: &Definition, state: &RuntimeState, view: Option<&NodeSnapshot>) -> Row {
    let active = state.active_adapter(def);
    let check = latest(state, &[Operation::QuickCheck, Operation::DeepCheck]);
    let last = latest(state, &[]);
    Row {
        tag: def.tag.to_string(),
        address: def.address.to_string(),
        adapter: def.adapter.to_string(),
        recovery_adapter: def.recovery_adapter.as_ref().map(|a| a.to_string()),
        local_recovery: def.local_recovery,
        carrier: view
            .map(|v| v.link_state(active).to_string())
            .unwrap_or_else(|| "unknown".into()),
        held_by: view.map(|v| {
            v.holders(def.address.ip())
                .iter()
                .map(ToString::to_string)
                .collect()
        }),
        active_adapter: active.to_string(),
        in_service: state.in_service,
        failed: state.failed,
        last_check: check.map(|(_, r)| rfc3339::format(r.time)),
        last_result: last.map(|(op, r)| LastOut {
            operation: op,
            success: r.success,
            time: rfc3339::format(r.time),
            event: r.event,
        }),
        adapter_changed: view
            .map(|v| {
                let mut out = Vec::new();
                out.extend(identity_change(
                    v,
                    &def.adapter,
                    def.adapter_identity.as_ref(),
                ));
                if let Some(r) = &def.recovery_adapter {
                    out.extend(identity_change(
                        v,
                        r,
                        def.recovery_adapter_identity.as_ref(),
                    ));
                }
                out
            })
            .unwrap_or_default(),
        disagreements: view
            .map(|v| disagreements(def, state, &v.holders(def.address.ip())))
            .unwrap_or_default(),
        last_conflict: state.last_conflict.clone(),
        error: None,
    }
}

/// `2026-11-25T09:00:00Z: 02:00:00:00:00:99 claimed it on eth0`, or
/// `...: node-b has it in service too`.
fn conflict_text(c: &ConflictRecord) -> String {
    let time = rfc3339::format(c.time);
    match (&c.peer, c.mac, &c.adapter) {
        (Some(peer), _, _) => format!("{time}: {peer} has it in service too"),
        (None, Some(mac), Some(adapter)) => format!("{time}: {mac} claimed it on {adapter}"),
        (None, Some(mac), None) => format!("{time}: {mac} claimed it"),
        (None, None, _) => time,
    }
}

fn broken_row(tag: &str, err: String) -> Row {
    Row {
        tag: tag.to_owned(),
        address: String::new(),
        adapter: String::new(),
        recovery_adapter: None,
        local_recovery: false,
        active_adapter: String::new(),
        in_service: false,
        failed: false,
        carrier: "unknown".into(),
        held_by: None,
        last_check: None,
        last_result: None,
        adapter_changed: Vec::new(),
        disagreements: Vec::new(),
        last_conflict: None,
        error: Some(err),
    }
}

fn out_err(e: std::io::Error) -> CliError {
    super::stdout_error(e)
}

/// Every resource's row; `Exit::Invalid` if a file could not be read (the
/// row says which).
pub fn rows(g: &Global, view: Option<&NodeSnapshot>) -> Result<(Vec<Row>, bool), CliError> {
    let tags = g.store.list_tags()?;
    let mut out = Vec::with_capacity(tags.len());
    let mut broken = false;
    for tag in tags {
        let def = match g.store.load_definition(&tag) {
            Ok(d) => d,
            Err(e) => {
                broken = true;
                out.push(broken_row(tag.as_str(), e.to_string()));
                continue;
            }
        };
        let state = match g.store.load_state(&tag) {
            Ok(s) => s,
            Err(e) => {
                broken = true;
                let mut r = row(&def, &RuntimeState::default(), view);
                r.error = Some(e.to_string());
                out.push(r);
                continue;
            }
        };
        out.push(row(&def, &state, view));
    }
    Ok((out, broken))
}

pub fn status(g: &Global) -> Result<Exit, CliError> {
    let view = match system::system_view() {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("ipkit: cannot read links and addresses ({e}); carrier shows as unknown");
            None
        }
    };
    let (rows, broken) = rows(g, view.as_ref())?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if g.json {
        serde_json::to_writer(&mut stdout, &rows)
            .map_err(|e| CliError::new(Exit::Failed, e.to_string()))?;
        writeln!(stdout).map_err(out_err)?;
    } else {
        write_table(&mut stdout, &rows).map_err(out_err)?;
    }
    stdout.flush().map_err(out_err)?;
    Ok(if broken { Exit::Invalid } else { Exit::Ok })
}

pub fn write_table(w: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(w, "no resources defined");
    }
    let head = [
        "TAG",
        "ADDRESS",
        "ADAPTER",
        "RECOVERY",
        "ACTIVE",
        "SERVICE",
        "CARRIER",
        "LAST CHECK",
        "LAST RESULT",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            if let Some(e) = &r.error {
                return [
                    r.tag.clone(),
                    format!("error: {e}"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ];
            }
            let check_time = r
                .last_check
                .as_deref()
                .and_then(|t| rfc3339::parse(t).ok().map(super::events::human_time));
            let mut service = match (r.in_service, r.failed) {
                (_, true) => "FAILED",
                (true, false) => "in",
                (false, false) => "out",
            }
            .to_owned();
            if !r.adapter_changed.is_empty() {
                service.push_str(" (NIC changed)");
            }
            if !r.disagreements.is_empty() {
                service.push_str(" (state disagrees)");
            }
            [
                r.tag.clone(),
                r.address.clone(),
                r.adapter.clone(),
                r.recovery_adapter.clone().unwrap_or_else(|| "-".into()),
                r.active_adapter.clone(),
                service,
                r.carrier.clone(),
                check_time.clone().unwrap_or_else(|| "-".into()),
                r.last_result
                    .as_ref()
                    .map(|l| {
                        let mut s = format!(
                            "{} {}",
                            l.operation.name(),
                            if l.success { "ok" } else { "FAILED" }
                        );
                        if let Some(ev) = l.event {
                            s.push_str(&format!(" ({ev})"));
                        }
                        s
                    })
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            width[i] = width[i].max(s.len());
        }
    }
    let line = |w: &mut dyn Write, c: &[&str]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, cell) in c.iter().enumerate() {
            if i + 1 == c.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = width[i]));
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(w, &head)?;
    for c in &cells {
        let refs: Vec<&str> = c.iter().map(String::as_str).collect();
        line(w, &refs)?;
    }
    for r in rows {
        for d in &r.disagreements {
            writeln!(w, "{}: state and kernel disagree: {d}", r.tag)?;
        }
    }
    Ok(())
}

pub fn list(g: &Global) -> Result<Exit, CliError> {
    let tags = g.store.list_tags()?;
    let mut defs = Vec::new();
    let mut broken = false;
    for t in &tags {
        match g.store.load_definition(t) {
            Ok(d) => defs.push(d),
            Err(e) => {
                broken = true;
                eprintln!("ipkit: {e}");
            }
        }
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if g.json {
        serde_json::to_writer(&mut stdout, &defs)
            .map_err(|e| CliError::new(Exit::Failed, e.to_string()))?;
        writeln!(stdout).map_err(out_err)?;
    } else {
        for d in &defs {
            let rec = d
                .recovery_adapter
                .as_ref()
                .map(|r| format!(" (recovery {r})"))
                .unwrap_or_default();
            writeln!(stdout, "{}  {}  {}{rec}", d.tag, d.address, d.adapter).map_err(out_err)?;
        }
    }
    stdout.flush().map_err(out_err)?;
    Ok(if broken { Exit::Invalid } else { Exit::Ok })
}

pub fn show(g: &Global, tag: &str) -> Result<Exit, CliError> {
    let tag = parse_tag(tag)?;
    let def = g.store.load_definition(&tag)?;
    let state = g.store.load_state(&tag)?;
    let view = system::system_view().ok();
    let r = row(&def, &state, view.as_ref());
    let mut stdout = std::io::stdout().lock();
    if g.json {
        let v = serde_json::json!({
            "definition": def,
            "definition_file": g.store.definition_path(&tag),
            "state": state,
            "status": r,
        });
        writeln!(stdout, "{v}").map_err(out_err)?;
        return Ok(Exit::Ok);
    }
    let t = &def.tunables;
    let ms = |d: std::time::Duration| d.as_millis();
    let text = format!(
        "tag:                  {}\n\
         address:              {} (id {})\n\
         adapter:              {}{}\n\
         recovery_adapter:     {}{}\n\
         local_recovery:       {}\n\
         hold_in_service:      {}\n\
         probe_timeout:        {} ms\n\
         announce:             {} x {} ms, refresh {} ms\n\
         check intervals:      quick {} ms, deep {} ms\n\
         link_debounce:        {} ms\n\
         restart_threshold:    {} in {} ms\n\
         lock_timeout:         {} ms\n\
         noprefixroute:        {}\n\
         never_as_source:      {}\n\
         source_rule_priority: {}\n\
         definition file:      {}\n\
         active_adapter:       {}\n\
         in_service:           {}{}\n\
         carrier:              {}\n\
         held by:              {}\n",
        def.tag,
        def.address,
        def.id(),
        def.adapter,
        def.adapter_identity
            .as_ref()
            .map(|i| format!(" (recorded MAC {}, ifindex {})", i.mac, i.ifindex))
            .unwrap_or_default(),
        def.recovery_adapter
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into()),
        def.recovery_adapter_identity
            .as_ref()
            .map(|i| format!(" (recorded MAC {}, ifindex {})", i.mac, i.ifindex))
            .unwrap_or_default(),
        if def.local_recovery { "on" } else { "off" },
        def.hold_in_service,
        ms(t.probe_timeout),
        t.announce_count,
        ms(t.announce_interval),
        ms(t.announce_refresh),
        ms(t.quick_check_interval),
        ms(t.deep_check_interval),
        ms(t.link_debounce),
        t.restart_threshold,
        ms(t.restart_window),
        ms(t.lock_timeout),
        t.noprefixroute,
        t.never_as_source,
        t.source_rule_priority,
        g.store.definition_path(&tag).display(),
        r.active_adapter,
        r.in_service,
        if r.failed {
            " (FAILED: `ipkit clear` after fixing)"
        } else {
            ""
        },
        r.carrier,
        r.held_by
            .as_ref()
            .map(|h| if h.is_empty() {
                "nobody".to_owned()
            } else {
                h.join(", ")
            })
            .unwrap_or_else(|| "unknown".into()),
    );
    stdout.write_all(text.as_bytes()).map_err(out_err)?;
    if let Some(c) = &r.last_conflict {
        writeln!(stdout, "last conflict:        {}", conflict_text(c)).map_err(out_err)?;
    }
    for c in &r.adapter_changed {
        writeln!(
            stdout,
            "WARNING:              not the NIC recorded at definition time ({c}); replaced or renamed?"
        )
        .map_err(out_err)?;
    }
    for d in &r.disagreements {
        writeln!(stdout, "state disagrees:      {d}").map_err(out_err)?;
    }
    for (op, res) in &state.last {
        writeln!(
            stdout,
            "last {:<12}      {} at {}{}",
            op.name(),
            if res.success { "ok" } else { "FAILED" },
            rfc3339::format(res.time),
            res.event
                .map(|e| format!(" (event {e})"))
                .unwrap_or_default()
        )
        .map_err(out_err)?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{AddressEntry, LinkStatus};
    use crate::resource::AdapterName;
    use std::time::{Duration, SystemTime};

    fn def() -> Definition {
        crate::resource::sample_definition(true)
    }

    /// An adapter with its MAC ending in `mac`, administratively up.
    fn link(name: &str, ifindex: u32, carrier: bool, mac: u8) -> LinkStatus {
        LinkStatus {
            name: AdapterName::new(name).unwrap(),
            ifindex,
            mac: Some(crate::resource::Mac([2, 0, 0, 0, 0, mac])),
            admin_up: true,
            carrier,
        }
    }

    /// `def`'s address on the adapter with this index.
    fn held(ifindex: u32, def: &Definition) -> AddressEntry {
        AddressEntry {
            ifindex,
            ip: def.address.ip(),
            prefix: def.address.prefix(),
        }
    }

    #[test]
    fn the_last_conflict_is_shown_with_who_and_where() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mac = crate::resource::Mac([2, 0, 0, 0, 0, 0x99]);
        let heard = ConflictRecord::heard(t, mac, AdapterName::new("eth0").unwrap());
        assert_eq!(
            conflict_text(&heard),
            "1970-01-01T00:01:40Z: 02:00:00:00:00:99 claimed it on eth0"
        );
        assert_eq!(
            conflict_text(&ConflictRecord::peer(t, "node-b")),
            "1970-01-01T00:01:40Z: node-b has it in service too"
        );
        let st = RuntimeState {
            last_conflict: Some(heard),
            ..Default::default()
        };
        let json = serde_json::to_value(row(&def(), &st, None)).unwrap();
        assert_eq!(json["last_conflict"]["mac"], "02:00:00:00:00:99");
        assert_eq!(json["last_conflict"]["adapter"], "eth0");
        let quiet = serde_json::to_value(row(&def(), &RuntimeState::default(), None)).unwrap();
        assert!(quiet.get("last_conflict").is_none());
    }

    #[test]
    fn row_uses_the_active_adapter_and_latest_results() {
        let d = def();
        let mut st = RuntimeState {
            active_adapter: Some(AdapterName::new("eth1").unwrap()),
            in_service: true,
            ..Default::default()
        };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        st.record(Operation::QuickCheck, false, Some(6507), t0);
        st.record(Operation::Recover, true, None, t0 + Duration::from_secs(1));
        let view = NodeSnapshot::new(
            vec![link("eth0", 7, false, 9), link("eth1", 3, true, 2)],
            vec![held(3, &d)],
        );
        let r = row(&d, &st, Some(&view));
        assert_eq!(r.active_adapter, "eth1");
        assert_eq!(r.carrier, "connected");
        assert_eq!(r.held_by, Some(vec!["eth1".to_owned()]));
        assert_eq!(r.last_check.as_deref(), Some("1970-01-01T00:01:40Z"));
        let last = r.last_result.unwrap();
        assert_eq!(last.operation, Operation::Recover);
        assert!(last.success);
        assert!(r.adapter_changed.is_empty());
        let mut d2 = d.clone();
        d2.adapter_identity = Some(crate::resource::AdapterIdentity {
            mac: crate::resource::Mac([2, 0, 0, 0, 0, 1]),
            ifindex: 2,
            guid: None,
        });
        let r = row(&d2, &st, Some(&view));
        assert_eq!(
            r.adapter_changed,
            vec![
                "eth0: MAC 02:00:00:00:00:09 now, 02:00:00:00:00:01 recorded; ifindex 7 now, 2 recorded"
            ]
        );
        let r = row(&d, &RuntimeState::default(), None);
        assert_eq!(r.carrier, "unknown");
        assert_eq!(r.active_adapter, "eth0");
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "tag",
            "address",
            "adapter",
            "recovery_adapter",
            "active_adapter",
            "in_service",
            "carrier",
            "last_check",
            "last_result",
        ] {
            assert!(json.get(k).is_some(), "{k} missing in {json}");
        }
        assert_eq!(json["address"], "198.51.100.10/24");
        assert!(json.get("disagreements").is_none(), "none here: {json}");
    }

    #[test]
    fn row_and_table_show_where_state_and_kernel_disagree() {
        let d = def();
        let view = NodeSnapshot::new(vec![link("eth0", 2, true, 1)], vec![held(2, &d)]);
        // Up on the primary, but the state says out of service.
        let r = row(&d, &RuntimeState::default(), Some(&view));
        assert_eq!(
            r.disagreements,
            vec!["in_service is false in the state, but eth0 holds the address"]
        );
        let mut out = Vec::new();
        write_table(&mut out, std::slice::from_ref(&r)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("out (state disagrees)"), "{text}");
        assert!(
            text.contains("vip: state and kernel disagree: in_service is false"),
            "{text}"
        );
        // Unknown system: nothing is claimed.
        assert!(
            row(&d, &RuntimeState::default(), None)
                .disagreements
                .is_empty()
        );
    }
}
