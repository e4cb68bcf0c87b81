//! The foundation over the corpus: `twixt funcs` lists what the toolchain's `go tool nm`
//! lists, file:line agrees with `go tool addr2line`, `twixt disasm` shows the #73259
//! epilogue, and bad input gets one clear line and exit code 2.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{corpus, image, manifest_all};
use twixt_check::GoProgram;

/// Renders a name so that pclntab and `go tool nm` spellings compare equal: `·` as `.`,
/// and any bracketed part as `[...]` (nm prints generic type arguments as `[...]`, and Go
/// 1.19's pclntab abbreviates array lengths the same way: `type..eq.[...]internal/cpu.option`
/// where nm says `[9]`).
fn nm_style(name: &str) -> String {
    let name = name.replace('·', ".");
    let mut out = String::new();
    let mut depth = 0;
    let mut pending = String::new();
    for c in name.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    pending.clear();
                } else {
                    pending.push(c);
                }
                depth += 1;
            }
            ']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push_str("[...]");
                } else {
                    pending.push(c);
                }
            }
            _ if depth > 0 => pending.push(c),
            _ => out.push(c),
        }
    }
    out
}

/// Text symbols from a recorded `go tool nm -size -sort address` listing.
fn nm_text_symbols(path: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(corpus().join(path)).expect("nm record");
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_addr, _size, kind) = (parts.next()?, parts.next()?, parts.next()?);
            let name: Vec<&str> = parts.collect();
            (kind == "T" || kind == "t").then(|| name.join(" "))
        })
        .map(|n| nm_style(n.strip_suffix(".abi0").unwrap_or(&n)))
        .collect()
}

/// Symbols nm lists as text that are not functions, and why.
const NOT_FUNCTIONS: &[(&str, &str)] = &[
    ("runtime.text", "marker: start of text, zero size"),
    ("runtime.etext", "marker: end of text, zero size"),
];

fn our_functions(path: &str) -> BTreeSet<String> {
    let image = image(path);
    let prog = GoProgram::for_listing(&image).unwrap();
    assert!(
        prog.broken().is_empty(),
        "{path}: unreadable functions {:?}",
        prog.broken()
    );
    prog.funcs()
        .iter()
        .map(|f| nm_style(&f.info.name))
        .collect()
}

#[test]
fn funcs_lists_the_same_functions_as_go_tool_nm() {
    let mut compared = 0;
    // Every architecture: the pclntab reader is the same for amd64 (PC quantum 1).
    for e in manifest_all() {
        let Some(nm) = &e.nm else { continue };
        let ours = our_functions(&e.path);
        let theirs = nm_text_symbols(nm);
        let only_nm: BTreeSet<&String> = theirs.difference(&ours).collect();
        let only_ours: BTreeSet<&String> = ours.difference(&theirs).collect();
        for name in &only_nm {
            assert!(
                NOT_FUNCTIONS.iter().any(|(n, _)| n == name),
                "{}: nm lists {name} but twixt funcs does not",
                e.path
            );
        }
        assert!(
            only_ours.is_empty(),
            "{}: only twixt lists {only_ours:?}",
            e.path
        );
        compared += 1;
    }
    assert!(compared >= 11, "compared {compared} binaries");
}

#[test]
fn stripped_binaries_list_the_functions_of_their_twins() {
    for (stripped, twin) in [
        ("go1.23.4/frames-stripped", "go1.23.4/frames"),
        ("go1.26.6/frames-stripped", "go1.26.6/frames"),
    ] {
        assert!(
            image(stripped).is_stripped(),
            "{stripped} has a symbol table"
        );
        assert_eq!(our_functions(stripped), our_functions(twin));
    }
}

#[test]
fn file_and_line_agree_with_go_tool_addr2line() {
    let mut checked = 0;
    for e in manifest_all() {
        let Some(rec) = &e.addr2line else { continue };
        let image = image(&e.path);
        let prog = GoProgram::for_listing(&image).unwrap();
        let text = std::fs::read_to_string(corpus().join(rec)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "{rec}: bad line {line:?}");
            let pc = u64::from_str_radix(cols[0].trim_start_matches("0x"), 16).unwrap();
            let f = prog
                .func_at(pc)
                .unwrap_or_else(|| panic!("{}: {pc:#x} in no function", e.path));
            assert_eq!(
                nm_style(&f.info.name),
                nm_style(cols[1]),
                "{}: function at {pc:#x}",
                e.path
            );
            match prog.file_line(f, pc) {
                Some((file, ln)) => {
                    assert_eq!(format!("{file}:{ln}"), cols[2], "{}: {pc:#x}", e.path)
                }
                // Marker functions (go:textfipsstart/end) have no line table: addr2line
                // prints an empty file and line -1.
                None => assert_eq!(cols[2], ":-1", "{}: twixt has no line at {pc:#x}", e.path),
            }
            checked += 1;
        }
    }
    assert!(checked > 3000, "only {checked} PCs checked");
}

fn twixt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("run twixt")
}

