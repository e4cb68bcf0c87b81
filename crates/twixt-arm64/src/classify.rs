//! The unwinding-relevant effects of an A64 instruction, computed straight from its
//! encoding (ARM ARM chapter C4 "A64 Instruction Set Encoding" and the C6 pages).
//!
//! This deliberately does not go through the display decoder: the questions asked here
//! ("is register 31 SP or XZR in this form?", "is this a pre- or post-index?") are
//! answered by a handful of encoding bits, and a general disassembler's operand model
//! blurs exactly those distinctions. The tests cross-check the two.
//!
//! Coverage: all of the base A64 integer and branch/system encodings, the FP/SIMD forms
//! that write a general-purpose register (UMOV/SMOV, FMOV and FCVT* to GPR) or update a
//! base register (loads/stores), and the SVE/SME forms that write SP (ADDVL, ADDPL,
//! ADDSVL, ADDSPL). Other SVE/SME instructions are reported as falling through with no
//! general-purpose register written; Go does not emit them. The one question answered by
//! the display decoder is whether a word in the FP/SIMD data-processing space is
//! allocated at all (see [`simd_fp`]).

use crate::effects::{Effects, Flow, RegSet, SpAccess, Writeback};

/// Bits `hi..=lo` of `w`, shifted down.
fn bits(w: u32, hi: u32, lo: u32) -> u32 {
    (w >> lo) & (u32::MAX >> (31 - (hi - lo)))
}

/// Bit `n` of `w`.
fn bit(w: u32, n: u32) -> bool {
    (w >> n) & 1 != 0
}

/// Sign-extends the low `width` bits of `v`.
fn sext(v: u32, width: u32) -> i64 {
    let shift = 64 - width;
    ((i64::from(v)) << shift) >> shift
}

/// `addr + offset`, wrapping as the hardware does.
fn rel(addr: u64, offset: i64) -> u64 {
    addr.wrapping_add(offset as u64)
}

/// Accumulates effects while one encoding class is examined.
struct Acc {
    written: u32,
    sp_delta: Option<i64>,
    sp_mem: Option<SpAccess>,
    flow: Flow,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            written: 0,
            sp_delta: None,
            sp_mem: None,
            flow: Flow::Next,
        }
    }

    /// A destination field where 31 means the zero register (the write vanishes).
    fn gpr(&mut self, r: u32) {
        if r < 31 {
            self.written |= 1 << r;
        }
    }

    /// A destination field where 31 means SP.
    fn gpr_or_sp(&mut self, r: u32) {
        self.written |= 1 << (r & 31);
    }

    /// A base register updated by writeback of `delta` (a constant when known).
    fn writeback(&mut self, rn: u32, delta: Option<i64>) {
        self.gpr_or_sp(rn);
        if rn == 31 {
            self.sp_delta = delta;
        }
    }

    fn done(self) -> Effects {
        let written = RegSet(self.written);
        Effects {
            writes_sp: written.contains_sp(),
            sp_delta: self.sp_delta,
            writes_fp: written.contains_x(29),
            writes_lr: written.contains_x(30),
            sp_mem: self.sp_mem,
            flow: self.flow,
            written,
        }
    }
}

/// Marker for an unallocated encoding inside an otherwise recognised class.
struct Undefined;

type Res = Result<(), Undefined>;

/// Classifies the instruction `word` located at `addr` (the address is needed for the
/// absolute targets of PC-relative branches). Never panics; unallocated encodings give
/// [`Effects::UNDEFINED`].
pub fn classify(addr: u64, word: u32) -> Effects {
    let mut acc = Acc::new();
    let w = word;
    let r = match bits(w, 28, 25) {
        0b0000 => reserved_or_sme(w),
        0b0010 => sve(w, &mut acc),
        0b1000 | 0b1001 => dp_imm(w, &mut acc),
        0b1010 | 0b1011 => branch_sys(addr, w, &mut acc),
        0b0100 | 0b0110 | 0b1100 | 0b1110 => ldst(w, &mut acc),
        0b0101 | 0b1101 => dp_reg(w, &mut acc),
        0b0111 | 0b1111 => simd_fp(w, &mut acc),
        // 0001 and 0011 are unallocated.
        _ => Err(Undefined),
    };
    match r {
        Ok(()) => acc.done(),
        Err(Undefined) => Effects::UNDEFINED,
    }
}

/// op0 = 0000: UDF (bits 31..16 all zero) and other reserved words when bit 31 is clear;
/// SME when it is set. SME instructions in this space write no general-purpose register.
fn reserved_or_sme(w: u32) -> Res {
    if bit(w, 31) { Ok(()) } else { Err(Undefined) }
}

