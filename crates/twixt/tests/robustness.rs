//! Robustness: hostile inputs never panic, never hang and are never executed natively.
//!
//! - A bounded run of the mutation fuzzer (`twixt-mutate`, the engine `scripts/fuzz`
//!   runs for 100,000 inputs) over the ELF reader, the pclntab reader, `GoProgram` and a
//!   few scans.
//! - Patched corpus binaries: a function that loops forever, one that jumps to unmapped
//!   memory, one that writes its own code, one that makes a system call; the scan
//!   completes in bounded time and names what it could not do.
//! - A binary whose every function is damaged: the run completes and reports each one.
//! - The error catalogue (README "Errors"): each entry not covered by `tests/corpus.rs`
//!   gets one line on stderr naming the file, and exit code 2.

mod common;

use twixt_mutate as engine;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{corpus, patched};
use twixt_check::{GoProgram, ScanOptions, ScanReport};
use twixt_image::Image;

// ---------------------------------------------------------------------------------------
// Bounded fuzzing

#[test]
fn bounded_fuzz_never_panics_or_hangs() {
    let seeds = engine::default_seeds(&corpus()).expect("corpus seeds");
    let config = engine::Config {
        iterations: 2000,
        seed: 0x7e57_0008,
        // Most inputs go to the pclntab reader alone; every 8th through the whole front
        // end, every 100th is also scanned (20 scans); two call the accessors of every
        // function (`scripts/fuzz` does so for every 4th input).
        full_every: 8,
        scan_every: 100,
        all_funcs_every: 1000,
        ..engine::Config::default()
    };
    let totals = engine::run(Arc::new(seeds), &config);
    eprintln!(
        "{} ({} scans, {:.1} s)",
        engine::counts_line(&totals),
        totals.scans,
        totals.elapsed.as_secs_f64()
    );
    assert_eq!(totals.inputs, 2000, "{:?}", totals.failures);
    assert_eq!(totals.panics, 0, "{:#?}", totals.failures);
    assert_eq!(totals.hangs, 0, "{:#?}", totals.failures);
    assert_eq!(totals.bad_errors, 0, "{:#?}", totals.failures);
    assert!(totals.scans >= 10, "{} scans", totals.scans);
    // Every kind of damage was tried.
    for t in engine::Target::ALL {
        assert!(
            totals.by_target.get(t.name()).copied().unwrap_or(0) > 0,
            "no input damaged {}: {:?}",
            t.name(),
            totals.by_target
        );
    }
}

#[test]
fn mutations_are_deterministic_and_hit_their_target() {
    let seeds = engine::default_seeds(&corpus()).expect("corpus seeds");
    let config = engine::Config::default();
    for i in 0..50 {
        let (a_name, a) = engine::input(&seeds, &config, i);
        let (b_name, b) = engine::input(&seeds, &config, i);
        assert_eq!(a_name, b_name);
        assert_eq!(a.bytes, b.bytes, "input {i} is not reproducible");
        assert_eq!(a.touched, b.touched);
    }
}

// ---------------------------------------------------------------------------------------
// Patched binaries: runaway and hostile code

/// `b .`
const B_SELF: u32 = 0x1400_0000;
/// `b .-8`
const B_BACK_8: u32 = 0x17ff_fffe;
/// `movz x1, #0x500, lsl #16` (x1 = 0x5000000, unmapped)
const MOVZ_X1_UNMAPPED: u32 = 0xd2a0_a001;
/// `br x1`
const BR_X1: u32 = 0xd61f_0020;
/// `adr x1, .`
const ADR_X1_HERE: u32 = 0x1000_0001;
/// `str x0, [x1]`
const STR_X0_X1: u32 = 0xf900_0020;
/// `svc #0`
const SVC_0: u32 = 0xd400_0001;
/// `mrs x0, sctlr_el1`
const MRS_X0_SCTLR_EL1: u32 = 0xd538_1000;
/// `ret`
const RET: u32 = 0xd65f_03c0;

/// Scans the functions `accept` takes; asserts the scan ends within a minute.
fn scan_bytes(name: &str, bytes: Vec<u8>, accept: &(dyn Fn(&str) -> bool + Sync)) -> ScanReport {
    let image = Image::parse(name, bytes).unwrap();
    let prog = GoProgram::new(&image).unwrap();
    let started = Instant::now();
    let report = twixt_check::scan(
        &prog,
        &ScanOptions {
            filter: Some(accept),
            ..ScanOptions::default()
        },
    )
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{name}: scan took {:?}",
        started.elapsed()
    );
    report
}

