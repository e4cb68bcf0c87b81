//! Convergence of an injected run with the uninterrupted one, so that an injection need not
//! re-run the rest of the call once nothing can tell the two apart.
//!
//! Pass 1 (the uninterrupted run) keeps an access log (every store with its value, every
//! load of the goroutine stack) and a [`Checkpoint`] at every call entry and every return
//! landing: the registers, the shadow stack, the allocator and clock, its position in the
//! log. An injected run that reaches a checkpoint's PC asks [`Convergence::converged`]
//! whether its whole state is the reference's there.
//!
//! Why the rest of the run is then the reference's, instruction for instruction: the
//! machine is deterministic, and what the rest can observe is (a) the registers, (b) the
//! stepper's state (shadow stack, allocator, clock; the pending flow is empty at a checkpoint
//! in both) and (c) memory. (a) The general registers, SP, PC, NZCV and D0-D31 are compared,
//! R27 only where the rest reads it before setting it (`twixt_arm64::register_use` along the
//! reference's executed path: until the rest reads R27 it runs the same whatever R27 holds,
//! and the end comparison does not read R27). What the comparison cannot read (the upper halves of V0-V31, FPSR, FPCR, the exclusive
//! monitor, system registers) is equal because neither run executed an instruction that can
//! change it (`twixt_arm64::touches_unread_state`) since the injection point, where the two
//! states were one; the injection writes only D0-D31 (compared) and memory. (b) is compared.
//! (c) Memory equals the reference's at every byte but bytes of the dead stack (the stack
//! below the top page, which the end comparison never reads: `end_state`) that the
//! reference's rest never loads before it stores them (the log, read backwards, gives the
//! "exposed" bytes): bytes the rest never observes cannot change what it does. So the rest
//! stores, loads and ends exactly as the reference did: the same outcome and registers, and
//! memory outside the dead stack equal to the reference's end (every differing byte is in
//! the dead stack), so the end comparison finds no difference. The poison watch
//! would have seen exactly the reference's loads after the checkpoint that read poison in the
//! watched range, and the stack low-water mark moves to the lowest store of the reference's
//! rest. The instruction budget is checked with the reference's remaining count; only the
//! wall-clock limit is not replayed (a converged run ends sooner than a real one would).

use std::collections::{BTreeMap, BTreeSet};

use twixt_emu::Layout;
use twixt_emu::call::{Access, AccessKind, Machine, Regs, Snapshot, Stepper};

use crate::pc_hash::PcMap;
use crate::{Env, Shadow};

/// At most this many checkpoints per call (their registers and shadow stacks are kept).
pub(crate) const MAX_CHECKPOINTS: usize = 4096;
/// A checkpoint whose exposed dead stack exceeds this many bytes is not used.
const MAX_EXPOSED: u64 = 64 << 10;
/// The journal's page.
const PAGE: u64 = 0x1000;

/// The uninterrupted run's state at a call entry or a return landing, after the stepper
/// counted the instruction there and before it executes.
#[derive(Clone, Debug)]
pub(crate) struct Checkpoint {
    pub(crate) count: u64,
    pub(crate) regs: Regs,
    pub(crate) shadow: Vec<Shadow>,
    pub(crate) env: Env,
    /// The access log's length here.
    pub(crate) log_pos: usize,
    /// The count of the last instruction before this one that touches unread state.
    pub(crate) last_opaque: Option<u64>,
    /// Whether the rest sets R27 before it reads it (or never involves it): then R27 need
    /// not be equal. asyncPreempt returns with R27 = the resume PC, and Go code uses R27
    /// only as the assembler's scratch register, set before each use.
    pub(crate) r27_dead: bool,
}

/// Where an injection left the reference: its instruction count and log position.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fork {
    pub(crate) count: u64,
    pub(crate) log_pos: usize,
}

