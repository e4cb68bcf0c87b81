//! The region harness: a policy on the engine core ([`crate::engine`]) that runs one
//! straight-line region at a time from a synthesized machine state and hands an
//! [`Observer`] every instruction boundary.
//!
//! What the policy adds to the core:
//!
//! - **Containment.** A region runs with one `emu_start` (resumed only after a skipped
//!   data word or a replayed access), bounded by the instruction budget the code hook
//!   checks and a wall-time backstop; control leaving the region ends it with a reason.
//! - **A clean slate per region.** Each region runs in its own journal level, rewound
//!   before the next region runs, so every region starts from the memory the harness was
//!   built with (the lazy stack all poison) whatever ran before it, and results never
//!   depend on scan order. Between regions the memory shows what the last region left.
//! - **Accesses no memory backs.** A data access to unmapped memory gets a scratch chunk
//!   (bounded per region); where none may be mapped (beyond 48 bits, in a guard, past the
//!   budget) the instruction is replayed against scratch memory instead: its base register
//!   is moved there for one instruction and moved back, so a load yields the scratch word
//!   and a store lands in scratch, which the journal restores (the store is dropped).
//! - **Data in code.** A word the CPU refuses although it decodes as falling through (a
//!   literal pool inside a region) is stepped over.
//! - **Stores Unicorn may not report** (exclusive and atomic stores, `DC ZVA`): the planner
//!   lists them, and the pages they will write are journaled before they execute.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use unicorn_engine::Unicorn;
use unicorn_engine::unicorn_const::{HookType, MemType, Prot, uc_error};

use crate::engine::{
    Core, Engine, Policy, StackMapping, describe_error, fill, note_write, read_word,
};
use crate::isa::{FixedWidth, Isa, Target};
use crate::journal::PAGE;
use crate::{EmuError, Layout, MapRange};

/// The machine state a region starts from.
#[derive(Clone, Debug)]
pub struct RegionStart {
    /// First instruction.
    pub pc: u64,
    /// Address of the last instruction to observe; the run stops *at* it (its boundary is
    /// observed, it is not executed).
    pub last: u64,
    /// Number of instructions from `pc` to `last` inclusive (the instruction budget).
    pub instructions: usize,
    /// X0..X30 (X28 is set to the fake `g` whatever this says).
    pub x: [u64; 31],
    /// SP.
    pub sp: u64,
    /// Words to plant in memory before the run (saved LR, saved R29, ...).
    pub writes: Vec<(u64, u64)>,
    /// Stores Unicorn's write hook may not report (exclusive and atomic stores, `DC ZVA`):
    /// `(pc, base register, bytes from the aligned base)`. Before each executes, the pages
    /// it will write are saved like any hooked write's, so they are restored afterwards.
    pub unhooked_stores: Vec<(u64, u8, u64)>,
}

/// The registers at a boundary and a way to read memory there.
pub struct Boundary<'u, 'e, D> {
    uc: &'u Unicorn<'e, Core<D>>,
    /// PC of the instruction about to execute.
    pub pc: u64,
    /// SP.
    pub sp: u64,
    /// X29.
    pub fp: u64,
    /// X30.
    pub lr: u64,
    /// Index of this boundary within the region (0 = the region's first instruction).
    pub index: usize,
}

impl<D> Boundary<'_, '_, D> {
    /// Reads general register Xn (n < 31).
    pub fn x(&self, n: u8) -> u64 {
        match n {
            0..=28 => self.uc.reg_read(Target::gpr(n)).unwrap_or(0),
            29 => self.fp,
            30 => self.lr,
            _ => 0,
        }
    }

    /// Reads a little-endian word, `None` if unmapped. Stack the harness has not mapped
    /// yet reads as the poison every unwritten stack word holds.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        read_word(self.uc, &self.uc.get_data().layout, addr)
    }
}

/// Receives every boundary of a region.
pub trait Observer {
    /// Called before the instruction at `b.pc` executes. Return `false` to stop the region.
    fn boundary(&mut self, b: &Boundary<'_, '_, HookState<Self>>) -> bool
    where
        Self: Sized;

    /// Called before the region's code writes `[addr, end)` (every store, including the
    /// ones Unicorn does not report itself), so an observer can tell whether memory it read
    /// at an earlier boundary may have changed.
    fn stored(&mut self, _addr: u64, _end: u64) {}
}

/// How a region ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every boundary up to and including `last` was observed.
    Completed,
    /// The observer asked to stop.
    Stopped,
    /// The region could not be run to its end; the reason is for the report.
    Unanalysed(String),
}

