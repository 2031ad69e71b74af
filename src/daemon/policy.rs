//! The daemon's reaction policy as a pure state machine: inputs and the
//! current time go in, jobs come out. No I/O, no clock, no sleeping, so the
//! unit tests below drive it to the millisecond.
//!
//! What it decides (SPEC §6 `ipkit daemon`, issue 6):
//! - carrier loss on the active adapter of an in-service resource runs
//!   quickCheck once the link has stayed down for `link_debounce` (at once
//!   when that is 0); the protected address disappearing runs it at once;
//! - a failed quickCheck runs recover (same job, same lock) when local
//!   recovery is on and the restart threshold allows it; otherwise, or when
//!   recover fails, the resource is marked failed exactly once;
//! - quickCheck / deepCheck / announce refresh run on their intervals as a
//!   safety net, staggered so 1,000 resources do not all wake together;
//! - a resource marked `hold_in_service` is restored when it is not in
//!   service;
//! - one job per resource at a time: anything that happens meanwhile makes
//!   the resource "dirty", which runs one more quickCheck afterwards.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;

use crate::resource::{AdapterName, Definition, Tag};

/// Milliseconds on the daemon's monotonic clock.
pub type Ms = u64;

/// Periodic checks are batched on this grid (debounce deadlines are not).
pub const TIMER_GRID: Ms = 50;

fn ms(d: std::time::Duration) -> Ms {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the daemon's event loop feeds in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// An adapter's cable state as netlink reports it (carrier and admin up).
    Link { name: AdapterName, connected: bool },
    /// An adapter disappeared.
    LinkGone { name: AdapterName },
    /// An address was deleted (`adapter` when the ifindex is known).
    AddressRemoved {
        ip: IpAddr,
        adapter: Option<AdapterName>,
    },
    /// An address was added.
    AddressAdded {
        ip: IpAddr,
        adapter: Option<AdapterName>,
    },
    /// Netlink overran: the caller re-read every link (as `Link` inputs) and
    /// now every in-service resource is checked.
    Resync,
    /// A job finished.
    Done { tag: Tag, report: Report },
    /// Nothing but the passage of time.
    Tick,
}

/// Why a quickCheck runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A netlink event (after the debounce, which the policy already waited:
    /// the job runs quickCheck with `link_debounce` 0).
    Event,
    /// The periodic safety net (quickCheck keeps its own debounce).
    Timer,
}

/// Why a resource is marked failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// More local recoveries were needed than `restart_threshold` allows in
    /// `restart_window` (event 7104).
    Threshold { count: u32, window_secs: u64 },
    /// recover ran and failed (6604).
    RecoverFailed,
    /// quickCheck failed and local recovery is off.
    LocalRecoveryOff,
}

impl FailReason {
    /// The text handed to `on_failure` as `IPKIT_REASON`.
    pub fn text(&self) -> String {
        match self {
            FailReason::Threshold { count, window_secs } => {
                format!("restart threshold exceeded: {count} local recoveries in {window_secs} s")
            }
            FailReason::RecoverFailed => "local recovery failed".to_owned(),
            FailReason::LocalRecoveryOff => {
                "quickCheck failed and local recovery is off".to_owned()
            }
        }
    }
}

/// Work for the executor, one resource at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// quickCheck; when it fails and `recover` is true, recover under the
    /// same lock.
    Check {
        trigger: Trigger,
        recover: bool,
    },
    DeepCheck,
    /// Bring a `hold_in_service` resource up.
    Restore,
    /// Re-announce the address (`announce_refresh`).
    Refresh,
    /// Persist `failed`, emit 7104 for a threshold, run `on_failure` once.
    MarkFailed(FailReason),
}

/// What the executor reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The resource's state (read from the store) says it is not in service,
    /// or is marked failed; nothing was run.
    Skipped {
        in_service: bool,
        failed: bool,
    },
    /// quickCheck ran; `recovered` is Some(success) when recover ran too.
    Checked {
        ok: bool,
        recovered: Option<bool>,
        active: AdapterName,
        in_service: bool,
    },
    DeepChecked,
    Restored {
        ok: bool,
        active: AdapterName,
    },
    Refreshed,
    MarkedFailed,
    /// The job could not run (lock busy, store error); retried by the timer.
    Error,
}

