//! `runtime.firstmoduledata`, found without symbols, and its layout: where `gofunc` (the
//! base of funcdata offsets, for inline trees) is, and what the layout says about the Go
//! release that linked the binary.
//!
//! The moduledata starts with a pointer to the pclntab header and the funcnametab slice
//! (runtime/symtab.go), so it is found by those two words in writable data. Its layout
//! changed in ways that can be checked on the bytes, whatever the symbols say:
//!
//! | release     | gofunc at | what follows gofunc                                     |
//! |-------------|-----------|---------------------------------------------------------|
//! | 1.18-1.19   | +304      | textsectmap (no covctrs/ecovctrs yet)                    |
//! | 1.20-1.25   | +320      | textsectmap                                              |
//! | 1.26        | +320      | epclntab, the end of `.gopclntab` (go:func.* moved in)   |
//! | 1.27+       | +344      | epclntab (typedesclen, itaboffset, itabsize were added)  |

use twixt_gopclntab::{Format, Pclntab};
use twixt_image::Image;

/// The moduledata layouts twixt tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Go 1.18-1.19 (pclntab magic 0xFFFFFFF0).
    Go118,
    /// Go 1.20-1.25.
    Go120,
    /// Go 1.26: `epclntab` right after `gofunc`.
    Go126,
    /// Go 1.27 and later: three type-descriptor fields before `gofunc`.
    Go127,
}

impl Layout {
    /// Offset of `gofunc` in the moduledata.
    pub fn gofunc_offset(self) -> usize {
        match self {
            Layout::Go118 => 304,
            Layout::Go120 | Layout::Go126 => 320,
            Layout::Go127 => 344,
        }
    }

    /// The releases that use this layout, as (first minor, last minor or `None` for "and
    /// later").
    pub fn minors(self) -> (u32, Option<u32>) {
        match self {
            Layout::Go118 => (18, Some(19)),
            Layout::Go120 => (20, Some(25)),
            Layout::Go126 => (26, Some(26)),
            Layout::Go127 => (27, None),
        }
    }
}

/// The moduledata of a binary: where it is and how it is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moduledata {
    /// Address of the moduledata.
    pub addr: u64,
    /// Its layout.
    pub layout: Layout,
    /// `moduledata.gofunc`.
    pub gofunc: u64,
}

/// Finds the moduledata and reads its layout; `None` when no writable data holds the
/// pclntab header pointer followed by the funcnametab pointer.
pub fn find(image: &Image, table: &Pclntab<'_>) -> Option<Moduledata> {
    let (pcln_addr, pcln_bytes) = image.gopclntab().ok()?;
    let pcln_end = pcln_addr.checked_add(pcln_bytes.len() as u64)?;
    let nametab = pcln_addr.checked_add(table.table_ranges()[0].1.start as u64)?;
    for seg in image.segments().iter().filter(|s| s.perms.write) {
        let data = image.segment_bytes(seg);
        let word = |at: usize| -> Option<u64> {
            let b = data.get(at..at.checked_add(8)?)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let mut i = 0usize;
        while i + 16 <= data.len() {
            if word(i) == Some(pcln_addr) && word(i + 8) == Some(nametab) {
                // The word after gofunc tells 1.26 and 1.27 apart from older layouts; the
                // pclntab magic tells 1.18-1.19 from 1.20.
                let layout = if table.format() == Format::Go118 {
                    Layout::Go118
                } else if word(i + 352) == Some(pcln_end) {
                    Layout::Go127
                } else if word(i + 328) == Some(pcln_end) {
                    Layout::Go126
                } else {
                    Layout::Go120
                };
                let gofunc = word(i + layout.gofunc_offset())?;
                return Some(Moduledata {
                    addr: seg.vaddr + i as u64,
                    layout,
                    gofunc,
                });
            }
            i += 8;
        }
    }
    None
}
