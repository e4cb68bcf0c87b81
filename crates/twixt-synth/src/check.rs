//! Judging every instruction boundary of a synthesized function with both model
//! unwinders, the way `twixt scan` judges a real one (`crates/twixt-check/src/scan.rs`,
//! `judge_boundary`): if the runtime would preempt there (`preempt::decide`), perform
//! pushCall (`preempt::inject`) and walk strictly as a GC scan does; a wrong walk is a
//! *preemptible* window; otherwise walk as a profiling signal does, a wrong walk being
//! *signal-only*. The frame-pointer walk starts from the interrupted registers, exactly as
//! scan's `judge_frame_pointers` does (`fp::walk` where the runtime would preempt, the
//! tracer walking through the injected asyncPreempt frame; `fp::walk_intact` elsewhere;
//! then `fp::skip_own_records` and `fp::judge`); its window is preemptible where the
//! runtime would preempt and signal-only elsewhere.
//!
//! The world around the function is fake but complete: a caller `main.caller` whose frame
//! is [`CALLER_FRAME`] bytes, called from `runtime.goexit` (a top frame), and
//! `runtime.asyncPreempt` with its 496-byte frame. The truth is the chain planted before
//! the function runs, as in `twixt scan`: caller SP, return PC into the caller, the
//! caller's R29 = caller SP - 8, and goexit's frame at `stktopsp`.
//!
//! Two ways to run the function: [`Checker::check_exact`] uses the interpreter of
//! [`crate::exec`]; [`Checker::check_emulated`] runs the machine code in Unicorn through
//! `twixt-emu`, region by region (a call ends a region, as in scan). The tests check they
//! agree at every boundary.

use twixt_emu::{Boundary, Harness, HookState, Layout, MapRange, Observer, RegionStart, RunEnd};
use twixt_unwind::boundary::{Interrupt, Rules, check_fp, check_go};
use twixt_unwind::fp::FpVerdict;
use twixt_unwind::preempt::{AsyncPreemptFrame, Decision, GoVersion, SafePointFacts, decide};
use twixt_unwind::verdict::{TrueFrame, Verdict};
use twixt_unwind::{Arch, FuncInfo, Memory, Metadata, Special};

use crate::exec::{Machine, StackMemory};
use crate::generation::Generation;
use crate::model::{CALLEE_OFFSET, SyntheticFunction};

/// Entry of the synthesized function.
pub const FUNC_ENTRY: u64 = 0x1_0000;
/// Entry of the fake caller.
pub const CALLER_ENTRY: u64 = 0x2_0000;
/// The return PC into the caller.
pub const CALLER_RET: u64 = 0x2_0010;
/// The caller's frame size at [`CALLER_RET`].
pub const CALLER_FRAME: u64 = 0x40;
/// Entry of the fake `runtime.goexit` (a top frame).
pub const GOEXIT_ENTRY: u64 = 0x3_0000;
/// Entry of the fake `runtime.asyncPreempt`.
pub const ASYNC_PREEMPT_ENTRY: u64 = 0x4_0000;
/// asyncPreempt's frame on arm64.
pub const ASYNC_PREEMPT_FRAME: u64 = 496;
/// Every fake function spans this many bytes.
const FAKE_SIZE: u64 = 0x1000;

/// How bad a window is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The runtime may preempt there: a GC scan of the stopped goroutine breaks.
    Preemptible,
    /// Only a profiling signal or another asynchronous observer can land there.
    SignalOnly,
}

impl Severity {
    /// Both, most severe first.
    pub const ALL: [Severity; 2] = [Severity::Preemptible, Severity::SignalOnly];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Preemptible => "preemptible",
            Severity::SignalOnly => "signal-only",
        }
    }
}

/// The model unwinders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unwinder {
    /// Go's runtime traceback.
    Go,
    /// The frame-pointer walk.
    Fp,
}

impl Unwinder {
    /// Both.
    pub const ALL: [Unwinder; 2] = [Unwinder::Go, Unwinder::Fp];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Unwinder::Go => "go",
            Unwinder::Fp => "fp",
        }
    }
}

/// The verdicts at one boundary (`None`: that unwinder is right there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundaryJudgement {
    /// Instruction index in the function.
    pub index: usize,
    /// Go's traceback.
    pub go: Option<(Verdict, Severity)>,
    /// The frame-pointer walk.
    pub fp: Option<(FpVerdict, Severity)>,
}

/// Registers at a boundary, for comparing the interpreter with the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    /// PC.
    pub pc: u64,
    /// SP.
    pub sp: u64,
    /// R29.
    pub fp: u64,
    /// R30.
    pub lr: u64,
}

/// The function table of the fake world.
struct World<'f> {
    f: &'f SyntheticFunction,
}

fn info(entry: u64, name: &str, top_frame: bool) -> FuncInfo {
    FuncInfo {
        entry,
        name: name.into(),
        top_frame,
        sp_write: false,
        special: Special::from_name(name),
    }
}

