//! A Go program as the checker needs it: the image, its pclntab read with the right text
//! start, the Go version and how it was determined ([`crate::version`]), the function table pre-decoded into [`FuncMeta`] (so the model
//! unwinder's `findfunc` and `funcspdelta` are a binary search and a slice lookup), and the
//! runtime functions the model needs by name (`runtime.goexit`, `runtime.asyncPreempt`).

use std::fmt;

use twixt_gopclntab::{Func, PcRun, Pclntab};
use twixt_image::{Arch, Image};
use twixt_unwind::preempt::{AsyncPreemptFrame, GoVersion};
use twixt_unwind::{FuncInfo, Metadata, Special};

use crate::version::VersionInfo;

/// Why a program cannot be checked at all (as opposed to one function being unanalysed).
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The image has no usable pclntab.
    #[error(transparent)]
    Image(#[from] twixt_image::ImageError),
    /// The pclntab is damaged or of an unsupported version.
    #[error("{path}: .gopclntab: {source}")]
    Pclntab {
        /// The binary.
        path: String,
        /// What the parser found.
        source: twixt_gopclntab::Error,
    },
    /// A binary of an architecture the requested work does not support yet.
    #[error(
        "{path}: {arch} binary: architecture not yet supported for {command} (supported: arm64; \
         amd64 has funcs and disasm)"
    )]
    ArchNotSupported {
        /// The binary.
        path: String,
        /// Its architecture.
        arch: Arch,
        /// What was asked: a command name (`scan`, `explain`, ...) or `analysis`.
        command: &'static str,
    },
    /// A Go 1.26+ pclntab (text start 0) in a binary without `runtime.text` or `.text`.
    #[error(
        "{path}: the pclntab does not record where text starts and the binary has no .text section"
    )]
    NoTextStart {
        /// The binary.
        path: String,
    },
}

/// One function, pre-decoded.
#[derive(Clone, Debug)]
pub struct FuncMeta {
    /// Index in the functab.
    pub index: usize,
    /// What the model unwinder sees.
    pub info: FuncInfo,
    /// End of the functab entry (the next function's entry).
    pub end: u64,
    /// End of the code the pcsp table covers: the function's real instructions; the rest
    /// up to `end` is alignment padding.
    pub code_end: u64,
    /// The pcsp runs (empty if the table is damaged; see `error`).
    pub pcsp: Vec<PcRun>,
    /// `FuncFlagAsm`.
    pub asm: bool,
    /// Whether the function has `FUNCDATA_LocalsPointerMaps`.
    pub has_locals_pointer_maps: bool,
    /// A damaged table, if any: the function is reported unanalysed with this reason.
    pub error: Option<String>,
}

impl FuncMeta {
    /// The pcsp value at `pc`, sign-extended the way the runtime adds it to SP
    /// (`sp + uintptr(int32)`): a negative value wraps.
    pub fn pcsp_at(&self, pc: u64) -> Option<u64> {
        run_at(&self.pcsp, pc).map(|r| i64::from(r.value) as u64)
    }

    /// The largest pcsp value: the frame size the prologue establishes.
    pub fn frame_size(&self) -> u64 {
        self.pcsp
            .iter()
            .map(|r| r.value.max(0) as u64)
            .max()
            .unwrap_or(0)
    }
}

/// The run containing `pc` in a sorted list of runs.
pub fn run_at(runs: &[PcRun], pc: u64) -> Option<&PcRun> {
    let i = runs.partition_point(|r| r.end <= pc);
    runs.get(i).filter(|r| r.start <= pc && pc < r.end)
}

/// The architectures whose emulation, unwinder models and checks exist: everything but
/// listing (`funcs`, `disasm`) needs one of these.
pub const ANALYSED_ARCHES: [Arch; 1] = [Arch::Arm64];

