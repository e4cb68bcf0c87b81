//! The frame-pointer unwinder: the walk Go's execution tracer (`fpTracebackPCs`) and
//! external profilers (perf, eBPF) make on arm64 (R29) and amd64 (RBP).
//!
//! A frame record is two words: `[R29]` is the caller's R29 and `[R29+8]` the return PC.
//! amd64's record has the same shape (`PUSHQ BP; MOVQ SP, BP` after the CALL's push, or
//! the BP saved at the top of a `SUBQ`-allocated frame: `[RBP]` the caller's RBP,
//! `[RBP+8]` the return PC), and it always lies inside the frame, at or above SP.
//! The walk starts at the interrupted PC and R29 and follows records until R29 is 0 (the
//! goroutine's root frame saved a zero R29). It has no metadata: it trusts R29 completely,
//! so a half-computed R29, or one that still points into a popped frame, sends it into
//! whatever memory is there (golang/go#63830).
//!
//! Liveness rule: on arm64 Go keeps a function's frame record at `SP-8` (the saved R29 sits
//! just below SP, the saved LR at `[SP]`), and nothing the runtime injects touches that
//! word (pushCall writes `SP-16` and `SP-24`). Anything lower is free stack: an injected
//! asyncPreempt frame, a signal or a stack copy may overwrite it at any moment. So a record
//! below `SP-8` is reported even when the emulator's memory still happens to hold the old
//! words there, because the real machine gives no such guarantee. That is [`walk`], the
//! walk of the execution tracer after an asynchronous preemption. On amd64 pushCall and
//! asyncPreempt write `SP-8` and `SP-16`, so there every record below SP counts as lost
//! ([`Arch::lowest_live_record`]). A profiling signal, on the
//! other hand, runs on the signal stack and overwrites nothing, so a profiler's walk reads
//! the records as they are: [`walk_intact`].

use std::fmt;

use crate::{Arch, Memory};

/// Where the walk starts: the interrupted registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpStart {
    /// The interrupted PC (the first PC of the trace).
    pub pc: u64,
    /// SP at the interruption: records below `sp - 8` are in free stack.
    pub sp: u64,
    /// R29 at the interruption.
    pub fp: u64,
}

/// One frame record the walk followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpFrame {
    /// The record's address (the R29 value that pointed at it).
    pub record: u64,
    /// The return PC read at `record + 8`.
    pub ret: u64,
    /// The next R29 read at `record`.
    pub next: u64,
}

/// Why the walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FpEnd {
    /// R29 became 0: the root frame, a complete walk.
    Complete,
    /// The record lies below `SP-8`, in stack that is free to be overwritten.
    BelowSp {
        /// The record's address.
        record: u64,
    },
    /// The record is not 8-byte aligned (no real record is).
    Misaligned {
        /// The record's address.
        record: u64,
    },
    /// Reading the record faults: the tracer would crash.
    Unreadable {
        /// The record's address.
        record: u64,
    },
    /// The next record is not above this one: the chain loops or runs down the stack.
    NotAscending {
        /// The record's address.
        record: u64,
        /// The next R29 read there.
        next: u64,
    },
    /// More frames than the limit.
    TooManyFrames,
}

impl FpEnd {
    /// How a report describes the end of the walk.
    pub fn describe(&self) -> String {
        match self {
            FpEnd::Complete => "frame-pointer walk reached R29 = 0".into(),
            FpEnd::BelowSp { record } => {
                format!("R29 = {record:#x} points below SP-8, into free stack")
            }
            FpEnd::Misaligned { record } => format!("R29 = {record:#x} is not 8-byte aligned"),
            FpEnd::Unreadable { record } => {
                format!("reading the frame record at {record:#x} faults: the tracer crashes")
            }
            FpEnd::NotAscending { record, next } => {
                format!("the record at {record:#x} links to {next:#x}, not to a higher record")
            }
            FpEnd::TooManyFrames => "frame-pointer walk exceeded its frame limit".into(),
        }
    }
}

/// The frames a frame-pointer walk produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpTrace {
    /// The first PC.
    pub pc: u64,
    /// Records followed, innermost first.
    pub frames: Vec<FpFrame>,
    /// Why it stopped.
    pub end: FpEnd,
}

impl FpTrace {
    /// The PCs the tracer records: the first PC, then each return PC.
    pub fn pcs(&self) -> Vec<u64> {
        std::iter::once(self.pc)
            .chain(self.frames.iter().map(|f| f.ret))
            .collect()
    }
}

/// Walks frame records from `start`, at most `max_frames` of them, after an injected call
/// or a stack move on `arch`: a record below what survives the injected call (`SP-8` on
/// arm64, SP on amd64) ends the walk ([`FpEnd::BelowSp`]).
pub fn walk<M: Memory + ?Sized>(arch: Arch, mem: &M, start: FpStart, max_frames: usize) -> FpTrace {
    walk_from(mem, start, max_frames, arch.lowest_live_record(start.sp))
}

