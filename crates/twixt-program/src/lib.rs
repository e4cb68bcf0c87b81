//! A Go linux binary as twixt's model sees it, decoded once and without an emulator:
//! [`GoProgram`] (the functions pre-decoded into [`FuncMeta`], code words, disassembly with
//! named branch targets, symbols, file:line, inline trees, asyncPreempt's frame), and the Go
//! version with how it is known ([`version`], from [`moduledata`] among others).
//!
//! Architectures: arm64 everywhere; amd64 for listings only ([`GoProgram::for_listing`],
//! [`GoProgram::listed`], which dispatches to `twixt-arm64` or `twixt-amd64`).
//! [`GoProgram::new`] refuses an architecture twixt does not analyse
//! ([`require_analysed_arch`]), so nothing downstream decodes amd64 bytes as arm64 words.
//!
//! Architecture invariant: a pure function of the binary's bytes (and a `--go-version`
//! override); nothing here runs code. The scan, `twixt run`, `twixt explain` and the
//! reports read it; only `twixt-check` and `twixt-run` pair it with the emulator.

pub mod moduledata;
pub mod program;
pub mod version;

pub use program::{
    ANALYSED_ARCHES, Encoding, FuncMeta, GoProgram, Listed, ProgramError, require_analysed_arch,
    run_at,
};
pub use version::VersionInfo;