/// The SVE space: only the forms that write SP or a GPR destination we care about.
fn sve(w: u32, acc: &mut Acc) -> Res {
    // ADDVL/ADDPL (bit 11 = 0) and ADDSVL/ADDSPL (bit 11 = 1): Xd|SP = Xn|SP + imm*VL.
    if w & 0xFFA0_F000 == 0x0420_5000 {
        acc.gpr_or_sp(bits(w, 4, 0));
        return Ok(());
    }
    let rd = bits(w, 4, 0);
    let scalar_dest =
        // RDVL/RDSVL Xd, #imm.
        w & 0xFFFF_F000 == 0x04BF_5000
        // CNTB/H/W/D and INC/DEC (scalar): 00000100 size 1 x imm4 11100 D pattern Rd.
        || (w & 0xFF20_F800 == 0x0420_E000 && (bit(w, 20) || !bit(w, 10)))
        // SQINC/UQINC/SQDEC/UQDEC (scalar): 00000100 size 1 sf imm4 1111 D U pattern Rdn.
        || w & 0xFF20_F000 == 0x0420_F000
        // CNTP: 00100101 size 100000 10 Pg 0 Pn Rd.
        || w & 0xFF3F_C200 == 0x2520_8000
        // INCP/DECP and the saturating forms (scalar): 00100101 size 1 01xxx 10001 x 0 Pm Rdn.
        || w & 0xFF38_FA00 == 0x2528_8800
        // LASTA/LASTB (scalar): 00000101 size 10000 B 101 Pg Zn Rd.
        || w & 0xFF3E_E000 == 0x0520_A000
        // CLASTA/CLASTB (scalar): 00000101 size 11000 B 101 Pg Zm Rdn.
        || w & 0xFF3E_E000 == 0x0530_A000;
    if scalar_dest {
        acc.gpr(rd);
    }
    Ok(())
}

/// DecodeBitMasks validity for logical immediates (N:immr:imms): the element size must
/// exist and the run of ones must not fill the element.
fn valid_bitmask(n: bool, imms: u32) -> bool {
    let combined = (u32::from(n) << 6) | (!imms & 0x3F);
    if combined == 0 {
        return false;
    }
    let len = 31 - combined.leading_zeros();
    if len < 1 {
        return false;
    }
    let levels = (1u32 << len) - 1;
    imms & levels != levels
}

/// Data processing -- immediate (op0 = 100x).
fn dp_imm(w: u32, acc: &mut Acc) -> Res {
    let sf = bit(w, 31);
    let rd = bits(w, 4, 0);
    let rn = bits(w, 9, 5);
    match bits(w, 25, 23) {
        // ADR/ADRP: Rd is XZR when 31.
        0b000 | 0b001 => acc.gpr(rd),
        // ADD/ADDS/SUB/SUBS (immediate): sf op S 100010 sh imm12 Rn Rd.
        0b010 => {
            let sub = bit(w, 30);
            let set_flags = bit(w, 29);
            if set_flags {
                // ADDS/SUBS: Rd 31 is XZR (CMP/CMN).
                acc.gpr(rd);
            } else {
                acc.gpr_or_sp(rd);
                if rd == 31 && rn == 31 && sf {
                    let imm = i64::from(bits(w, 21, 10)) << (12 * bits(w, 22, 22));
                    acc.sp_delta = Some(if sub { -imm } else { imm });
                }
            }
        }
        0b011 => {
            if !bit(w, 22) {
                // ADDG/SUBG: 1 op 0 100011 0 uimm6 00 uimm4 Rn Rd, Xd|SP. The tag bits of
                // the result change too, so there is no plain SP delta.
                if !sf || bit(w, 29) || bits(w, 15, 14) != 0 {
                    return Err(Undefined);
                }
                acc.gpr_or_sp(rd);
            } else {
                // SMAX/UMAX/SMIN/UMIN (immediate): sf 0 0 1000111 opc imm8 Rn Rd.
                if bits(w, 30, 29) != 0 || bits(w, 21, 20) != 0 {
                    return Err(Undefined);
                }
                acc.gpr(rd);
            }
        }
        // AND/ORR/EOR/ANDS (immediate): sf opc 100100 N immr imms Rn Rd.
        0b100 => {
            let n = bit(w, 22);
            if (!sf && n) || !valid_bitmask(n, bits(w, 15, 10)) {
                return Err(Undefined);
            }
            if bits(w, 30, 29) == 0b11 {
                acc.gpr(rd); // ANDS: 31 is XZR (TST).
            } else {
                acc.gpr_or_sp(rd);
            }
        }
        // MOVN/MOVZ/MOVK: sf opc 100101 hw imm16 Rd.
        0b101 => {
            if bits(w, 30, 29) == 0b01 || (!sf && bit(w, 22)) {
                return Err(Undefined);
            }
            acc.gpr(rd);
        }
        // SBFM/BFM/UBFM: sf opc 100110 N immr imms Rn Rd.
        0b110 => {
            if bits(w, 30, 29) == 0b11 || bit(w, 22) != sf || (!sf && (bit(w, 21) || bit(w, 15))) {
                return Err(Undefined);
            }
            acc.gpr(rd);
        }
        // EXTR: sf 00 100111 N 0 Rm imms Rn Rd.
        _ => {
            if bits(w, 30, 29) != 0 || bit(w, 21) || bit(w, 22) != sf || (!sf && bit(w, 15)) {
                return Err(Undefined);
            }
            acc.gpr(rd);
        }
    }
    Ok(())
}

