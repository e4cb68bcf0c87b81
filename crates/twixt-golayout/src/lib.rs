//! Where the Go runtime keeps a goroutine's preemption state: the offsets of the
//! `runtime.g` fields `twixt confirm --at` reads and writes in a stopped goroutine, as the
//! GC's `suspendG` sets them (`preemptStop`, `preempt`, `stackguard0 = stackPreempt`) and
//! as it checks them (`atomicstatus`, `goid`, `stack`).
//!
//! From the binary's DWARF where it has some (the `runtime.g` structure type in
//! `.debug_info`; the Go linker compresses DWARF with zlib), otherwise from a table per
//! release family ([`table`]), derived from `runtime/runtime2.go` of each release and
//! checked against the DWARF of every corpus binary (`tests/corpus.rs`).
//!
//! A pure function of the binary's bytes and its Go version: no I/O, never panics on input.

use std::borrow::Cow;

use gimli::{EndianSlice, LittleEndian};
use serde::Serialize;
use twixt_image::Image;

/// `stackPreempt` (runtime/stack.go): `uintptrMask & -1314`, the `stackguard0` value that
/// makes the next stack check call `morestack` and then preempt. The same on every 64-bit
/// release.
pub const STACK_PREEMPT: u64 = 0xffff_ffff_ffff_fade;

/// `_Grunning` (runtime/runtime2.go): the goroutine is running on an M.
pub const G_RUNNING: u32 = 2;

/// `_Gscan` (runtime/runtime2.go): the bit a stack scan holds on top of a status.
pub const G_SCAN: u32 = 0x1000;

/// Byte offsets of the `runtime.g` fields twixt uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GLayout {
    /// `stack.lo` (the first field of `g` in every release).
    pub stack_lo: u64,
    /// `stack.hi`.
    pub stack_hi: u64,
    /// `stackguard0`: compared with SP in every prologue; `stackPreempt` there forces the
    /// next call into `morestack`, which preempts.
    pub stackguard0: u64,
    /// `atomicstatus` (a uint32).
    pub atomicstatus: u64,
    /// `goid` (a uint64): the number the runtime prints as `goroutine N`.
    pub goid: u64,
    /// `preempt` (a bool): a preemption is requested.
    pub preempt: u64,
    /// `preemptStop` (a bool): preempt into `_Gpreempted` and stay there until the one
    /// who suspended it (the GC's stack scan) resumes it.
    pub preempt_stop: u64,
    /// Where the offsets come from, in words.
    pub source: String,
}

/// The layout for `image`, built by Go `go_version` (`go1.24.3`): from DWARF, else the
/// table. The error says why neither is available.
pub fn g_layout(image: &Image, go_version: &str) -> Result<GLayout, String> {
    match from_dwarf(image)? {
        Some(l) => Ok(l),
        None => table(go_version).ok_or_else(|| {
            format!(
                "{}: no DWARF (built with -ldflags=-w or -s?) and no table of runtime.g for \
                 {go_version} (tables: go1.19, go1.21 to go1.27): cannot find the goroutine's \
                 preemption fields",
                image.file_name()
            )
        }),
    }
}

/// The layout of a release family, from its `runtime/runtime2.go`:
///
/// - go1.19 to go1.22: `stack` (16), `stackguard0`, `stackguard1`, `_panic`, `_defer`, `m`,
///   `sched` (a 7-word `gobuf`), `syscallsp`, `syscallpc`, `stktopsp`, `param`, then
///   `atomicstatus` at 144, `stackLock`, `goid` at 152, `schedlink`, `waitsince`,
///   `waitreason` (a uint8) at 176, `preempt` 177, `preemptStop` 178;
/// - go1.23 and go1.24 add `syscallbp` after `syscallpc`: every later field moves by 8;
/// - go1.25 to go1.27 keep `syscallbp` but drop `gobuf.ret` (6 words): back to go1.22's
///   offsets.
///
/// go1.20 is not in the table: no go1.20 source or binary is at hand to check it against.
pub fn table(go_version: &str) -> Option<GLayout> {
    let minor = minor_of(go_version)?;
    let (status, goid, preempt) = match minor {
        19 | 21 | 22 | 25..=27 => (144, 152, 177),
        23 | 24 => (152, 160, 185),
        _ => return None,
    };
    Some(GLayout {
        stack_lo: 0,
        stack_hi: 8,
        stackguard0: 16,
        atomicstatus: status,
        goid,
        preempt,
        preempt_stop: preempt + 1,
        source: format!("the go1.{minor} table (runtime/runtime2.go; the binary has no DWARF)"),
    })
}

/// `19` from `go1.19.8`, `devel go1.27-abc`, `go1.24.x`.
fn minor_of(version: &str) -> Option<u32> {
    let at = version.find("go1.")?;
    let digits: String = version[at + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The layout from the binary's DWARF; `Ok(None)` when it has no `.debug_info` or no
/// `runtime.g` in it; an error when the DWARF is there but damaged.
pub fn from_dwarf(image: &Image) -> Result<Option<GLayout>, String> {
    if image.section(".debug_info").is_none() {
        return Ok(None);
    }
    let name = image.file_name().to_string();
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, String> {
        section(image, id.name()).map_err(|e| format!("{name}: {e}"))
    };
    let owned = gimli::DwarfSections::load(load)?;
    let dwarf = owned.borrow(|s| EndianSlice::new(s, LittleEndian));
    let fields = struct_members(&dwarf, "runtime.g")
        .map_err(|e| format!("{name}: damaged DWARF in .debug_info: {e}"))?;
    let Some(fields) = fields else {
        return Ok(None);
    };
    let get = |f: &str| -> Result<u64, String> {
        fields
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, o)| *o)
            .ok_or_else(|| format!("{name}: runtime.g in the DWARF has no field {f}"))
    };
    let stack = get("stack")?;
    Ok(Some(GLayout {
        stack_lo: stack,
        stack_hi: stack + 8,
        stackguard0: get("stackguard0")?,
        atomicstatus: get("atomicstatus")?,
        goid: get("goid")?,
        preempt: get("preempt")?,
        preempt_stop: get("preemptStop")?,
        source: "DWARF (runtime.g in .debug_info)".into(),
    }))
}

