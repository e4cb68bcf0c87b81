//! amd64 (x86-64) decoding for display and classification of instructions that matter to
//! unwinding: all x86-64 decoding in twixt lives here, as all arm64 decoding lives in
//! `twixt-arm64`.
//!
//! [`decode`] turns the bytes at an address into an [`Insn`]: its length and bytes,
//! lower-case Intel-syntax text for people (iced-x86's formatter, set to read like GNU
//! objdump's `-M intel`, PC-relative operands shown as absolute addresses) and the
//! [`Effects`] an unwinder cares about (RSP and RBP writes with the constant of
//! `RSP = RSP + c`, the explicit memory operand and whether it is a store, control flow),
//! computed by [`classify`] from iced's operand access information. Bytes that do not
//! decode are one-byte `.byte 0x..` instructions with [`Effects::UNDEFINED`] (a trap), so a
//! listing can always go on. Never panics.

mod classify;
mod effects;
mod text;

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory};

pub use effects::{Effects, Flow, MemAccess, RegSet};

/// The longest x86-64 instruction, in bytes.
pub const MAX_INSN_LEN: usize = 15;

/// One decoded instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Address of the instruction.
    pub addr: u64,
    /// Its bytes, in memory order (one byte for an undecodable sequence).
    pub bytes: Vec<u8>,
    /// Lower-case Intel syntax, e.g. `sub rsp, 0x18`, `mov qword ptr [rsp+0x10], rbp`,
    /// `call 0x46d3a0`; `.byte 0x..` when the bytes do not decode.
    pub text: String,
    /// What the instruction does that matters to stack unwinding.
    pub effects: Effects,
}

impl Insn {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the instruction has no bytes (never true for a decoded instruction).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the bytes decoded (false for `.byte` lines).
    pub fn is_decoded(&self) -> bool {
        !self.text.starts_with(".byte")
    }

    /// Address of the next instruction.
    pub fn next_addr(&self) -> u64 {
        self.addr.wrapping_add(self.bytes.len() as u64)
    }
}

impl std::fmt::Display for Insn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}: ", self.addr)?;
        for b in &self.bytes {
            write!(f, "{b:02x}")?;
        }
        write!(f, "  {}", self.text)
    }
}

/// Decodes the instruction at the start of `bytes`, located at `addr`. `bytes` may be
/// longer than the instruction (at most [`MAX_INSN_LEN`] are looked at); an empty,
/// undecodable or truncated sequence gives a one-byte `.byte` instruction (none at all for
/// empty input: `bytes` empty, text `.byte`). Never panics.
pub fn decode(addr: u64, bytes: &[u8]) -> Insn {
    decode_all(addr, &bytes[..bytes.len().min(MAX_INSN_LEN)])
        .into_iter()
        .next()
        .unwrap_or_else(|| Insn {
            addr,
            bytes: Vec::new(),
            text: ".byte".into(),
            effects: Effects::UNDEFINED,
        })
}

/// The effects of the instruction at the start of `bytes` (see [`decode`]), and its length.
pub fn classify(addr: u64, bytes: &[u8]) -> (usize, Effects) {
    let insn = decode(addr, bytes);
    (insn.len(), insn.effects)
}

/// Decodes consecutive instructions starting at `addr`, every byte covered: an
/// undecodable byte becomes a one-byte `.byte` instruction and decoding resumes after it.
pub fn decode_all(addr: u64, bytes: &[u8]) -> Vec<Insn> {
    let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
    let mut formatter = text::formatter();
    let mut factory = InstructionInfoFactory::new();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let at = addr.wrapping_add(pos as u64);
        // Restart after an undecodable byte: the decoder may have consumed more.
        if decoder.position() != pos {
            decoder.set_ip(at);
            if decoder.set_position(pos).is_err() {
                break;
            }
        }
        let insn = decoder.decode();
        let len = insn.len();
        if insn.is_invalid() || len == 0 || pos + len > bytes.len() {
            out.push(Insn {
                addr: at,
                bytes: vec![bytes[pos]],
                text: format!(".byte {:#04x}", bytes[pos]),
                effects: Effects::UNDEFINED,
            });
            pos += 1;
            continue;
        }
        let info = factory.info(&insn);
        out.push(Insn {
            addr: at,
            bytes: bytes[pos..pos + len].to_vec(),
            text: text::render(&mut formatter, &insn),
            effects: classify::effects_of(&insn, info),
        });
        pos += len;
    }
    out
}