/// Branches, exception generating and system instructions (op0 = 101x).
fn branch_sys(addr: u64, w: u32, acc: &mut Acc) -> Res {
    // B / BL: op 00101 imm26.
    if bits(w, 30, 26) == 0b00101 {
        let target = rel(addr, sext(bits(w, 25, 0), 26) << 2);
        if bit(w, 31) {
            acc.gpr(30);
            acc.flow = Flow::Call { target };
        } else {
            acc.flow = Flow::Branch { target };
        }
        return Ok(());
    }
    // CBZ/CBNZ: sf 011010 op imm19 Rt.
    if bits(w, 30, 25) == 0b011010 {
        let target = rel(addr, sext(bits(w, 23, 5), 19) << 2);
        acc.flow = Flow::CondBranch { target };
        return Ok(());
    }
    // TBZ/TBNZ: b5 011011 op b40 imm14 Rt.
    if bits(w, 30, 25) == 0b011011 {
        let target = rel(addr, sext(bits(w, 18, 5), 14) << 2);
        acc.flow = Flow::CondBranch { target };
        return Ok(());
    }
    match bits(w, 31, 24) {
        // B.cond (o0 = 0) and BC.cond (o0 = 1): 0101010 0 imm19 o0 cond.
        0b0101_0100 => {
            let target = rel(addr, sext(bits(w, 23, 5), 19) << 2);
            // AL and NV both mean "always": nothing falls through.
            acc.flow = if bits(w, 3, 1) == 0b111 {
                Flow::Branch { target }
            } else {
                Flow::CondBranch { target }
            };
            Ok(())
        }
        0b1101_0100 => exception(w, acc),
        0b1101_0101 => system(w, acc),
        0b1101_0110 | 0b1101_0111 => branch_reg(w, acc),
        _ => Err(Undefined),
    }
}

/// Exception generation: 11010100 opc imm16 op2 LL.
fn exception(w: u32, acc: &mut Acc) -> Res {
    if bits(w, 4, 2) != 0 {
        return Err(Undefined);
    }
    acc.flow = match (bits(w, 23, 21), bits(w, 1, 0)) {
        // SVC, HVC, SMC.
        (0b000, 0b01..=0b11) => Flow::System,
        // BRK, HLT.
        (0b001, 0b00) | (0b010, 0b00) => Flow::Trap,
        // TCANCEL.
        (0b011, 0b00) => Flow::System,
        // DCPS1..3.
        (0b101, 0b01..=0b11) => Flow::System,
        _ => return Err(Undefined),
    };
    Ok(())
}

/// System instructions: 1101010100 L op0 op1 CRn CRm op2 Rt, and the 128-bit forms
/// (MSRR/MRRS/SYSP) at 1101010101.
fn system(w: u32, acc: &mut Acc) -> Res {
    let l = bit(w, 21);
    let rt = bits(w, 4, 0);
    if bit(w, 23) {
        return Err(Undefined);
    }
    if bit(w, 22) {
        // MRRS (L = 1) writes the pair Rt, Rt+1; MSRR/SYSP only read.
        if l && bit(w, 20) {
            acc.gpr(rt);
            acc.gpr(rt + 1);
        }
        acc.flow = Flow::System;
        return Ok(());
    }
    let op0 = bits(w, 20, 19);
    let op1 = bits(w, 18, 16);
    let crn = bits(w, 15, 12);
    // Hints need Rt = 11111; objdump shows other values as a generic MSR.
    if op0 == 0 && !l && op1 == 0b011 && crn == 0b0010 && rt == 31 {
        hint(bits(w, 11, 5), acc);
        return Ok(());
    }
    if op0 == 0 && !l && op1 == 0b011 && crn == 0b0011 {
        // Barriers (DMB, DSB, ISB, SB, CLREX, ...): ordinary fall-through.
        return Ok(());
    }
    // SYSL, MRS, TSTART, TTEST (all with L = 1) write Rt.
    if l {
        acc.gpr(rt);
    }
    acc.flow = Flow::System;
    Ok(())
}

/// HINT space (CRm:op2): NOP and friends, plus the pointer-authentication hints that
/// rewrite R30 or R17 in place.
fn hint(crm_op2: u32, acc: &mut Acc) {
    match crm_op2 {
        // XPACLRI, and PACIAZ/PACIASP/PACIBZ/PACIBSP/AUTIAZ/AUTIASP/AUTIBZ/AUTIBSP.
        0b000_0111 | 0b001_1000..=0b001_1111 => acc.gpr(30),
        // PACIA1716, PACIB1716, AUTIA1716, AUTIB1716.
        0b000_1000 | 0b000_1010 | 0b000_1100 | 0b000_1110 => acc.gpr(17),
        // CHKFEAT X16.
        0b010_1000 => acc.gpr(16),
        _ => {}
    }
}

