//! The mutation fuzzer of twixt's readers and scan, shared by the `twixt-mutate` binary
//! (run by `scripts/fuzz`) and the bounded run in `crates/twixt/tests/robustness.rs`.
//!
//! Inputs are corpus binaries with structure-aware damage: the offsets of the ELF header,
//! the program and section header tables, the `.gopclntab` header, the functab, the `_func`
//! records, the pc-value tables, the name tables and the code of a few functions are
//! computed from each parsed seed, and each input changes one to three fields or bytes
//! there (bit flips, interesting values, small deltas, copied bytes, truncation). Every
//! input is a pure function of (run seed, iteration), so a failure is reproduced with
//! `--seed S --only N`.
//!
//! Each input goes through the reader it targets: `Pclntab::parse` on the mutated section
//! bytes with every accessor called on the functions the mutation touched (and a few
//! others), and for ELF-level damage, and every `full_every`-th input, the whole front end
//! (`Image::parse`, `GoProgram::new`, the listing's lookups); every `scan_every`-th input
//! is also scanned (a few functions, so it stays fast). Errors must be one line naming the
//! file. Inputs run on worker threads inside `catch_unwind`; one that runs longer than
//! `hang_after` counts as a hang (the thread is abandoned, the others go on).

// Most targets are one range of the file; the type is a list for the ones that are many.
#![allow(clippy::single_range_in_vec_init)]

use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use twixt_check::{GoProgram, ScanOptions};
use twixt_gopclntab::{Func, Pclntab};
use twixt_image::Image;

/// A small deterministic PRNG (splitmix64): no dependency, same sequence everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator for input `iteration` of a run with seed `seed`.
    pub fn for_input(seed: u64, iteration: u64) -> Self {
        let mut r = Rng(seed ^ iteration.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Which structure an input damages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The 64-byte ELF header.
    ElfHeader,
    /// The program header table.
    ProgramHeaders,
    /// The section header table.
    SectionHeaders,
    /// The `.gopclntab` header (magic, pads, minLC, ptrSize, nfunc, nfiles, textStart,
    /// table offsets).
    PclntabHeader,
    /// The functab (entry offset, `_func` offset pairs).
    Functab,
    /// `_func` records with their pcdata and funcdata offsets.
    FuncRecords,
    /// The pc-value tables (pctab).
    PcValueTables,
    /// funcnametab, cutab and filetab.
    NameTables,
    /// The code of the functions that are scanned.
    Code,
    /// Any byte of the file.
    Anywhere,
}

impl Target {
    /// Every target, in the order inputs cycle through them.
    pub const ALL: [Target; 10] = [
        Target::ElfHeader,
        Target::ProgramHeaders,
        Target::SectionHeaders,
        Target::PclntabHeader,
        Target::Functab,
        Target::FuncRecords,
        Target::PcValueTables,
        Target::NameTables,
        Target::Code,
        Target::Anywhere,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::ElfHeader => "elf-header",
            Target::ProgramHeaders => "program-headers",
            Target::SectionHeaders => "section-headers",
            Target::PclntabHeader => "pclntab-header",
            Target::Functab => "functab",
            Target::FuncRecords => "func-records",
            Target::PcValueTables => "pc-value-tables",
            Target::NameTables => "name-tables",
            Target::Code => "code",
            Target::Anywhere => "anywhere",
        }
    }

    /// Whether the damage lies inside `.gopclntab` (so the section alone can be fuzzed).
    pub fn in_pclntab(self) -> bool {
        matches!(
            self,
            Target::PclntabHeader
                | Target::Functab
                | Target::FuncRecords
                | Target::PcValueTables
                | Target::NameTables
        )
    }
}

