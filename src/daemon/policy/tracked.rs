//! One resource as the policy tracks it: what it believes of the resource,
//! its timers, its pending check and its recent recoveries.

use std::collections::VecDeque;

use super::{FailReason, Ms, TIMER_GRID, ms, on_deep_grid};
use crate::resource::{AdapterName, Definition, Mac};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    /// Check when the link of this adapter has stayed down until then.
    LinkDown(Ms),
    /// Check as soon as the resource is free.
    Now,
}

#[derive(Debug, Clone)]
pub(super) struct Tracked {
    pub(super) def: Definition,
    pub(super) in_service: bool,
    pub(super) failed: bool,
    pub(super) active: AdapterName,
    pub(super) busy: bool,
    pub(super) pending: Option<Pending>,
    pub(super) next_quick: Ms,
    pub(super) next_deep: Ms,
    pub(super) next_refresh: Ms,
    /// When local recoveries (and hold restores) ran, newest last.
    pub(super) recoveries: VecDeque<Ms>,
    /// A MarkFailed is owed (set when the decision is taken while busy).
    pub(super) fail_owed: Option<FailReason>,
    /// Added once to the first periodic interval, to spread the checks.
    pub(super) offset: Ms,
    /// The persisted state has been read at least once.
    pub(super) known: bool,
    /// The deadline this resource has an entry for in `Policy::timers`.
    pub(super) queued: Option<Ms>,
    /// When the last defence against a claim was decided (RFC 5227 §2.4).
    pub(super) defended_at: Option<Ms>,
    /// A defence decided but not started yet (the resource was busy): the
    /// claimant and the adapter it was heard on.
    pub(super) defence_owed: Option<(Mac, AdapterName)>,
    /// Its deepCheck is due and waits for room (`deep_room.rs`); its
    /// deadline leaves the deepCheck out meanwhile.
    pub(super) deep_waits: bool,
}

impl Tracked {
    pub(super) fn new(def: Definition, now: Ms, slot: u64, slots: u64) -> Self {
        let t = &def.tunables;
        let quick = ms(t.quick_check_interval).max(1);
        let deep = ms(t.deep_check_interval).max(1);
        let refresh = ms(t.announce_refresh);
        let active = def.adapter.clone();
        let slots = slots.max(1);
        Self {
            // A first check right away (it also reads the persisted state),
            // then staggered intervals.
            next_quick: now,
            next_deep: on_deep_grid(now + deep.saturating_mul(slot) / slots + deep / 2),
            next_refresh: if refresh == 0 {
                Ms::MAX
            } else {
                now + refresh.saturating_mul(slot + 1) / slots
            },
            offset: quick.saturating_mul(slot) / slots,
            known: false,
            queued: None,
            in_service: false,
            failed: false,
            active,
            busy: false,
            pending: None,
            recoveries: VecDeque::new(),
            fail_owed: None,
            defended_at: None,
            defence_owed: None,
            deep_waits: false,
            def,
        }
    }

    pub(super) fn watching(&self) -> bool {
        self.in_service && !self.failed
    }

    pub(super) fn quick_every(&mut self) -> Ms {
        let offset = std::mem::take(&mut self.offset);
        ms(self.def.tunables.quick_check_interval).max(1) + offset
    }

    pub(super) fn deep_every(&self) -> Ms {
        ms(self.def.tunables.deep_check_interval).max(1)
    }

    pub(super) fn refresh_every(&self) -> Ms {
        ms(self.def.tunables.announce_refresh)
    }

    pub(super) fn window(&self) -> Ms {
        ms(self.def.tunables.restart_window).max(1)
    }

    pub(super) fn prune(&mut self, now: Ms) {
        let window = self.window();
        while self
            .recoveries
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            self.recoveries.pop_front();
        }
    }

    /// May one more local recovery run now?
    pub(super) fn recovery_allowed(&mut self, now: Ms) -> bool {
        self.prune(now);
        (self.recoveries.len() as u64) < u64::from(self.def.tunables.restart_threshold)
    }

    pub(super) fn threshold_reason(&self) -> FailReason {
        FailReason::Threshold {
            count: self.def.tunables.restart_threshold,
            window_secs: self.window() / 1000,
        }
    }

    /// A defence is owed and may start: the resource is still watched, and
    /// not about to be marked failed.
    pub(super) fn defence_due(&self) -> bool {
        self.defence_owed.is_some() && self.watching() && self.fail_owed.is_none()
    }

    pub(super) fn want_check_now(&mut self) {
        self.pending = Some(Pending::Now);
    }

    /// The earliest time this resource wants something.
    pub(super) fn deadline(&self) -> Option<Ms> {
        if self.busy {
            return None;
        }
        if self.fail_owed.is_some() || self.defence_due() {
            return Some(0);
        }
        let mut d = self.next_quick;
        if self.watching() {
            d = d.min(self.next_refresh);
            if !self.deep_waits {
                d = d.min(self.next_deep);
            }
        }
        // Periodic work waits for the next TIMER_GRID tick, so resources
        // due close together are served in one wake-up.
        let mut d = d.div_ceil(TIMER_GRID).saturating_mul(TIMER_GRID);
        match self.pending {
            Some(Pending::Now) => return Some(0),
            // A debounce runs out exactly.
            Some(Pending::LinkDown(t)) => d = d.min(t),
            None => {}
        }
        Some(d)
    }
}