/// The region harness's part of the hook state: the observer, the region's bounds and
/// budgets, and the scratch memory and replays of accesses no memory backs.
pub struct HookState<O> {
    /// Borrowed in place at every boundary (never moved in and out per instruction).
    observer: RefCell<Option<O>>,
    region: (u64, u64),
    seen: usize,
    budget: usize,
    deadline: Option<Instant>,
    /// This region's stores that the write hook may not see.
    unhooked: Vec<(u64, u8, u64)>,
    /// Scratch chunks mapped during this region, and the most one region may map. They
    /// stay mapped for later regions (mapping is the expensive part); their writes are
    /// undone like any other page's.
    new_scratch_pages: usize,
    max_scratch_pages: usize,
    scratch_word: u64,
    /// A data access no memory can back: `(pc, address)` of the instruction, to be
    /// replayed against scratch memory.
    relocate: Option<(u64, u64)>,
    /// The PC of the instruction being replayed, while its replay runs: its boundary was
    /// already observed and counted, and the run must stop at the next one.
    replaying: Option<u64>,
    /// A word the CPU refused as undefined although it decodes as falling through: the run
    /// goes on after it.
    skip: Option<u64>,
}

/// The granule scratch memory is mapped in when the space around an access is free:
/// nearby accesses follow, and every mapping costs Unicorn a walk over its RAM blocks.
const SCRATCH_CHUNK: u64 = 0x10000;

/// Regions between flushes of the translation cache (see [`Harness::run`]).
const FLUSH_EVERY: u64 = 512;

/// The registers a region sets in one batch: X0..X30, the flags, SP (PC goes on its own).
const STATE_REGISTERS: usize = Target::GPRS + 2;

/// One emulator with an image mapped into it.
pub struct Harness<'e, O: Observer> {
    engine: Engine<'e, HookState<O>>,
    /// Unicorn ids of [`STATE_REGISTERS`].
    state_ids: [i32; STATE_REGISTERS],
    time_budget: Duration,
    regions_run: u64,
    /// The journal level the last region ran in, rewound before the next one runs.
    level: Option<usize>,
    /// A buffer for the words a region plants.
    planting: Vec<u8>,
}

