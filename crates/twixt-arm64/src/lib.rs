//! arm64 decoding for display and classification of instructions that matter to unwinding.
//!
//! [`decode`] turns one 32-bit word into an [`Insn`]: lower-case assembly text for people
//! (via yaxpeax-arm, with PC-relative operands shown as absolute addresses) and the
//! [`Effects`] an unwinder cares about, computed by [`classify`] from the encoding bits
//! alone. The two are independent: an undefined word gets [`Effects::UNDEFINED`] (a trap
//! that writes nothing), but a valid word yaxpeax cannot render (SVE, MTE, MOPS, ...) is
//! shown as `.word 0x........` and keeps the effects its bits imply, so an instruction the
//! display decoder does not know cannot hide an SP write. The only place the classifier
//! asks yaxpeax anything is whether an FP/SIMD data-processing word is allocated at all.

mod classify;
mod effects;
mod text;
mod values;

pub use classify::classify;
pub use effects::{
    Effects, Flow, RegSet, SpAccess, Successors, Writeback, is_unconditional_transfer, successors,
};
pub use values::{
    MemOp, ValueOp, load_overwrites_base, mem_base, mem_op, register_addressed_store, value_op,
};

/// Whether `word` may change machine state that [`crate::Effects`] and the general register
/// file do not show: the full 128-bit vector registers, FPSR and FPCR, the exclusive monitor
/// or system registers. Conservative by encoding class alone (no decoding): every FP/SIMD
/// load, store and data-processing word (bits 27:26 = 11), SVE and the reserved/SME class
/// (op0 = 0010 or 0000), load/store exclusive (bits 29:24 = 001000) and every system
/// instruction (bits 31:22 = 1101010100). `twixt run` uses it to prove that two runs which
/// executed none of these since a common state still agree on everything it cannot read.
pub fn touches_unread_state(word: u32) -> bool {
    let op0 = (word >> 25) & 0xf;
    (word >> 26) & 3 == 3
        || op0 == 0b0010
        || op0 == 0b0000
        || (word >> 24) & 0x3f == 0b00_1000
        || word >> 22 == 0b11_0101_0100
}

/// How an instruction involves general register `reg` (0..=30), by encoding fields alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegUse {
    /// It sets the whole register without reading any register: MOVZ, MOVN, ORR
    /// (immediate) from the zero register, ADR, ADRP with `reg` as destination.
    Kill,
    /// One of its register fields ([4:0], [9:5], [14:10], [20:16], where every arm64 GPR
    /// operand sits) names `reg`, or may: it may read it.
    Mention,
    /// No register field names it: it neither reads nor writes it.
    Untouched,
}

/// How `word` involves general register `reg` (see [`RegUse`]). Conservative: a field that
/// holds immediate bits equal to `reg` counts as a mention.
pub fn register_use(word: u32, reg: u8) -> RegUse {
    let reg = u32::from(reg);
    let rd = word & 0x1f;
    let movz_movn = (word >> 23) & 0xff == 0b1010_0101 || (word >> 23) & 0xff == 0b0010_0101;
    let orr_imm_from_zr = (word >> 23) & 0xff == 0b0110_0100 && (word >> 5) & 0x1f == 31;
    let adr = (word >> 24) & 0x1f == 0b1_0000;
    if rd == reg && (movz_movn || orr_imm_from_zr || adr) {
        return RegUse::Kill;
    }
    if register_fields(word)
        .iter()
        .any(|&at| (word >> at) & 0x1f == reg)
    {
        RegUse::Mention
    } else {
        RegUse::Untouched
    }
}

/// The bit positions of the 5-bit fields of `word` that may name a general register: all
/// four ([4:0], [9:5], [14:10], [20:16]) but in classes whose other bits are immediates
/// (data processing with an immediate but EXTR, B/BL, B.cond, CBZ/CBNZ/TBZ/TBNZ, loads and
/// stores with an unsigned offset), so that an immediate is not taken for a register.
fn register_fields(word: u32) -> &'static [u32] {
    const ALL: &[u32] = &[0, 5, 10, 16];
    const RD_RN: &[u32] = &[0, 5];
    const RT: &[u32] = &[0];
    const NONE: &[u32] = &[];
    if (word >> 26) & 0x7 == 0b100 && (word >> 23) & 0x7 != 0b111 {
        // Data processing (immediate), EXTR aside (its Rm is at [20:16]).
        RD_RN
    } else if (word >> 26) & 0x1f == 0b0_0101 || (word >> 24) & 0xff == 0b0101_0100 {
        // B, BL, B.cond: no register field.
        NONE
    } else if (word >> 25) & 0x3f == 0b01_1010 || (word >> 25) & 0x3f == 0b01_1011 {
        // CBZ/CBNZ, TBZ/TBNZ: Rt only.
        RT
    } else if (word >> 24) & 0x3b == 0b11_1001 {
        // Load/store (unsigned immediate), integer or FP/SIMD: Rt and Rn.
        RD_RN
    } else {
        ALL
    }
}

