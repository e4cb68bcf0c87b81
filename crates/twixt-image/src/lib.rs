//! ELF images of Go binaries: the instruction set ([`Arch`], read once from `e_machine`),
//! segments with permissions, sections, symbols, the `.gopclntab` bytes and the Go version
//! from the build info. arm64 and amd64 images are read; every other machine is an
//! [`ImageError::Unsupported`] naming it and the supported ones.
//!
//! This is the only crate that uses `object`. Everything above it sees plain tables of
//! addresses and bytes, so the analysis never depends on how the file was parsed.
//! Architecture invariant: reading never panics; every malformed input is an
//! [`ImageError`] that names the file, what is wrong and where.

mod arch;
mod buildinfo;

use std::fmt;
use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

pub use arch::Arch;
pub use buildinfo::parse_build_info;

/// What went wrong reading an image. The `Display` text is one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read at all.
    #[error("{path}: cannot read file: {source}")]
    Io {
        /// The file's path as given.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{path}: empty file (0 bytes), not an ELF binary")]
    Empty {
        /// The file's path as given.
        path: String,
    },
    /// The file does not start with the ELF magic.
    #[error(
        "{path}: not an ELF file (first bytes {magic}); twixt reads Linux ELF binaries ({})",
        Arch::SUPPORTED_TEXT
    )]
    NotElf {
        /// The file's path as given.
        path: String,
        /// The first bytes, for the reader to recognise the format.
        magic: String,
    },
    /// An ELF file of a class, byte order or machine twixt does not analyse.
    #[error(
        "{path}: {what}; twixt reads 64-bit little-endian ELF binaries of {}",
        Arch::SUPPORTED_TEXT
    )]
    Unsupported {
        /// The file's path as given.
        path: String,
        /// What the file is instead, e.g. "riscv64 ELF (e_machine 243)".
        what: String,
    },
    /// The ELF structure is damaged or truncated.
    #[error("{path}: damaged ELF: {what}")]
    Malformed {
        /// The file's path as given.
        path: String,
        /// What is damaged and where.
        what: String,
    },
    /// The binary has no Go pclntab: not a Go program (or a C object).
    #[error("{path}: no .gopclntab section: not a Go binary (or its Go metadata was removed)")]
    NoPclntab {
        /// The file's path as given.
        path: String,
    },
}

/// Read, write and execute permissions of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.read { 'r' } else { '-' };
        let w = if self.write { 'w' } else { '-' };
        let x = if self.execute { 'x' } else { '-' };
        write!(f, "{r}{w}{x}")
    }
}

/// A loadable segment (`PT_LOAD`): what the loader maps, and so what the emulator maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Size in memory; bytes past `file_size` are zero (bss).
    pub mem_size: u64,
    /// Offset of the segment's bytes in the file.
    pub file_offset: u64,
    /// Number of bytes present in the file.
    pub file_size: u64,
    /// Permissions from `p_flags`.
    pub perms: Perms,
}

/// A section header: name, address and where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Section name, e.g. `.gopclntab`.
    pub name: String,
    /// Virtual address (0 for sections that are not loaded).
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// File range of the bytes, `None` for sections without file data (`.bss`).
    pub file_range: Option<(u64, u64)>,
    /// Whether the section holds executable code.
    pub is_code: bool,
    /// Whether its file bytes are compressed (`SHF_COMPRESSED`: an `Elf64_Chdr`, then the
    /// compressed stream), as the Go linker writes DWARF since Go 1.11.
    pub compressed: bool,
}

/// A symbol from `.symtab` (absent in binaries linked with `-ldflags=-s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Symbol name.
    pub name: String,
    /// Address.
    pub addr: u64,
    /// Size in bytes (0 when unknown).
    pub size: u64,
    /// Whether the symbol is in a code section.
    pub is_text: bool,
}

/// A loaded ELF image: the file's bytes and the tables read from it.
pub struct Image {
    path: String,
    data: Vec<u8>,
    arch: Arch,
    entry: u64,
    segments: Vec<Segment>,
    sections: Vec<Section>,
    symbols: Vec<Symbol>,
    go_version: Option<String>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("path", &self.path)
            .field("arch", &self.arch)
            .field("bytes", &self.data.len())
            .field("segments", &self.segments.len())
            .field("sections", &self.sections.len())
            .field("symbols", &self.symbols.len())
            .field("go_version", &self.go_version)
            .finish()
    }
}

