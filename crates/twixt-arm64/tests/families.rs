//! Hand-assembled words for every instruction family Go's arm64 toolchain uses in
//! prologues, epilogues and stack checks (plus the neighbours that are easy to confuse
//! with them), checked for both the display text and the effects. Each word carries its
//! assembly and the Go assembler spelling; the encodings follow the ARM ARM C6 pages and
//! were confirmed with GNU as.

use twixt_arm64::{
    Effects, Flow, Insn, RegSet, SpAccess, Writeback, decode, decode_all, is_unconditional_transfer,
};

const PC: u64 = 0x11000;

fn d(word: u32) -> Insn {
    decode(PC, word)
}

/// The effects of an instruction that writes exactly `regs` (31 = SP).
fn writes(regs: &[u8]) -> Effects {
    let mut set = 0u32;
    for &r in regs {
        set |= 1 << r;
    }
    let written = RegSet(set);
    Effects {
        writes_sp: written.contains_sp(),
        sp_delta: None,
        writes_fp: written.contains_x(29),
        writes_lr: written.contains_x(30),
        sp_mem: None,
        flow: Flow::Next,
        written,
    }
}

fn mem(offset: i64, size: u8, rt: [u8; 2], store: bool, writeback: Writeback) -> SpAccess {
    SpAccess {
        offset,
        size,
        regs: if rt[0] == rt[1] { 1 } else { 2 },
        store,
        writeback,
        rt,
        fp_simd: false,
    }
}

#[track_caller]
fn check(word: u32, text: &str, effects: Effects) {
    let i = d(word);
    assert_eq!(i.text, text, "text of {word:08x}");
    assert_eq!(i.effects, effects, "effects of {word:08x} ({text})");
    assert_eq!(i.addr, PC);
    assert_eq!(i.word, word);
}

// ---- Small-frame prologue ------------------------------------------------------------

#[test]
fn prologue_small_frame() {
    // str x30, [sp, #-32]!   MOVD.W R30, -32(RSP)
    // STR (immediate, pre-index): size=11 111 V=0 00 opc=00 0 imm9=-32 11 Rn=31 Rt=30
    check(
        0xf81e0ffe,
        "str x30, [sp, #-32]!",
        Effects {
            sp_delta: Some(-32),
            sp_mem: Some(mem(-32, 8, [30, 30], true, Writeback::Pre)),
            ..writes(&[31])
        },
    );
    // stur x29, [sp, #-8]    MOVD R29, -8(RSP)
    // STUR: size=11 111 0 00 opc=00 0 imm9=-8 00 Rn=31 Rt=29
    check(
        0xf81f83fd,
        "stur x29, [sp, #-8]",
        Effects {
            sp_mem: Some(mem(-8, 8, [29, 29], true, Writeback::None)),
            ..writes(&[])
        },
    );
    // sub x29, sp, #0x8      SUB $8, RSP, R29
    // SUB (immediate): sf=1 op=1 S=0 100010 sh=0 imm12=8 Rn=31 Rd=29
    check(0xd10023fd, "sub x29, sp, #0x8", writes(&[29]));
}

// ---- Large-frame prologue (Go 1.19+) -------------------------------------------------

#[test]
fn prologue_large_frame() {
    // sub x20, sp, #0xba0                 SUB $A, RSP, R20 (low part)
    check(0xd12e83f4, "sub x20, sp, #0xba0", writes(&[20]));
    // sub x20, x20, #0x88, lsl #12        (high part)
    check(0xd1422294, "sub x20, x20, #0x88, lsl #12", writes(&[20]));
    // stp x29, x30, [x20, #-8]            STP (R29, R30), -8(R20)
    // STP (signed offset): opc=10 101 0 010 L=0 imm7=-1 Rt2=30 Rn=20 Rt=29
    check(0xa93ffa9d, "stp x29, x30, [x20, #-8]", writes(&[]));
    // mov sp, x20                         MOVD R20, RSP  (ADD sp, x20, #0)
    check(0x9100029f, "mov sp, x20", writes(&[31]));
    // mov sp, x29                         MOVD R29, RSP
    check(0x910003bf, "mov sp, x29", writes(&[31]));
    // mov x29, sp                         MOVD RSP, R29
    check(0x910003fd, "mov x29, sp", writes(&[29]));
}

