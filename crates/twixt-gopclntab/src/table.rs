//! The pclntab as a whole: header parsing, the functab (PC to function lookup) and the
//! name table.
//!
//! Layout (runtime/symtab.go `pcHeader`, cmd/link/internal/ld/pcln.go): a header of
//! `8 + 8 * ptrSize` bytes, then funcnametab, cutab, filetab, pctab and the pclntable.
//! The pclntable starts with the functab: `nfunc` pairs of u32 `{entryoff, funcoff}` and
//! one more u32, the end of the last function (so `nfunc * 8 + 4` bytes, not `nfunc + 1`
//! pairs); the `_func` records follow, each at `funcoff` from the pclntable start.

use std::fmt;

use crate::error::Error;
use crate::func::{Func, Tables};
use crate::region::{Region, le_u32, le_uword};

/// Magic of Go 1.18-1.19 pclntabs.
pub const MAGIC_GO118: u32 = 0xffff_fff0;
/// Magic of Go 1.20+ pclntabs.
pub const MAGIC_GO120: u32 = 0xffff_fff1;
/// Magic of Go 1.16-1.17 pclntabs (not supported).
pub const MAGIC_GO116: u32 = 0xffff_fffa;
/// Magic of Go 1.2-1.15 pclntabs (not supported).
pub const MAGIC_GO12: u32 = 0xffff_fffb;

/// The on-disk format, from the magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Magic 0xFFFFFFF0 (Go 1.18-1.19): 40-byte `_func`, 20-byte inline tree entries.
    Go118,
    /// Magic 0xFFFFFFF1 (Go 1.20 and later): 44-byte `_func` with `startLine`, 16-byte
    /// inline tree entries.
    Go120,
}

impl Format {
    /// Size of the fixed part of a `_func` record.
    pub fn func_size(self) -> usize {
        match self {
            Format::Go118 => 40,
            Format::Go120 => 44,
        }
    }

    /// The magic number of this format.
    pub fn magic(self) -> u32 {
        match self {
            Format::Go118 => MAGIC_GO118,
            Format::Go120 => MAGIC_GO120,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Go118 => "Go 1.18-1.19",
            Format::Go120 => "Go 1.20+",
        })
    }
}

/// Maps a little-endian magic to a format, or the error that explains why not.
fn format_from_magic(magic: u32) -> Result<Format, Error> {
    match magic {
        MAGIC_GO118 => Ok(Format::Go118),
        MAGIC_GO120 => Ok(Format::Go120),
        MAGIC_GO116 => Err(Error::UnsupportedVersion {
            magic,
            found: "Go 1.16-1.17",
        }),
        MAGIC_GO12 => Err(Error::UnsupportedVersion {
            magic,
            found: "Go 1.2-1.15",
        }),
        _ => {
            // Go chose its magics so that they never match when read with the wrong
            // byte order; use that to give big-endian input a clearer error.
            let be = magic.swap_bytes();
            if matches!(be, MAGIC_GO118 | MAGIC_GO120 | MAGIC_GO116 | MAGIC_GO12) {
                Err(Error::BigEndian { magic: be })
            } else {
                Err(Error::UnknownMagic { magic })
            }
        }
    }
}

/// Names of the eight pointer-sized header words after the first 8 bytes, in order.
const HEADER_WORDS: [&str; 8] = [
    "nfunc",
    "nfiles",
    "textStart",
    "funcnameOffset",
    "cuOffset",
    "filetabOffset",
    "pctabOffset",
    "pclnOffset",
];

/// Checks the header's first 8 bytes past the magic (two zero pads, `minLC`, `ptrSize`)
/// and returns `(minLC, ptrSize)`.
fn check_fixed_header(fixed: &[u8]) -> Result<(u8, u8), Error> {
    let byte = |i: usize| fixed.get(i).copied().unwrap_or(0);
    for (i, field) in [(4, "pad1"), (5, "pad2")] {
        if byte(i) != 0 {
            return Err(Error::BadHeader {
                field,
                offset: i,
                value: u64::from(byte(i)),
                reason: "must be 0",
            });
        }
    }
    let min_lc = byte(6);
    if !matches!(min_lc, 1 | 2 | 4) {
        return Err(Error::BadHeader {
            field: "minLC",
            offset: 6,
            value: u64::from(min_lc),
            reason: "must be 1, 2 or 4",
        });
    }
    let ptr_size = byte(7);
    if !matches!(ptr_size, 4 | 8) {
        return Err(Error::BadHeader {
            field: "ptrSize",
            offset: 7,
            value: u64::from(ptr_size),
            reason: "must be 4 or 8",
        });
    }
    Ok((min_lc, ptr_size))
}