/// A parsed corpus binary and the file ranges of its structures.
pub struct Seed {
    /// Short name (`go1.23.4/frames`).
    pub name: String,
    /// The file.
    pub bytes: Vec<u8>,
    /// File range of the `.gopclntab` section.
    pub pclntab: Range<usize>,
    /// The text start to give a Go 1.26+ pclntab.
    pub text_start: Option<u64>,
    /// File ranges of each target.
    ranges: BTreeMap<Target, Vec<Range<usize>>>,
    /// (file offset where a function's record or one of its tables starts, functab index),
    /// sorted: which function a byte belongs to.
    owners: Vec<(usize, usize)>,
    /// Number of functions.
    nfunc: usize,
    /// File offset of the functab.
    functab: usize,
    /// Functions that inputs scan.
    pub scan_names: Vec<String>,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seed")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

fn le(bytes: &[u8], at: usize, len: usize) -> u64 {
    let mut v = 0u64;
    for i in (0..len).rev() {
        v = (v << 8) | u64::from(bytes.get(at + i).copied().unwrap_or(0));
    }
    v
}

impl Seed {
    /// Parses a corpus binary; `scan` picks the functions inputs scan.
    pub fn load(corpus: &Path, rel: &str, scan: &dyn Fn(&str) -> bool) -> Result<Seed, String> {
        let path = corpus.join(rel);
        let image = Image::open(&path).map_err(|e| e.to_string())?;
        let section = [".gopclntab", ".data.rel.ro.gopclntab"]
            .iter()
            .find_map(|n| image.section(n).and_then(|s| s.file_range))
            .ok_or_else(|| format!("{rel}: no .gopclntab"))?;
        let sec = section.0 as usize..(section.0 + section.1) as usize;
        let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
        let table = prog.table();
        let bytes = image.bytes().to_vec();
        let mut ranges: BTreeMap<Target, Vec<Range<usize>>> = BTreeMap::new();
        ranges.insert(Target::ElfHeader, vec![0..64]);
        let phoff = le(&bytes, 0x20, 8) as usize;
        let phlen = le(&bytes, 0x36, 2) as usize * le(&bytes, 0x38, 2) as usize;
        ranges.insert(Target::ProgramHeaders, vec![phoff..phoff + phlen]);
        let shoff = le(&bytes, 0x28, 8) as usize;
        let shlen = le(&bytes, 0x3a, 2) as usize * le(&bytes, 0x3c, 2) as usize;
        ranges.insert(Target::SectionHeaders, vec![shoff..shoff + shlen]);
        ranges.insert(Target::PclntabHeader, vec![sec.start..sec.start + 72]);
        let tr = table.table_ranges();
        let at = |r: &Range<usize>| sec.start + r.start..sec.start + r.end;
        let functab = sec.start + tr[4].1.start;
        ranges.insert(
            Target::Functab,
            vec![functab..functab + table.len() * 8 + 4],
        );
        ranges.insert(Target::PcValueTables, vec![at(&tr[3].1)]);
        ranges.insert(
            Target::NameTables,
            vec![at(&tr[0].1), at(&tr[1].1), at(&tr[2].1)],
        );
        let fixed = table.format().func_size();
        let pctab = sec.start + tr[3].1.start;
        let mut records = Vec::new();
        let mut owners = Vec::new();
        for f in table.funcs().flatten() {
            let start = sec.start + f.record_offset();
            let len = fixed + 4 * f.npcdata() as usize + 4 * usize::from(f.nfuncdata());
            records.push(start..start + len);
            owners.push((start, f.index()));
            let mut offs = vec![f.pcsp_offset(), f.pcfile_offset(), f.pcln_offset()];
            offs.extend((0..f.npcdata()).filter_map(|i| f.pcdata_offset(i)));
            for off in offs.into_iter().filter(|&o| o != 0) {
                owners.push((pctab + off as usize, f.index()));
            }
        }
        owners.sort_unstable();
        ranges.insert(Target::FuncRecords, records);
        let mut scan_names = Vec::new();
        let mut code = Vec::new();
        for f in prog.funcs().iter().filter(|f| scan(&f.info.name)) {
            scan_names.push(f.info.name.to_string());
            if let Some(seg) = image.segment_at(f.info.entry) {
                let start = (seg.file_offset + (f.info.entry - seg.vaddr)) as usize;
                code.push(start..start + (f.code_end - f.info.entry) as usize);
            }
        }
        ranges.insert(Target::Code, code);
        ranges.insert(Target::Anywhere, vec![0..bytes.len()]);
        // Drop empty or out-of-file ranges so that every pick is a real byte.
        for list in ranges.values_mut() {
            list.retain(|r| r.start < r.end && r.end <= bytes.len());
        }
        Ok(Seed {
            name: rel.to_string(),
            text_start: image.text_start(),
            bytes,
            pclntab: sec,
            ranges,
            owners,
            nfunc: table.len(),
            functab,
            scan_names,
        })
    }

