//! The instruction sets the model unwinders know, and the few rules of Go's runtime that
//! differ between them (`usesLR`, `sys.MinFrameSize`, where the return PC and the frame
//! record live). Everything else in the unwinders is the same code for every architecture,
//! as it is in the runtime's traceback.go.
//!
//! - **arm64** has a link register: a call leaves the return PC in R30, the prologue
//!   stores it at `[SP]` and the caller's SP is `SP + pcsp`. An injected call (pushCall)
//!   spills R30 to the stack, and the unwinder hops over that spill.
//! - **amd64** has none: `CALL` pushes the return PC, so at every PC of a function the
//!   return PC is at `[SP + pcsp]` and the caller's SP is `SP + pcsp + 8` (traceback.go:
//!   "On x86, call instruction pushes return PC before entering new function.":
//!   `frame.fp += goarch.PtrSize`, `lrPtr = frame.fp - goarch.PtrSize`). pushCall pushes
//!   the resume PC like a `CALL`, so there is no hop.
//!
//! What does not differ: the static part of `isAsyncSafePoint` (`preempt::decide`: the
//! UnsafePoint values, restartable runs and the name prefixes; its only per-architecture
//! rule is for mips) and the shape of a frame record (`[FP]` the caller's frame pointer,
//! `[FP+8]` the return PC).

use std::fmt;

/// An instruction set whose Go unwinding rules are modelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Arch {
    /// linux/arm64 (the default: every model was first written for it).
    #[default]
    Arm64,
    /// linux/amd64.
    Amd64,
}

impl Arch {
    /// Go's `usesLR`: whether calls leave the return PC in a link register.
    pub fn uses_lr(self) -> bool {
        self == Arch::Arm64
    }

    /// Go's `sys.MinFrameSize`: the bytes every non-empty frame reserves at its bottom
    /// (arm64's saved-LR slot; 0 on amd64).
    pub fn min_frame_size(self) -> u64 {
        match self {
            Arch::Arm64 => 8,
            Arch::Amd64 => 0,
        }
    }

    /// The caller's SP (Go's `frame.fp`) of a frame at `sp` whose pcsp value is `delta`.
    pub fn caller_sp(self, sp: u64, delta: u64) -> u64 {
        let fp = sp.wrapping_add(delta);
        if self.uses_lr() {
            fp
        } else {
            fp.wrapping_add(8)
        }
    }

    /// The lowest address a frame record may have and survive an injected call at `sp`:
    /// arm64's pushCall writes `SP-16` and `SP-24`, so a record at `SP-8` (where every
    /// arm64 Go function keeps its own) is safe; amd64's pushCall writes `SP-8` and
    /// asyncPreempt's `PUSHQ BP` `SP-16`, so nothing below SP is.
    pub fn lowest_live_record(self, sp: u64) -> u64 {
        match self {
            Arch::Arm64 => sp.wrapping_sub(8),
            Arch::Amd64 => sp,
        }
    }

    /// The frame-pointer register's name, for reports.
    pub fn frame_pointer(self) -> &'static str {
        match self {
            Arch::Arm64 => "R29",
            Arch::Amd64 => "RBP",
        }
    }

    /// The stable name (`arm64`, `amd64`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::Amd64 => "amd64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_traceback_go() {
        // A 0x18-byte frame at SP 0x1000.
        assert_eq!(Arch::Arm64.caller_sp(0x1000, 0x18), 0x1018);
        assert_eq!(Arch::Amd64.caller_sp(0x1000, 0x18), 0x1020);
        // At entry (pcsp 0) amd64's return PC is at [SP], so the caller's SP is SP+8.
        assert_eq!(Arch::Amd64.caller_sp(0x1000, 0), 0x1008);
        assert_eq!(Arch::Arm64.min_frame_size(), 8);
        assert_eq!(Arch::Amd64.min_frame_size(), 0);
        assert_eq!(Arch::Arm64.lowest_live_record(0x1000), 0xff8);
        assert_eq!(Arch::Amd64.lowest_live_record(0x1000), 0x1000);
        assert!(Arch::Arm64.uses_lr() && !Arch::Amd64.uses_lr());
    }
}
