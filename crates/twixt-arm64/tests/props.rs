//! Property tests: every 32-bit word decodes without panicking, the effects are
//! internally consistent, and the bit-level classifier agrees with yaxpeax-arm's operand
//! model on control flow (class and target) and on SP writes wherever yaxpeax decodes.

use proptest::prelude::*;
use twixt_arm64::{Flow, Insn, Writeback, decode, successors};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand};

fn yaxpeax(word: u32) -> Option<Instruction> {
    let bytes = word.to_le_bytes();
    InstDecoder::default()
        .decode(&mut U8Reader::new(&bytes))
        .ok()
}

/// The flow yaxpeax's opcode and operands imply, or `None` for opcodes that are not
/// branches or traps.
fn yaxpeax_flow(addr: u64, i: &Instruction) -> Option<Flow> {
    let pc_target = i.operands.iter().find_map(|op| match op {
        Operand::PCOffset(o) => Some(addr.wrapping_add(*o as u64)),
        _ => None,
    });
    let reg = |n: usize| match i.operands[n] {
        Operand::Register(_, r) | Operand::RegisterOrSP(_, r) => r as u8,
        _ => 30,
    };
    Some(match i.opcode {
        Opcode::B => Flow::Branch { target: pc_target? },
        Opcode::Bcc(c) | Opcode::BCcc(c) if c >= 14 => Flow::Branch { target: pc_target? },
        Opcode::Bcc(_)
        | Opcode::BCcc(_)
        | Opcode::CBZ
        | Opcode::CBNZ
        | Opcode::TBZ
        | Opcode::TBNZ => Flow::CondBranch { target: pc_target? },
        Opcode::BL => Flow::Call { target: pc_target? },
        Opcode::BR | Opcode::BRAA | Opcode::BRAB | Opcode::BRAAZ | Opcode::BRABZ => {
            Flow::IndirectBranch { reg: reg(0) }
        }
        Opcode::BLR | Opcode::BLRAA | Opcode::BLRAB | Opcode::BLRAAZ | Opcode::BLRABZ => {
            Flow::CallIndirect { reg: reg(0) }
        }
        Opcode::RET => Flow::Ret { reg: reg(0) },
        Opcode::RETAA | Opcode::RETAB => Flow::Ret { reg: 30 },
        Opcode::BRK | Opcode::HLT | Opcode::UDF => Flow::Trap,
        _ => return None,
    })
}

/// Whether yaxpeax's operands say SP is written: an SP destination, or writeback to an SP
/// base. Tag stores (`stg sp, [...]`) take SP as a *source* in the first slot.
fn yaxpeax_writes_sp(i: &Instruction) -> bool {
    let wb = i.operands.iter().any(|op| {
        matches!(
            op,
            Operand::RegPreIndex(31, _, true)
                | Operand::RegPostIndex(31, _)
                | Operand::RegPostIndexReg(31, _)
        )
    });
    let tag_store = matches!(
        i.opcode,
        Opcode::STG | Opcode::STZG | Opcode::ST2G | Opcode::STZ2G
    );
    let dest = matches!(i.operands[0], Operand::RegisterOrSP(_, 31)) && !tag_store;
    wb || dest
}

fn check_consistent(i: &Insn) -> Result<(), TestCaseError> {
    let e = &i.effects;
    prop_assert_eq!(e.writes_sp, e.written.contains_sp());
    prop_assert_eq!(e.writes_fp, e.written.contains_x(29));
    prop_assert_eq!(e.writes_lr, e.written.contains_x(30));
    if e.sp_delta.is_some() {
        prop_assert!(e.writes_sp, "sp_delta without an SP write");
    }
    if let Some(m) = e.sp_mem {
        prop_assert!(m.regs == 1 || m.regs == 2);
        prop_assert!(matches!(m.size, 1 | 2 | 4 | 8 | 16));
        match m.writeback {
            Writeback::None => {}
            Writeback::Pre => {
                prop_assert!(e.writes_sp);
                prop_assert_eq!(e.sp_delta, Some(m.offset));
            }
            Writeback::Post => {
                prop_assert!(e.writes_sp);
                prop_assert!(e.sp_delta.is_some());
                prop_assert_eq!(m.offset, 0);
            }
        }
    }
    if e.flow == Flow::Trap {
        prop_assert!(e.written.is_empty() && e.sp_mem.is_none() && e.sp_delta.is_none());
    }
    if let Flow::Call { .. } | Flow::CallIndirect { .. } = e.flow {
        prop_assert!(e.writes_lr, "a call writes the link register");
    }
    if let Some(t) = e.flow.target() {
        if i.addr.is_multiple_of(4) {
            prop_assert_eq!(t % 4, 0, "unaligned target");
        }
        // Direct branches reach at most +-128 MiB.
        let dist = t.wrapping_sub(i.addr) as i64;
        prop_assert!((-(1 << 27)..(1 << 27)).contains(&dist));
        prop_assert!(
            i.text.contains(&format!("{t:#x}")),
            "target missing from text"
        );
    }
    let s = successors(i.addr, &e.flow);
    prop_assert_eq!(s.fallthrough.is_some(), e.flow.falls_through());
    if !e.flow.ends_block() {
        prop_assert!(s.fallthrough.is_some());
    }
    prop_assert!(!i.text.is_empty());
    prop_assert_eq!(i.is_decoded(), i.text != format!(".word {:#010x}", i.word));
    Ok(())
}