/// Walks frame records from `start` as a profiling signal sees them: nothing has
/// overwritten the stack below SP, so every record is read as it is.
pub fn walk_intact<M: Memory + ?Sized>(mem: &M, start: FpStart, max_frames: usize) -> FpTrace {
    walk_from(mem, start, max_frames, 0)
}

/// Drops the leading records whose return PC lies in `own` (the interrupted function).
///
/// Go's arm64 code generator calls `runtime.duffzero` and `runtime.duffcopy` with a record
/// built for them below SP (`ADR ret, R27; STP (R29, R27), -24(RSP); SUB $24, RSP, R29`,
/// obj7.go: "maintain FP for DUFFZERO"), so a walk that starts in the caller around the
/// call meets the caller twice. A profile then shows one extra frame of the same function:
/// harmless, and by design. `true_return` (the real return PC) is never dropped: a
/// function whose caller is itself, or that is its own planted caller, keeps that frame.
pub fn skip_own_records(trace: &FpTrace, own: std::ops::Range<u64>, true_return: u64) -> FpTrace {
    let skip = trace
        .frames
        .iter()
        .take_while(|f| own.contains(&f.ret) && f.ret != true_return)
        .count();
    FpTrace {
        pc: trace.pc,
        frames: trace.frames[skip..].to_vec(),
        end: trace.end,
    }
}

fn walk_from<M: Memory + ?Sized>(
    mem: &M,
    start: FpStart,
    max_frames: usize,
    lowest_live: u64,
) -> FpTrace {
    let mut frames = Vec::new();
    let mut fp = start.fp;
    let end = loop {
        if fp == 0 {
            break FpEnd::Complete;
        }
        if frames.len() >= max_frames {
            break FpEnd::TooManyFrames;
        }
        if fp < lowest_live {
            break FpEnd::BelowSp { record: fp };
        }
        if !fp.is_multiple_of(8) {
            break FpEnd::Misaligned { record: fp };
        }
        let (Some(next), Some(ret)) = (mem.read_u64(fp), mem.read_u64(fp.wrapping_add(8))) else {
            break FpEnd::Unreadable { record: fp };
        };
        frames.push(FpFrame {
            record: fp,
            ret,
            next,
        });
        if next != 0 && next <= fp {
            break FpEnd::NotAscending { record: fp, next };
        }
        fp = next;
    };
    FpTrace {
        pc: start.pc,
        frames,
        end,
    }
}

/// What went wrong with a frame-pointer walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FpVerdict {
    /// The walk matches the truth.
    Ok,
    /// R29 points into free stack below SP-8 (a popped frame's record: golang/go#63830).
    BelowSp,
    /// A return PC read from a record is not the true one (a half-computed R29, or a record
    /// that does not hold the chain).
    WrongReturnPc,
    /// The walk ended without reaching the root (unreadable, misaligned or looping record).
    Broken,
    /// The walk went past the root frame.
    TooLong,
}

impl FpVerdict {
    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            FpVerdict::Ok => "ok",
            FpVerdict::BelowSp => "fp-below-sp",
            FpVerdict::WrongReturnPc => "fp-wrong-return-pc",
            FpVerdict::Broken => "fp-broken-chain",
            FpVerdict::TooLong => "fp-past-root",
        }
    }
}

impl fmt::Display for FpVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The verdict with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpJudgement {
    /// What went wrong.
    pub verdict: FpVerdict,
    /// The record where it went wrong (the one holding a wrong return PC, or the last one
    /// read before the walk broke).
    pub culprit: Option<FpFrame>,
    /// The R29 value the walk could not use (for `BelowSp` and `Broken`).
    pub bad_record: Option<u64>,
    /// The true return PC at the divergence.
    pub expected: Option<u64>,
}