impl<'e, O: Observer + 'e> Harness<'e, O> {
    /// Maps `ranges` (the image's loadable segments) and the harness's own regions; the
    /// goroutine stack is mapped as regions reach it.
    pub fn new(ranges: &[MapRange<'_>], layout: Layout) -> Result<Self, EmuError> {
        let state = HookState {
            observer: RefCell::new(None),
            region: (0, 0),
            seen: 0,
            budget: 0,
            deadline: None,
            unhooked: Vec::new(),
            new_scratch_pages: 0,
            max_scratch_pages: 256,
            scratch_word: layout.scratch_pointer(),
            relocate: None,
            replaying: None,
            skip: None,
        };
        let engine = Engine::new(ranges, layout, StackMapping::Lazy, state)?;
        let mut state_ids = [0; STATE_REGISTERS];
        for (n, id) in state_ids[..Target::GPRS].iter_mut().enumerate() {
            *id = Target::gpr(n as u8);
        }
        state_ids[Target::GPRS] = Target::FLAGS;
        state_ids[Target::GPRS + 1] = Target::SP;
        Ok(Harness {
            engine,
            state_ids,
            // Only a backstop: every region is bounded by its instruction budget, and a
            // tighter wall-time limit would make results depend on the machine's load
            // (a debug build on a busy machine can take a second for a long region).
            time_budget: Duration::from_secs(30),
            regions_run: 0,
            level: None,
            planting: Vec::new(),
        })
    }

    /// The address layout (stack, g, scratch) this harness uses.
    pub fn layout(&self) -> &Layout {
        self.engine.layout()
    }

    /// Sets the wall-time budget per region.
    pub fn set_time_budget(&mut self, budget: Duration) {
        self.time_budget = budget;
    }

    /// Runs one region, handing each boundary to `observer`; returns the observer back.
    pub fn run(&mut self, start: &RegionStart, observer: O) -> (O, RunEnd) {
        // Every region is code that runs once: its translation is never wanted again.
        // Dropped now and then, TCG's code buffer reuses the same few megabytes.
        self.regions_run += 1;
        if self.regions_run.is_multiple_of(FLUSH_EVERY) {
            let _ = self.engine.forget_translations();
        }
        // Memory back to what the harness was built with, then a level for this region.
        if let Some(level) = self.level.take() {
            let _ = self.engine.rewind(level);
        }
        self.level = Some(self.engine.mark());
        self.begin(start);
        // Planted before the observer is in place: they are the harness's writes, not the
        // region's stores.
        let setup = self.set_state(start);
        *self.engine.core_mut().policy.observer.get_mut() = Some(observer);
        let end = match setup {
            Err(what) => RunEnd::Unanalysed(format!("cannot set up region: {what}")),
            Ok(()) => self.execute(start),
        };
        let observer = self
            .engine
            .core_mut()
            .policy
            .observer
            .get_mut()
            .take()
            .expect("the observer stays in place while a region runs");
        (observer, end)
    }

    /// Resets the per-region hook state.
    fn begin(&mut self, start: &RegionStart) {
        let core = self.engine.core_mut();
        core.fault = None;
        core.stopped = false;
        let st = &mut core.policy;
        st.region = (start.pc, start.last);
        st.seen = 0;
        st.budget = start.instructions;
        st.deadline = Some(Instant::now() + self.time_budget);
        st.new_scratch_pages = 0;
        st.relocate = None;
        st.replaying = None;
        st.skip = None;
        st.unhooked.clone_from(&start.unhooked_stores);
    }

    /// Sets the registers and plants the words of `start`; the error says which failed.
    fn set_state(&mut self, start: &RegionStart) -> Result<(), String> {
        let mut values = [0u64; STATE_REGISTERS];
        values[..Target::GPRS].copy_from_slice(&start.x);
        values[Target::G_REGISTER] = self.engine.layout().g;
        values[Target::GPRS] = 0;
        values[Target::GPRS + 1] = start.sp;
        self.engine
            .write_registers(&self.state_ids, &values, start.pc)
            .map_err(|e| format!("registers (pc {:#x}, sp {:#x}): {e:?}", start.pc, start.sp))?;
        // Consecutive words (the planner's come sorted: the caller's frame, a frame record)
        // go in one write each run: every write is a walk through Unicorn's memory map.
        let mut run = std::mem::take(&mut self.planting);
        let mut words = start.writes.iter().peekable();
        let mut result = Ok(());
        while let Some(&(addr, value)) = words.next() {
            run.clear();
            run.extend_from_slice(&value.to_le_bytes());
            let mut next = addr.checked_add(8);
            while let Some(&&(a, v)) = words.peek()
                && Some(a) == next
            {
                run.extend_from_slice(&v.to_le_bytes());
                next = a.checked_add(8);
                words.next();
            }
            if self.engine.write(addr, &run).is_err() {
                result = self.plant_one_by_one(addr, &run);
                if result.is_err() {
                    break;
                }
            }
        }
        self.planting = run;
        result
    }

    /// Plants the words of a run that Unicorn refused as a whole one at a time, to name
    /// the word that cannot be planted.
    fn plant_one_by_one(&mut self, addr: u64, run: &[u8]) -> Result<(), String> {
        for (i, word) in run.chunks_exact(8).enumerate() {
            let at = addr.wrapping_add(8 * i as u64);
            let value = u64::from_le_bytes(word.try_into().unwrap_or_default());
            self.engine
                .write(at, word)
                .map_err(|e| format!("planting {value:#x} at {at:#x}: {e:?}"))?;
        }
        Ok(())
    }

    fn execute(&mut self, start: &RegionStart) -> RunEnd {
        // `until` stops before the last instruction executes; the code hook's instruction
        // budget is the second bound, in case the region is not the straight line the
        // planner thought. No count for Unicorn: a count makes it install a second code
        // hook of its own, called at every instruction before ours, for a bound ours
        // always reaches first.
        let mut from = start.pc;
        let result = loop {
            let result = if from == start.last {
                self.engine.uc.reg_write(Target::PC, from)
            } else {
                self.engine.uc.emu_start(from, start.last, 0, 0)
            };
            let st = &mut self.engine.core_mut().policy;
            if let Some(pc) = st.skip.take() {
                from = pc.wrapping_add(Target::INSN_BYTES);
                continue;
            }
            let Some((pc, addr)) = st.relocate.take() else {
                break result;
            };
            if let Err(reason) = self.replay_relocated(pc, addr) {
                self.engine.core_mut().fail(reason);
                break result;
            }
            from = pc.wrapping_add(Target::INSN_BYTES);
        };
        self.finish(start, result)
    }

    /// How the region ended, once its last `emu_start` has returned `result`.
    fn finish(&mut self, start: &RegionStart, result: Result<(), uc_error>) -> RunEnd {
        let core = self.engine.core();
        if let Some(f) = &core.fault {
            return RunEnd::Unanalysed(f.clone());
        }
        if core.stopped {
            return RunEnd::Stopped;
        }
        let pc = self.engine.reg(Target::PC);
        if let Err(e) = result {
            return RunEnd::Unanalysed(format!("{} at pc {pc:#x}", describe_error(e)));
        }
        if pc != start.last {
            return RunEnd::Unanalysed(format!(
                "left the region at pc {pc:#x} before reaching {:#x}",
                start.last
            ));
        }
        // The last boundary: the hook does not fire for `until`, so observe it here.
        if observe(&mut self.engine.uc, start.last) {
            RunEnd::Completed
        } else {
            RunEnd::Stopped
        }
    }

    /// Runs the load or store at `pc`, whose address `addr` no memory can back, against
    /// scratch memory instead: its base register is moved by the distance from `addr` to
    /// the middle of scratch, the instruction runs once (unobserved: its boundary already
    /// was), and the base gets back its own value plus whatever writeback added. A load
    /// thus yields the scratch word; a store lands in scratch, which is restored before the
    /// next region, so it is dropped.
    fn replay_relocated(&mut self, pc: u64, addr: u64) -> Result<(), String> {
        let gave_up = |why: &str| format!("data access at {addr:#x} from pc {pc:#x}: {why}");
        let mut word = [0u8; 4];
        self.engine
            .uc
            .mem_read(pc, &mut word)
            .map_err(|_| gave_up("its instruction cannot be read"))?;
        let word = u32::from_le_bytes(word);
        let Some(rn) = Target::access_base(word) else {
            return Err(gave_up("not a load or store"));
        };
        let reg = Target::gpr(rn);
        let base = self.engine.reg(reg);
        let target = self.engine.layout().scratch_pointer();
        let moved = base.wrapping_add(target.wrapping_sub(addr));
        let loads_into_base = Target::loads_into_base(pc, word, rn);
        let uc = &mut self.engine.uc;
        uc.reg_write(reg, moved)
            .map_err(|e| gave_up(&format!("{e:?}")))?;
        uc.get_data_mut().policy.replaying = Some(pc);
        // One instruction: the code hook stops the run at the next one. `until` alone is not
        // enough: Unicorn compiles the `until` check into a block when it translates it, and
        // the block that starts at `pc` may be cached from the region's run, translated for
        // that run's `until` (measured: go1.27.3's `fix`, edge.Kind.String, ran on into the
        // next load and faulted again). A count of 1 would install Unicorn's counting hook,
        // and dropping it again flushes every translation.
        let r = uc.emu_start(pc, pc.wrapping_add(Target::INSN_BYTES), 0, 0);
        uc.get_data_mut().policy.replaying = None;
        r.map_err(|e| gave_up(&format!("{} when replayed", describe_error(e))))?;
        if uc.get_data_mut().policy.relocate.take().is_some() {
            return Err(gave_up("still unmapped when replayed against scratch"));
        }
        if !loads_into_base {
            let after = uc.reg_read(reg).unwrap_or(moved);
            let _ = uc.reg_write(reg, base.wrapping_add(after.wrapping_sub(moved)));
        }
        let _ = uc.reg_write(Target::PC, pc.wrapping_add(Target::INSN_BYTES));
        Ok(())
    }

    /// Reads memory directly (for tests and evidence): between regions, what the last
    /// region left; unmapped stack reads as poison.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        self.engine.read_u64(addr)
    }
}

