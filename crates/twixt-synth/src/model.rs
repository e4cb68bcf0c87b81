//! The model of Go's arm64 assembler for one function: which machine instructions a
//! frame size `A` and a shape (leaf or non-leaf) give, with the pcsp and UnsafePoint
//! values the assembler records for each.
//!
//! Rules, from `cmd/internal/obj/arm64` (obj7.go `preprocess`, asm7.go `aclass`, `oplook`,
//! `asmout` cases 2, 12, 13, 32, 48, 62) and `cmd/internal/obj/plist.go`
//! (`MarkUnsafePoints`), identical in every toolchain from go1.19.8 to go1.27.3:
//!
//! * `ADD/SUB $c, RSP, Rd` by the class of `c` ([`ConstClass`]): one instruction when `c`
//!   fits 12 bits, or is a multiple of 4096 below 0x1000000; `MOVZ` (or `ORR` for a
//!   logical immediate) into R27 then one extended-register ADD when `c` fits one 16-bit
//!   chunk or is a logical immediate; two ADDs (`c & 0xfff`, then `c & 0xfff000`) when
//!   `c <= 0xffffff`; otherwise `MOVZ`+`MOVK` into R27 and one ADD.
//! * A Prog the assembler expands into more than one instruction through R27 is
//!   *restartable* (UnsafePoint -3, or -4 when the previous restartable Prog took -3); one
//!   that names R27 itself (the fixed epilogue) is unsafe (-2); the two-ADD split uses no
//!   R27 and is not marked at all.
//! * pcsp changes after the *last* instruction of a Prog (its `Spadj`); `RET` restores
//!   the frame for code laid out after it.
//!
//! What the model leaves out, and why it does not matter to the boundaries it judges: the
//! stack-bound check before the prologue and the out-of-line `morestack` call after the
//! body (both run at pcsp 0 with SP at the caller's, R29 the caller's and marked unsafe);
//! the real body (replaced by one instruction that touches the frame, or one call).

use crate::encode::{FP, LR, Op, R20, R27, SP, ZR, bitmask};
use crate::generation::Generation;

/// Leaf (no call in the body) or non-leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// No call: the epilogue never reloads LR and rebuilds R29 arithmetically.
    Leaf,
    /// Calls a function: the epilogue reloads R29 and LR from the frame.
    NonLeaf,
}

impl Shape {
    /// Both shapes.
    pub const ALL: [Shape; 2] = [Shape::Leaf, Shape::NonLeaf];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Leaf => "leaf",
            Shape::NonLeaf => "nonleaf",
        }
    }
}

/// How the assembler encodes an ADD/SUB of a constant to or from RSP (and a `MOVD` of a
/// constant, for the fixed epilogue): the encoder's constant classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConstClass {
    /// `c <= 0xfff`: one instruction.
    Imm12,
    /// `c = k << 12`, `k <= 0xfff`: one instruction with `LSL #12`.
    Imm12Lsl12,
    /// One 16-bit chunk: `MOVZ R27` (+ ADD through R27).
    Movz,
    /// A logical immediate: `ORR R27, ZR, #c` (+ ADD through R27).
    Bitmask,
    /// `c <= 0xffffff` otherwise: two ADDs, `c & 0xfff` then `c & 0xfff000` (for a
    /// `MOVD`, `MOVZ`+`MOVK`).
    Split,
    /// Larger: `MOVZ`+`MOVK` into R27 (+ ADD through R27).
    Wide,
}

impl ConstClass {
    /// A short description of the class, as a condition on `c`.
    pub fn describe(self) -> &'static str {
        match self {
            ConstClass::Imm12 => "<= 0xfff",
            ConstClass::Imm12Lsl12 => "a multiple of 0x1000 up to 0xfff000",
            ConstClass::Movz => "one 16-bit chunk (MOVZ)",
            ConstClass::Bitmask => "a logical immediate (ORR)",
            ConstClass::Split => "<= 0xffffff otherwise (split in two ADDs)",
            ConstClass::Wide => "> 0xffffff otherwise (MOVZ+MOVK)",
        }
    }
}