impl Image {
    /// Reads and parses the file at `path`.
    pub fn open(path: &Path) -> Result<Image, ImageError> {
        let shown = path.display().to_string();
        let data = std::fs::read(path).map_err(|source| ImageError::Io {
            path: shown.clone(),
            source,
        })?;
        Image::parse(shown, data)
    }

    /// Parses `data`; `path` is only used to name the file in errors and reports.
    pub fn parse(path: impl Into<String>, data: Vec<u8>) -> Result<Image, ImageError> {
        let path = path.into();
        check_ident(&path, &data)?;
        let malformed = |what: String| ImageError::Malformed {
            path: path.clone(),
            what,
        };
        let file = ElfFile64::<Endianness>::parse(&*data)
            .map_err(|e| malformed(format!("ELF header or tables: {e}")))?;
        let endian = file.endian();
        let header = file.elf_header();
        let machine = header.e_machine(endian);
        let arch = Arch::from_machine(machine);
        if !arch.is_supported() {
            return Err(ImageError::Unsupported {
                path,
                what: format!("{arch} ELF (e_machine {machine})"),
            });
        }
        let entry = header.e_entry(endian);

        let mut segments = Vec::new();
        for (i, ph) in file.elf_program_headers().iter().enumerate() {
            if ph.p_type(endian) != elf::PT_LOAD {
                continue;
            }
            let flags = ph.p_flags(endian);
            let seg = Segment {
                vaddr: ph.p_vaddr(endian),
                mem_size: ph.p_memsz(endian),
                file_offset: ph.p_offset(endian),
                file_size: ph.p_filesz(endian),
                perms: Perms {
                    read: flags & elf::PF_R != 0,
                    write: flags & elf::PF_W != 0,
                    execute: flags & elf::PF_X != 0,
                },
            };
            let in_file = seg
                .file_offset
                .checked_add(seg.file_size)
                .is_some_and(|end| end <= data.len() as u64);
            if !in_file
                || seg.file_size > seg.mem_size
                || seg.vaddr.checked_add(seg.mem_size).is_none()
            {
                return Err(malformed(format!(
                    "program header {i} (PT_LOAD at {:#x}): file range {:#x}+{:#x} or memory size {:#x} \
                     lies outside the {}-byte file",
                    seg.vaddr,
                    seg.file_offset,
                    seg.file_size,
                    seg.mem_size,
                    data.len()
                )));
            }
            segments.push(seg);
        }
        segments.sort_by_key(|s| s.vaddr);

        let mut sections = Vec::new();
        for s in file.sections() {
            let name = s
                .name()
                .map_err(|e| malformed(format!("section {} name: {e}", s.index().0)))?
                .to_string();
            let file_range = s.file_range();
            if let Some((off, size)) = file_range
                && off
                    .checked_add(size)
                    .is_none_or(|end| end > data.len() as u64)
            {
                return Err(malformed(format!(
                    "section {}: file range {off:#x}+{size:#x} lies outside the {}-byte file (truncated?)",
                    printable_name(&name),
                    data.len()
                )));
            }
            sections.push(Section {
                name,
                addr: s.address(),
                size: s.size(),
                file_range,
                is_code: s.kind() == SectionKind::Text,
                compressed: match s.flags() {
                    object::SectionFlags::Elf { sh_flags } => {
                        sh_flags & u64::from(elf::SHF_COMPRESSED) != 0
                    }
                    _ => false,
                },
            });
        }

        let mut symbols = Vec::new();
        for sym in file.symbols() {
            let Ok(name) = sym.name() else { continue };
            if name.is_empty()
                || sym.kind() == SymbolKind::File
                || sym.kind() == SymbolKind::Section
            {
                continue;
            }
            symbols.push(Symbol {
                name: name.to_string(),
                addr: sym.address(),
                size: sym.size(),
                is_text: sym.kind() == SymbolKind::Text,
            });
        }
        symbols.sort_by(|a, b| (a.addr, &a.name).cmp(&(b.addr, &b.name)));

        let mut image = Image {
            path,
            data,
            arch,
            entry,
            segments,
            sections,
            symbols,
            go_version: None,
        };
        image.go_version = image
            .section_data(".go.buildinfo")
            .and_then(|bytes| parse_build_info(bytes).ok());
        Ok(image)
    }

