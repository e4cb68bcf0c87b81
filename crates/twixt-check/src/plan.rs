//! Planning: split each function into regions that together cover every instruction
//! boundary exactly once.
//!
//! A region is a straight run of instructions: it starts at a leader (the entry, a branch
//! target inside the function, or the instruction after anything that ends a run) and stops
//! at the next leader. Calls end a run too, because the harness does not follow them (the
//! callee is checked as a function of its own) and the state after a call cannot be known.
//! Jump-table targets need not be resolved for coverage: code after an unconditional branch
//! is always a leader, and a target inside a run is reached by falling through.

use std::collections::BTreeMap;

use twixt_arm64::{Effects, Flow, MemOp, ValueOp};

/// A straight run of instructions `[start, start + 4 * len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First instruction.
    pub start: u64,
    /// Number of instructions.
    pub len: usize,
}

impl Region {
    /// Address of the last instruction.
    pub fn last(&self) -> u64 {
        self.start + 4 * (self.len as u64 - 1)
    }
}

/// Whether a run must stop after an instruction with this flow.
fn ends_run(flow: &Flow) -> bool {
    !matches!(flow, Flow::Next)
}

/// Splits `[entry, entry + 4 * effects.len())` into regions.
pub fn regions(entry: u64, effects: &[Effects]) -> Vec<Region> {
    let n = effects.len();
    if n == 0 {
        return Vec::new();
    }
    let end = entry + 4 * n as u64;
    let mut leader = vec![false; n];
    leader[0] = true;
    for (i, e) in effects.iter().enumerate() {
        if ends_run(&e.flow) && i + 1 < n {
            leader[i + 1] = true;
        }
        if let Flow::Branch { target } | Flow::CondBranch { target } = e.flow
            && target >= entry
            && target < end
            && target % 4 == 0
        {
            leader[((target - entry) / 4) as usize] = true;
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &is_leader) in leader.iter().enumerate().skip(1).chain([(n, &true)]) {
        if is_leader {
            out.push(Region {
                start: entry + 4 * start as u64,
                len: i - start,
            });
            start = i;
        }
    }
    out
}

/// What the checker knows about a value at a region start, relative to the function's
/// entry state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// Nothing known: the harness puts a scratch pointer there.
    Unknown,
    /// The return address the function was entered with (R30 at entry, or a copy of it).
    EntryLr,
    /// A known code address: the return address of a call made by this function.
    Pc(u64),
    /// The frame pointer the function was entered with (the caller's R29).
    CallerFp,
    /// A stack address, as its depth in bytes below the caller's SP.
    Stack(i64),
}

/// Where SP is at a region start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sp {
    /// This many bytes below the caller's SP, on every path that reaches the region.
    At(i64),
    /// The paths disagree, or one of them wrote SP with a value the planner cannot name:
    /// the metadata says where SP is.
    Unknown,
    /// A function the metadata marks as writing SP (`FuncFlagSPWrite`: runtime assembly)
    /// moved SP to a value the planner cannot name on every path: a switch to another
    /// stack. The planted call chain no longer describes the machine.
    Switched,
}

impl Sp {
    fn join(self, other: Sp) -> Sp {
        if self == other { self } else { Sp::Unknown }
    }

    fn depth(self) -> Option<i64> {
        match self {
            Sp::At(d) => Some(d),
            _ => None,
        }
    }
}

/// What the checker knows about the machine at a region start: the registers, SP, and the
/// stack words the function itself stored (its frame record, values it parked). The
/// metadata says where SP should be at each PC; this says where the code the predecessors
/// ran really left it, so that a region after a block boundary that the metadata does not
/// describe (an SP write the assembler did not record, a frame record overwritten) starts
/// from the truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// X0..X30 (X28 is always the fake `g`, whatever this says).
    pub regs: [Val; 31],
    /// Where SP is.
    pub sp: Sp,
    /// Whether an SP write the planner cannot follow means a stack switch ([`Sp::Switched`]):
    /// the function is marked `FuncFlagSPWrite`.
    switches_stacks: bool,
    /// Whether `slots` holds every stack word the function stored on every path: no access
    /// through a stack address at an offset the planner cannot name (a register offset, an
    /// atomic) came first. Then a word missing from `slots` was never written.
    pub complete: bool,
    /// Stack words the function stored, by depth below the caller's SP, with their values.
    /// `Unknown` marks a word overwritten with a value nobody can name.
    pub slots: BTreeMap<i64, Val>,
    /// Whether a predecessor's state reached the region. Regions reached only through jump
    /// tables (or not at all) are planned from the metadata alone.
    pub reached: bool,
}

