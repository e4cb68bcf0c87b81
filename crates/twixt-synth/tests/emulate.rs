//! The interpreter the sweep uses against Unicorn: for a representative frame size of
//! every instruction signature in 0..=16 MiB + 64 KiB and a seeded sample of other sizes,
//! every generation and both shapes, the registers and the judgements of both unwinders
//! are the same at every boundary whether the code runs in the emulator (twixt-emu's
//! harness, region by region as `twixt scan` runs it) or in the interpreter. Also: every
//! word the encoder emits decodes (twixt-arm64) to what the model meant.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use twixt_synth::check::Checker;
use twixt_synth::encode::Op;
use twixt_synth::model::{Shape, Signature, signature};
use twixt_synth::{Generation, synthesize};

const TOP: u64 = (16 << 20) + (64 << 10);

/// Returns the number of boundaries with a window (of either unwinder).
fn agree(g: Generation, a: u64, shape: Shape) -> usize {
    let Ok(f) = synthesize(g, a, shape) else {
        return 0;
    };
    let c = Checker::new(g);
    let exact = c.check_exact(&f).expect("interpreter runs");
    let emu = c.check_emulated(&f).expect("emulator runs");
    assert_eq!(exact.len(), emu.len(), "{g} {a:#x} {shape:?}");
    for ((je, re), (ju, ru)) in exact.iter().zip(&emu) {
        assert_eq!(re, ru, "registers, {g} A={a:#x} {shape:?} at {}", je.index);
        assert_eq!(je, ju, "judgement, {g} A={a:#x} {shape:?} at {}", je.index);
    }
    exact
        .iter()
        .filter(|(j, _)| j.go.is_some() || j.fp.is_some())
        .count()
}

/// One frame size per signature (the smallest), per generation and shape.
fn representatives(g: Generation, shape: Shape) -> Vec<u64> {
    let mut seen: BTreeMap<Signature, u64> = BTreeMap::new();
    let mut a = 0;
    while a <= TOP {
        if let Some(sig) = signature(g, a, shape) {
            seen.entry(sig).or_insert(a);
        }
        a += 16;
    }
    seen.into_values().collect()
}

#[test]
fn the_interpreter_agrees_with_unicorn_on_every_signature() {
    let mut n = 0;
    let mut windows = 0;
    for g in Generation::ALL {
        for shape in Shape::ALL {
            for a in representatives(g, shape) {
                windows += agree(g, a, shape);
                n += 1;
            }
        }
    }
    assert!(n > 40, "{n} representatives");
    // The agreement covers windows, not only safe boundaries.
    assert!(windows > 10, "{windows} windows");
}

#[test]
fn the_interpreter_agrees_with_unicorn_on_sampled_sizes() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 24,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(
            &(0..=TOP / 16, 0..4usize, any::<bool>()),
            |(k, gi, leaf)| {
                let shape = if leaf { Shape::Leaf } else { Shape::NonLeaf };
                let _ = agree(Generation::ALL[gi], k * 16, shape);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn every_emitted_word_decodes_to_what_the_model_meant() {
    for g in Generation::ALL {
        for shape in Shape::ALL {
            for a in representatives(g, shape) {
                let f = synthesize(g, a, shape).unwrap();
                for (i, (op, w)) in f.ops.iter().zip(&f.words).enumerate() {
                    let pc = 0x10000 + 4 * i as u64;
                    let insn = twixt_arm64::decode(pc, *w);
                    assert!(insn.is_decoded(), "{op:?} -> {w:08x}");
                    let e = insn.effects;
                    match *op {
                        Op::AddImm {
                            rd: 31,
                            rn: 31,
                            imm12,
                            lsl12,
                            sub,
                        } => {
                            let v = i64::from(imm12) << if lsl12 { 12 } else { 0 };
                            assert_eq!(e.sp_delta, Some(if sub { -v } else { v }), "{}", insn.text);
                        }
                        Op::AddExt { rd: 31, .. } => {
                            assert!(e.writes_sp && e.sp_delta.is_none(), "{}", insn.text);
                        }
                        Op::StrPre { rn: 31, off, .. } | Op::LdrPost { rn: 31, off, .. } => {
                            assert_eq!(e.sp_delta, Some(i64::from(off)), "{}", insn.text);
                        }
                        Op::Movz { rd, .. } | Op::Movk { rd, .. } | Op::OrrImm { rd, .. } => {
                            assert!(e.written.contains_x(rd) && !e.writes_sp, "{}", insn.text);
                        }
                        Op::Bl { offset } => {
                            assert_eq!(
                                e.flow.target(),
                                Some(pc.wrapping_add(offset as i64 as u64))
                            );
                        }
                        Op::Ret => assert!(insn.text.starts_with("ret"), "{}", insn.text),
                        _ => {}
                    }
                    // Writes of SP, R29 and R30 are what the model says they are.
                    let (sp, fp, lr) = writes(op);
                    assert_eq!(
                        (e.writes_sp, e.writes_fp, e.writes_lr),
                        (sp, fp, lr),
                        "{}",
                        insn.text
                    );
                }
            }
        }
    }
}

fn writes(op: &Op) -> (bool, bool, bool) {
    let reg = |r: u8| (r == 31, r == 29, r == 30);
    match *op {
        Op::AddImm { rd, .. } | Op::AddExt { rd, .. } => reg(rd),
        Op::Movz { rd, .. } | Op::Movk { rd, .. } | Op::OrrImm { rd, .. } => reg(rd),
        Op::Ldp { rt, rt2, .. } => (false, rt == 29 || rt2 == 29, rt == 30 || rt2 == 30),
        Op::StrPre { rn, .. } => (rn == 31, false, false),
        Op::LdrPost { rt, rn, .. } => (rn == 31, rt == 29, rt == 30),
        Op::Ldur { rt, .. } => (false, rt == 29, rt == 30),
        Op::Bl { .. } => (false, false, true),
        _ => (false, false, false),
    }
}
