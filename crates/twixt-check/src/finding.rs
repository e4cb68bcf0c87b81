//! What a scan produces: findings with their evidence, unanalysed functions with their
//! reasons, and a summary. These are plain data (serde) so renderers and baselines can
//! read them back; every field is deterministic (no absolute paths, no timestamps, and
//! stack addresses relative to the caller's SP).

use serde::{Deserialize, Serialize};

/// Whether the runtime itself would interrupt here, or only another observer could.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The runtime's asynchronous preemption may land here (isAsyncSafePoint says yes):
    /// a GC stack scan of the stopped goroutine breaks.
    Preemptible,
    /// Only a profiling signal, a crash handler or another asynchronous observer can land
    /// here: a wrong profile or crash traceback, not a crash.
    SignalOnly,
}

impl Severity {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Preemptible => "preemptible",
            Severity::SignalOnly => "signal-only",
        }
    }
}

/// One line of the annotated window around a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextLine {
    /// PC (hex).
    pub pc: String,
    /// Offset from the function entry.
    pub offset: u64,
    /// Disassembly.
    pub instruction: String,
    /// Actual SP below the caller's SP at this boundary, as the harness observed it
    /// (`None` when the boundary was not reached in the same region).
    pub sp_below_caller: Option<i64>,
    /// The pcsp value at this PC.
    pub pcsp: Option<u64>,
    /// Whether this is the boundary of the finding.
    pub here: bool,
}

/// One boundary where an unwinder goes wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Function name.
    pub function: String,
    /// PC of the boundary (hex): the instruction about to execute.
    pub pc: String,
    /// Offset from the function entry.
    pub offset: u64,
    /// The instruction at the boundary.
    pub instruction: String,
    /// Which model unwinder went wrong ("go": the runtime's traceback).
    pub unwinder: String,
    /// What went wrong (see `Verdict::name`).
    pub verdict: String,
    /// Whether the runtime's asynchronous preemption may land here.
    pub preemptible: bool,
    /// `preemptible` or `signal-only`.
    pub severity: Severity,
    /// Source file (as recorded, `-trimpath` relative).
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Actual SP below the caller's SP.
    pub sp_below_caller: i64,
    /// The frame size pcsp records at this PC (what the unwinder believes).
    pub pcsp: u64,
    /// Where execution resumes after a preemption here, when not the PC itself (hex).
    pub resume_pc: Option<String>,
    /// The stack slot the unwinder read the return PC from, relative to the actual SP.
    pub slot_sp_offset: Option<i64>,
    /// The value it read there (hex).
    pub read_value: Option<String>,
    /// What that value is: a function+offset, or "in no function".
    pub read_symbol: Option<String>,
    /// The true return PC (hex).
    pub expected_return_pc: String,
    /// Where the true return PC is, relative to the actual SP, if it is on the stack.
    pub expected_slot_sp_offset: Option<i64>,
    /// The caller SP the unwinder computed, below the true caller SP (negative: above).
    pub computed_caller_sp_error: Option<i64>,
    /// What the runtime does at the end of the walk.
    pub outcome: String,
    /// R29 relative to the actual SP at the boundary (frame-pointer findings).
    #[serde(default)]
    pub r29_sp_offset: Option<i64>,
    /// The annotated instructions around the boundary.
    pub context: Vec<ContextLine>,
}

/// Where a finding stands: the facts every finding carries, whichever unwinder it is
/// about and whichever driver (scan, run) made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Function name.
    pub function: String,
    /// Its entry PC.
    pub entry: u64,
    /// The boundary's PC.
    pub pc: u64,
    /// Disassembly of the instruction there.
    pub instruction: String,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Actual SP.
    pub sp: u64,
    /// The caller's SP, which pcsp values are relative to.
    pub caller_sp: u64,
    /// The pcsp value at the PC (0 where the table has none).
    pub pcsp: u64,
    /// Whether the runtime's preemption may land here.
    pub severity: Severity,
}

impl Site {
    /// The site of a finding at `pc` in `f`, with SP `sp` under the caller's SP `caller_sp`.
    pub fn at(
        prog: &twixt_program::GoProgram<'_>,
        f: &twixt_program::FuncMeta,
        pc: u64,
        sp: u64,
        caller_sp: u64,
        severity: Severity,
    ) -> Site {
        let (file, line) = match prog.file_line(f, pc) {
            Some((file, line)) => (Some(file), Some(line)),
            None => (None, None),
        };
        Site {
            function: f.info.name.to_string(),
            entry: f.info.entry,
            pc,
            instruction: prog.disassemble(pc),
            file,
            line,
            sp,
            caller_sp,
            pcsp: f.pcsp_at(pc).unwrap_or(0),
            severity,
        }
    }