/// Fails with [`ProgramError::ArchNotSupported`] naming `command` unless `image` is of an
/// architecture twixt analyses ([`ANALYSED_ARCHES`]).
pub fn require_analysed_arch(image: &Image, command: &'static str) -> Result<(), ProgramError> {
    if ANALYSED_ARCHES.contains(&image.arch()) {
        Ok(())
    } else {
        Err(ProgramError::ArchNotSupported {
            path: image.path().to_string(),
            arch: image.arch(),
            command,
        })
    }
}

/// How an instruction is encoded, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// An arm64 instruction word (printed as one 8-digit hex number, as objdump does).
    Word(u32),
    /// An amd64 instruction's bytes in memory order (printed as hex pairs).
    Bytes(Vec<u8>),
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encoding::Word(w) => write!(f, "{w:08x}"),
            Encoding::Bytes(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// One instruction as listings show it, whatever the architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its address.
    pub addr: u64,
    /// Its length in bytes (4 on arm64, 1 to 15 on amd64).
    pub len: u64,
    /// Its encoding.
    pub encoding: Encoding,
    /// Its text with the branch target named (see [`GoProgram::instruction_text`]).
    pub text: String,
}

/// A Go binary ready to be checked.
pub struct GoProgram<'a> {
    image: &'a Image,
    table: Pclntab<'a>,
    version: VersionInfo,
    funcs: Vec<FuncMeta>,
    broken: Vec<(usize, String)>,
    gofunc: Option<u64>,
}

impl fmt::Debug for GoProgram<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoProgram")
            .field("binary", &self.image.path())
            .field("arch", &self.image.arch())
            .field("version", &self.version)
            .field("funcs", &self.funcs.len())
            .finish()
    }
}

impl<'a> GoProgram<'a> {
    /// Reads the pclntab of `image` and pre-decodes every function; the Go version comes
    /// from the binary ([`crate::version::determine`]). For analysis: an image of an
    /// architecture not in [`ANALYSED_ARCHES`] is [`ProgramError::ArchNotSupported`].
    pub fn new(image: &'a Image) -> Result<Self, ProgramError> {
        Self::with_version(image, None)
    }

    /// [`GoProgram::new`], with the Go version given by the user (`--go-version`) instead
    /// of read from the binary when `forced` is set.
    pub fn with_version(image: &'a Image, forced: Option<GoVersion>) -> Result<Self, ProgramError> {
        require_analysed_arch(image, "analysis")?;
        Self::load(image, forced)
    }

    /// [`GoProgram::new`] for listings (`funcs`, `disasm`): every architecture an
    /// [`Image`] reads. Only the metadata and [`GoProgram::listed`] may be used on it;
    /// the arm64-only accessor [`GoProgram::word`] answers `None` for another architecture.
    pub fn for_listing(image: &'a Image) -> Result<Self, ProgramError> {
        Self::load(image, None)
    }

    fn load(image: &'a Image, forced: Option<GoVersion>) -> Result<Self, ProgramError> {
        let (_, bytes) = image.gopclntab()?;
        let mut table = Pclntab::parse(bytes).map_err(|source| ProgramError::Pclntab {
            path: image.path().to_string(),
            source,
        })?;
        if table.header_text_start() == 0 {
            // Go 1.26+ writes 0 and relocates at run time: use the symbol or the section.
            let start = image
                .text_start()
                .ok_or_else(|| ProgramError::NoTextStart {
                    path: image.path().to_string(),
                })?;
            table.set_text_start(start);
        }
        let mut funcs = Vec::with_capacity(table.len());
        let mut broken = Vec::new();
        for index in 0..table.len() {
            match table.func(index) {
                Ok(f) => funcs.push(meta_of(&f)),
                Err(e) => broken.push((index, e.to_string())),
            }
        }
        // The functab is sorted by construction; a damaged one may not be, and lookups
        // below rely on the order.
        funcs.sort_by_key(|f| f.info.entry);
        let moduledata = crate::moduledata::find(image, &table);
        let version = crate::version::determine(
            image,
            &table,
            moduledata.as_ref(),
            funcs.iter().map(|f| &*f.info.name),
            forced,
        );
        // `go:func.*` when the symbol is there, else the moduledata's gofunc field.
        let gofunc = image
            .symbol("go:func.*")
            .or_else(|| image.symbol("go.func.*"))
            .or(moduledata.map(|m| m.gofunc));
        Ok(GoProgram {
            image,
            table,
            version,
            funcs,
            broken,
            gofunc,
        })
    }

