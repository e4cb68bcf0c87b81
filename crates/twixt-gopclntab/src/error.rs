//! The one error type of this crate.
//!
//! Every way a `.gopclntab` can be malformed is a variant here, and every variant says
//! what was wrong and where: byte offsets are relative to the start of the `.gopclntab`
//! section unless the variant says otherwise (pc-value tables decoded on their own report
//! offsets inside the table). Errors about one function are wrapped in [`Error::InFunc`]
//! and errors inside one pc-value table in [`Error::InTable`], so a message reads from the
//! outside in: "function #12 (main.f): pcsp table at pctab+0x40: byte 3: varint ...".

use std::fmt;

/// Everything that can go wrong while reading a pclntab.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A real pclntab magic, but from a Go release this crate does not read.
    #[error("{found} pclntab (magic {magic:#010x}); twixt supports Go 1.18 to 1.27")]
    UnsupportedVersion {
        /// The magic number as read (little-endian).
        magic: u32,
        /// The Go releases that wrote this magic, e.g. "Go 1.16-1.17".
        found: &'static str,
    },

    /// The first four bytes are no pclntab magic at all.
    #[error(
        "unknown pclntab magic {magic:#010x}: not a Go pclntab (twixt supports Go 1.18 to 1.27)"
    )]
    UnknownMagic {
        /// The first four bytes, read little-endian.
        magic: u32,
    },

    /// A pclntab magic that only matches when read big-endian.
    #[error(
        "big-endian pclntab (magic {magic:#010x} when read big-endian); twixt reads little-endian targets only"
    )]
    BigEndian {
        /// The magic, read big-endian.
        magic: u32,
    },

    /// A header field has a value no Go linker writes.
    #[error("pclntab header field {field} at byte {offset:#x} is {value}: {reason}")]
    BadHeader {
        /// The field's name as in Go's `runtime.pcHeader`.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// The value found.
        value: u64,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// A structure does not fit in the bytes that should hold it.
    #[error(
        "{what} at byte {offset:#x} ({len} bytes) does not fit in the {region} (bytes {region_start:#x}..{region_end:#x})"
    )]
    OutOfBounds {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs (at least).
        len: u64,
        /// The part of the pclntab it must lie in ("pclntab", "funcnametab", "pctab", ...).
        region: &'static str,
        /// Start of that region.
        region_start: u64,
        /// End (exclusive) of that region.
        region_end: u64,
    },

    /// The functab is not sorted by entry offset, so PC lookups would be wrong.
    #[error(
        "functab entry {index} has entry offset {entry_off:#x}, below the previous entry's {prev_entry_off:#x}"
    )]
    FunctabNotSorted {
        /// Index of the out-of-order entry (`nfunc` for the end-of-text entry).
        index: usize,
        /// Its entry offset (relative to the text start).
        entry_off: u32,
        /// The previous entry's offset.
        prev_entry_off: u32,
    },

    /// A function index at or past `nfunc`.
    #[error("function index {index} out of range (the pclntab has {nfunc} functions)")]
    FuncIndex {
        /// The index asked for.
        index: usize,
        /// How many functions there are.
        nfunc: usize,
    },

    /// The `_func` record's own entry offset disagrees with the functab's.
    #[error("_func record says entry offset {record:#x}, the functab says {functab:#x}")]
    EntryMismatch {
        /// Entry offset stored in the functab.
        functab: u32,
        /// Entry offset stored in the `_func` record.
        record: u32,
    },

    /// A NUL-terminated string that is unterminated, not UTF-8, or at a bad offset.
    #[error("{what} at byte {offset:#x}: {problem}")]
    BadString {
        /// Which string ("function name", "file name").
        what: &'static str,
        /// Where it starts (negative offsets are reported as found).
        offset: i64,
        /// What is wrong with it.
        problem: StrProblem,
    },

    /// A file number from a pcfile table with no file behind it.
    #[error("file number {file} of compilation unit at cutab index {cu_offset} has no file name")]
    MissingFile {
        /// The file number (index into the function's compilation unit).
        file: i32,
        /// The function's `cuOffset` (in 4-byte cutab entries).
        cu_offset: u32,
    },

    /// A line number below -1 (-1 means "no line" and is not an error).
    #[error("line number {line} is negative")]
    NegativeLine {
        /// The value found.
        line: i32,
    },

    /// A malformed pc-value table.
    #[error("byte {offset}: {problem}")]
    PcValue {
        /// Offset of the offending pair inside the table.
        offset: usize,
        /// What is wrong.
        problem: PcValueProblem,
    },

    /// A negative offset where Go stores an offset that must be non-negative.
    #[error("{what} is negative ({value})")]
    NegativeOffset {
        /// Which offset.
        what: &'static str,
        /// The value found.
        value: i64,
    },

    /// An error inside one pc-value table of a function.
    #[error("{table} table at pctab+{offset:#x}: {source}")]
    InTable {
        /// Which table.
        table: PcTable,
        /// The table's offset in the pctab, as stored in the `_func` record.
        offset: u32,
        /// What went wrong.
        source: Box<Error>,
    },

    /// An error about one function.
    #[error("function #{index}{}: {source}", name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
    InFunc {
        /// The function's index in the functab.
        index: usize,
        /// Its name, when it could be read (control characters escaped, so that the
        /// message stays one line whatever the funcnametab holds).
        name: Option<String>,
        /// What went wrong.
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps `self` with the function it is about.
    pub(crate) fn in_func(self, index: usize, name: Option<&str>) -> Error {
        Error::InFunc {
            index,
            name: name.map(|n| {
                n.chars()
                    .flat_map(|c| {
                        let escaped: Vec<char> = if c.is_control() {
                            c.escape_debug().collect()
                        } else {
                            vec![c]
                        };
                        escaped
                    })
                    .collect()
            }),
            source: Box::new(self),
        }
    }

    /// Wraps `self` with the pc-value table it is about.
    pub(crate) fn in_table(self, table: PcTable, offset: u32) -> Error {
        Error::InTable {
            table,
            offset,
            source: Box::new(self),
        }
    }

    /// The innermost error, with the function and table context peeled off.
    pub fn root(&self) -> &Error {
        match self {
            Error::InFunc { source, .. } | Error::InTable { source, .. } => source.root(),
            other => other,
        }
    }
}

