//! Inline trees: which functions were inlined at a PC.
//!
//! A function with inlined calls has a FUNCDATA_InlTree slot pointing (from
//! `moduledata.gofunc`) at an array of entries, and a PCDATA_InlTreeIndex table giving,
//! per PC, the index of the innermost inlined call (-1 for none). The entry layout changed
//! with Go 1.20, together with the pclntab magic:
//!
//! - Go 1.18-1.19 (cmd/link `genInlTreeSym`, runtime `inlinedCall`), 20 bytes: parent i16,
//!   funcID u8, pad u8, file i32, line i32, nameOff i32, parentPc i32.
//! - Go 1.20+, 16 bytes: funcID u8, 3 pad bytes, nameOff i32, parentPc i32, startLine i32.
//!   The parent is implicit: the entry at `parentPc` in the same PCDATA table.
//!
//! Names are funcnametab offsets; resolve them with [`crate::Pclntab::func_name`].

use crate::error::Error;
use crate::region::{Region, le_u32};
use crate::table::Format;

/// One inline tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InlinedCall {
    /// funcID of the inlined function.
    pub func_id: u8,
    /// funcnametab offset of the inlined function's name.
    pub name_off: i32,
    /// Offset from the outer function's entry of an instruction whose position is the
    /// call site; its InlTreeIndex value is this call's parent.
    pub parent_pc: i32,
    /// Line of the inlined function's `func` keyword (Go 1.20+ only).
    pub start_line: Option<i32>,
    /// Index of the parent entry, negative for none (Go 1.18-1.19 only).
    pub parent: Option<i16>,
    /// File number (in the outer function's compilation unit) of the call site (Go
    /// 1.18-1.19 only).
    pub file: Option<i32>,
    /// Line of the call site (Go 1.18-1.19 only).
    pub line: Option<i32>,
}

/// Size in bytes of one inline tree entry.
pub fn entry_size(format: Format) -> usize {
    match format {
        Format::Go118 => 20,
        Format::Go120 => 16,
    }
}

/// Entry `index` of the inline tree whose bytes start at `tree[0]`. The tree's length is
/// not recorded anywhere, so `tree` may run past it; an index beyond `tree` is an
/// [`Error::OutOfBounds`] with offsets relative to the tree start.
pub fn inlined_call(format: Format, tree: &[u8], index: u32) -> Result<InlinedCall, Error> {
    let size = entry_size(format) as u64;
    let region = Region::new(tree, 0, "inline tree");
    let e = region.slice("inline tree entry", u64::from(index) * size, size)?;
    let word = |i: usize| le_u32(e.get(i..).unwrap_or(&[])) as i32;
    let byte = |i: usize| e.get(i).copied().unwrap_or(0);
    Ok(match format {
        Format::Go118 => InlinedCall {
            func_id: byte(2),
            name_off: word(12),
            parent_pc: word(16),
            start_line: None,
            parent: Some(i16::from_le_bytes([byte(0), byte(1)])),
            file: Some(word(4)),
            line: Some(word(8)),
        },
        Format::Go120 => InlinedCall {
            func_id: byte(0),
            name_off: word(4),
            parent_pc: word(8),
            start_line: Some(word(12)),
            parent: None,
            file: None,
            line: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go120_entries() {
        // Two entries: {funcID 0, nameOff 0x10, parentPc 8, startLine 42} and
        // {funcID 3, nameOff 0x20, parentPc 0x1c, startLine 7}.
        let mut tree = Vec::new();
        for (id, name, ppc, line) in [(0u8, 0x10i32, 8i32, 42i32), (3, 0x20, 0x1c, 7)] {
            tree.extend([id, 0xaa, 0xbb, 0xcc]); // pad bytes are ignored
            tree.extend(name.to_le_bytes());
            tree.extend(ppc.to_le_bytes());
            tree.extend(line.to_le_bytes());
        }
        assert_eq!(
            inlined_call(Format::Go120, &tree, 1).unwrap(),
            InlinedCall {
                func_id: 3,
                name_off: 0x20,
                parent_pc: 0x1c,
                start_line: Some(7),
                parent: None,
                file: None,
                line: None,
            }
        );
        assert_eq!(
            inlined_call(Format::Go120, &tree, 0).unwrap().start_line,
            Some(42)
        );
        assert!(matches!(
            inlined_call(Format::Go120, &tree, 2),
            Err(Error::OutOfBounds {
                offset: 32,
                len: 16,
                ..
            })
        ));
        assert!(inlined_call(Format::Go120, &tree, u32::MAX).is_err());
    }

    #[test]
    fn go118_entries() {
        // {parent -1, funcID 5, file 2, line 99, nameOff 0x40, parentPc 12}.
        let mut tree = Vec::new();
        tree.extend((-1i16).to_le_bytes());
        tree.extend([5, 0]);
        for w in [2i32, 99, 0x40, 12] {
            tree.extend(w.to_le_bytes());
        }
        assert_eq!(
            inlined_call(Format::Go118, &tree, 0).unwrap(),
            InlinedCall {
                func_id: 5,
                name_off: 0x40,
                parent_pc: 12,
                start_line: None,
                parent: Some(-1),
                file: Some(2),
                line: Some(99),
            }
        );
        assert!(inlined_call(Format::Go118, &tree[..19], 0).is_err());
    }
}
