//! What a scan produces: findings with their evidence, unanalysed functions with their
//! reasons, and a summary; and what the checker saw at each boundary, for per-boundary
//! views. Typed inside (PCs are `u64`, verdicts and unwinders are enums); text only at the
//! serde boundary, where PCs are hex strings and verdicts their stable names, so reports
//! read back and baselines compare. Every field is deterministic (no absolute paths, no
//! timestamps, and stack addresses relative to the caller's SP).
//!
//! Architecture invariant: plain data, no emulator: `twixt diff`, the renderers and every
//! driver (scan, run, explain, the synthetic checker) share these types.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `u64` as `"0x…"` in JSON (`#[serde(with = "twixt_report::model::hex")]`), for every
/// report that prints a PC.
pub mod hex {
    use super::*;

    /// Writes `v` as `"0x…"`.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:#x}"))
    }

    /// Reads `"0x…"` (or bare hex digits).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_hex(&text)
            .ok_or_else(|| D::Error::custom(format!("not a hex number: {text:?}")))
    }
}

/// `Option<u64>` as `"0x…"` or `null` in JSON.
pub mod hex_opt {
    use super::*;

    /// Writes `v` as `"0x…"` or `null`.
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&format!("{v:#x}")),
            None => s.serialize_none(),
        }
    }

    /// Reads `"0x…"` or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_hex(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("not a hex number: {text:?}"))),
        }
    }
}

/// `0x1234` (or `1234`) as a number.
pub fn parse_hex(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    u64::from_str_radix(digits, 16).ok()
}

/// Which model unwinder a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unwinder {
    /// Go's runtime traceback (pcsp-driven).
    Go,
    /// The frame-pointer walk (the execution tracer, perf).
    Fp,
}

impl Unwinder {
    /// The stable name: `go` or `fp`.
    pub fn name(self) -> &'static str {
        match self {
            Unwinder::Go => "go",
            Unwinder::Fp => "fp",
        }
    }
}

impl fmt::Display for Unwinder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What went wrong at a boundary: a verdict of either unwinder other than "right".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Go: the walk computed the wrong caller SP for a frame.
    WrongCallerSp,
    /// Go: a return PC in no function ("unexpected return pc"; "unknown caller pc" in a
    /// strict walk).
    UnexpectedReturnPc,
    /// Go: a return PC in a function, but not the true one.
    WrongReturnPc,
    /// Go: a strict walk ended away from the goroutine's top frame.
    DidNotUnwindCompletely,
    /// Go: `pc == lr && sp == fp` ("traceback stuck").
    Stuck,
    /// Go: the walk read memory that faults.
    MemoryReadFault,
    /// Go: a strict walk met an SPWrite function above the innermost frame.
    #[serde(rename = "unexpected-spwrite")]
    UnexpectedSpWrite,
    /// Go: no pcsp entry for a PC ("invalid runtime symbol table").
    #[serde(rename = "invalid-spdelta")]
    InvalidSpDelta,
    /// Frame pointers: R29 names a record below SP-8 that a preemption overwrites.
    FpBelowSp,
    /// Frame pointers: the walk records a wrong return PC.
    FpWrongReturnPc,
    /// Frame pointers: the chain breaks (unreadable, misaligned or looping record).
    FpBrokenChain,
    /// Frame pointers: the walk goes on past the goroutine's root.
    FpPastRoot,
}

impl Verdict {
    /// Every verdict, in declaration order.
    pub const ALL: [Verdict; 12] = [
        Verdict::WrongCallerSp,
        Verdict::UnexpectedReturnPc,
        Verdict::WrongReturnPc,
        Verdict::DidNotUnwindCompletely,
        Verdict::Stuck,
        Verdict::MemoryReadFault,
        Verdict::UnexpectedSpWrite,
        Verdict::InvalidSpDelta,
        Verdict::FpBelowSp,
        Verdict::FpWrongReturnPc,
        Verdict::FpBrokenChain,
        Verdict::FpPastRoot,
    ];