    /// Functions whose `_func` record could not be read: functab index and reason.
    pub fn broken(&self) -> &[(usize, String)] {
        &self.broken
    }

    /// The image.
    pub fn image(&self) -> &'a Image {
        self.image
    }

    /// The instruction set (the image's).
    pub fn arch(&self) -> Arch {
        self.image.arch()
    }

    /// The pclntab.
    pub fn table(&self) -> &Pclntab<'a> {
        &self.table
    }

    /// The release whose preemption rules apply (see [`VersionInfo::rules`]).
    pub fn version(&self) -> GoVersion {
        self.version.rules
    }

    /// The Go version: what is known, how it was determined, whose rules apply.
    pub fn version_info(&self) -> &VersionInfo {
        &self.version
    }

    /// Every function, in functab order (ascending entry).
    pub fn funcs(&self) -> &[FuncMeta] {
        &self.funcs
    }

    /// The function containing `pc`.
    pub fn func_at(&self, pc: u64) -> Option<&FuncMeta> {
        let i = self
            .funcs
            .partition_point(|f| f.info.entry <= pc)
            .checked_sub(1)?;
        self.funcs.get(i).filter(|f| pc < f.end)
    }

    /// The function with this exact name.
    pub fn func_named(&self, name: &str) -> Option<&FuncMeta> {
        self.funcs.iter().find(|f| &*f.info.name == name)
    }

    /// The raw pclntab record of a function.
    pub fn raw_func(&self, index: usize) -> Option<Func<'a>> {
        self.table.func(index).ok()
    }

    /// Reads `len` bytes of code or data at `addr` from the image.
    pub fn read(&self, addr: u64, len: usize) -> Option<&'a [u8]> {
        self.image.read(addr, len)
    }

    /// The 32-bit arm64 instruction word at `pc` (`None` for another architecture).
    pub fn word(&self, pc: u64) -> Option<u32> {
        if self.arch() != Arch::Arm64 {
            return None;
        }
        let b = self.read(pc, 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The UnsafePoint pcdata runs of a function (empty when it has none).
    pub fn unsafe_point_runs(&self, f: &FuncMeta) -> Vec<PcRun> {
        self.table
            .func(f.index)
            .ok()
            .and_then(|r| {
                r.pcdata_table(twixt_gopclntab::PCDATA_UNSAFE_POINT)
                    .ok()
                    .flatten()
            })
            .unwrap_or_default()
    }

    /// The instruction at `pc` as text (`<unreadable>` outside the file), with its branch
    /// target named (see [`GoProgram::instruction_text`]). Every command's evidence
    /// (disasm, scan, explain, run) is made here, so they all read the same.
    pub fn disassemble(&self, pc: u64) -> String {
        match self.listed(pc) {
            Some(l) => l.text,
            None => "<unreadable>".into(),
        }
    }

    /// The instruction at `pc` decoded by its architecture's crate (`twixt-arm64`,
    /// `twixt-amd64`): the one per-architecture dispatch of the listings. `None` when no
    /// byte at `pc` is in the file.
    pub fn listed(&self, pc: u64) -> Option<Listed> {
        match self.arch() {
            Arch::Arm64 => {
                let insn = twixt_arm64::decode(pc, self.word(pc)?);
                Some(Listed {
                    addr: pc,
                    len: 4,
                    encoding: Encoding::Word(insn.word),
                    text: self.instruction_text(&insn),
                })
            }
            Arch::Amd64 => {
                let bytes = self.read_upto(pc, twixt_amd64::MAX_INSN_LEN)?;
                let insn = twixt_amd64::decode(pc, bytes);
                let text = self.named_target(
                    pc,
                    &insn.text,
                    insn.effects.flow.target(),
                    insn.is_decoded(),
                );
                Some(Listed {
                    addr: pc,
                    len: insn.len() as u64,
                    encoding: Encoding::Bytes(insn.bytes),
                    text,
                })
            }
            // An Image holds only supported architectures.
            _ => None,
        }
    }

    /// Up to `max` bytes at `addr`, fewer where the segment's file bytes end; `None` when
    /// not even one byte is there.
    fn read_upto(&self, addr: u64, max: usize) -> Option<&'a [u8]> {
        let seg = self.image.segment_at(addr)?;
        let left = (seg.vaddr + seg.file_size).checked_sub(addr)?;
        let len = (max as u64).min(left) as usize;
        if len == 0 {
            return None;
        }
        self.read(addr, len)
    }

    /// A decoded instruction's text, objdump style: a direct branch or call keeps its
    /// target address and adds the target's name from the decoded target (never from the
    /// text): `bl 0x97158 <runtime.duffzero+0xf8>`, `bl 0x79a30 <runtime.morestack_noctxt>`
    /// at an entry, and `b.ls 0x88384 <+0xe4>` for a target in the instruction's own
    /// function (the offset the listings print beside every instruction). A target in no
    /// function keeps the bare address.
    pub fn instruction_text(&self, insn: &twixt_arm64::Insn) -> String {
        self.named_target(
            insn.addr,
            &insn.text,
            insn.effects.flow.target(),
            insn.is_decoded(),
        )
    }

    /// `text` of the instruction at `addr` with its direct branch `target` named, the rule
    /// of [`GoProgram::instruction_text`] for every architecture.
    fn named_target(&self, addr: u64, text: &str, target: Option<u64>, decoded: bool) -> String {
        let Some(target) = target else {
            return text.to_string();
        };
        let Some(callee) = self.func_at(target).filter(|_| decoded) else {
            return text.to_string();
        };
        let off = target - callee.info.entry;
        let own = self
            .func_at(addr)
            .is_some_and(|f| f.info.entry == callee.info.entry);
        if own {
            format!("{text} <+{off:#x}>")
        } else if off == 0 {
            format!("{text} <{}>", callee.info.name)
        } else {
            format!("{text} <{}+{off:#x}>", callee.info.name)
        }
    }

    /// `function+offset` for a PC inside a function.
    pub fn symbol(&self, pc: u64) -> Option<String> {
        self.func_at(pc)
            .map(|f| format!("{}+{:#x}", f.info.name, pc - f.info.entry))
    }

    /// `file:line` at `pc`.
    pub fn file_line(&self, f: &FuncMeta, pc: u64) -> Option<(String, u32)> {
        let func = self.table.func(f.index).ok()?;
        let (file, line) = func.file_line(pc).ok()??;
        Some((file.to_string(), line))
    }

    /// Name of the innermost function at `pc`, following the inline tree like the runtime's
    /// `newInlineUnwinder(f, pc).srcFunc(...)`. Falls back to the outer name when the inline
    /// tree cannot be located (e.g. `go:func.*` not found).
    pub fn innermost_name(&self, f: &FuncMeta, pc: u64) -> String {
        self.inlined_name(f, pc)
            .unwrap_or_else(|| f.info.name.to_string())
    }

    fn inlined_name(&self, f: &FuncMeta, pc: u64) -> Option<String> {
        let func = self.table.func(f.index).ok()?;
        let tree_off = func.inline_tree_offset()?;
        let run = func
            .pcdata_at(twixt_gopclntab::PCDATA_INL_TREE_INDEX, pc)
            .ok()??;
        if run.value < 0 {
            return None;
        }
        let base = self.gofunc?.checked_add(u64::from(tree_off))?;
        let size = twixt_gopclntab::inline::entry_size(self.table.format());
        let end = (run.value as u64 + 1).checked_mul(size as u64)?;
        let bytes = self.image.read(base, end as usize)?;
        let call =
            twixt_gopclntab::inline::inlined_call(self.table.format(), bytes, run.value as u32)
                .ok()?;
        self.table.func_name(call.name_off).ok().map(str::to_string)
    }

    /// Where asyncPreempt sits while a preempted goroutine is stopped: the return PC of
    /// its call to `asyncPreempt2` (arm64 `BL`, amd64 `CALL`) and its pcsp there; `None`
    /// when the binary has no such call (or is of another architecture).
    pub fn async_preempt_frame(&self) -> Option<AsyncPreemptFrame> {
        let ap = self.func_named("runtime.asyncPreempt")?;
        let return_pc = match self.arch() {
            Arch::Arm64 => self.arm64_call_return(ap, "runtime.asyncPreempt2")?,
            Arch::Amd64 => self.amd64_call_return(ap, "runtime.asyncPreempt2")?,
            _ => return None,
        };
        Some(AsyncPreemptFrame {
            return_pc,
            frame_size: ap.pcsp_at(return_pc)?,
        })
    }

    /// The return PC of `f`'s first direct `BL` to `callee` (the call may go through an
    /// ABI wrapper of the same name).
    fn arm64_call_return(&self, f: &FuncMeta, callee: &str) -> Option<u64> {
        let mut pc = f.info.entry;
        while pc < f.code_end {
            let word = self.word(pc)?;
            if let twixt_arm64::Flow::Call { target } = twixt_arm64::classify(pc, word).flow
                && self.is_named(target, callee)
            {
                return Some(pc + 4);
            }
            pc += 4;
        }
        None
    }

    /// The return PC of `f`'s first direct `CALL` to `callee` (amd64).
    fn amd64_call_return(&self, f: &FuncMeta, callee: &str) -> Option<u64> {
        let len = usize::try_from(f.code_end.checked_sub(f.info.entry)?).ok()?;
        let bytes = self.read(f.info.entry, len)?;
        twixt_amd64::decode_all(f.info.entry, bytes)
            .iter()
            .find(|insn| {
                matches!(insn.effects.flow, twixt_amd64::Flow::Call { target }
                    if self.is_named(target, callee))
            })
            .map(twixt_amd64::Insn::next_addr)
    }

    fn is_named(&self, pc: u64, name: &str) -> bool {
        self.func_at(pc).is_some_and(|f| &*f.info.name == name)
    }
}

