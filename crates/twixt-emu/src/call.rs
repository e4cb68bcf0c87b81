//! The whole-call machine: a policy on the engine core (`engine`) that runs from a
//! machine state until a [`Stepper`] asks it to pause, instead of one region at a time. The
//! stepper sees every boundary (read-only) and decides; everything that changes the state
//! between pauses (emulated runtime calls, injected preemptions, poisoning) goes through the
//! machine, so that it is journaled.
//!
//! Snapshots are the core's journal levels (`journal`): [`Machine::snapshot`]
//! opens one (they nest), every store (the emulated program's, through the write hook, and
//! the driver's, through [`Machine::write`]) saves the page's contents before its first
//! write, and [`Machine::restore`] writes them back with the registers. A re-run from a
//! snapshot costs the pages it touches, not the whole address space.
//!
//! What the policy adds to the core: the stack is mapped up front (48 MiB, poisoned), an
//! access nothing maps is a fault with its address and PC (never scratch memory), a heap
//! region for the runtime calls the driver emulates, the pages written since a mark, and a
//! watch for loads of poison. The scan's behaviour depends on nothing here.

use std::cell::RefCell;
use std::collections::BTreeSet;

use unicorn_engine::unicorn_const::{HookType, MemType, Prot};
use unicorn_engine::{UcHookId, Unicorn};

use crate::engine::{Core, Engine, Policy, StackMapping, describe_error, read_word};
use crate::isa::{FixedWidth, Isa, Target};
use crate::journal::PAGE;
use crate::{EmuError, Layout, MapRange};

/// What the stepper wants at a boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Execute the instruction.
    Continue,
    /// Stop before executing it; [`Machine::run`] returns [`Exit::Paused`].
    Pause,
}

/// Receives every boundary of a run.
pub trait Stepper {
    /// Called before the instruction at `cpu.pc()` executes.
    fn step(&mut self, cpu: &Cpu<'_>) -> Step;
}

/// A read-only view of the machine at a boundary. Registers are read on demand: most
/// boundaries need only the PC, and reading all of them costs more than the instruction.
pub struct Cpu<'a> {
    pc: u64,
    view: &'a dyn View,
}

/// Reads guest registers and memory (object-safe, so that [`Cpu`] needs no generics).
trait View {
    fn reg(&self, id: i32) -> u64;
    fn read_u64(&self, addr: u64) -> Option<u64>;
    fn log_len(&self) -> usize;
}

impl<S> View for Unicorn<'_, Core<MachineState<S>>> {
    fn reg(&self, id: i32) -> u64 {
        self.reg_read(id).unwrap_or(0)
    }

    fn read_u64(&self, addr: u64) -> Option<u64> {
        read_word(self, &self.get_data().layout, addr)
    }

    fn log_len(&self) -> usize {
        self.get_data()
            .policy
            .log
            .borrow()
            .as_ref()
            .map_or(0, |log| log.len())
    }
}

impl Cpu<'_> {
    /// PC of the instruction about to execute.
    pub fn pc(&self) -> u64 {
        self.pc
    }
    /// SP.
    pub fn sp(&self) -> u64 {
        self.view.reg(Target::SP)
    }
    /// Xn (n < 31); 0 otherwise.
    pub fn x(&self, n: u8) -> u64 {
        if usize::from(n) >= Target::GPRS {
            return 0;
        }
        self.view.reg(Target::gpr(n))
    }
    /// A little-endian word, `None` if unmapped.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        self.view.read_u64(addr)
    }
    /// Every register of [`Regs`], read one by one (for the rare boundary that keeps them).
    pub fn regs(&self) -> Regs {
        let mut r = Regs {
            x: [0; 31],
            sp: self.sp(),
            pc: self.pc,
            nzcv: self.view.reg(Target::FLAGS),
            d: [0; 32],
        };
        for (n, x) in r.x.iter_mut().enumerate() {
            *x = self.view.reg(Target::gpr(n as u8));
        }
        for (n, d) in r.d.iter_mut().enumerate() {
            *d = self.view.reg(Target::vector(n as u8));
        }
        r
    }
    /// How many accesses the access log holds (0 when it is off): the position of this
    /// boundary in it, since the instruction here has not executed.
    pub fn log_len(&self) -> usize {
        self.view.log_len()
    }
}