    /// `addr` relative to the actual SP.
    pub fn sp_offset(&self, addr: u64) -> i64 {
        (addr as i64).wrapping_sub(self.sp as i64)
    }

    /// A finding of `unwinder` with `verdict` at this site; the fields that describe the
    /// walk itself are empty, for the caller to fill in.
    pub fn finding(&self, unwinder: &str, verdict: &str) -> Finding {
        Finding {
            function: self.function.clone(),
            pc: format!("{:#x}", self.pc),
            offset: self.pc - self.entry,
            instruction: self.instruction.clone(),
            unwinder: unwinder.into(),
            verdict: verdict.into(),
            preemptible: self.severity == Severity::Preemptible,
            severity: self.severity,
            file: self.file.clone(),
            line: self.line,
            sp_below_caller: (self.caller_sp as i64).wrapping_sub(self.sp as i64),
            pcsp: self.pcsp,
            resume_pc: None,
            slot_sp_offset: None,
            read_value: None,
            read_symbol: None,
            expected_return_pc: String::new(),
            expected_slot_sp_offset: None,
            computed_caller_sp_error: None,
            outcome: String::new(),
            r29_sp_offset: None,
            context: Vec::new(),
        }
    }

    /// The finding for a Go-unwinder walk that went wrong: where it read the return PC and
    /// what it found (named by `symbolize`), against the truth (`expected_fallback` when the
    /// judgement names no true frame; `true_return_slot` where the real return PC is saved).
    pub fn go_finding(
        &self,
        j: &twixt_unwind::verdict::Judgement,
        resume_pc: Option<u64>,
        expected_fallback: u64,
        true_return_slot: Option<u64>,
        symbolize: impl Fn(u64) -> String,
    ) -> Finding {
        let culprit = j.culprit.as_ref();
        let expected = j.expected.map_or(expected_fallback, |t| t.pc);
        Finding {
            resume_pc: resume_pc.map(|pc| format!("{pc:#x}")),
            slot_sp_offset: culprit.and_then(|c| c.lr_slot).map(|s| self.sp_offset(s)),
            read_value: culprit.map(|c| format!("{:#x}", c.lr)),
            read_symbol: culprit.map(|c| symbolize(c.lr)),
            expected_return_pc: format!("{expected:#x}"),
            expected_slot_sp_offset: true_return_slot.map(|s| self.sp_offset(s)),
            computed_caller_sp_error: match (culprit, j.expected) {
                (Some(c), Some(t)) => Some((t.sp as i64).wrapping_sub(c.fp as i64)),
                _ => None,
            },
            outcome: j.outcome.describe(),
            ..self.finding("go", j.verdict.name())
        }
    }
}

/// A function that could not be (fully) analysed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unanalysed {
    /// Function name.
    pub function: String,
    /// Entry PC (hex).
    pub pc: String,
    /// Why.
    pub reason: String,
}

/// Counts for the end of a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Functions in the binary (after the filter).
    pub functions: usize,
    /// Boundaries checked in fully analysed functions.
    pub boundaries: usize,
    /// Findings (windows) reported, after the severity filter.
    pub windows: usize,
    /// Functions not (fully) analysed.
    pub unanalysed: usize,
    /// Windows where the runtime may preempt.
    pub preemptible: usize,
    /// Windows only other observers can hit.
    pub signal_only: usize,
    /// Windows per verdict name, sorted by name.
    pub by_verdict: std::collections::BTreeMap<String, usize>,
    /// Windows per model unwinder ("go", "fp"), sorted by name.
    #[serde(default)]
    pub by_unwinder: std::collections::BTreeMap<String, usize>,
    /// Boundaries a walk was not judged at, per reason ([`NOT_JUDGED_OFF_STACK`]: neither
    /// walk; [`NOT_JUDGED_GO_NEVER_RUNS`]: the Go walk). They count in `boundaries`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub not_judged: std::collections::BTreeMap<String, usize>,
}

/// The verdict of a walk at a boundary it is not judged at (see [`Summary::not_judged`]).
pub const NOT_JUDGED_VERDICT: &str = "not-judged";

/// Boundaries where SP is off the goroutine stack: runtime assembly that has switched to
/// the system stack (`systemstack`, `mcall`, `asmcgocall`, `morestack`, `gogo`). The
/// call chain the harness planted does not describe that stack, so neither walk is judged.
pub const NOT_JUDGED_OFF_STACK: &str = "off-goroutine-stack";