/// Unconditional branch (register): 1101011 opc op2 op3 Rn op4.
fn branch_reg(w: u32, acc: &mut Acc) -> Res {
    if bits(w, 20, 16) != 0b11111 {
        return Err(Undefined);
    }
    let opc = bits(w, 24, 21);
    let op3 = bits(w, 15, 10);
    let rn = bits(w, 9, 5);
    let op4 = bits(w, 4, 0);
    let reg = rn as u8;
    // op3 = 00001x with op4 = 11111 is the "key A/B, zero modifier" authenticated form.
    let plain = op3 == 0 && op4 == 0;
    let auth_z = op3 >> 1 == 1 && op4 == 0b11111;
    acc.flow = match opc {
        0b0000 if plain || auth_z => Flow::IndirectBranch { reg },
        0b0001 if plain || auth_z => {
            acc.gpr(30);
            Flow::CallIndirect { reg }
        }
        0b0010 if plain => Flow::Ret { reg },
        // RETAA/RETAB.
        0b0010 if auth_z && rn == 0b11111 => Flow::Ret { reg: 30 },
        // ERET, ERETAA/ERETAB, DRPS.
        0b0100 if rn == 0b11111 && (plain || auth_z) => Flow::System,
        0b0101 if rn == 0b11111 && plain => Flow::System,
        // BRAA/BRAB Xn, Xm|SP.
        0b1000 if op3 >> 1 == 1 => Flow::IndirectBranch { reg },
        // BLRAA/BLRAB Xn, Xm|SP.
        0b1001 if op3 >> 1 == 1 => {
            acc.gpr(30);
            Flow::CallIndirect { reg }
        }
        _ => return Err(Undefined),
    };
    Ok(())
}

/// Loads and stores (op0 = x1x0).
fn ldst(w: u32, acc: &mut Acc) -> Res {
    match bits(w, 29, 27) {
        0b001 => {
            if bit(w, 26) {
                simd_struct(w, acc)
            } else {
                exclusive(w, acc)
            }
        }
        0b011 => match bits(w, 25, 24) {
            0b00 => literal(w, acc),
            _ => ldst_011_misc(w, acc),
        },
        0b101 => pair(w, acc),
        _ => {
            if bit(w, 24) {
                single_uimm(w, acc)
            } else if !bit(w, 21) {
                single_imm9(w, acc)
            } else {
                match bits(w, 11, 10) {
                    0b00 => atomic(w, acc),
                    0b10 => single_regoff(w, acc),
                    _ => pac_load(w, acc),
                }
            }
        }
    }
}

/// Load/store exclusive, ordered, compare-and-swap: size 001000 o2 L o1 Rs o0 Rt2 Rn Rt.
fn exclusive(w: u32, acc: &mut Acc) -> Res {
    if bit(w, 24) {
        return Err(Undefined);
    }
    let o2 = bit(w, 23);
    let load = bit(w, 22);
    let o1 = bit(w, 21);
    let rs = bits(w, 20, 16);
    let rt2 = bits(w, 14, 10);
    let rt = bits(w, 4, 0);
    match (o2, o1) {
        // STXR/STLXR write the status to Rs; LDXR/LDAXR write Rt.
        (false, false) => {
            if load {
                acc.gpr(rt);
            } else {
                acc.gpr(rs);
            }
        }
        (false, true) => {
            if bit(w, 31) {
                // Exclusive pair: STXP/STLXP status to Rs; LDXP/LDAXP write Rt, Rt2.
                if load {
                    acc.gpr(rt);
                    acc.gpr(rt2);
                } else {
                    acc.gpr(rs);
                }
            } else {
                // CASP: Rs and Rt are even-numbered pairs; Rs, Rs+1 receive the old value.
                if rs & 1 != 0 || rt & 1 != 0 || rt2 != 31 {
                    return Err(Undefined);
                }
                acc.gpr(rs);
                acc.gpr(rs + 1);
            }
        }
        // LDAR/LDLAR write Rt; STLR/STLLR write nothing. (Rs and Rt2 should be all ones;
        // other values are constrained-unpredictable, and are decoded as the instruction.)
        (true, false) => {
            if load {
                acc.gpr(rt);
            }
        }
        // CAS: the old value goes to Rs. Rt2 must be all ones.
        (true, true) => {
            if rt2 != 31 {
                return Err(Undefined);
            }
            acc.gpr(rs);
        }
    }
    Ok(())
}

/// AdvSIMD load/store multiple or single structures: 0 Q 0011 0 P L ... Only the
/// post-indexed forms write a general-purpose register (the base).
fn simd_struct(w: u32, acc: &mut Acc) -> Res {
    if bit(w, 31) {
        return Err(Undefined);
    }
    let q = bit(w, 30);
    let single = bit(w, 24);
    let post = bit(w, 23);
    let load = bit(w, 22);
    let rm = bits(w, 20, 16);
    let opcode = bits(w, 15, 12);
    let size = bits(w, 11, 10);
    let rn = bits(w, 9, 5);
    let bytes: i64 = if !single {
        if bit(w, 21) || (!post && rm != 0) {
            return Err(Undefined);
        }
        let regs = match opcode {
            0b0000 | 0b0010 => 4,
            0b0100 | 0b0110 => 3,
            0b0111 => 1,
            0b1000 | 0b1010 => 2,
            _ => return Err(Undefined),
        };
        // LD2/LD3/LD4 (interleaved) have no 64-bit-element form for 64-bit vectors.
        if matches!(opcode, 0b0000 | 0b0100 | 0b1000) && size == 0b11 && !q {
            return Err(Undefined);
        }
        regs * if q { 16 } else { 8 }
    } else {
        if !post && rm != 0 {
            return Err(Undefined);
        }
        let s = bit(w, 12);
        let selem = i64::from(((opcode >> 1) & 1) << 1 | u32::from(bit(w, 21))) + 1;
        let elem = match opcode >> 2 {
            0b00 => 1,
            0b01 if size & 1 == 0 => 2,
            0b10 if size == 0b00 => 4,
            0b10 if size == 0b01 && !s => 8,
            // LD1R..LD4R: replicate, loads only, S = 0.
            0b11 if load && !s => 1 << size,
            _ => return Err(Undefined),
        };
        selem * elem
    };
    if post {
        // Rm = 31 means "post-index by the number of bytes transferred".
        acc.writeback(rn, (rm == 31).then_some(bytes));
    }
    Ok(())
}