/// One memory access in the access log ([`Machine::start_access_log`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The PC of the instruction (0 for the driver's accesses).
    pub pc: u64,
    /// The first byte.
    pub addr: u64,
    /// Bytes accessed.
    pub len: usize,
    /// What kind of access.
    pub kind: AccessKind,
    /// A store's value, little-endian, when `len <= 8` (`None` when the hook cannot say).
    pub value: Option<u64>,
    /// For a load: whether every byte read was the poison byte (what the poison watch of
    /// [`Machine::watch_poison_reads`] would record).
    pub poison: bool,
}

/// What an [`Access`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// A load by the program (seen by load hooks, and so by the poison watch).
    Load,
    /// A read by the driver ([`Machine::read`]): hooks never see it.
    DriverRead,
    /// A store, by the program or the driver.
    Store,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The stepper asked to pause at this PC (not executed).
    Paused(u64),
    /// The program faulted or the emulator refused; the text says what and where.
    Fault(String),
}

/// Every register a Go function can observe: X0..X30, SP, PC, NZCV and D0..D31.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regs {
    /// X0..X30.
    pub x: [u64; 31],
    /// SP.
    pub sp: u64,
    /// PC.
    pub pc: u64,
    /// NZCV flags.
    pub nzcv: u64,
    /// D0..D31 (the low 64 bits of V0..V31: what Go's ABI and asyncPreempt use).
    pub d: [u64; 32],
}

/// A token for [`Machine::restore`]: the registers at the snapshot and its journal depth.
#[derive(Clone, Debug)]
pub struct Snapshot {
    regs: Regs,
    depth: usize,
}

/// The machine's part of the hook state.
pub struct MachineState<S> {
    /// Borrowed in place at every boundary (never moved in and out per instruction).
    stepper: RefCell<Option<S>>,
    /// Every page written since [`Machine::clear_written`].
    written: BTreeSet<u64>,
    /// The page last added to `written`: consecutive stores to one page skip the set.
    written_hot: Option<u64>,
    /// Lowest stack address written since [`Machine::clear_written`].
    stack_low: u64,
    /// Reads of a poison pattern while watching: `(pc, address, size)`.
    poison_reads: Vec<(u64, u64, usize)>,
    poison_byte: u8,
    /// The access log while it is on: every store, and every load of the goroutine stack.
    /// A `RefCell` because the driver's reads ([`Machine::read`]) take `&self`.
    log: RefCell<Option<Vec<Access>>>,
}

/// The register file [`Machine::regs`] and [`Machine::set_regs`] move in one batch: X0..X30,
/// D0..D31, the flags and SP (PC is read and written on its own).
const FILE: usize = Target::GPRS + Target::VECTORS + 2;

/// One emulator for whole calls.
pub struct Machine<'e, S: Stepper> {
    engine: Engine<'e, MachineState<S>>,
    heap: (u64, u64),
    watch: Option<UcHookId>,
    /// Unicorn ids of the [`FILE`] registers.
    file_ids: [i32; FILE],
    /// The access log's hooks while it is on.
    log_hooks: Vec<UcHookId>,
}