/// At most this many slots are tracked. The unwinders look at the frame records, which sit
/// at and below SP; when a big frame stores more, the shallowest words (locals and
/// arguments, nearest the caller's SP) are forgotten first, which only means "ask the
/// metadata" for them.
const MAX_SLOTS: usize = 64;

impl EntryState {
    /// The state at function entry: SP is the caller's, R29 is the caller's, R30 holds the
    /// return address.
    pub fn entry(switches_stacks: bool) -> EntryState {
        let mut regs = [Val::Unknown; 31];
        regs[29] = Val::CallerFp;
        regs[30] = Val::EntryLr;
        EntryState {
            regs,
            sp: Sp::At(0),
            switches_stacks,
            complete: true,
            slots: BTreeMap::new(),
            reached: true,
        }
    }

    /// The state of a region no path reaches: only R30 is assumed (the entry LR), as a
    /// function's own code keeps it there unless it says otherwise.
    fn unreached() -> EntryState {
        let mut regs = [Val::Unknown; 31];
        regs[30] = Val::EntryLr;
        EntryState {
            regs,
            sp: Sp::Unknown,
            switches_stacks: false,
            complete: false,
            slots: BTreeMap::new(),
            reached: false,
        }
    }

    /// What two paths both guarantee.
    fn join(&self, other: &EntryState) -> EntryState {
        let mut regs = self.regs;
        for (r, o) in regs.iter_mut().zip(&other.regs) {
            if r != o {
                *r = Val::Unknown;
            }
        }
        let slots = self
            .slots
            .iter()
            .filter(|&(d, v)| other.slots.get(d) == Some(v))
            .map(|(&d, &v)| (d, v))
            .collect();
        EntryState {
            regs,
            sp: self.sp.join(other.sp),
            switches_stacks: self.switches_stacks,
            complete: self.complete && other.complete,
            slots,
            reached: true,
        }
    }

    /// The value of register `n` as an address operand (31 = SP).
    fn base(&self, n: u8) -> Option<i64> {
        if n == 31 {
            return self.sp.depth();
        }
        match self.regs.get(n as usize) {
            Some(Val::Stack(d)) => Some(*d),
            _ => None,
        }
    }

    fn set(&mut self, n: u8, v: Val) {
        if n == 31 {
            self.sp = match v {
                Val::Stack(d) => Sp::At(d),
                _ if self.switches_stacks => Sp::Switched,
                _ => Sp::Unknown,
            };
        } else if let Some(slot) = self.regs.get_mut(n as usize) {
            *slot = v;
        }
    }

    /// A store of `size` bytes at `depth` below the caller's SP (covering the addresses
    /// `[csp - depth, csp - depth + size)`): every tracked word it touches is overwritten;
    /// an 8-byte store records `value` in its own word.
    fn store(&mut self, depth: i64, size: i64, value: Val) {
        let touched: Vec<i64> = self
            .slots
            .range(depth - size + 1..=depth + 7)
            .map(|(&d, _)| d)
            .collect();
        for &d in &touched {
            self.slots.insert(d, Val::Unknown);
        }
        if size == 8 {
            self.slots.insert(depth, value);
            while self.slots.len() > MAX_SLOTS {
                self.slots.pop_first();
            }
        }
    }
}

/// What the planner knows about the functions a function calls, by the call's target.
pub struct Callees<'a> {
    /// Whether a call to the target comes back with R30 = the caller's R3 (the
    /// `runtime.morestack*` family: the stack-check tail saves LR in R3, and morestack
    /// resumes the function with that LR after growing the stack).
    pub keeps_lr: &'a dyn Fn(u64) -> bool,
    /// Whether a call to the target never returns (panics, throw): nothing flows past it.
    pub no_return: &'a dyn Fn(u64) -> bool,
    /// Whether the callee writes nothing below the caller's SP (`runtime.duffzero` and
    /// `runtime.duffcopy`: frameless leaves that write only through their pointer
    /// arguments, called with a frame record built for them below SP that must survive).
    pub frameless: &'a dyn Fn(u64) -> bool,
}