    /// The functab index of the function whose record or table holds file offset `at`.
    fn owner(&self, at: usize) -> Option<usize> {
        if at >= self.functab && at < self.functab + 8 * self.nfunc {
            return Some((at - self.functab) / 8);
        }
        let i = self.owners.partition_point(|&(o, _)| o <= at);
        i.checked_sub(1).map(|i| self.owners[i].1)
    }
}

/// A mutated input.
pub struct Mutant {
    /// What was damaged.
    pub target: Target,
    /// The bytes handed to the reader: the whole file, or the section alone.
    pub bytes: Vec<u8>,
    /// Whether `bytes` is the `.gopclntab` section alone.
    pub section_only: bool,
    /// File offsets that were changed.
    pub touched: Vec<usize>,
}

const U32S: [u32; 8] = [
    0,
    1,
    4,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xffff_fffc,
    0x0010_0000,
];
const U64S: [u64; 8] = [
    0,
    1,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    0xffff_ffff_ffff_f000,
    1 << 47,
    0x7000_0000_0000,
];

/// Damages `seed` at `target`; `section_only` mutates a copy of `.gopclntab` alone.
pub fn mutate(seed: &Seed, target: Target, section_only: bool, rng: &mut Rng) -> Mutant {
    let base = if section_only {
        seed.pclntab.clone()
    } else {
        0..seed.bytes.len()
    };
    let mut bytes = seed.bytes[base.clone()].to_vec();
    let ranges = seed.ranges.get(&target).cloned().unwrap_or_default();
    let mut touched = Vec::new();
    if ranges.is_empty() {
        return Mutant {
            target,
            bytes,
            section_only,
            touched,
        };
    }
    let file_len = seed.bytes.len() as u64;
    let ops = 1 + rng.below(3);
    for _ in 0..ops {
        let r = ranges[rng.below(ranges.len())].clone();
        let p = r.start + rng.below(r.end - r.start);
        let aligned = |n: usize| r.start + ((p - r.start) & !(n - 1));
        let Some(rel) = p.checked_sub(base.start).filter(|&x| x < bytes.len()) else {
            continue;
        };
        touched.push(p);
        match rng.below(16) {
            0..=2 => bytes[rel] ^= 1 << rng.below(8),
            3 => {
                let random = rng.next_u64() as u8;
                bytes[rel] = rng.pick(&[0, 1, b'\n', 0x7f, 0x80, 0xff, random]);
            }
            4 => {
                let at = aligned(2) - base.start;
                if let Some(b) = bytes.get_mut(at..at + 2) {
                    let old = u16::from_le_bytes([b[0], b[1]]);
                    let v = rng.pick(&[
                        0,
                        1,
                        0xffff,
                        0x8000,
                        old.wrapping_add(1),
                        old.wrapping_sub(1),
                        old.wrapping_mul(2),
                    ]);
                    b.copy_from_slice(&v.to_le_bytes());
                }
            }
            5..=9 => {
                let at = aligned(4) - base.start;
                if let Some(b) = bytes.get_mut(at..at + 4) {
                    let old = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let delta = 1 + rng.below(64) as u32;
                    let v = match rng.below(8) {
                        0 | 1 => rng.pick(&U32S),
                        2 => old.wrapping_add(delta),
                        3 => old.wrapping_sub(delta),
                        4 => old ^ (1 << rng.below(32)),
                        5 => file_len as u32,
                        6 => old.wrapping_mul(2).wrapping_add(rng.below(2) as u32),
                        _ => rng.next_u64() as u32,
                    };
                    b.copy_from_slice(&v.to_le_bytes());
                }
            }
            10..=11 => {
                let at = aligned(8) - base.start;
                if let Some(b) = bytes.get_mut(at..at + 8) {
                    let old = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                    let delta = 1 + rng.below(4096) as u64;
                    let v = match rng.below(6) {
                        0 | 1 => rng.pick(&U64S),
                        2 => old.wrapping_add(delta),
                        3 => old.wrapping_sub(delta),
                        4 => file_len.wrapping_add(delta),
                        _ => rng.next_u64(),
                    };
                    b.copy_from_slice(&v.to_le_bytes());
                }
            }
            12 => {
                // Bytes from elsewhere in the same structure (a neighbour's field).
                let n = 4 + rng.below(13);
                let from = r.start + rng.below(r.end - r.start);
                for k in 0..n {
                    let (src, dst) = (from + k, p + k);
                    if src >= r.end || dst >= r.end {
                        break;
                    }
                    let (Some(s), Some(d)) =
                        (src.checked_sub(base.start), dst.checked_sub(base.start))
                    else {
                        break;
                    };
                    if s < bytes.len() && d < bytes.len() {
                        bytes[d] = bytes[s];
                    }
                }
            }
            13 | 14 => {
                // pc-value varint bytes: a terminator, a continuation, a large delta.
                bytes[rel] = rng.pick(&[0x00, 0x80, 0xff, 0x01, 0x7f, 0x81]);
            }
            _ => {
                if rng.chance(40) {
                    bytes.truncate(rel);
                } else {
                    bytes[rel] = rng.next_u64() as u8;
                }
            }
        }
    }
    Mutant {
        target,
        bytes,
        section_only,
        touched,
    }
}

/// How often inputs take the expensive paths.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of inputs.
    pub iterations: u64,
    /// The run seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// An input running longer than this is a hang.
    pub hang_after: Duration,
    /// Every n-th pclntab-level input also goes through the whole front end (ELF-level
    /// inputs always do).
    pub full_every: u64,
    /// Every n-th input is also scanned (0: never).
    pub scan_every: u64,
    /// Every n-th input calls the accessors on every function, not only on those the
    /// mutation touched and a few others (0: never).
    pub all_funcs_every: u64,
    /// Only this input (to reproduce a failure).
    pub only: Option<u64>,
    /// Where to write the inputs that failed.
    pub save: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            iterations: 1000,
            seed: 0x7717_0001,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            hang_after: Duration::from_secs(10),
            full_every: 1,
            scan_every: 50,
            all_funcs_every: 4,
            only: None,
            save: None,
        }
    }
}