impl<'e, S: Stepper + 'e> Machine<'e, S> {
    /// Maps `ranges` (the image), the stack (filled with `layout.poison()`), the fake g and
    /// a zeroed heap of `heap_size` bytes at `heap_lo`.
    pub fn new(
        ranges: &[MapRange<'_>],
        layout: Layout,
        heap_lo: u64,
        heap_size: u64,
    ) -> Result<Self, EmuError> {
        if layout.overlaps(heap_lo, heap_lo.saturating_add(heap_size)) {
            return Err(EmuError::Overlap { vaddr: heap_lo });
        }
        let state = MachineState {
            stepper: RefCell::new(None),
            written: BTreeSet::new(),
            written_hot: None,
            stack_low: layout.stack_hi,
            poison_reads: Vec::new(),
            poison_byte: 0xa5,
            log: RefCell::new(None),
        };
        let mut engine = Engine::new(ranges, layout, StackMapping::Eager, state)?;
        engine
            .uc
            .mem_map(heap_lo, heap_size, Prot::READ | Prot::WRITE)
            .map_err(|err| EmuError::Map {
                vaddr: heap_lo,
                size: heap_size,
                err,
            })?;
        let mut file_ids = [0; FILE];
        let (x, rest) = file_ids.split_at_mut(Target::GPRS);
        let (d, rest) = rest.split_at_mut(Target::VECTORS);
        for (n, id) in x.iter_mut().enumerate() {
            *id = Target::gpr(n as u8);
        }
        for (n, id) in d.iter_mut().enumerate() {
            *id = Target::vector(n as u8);
        }
        rest.copy_from_slice(&[Target::FLAGS, Target::SP]);
        Ok(Machine {
            engine,
            heap: (heap_lo, heap_size),
            watch: None,
            file_ids,
            log_hooks: Vec::new(),
        })
    }

    /// The layout (stack, g, scratch).
    pub fn layout(&self) -> &Layout {
        self.engine.layout()
    }

    /// The heap region `(lo, size)`.
    pub fn heap(&self) -> (u64, u64) {
        self.heap
    }

    /// Runs from the current registers until the stepper pauses or the program faults;
    /// returns the stepper back. `max_instructions` bounds this one `emu_start` (0: none).
    pub fn run(&mut self, stepper: S, max_instructions: usize) -> (S, Exit) {
        {
            let core = self.engine.core_mut();
            *core.policy.stepper.get_mut() = Some(stepper);
            core.fault = None;
            core.stopped = false;
        }
        let pc = self.engine.reg(Target::PC);
        let result = self.engine.uc.emu_start(pc, u64::MAX, 0, max_instructions);
        let stepper = self
            .engine
            .core_mut()
            .policy
            .stepper
            .get_mut()
            .take()
            .expect("the stepper stays in place while the machine runs");
        let now = self.engine.reg(Target::PC);
        let core = self.engine.core();
        if let Some(f) = &core.fault {
            return (stepper, Exit::Fault(f.clone()));
        }
        if core.stopped {
            return (stepper, Exit::Paused(now));
        }
        match result {
            Err(e) => (
                stepper,
                Exit::Fault(format!("{} at pc {now:#x}", describe_error(e))),
            ),
            Ok(()) => (
                stepper,
                Exit::Fault(format!("the emulator stopped at pc {now:#x}")),
            ),
        }
    }

    /// Reads every register.
    pub fn regs(&self) -> Regs {
        let values = self
            .engine
            .read_registers(&self.file_ids)
            .unwrap_or_else(|_| vec![0; FILE]);
        let mut r = Regs {
            x: [0; 31],
            sp: values[FILE - 1],
            pc: self.engine.reg(Target::PC),
            nzcv: values[FILE - 2],
            d: [0; 32],
        };
        r.x.copy_from_slice(&values[..Target::GPRS]);
        r.d.copy_from_slice(&values[Target::GPRS..Target::GPRS + Target::VECTORS]);
        r
    }

    /// Writes every register.
    pub fn set_regs(&mut self, r: &Regs) -> Result<(), EmuError> {
        let mut values = [0u64; FILE];
        values[..Target::GPRS].copy_from_slice(&r.x);
        values[Target::GPRS..Target::GPRS + Target::VECTORS].copy_from_slice(&r.d);
        values[FILE - 2] = r.nzcv;
        values[FILE - 1] = r.sp;
        self.engine
            .write_registers(&self.file_ids, &values, r.pc)
            .map_err(|err| EmuError::Refused {
                what: "write the registers".into(),
                err,
            })
    }

    /// Reads memory, `None` if any of it is unmapped.
    pub fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.log_driver_read(addr, len);
        self.engine.read(addr, len)
    }

    /// A little-endian word, `None` if unmapped.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        self.log_driver_read(addr, 8);
        self.engine.read_u64(addr)
    }

    /// Logs a read of the goroutine stack by the driver while the access log is on.
    fn log_driver_read(&self, addr: u64, len: usize) {
        let core = self.engine.core();
        if !core.layout.in_stack(addr) {
            return;
        }
        if let Some(log) = core.policy.log.borrow_mut().as_mut() {
            log.push(Access {
                pc: 0,
                addr,
                len,
                kind: AccessKind::DriverRead,
                value: None,
                poison: false,
            });
        }
    }

    /// Writes memory through the journal (so snapshots undo it).
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), EmuError> {
        if let Some(log) = self.engine.core().policy.log.borrow_mut().as_mut() {
            // In words, so that every logged store carries its value.
            for (i, chunk) in bytes.chunks(8).enumerate() {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                log.push(Access {
                    pc: 0,
                    addr: addr.wrapping_add(8 * i as u64),
                    len: chunk.len(),
                    kind: AccessKind::Store,
                    value: Some(u64::from_le_bytes(word)),
                    poison: false,
                });
            }
        }
        self.engine
            .write(addr, bytes)
            .map_err(|err| EmuError::Refused {
                what: format!("write {} bytes at {addr:#x}", bytes.len()),
                err,
            })
    }

    /// Writes a little-endian word through the journal.
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<(), EmuError> {
        self.write(addr, &value.to_le_bytes())
    }

    /// Fills `[lo, hi)` with the poison byte through the journal.
    pub fn poison(&mut self, lo: u64, hi: u64) -> Result<(), EmuError> {
        let byte = self.poison_byte();
        let mut a = lo;
        let block = vec![byte; 0x10000];
        while a < hi {
            let n = (hi - a).min(block.len() as u64);
            self.write(a, &block[..n as usize])?;
            a += n;
        }
        Ok(())
    }

    /// The byte [`Machine::poison`] writes (a word of it is no pointer and no PC).
    pub fn poison_byte(&self) -> u8 {
        self.engine.core().policy.poison_byte
    }

    /// Starts a journal: [`Machine::restore`] brings the registers and memory back here.
    pub fn snapshot(&mut self) -> Snapshot {
        let regs = self.regs();
        let depth = self.engine.mark();
        Snapshot { regs, depth }
    }

    /// Restores the state of `snap` (and drops the journals started after it).
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), EmuError> {
        self.engine
            .rewind(snap.depth)
            .map_err(|err| EmuError::Refused {
                what: "restore a snapshot's pages".into(),
                err,
            })?;
        self.set_regs(&snap.regs)
    }

    /// The bytes of `[addr, addr+len)` as they were when `snap` was taken (`None` when
    /// `snap` was restored already or the memory is unmapped).
    pub fn journal_bytes(&self, snap: &Snapshot, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.engine.pre_image(snap.depth, addr, len)
    }

    /// Pages written since the last [`Machine::clear_written`], ascending.
    pub fn written_pages(&self) -> Vec<u64> {
        self.engine.core().policy.written.iter().copied().collect()
    }

    /// The lowest stack address written since the last [`Machine::clear_written`].
    pub fn stack_low(&self) -> u64 {
        self.engine.core().policy.stack_low
    }

    /// Forgets the written pages and the stack low-water mark.
    pub fn clear_written(&mut self) {
        let stack_hi = self.layout().stack_hi;
        let st = &mut self.engine.core_mut().policy;
        st.written.clear();
        st.written_hot = None;
        st.stack_low = stack_hi;
    }

    /// The pages written since `snap` was taken (by the program or the driver), ascending.
    pub fn pages_written_since(&self, snap: &Snapshot) -> Vec<u64> {
        self.engine.pages_since(snap.depth)
    }

    /// Lowers the stack low-water mark to `addr` as a store there would have.
    pub fn note_stack_low(&mut self, addr: u64) {
        let st = &mut self.engine.core_mut().policy;
        st.stack_low = st.stack_low.min(addr);
    }

    /// Starts the access log: every store (program and driver) with its value, and every
    /// load of the goroutine stack (program and driver) with whether it read poison.
    pub fn start_access_log(&mut self) -> Result<(), EmuError> {
        self.stop_access_log();
        *self.engine.core_mut().policy.log.get_mut() = Some(Vec::new());
        let refused = |err| EmuError::Refused {
            what: "hook the access log".into(),
            err,
        };
        let store = self
            .engine
            .uc
            .add_mem_hook(HookType::MEM_WRITE, 1, 0, |uc, _k, addr, len, value| {
                let pc = uc.pc_read().unwrap_or(0);
                let value = (len <= 8).then_some(value as u64);
                log_access(
                    uc,
                    Access {
                        pc,
                        addr,
                        len,
                        kind: AccessKind::Store,
                        value,
                        poison: false,
                    },
                );
                true
            })
            .map_err(refused)?;
        self.log_hooks.push(store);
        let (lo, hi) = (self.layout().stack_lo, self.layout().stack_hi);
        let load = self
            .engine
            .uc
            .add_mem_hook(HookType::MEM_READ, lo, hi - 1, |uc, _k, addr, len, _v| {
                let byte = uc.get_data().policy.poison_byte;
                let poison = uc
                    .mem_read_as_vec(addr, len)
                    .is_ok_and(|b| b.iter().all(|&x| x == byte));
                let pc = uc.pc_read().unwrap_or(0);
                log_access(
                    uc,
                    Access {
                        pc,
                        addr,
                        len,
                        kind: AccessKind::Load,
                        value: None,
                        poison,
                    },
                );
                true
            })
            .map_err(refused)?;
        self.log_hooks.push(load);
        Ok(())
    }

    /// Stops the access log; returns it (empty when it was off).
    pub fn stop_access_log(&mut self) -> Vec<Access> {
        for id in std::mem::take(&mut self.log_hooks) {
            let _ = self.engine.uc.remove_hook(id);
        }
        self.engine
            .core_mut()
            .policy
            .log
            .get_mut()
            .take()
            .unwrap_or_default()
    }

    /// Starts recording loads that read a whole word (or smaller) of poison bytes in
    /// `[lo, hi)`: live data that a preemption destroyed.
    pub fn watch_poison_reads(&mut self, lo: u64, hi: u64) -> Result<(), EmuError> {
        self.unwatch();
        self.engine.core_mut().policy.poison_reads.clear();
        let id = self
            .engine
            .uc
            .add_mem_hook(
                HookType::MEM_READ,
                lo,
                hi.saturating_sub(1),
                |uc, _k, addr, size, _v| {
                    let byte = uc.get_data().policy.poison_byte;
                    if let Ok(b) = uc.mem_read_as_vec(addr, size)
                        && b.iter().all(|&x| x == byte)
                    {
                        let pc = uc.pc_read().unwrap_or(0);
                        let st = &mut uc.get_data_mut().policy;
                        if st.poison_reads.len() < 256 {
                            st.poison_reads.push((pc, addr, size));
                        }
                    }
                    true
                },
            )
            .map_err(|err| EmuError::Refused {
                what: format!("watch reads of [{lo:#x}, {hi:#x})"),
                err,
            })?;
        self.watch = Some(id);
        Ok(())
    }

    /// Stops watching; returns the poison reads `(pc, address, size)` seen.
    pub fn unwatch(&mut self) -> Vec<(u64, u64, usize)> {
        if let Some(id) = self.watch.take() {
            let _ = self.engine.uc.remove_hook(id);
        }
        std::mem::take(&mut self.engine.core_mut().policy.poison_reads)
    }
}