/// What is wrong with a NUL-terminated string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StrProblem {
    /// The offset is past the end of its table.
    OutOfRange,
    /// No NUL byte before the end of the table.
    Unterminated,
    /// The bytes are not UTF-8 (Go writes names and paths as UTF-8).
    NotUtf8,
}

impl fmt::Display for StrProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StrProblem::OutOfRange => "offset past the end of its table",
            StrProblem::Unterminated => "no terminating NUL before the end of its table",
            StrProblem::NotUtf8 => "not valid UTF-8",
        })
    }
}

/// What is wrong in a pc-value table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PcValueProblem {
    /// The table ends in the middle of a pair or without its terminating zero.
    Truncated,
    /// A varint runs over 5 bytes; Go only encodes 32-bit deltas.
    VarintTooLong,
    /// A 5-byte varint whose value does not fit 32 bits.
    VarintOverflow,
    /// The PC passed the end of the address space.
    PcOverflow,
    /// The table describes PCs past the end of its function.
    PastEnd {
        /// The PC the table reached.
        pc: u64,
        /// The function's end.
        end: u64,
    },
}

impl fmt::Display for PcValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcValueProblem::Truncated => {
                f.write_str("table ends inside a pair or without its terminating zero")
            }
            PcValueProblem::VarintTooLong => f.write_str("varint longer than 5 bytes"),
            PcValueProblem::VarintOverflow => f.write_str("varint does not fit in 32 bits"),
            PcValueProblem::PcOverflow => f.write_str("pc overflows 64 bits"),
            PcValueProblem::PastEnd { pc, end } => write!(
                f,
                "table reaches pc {pc:#x}, past the function's end {end:#x}"
            ),
        }
    }
}

/// Names one of a function's pc-value tables, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcTable {
    /// The frame size table.
    Pcsp,
    /// The file number table.
    Pcfile,
    /// The line number table.
    Pcln,
    /// PCDATA table number n.
    Pcdata(u32),
}

impl fmt::Display for PcTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcTable::Pcsp => f.write_str("pcsp"),
            PcTable::Pcfile => f.write_str("pcfile"),
            PcTable::Pcln => f.write_str("pcln"),
            PcTable::Pcdata(n) => write!(f, "pcdata {n}"),
        }
    }
}