fn is_addcon(v: u64) -> bool {
    let v = if v & 0xfff == 0 { v >> 12 } else { v };
    v <= 0xfff
}

fn movcon(v: u64) -> Option<u8> {
    (0..4u8).find(|&s| v & !(0xffffu64 << (16 * s)) == 0)
}

/// The class of `c` in `ADD $c, RSP, Rd` (asm7.go `aclass`, then the AADD optab entries).
pub fn add_class(c: u64) -> ConstClass {
    if is_addcon(c) {
        if c <= 0xfff {
            ConstClass::Imm12
        } else {
            ConstClass::Imm12Lsl12
        }
    } else if movcon(c).is_some() {
        ConstClass::Movz
    } else if bitmask(c).is_some() {
        ConstClass::Bitmask
    } else if c <= 0xff_ffff {
        ConstClass::Split
    } else {
        ConstClass::Wide
    }
}

/// The class of `c` in `MOVD $c, R27` (the AMOVD optab entries: a logical immediate that
/// is also an ADD immediate goes to ORR; one chunk to MOVZ; the rest to MOVZ+MOVK).
pub fn mov_class(c: u64) -> ConstClass {
    let bit = bitmask(c).is_some();
    if is_addcon(c) && bit {
        ConstClass::Bitmask
    } else if movcon(c).is_some() {
        ConstClass::Movz
    } else if bit {
        ConstClass::Bitmask
    } else if c <= 0xff_ffff {
        ConstClass::Split
    } else {
        ConstClass::Wide
    }
}

/// `MOVD $c, R27` as machine instructions (`omovconst`, `omovlconst`).
fn mov_r27(c: u64) -> Vec<Op> {
    match mov_class(c) {
        ConstClass::Bitmask => vec![Op::OrrImm { rd: R27, value: c }],
        ConstClass::Movz | ConstClass::Imm12 | ConstClass::Imm12Lsl12 => {
            let hw = movcon(c).unwrap_or(0);
            vec![Op::Movz {
                rd: R27,
                imm16: (c >> (16 * hw)) as u16,
                hw,
            }]
        }
        ConstClass::Split | ConstClass::Wide => {
            let mut ops = Vec::new();
            for hw in 0..4u8 {
                let chunk = (c >> (16 * hw)) as u16;
                if chunk == 0 {
                    continue;
                }
                ops.push(if ops.is_empty() {
                    Op::Movz {
                        rd: R27,
                        imm16: chunk,
                        hw,
                    }
                } else {
                    Op::Movk {
                        rd: R27,
                        imm16: chunk,
                        hw,
                    }
                });
            }
            ops
        }
    }
}

/// How the assembler marks a Prog for asynchronous preemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    /// Nothing.
    None,
    /// Inside an explicit `StartUnsafePoint`/`EndUnsafePoint` pair.
    Unsafe,
    /// Names REGTMP (R27) itself: `isUnsafePoint`.
    UsesTmp,
    /// Expanded through REGTMP: `isRestartable`.
    Restartable,
}

/// One assembler instruction (an `obj.Prog`) and the machine instructions it became.
#[derive(Clone, Debug)]
struct Prog {
    ops: Vec<Op>,
    spadj: i64,
    mark: Mark,
}

impl Prog {
    fn one(op: Op) -> Prog {
        Prog {
            ops: vec![op],
            spadj: 0,
            mark: Mark::None,
        }
    }
}