/// Everything pass 1 recorded for convergence.
pub(crate) struct Convergence {
    checkpoints: Vec<Checkpoint>,
    by_pc: PcMap<u64, Vec<usize>>,
    log: Vec<Access>,
    /// Per checkpoint: the dead-stack bytes the rest loads before storing them, as sorted
    /// disjoint ranges (`None`: too many to keep, the checkpoint is not used).
    exposed: Vec<Option<Vec<(u64, u64)>>>,
    /// Per checkpoint: the lowest stack address the rest stores to.
    rest_stack_low: Vec<Option<u64>>,
    /// The reference's instruction count at its end.
    total: u64,
    /// The dead stack: `[stack_lo, dead_hi)`.
    stack_lo: u64,
    dead_hi: u64,
}

impl Convergence {
    /// Builds the tables from pass 1's checkpoints and access log; `dead_hi` is where the
    /// stack the end comparison ignores ends.
    pub(crate) fn new(
        checkpoints: Vec<Checkpoint>,
        log: Vec<Access>,
        total: u64,
        layout: &Layout,
        dead_hi: u64,
    ) -> Self {
        let mut by_pc: PcMap<u64, Vec<usize>> = PcMap::default();
        for (k, c) in checkpoints.iter().enumerate() {
            by_pc.entry(c.regs.pc).or_default().push(k);
        }
        let dead = (layout.stack_lo, dead_hi);
        let (exposed, rest_stack_low) = suffixes(&checkpoints, &log, layout, dead);
        tracing::debug!(
            checkpoints = checkpoints.len(),
            accesses = log.len(),
            usable = exposed.iter().filter(|e| e.is_some()).count(),
            "convergence tables"
        );
        Convergence {
            checkpoints,
            by_pc,
            log,
            exposed,
            rest_stack_low,
            total,
            stack_lo: layout.stack_lo,
            dead_hi,
        }
    }

    /// The checkpoints at `pc`, in the order of their counts.
    pub(crate) fn at_pc(&self, pc: u64) -> Option<&[usize]> {
        self.by_pc.get(&pc).map(Vec::as_slice)
    }

    /// Checkpoint `k`'s instruction count.
    pub(crate) fn count(&self, k: usize) -> u64 {
        self.checkpoints[k].count
    }

    /// The cheap part of the test, for the stepper of an injected run at checkpoint `k`'s
    /// PC: its count `count` (with `budget`), SP, stepper state and the unread state.
    pub(crate) fn may_match(&self, k: usize, fork: &Fork, now: &Now<'_>, budget: u64) -> bool {
        let c = &self.checkpoints[k];
        c.count >= fork.count
            && self.exposed[k].is_some()
            && c.regs.sp == now.sp
            && c.last_opaque.is_none_or(|o| o < fork.count)
            && now.count + (self.total - c.count) <= budget
            && c.env == *now.env
            && c.shadow == now.shadow
    }

    /// Whether the general registers `x` (X0-X30) are checkpoint `k`'s, R27 aside where it
    /// is dead.
    pub(crate) fn same_x(&self, k: usize, x: impl Fn(u8) -> u64) -> bool {
        let c = &self.checkpoints[k];
        (0..31u8).all(|n| (n == 27 && c.r27_dead) || x(n) == c.regs.x[usize::from(n)])
    }

    /// Whether the injected run, paused at checkpoint `k`'s PC with the state of `machine`,
    /// is in the reference's state there (see the module comment). `snap` is the snapshot
    /// taken at the injection, `fork` where it left the reference.
    pub(crate) fn converged<S: Stepper>(
        &self,
        machine: &Machine<'_, S>,
        k: usize,
        fork: &Fork,
        snap: &Snapshot,
    ) -> bool {
        let c = &self.checkpoints[k];
        let (Some(exposed), Some(segment)) = (
            self.exposed[k].as_deref(),
            self.log.get(fork.log_pos..c.log_pos),
        ) else {
            return false;
        };
        if !same_registers(&machine.regs(), &c.regs, c.r27_dead) {
            return false;
        }
        // The reference's stores since the fork, by page, on the pages that matter.
        let mut stores: BTreeMap<u64, Vec<&Access>> = BTreeMap::new();
        for a in segment.iter().filter(|a| a.kind == AccessKind::Store) {
            if a.value.is_none() {
                return false;
            }
            let end = a.addr.saturating_add(a.len as u64).saturating_sub(1);
            for page in [a.addr & !(PAGE - 1), end & !(PAGE - 1)] {
                if !self.observable(page, exposed) {
                    continue;
                }
                let list = stores.entry(page).or_default();
                if list.last().is_none_or(|l| !std::ptr::eq(*l, a)) {
                    list.push(a);
                }
            }
        }
        let pages: BTreeSet<u64> = machine
            .pages_written_since(snap)
            .into_iter()
            .filter(|&page| self.observable(page, exposed))
            .chain(stores.keys().copied())
            .collect();
        pages.into_iter().all(|page| {
            let (Some(mut want), Some(have)) = (
                machine.journal_bytes(snap, page, PAGE as usize),
                machine.read(page, PAGE as usize),
            ) else {
                return false;
            };
            for a in stores.get(&page).map(Vec::as_slice).unwrap_or(&[]) {
                apply(&mut want, page, a);
            }
            self.differences_unobserved(page, &want, &have, exposed)
        })
    }

