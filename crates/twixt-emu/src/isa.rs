//! The instruction-set seam of the emulator: everything the engine core and its two
//! policies need to know about the guest's instruction set, in one trait.
//!
//! The core ([`crate::engine`]) maps memory, journals pages and installs hooks without
//! knowing the instruction set; where it must (which Unicorn architecture and CPU model,
//! how an instruction names a general register, which registers are PC, SP, the frame
//! pointer, the link register and the flags, how wide an instruction is), it asks [`Isa`].
//! The region harness asks it two more things: the base register of a load or store
//! (to replay an access no memory can back against scratch memory, see
//! [`crate::harness`]) and whether a word the CPU refused decodes as falling through (a
//! literal-pool word inside a region). Both are answered by `twixt-arm64`'s decoder, the
//! one place arm64 bits are read.
//!
//! [`Arm64`] is the only implementation, and the engine names it once, as [`Target`]. A
//! second instruction set adds an implementation and turns `Target` into a type parameter
//! of [`crate::engine::Engine`]. What it would meet beyond this trait: the public register
//! file is arm64-shaped (`RegionStart::x` and `call::Regs::x` hold X0..X30, `Regs::d`
//! holds D0..D31, [`crate::Boundary::x`] takes an arm64 register number), and outside this
//! crate the classifier (`twixt-arm64`) and pushCall (`twixt-unwind::preempt`) are arm64's.

use unicorn_engine::unicorn_const::{Arch, Mode, uc_error};
use unicorn_engine::{RegisterARM64, Unicorn};

/// What the engine needs to know about an instruction set.
pub(crate) trait Isa {
    /// Unicorn's architecture.
    const ARCH: Arch;
    /// Unicorn's mode.
    const MODE: Mode;
    /// Bytes per instruction (fixed-width instruction sets only: the harness steps over
    /// a refused word and a replayed access by this much).
    const INSN_BYTES: u64;
    /// The number of general registers an instruction can name as data (X0..X30).
    const GPRS: usize;
    /// The number of 64-bit vector/floating-point registers the register file holds.
    const VECTORS: usize;
    /// Unicorn's id of PC.
    const PC: i32;
    /// SP.
    const SP: i32;
    /// The frame pointer (R29).
    const FP: i32;
    /// The link register (R30).
    const LR: i32;
    /// The condition flags (NZCV).
    const FLAGS: i32;
    /// The general register that holds the current goroutine (`g`, R28).
    const G_REGISTER: usize;
    /// The interrupt number Unicorn reports for an undefined instruction.
    const UNDEFINED_INSTRUCTION: u32;

    /// Configures a fresh engine (the CPU model).
    fn configure<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error>;

    /// Unicorn's id for general register `n` as an instruction encodes it.
    fn gpr(n: u8) -> i32;

    /// Unicorn's id for vector register `n`, read and written as 64 bits.
    fn vector(n: u8) -> i32;

    /// The base register of the load or store `word`, if it is one whose address is a
    /// base register plus something (the register number as [`Isa::gpr`] takes it).
    fn access_base(word: u32) -> Option<u8>;

    /// Whether the load `word` at `pc` writes its own base register `rn` as a destination
    /// (then the loaded value stands; otherwise the base changes only by writeback).
    fn loads_into_base(pc: u64, word: u32, rn: u8) -> bool;

    /// Whether `word`, which the CPU refused, decodes as an instruction that falls through:
    /// then it is data inside the code (a literal pool) and is stepped over.
    fn falls_through(pc: u64, word: u32) -> bool;
}

/// The instruction set the engine emulates.
pub(crate) type Target = Arm64;

/// 64-bit little-endian arm64, as Go's linux/arm64 port emits it.
pub(crate) struct Arm64;

impl Isa for Arm64 {
    const ARCH: Arch = Arch::ARM64;
    const MODE: Mode = Mode::LITTLE_ENDIAN;
    const INSN_BYTES: u64 = 4;
    const GPRS: usize = 31;
    const VECTORS: usize = 32;
    const PC: i32 = RegisterARM64::PC as i32;
    const SP: i32 = RegisterARM64::SP as i32;
    const FP: i32 = RegisterARM64::X29 as i32;
    const LR: i32 = RegisterARM64::X30 as i32;
    const FLAGS: i32 = RegisterARM64::NZCV as i32;
    const G_REGISTER: usize = 28;
    /// QEMU's `EXCP_UDEF`.
    const UNDEFINED_INSTRUCTION: u32 = 1;

    fn configure<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
        // The newest architecture level: Go uses LSE atomics (LDADDAL, CASAL, SWPAL) when
        // the CPU has them, and the default Cortex-A57 model would trap on them.
        uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32)
    }

    /// X0..X28 are contiguous in Unicorn's numbering, X29 and X30 are numbered apart, and
    /// 31 (as a base register) is SP.
    fn gpr(n: u8) -> i32 {
        match n {
            29 => RegisterARM64::X29 as i32,
            30 => RegisterARM64::X30 as i32,
            31.. => RegisterARM64::SP as i32,
            n => RegisterARM64::X0 as i32 + i32::from(n),
        }
    }

    /// D0..D31 (the low 64 bits of V0..V31: what Go's ABI and asyncPreempt use).
    fn vector(n: u8) -> i32 {
        RegisterARM64::D0 as i32 + i32::from(n.min(31))
    }

    fn access_base(word: u32) -> Option<u8> {
        twixt_arm64::mem_base(word)
    }

    fn loads_into_base(pc: u64, word: u32, rn: u8) -> bool {
        twixt_arm64::load_overwrites_base(pc, word, rn)
    }

    fn falls_through(pc: u64, word: u32) -> bool {
        twixt_arm64::classify(pc, word).flow == twixt_arm64::Flow::Next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_numbers_follow_the_encoding() {
        assert_eq!(Arm64::gpr(0), RegisterARM64::X0 as i32);
        assert_eq!(Arm64::gpr(28), RegisterARM64::X28 as i32);
        assert_eq!(Arm64::gpr(29), Arm64::FP);
        assert_eq!(Arm64::gpr(30), Arm64::LR);
        assert_eq!(Arm64::gpr(31), Arm64::SP);
        assert_eq!(Arm64::vector(31), RegisterARM64::D31 as i32);
    }

    #[test]
    fn the_replay_decodes_bases_and_destinations() {
        // ldr x2, [x1, #8]!: base x1, loads into x2 (not its base).
        assert_eq!(Arm64::access_base(0xf8408c22), Some(1));
        assert!(!Arm64::loads_into_base(0, 0xf8408c22, 1));
        // ldr x1, [x1]: the loaded value replaces the base.
        assert!(Arm64::loads_into_base(0, 0xf9400021, 1));
        // add x0, x0, #1 is no memory access.
        assert_eq!(Arm64::access_base(0x91000400), None);
    }
}