/// The whole header: the first 8 bytes, then the [`HEADER_WORDS`], `ps` bytes each.
struct Header<'a> {
    bytes: &'a [u8],
    ps: usize,
}

impl<'a> Header<'a> {
    /// The header at the start of `whole`, with `ps`-byte words.
    fn read(whole: &Region<'a>, ps: usize) -> Result<Self, Error> {
        let len = 8 + HEADER_WORDS.len() * ps;
        let bytes = whole.slice("pclntab header", 0, len as u64)?;
        Ok(Header { bytes, ps })
    }

    /// The header's length in bytes.
    fn len(&self) -> usize {
        8 + HEADER_WORDS.len() * self.ps
    }

    /// Word `k` of [`HEADER_WORDS`].
    fn word(&self, k: usize) -> u64 {
        let at = 8 + k * self.ps;
        le_uword(self.bytes.get(at..at + self.ps).unwrap_or(&[]))
    }

    /// Where funcnametab, cutab, filetab, pctab and the pclntable start in a section of
    /// `section_len` bytes.
    fn table_starts(&self, section_len: usize) -> Result<[usize; 5], Error> {
        let header_len = self.len();
        // Each table offset must point past the header and inside the section.
        let mut starts = [0usize; 5];
        for (slot, k) in starts.iter_mut().zip(3..8) {
            let value = self.word(k);
            let offset = 8 + k * self.ps;
            let field = HEADER_WORDS.get(k).copied().unwrap_or("?");
            let v = usize::try_from(value).ok().filter(|v| *v <= section_len);
            *slot = match v {
                Some(v) if v >= header_len => v,
                Some(_) => {
                    return Err(Error::BadHeader {
                        field,
                        offset,
                        value,
                        reason: "points into the header",
                    });
                }
                None => {
                    return Err(Error::BadHeader {
                        field,
                        offset,
                        value,
                        reason: "points past the end of the section",
                    });
                }
            };
        }
        Ok(starts)
    }
}

/// Table `i` of `starts` (all but the pclntable), named `name`.
fn table_region<'a>(
    data: &'a [u8],
    starts: &[usize; 5],
    i: usize,
    name: &'static str,
) -> Region<'a> {
    // A table ends where the next one (in address order) starts; the last one ends at
    // the end of the section. Go's linker writes them in this order, but nothing here
    // depends on it.
    let start = starts.get(i).copied().unwrap_or(0);
    let end = starts
        .iter()
        .copied()
        .filter(|&s| s > start)
        .min()
        .unwrap_or(data.len());
    Region::new(data.get(start..end).unwrap_or(&[]), start, name)
}

/// The functab of `nfunc_raw` functions (the header's `nfunc`) at the start of the
/// pclntable, with the function count.
fn read_functab<'a>(pclntable: &Region<'a>, nfunc_raw: u64) -> Result<(usize, &'a [u8]), Error> {
    let nfunc_err = |reason| Error::BadHeader {
        field: "nfunc",
        offset: 8,
        value: nfunc_raw,
        reason,
    };
    let nfunc = usize::try_from(nfunc_raw).map_err(|_| nfunc_err("does not fit in memory"))?;
    let functab_len = nfunc
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or_else(|| nfunc_err("functab size overflows"))?;
    let functab = pclntable.slice("functab", 0, functab_len as u64)?;
    Ok((nfunc, functab))
}