/// Load register (literal): opc 011 V 00 imm19 Rt.
fn literal(w: u32, acc: &mut Acc) -> Res {
    let opc = bits(w, 31, 30);
    if bit(w, 26) {
        if opc == 0b11 {
            return Err(Undefined);
        }
    } else if opc != 0b11 {
        // LDR (32/64-bit), LDRSW; opc 11 is PRFM and writes nothing.
        acc.gpr(bits(w, 4, 0));
    }
    Ok(())
}

/// The rest of the 011 space: LDAPUR/STLUR (RCpc2), memory copy/set (MOPS) and the
/// memory-tagging loads/stores.
fn ldst_011_misc(w: u32, acc: &mut Acc) -> Res {
    let rt = bits(w, 4, 0);
    let rn = bits(w, 9, 5);
    if bits(w, 25, 24) != 0b01 {
        return Err(Undefined);
    }
    if !bit(w, 21) {
        match bits(w, 11, 10) {
            // LDAPUR*/STLUR: size 011001 opc 0 imm9 00 Rn Rt (general registers only).
            0b00 if !bit(w, 26) => {
                let size = bits(w, 31, 30);
                let opc = bits(w, 23, 22);
                let load = match opc {
                    0b00 => false,
                    0b01 => true,
                    0b10 if size != 0b11 => true,
                    0b11 if size < 0b10 => true,
                    _ => return Err(Undefined),
                };
                if load {
                    acc.gpr(rt);
                }
                if rn == 31 {
                    acc.sp_mem = Some(SpAccess {
                        offset: sext(bits(w, 20, 12), 9),
                        size: 1 << size,
                        regs: 1,
                        store: !load,
                        writeback: Writeback::None,
                        rt: [rt as u8; 2],
                        fp_simd: false,
                    });
                }
                Ok(())
            }
            // CPY*/SET*: 00 011 o0 01 op1 0 Rs op2 01 Rn Rd; all three registers are
            // updated as the copy progresses (SET* only reads Rs, the value). The
            // registers must be distinct and not 31 (except SET*'s Rs, which may be XZR).
            0b01 if bits(w, 31, 30) == 0 => {
                let rd = rt;
                let rs = bits(w, 20, 16);
                let set = bits(w, 23, 22) == 0b11;
                let regs_ok = if set {
                    bits(w, 15, 14) != 0b11
                        && rd != 31
                        && rn != 31
                        && rd != rn
                        && rs != rd
                        && rs != rn
                } else {
                    rd != 31 && rn != 31 && rs != 31 && rd != rn && rd != rs && rn != rs
                };
                if !regs_ok {
                    return Err(Undefined);
                }
                acc.gpr(rd);
                acc.gpr(rn);
                if !set {
                    acc.gpr(rs);
                }
                Ok(())
            }
            _ => Err(Undefined),
        }
    } else if bits(w, 31, 26) == 0b110110 {
        mte(w, acc)
    } else {
        Err(Undefined)
    }
}

/// Memory tagging: 11011001 opc 1 imm9 op2 Rn Rt.
fn mte(w: u32, acc: &mut Acc) -> Res {
    let opc = bits(w, 23, 22);
    let op2 = bits(w, 11, 10);
    let rn = bits(w, 9, 5);
    let rt = bits(w, 4, 0);
    if op2 == 0b00 {
        // STZGM, STGM and LDGM take no offset: imm9 must be zero.
        if opc != 0b01 && bits(w, 20, 12) != 0 {
            return Err(Undefined);
        }
        // LDG, LDGM load tags into Rt.
        if opc & 1 == 1 {
            acc.gpr(rt);
        }
        return Ok(());
    }
    // STG/STZG/ST2G/STZ2G: 01 post-index, 11 pre-index (both write back), 10 offset.
    if op2 == 0b01 || op2 == 0b11 {
        acc.writeback(rn, Some(sext(bits(w, 20, 12), 9) << 4));
    }
    Ok(())
}

/// What a (size, V, opc) triple means for the single-register load/store forms.
#[derive(Clone, Copy)]
struct Kind {
    load: bool,
    prefetch: bool,
    fp_simd: bool,
    /// log2 of the access size in bytes.
    scale: u32,
}

fn single_kind(w: u32) -> Result<Kind, Undefined> {
    let size = bits(w, 31, 30);
    let v = bit(w, 26);
    let opc = bits(w, 23, 22);
    let k = |load, prefetch, scale| Kind {
        load,
        prefetch,
        fp_simd: v,
        scale,
    };
    Ok(match (v, opc) {
        (false, 0b00) => k(false, false, size),
        (false, 0b01) => k(true, false, size),
        // PRFM/PRFUM.
        (false, 0b10) if size == 0b11 => k(false, true, 3),
        // LDRSB/LDRSH/LDRSW into X.
        (false, 0b10) => k(true, false, size),
        // LDRSB/LDRSH into W.
        (false, 0b11) if size < 0b10 => k(true, false, size),
        (true, 0b00) => k(false, false, size),
        (true, 0b01) => k(true, false, size),
        // 128-bit Q register.
        (true, 0b10) if size == 0 => k(false, false, 4),
        (true, 0b11) if size == 0 => k(true, false, 4),
        _ => return Err(Undefined),
    })
}

