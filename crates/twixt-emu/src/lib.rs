//! The Unicorn harness: maps an image's segments, a goroutine stack with guard pages (mapped
//! lazily, 64 KiB at a time, as deep as the largest frame Go builds), a fake `g` with its
//! `m` and `g0`, and scratch memory, then runs one region at a time from a synthesized
//! machine state and hands an [`Observer`] a read-only view of every instruction boundary.
//!
//! No harness limit leaves a region unfinished: a load or store whose address cannot be
//! mapped at all (beyond 48 bits, in a guard, or past the scratch budget) is replayed
//! against scratch memory, so the load yields the scratch word and the store is dropped.
//! A load whose value the harness does not know changes neither SP, R29 nor the return
//! address; only control flow into unknown code, a system instruction or a budget ends a
//! region early.
//!
//! This is the only crate that uses `unicorn-engine`. Architecture invariants: one engine
//! belongs to one thread; a region is run with a single `emu_start`; nothing the input does
//! can reach the host (no host memory is mapped, system calls end the region).

pub mod bare;
pub mod call;
mod layout;

use std::time::{Duration, Instant};

use unicorn_engine::unicorn_const::{Arch, HookType, MemType, Mode, Prot};
use unicorn_engine::{RegisterARM64, Unicorn};

pub use layout::Layout;

/// A memory range to map from the image.
#[derive(Clone, Debug)]
pub struct MapRange<'d> {
    /// Virtual address.
    pub vaddr: u64,
    /// Size in memory (bytes past `data` are zero).
    pub size: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
    /// Initial contents.
    pub data: &'d [u8],
}

/// Why the harness could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// Unicorn refused to start.
    #[error("cannot start the arm64 emulator: {0:?}")]
    Engine(unicorn_engine::unicorn_const::uc_error),
    /// A segment could not be mapped.
    #[error("cannot map segment at {vaddr:#x} ({size:#x} bytes): {err:?}")]
    Map {
        /// Segment address.
        vaddr: u64,
        /// Segment size.
        size: u64,
        /// Unicorn's error.
        err: unicorn_engine::unicorn_const::uc_error,
    },
    /// A segment is larger than the harness maps (bounded memory per engine).
    #[error(
        "segment at {vaddr:#x} claims {size:#x} bytes; the emulator maps at most 1 GiB per segment"
    )]
    TooLarge {
        /// Segment address.
        vaddr: u64,
        /// Claimed size.
        size: u64,
    },
    /// A segment lies (partly) above the 48-bit virtual address space arm64 Linux gives
    /// user programs, where the emulator maps nothing.
    #[error(
        "segment at {vaddr:#x} ({size:#x} bytes) lies outside the 48-bit address space the emulator maps"
    )]
    OutsideAddressSpace {
        /// Segment address.
        vaddr: u64,
        /// Segment size.
        size: u64,
    },
    /// A segment overlaps the harness's own regions.
    #[error("segment at {vaddr:#x} overlaps the emulator's stack or scratch regions")]
    Overlap {
        /// Segment address.
        vaddr: u64,
    },
}

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
    uc: &'u Unicorn<'e, D>,
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
    /// The harness's layout (where unmapped stack reads as poison).
    layout: Layout,
}

impl<D> Boundary<'_, '_, D> {
    /// Reads general register Xn (n < 31).
    pub fn x(&self, n: u8) -> u64 {
        match n {
            0..=28 => self.uc.reg_read(x_register(n)).unwrap_or(0),
            29 => self.fp,
            30 => self.lr,
            _ => 0,
        }
    }

    /// Reads a little-endian word, `None` if unmapped. Stack the harness has not mapped
    /// yet reads as the poison every unwritten stack word holds.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        read_word(self.uc, &self.layout, addr)
    }
}