/// Checks that the functab's entry offsets do not decrease (the end offset included), or
/// the binary search in find_func would be meaningless.
fn check_functab_sorted(functab: &[u8], nfunc: usize) -> Result<(), Error> {
    let mut prev = 0u32;
    for index in 0..=nfunc {
        let entry_off = le_u32(functab.get(index * 8..).unwrap_or(&[]));
        if entry_off < prev {
            return Err(Error::FunctabNotSorted {
                index,
                entry_off,
                prev_entry_off: prev,
            });
        }
        prev = entry_off;
    }
    Ok(())
}

/// A parsed `.gopclntab` section, borrowing its bytes.
///
/// Parsing checks the header and the functab; each function's `_func` record and tables
/// are checked when the function is asked for ([`Pclntab::func`]), so one damaged record
/// does not hide the others.
#[derive(Debug, Clone)]
pub struct Pclntab<'a> {
    data: &'a [u8],
    format: Format,
    min_lc: u8,
    ptr_size: u8,
    nfunc: usize,
    nfiles: u64,
    header_text_start: u64,
    text_start: u64,
    funcnametab: Region<'a>,
    cutab: Region<'a>,
    filetab: Region<'a>,
    pctab: Region<'a>,
    pclntable: Region<'a>,
    /// The functab: `nfunc * 8 + 4` bytes at the start of the pclntable.
    functab: &'a [u8],
}

impl<'a> Pclntab<'a> {
    /// Parses the header and checks that the functab lies in bounds and is sorted.
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        let whole = Region::new(data, 0, "pclntab");
        let magic = le_u32(whole.slice("pclntab magic", 0, 4)?);
        let format = format_from_magic(magic)?;
        let (min_lc, ptr_size) = check_fixed_header(whole.slice("pclntab header", 0, 8)?)?;
        let header = Header::read(&whole, usize::from(ptr_size))?;

        let nfunc_raw = header.word(0);
        let nfiles = header.word(1);
        let header_text_start = header.word(2);

        let starts = header.table_starts(data.len())?;
        let funcnametab = table_region(data, &starts, 0, "funcnametab");
        let cutab = table_region(data, &starts, 1, "cutab");
        let filetab = table_region(data, &starts, 2, "filetab");
        let pctab = table_region(data, &starts, 3, "pctab");
        // The pclntable runs to the end of the section: the `_func` records of the last
        // functions follow the functab, whatever the other offsets say.
        let pcln_start = starts.get(4).copied().unwrap_or(0);
        let pclntable = Region::new(
            data.get(pcln_start..).unwrap_or(&[]),
            pcln_start,
            "pclntable",
        );

        let (nfunc, functab) = read_functab(&pclntable, nfunc_raw)?;
        check_functab_sorted(functab, nfunc)?;

