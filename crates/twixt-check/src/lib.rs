//! Plans regions, drives the emulator, runs the model unwinders and makes findings.
//!
//! Architecture invariant: the truth (the real call chain) comes from what the harness
//! planted and observed, never from a model unwinder; a function that cannot be analysed
//! becomes an "unanalysed: reason" entry, never a silent pass or an abort of the run.

pub mod finding;
pub mod moduledata;
pub mod plan;
pub mod program;
pub mod scan;
pub mod version;

pub use finding::{
    BoundaryRecord, ContextLine, Finding, FunctionStat, NOT_JUDGED_GO_NEVER_RUNS,
    NOT_JUDGED_OFF_STACK, NOT_JUDGED_VERDICT, ScanReport, Severity, Summary, Unanalysed,
    WalkRecord,
};
pub use program::{FuncMeta, GoProgram, ProgramError};
pub use scan::{BoundaryCallback, ScanError, ScanOptions, scan};
pub use version::VersionInfo;