/// Boundaries of functions where Go's signal handlers never run (signal handler entries,
/// `clone`, the process entry: [`twixt_unwind::preempt::go_unwinder_never_observes`]), so
/// Go's own unwinder is never asked to walk from them; the frame-pointer walk is judged.
pub const NOT_JUDGED_GO_NEVER_RUNS: &str = "go-unwinder-never-runs-here";

/// The result of `twixt scan`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The binary's file name (no directories).
    pub binary: String,
    /// The Go version (`go1.23.4`), or the range of releases inferred from the binary
    /// (`go1.24.x`, `go1.20.0 to go1.21.x`) when it records none.
    pub go_version: String,
    /// How the version was determined: `buildinfo`, `runtime.buildVersion`,
    /// `--go-version`, or `inferred: <evidence>; preemption rules of <release> (<why>)`.
    /// Empty in reports written before twixt recorded it.
    #[serde(default)]
    pub go_version_source: String,
    /// When `go_version` is a range: the release whose preemption rules were applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_version_rules: Option<String>,
    /// Counts.
    pub summary: Summary,
    /// Windows, sorted by PC.
    pub findings: Vec<Finding>,
    /// Functions not (fully) analysed, sorted by PC.
    pub unanalysed: Vec<Unanalysed>,
    /// Per-function measurements, in scan order; not part of the JSON report.
    #[serde(skip)]
    pub stats: Vec<FunctionStat>,
}

/// What the scan measured about one function (for tests and benchmarks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionStat {
    /// Function name.
    pub name: String,
    /// Entry PC.
    pub entry: u64,
    /// Instructions in the function (pcsp coverage / 4).
    pub instructions: usize,
    /// Whether every region ran to its end.
    pub analysed: bool,
    /// Boundaries observed.
    pub boundaries: usize,
    /// The frame the prologue established when executed: the largest distance below the
    /// caller's SP observed in regions that start before the prologue.
    pub frame_established: u64,
    /// The largest pcsp value.
    pub max_pcsp: u64,
    /// Assembly function.
    pub asm: bool,
    /// Boundaries a walk was not judged at, per reason (see [`Summary::not_judged`]).
    pub not_judged: std::collections::BTreeMap<&'static str, usize>,
}

/// What one model unwinder did at a boundary (for `twixt explain` and other per-boundary
/// views; scans report only the boundaries where it went wrong, as [`Finding`]s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkRecord {
    /// `ok`, or the verdict name.
    pub verdict: String,
    /// When not ok: whether the runtime's preemption may land here.
    pub severity: Option<Severity>,
    /// The address the unwinder read the interrupted function's return PC from (for the Go
    /// walk: the frame's LR slot, `None` when it took LR; for the frame-pointer walk: the
    /// first record's `R29+8`, or the unusable record's when the walk broke).
    pub slot: Option<u64>,
    /// The value read there.
    pub read: Option<u64>,
    /// That value as `function+offset`, or "in no function".
    pub read_symbol: Option<String>,
    /// Go walk: the caller SP it computed (SP + pcsp).
    pub computed_caller_sp: Option<u64>,
    /// How the walk ended, in words.
    pub outcome: String,
}

/// Everything the checker saw and decided at one instruction boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundaryRecord {
    /// Function name.
    pub function: String,
    /// PC of the boundary.
    pub pc: u64,
    /// Offset from the function entry.
    pub offset: u64,
    /// Disassembly of the instruction about to execute.
    pub instruction: String,
    /// The true caller SP (pcsp values are relative to it).
    pub caller_sp: u64,
    /// Actual SP.
    pub sp: u64,
    /// R29.
    pub r29: u64,
    /// R30.
    pub lr: u64,
    /// The pcsp value here: the frame size the metadata claims.
    pub pcsp: Option<u64>,
    /// The PCDATA UnsafePoint value here (-1 safe, -2 unsafe, ...).
    pub unsafe_point: i32,
    /// Where execution resumes after a preemption, when the runtime would preempt here.
    pub resume_pc: Option<u64>,
    /// The true return PC into the caller.
    pub true_return_pc: u64,
    /// Where the true return PC is saved on the stack, once the prologue has saved it.
    pub true_return_slot: Option<u64>,
    /// The caller's R29 (a valid R29 before the prologue and after the epilogue restores it).
    pub caller_r29: u64,
    /// The Go runtime traceback (a GC scan's walk where the runtime would preempt and that
    /// walk fails, else the profiling-signal walk).
    pub go: WalkRecord,
    /// The frame-pointer walk.
    pub fp: WalkRecord,
}
