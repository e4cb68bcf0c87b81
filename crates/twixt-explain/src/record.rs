//! Temporary copy of the scanner's per-boundary record (`twixt_check::BoundaryRecord`),
//! until main has it: the renderers are written against exactly this shape.

use serde::{Deserialize, Serialize};
use twixt_check::Severity;

/// What the scanner saw at one instruction boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundaryRecord {
    /// Function name.
    pub function: String,
    /// The boundary's PC.
    pub pc: u64,
    /// Offset from the function entry.
    pub offset: u64,
    /// Disassembly.
    pub instruction: String,
    /// The true caller SP.
    pub caller_sp: u64,
    /// Actual SP.
    pub sp: u64,
    /// R29.
    pub r29: u64,
    /// R30.
    pub lr: u64,
    /// What the metadata claims the frame is here.
    pub pcsp: Option<u64>,
    /// PCDATA UnsafePoint value.
    pub unsafe_point: i32,
    /// Some when isAsyncSafePoint says preempt here.
    pub resume_pc: Option<u64>,
    /// The real return PC into the caller.
    pub true_return_pc: u64,
    /// Where it is saved on the stack, if saved yet.
    pub true_return_slot: Option<u64>,
    /// The caller's R29.
    pub caller_r29: u64,
    /// Go runtime traceback model.
    pub go: WalkRecord,
    /// Frame-pointer walk.
    pub fp: WalkRecord,
}

/// One model unwinder's walk at a boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkRecord {
    /// "ok" or a verdict name.
    pub verdict: String,
    /// Some when not ok.
    pub severity: Option<Severity>,
    /// Address the unwinder read the return PC from.
    pub slot: Option<u64>,
    /// The value it read there.
    pub read: Option<u64>,
    /// "func+0xoff" or "in no function".
    pub read_symbol: Option<String>,
    /// Go walk: the caller SP it computed.
    pub computed_caller_sp: Option<u64>,
    /// What the walk/runtime does at the end, in words.
    pub outcome: String,
}