/// A word of memory as the program would see it: the stack is all poison where nothing has
/// been mapped (and so nothing written) yet.
fn read_word<D>(uc: &Unicorn<'_, D>, layout: &Layout, addr: u64) -> Option<u64> {
    let mut buf = [0u8; 8];
    if uc.mem_read(addr, &mut buf).is_ok() {
        return Some(u64::from_le_bytes(buf));
    }
    (layout.in_stack(addr) && layout.in_stack(addr.saturating_add(7))).then(|| layout.poison())
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

/// State shared with the hooks: the observer, and what went wrong.
pub struct HookState<O> {
    observer: Option<O>,
    region: (u64, u64),
    seen: usize,
    budget: usize,
    deadline: Option<Instant>,
    failure: Option<String>,
    stopped: bool,
    /// Scratch pages mapped on demand. They stay mapped for later regions (mapping is the
    /// expensive part), their writes are undone like any other page's.
    scratch_pages: std::collections::HashSet<u64>,
    /// Scratch pages mapped during this region, and the most one region may map.
    new_scratch_pages: usize,
    max_scratch_pages: usize,
    scratch_word: u64,
    layout: Layout,
    /// Stack ranges written during this region.
    stack_dirty: Intervals,
    /// This region's stores that the write hook may not see.
    unhooked: Vec<(u64, u8, u64)>,
    /// Pages outside the stack written during this region, with their contents from
    /// before the first write: restored afterwards, so that every region starts from the
    /// same memory whatever ran before it (and reports do not depend on scan order).
    saved: Vec<(u64, Vec<u8>)>,
    /// The 64 KiB chunks of the goroutine stack mapped so far (each filled with poison
    /// when mapped).
    stack_chunks: std::collections::BTreeSet<u64>,
    /// 64 KiB of the poison word.
    poison: Vec<u8>,
    /// A data access the harness could not give memory: `(pc, address)` of the instruction,
    /// to be replayed against scratch memory.
    relocate: Option<(u64, u64)>,
    /// Set while such a replay runs: its boundary was already observed and counted.
    replaying: bool,
    /// A word the CPU refused as undefined although it decodes as falling through: the run
    /// goes on after it.
    skip: Option<u64>,
}

/// The granule the goroutine stack is mapped in.
const STACK_CHUNK: u64 = 0x10000;

/// One emulator with an image mapped into it.
pub struct Harness<'e, O: Observer> {
    uc: Unicorn<'e, HookState<O>>,
    layout: Layout,
    dirty: Intervals,
    time_budget: Duration,
    regions_run: u64,
}

/// Regions between flushes of the translation cache (see [`Harness::run`]).
const FLUSH_EVERY: u64 = 512;

const PAGE: u64 = 0x1000;

/// A few address ranges, merged when close: what a region wrote on the stack. Frames of
/// many megabytes are written near their bottom and top only, so one `[min, max)` range
/// would make restoring them cost the whole frame.
#[derive(Clone, Debug, Default)]
struct Intervals {
    ranges: Vec<(u64, u64)>,
}

impl Intervals {
    const MERGE_GAP: u64 = 4096;
    const MAX: usize = 16;

    fn add(&mut self, lo: u64, hi: u64) {
        for r in &mut self.ranges {
            if lo <= r.1.saturating_add(Self::MERGE_GAP)
                && r.0 <= hi.saturating_add(Self::MERGE_GAP)
            {
                r.0 = r.0.min(lo);
                r.1 = r.1.max(hi);
                return;
            }
        }
        if self.ranges.len() >= Self::MAX {
            // Too scattered: one range over all of it is still correct, only slower.
            let all = self
                .ranges
                .iter()
                .fold((lo, hi), |a, r| (a.0.min(r.0), a.1.max(r.1)));
            self.ranges = vec![all];
            return;
        }
        self.ranges.push((lo, hi));
    }

    fn take(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.ranges)
    }
}

