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
//! The seam has two layers. [`Isa`] is what the engine core needs (Unicorn's architecture
//! and CPU model, the general registers, PC/SP/frame pointer/flags, the register of `g`,
//! the undefined-instruction exception): [`crate::engine::Engine`] takes it as a type
//! parameter, and both [`Arm64`] and [`Amd64`] implement it. [`FixedWidth`] is what the
//! two drivers need beyond that (a fixed instruction width, the link register, the vector
//! registers, and the decoding the harness's replay uses); only [`Arm64`] implements it,
//! and the drivers name it once, as [`Target`]. The public register file of the drivers is
//! arm64-shaped (`RegionStart::x` and `call::Regs::x` hold X0..X30, `Regs::d` holds
//! D0..D31, [`crate::Boundary::x`] takes an arm64 register number): an amd64 driver needs
//! its own, with amd64's replay (variable-length instructions, decoded by `twixt-amd64`).

use unicorn_engine::unicorn_const::{Arch, Mode, uc_error};
use unicorn_engine::{RegisterARM64, RegisterX86, Unicorn};

/// What the engine core needs to know about an instruction set.
pub(crate) trait Isa {
    /// Unicorn's architecture.
    const ARCH: Arch;
    /// Unicorn's mode.
    const MODE: Mode;
    /// The number of general registers an instruction can name as data (X0..X30 on
    /// arm64; RAX..R15 on amd64, RSP among them).
    const GPRS: usize;
    /// Unicorn's id of PC.
    const PC: i32;
    /// SP.
    const SP: i32;
    /// The frame pointer (R29; RBP).
    const FP: i32;
    /// The condition flags (NZCV; RFLAGS).
    const FLAGS: i32;
    /// The general register that holds the current goroutine (`g`: R28; R14).
    const G_REGISTER: usize;
    /// The interrupt number Unicorn reports for an undefined instruction.
    const UNDEFINED_INSTRUCTION: u32;

    /// Configures a fresh engine (the CPU model).
    fn configure<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error>;

    /// Unicorn's id for general register `n` as an instruction encodes it.
    fn gpr(n: u8) -> i32;
}

/// What the drivers (the region harness, the whole-call machine) need beyond [`Isa`].
pub(crate) trait FixedWidth: Isa {
    /// Bytes per instruction (the harness steps over a refused word and a replayed access
    /// by this much).
    const INSN_BYTES: u64;
    /// The number of 64-bit vector/floating-point registers the register file holds.
    const VECTORS: usize;
    /// The link register (R30).
    const LR: i32;

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

/// The instruction set the drivers emulate.
pub(crate) type Target = Arm64;

/// 64-bit little-endian arm64, as Go's linux/arm64 port emits it.
pub(crate) struct Arm64;

impl Isa for Arm64 {
    const ARCH: Arch = Arch::ARM64;
    const MODE: Mode = Mode::LITTLE_ENDIAN;
    const GPRS: usize = 31;
    const PC: i32 = RegisterARM64::PC as i32;
    const SP: i32 = RegisterARM64::SP as i32;
    const FP: i32 = RegisterARM64::X29 as i32;
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
}

impl FixedWidth for Arm64 {
    const INSN_BYTES: u64 = 4;
    const VECTORS: usize = 32;
    const LR: i32 = RegisterARM64::X30 as i32;

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

/// x86-64, as Go's linux/amd64 port emits it: `g` in R14 (ABIInternal), RBP the frame
/// pointer, no link register.
pub(crate) struct Amd64;

impl Isa for Amd64 {
    const ARCH: Arch = Arch::X86;
    const MODE: Mode = Mode::MODE_64;
    const GPRS: usize = 16;
    const PC: i32 = RegisterX86::RIP as i32;
    const SP: i32 = RegisterX86::RSP as i32;
    const FP: i32 = RegisterX86::RBP as i32;
    const FLAGS: i32 = RegisterX86::RFLAGS as i32;
    const G_REGISTER: usize = 14;
    /// QEMU's `EXCP06_ILLOP` (#UD).
    const UNDEFINED_INSTRUCTION: u32 = 6;

    fn configure<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
        // Haswell has what Go's amd64 code uses when the CPU offers it (AVX2, BMI2, FMA,
        // POPCNT, MOVBE, LZCNT); the default qemu64 model traps on some of it.
        uc.ctl_set_cpu_model(unicorn_engine::X86CpuModel::HASWELL as i32)
    }

    /// The hardware numbering (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI,
    /// 8..15 R8..R15), as `twixt_amd64::RegSet` numbers them; 16 and above read as RIP.
    fn gpr(n: u8) -> i32 {
        let r = match n {
            0 => RegisterX86::RAX,
            1 => RegisterX86::RCX,
            2 => RegisterX86::RDX,
            3 => RegisterX86::RBX,
            4 => RegisterX86::RSP,
            5 => RegisterX86::RBP,
            6 => RegisterX86::RSI,
            7 => RegisterX86::RDI,
            8 => RegisterX86::R8,
            9 => RegisterX86::R9,
            10 => RegisterX86::R10,
            11 => RegisterX86::R11,
            12 => RegisterX86::R12,
            13 => RegisterX86::R13,
            14 => RegisterX86::R14,
            15 => RegisterX86::R15,
            _ => RegisterX86::RIP,
        };
        r as i32
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
        assert_eq!(Amd64::gpr(4), Amd64::SP);
        assert_eq!(Amd64::gpr(5), Amd64::FP);
        assert_eq!(Amd64::gpr(14), RegisterX86::R14 as i32);
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