/// The counts of a run.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Inputs run to their end (panicked ones included, hung ones not).
    pub inputs: u64,
    /// Inputs that panicked.
    pub panics: u64,
    /// Inputs that ran longer than the hang limit.
    pub hangs: u64,
    /// Errors that were not one line naming the file.
    pub bad_errors: u64,
    /// Scans run.
    pub scans: u64,
    /// Inputs per target.
    pub by_target: BTreeMap<&'static str, u64>,
    /// Inputs per outcome.
    pub by_outcome: BTreeMap<&'static str, u64>,
    /// One line per failure, with how to reproduce it.
    pub failures: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// What the readers made of one input.
struct Outcome {
    kind: &'static str,
    scanned: bool,
    bad_error: Option<String>,
}

/// The plan of input `iteration`: seed, target, which paths it takes.
fn plan(seeds: &[Seed], config: &Config, iteration: u64) -> (usize, Target, bool, bool, Rng) {
    let mut rng = Rng::for_input(config.seed, iteration);
    let seed = (iteration % seeds.len() as u64) as usize;
    let scan = config.scan_every > 0 && iteration.is_multiple_of(config.scan_every);
    let target = if scan && rng.chance(50) {
        Target::Code
    } else {
        Target::ALL[rng.below(Target::ALL.len())]
    };
    let section_only =
        target.in_pclntab() && !(scan || iteration.is_multiple_of(config.full_every.max(1)));
    (seed, target, section_only, scan, rng)
}