impl Metadata for World<'_> {
    fn find_func(&self, pc: u64) -> Option<FuncInfo> {
        let end = FUNC_ENTRY + 4 * self.f.words.len() as u64;
        let callee = FUNC_ENTRY.wrapping_add(CALLEE_OFFSET as u64);
        if (FUNC_ENTRY..end).contains(&pc) {
            Some(info(FUNC_ENTRY, "main.synthetic", false))
        } else if (CALLER_ENTRY..CALLER_ENTRY + FAKE_SIZE).contains(&pc) {
            Some(info(CALLER_ENTRY, "main.caller", false))
        } else if (GOEXIT_ENTRY..GOEXIT_ENTRY + FAKE_SIZE).contains(&pc) {
            Some(info(GOEXIT_ENTRY, "runtime.goexit", true))
        } else if (ASYNC_PREEMPT_ENTRY..ASYNC_PREEMPT_ENTRY + FAKE_SIZE).contains(&pc) {
            Some(info(ASYNC_PREEMPT_ENTRY, "runtime.asyncPreempt", false))
        } else if (callee..callee + FAKE_SIZE).contains(&pc) {
            Some(info(callee, "main.callee", false))
        } else {
            None
        }
    }

    fn sp_delta(&self, func: &FuncInfo, pc: u64) -> Option<u64> {
        match func.entry {
            FUNC_ENTRY => {
                let i = usize::try_from((pc - FUNC_ENTRY) / 4).ok()?;
                self.f.pcsp.get(i).copied()
            }
            CALLER_ENTRY => Some(CALLER_FRAME),
            ASYNC_PREEMPT_ENTRY => Some(ASYNC_PREEMPT_FRAME),
            _ => Some(0),
        }
    }
}

/// Judges boundaries of synthesized functions of one generation.
#[derive(Clone, Copy, Debug)]
pub struct Checker {
    /// The generation.
    pub generation: Generation,
    /// The Go release whose runtime rules (pushCall, name prefixes) apply.
    pub version: GoVersion,
    /// Where the harness puts the stack.
    pub layout: Layout,
    /// `stktopsp`: goexit's frame.
    pub top_sp: u64,
    /// The caller's SP.
    pub csp: u64,
}

impl Checker {
    /// A checker for `generation`, with the runtime rules of a representative release
    /// (go1.19.8, go1.23.4, go1.24.3, go1.25.5: the corpus toolchains).
    pub fn new(generation: Generation) -> Checker {
        let (minor, patch) = match generation {
            Generation::G1_19 => (19, 8),
            Generation::G1_21_7 => (23, 4),
            Generation::G1_24 => (24, 3),
            Generation::Fixed => (25, 5),
        };
        let layout = Layout::above(0x10_0000);
        let top_sp = layout.stack_hi - 0x1000;
        Checker {
            generation,
            version: GoVersion { minor, patch },
            layout,
            top_sp,
            csp: top_sp - CALLER_FRAME,
        }
    }

    /// The caller's R29 (its frame record).
    pub fn caller_fp(&self) -> u64 {
        self.csp - 8
    }

    /// The words planted before the function runs: goexit's return PC above the caller's
    /// record, and the root's zero R29.
    fn chain_writes(&self) -> Vec<(u64, u64)> {
        vec![(self.csp, GOEXIT_ENTRY + 4), (self.csp - 8, 0)]
    }

    /// Judges the boundary at instruction `index` with registers `r` and memory `mem`.
    pub fn judge<M: Memory + ?Sized>(
        &self,
        f: &SyntheticFunction,
        index: usize,
        r: Regs,
        mem: &M,
    ) -> BoundaryJudgement {
        let world = World { f };
        let up = f.unsafe_point.get(index).copied().unwrap_or(-1);
        let mut run = index;
        while run > 0 && f.unsafe_point[run - 1] == up {
            run -= 1;
        }
        let facts = SafePointFacts {
            entry: FUNC_ENTRY,
            unsafe_point: up,
            run_start: FUNC_ENTRY + 4 * run as u64,
            has_locals_pointer_maps: true,
            asm: false,
            innermost_name: "main.synthetic",
        };
        let decision = decide(self.version, r.pc, &facts);
        let truth = |pc: u64| {
            [
                TrueFrame { pc, sp: r.sp },
                TrueFrame {
                    pc: CALLER_RET,
                    sp: self.csp,
                },
                TrueFrame {
                    pc: GOEXIT_ENTRY + 4,
                    sp: self.top_sp,
                },
            ]
        };
        // The same judgement as scan's and run's (`twixt_unwind::boundary`).
        let preempt = matches!(decision, Decision::Preempt { .. });
        let at = Interrupt {
            arch: Arch::Arm64,
            pc: r.pc,
            sp: r.sp,
            lr: r.lr,
            r29: r.fp,
        };
        let rules = Rules {
            version: self.version,
            async_preempt: AsyncPreemptFrame {
                return_pc: ASYNC_PREEMPT_ENTRY + 0x100,
                frame_size: ASYNC_PREEMPT_FRAME,
            },
            stktopsp: self.top_sp,
            max_frames: 64,
        };
        let check = check_go(&world, mem, &rules, at, decision, |pc| truth(pc).to_vec());
        let go = (!check.is_ok()).then(|| {
            let severity = if check.preemptible {
                Severity::Preemptible
            } else {
                Severity::SignalOnly
            };
            (check.judgement.verdict, severity)
        });
        let end = FUNC_ENTRY + 4 * f.words.len() as u64;
        let fj = check_fp(
            mem,
            at,
            preempt,
            FUNC_ENTRY..end,
            &[CALLER_RET, GOEXIT_ENTRY + 4],
            self.caller_fp(),
            64,
        )
        .judgement;
        let severity = if preempt {
            Severity::Preemptible
        } else {
            Severity::SignalOnly
        };
        let fp = (fj.verdict != FpVerdict::Ok).then_some((fj.verdict, severity));
        BoundaryJudgement { index, go, fp }
    }