fn only_callee(n: &str) -> bool {
    n == "main.callee"
}

/// The reason `function` is unanalysed, if it is.
fn unanalysed<'r>(report: &'r ScanReport, function: &str) -> Option<&'r str> {
    report
        .unanalysed
        .iter()
        .find(|u| u.function == function)
        .map(|u| u.reason.as_str())
}

fn boundaries(report: &ScanReport, function: &str) -> usize {
    report
        .stats
        .iter()
        .find(|s| s.name == function)
        .map_or(0, |s| s.boundaries)
}

#[test]
fn a_function_that_loops_forever_is_scanned_in_bounded_time() {
    // `b .` at the entry: the branch ends its region, so it is observed, never run.
    let bytes = patched("go1.23.4/frames", "main.callee", &[B_SELF]);
    let report = scan_bytes("loop-self", bytes, &only_callee);
    assert_eq!(report.summary.functions, 1);
    assert_eq!(unanalysed(&report, "main.callee"), None, "{report:#?}");
    assert!(
        boundaries(&report, "main.callee") >= 1,
        "{:?}",
        report.stats
    );

    // A three-instruction loop: add, add, b back to the entry.
    let bytes = patched(
        "go1.23.4/frames",
        "main.callee",
        &[0x8b00_0401, 0x9100_0420, B_BACK_8],
    );
    let report = scan_bytes("loop-3", bytes, &only_callee);
    assert_eq!(unanalysed(&report, "main.callee"), None, "{report:#?}");
    // Every boundary once (the fourth word is alignment padding the pcsp table covers).
    assert_eq!(boundaries(&report, "main.callee"), 4, "{:?}", report.stats);
}

#[test]
fn the_cli_finishes_on_a_function_that_loops_forever() {
    let bytes = patched("go1.23.4/frames", "main.callee", &[B_SELF]);
    let file = temp_file("loop-cli", &bytes);
    let out = twixt_with_timeout(
        &[
            "scan",
            file.to_str().unwrap(),
            "--filter",
            "^main\\.callee$",
        ],
        Duration::from_secs(120),
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("summary: 1 functions"));
}

#[test]
fn a_function_that_jumps_to_unmapped_memory() {
    // The indirect branch ends the region: it is observed and checked, never taken.
    let bytes = patched(
        "go1.23.4/frames",
        "main.callee",
        &[MOVZ_X1_UNMAPPED, BR_X1, RET],
    );
    let report = scan_bytes("jump-unmapped", bytes, &only_callee);
    assert_eq!(report.summary.functions, 1);
    assert_eq!(unanalysed(&report, "main.callee"), None, "{report:#?}");
    assert!(
        boundaries(&report, "main.callee") >= 2,
        "{:?}",
        report.stats
    );
    // The harness's own tests (twixt-emu) run such a jump: "fetch from unmapped memory".
}

#[test]
fn a_function_that_writes_its_own_code() {
    let bytes = patched(
        "go1.23.4/frames",
        "main.callee",
        &[ADR_X1_HERE, STR_X0_X1, RET],
    );
    let report = scan_bytes("self-write", bytes, &only_callee);
    let reason = unanalysed(&report, "main.callee").expect("the self-write is reported");
    assert!(reason.contains("read-only"), "{reason}");
    assert!(reason.contains("0x878b4"), "names the store's pc: {reason}");
}

#[test]
fn system_calls_and_undefined_instructions_are_observed_never_run() {
    // `svc`, `mrs` and undefined words end their straight-line run: their boundary is checked,
    // the instruction itself never executes (the harness's own tests run one: the region
    // ends with "system instruction or exception").
    for (name, word) in [("svc", SVC_0), ("mrs", MRS_X0_SCTLR_EL1), ("udf", 0)] {
        let bytes = patched("go1.23.4/frames", "main.callee", &[word, 0x9100_0420, RET]);
        let report = scan_bytes(name, bytes, &only_callee);
        assert_eq!(
            unanalysed(&report, "main.callee"),
            None,
            "{name}: {report:#?}"
        );
        assert_eq!(
            boundaries(&report, "main.callee"),
            4,
            "{name}: {:?}",
            report.stats
        );
    }
}

// ---------------------------------------------------------------------------------------
// Every function damaged

