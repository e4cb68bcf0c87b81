//! How an asynchronous preemption lands on arm64 and amd64: the static part of
//! `runtime.isAsyncSafePoint` (may the runtime preempt at this PC, and where does it resume)
//! and `sigctxt.pushCall` (the injected call to `asyncPreempt`, per [`Arch`]), as pure
//! functions.

use std::fmt;

use crate::go::Start;
use crate::{Arch, Memory, Overlay};

/// Why Go's own unwinder can never be asked to walk from a boundary of the function `name`
/// on linux/arm64, or `None` when it can (from a profiling signal, a crash, a preemption).
///
/// Go's unwinder runs on a goroutine's behalf only from the runtime's signal handlers (and
/// from the goroutine itself, at calls). These functions run where no Go handler can:
///
/// - the signal handler entries (`runtime.sigtramp`, `runtime.cgoSigtramp`,
///   `runtime.sigprofNonGoWrapper<>`): `setsig` installs every handler with a full
///   `sa_mask` (os_linux.go: `sigfillset(&sa.sa_mask)`), so no signal interrupts them;
/// - `runtime.clone`: `newosproc` blocks every signal around it ("Disable signals during
///   clone, so that the new thread starts with signals disabled. It will enable them in
///   minit.");
/// - the process entry (`_rt0_arm64_linux`, the C-ABI `main` of rt0_linux_arm64.s,
///   `runtime.rt0_go`): they run before `mstart1` calls `initsig`, so no Go handler is
///   installed yet.
///
/// A frame-pointer unwinder outside the process (perf samples in the kernel) still lands
/// there; only the Go walk is moot.
pub fn go_unwinder_never_observes(name: &str) -> Option<&'static str> {
    match name {
        "runtime.sigtramp" | "runtime.cgoSigtramp" | "runtime.sigprofNonGoWrapper<>" => {
            Some("signal handler entry: every signal is blocked while it runs")
        }
        "runtime.clone" => Some("newosproc blocks every signal around clone"),
        "_rt0_arm64_linux" | "main" | "runtime.rt0_go" => {
            Some("process entry: the runtime has not installed its signal handlers yet")
        }
        _ => None,
    }
}

/// A Go release, `go1.MINOR.PATCH`; the preemption rules changed between releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoVersion {
    /// Minor version (23 for go1.23.4).
    pub minor: u32,
    /// Patch version (4 for go1.23.4; 0 for release candidates and go1.N).
    pub patch: u32,
}

impl GoVersion {
    /// Parses `go1.23.4`, `go1.25.0`, `go1.21rc2` (as patch 0), `go1.22`.
    pub fn parse(text: &str) -> Option<GoVersion> {
        let rest = text.strip_prefix("go1.")?;
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let minor = rest[..digits_end].parse().ok()?;
        let after = &rest[digits_end..];
        let patch = match after.strip_prefix('.') {
            Some(p) => {
                let end = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
                p[..end].parse().ok()?
            }
            None => 0,
        };
        Some(GoVersion { minor, patch })
    }

    /// The name prefixes whose functions the runtime never preempts asynchronously
    /// (checked on the innermost inlined function at the PC).
    pub fn non_preemptible_prefixes(self) -> &'static [&'static str] {
        // runtime/preempt.go: "internal/runtime/" joined in 1.23.9-era backports and 1.24;
        // "runtime/internal/" was dropped in 1.25 when those packages moved.
        const OLD: &[&str] = &["runtime.", "runtime/internal/", "reflect."];
        const BOTH: &[&str] = &[
            "runtime.",
            "runtime/internal/",
            "internal/runtime/",
            "reflect.",
        ];
        const NEW: &[&str] = &["runtime.", "internal/runtime/", "reflect."];
        match (self.minor, self.patch) {
            (m, _) if m < 23 => OLD,
            (23, p) if p < 9 => OLD,
            (23, _) | (24, _) => BOTH,
            _ => NEW,
        }
    }

    /// Whether pushCall also saves R29 below the spilled LR (Go 1.21 and later).
    pub fn push_call_saves_r29(self) -> bool {
        self.minor >= 21
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "go1.{}.{}", self.minor, self.patch)
    }
}

