//! A small arm64 encoder for the instructions Go's prologues and epilogues use, as an
//! [`Op`] per machine instruction: the model builds `Op`s, [`Op::encode`] gives the word
//! (checked against `twixt_arm64`'s decoder and GNU objdump in the tests) and the
//! interpreter in [`crate::exec`] gives its effect.
//!
//! Register numbers are the encoding's: 0..=30 are X0..X30; 31 is SP where the
//! instruction's field means SP (`Rd`/`Rn` of ADD/SUB immediate and extended register,
//! the base of loads and stores) and XZR elsewhere.

/// Register 31 used as SP or XZR.
pub const SP: u8 = 31;
/// Register 31 used as XZR.
pub const ZR: u8 = 31;
/// Go's REGTMP.
pub const R27: u8 = 27;
/// The prologue's scratch register for large frames.
pub const R20: u8 = 20;
/// The frame pointer.
pub const FP: u8 = 29;
/// The link register.
pub const LR: u8 = 30;

/// One machine instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `ADD`/`SUB Xd|SP, Xn|SP, #imm12 {, LSL #12}`.
    AddImm {
        /// Destination (31 = SP).
        rd: u8,
        /// Source (31 = SP).
        rn: u8,
        /// The 12-bit immediate.
        imm12: u16,
        /// Shifted left by 12.
        lsl12: bool,
        /// SUB instead of ADD.
        sub: bool,
    },
    /// `ADD`/`SUB Xd|SP, Xn|SP, Xm, UXTX #0` (extended register).
    AddExt {
        /// Destination (31 = SP).
        rd: u8,
        /// First source (31 = SP).
        rn: u8,
        /// Second source (31 = XZR).
        rm: u8,
        /// SUB instead of ADD.
        sub: bool,
    },
    /// `MOVZ Xd, #imm16, LSL #(16*hw)`.
    Movz {
        /// Destination.
        rd: u8,
        /// The 16-bit chunk.
        imm16: u16,
        /// Which chunk.
        hw: u8,
    },
    /// `MOVK Xd, #imm16, LSL #(16*hw)`.
    Movk {
        /// Destination.
        rd: u8,
        /// The 16-bit chunk.
        imm16: u16,
        /// Which chunk.
        hw: u8,
    },
    /// `ORR Xd, XZR, #bitmask` (Go's `MOVD $bitcon, Rd`).
    OrrImm {
        /// Destination.
        rd: u8,
        /// The logical immediate (must pass [`bitmask`]).
        value: u64,
    },
    /// `STP Xt, Xt2, [Xn|SP, #off]` (signed offset, multiple of 8).
    Stp {
        /// First register (31 = XZR).
        rt: u8,
        /// Second register.
        rt2: u8,
        /// Base.
        rn: u8,
        /// Byte offset.
        off: i16,
    },
    /// `LDP Xt, Xt2, [Xn|SP, #off]`.
    Ldp {
        /// First register.
        rt: u8,
        /// Second register.
        rt2: u8,
        /// Base.
        rn: u8,
        /// Byte offset.
        off: i16,
    },
    /// `STR Xt, [Xn|SP, #off]!` (pre-index, Go's `MOVD.W`).
    StrPre {
        /// Source (31 = XZR).
        rt: u8,
        /// Base.
        rn: u8,
        /// Byte offset (-256..=255).
        off: i16,
    },
    /// `LDR Xt, [Xn|SP], #off` (post-index, Go's `MOVD.P`).
    LdrPost {
        /// Destination.
        rt: u8,
        /// Base.
        rn: u8,
        /// Byte offset (-256..=255).
        off: i16,
    },
    /// `STUR Xt, [Xn|SP, #off]` (unscaled, Go's `MOVD Rt, -8(RSP)`).
    Stur {
        /// Source (31 = XZR).
        rt: u8,
        /// Base.
        rn: u8,
        /// Byte offset (-256..=255).
        off: i16,
    },
    /// `LDUR Xt, [Xn|SP, #off]`.
    Ldur {
        /// Destination.
        rt: u8,
        /// Base.
        rn: u8,
        /// Byte offset (-256..=255).
        off: i16,
    },
    /// `STR Xt, [Xn|SP, #off]` (unsigned offset, multiple of 8).
    StrUimm {
        /// Source (31 = XZR).
        rt: u8,
        /// Base.
        rn: u8,
        /// Byte offset (0..=32760).
        off: u16,
    },
    /// `BL` to `offset` bytes from this instruction.
    Bl {
        /// Byte offset, a multiple of 4.
        offset: i32,
    },
    /// `RET` (X30).
    Ret,
    /// `NOP`.
    Nop,
}