/// Common tail for single-register accesses: Rt write and the SP access description.
fn single_common(w: u32, kind: Kind, offset: i64, wb: Writeback, acc: &mut Acc) {
    let rt = bits(w, 4, 0);
    let rn = bits(w, 9, 5);
    if kind.prefetch {
        return;
    }
    if kind.load && !kind.fp_simd {
        acc.gpr(rt);
    }
    if wb != Writeback::None {
        acc.writeback(rn, Some(offset));
    }
    if rn == 31 {
        acc.sp_mem = Some(SpAccess {
            offset: if wb == Writeback::Post { 0 } else { offset },
            size: 1 << kind.scale,
            regs: 1,
            store: !kind.load,
            writeback: wb,
            rt: [rt as u8; 2],
            fp_simd: kind.fp_simd,
        });
    }
}

/// Unsigned scaled 12-bit offset: size 111 V 01 opc imm12 Rn Rt.
fn single_uimm(w: u32, acc: &mut Acc) -> Res {
    if bit(w, 25) {
        return Err(Undefined);
    }
    let kind = single_kind(w)?;
    let offset = i64::from(bits(w, 21, 10)) << kind.scale;
    single_common(w, kind, offset, Writeback::None, acc);
    Ok(())
}

/// 9-bit signed offset forms: size 111 V 00 opc 0 imm9 op Rn Rt, op = 00 unscaled
/// (LDUR/STUR/PRFUM), 01 post-index, 10 unprivileged (LDTR/STTR), 11 pre-index.
fn single_imm9(w: u32, acc: &mut Acc) -> Res {
    let kind = single_kind(w)?;
    let imm = sext(bits(w, 20, 12), 9);
    let wb = match bits(w, 11, 10) {
        0b00 => Writeback::None,
        0b01 => Writeback::Post,
        0b10 => {
            if kind.fp_simd {
                return Err(Undefined);
            }
            Writeback::None
        }
        _ => Writeback::Pre,
    };
    if kind.prefetch && bits(w, 11, 10) != 0b00 {
        return Err(Undefined);
    }
    single_common(w, kind, imm, wb, acc);
    Ok(())
}

/// Register offset: size 111 V 00 opc 1 Rm option S 10 Rn Rt. No constant address.
fn single_regoff(w: u32, acc: &mut Acc) -> Res {
    let kind = single_kind(w)?;
    if !bit(w, 14) {
        // option<1> = 0 is unallocated.
        return Err(Undefined);
    }
    if kind.load && !kind.fp_simd {
        acc.gpr(bits(w, 4, 0));
    }
    Ok(())
}

/// Atomic memory operations: size 111 V 00 A R 1 Rs o3 opc 00 Rn Rt.
fn atomic(w: u32, acc: &mut Acc) -> Res {
    if bit(w, 26) {
        return Err(Undefined);
    }
    let size = bits(w, 31, 30);
    let rs = bits(w, 20, 16);
    let rt = bits(w, 4, 0);
    let a_r = bits(w, 23, 22);
    match (bit(w, 15), bits(w, 14, 12)) {
        // LDADD..LDUMIN (ST* aliases have Rt = XZR), SWP.
        (false, _) | (true, 0b000) => acc.gpr(rt),
        // LDAPR/LDAPRB/LDAPRH: A = 1, R = 0, Rs = 11111.
        (true, 0b100) if a_r == 0b10 && rs == 31 => acc.gpr(rt),
        // ST64B.
        (true, 0b001) if size == 0b11 && a_r == 0 && rs == 31 => {}
        // ST64BV0, ST64BV: status to Rs.
        (true, 0b010 | 0b011) if size == 0b11 && a_r == 0 => acc.gpr(rs),
        // LD64B: eight consecutive registers from Rt (Rt <= 23 and even).
        (true, 0b101) if size == 0b11 && a_r == 0 && rs == 31 => {
            if rt > 23 || rt & 1 != 0 {
                return Err(Undefined);
            }
            for r in rt..rt + 8 {
                acc.gpr(r);
            }
        }
        _ => return Err(Undefined),
    }
    Ok(())
}

/// LDRAA/LDRAB: 11 111 0 00 M S 1 imm9 W 1 Rn Rt, offset S:imm9 scaled by 8, W = pre-index.
fn pac_load(w: u32, acc: &mut Acc) -> Res {
    if bits(w, 31, 30) != 0b11 || bit(w, 26) {
        return Err(Undefined);
    }
    let offset = sext((bits(w, 22, 22) << 9) | bits(w, 20, 12), 10) << 3;
    let kind = Kind {
        load: true,
        prefetch: false,
        fp_simd: false,
        scale: 3,
    };
    let wb = if bit(w, 11) {
        Writeback::Pre
    } else {
        Writeback::None
    };
    single_common(w, kind, offset, wb, acc);
    Ok(())
}

