//! Assembly text for display, produced by yaxpeax-arm and adjusted towards the GNU
//! objdump style that readers of twixt reports know.
//!
//! The adjustments: PC-relative operands (`$+0x74`) become absolute addresses (`0x1107c`)
//! because readers compare them with symbol addresses; memory-operand immediates
//! (`[sp, #-0x8]`, `[sp], #0x20`) and bit positions/counts (`lsr x1, x0, #24`,
//! `tbz w3, #0, ...`, `ubfx x2, x0, #0, #8`) are printed in decimal as objdump does; the
//! system registers Go code touches get their names; `dc zva` is shown as such.
//! Condition codes keep yaxpeax's `hs`/`lo` (objdump says `cs`/`cc`; both are
//! architectural, and Go's own assembler says BHS/BLO).

use std::fmt::Write as _;

use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand};

/// Renders `word` at `addr`, or `None` when yaxpeax cannot decode it.
pub(crate) fn render(addr: u64, word: u32) -> Option<String> {
    // yaxpeax's formatter has `unreachable!()` arms for operand shapes its decoder
    // should never produce; a bug there must not take a whole analysis down, so a panic
    // is treated like an undecodable word. (The test suite checks no word panics.)
    std::panic::catch_unwind(|| render_inner(addr, word)).unwrap_or(None)
}

/// Whether yaxpeax-arm decodes `word` at all. The classifier uses this only to tell
/// allocated from unallocated encodings in the FP/SIMD space, whose many classes it does
/// not otherwise need to take apart (none of them writes SP).
pub(crate) fn decodes(word: u32) -> bool {
    let bytes = word.to_le_bytes();
    std::panic::catch_unwind(|| {
        InstDecoder::default()
            .decode(&mut U8Reader::new(&bytes))
            .is_ok()
    })
    .unwrap_or(false)
}

fn render_inner(addr: u64, word: u32) -> Option<String> {
    let bytes = word.to_le_bytes();
    let insn: Instruction = InstDecoder::default()
        .decode(&mut U8Reader::new(&bytes))
        .ok()?;
    let mut text = insn.to_string();
    if let Some(offset) = insn.operands.iter().find_map(|op| match op {
        Operand::PCOffset(o) => Some(*o),
        _ => None,
    }) {
        // ADRP's offset counts from the 4 KiB page of the instruction.
        let base = if insn.opcode == Opcode::ADRP {
            addr & !0xFFF
        } else {
            addr
        };
        let target = base.wrapping_add(offset as u64);
        let shown = Operand::PCOffset(offset).to_string();
        text = text.replacen(&shown, &format!("{target:#x}"), 1);
    }
    Some(gnu_style(&text))
}

/// Mnemonics whose `#` immediates are bit positions, shift amounts or small counts, which
/// objdump prints in decimal.
const DECIMAL_IMMEDIATES: &[&str] = &[
    "lsl", "lsr", "asr", "ror", "ubfx", "ubfiz", "sbfx", "sbfiz", "bfi", "bfxil", "bfc", "extr",
    "tbz", "tbnz", "udf", "shl", "sshr", "ushr", "sri", "sli", "ssra", "usra", "srshr", "urshr",
    "shrn", "shrn2", "rshrn", "rshrn2", "sshll", "sshll2", "ushll", "ushll2",
];

/// System registers Go code reads or writes, by their `s<op0>_<op1>_c<n>_c<m>_<op2>` name.
const SYSTEM_REGISTERS: &[(&str, &str)] = &[
    ("s3_3_c4_c4_0", "fpcr"),
    ("s3_3_c4_c4_1", "fpsr"),
    ("s3_3_c4_c2_0", "nzcv"),
    ("s3_3_c0_c0_7", "dczid_el0"),
    ("s3_3_c0_c0_1", "ctr_el0"),
    ("s3_3_c14_c0_0", "cntfrq_el0"),
    ("s3_3_c14_c0_1", "cntpct_el0"),
    ("s3_0_c0_c4_0", "id_aa64pfr0_el1"),
    ("s3_0_c0_c6_0", "id_aa64isar0_el1"),
    ("s3_0_c0_c6_1", "id_aa64isar1_el1"),
    ("s3_0_c0_c7_0", "id_aa64mmfr0_el1"),
];