/// Recreates input `iteration` of a run.
pub fn input(seeds: &[Seed], config: &Config, iteration: u64) -> (String, Mutant) {
    let (s, target, section_only, _, mut rng) = plan(seeds, config, iteration);
    (
        seeds[s].name.clone(),
        mutate(&seeds[s], target, section_only, &mut rng),
    )
}

fn check_error(path: &str, message: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    (message.contains('\n') || !(message.starts_with(path) || message.starts_with(name)))
        .then(|| format!("error is not one line naming the file: {message:?}"))
}

/// Runs one input through the readers (and maybe a scan).
fn run_one(seeds: &[Seed], config: &Config, iteration: u64) -> Outcome {
    let (s, target, section_only, scan, mut rng) = plan(seeds, config, iteration);
    let seed = &seeds[s];
    let m = mutate(seed, target, section_only, &mut rng);
    let mut touched: Vec<usize> = m.touched.iter().filter_map(|&p| seed.owner(p)).collect();
    touched.sort_unstable();
    touched.dedup();
    let affected: Vec<usize> =
        if config.all_funcs_every > 0 && iteration.is_multiple_of(config.all_funcs_every) {
            (0..seed.nfunc).collect()
        } else {
            touched.clone()
        };
    if m.section_only {
        return match exercise_table(&m.bytes, seed.text_start, &affected, &mut rng) {
            Ok(()) => outcome("pclntab-read"),
            Err(message) => Outcome {
                bad_error: message
                    .contains('\n')
                    .then(|| format!("pclntab error is not one line: {message:?}")),
                ..outcome("pclntab-error")
            },
        };
    }
    let path = format!("fuzz/{}", seed.name);
    let image = match Image::parse(path.clone(), m.bytes) {
        Ok(image) => image,
        Err(e) => {
            return Outcome {
                bad_error: check_error(&path, &e.to_string()),
                ..outcome("elf-error")
            };
        }
    };
    if let Ok((_, section)) = image.gopclntab() {
        let _ = exercise_table(section, image.text_start(), &affected, &mut rng);
    }
    let prog = match GoProgram::new(&image) {
        Ok(prog) => prog,
        Err(e) => {
            return Outcome {
                bad_error: check_error(&path, &e.to_string()),
                ..outcome("program-error")
            };
        }
    };
    exercise_program(&prog, &touched, &mut rng);
    // Reasons end up on one line of a report: they must be one line.
    let reasons = prog
        .broken()
        .iter()
        .map(|(_, r)| r.as_str())
        .chain(prog.funcs().iter().filter_map(|f| f.error.as_deref()));
    if let Some(r) = reasons.into_iter().find(|r| r.contains('\n')) {
        return Outcome {
            bad_error: Some(format!("a function's damage is not one line: {r:?}")),
            ..outcome("program-read")
        };
    }
    if !scan {
        return outcome("program-read");
    }
    let names = &seed.scan_names;
    let accept = |n: &str| names.iter().any(|m| m == n);
    let options = ScanOptions {
        filter: Some(&accept),
        ..ScanOptions::default()
    };
    match twixt_check::scan(&prog, &options) {
        Ok(report) => {
            let listed = report.stats.len() + report.unanalysed.len();
            let multi_line = report.unanalysed.iter().find(|u| u.reason.contains('\n'));
            let bad_error = if listed == 0 && report.summary.functions > 0 {
                Some("scan report lists no function".to_string())
            } else {
                multi_line.map(|u| format!("unanalysed reason is not one line: {:?}", u.reason))
            };
            Outcome {
                scanned: true,
                bad_error,
                ..outcome("scanned")
            }
        }
        Err(e) => Outcome {
            scanned: true,
            bad_error: check_error(&path, &e.to_string()),
            ..outcome("scan-error")
        },
    }
}