/// What comes out: run `job` on `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub tag: Tag,
    pub job: Job,
}

#[derive(Debug, Clone)]
struct LinkView {
    connected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Check when the link of this adapter has stayed down until then.
    LinkDown(Ms),
    /// Check as soon as the resource is free.
    Now,
}

#[derive(Debug, Clone)]
struct Res {
    def: Definition,
    in_service: bool,
    failed: bool,
    active: AdapterName,
    busy: bool,
    pending: Option<Pending>,
    next_quick: Ms,
    next_deep: Ms,
    next_refresh: Ms,
    /// When local recoveries (and hold restores) ran, newest last.
    recoveries: VecDeque<Ms>,
    /// A MarkFailed is owed (set when the decision is taken while busy).
    fail_owed: Option<FailReason>,
    /// Added once to the first periodic interval, to spread the checks.
    offset: Ms,
    /// The persisted state has been read at least once.
    known: bool,
    /// The deadline this resource has an entry for in `Policy::timers`.
    queued: Option<Ms>,
}

impl Res {
    fn new(def: Definition, now: Ms, slot: u64, slots: u64) -> Self {
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
            next_deep: now + deep.saturating_mul(slot) / slots + deep / 2,
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
            def,
        }
    }

    fn watching(&self) -> bool {
        self.in_service && !self.failed
    }

    fn quick_every(&mut self) -> Ms {
        let offset = std::mem::take(&mut self.offset);
        ms(self.def.tunables.quick_check_interval).max(1) + offset
    }

    fn deep_every(&self) -> Ms {
        ms(self.def.tunables.deep_check_interval).max(1)
    }

    fn refresh_every(&self) -> Ms {
        ms(self.def.tunables.announce_refresh)
    }

    fn window(&self) -> Ms {
        ms(self.def.tunables.restart_window).max(1)
    }

    fn prune(&mut self, now: Ms) {
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
    fn recovery_allowed(&mut self, now: Ms) -> bool {
        self.prune(now);
        (self.recoveries.len() as u64) < u64::from(self.def.tunables.restart_threshold)
    }

    fn threshold_reason(&self) -> FailReason {
        FailReason::Threshold {
            count: self.def.tunables.restart_threshold,
            window_secs: self.window() / 1000,
        }
    }

    fn want_check_now(&mut self) {
        self.pending = Some(Pending::Now);
    }

    /// The earliest time this resource wants something.
    fn deadline(&self) -> Option<Ms> {
        if self.busy {
            return None;
        }
        if self.fail_owed.is_some() {
            return Some(0);
        }
        let mut d = self.next_quick;
        if self.watching() {
            d = d.min(self.next_deep).min(self.next_refresh);
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

/// The policy over every resource.
#[derive(Debug, Default)]
pub struct Policy {
    res: BTreeMap<Tag, Res>,
    links: HashMap<AdapterName, LinkView>,
    /// When each resource next wants something (its deadline when it was
    /// queued; entries that no longer match `Res::queued` are stale and
    /// skipped). Lets [`Policy::handle`] look only at the resources an
    /// input touched or whose time came, not at all 1,000 every time.
    timers: BinaryHeap<Reverse<(Ms, Tag)>>,
    /// Resources an input may have changed since the last step.
    touched: Vec<Tag>,
    /// Look at every resource in the next step.
    all: bool,
}

impl Policy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Install the definitions (start and SIGHUP). New resources get a first
    /// check at once (which reads their persisted state); changed ones keep
    /// their runtime view and restart history; gone ones are dropped.
    pub fn load(&mut self, defs: Vec<Definition>, now: Ms) -> Vec<Action> {
        let slots = defs.len() as u64;
        let mut next: BTreeMap<Tag, Res> = BTreeMap::new();
        for (i, def) in defs.into_iter().enumerate() {
            let tag = def.tag.clone();
            let r = match self.res.remove(&tag) {
                Some(mut old) => {
                    if old.def != def {
                        let fresh = Res::new(def.clone(), now, i as u64, slots);
                        old.next_refresh = fresh.next_refresh;
                        old.def = def;
                        old.want_check_now();
                    }
                    old
                }
                None => Res::new(def, now, i as u64, slots),
            };
            next.insert(tag, r);
        }
        self.res = next;
        self.all = true;
        self.step(now)
    }

    pub fn tags(&self) -> impl Iterator<Item = &Tag> {
        self.res.keys()
    }

    /// Is the adapter connected, as far as netlink told us (unknown = None)?
    pub fn link(&self, name: &AdapterName) -> Option<bool> {
        self.links.get(name).map(|l| l.connected)
    }

    /// When `handle(Tick)` next has something to do (None = only on input).
    pub fn next_deadline(&self) -> Option<Ms> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Feed one input; get the jobs to start now.
    pub fn handle(&mut self, now: Ms, input: Input) -> Vec<Action> {
        match input {
            Input::Link { name, connected } => self.on_link(now, name, connected),
            Input::LinkGone { name } => self.on_link(now, name, false),
            Input::AddressRemoved { ip, adapter } => {
                for (tag, r) in self.res.iter_mut() {
                    if r.def.address.ip() != ip {
                        continue;
                    }
                    self.touched.push(tag.clone());
                    // Our own recover moves the address; while a job runs
                    // that is only worth a re-check afterwards.
                    let on_active = adapter.as_ref().is_none_or(|a| *a == r.active);
                    if (r.watching() && on_active) || r.busy {
                        r.want_check_now();
                    }
                }
            }
            Input::AddressAdded { ip, adapter } => {
                for (tag, r) in self.res.iter_mut() {
                    if r.def.address.ip() != ip {
                        continue;
                    }
                    self.touched.push(tag.clone());
                    // Not in service yet: a command-line restore may have
                    // brought it up; a check reads the state again. In
                    // service: on another adapter it is a duplicate.
                    let elsewhere = adapter.as_ref().is_some_and(|a| *a != r.active);
                    if r.busy || !r.in_service || (r.watching() && elsewhere) {
                        r.want_check_now();
                    }
                }
            }
            Input::Resync => {
                self.all = true;
                for r in self.res.values_mut() {
                    if r.in_service || r.busy {
                        r.want_check_now();
                    }
                }
            }
            Input::Done { tag, report } => self.on_done(now, &tag, report),
            Input::Tick => {}
        }
        self.step(now)
    }

    fn on_link(&mut self, now: Ms, name: AdapterName, connected: bool) {
        let was = self.links.get(&name).map(|l| l.connected);
        self.links.insert(name.clone(), LinkView { connected });
        if was == Some(connected) {
            return;
        }
        for (tag, r) in self.res.iter_mut() {
            if r.active != name {
                continue;
            }
            self.touched.push(tag.clone());
            if connected {
                // Back before the debounce ran out: nothing to do.
                if matches!(r.pending, Some(Pending::LinkDown(_))) {
                    r.pending = None;
                }
            } else if r.busy {
                r.want_check_now();
            } else if r.watching() && r.pending.is_none() {
                let at = now.saturating_add(ms(r.def.tunables.link_debounce));
                r.pending = Some(Pending::LinkDown(at));
            }
        }
    }

    fn on_done(&mut self, now: Ms, tag: &Tag, report: Report) {
        let Some(r) = self.res.get_mut(tag) else {
            return;
        };
        self.touched.push(tag.clone());
        r.busy = false;
        if matches!(
            report,
            Report::Skipped { .. } | Report::Checked { .. } | Report::Restored { .. }
        ) {
            r.known = true;
        }
        match report {
            Report::Skipped { in_service, failed } => {
                if r.failed && !failed {
                    // An operator cleared the mark (or a restore did): start
                    // afresh, and on_failure may run again next time.
                    r.recoveries.clear();
                }
                r.in_service = in_service;
                r.failed = failed;
                r.next_quick = now + r.quick_every();
                if r.def.hold_in_service && !in_service && !failed {
                    // Bring it up at once rather than at the next tick.
                    r.pending = Some(Pending::Now);
                }
            }
            Report::Checked {
                ok,
                recovered,
                active,
                in_service,
            } => {
                if r.failed {
                    r.recoveries.clear();
                }
                r.failed = false;
                r.active = active;
                r.in_service = in_service;
                r.next_quick = now + r.quick_every();
                if !ok {
                    match recovered {
                        Some(true) => r.recoveries.push_back(now),
                        Some(false) => {
                            r.recoveries.push_back(now);
                            r.fail_owed = Some(FailReason::RecoverFailed);
                        }
                        None if !r.def.local_recovery => {
                            r.fail_owed = Some(FailReason::LocalRecoveryOff)
                        }
                        // The check ran without recover although one is
                        // allowed now (the mark was cleared meanwhile):
                        // check again, with recover.
                        None if r.recovery_allowed(now) => r.want_check_now(),
                        None => r.fail_owed = Some(r.threshold_reason()),
                    }
                }
            }
            Report::DeepChecked => r.next_deep = now + r.deep_every(),
            Report::Restored { ok, active } => {
                r.recoveries.push_back(now);
                if ok {
                    r.in_service = true;
                    r.failed = false;
                    r.active = active;
                }
                r.next_quick = now + r.quick_every();
            }
            Report::Refreshed => r.next_refresh = now.saturating_add(r.refresh_every()),
            Report::MarkedFailed => {
                r.failed = true;
                r.next_quick = now + r.quick_every();
            }
            Report::Error => {
                r.next_quick = now + r.quick_every();
            }
        }
        if r.refresh_every() == 0 {
            r.next_refresh = Ms::MAX;
        } else if r.next_refresh == Ms::MAX {
            r.next_refresh = now.saturating_add(r.refresh_every());
        }
    }

    /// Start whatever is due, at most one job per resource.
    fn step(&mut self, now: Ms) -> Vec<Action> {
        let mut out = Vec::new();
        if self.all {
            self.all = false;
            self.touched.clear();
            self.timers.clear();
            for (tag, r) in self.res.iter_mut() {
                r.queued = None;
                out.extend(Self::step_one(now, tag, r));
                Self::queue(&mut self.timers, tag, r);
            }
            return out;
        }
        for tag in std::mem::take(&mut self.touched) {
            if let Some(r) = self.res.get_mut(&tag) {
                out.extend(Self::step_one(now, &tag, r));
                Self::queue(&mut self.timers, &tag, r);
            }
        }
        while let Some(Reverse((t, _))) = self.timers.peek()
            && *t <= now
        {
            let Some(Reverse((t, tag))) = self.timers.pop() else {
                break;
            };
            if let Some(r) = self.res.get_mut(&tag)
                && r.queued == Some(t)
            {
                r.queued = None;
                out.extend(Self::step_one(now, &tag, r));
                Self::queue(&mut self.timers, &tag, r);
            }
        }
        out
    }

    /// Make sure the heap has an entry for the resource's current deadline.
    fn queue(timers: &mut BinaryHeap<Reverse<(Ms, Tag)>>, tag: &Tag, r: &mut Res) {
        let d = r.deadline();
        if d != r.queued {
            r.queued = d;
            if let Some(d) = d {
                timers.push(Reverse((d, tag.clone())));
            }
        }
    }

    /// Start what is due for one resource.
    fn step_one(now: Ms, tag: &Tag, r: &mut Res) -> Option<Action> {
        {
            if r.busy {
                return None;
            }
            let job = if let Some(reason) = r.fail_owed.take() {
                r.pending = None;
                Some(Job::MarkFailed(reason))
            } else if r.failed {
                // Only look for the mark being cleared; never recover.
                r.pending = None;
                (now >= r.next_quick).then_some(Job::Check {
                    trigger: Trigger::Timer,
                    recover: false,
                })
            } else if r.def.hold_in_service
                && r.known
                && !r.in_service
                && (now >= r.next_quick || r.pending.is_some())
            {
                r.pending = None;
                if r.recovery_allowed(now) {
                    Some(Job::Restore)
                } else {
                    Some(Job::MarkFailed(r.threshold_reason()))
                }
            } else {
                let event_due = match r.pending {
                    Some(Pending::Now) => true,
                    Some(Pending::LinkDown(t)) => now >= t,
                    None => false,
                };
                if event_due {
                    r.pending = None;
                    let recover = r.def.local_recovery && r.recovery_allowed(now);
                    Some(Job::Check {
                        trigger: Trigger::Event,
                        recover,
                    })
                } else if now >= r.next_quick {
                    let recover = r.def.local_recovery && r.recovery_allowed(now);
                    Some(Job::Check {
                        trigger: Trigger::Timer,
                        recover,
                    })
                } else if r.watching() && now >= r.next_deep {
                    Some(Job::DeepCheck)
                } else if r.watching() && now >= r.next_refresh {
                    Some(Job::Refresh)
                } else {
                    None
                }
            };
            job.map(|job| {
                r.busy = true;
                Action {
                    tag: tag.clone(),
                    job,
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;
    use std::time::Duration;

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    fn tag(s: &str) -> Tag {
        Tag::new(s).unwrap()
    }

    fn def(name: &str, ip: &str, debounce_ms: u64) -> Definition {
        let mut d = Definition::new(
            tag(name),
            ip.parse::<Address>().unwrap(),
            nic("eth0"),
            Some(nic("eth1")),
        )
        .unwrap();
        d.tunables.link_debounce = Duration::from_millis(debounce_ms);
        d
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn checked(ok: bool, recovered: Option<bool>, active: &str) -> Report {
        Report::Checked {
            ok,
            recovered,
            active: nic(active),
            in_service: true,
        }
    }

    /// A policy with one in-service resource on eth0 (first check done).
    fn running(d: Definition) -> Policy {
        let mut p = Policy::new();
        p.handle(
            0,
            Input::Link {
                name: nic("eth0"),
                connected: true,
            },
        );
        let t = d.tag.clone();
        let a = p.load(vec![d], 0);
        assert_eq!(
            a,
            vec![Action {
                tag: t.clone(),
                job: Job::Check {
                    trigger: Trigger::Timer,
                    recover: true
                }
            }]
        );
        assert!(
            p.handle(
                1,
                Input::Done {
                    tag: t,
                    report: checked(true, None, "eth0")
                }
            )
            .is_empty()
        );
        p
    }

    fn down(p: &mut Policy, now: Ms, name: &str) -> Vec<Action> {
        p.handle(
            now,
            Input::Link {
                name: nic(name),
                connected: false,
            },
        )
    }

    fn up(p: &mut Policy, now: Ms, name: &str) -> Vec<Action> {
        p.handle(
            now,
            Input::Link {
                name: nic(name),
                connected: true,
            },
        )
    }

    fn event_check(t: &str, recover: bool) -> Vec<Action> {
        vec![Action {
            tag: tag(t),
            job: Job::Check {
                trigger: Trigger::Event,
                recover,
            },
        }]
    }

    #[test]
    fn carrier_loss_checks_at_once_without_debounce() {
        let mut p = running(def("vip", "198.51.100.10/24", 0));
        assert_eq!(down(&mut p, 10, "eth0"), event_check("vip", true));
    }

    #[test]
    fn carrier_loss_on_another_adapter_is_ignored() {
        let mut p = running(def("vip", "198.51.100.10/24", 0));
        assert!(down(&mut p, 10, "eth1").is_empty());
        assert!(down(&mut p, 10, "eth7").is_empty());
    }

    #[test]
    fn debounce_waits_and_a_returning_link_cancels() {
        let mut p = running(def("vip", "198.51.100.10/24", 300));
        assert!(down(&mut p, 100, "eth0").is_empty());
        assert_eq!(p.next_deadline(), Some(400));
        assert!(p.handle(399, Input::Tick).is_empty());
        // Back up before 400: cancelled.
        assert!(up(&mut p, 350, "eth0").is_empty());
        assert!(p.handle(400, Input::Tick).is_empty());
        // Down again: a fresh full debounce from the new loss.
        assert!(down(&mut p, 500, "eth0").is_empty());
        assert!(p.handle(799, Input::Tick).is_empty());
        assert_eq!(p.handle(800, Input::Tick), event_check("vip", true));
    }

    #[test]
    fn address_removed_from_active_adapter_checks_at_once() {
        let mut p = running(def("vip", "198.51.100.10/24", 5000));
        let a = p.handle(
            5,
            Input::AddressRemoved {
                ip: ip("198.51.100.10"),
                adapter: Some(nic("eth0")),
            },
        );
        assert_eq!(a, event_check("vip", true));
        // Another address, or the address leaving another adapter: nothing.
        let mut p = running(def("vip", "198.51.100.10/24", 0));
        assert!(
            p.handle(
                5,
                Input::AddressRemoved {
                    ip: ip("198.51.100.11"),
                    adapter: Some(nic("eth0"))
                }
            )
            .is_empty()
        );
        assert!(
            p.handle(
                5,
                Input::AddressRemoved {
                    ip: ip("198.51.100.10"),
                    adapter: Some(nic("eth1"))
                }
            )
            .is_empty()
        );
    }

    #[test]
    fn events_during_a_job_cause_one_recheck_after_it() {
        let mut p = running(def("vip", "198.51.100.10/24", 0));
        assert_eq!(down(&mut p, 10, "eth0"), event_check("vip", true));
        // The recover moves the address: its own netlink events arrive.
        for input in [
            Input::AddressRemoved {
                ip: ip("198.51.100.10"),
                adapter: Some(nic("eth0")),
            },
            Input::AddressAdded {
                ip: ip("198.51.100.10"),
                adapter: Some(nic("eth1")),
            },
        ] {
            assert!(p.handle(11, input).is_empty());
        }
        let a = p.handle(
            12,
            Input::Done {
                tag: tag("vip"),
                report: checked(false, Some(true), "eth1"),
            },
        );
        assert_eq!(a, event_check("vip", true));
        assert!(
            p.handle(
                13,
                Input::Done {
                    tag: tag("vip"),
                    report: checked(true, None, "eth1")
                }
            )
            .is_empty()
        );
        // Now eth0 no longer matters, eth1 does.
        assert!(down(&mut p, 14, "eth0").is_empty());
        up(&mut p, 14, "eth1");
        assert_eq!(down(&mut p, 15, "eth1"), event_check("vip", true));
    }

    #[test]
    fn restart_threshold_marks_failed_once_and_stops_recovering() {
        let mut d = def("vip", "198.51.100.10/24", 0);
        d.tunables.restart_threshold = 2;
        d.tunables.restart_window = Duration::from_secs(60);
        let mut p = running(d);
        let vip = tag("vip");
        let mut now = 10;
        // Two recoveries are allowed.
        for active in ["eth1", "eth0"] {
            let other = if active == "eth1" { "eth0" } else { "eth1" };
            up(&mut p, now, active);
            assert_eq!(down(&mut p, now, other), event_check("vip", true));
            assert!(
                p.handle(
                    now + 1,
                    Input::Done {
                        tag: vip.clone(),
                        report: checked(false, Some(true), active)
                    }
                )
                .is_empty()
            );
            now += 100;
        }
        // The third would exceed: the check runs without recover...
        up(&mut p, now, "eth1");
        assert_eq!(down(&mut p, now, "eth0"), event_check("vip", false));
        // ...and its failure marks the resource failed.
        let a = p.handle(
            now + 1,
            Input::Done {
                tag: vip.clone(),
                report: checked(false, None, "eth0"),
            },
        );
        assert_eq!(
            a,
            vec![Action {
                tag: vip.clone(),
                job: Job::MarkFailed(FailReason::Threshold {
                    count: 2,
                    window_secs: 60
                })
            }]
        );
        assert!(
            p.handle(
                now + 2,
                Input::Done {
                    tag: vip.clone(),
                    report: Report::MarkedFailed
                }
            )
            .is_empty()
        );
        // Further flaps: nothing, and never a second MarkFailed.
        for i in 0..5 {
            assert!(up(&mut p, now + 10 + i, "eth0").is_empty());
            assert!(down(&mut p, now + 10 + i, "eth0").is_empty());
        }
        // The timer only looks whether the mark was cleared.
        let later = now + 6_000;
        assert_eq!(
            p.handle(later, Input::Tick),
            vec![Action {
                tag: vip.clone(),
                job: Job::Check {
                    trigger: Trigger::Timer,
                    recover: false
                }
            }]
        );
        // Cleared by an operator: recovery is allowed again, history reset.
        p.handle(
            later + 1,
            Input::Done {
                tag: vip.clone(),
                report: Report::Skipped {
                    in_service: true,
                    failed: false,
                },
            },
        );
        up(&mut p, later + 2, "eth0");
        assert_eq!(down(&mut p, later + 3, "eth0"), event_check("vip", true));
    }

    #[test]
    fn a_check_without_recover_after_a_clear_is_retried_with_recover() {
        // E.g. the timer's look at a failed mark that was just cleared.
        let mut p2 = running(def("vip", "198.51.100.10/24", 0));
        let a = p2.handle(6_000, Input::Tick);
        assert_eq!(
            a[0].job,
            Job::Check {
                trigger: Trigger::Timer,
                recover: true
            }
        );
        let a = p2.handle(
            6_001,
            Input::Done {
                tag: tag("vip"),
                report: checked(false, None, "eth0"),
            },
        );
        assert_eq!(a, event_check("vip", true));
    }

    #[test]
    fn the_window_forgets_old_recoveries() {
        let mut d = def("vip", "198.51.100.10/24", 0);
        d.tunables.restart_threshold = 1;
        d.tunables.restart_window = Duration::from_secs(10);
        let mut p = running(d);
        assert_eq!(down(&mut p, 100, "eth0"), event_check("vip", true));
        p.handle(
            101,
            Input::Done {
                tag: tag("vip"),
                report: checked(false, Some(true), "eth1"),
            },
        );
        up(&mut p, 200, "eth1");
        assert_eq!(down(&mut p, 9_000, "eth1"), event_check("vip", false));
        p.handle(
            9_001,
            Input::Done {
                tag: tag("vip"),
                report: checked(true, None, "eth1"),
            },
        );
        up(&mut p, 9_002, "eth1");
        // 10 s after the recovery it no longer counts.
        assert_eq!(down(&mut p, 10_101, "eth1"), event_check("vip", true));
    }

    #[test]
    fn failed_recovery_and_no_local_recovery_mark_failed() {
        let mut p = running(def("vip", "198.51.100.10/24", 0));
        down(&mut p, 10, "eth0");
        let a = p.handle(
            11,
            Input::Done {
                tag: tag("vip"),
                report: checked(false, Some(false), "eth1"),
            },
        );
        assert_eq!(a[0].job, Job::MarkFailed(FailReason::RecoverFailed));

        let mut d = def("vip", "198.51.100.10/24", 0);
        d.local_recovery = false;
        let mut p = Policy::new();
        up(&mut p, 0, "eth0");
        let a = p.load(vec![d], 0);
        assert_eq!(
            a[0].job,
            Job::Check {
                trigger: Trigger::Timer,
                recover: false
            }
        );
        p.handle(
            1,
            Input::Done {
                tag: tag("vip"),
                report: checked(true, None, "eth0"),
            },
        );
        assert_eq!(down(&mut p, 10, "eth0"), event_check("vip", false));
        let a = p.handle(
            11,
            Input::Done {
                tag: tag("vip"),
                report: checked(false, None, "eth0"),
            },
        );
        assert_eq!(a[0].job, Job::MarkFailed(FailReason::LocalRecoveryOff));
    }

    #[test]
    fn periodic_checks_and_refresh_follow_their_intervals() {
        let mut d = def("vip", "198.51.100.10/24", 0);
        d.tunables.quick_check_interval = Duration::from_secs(5);
        d.tunables.deep_check_interval = Duration::from_secs(60);
        d.tunables.announce_refresh = Duration::from_secs(20);
        let mut p = running(d);
        let vip = tag("vip");
        // After the first check at 1 ms, the next is due at 5001, served
        // on the timer grid at 5050.
        assert_eq!(p.next_deadline(), Some(5_050));
        assert!(p.handle(5_049, Input::Tick).is_empty());
        let a = p.handle(5_050, Input::Tick);
        assert_eq!(
            a[0].job,
            Job::Check {
                trigger: Trigger::Timer,
                recover: true
            }
        );
        p.handle(
            5_050,
            Input::Done {
                tag: vip.clone(),
                report: checked(true, None, "eth0"),
            },
        );
        // One resource: deepCheck first at 30 s (half an interval), refresh at 20 s.
        let mut jobs = Vec::new();
        let mut now = 5_050;
        while now < 61_000 {
            now = p.next_deadline().unwrap().max(now);
            for a in p.handle(now, Input::Tick) {
                jobs.push((now, a.job.clone()));
                let report = match a.job {
                    Job::Check { .. } => checked(true, None, "eth0"),
                    Job::DeepCheck => Report::DeepChecked,
                    Job::Refresh => Report::Refreshed,
                    _ => Report::Error,
                };
                p.handle(
                    now,
                    Input::Done {
                        tag: vip.clone(),
                        report,
                    },
                );
            }
        }
        let deep: Vec<Ms> = jobs
            .iter()
            .filter(|(_, j)| *j == Job::DeepCheck)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(deep, vec![30_000]);
        let refresh: Vec<Ms> = jobs
            .iter()
            .filter(|(_, j)| *j == Job::Refresh)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(refresh, vec![20_000, 40_000, 60_000]);
        let quick = jobs
            .iter()
            .filter(|(_, j)| matches!(j, Job::Check { .. }))
            .count();
        assert_eq!(quick, 12);
    }

    #[test]
    fn not_in_service_resources_are_only_watched_for_a_restore() {
        let mut p = Policy::new();
        up(&mut p, 0, "eth0");
        p.load(vec![def("vip", "198.51.100.10/24", 0)], 0);
        p.handle(
            1,
            Input::Done {
                tag: tag("vip"),
                report: Report::Skipped {
                    in_service: false,
                    failed: false,
                },
            },
        );
        assert!(down(&mut p, 2, "eth0").is_empty());
        assert!(
            p.handle(
                3,
                Input::AddressRemoved {
                    ip: ip("198.51.100.10"),
                    adapter: None
                }
            )
            .is_empty()
        );
        // A command-line restore adds the address: look again at once.
        assert_eq!(
            p.handle(
                4,
                Input::AddressAdded {
                    ip: ip("198.51.100.10"),
                    adapter: Some(nic("eth0"))
                }
            ),
            event_check("vip", true)
        );
    }

    #[test]
    fn hold_in_service_restores_and_counts_against_the_threshold() {
        let mut d = def("vip", "198.51.100.10/24", 0);
        d.hold_in_service = true;
        d.tunables.restart_threshold = 1;
        let mut p = Policy::new();
        let a = p.load(vec![d], 0);
        assert!(matches!(a[0].job, Job::Check { .. }));
        let a = p.handle(
            1,
            Input::Done {
                tag: tag("vip"),
                report: Report::Skipped {
                    in_service: false,
                    failed: false,
                },
            },
        );
        // Brought up at once.
        assert_eq!(a[0].job, Job::Restore);
        p.handle(
            5_002,
            Input::Done {
                tag: tag("vip"),
                report: Report::Restored {
                    ok: false,
                    active: nic("eth0"),
                },
            },
        );
        // 10_002 is due; the timer grid serves it at 10_050.
        assert!(p.handle(10_049, Input::Tick).is_empty());
        let a = p.handle(10_050, Input::Tick);
        assert!(matches!(
            a[0].job,
            Job::MarkFailed(FailReason::Threshold { .. })
        ));
    }

    #[test]
    fn reload_adds_and_drops_resources_and_overrun_rechecks() {
        let mut p = running(def("vip", "198.51.100.10/24", 0));
        let a = p.load(
            vec![
                def("vip", "198.51.100.10/24", 0),
                def("vip2", "198.51.100.11/24", 0),
            ],
            50,
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].tag, tag("vip2"));
        assert_eq!(p.tags().count(), 2);
        p.handle(
            51,
            Input::Done {
                tag: tag("vip2"),
                report: checked(true, None, "eth0"),
            },
        );
        let a = p.handle(60, Input::Resync);
        assert_eq!(a.len(), 2);
        let a = p.load(vec![def("vip2", "198.51.100.11/24", 0)], 70);
        assert!(a.is_empty());
        assert_eq!(p.tags().cloned().collect::<Vec<_>>(), vec![tag("vip2")]);
    }
}
