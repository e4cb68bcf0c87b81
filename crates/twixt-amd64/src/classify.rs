//! The classifier: one decoded x86-64 instruction to its [`Effects`], from iced-x86's
//! operand kinds and access information (which registers and which operands it writes),
//! never from text.
//!
//! The rules that are not iced's own: CALL and RET do not count as RSP writes (see
//! [`Effects::writes_sp`]); `POP RSP` writes RSP with no constant delta; the flow class of
//! system instructions and traps is decided by mnemonic before iced's flow control.

use iced_x86::{FlowControl, Instruction, InstructionInfo, Mnemonic, OpAccess, OpKind, Register};

use crate::effects::{Effects, Flow, MemAccess, RegSet};

/// The effects of `insn`, whose access information is `info`.
pub(crate) fn effects_of(insn: &Instruction, info: &InstructionInfo) -> Effects {
    if insn.is_invalid() {
        return Effects::UNDEFINED;
    }
    let flow = flow_of(insn);
    let mut written = RegSet::EMPTY;
    for used in info.used_registers() {
        if is_write(used.access())
            && let Some(n) = gpr_number(used.register())
        {
            written.0 |= 1 << n;
        }
    }
    if matches!(
        flow,
        Flow::Call { .. } | Flow::CallIndirect { .. } | Flow::Ret
    ) {
        written.0 &= !(1 << RegSet::RSP);
    }
    let writes_sp = written.contains(RegSet::RSP);
    Effects {
        writes_sp,
        sp_delta: if writes_sp { sp_delta(insn) } else { None },
        writes_fp: written.contains(RegSet::RBP),
        mem: mem_access(insn, info),
        flow,
        written,
    }
}

/// Whether an access writes the operand (always or conditionally).
fn is_write(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// Whether an access reads the operand.
fn is_read(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// The hardware number (0-15) of the 64-bit register a general-purpose register is part
/// of; `None` for every other register.
pub(crate) fn gpr_number(reg: Register) -> Option<u8> {
    let full = reg.full_register();
    full.is_gpr64().then(|| full.number() as u8)
}

fn flow_of(insn: &Instruction) -> Flow {
    match insn.mnemonic() {
        Mnemonic::Int3 | Mnemonic::Int1 | Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Ud2 => {
            return Flow::Trap;
        }
        Mnemonic::Hlt => return Flow::Trap,
        Mnemonic::Syscall | Mnemonic::Sysenter | Mnemonic::Int | Mnemonic::Into => {
            return Flow::System;
        }
        _ => {}
    }
    let target_reg = || {
        (insn.op_count() > 0 && insn.op0_kind() == OpKind::Register)
            .then(|| gpr_number(insn.op0_register()))
            .flatten()
    };
    match insn.flow_control() {
        FlowControl::Next => Flow::Next,
        FlowControl::UnconditionalBranch => Flow::Branch {
            target: insn.near_branch_target(),
        },
        FlowControl::ConditionalBranch => Flow::CondBranch {
            target: insn.near_branch_target(),
        },
        FlowControl::Call => Flow::Call {
            target: insn.near_branch_target(),
        },
        FlowControl::IndirectCall => Flow::CallIndirect { reg: target_reg() },
        FlowControl::IndirectBranch => Flow::IndirectBranch { reg: target_reg() },
        FlowControl::Return => Flow::Ret,
        FlowControl::Exception | FlowControl::Interrupt => Flow::Trap,
        FlowControl::XbeginXabortXend => Flow::System,
    }
}

/// The constant of `RSP = RSP + constant`, for an instruction known to write RSP.
fn sp_delta(insn: &Instruction) -> Option<i64> {
    let dest_rsp = insn.op_count() > 0
        && insn.op0_kind() == OpKind::Register
        && insn.op0_register() == Register::RSP;
    match insn.mnemonic() {
        Mnemonic::Add | Mnemonic::Sub if dest_rsp && is_immediate(insn.op1_kind()) => {
            let imm = insn.immediate(1) as i64;
            Some(if insn.mnemonic() == Mnemonic::Add {
                imm
            } else {
                imm.wrapping_neg()
            })
        }
        Mnemonic::Lea
            if dest_rsp
                && insn.memory_base() == Register::RSP
                && insn.memory_index() == Register::None =>
        {
            Some(insn.memory_displacement64() as i64)
        }
        // POP RSP loads RSP from the stack: no constant.
        Mnemonic::Pop if dest_rsp => None,
        Mnemonic::Push | Mnemonic::Pop | Mnemonic::Pushfq | Mnemonic::Popfq | Mnemonic::Enter => {
            Some(i64::from(insn.stack_pointer_increment()))
        }
        _ => None,
    }
}

fn is_immediate(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// The explicit memory operand and how it is accessed; `None` when the operand only
/// computes an address (LEA, NOP with a memory operand).
fn mem_access(insn: &Instruction, info: &InstructionInfo) -> Option<MemAccess> {
    let operand = (0..insn.op_count()).find(|&i| insn.op_kind(i) == OpKind::Memory)?;
    let access = info.op_access(operand);
    if access == OpAccess::NoMemAccess {
        // LEA and the hint NOPs compute an address without touching memory.
        return None;
    }
    let rip_relative = insn.is_ip_rel_memory_operand();
    let displacement = if rip_relative {
        insn.ip_rel_memory_address() as i64
    } else {
        insn.memory_displacement64() as i64
    };
    Some(MemAccess {
        base: gpr_number(insn.memory_base()),
        index: gpr_number(insn.memory_index()),
        scale: insn.memory_index_scale() as u8,
        displacement,
        rip_relative,
        size: insn.memory_size().size() as u16,
        store: is_write(access),
        load: is_read(access),
    })
}
