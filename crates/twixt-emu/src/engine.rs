//! The engine core: one Unicorn instance with an image mapped into it, and everything both
//! drivers need from it, done once.
//!
//! - **Mapping.** The image's segments with their permissions ([`map_image`]), the harness's
//!   own regions (fake `g`, `m`, `g0` and its stack, scratch: [`Layout::map_harness`]), and
//!   the goroutine stack, either mapped and poisoned up front ([`StackMapping::Eager`], the
//!   whole-call machine) or 64 KiB at a time as accesses reach it ([`StackMapping::Lazy`],
//!   the region harness, whose stack is 1 GiB deep).
//! - **The memory view.** [`read_word`]: memory as the program would see it, where stack
//!   nothing has mapped yet reads as the poison every unwritten stack word holds.
//! - **The page journal** ([`crate::journal`]): every store, the program's (through the
//!   write hook) and the driver's (through [`Engine::write`]), saves the page it lands on
//!   before its first write; [`Engine::mark`] opens a level and [`Engine::rewind`] brings
//!   memory back to it.
//! - **The hooks.** One code hook, one write hook, one hook for accesses nothing maps and
//!   one interrupt hook, each delegating what differs to the [`Policy`]: the region harness
//!   ([`crate::harness`]) and the whole-call machine ([`crate::call`]) are policies.
//! - **The register file.** Register ids come from the instruction-set seam
//!   ([`crate::isa`]); a whole register file is written in one batch.
//!
//! The code hook is the scan's hot path (once per instruction): it checks two flags and
//! calls the policy, which hands the boundary to its observer without moving it (the
//! observer sits in a `RefCell` in the hook state and is borrowed in place).

use std::collections::BTreeSet;

use unicorn_engine::unicorn_const::{HookType, MemType, Prot, uc_error};
use unicorn_engine::{UcHookId, Unicorn};

use std::marker::PhantomData;

use crate::isa::{Arm64, Isa};
use crate::journal::{Journal, PAGE};
use crate::{EmuError, Layout, MapRange};

/// The granule the lazy goroutine stack is mapped in.
pub(crate) const STACK_CHUNK: u64 = 0x10000;

/// How the goroutine stack is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StackMapping {
    /// All of it, filled with poison, when the engine is built. Stores to it are journaled
    /// page by page like any other.
    Eager,
    /// 64 KiB at a time (filled with poison) as accesses reach it. Stores to it are kept
    /// as written ranges, and restoring writes poison over them: every level a driver
    /// opens must start from a stack that is poison wherever the driver did not write
    /// through [`Engine::write`].
    Lazy,
}

/// What a driver decides; the engine does the rest.
pub(crate) trait Policy: Sized {
    /// The unmapped accesses that reach [`Policy::unmapped`].
    fn unmapped_accesses() -> HookType;