impl<'e, O: Observer + 'e> Harness<'e, O> {
    /// Maps `ranges` (the image's loadable segments) and the harness's own regions.
    pub fn new(ranges: &[MapRange<'_>], layout: Layout) -> Result<Self, EmuError> {
        let state = HookState {
            observer: None,
            region: (0, 0),
            seen: 0,
            budget: 0,
            deadline: None,
            failure: None,
            stopped: false,
            scratch_pages: std::collections::HashSet::new(),
            new_scratch_pages: 0,
            max_scratch_pages: 256,
            scratch_word: layout.scratch_pointer(),
            layout,
            stack_dirty: Intervals::default(),
            unhooked: Vec::new(),
            saved: Vec::new(),
            stack_chunks: std::collections::BTreeSet::new(),
            poison: std::iter::repeat_n(layout.poison().to_le_bytes(), (STACK_CHUNK / 8) as usize)
                .flatten()
                .collect(),
            relocate: None,
            replaying: false,
            skip: None,
        };
        let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::LITTLE_ENDIAN, state)
            .map_err(EmuError::Engine)?;
        // The newest architecture level: Go uses LSE atomics (LDADDAL, CASAL, SWPAL) when
        // the CPU has them, and the default Cortex-A57 model would trap on them.
        uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32)
            .map_err(EmuError::Engine)?;
        map_image(&mut uc, ranges, &layout)?;
        // The goroutine stack is mapped lazily (`map_stack_chunk`).
        layout.map_harness(&mut uc).map_err(EmuError::Engine)?;
        install_hooks(&mut uc).map_err(EmuError::Engine)?;
        Ok(Harness {
            uc,
            layout,
            dirty: Intervals::default(),
            // Only a backstop: every region is bounded by its instruction budget, and a
            // tighter wall-time limit would make results depend on the machine's load
            // (a debug build on a busy machine can take a second for a long region).
            time_budget: Duration::from_secs(30),
            regions_run: 0,
        })
    }

    /// The address layout (stack, g, scratch) this harness uses.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Sets the wall-time budget per region.
    pub fn set_time_budget(&mut self, budget: Duration) {
        self.time_budget = budget;
    }

    /// Runs one region, handing each boundary to `observer`; returns the observer back.
    pub fn run(&mut self, start: &RegionStart, observer: O) -> (O, RunEnd) {
        // Every region is code that runs once: its translation is never wanted again. Left
        // alone, TCG's code buffer (1 GiB) grows through fresh pages the kernel must zero;
        // flushed now and then, it reuses the same few megabytes.
        self.regions_run += 1;
        if self.regions_run.is_multiple_of(FLUSH_EVERY) {
            let _ = self.uc.ctl_flush_tb();
        }
        self.restore_stack();
        {
            let st = self.uc.get_data_mut();
            st.observer = Some(observer);
            st.region = (start.pc, start.last);
            st.seen = 0;
            st.budget = start.instructions;
            st.deadline = Some(Instant::now() + self.time_budget);
            st.failure = None;
            st.stopped = false;
            st.relocate = None;
            st.replaying = false;
            st.skip = None;
            st.unhooked.clone_from(&start.unhooked_stores);
        }
        let setup = self.set_state(start);
        let end = match setup {
            Err(e) => RunEnd::Unanalysed(format!("cannot set up region: {e:?}")),
            Ok(()) => self.execute(start),
        };
        self.uc.get_data_mut().new_scratch_pages = 0;
        self.restore_pristine_pages();

        let observer = self
            .uc
            .get_data_mut()
            .observer
            .take()
            .expect("observer is put back after every boundary");
        (observer, end)
    }

    fn execute(&mut self, start: &RegionStart) -> RunEnd {
        // `until` stops before the last instruction executes; the count is a second bound,
        // in case the region is not the straight line the planner thought.
        let mut from = start.pc;
        let result = loop {
            let result = if from == start.last {
                self.uc.reg_write(RegisterARM64::PC, from)
            } else {
                self.uc
                    .emu_start(from, start.last, 0, start.instructions.saturating_add(1))
            };
            if let Some(pc) = self.uc.get_data_mut().skip.take() {
                from = pc.wrapping_add(4);
                continue;
            }
            let Some((pc, addr)) = self.uc.get_data_mut().relocate.take() else {
                break result;
            };
            if let Err(reason) = self.replay_relocated(pc, addr) {
                self.uc.get_data_mut().failure.get_or_insert(reason);
                break result;
            }
            from = pc.wrapping_add(4);
        };
        let st = self.uc.get_data();
        if let Some(f) = &st.failure {
            return RunEnd::Unanalysed(f.clone());
        }
        if st.stopped {
            return RunEnd::Stopped;
        }
        let pc = self.uc.pc_read().unwrap_or(0);
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
        if observe(&mut self.uc, start.last) {
            RunEnd::Completed
        } else {
            RunEnd::Stopped
        }
    }

    /// Runs the load or store at `pc`, whose address `addr` no memory can back, against
    /// scratch memory instead: its base register is moved by the distance from `addr` to
    /// the middle of scratch, the instruction runs once (unobserved: its boundary already
    /// was), and the base gets back its own value plus whatever writeback added. A load
    /// thus yields the scratch word; a store lands in scratch, which is restored after the
    /// region, so it is dropped.
    fn replay_relocated(&mut self, pc: u64, addr: u64) -> Result<(), String> {
        let gave_up = |why: &str| format!("data access at {addr:#x} from pc {pc:#x}: {why}");
        let mut word = [0u8; 4];
        self.uc
            .mem_read(pc, &mut word)
            .map_err(|_| gave_up("its instruction cannot be read"))?;
        let word = u32::from_le_bytes(word);
        // Every load/store class keeps its base register in bits 9..5 (31 is SP), and its
        // address is that base plus something; other classes reach memory otherwise.
        if !matches!((word >> 25) & 0xf, 0b0100 | 0b0110 | 0b1100 | 0b1110) {
            return Err(gave_up("not a load or store"));
        }
        let rn = ((word >> 5) & 31) as u8;
        let reg = x_register(rn);
        let base = self.uc.reg_read(reg).unwrap_or(0);
        let target = self.layout.scratch_pointer();
        let moved = base.wrapping_add(target.wrapping_sub(addr));
        let loads_into_base = loads_into_base(pc, word, rn);
        let run = |uc: &mut Unicorn<'e, HookState<O>>| -> Result<(), String> {
            uc.reg_write(reg, moved)
                .map_err(|e| gave_up(&format!("{e:?}")))?;
            uc.get_data_mut().replaying = true;
            let r = uc.emu_start(pc, pc.wrapping_add(4), 0, 1);
            uc.get_data_mut().replaying = false;
            r.map_err(|e| gave_up(&format!("{} when replayed", describe_error(e))))?;
            if uc.get_data_mut().relocate.take().is_some() {
                return Err(gave_up("still unmapped when replayed against scratch"));
            }
            Ok(())
        };
        run(&mut self.uc)?;
        if !loads_into_base {
            let after = self.uc.reg_read(reg).unwrap_or(moved);
            let _ = self
                .uc
                .reg_write(reg, base.wrapping_add(after.wrapping_sub(moved)));
        }
        let _ = self.uc.reg_write(RegisterARM64::PC, pc.wrapping_add(4));
        Ok(())
    }

    fn set_state(
        &mut self,
        start: &RegionStart,
    ) -> Result<(), unicorn_engine::unicorn_const::uc_error> {
        for (i, v) in start.x.iter().enumerate() {
            let value = if i == 28 { self.layout.g } else { *v };
            self.uc.reg_write(x_register(i as u8), value)?;
        }
        self.uc.reg_write(RegisterARM64::NZCV, 0)?;
        self.uc.reg_write(RegisterARM64::SP, start.sp)?;
        self.uc.reg_write(RegisterARM64::PC, start.pc)?;
        for (addr, value) in &start.writes {
            map_stack_chunk(&mut self.uc, *addr);
            map_stack_chunk(&mut self.uc, addr.saturating_add(7));
            self.uc.mem_write(*addr, &value.to_le_bytes())?;
        }
        for (addr, _) in &start.writes {
            self.dirty.add(*addr, addr.saturating_add(8));
        }
        Ok(())
    }

    /// Writes the poison pattern back over the parts of the stack the previous region
    /// wrote (and the words the harness planted), so that each region sees the same memory
    /// whatever ran before it.
    fn restore_stack(&mut self) {
        let st = self.uc.get_data_mut();
        let chunks = std::mem::take(&mut st.stack_chunks);
        let poison = std::mem::take(&mut st.poison);
        for (lo, hi) in self.dirty.take() {
            let lo = lo.max(self.layout.stack_lo) & !7;
            let hi = hi.min(self.layout.stack_hi);
            // Only mapped chunks can have been written; the rest reads as poison already.
            for &chunk in chunks.range(lo & !(STACK_CHUNK - 1)..hi) {
                let a = lo.max(chunk);
                let b = hi.min(chunk + STACK_CHUNK);
                if a < b {
                    let _ = self.uc.mem_write(a, &poison[..(b - a) as usize]);
                }
            }
        }
        let st = self.uc.get_data_mut();
        st.stack_chunks = chunks;
        st.poison = poison;
    }

    fn restore_pristine_pages(&mut self) {
        let st = self.uc.get_data_mut();
        let saved = std::mem::take(&mut st.saved);
        let mut stack = std::mem::take(&mut st.stack_dirty);
        for (lo, hi) in stack.take() {
            self.dirty.add(lo, hi);
        }
        // Reverse order: if a page was saved twice, the oldest copy wins.
        for (page, bytes) in saved.into_iter().rev() {
            let _ = self.uc.mem_write(page, &bytes);
        }
    }

    /// Reads memory directly (for tests and evidence); unmapped stack reads as poison.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        read_word(&self.uc, &self.layout, addr)
    }
}