        Ok(Pclntab {
            data,
            format,
            min_lc,
            ptr_size,
            nfunc,
            nfiles,
            header_text_start,
            text_start: header_text_start,
            funcnametab,
            cutab,
            filetab,
            pctab,
            pclntable,
            functab,
        })
    }

    /// The section bytes this table was parsed from.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The on-disk format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The header's `textStart` as written. Go 1.26 and later write 0 here; use
    /// [`Pclntab::set_text_start`] with the `runtime.text` symbol's address then.
    pub fn header_text_start(&self) -> u64 {
        self.header_text_start
    }

    /// Whether the header carries no text start (Go 1.26+), so the caller must supply one.
    pub fn needs_text_start(&self) -> bool {
        self.header_text_start == 0
    }

    /// Sets the address function entry offsets are relative to (`runtime.text`).
    pub fn set_text_start(&mut self, text_start: u64) {
        self.text_start = text_start;
    }

    /// [`Pclntab::set_text_start`], by value.
    pub fn with_text_start(mut self, text_start: u64) -> Self {
        self.text_start = text_start;
        self
    }

    /// The address function entry offsets are relative to: the header's value unless
    /// [`Pclntab::set_text_start`] replaced it.
    pub fn text_start(&self) -> u64 {
        self.text_start
    }

    /// The PC quantum (4 on arm64): pc-value table PC deltas are in these units.
    pub fn min_lc(&self) -> u8 {
        self.min_lc
    }

    /// The target's pointer size in bytes (8 on arm64).
    pub fn ptr_size(&self) -> u8 {
        self.ptr_size
    }

    /// Number of functions (`nfunc`).
    pub fn len(&self) -> usize {
        self.nfunc
    }

    /// Whether the table lists no functions.
    pub fn is_empty(&self) -> bool {
        self.nfunc == 0
    }

    /// Number of distinct file names (`nfiles`), as the header says.
    pub fn nfiles(&self) -> u64 {
        self.nfiles
    }

    /// Entry offset (relative to the text start) of functab slot `index`; slot `nfunc`
    /// is the end of the last function. Bounds were checked by `parse`.
    pub(crate) fn entry_off(&self, index: usize) -> u32 {
        let at = index.saturating_mul(8);
        le_u32(self.functab.get(at..).unwrap_or(&[]))
    }

    /// `_func` record offset (relative to the pclntable) of functab slot `index`.
    pub(crate) fn func_off(&self, index: usize) -> u32 {
        let at = index.saturating_mul(8).saturating_add(4);
        le_u32(self.functab.get(at..).unwrap_or(&[]))
    }

    /// The absolute address of a text offset. Wrapping keeps the arithmetic total; any
    /// real text start plus a u32 offset stays far below 2^64.
    pub(crate) fn text_addr(&self, off: u32) -> u64 {
        self.text_start.wrapping_add(u64::from(off))
    }

    /// End of the last function (the start of text if there are none).
    pub fn text_end(&self) -> u64 {
        self.text_addr(self.entry_off(self.nfunc))
    }

    /// The tables a [`Func`] needs, copied so that it does not borrow `self`.
    pub(crate) fn tables(&self) -> Tables<'a> {
        Tables {
            funcnametab: self.funcnametab,
            cutab: self.cutab,
            filetab: self.filetab,
            pctab: self.pctab,
            min_lc: self.min_lc,
        }
    }

    /// The pclntable region (functab and `_func` records).
    pub(crate) fn pclntable(&self) -> Region<'a> {
        self.pclntable
    }

    /// Function number `index`, with its `_func` record checked.
    pub fn func(&self, index: usize) -> Result<Func<'a>, Error> {
        Func::read(self, index)
    }

    /// All functions in address order. A damaged record yields an error for that
    /// function only; iteration continues.
    pub fn funcs(&self) -> impl Iterator<Item = Result<Func<'a>, Error>> + '_ {
        (0..self.nfunc).map(move |i| self.func(i))
    }

    /// Index of the function containing `pc`: the last one whose entry is at or below
    /// `pc`, like Go's `findfunc`. `None` below the first entry or at/after the end of
    /// the last function.
    pub fn find_func(&self, pc: u64) -> Option<usize> {
        let off = u32::try_from(pc.wrapping_sub(self.text_start)).ok()?;
        if self.nfunc == 0 || off < self.entry_off(0) || off >= self.entry_off(self.nfunc) {
            return None;
        }
        // Binary search for the first slot whose entry is above `off`; with zero-size
        // functions sharing an entry this picks the last of them, as Go does.
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry_off(mid) <= off {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// The NUL-terminated name at `name_off` in the funcnametab (function names and
    /// inline tree entries' `nameOff`).
    pub fn func_name(&self, name_off: i32) -> Result<&'a str, Error> {
        self.tables().func_name(name_off)
    }

    /// The file name at byte offset `file_off` in the filetab (a cutab entry's value).
    pub fn file_name_at(&self, file_off: u32) -> Result<&'a str, Error> {
        self.filetab.cstr("file name", i64::from(file_off))
    }

    /// Byte ranges (within the section) of funcnametab, cutab, filetab, pctab and
    /// pclntable, for callers that want to look at the raw tables.
    pub fn table_ranges(&self) -> [(&'static str, std::ops::Range<usize>); 5] {
        let r = |reg: &Region<'_>| {
            (
                reg.name,
                reg.start..reg.start.saturating_add(reg.bytes.len()),
            )
        };
        [
            r(&self.funcnametab),
            r(&self.cutab),
            r(&self.filetab),
            r(&self.pctab),
            r(&self.pclntable),
        ]
    }
}