/// `(file offset of each _func record, func size)` of a corpus binary.
fn func_records(path: &str) -> (Vec<usize>, usize) {
    let image = common::image(path);
    let section = image.section(".gopclntab").unwrap();
    let base = section.file_range.unwrap().0 as usize;
    let prog = GoProgram::new(&image).unwrap();
    let table = prog.table();
    let records = table
        .funcs()
        .map(|f| base + f.unwrap().record_offset())
        .collect();
    (records, table.format().func_size())
}

#[test]
fn every_function_with_a_damaged_pcsp_table_is_reported() {
    let path = "go1.23.4/frames";
    let (records, _) = func_records(path);
    let mut bytes = std::fs::read(corpus().join(path)).unwrap();
    for &r in &records {
        // _func.pcsp (field 4) points far past the pctab.
        bytes[r + 16..r + 20].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    }
    let report = scan_bytes("all-pcsp-damaged", bytes.clone(), &|_| true);
    assert_eq!(report.summary.functions, records.len());
    assert_eq!(report.unanalysed.len(), records.len());
    assert_eq!(report.summary.boundaries, 0);
    assert!(report.findings.is_empty());
    for u in &report.unanalysed {
        assert!(
            u.reason.contains("pcsp") && u.reason.contains("damaged metadata"),
            "{}: {}",
            u.function,
            u.reason
        );
    }
    assert!(
        report
            .unanalysed
            .iter()
            .any(|u| u.function == "main.nonleaf70000")
    );

    // The CLI completes too, and lists each one.
    let file = temp_file("all-pcsp-damaged", &bytes);
    let out = twixt_with_timeout(&["scan", file.to_str().unwrap()], Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} unanalysed", records.len())),
        "{}",
        text.lines().last().unwrap_or("")
    );
}

#[test]
fn every_function_with_an_unreadable_record_is_reported() {
    let path = "go1.23.4/hello";
    let (records, _) = func_records(path);
    let mut bytes = std::fs::read(corpus().join(path)).unwrap();
    for &r in &records {
        // _func.nameOff (field 1) points past the funcnametab.
        bytes[r + 4..r + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    }
    let report = scan_bytes("all-names-damaged", bytes.clone(), &|_| true);
    assert_eq!(report.summary.functions, records.len());
    assert_eq!(report.unanalysed.len(), records.len());
    for (i, u) in report.unanalysed.iter().enumerate() {
        assert!(u.function.starts_with("<function #"), "{}", u.function);
        assert!(u.reason.contains("function name"), "{i}: {}", u.reason);
    }

    // `twixt funcs` lists each one as unreadable, and succeeds.
    let file = temp_file("all-names-damaged", &bytes);
    let out = twixt(&["funcs", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains("unreadable")).count(),
        records.len()
    );
}

// ---------------------------------------------------------------------------------------
// The error catalogue (entries not covered by tests/corpus.rs)

fn twixt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run twixt")
}