/// One decoded instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Address of the instruction.
    pub addr: u64,
    /// The raw little-endian instruction word.
    pub word: u32,
    /// Lower-case assembly, e.g. `add sp, sp, #0x11, lsl #12`, `ldp x29, x30, [sp, #-8]`,
    /// `bl 0x7a3c0`; `.word 0x........` when the display decoder does not know the word.
    pub text: String,
    /// What the instruction does that matters to stack unwinding.
    pub effects: Effects,
}

impl Insn {
    /// The intra-procedural successors (see [`successors`]).
    pub fn successors(&self) -> Successors {
        successors(self.addr, &self.effects.flow)
    }

    /// Whether the display decoder rendered the word (false for `.word` lines).
    pub fn is_decoded(&self) -> bool {
        !self.text.starts_with(".word")
    }
}

impl std::fmt::Display for Insn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}: {:08x}  {}", self.addr, self.word, self.text)
    }
}

/// Decodes the instruction `word` located at `addr`. Never panics.
pub fn decode(addr: u64, word: u32) -> Insn {
    let effects = classify(addr, word);
    let text = match text::render(addr, word) {
        Some(t) => t,
        None => format!(".word {word:#010x}"),
    };
    Insn {
        addr,
        word,
        text,
        effects,
    }
}

/// Decodes consecutive little-endian words starting at `addr`; a trailing partial word is
/// ignored.
pub fn decode_all(addr: u64, bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(4)
        .zip((0u64..).map(|i| addr.wrapping_add(i * 4)))
        .map(|(chunk, a)| {
            let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            decode(a, word)
        })
        .collect()
}

#[cfg(test)]
mod unread_state_tests {
    use super::touches_unread_state;

    #[test]
    fn simd_exclusive_and_system_words_touch_unread_state() {
        for (w, what) in [
            (0x3d8003e0u32, "str q0, [sp]"),
            (0x4ea11c20, "mov v0.16b, v1.16b"),
            (0x9e670020, "fmov d0, x1"),
            (0x1e602000, "fcmp d0, d0"),
            (0xc85f7c20, "ldxr x0, [x1]"),
            (0xc8027c20, "stxr w2, x0, [x1]"),
            (0xd5033bbf, "dmb ish"),
            (0xd53b4400, "mrs x0, fpcr"),
            (0x00000000, "udf #0"),
        ] {
            assert!(touches_unread_state(w), "{what}");
        }
    }

    #[test]
    fn ordinary_words_do_not() {
        for (w, what) in [
            (0x91000400u32, "add x0, x0, #1"),
            (0xf81f03e0, "stur x0, [sp, #-16]"),
            (0xa9bf7bfd, "stp x29, x30, [sp, #-16]!"),
            (0xf9400b90, "ldr x16, [x28, #16]"),
            (0x94000000, "bl ."),
            (0xd65f03c0, "ret"),
            (0xeb01001f, "cmp x0, x1"),
            (0xf8200020, "ldadd x0, x0, [x1]"),
        ] {
            assert!(!touches_unread_state(w), "{what}");
        }
    }
}

#[cfg(test)]
mod register_use_tests {
    use super::{RegUse, register_use};

    #[test]
    fn writes_that_read_nothing_kill_and_the_rest_mention() {
        for (w, what, want) in [
            (0xd2821e1bu32, "mov x27, #0x10f0", RegUse::Kill),
            (0x9280001b, "mov x27, #-1", RegUse::Kill),
            (
                0xb200e3fb,
                "orr x27, xzr, #0x1111111111111111",
                RegUse::Kill,
            ),
            (0x9000001b, "adrp x27, .", RegUse::Kill),
            (0xf2a0003b, "movk x27, #1, lsl #16", RegUse::Mention),
            (0x8b1b03ff, "add sp, sp, x27", RegUse::Mention),
            (0xf900037b, "str x27, [x27]", RegUse::Mention),
            (0xaa0003fb, "mov x27, x0", RegUse::Mention),
            (0x91000400, "add x0, x0, #1", RegUse::Untouched),
            (0x914dc3e1, "add x1, sp, #0x370, lsl #12", RegUse::Untouched),
            (0x9100efe1, "add x1, sp, #0x3b", RegUse::Untouched),
            (0x9100ef61, "add x1, x27, #0x3b", RegUse::Mention),
            (0xf9406fe1, "ldr x1, [sp, #0xd8]", RegUse::Untouched),
            (0xf9406f61, "ldr x1, [x27, #0xd8]", RegUse::Mention),
            (0x9400001b, "bl .+0x6c", RegUse::Untouched),
            (0xb400037b, "cbz x27, .+0x6c", RegUse::Mention),
            (0xb400036c, "cbz x12, .+0x6c", RegUse::Untouched),
            (0x93db7f61, "extr x1, x27, x27, #31", RegUse::Mention),
            (0xd65f03c0, "ret", RegUse::Untouched),
        ] {
            assert_eq!(register_use(w, 27), want, "{what}");
        }
    }
}