impl Metadata for GoProgram<'_> {
    fn find_func(&self, pc: u64) -> Option<FuncInfo> {
        self.func_at(pc).map(|f| f.info.clone())
    }

    fn sp_delta(&self, func: &FuncInfo, pc: u64) -> Option<u64> {
        let f = self.func_at(func.entry)?;
        f.pcsp_at(pc)
    }
}

fn meta_of(f: &Func<'_>) -> FuncMeta {
    let flags = f.flags();
    let name = f.name().to_string();
    let (pcsp, error) = match f.pcsp_table() {
        Ok(runs) => (runs, None),
        Err(e) => (Vec::new(), Some(format!("pcsp table: {e}"))),
    };
    // Marker symbols (go:textfipsstart, go:textfipsend) have no pc tables and no code.
    let code_end = pcsp.last().map(|r| r.end).unwrap_or(f.entry()).min(f.end());
    FuncMeta {
        index: f.index(),
        info: FuncInfo {
            entry: f.entry(),
            special: Special::from_name(&name),
            name: name.into(),
            top_frame: flags.top_frame,
            sp_write: flags.sp_write,
        },
        end: f.end(),
        code_end,
        pcsp,
        asm: flags.asm,
        has_locals_pointer_maps: f.has_locals_pointer_maps(),
        error,
    }
}