/// Appends to the access log if it is on.
fn log_access<S>(uc: &Unicorn<'_, Core<MachineState<S>>>, access: Access) {
    if let Some(log) = uc.get_data().policy.log.borrow_mut().as_mut() {
        log.push(access);
    }
}

impl<S: Stepper> Policy for MachineState<S> {
    fn unmapped_accesses() -> HookType {
        HookType::MEM_READ_UNMAPPED | HookType::MEM_WRITE_UNMAPPED | HookType::MEM_FETCH_UNMAPPED
    }

    fn boundary(uc: &mut Unicorn<'_, Core<Self>>, pc: u64) {
        let step = {
            let core = uc.get_data();
            // Only ever borrowed here: a failed borrow would be a bug, not a panic inside a
            // Unicorn callback.
            let Ok(mut slot) = core.policy.stepper.try_borrow_mut() else {
                return;
            };
            let Some(stepper) = slot.as_mut() else {
                return;
            };
            stepper.step(&Cpu { pc, view: &*uc })
        };
        if step == Step::Pause {
            uc.get_data_mut().stopped = true;
            let _ = uc.emu_stop();
        }
    }

    fn stored(&mut self, layout: &Layout, addr: u64, end: u64) {
        if layout.in_stack(addr) {
            self.stack_low = self.stack_low.min(addr);
        }
        let first = addr & !(PAGE - 1);
        let last = end.saturating_sub(1) & !(PAGE - 1);
        if first == last && self.written_hot == Some(first) {
            return;
        }
        let mut page = first;
        loop {
            self.written.insert(page);
            match page.checked_add(PAGE) {
                Some(next) if next <= last => page = next,
                _ => break,
            }
        }
        self.written_hot = Some(last);
    }