    /// Runs `f` in the interpreter and judges every boundary, with the registers seen.
    pub fn check_exact(
        &self,
        f: &SyntheticFunction,
    ) -> Result<Vec<(BoundaryJudgement, Regs)>, String> {
        let mut m = Machine {
            x: [self.layout.scratch_pointer(); 31],
            sp: self.csp,
            pc: FUNC_ENTRY,
            mem: StackMemory {
                lo: self.layout.stack_lo,
                hi: self.layout.stack_hi,
                poison: self.layout.poison(),
                writes: self.chain_writes(),
            },
        };
        m.x[30] = CALLER_RET;
        m.x[29] = self.caller_fp();
        m.x[28] = self.layout.g;
        let mut out = Vec::with_capacity(f.ops.len());
        for (i, op) in f.ops.iter().enumerate() {
            let r = Regs {
                pc: m.pc,
                sp: m.sp,
                fp: m.x[29],
                lr: m.x[30],
            };
            out.push((self.judge(f, i, r, &m.mem), r));
            m.step(*op)?;
        }
        Ok(out)
    }

    /// The boundaries of `f` with a window, from the interpreter.
    pub fn windows(&self, f: &SyntheticFunction) -> Result<Vec<BoundaryJudgement>, String> {
        Ok(self
            .check_exact(f)?
            .into_iter()
            .map(|(j, _)| j)
            .filter(|j| j.go.is_some() || j.fp.is_some())
            .collect())
    }

    /// Runs `f` in Unicorn (through twixt-emu's harness) and judges every boundary.
    pub fn check_emulated(
        &self,
        f: &SyntheticFunction,
    ) -> Result<Vec<(BoundaryJudgement, Regs)>, String> {
        let mut code: Vec<u8> = f.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        code.resize(code.len().div_ceil(0x1000).max(1) * 0x1000, 0);
        let ranges = [MapRange {
            vaddr: FUNC_ENTRY,
            size: code.len() as u64,
            read: true,
            write: false,
            execute: true,
            data: &code,
        }];
        let mut harness: Harness<'_, EmuObserver> =
            Harness::new(&ranges, self.layout).map_err(|e| e.to_string())?;
        let mut observer = EmuObserver {
            checker: *self,
            f: f.clone(),
            out: Vec::new(),
        };
        let n = f.ops.len();
        let mut regions = Vec::new();
        match f.call {
            Some(c) => {
                regions.push((0, c));
                regions.push((c + 1, n - 1));
            }
            None => regions.push((0, n - 1)),
        }
        for (first, last) in regions {
            let frame = f.pcsp[first];
            let sp = self.csp - frame;
            let mut x = [self.layout.scratch_pointer(); 31];
            let mut writes = self.chain_writes();
            if frame > 0 {
                x[29] = sp - 8;
                writes.push((sp, CALLER_RET));
                writes.push((sp - 8, self.caller_fp()));
            } else {
                x[29] = self.caller_fp();
            }
            x[30] = if first == 0 {
                CALLER_RET
            } else {
                FUNC_ENTRY + 4 * first as u64
            };
            let start = RegionStart {
                pc: FUNC_ENTRY + 4 * first as u64,
                last: FUNC_ENTRY + 4 * last as u64,
                instructions: last - first + 1,
                x,
                sp,
                writes,
                unhooked_stores: Vec::new(),
            };
            let (obs, end) = harness.run(&start, observer);
            observer = obs;
            if end != RunEnd::Completed {
                return Err(format!("region {first}..={last}: {end:?}"));
            }
        }
        Ok(observer.out)
    }
}

struct EmuObserver {
    checker: Checker,
    f: SyntheticFunction,
    out: Vec<(BoundaryJudgement, Regs)>,
}

struct BoundaryMemory<'b, 'u, 'e, D>(&'b Boundary<'u, 'e, D>);

impl<D> Memory for BoundaryMemory<'_, '_, '_, D> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.0.read_u64(addr)
    }
}

impl Observer for EmuObserver {
    fn boundary(&mut self, b: &Boundary<'_, '_, HookState<Self>>) -> bool {
        let index = ((b.pc - FUNC_ENTRY) / 4) as usize;
        let r = Regs {
            pc: b.pc,
            sp: b.sp,
            fp: b.fp,
            lr: b.lr,
        };
        let j = self.checker.judge(&self.f, index, r, &BoundaryMemory(b));
        self.out.push((j, r));
        true
    }
}