/// Load/store pair: opc 101 V idx L imm7 Rt2 Rn Rt, idx = 00 non-temporal offset,
/// 01 post-index, 10 signed offset, 11 pre-index.
fn pair(w: u32, acc: &mut Acc) -> Res {
    let opc = bits(w, 31, 30);
    let v = bit(w, 26);
    let idx = bits(w, 24, 23);
    let load = bit(w, 22);
    let rt2 = bits(w, 14, 10);
    let rn = bits(w, 9, 5);
    let rt = bits(w, 4, 0);
    // (bytes per register, scale of imm7)
    let (size, scale): (u8, i64) = match (v, opc) {
        (false, 0b00) => (4, 4),
        // LDPSW.
        (false, 0b01) if load && idx != 0b00 => (4, 4),
        // STGP stores two X registers; its immediate counts 16-byte tag granules.
        (false, 0b01) if !load && idx != 0b00 => (8, 16),
        (false, 0b10) => (8, 8),
        (true, 0b00) => (4, 4),
        (true, 0b01) => (8, 8),
        (true, 0b10) => (16, 16),
        _ => return Err(Undefined),
    };
    let imm = sext(bits(w, 21, 15), 7) * scale;
    if load && !v {
        acc.gpr(rt);
        acc.gpr(rt2);
    }
    let wb = match idx {
        0b01 => Writeback::Post,
        0b11 => Writeback::Pre,
        _ => Writeback::None,
    };
    if wb != Writeback::None {
        acc.writeback(rn, Some(imm));
    }
    if rn == 31 {
        acc.sp_mem = Some(SpAccess {
            offset: if wb == Writeback::Post { 0 } else { imm },
            size,
            regs: 2,
            store: !load,
            writeback: wb,
            rt: [rt as u8, rt2 as u8],
            fp_simd: v,
        });
    }
    Ok(())
}

/// Data processing -- register (op0 = x101).
fn dp_reg(w: u32, acc: &mut Acc) -> Res {
    let sf = bit(w, 31);
    let s = bit(w, 29);
    let rd = bits(w, 4, 0);
    if !bit(w, 28) {
        if !bit(w, 24) {
            // Logical (shifted register): Rd 31 is XZR for every opc.
            if !sf && bit(w, 15) {
                return Err(Undefined);
            }
            acc.gpr(rd);
        } else if !bit(w, 21) {
            // ADD/SUB (shifted register): Rd 31 is XZR; shift 11 is reserved.
            if bits(w, 23, 22) == 0b11 || (!sf && bit(w, 15)) {
                return Err(Undefined);
            }
            acc.gpr(rd);
        } else {
            // ADD/SUB (extended register): sf op S 01011 00 1 Rm option imm3 Rn Rd, Rd is
            // SP-capable unless flags are set. The amount added is a register, so no delta.
            if bits(w, 23, 22) != 0 || bits(w, 12, 10) > 4 {
                return Err(Undefined);
            }
            if s {
                acc.gpr(rd);
            } else {
                acc.gpr_or_sp(rd);
            }
        }
        return Ok(());
    }
    let op3 = bits(w, 15, 10);
    match bits(w, 24, 21) {
        0b0000 => {
            let op_s = bits(w, 31, 29);
            if op3 == 0 {
                // ADC/ADCS/SBC/SBCS.
                acc.gpr(rd);
            } else if op3 & 0b01_1111 == 0b00_0001 && op_s == 0b101 && !bit(w, 4) {
                // RMIF: 1 0 1 11010000 imm6 00001 Rn 0 mask; flags only.
            } else if bits(w, 20, 15) == 0
                && bits(w, 13, 10) == 0b0010
                && op_s == 0b001
                && bits(w, 4, 0) == 0b01101
            {
                // SETF8/SETF16: 0 0 1 11010000 000000 sz 0010 Rn 0 1101; flags only.
            } else {
                return Err(Undefined);
            }
        }
        // CCMN/CCMP (register and immediate): flags only.
        0b0010 => {
            if !s || bit(w, 10) || bit(w, 4) {
                return Err(Undefined);
            }
        }
        // CSEL/CSINC/CSINV/CSNEG.
        0b0100 => {
            if s || bit(w, 11) {
                return Err(Undefined);
            }
            acc.gpr(rd);
        }
        0b0110 => {
            if bit(w, 30) {
                dp_1src(w, acc)?;
            } else {
                dp_2src(w, acc)?;
            }
        }
        0b1000..=0b1111 => {
            // Three-source multiply: sf 00 11011 op31 Rm o0 Ra Rn Rd.
            let op31 = bits(w, 23, 21);
            let o0 = bit(w, 15);
            let ok = bits(w, 30, 29) == 0
                && match op31 {
                    0b000 => true,
                    0b001 | 0b101 => sf,
                    0b010 | 0b110 => sf && !o0,
                    _ => false,
                };
            if !ok {
                return Err(Undefined);
            }
            acc.gpr(rd);
        }
        _ => return Err(Undefined),
    }
    Ok(())
}