/// The state at every region start: the registers, SP and stack words that all the paths
/// reaching it leave (see [`EntryState`]).
///
/// `switches_stacks` is the function's `FuncFlagSPWrite`: an SP write the planner cannot
/// follow is then a stack switch ([`Sp::Switched`]), elsewhere only a gap in its knowledge.
///
/// The result is a pure function of the code: regions are joined in a fixed order until
/// nothing changes, so it does not depend on the order functions or regions are scanned.
pub fn region_states(
    entry: u64,
    words: &[u32],
    effects: &[Effects],
    regions: &[Region],
    callees: &Callees<'_>,
    switches_stacks: bool,
) -> Vec<EntryState> {
    let mut states: Vec<Option<EntryState>> = vec![None; regions.len()];
    let index_of = |pc: u64| regions.binary_search_by_key(&pc, |r| r.start).ok();
    if !regions.is_empty() {
        states[0] = Some(EntryState::entry(switches_stacks));
    }
    let mut work: Vec<usize> = vec![0];
    let mut steps = 0usize;
    while let Some(ri) = work.pop() {
        // Every value moves down a lattice of height 2 (known, then unknown) and slots only
        // disappear, so this converges; the bound only guards against bugs.
        steps += 1;
        if steps > regions.len() * 64 + 64 {
            break;
        }
        let Some(mut v) = states[ri].clone() else {
            continue;
        };
        let r = regions[ri];
        let first = ((r.start - entry) / 4) as usize;
        for i in first..first + r.len {
            let pc = entry + 4 * i as u64;
            transfer(&mut v, pc, words[i], &effects[i], callees);
        }
        let last = first + r.len - 1;
        let last_pc = entry + 4 * last as u64;
        let flow = effects[last].flow;
        let mut succ = Vec::new();
        let dead_end = matches!(flow, Flow::Call { target } if (callees.no_return)(target));
        if !twixt_arm64::is_unconditional_transfer(&flow) && !dead_end {
            succ.push(last_pc + 4);
        }
        if let Flow::Branch { target } | Flow::CondBranch { target } = flow {
            succ.push(target);
        }
        for s in succ {
            // A branch back to the entry (the morestack tail's `B entry`) re-enters the
            // function as its caller did: morestack restores the caller's LR first.
            let Some(si) = index_of(s).filter(|&si| si != 0) else {
                continue;
            };
            let joined = match &states[si] {
                None => v.clone(),
                Some(old) => old.join(&v),
            };
            if states[si].as_ref() != Some(&joined) {
                states[si] = Some(joined);
                work.push(si);
            }
        }
    }
    states
        .into_iter()
        .map(|s| s.unwrap_or_else(EntryState::unreached))
        .collect()
}

/// For every instruction of the function: whether SP has been switched to a stack the
/// planner cannot follow ([`Sp::Switched`]) when it is about to execute, given the state
/// each region starts from (`states`, from [`region_states`] with the same arguments).
pub fn switched_at(
    entry: u64,
    words: &[u32],
    effects: &[Effects],
    regions: &[Region],
    states: &[EntryState],
    callees: &Callees<'_>,
) -> Vec<bool> {
    let mut out = vec![false; words.len()];
    for (r, state) in regions.iter().zip(states) {
        let mut v = state.clone();
        let first = ((r.start - entry) / 4) as usize;
        for i in first..(first + r.len).min(words.len()) {
            out[i] = v.sp == Sp::Switched;
            transfer(&mut v, entry + 4 * i as u64, words[i], &effects[i], callees);
        }
    }
    out
}

