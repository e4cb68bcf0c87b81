//! A second way to drive Unicorn: whole calls instead of regions. A [`Machine`] maps an
//! image, the goroutine stack, the fake `g` and a heap region, then runs from a machine
//! state until a [`Stepper`] asks it to pause. The stepper sees every boundary (read-only)
//! and decides; everything that changes the state between pauses (emulated runtime calls,
//! injected preemptions, poisoning) goes through the machine, so that it is journaled.
//!
//! Snapshots are journals of page pre-images: [`Machine::snapshot`] starts one (they nest),
//! every store (the emulated program's, through the write hook, and the driver's, through
//! [`Machine::write`]) saves the page's contents before its first write, and
//! [`Machine::restore`] writes them back with the registers. A re-run from a snapshot costs
//! the pages it touches, not the whole address space.
//!
//! This module shares the mapping code with the region harness but none of its state: the
//! scan's behaviour does not depend on anything here.

use std::collections::{BTreeSet, HashMap};

use unicorn_engine::unicorn_const::{Arch, HookType, MemType, Mode, Prot};
use unicorn_engine::{RegisterARM64, UcHookId, Unicorn};

use crate::{EmuError, Layout, MapRange, describe_error, map_image, x_register};

const PAGE: u64 = 0x1000;

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
    engine: &'a dyn Engine,
}

/// Reads guest memory (implemented by the engine; object-safe so [`Cpu`] needs no generics).
trait ReadMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
}

/// Reads guest registers and memory.
trait Engine: ReadMem {
    fn reg(&self, id: i32) -> u64;
}

impl<D> ReadMem for Unicorn<'_, D> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        self.mem_read(addr, buf).is_ok()
    }
}

impl<D> Engine for Unicorn<'_, D> {
    fn reg(&self, id: i32) -> u64 {
        self.reg_read(id).unwrap_or(0)
    }
}

impl Cpu<'_> {
    /// PC of the instruction about to execute.
    pub fn pc(&self) -> u64 {
        self.pc
    }
    /// SP.
    pub fn sp(&self) -> u64 {
        self.engine.reg(RegisterARM64::SP as i32)
    }
    /// Xn (n < 31); 0 otherwise.
    pub fn x(&self, n: u8) -> u64 {
        if n > 30 {
            return 0;
        }
        self.engine.reg(x_register(n))
    }
    /// A little-endian word, `None` if unmapped.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.engine
            .read(addr, &mut b)
            .then(|| u64::from_le_bytes(b))
    }
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

/// A journal of page pre-images and the registers at the snapshot.
#[derive(Debug, Default)]
struct Journal {
    pages: HashMap<u64, Vec<u8>>,
}

/// A token for [`Machine::restore`]: the registers at the snapshot and its journal depth.
#[derive(Clone, Debug)]
pub struct Snapshot {
    regs: Regs,
    depth: usize,
}

/// State shared with the hooks.
pub struct MachineState<S> {
    stepper: Option<S>,
    fault: Option<String>,
    paused: bool,
    journals: Vec<Journal>,
    /// Every page written since [`Machine::clear_written`].
    written: BTreeSet<u64>,
    /// Lowest stack address written since [`Machine::clear_written`].
    stack_low: u64,
    layout: Layout,
    /// Reads of a poison pattern while watching: `(pc, address, size)`.
    poison_reads: Vec<(u64, u64, usize)>,
    poison_byte: u8,
}

/// One emulator for whole calls.
pub struct Machine<'e, S: Stepper> {
    uc: Unicorn<'e, MachineState<S>>,
    layout: Layout,
    heap: (u64, u64),
    watch: Option<UcHookId>,
}