    fn unmapped(uc: &mut Unicorn<'_, Core<Self>>, kind: MemType, addr: u64, _size: usize) -> bool {
        let pc = uc.pc_read().unwrap_or(0);
        let what = match kind {
            MemType::WRITE_UNMAPPED => "write to",
            MemType::FETCH_UNMAPPED => "jump to",
            _ => "read from",
        };
        uc.get_data_mut()
            .fail(format!("{what} unmapped {addr:#x} at pc {pc:#x}"));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: u64 = 0x10000;

    /// Pauses at one PC.
    struct PauseAt(u64, usize);

    impl Stepper for PauseAt {
        fn step(&mut self, cpu: &Cpu<'_>) -> Step {
            self.1 += 1;
            if cpu.pc() == self.0 {
                Step::Pause
            } else {
                Step::Continue
            }
        }
    }

    fn machine(code: &[u32]) -> Machine<'static, PauseAt> {
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
        let ranges = [MapRange {
            vaddr: TEXT,
            size: 0x1000,
            read: true,
            write: false,
            execute: true,
            data: &bytes,
        }];
        let layout = Layout::default();
        let heap = layout.heap_base();
        Machine::new(&ranges, layout, heap, 0x10000).expect("machine")
    }

    // mov x0, #1; stur x0, [sp, #-16]; add x0, x0, #1; stur x0, [sp, #-16]; b .
    const CODE: [u32; 5] = [0xd2800020, 0xf81f03e0, 0x91000400, 0xf81f03e0, 0x14000000];