/// `ADD/SUB $c, Rn, Rd` where Rn or Rd is RSP.
fn add_const(sub: bool, c: u64, rn: u8, rd: u8) -> Prog {
    let imm = |imm12: u64, lsl12: bool, rn: u8| Op::AddImm {
        rd,
        rn,
        imm12: imm12 as u16,
        lsl12,
        sub,
    };
    let via_tmp = |mut ops: Vec<Op>| {
        ops.push(Op::AddExt {
            rd,
            rn,
            rm: R27,
            sub,
        });
        Prog {
            ops,
            spadj: 0,
            mark: Mark::Restartable,
        }
    };
    match add_class(c) {
        ConstClass::Imm12 => Prog::one(imm(c, false, rn)),
        ConstClass::Imm12Lsl12 => Prog::one(imm(c >> 12, true, rn)),
        ConstClass::Split => Prog {
            ops: vec![imm(c & 0xfff, false, rn), imm((c >> 12) & 0xfff, true, rd)],
            spadj: 0,
            mark: Mark::None,
        },
        ConstClass::Movz => {
            let hw = movcon(c).unwrap_or(0);
            via_tmp(vec![Op::Movz {
                rd: R27,
                imm16: (c >> (16 * hw)) as u16,
                hw,
            }])
        }
        ConstClass::Bitmask => via_tmp(vec![Op::OrrImm { rd: R27, value: c }]),
        ConstClass::Wide => via_tmp(mov_r27(c)),
    }
}

/// A synthesized function: prologue, a minimal body, epilogue, RET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticFunction {
    /// The generation modelled.
    pub generation: Generation,
    /// The frame size `A` (the pcsp maximum).
    pub frame: u64,
    /// Leaf or non-leaf.
    pub shape: Shape,
    /// The machine instructions.
    pub ops: Vec<Op>,
    /// Their words.
    pub words: Vec<u32>,
    /// pcsp at each instruction.
    pub pcsp: Vec<u64>,
    /// UnsafePoint at each instruction.
    pub unsafe_point: Vec<i32>,
    /// Instruction indices of the prologue (empty without a frame).
    pub prologue: std::ops::Range<usize>,
    /// Instruction indices of the body.
    pub body: std::ops::Range<usize>,
    /// Instruction indices of the epilogue, up to and including the RET.
    pub epilogue: std::ops::Range<usize>,
    /// Index of the body's BL (non-leaf).
    pub call: Option<usize>,
    /// The class of each constant the prologue and epilogue encode: a function of `A`
    /// that decides which instructions appear (sizes with equal signatures differ only
    /// in immediates).
    pub signature: Signature,
}

/// Which instruction shapes a frame size gets: sizes with the same signature get the same
/// instruction kinds in the same order, with different immediates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature {
    /// 0: no frame; 1: small (`MOVD.W`, A <= 0xf0); 2: large (`SUB $A, RSP, R20`).
    pub prologue_kind: u8,
    /// Class of `A` in `SUB $A, RSP, R20` (large frames).
    pub prologue: Option<ConstClass>,
    /// Class of `A - 8` in the leaf epilogue's `ADD $A-8, RSP, R29` (1.21.7 on).
    pub leaf_r29: Option<ConstClass>,
    /// Class of `A` in the epilogue's pop (`ADD $A, RSP, RSP`, or `MOVD $A, R27`).
    pub pop: Option<ConstClass>,
    /// Which epilogue form pops the frame.
    pub pop_kind: PopKind,
}

/// How the epilogue pops the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PopKind {
    /// No frame.
    None,
    /// `ADD $A, RSP, RSP` (the class says how it is encoded).
    Add,
    /// `MOVD.P A(RSP), R30` (non-leaf, A <= 0xf0, 1.24 on).
    PostIndex,
    /// `MOVD $A, R27; ADD R27, RSP, RSP` (non-leaf, A >= 4096, fixed releases).
    ViaR27,
}

/// Why a function cannot be synthesized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SynthError {
    /// Frames are 16-byte aligned on arm64.
    Unaligned(u64),
    /// A non-leaf function always has a frame (it saves LR).
    NonLeafWithoutFrame,
    /// Beyond 32 bits the constants take other encodings the model does not cover.
    TooLarge(u64),
}

impl std::fmt::Display for SynthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SynthError::Unaligned(a) => write!(f, "frame size {a:#x} is not a multiple of 16"),
            SynthError::NonLeafWithoutFrame => {
                write!(
                    f,
                    "a non-leaf function always has a frame (frame size 0 is leaf-only)"
                )
            }
            SynthError::TooLarge(a) => {
                write!(
                    f,
                    "frame size {a:#x} is above the modelled range (< 0x100000000)"
                )
            }
        }
    }
}

impl std::error::Error for SynthError {}