    /// The stable name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::WrongCallerSp => "wrong-caller-sp",
            Verdict::UnexpectedReturnPc => "unexpected-return-pc",
            Verdict::WrongReturnPc => "wrong-return-pc",
            Verdict::DidNotUnwindCompletely => "did-not-unwind-completely",
            Verdict::Stuck => "stuck",
            Verdict::MemoryReadFault => "memory-read-fault",
            Verdict::UnexpectedSpWrite => "unexpected-spwrite",
            Verdict::InvalidSpDelta => "invalid-spdelta",
            Verdict::FpBelowSp => "fp-below-sp",
            Verdict::FpWrongReturnPc => "fp-wrong-return-pc",
            Verdict::FpBrokenChain => "fp-broken-chain",
            Verdict::FpPastRoot => "fp-past-root",
        }
    }

    /// The verdict with this name.
    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The unwinder the verdict is about.
    pub fn unwinder(self) -> Unwinder {
        if self.name().starts_with("fp-") {
            Unwinder::Fp
        } else {
            Unwinder::Go
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one walk did at a boundary: right, wrong (how), or not judged there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalkVerdict {
    /// The walk agrees with the truth.
    Ok,
    /// The walk went wrong.
    Wrong(Verdict),
    /// The boundary is not judged (see [`Summary::not_judged`]).
    NotJudged,
}

impl WalkVerdict {
    /// Whether the walk went wrong (neither right nor left unjudged).
    pub fn is_wrong(self) -> bool {
        matches!(self, WalkVerdict::Wrong(_))
    }

    /// The stable name: `ok`, `not-judged`, or the verdict's.
    pub fn name(self) -> &'static str {
        match self {
            WalkVerdict::Ok => "ok",
            WalkVerdict::NotJudged => NOT_JUDGED_VERDICT,
            WalkVerdict::Wrong(v) => v.name(),
        }
    }
}

impl fmt::Display for WalkVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for WalkVerdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for WalkVerdict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WalkVerdict, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "ok" => Ok(WalkVerdict::Ok),
            NOT_JUDGED_VERDICT => Ok(WalkVerdict::NotJudged),
            name => Verdict::from_name(name)
                .map(WalkVerdict::Wrong)
                .ok_or_else(|| D::Error::custom(format!("unknown verdict {name:?}"))),
        }
    }
}

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
    /// PC.
    #[serde(with = "hex")]
    pub pc: u64,
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
    /// PC of the boundary: the instruction about to execute.
    #[serde(with = "hex")]
    pub pc: u64,
    /// Offset from the function entry.
    pub offset: u64,
    /// The instruction at the boundary.
    pub instruction: String,
    /// Which model unwinder went wrong.
    pub unwinder: Unwinder,
    /// What went wrong.
    pub verdict: Verdict,
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
    /// Where execution resumes after a preemption here, when not the PC itself.
    #[serde(with = "hex_opt")]
    pub resume_pc: Option<u64>,
    /// The stack slot the unwinder read the return PC from, relative to the actual SP.
    pub slot_sp_offset: Option<i64>,
    /// The value it read there.
    #[serde(with = "hex_opt")]
    pub read_value: Option<u64>,
    /// What that value is: a function+offset, or "in no function".
    pub read_symbol: Option<String>,
    /// The true return PC.
    #[serde(with = "hex")]
    pub expected_return_pc: u64,
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

/// A function that could not be (fully) analysed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unanalysed {
    /// Function name.
    pub function: String,
    /// Entry PC (0 for a function whose record cannot be read).
    #[serde(with = "hex")]
    pub pc: u64,
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

impl Summary {
    /// Counts `findings` into `windows`, `preemptible`, `signal_only`, `by_verdict` and
    /// `by_unwinder` (the other fields are the scan's to fill).
    pub fn count_windows(&mut self, findings: &[Finding]) {
        self.windows = findings.len();
        self.preemptible = findings.iter().filter(|f| f.preemptible).count();
        self.signal_only = findings.len() - self.preemptible;
        self.by_verdict.clear();
        self.by_unwinder.clear();
        for f in findings {
            *self
                .by_verdict
                .entry(f.verdict.name().to_string())
                .or_insert(0) += 1;
            *self
                .by_unwinder
                .entry(f.unwinder.name().to_string())
                .or_insert(0) += 1;
        }
    }
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
    /// Right, wrong (how) or not judged.
    pub verdict: WalkVerdict,
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