fn note_write<S>(st: &mut MachineState<S>, uc_read: &dyn ReadMem, addr: u64, end: u64) {
    if addr >= st.layout.stack_lo && addr < st.layout.stack_hi {
        st.stack_low = st.stack_low.min(addr);
    }
    let first = addr & !(PAGE - 1);
    let last = end.saturating_sub(1) & !(PAGE - 1);
    let mut page = first;
    while page <= last {
        st.written.insert(page);
        for j in &mut st.journals {
            if let std::collections::hash_map::Entry::Vacant(e) = j.pages.entry(page) {
                let mut buf = vec![0u8; PAGE as usize];
                if uc_read.read(page, &mut buf) {
                    e.insert(buf);
                }
            }
        }
        let Some(next) = page.checked_add(PAGE) else {
            break;
        };
        page = next;
    }
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
        let state = MachineState {
            stepper: None,
            fault: None,
            paused: false,
            journals: Vec::new(),
            written: BTreeSet::new(),
            stack_low: layout.stack_hi,
            layout,
            poison_reads: Vec::new(),
            poison_byte: 0xa5,
        };
        let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::LITTLE_ENDIAN, state)
            .map_err(EmuError::Engine)?;
        uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32)
            .map_err(EmuError::Engine)?;
        map_image(&mut uc, ranges, &layout)?;
        layout.map_harness(&mut uc).map_err(EmuError::Engine)?;
        layout.map_stack(&mut uc).map_err(EmuError::Engine)?;
        if layout.overlaps(heap_lo, heap_lo.saturating_add(heap_size)) {
            return Err(EmuError::Overlap { vaddr: heap_lo });
        }
        uc.mem_map(heap_lo, heap_size, Prot::READ | Prot::WRITE)
            .map_err(|err| EmuError::Map {
                vaddr: heap_lo,
                size: heap_size,
                err,
            })?;
        // The stack holds the poison word everywhere nobody wrote, like the region harness's.
        let chunk: Vec<u8> = std::iter::repeat_n(layout.poison().to_le_bytes(), 0x10000)
            .flatten()
            .collect();
        let mut a = layout.stack_lo;
        while a < layout.stack_hi {
            let n = (layout.stack_hi - a).min(chunk.len() as u64);
            uc.mem_write(a, &chunk[..n as usize])
                .map_err(EmuError::Engine)?;
            a += n;
        }
        install(&mut uc).map_err(EmuError::Engine)?;
        Ok(Machine {
            uc,
            layout,
            heap: (heap_lo, heap_size),
            watch: None,
        })
    }

    /// The layout (stack, g, scratch).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The heap region `(lo, size)`.
    pub fn heap(&self) -> (u64, u64) {
        self.heap
    }

    /// Runs from the current registers until the stepper pauses or the program faults;
    /// returns the stepper back. `max_instructions` bounds this one `emu_start` (0: none).
    pub fn run(&mut self, stepper: S, max_instructions: usize) -> (S, Exit) {
        {
            let st = self.uc.get_data_mut();
            st.stepper = Some(stepper);
            st.fault = None;
            st.paused = false;
        }
        let pc = self.uc.pc_read().unwrap_or(0);
        let result = self.uc.emu_start(pc, u64::MAX, 0, max_instructions);
        let st = self.uc.get_data_mut();
        let stepper = st
            .stepper
            .take()
            .expect("the stepper is put back after every boundary");
        let now = self.uc.pc_read().unwrap_or(0);
        let st = self.uc.get_data();
        if let Some(f) = &st.fault {
            return (stepper, Exit::Fault(f.clone()));
        }
        if st.paused {
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
        let mut x = [0u64; 31];
        for (i, v) in x.iter_mut().enumerate() {
            *v = self.uc.reg_read(x_register(i as u8)).unwrap_or(0);
        }
        let mut d = [0u64; 32];
        for (i, v) in d.iter_mut().enumerate() {
            *v = self
                .uc
                .reg_read(RegisterARM64::D0 as i32 + i as i32)
                .unwrap_or(0);
        }
        Regs {
            x,
            sp: self.uc.reg_read(RegisterARM64::SP).unwrap_or(0),
            pc: self.uc.pc_read().unwrap_or(0),
            nzcv: self.uc.reg_read(RegisterARM64::NZCV).unwrap_or(0),
            d,
        }
    }

    /// Writes every register.
    pub fn set_regs(&mut self, r: &Regs) -> Result<(), EmuError> {
        let e = EmuError::Engine;
        for (i, v) in r.x.iter().enumerate() {
            self.uc.reg_write(x_register(i as u8), *v).map_err(e)?;
        }
        for (i, v) in r.d.iter().enumerate() {
            self.uc
                .reg_write(RegisterARM64::D0 as i32 + i as i32, *v)
                .map_err(e)?;
        }
        self.uc.reg_write(RegisterARM64::NZCV, r.nzcv).map_err(e)?;
        self.uc.reg_write(RegisterARM64::SP, r.sp).map_err(e)?;
        self.uc.reg_write(RegisterARM64::PC, r.pc).map_err(e)?;
        Ok(())
    }

    /// Reads memory, `None` if any of it is unmapped.
    pub fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.uc.mem_read_as_vec(addr, len).ok()
    }

    /// A little-endian word, `None` if unmapped.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        let b = self.read(addr, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// Writes memory through the journal (so snapshots undo it).
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), EmuError> {
        let end = addr.saturating_add(bytes.len() as u64);
        if !bytes.is_empty() {
            let reader = pre_read(&self.uc, addr, end);
            note_write(self.uc.get_data_mut(), &reader, addr, end);
        }
        self.uc.mem_write(addr, bytes).map_err(EmuError::Engine)
    }

    /// Writes a little-endian word through the journal.
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<(), EmuError> {
        self.write(addr, &value.to_le_bytes())
    }

    /// Fills `[lo, hi)` with the poison byte through the journal.
    pub fn poison(&mut self, lo: u64, hi: u64) -> Result<(), EmuError> {
        let byte = self.uc.get_data().poison_byte;
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
        self.uc.get_data().poison_byte
    }

    /// Starts a journal: [`Machine::restore`] brings the registers and memory back here.
    pub fn snapshot(&mut self) -> Snapshot {
        let regs = self.regs();
        let st = self.uc.get_data_mut();
        st.journals.push(Journal::default());
        Snapshot {
            regs,
            depth: st.journals.len(),
        }
    }

    /// Restores the state of `snap` (and drops the journals started after it).
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), EmuError> {
        loop {
            let st = self.uc.get_data_mut();
            if st.journals.len() < snap.depth {
                break;
            }
            let Some(j) = st.journals.pop() else { break };
            for (page, bytes) in j.pages {
                self.uc.mem_write(page, &bytes).map_err(EmuError::Engine)?;
            }
        }
        self.set_regs(&snap.regs)
    }

    /// The bytes of `[addr, addr+len)` as they were when `snap` was taken (`None` when
    /// `snap` was restored already or the memory is unmapped).
    pub fn journal_bytes(&self, snap: &Snapshot, addr: u64, len: usize) -> Option<Vec<u8>> {
        let st = self.uc.get_data();
        let j = st.journals.get(snap.depth.checked_sub(1)?)?;
        let mut out = Vec::with_capacity(len);
        let end = addr.checked_add(len as u64)?;
        let mut a = addr;
        while a < end {
            let page = a & !(PAGE - 1);
            let n = (page + PAGE).min(end) - a;
            match j.pages.get(&page) {
                Some(p) => {
                    let off = (a - page) as usize;
                    out.extend_from_slice(&p[off..off + n as usize]);
                }
                None => out.extend_from_slice(&self.read(a, n as usize)?),
            }
            a += n;
        }
        Some(out)
    }

    /// Pages written since the last [`Machine::clear_written`], ascending.
    pub fn written_pages(&self) -> Vec<u64> {
        self.uc.get_data().written.iter().copied().collect()
    }

    /// The lowest stack address written since the last [`Machine::clear_written`].
    pub fn stack_low(&self) -> u64 {
        self.uc.get_data().stack_low
    }

    /// Forgets the written pages and the stack low-water mark.
    pub fn clear_written(&mut self) {
        let st = self.uc.get_data_mut();
        st.written.clear();
        st.stack_low = st.layout.stack_hi;
    }

    /// Starts recording loads that read a whole word (or smaller) of poison bytes in
    /// `[lo, hi)`: live data that a preemption destroyed.
    pub fn watch_poison_reads(&mut self, lo: u64, hi: u64) -> Result<(), EmuError> {
        self.unwatch();
        self.uc.get_data_mut().poison_reads.clear();
        let id = self
            .uc
            .add_mem_hook(
                HookType::MEM_READ,
                lo,
                hi.saturating_sub(1),
                |uc, _k, addr, size, _v| {
                    let byte = uc.get_data().poison_byte;
                    if let Ok(b) = uc.mem_read_as_vec(addr, size)
                        && b.iter().all(|&x| x == byte)
                    {
                        let pc = uc.pc_read().unwrap_or(0);
                        let st = uc.get_data_mut();
                        if st.poison_reads.len() < 256 {
                            st.poison_reads.push((pc, addr, size));
                        }
                    }
                    true
                },
            )
            .map_err(EmuError::Engine)?;
        self.watch = Some(id);
        Ok(())
    }

    /// Stops watching; returns the poison reads `(pc, address, size)` seen.
    pub fn unwatch(&mut self) -> Vec<(u64, u64, usize)> {
        if let Some(id) = self.watch.take() {
            let _ = self.uc.remove_hook(id);
        }
        std::mem::take(&mut self.uc.get_data_mut().poison_reads)
    }
}

