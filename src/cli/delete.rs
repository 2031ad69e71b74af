//! `ipkit delete TAG`: remove a resource's definition and runtime state.
//! Refused while the resource is in service, or while its address is up on
//! this node whatever the state says, unless `--force` (the address then
//! stays where it is, unprotected). A definition file that cannot be
//! read at all is removed with `--force` too, so one broken file never
//! has to be fixed before it can go (issue 10).

use crate::events::{Event, EventSink, Kind};
use crate::resource::{Operation, RuntimeState, Tag, Tunables};
use crate::store::StoreError;

use super::{CliError, Exit, Global, parse_tag, say_out, system};

pub fn delete(g: &Global, tag: &str, force: bool) -> Result<Exit, CliError> {
    let tag = parse_tag(tag)?;
    let def = match g.store.load_definition(&tag) {
        Ok(def) => def,
        Err(e @ StoreError::UnknownTag(_)) => return Err(e.into()),
        Err(e) if force => return delete_unreadable(g, &tag, &e),
        Err(e) => {
            return Err(CliError::new(
                Exit::Invalid,
                format!("{e}; `ipkit delete --force {tag}` removes the file"),
            ));
        }
    };
    let _lock = g.store.lock(&tag, def.tunables.lock_timeout)?;
    let state = match g.store.load_state(&tag) {
        Ok(s) => s,
        Err(e) if force => {
            eprintln!("ipkit: warning: {e}; deleting anyway (--force)");
            RuntimeState::default()
        }
        Err(e) => return Err(e.into()),
    };
    // The state says in service, or the kernel has the address on an
    // adapter of this node (a restore that failed, a state lost in a
    // crash, an address added by hand): either way deleting the definition
    // leaves an address up that nothing protects (issue 10).
    let held_by: Vec<String> = match system::system_view() {
        Ok(view) => {
            let holders = view.holders(def.address.ip());
            holders.iter().map(ToString::to_string).collect()
        }
        Err(e) if force => {
            eprintln!(
                "ipkit: warning: cannot read the addresses of this node ({e}); deleting anyway (--force)"
            );
            Vec::new()
        }
        Err(e) => {
            let why = CliError::kernel(&e);
            return Err(CliError::new(
                why.exit,
                format!(
                    "cannot tell whether {} is up on this node ({}); `ipkit delete --force {tag}` deletes it anyway",
                    def.address.ip(),
                    why.message
                ),
            ));
        }
    };
    let unforced = |what: String| {
        Err(CliError::new(
            Exit::Invalid,
            format!(
                "invalid tag: {what}; run `ipkit remove {tag}` first, or `ipkit delete --force {tag}` to delete it and leave the address unprotected"
            ),
        ))
    };
    if state.in_service && !force {
        return unforced(format!(
            "{tag} is in service ({} on {})",
            def.address,
            state.active_adapter(&def)
        ));
    }
    if !held_by.is_empty() && !force {
        return unforced(format!(
            "{} is up on {} of this node",
            def.address,
            held_by.join(", ")
        ));
    }
    g.store.delete_definition(&tag)?;
    let sinks = crate::log::standard_sinks(g.state_dir(), true);
    sinks.emit(&Event::about(
        &def,
        Operation::Delete,
        &crate::node_name(),
        &Kind::ResourceDeleted,
        std::time::SystemTime::now(),
    ));
    if state.in_service || !held_by.is_empty() {
        let on = if held_by.is_empty() {
            state.active_adapter(&def).to_string()
        } else {
            held_by.join(", ")
        };
        eprintln!(
            "ipkit: warning: {} stays on {on}, no longer protected",
            def.address
        );
    }
    deleted(g, &tag)
}

/// `--force` on a definition that cannot be read: remove the file (a link
/// itself, never what it points to) and the state, under the lock.
fn delete_unreadable(g: &Global, tag: &Tag, why: &StoreError) -> Result<Exit, CliError> {
    let _lock = g.store.lock(tag, Tunables::default().lock_timeout)?;
    g.store.delete_definition(tag)?;
    eprintln!("ipkit: warning: removed a definition that could not be read ({why})");
    deleted(g, tag)
}

fn deleted(g: &Global, tag: &Tag) -> Result<Exit, CliError> {
    if g.json {
        say_out(serde_json::json!({"tag": tag.as_str(), "deleted": true}))?;
    } else {
        say_out(format!("deleted {tag}"))?;
    }
    Ok(Exit::Ok)
}