/// One instruction's effect on what the planner knows.
fn transfer(v: &mut EntryState, pc: u64, word: u32, e: &Effects, callees: &Callees<'_>) {
    match e.flow {
        Flow::Call { .. } | Flow::CallIndirect { .. } => {
            let saved_lr = v.regs[3];
            // Go's internal ABI preserves only R28 (g) and R29 (FP) across calls.
            for (k, slot) in v.regs.iter_mut().enumerate() {
                if k != 28 && k != 29 {
                    *slot = Val::Unknown;
                }
            }
            v.regs[30] = match e.flow {
                Flow::Call { target } if (callees.keeps_lr)(target) => saved_lr,
                _ => Val::Pc(pc + 4),
            };
            // The callee builds its frame below SP: what was parked there is gone, but for
            // the word at SP-8, where this function saved its caller's R29: every callee's
            // frame reserves its top word for it.
            let keeps_below_sp =
                matches!(e.flow, Flow::Call { target } if (callees.frameless)(target));
            match v.sp {
                _ if keeps_below_sp => {}
                Sp::At(sp) => v.slots.retain(|&d, _| d <= sp + 8),
                _ => v.slots.clear(),
            }
            return;
        }
        _ => {}
    }
    if let Some(op) = twixt_arm64::value_op(pc, word) {
        match op {
            ValueOp::AddImm { rd, rn, imm } => {
                let value = v.base(rn).map_or(Val::Unknown, |d| Val::Stack(d - imm));
                v.set(rd, value);
            }
            ValueOp::Adr { rd, target } => {
                if rd < 31 {
                    v.regs[rd as usize] = Val::Pc(target);
                }
            }
            ValueOp::Move { rd, rm } => {
                if rd < 31 {
                    let value = if rm < 31 {
                        v.regs[rm as usize]
                    } else {
                        Val::Unknown
                    };
                    v.regs[rd as usize] = value;
                }
            }
        }
        return;
    }
    if let Some(op) = twixt_arm64::mem_op(word) {
        memory(v, &op);
        return;
    }
    if twixt_arm64::mem_base(word).is_some_and(|base| v.base(base).is_some()) {
        // An access through a stack address at an offset the planner cannot name: it may
        // have written any word, so `slots` no longer lists them all.
        v.complete = false;
    }
    for k in e.registers_written() {
        if k == 31 {
            v.sp = match (v.sp, e.sp_delta) {
                (Sp::At(d), Some(delta)) => Sp::At(d - delta),
                (Sp::Switched, Some(_)) => Sp::Switched,
                _ if v.switches_stacks => Sp::Switched,
                _ => Sp::Unknown,
            };
        } else {
            v.set(k, Val::Unknown);
        }
    }
    // Stores whose address the planner cannot name (register offsets, exclusives, atomics)
    // are assumed not to hit the tracked words: Go code reaches its frame record only
    // through SP and R29-relative constants.
}