/// A section's bytes, decompressed when `SHF_COMPRESSED`; empty when absent.
fn section<'a>(image: &'a Image, name: &str) -> Result<Cow<'a, [u8]>, String> {
    let Some(s) = image.section(name) else {
        return Ok(Cow::Borrowed(&[]));
    };
    let bytes = image.section_data(name).unwrap_or(&[]);
    if !s.compressed {
        return Ok(Cow::Borrowed(bytes));
    }
    // Elf64_Chdr: ch_type u32, ch_reserved u32, ch_size u64, ch_addralign u64.
    let word = |at: usize, n: usize| -> Option<u64> {
        let b = bytes.get(at..at + n)?;
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(b);
        Some(u64::from_le_bytes(w))
    };
    let (Some(kind), Some(size)) = (word(0, 4), word(8, 8)) else {
        return Err(format!(
            "{name}: compressed, but shorter ({} bytes) than its compression header",
            bytes.len()
        ));
    };
    if kind != 1 {
        return Err(format!(
            "{name}: compressed with ch_type {kind}; twixt reads zlib (1), what the Go linker writes"
        ));
    }
    // DWARF of a Go program is a few MiB; refuse a header that claims absurd sizes.
    const LIMIT: u64 = 1 << 30;
    if size > LIMIT {
        return Err(format!(
            "{name}: its compression header claims {size} bytes (over {LIMIT})"
        ));
    }
    let out = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&bytes[24..], size as usize)
        .map_err(|e| format!("{name}: the zlib stream does not inflate: {e:?}"))?;
    if out.len() as u64 != size {
        return Err(format!(
            "{name}: inflates to {} bytes, its header says {size}",
            out.len()
        ));
    }
    Ok(Cow::Owned(out))
}

type Dwarf<'a> = gimli::Dwarf<EndianSlice<'a, LittleEndian>>;

/// The members (name, offset) of the first structure type named `wanted`.
fn struct_members(dwarf: &Dwarf<'_>, wanted: &str) -> gimli::Result<Option<Vec<(String, u64)>>> {
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut tree = unit.entries_tree(None)?;
        let root = tree.root()?;
        if let Some(members) = find_struct(dwarf, &unit, root, wanted, 0)? {
            return Ok(Some(members));
        }
    }
    Ok(None)
}

/// Depth-first search below `node` (types sit at the top of a compile unit in Go's DWARF;
/// the depth limit only guards against a malformed tree).
fn find_struct(
    dwarf: &Dwarf<'_>,
    unit: &gimli::Unit<EndianSlice<'_, LittleEndian>>,
    node: gimli::EntriesTreeNode<'_, '_, '_, EndianSlice<'_, LittleEndian>>,
    wanted: &str,
    depth: usize,
) -> gimli::Result<Option<Vec<(String, u64)>>> {
    let entry = node.entry();
    if entry.tag() == gimli::DW_TAG_structure_type && name_of(dwarf, unit, entry)? == Some(wanted) {
        let mut members = Vec::new();
        let mut children = node.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_member {
                continue;
            }
            let name = name_of(dwarf, unit, e)?;
            let offset = e
                .attr_value(gimli::DW_AT_data_member_location)?
                .and_then(|v| v.udata_value());
            if let (Some(n), Some(o)) = (name, offset) {
                members.push((n.to_string(), o));
            }
        }
        return Ok(Some(members));
    }
    if depth >= 2 {
        return Ok(None);
    }
    let mut children = node.children();
    while let Some(child) = children.next()? {
        if let Some(found) = find_struct(dwarf, unit, child, wanted, depth + 1)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn name_of<'a>(
    dwarf: &Dwarf<'a>,
    unit: &gimli::Unit<EndianSlice<'a, LittleEndian>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, EndianSlice<'a, LittleEndian>>,
) -> gimli::Result<Option<&'a str>> {
    let Some(v) = entry.attr_value(gimli::DW_AT_name)? else {
        return Ok(None);
    };
    let s = dwarf.attr_string(unit, v)?;
    Ok(std::str::from_utf8(s.slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pick_their_family() {
        assert_eq!(minor_of("go1.19.8"), Some(19));
        assert_eq!(minor_of("devel go1.27-abcdef"), Some(27));
        assert_eq!(minor_of("go1.24.x"), Some(24));
        assert_eq!(minor_of("unknown"), None);
        assert_eq!(table("go1.23.4").unwrap().goid, 160);
        assert_eq!(table("go1.25.5").unwrap().preempt_stop, 178);
        assert!(table("go1.20.14").is_none());
        assert!(table("go1.18.10").is_none());
        assert!(table("go1.28.0").is_none());
    }
}