/// Compares `trace` with the true return PCs (innermost caller first, ending at the root).
///
/// `caller_fp` is the caller's R29: while the interrupted function has not yet built its
/// own record (or has already restored the caller's R29), the walk starts at the caller's
/// record and skips the function's direct caller. Every frame-pointer unwinder does that at
/// prologues and in frameless leaves, by design, so it is not a window.
pub fn judge(trace: &FpTrace, start: FpStart, truth: &[u64], caller_fp: u64) -> FpJudgement {
    let skip = usize::from(start.fp == caller_fp && !truth.is_empty());
    let want = &truth[skip..];
    for (i, expected) in want.iter().enumerate() {
        let Some(got) = trace.frames.get(i) else {
            let (verdict, bad) = match trace.end {
                FpEnd::BelowSp { record } => (FpVerdict::BelowSp, Some(record)),
                FpEnd::Misaligned { record }
                | FpEnd::Unreadable { record }
                | FpEnd::NotAscending { record, .. } => (FpVerdict::Broken, Some(record)),
                FpEnd::Complete | FpEnd::TooManyFrames => (FpVerdict::Broken, None),
            };
            return FpJudgement {
                verdict,
                culprit: i.checked_sub(1).and_then(|k| trace.frames.get(k)).copied(),
                bad_record: bad,
                expected: Some(*expected),
            };
        };
        if got.ret != *expected {
            return FpJudgement {
                verdict: FpVerdict::WrongReturnPc,
                culprit: Some(*got),
                bad_record: None,
                expected: Some(*expected),
            };
        }
    }
    if trace.frames.len() > want.len() || trace.end != FpEnd::Complete {
        return FpJudgement {
            verdict: FpVerdict::TooLong,
            culprit: trace.frames.get(want.len()).copied(),
            bad_record: None,
            expected: None,
        };
    }
    FpJudgement {
        verdict: FpVerdict::Ok,
        culprit: None,
        bad_record: None,
        expected: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WordMemory;

    const CALLER_FP: u64 = 0x7ff8;
    const RET: u64 = 0x1_0040;
    const ROOT_RET: u64 = 0x2_0004;

    /// A caller record at 0x7ff8 (root: next 0) and a callee frame of 0x60 at SP 0x7fa0.
    fn stack() -> WordMemory {
        let mut m = WordMemory::default();
        m.words.insert(CALLER_FP, 0);
        m.words.insert(CALLER_FP + 8, ROOT_RET);
        m.words.insert(0x7f98, CALLER_FP);
        m.words.insert(0x7fa0, RET);
        for a in (0x7000..0x7f98).chain(0x7fa8..0x7ff8).step_by(8) {
            m.words.insert(a, 0xdead_beef);
        }
        m
    }

    fn check(sp: u64, fp: u64) -> FpJudgement {
        let start = FpStart {
            pc: 0x1_0000,
            sp,
            fp,
        };
        let t = walk(Arch::Arm64, &stack(), start, 16);
        judge(&t, start, &[RET, ROOT_RET], CALLER_FP)
    }

    #[test]
    fn a_built_record_walks_to_the_root() {
        assert_eq!(check(0x7fa0, 0x7f98).verdict, FpVerdict::Ok);
        assert_eq!(
            walk(
                Arch::Arm64,
                &stack(),
                FpStart {
                    pc: 1,
                    sp: 0x7fa0,
                    fp: 0x7f98
                },
                16
            )
            .pcs(),
            vec![1, RET, ROOT_RET]
        );
    }

    #[test]
    fn the_callers_r29_skips_only_the_direct_caller() {
        assert_eq!(check(0x7fa0, CALLER_FP).verdict, FpVerdict::Ok);
        assert_eq!(check(0x8000, CALLER_FP).verdict, FpVerdict::Ok);
    }

    #[test]
    fn a_record_in_a_popped_frame_is_below_sp() {
        // The frame is popped (SP back at the caller's) but R29 still names its record.
        let j = check(0x8000, 0x7f98);
        assert_eq!(j.verdict, FpVerdict::BelowSp);
        assert_eq!(j.bad_record, Some(0x7f98));
    }

    #[test]
    fn a_half_computed_r29_reads_a_wrong_return_pc() {
        let j = check(0x7fa0, 0x7fa0 + 0x40);
        assert_eq!(j.verdict, FpVerdict::WrongReturnPc);
        assert_eq!(j.expected, Some(RET));
    }

    #[test]
    fn a_signal_reads_a_popped_record_as_it_is() {
        let start = FpStart {
            pc: 0x1_0000,
            sp: 0x8000,
            fp: 0x7f98,
        };
        let t = walk_intact(&stack(), start, 16);
        assert_eq!(t.end, FpEnd::Complete);
        assert_eq!(
            judge(&t, start, &[RET, ROOT_RET], CALLER_FP).verdict,
            FpVerdict::Ok
        );
    }

    #[test]
    fn a_record_built_for_duffzero_is_skipped() {
        // ADR ret, R27; STP (R29, R27), -24(RSP); SUB $24, RSP, R29 with SP 0x7fa0.
        let mut m = stack();
        m.words.insert(0x7f88, 0x7f98);
        m.words.insert(0x7f90, 0x1_0030);
        let start = FpStart {
            pc: 0x1_002c,
            sp: 0x7fa0,
            fp: 0x7f88,
        };
        let t = walk_intact(&m, start, 16);
        assert_eq!(
            judge(&t, start, &[RET, ROOT_RET], CALLER_FP).verdict,
            FpVerdict::WrongReturnPc
        );
        let t = skip_own_records(&t, 0x1_0000..0x1_0100, RET);
        assert_eq!(
            judge(&t, start, &[RET, ROOT_RET], CALLER_FP).verdict,
            FpVerdict::Ok
        );
        // After an injected call the same record is in free stack.
        assert_eq!(
            walk(Arch::Arm64, &m, start, 16).end,
            FpEnd::BelowSp { record: 0x7f88 }
        );
    }

    #[test]
    fn unreadable_and_looping_records_break_the_chain() {
        assert_eq!(check(0x7fa0, 0x9000).verdict, FpVerdict::Broken);
        assert_eq!(check(0x7fa0, 0x7f9c).verdict, FpVerdict::Broken);
        let mut m = stack();
        m.words.insert(0x7f98, 0x7f98);
        let start = FpStart {
            pc: 0,
            sp: 0x7fa0,
            fp: 0x7f98,
        };
        let t = walk(Arch::Arm64, &m, start, 16);
        assert!(matches!(t.end, FpEnd::NotAscending { .. }));
    }
}