/// 20 000 cases per property by default; `TWIXT_PROPTEST_CASES` raises it for a long run.
fn config() -> ProptestConfig {
    let cases = std::env::var("TWIXT_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_word_decodes_consistently(word in any::<u32>(), addr in any::<u64>()) {
        let addr = addr & !3;
        let i = decode(addr, word);
        prop_assert_eq!(i.addr, addr);
        prop_assert_eq!(i.word, word);
        check_consistent(&i)?;
    }

    #[test]
    fn classifier_agrees_with_yaxpeax(word in any::<u32>(), addr in 0u64..(1 << 40)) {
        let addr = addr & !3;
        let i = decode(addr, word);
        let Some(y) = yaxpeax(word) else {
            // yaxpeax rejects it; the text must say so.
            prop_assert!(!i.is_decoded());
            return Ok(());
        };
        prop_assert!(i.is_decoded());
        let e = &i.effects;
        // Where the classifier calls the word unallocated and yaxpeax decodes it anyway,
        // the classifier follows the stricter reading (objdump's); nothing to compare.
        if e.flow == Flow::Trap && yaxpeax_flow(addr, &y) != Some(Flow::Trap) {
            return Ok(());
        }
        let mut want = yaxpeax_flow(addr, &y);
        if y.opcode == Opcode::ADRP {
            want = None;
        }
        match want {
            Some(f) => prop_assert_eq!(f, e.flow, "{} ({:?})", i.text, y),
            None => prop_assert!(
                matches!(e.flow, Flow::Next | Flow::System),
                "ours {:?}, yaxpeax {:?}", e.flow, y
            ),
        }
        prop_assert_eq!(yaxpeax_writes_sp(&y), e.writes_sp, "{} ({:?})", i.text, y);
    }

    /// Words from the encoding classes Go uses around frames, with SP as base or
    /// destination, to exercise the SP paths far more often than uniform words would.
    #[test]
    fn sp_heavy_words_agree_with_yaxpeax(
        top in prop::sample::select(vec![
            0x9100_0000u32, 0xd100_0000, 0x8b20_0000, 0xcb20_0000, // add/sub imm, ext
            0xf800_0000, 0xf840_0000, 0xb800_0000, 0x3c00_0000,    // ldr/str imm9
            0xa900_0000, 0xa800_0000, 0xa980_0000, 0xa9c0_0000,    // ldp/stp
            0xf900_0000, 0xf940_0000, 0x9200_0000, 0xb200_0000,    // uimm, logical imm
            0x0c80_0000, 0x4cc0_0000, 0x0d80_0000, 0x4de0_0000,    // ld1/st1 post-index
        ]),
        low in 0u32..(1 << 23),
        rd_sp in any::<bool>(),
    ) {
        let mut word = top | low;
        word |= 31 << 5; // Rn = SP
        if rd_sp {
            word |= 31;
        }
        let i = decode(0x40_0000, word);
        check_consistent(&i)?;
        if let Some(y) = yaxpeax(word)
            && i.effects.flow != Flow::Trap
        {
            prop_assert_eq!(yaxpeax_writes_sp(&y), i.effects.writes_sp, "{} ({:?})", i.text, y);
        }
    }
}
