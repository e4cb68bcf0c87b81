//! `twixt fuzz --synthetic`: sweeps frame sizes through the assembler model.

use crate::fuzz_cmd::FuzzArgs;

/// Runs the synthetic sweep.
pub fn run(_args: &FuzzArgs) -> Result<std::process::ExitCode, String> {
    Err("twixt fuzz --synthetic: not built yet".into())
}
