//! Judging a modelled walk against the truth: the call chain the harness planted and kept.
//!
//! The first frame where the model and the truth disagree decides the verdict, because
//! everything after it is built on the wrong frame. The truth is `(pc, sp)` per frame from
//! the interrupted function up to the top frame.

use std::fmt;

use crate::go::{End, Frame, Traceback};

/// One frame of the real call chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrueFrame {
    /// The PC in this frame (the interrupted or resume PC for the first, return PCs above).
    pub pc: u64,
    /// The frame's SP.
    pub sp: u64,
}

/// What went wrong, named after what the runtime would print or do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// The walk matches the truth.
    Ok,
    /// The return PC is right but the caller's SP is not.
    WrongCallerSp,
    /// The return PC read is in no function: "unexpected return pc", then a throw in a GC scan.
    UnexpectedReturnPc,
    /// The return PC read is a valid PC, but not the caller's: a silently wrong traceback.
    WrongReturnPc,
    /// The walk stopped before the top or ended at the wrong SP.
    DidNotUnwindCompletely,
    /// "traceback stuck".
    Stuck,
    /// The unwinder read memory that faults.
    MemoryReadFault,
    /// A strict walk met an SPWrite function above the innermost frame.
    UnexpectedSpWrite,
    /// No pcsp entry for a PC the walk reached.
    InvalidSpDelta,
}

impl Verdict {
    /// All verdicts, in report order.
    pub const ALL: [Verdict; 9] = [
        Verdict::Ok,
        Verdict::WrongCallerSp,
        Verdict::UnexpectedReturnPc,
        Verdict::WrongReturnPc,
        Verdict::DidNotUnwindCompletely,
        Verdict::Stuck,
        Verdict::MemoryReadFault,
        Verdict::UnexpectedSpWrite,
        Verdict::InvalidSpDelta,
    ];

    /// The stable name used in JSON and text reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::WrongCallerSp => "wrong-caller-sp",
            Verdict::UnexpectedReturnPc => "unexpected-return-pc",
            Verdict::WrongReturnPc => "wrong-return-pc",
            Verdict::DidNotUnwindCompletely => "did-not-unwind-completely",
            Verdict::Stuck => "stuck",
            Verdict::MemoryReadFault => "memory-read-fault",
            Verdict::UnexpectedSpWrite => "unexpected-spwrite",
            Verdict::InvalidSpDelta => "invalid-spdelta",
        }
    }

    /// Parses a name produced by [`Verdict::name`].
    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The verdict with the evidence for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// What went wrong.
    pub verdict: Verdict,
    /// Index (into the truth) of the first frame that is wrong or missing; `None` when ok.
    pub frame: Option<usize>,
    /// The frame whose unwinding went wrong (the one below `frame`), as the model resolved it.
    pub culprit: Option<Frame>,
    /// The caller's true `(pc, sp)` at the divergence.
    pub expected: Option<TrueFrame>,
    /// What the model computed there: `(return pc, caller sp)`.
    pub got: Option<(u64, u64)>,
    /// What the runtime would do at the end of the walk.
    pub outcome: End,
}

impl Judgement {
    /// The walk agrees with the truth.
    fn ok(outcome: End) -> Judgement {
        Judgement {
            verdict: Verdict::Ok,
            frame: None,
            culprit: None,
            expected: None,
            got: None,
            outcome,
        }
    }
}

/// Compares `walk` (after skipping `skip` leading frames that the truth does not list, such
/// as asyncPreempt's) with `truth`.
pub fn judge(walk: &Traceback, skip: usize, truth: &[TrueFrame]) -> Judgement {
    let frames = walk.frames.get(skip..).unwrap_or(&[]);
    let verdict_of_end = |end: &End| match end {
        End::Complete | End::Truncated | End::TooManyFrames => Verdict::DidNotUnwindCompletely,
        End::UnknownPc { .. } | End::UnexpectedReturnPc { .. } => Verdict::UnexpectedReturnPc,
        End::Stuck => Verdict::Stuck,
        End::DidNotUnwindCompletely { .. } => Verdict::DidNotUnwindCompletely,
        End::UnexpectedSpWrite { .. } => Verdict::UnexpectedSpWrite,
        End::InvalidSpDelta { .. } => Verdict::InvalidSpDelta,
        End::ReadFault { .. } => Verdict::MemoryReadFault,
    };
    for (i, want) in truth.iter().enumerate() {
        let culprit = if i == 0 {
            skip.checked_sub(1).and_then(|k| walk.frames.get(k))
        } else {
            frames.get(i - 1)
        };
        let Some(got) = frames.get(i) else {
            // The walk ended before reaching this frame. Profiling and crash walks stop at an
            // SPWrite function by design (its SP cannot be described): not a window.
            if walk.end == End::Truncated && culprit.is_some_and(|c| c.func.sp_write) {
                return Judgement::ok(walk.end.clone());
            }
            let got = culprit.map(|c| (c.lr, c.fp));
            return Judgement {
                verdict: verdict_of_end(&walk.end),
                frame: Some(i),
                culprit: culprit.cloned(),
                expected: Some(*want),
                got,
                outcome: walk.end.clone(),
            };
        };
        if got.pc != want.pc || got.sp != want.sp {
            let verdict = if got.pc != want.pc {
                Verdict::WrongReturnPc
            } else {
                Verdict::WrongCallerSp
            };
            return Judgement {
                verdict,
                frame: Some(i),
                culprit: culprit.cloned(),
                expected: Some(*want),
                got: Some((got.pc, got.sp)),
                outcome: walk.end.clone(),
            };
        }
    }
    match &walk.end {
        End::Complete | End::Truncated if frames.len() <= truth.len() => {
            Judgement::ok(walk.end.clone())
        }
        end => Judgement {
            verdict: verdict_of_end(end),
            frame: Some(truth.len().saturating_sub(1)),
            culprit: frames.last().cloned(),
            expected: truth.last().copied(),
            got: frames.last().map(|f| (f.lr, f.fp)),
            outcome: end.clone(),
        },
    }
}
