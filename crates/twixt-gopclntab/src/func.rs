//! One function's metadata: the `_func` record and the pc-value tables it points to.
//!
//! The record (runtime/runtime2.go `_func`) is, all little-endian: entryOff u32, nameOff
//! i32, args i32, deferreturn u32, pcsp u32, pcfile u32, pcln u32, npcdata u32, cuOffset
//! u32, then startLine i32 in Go 1.20+ only, then funcID u8, flag u8, a pad byte and
//! nfuncdata u8. Then `npcdata` u32 pctab offsets (0 = no table) and `nfuncdata` u32
//! offsets from `moduledata.gofunc` (0xFFFFFFFF = none).

use crate::error::{Error, PcTable};
use crate::pcvalue::{self, Decoder, PcRun};
use crate::region::{Region, le_u32};
use crate::table::{Format, Pclntab};
use crate::{FUNCDATA_INL_TREE, FUNCDATA_LOCALS_POINTER_MAPS, PCDATA_UNSAFE_POINT};

/// The tables a function's accessors read, copied out of the [`Pclntab`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables<'a> {
    pub(crate) funcnametab: Region<'a>,
    pub(crate) cutab: Region<'a>,
    pub(crate) filetab: Region<'a>,
    pub(crate) pctab: Region<'a>,
    pub(crate) min_lc: u8,
}

impl<'a> Tables<'a> {
    pub(crate) fn func_name(&self, name_off: i32) -> Result<&'a str, Error> {
        self.funcnametab.cstr("function name", i64::from(name_off))
    }
}

/// The `_func.flag` bits (internal/abi `FuncFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct FuncFlags {
    /// Bit 1: the unwinder stops here (goexit, mstart, rt0_go, ...).
    pub top_frame: bool,
    /// Bit 2: the function writes SP other than by constant adjustments (assembly only);
    /// a strict unwind through it (as a non-innermost frame) throws.
    pub sp_write: bool,
    /// Bit 4: the function is written in assembly.
    pub asm: bool,
}

impl FuncFlags {
    /// Bit for [`FuncFlags::top_frame`].
    pub const TOP_FRAME: u8 = 1;
    /// Bit for [`FuncFlags::sp_write`].
    pub const SP_WRITE: u8 = 2;
    /// Bit for [`FuncFlags::asm`].
    pub const ASM: u8 = 4;

    /// Decodes the flag byte (unknown bits are ignored).
    pub fn from_bits(bits: u8) -> Self {
        FuncFlags {
            top_frame: bits & Self::TOP_FRAME != 0,
            sp_write: bits & Self::SP_WRITE != 0,
            asm: bits & Self::ASM != 0,
        }
    }
}

/// One function: its `_func` record, checked, plus access to its tables.
///
/// Borrows the section bytes, not the [`Pclntab`]; its entry and end are fixed when it
/// is read, so set the text start before reading functions.
#[derive(Debug, Clone)]
pub struct Func<'a> {
    index: usize,
    entry: u64,
    end: u64,
    entry_off: u32,
    end_off: u32,
    record_offset: usize,
    name: &'a str,
    name_off: i32,
    args: i32,
    deferreturn: u32,
    pcsp: u32,
    pcfile: u32,
    pcln: u32,
    npcdata: u32,
    cu_offset: u32,
    start_line: Option<i32>,
    func_id: u8,
    flag: u8,
    nfuncdata: u8,
    /// `npcdata` u32 pctab offsets.
    pcdata: &'a [u8],
    /// `nfuncdata` u32 funcdata offsets.
    funcdata: &'a [u8],
    tables: Tables<'a>,
}

/// Reads field `i` (a u32 at byte `4 * i`) of a fixed record slice.
fn field(rec: &[u8], i: usize) -> u32 {
    le_u32(rec.get(i * 4..).unwrap_or(&[]))
}