impl<O: Observer> Policy for HookState<O> {
    fn unmapped_accesses() -> HookType {
        HookType::MEM_READ_UNMAPPED | HookType::MEM_WRITE_UNMAPPED
    }

    fn boundary(uc: &mut Unicorn<'_, Core<Self>>, addr: u64) {
        let st = &uc.get_data().policy;
        if let Some(replayed) = st.replaying {
            if addr != replayed {
                let _ = uc.emu_stop();
            }
            return;
        }
        let (first, last) = st.region;
        if addr < first || addr >= last {
            let msg = format!("control left the region: reached {addr:#x}");
            uc.get_data_mut().fail(msg);
            let _ = uc.emu_stop();
            return;
        }
        if st.seen >= st.budget {
            let msg = format!("instruction budget of {} exhausted at {addr:#x}", st.budget);
            uc.get_data_mut().fail(msg);
            let _ = uc.emu_stop();
            return;
        }
        if st.seen % 1024 == 1023 && st.deadline.is_some_and(|d| Instant::now() > d) {
            uc.get_data_mut()
                .fail(format!("time budget exhausted at {addr:#x}"));
            let _ = uc.emu_stop();
            return;
        }
        if let Some(&(_, reg, span)) = st.unhooked.iter().find(|u| u.0 == addr) {
            let base = uc.reg_read(Target::gpr(reg)).unwrap_or(0);
            let lo = base & !(span.next_power_of_two() - 1);
            note_write(uc, lo, lo.saturating_add(span));
        }
        if !observe(uc, addr) {
            let _ = uc.emu_stop();
        }
    }