// ---- Epilogues ------------------------------------------------------------------------

#[test]
fn epilogue_non_leaf() {
    // ldp x29, x30, [sp, #-8]   LDP -8(RSP), (R29, R30)
    // LDP (signed offset): opc=10 101 0 010 L=1 imm7=-1 Rt2=30 Rn=31 Rt=29
    check(
        0xa97ffbfd,
        "ldp x29, x30, [sp, #-8]",
        Effects {
            sp_mem: Some(mem(-8, 8, [29, 30], false, Writeback::None)),
            ..writes(&[29, 30])
        },
    );
    // add sp, sp, #0x20         ADD $32, RSP, RSP
    check(
        0x910083ff,
        "add sp, sp, #0x20",
        Effects {
            sp_delta: Some(0x20),
            ..writes(&[31])
        },
    );
    // add sp, sp, #0x11, lsl #12   ADD $0x11000, RSP, RSP (high half of a split)
    // ADD (immediate): sf=1 op=0 S=0 100010 sh=1 imm12=0x11 Rn=31 Rd=31
    check(
        0x914047ff,
        "add sp, sp, #0x11, lsl #12",
        Effects {
            sp_delta: Some(0x11000),
            ..writes(&[31])
        },
    );
    // sub sp, sp, #0x11, lsl #12
    check(
        0xd14047ff,
        "sub sp, sp, #0x11, lsl #12",
        Effects {
            sp_delta: Some(-0x11000),
            ..writes(&[31])
        },
    );
    // sub sp, sp, #0x1, lsl #12
    check(
        0xd14007ff,
        "sub sp, sp, #0x1, lsl #12",
        Effects {
            sp_delta: Some(-0x1000),
            ..writes(&[31])
        },
    );
    // add x0, sp, #0x11, lsl #12: reads SP, writes x0 only.
    check(0x914047e0, "add x0, sp, #0x11, lsl #12", writes(&[0]));
    // ret                       RET (x30)
    let ret = d(0xd65f03c0);
    assert_eq!(ret.text, "ret");
    assert_eq!(ret.effects.flow, Flow::Ret { reg: 30 });
    assert!(ret.effects.flow.ends_block());
    assert!(is_unconditional_transfer(&ret.effects.flow));
    assert_eq!(ret.successors().iter().count(), 0);
}

#[test]
fn epilogue_go_1_24_small_frame() {
    // ldur x29, [sp, #-8]       MOVD -8(RSP), R29
    check(
        0xf85f83fd,
        "ldur x29, [sp, #-8]",
        Effects {
            sp_mem: Some(mem(-8, 8, [29, 29], false, Writeback::None)),
            ..writes(&[29])
        },
    );
    // ldr x30, [sp], #32        MOVD.P 32(RSP), R30
    // LDR (immediate, post-index): size=11 111 0 00 opc=01 0 imm9=32 01 Rn=31 Rt=30
    check(
        0xf84207fe,
        "ldr x30, [sp], #32",
        Effects {
            sp_delta: Some(32),
            sp_mem: Some(mem(0, 8, [30, 30], false, Writeback::Post)),
            ..writes(&[30, 31])
        },
    );
}

#[test]
fn epilogue_fixed_large_frame_via_r27() {
    // mov x27, #0x9be0          MOVD $0x9be0, R27 (MOVZ)
    check(0xd2937c1b, "mov x27, #0x9be0", writes(&[27]));
    // movk x27, #0x8, lsl #16   MOVK $(8<<16), R27
    // MOVK: sf=1 opc=11 100101 hw=01 imm16=8 Rd=27
    check(0xf2a0011b, "movk x27, #0x8, lsl #16", writes(&[27]));
    // mov x27, #0x3ff000        MOVD $0x3ff000, R27 (ORR immediate, logical imm)
    // ORR (immediate): sf=1 opc=01 100100 N=1 immr=52 imms=9 Rn=31 Rd=27
    check(0xb27427fb, "mov x27, #0x3ff000", writes(&[27]));
    // add sp, sp, x27           ADD R27, RSP, RSP (extended register, UXTX)
    // ADD (extended register): sf=1 op=0 S=0 01011 00 1 Rm=27 option=011 imm3=0 Rn=31 Rd=31
    check(0x8b3b63ff, "add sp, sp, x27", writes(&[31]));
}

