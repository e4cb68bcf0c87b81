//! What an instruction does that matters to stack unwinding: register writes (SP, R29,
//! R30 and the rest), SP-relative memory accesses and control flow.
//!
//! These types are plain data. They are filled in by [`crate::classify`] from the raw
//! instruction bits, never from disassembly text.

/// A set of general-purpose registers: bit `n` is `xn` for `n` in `0..=30`, bit 31 is SP.
///
/// The zero register is never a member: a write to XZR/WZR is discarded by the hardware,
/// so it cannot disturb an unwinder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegSet(pub u32);

impl RegSet {
    /// The bit that stands for SP.
    pub const SP_BIT: u32 = 1 << 31;

    /// The empty set.
    pub const EMPTY: RegSet = RegSet(0);

    /// Whether `xn` (`n` in `0..=30`) is in the set. `n >= 31` is never a member (use
    /// [`RegSet::contains_sp`] for SP).
    pub fn contains_x(self, n: u8) -> bool {
        n < 31 && self.0 & (1 << n) != 0
    }

    /// Whether SP is in the set.
    pub fn contains_sp(self) -> bool {
        self.0 & Self::SP_BIT != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The general-purpose register numbers in the set, ascending, with SP reported as 31.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0u8..32).filter(move |&n| self.0 & (1 << n) != 0)
    }
}

/// How a load or store updates its base register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Writeback {
    /// The base register is left alone (`[sp, #off]`).
    None,
    /// Pre-index: the address is base+offset and the base becomes that (`[sp, #off]!`).
    Pre,
    /// Post-index: the address is the base, which then grows by the offset (`[sp], #off`).
    Post,
}

/// A load or store of one register or a pair whose base register is SP with a constant
/// offset (LDR/STR in all addressing modes with an immediate, LDUR/STUR, LDTR/STTR,
/// LDP/STP/LDNP/STNP/LDPSW/STGP, LDAPUR/STLUR, LDRAA/LDRAB; general-purpose or FP/SIMD).
///
/// Register-offset, exclusive, atomic and structure (LD1..LD4) accesses are not described
/// here: none of them has a constant address that a frame layout could refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpAccess {
    /// Address of the first byte accessed minus the value of SP *before* the instruction.
    /// For a post-indexed access this is 0 (the immediate is in [`Effects::sp_delta`]);
    /// for pre-index and plain offsets it is the immediate.
    pub offset: i64,
    /// Bytes per register transferred (1, 2, 4, 8 or 16).
    pub size: u8,
    /// Number of registers transferred: 1, or 2 for a pair.
    pub regs: u8,
    /// Whether memory is written (a store) rather than read.
    pub store: bool,
    /// How SP itself is updated.
    pub writeback: Writeback,
    /// The transfer registers: `rt[0]` is Rt, `rt[1]` is Rt2 for a pair (and equal to Rt
    /// otherwise). Numbers are general-purpose unless [`SpAccess::fp_simd`]; for a
    /// general-purpose register 31 is the zero register here, never SP.
    pub rt: [u8; 2],
    /// Whether the transfer registers are FP/SIMD (`b`/`h`/`s`/`d`/`q`) registers.
    pub fp_simd: bool,
}

/// Where control goes after an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Falls through to the next instruction.
    Next,
    /// Unconditional direct branch (B, and B.AL/B.NV which always branch).
    Branch {
        /// Absolute target address.
        target: u64,
    },
    /// Conditional direct branch: B.cond, BC.cond, CBZ/CBNZ, TBZ/TBNZ.
    CondBranch {
        /// Absolute target address when taken.
        target: u64,
    },
    /// Direct call (BL): writes the return address to R30.
    Call {
        /// Absolute address of the callee.
        target: u64,
    },
    /// Indirect call (BLR and the pointer-authenticated BLRAA/BLRAB/BLRAAZ/BLRABZ).
    CallIndirect {
        /// Register holding the callee address.
        reg: u8,
    },
    /// Return (RET, RETAA, RETAB).
    Ret {
        /// Register holding the return address (30 unless written otherwise).
        reg: u8,
    },
    /// Indirect jump (BR and BRAA/BRAB/BRAAZ/BRABZ).
    IndirectBranch {
        /// Register holding the target.
        reg: u8,
    },
    /// Execution stops here with an exception that does not return to the next
    /// instruction in normal code: BRK, HLT, UDF and every undefined word.
    Trap,
    /// A system instruction: SVC, HVC, SMC, ERET, DRPS, DCPS, TCANCEL, MSR/MRS, SYS/SYSL.
    /// Treated as falling through (that is what SVC does in user space; the others do
    /// not occur in ordinary Go code).
    System,
}

