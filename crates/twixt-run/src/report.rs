//! What `twixt run` produces: per call, how it ended, the windows found at boundaries of
//! the executed path (with the frame depth and the whole chain), and with `--inject` the
//! clobbers and the classification of unsafe-marked boundaries. Plain serde data; every
//! field is deterministic (stack addresses relative to SP, no paths, no timings).

use serde::{Deserialize, Serialize};
use twixt_check::Finding;

/// One frame of the chain at a finding: the truth and what the unwinder made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainFrame {
    /// The true frame: `function+offset` (the PC, then return PCs up to goexit).
    pub truth: String,
    /// The frame the unwinder produced at this position (`None`: it had stopped).
    pub unwound: Option<String>,
}

/// A window found at a boundary of the executed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFinding {
    /// The scan's evidence (function, pc, instruction, unwinder `go` or `fp`, verdict, ...).
    #[serde(flatten)]
    pub finding: Finding,
    /// Frame depth of the interrupted function: 0 is the called function.
    pub depth: usize,
    /// The whole chain, innermost first.
    pub chain: Vec<ChainFrame>,
    /// How many times the path reached this boundary in this chain.
    pub visits: usize,
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Returned to `runtime.goexit`.
    Returned {
        /// R0..R3 (hex): the first result registers (the binary has no result types).
        results: Vec<String>,
        /// F0..F1 (hex bits).
        float_results: Vec<String>,
    },
    /// Reached a panic entry: the function panicked.
    Panicked {
        /// The runtime function, e.g. `runtime.panicIndex`.
        function: String,
        /// Where it was called from (`function+offset`).
        from: String,
    },
    /// Faulted (a real program would have entered `runtime.sigpanic`).
    Faulted {
        /// What faulted and where.
        reason: String,
    },
    /// Could not be analysed to the end.
    Unanalysed {
        /// Why: `calls NAME`, `budget: ...`, ...
        reason: String,
    },
}

impl Outcome {
    /// One line for the text report.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Returned {
                results,
                float_results,
            } => format!(
                "returned r0..r3 = {}; f0, f1 = {}",
                results.join(", "),
                float_results.join(", ")
            ),
            Outcome::Panicked { function, from } => {
                format!("function panicked: {function} (called from {from})")
            }
            Outcome::Faulted { reason } => format!("faulted: {reason}"),
            Outcome::Unanalysed { reason } => format!("unanalysed: {reason}"),
        }
    }
}

/// One changed word after an injected preemption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What changed: a register (`x3`), a stack slot relative to the interrupted SP
    /// (`sp-0x10`), `heap+0x..`, or a data address.
    pub location: String,
    /// In the uninterrupted run (or, for a slot read back, at the interruption).
    pub before: String,
    /// In the run with the injected preemption.
    pub after: String,
    /// For a slot: the instruction that read the destroyed value (`function+offset`).
    pub read_by: Option<String>,
}

/// The effect of one injected preemption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injection {
    /// The boundary (`function+offset`).
    pub at: String,
    /// Its PC (hex).
    pub pc: String,
    /// The instruction.
    pub instruction: String,
    /// Frame depth.
    pub depth: usize,
    /// Where execution resumed (hex), when not the PC.
    pub resume_pc: Option<String>,
    /// Why the runtime would not preempt here (`None`: it would).
    pub refused: Option<String>,
    /// The strict unwind from the injected asyncPreempt frame, when it is wrong.
    pub unwind: Option<String>,
    /// The outcome of the resumed run, when it differs from the uninterrupted one.
    pub outcome: Option<String>,
    /// Stack slots below the interrupted SP that the resumed code read after the
    /// preemption destroyed them: live data kept below SP.
    pub clobbered_slots: Vec<Change>,
    /// Result registers and memory that differ at the end.
    pub changes: Vec<Change>,
}

impl Injection {
    /// Whether the resumed run differs from the uninterrupted one (a clobber).
    pub fn clobbered(&self) -> bool {
        self.outcome.is_some() || !self.clobbered_slots.is_empty() || !self.changes.is_empty()
    }

    /// Whether anything broke: a clobber, or the unwind from the injected frame.
    pub fn broke(&self) -> bool {
        self.unwind.is_some() || self.clobbered()
    }
}

/// A boundary the metadata marks unsafe (or an asm/runtime function), classified by
/// injecting anyway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// `needed` (injecting breaks the unwind or the results) or `not-needed`.
    pub class: String,
    /// The injection and what it broke.
    #[serde(flatten)]
    pub injection: Injection,
}

/// With `--inject`: what the injections found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectReport {
    /// Preemptible boundaries injected (first visit of each boundary in each chain).
    pub injected: usize,
    /// Preemptible boundaries where the injection changed the results, the registers or
    /// the memory: clobber windows.
    pub clobbers: Vec<Injection>,
    /// Preemptible boundaries where the state survived but the strict unwind from the
    /// injected asyncPreempt frame broke (the Go-unwinder windows, seen from a real
    /// injection; already counted as findings).
    pub unwind_breaks: Vec<Injection>,
    /// With `--all-boundaries`: every boundary the runtime would not preempt at.
    pub classification: Vec<Classification>,
    /// Injections whose resumed run could not be finished (budget, unemulated runtime
    /// call): neither a clobber nor a pass.
    pub unanalysed: Vec<Injection>,
    /// Why the injections stopped before the last candidate (a budget), if they did.
    pub incomplete: Option<String>,
}

/// One call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallReport {
    /// The argument registers R0.. (hex).
    pub args: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Instructions executed.
    pub instructions: u64,
    /// Boundaries checked (distinct (PC, SP, chain) states; repeats are counted as visits).
    pub boundaries: usize,
    /// Deepest frame reached (0: the called function only).
    pub max_depth: usize,
    /// Windows, sorted by PC then unwinder.
    pub findings: Vec<RunFinding>,
    /// With `--inject`.
    pub inject: Option<InjectReport>,
}

/// The result of `twixt run`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The binary's file name.
    pub binary: String,
    /// The Go version, or the inferred range of releases (as in a scan report).
    pub go_version: String,
    /// How the version was determined (as `go_version_source` in a scan report).
    #[serde(default)]
    pub go_version_source: String,
    /// The function called.
    pub function: String,
    /// `runtime.writeBarrier`'s flag at the start (0: GC off, as the harness assumes).
    pub write_barrier_flag: Option<u32>,
    /// One per call.
    pub calls: Vec<CallReport>,
}

impl RunReport {
    /// Windows in all calls (findings and clobbers).
    pub fn windows(&self) -> usize {
        self.calls
            .iter()
            .map(|c| c.findings.len() + c.inject.as_ref().map_or(0, |i| i.clobbers.len()))
            .sum()
    }
}