/// Data-processing (2 source): sf 0 S 11010110 Rm opcode Rn Rd.
fn dp_2src(w: u32, acc: &mut Acc) -> Res {
    let sf = bit(w, 31);
    let s = bit(w, 29);
    let rd = bits(w, 4, 0);
    match bits(w, 15, 10) {
        // SUBP / SUBPS (CMPP when Rd = XZR).
        0b000000 if sf => acc.gpr(rd),
        // IRG Xd|SP, Xn|SP, Xm.
        0b000100 if sf && !s => acc.gpr_or_sp(rd),
        // GMI, PACGA.
        0b000101 | 0b001100 if sf && !s => acc.gpr(rd),
        // UDIV, SDIV, LSLV, LSRV, ASRV, RORV, SMAX/UMAX/SMIN/UMIN (register).
        0b000010 | 0b000011 | 0b001000..=0b001011 | 0b011000..=0b011011 if !s => acc.gpr(rd),
        // CRC32B/H/W (sf = 0) and CRC32X (sf = 1), plain and C variants.
        op @ 0b010000..=0b010111 if !s && (op & 0b11 == 0b11) == sf => acc.gpr(rd),
        _ => return Err(Undefined),
    }
    Ok(())
}

/// Data-processing (1 source): sf 1 S 11010110 opcode2 opcode Rn Rd.
fn dp_1src(w: u32, acc: &mut Acc) -> Res {
    let sf = bit(w, 31);
    let rd = bits(w, 4, 0);
    let rn = bits(w, 9, 5);
    if bit(w, 29) {
        return Err(Undefined);
    }
    let opcode = bits(w, 15, 10);
    let ok = match bits(w, 20, 16) {
        // RBIT, REV16, REV32/REV, REV (64), CLZ, CLS, CTZ, CNT, ABS.
        0b00000 => match opcode {
            0b000000..=0b000010 | 0b000100..=0b001000 => true,
            0b000011 => sf,
            _ => false,
        },
        // PACIA..AUTDB (Xd in place), the zero-modifier forms with Rn = 11111, XPACI/XPACD.
        0b00001 => {
            sf && match opcode {
                0b000000..=0b000111 => true,
                0b001000..=0b010001 => rn == 0b11111,
                _ => false,
            }
        }
        _ => false,
    };
    if !ok {
        return Err(Undefined);
    }
    acc.gpr(rd);
    Ok(())
}

/// Data processing -- scalar FP and AdvSIMD (op0 = x111): only the forms whose
/// destination is a general-purpose register matter here. Whether any other word in this
/// space is allocated is left to yaxpeax-arm: the answer only decides between
/// [`Flow::Next`] and [`Flow::Trap`] (Go's own `UNDEF`, 0xbea71700, lives here), and the
/// space has dozens of classes with their own reserved patterns.
fn simd_fp(w: u32, acc: &mut Acc) -> Res {
    if fp_to_gpr(w, acc)? || crate::text::decodes(w) {
        Ok(())
    } else {
        Err(Undefined)
    }
}

/// The FP/SIMD forms with a general-purpose destination. Returns whether `w` is one.
fn fp_to_gpr(w: u32, acc: &mut Acc) -> Result<bool, Undefined> {
    let rd = bits(w, 4, 0);
    // SMOV/UMOV: 0 Q 0 01110000 imm5 0 imm4 1 Rn Rd, imm4 = 0101 / 0111.
    if w & 0xBFE0_FC00 == 0x0E00_2C00 || w & 0xBFE0_FC00 == 0x0E00_3C00 {
        let q = bit(w, 30);
        let imm5 = bits(w, 20, 16);
        if imm5 & 0xF == 0 {
            return Err(Undefined);
        }
        let size = imm5.trailing_zeros();
        let unsigned = bit(w, 12);
        let ok = if unsigned {
            if q { size == 3 } else { size <= 2 }
        } else if q {
            size <= 2
        } else {
            size <= 1
        };
        if !ok {
            return Err(Undefined);
        }
        acc.gpr(rd);
        return Ok(true);
    }
    // Conversions between FP and integer / fixed point: sf 0 S 11110 ftype b21 rmode
    // opcode .... Rn Rd.
    if bit(w, 30) || bits(w, 28, 24) != 0b11110 || bit(w, 29) {
        return Ok(false);
    }
    let sf = bit(w, 31);
    let ftype = bits(w, 23, 22);
    let rmode = bits(w, 20, 19);
    let opcode = bits(w, 18, 16);
    if bit(w, 21) {
        if bits(w, 15, 10) != 0 {
            return Ok(false);
        }
        let to_gpr = match opcode {
            // FCVTNS/NU/PS/PU/MS/MU/ZS/ZU.
            0b000 | 0b001 => ftype != 0b10,
            // FCVTAS/FCVTAU.
            0b100 | 0b101 => rmode == 0 && ftype != 0b10,
            // FMOV to GPR (W<-S, X<-D, W/X<-H, X<-V.D[1]) and FJCVTZS.
            0b110 => match rmode {
                0b00 => (!sf && ftype == 0b00) || (sf && ftype == 0b01) || ftype == 0b11,
                0b01 => sf && ftype == 0b10,
                0b11 => !sf && ftype == 0b01,
                _ => false,
            },
            _ => false,
        };
        if to_gpr {
            acc.gpr(rd);
        }
        Ok(to_gpr)
    } else if rmode == 0b11 && opcode <= 0b001 && ftype != 0b10 && (sf || bit(w, 15)) {
        // FCVTZS/FCVTZU to fixed point in a GPR.
        acc.gpr(rd);
        Ok(true)
    } else {
        Ok(false)
    }
}