    /// Before the instruction at `pc` executes, unless the run has stopped or faulted.
    /// This is the hot path: once per instruction.
    fn boundary(uc: &mut Unicorn<'_, Core<Self>>, pc: u64);

    /// A store of `[addr, end)` is about to happen (the journal has seen it).
    fn stored(&mut self, layout: &Layout, addr: u64, end: u64);

    /// An access of `kind` to `[addr, addr + size)` that no memory backs (the lazy stack
    /// was tried first). Returns whether memory is mapped there now (Unicorn retries the
    /// access); `false` ends the run with Unicorn's error unless the policy recorded its own.
    fn unmapped(uc: &mut Unicorn<'_, Core<Self>>, kind: MemType, addr: u64, size: usize) -> bool;

    /// Exception `intno` at `pc`. Returns whether the policy dealt with it; if not, the
    /// run ends with the fault "system instruction or exception N at PC".
    fn interrupt(_uc: &mut Unicorn<'_, Core<Self>>, _intno: u32, _pc: u64) -> bool {
        false
    }
}

/// The state every hook sees: the engine's own and the policy's.
pub(crate) struct Core<P> {
    pub(crate) layout: Layout,
    pub(crate) journal: Journal,
    stack: Stack,
    /// What ended the run, for the driver's report (the first fault wins).
    pub(crate) fault: Option<String>,
    /// The policy asked to stop (or pause); the hooks do nothing more until the next run.
    pub(crate) stopped: bool,
    pub(crate) policy: P,
}

/// How the goroutine stack is mapped, the lazy stack's chunks mapped so far, and one chunk
/// of poison to fill new ones with.
struct Stack {
    lazy: bool,
    chunks: BTreeSet<u64>,
    poison: Box<[u8]>,
}

impl<P> Core<P> {
    /// Records the first fault of a run.
    pub(crate) fn fail(&mut self, why: String) {
        self.fault.get_or_insert(why);
    }
}

/// One Unicorn engine with an image mapped, driven by a policy, emulating the instruction
/// set `I` (arm64 unless said otherwise).
pub(crate) struct Engine<'e, P: Policy, I: Isa = Arm64> {
    pub(crate) uc: Unicorn<'e, Core<P>>,
    /// The code hook, renewed by [`Engine::forget_translations`].
    code_hook: UcHookId,
    isa: PhantomData<I>,
}

impl<'e, P: Policy + 'e, I: Isa> Engine<'e, P, I> {
    /// Maps `ranges` (the image), the harness's regions and the stack as `stack` says, and
    /// installs the hooks.
    pub(crate) fn new(
        ranges: &[MapRange<'_>],
        layout: Layout,
        stack: StackMapping,
        policy: P,
    ) -> Result<Self, EmuError> {
        let core = Core {
            layout,
            journal: Journal::default(),
            stack: Stack {
                lazy: stack == StackMapping::Lazy,
                chunks: BTreeSet::new(),
                poison: fill(STACK_CHUNK, layout.poison()),
            },
            fault: None,
            stopped: false,
            policy,
        };
        let mut uc = Unicorn::new_with_data(I::ARCH, I::MODE, core).map_err(EmuError::Engine)?;
        I::configure(&mut uc).map_err(EmuError::Engine)?;
        map_image(&mut uc, ranges, &layout)?;
        layout.map_harness(&mut uc).map_err(EmuError::Engine)?;
        if stack == StackMapping::Eager {
            layout.map_stack(&mut uc).map_err(EmuError::Engine)?;
            // The stack holds the poison word everywhere nobody wrote, as the lazy one reads.
            let poison = std::mem::take(&mut uc.get_data_mut().stack.poison);
            let mut a = layout.stack_lo;
            while a < layout.stack_hi {
                let n = (layout.stack_hi - a).min(poison.len() as u64);
                uc.mem_write(a, &poison[..n as usize])
                    .map_err(EmuError::Engine)?;
                a += n;
            }
            uc.get_data_mut().stack.poison = poison;
        }
        let code_hook = install_hooks(&mut uc).map_err(EmuError::Engine)?;
        Ok(Engine {
            uc,
            code_hook,
            isa: PhantomData,
        })
    }

    /// Drops every translation, for drivers whose code runs once. Left alone, TCG's code
    /// buffer (1 GiB) grows through fresh pages the kernel must zero, and the code hook's
    /// record of every block it instrumented (a hash table Unicorn keeps to invalidate
    /// them should the hook go, one entry per block ever translated) grows with it: its
    /// lookups at every translation miss the cache, and freeing it took a second of a
    /// large scan. Removing the hook empties the record (invalidating blocks that are gone
    /// already, which is cheap); the same hook is installed again.
    pub(crate) fn forget_translations(&mut self) -> Result<(), uc_error> {
        self.uc.ctl_flush_tb()?;
        self.uc.remove_hook(self.code_hook)?;
        self.code_hook = self.uc.add_code_hook(1, 0, code_hook::<P>)?;
        Ok(())
    }

    pub(crate) fn core(&self) -> &Core<P> {
        self.uc.get_data()
    }

    pub(crate) fn core_mut(&mut self) -> &mut Core<P> {
        self.uc.get_data_mut()
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.core().layout
    }

    /// Reads a register by Unicorn id (0 if Unicorn refuses).
    pub(crate) fn reg(&self, id: i32) -> u64 {
        self.uc.reg_read(id).unwrap_or(0)
    }

    /// Reads registers by Unicorn id, in one call.
    pub(crate) fn read_registers(&self, ids: &[i32]) -> Result<Vec<u64>, uc_error> {
        let mut ids = ids.to_vec();
        let n = ids.len() as i32;
        self.uc.reg_read_batch(&mut ids, n)
    }

    /// Writes registers by Unicorn id, in one call, then PC on its own: Unicorn's single
    /// write of PC also tells a run that starts from it not to resynchronise PC from the
    /// translated code, and the drivers' results were established with that behaviour.
    pub(crate) fn write_registers(
        &mut self,
        ids: &[i32],
        values: &[u64],
        pc: u64,
    ) -> Result<(), uc_error> {
        debug_assert_eq!(ids.len(), values.len());
        self.uc.reg_write_batch(ids, values, ids.len() as i32)?;
        self.uc.reg_write(I::PC, pc)
    }

    /// A little-endian word through the memory view (unmapped stack reads as poison).
    pub(crate) fn read_u64(&self, addr: u64) -> Option<u64> {
        read_word(&self.uc, &self.core().layout, addr)
    }

    /// Reads memory, `None` if any of it is unmapped.
    pub(crate) fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.uc.mem_read_as_vec(addr, len).ok()
    }