fn gnu_style(text: &str) -> String {
    let mnemonic = text.split(' ').next().unwrap_or("");
    let mut out = if DECIMAL_IMMEDIATES.contains(&mnemonic) {
        decimal_immediates(text, true)
    } else {
        decimal_immediates(text, false)
    };
    if mnemonic == "mrs" || mnemonic == "msr" {
        for (raw, name) in SYSTEM_REGISTERS {
            if let Some(i) = out.find(raw) {
                let end = i + raw.len();
                // Whole operand only (`s3_3_c4_c4_1` must not match `s3_3_c4_c4_10`).
                if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                    out.replace_range(i..end, name);
                    break;
                }
            }
        }
    }
    // DC ZVA (zero a cache block; Go's memclr uses it) is SYS #3, C7, C4, #1.
    if let Some(reg) = out.strip_prefix("sys #0x3, c7, c4, #0x1, ") {
        out = format!("dc zva, {reg}");
    }
    out
}

/// Rewrites `#0x..` / `#-0x..` as decimal: every one when `all`, otherwise those inside
/// `[...]` and right after a closing `], ` (memory offsets).
fn decimal_immediates(text: &str, all: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Whether the next immediate belongs to a memory operand.
    let mut in_mem = false;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            in_mem = true;
        } else if c == ']' {
            in_mem = false;
            // Post-index immediate: `[sp], #0x20`.
            if let Some(after) = rest[1..].strip_prefix(", #") {
                out.push_str("], #");
                rest = after;
                rest = push_decimal(&mut out, rest);
                continue;
            }
        } else if c == '#' && (in_mem || all) {
            out.push('#');
            rest = push_decimal(&mut out, &rest[1..]);
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// If `s` starts with an optionally negative hex literal, writes it to `out` in decimal
/// and returns the rest of `s`; otherwise returns `s` untouched.
fn push_decimal<'a>(out: &mut String, s: &'a str) -> &'a str {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let Some(hex) = body.strip_prefix("0x") else {
        return s;
    };
    let end = hex
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(hex.len());
    let Ok(value) = u64::from_str_radix(&hex[..end], 16) else {
        return s;
    };
    let _ = write!(out, "{}{}", if neg { "-" } else { "" }, value);
    &hex[end..]
}

#[cfg(test)]
mod tests {
    use super::gnu_style as d;

    #[test]
    fn memory_immediates_become_decimal() {
        assert_eq!(d("ldp x29, x30, [sp, #-0x8]"), "ldp x29, x30, [sp, #-8]");
        assert_eq!(d("str x30, [sp, #-0x20]!"), "str x30, [sp, #-32]!");
        assert_eq!(d("ldr x30, [sp], #0x20"), "ldr x30, [sp], #32");
        assert_eq!(d("ld1 {v0.4s}, [x0], x2"), "ld1 {v0.4s}, [x0], x2");
        assert_eq!(d("add sp, sp, #0x20"), "add sp, sp, #0x20");
        assert_eq!(d("ldr x0, [x1]"), "ldr x0, [x1]");
        assert_eq!(d("ldr x0, [x1, x2, lsl #3]"), "ldr x0, [x1, x2, lsl #3]");
    }

    #[test]
    fn bit_positions_become_decimal() {
        assert_eq!(d("lsr x1, x0, #0x18"), "lsr x1, x0, #24");
        assert_eq!(d("ubfx x2, x0, #0x0, #0x8"), "ubfx x2, x0, #0, #8");
        assert_eq!(d("tbnz x3, #0x3f, 0x11284"), "tbnz x3, #63, 0x11284");
        assert_eq!(d("udf #0x0"), "udf #0");
        assert_eq!(d("mov x4, #0x400"), "mov x4, #0x400");
    }

    #[test]
    fn system_names() {
        assert_eq!(d("mrs x3, s3_3_c0_c0_7"), "mrs x3, dczid_el0");
        assert_eq!(d("msr s3_3_c4_c4_1, x0"), "msr fpsr, x0");
        assert_eq!(d("msr s3_3_c4_c4_10, x0"), "msr s3_3_c4_c4_10, x0");
        assert_eq!(d("sys #0x3, c7, c4, #0x1, x5"), "dc zva, x5");
    }
}