/// The signature of frame size `a` without synthesizing the code (`None` where
/// [`synthesize`] refuses the size).
pub fn signature(generation: Generation, a: u64, shape: Shape) -> Option<Signature> {
    if !a.is_multiple_of(16) || a >= 1 << 32 || (a == 0 && shape == Shape::NonLeaf) {
        return None;
    }
    let mut sig = Signature {
        prologue_kind: 0,
        prologue: None,
        leaf_r29: None,
        pop: None,
        pop_kind: PopKind::None,
    };
    if a == 0 {
        return Some(sig);
    }
    if a > 0xf0 {
        sig.prologue_kind = 2;
        sig.prologue = Some(add_class(a));
    } else {
        sig.prologue_kind = 1;
    }
    match shape {
        Shape::Leaf => {
            sig.pop_kind = PopKind::Add;
            sig.pop = Some(add_class(a));
            if generation.leaf_r29_first() {
                sig.leaf_r29 = Some(add_class(a - 8));
            }
        }
        Shape::NonLeaf if generation.small_movd_p() && a <= 0xf0 => {
            sig.pop_kind = PopKind::PostIndex;
        }
        Shape::NonLeaf if generation.fixed_nonleaf() && a >= 1 << 12 => {
            sig.pop_kind = PopKind::ViaR27;
            sig.pop = Some(mov_class(a));
        }
        Shape::NonLeaf => {
            sig.pop_kind = PopKind::Add;
            sig.pop = Some(add_class(a));
        }
    }
    Some(sig)
}

/// The byte offset of the callee from the function entry, for the non-leaf BL.
pub const CALLEE_OFFSET: i32 = 0x4_0000;

/// Synthesizes the function a generation's assembler emits for frame size `frame`.
pub fn synthesize(
    generation: Generation,
    frame: u64,
    shape: Shape,
) -> Result<SyntheticFunction, SynthError> {
    if !frame.is_multiple_of(16) {
        return Err(SynthError::Unaligned(frame));
    }
    if frame >= 1 << 32 {
        return Err(SynthError::TooLarge(frame));
    }
    if frame == 0 && shape == Shape::NonLeaf {
        return Err(SynthError::NonLeafWithoutFrame);
    }
    let a = frame;
    let mut sig = Signature {
        prologue_kind: 0,
        prologue: None,
        leaf_r29: None,
        pop: None,
        pop_kind: PopKind::None,
    };
    let prologue = prologue_progs(a, &mut sig);
    let body = body_progs(a, shape);
    let epilogue = epilogue_progs(generation, a, shape, &mut sig);
    let LaidOut {
        mut ops,
        pcsp,
        unsafe_point,
        ranges,
    } = lay_out([&prologue, &body, &epilogue]);
    let call = (shape == Shape::NonLeaf).then_some(ranges[0]);
    if let Some(i) = call {
        ops[i] = Op::Bl {
            offset: CALLEE_OFFSET - 4 * i as i32,
        };
    }
    let words = ops.iter().map(|o| o.encode()).collect();
    Ok(SyntheticFunction {
        generation,
        frame,
        shape,
        ops,
        words,
        pcsp,
        unsafe_point,
        prologue: 0..ranges[0],
        body: ranges[0]..ranges[1],
        epilogue: ranges[1]..ranges[2],
        call,
        signature: sig,
    })
}

/// The prologue for frame size `a` (none without a frame), recording its kind and the
/// class of its constant in `sig`.
fn prologue_progs(a: u64, sig: &mut Signature) -> Vec<Prog> {
    let mut prologue: Vec<Prog> = Vec::new();
    if a > 0 {
        if a > 0xf0 {
            sig.prologue_kind = 2;
            sig.prologue = Some(add_class(a));
            prologue.push(add_const(true, a, SP, R20));
            prologue.push(Prog::one(Op::Stp {
                rt: FP,
                rt2: LR,
                rn: R20,
                off: -8,
            }));
            prologue.push(Prog {
                ops: vec![Op::AddImm {
                    rd: SP,
                    rn: R20,
                    imm12: 0,
                    lsl12: false,
                    sub: false,
                }],
                spadj: a as i64,
                mark: Mark::Unsafe,
            });
        } else {
            sig.prologue_kind = 1;
            prologue.push(Prog {
                ops: vec![Op::StrPre {
                    rt: LR,
                    rn: SP,
                    off: -(a as i16),
                }],
                spadj: a as i64,
                mark: Mark::None,
            });
            prologue.push(Prog::one(Op::Stur {
                rt: FP,
                rn: SP,
                off: -8,
            }));
        }
        prologue.push(Prog::one(Op::AddImm {
            rd: FP,
            rn: SP,
            imm12: 8,
            lsl12: false,
            sub: true,
        }));
    }
    prologue
}