impl Op {
    /// The instruction word.
    pub fn encode(self) -> u32 {
        let r = |x: u8| u32::from(x & 31);
        let imm9 = |off: i16| (off as u32 & 0x1ff) << 12;
        match self {
            Op::AddImm {
                rd,
                rn,
                imm12,
                lsl12,
                sub,
            } => {
                let base = if sub { 0xd100_0000 } else { 0x9100_0000 };
                base | u32::from(lsl12) << 22 | u32::from(imm12 & 0xfff) << 10 | r(rn) << 5 | r(rd)
            }
            Op::AddExt { rd, rn, rm, sub } => {
                let base = if sub { 0xcb20_0000 } else { 0x8b20_0000 };
                // option 0b011 (UXTX), imm3 0
                base | r(rm) << 16 | 0b011 << 13 | r(rn) << 5 | r(rd)
            }
            Op::Movz { rd, imm16, hw } => {
                0xd280_0000 | u32::from(hw & 3) << 21 | u32::from(imm16) << 5 | r(rd)
            }
            Op::Movk { rd, imm16, hw } => {
                0xf280_0000 | u32::from(hw & 3) << 21 | u32::from(imm16) << 5 | r(rd)
            }
            Op::OrrImm { rd, value } => {
                let (n, immr, imms) = bitmask(value).unwrap_or((0, 0, 0));
                0xb200_0000
                    | u32::from(n) << 22
                    | u32::from(immr) << 16
                    | u32::from(imms) << 10
                    | r(ZR) << 5
                    | r(rd)
            }
            Op::Stp { rt, rt2, rn, off } => {
                0xa900_0000 | ((off / 8) as u32 & 0x7f) << 15 | r(rt2) << 10 | r(rn) << 5 | r(rt)
            }
            Op::Ldp { rt, rt2, rn, off } => {
                0xa940_0000 | ((off / 8) as u32 & 0x7f) << 15 | r(rt2) << 10 | r(rn) << 5 | r(rt)
            }
            Op::StrPre { rt, rn, off } => 0xf800_0c00 | imm9(off) | r(rn) << 5 | r(rt),
            Op::LdrPost { rt, rn, off } => 0xf840_0400 | imm9(off) | r(rn) << 5 | r(rt),
            Op::Stur { rt, rn, off } => 0xf800_0000 | imm9(off) | r(rn) << 5 | r(rt),
            Op::Ldur { rt, rn, off } => 0xf840_0000 | imm9(off) | r(rn) << 5 | r(rt),
            Op::StrUimm { rt, rn, off } => {
                0xf900_0000 | (u32::from(off / 8) & 0xfff) << 10 | r(rn) << 5 | r(rt)
            }
            Op::Bl { offset } => 0x9400_0000 | ((offset / 4) as u32 & 0x03ff_ffff),
            Op::Ret => 0xd65f_03c0,
            Op::Nop => 0xd503_201f,
        }
    }
}