/// Metadata at a PC that `isAsyncSafePoint` consults.
#[derive(Clone, Debug)]
pub struct SafePointFacts<'a> {
    /// The function's entry.
    pub entry: u64,
    /// The UnsafePoint pcdata value at the PC (-1 when the table is absent).
    pub unsafe_point: i32,
    /// Start PC of the run of equal UnsafePoint values containing the PC.
    pub run_start: u64,
    /// `FUNCDATA_LocalsPointerMaps` present.
    pub has_locals_pointer_maps: bool,
    /// `FuncFlagAsm`.
    pub asm: bool,
    /// Name of the innermost (possibly inlined) function at the PC.
    pub innermost_name: &'a str,
}

/// The runtime's decision at a PC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The runtime would preempt here and resume at `resume_pc`.
    Preempt {
        /// Where execution resumes after the preemption (the PC itself, the start of a
        /// restartable run, or the function entry).
        resume_pc: u64,
    },
    /// The runtime would not preempt here.
    Refuse(Refusal),
}

/// Why the runtime would not preempt at a PC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// UnsafePoint is -2 (`UnsafePointUnsafe`).
    UnsafePoint,
    /// Assembly function (`FuncFlagAsm`).
    Assembly,
    /// No locals pointer maps.
    NoLocalsPointerMaps,
    /// Innermost function is in the runtime or reflect.
    RuntimeName(&'static str),
    /// A restartable run whose start is more than 20 bytes back ("bad restart PC").
    BadRestart,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnsafePoint => write!(f, "marked unsafe (UnsafePoint -2)"),
            Refusal::Assembly => write!(f, "assembly function"),
            Refusal::NoLocalsPointerMaps => write!(f, "no locals pointer maps"),
            Refusal::RuntimeName(p) => write!(f, "innermost function name starts with {p}"),
            Refusal::BadRestart => write!(f, "restartable run starts more than 20 bytes back"),
        }
    }
}

/// UnsafePoint pcdata values (`internal/abi`).
pub mod unsafe_point {
    /// A safe point.
    pub const SAFE: i32 = -1;
    /// Never preempt here.
    pub const UNSAFE: i32 = -2;
    /// Restartable sequence, resume at its first PC.
    pub const RESTART1: i32 = -3;
    /// Restartable sequence, resume at its first PC.
    pub const RESTART2: i32 = -4;
    /// Resume at the function entry.
    pub const RESTART_AT_ENTRY: i32 = -5;
}

/// The static part of `isAsyncSafePoint` at `pc`, in the order the runtime checks it.
pub fn decide(version: GoVersion, pc: u64, facts: &SafePointFacts<'_>) -> Decision {
    if facts.unsafe_point == unsafe_point::UNSAFE {
        return Decision::Refuse(Refusal::UnsafePoint);
    }
    if facts.asm {
        return Decision::Refuse(Refusal::Assembly);
    }
    if !facts.has_locals_pointer_maps {
        return Decision::Refuse(Refusal::NoLocalsPointerMaps);
    }
    for prefix in version.non_preemptible_prefixes() {
        if facts.innermost_name.starts_with(prefix) {
            return Decision::Refuse(Refusal::RuntimeName(prefix));
        }
    }
    match facts.unsafe_point {
        unsafe_point::RESTART1 | unsafe_point::RESTART2 => {
            // The runtime throws "bad restart PC" in this case; it never preempts.
            if facts.run_start == 0 || facts.run_start > pc || pc - facts.run_start > 20 {
                return Decision::Refuse(Refusal::BadRestart);
            }
            Decision::Preempt {
                resume_pc: facts.run_start,
            }
        }
        unsafe_point::RESTART_AT_ENTRY => Decision::Preempt {
            resume_pc: facts.entry,
        },
        _ => Decision::Preempt { resume_pc: pc },
    }
}