#[test]
fn disasm_shows_the_split_epilogue_with_the_full_frame_at_the_second_add() {
    let path = corpus().join("go1.23.4/frames");
    let out = twixt(&["disasm", path.to_str().unwrap(), "main.nonleaf70000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let adds: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("add sp, sp, #"))
        .collect();
    assert_eq!(adds.len(), 2, "{text}");
    // Columns: PC, bytes, instruction..., PCSP, UNSAFE, FILE:LINE. The pcsp at the second
    // ADD is still the whole frame: that boundary is the #73259 window.
    for add in &adds {
        let cols: Vec<&str> = add.split_whitespace().collect();
        let pcsp = cols[cols.len() - 3];
        assert_eq!(pcsp, "0x11170", "{add}");
    }
    assert!(adds[1].contains("lsl #12"), "{}", adds[1]);
}

#[test]
fn funcs_prints_a_table_with_frames() {
    let path = corpus().join("go1.23.4/frames");
    let out = twixt(&[
        "funcs",
        path.to_str().unwrap(),
        "--filter",
        "^main\\.nonleaf70000$",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text.lines().nth(1).expect("one function");
    assert!(
        row.contains("main.nonleaf70000") && row.contains("70000"),
        "{text}"
    );
}

/// Runs twixt on `bytes` written to a temporary file; returns (exit code, stderr).
fn run_on_bytes(name: &str, bytes: &[u8]) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("twixt-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let out = twixt(&["funcs", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

fn assert_one_line_error(name: &str, bytes: &[u8], needle: &str) {
    let (code, stderr) = run_on_bytes(name, bytes);
    assert_eq!(code, 2, "{name}: exit code {code}, stderr {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: expected one line, got {stderr}");
    assert!(
        lines[0].contains(needle),
        "{name}: {:?} does not mention {needle:?}",
        lines[0]
    );
    assert!(
        lines[0].contains(name),
        "{name}: error does not name the file: {}",
        lines[0]
    );
}

fn corpus_bytes(path: &str) -> Vec<u8> {
    std::fs::read(corpus().join(path)).unwrap()
}

/// The file offset of the `.gopclntab` section.
fn pclntab_offset(bytes: Vec<u8>) -> usize {
    let image = twixt_image::Image::parse("x", bytes).unwrap();
    image.section(".gopclntab").unwrap().file_range.unwrap().0 as usize
}

#[test]
fn empty_file() {
    assert_one_line_error("empty.bin", b"", "empty file");
}

#[test]
fn text_file() {
    assert_one_line_error("notes.txt", b"hello, this is text\n", "not an ELF file");
}

#[test]
fn riscv64_elf() {
    // A minimal ELF64 header: little-endian, ET_EXEC, EM_RISCV (243), no segments. The
    // error names the architecture found and the supported ones.
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELFCLASS64
    h[5] = 1; // ELFDATA2LSB
    h[6] = 1; // EV_CURRENT
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&243u16.to_le_bytes()); // EM_RISCV
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    assert_one_line_error(
        "riscv64.elf",
        &h,
        "riscv64 ELF (e_machine 243); twixt reads 64-bit little-endian ELF binaries of \
         arm64 (EM_AARCH64) or amd64 (EM_X86_64)",
    );
}

#[test]
fn arm64_object_without_pclntab() {
    // A C-style object assembled by binutils: arm64, but no Go metadata.
    let dir = std::env::temp_dir().join(format!("twixt-obj-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("f.s");
    let obj = dir.join("f.o");
    std::fs::write(&src, ".text\n.global f\nf:\n  add x0, x0, #1\n  ret\n").unwrap();
    let status = Command::new("aarch64-linux-gnu-as")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .status()
        .expect(
            "aarch64-linux-gnu-as (binutils-aarch64-linux-gnu, installed by scripts/bootstrap)",
        );
    assert!(status.success());
    assert_one_line_error("f.o", &std::fs::read(&obj).unwrap(), "no .gopclntab");
}

#[test]
fn truncated_go_binary() {
    let mut bytes = corpus_bytes("go1.23.4/frames");
    bytes.truncate(bytes.len() / 3);
    assert_one_line_error("truncated", &bytes, "damaged ELF");
}

#[test]
fn pclntab_with_damaged_bytes() {
    let bytes = corpus_bytes("go1.23.4/frames");
    let off = pclntab_offset(bytes.clone());
    let mut damaged = bytes;
    // nfunc (header offset 8) becomes absurdly large: the functab no longer fits.
    damaged[off + 8..off + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_one_line_error("damaged-pclntab", &damaged, ".gopclntab");
}

#[test]
fn go_1_16_magic() {
    let bytes = corpus_bytes("go1.23.4/frames");
    let off = pclntab_offset(bytes.clone());
    let mut old = bytes;
    old[off..off + 4].copy_from_slice(&0xFFFF_FFFAu32.to_le_bytes());
    assert_one_line_error("go116", &old, "Go 1.16-1.17");
}