    /// Whether a difference somewhere in `page` could matter: false for a page wholly in the
    /// dead stack with no exposed byte, whose contents need not be compared at all.
    fn observable(&self, page: u64, exposed: &[(u64, u64)]) -> bool {
        let end = page.saturating_add(PAGE);
        let dead = page >= self.stack_lo && end <= self.dead_hi;
        let i = exposed.partition_point(|&(_, hi)| hi <= page);
        !dead || exposed.get(i).is_some_and(|&(lo, _)| lo < end)
    }

    /// Whether every byte where `want` (the reference's page) and `have` (the injected
    /// run's) differ is dead stack that the rest never loads before storing.
    fn differences_unobserved(
        &self,
        page: u64,
        want: &[u8],
        have: &[u8],
        exposed: &[(u64, u64)],
    ) -> bool {
        for (i, (w, h)) in want.chunks(64).zip(have.chunks(64)).enumerate() {
            if w == h {
                continue;
            }
            for (j, (x, y)) in w.iter().zip(h).enumerate() {
                let addr = page + (64 * i + j) as u64;
                // A difference may stay only where the rest cannot see it.
                let unseen =
                    addr >= self.stack_lo && addr < self.dead_hi && !contains(exposed, addr);
                if x != y && !unseen {
                    return false;
                }
            }
        }
        true
    }

    /// The loads of poison in `[lo, hi)` the reference made after checkpoint `k`, as the
    /// poison watch records them (`(pc, address, size)`, a range hook matching on the first
    /// byte): what the injected run's watch would have seen in the rest.
    pub(crate) fn rest_poison_reads(
        &self,
        k: usize,
        lo: u64,
        hi: u64,
    ) -> impl Iterator<Item = (u64, u64, usize)> + '_ {
        let last = hi.saturating_sub(1);
        self.log[self.checkpoints[k].log_pos..]
            .iter()
            .filter(move |a| {
                a.kind == AccessKind::Load && a.poison && a.addr >= lo && a.addr <= last
            })
            .map(|a| (a.pc, a.addr, a.len))
    }

    /// The lowest stack address the reference stores to after checkpoint `k`.
    pub(crate) fn rest_stack_low(&self, k: usize) -> Option<u64> {
        self.rest_stack_low[k]
    }
}

/// What the stepper of an injected run knows at a boundary.
pub(crate) struct Now<'s> {
    pub(crate) count: u64,
    pub(crate) sp: u64,
    pub(crate) env: &'s Env,
    pub(crate) shadow: &'s [Shadow],
}

/// Whether two register files are the same machine state for the rest (`r27_dead`: it
/// never reads R27 before setting it). NZCV is a 32-bit register: the batched read leaves
/// the upper half of its word undefined, so only the low half counts.
fn same_registers(a: &Regs, b: &Regs, r27_dead: bool) -> bool {
    let x = |r: &Regs| {
        let mut x = r.x;
        if r27_dead {
            x[27] = 0;
        }
        x
    };
    x(a) == x(b) && a.sp == b.sp && a.pc == b.pc && a.d == b.d && a.nzcv as u32 == b.nzcv as u32
}