/// Where `runtime.asyncPreempt` sits while the goroutine is stopped: the return PC of its
/// call to `asyncPreempt2` and its frame size there (its pcsp value: 496 bytes on arm64
/// before go1.27; on amd64 the pushed BP and flags and `ADJSP`'s save area, 8 + 8 + 368 in
/// preempt_amd64.s, not counting the resume PC pushCall pushed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncPreemptFrame {
    /// The PC after asyncPreempt's `CALL asyncPreempt2`.
    pub return_pc: u64,
    /// pcsp of asyncPreempt at that PC.
    pub frame_size: u64,
}

/// Interrupted registers that pushCall reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// SP at the interruption.
    pub sp: u64,
    /// R30 (LR) at the interruption (unused on amd64, which has no link register).
    pub lr: u64,
    /// The frame pointer at the interruption: R29 on arm64, RBP on amd64.
    pub r29: u64,
}

/// What `sigctxt.pushCall(asyncPreempt, resume_pc)` and asyncPreempt's prologue write, and
/// where a stack scan of the stopped goroutine then starts.
///
/// pushCall: `sp -= 16; [sp] = LR; [sp-8] = R29 (1.21+); LR = resume; PC = asyncPreempt`.
/// asyncPreempt: `MOVD R30, -F(RSP); SUB $F, RSP; MOVD R29, -8(RSP)`, so `[sp-F]` holds the
/// resume PC. The walk starts in asyncPreempt's frame, which is not the innermost one
/// (asyncPreempt2 and the scheduler are below it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedCall {
    /// The words written, `(address, value)`, in the order the runtime writes them.
    pub writes: Vec<(u64, u64)>,
    /// asyncPreempt's SP once its prologue has run.
    pub ap_sp: u64,
    /// Where a strict walk of the stopped goroutine starts.
    pub start: Start,
}

/// The injected call at `regs`, resuming at `resume_pc` (see [`PushedCall`]), on `arch`.
///
/// On amd64 (signal_amd64.go, preempt_amd64.s): pushCall `sp -= 8; [sp] = resume`, then
/// asyncPreempt `PUSHQ BP` (`[sp-8] = RBP`), `PUSHFQ` (the flags, which no unwinder reads)
/// and `ADJSP`: its SP at the call to asyncPreempt2 is `sp - F` where `F` is its pcsp
/// there, and the walk's `fp - 8` is the pushed resume PC.
pub fn push_call(
    arch: Arch,
    version: GoVersion,
    regs: Interrupted,
    resume_pc: u64,
    frame: AsyncPreemptFrame,
) -> PushedCall {
    if arch == Arch::Amd64 {
        let pushed = regs.sp.wrapping_sub(8);
        let ap_sp = pushed.wrapping_sub(frame.frame_size);
        return PushedCall {
            writes: vec![(pushed, resume_pc), (pushed.wrapping_sub(8), regs.r29)],
            ap_sp,
            start: Start {
                pc: frame.return_pc,
                sp: ap_sp,
                lr: 0,
                innermost: false,
            },
        };
    }
    let pushed = regs.sp.wrapping_sub(16);
    let mut writes = vec![(pushed, regs.lr)];
    if version.push_call_saves_r29() {
        writes.push((pushed.wrapping_sub(8), regs.r29));
    }
    let ap_sp = pushed.wrapping_sub(frame.frame_size);
    writes.push((ap_sp, resume_pc));
    writes.push((ap_sp.wrapping_sub(8), regs.r29));
    PushedCall {
        writes,
        ap_sp,
        start: Start {
            pc: frame.return_pc,
            sp: ap_sp,
            lr: 0,
            innermost: false,
        },
    }
}

/// Performs [`push_call`] on `memory`, returning where a stack scan of the stopped
/// goroutine reaches asyncPreempt.
pub fn inject<M: Memory + ?Sized>(
    memory: &mut Overlay<'_, M>,
    arch: Arch,
    version: GoVersion,
    regs: Interrupted,
    resume_pc: u64,
    frame: AsyncPreemptFrame,
) -> Start {
    let call = push_call(arch, version, regs, resume_pc, frame);
    for (addr, value) in call.writes {
        memory.write_u64(addr, value);
    }
    call.start
}