/// The minimal body: one store into the frame (leaf with a frame), a NOP (leaf without
/// one) or the call (non-leaf; its offset is fixed once the layout is known).
fn body_progs(a: u64, shape: Shape) -> Vec<Prog> {
    match shape {
        Shape::Leaf if a > 0 => vec![Prog::one(Op::StrUimm {
            rt: ZR,
            rn: SP,
            off: 8,
        })],
        Shape::Leaf => vec![Prog::one(Op::Nop)],
        Shape::NonLeaf => vec![Prog::one(Op::Bl { offset: 0 })],
    }
}

/// `ADD $a, RSP, RSP` popping the frame (its Spadj takes `a` off pcsp).
fn pop_add(a: u64) -> Prog {
    let mut p = add_const(false, a, SP, SP);
    p.spadj = -(a as i64);
    p
}

/// The epilogue of `generation` for frame size `a` and `shape`, up to and including the
/// RET, recording how it pops the frame in `sig`.
fn epilogue_progs(generation: Generation, a: u64, shape: Shape, sig: &mut Signature) -> Vec<Prog> {
    let mut epilogue: Vec<Prog> = Vec::new();
    if a > 0 {
        match shape {
            Shape::Leaf => {
                sig.pop_kind = PopKind::Add;
                sig.pop = Some(add_class(a));
                if generation.leaf_r29_first() {
                    sig.leaf_r29 = Some(add_class(a - 8));
                    epilogue.push(add_const(false, a - 8, SP, FP));
                    epilogue.push(pop_add(a));
                } else {
                    epilogue.push(pop_add(a));
                    epilogue.push(Prog::one(Op::AddImm {
                        rd: FP,
                        rn: SP,
                        imm12: 8,
                        lsl12: false,
                        sub: true,
                    }));
                }
            }
            Shape::NonLeaf if generation.small_movd_p() && a <= 0xf0 => {
                sig.pop_kind = PopKind::PostIndex;
                epilogue.push(Prog::one(Op::Ldur {
                    rt: FP,
                    rn: SP,
                    off: -8,
                }));
                epilogue.push(Prog {
                    ops: vec![Op::LdrPost {
                        rt: LR,
                        rn: SP,
                        off: a as i16,
                    }],
                    spadj: -(a as i64),
                    mark: Mark::None,
                });
            }
            Shape::NonLeaf => {
                epilogue.push(Prog::one(Op::Ldp {
                    rt: FP,
                    rt2: LR,
                    rn: SP,
                    off: -8,
                }));
                epilogue.extend(nonleaf_pop(generation, a, sig));
            }
        }
    }
    epilogue.push(Prog {
        ops: vec![Op::Ret],
        spadj: a as i64,
        mark: Mark::None,
    });
    epilogue
}

/// The non-leaf pop after the LDP: through R27 in the fixed releases for frames of 4096
/// bytes or more (golang/go#73259), one `ADD $a, RSP, RSP` otherwise.
fn nonleaf_pop(generation: Generation, a: u64, sig: &mut Signature) -> Vec<Prog> {
    if generation.fixed_nonleaf() && a >= 1 << 12 {
        sig.pop_kind = PopKind::ViaR27;
        sig.pop = Some(mov_class(a));
        vec![
            Prog {
                ops: mov_r27(a),
                spadj: 0,
                mark: Mark::UsesTmp,
            },
            Prog {
                ops: vec![Op::AddExt {
                    rd: SP,
                    rn: SP,
                    rm: R27,
                    sub: false,
                }],
                spadj: -(a as i64),
                mark: Mark::UsesTmp,
            },
        ]
    } else {
        sig.pop_kind = PopKind::Add;
        sig.pop = Some(add_class(a));
        vec![pop_add(a)]
    }
}

