//! Bounds-checked little-endian reads from one named part of the pclntab.
//!
//! The pclntab is a header followed by five tables that point into each other by offset.
//! Every read goes through a [`Region`] so that a bad offset becomes an
//! [`Error::OutOfBounds`] naming the table and the absolute byte offset, never a panic.

use crate::error::{Error, StrProblem};

/// A named sub-slice of the pclntab, remembering where it starts in the section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Region<'a> {
    /// The region's bytes.
    pub(crate) bytes: &'a [u8],
    /// Offset of `bytes[0]` from the start of the section (for error messages).
    pub(crate) start: usize,
    /// The table's name in Go's `moduledata` ("funcnametab", "pctab", ...).
    pub(crate) name: &'static str,
}

impl<'a> Region<'a> {
    pub(crate) fn new(bytes: &'a [u8], start: usize, name: &'static str) -> Self {
        Region { bytes, start, name }
    }

    /// The error for `len` bytes of `what` at `off` (relative to the region).
    pub(crate) fn oob(&self, what: &'static str, off: u64, len: u64) -> Error {
        let start = self.start as u64;
        Error::OutOfBounds {
            what,
            offset: start.saturating_add(off),
            len,
            region: self.name,
            region_start: start,
            region_end: start.saturating_add(self.bytes.len() as u64),
        }
    }

    /// `len` bytes at `off`.
    pub(crate) fn slice(&self, what: &'static str, off: u64, len: u64) -> Result<&'a [u8], Error> {
        usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| self.bytes.get(o..o.checked_add(l)?))
            .ok_or_else(|| self.oob(what, off, len))
    }

    /// Everything from `off` to the end of the region.
    pub(crate) fn tail(&self, what: &'static str, off: u64) -> Result<&'a [u8], Error> {
        usize::try_from(off)
            .ok()
            .and_then(|o| self.bytes.get(o..))
            .ok_or_else(|| self.oob(what, off, 0))
    }

    /// A little-endian u32 at `off`.
    pub(crate) fn u32_at(&self, what: &'static str, off: u64) -> Result<u32, Error> {
        let b = self.slice(what, off, 4)?;
        Ok(le_u32(b))
    }

    /// The NUL-terminated UTF-8 string at `off` (the NUL excluded).
    pub(crate) fn cstr(&self, what: &'static str, off: i64) -> Result<&'a str, Error> {
        let bad = |problem| Error::BadString {
            what,
            offset: off.saturating_add(self.start as i64),
            problem,
        };
        let tail = usize::try_from(off)
            .ok()
            .and_then(|o| self.bytes.get(o..))
            .ok_or_else(|| bad(StrProblem::OutOfRange))?;
        let nul = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad(StrProblem::Unterminated))?;
        let raw = tail
            .get(..nul)
            .ok_or_else(|| bad(StrProblem::Unterminated))?;
        std::str::from_utf8(raw).map_err(|_| bad(StrProblem::NotUtf8))
    }
}

/// Reads a little-endian u32 from the first four bytes of `b` (zero-padded if shorter;
/// callers always pass exactly four bytes).
pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(a)
}

/// Reads a little-endian unsigned integer of `b.len()` bytes (at most 8).
pub(crate) fn le_uword(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_bounds_and_reports_out_of_bounds_with_absolute_offsets() {
        let data = [1u8, 0, 0, 0, b'h', b'i', 0, 0xff, 0xfe, 0];
        let r = Region::new(&data, 0x100, "test");
        assert_eq!(r.u32_at("x", 0).unwrap(), 1);
        assert_eq!(
            r.u32_at("x", 8).unwrap_err(),
            Error::OutOfBounds {
                what: "x",
                offset: 0x108,
                len: 4,
                region: "test",
                region_start: 0x100,
                region_end: 0x10a,
            }
        );
        // Offsets that overflow usize arithmetic are out of bounds, not a panic.
        assert!(r.slice("x", u64::MAX, 2).is_err());
        assert!(r.slice("x", 2, u64::MAX).is_err());
        assert_eq!(r.cstr("s", 4).unwrap(), "hi");
        assert_eq!(r.cstr("s", 6).unwrap(), "");
        assert!(matches!(
            r.cstr("s", 7),
            Err(Error::BadString {
                problem: StrProblem::NotUtf8,
                offset: 0x107,
                ..
            })
        ));
        assert!(matches!(
            r.cstr("s", 10),
            Err(Error::BadString {
                problem: StrProblem::Unterminated,
                ..
            })
        ));
        assert!(matches!(
            r.cstr("s", 11),
            Err(Error::BadString {
                problem: StrProblem::OutOfRange,
                ..
            })
        ));
        assert!(matches!(
            r.cstr("s", -1),
            Err(Error::BadString {
                problem: StrProblem::OutOfRange,
                ..
            })
        ));
    }
}
