//! The few value-level effects a dataflow over stack addresses needs: which instructions
//! compute a register from another by a constant (`ADD`/`SUB` immediate, which includes
//! `MOV` to and from SP), which copy a register (`MOV Xd, Xm`), and which load or store
//! through any base register with a constant offset.
//!
//! [`crate::classify`] answers "what does this write?"; this answers "what value does it
//! write, in terms of another register?", for the planner that carries SP, R29, LR and the
//! frame-record slots from one region of a function to the next.

use crate::classify::classify;
use crate::effects::SpAccess;

/// A register computed from another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueOp {
    /// `Rd = Rn + imm` (64-bit ADD/SUB immediate without flags, so register 31 is SP on
    /// both sides; `mov sp, x20` and `mov x29, sp` are this with `imm` 0). The flag-setting
    /// forms with a real destination are included too (`rd` < 31).
    AddImm {
        /// Destination (31 = SP).
        rd: u8,
        /// Source (31 = SP).
        rn: u8,
        /// The constant added (negative for SUB).
        imm: i64,
    },
    /// `Rd = target` (ADR): a PC-relative code address, as Go's arm64 code generator uses
    /// for the return address of the frame record it builds around `runtime.duffzero` and
    /// `runtime.duffcopy` calls (`ADR ret, R27`).
    Adr {
        /// Destination (31: the write vanishes).
        rd: u8,
        /// The absolute address computed.
        target: u64,
    },
    /// `Rd = Rm` (`ORR Xd, XZR, Xm`, the MOV alias): neither is SP; 31 is XZR.
    Move {
        /// Destination (31: the write vanishes).
        rd: u8,
        /// Source (31: zero).
        rm: u8,
    },
}

/// The value-level effect of `word` at `addr`, if it is one of the forms of [`ValueOp`].
pub fn value_op(addr: u64, word: u32) -> Option<ValueOp> {
    // ADR: 0 immlo 10000 immhi Rd.
    if word & 0x9f00_0000 == 0x1000_0000 {
        let imm = (((word >> 5) & 0x7ffff) << 2) | ((word >> 29) & 3);
        let offset = (i64::from(imm) << 43) >> 43;
        return Some(ValueOp::Adr {
            rd: (word & 31) as u8,
            target: addr.wrapping_add(offset as u64),
        });
    }
    // ADD/ADDS/SUB/SUBS (immediate), 64-bit: 1 op S 100010 sh imm12 Rn Rd.
    if word & 0x9f80_0000 == 0x9100_0000 {
        let set_flags = word & (1 << 29) != 0;
        let sub = word & (1 << 30) != 0;
        let rd = (word & 31) as u8;
        let rn = ((word >> 5) & 31) as u8;
        let imm = i64::from((word >> 10) & 0xfff) << (12 * ((word >> 22) & 1));
        if set_flags && rd == 31 {
            return None; // CMP/CMN: no register written.
        }
        return Some(ValueOp::AddImm {
            rd,
            rn,
            imm: if sub { -imm } else { imm },
        });
    }
    // ORR Xd, XZR, Xm (no shift): 1 01 01010 00 0 Rm 000000 11111 Rd.
    if word & 0xffe0_ffe0 == 0xaa00_03e0 {
        return Some(ValueOp::Move {
            rd: (word & 31) as u8,
            rm: ((word >> 16) & 31) as u8,
        });
    }
    None
}

/// A load or store with a constant offset from any base register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemOp {
    /// The base register (31 = SP).
    pub base: u8,
    /// The access, described as [`SpAccess`] describes one whose base is SP: `offset` is
    /// relative to the base's value before the instruction.
    pub access: SpAccess,
    /// What the base register gains by writeback (pre- or post-index), if it is written.
    pub writeback: Option<i64>,
}

/// The base register (31 = SP) of any load or store, with or without a constant offset
/// (register offsets, exclusives, atomics and structure accesses included).
pub fn mem_base(word: u32) -> Option<u8> {
    matches!((word >> 25) & 0xf, 0b0100 | 0b0110 | 0b1100 | 0b1110)
        .then_some(((word >> 5) & 31) as u8)
}

/// The load or store `word` performs with a constant offset from its base register, if any
/// (the same forms [`crate::Effects::sp_mem`] describes for base SP).
pub fn mem_op(word: u32) -> Option<MemOp> {
    // Every load/store class keeps its base register in bits 9..5, and 31 always means SP
    // there: describe the access as if the base were SP, then name the real base.
    let base = mem_base(word)?;
    let as_sp = word | (31 << 5);
    let e = classify(0, as_sp);
    e.sp_mem.map(|access| MemOp {
        base,
        access,
        writeback: e.sp_delta,
    })
}

/// Whether the load `word` at `pc` writes its own base register `rn` (31 = SP, never a
/// load destination) as a destination, so that the loaded value replaces the base; otherwise
/// the base changes only by writeback. Register-offset, exclusive and atomic forms have no
/// writeback, so a written base is a destination there; SIMD structure loads (LD1..LD4)
/// write back and load vectors only.
pub fn load_overwrites_base(pc: u64, word: u32, rn: u8) -> bool {
    if rn == 31 {
        return false;
    }
    if let Some(m) = mem_op(word) {
        let regs = usize::from(m.access.regs.clamp(1, 2));
        return !m.access.store && !m.access.fp_simd && m.access.rt[..regs].contains(&rn);
    }
    let structure = (word >> 27) & 0b111 == 0b001 && word & (1 << 26) != 0;
    !structure && classify(pc, word).written.contains_x(rn)
}