fn outcome(kind: &'static str) -> Outcome {
    Outcome {
        kind,
        scanned: false,
        bad_error: None,
    }
}

/// Calls every accessor of the table and of the functions in `picks` (plus a few at
/// random). Returns the parse error's text if the table does not parse.
pub fn exercise_table(
    bytes: &[u8],
    text_start: Option<u64>,
    picks: &[usize],
    rng: &mut Rng,
) -> Result<(), String> {
    let mut tab = Pclntab::parse(bytes).map_err(|e| e.to_string())?;
    if tab.needs_text_start()
        && let Some(t) = text_start
    {
        tab.set_text_start(t);
    }
    let n = tab.len();
    let _ = (
        tab.data().len(),
        tab.format(),
        tab.header_text_start(),
        tab.text_start(),
        tab.min_lc(),
        tab.ptr_size(),
        tab.is_empty(),
        tab.nfiles(),
        tab.text_end(),
        tab.table_ranges(),
    );
    for _ in 0..4 {
        let pc = tab.text_start().wrapping_add(rng.next_u64() % 0x20_0000);
        let _ = tab.find_func(pc);
        let _ = tab.func_name(rng.next_u64() as i32 % 0x1_0000);
        let _ = tab.file_name_at(rng.next_u64() as u32 % 0x1_0000);
    }
    let _ = tab.find_func(u64::MAX);
    let _ = tab.func(n);
    let _ = tab.func(usize::MAX);
    let mut indices: Vec<usize> = picks.to_vec();
    if n > 0 {
        indices.extend([0, n - 1]);
        indices.extend((0..4).map(|_| rng.below(n)));
    }
    for i in indices {
        if let Ok(f) = tab.func(i) {
            exercise_func(&tab, &f, rng);
        }
    }
    // Raw pc-value decoding from arbitrary points of the pctab.
    let pctab = tab.table_ranges()[3].1.clone();
    for _ in 0..2 {
        if pctab.end > pctab.start {
            let at = pctab.start + rng.below(pctab.end - pctab.start);
            if let Some(b) = bytes.get(at..) {
                let entry = rng.next_u64() % 0x10_0000;
                let _ = twixt_gopclntab::pcvalue::decode(b, entry, tab.min_lc());
                let _ = twixt_gopclntab::pcvalue::decode_within(b, entry, entry + 0x400, 4);
                let _ = twixt_gopclntab::pcvalue::run_at(b, entry, None, 4, entry + 0x40);
            }
        }
    }
    Ok(())
}

/// Calls every accessor of `f`.
pub fn exercise_func(tab: &Pclntab<'_>, f: &Func<'_>, rng: &mut Rng) {
    let _ = (
        f.index(),
        f.entry(),
        f.end(),
        f.entry_off(),
        f.end_off(),
        f.contains(f.entry()),
        f.record_offset(),
        f.name(),
        f.name_off(),
        f.flags(),
        f.flag_bits(),
        f.func_id(),
        f.args(),
        f.deferreturn(),
        f.start_line(),
        f.cu_offset(),
        f.pcsp_offset(),
        f.pcfile_offset(),
        f.pcln_offset(),
    );
    let mid = f.entry().wrapping_add(f.end().wrapping_sub(f.entry()) / 2) & !3;
    let pcs = [
        f.entry(),
        mid,
        f.end().wrapping_sub(4),
        f.end(),
        f.entry().wrapping_sub(4),
        f.entry().wrapping_add(4 * rng.below(64) as u64),
    ];
    let _ = f.pcsp_table();
    let _ = f.max_pcsp();
    let _ = f.pcln_table();
    if let Ok(files) = f.pcfile_table() {
        for run in files.iter().take(4) {
            let _ = f.file_name(run.value);
        }
    }
    let _ = f.file_name(-1);
    let _ = f.file_name(i32::MAX);
    for &pc in &pcs {
        let _ = f.pcsp_at(pc);
        let _ = f.file_line(pc);
        let _ = f.unsafe_point_at(pc);
    }
    let npcdata = f.npcdata().min(6);
    for i in 0..=npcdata {
        let _ = f.pcdata_offset(i);
        let _ = f.pcdata_table(i);
        let _ = f.pcdata_at(i, pcs[1]);
    }
    let _ = f.pcdata_offset(u32::MAX);
    let _ = f.npcdata();
    let gofunc = tab.data();
    let data_start = rng.below(gofunc.len().max(1));
    for i in 0..=f.nfuncdata().min(8) {
        let _ = f.funcdata(i);
        let _ = f.funcdata_bytes(i, gofunc.get(data_start..).unwrap_or(&[]));
    }
    let _ = f.funcdata(u8::MAX);
    let _ = f.has_locals_pointer_maps();
    if let Some(off) = f.inline_tree_offset() {
        let tree = gofunc.get(off as usize..).unwrap_or(&[]);
        for index in [0, 1, rng.next_u64() as u32 % 64, u32::MAX] {
            if let Ok(call) = twixt_gopclntab::inline::inlined_call(tab.format(), tree, index) {
                let _ = tab.func_name(call.name_off);
            }
        }
    }
}

