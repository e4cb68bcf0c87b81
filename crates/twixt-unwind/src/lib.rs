//! Model stack unwinders: pure functions of (registers, memory, metadata) that say what a
//! real unwinder would compute at an instruction boundary.
//!
//! [`go`] models the Go runtime's own traceback (`runtime.(*unwinder)` in traceback.go) on
//! arm64 and amd64 ([`arch`] holds what differs): the one the garbage collector, stack
//! copying and panics depend on.
//! [`fp`] models the frame-pointer walk of the execution tracer and external profilers.
//! [`preempt`] models how an asynchronous preemption lands (`isAsyncSafePoint` and
//! `sigctxt.pushCall`). [`boundary`] judges one interrupted boundary with both unwinders,
//! the way every driver (scan, run, the synthetic sweep) does. None knows anything about the emulator: memory is read through
//! [`Memory`] and function metadata through [`Metadata`], so the same code runs on emulator
//! state, on hand-built frames in tests and on recorded snapshots.
//!
//! Architecture invariant: a model unwinder never decides what is *right*; it only says what
//! the modelled unwinder would do. The truth comes from the emulator harness.

pub mod arch;
pub mod boundary;
pub mod fp;
pub mod go;
pub mod preempt;
pub mod verdict;

use std::collections::BTreeMap;

pub use arch::Arch;

/// Reads 8-byte little-endian words of the goroutine's memory.
pub trait Memory {
    /// The word at `addr`, or `None` if reading there would fault.
    fn read_u64(&self, addr: u64) -> Option<u64>;
}

/// What the model needs to know about the function containing a PC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Entry PC.
    pub entry: u64,
    /// Function name as the pclntab spells it.
    pub name: std::sync::Arc<str>,
    /// `FuncFlagTopFrame`: the unwinder stops here (goexit, mstart, rt0_go).
    pub top_frame: bool,
    /// `FuncFlagSPWrite`: the function writes SP in a way pcsp cannot describe.
    pub sp_write: bool,
    /// Runtime functions the unwinder treats specially, recognised by name because the
    /// numeric funcIDs shift between Go versions.
    pub special: Special,
}

/// Runtime functions with special unwinding rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// An ordinary function.
    None,
    /// `runtime.asyncPreempt`: entered through an injected call.
    AsyncPreempt,
    /// `runtime.sigpanic`: entered through an injected call.
    Sigpanic,
    /// `runtime.debugCallV2`: entered through an injected call.
    DebugCallV2,
    /// `runtime.cgocallback`: writes SP but keeps both stacks unwindable.
    Cgocallback,
}

impl Special {
    /// Classifies a function by its name.
    pub fn from_name(name: &str) -> Special {
        match name {
            "runtime.asyncPreempt" => Special::AsyncPreempt,
            "runtime.sigpanic" => Special::Sigpanic,
            "runtime.debugCallV2" => Special::DebugCallV2,
            "runtime.cgocallback" => Special::Cgocallback,
            _ => Special::None,
        }
    }

    /// Whether the runtime reaches this function through a call it injected into a
    /// goroutine (so the caller's LR was spilled to the stack by the signal handler).
    pub fn is_injected_call(self) -> bool {
        matches!(
            self,
            Special::AsyncPreempt | Special::Sigpanic | Special::DebugCallV2
        )
    }
}

/// The function table as the runtime sees it (`findfunc`, `funcspdelta`).
pub trait Metadata {
    /// The function containing `pc`, like `findfunc`.
    fn find_func(&self, pc: u64) -> Option<FuncInfo>;
    /// The pcsp value (frame size) of `func` at `pc`, or `None` when the table has no
    /// entry for it (the runtime throws "invalid runtime symbol table").
    fn sp_delta(&self, func: &FuncInfo, pc: u64) -> Option<u64>;
}

/// A sparse overlay of word writes on top of another memory: the stores a modelled signal
/// handler makes (pushCall, asyncPreempt's prologue) without touching the emulator.
#[derive(Clone, Debug)]
pub struct Overlay<'m, M: Memory + ?Sized> {
    base: &'m M,
    words: BTreeMap<u64, u64>,
}

impl<'m, M: Memory + ?Sized> Overlay<'m, M> {
    /// An overlay with no writes yet.
    pub fn new(base: &'m M) -> Self {
        Overlay {
            base,
            words: BTreeMap::new(),
        }
    }

    /// Records an 8-byte write.
    pub fn write_u64(&mut self, addr: u64, value: u64) {
        self.words.insert(addr, value);
    }

    /// The writes made, in address order.
    pub fn writes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.words.iter().map(|(a, v)| (*a, *v))
    }
}

impl<M: Memory + ?Sized> Memory for Overlay<'_, M> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        match self.words.get(&addr) {
            Some(v) => Some(*v),
            None => self.base.read_u64(addr),
        }
    }
}

/// Memory backed by a map of words: for tests and for frames built by hand.
#[derive(Clone, Debug, Default)]
pub struct WordMemory {
    /// The readable words; reading any other address faults.
    pub words: BTreeMap<u64, u64>,
}

impl Memory for WordMemory {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.words.get(&addr).copied()
    }
}