#[test]
fn epilogue_leaf() {
    // add x29, sp, #0x18        ADD $A-8, RSP, R29 (Go 1.21.7+ leaf)
    check(0x910063fd, "add x29, sp, #0x18", writes(&[29]));
}

// ---- Stack check --------------------------------------------------------------------

#[test]
fn stack_check() {
    // ldr x16, [x28, #16]       MOVD 16(R28), R16
    check(0xf9400b90, "ldr x16, [x28, #16]", writes(&[16]));
    // cmp sp, x16               CMP R16, RSP (SUBS xzr, sp, x16, uxtx): no write at all
    check(0xeb3063ff, "cmp sp, x16", writes(&[]));
    // subs x17, sp, x27         SUBS R27, RSP, R17 (large-frame check)
    check(0xeb3b63f1, "subs x17, sp, x27", writes(&[17]));
    // cmp x17, x16              (shifted-register SUBS, Rd = xzr)
    check(0xeb10023f, "cmp x17, x16", writes(&[]));
    // cmp sp, #0x0              (SUBS immediate, Rd = xzr)
    check(0xf10003ff, "cmp sp, #0x0", writes(&[]));
    // b.ls 0x1107c at 0x11008   BLS morestack tail
    // B.cond: 0101010 0 imm19=0x1d 0 cond=1001
    let b = decode(0x11008, 0x540003a9);
    assert_eq!(b.text, "b.ls 0x1107c");
    assert_eq!(b.effects.flow, Flow::CondBranch { target: 0x1107c });
    assert_eq!(
        b.successors().iter().collect::<Vec<_>>(),
        vec![0x1100c, 0x1107c]
    );
}

// ---- Calls and branches --------------------------------------------------------------

#[test]
fn calls_and_branches() {
    // bl 0x7d160 at 0x11074: BL: 1 00101 imm26=0x1b03b
    let bl = decode(0x11074, 0x9401b03b);
    assert_eq!(bl.text, "bl 0x7d160");
    assert_eq!(
        bl.effects,
        Effects {
            flow: Flow::Call { target: 0x7d160 },
            ..writes(&[30])
        }
    );
    assert_eq!(bl.successors().iter().collect::<Vec<_>>(), vec![0x11078]);
    // bl with a negative offset: imm26 = -1 -> target = addr - 4
    let bl = decode(0x2000, 0x97ffffff);
    assert_eq!(bl.text, "bl 0x1ffc");
    assert_eq!(bl.effects.flow, Flow::Call { target: 0x1ffc });
    // b 0x11000 at 0x11010: imm26 = -4
    let b = decode(0x11010, 0x17fffffc);
    assert_eq!(b.text, "b 0x11000");
    assert_eq!(b.effects.flow, Flow::Branch { target: 0x11000 });
    assert!(is_unconditional_transfer(&b.effects.flow));
    // cbz x0, +8: sf=1 011010 0 imm19=2 Rt=0
    let c = d(0xb4000040);
    assert_eq!(c.text, "cbz x0, 0x11008");
    assert_eq!(c.effects.flow, Flow::CondBranch { target: 0x11008 });
    // tbz w0, #3, +0x10: b5=0 011011 0 b40=00011 imm14=4 Rt=0
    let t = d(0x36180080);
    assert_eq!(t.effects.flow, Flow::CondBranch { target: 0x11010 });
    assert!(t.text.ends_with(", 0x11010"), "{}", t.text);
    // tbnz x1, #33, -4: b5=1 011011 1 b40=00001 imm14=-1 Rt=1
    let t = d(0xb70fffe1);
    assert_eq!(t.effects.flow, Flow::CondBranch { target: 0x10ffc });
    assert!(t.text.ends_with(", 0x10ffc"), "{}", t.text);
    // b.al is always taken: 0101010 0 imm19=1 0 cond=1110
    let bal = d(0x5400002e);
    assert_eq!(bal.effects.flow, Flow::Branch { target: 0x11004 });
    // blr x1
    check(
        0xd63f0020,
        "blr x1",
        Effects {
            flow: Flow::CallIndirect { reg: 1 },
            ..writes(&[30])
        },
    );
    // br x16
    check(
        0xd61f0200,
        "br x16",
        Effects {
            flow: Flow::IndirectBranch { reg: 16 },
            ..writes(&[])
        },
    );
    // ret x1
    check(
        0xd65f0020,
        "ret x1",
        Effects {
            flow: Flow::Ret { reg: 1 },
            ..writes(&[])
        },
    );
}

