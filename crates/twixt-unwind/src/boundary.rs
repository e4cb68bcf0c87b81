//! One interrupted boundary judged by both model unwinders, as every driver needs it (the
//! region scan, whole-call runs, the synthetic sweep), so that they cannot drift apart.
//!
//! The Go traceback: where the runtime would preempt (`decide`), pushCall and asyncPreempt
//! are performed on an overlay and the stack is walked strictly, as the GC's scan of the
//! stopped goroutine does; if that walk goes wrong, that is the verdict (preemptible).
//! Otherwise the stack is walked as a profiling signal does (innermost frame at the
//! interrupted PC, errors silent), and a wrong walk there is signal-only.
//!
//! The frame-pointer walk: where the runtime would preempt, Go's execution tracer later
//! walks from asyncPreempt's frame into the interrupted R29 after the injected frame (and
//! perhaps a stack move) overwrote the stack below SP, so records below SP-8 count as lost
//! ([`fp::walk`]); elsewhere only a profiling signal can look, and it overwrites nothing
//! ([`fp::walk_intact`]). Records the function built for its own duffzero/duffcopy calls
//! are skipped ([`fp::skip_own_records`]).

use std::ops::Range;

use crate::fp::{self, FpJudgement, FpStart, FpTrace};
use crate::go::{Mode, Start, Traceback, Walk, unwind};
use crate::preempt::{AsyncPreemptFrame, Decision, GoVersion, Interrupted, inject};
use crate::verdict::{Judgement, TrueFrame, Verdict, judge};
use crate::{Arch, Memory, Metadata, Overlay};

/// The registers at the interrupted boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupt {
    /// The instruction set (its unwinding and pushCall rules).
    pub arch: Arch,
    /// The PC about to execute.
    pub pc: u64,
    /// SP.
    pub sp: u64,
    /// R30 (0 on amd64, which has no link register).
    pub lr: u64,
    /// The frame pointer: R29 on arm64, RBP on amd64.
    pub r29: u64,
}

/// What the runtime model needs besides the boundary itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The binary's Go version (pushCall changed in 1.21).
    pub version: GoVersion,
    /// asyncPreempt's return PC and frame size in this binary.
    pub async_preempt: AsyncPreemptFrame,
    /// The goroutine's stktopsp (where a strict walk must end).
    pub stktopsp: u64,
    /// The longest walk.
    pub max_frames: usize,
}

/// The Go traceback's verdict at a boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoCheck {
    /// Whether `judgement` is the GC scan's after a preemption (it went wrong); `false`
    /// when it is the profiling signal's walk.
    pub preemptible: bool,
    /// Where execution resumes when the runtime would preempt here.
    pub resume_pc: Option<u64>,
    /// The walk judged.
    pub traceback: Traceback,
    /// Leading frames of `traceback` the truth does not list (asyncPreempt's).
    pub skip: usize,
    /// Its verdict against the truth.
    pub judgement: Judgement,
}

impl GoCheck {
    /// The walk agrees with the truth.
    pub fn is_ok(&self) -> bool {
        self.judgement.verdict == Verdict::Ok
    }
}

/// Judges the Go traceback at `at`. `truth(pc)` is the real chain with the innermost frame
/// at `pc` (the resume PC after a preemption, the interrupted PC for a signal).
pub fn check_go<Md, M, T>(
    meta: &Md,
    mem: &M,
    rules: &Rules,
    at: Interrupt,
    decision: Decision,
    truth: T,
) -> GoCheck
where
    Md: Metadata + ?Sized,
    M: Memory + ?Sized,
    T: Fn(u64) -> Vec<TrueFrame>,
{
    let resume_pc = match decision {
        Decision::Preempt { resume_pc } => Some(resume_pc),
        Decision::Refuse(_) => None,
    };
    if let Some(resume) = resume_pc {
        let mut overlay = Overlay::new(mem);
        let regs = Interrupted {
            sp: at.sp,
            lr: at.lr,
            r29: at.r29,
        };
        let start = inject(
            &mut overlay,
            at.arch,
            rules.version,
            regs,
            resume,
            rules.async_preempt,
        );
        let walk = Walk {
            mode: Mode::Strict,
            stktopsp: rules.stktopsp,
            max_frames: rules.max_frames,
            arch: at.arch,
        };
        let traceback = unwind(meta, &overlay, start, walk);
        let judgement = judge(&traceback, 1, &truth(resume));
        if judgement.verdict != Verdict::Ok {
            return GoCheck {
                preemptible: true,
                resume_pc,
                traceback,
                skip: 1,
                judgement,
            };
        }
    }
    let start = Start {
        pc: at.pc,
        sp: at.sp,
        lr: at.lr,
        innermost: true,
    };
    let walk = Walk {
        mode: Mode::Silent,
        stktopsp: rules.stktopsp,
        max_frames: rules.max_frames,
        arch: at.arch,
    };
    let traceback = unwind(meta, mem, start, walk);
    let judgement = judge(&traceback, 0, &truth(at.pc));
    GoCheck {
        preemptible: false,
        resume_pc,
        traceback,
        skip: 0,
        judgement,
    }
}

/// The frame-pointer walk's verdict at a boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpCheck {
    /// The walk (after skipping the function's own duff records).
    pub trace: FpTrace,
    /// Its verdict against the truth.
    pub judgement: FpJudgement,
}

/// Judges the frame-pointer walk at `at`: `preemptible` when the runtime would preempt
/// there, `own` the interrupted function's code, `truth_returns` the real return PCs
/// (innermost caller first) and `caller_r29` the caller's R29.
pub fn check_fp<M: Memory + ?Sized>(
    mem: &M,
    at: Interrupt,
    preemptible: bool,
    own: Range<u64>,
    truth_returns: &[u64],
    caller_r29: u64,
    max_frames: usize,
) -> FpCheck {
    let start = FpStart {
        pc: at.pc,
        sp: at.sp,
        fp: at.r29,
    };
    let trace = if preemptible {
        fp::walk(at.arch, mem, start, max_frames)
    } else {
        fp::walk_intact(mem, start, max_frames)
    };
    let trace = fp::skip_own_records(&trace, own, truth_returns.first().copied().unwrap_or(0));
    let judgement = fp::judge(&trace, start, truth_returns, caller_r29);
    FpCheck { trace, judgement }
}