    /// Writes memory as the program would: through the journal, mapping the lazy stack
    /// where it is written, and telling the policy.
    pub(crate) fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), uc_error> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = addr.saturating_add(bytes.len() as u64);
        let mut chunk = addr & !(STACK_CHUNK - 1);
        while chunk < end {
            map_stack_chunk(&mut self.uc, chunk.max(addr));
            let Some(next) = chunk.checked_add(STACK_CHUNK) else {
                break;
            };
            chunk = next;
        }
        note_write(&mut self.uc, addr, end);
        self.uc.mem_write(addr, bytes)
    }

    /// Opens a journal level; [`Engine::rewind`] with the returned depth brings memory
    /// back to now.
    pub(crate) fn mark(&mut self) -> usize {
        self.core_mut().journal.push()
    }

    /// The pages written since the level of `depth` was opened, ascending.
    pub(crate) fn pages_since(&self, depth: usize) -> Vec<u64> {
        if depth == 0 {
            return Vec::new();
        }
        self.core().journal.pages_since(depth)
    }

    /// Writes back the pre-images of every level from `depth` inward and closes them; a
    /// lazy stack is poisoned again wherever it was written. A page Unicorn refuses does
    /// not stop the others from being restored; the first refusal is returned.
    pub(crate) fn rewind(&mut self, depth: usize) -> Result<(), uc_error> {
        let pages = self.core_mut().journal.pop_to(depth);
        let mut result = Ok(());
        for (page, bytes) in pages {
            let written = self.uc.mem_write(page, &bytes);
            if result.is_ok() {
                result = written;
            }
        }
        self.poison_written_stack();
        result
    }

    /// `[addr, addr + len)` as it was when the level of `depth` was opened (`None` when the
    /// level is closed or the memory unmapped).
    pub(crate) fn pre_image(&self, depth: usize, addr: u64, len: usize) -> Option<Vec<u8>> {
        let journal = &self.core().journal;
        if depth == 0 || depth > journal.depth() {
            return None;
        }
        let end = addr.checked_add(len as u64)?;
        let mut out = Vec::with_capacity(len);
        let mut a = addr;
        while a < end {
            let page = a & !(PAGE - 1);
            let n = (page + PAGE).min(end) - a;
            match journal.pre_image(depth, page) {
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

    /// Writes the poison word back over the parts of the lazy stack written since the
    /// last time (only mapped chunks can have been written; the rest reads as poison).
    fn poison_written_stack(&mut self) {
        let core = self.uc.get_data_mut();
        let written = core.journal.take_stack_written();
        if written.is_empty() {
            return;
        }
        let (lo_limit, hi_limit) = (core.layout.stack_lo, core.layout.stack_hi);
        let chunks = std::mem::take(&mut core.stack.chunks);
        let poison = std::mem::take(&mut core.stack.poison);
        for (lo, hi) in written {
            let lo = lo.max(lo_limit) & !7;
            let hi = hi.min(hi_limit);
            for &chunk in chunks.range(lo & !(STACK_CHUNK - 1)..hi) {
                let a = lo.max(chunk);
                let b = hi.min(chunk + STACK_CHUNK);
                if a < b {
                    let _ = self.uc.mem_write(a, &poison[..(b - a) as usize]);
                }
            }
        }
        let core = self.uc.get_data_mut();
        core.stack.chunks = chunks;
        core.stack.poison = poison;
    }
}

/// `len` bytes of `word`, repeated.
pub(crate) fn fill(len: u64, word: u64) -> Box<[u8]> {
    std::iter::repeat_n(word.to_le_bytes(), (len / 8) as usize)
        .flatten()
        .collect()
}

/// A word of memory as the program would see it: the stack is all poison where nothing has
/// been mapped (and so nothing written) yet.
pub(crate) fn read_word<D>(uc: &Unicorn<'_, D>, layout: &Layout, addr: u64) -> Option<u64> {
    let mut buf = [0u8; 8];
    if uc.mem_read(addr, &mut buf).is_ok() {
        return Some(u64::from_le_bytes(buf));
    }
    (layout.in_stack(addr) && layout.in_stack(addr.saturating_add(7))).then(|| layout.poison())
}

/// Records a store of `[addr, end)` about to happen: the lazy stack's written ranges grow;
/// any other page has its pre-image saved before its first write in the innermost journal
/// level; then the policy is told.
pub(crate) fn note_write<P: Policy>(uc: &mut Unicorn<'_, Core<P>>, addr: u64, end: u64) {
    let core = uc.get_data_mut();
    if core.stack.lazy && core.layout.in_stack(addr) {
        core.journal.stack_written(addr, end);
    } else if core.journal.depth() > 0 {
        let first = addr & !(PAGE - 1);
        let last = end.saturating_sub(1) & !(PAGE - 1);
        let mut page = first;
        loop {
            if uc.get_data_mut().journal.wants(page)
                && let Ok(bytes) = uc.mem_read_as_vec(page, PAGE as usize)
            {
                uc.get_data_mut()
                    .journal
                    .save(page, bytes.into_boxed_slice());
            }
            // A store at the top of the address space: the last page has no successor.
            match page.checked_add(PAGE) {
                Some(next) if next <= last => page = next,
                _ => break,
            }
        }
    }
    let Core { policy, layout, .. } = uc.get_data_mut();
    policy.stored(layout, addr, end);
}

/// Maps the lazy stack's chunk holding `addr` (filled with poison) if `addr` is in the
/// goroutine stack and the chunk is not mapped yet. Returns whether `addr` is now mapped
/// stack (always, for an eager stack).
pub(crate) fn map_stack_chunk<P>(uc: &mut Unicorn<'_, Core<P>>, addr: u64) -> bool {
    let core = uc.get_data();
    if !core.layout.in_stack(addr) {
        return false;
    }
    if !core.stack.lazy {
        return true;
    }
    let chunk = (addr & !(STACK_CHUNK - 1)).max(core.layout.stack_lo);
    if core.stack.chunks.contains(&chunk) {
        return true;
    }
    let len = STACK_CHUNK.min(core.layout.stack_hi - chunk);
    if uc.mem_map(chunk, len, Prot::READ | Prot::WRITE).is_err() {
        return false;
    }
    let poison = std::mem::take(&mut uc.get_data_mut().stack.poison);
    let _ = uc.mem_write(chunk, &poison[..len as usize]);
    let stack = &mut uc.get_data_mut().stack;
    stack.poison = poison;
    stack.chunks.insert(chunk);
    true
}

/// The code hook: the hot path, once per instruction.
fn code_hook<P: Policy>(uc: &mut Unicorn<'_, Core<P>>, pc: u64, _size: u32) {
    let core = uc.get_data();
    if core.stopped || core.fault.is_some() {
        return;
    }
    P::boundary(uc, pc);
}

/// Installs the hooks; returns the code hook's id.
fn install_hooks<'e, P: Policy + 'e>(uc: &mut Unicorn<'e, Core<P>>) -> Result<UcHookId, uc_error> {
    let code = uc.add_code_hook(1, 0, code_hook::<P>)?;
    uc.add_intr_hook(|uc, intno| {
        let pc = uc.pc_read().unwrap_or(0);
        if P::interrupt(uc, intno, pc) {
            return;
        }
        uc.get_data_mut().fail(format!(
            "system instruction or exception {intno} at {pc:#x}"
        ));
        let _ = uc.emu_stop();
    })?;
    // Every store. Stores are a small share of instructions, so this costs little next to
    // the per-instruction code hook.
    uc.add_mem_hook(
        HookType::MEM_WRITE,
        1,
        0,
        |uc, _kind: MemType, addr, size, _value| {
            note_write(uc, addr, addr.saturating_add(size as u64));
            true
        },
    )?;
    // The lazy stack is mapped on first touch; anything else is the policy's.
    uc.add_mem_hook(
        P::unmapped_accesses(),
        1,
        0,
        |uc, kind: MemType, addr, size, _value| {
            let last = addr.saturating_add((size as u64).max(1) - 1);
            let core = uc.get_data();
            if core.stack.lazy && (core.layout.in_stack(addr) || core.layout.in_stack(last)) {
                let a = map_stack_chunk(uc, addr);
                let b = map_stack_chunk(uc, last);
                if a || b {
                    // A write the write hook saw before the chunk existed: its range is dirty.
                    if kind == MemType::WRITE_UNMAPPED {
                        uc.get_data_mut()
                            .journal
                            .stack_written(addr, last.saturating_add(1));
                    }
                    return true;
                }
            }
            P::unmapped(uc, kind, addr, size)
        },
    )?;
    Ok(code)
}

/// Maps the image's segments with their permissions.
pub(crate) fn map_image<D>(
    uc: &mut Unicorn<'_, D>,
    ranges: &[MapRange<'_>],
    layout: &Layout,
) -> Result<(), EmuError> {
    let runs = permission_runs(ranges, layout)?;
    for &(start, end, _) in &runs {
        // Map writable first so the contents can be copied in, then set the real permissions.
        uc.mem_map(start, end - start, Prot::ALL)
            .map_err(|err| EmuError::Map {
                vaddr: start,
                size: end - start,
                err,
            })?;
    }
    for r in ranges {
        if !r.data.is_empty() {
            let n = (r.data.len() as u64).min(r.size) as usize;
            uc.mem_write(r.vaddr, &r.data[..n])
                .map_err(|err| EmuError::Map {
                    vaddr: r.vaddr,
                    size: r.size,
                    err,
                })?;
        }
    }
    // Whole runs at once: protecting single pages would split Unicorn's regions page by
    // page, and each split walks every RAM block.
    for &(start, end, prot) in &runs {
        uc.mem_protect(start, end - start, prot)
            .map_err(|err| EmuError::Map {
                vaddr: start,
                size: end - start,
                err,
            })?;
    }
    Ok(())
}

/// The image's pages as runs `[start, end)` of equal permissions, after checking every
/// segment against the engine's limits and the harness's regions.
fn permission_runs(
    ranges: &[MapRange<'_>],
    layout: &Layout,
) -> Result<Vec<(u64, u64, Prot)>, EmuError> {
    // Pages can be shared by two segments (Go aligns segments to 64 KiB, but be safe): give
    // each page the union of the permissions of the segments that touch it.
    let mut pages: std::collections::BTreeMap<u64, Prot> = std::collections::BTreeMap::new();
    for r in ranges {
        if r.size == 0 {
            continue;
        }
        if r.size > 1 << 30 {
            return Err(EmuError::TooLarge {
                vaddr: r.vaddr,
                size: r.size,
            });
        }
        let end = r.vaddr.saturating_add(r.size);
        if end > 1 << 48 {
            return Err(EmuError::OutsideAddressSpace {
                vaddr: r.vaddr,
                size: r.size,
            });
        }
        if layout.overlaps(r.vaddr, end) {
            return Err(EmuError::Overlap { vaddr: r.vaddr });
        }
        let mut prot = Prot::NONE;
        if r.read {
            prot |= Prot::READ;
        }
        if r.write {
            prot |= Prot::WRITE;
        }
        if r.execute {
            prot |= Prot::EXEC | Prot::READ;
        }
        let mut p = r.vaddr & !(PAGE - 1);
        while p < end {
            let e = pages.entry(p).or_insert(Prot::NONE);
            *e |= prot;
            p += PAGE;
        }
    }
    // Runs of pages with equal permissions, mapped in one call each.
    let mut run: Option<(u64, u64, Prot)> = None;
    let mut runs = Vec::new();
    for (&p, &prot) in &pages {
        match run {
            Some((start, end, pr)) if end == p && pr == prot => run = Some((start, end + PAGE, pr)),
            _ => {
                runs.extend(run.take());
                run = Some((p, p + PAGE, prot));
            }
        }
    }
    runs.extend(run);
    Ok(runs)
}

/// What Unicorn's error means, for a report.
pub(crate) fn describe_error(e: uc_error) -> String {
    use unicorn_engine::unicorn_const::uc_error as E;
    match e {
        E::READ_UNMAPPED => "read from unmapped memory".into(),
        E::WRITE_UNMAPPED => "write to unmapped memory".into(),
        E::FETCH_UNMAPPED => "fetch from unmapped memory".into(),
        E::WRITE_PROT => "write to read-only memory".into(),
        E::READ_PROT => "read from unreadable memory".into(),
        E::FETCH_PROT => "fetch from non-executable memory".into(),
        E::INSN_INVALID => "invalid instruction".into(),
        E::EXCEPTION => "unhandled CPU exception".into(),
        other => format!("emulator error {other:?}"),
    }
}