    fn start(m: &mut Machine<'static, PauseAt>) -> u64 {
        let sp = m.layout().stack_hi - 0x100;
        let mut r = m.regs();
        r.sp = sp;
        r.pc = TEXT;
        m.set_regs(&r).unwrap();
        sp
    }

    #[test]
    fn a_pause_does_not_execute_the_instruction() {
        let mut m = machine(&CODE);
        let sp = start(&mut m);
        let (_, exit) = m.run(PauseAt(TEXT + 12, 0), 0);
        assert_eq!(exit, Exit::Paused(TEXT + 12));
        assert_eq!(m.regs().x[0], 2);
        // The second store has not happened: the first one's value is there.
        assert_eq!(m.read_u64(sp - 16), Some(1));
    }

    #[test]
    fn restore_undoes_program_and_driver_writes() {
        let mut m = machine(&CODE);
        let sp = start(&mut m);
        let (_, exit) = m.run(PauseAt(TEXT + 8, 0), 0);
        assert_eq!(exit, Exit::Paused(TEXT + 8));
        let snap = m.snapshot();
        m.poison(sp - 64, sp).unwrap();
        assert_eq!(
            m.journal_bytes(&snap, sp - 16, 8),
            Some(1u64.to_le_bytes().to_vec())
        );
        let (_, exit) = m.run(PauseAt(TEXT + 16, 0), 0);
        assert_eq!(exit, Exit::Paused(TEXT + 16));
        assert_eq!(m.read_u64(sp - 16), Some(2));
        m.restore(&snap).unwrap();
        assert_eq!(m.read_u64(sp - 16), Some(1));
        assert_eq!(m.read_u64(sp - 64), Some(m.layout().poison()));
        assert_eq!(m.regs().pc, TEXT + 8);
        assert_eq!(m.regs().x[0], 1);
    }