/// The lookups `twixt funcs`/`disasm` and the scan make, on the functions in `picks` and a
/// few others.
fn exercise_program(prog: &GoProgram<'_>, picks: &[usize], rng: &mut Rng) {
    let funcs = prog.funcs();
    let _ = prog.broken().len();
    let _ = prog.async_preempt_frame();
    let _ = prog.version();
    // The program-level lookups walk instructions: a few functions are enough per input.
    let mut chosen: Vec<usize> = funcs
        .iter()
        .enumerate()
        .filter(|(_, f)| picks.binary_search(&f.index).is_ok())
        .map(|(i, _)| i)
        .take(16)
        .collect();
    if !funcs.is_empty() {
        chosen.extend((0..4).map(|_| rng.below(funcs.len())));
    }
    for i in chosen {
        let f = &funcs[i];
        let _ = (
            f.frame_size(),
            prog.unsafe_point_runs(f),
            prog.raw_func(f.index),
        );
        let mut pc = f.info.entry;
        let mut steps = 0;
        while pc < f.code_end && steps < 64 {
            let _ = (
                f.pcsp_at(pc),
                prog.file_line(f, pc),
                prog.innermost_name(f, pc),
                prog.func_at(pc).map(|g| g.index),
            );
            if let Some(w) = prog.word(pc) {
                let _ = twixt_arm64::classify(pc, w);
            }
            pc = pc.saturating_add(4);
            steps += 1;
        }
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `config.iterations` inputs over `seeds` on worker threads.
pub fn run(seeds: Arc<Vec<Seed>>, config: &Config) -> Totals {
    assert!(!seeds.is_empty(), "no seeds");
    let started = Instant::now();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let msg = format!("{info}").replace('\n', " ");
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
        previous(info);
    }));
    let (first, end) = match config.only {
        Some(i) => (i, i + 1),
        None => (0, config.iterations),
    };
    let next = Arc::new(AtomicU64::new(first));
    let totals = Arc::new(Mutex::new(Totals::default()));
    let threads = config.threads.max(1);
    // Per worker: the input it is running and since when (`None` when idle), and whether
    // the worker is done.
    type Slot = Mutex<(Option<(u64, Instant)>, bool)>;
    let slots: Arc<Vec<Slot>> = Arc::new((0..threads).map(|_| Mutex::new((None, false))).collect());
    for w in 0..threads {
        let (seeds, next, totals, slots, config) = (
            seeds.clone(),
            next.clone(),
            totals.clone(),
            slots.clone(),
            config.clone(),
        );
        std::thread::spawn(move || {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= end {
                    break;
                }
                slots[w].lock().unwrap().0 = Some((i, Instant::now()));
                let result = panic::catch_unwind(AssertUnwindSafe(|| run_one(&seeds, &config, i)));
                let mut t = totals.lock().unwrap();
                t.inputs += 1;
                let (seed_name, target) = {
                    let (s, target, ..) = plan(&seeds, &config, i);
                    (seeds[s].name.clone(), target)
                };
                *t.by_target.entry(target.name()).or_default() += 1;
                match result {
                    Ok(o) => {
                        *t.by_outcome.entry(o.kind).or_default() += 1;
                        t.scans += u64::from(o.scanned);
                        if let Some(msg) = o.bad_error {
                            t.bad_errors += 1;
                            t.failures.push(format!(
                                "input #{i} ({seed_name}, {}): {msg}",
                                target.name()
                            ));
                            save(&seeds, &config, i);
                        }
                    }
                    Err(_) => {
                        t.panics += 1;
                        let msg = LAST_PANIC
                            .with(|p| p.borrow_mut().take())
                            .unwrap_or_default();
                        t.failures.push(format!(
                            "input #{i} ({seed_name}, {}): panic: {msg}",
                            target.name()
                        ));
                        save(&seeds, &config, i);
                    }
                }
                drop(t);
                slots[w].lock().unwrap().0 = None;
            }
            slots[w].lock().unwrap().1 = true;
        });
    }
    // Watchdog: the run ends when every worker is done or hung.
    let mut hung = vec![false; threads];
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let mut live = 0;
        for (w, slot) in slots.iter().enumerate() {
            let (running, done) = *slot.lock().unwrap();
            if done || hung[w] {
                continue;
            }
            if let Some((i, since)) = running
                && since.elapsed() > config.hang_after
            {
                hung[w] = true;
                let (s, target, ..) = plan(&seeds, config, i);
                let mut t = totals.lock().unwrap();
                t.hangs += 1;
                t.failures.push(format!(
                    "input #{i} ({}, {}): hang: still running after {:?}",
                    seeds[s].name,
                    target.name(),
                    config.hang_after
                ));
                drop(t);
                save(&seeds, config, i);
                continue;
            }
            live += 1;
        }
        if live == 0 {
            break;
        }
    }
    let mut t = totals.lock().unwrap().clone();
    t.elapsed = started.elapsed();
    t.failures.sort();
    t
}

