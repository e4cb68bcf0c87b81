//! An exact interpreter of the instructions [`crate::encode::Op`] models, over a sparse
//! stack: what the synthesized straight-line code does to SP, R29, R30 and memory at
//! each boundary. It lets the sweep judge a million frame sizes without retranslating
//! code in Unicorn for each; the tests check it against Unicorn boundary by boundary.

use twixt_unwind::Memory;

use crate::encode::Op;

/// Memory as the synthesized function sees it: the words written so far over a stack
/// filled with the poison value; nothing is readable outside the stack.
#[derive(Clone, Debug)]
pub struct StackMemory {
    /// Lowest stack address.
    pub lo: u64,
    /// One past the highest.
    pub hi: u64,
    /// What unwritten stack words hold.
    pub poison: u64,
    /// Words written, oldest first (a later write to the same address wins).
    pub writes: Vec<(u64, u64)>,
}

impl StackMemory {
    fn word(&self, addr: u64) -> Option<u64> {
        if addr < self.lo || addr > self.hi.saturating_sub(8) {
            return None;
        }
        Some(
            self.writes
                .iter()
                .rev()
                .find(|(a, _)| *a == addr)
                .map_or(self.poison, |(_, v)| *v),
        )
    }

    /// Records an 8-byte store (8-byte aligned in all the code the model emits).
    pub fn write(&mut self, addr: u64, value: u64) {
        self.writes.push((addr, value));
    }
}

impl Memory for StackMemory {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        if addr.is_multiple_of(8) {
            return self.word(addr);
        }
        let base = addr & !7;
        let shift = (addr - base) * 8;
        let lo = self.word(base)?;
        let hi = self.word(base.checked_add(8)?)?;
        Some((lo >> shift) | (hi << (64 - shift)))
    }
}

/// Registers and memory.
#[derive(Clone, Debug)]
pub struct Machine {
    /// X0..X30.
    pub x: [u64; 31],
    /// SP.
    pub sp: u64,
    /// PC.
    pub pc: u64,
    /// The stack.
    pub mem: StackMemory,
}

impl Machine {
    fn get(&self, r: u8, sp: bool) -> u64 {
        match r {
            31 if sp => self.sp,
            31 => 0,
            n => self.x[n as usize],
        }
    }

    fn set(&mut self, r: u8, sp: bool, v: u64) {
        match r {
            31 if sp => self.sp = v,
            31 => {}
            n => self.x[n as usize] = v,
        }
    }

    fn load(&self, addr: u64) -> Result<u64, String> {
        self.mem
            .read_u64(addr)
            .ok_or_else(|| format!("load from {addr:#x} outside the stack at pc {:#x}", self.pc))
    }

    /// Executes `op` at the current PC; a call returns at once (the callee is not
    /// modelled, its `RET` leaves R30 at the return address).
    pub fn step(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::AddImm {
                rd,
                rn,
                imm12,
                lsl12,
                sub,
            } => {
                let imm = u64::from(imm12) << if lsl12 { 12 } else { 0 };
                let a = self.get(rn, true);
                let v = if sub {
                    a.wrapping_sub(imm)
                } else {
                    a.wrapping_add(imm)
                };
                self.set(rd, true, v);
            }
            Op::AddExt { rd, rn, rm, sub } => {
                let a = self.get(rn, true);
                let b = self.get(rm, false);
                let v = if sub {
                    a.wrapping_sub(b)
                } else {
                    a.wrapping_add(b)
                };
                self.set(rd, true, v);
            }
            Op::Movz { rd, imm16, hw } => {
                self.set(rd, false, u64::from(imm16) << (16 * u32::from(hw)));
            }
            Op::Movk { rd, imm16, hw } => {
                let s = 16 * u32::from(hw);
                let v = (self.get(rd, false) & !(0xffffu64 << s)) | (u64::from(imm16) << s);
                self.set(rd, false, v);
            }
            Op::OrrImm { rd, value } => self.set(rd, true, value),
            Op::Stp { rt, rt2, rn, off } => {
                let addr = self.get(rn, true).wrapping_add(off as i64 as u64);
                let (a, b) = (self.get(rt, false), self.get(rt2, false));
                self.mem.write(addr, a);
                self.mem.write(addr.wrapping_add(8), b);
            }
            Op::Ldp { rt, rt2, rn, off } => {
                let addr = self.get(rn, true).wrapping_add(off as i64 as u64);
                let a = self.load(addr)?;
                let b = self.load(addr.wrapping_add(8))?;
                self.set(rt, false, a);
                self.set(rt2, false, b);
            }
            Op::StrPre { rt, rn, off } => {
                let addr = self.get(rn, true).wrapping_add(off as i64 as u64);
                let v = self.get(rt, false);
                self.mem.write(addr, v);
                self.set(rn, true, addr);
            }
            Op::LdrPost { rt, rn, off } => {
                let base = self.get(rn, true);
                let v = self.load(base)?;
                self.set(rt, false, v);
                self.set(rn, true, base.wrapping_add(off as i64 as u64));
            }
            Op::Stur { rt, rn, off } => {
                let addr = self.get(rn, true).wrapping_add(off as i64 as u64);
                let v = self.get(rt, false);
                self.mem.write(addr, v);
            }
            Op::Ldur { rt, rn, off } => {
                let addr = self.get(rn, true).wrapping_add(off as i64 as u64);
                let v = self.load(addr)?;
                self.set(rt, false, v);
            }
            Op::StrUimm { rt, rn, off } => {
                let addr = self.get(rn, true).wrapping_add(u64::from(off));
                let v = self.get(rt, false);
                self.mem.write(addr, v);
            }
            Op::Bl { .. } => self.x[30] = self.pc.wrapping_add(4),
            Op::Ret | Op::Nop => {}
        }
        self.pc = self.pc.wrapping_add(4);
        Ok(())
    }
}
