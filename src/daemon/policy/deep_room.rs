//! How many deepChecks may be under way at once, and which wait for room.
//!
//! A deepCheck is the slow check (a reading of every address, rule and
//! table, and it may settle the routing), and a resource whose deepCheck
//! has started is busy until a worker has run it: its quickChecks and event
//! checks wait behind it. With 10,000 resources whose routing was not in
//! place, every due deepCheck started, they queued faster than the two
//! workers ran them, and no quickCheck ran for minutes (issue 11,
//! BENCHMARKS.md "Footprint"). So at most [`DEEP_AT_ONCE`] deepChecks are
//! under way; a resource whose deepCheck comes due beyond that is not busy
//! but waits in line, and its other checks go on.

use std::collections::{HashSet, VecDeque};

use crate::resource::Tag;

/// At most this many deepChecks are under way (started, not reported) at
/// once: one piece of work's worth (their locks are held together, one
/// descriptor each), so a quickCheck never waits behind more.
pub const DEEP_AT_ONCE: usize = 256;

#[derive(Debug, Default)]
pub(super) struct DeepRoom {
    /// The resources whose deepCheck started and has not reported yet
    /// (kept across a reload that drops them, until their report).
    running: HashSet<Tag>,
    /// The resources whose deepCheck came due while there was no room,
    /// oldest first (each flagged `deep_waits` in its `Tracked`).
    waiting: VecDeque<Tag>,
}

impl DeepRoom {
    /// `tag`'s deepCheck is due: true if it starts now. One already in
    /// line (`waits`) keeps its place until [`DeepRoom::release`] lets it
    /// go; one that finds no room joins the line and `waits` is set.
    pub(super) fn admit(&mut self, tag: &Tag, waits: &mut bool) -> bool {
        if *waits {
            return false;
        }
        if self.running.len() < DEEP_AT_ONCE {
            self.running.insert(tag.clone());
            return true;
        }
        *waits = true;
        self.waiting.push_back(tag.clone());
        false
    }

    /// `tag` reported: its room is free again.
    pub(super) fn done(&mut self, tag: &Tag) {
        self.running.remove(tag);
    }

    /// The next in line for the room there is now (oldest first), to be
    /// looked at again; each is no longer waiting unless a newer entry
    /// says so. Called at every step, so that a line never stalls: one let
    /// go that cannot start yet (busy, or gone in a reload) does not hold
    /// the others back.
    pub(super) fn release(&mut self) -> Vec<Tag> {
        let room = DEEP_AT_ONCE.saturating_sub(self.running.len());
        let n = self.waiting.len().min(room);
        self.waiting.drain(..n).collect()
    }
}