/// A store whose address is a register with no offset and whose bytes written are not a
/// plain register transfer: load/store exclusive and compare-and-swap (base Xn, up to 16
/// bytes), LSE atomics such as LDADD and SWP (base Xn), and `DC ZVA` (address Xt, a block of
/// up to 2 KiB). Returns the address register and the most bytes written from the address
/// aligned down to that span. (Emulators do not always report these stores as writes.)
pub fn register_addressed_store(word: u32) -> Option<(u8, u64)> {
    let rn = ((word >> 5) & 31) as u8;
    if word & 0x3f00_0000 == 0x0800_0000 || word & 0x3b20_0c00 == 0x3820_0000 {
        Some((rn, 16))
    } else if word & 0xffff_ffe0 == 0xd50b_7420 {
        Some(((word & 31) as u8, 2048))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::Writeback;

    #[test]
    fn add_and_sub_immediate_compute_from_their_source() {
        // sub x29, sp, #0x8
        assert_eq!(
            value_op(0, 0xd10023fd),
            Some(ValueOp::AddImm {
                rd: 29,
                rn: 31,
                imm: -8
            })
        );
        // sub x20, x20, #0x88, lsl #12
        assert_eq!(
            value_op(0, 0xd1422294),
            Some(ValueOp::AddImm {
                rd: 20,
                rn: 20,
                imm: -0x88000
            })
        );
        // mov sp, x20
        assert_eq!(
            value_op(0, 0x9100029f),
            Some(ValueOp::AddImm {
                rd: 31,
                rn: 20,
                imm: 0
            })
        );
        // add sp, sp, #0x11, lsl #12
        assert_eq!(
            value_op(0, 0x914047ff),
            Some(ValueOp::AddImm {
                rd: 31,
                rn: 31,
                imm: 0x11000
            })
        );
        // cmp x0, #0x10 (SUBS xzr): no value.
        assert_eq!(value_op(0, 0xf100401f), None);
        // add w0, w1, #1 (32-bit): not an address computation.
        assert_eq!(value_op(0, 0x11000420), None);
    }

    #[test]
    fn exclusive_atomic_and_zeroing_stores_name_their_address_register() {
        // stlxr w1, x2, [x3]
        assert_eq!(register_addressed_store(0xc801fc62), Some((3, 16)));
        // casal x0, x1, [x2]
        assert_eq!(register_addressed_store(0xc8e0fc41), Some((2, 16)));
        // ldaddal x0, x1, [x2]
        assert_eq!(register_addressed_store(0xf8e00041), Some((2, 16)));
        // dc zva, x5
        assert_eq!(register_addressed_store(0xd50b7425), Some((5, 2048)));
        // str x0, [x1]: an ordinary store
        assert_eq!(register_addressed_store(0xf9000020), None);
    }

    #[test]
    fn adr_computes_a_code_address() {
        // adr x27, .+12 (the duffzero return address): immlo=0 immhi=3.
        assert_eq!(
            value_op(0x1000, 0x1000007b),
            Some(ValueOp::Adr {
                rd: 27,
                target: 0x100c
            })
        );
        // adr x0, .-4: imm = -4 (immhi all ones, immlo 0b00).
        assert_eq!(
            value_op(0x1000, 0x10ffffe0),
            Some(ValueOp::Adr {
                rd: 0,
                target: 0xffc
            })
        );
    }

    #[test]
    fn mov_register_is_a_copy() {
        // mov x26, x3
        assert_eq!(
            value_op(0, 0xaa0303fa),
            Some(ValueOp::Move { rd: 26, rm: 3 })
        );
        // mov x3, x30 (the morestack tail)
        assert_eq!(
            value_op(0, 0xaa1e03e3),
            Some(ValueOp::Move { rd: 3, rm: 30 })
        );
    }

    #[test]
    fn loads_and_stores_name_their_base() {
        // stp x29, x30, [x20, #-8]
        let m = mem_op(0xa93ffa9d).unwrap();
        assert_eq!(m.base, 20);
        assert_eq!(m.access.offset, -8);
        assert_eq!(m.access.rt, [29, 30]);
        assert!(m.access.store);
        // ldr x30, [sp], #16
        let m = mem_op(0xf84107fe).unwrap();
        assert_eq!(m.base, 31);
        assert_eq!(m.access.writeback, Writeback::Post);
        assert_eq!(m.writeback, Some(16));
        assert_eq!(m.access.rt, [30, 30]);
        assert!(!m.access.store);
        // str x4, [sp, #8]
        let m = mem_op(0xf90007e4).unwrap();
        assert_eq!((m.base, m.access.offset, m.access.rt[0]), (31, 8, 4));
        // ldr x3, [x26]
        let m = mem_op(0xf9400343).unwrap();
        assert_eq!((m.base, m.access.offset, m.access.store), (26, 0, false));
        // add sp, sp, #0x20 is no memory access.
        assert_eq!(mem_op(0x910083ff), None);
        // ldr x0, [x1, x2, lsl #3]: register offset, no constant address.
        assert_eq!(mem_op(0xf8627820), None);
    }

    #[test]
    fn a_load_overwrites_its_base_only_as_a_destination() {
        // ldr x1, [x1]: the loaded value replaces the base.
        assert!(load_overwrites_base(0, 0xf9400021, 1));
        // ldr x2, [x1, #8]!: x1 changes by writeback only.
        assert!(!load_overwrites_base(0, 0xf8408c22, 1));
        // ldr x1, [x1, x2, lsl #3]: register offset, no writeback: a destination.
        assert!(load_overwrites_base(0, 0xf8627821, 1));
        // ld1 {v0.16b}, [x1], #16: a structure load writes x1 back, loads only vectors.
        assert!(!load_overwrites_base(0, 0x4cdf7020, 1));
        // ldr x0, [sp, #8]: SP is never a load destination.
        assert!(!load_overwrites_base(0, 0xf94007e0, 31));
    }
}