/// The machine code of a function laid out from its Progs.
struct LaidOut {
    /// The machine instructions, in order.
    ops: Vec<Op>,
    /// pcsp at each instruction.
    pcsp: Vec<u64>,
    /// UnsafePoint at each instruction.
    unsafe_point: Vec<i32>,
    /// The end (instruction index) of each part.
    ranges: [usize; 3],
}

/// Lays out the prologue, body and epilogue, with pcsp (after each Prog) and UnsafePoint
/// (MarkUnsafePoints).
fn lay_out(parts: [&[Prog]; 3]) -> LaidOut {
    let mut ops = Vec::new();
    let mut pcsp = Vec::new();
    let mut unsafe_point = Vec::new();
    let mut sp: i64 = 0;
    let mut prev_restart = 0;
    let mut ranges = [0usize; 3];
    for (part, progs) in parts.into_iter().enumerate() {
        for p in progs {
            let up = match p.mark {
                Mark::None => -1,
                Mark::Unsafe | Mark::UsesTmp => -2,
                Mark::Restartable => {
                    let v = if prev_restart == -3 { -4 } else { -3 };
                    prev_restart = v;
                    v
                }
            };
            for op in &p.ops {
                ops.push(*op);
                pcsp.push(sp as u64);
                unsafe_point.push(up);
            }
            sp += p.spadj;
        }
        ranges[part] = ops.len();
    }
    LaidOut {
        ops,
        pcsp,
        unsafe_point,
        ranges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cheap_signature_is_the_synthesized_one() {
        for g in Generation::ALL {
            for shape in Shape::ALL {
                for a in (0..0x30000u64)
                    .step_by(16)
                    .chain((0xfff000..0x1010000).step_by(0x1010))
                {
                    let s = synthesize(g, a, shape).ok().map(|f| f.signature);
                    assert_eq!(signature(g, a, shape), s, "{g} {a:#x} {shape:?}");
                }
            }
        }
    }

    #[test]
    fn classes_follow_the_assembler() {
        assert_eq!(add_class(0xfa0), ConstClass::Imm12);
        assert_eq!(add_class(0x1000), ConstClass::Imm12Lsl12);
        assert_eq!(add_class(0x1010), ConstClass::Movz);
        assert_eq!(add_class(0x11170), ConstClass::Split);
        assert_eq!(add_class(0x1fff0), ConstClass::Bitmask);
        assert_eq!(add_class(0x100000), ConstClass::Imm12Lsl12);
        assert_eq!(add_class(0x101010), ConstClass::Split);
        assert_eq!(add_class(0x1001010), ConstClass::Wide);
        assert_eq!(mov_class(0x1000), ConstClass::Bitmask);
        assert_eq!(mov_class(0x5000), ConstClass::Movz);
        assert_eq!(mov_class(0x101000), ConstClass::Split);
    }

    #[test]
    fn the_73259_epilogue_splits_and_the_fix_does_not() {
        let f = synthesize(Generation::G1_21_7, 70000, Shape::NonLeaf).unwrap();
        let e = &f.ops[f.epilogue.clone()];
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(f.words[f.epilogue.start + 1], 0x9105c3ff);
        assert_eq!(f.words[f.epilogue.start + 2], 0x914047ff);
        assert_eq!(f.pcsp[f.epilogue.start + 2], 70000);
        assert_eq!(f.unsafe_point[f.epilogue.start + 2], -1);
        let g = synthesize(Generation::Fixed, 70000, Shape::NonLeaf).unwrap();
        assert_eq!(
            g.words[g.epilogue.clone()],
            [0xa97ffbfd, 0xd2822e1b, 0xf2a0003b, 0x8b3b63ff, 0xd65f03c0]
        );
        assert_eq!(g.unsafe_point[g.epilogue.clone()], [-1, -2, -2, -2, -1]);
    }
}