/// Runs twixt, killing it (and failing) if it runs longer than `limit`.
fn twixt_with_timeout(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run twixt");
    let started = Instant::now();
    // Drain the pipes on threads so a large report cannot block the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).ok();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).ok();
        v
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Output {
                status,
                stdout: out.join().unwrap(),
                stderr: err.join().unwrap(),
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("twixt {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("twixt-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    file
}

/// Asserts exit code 2 and exactly one line on stderr containing `needles` and `name`.
fn assert_error(out: &Output, name: &str, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: expected one line, got {stderr}");
    for needle in needles.iter().chain([&name]) {
        assert!(
            lines[0].contains(needle),
            "{name}: {:?} does not mention {needle:?}",
            lines[0]
        );
    }
}

fn funcs_error(name: &str, bytes: &[u8], needles: &[&str]) {
    let file = temp_file(name, bytes);
    assert_error(&twixt(&["funcs", file.to_str().unwrap()]), name, needles);
}

fn corpus_bytes(path: &str) -> Vec<u8> {
    std::fs::read(corpus().join(path)).unwrap()
}

#[test]
fn catalogue_missing_file() {
    let dir = std::env::temp_dir().join(format!("twixt-robust-{}", std::process::id()));
    let missing = dir.join("no-such-binary");
    let out = twixt(&["funcs", missing.to_str().unwrap()]);
    assert_error(&out, "no-such-binary", &["cannot read file"]);
}

#[test]
fn catalogue_32_bit_and_big_endian_elf() {
    let mut h = corpus_bytes("go1.23.4/frames")[..64].to_vec();
    h[4] = 1; // ELFCLASS32
    funcs_error("elf32", &h, &["32-bit ELF"]);
    let mut h = corpus_bytes("go1.23.4/frames")[..64].to_vec();
    h[5] = 2; // ELFDATA2MSB
    funcs_error("big-endian", &h, &["big-endian"]);
}

#[test]
fn catalogue_truncated_elf_identification() {
    funcs_error(
        "ident",
        b"\x7fELF",
        &["damaged ELF", "identification truncated"],
    );
}

/// File offsets of the PT_LOAD program headers of an ELF64 little-endian file.
fn pt_load_headers(bytes: &[u8]) -> Vec<usize> {
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes([bytes[0x36], bytes[0x37]]) as usize;
    let phnum = u16::from_le_bytes([bytes[0x38], bytes[0x39]]) as usize;
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&p| u32::from_le_bytes(bytes[p..p + 4].try_into().unwrap()) == 1)
        .collect()
}

#[test]
fn catalogue_damaged_program_header() {
    let mut bytes = corpus_bytes("go1.23.4/frames");
    // The first PT_LOAD claims more file bytes than there are.
    let load = *pt_load_headers(&bytes).first().unwrap();
    let huge = bytes.len() as u64 * 4;
    bytes[load + 32..load + 40].copy_from_slice(&huge.to_le_bytes()); // p_filesz
    bytes[load + 40..load + 48].copy_from_slice(&huge.to_le_bytes()); // p_memsz
    funcs_error(
        "bad-phdr",
        &bytes,
        &["damaged ELF", "program header", "PT_LOAD"],
    );
}

#[test]
fn catalogue_damaged_section_header_table() {
    let mut bytes = corpus_bytes("go1.23.4/frames");
    // e_shoff past the end of the file.
    let past = bytes.len() as u64 + 0x1000;
    bytes[0x28..0x30].copy_from_slice(&past.to_le_bytes());
    funcs_error("bad-shoff", &bytes, &["damaged ELF"]);
}

#[test]
fn catalogue_bad_pclntab_header_field() {
    let mut bytes = corpus_bytes("go1.23.4/frames");
    let image = Image::parse("x", bytes.clone()).unwrap();
    let off = image.section(".gopclntab").unwrap().file_range.unwrap().0 as usize;
    bytes[off + 6] = 3; // minLC
    funcs_error("bad-minlc", &bytes, &[".gopclntab", "minLC", "byte 0x6"]);
}

#[test]
fn catalogue_no_text_start() {
    // A Go 1.26 pclntab (no textStart in its header), stripped, with .text renamed.
    let mut bytes = corpus_bytes("go1.26.6/frames-stripped");
    let image = Image::parse("x", bytes.clone()).unwrap();
    let (off, size) = image.section(".shstrtab").unwrap().file_range.unwrap();
    let names = off as usize..(off + size) as usize;
    let at = bytes[names.clone()]
        .windows(7)
        .position(|w| w == b"\0.text\0")
        .expect(".text in .shstrtab")
        + names.start
        + 1;
    bytes[at..at + 5].copy_from_slice(b".txet");
    funcs_error("no-text", &bytes, &["does not record where text starts"]);
}

#[test]
fn catalogue_bad_filter() {
    let file = corpus().join("go1.23.4/frames");
    let out = twixt(&["funcs", file.to_str().unwrap(), "--filter", "main.(("]);
    assert_error(&out, "main.((", &["not a valid regular expression"]);
}

#[test]
fn catalogue_no_such_function() {
    let file = corpus().join("go1.23.4/frames");
    let out = twixt(&["disasm", file.to_str().unwrap(), "main.nosuchfunction"]);
    assert_error(
        &out,
        "frames",
        &["no function named", "main.nosuchfunction"],
    );
}

#[test]
fn catalogue_runtime_missing_for_the_model() {
    // The funcnametab no longer names runtime.asyncPreempt; nothing else is damaged.
    let mut bytes = corpus_bytes("go1.23.4/frames");
    let needle = b"\0runtime.asyncPreempt\0";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("runtime.asyncPreempt in the funcnametab");
    bytes[at + needle.len() - 2] = b'X';
    let file = temp_file("no-async-preempt", &bytes);
    let out = twixt(&[
        "scan",
        file.to_str().unwrap(),
        "--filter",
        "^main\\.callee$",
    ]);
    assert_error(
        &out,
        "no-async-preempt",
        &["runtime.asyncPreempt", "cannot model preemption"],
    );
}

#[test]
fn catalogue_segment_too_large_for_the_emulator() {
    let mut bytes = corpus_bytes("go1.23.4/frames");
    // The last PT_LOAD (data and bss) claims 2 GiB of memory.
    let load = *pt_load_headers(&bytes).last().unwrap();
    bytes[load + 40..load + 48].copy_from_slice(&(2u64 << 30).to_le_bytes());
    let file = temp_file("huge-bss", &bytes);
    let out = twixt(&[
        "scan",
        file.to_str().unwrap(),
        "--filter",
        "^main\\.callee$",
    ]);
    assert_error(&out, "huge-bss", &["segment at", "at most 1 GiB"]);
}

#[test]
fn catalogue_unreadable_baseline_report() {
    let file = corpus().join("go1.23.4/frames");
    let report = temp_file("not-a-report.json", b"{ this is not json");
    let out = twixt(&[
        "scan",
        file.to_str().unwrap(),
        "--filter",
        "^main\\.callee$",
        "--baseline",
        report.to_str().unwrap(),
    ]);
    assert_error(&out, "not-a-report.json", &[]);
}

#[test]
fn catalogue_segment_outside_the_address_space() {
    // Regression (fuzzing): a PT_LOAD ending just below 2^64 made the emulator's page loop
    // overflow (a panic in debug builds, an endless loop in release builds).
    let mut bytes = corpus_bytes("go1.23.4/frames");
    let load = *pt_load_headers(&bytes).last().unwrap();
    let memsz = u64::from_le_bytes(bytes[load + 40..load + 48].try_into().unwrap());
    let vaddr = (u64::MAX - memsz) & !0xfff;
    bytes[load + 16..load + 24].copy_from_slice(&vaddr.to_le_bytes()); // p_vaddr
    let file = temp_file("top-of-memory", &bytes);
    let out = twixt_with_timeout(
        &[
            "scan",
            file.to_str().unwrap(),
            "--filter",
            "^main\\.callee$",
        ],
        Duration::from_secs(60),
    );
    assert_error(&out, "top-of-memory", &["outside the 48-bit address space"]);
}

#[test]
fn regression_store_that_wraps_around_the_address_space() {
    // Found by fuzzing (a code mutation turned `sub x20, sp, #4096` into `ubfx x20, xzr`,
    // then `stp x29, x30, [x20, #-8]` stored 16 bytes at 0xfffffffffffffff8): the write
    // hook's page loop overflowed and never ended. No memory can back that address, so
    // the store is replayed against scratch memory and dropped: the scan finishes (within
    // `scan_bytes`'s minute) and the function is analysed.
    // movn x1, #7 (x1 = -8); stp x29, x30, [x1]; ret
    let bytes = patched(
        "go1.23.4/frames",
        "main.callee",
        &[0x9280_00e1, 0xa900_783d, RET],
    );
    let report = scan_bytes("wrap-store", bytes, &only_callee);
    assert_eq!(unanalysed(&report, "main.callee"), None);
    assert!(report.summary.boundaries >= 3, "{:?}", report.summary);
}

#[test]
fn regression_section_name_from_a_damaged_string_table_is_one_line() {
    // Found by fuzzing: e_shoff 0x48 bytes too low, so section names come from the wrong
    // string table; one "name" ran for kilobytes, newlines included, into the error.
    let mut bytes = corpus_bytes("go1.19.8/frames");
    bytes[40] = 0x80;
    let err = Image::parse("shoff", bytes.clone())
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(err.len() < 300, "{err}");
    funcs_error("shoff", &bytes, &["damaged ELF", "section"]);
}

#[test]
fn regression_a_damaged_function_name_stays_on_one_line() {
    // A newline in the funcnametab (a one-byte mutation) used to split the error of any
    // damaged function with that name over two lines.
    let path = "go1.23.4/hello";
    let mut bytes = corpus_bytes(path);
    let needle = b"\0main.main\0";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("main.main in the funcnametab");
    bytes[at + 7] = b'\n'; // "main.m\nin"
    let image = common::image(path);
    let prog = GoProgram::new(&image).unwrap();
    let f = prog.func_named("main.main").unwrap();
    let section = image.section(".gopclntab").unwrap().file_range.unwrap().0 as usize;
    let record = section + prog.raw_func(f.index).unwrap().record_offset();
    bytes[record + 16..record + 20].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let damaged = Image::parse("newline-name", bytes).unwrap();
    let prog = GoProgram::new(&damaged).unwrap();
    let f = prog.func_named("main.m\nin").expect("the renamed function");
    let reason = f.error.as_deref().expect("its pcsp table is damaged");
    assert!(!reason.contains('\n'), "{reason}");
    assert!(reason.contains("main.m\\nin"), "{reason}");
}