impl<'a> Func<'a> {
    /// Reads and checks function `index` of `tab`.
    pub(crate) fn read(tab: &Pclntab<'a>, index: usize) -> Result<Self, Error> {
        if index >= tab.len() {
            return Err(Error::FuncIndex {
                index,
                nfunc: tab.len(),
            });
        }
        let no_name = |e: Error| e.in_func(index, None);
        let entry_off = tab.entry_off(index);
        let end_off = tab.entry_off(index + 1);
        let func_off = u64::from(tab.func_off(index));
        let pclntable = tab.pclntable();
        let fixed = tab.format().func_size();
        let rec = pclntable
            .slice("_func record", func_off, fixed as u64)
            .map_err(no_name)?;
        let record_entry = field(rec, 0);
        if record_entry != entry_off {
            return Err(no_name(Error::EntryMismatch {
                functab: entry_off,
                record: record_entry,
            }));
        }
        // Reinterpreting u32 fields as the i32 they are in Go.
        let name_off = field(rec, 1) as i32;
        let tables = tab.tables();
        let name = tables.func_name(name_off).map_err(no_name)?;
        let npcdata = field(rec, 7);
        let start_line = match tab.format() {
            Format::Go118 => None,
            Format::Go120 => Some(field(rec, 9) as i32),
        };
        let tail = rec.get(fixed - 4..).unwrap_or(&[]);
        let byte = |i: usize| tail.get(i).copied().unwrap_or(0);
        let (func_id, flag, nfuncdata) = (byte(0), byte(1), byte(3));
        let var_off = func_off + fixed as u64;
        let pcdata_len = u64::from(npcdata) * 4;
        let pcdata = pclntable
            .slice("_func pcdata offsets", var_off, pcdata_len)
            .map_err(|e| e.in_func(index, Some(name)))?;
        let funcdata = pclntable
            .slice(
                "_func funcdata offsets",
                var_off + pcdata_len,
                u64::from(nfuncdata) * 4,
            )
            .map_err(|e| e.in_func(index, Some(name)))?;
        Ok(Func {
            index,
            entry: tab.text_addr(entry_off),
            end: tab.text_addr(end_off),
            entry_off,
            end_off,
            record_offset: pclntable.start.saturating_add(func_off as usize),
            name,
            name_off,
            args: field(rec, 2) as i32,
            deferreturn: field(rec, 3),
            pcsp: field(rec, 4),
            pcfile: field(rec, 5),
            pcln: field(rec, 6),
            npcdata,
            cu_offset: field(rec, 8),
            start_line,
            func_id,
            flag,
            nfuncdata,
            pcdata,
            funcdata,
            tables,
        })
    }

    /// Wraps an error with this function's index and name.
    fn ctx(&self, e: Error) -> Error {
        e.in_func(self.index, Some(self.name))
    }

    /// Index in the functab.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Entry PC (absolute).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// End PC (exclusive): the next function's entry, or the end of text for the last.
    /// Includes any alignment padding after the code.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Entry offset relative to the text start.
    pub fn entry_off(&self) -> u32 {
        self.entry_off
    }

    /// End offset relative to the text start.
    pub fn end_off(&self) -> u32 {
        self.end_off
    }

    /// Whether `pc` lies in `[entry, end)`.
    pub fn contains(&self, pc: u64) -> bool {
        self.entry <= pc && pc < self.end
    }

    /// Byte offset of the `_func` record in the section.
    pub fn record_offset(&self) -> usize {
        self.record_offset
    }

    /// The function's symbol name, e.g. `main.main` or `runtime.(*unwinder).next`.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Offset of the name in the funcnametab.
    pub fn name_off(&self) -> i32 {
        self.name_off
    }

    /// The decoded flag bits.
    pub fn flags(&self) -> FuncFlags {
        FuncFlags::from_bits(self.flag)
    }

    /// The raw flag byte.
    pub fn flag_bits(&self) -> u8 {
        self.flag
    }

    /// The funcID (internal/abi `FuncID`); its numbering changes between Go releases.
    pub fn func_id(&self) -> u8 {
        self.func_id
    }

    /// Size of the arguments and results in bytes.
    pub fn args(&self) -> i32 {
        self.args
    }

    /// Offset from entry of the deferreturn call, 0 if none.
    pub fn deferreturn(&self) -> u32 {
        self.deferreturn
    }

    /// Line of the `func` keyword / TEXT directive (Go 1.20+); `None` in the Go 1.18 format.
    pub fn start_line(&self) -> Option<i32> {
        self.start_line
    }

    /// The compilation unit's first index in the cutab (in 4-byte entries).
    pub fn cu_offset(&self) -> u32 {
        self.cu_offset
    }

    /// pctab offset of the pcsp table (0 = none).
    pub fn pcsp_offset(&self) -> u32 {
        self.pcsp
    }

