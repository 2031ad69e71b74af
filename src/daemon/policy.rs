//! The daemon's reaction policy as a pure state machine: inputs and the
//! current time go in, jobs come out. No I/O, no clock, no sleeping, so its
//! tests (`tests/policy/<case>/`, inputs and times in, jobs out, run by
//! `tests/policy.rs`) drive it to the millisecond.
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

use serde::{Deserialize, Serialize};

use crate::resource::{AdapterName, Definition, Tag};

/// Milliseconds on the daemon's monotonic clock.
pub type Ms = u64;

/// Periodic checks are batched on this grid (debounce deadlines are not).
pub const TIMER_GRID: Ms = 50;

fn ms(d: std::time::Duration) -> Ms {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the daemon's event loop feeds in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// An adapter's cable state as the change source reports it (SPEC §2:
    /// connected = administratively up and carrier).
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
    /// The change source overran: the caller re-read every link (as `Link` inputs) and
    /// now every in-service resource is checked.
    Resync,
    /// A job finished.
    Done { tag: Tag, report: Report },
    /// Nothing but the passage of time.
    Tick,
}

/// Why a quickCheck runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A reported change (after the debounce, which the policy already waited:
    /// the job runs quickCheck with `link_debounce` 0).
    Event,
    /// The periodic safety net (quickCheck keeps its own debounce).
    Timer,
}

/// Why a resource is marked failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
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
struct Tracked {
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

impl Tracked {
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
    res: BTreeMap<Tag, Tracked>,
    links: HashMap<AdapterName, LinkView>,
    /// When each resource next wants something (its deadline when it was
    /// queued; entries that no longer match `Tracked::queued` are stale and
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
    pub fn load(&mut self, defs: Vec<Definition>, now: Ms) -> Vec<JobRequest> {
        let slots = defs.len() as u64;
        let mut next: BTreeMap<Tag, Tracked> = BTreeMap::new();
        for (i, def) in defs.into_iter().enumerate() {
            let tag = def.tag.clone();
            let r = match self.res.remove(&tag) {
                Some(mut old) => {
                    if old.def != def {
                        let fresh = Tracked::new(def.clone(), now, i as u64, slots);
                        old.next_refresh = fresh.next_refresh;
                        old.def = def;
                        old.want_check_now();
                    }
                    old
                }
                None => Tracked::new(def, now, i as u64, slots),
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

    /// Is the adapter connected, as far as the change source told us
    /// (unknown = None)?
    pub fn link(&self, name: &AdapterName) -> Option<bool> {
        self.links.get(name).map(|l| l.connected)
    }

    /// When `handle(Tick)` next has something to do (None = only on input).
    pub fn next_deadline(&self) -> Option<Ms> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Feed one input; get the jobs to start now.
    pub fn handle(&mut self, now: Ms, input: Input) -> Vec<JobRequest> {
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
    fn step(&mut self, now: Ms) -> Vec<JobRequest> {
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
    fn queue(timers: &mut BinaryHeap<Reverse<(Ms, Tag)>>, tag: &Tag, r: &mut Tracked) {
        let d = r.deadline();
        if d != r.queued {
            r.queued = d;
            if let Some(d) = d {
                timers.push(Reverse((d, tag.clone())));
            }
        }
    }

    /// Start what is due for one resource.
    fn step_one(now: Ms, tag: &Tag, r: &mut Tracked) -> Option<JobRequest> {
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
                JobRequest {
                    tag: tag.clone(),
                    job,
                }
            })
        }
    }
}
