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