    fn stored(&mut self, _layout: &Layout, addr: u64, end: u64) {
        if let Some(observer) = self.observer.get_mut() {
            observer.stored(addr, end);
        }
    }

    /// Data accesses through pointers the synthesized state did not foresee: a scratch
    /// chunk (bounded) is mapped, so a block that dereferences a loaded value keeps
    /// running; an address no memory can back is handed to `Harness::replay_relocated`.
    fn unmapped(uc: &mut Unicorn<'_, Core<Self>>, kind: MemType, addr: u64, _size: usize) -> bool {
        let page = addr & !(PAGE - 1);
        let core = uc.get_data();
        let st = &core.policy;
        if st.new_scratch_pages >= st.max_scratch_pages || !core.layout.may_scratch(page) {
            relocate(uc, addr);
            return false;
        }
        let word = st.scratch_word;
        let chunk = addr & !(SCRATCH_CHUNK - 1);
        let (base, len) = if core
            .layout
            .may_scratch_range(chunk, chunk.saturating_add(SCRATCH_CHUNK))
            && uc
                .mem_map(chunk, SCRATCH_CHUNK, Prot::READ | Prot::WRITE)
                .is_ok()
        {
            (chunk, SCRATCH_CHUNK)
        } else if uc.mem_map(page, PAGE, Prot::READ | Prot::WRITE).is_ok() {
            (page, PAGE)
        } else {
            relocate(uc, addr);
            return false;
        };
        let fill = fill(len, word);
        let _ = uc.mem_write(base, &fill);
        let core = uc.get_data_mut();
        core.policy.new_scratch_pages += 1;
        // The write hook ran before this mapping existed and could not save the page: save
        // the fresh pattern now, so the write that follows is undone like any other.
        if kind == MemType::WRITE_UNMAPPED {
            let mut page = base;
            while page < base + len {
                let pristine = fill[..PAGE as usize].to_vec().into_boxed_slice();
                core.journal.save(page, pristine);
                page += PAGE;
            }
        }
        true
    }

    /// An undefined-instruction exception from a word the classifier says falls through
    /// (SVE and SME encodings, which Go never emits: in practice, literal pools of
    /// constants after a function's code): the word is data, skipped with no effect.
    fn interrupt(uc: &mut Unicorn<'_, Core<Self>>, intno: u32, pc: u64) -> bool {
        if intno != Target::UNDEFINED_INSTRUCTION || uc.get_data().policy.replaying.is_some() {
            return false;
        }
        let mut word = [0u8; 4];
        if uc.mem_read(pc, &mut word).is_ok() && Target::falls_through(pc, u32::from_le_bytes(word))
        {
            uc.get_data_mut().policy.skip = Some(pc);
            let _ = uc.emu_stop();
            return true;
        }
        false
    }
}

/// Hands the access at the current PC to `Harness::replay_relocated` (first one wins).
fn relocate<O>(uc: &mut Unicorn<'_, Core<HookState<O>>>, addr: u64) {
    let pc = uc.pc_read().unwrap_or(0);
    uc.get_data_mut().policy.relocate.get_or_insert((pc, addr));
}

/// Hands the boundary at `pc` to the observer, borrowed in place. Returns whether the
/// region goes on.
fn observe<O: Observer>(uc: &mut Unicorn<'_, Core<HookState<O>>>, pc: u64) -> bool {
    let keep_going = {
        let core = uc.get_data();
        // The observer is only ever borrowed here and by the write hook, which cannot fire
        // while an observer reads memory; a failed borrow would be a bug, not a panic
        // inside a Unicorn callback.
        let Ok(mut slot) = core.policy.observer.try_borrow_mut() else {
            return false;
        };
        let Some(observer) = slot.as_mut() else {
            return false;
        };
        let b = Boundary {
            uc: &*uc,
            pc,
            sp: uc.reg_read(Target::SP).unwrap_or(0),
            fp: uc.reg_read(Target::FP).unwrap_or(0),
            lr: uc.reg_read(Target::LR).unwrap_or(0),
            index: core.policy.seen,
        };
        observer.boundary(&b)
    };
    let core = uc.get_data_mut();
    core.policy.seen += 1;
    if !keep_going {
        core.stopped = true;
    }
    keep_going
}