/// Writes store `a` (value known) into `page`'s bytes.
fn apply(bytes: &mut [u8], page: u64, a: &Access) {
    let value = a.value.unwrap_or(0).to_le_bytes();
    for (j, b) in value.iter().take(a.len).enumerate() {
        let addr = a.addr.wrapping_add(j as u64);
        if addr & !(PAGE - 1) == page {
            bytes[(addr - page) as usize] = *b;
        }
    }
}

fn contains(ranges: &[(u64, u64)], addr: u64) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi <= addr);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= addr)
}

/// Reads the log backwards once: for each checkpoint, the exposed bytes of the dead stack
/// `dead` and the lowest stack store of the rest.
#[allow(clippy::type_complexity)]
fn suffixes(
    checkpoints: &[Checkpoint],
    log: &[Access],
    layout: &Layout,
    dead: (u64, u64),
) -> (Vec<Option<Vec<(u64, u64)>>>, Vec<Option<u64>>) {
    let mut exposed = vec![None; checkpoints.len()];
    let mut low = vec![None; checkpoints.len()];
    // Bytes the suffix loads before it stores them.
    let mut loaded = Intervals::default();
    let mut min_store: Option<u64> = None;
    let mut pos = log.len();
    for (k, c) in checkpoints.iter().enumerate().rev() {
        while pos > c.log_pos {
            pos -= 1;
            let a = &log[pos];
            let end = a.addr.saturating_add(a.len as u64);
            match a.kind {
                AccessKind::Store => {
                    loaded.remove(a.addr, end);
                    if layout.in_stack(a.addr) {
                        min_store = Some(min_store.map_or(a.addr, |m| m.min(a.addr)));
                    }
                }
                AccessKind::Load | AccessKind::DriverRead => loaded.insert(a.addr, end),
            }
        }
        exposed[k] = loaded.clip(dead.0, dead.1, MAX_EXPOSED);
        low[k] = min_store;
    }
    (exposed, low)
}

/// Disjoint half-open ranges of addresses.
#[derive(Default)]
struct Intervals(BTreeMap<u64, u64>);

impl Intervals {
    fn insert(&mut self, mut lo: u64, mut hi: u64) {
        if lo >= hi {
            return;
        }
        let touching: Vec<(u64, u64)> = self
            .0
            .range(..=hi)
            .rev()
            .take_while(|&(_, &e)| e >= lo)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.0.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.0.insert(lo, hi);
    }

    fn remove(&mut self, lo: u64, hi: u64) {
        if lo >= hi {
            return;
        }
        let overlapping: Vec<(u64, u64)> = self
            .0
            .range(..hi)
            .rev()
            .take_while(|&(_, &e)| e > lo)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.0.remove(&s);
            if s < lo {
                self.0.insert(s, lo);
            }
            if e > hi {
                self.0.insert(hi, e);
            }
        }
    }

    /// The parts inside `[lo, hi)`, ascending; `None` when they add up to more than `cap`.
    fn clip(&self, lo: u64, hi: u64, cap: u64) -> Option<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        let mut total = 0u64;
        for (&s, &e) in self.0.range(..hi).rev().take_while(|&(_, &e)| e > lo) {
            let (s, e) = (s.max(lo), e.min(hi));
            total += e - s;
            if total > cap {
                return None;
            }
            out.push((s, e));
        }
        out.reverse();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_split_and_clip() {
        let mut s = Intervals::default();
        s.insert(10, 20);
        s.insert(20, 30);
        s.insert(40, 50);
        assert_eq!(s.clip(0, 100, 100), Some(vec![(10, 30), (40, 50)]));
        s.remove(15, 45);
        assert_eq!(s.clip(0, 100, 100), Some(vec![(10, 15), (45, 50)]));
        assert_eq!(s.clip(12, 48, 100), Some(vec![(12, 15), (45, 48)]));
        assert_eq!(s.clip(0, 100, 9), None);
        assert!(contains(&[(10, 15), (45, 50)], 14));
        assert!(!contains(&[(10, 15), (45, 50)], 15));
        assert!(!contains(&[(10, 15), (45, 50)], 9));
        assert!(contains(&[(10, 15), (45, 50)], 45));
    }
}
