//! The baselines the benchmark compares twixt with: a bare Unicorn run over straight-line
//! arm64 code with an empty per-instruction code hook, the least any boundary-by-boundary
//! tool built on Unicorn must pay once the code is translated; and the same over code that
//! runs once, as a scan's does, so that TCG translates every instruction it executes.

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

/// Runs `instructions` instructions of code that is executed once, in straight regions of
/// `region` instructions (one `emu_start` each, as the scan runs a function's regions),
/// with an empty code hook when `hooked`; returns instructions per second. The code mixes
/// an ADD, a store and a load to SP-relative stack; the translation cache is flushed (and the
/// hook renewed) every 512 regions, as the scan's harness does.
pub fn translated_once_rate(
    instructions: usize,
    region: usize,
    hooked: bool,
) -> Result<f64, String> {
    const BASE: u64 = 0x10_0000;
    const STACK: u64 = 0x7000_0000;
    let err = |e: unicorn_engine::unicorn_const::uc_error| format!("{e:?}");
    let region = region.max(1);
    let mut code = Vec::with_capacity(instructions * 4);
    for i in 0..instructions as u32 {
        let word = match i % 3 {
            0 => 0x9100_0000 | ((i & 0xfff) << 10), // add x0, x0, #imm
            1 => 0xf81f_83e0,                       // stur x0, [sp, #-8]
            _ => 0xf85f_03e1,                       // ldur x1, [sp, #-16]
        };
        code.extend_from_slice(&word.to_le_bytes());
    }
    let mut uc = Unicorn::new(Arch::ARM64, Mode::LITTLE_ENDIAN).map_err(err)?;
    let size = (code.len() as u64 + 0xfff) & !0xfff;
    uc.mem_map(BASE, size, Prot::READ | Prot::EXEC)
        .map_err(err)?;
    uc.mem_write(BASE, &code).map_err(err)?;
    uc.mem_map(STACK, 0x10000, Prot::READ | Prot::WRITE)
        .map_err(err)?;
    let mut hook = None;
    if hooked {
        hook = Some(uc.add_code_hook(1, 0, |_, _, _| {}).map_err(err)?);
    }
    let started = Instant::now();
    let mut done = 0;
    let mut pc = BASE;
    while done + region <= instructions {
        uc.reg_write(RegisterARM64::SP, STACK + 0x8000)
            .map_err(err)?;
        let last = pc + 4 * (region as u64 - 1);
        uc.emu_start(pc, last, 0, 0).map_err(err)?;
        pc = last + 4;
        done += region;
        if (done / region).is_multiple_of(512) {
            uc.ctl_flush_tb().map_err(err)?;
            // As the harness does: a renewed hook forgets the blocks it instrumented.
            if let Some(id) = hook.take() {
                uc.remove_hook(id).map_err(err)?;
                hook = Some(uc.add_code_hook(1, 0, |_, _, _| {}).map_err(err)?);
            }
        }
    }
    Ok(done as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_loop_runs_the_requested_instructions() {
        // The rate is a figure for the benchmark, not asserted; that it runs is.
        assert!(super::hooked_loop_rate(10_000).unwrap() > 0.0);
    }

    #[test]
    fn code_that_runs_once_runs() {
        assert!(super::translated_once_rate(3_000, 8, true).unwrap() > 0.0);
    }
}
