//! Plans regions, drives the emulator, runs the model unwinders and makes findings.
//!
//! Architecture invariant: the truth (the real call chain) comes from what the harness
//! planted and observed, never from a model unwinder; a function that cannot be analysed
//! becomes an "unanalysed: reason" entry, never a silent pass or an abort of the run.

pub mod emulator;
pub mod finding;
pub mod plan;
pub mod scan;

// The program model lives in its own crate (no emulator); these keep the paths the
// drivers have always used.
pub use twixt_program::{moduledata, program, version};

pub use finding::{
    BoundaryRecord, ContextLine, Finding, FunctionStat, NOT_JUDGED_GO_NEVER_RUNS,
    NOT_JUDGED_OFF_STACK, NOT_JUDGED_VERDICT, ScanReport, Severity, Summary, Unanalysed, Unwinder,
    Verdict, WalkRecord, WalkVerdict,
};
pub use scan::{BoundaryCallback, ScanError, ScanOptions, scan};
pub use twixt_program::VersionInfo;
pub use twixt_program::{FuncMeta, GoProgram, ProgramError};