    #[test]
    fn nested_snapshots_restore_pages_first_written_inside_them() {
        let mut m = machine(&CODE);
        let sp = start(&mut m);
        let heap = m.heap().0;
        m.write_u64(heap, 1).unwrap();
        let outer = m.snapshot();
        m.write_u64(heap, 2).unwrap();
        let inner = m.snapshot();
        // Pages the outer level never saw: the inner level's copy serves both.
        m.write_u64(heap + 0x1000, 3).unwrap();
        m.write_u64(sp - 8, 4).unwrap();
        m.write_u64(heap, 5).unwrap();
        assert_eq!(
            m.journal_bytes(&outer, heap + 0x1000, 8),
            Some(0u64.to_le_bytes().to_vec())
        );
        assert_eq!(
            m.journal_bytes(&outer, heap, 8),
            Some(1u64.to_le_bytes().to_vec())
        );
        assert_eq!(
            m.journal_bytes(&inner, heap, 8),
            Some(2u64.to_le_bytes().to_vec())
        );
        m.restore(&inner).unwrap();
        assert_eq!(m.read_u64(heap), Some(2));
        assert_eq!(m.read_u64(heap + 0x1000), Some(0));
        assert_eq!(m.journal_bytes(&inner, heap, 8), None, "restored already");
        // A new inner level, then back to the outer one through both.
        let _inner = m.snapshot();
        m.write_u64(heap + 0x1000, 6).unwrap();
        m.restore(&outer).unwrap();
        assert_eq!(m.read_u64(heap), Some(1));
        assert_eq!(m.read_u64(heap + 0x1000), Some(0));
        assert_eq!(m.read_u64(sp - 8), Some(m.layout().poison()));
        // Every page written since the mark, whatever was restored since.
        assert_eq!(
            m.written_pages(),
            vec![heap, heap + 0x1000, (sp - 8) & !0xfff]
        );
        assert_eq!(m.stack_low(), sp - 8);
    }

    #[test]
    fn poison_reads_are_watched() {
        let mut m = machine(&[0xf85f03e1, 0x14000000]); // ldur x1, [sp, #-16]; b .
        let sp = start(&mut m);
        m.poison(sp - 32, sp - 8).unwrap();
        m.watch_poison_reads(sp - 32, sp - 8).unwrap();
        let (_, exit) = m.run(PauseAt(TEXT + 4, 0), 0);
        assert_eq!(exit, Exit::Paused(TEXT + 4));
        assert_eq!(m.unwatch(), vec![(TEXT, sp - 16, 8)]);
    }

    #[test]
    fn unmapped_accesses_fault() {
        // ldr x1, [x0]; b .  with x0 = 0.
        let mut m = machine(&[0xf9400001, 0x14000000]);
        start(&mut m);
        let (_, exit) = m.run(PauseAt(TEXT + 4, 0), 0);
        assert!(
            matches!(exit, Exit::Fault(ref s) if s.contains("unmapped 0x0")),
            "{exit:?}"
        );
    }
}
