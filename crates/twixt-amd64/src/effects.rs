//! What an x86-64 instruction does that matters to stack unwinding: register writes (RSP,
//! RBP and the rest), the constant of an `RSP = RSP + constant` write, explicit memory
//! operands (stores above all) and control flow.
//!
//! Plain data, filled in by [`crate::classify`] from the decoder's operand information,
//! never from disassembly text. The shapes follow `twixt-arm64`'s `Effects` so that the
//! next layers can treat both alike; what differs is said where it differs.

/// A set of the 16 general-purpose registers: bit `n` is the register with hardware number
/// `n` (0 `rax`, 1 `rcx`, 2 `rdx`, 3 `rbx`, 4 `rsp`, 5 `rbp`, 6 `rsi`, 7 `rdi`, 8-15
/// `r8`-`r15`). A write to a part of a register (`eax`, `al`, `ah`) counts as a write to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegSet(pub u16);

impl RegSet {
    /// The hardware number of RSP.
    pub const RSP: u8 = 4;
    /// The hardware number of RBP (Go's frame pointer on amd64).
    pub const RBP: u8 = 5;
    /// The empty set.
    pub const EMPTY: RegSet = RegSet(0);

    /// The set of the given register numbers (each `< 16`; larger ones are ignored).
    pub fn of(regs: &[u8]) -> RegSet {
        RegSet(
            regs.iter()
                .filter(|&&r| r < 16)
                .fold(0, |set, &r| set | 1 << r),
        )
    }

    /// Whether register `n` is in the set.
    pub fn contains(self, n: u8) -> bool {
        n < 16 && self.0 & (1 << n) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The register numbers in the set, ascending.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0u8..16).filter(move |&n| self.0 & (1 << n) != 0)
    }
}

/// An explicit memory operand (`[base + index*scale + disp]`); the implicit stack accesses
/// of PUSH, POP, CALL and RET are not described here (their RSP change is in
/// [`Effects::sp_delta`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemAccess {
    /// Base register number, `None` for none (and for RIP-relative, see `rip_relative`).
    pub base: Option<u8>,
    /// Index register number, if any.
    pub index: Option<u8>,
    /// Scale of the index (1, 2, 4 or 8).
    pub scale: u8,
    /// The displacement, sign-extended; for a RIP-relative operand the absolute address.
    pub displacement: i64,
    /// Whether the address is RIP-relative (`displacement` is then the absolute address).
    pub rip_relative: bool,
    /// Bytes accessed (0 when the operand has no size of its own, e.g. XSAVE's).
    pub size: u16,
    /// Whether memory is written (a store, or a read-modify-write).
    pub store: bool,
    /// Whether memory is read.
    pub load: bool,
}

impl MemAccess {
    /// Whether the base is RSP with no index: a stack slot at a constant offset from SP.
    pub fn is_sp_relative(&self) -> bool {
        self.base == Some(RegSet::RSP) && self.index.is_none()
    }
}

/// Where control goes after an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Falls through to the next instruction.
    Next,
    /// Unconditional direct jump (JMP rel8/rel32).
    Branch {
        /// Absolute target address.
        target: u64,
    },
    /// Conditional direct branch: Jcc, JRCXZ, LOOP/LOOPE/LOOPNE.
    CondBranch {
        /// Absolute target address when taken.
        target: u64,
    },
    /// Direct call (CALL rel32): pushes the return address.
    Call {
        /// Absolute address of the callee.
        target: u64,
    },
    /// Indirect call through a register or memory.
    CallIndirect {
        /// The register holding the callee, `None` when it is read from memory.
        reg: Option<u8>,
    },
    /// Return (RET, RET imm16): pops the return address.
    Ret,
    /// Indirect jump through a register or memory.
    IndirectBranch {
        /// The register holding the target, `None` when it is read from memory.
        reg: Option<u8>,
    },
    /// Execution stops here with an exception that does not resume at the next instruction
    /// in normal code: INT3, INT1, UD0/UD1/UD2, HLT and every undecodable byte sequence.
    Trap,
    /// A system instruction: SYSCALL, SYSENTER, INT n, INTO and transactional-memory
    /// control. Treated as falling through (what SYSCALL does in user space).
    System,
}

impl Flow {
    /// Whether a basic block ends after this instruction (any jump, return or trap; calls
    /// and system instructions do not end a block).
    pub fn ends_block(&self) -> bool {
        !matches!(
            self,
            Flow::Next | Flow::Call { .. } | Flow::CallIndirect { .. } | Flow::System
        )
    }

    /// The absolute target of a direct jump, branch or call, if any.
    pub fn target(&self) -> Option<u64> {
        match *self {
            Flow::Branch { target } | Flow::CondBranch { target } | Flow::Call { target } => {
                Some(target)
            }
            _ => None,
        }
    }

    /// Whether execution can continue with the next instruction.
    pub fn falls_through(&self) -> bool {
        !matches!(
            self,
            Flow::Branch { .. } | Flow::IndirectBranch { .. } | Flow::Ret | Flow::Trap
        )
    }
}

/// Everything [`crate::classify`] reports about one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Effects {
    /// Whether RSP is different at the next instruction of this function: an explicit
    /// destination RSP (ADD, SUB, LEA, MOV, AND, ...), PUSH, POP, LEAVE, ENTER. CALL and
    /// RET are not counted: a call's push is popped by the callee's return before the next
    /// instruction runs, and a return leaves the function (like arm64's BL and RET, which
    /// do not write SP).
    pub writes_sp: bool,
    /// When the RSP write is `RSP = RSP + constant`: the constant (ADD/SUB with an
    /// immediate, LEA `[rsp+disp]`, PUSH -8, POP +8, ENTER).
    pub sp_delta: Option<i64>,
    /// Whether RBP (Go's frame pointer) is written.
    pub writes_fp: bool,
    /// The explicit memory operand, if the instruction accesses memory through one (LEA's
    /// operand computes an address only and is not described).
    pub mem: Option<MemAccess>,
    /// What happens to control flow.
    pub flow: Flow,
    /// Every general-purpose register written (by the rule of [`Effects::writes_sp`] for
    /// RSP); `writes_sp` and `writes_fp` are views of this set.
    pub written: RegSet,
}

impl Effects {
    /// The effects of bytes that do not decode: a trap that writes nothing.
    pub const UNDEFINED: Effects = Effects {
        writes_sp: false,
        sp_delta: None,
        writes_fp: false,
        mem: None,
        flow: Flow::Trap,
        written: RegSet::EMPTY,
    };

    /// The memory operand when it is an RSP-relative slot (see [`MemAccess::is_sp_relative`]).
    pub fn sp_mem(&self) -> Option<MemAccess> {
        self.mem.filter(MemAccess::is_sp_relative)
    }

    /// Whether the instruction writes memory through an explicit operand.
    pub fn is_store(&self) -> bool {
        self.mem.is_some_and(|m| m.store)
    }

    /// Whether the instruction touches nothing an unwinder tracks: no write to RSP or RBP,
    /// no RSP-relative store, and control falls through.
    pub fn is_neutral(&self) -> bool {
        !self.writes_sp
            && !self.writes_fp
            && !self.sp_mem().is_some_and(|m| m.store)
            && self.flow == Flow::Next
    }
}