fn save(seeds: &[Seed], config: &Config, iteration: u64) {
    let Some(dir) = &config.save else { return };
    let (name, m) = input(seeds, config, iteration);
    let ext = if m.section_only { "gopclntab" } else { "elf" };
    let file = dir.join(format!(
        "{}-{iteration}-{}.{ext}",
        name.replace('/', "_"),
        m.target.name()
    ));
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(file, &m.bytes);
}

/// The corpus binaries the fuzzer starts from: one per pclntab format and layout (Go 1.19
/// `_func` without startLine, 1.23 with symbols, 1.26 stripped with no text start in the
/// header, a `hello` program with inlining), and what each input scans.
pub fn default_seeds(corpus: &Path) -> Result<Vec<Seed>, String> {
    let frames = |n: &str| {
        [
            "main.main",
            "main.callee",
            "main.leaf96",
            "main.nonleaf96",
            "main.nonleaf4096",
        ]
        .contains(&n)
    };
    let hello = |n: &str| n.starts_with("main.");
    let mut seeds = Vec::new();
    for (rel, scan) in [
        ("go1.23.4/frames", &frames as &dyn Fn(&str) -> bool),
        ("go1.19.8/frames", &frames),
        ("go1.26.6/frames-stripped", &frames),
        ("go1.25.5/hello", &hello),
    ] {
        seeds.push(Seed::load(corpus, rel, scan)?);
    }
    Ok(seeds)
}

/// One line of counts: `N inputs, P panics, H hangs`.
pub fn counts_line(t: &Totals) -> String {
    format!(
        "{} inputs, {} panics, {} hangs",
        t.inputs, t.panics, t.hangs
    )
}