/// Whether the load at `pc` writes its own base register `rn` as a destination (then the
/// loaded value stands; otherwise the base is only ever updated by writeback).
fn loads_into_base(pc: u64, word: u32, rn: u8) -> bool {
    if rn == 31 {
        return false;
    }
    if let Some(m) = twixt_arm64::mem_op(word) {
        let regs = usize::from(m.access.regs.clamp(1, 2));
        return !m.access.store && !m.access.fp_simd && m.access.rt[..regs].contains(&rn);
    }
    // Register-offset, exclusive and atomic forms have no writeback: a written base is a
    // destination. SIMD structure loads (LD1..LD4) write back and load vectors only.
    let structure = (word >> 27) & 0b111 == 0b001 && word & (1 << 26) != 0;
    !structure && twixt_arm64::classify(pc, word).written.contains_x(rn)
}

/// Unicorn's id for general register `n` as an instruction encodes it: X0..X28 are
/// contiguous, X29 and X30 are numbered apart, and 31 (as a base register) is SP.
fn x_register(n: u8) -> i32 {
    match n {
        29 => RegisterARM64::X29 as i32,
        30 => RegisterARM64::X30 as i32,
        31.. => RegisterARM64::SP as i32,
        n => RegisterARM64::X0 as i32 + i32::from(n),
    }
}