impl Flow {
    /// Whether a basic block must end after this instruction: any branch, return,
    /// indirect jump or trap. Calls do not end a block, because control comes back to the
    /// next instruction with the caller's frame unchanged; neither do system instructions.
    pub fn ends_block(&self) -> bool {
        match self {
            Flow::Next | Flow::Call { .. } | Flow::CallIndirect { .. } | Flow::System => false,
            Flow::Branch { .. }
            | Flow::CondBranch { .. }
            | Flow::Ret { .. }
            | Flow::IndirectBranch { .. }
            | Flow::Trap => true,
        }
    }

    /// The absolute target of a direct branch or call, if any.
    pub fn target(&self) -> Option<u64> {
        match *self {
            Flow::Branch { target } | Flow::CondBranch { target } | Flow::Call { target } => {
                Some(target)
            }
            _ => None,
        }
    }

    /// Whether execution can continue with the next instruction (everything except
    /// [`is_unconditional_transfer`]).
    pub fn falls_through(&self) -> bool {
        !is_unconditional_transfer(self)
    }
}

/// Whether nothing falls through this instruction: B, BR (and its authenticated forms),
/// RET (and RETAA/RETAB) and traps.
pub fn is_unconditional_transfer(flow: &Flow) -> bool {
    matches!(
        flow,
        Flow::Branch { .. } | Flow::IndirectBranch { .. } | Flow::Ret { .. } | Flow::Trap
    )
}

/// Everything [`crate::classify`] reports about one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Effects {
    /// Any write to SP: an SP destination of ADD/SUB (immediate or extended register),
    /// ADDG/SUBG, IRG, AND/ORR/EOR (immediate), SVE ADDVL/ADDPL and SME ADDSVL/ADDSPL, or
    /// the writeback of a load/store whose base is SP. A 32-bit write to WSP counts.
    pub writes_sp: bool,
    /// When the SP write is `SP = SP + constant`: the constant. Set for 64-bit ADD/SUB
    /// (immediate, optionally `lsl #12`) with SP as both source and destination, and for
    /// the writeback of loads/stores (including LD1..LD4 post-indexed by an immediate)
    /// with base SP.
    pub sp_delta: Option<i64>,
    /// Whether R29 (the frame pointer) is written, by any instruction.
    pub writes_fp: bool,
    /// Whether R30 (the link register) is written, by any instruction, including the
    /// link write of BL/BLR and the pointer-authentication hints (PACIASP, AUTIASP, ...).
    pub writes_lr: bool,
    /// A load/store with base SP and a constant offset.
    pub sp_mem: Option<SpAccess>,
    /// What happens to control flow.
    pub flow: Flow,
    /// Every general-purpose register written (SP as bit 31); `writes_sp`, `writes_fp`
    /// and `writes_lr` are views of this set.
    pub written: RegSet,
}

impl Effects {
    /// The effects of an undefined word: it traps, and writes nothing.
    pub const UNDEFINED: Effects = Effects {
        writes_sp: false,
        sp_delta: None,
        writes_fp: false,
        writes_lr: false,
        sp_mem: None,
        flow: Flow::Trap,
        written: RegSet::EMPTY,
    };

    /// The general-purpose registers written (SP reported as 31).
    pub fn registers_written(&self) -> impl Iterator<Item = u8> {
        self.written.iter()
    }

    /// Whether the instruction touches nothing an unwinder tracks: no write to SP, R29 or
    /// R30, no SP-based memory access, and control falls through to the next instruction.
    pub fn is_neutral(&self) -> bool {
        !self.writes_sp
            && !self.writes_fp
            && !self.writes_lr
            && self.sp_mem.is_none()
            && self.flow == Flow::Next
    }
}

/// The successors of an instruction inside its function: the fall-through address and
/// the direct branch target. Calls report only the fall-through (the callee is another
/// function); indirect branches, returns and traps have no known successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Successors {
    /// The next instruction, when control can fall through to it.
    pub fallthrough: Option<u64>,
    /// The target of a direct B, B.cond, CBZ/CBNZ or TBZ/TBNZ.
    pub branch: Option<u64>,
}

impl Successors {
    /// The successor addresses, fall-through first.
    pub fn iter(&self) -> impl Iterator<Item = u64> {
        self.fallthrough.into_iter().chain(self.branch)
    }
}

/// The intra-procedural successors of an instruction at `addr` with the given flow.
pub fn successors(addr: u64, flow: &Flow) -> Successors {
    let fallthrough = flow.falls_through().then(|| addr.wrapping_add(4));
    let branch = match *flow {
        Flow::Branch { target } | Flow::CondBranch { target } => Some(target),
        _ => None,
    };
    Successors {
        fallthrough,
        branch,
    }
}
