//! The encoder against GNU objdump: every instruction of a representative function of every
//! signature (every generation and shape) is written to a raw file, disassembled by
//! `aarch64-linux-gnu-objdump`, and objdump's text must be the text this test expects from
//! the model's [`Op`] (what the Go assembler's listing says it emitted). The test fails,
//! rather than skipping, when objdump is missing: CI installs binutils-aarch64-linux-gnu.

use std::collections::BTreeSet;
use std::process::Command;

use twixt_synth::encode::Op;
use twixt_synth::model::{Shape, Signature, signature};
use twixt_synth::{Generation, synthesize};

fn reg(r: u8, sp: bool) -> String {
    match r {
        31 if sp => "sp".into(),
        31 => "xzr".into(),
        n => format!("x{n}"),
    }
}

fn one_chunk(v: u64) -> bool {
    (0..4).any(|s| v & !(0xffffu64 << (16 * s)) == 0)
}

/// objdump's rendering of `op` at `pc` (comments dropped).
fn expected(op: Op, pc: u64) -> String {
    match op {
        Op::AddImm {
            rd: 31,
            rn,
            imm12: 0,
            lsl12: false,
            sub: false,
        } => format!("mov\tsp, {}", reg(rn, true)),
        Op::AddImm {
            rd,
            rn,
            imm12,
            lsl12,
            sub,
        } => format!(
            "{}\t{}, {}, #{imm12:#x}{}",
            if sub { "sub" } else { "add" },
            reg(rd, true),
            reg(rn, true),
            if lsl12 { ", lsl #12" } else { "" }
        ),
        Op::AddExt { rd, rn, rm, sub } => format!(
            "{}\t{}, {}, {}",
            if sub { "sub" } else { "add" },
            reg(rd, true),
            reg(rn, true),
            reg(rm, false)
        ),
        Op::Movz { rd, imm16, hw } => format!(
            "mov\t{}, #{:#x}",
            reg(rd, false),
            u64::from(imm16) << (16 * u32::from(hw))
        ),
        Op::Movk { rd, imm16, hw } => format!(
            "movk\t{}, #{imm16:#x}{}",
            reg(rd, false),
            if hw > 0 {
                format!(", lsl #{}", 16 * u32::from(hw))
            } else {
                String::new()
            }
        ),
        // The MOV alias of ORR is used only when MOVZ/MOVN cannot make the value.
        Op::OrrImm { rd, value } if one_chunk(value) => {
            format!("orr\t{}, xzr, #{value:#x}", reg(rd, false))
        }
        Op::OrrImm { rd, value } => format!("mov\t{}, #{value:#x}", reg(rd, false)),
        Op::Stp { rt, rt2, rn, off } => format!(
            "stp\t{}, {}, [{}, #{off}]",
            reg(rt, false),
            reg(rt2, false),
            reg(rn, true)
        ),
        Op::Ldp { rt, rt2, rn, off } => format!(
            "ldp\t{}, {}, [{}, #{off}]",
            reg(rt, false),
            reg(rt2, false),
            reg(rn, true)
        ),
        Op::StrPre { rt, rn, off } => {
            format!("str\t{}, [{}, #{off}]!", reg(rt, false), reg(rn, true))
        }
        Op::LdrPost { rt, rn, off } => {
            format!("ldr\t{}, [{}], #{off}", reg(rt, false), reg(rn, true))
        }
        Op::Stur { rt, rn, off } => {
            format!("stur\t{}, [{}, #{off}]", reg(rt, false), reg(rn, true))
        }
        Op::Ldur { rt, rn, off } => {
            format!("ldur\t{}, [{}, #{off}]", reg(rt, false), reg(rn, true))
        }
        Op::StrUimm { rt, rn, off } => {
            format!("str\t{}, [{}, #{off}]", reg(rt, false), reg(rn, true))
        }
        Op::Bl { offset } => format!("bl\t{:#x}", pc.wrapping_add(offset as i64 as u64)),
        Op::Ret => "ret".into(),
        Op::Nop => "nop".into(),
    }
}

#[test]
fn objdump_reads_every_emitted_instruction_as_the_model_means_it() {
    let mut ops: Vec<Op> = Vec::new();
    let mut seen: BTreeSet<(Generation, Shape, Signature)> = BTreeSet::new();
    for g in Generation::ALL {
        for shape in Shape::ALL {
            let mut a = 0;
            while a <= (16 << 20) + (64 << 10) {
                if let Some(sig) = signature(g, a, shape)
                    && seen.insert((g, shape, sig))
                {
                    let f = synthesize(g, a, shape).unwrap();
                    // Rebase calls: the test lays functions end to end.
                    for (i, op) in f.ops.iter().enumerate() {
                        ops.push(match *op {
                            Op::Bl { .. } => Op::Bl {
                                offset: 4 * (i as i32 + 1),
                            },
                            o => o,
                        });
                    }
                }
                a += 16;
            }
        }
    }
    let bytes: Vec<u8> = ops.iter().flat_map(|o| o.encode().to_le_bytes()).collect();
    let path = std::env::temp_dir().join(format!("twixt-synth-objdump-{}.bin", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let out = Command::new("aarch64-linux-gnu-objdump")
        .args(["-D", "-b", "binary", "-m", "aarch64"])
        .arg(&path)
        .output()
        .expect("aarch64-linux-gnu-objdump runs (CI installs binutils-aarch64-linux-gnu)");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = Vec::new();
    for line in text.lines() {
        let Some((addr, rest)) = line.split_once(":\t") else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr.trim(), 16) else {
            continue;
        };
        let mut f = rest.splitn(2, '\t');
        let _word = f.next();
        let insn = f
            .next()
            .unwrap_or("")
            .split("//")
            .next()
            .unwrap_or("")
            .trim();
        lines.push((addr, insn.to_string()));
    }
    assert_eq!(lines.len(), ops.len());
    let mut bad = Vec::new();
    for ((addr, theirs), op) in lines.iter().zip(&ops) {
        let ours = expected(*op, *addr);
        if *theirs != ours {
            bad.push(format!(
                "{addr:#x} {op:?}: objdump `{theirs}`, expected `{ours}`"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(ops.len() > 200, "{} instructions", ops.len());
}