fn describe_error(e: unicorn_engine::unicorn_const::uc_error) -> String {
    use unicorn_engine::unicorn_const::uc_error as E;
    match e {
        E::READ_UNMAPPED => "read from unmapped memory".into(),
        E::WRITE_UNMAPPED => "write to unmapped memory".into(),
        E::FETCH_UNMAPPED => "fetch from unmapped memory".into(),
        E::WRITE_PROT => "write to read-only memory".into(),
        E::READ_PROT => "read from unreadable memory".into(),
        E::FETCH_PROT => "fetch from non-executable memory".into(),
        E::INSN_INVALID => "invalid instruction".into(),
        E::EXCEPTION => "unhandled CPU exception".into(),
        other => format!("emulator error {other:?}"),
    }
}

/// Maps the image's segments with their permissions.
fn map_image<D>(
    uc: &mut Unicorn<'_, D>,
    ranges: &[MapRange<'_>],
    layout: &Layout,
) -> Result<(), EmuError> {
    // Pages can be shared by two segments (Go aligns segments to 64 KiB, but be safe): give
    // each page the union of the permissions of the segments that touch it.
    let mut pages: std::collections::BTreeMap<u64, Prot> = std::collections::BTreeMap::new();
    for r in ranges {
        if r.size == 0 {
            continue;
        }
        if r.size > 1 << 30 {
            return Err(EmuError::TooLarge {
                vaddr: r.vaddr,
                size: r.size,
            });
        }
        let end = r.vaddr.saturating_add(r.size);
        if end > 1 << 48 {
            return Err(EmuError::OutsideAddressSpace {
                vaddr: r.vaddr,
                size: r.size,
            });
        }
        if layout.overlaps(r.vaddr, end) {
            return Err(EmuError::Overlap { vaddr: r.vaddr });
        }
        let mut prot = Prot::NONE;
        if r.read {
            prot |= Prot::READ;
        }
        if r.write {
            prot |= Prot::WRITE;
        }
        if r.execute {
            prot |= Prot::EXEC | Prot::READ;
        }
        let mut p = r.vaddr & !(PAGE - 1);
        while p < end {
            let e = pages.entry(p).or_insert(Prot::NONE);
            *e |= prot;
            p += PAGE;
        }
    }
    // Map runs of pages with equal permissions in one call each.
    let mut run: Option<(u64, u64, Prot)> = None;
    let mut runs = Vec::new();
    for (&p, &prot) in &pages {
        match run {
            Some((start, end, pr)) if end == p && pr == prot => run = Some((start, end + PAGE, pr)),
            _ => {
                if let Some(r) = run.take() {
                    runs.push(r);
                }
                run = Some((p, p + PAGE, prot));
            }
        }
    }
    runs.extend(run);
    for &(start, end, _) in &runs {
        // Map writable first so the contents can be copied in, then set the real permissions.
        uc.mem_map(start, end - start, Prot::ALL)
            .map_err(|err| EmuError::Map {
                vaddr: start,
                size: end - start,
                err,
            })?;
    }
    for r in ranges {
        if !r.data.is_empty() {
            let n = (r.data.len() as u64).min(r.size) as usize;
            uc.mem_write(r.vaddr, &r.data[..n])
                .map_err(|err| EmuError::Map {
                    vaddr: r.vaddr,
                    size: r.size,
                    err,
                })?;
        }
    }
    // Whole runs at once: protecting single pages would split Unicorn's regions page by
    // page, and each split walks every RAM block.
    for &(start, end, prot) in &runs {
        uc.mem_protect(start, end - start, prot)
            .map_err(|err| EmuError::Map {
                vaddr: start,
                size: end - start,
                err,
            })?;
    }
    Ok(())
}

/// Maps the stack chunk holding `addr` (filled with poison) if `addr` is in the goroutine
/// stack and the chunk is not mapped yet. Returns whether `addr` is now mapped stack.
fn map_stack_chunk<O>(uc: &mut Unicorn<'_, HookState<O>>, addr: u64) -> bool {
    let st = uc.get_data();
    if !st.layout.in_stack(addr) {
        return false;
    }
    let chunk = (addr & !(STACK_CHUNK - 1)).max(st.layout.stack_lo);
    if st.stack_chunks.contains(&chunk) {
        return true;
    }
    let len = STACK_CHUNK.min(st.layout.stack_hi - chunk);
    if uc.mem_map(chunk, len, Prot::READ | Prot::WRITE).is_err() {
        return false;
    }
    let poison = std::mem::take(&mut uc.get_data_mut().poison);
    let _ = uc.mem_write(chunk, &poison[..len as usize]);
    let st = uc.get_data_mut();
    st.poison = poison;
    st.stack_chunks.insert(chunk);
    true
}

fn observe<O: Observer>(uc: &mut Unicorn<'_, HookState<O>>, pc: u64) -> bool {
    let index = uc.get_data().seen;
    let Some(mut observer) = uc.get_data_mut().observer.take() else {
        return false;
    };
    let keep_going = {
        let b = Boundary {
            pc,
            sp: uc.reg_read(RegisterARM64::SP).unwrap_or(0),
            fp: uc.reg_read(RegisterARM64::X29).unwrap_or(0),
            lr: uc.reg_read(RegisterARM64::X30).unwrap_or(0),
            index,
            layout: uc.get_data().layout,
            uc,
        };
        observer.boundary(&b)
    };
    let st = uc.get_data_mut();
    st.observer = Some(observer);
    st.seen += 1;
    if !keep_going {
        st.stopped = true;
    }
    keep_going
}

/// Records a write of `[addr, end)` about to happen: the stack's dirty ranges grow; any
/// other page is saved before its first write of the region.
fn note_write<O: Observer>(uc: &mut Unicorn<'_, HookState<O>>, addr: u64, end: u64) {
    if let Some(observer) = uc.get_data_mut().observer.as_mut() {
        observer.stored(addr, end);
    }
    let st = uc.get_data();
    if addr >= st.layout.stack_lo && addr < st.layout.stack_hi {
        uc.get_data_mut().stack_dirty.add(addr, end);
        return;
    }
    let first = addr & !(PAGE - 1);
    let last = end.saturating_sub(1) & !(PAGE - 1);
    let mut page = first;
    while page <= last {
        let known = uc.get_data().saved.iter().any(|(p, _)| *p == page);
        if !known && let Ok(bytes) = uc.mem_read_as_vec(page, PAGE as usize) {
            uc.get_data_mut().saved.push((page, bytes));
        }
        // A store at the top of the address space: the last page has no successor.
        let Some(next) = page.checked_add(PAGE) else {
            break;
        };
        page = next;
    }
}

fn install_hooks<'e, O: Observer + 'e>(
    uc: &mut Unicorn<'e, HookState<O>>,
) -> Result<(), unicorn_engine::unicorn_const::uc_error> {
    uc.add_code_hook(1, 0, |uc, addr, _size| {
        let st = uc.get_data();
        if st.stopped || st.failure.is_some() || st.replaying {
            return;
        }
        let (first, last) = st.region;
        if addr < first || addr >= last {
            let msg = format!("control left the region: reached {addr:#x}");
            uc.get_data_mut().failure = Some(msg);
            let _ = uc.emu_stop();
            return;
        }
        if st.seen >= st.budget {
            let msg = format!("instruction budget of {} exhausted at {addr:#x}", st.budget);
            uc.get_data_mut().failure = Some(msg);
            let _ = uc.emu_stop();
            return;
        }
        if st.seen % 1024 == 1023 && st.deadline.is_some_and(|d| Instant::now() > d) {
            uc.get_data_mut().failure = Some(format!("time budget exhausted at {addr:#x}"));
            let _ = uc.emu_stop();
            return;
        }
        if let Some(&(_, reg, span)) = uc.get_data().unhooked.iter().find(|u| u.0 == addr) {
            let base = uc.reg_read(x_register(reg)).unwrap_or(0);
            let lo = base & !(span.next_power_of_two() - 1);
            note_write(uc, lo, lo.saturating_add(span));
        }
        if !observe(uc, addr) {
            let _ = uc.emu_stop();
        }
    })?;
    uc.add_intr_hook(|uc, intno| {
        let pc = uc.pc_read().unwrap_or(0);
        // An undefined-instruction exception from a word the classifier says falls through
        // (SVE and SME encodings, which Go never emits: in practice, literal pools of
        // constants after a function's code): the word is data, skipped with no effect.
        const EXCP_UDEF: u32 = 1;
        if intno == EXCP_UDEF && !uc.get_data().replaying {
            let mut word = [0u8; 4];
            if uc.mem_read(pc, &mut word).is_ok()
                && twixt_arm64::classify(pc, u32::from_le_bytes(word)).flow
                    == twixt_arm64::Flow::Next
            {
                uc.get_data_mut().skip = Some(pc);
                let _ = uc.emu_stop();
                return;
            }
        }
        let st = uc.get_data_mut();
        if st.failure.is_none() {
            st.failure = Some(format!(
                "system instruction or exception {intno} at {pc:#x}"
            ));
        }
        let _ = uc.emu_stop();
    })?;
    // Every store: the stack's dirty ranges grow; any other page is saved before its first
    // write of the region. Stores are a small share of instructions, so this costs little
    // next to the per-instruction code hook.
    uc.add_mem_hook(
        HookType::MEM_WRITE,
        1,
        0,
        |uc, _kind: MemType, addr, size, _value| {
            note_write(uc, addr, addr.saturating_add(size as u64));
            true
        },
    )?;
    // Data accesses through pointers the synthesized state did not foresee: the goroutine
    // stack is mapped on first touch; elsewhere a scratch page (bounded) is mapped, so a
    // block that dereferences a loaded value keeps running; an address no memory can back
    // is handed to `Harness::replay_relocated`.
    uc.add_mem_hook(
        HookType::MEM_READ_UNMAPPED | HookType::MEM_WRITE_UNMAPPED,
        1,
        0,
        |uc, kind: MemType, addr, size, _value| {
            let last = addr.saturating_add((size as u64).max(1) - 1);
            if uc.get_data().layout.in_stack(addr) || uc.get_data().layout.in_stack(last) {
                let a = map_stack_chunk(uc, addr);
                let b = map_stack_chunk(uc, last);
                if a || b {
                    // A write the hook saw before the chunk existed: its range is dirty.
                    if kind == MemType::WRITE_UNMAPPED {
                        uc.get_data_mut()
                            .stack_dirty
                            .add(addr, last.saturating_add(1));
                    }
                    return true;
                }
            }
            let page = addr & !(PAGE - 1);
            let st = uc.get_data();
            if st.new_scratch_pages >= st.max_scratch_pages || !st.layout.may_scratch(page) {
                let pc = uc.pc_read().unwrap_or(0);
                uc.get_data_mut().relocate.get_or_insert((pc, addr));
                return false;
            }
            let word = st.scratch_word;
            // Map a 64 KiB chunk around the page when it is free: nearby accesses follow,
            // and every mapping costs Unicorn a walk over all of its RAM blocks.
            const CHUNK: u64 = 0x10000;
            let chunk = addr & !(CHUNK - 1);
            let (base, len) = if st
                .layout
                .may_scratch_range(chunk, chunk.saturating_add(CHUNK))
                && uc.mem_map(chunk, CHUNK, Prot::READ | Prot::WRITE).is_ok()
            {
                (chunk, CHUNK)
            } else if uc.mem_map(page, PAGE, Prot::READ | Prot::WRITE).is_ok() {
                (page, PAGE)
            } else {
                let pc = uc.pc_read().unwrap_or(0);
                uc.get_data_mut().relocate.get_or_insert((pc, addr));
                return false;
            };
            let fill: Vec<u8> = std::iter::repeat_n(word.to_le_bytes(), (len / 8) as usize)
                .flatten()
                .collect();
            let _ = uc.mem_write(base, &fill);
            let st = uc.get_data_mut();
            st.scratch_pages.insert(base);
            st.new_scratch_pages += 1;
            // The write hook ran before this mapping existed and could not save the page:
            // save the fresh pattern now, so the write that follows is undone like any other.
            if kind == MemType::WRITE_UNMAPPED {
                let mut page = base;
                while page < base + len {
                    if !st.saved.iter().any(|(p, _)| *p == page) {
                        st.saved.push((page, fill[..PAGE as usize].to_vec()));
                    }
                    page += PAGE;
                }
            }
            true
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
