//! The baseline the benchmark compares twixt with: a bare Unicorn run over straight-line
//! arm64 code with an empty per-instruction code hook, the least any boundary-by-boundary
//! tool built on Unicorn must pay.

use std::time::Instant;

use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{RegisterARM64, Unicorn};

/// Runs `instructions` instructions (a page of `add x0, x0, #1` ending in a branch back)
/// with an empty code hook; returns instructions per second.
pub fn hooked_loop_rate(instructions: usize) -> Result<f64, String> {
    const BASE: u64 = 0x10000;
    const WORDS: usize = 1024;
    let mut code = Vec::with_capacity(WORDS * 4);
    for _ in 0..WORDS - 1 {
        code.extend_from_slice(&0x9100_0400u32.to_le_bytes()); // add x0, x0, #1
    }
    let back = (0x1400_0000u32).wrapping_add(((-(WORDS as i32 - 1)) as u32) & 0x03ff_ffff); // b BASE
    code.extend_from_slice(&back.to_le_bytes());
    let mut uc = Unicorn::new(Arch::ARM64, Mode::LITTLE_ENDIAN).map_err(|e| format!("{e:?}"))?;
    uc.mem_map(BASE, 0x1000, Prot::READ | Prot::EXEC)
        .map_err(|e| format!("{e:?}"))?;
    uc.mem_write(BASE, &code).map_err(|e| format!("{e:?}"))?;
    uc.add_code_hook(1, 0, |_, _, _| {})
        .map_err(|e| format!("{e:?}"))?;
    uc.reg_write(RegisterARM64::X0, 0)
        .map_err(|e| format!("{e:?}"))?;
    let started = Instant::now();
    uc.emu_start(BASE, 0, 0, instructions)
        .map_err(|e| format!("{e:?}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(instructions as f64 / elapsed.max(1e-9))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_loop_runs_the_requested_instructions() {
        // The rate is a figure for the benchmark, not asserted; that it runs is.
        assert!(super::hooked_loop_rate(10_000).unwrap() > 0.0);
    }
}
