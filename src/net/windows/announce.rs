//! Announcing an address on Windows (SPEC §2 `ips_arpupdate`, restore
//! step 4-1) without a packet driver. User mode cannot send a gratuitous
//! ARP or an unsolicited neighbour advertisement on Windows; what it can
//! do is:
//! - Windows itself announces an address it adds (its own ARP / NDP for
//!   the new address);
//! - `ResolveIpNetEntry2` of a neighbour *from* the address (its
//!   `SourceAddress`) sends that neighbour an ARP request / neighbour
//!   solicitation carrying the address and this adapter's MAC, which
//!   updates the neighbour's entry for the address (RFC 826's merge,
//!   RFC 4861 §7.2.3).
//!
//! So each round asks every neighbour this adapter knows (from
//! `GetIpNetTable2`, reachable or recently so) once, from the address. The
//! first round runs before [`start`] returns (its errors are the
//! announcement's: event 6016); the others follow in the background,
//! `interval` apart, until [`stop`] (a delete of the address) ends them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::iphelper::{Family, IfRow, IpHelper, Luid, NeighbourRow, NeighbourState};
use crate::net::{AnnouncePlan, KernelError, KernelOp};

/// Per address, the generation of its current announcement: a round runs
/// only while its generation is current.
static GENERATIONS: Mutex<Option<HashMap<IpAddr, u64>>> = Mutex::new(None);

fn bump(ip: IpAddr) -> u64 {
    let mut g = GENERATIONS.lock().unwrap_or_else(|e| e.into_inner());
    let n = g.get_or_insert_with(HashMap::new).entry(ip).or_insert(0);
    *n += 1;
    *n
}

fn current(ip: IpAddr, generation: u64) -> bool {
    let g = GENERATIONS.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref().and_then(|m| m.get(&ip)) == Some(&generation)
}

/// End the background rounds of `ip` (the address is being deleted).
pub fn stop(ip: IpAddr) {
    bump(ip);
}

/// Worth asking: answered recently, or being checked.
fn known(n: &NeighbourRow) -> bool {
    matches!(
        n.state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
    )
}

/// One round: every neighbour in `targets` asked once from `ip`.
fn round(help: &dyn IpHelper, targets: &[(Luid, IpAddr)], ip: IpAddr) -> Result<(), KernelError> {
    for (luid, neighbour) in targets {
        help.resolve_ip_net_entry2(*luid, *neighbour, Some(ip))
            .map_err(|e| {
                e.kernel(
                    KernelOp::Announce,
                    Some(ip.to_string()),
                    "ResolveIpNetEntry2",
                )
            })?;
    }
    Ok(())
}

/// Announce `ip` on the adapter `row` (see the module doc). `target`
/// names it in errors.
pub fn start(
    help: Arc<dyn IpHelper>,
    row: &IfRow,
    ip: IpAddr,
    plan: AnnouncePlan,
    target: String,
) -> Result<(), KernelError> {
    let generation = bump(ip);
    let targets: Vec<(Luid, IpAddr)> = help
        .get_ip_net_table2(Family::of(ip))
        .map_err(|e| e.kernel(KernelOp::Announce, Some(target.clone()), "GetIpNetTable2"))?
        .iter()
        .filter(|n| n.luid == row.luid && n.ip != ip && known(n))
        .map(|n| (n.luid, n.ip))
        .collect();
    if plan.count == 0 || targets.is_empty() {
        return Ok(());
    }
    round(&*help, &targets, ip).map_err(|mut e| {
        e.target = Some(target);
        e
    })?;
    if plan.count > 1 {
        std::thread::spawn(move || {
            for _ in 1..plan.count {
                std::thread::sleep(plan.interval);
                if !current(ip, generation) || round(&*help, &targets, ip).is_err() {
                    return;
                }
            }
        });
    }
    Ok(())
}