/// The `(N, immr, imms)` fields encoding `value` as a 64-bit logical immediate, or `None`
/// when it is not one (Go's `isbitcon`/`bitconEncode`).
pub fn bitmask(value: u64) -> Option<(u8, u8, u8)> {
    if value == 0 || value == u64::MAX {
        return None;
    }
    // The smallest element size whose pattern repeats across the word.
    let mut size = 64u32;
    while size > 2 {
        let half = size / 2;
        let mask = (1u64 << half) - 1;
        if (value & mask) != ((value >> half) & mask) {
            break;
        }
        size = half;
    }
    let emask = if size == 64 {
        u64::MAX
    } else {
        (1u64 << size) - 1
    };
    let elem = value & emask;
    let ones = elem.count_ones();
    if ones == 0 || ones == size {
        return None;
    }
    // Find the rotation that makes the element a run of ones at the bottom.
    for rot in 0..size {
        let rotated = if rot == 0 {
            elem
        } else {
            ((elem >> rot) | (elem << (size - rot))) & emask
        };
        if rotated == (1u64 << ones) - 1 {
            // elem = ROR(ones, immr) over `size` bits, so immr = (size - rot) % size.
            let immr = ((size - rot) % size) as u8;
            let n = u8::from(size == 64);
            let size_bits: u32 = if size == 64 {
                0
            } else {
                (!(size * 2 - 1)) & 0x3f
            };
            let imms = ((size_bits | (ones - 1)) & 0x3f) as u8;
            return Some((n, immr, imms));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words copied from `go tool objdump` of the corpus (go1.23.4 and go1.24.11 frames).
    #[test]
    fn encodes_what_the_go_assembler_emitted() {
        let cases: &[(Op, u32)] = &[
            (
                Op::StrPre {
                    rt: LR,
                    rn: SP,
                    off: -96,
                },
                0xf81a0ffe,
            ),
            (
                Op::Stur {
                    rt: FP,
                    rn: SP,
                    off: -8,
                },
                0xf81f83fd,
            ),
            (
                Op::AddImm {
                    rd: FP,
                    rn: SP,
                    imm12: 8,
                    lsl12: false,
                    sub: true,
                },
                0xd10023fd,
            ),
            (
                Op::Ldp {
                    rt: FP,
                    rt2: LR,
                    rn: SP,
                    off: -8,
                },
                0xa97ffbfd,
            ),
            (
                Op::Stp {
                    rt: FP,
                    rt2: LR,
                    rn: R20,
                    off: -8,
                },
                0xa93ffa9d,
            ),
            (
                Op::AddImm {
                    rd: SP,
                    rn: SP,
                    imm12: 96,
                    lsl12: false,
                    sub: false,
                },
                0x910183ff,
            ),
            (
                Op::AddImm {
                    rd: SP,
                    rn: SP,
                    imm12: 0x11,
                    lsl12: true,
                    sub: false,
                },
                0x914047ff,
            ),
            (
                Op::AddImm {
                    rd: R20,
                    rn: SP,
                    imm12: 0x170,
                    lsl12: false,
                    sub: true,
                },
                0xd105c3f4,
            ),
            (
                Op::AddImm {
                    rd: SP,
                    rn: R20,
                    imm12: 0,
                    lsl12: false,
                    sub: false,
                },
                0x9100029f,
            ),
            (
                Op::Movz {
                    rd: R27,
                    imm16: 0x1170,
                    hw: 0,
                },
                0xd2822e1b,
            ),
            (
                Op::Movk {
                    rd: R27,
                    imm16: 1,
                    hw: 1,
                },
                0xf2a0003b,
            ),
            (
                Op::AddExt {
                    rd: SP,
                    rn: SP,
                    rm: R27,
                    sub: false,
                },
                0x8b3b63ff,
            ),
            (Op::Ret, 0xd65f03c0),
        ];
        for (op, word) in cases {
            assert_eq!(op.encode(), *word, "{op:?}");
        }
    }

    #[test]
    fn bitmask_agrees_with_a_brute_force_decoder() {
        // Decode every (N, immr, imms) and check the encoder finds an encoding of the value
        // that decodes back to it.
        let decode = |n: u8, immr: u8, imms: u8| -> Option<u64> {
            let len = if n == 1 {
                6
            } else {
                let x = !imms & 0x3f;
                if x == 0 {
                    return None;
                }
                31 - u32::from(x).leading_zeros()
            };
            let size = 1u32 << len;
            let levels = size - 1;
            let s = u32::from(imms) & levels;
            let r = u32::from(immr) & levels;
            if s == levels {
                return None;
            }
            let welem = (1u64 << (s + 1)) - 1;
            let emask = if size == 64 {
                u64::MAX
            } else {
                (1u64 << size) - 1
            };
            let rot = if r == 0 {
                welem
            } else {
                ((welem >> r) | (welem << (size - r))) & emask
            };
            let mut v = 0u64;
            let mut i = 0;
            while i < 64 {
                v |= rot << i;
                i += size;
            }
            Some(v)
        };
        let mut seen = 0;
        for n in 0..2u8 {
            for immr in 0..64u8 {
                for imms in 0..64u8 {
                    let Some(v) = decode(n, immr, imms) else {
                        continue;
                    };
                    let (n2, r2, s2) = bitmask(v).expect("a decodable value is a bitmask");
                    assert_eq!(decode(n2, r2, s2), Some(v), "{v:#x}");
                    seen += 1;
                }
            }
        }
        assert!(seen > 5000);
        assert_eq!(bitmask(0x1010), None);
        assert!(bitmask(0x1fff0).is_some());
    }
}