fn install<'e, S: Stepper + 'e>(
    uc: &mut Unicorn<'e, MachineState<S>>,
) -> Result<(), unicorn_engine::unicorn_const::uc_error> {
    uc.add_code_hook(1, 0, |uc, addr, _size| {
        let st = uc.get_data();
        if st.paused || st.fault.is_some() {
            return;
        }
        let Some(mut stepper) = uc.get_data_mut().stepper.take() else {
            return;
        };
        let step = {
            let cpu = Cpu {
                pc: addr,
                engine: &*uc,
            };
            stepper.step(&cpu)
        };
        let st = uc.get_data_mut();
        st.stepper = Some(stepper);
        if step == Step::Pause {
            st.paused = true;
            let _ = uc.emu_stop();
        }
    })?;
    uc.add_intr_hook(|uc, intno| {
        let pc = uc.pc_read().unwrap_or(0);
        let st = uc.get_data_mut();
        if st.fault.is_none() {
            st.fault = Some(format!(
                "system instruction or exception {intno} at {pc:#x}"
            ));
        }
        let _ = uc.emu_stop();
    })?;
    uc.add_mem_hook(
        HookType::MEM_WRITE,
        1,
        0,
        |uc, _kind: MemType, addr, size, _value| {
            let end = addr.saturating_add(size as u64);
            let reader = pre_read(uc, addr, end);
            note_write(uc.get_data_mut(), &reader, addr, end);
            true
        },
    )?;
    uc.add_mem_hook(
        HookType::MEM_READ_UNMAPPED | HookType::MEM_WRITE_UNMAPPED | HookType::MEM_FETCH_UNMAPPED,
        1,
        0,
        |uc, kind: MemType, addr, _size, _value| {
            let pc = uc.pc_read().unwrap_or(0);
            let what = match kind {
                MemType::WRITE_UNMAPPED => "write to",
                MemType::FETCH_UNMAPPED => "jump to",
                _ => "read from",
            };
            let st = uc.get_data_mut();
            st.fault
                .get_or_insert(format!("{what} unmapped {addr:#x} at pc {pc:#x}"));
            false
        },
    )?;
    Ok(())
}

/// Reads the pages of `[addr, end)` that some journal has not saved yet, before the write
/// (the state is borrowed mutably afterwards, so the engine cannot be read then).
fn pre_read<S>(uc: &Unicorn<'_, MachineState<S>>, addr: u64, end: u64) -> PreRead {
    let first = addr & !(PAGE - 1);
    let last = end.saturating_sub(1) & !(PAGE - 1);
    let mut pre = Vec::new();
    let mut page = first;
    while page <= last {
        let st = uc.get_data();
        if st.journals.iter().any(|j| !j.pages.contains_key(&page))
            && let Ok(b) = uc.mem_read_as_vec(page, PAGE as usize)
        {
            pre.push((page, b));
        }
        let Some(next) = page.checked_add(PAGE) else {
            break;
        };
        page = next;
    }
    PreRead(pre)
}

/// Page contents read before a write (the write hook's view for [`note_write`]).
struct PreRead(Vec<(u64, Vec<u8>)>);

impl ReadMem for PreRead {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match self.0.iter().find(|(p, _)| *p == addr) {
            Some((_, b)) if b.len() == buf.len() => {
                buf.copy_from_slice(b);
                true
            }
            _ => false,
        }
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
