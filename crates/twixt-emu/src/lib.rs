//! The Unicorn emulator of twixt: one engine core and the two drivers built on it.
//!
//! - `engine` (crate-private): the core. One Unicorn instance with the image mapped
//!   with its permissions, the harness's regions (a fake `g` in R28 with its `m` and `g0`,
//!   scratch memory) and a goroutine stack between unmapped guards; one memory view (stack
//!   nothing mapped yet reads as poison); the page journal (`journal`); one code, write,
//!   unmapped-access and interrupt hook each, delegating what differs to a policy; the
//!   register file.
//! - [`Harness`] (the `harness` module): the region policy the scan uses. It runs one
//!   straight-line region at a time from a synthesized state and hands an [`Observer`] a
//!   read-only view of every instruction boundary. No harness limit leaves a region
//!   unfinished: the stack is mapped lazily as deep as the largest frame Go builds, and a
//!   load or store whose address cannot be mapped at all (beyond 48 bits, in a guard, or
//!   past the scratch budget) is replayed against scratch memory, so the load yields the
//!   scratch word and the store is dropped. Only control flow into unknown code, a system
//!   instruction or a budget ends a region early.
//! - [`call::Machine`]: the whole-call policy `twixt run` uses: runs until its stepper
//!   pauses, faults on any access nothing maps, and snapshots through the journal.
//! - `isa` (crate-private): the instruction-set seam, everything the core and the
//!   policies know about an instruction set (register numbering, PC/SP ids; for the
//!   drivers, arm64's base register of a load or store and which refused words are data).
//! - [`amd64`]: the first amd64 driver, [`amd64::Tracer`] (RIP, RSP and RBP at every
//!   boundary of a run of amd64 code), on the same core with `isa::Amd64`.
//! - [`bare`]: bare Unicorn loops, the ceilings the benchmark compares with.
//!
//! This is the only crate that uses `unicorn-engine`. Architecture invariants: one engine
//! belongs to one thread; a region is run with a single `emu_start`; nothing the input does
//! can reach the host (no host memory is mapped, system calls end the run).

pub mod amd64;
pub mod bare;
pub mod call;
mod engine;
mod harness;
mod isa;
mod journal;
mod layout;

pub use harness::{Boundary, Harness, HookState, Observer, RegionStart, RunEnd};
pub use layout::Layout;

/// A memory range to map from the image.
#[derive(Clone, Debug)]
pub struct MapRange<'d> {
    /// Virtual address.
    pub vaddr: u64,
    /// Size in memory (bytes past `data` are zero).
    pub size: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
    /// Initial contents.
    pub data: &'d [u8],
}

/// Why the harness could not be built, or the machine could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// Unicorn refused to start.
    #[error("cannot start the arm64 emulator: {0:?}")]
    Engine(unicorn_engine::unicorn_const::uc_error),
    /// Unicorn refused an operation on a running machine.
    #[error("the arm64 emulator refused to {what}: {err:?}")]
    Refused {
        /// What was asked: `write the registers`, `write memory at 0x...`, ...
        what: String,
        /// Unicorn's error.
        err: unicorn_engine::unicorn_const::uc_error,
    },
    /// A segment could not be mapped.
    #[error("cannot map segment at {vaddr:#x} ({size:#x} bytes): {err:?}")]
    Map {
        /// Segment address.
        vaddr: u64,
        /// Segment size.
        size: u64,
        /// Unicorn's error.
        err: unicorn_engine::unicorn_const::uc_error,
    },
    /// A segment is larger than the harness maps (bounded memory per engine).
    #[error(
        "segment at {vaddr:#x} claims {size:#x} bytes; the emulator maps at most 1 GiB per segment"
    )]
    TooLarge {
        /// Segment address.
        vaddr: u64,
        /// Claimed size.
        size: u64,
    },
    /// A segment lies (partly) above the 48-bit virtual address space arm64 Linux gives
    /// user programs, where the emulator maps nothing.
    #[error(
        "segment at {vaddr:#x} ({size:#x} bytes) lies outside the 48-bit address space the emulator maps"
    )]
    OutsideAddressSpace {
        /// Segment address.
        vaddr: u64,
        /// Segment size.
        size: u64,
    },
    /// A segment overlaps the harness's own regions.
    #[error("segment at {vaddr:#x} overlaps the emulator's stack or scratch regions")]
    Overlap {
        /// Segment address.
        vaddr: u64,
    },
}

#[cfg(test)]
mod tests;