    /// pctab offset of the pcfile table (0 = none).
    pub fn pcfile_offset(&self) -> u32 {
        self.pcfile
    }

    /// pctab offset of the pcln table (0 = none).
    pub fn pcln_offset(&self) -> u32 {
        self.pcln
    }

    /// The bytes of a table from its pctab offset to the end of the pctab, or `None` for
    /// offset 0 (Go's "no table").
    fn table_bytes(&self, which: PcTable, off: u32) -> Result<Option<&'a [u8]>, Error> {
        if off == 0 {
            return Ok(None);
        }
        self.tables
            .pctab
            .tail("pc-value table", u64::from(off))
            .map(Some)
            .map_err(|e| self.ctx(e.in_table(which, off)))
    }

    /// Decodes a table, checked against the function's end.
    fn runs(&self, which: PcTable, off: u32) -> Result<Option<Vec<PcRun>>, Error> {
        let Some(bytes) = self.table_bytes(which, off)? else {
            return Ok(None);
        };
        pcvalue::decode_within(bytes, self.entry, self.end, self.tables.min_lc)
            .map(Some)
            .map_err(|e| self.ctx(e.in_table(which, off)))
    }

    /// The run of a table containing `pc`, stopping early like Go's `pcvalue`.
    fn run_at(&self, which: PcTable, off: u32, pc: u64) -> Result<Option<PcRun>, Error> {
        let Some(bytes) = self.table_bytes(which, off)? else {
            return Ok(None);
        };
        pcvalue::run_at(bytes, self.entry, Some(self.end), self.tables.min_lc, pc)
            .map_err(|e| self.ctx(e.in_table(which, off)))
    }

    /// The frame size table (SP delta from the function's entry SP), absolute PCs.
    /// Empty when the function has no table.
    pub fn pcsp_table(&self) -> Result<Vec<PcRun>, Error> {
        Ok(self.runs(PcTable::Pcsp, self.pcsp)?.unwrap_or_default())
    }

    /// The frame size at `pc`; `None` when the table does not cover `pc` (Go's
    /// "invalid runtime symbol table") or is absent.
    pub fn pcsp_at(&self, pc: u64) -> Result<Option<i32>, Error> {
        Ok(self.run_at(PcTable::Pcsp, self.pcsp, pc)?.map(|r| r.value))
    }

    /// The largest frame size anywhere in the function, at least 0 (Go's
    /// `funcMaxSPDelta`); 0 without a table.
    pub fn max_pcsp(&self) -> Result<i32, Error> {
        let Some(bytes) = self.table_bytes(PcTable::Pcsp, self.pcsp)? else {
            return Ok(0);
        };
        let mut max = 0;
        for run in Decoder::new(bytes, self.entry, self.tables.min_lc).with_end(self.end) {
            let run = run.map_err(|e| self.ctx(e.in_table(PcTable::Pcsp, self.pcsp)))?;
            max = max.max(run.value);
        }
        Ok(max)
    }

    /// The file number table (indices into the function's compilation unit).
    pub fn pcfile_table(&self) -> Result<Vec<PcRun>, Error> {
        Ok(self.runs(PcTable::Pcfile, self.pcfile)?.unwrap_or_default())
    }

    /// The line number table.
    pub fn pcln_table(&self) -> Result<Vec<PcRun>, Error> {
        Ok(self.runs(PcTable::Pcln, self.pcln)?.unwrap_or_default())
    }

    /// Number of PCDATA tables.
    pub fn npcdata(&self) -> u32 {
        self.npcdata
    }

    /// The raw pctab offset of PCDATA table `index` (0 = none); `None` if
    /// `index >= npcdata`.
    pub fn pcdata_offset(&self, index: u32) -> Option<u32> {
        let at = usize::try_from(index).ok()?.checked_mul(4)?;
        let b = self.pcdata.get(at..at.checked_add(4)?)?;
        Some(le_u32(b))
    }

    /// PCDATA table `index` decoded; `None` when absent (offset 0 or `index >= npcdata`).
    pub fn pcdata_table(&self, index: u32) -> Result<Option<Vec<PcRun>>, Error> {
        match self.pcdata_offset(index) {
            None => Ok(None),
            Some(off) => self.runs(PcTable::Pcdata(index), off),
        }
    }

    /// The run of PCDATA table `index` containing `pc` (its value and where the run
    /// starts, which restartable unsafe points resume at). `None` when the table is
    /// absent or does not cover `pc`.
    pub fn pcdata_at(&self, index: u32, pc: u64) -> Result<Option<PcRun>, Error> {
        match self.pcdata_offset(index) {
            None => Ok(None),
            Some(off) => self.run_at(PcTable::Pcdata(index), off, pc),
        }
    }

    /// The UnsafePoint value at `pc`: -1 (safe) when the table is absent or does not
    /// cover `pc`, like Go's `pcdatavalue` default.
    pub fn unsafe_point_at(&self, pc: u64) -> Result<i32, Error> {
        Ok(self
            .pcdata_at(PCDATA_UNSAFE_POINT, pc)?
            .map_or(crate::UNSAFE_POINT_SAFE, |r| r.value))
    }

    /// The name of file number `file` of this function's compilation unit (a pcfile
    /// value), via the cutab and filetab.
    pub fn file_name(&self, file: i32) -> Result<&'a str, Error> {
        let missing = || {
            self.ctx(Error::MissingFile {
                file,
                cu_offset: self.cu_offset,
            })
        };
        // cuOffset 0xFFFFFFFF is the linker's "no compilation unit".
        if file < 0 || self.cu_offset == u32::MAX {
            return Err(missing());
        }
        let slot = u64::from(self.cu_offset) + file as u64;
        let file_off = self
            .tables
            .cutab
            .u32_at("cutab entry", slot * 4)
            .map_err(|e| self.ctx(e))?;
        // The linker writes 0xFFFFFFFF for files of the unit that are not in the binary.
        if file_off == u32::MAX {
            return Err(missing());
        }
        self.tables
            .filetab
            .cstr("file name", i64::from(file_off))
            .map_err(|e| self.ctx(e))
    }

    /// Source file and line at `pc`, via pcfile (+cutab, filetab) and pcln. `None` when a
    /// table is absent, does not cover `pc`, or says -1 (Go prints "?" then).
    pub fn file_line(&self, pc: u64) -> Result<Option<(&'a str, u32)>, Error> {
        let Some(file) = self.run_at(PcTable::Pcfile, self.pcfile, pc)? else {
            return Ok(None);
        };
        let Some(line) = self.run_at(PcTable::Pcln, self.pcln, pc)? else {
            return Ok(None);
        };
        if file.value == -1 || line.value == -1 {
            return Ok(None);
        }
        let line = u32::try_from(line.value)
            .map_err(|_| self.ctx(Error::NegativeLine { line: line.value }))?;
        Ok(Some((self.file_name(file.value)?, line)))
    }

    /// Number of FUNCDATA slots.
    pub fn nfuncdata(&self) -> u8 {
        self.nfuncdata
    }

    /// FUNCDATA slot `index`: an offset from `moduledata.gofunc` (the `go:func.*`
    /// symbol). `None` when `index >= nfuncdata` or the slot is 0xFFFFFFFF (nil).
    pub fn funcdata(&self, index: u8) -> Option<u32> {
        let at = usize::from(index) * 4;
        let v = le_u32(self.funcdata.get(at..at + 4)?);
        (v != u32::MAX).then_some(v)
    }

    /// Whether the function has locals pointer maps; without them the runtime never
    /// preempts it asynchronously.
    pub fn has_locals_pointer_maps(&self) -> bool {
        self.funcdata(FUNCDATA_LOCALS_POINTER_MAPS).is_some()
    }

    /// The bytes of FUNCDATA slot `index`, given the bytes that start at
    /// `moduledata.gofunc` (the `go:func.*` symbol) and run to the end of its section.
    /// `None` when the slot is empty or points at or past the end of `gofunc`. The length of the data is
    /// not recorded in the pclntab, so the slice runs to the end of `gofunc`.
    ///
    /// Up to Go 1.25 `go:func.*` lies in `.rodata`; from Go 1.26 it lies inside
    /// `.gopclntab` itself.
    pub fn funcdata_bytes<'g>(&self, index: u8, gofunc: &'g [u8]) -> Option<&'g [u8]> {
        let off = usize::try_from(self.funcdata(index)?).ok()?;
        gofunc.get(off..).filter(|b| !b.is_empty())
    }

    /// Offset of the function's inline tree from `moduledata.gofunc`, if it has one.
    pub fn inline_tree_offset(&self) -> Option<u32> {
        self.funcdata(FUNCDATA_INL_TREE)
    }
}