/// Where asyncPreempt (preempt_arm64.s) keeps the registers it saves, relative to its SP:
/// R0..R17 and R19..R26 from +8 (R18 is the platform register, R27 the temporary it uses,
/// R28 is g and R29/R30 are the frame record), NZCV at +216, FPSR at +224, and while the
/// frame is big enough to hold them D0..D31 from +232. Go 1.27 keeps the vector registers in
/// `p.xRegs` instead (a 240-byte frame), off the goroutine stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveArea {
    /// asyncPreempt's frame size in this binary.
    pub frame_size: u64,
}

impl SaveArea {
    /// The general-purpose registers saved, in slot order.
    pub const GPRS: [u8; 26] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25,
        26,
    ];
    /// NZCV's slot.
    pub const NZCV: u64 = 216;
    /// FPSR's slot.
    pub const FPSR: u64 = 224;

    /// The slot of the `i`th register of [`SaveArea::GPRS`].
    pub fn gpr_slot(i: usize) -> u64 {
        8 + 8 * i as u64
    }

    /// Whether D0..D31 are saved in the frame.
    pub fn fp_in_frame(self) -> bool {
        self.frame_size >= Self::d_slot(32)
    }

    /// The slot of D`i`.
    pub fn d_slot(i: usize) -> u64 {
        232 + 8 * i as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            GoVersion::parse("go1.23.4"),
            Some(GoVersion {
                minor: 23,
                patch: 4
            })
        );
        assert_eq!(
            GoVersion::parse("go1.25.0"),
            Some(GoVersion {
                minor: 25,
                patch: 0
            })
        );
        assert_eq!(
            GoVersion::parse("go1.22"),
            Some(GoVersion {
                minor: 22,
                patch: 0
            })
        );
        assert_eq!(
            GoVersion::parse("go1.25rc2"),
            Some(GoVersion {
                minor: 25,
                patch: 0
            })
        );
        assert_eq!(GoVersion::parse("devel"), None);
    }

    #[test]
    fn prefixes_follow_the_runtime_source() {
        let v = |s| GoVersion::parse(s).unwrap().non_preemptible_prefixes();
        assert!(!v("go1.23.4").contains(&"internal/runtime/"));
        assert!(v("go1.23.9").contains(&"internal/runtime/"));
        assert!(v("go1.24.3").contains(&"runtime/internal/"));
        assert!(!v("go1.25.0").contains(&"runtime/internal/"));
    }

    fn facts(up: i32, run_start: u64) -> SafePointFacts<'static> {
        SafePointFacts {
            entry: 0x1000,
            unsafe_point: up,
            run_start,
            has_locals_pointer_maps: true,
            asm: false,
            innermost_name: "main.f",
        }
    }

    #[test]
    fn decisions_follow_is_async_safe_point() {
        let v = GoVersion {
            minor: 23,
            patch: 4,
        };
        assert_eq!(
            decide(v, 0x1010, &facts(-1, 0x1000)),
            Decision::Preempt { resume_pc: 0x1010 }
        );
        assert_eq!(
            decide(v, 0x1010, &facts(-2, 0x1000)),
            Decision::Refuse(Refusal::UnsafePoint)
        );
        assert_eq!(
            decide(v, 0x1010, &facts(-3, 0x1008)),
            Decision::Preempt { resume_pc: 0x1008 }
        );
        assert_eq!(
            decide(v, 0x1040, &facts(-4, 0x1008)),
            Decision::Refuse(Refusal::BadRestart)
        );
        assert_eq!(
            decide(v, 0x1040, &facts(-5, 0x1030)),
            Decision::Preempt { resume_pc: 0x1000 }
        );
        let mut f = facts(-1, 0x1000);
        f.innermost_name = "runtime.memmove";
        assert_eq!(
            decide(v, 0x1010, &f),
            Decision::Refuse(Refusal::RuntimeName("runtime."))
        );
        f.innermost_name = "main.f";
        f.asm = true;
        assert_eq!(decide(v, 0x1010, &f), Decision::Refuse(Refusal::Assembly));
    }
}