    /// The path this image was read from, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file name without directories, for reports that must not carry absolute paths.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The instruction set, from the ELF header's `e_machine` (one of [`Arch::SUPPORTED`]).
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The ELF entry point.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// Loadable segments, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Section headers in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Symbols from `.symtab`, sorted by address then name; empty for stripped binaries.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// Whether the binary has no symbol table (`-ldflags=-s`).
    pub fn is_stripped(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The first section with this name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The file bytes of the named section, if it has any.
    pub fn section_data(&self, name: &str) -> Option<&[u8]> {
        let (off, size) = self.section(name)?.file_range?;
        self.data.get(off as usize..(off + size) as usize)
    }

    /// The address of the named symbol.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols.iter().find(|s| s.name == name).map(|s| s.addr)
    }

    /// The Go version the binary says it was built with (`go1.23.4`), from `.go.buildinfo`.
    pub fn go_version(&self) -> Option<&str> {
        self.go_version.as_deref()
    }

    /// The address and bytes of the Go pclntab. Stripped binaries keep the section.
    pub fn gopclntab(&self) -> Result<(u64, &[u8]), ImageError> {
        for name in [".gopclntab", ".data.rel.ro.gopclntab"] {
            if let Some(section) = self.section(name)
                && let Some(bytes) = self.section_data(name)
            {
                return Ok((section.addr, bytes));
            }
        }
        Err(ImageError::NoPclntab {
            path: self.path.clone(),
        })
    }

    /// The start of the text (code) region: `runtime.text` when symbols exist, else the
    /// `.text` section's address (the linker places `runtime.text` first in `.text`).
    pub fn text_start(&self) -> Option<u64> {
        self.symbol("runtime.text")
            .or_else(|| self.section(".text").map(|s| s.addr))
    }

    /// The segment containing `addr`.
    pub fn segment_at(&self, addr: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| addr >= s.vaddr && addr - s.vaddr < s.mem_size)
    }

    /// Bytes at a virtual address as the loader would map them: `None` when the range is
    /// not entirely inside one segment's file-backed part.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let seg = self.segment_at(addr)?;
        let rel = addr - seg.vaddr;
        let end = rel.checked_add(len as u64)?;
        if end > seg.file_size {
            return None;
        }
        let start = seg.file_offset.checked_add(rel)? as usize;
        self.data.get(start..start + len)
    }

    /// The segment contents as mapped in memory (file bytes, then zeros up to `mem_size`).
    pub fn segment_bytes(&self, seg: &Segment) -> &[u8] {
        let start = seg.file_offset as usize;
        self.data
            .get(start..start + seg.file_size as usize)
            .unwrap_or(&[])
    }
}

/// Checks the ELF identification bytes before `object` sees the file, so that the common
/// wrong inputs (empty, text, 32-bit, big-endian) get a precise message.
fn check_ident(path: &str, data: &[u8]) -> Result<(), ImageError> {
    if data.is_empty() {
        return Err(ImageError::Empty { path: path.into() });
    }
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        let shown: String = data
            .iter()
            .take(4)
            .map(|b| {
                if b.is_ascii_graphic() {
                    format!("'{}' ", *b as char)
                } else {
                    format!("{b:#04x} ")
                }
            })
            .collect();
        return Err(ImageError::NotElf {
            path: path.into(),
            magic: shown.trim_end().to_string(),
        });
    }
    let unsupported = |what: &str| ImageError::Unsupported {
        path: path.into(),
        what: what.into(),
    };
    match data.get(EI_CLASS) {
        Some(&elf::ELFCLASS64) => {}
        Some(&elf::ELFCLASS32) => return Err(unsupported("32-bit ELF (ELFCLASS32)")),
        _ => {
            return Err(ImageError::Malformed {
                path: path.into(),
                what: "ELF identification truncated or with an invalid class byte".into(),
            });
        }
    }
    match data.get(EI_DATA) {
        Some(&elf::ELFDATA2LSB) => Ok(()),
        Some(&elf::ELFDATA2MSB) => Err(unsupported("big-endian ELF (ELFDATA2MSB)")),
        _ => Err(ImageError::Malformed {
            path: path.into(),
            what: "ELF identification truncated or with an invalid byte-order byte".into(),
        }),
    }
}

/// A name read from the file, fit for a one-line message: control characters escaped and
/// at most 64 characters (a damaged string table can make a "name" of any bytes).
fn printable_name(name: &str) -> String {
    const MAX: usize = 64;
    let mut shown: String = name
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if name.chars().nth(MAX).is_some() {
        shown.push_str("...");
    }
    shown
}

/// Index of the class byte in `e_ident`.
const EI_CLASS: usize = 4;
/// Index of the byte-order byte in `e_ident`.
const EI_DATA: usize = 5;