/// A load or store through `base` with a constant offset.
fn memory(v: &mut EntryState, op: &MemOp) {
    let a = &op.access;
    let base_depth = v.base(op.base);
    // Post-index accesses happen at the base itself (`offset` is 0); the others at base +
    // offset. Depths grow downwards: an address `k` bytes higher is `k` bytes shallower.
    let at = base_depth.map(|d| d - a.offset);
    let regs = usize::from(a.regs.clamp(1, 2));
    let size = i64::from(a.size);
    if a.store {
        if let Some(at) = at {
            for k in 0..regs {
                // A transfer register numbered 31 is XZR, never SP.
                let value = if a.size == 8 && !a.fp_simd && a.rt[k] < 31 {
                    v.regs[a.rt[k] as usize]
                } else {
                    Val::Unknown
                };
                v.store(at - size * k as i64, size, value);
            }
        }
    } else if !a.fp_simd {
        for k in 0..regs {
            let value = match at {
                Some(at) if a.size == 8 => v
                    .slots
                    .get(&(at - size * k as i64))
                    .copied()
                    .unwrap_or(Val::Unknown),
                _ => Val::Unknown,
            };
            if a.rt[k] < 31 {
                v.regs[a.rt[k] as usize] = value;
            }
        }
    }
    if a.writeback != twixt_arm64::Writeback::None {
        let value = match (base_depth, op.writeback) {
            (Some(d), Some(delta)) => Val::Stack(d - delta),
            _ => Val::Unknown,
        };
        v.set(op.base, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(flow: Flow) -> Effects {
        Effects {
            flow,
            ..Effects::UNDEFINED
        }
    }

    #[test]
    fn regions_cover_every_instruction_once() {
        let e = 0x1000;
        // 0: next, 1: cbz -> 4, 2: bl, 3: next, 4: next, 5: ret, 6: next
        let effects = [
            fx(Flow::Next),
            fx(Flow::CondBranch { target: e + 16 }),
            fx(Flow::Call { target: 0x9000 }),
            fx(Flow::Next),
            fx(Flow::Next),
            fx(Flow::Ret { reg: 30 }),
            fx(Flow::Next),
        ];
        let r = regions(e, &effects);
        assert_eq!(
            r,
            vec![
                Region { start: e, len: 2 },
                Region {
                    start: e + 8,
                    len: 1
                },
                Region {
                    start: e + 12,
                    len: 1
                },
                Region {
                    start: e + 16,
                    len: 2
                },
                Region {
                    start: e + 24,
                    len: 1
                },
            ]
        );
        assert_eq!(r.iter().map(|r| r.len).sum::<usize>(), effects.len());
    }

    /// `words` at `entry`, planned and flowed, with no callee special.
    fn states(entry: u64, words: &[u32]) -> (Vec<Region>, Vec<EntryState>) {
        let effects: Vec<Effects> = words
            .iter()
            .enumerate()
            .map(|(i, &w)| twixt_arm64::classify(entry + 4 * i as u64, w))
            .collect();
        let r = regions(entry, &effects);
        let no = |_: u64| false;
        let callees = Callees {
            keeps_lr: &no,
            no_return: &no,
            frameless: &no,
        };
        let s = region_states(entry, words, &effects, &r, &callees, true);
        (r, s)
    }

    #[test]
    fn sp_and_the_frame_record_cross_a_call_the_metadata_does_not_describe() {
        // asmcgocall's no-switch path: the frame is extended by hand (SUB $16 through
        // R13, not recorded in pcsp) and the saved SP lands on the frame record's R29 slot.
        let e = 0x1000;
        let words = [
            0xf81f0ffe, // str x30, [sp, #-16]!
            0xf81f83fd, // stur x29, [sp, #-8]
            0xd10023fd, // sub x29, sp, #0x8
            0x910003e2, // mov x2, sp
            0x910003ed, // mov x13, sp
            0xd10041ad, // sub x13, x13, #0x10
            0x910001bf, // mov sp, x13
            0xf90007e2, // str x2, [sp, #8]
            0xd63f0020, // blr x1
            0xf94007e2, // ldr x2, [sp, #8]
            0x9100005f, // mov sp, x2
            0xf85f83fd, // ldur x29, [sp, #-8]
            0xf84107fe, // ldr x30, [sp], #16
            0xd65f03c0, // ret
        ];
        let (r, s) = states(e, &words);
        assert_eq!(r.len(), 2);
        assert_eq!(s[0], EntryState::entry(true));
        let after = &s[1];
        assert!(after.reached);
        assert_eq!(after.sp, Sp::At(0x20));
        assert_eq!(after.regs[29], Val::Stack(0x18));
        assert_eq!(after.regs[30], Val::Pc(e + 0x24));
        assert_eq!(
            after
                .slots
                .iter()
                .map(|(&d, &v)| (d, v))
                .collect::<Vec<_>>(),
            vec![(0x10, Val::EntryLr), (0x18, Val::Stack(0x10))]
        );
    }

    #[test]
    fn paths_that_disagree_leave_the_metadata_in_charge() {
        let e = 0x2000;
        let words = [
            0xf81f0ffe, // str x30, [sp, #-16]!
            0xb4000040, // cbz x0, +8
            0x910043ff, // add sp, sp, #0x10
            0xd503201f, // nop            <- joined: SP 0x10 or 0x0 below the caller's
            0xd65f03c0, // ret
        ];
        let (r, s) = states(e, &words);
        let join = r.iter().position(|r| r.start == e + 12).unwrap();
        assert_eq!(s[join].sp, Sp::Unknown);
        // Both paths stored the entry LR at the same place.
        assert_eq!(s[join].slots.get(&0x10), Some(&Val::EntryLr));
        // An unreached region knows only what the metadata says.
        let words = [0xd65f03c0, 0xd503201f, 0xd65f03c0]; // ret ; nop ; ret
        let (_, s) = states(e, &words);
        assert!(!s[1].reached);
        assert_eq!(s[1].sp, Sp::Unknown);
    }
}