#[test]
fn pc_relative_operands_are_absolute() {
    // adr x0, +0x11: op=0 immlo=01 10000 immhi=4 Rd=0
    check(0x30000080, "adr x0, 0x11011", writes(&[0]));
    // adrp x27, page+0x164000 at 0x1101c: the base is the 4 KiB page of the PC
    let a = decode(0x1101c, 0x90000b3b);
    assert_eq!(a.text, "adrp x27, 0x175000");
    assert_eq!(a.effects, writes(&[27]));
    // ldr x0, +0x100 (literal): opc=01 011 0 00 imm19=0x40 Rt=0
    check(0x58000800, "ldr x0, 0x11100", writes(&[0]));
}

// ---- Traps and system -----------------------------------------------------------------

#[test]
fn traps_and_system() {
    let trap = Effects::UNDEFINED;
    // brk #0, hlt #0, udf #0
    check(0xd4200000, "brk #0x0", trap);
    check(0xd4400000, "hlt #0x0", trap);
    check(0x00000000, "udf #0", trap);
    // Go's UNDEF (cmd/internal/obj/arm64 emits 0xbea71700): unallocated, so a trap.
    check(0xbea71700, ".word 0xbea71700", trap);
    // Jump-table-like data in .text decodes as undefined.
    check(0x00010190, ".word 0x00010190", trap);
    // svc #0
    check(
        0xd4000001,
        "svc #0x0",
        Effects {
            flow: Flow::System,
            ..writes(&[])
        },
    );
    // mrs x29, tpidr_el0
    check(
        0xd53bd05d,
        "mrs x29, tpidr_el0",
        Effects {
            flow: Flow::System,
            ..writes(&[29])
        },
    );
    // nop, paciasp (signs x30 in place)
    check(0xd503201f, "nop", writes(&[]));
    assert!(d(0xd503201f).effects.is_neutral());
    assert_eq!(d(0xd503233f).effects, writes(&[30]));
}

// ---- Other SP writers and SP-based accesses ----------------------------------------------

