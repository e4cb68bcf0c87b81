//! `twixt fuzz --go VERSION`: generates Go programs, compiles them with a real toolchain,
//! scans them and shrinks every window to a minimal reproducer.

use crate::fuzz_cmd::FuzzArgs;

/// Runs the real-toolchain fuzzer.
pub fn run(_args: &FuzzArgs) -> Result<std::process::ExitCode, String> {
    Err("twixt fuzz --go: not built yet".into())
}