#[test]
fn other_sp_writes() {
    // add wsp, w0, #1: a 32-bit write to WSP still writes SP, but not as SP + constant.
    check(0x1100041f, "add wsp, w0, #0x1", writes(&[31]));
    // and sp, x0, #0xfffffffffffffff0 (logical immediate, Rd = SP)
    check(0x927cec1f, "and sp, x0, #0xfffffffffffffff0", writes(&[31]));
    // stp x29, x30, [sp, #-16]!
    check(
        0xa9bf7bfd,
        "stp x29, x30, [sp, #-16]!",
        Effects {
            sp_delta: Some(-16),
            sp_mem: Some(mem(-16, 8, [29, 30], true, Writeback::Pre)),
            ..writes(&[31])
        },
    );
    // ldp x29, x30, [sp], #16
    check(
        0xa8c17bfd,
        "ldp x29, x30, [sp], #16",
        Effects {
            sp_delta: Some(16),
            sp_mem: Some(mem(0, 8, [29, 30], false, Writeback::Post)),
            ..writes(&[29, 30, 31])
        },
    );
    // ldp x29, x30, [sp, #-16]!
    check(
        0xa9ff7bfd,
        "ldp x29, x30, [sp, #-16]!",
        Effects {
            sp_delta: Some(-16),
            sp_mem: Some(mem(-16, 8, [29, 30], false, Writeback::Pre)),
            ..writes(&[29, 30, 31])
        },
    );
    // ldr q0, [sp], #16 (FP/SIMD register, post-index)
    check(
        0x3cc107e0,
        "ldr q0, [sp], #16",
        Effects {
            sp_delta: Some(16),
            sp_mem: Some(SpAccess {
                fp_simd: true,
                ..mem(0, 16, [0, 0], false, Writeback::Post)
            }),
            ..writes(&[31])
        },
    );
    // stp q0, q1, [sp, #-32]!
    check(
        0xadbf07e0,
        "stp q0, q1, [sp, #-32]!",
        Effects {
            sp_delta: Some(-32),
            sp_mem: Some(SpAccess {
                fp_simd: true,
                ..mem(-32, 16, [0, 1], true, Writeback::Pre)
            }),
            ..writes(&[31])
        },
    );
    // str d0, [sp, #8]
    check(
        0xfd0007e0,
        "str d0, [sp, #8]",
        Effects {
            sp_mem: Some(SpAccess {
                fp_simd: true,
                ..mem(8, 8, [0, 0], true, Writeback::None)
            }),
            ..writes(&[])
        },
    );
    // ld1 {v0.4s}, [sp], #16: structure load post-indexed by its size.
    check(
        0x4cdf7be0,
        "ld1 {v0.4s}, [sp], #16",
        Effects {
            sp_delta: Some(16),
            ..writes(&[31])
        },
    );
    // ldr x0, [sp, x1, lsl #3]: register offset, no constant address.
    check(0xf8617be0, "ldr x0, [sp, x1, lsl #3]", writes(&[0]));
    // ldrsw x30, [sp, #-4]!
    check(
        0xb89fcffe,
        "ldrsw x30, [sp, #-4]!",
        Effects {
            sp_delta: Some(-4),
            sp_mem: Some(mem(-4, 4, [30, 30], false, Writeback::Pre)),
            ..writes(&[30, 31])
        },
    );
    // ldpsw x29, x30, [sp, #8]
    check(
        0x69417bfd,
        "ldpsw x29, x30, [sp, #8]",
        Effects {
            sp_mem: Some(mem(8, 4, [29, 30], false, Writeback::None)),
            ..writes(&[29, 30])
        },
    );
    // ldraa x30, [sp, #-8]! (pointer-authenticated load with writeback)
    let i = d(0xf87ffffe);
    assert_eq!(i.effects.sp_delta, Some(-8));
    assert_eq!(i.effects.written, RegSet((1 << 30) | RegSet::SP_BIT));
    // stg sp, [sp, #-16]! (memory tagging, writeback by 16-byte granules)
    let i = d(0xd93fffff);
    assert_eq!(i.effects.sp_delta, Some(-16));
    assert!(i.effects.writes_sp);
    // addg sp, sp, #16, #1 and irg sp, sp: SP destinations without a plain delta.
    assert_eq!(d(0x918107ff).effects, writes(&[31]));
    assert_eq!(d(0x9adf13ff).effects, writes(&[31]));
}

#[test]
fn other_fp_and_lr_writes() {
    // ldr x29, [x0], #8: the base x0 is written back too.
    check(0xf840841d, "ldr x29, [x0], #8", writes(&[0, 29]));
    // fmov x29, d0 and umov (mov) w30, v0.s[1]
    assert_eq!(d(0x9e66001d).effects, writes(&[29]));
    assert_eq!(d(0x0e0c3c1e).effects, writes(&[30]));
    // ldxr x29, [sp]; stxr w30, x0, [sp] (status register)
    assert_eq!(d(0xc85f7ffd).effects, writes(&[29]));
    assert_eq!(d(0xc81e7fe0).effects, writes(&[30]));
    // ldadd x0, x29, [sp]; swp x0, x30, [x1]
    assert_eq!(d(0xf82003fd).effects, writes(&[29]));
    assert_eq!(d(0xf820803e).effects, writes(&[30]));
    // casp x28, x29, x2, x3, [x4]
    assert_eq!(d(0x483c7c82).effects, writes(&[28, 29]));
}

#[test]
fn decode_all_steps_by_four_and_drops_partial_words() {
    let bytes = [
        0xfe, 0x0f, 0x1e, 0xf8, // str x30, [sp, #-32]!
        0xfd, 0x83, 0x1f, 0xf8, // stur x29, [sp, #-8]
        0xfd, 0x23, 0x00, // partial
    ];
    let v = decode_all(0x1000, &bytes);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].addr, 0x1000);
    assert_eq!(v[1].addr, 0x1004);
    assert_eq!(v[1].text, "stur x29, [sp, #-8]");
    assert!(decode_all(0, &[1, 2, 3]).is_empty());
}
