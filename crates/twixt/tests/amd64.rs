//! linux/amd64 binaries (the first slice of issue 15): `twixt funcs` and `twixt disasm`
//! work and match their goldens beside the binaries (`<bin>.funcs-main.txt`,
//! `<bin>.disasm-<function>.txt`, re-blessed with `TWIXT_BLESS=1`); every instruction
//! `disasm` lists starts where Go's own `go tool objdump` record says one does; and every
//! command that needs arm64 (`scan`, `explain`, `run`, `confirm`) refuses an amd64 binary
//! with one line naming the binary, its architecture and the supported ones (exit 2).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::{check_golden, corpus, manifest_all};

fn twixt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("run twixt")
}

/// The amd64 binaries of the corpus (not stripped: all of them have a symbol table).
fn amd64_binaries() -> Vec<String> {
    let bins: Vec<String> = manifest_all()
        .into_iter()
        .filter(|e| e.goarch == "amd64")
        .map(|e| e.path)
        .collect();
    assert!(
        bins.len() >= 2,
        "the corpus has {} amd64 binaries, expected frames-amd64 and hello-amd64",
        bins.len()
    );
    bins
}

/// Runs twixt, expects success, returns stdout.
fn ok(args: &[&str]) -> String {
    let out = twixt(args);
    assert!(
        out.status.success(),
        "twixt {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn funcs_of_main_match_the_goldens() {
    for bin in amd64_binaries() {
        let path = corpus().join(&bin);
        let text = ok(&["funcs", path.to_str().unwrap(), "--filter", "^main\\."]);
        check_golden(&corpus().join(format!("{bin}.funcs-main.txt")), &text);
    }
}

/// The functions with a disasm golden: the frames program's #73259 shapes (one ADDQ pops
/// 70000 bytes on amd64), a small leaf, and hello's main.
const DISASM: &[(&str, &str)] = &[
    ("go1.27.3/frames-amd64", "main.nonleaf70000"),
    ("go1.27.3/frames-amd64", "main.leaf70000"),
    ("go1.27.3/frames-amd64", "main.leaf96"),
    ("go1.27.3/hello-amd64", "main.main"),
];

#[test]
fn disasm_matches_the_goldens() {
    for (bin, func) in DISASM {
        let path = corpus().join(bin);
        let text = ok(&["disasm", path.to_str().unwrap(), func]);
        let short = func.trim_start_matches("main.");
        check_golden(&corpus().join(format!("{bin}.disasm-{short}.txt")), &text);
    }
}

/// The PCs `go tool objdump -s '^main\.'` lists for one function.
fn go_objdump_pcs(bin: &str, func: &str) -> BTreeSet<u64> {
    let record = std::fs::read_to_string(corpus().join(format!("{bin}.objdump-main.txt")))
        .expect("the objdump-main record");
    let mut pcs = BTreeSet::new();
    let mut inside = false;
    for line in record.lines() {
        if let Some(rest) = line.strip_prefix("TEXT ") {
            inside = rest.split_whitespace().next() == Some(&format!("{func}(SB)"));
            continue;
        }
        // "  main.go:203\t\t0x483a40\t\t4989e4\t\tMOVQ SP, R12"
        if inside
            && let Some(pc) = line
                .split('\t')
                .map(str::trim)
                .find_map(|c| c.strip_prefix("0x"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            pcs.insert(pc);
        }
    }
    pcs
}

#[test]
fn every_main_function_disassembles_on_go_objdumps_boundaries() {
    let mut checked = 0;
    for bin in amd64_binaries() {
        let path = corpus().join(&bin);
        let funcs = ok(&["funcs", path.to_str().unwrap(), "--filter", "^main\\."]);
        for name in funcs
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(4))
        {
            let text = ok(&["disasm", path.to_str().unwrap(), name]);
            let ours: BTreeSet<u64> = text
                .lines()
                .skip(2)
                .map(|l| {
                    let pc = l.split_whitespace().next().unwrap();
                    u64::from_str_radix(pc.trim_start_matches("0x"), 16).unwrap()
                })
                .collect();
            assert!(
                !text.contains(".byte"),
                "{bin} {name}: undecodable bytes:\n{text}"
            );
            let theirs = go_objdump_pcs(&bin, name);
            // go tool objdump also lists the INT3 padding after the function's code.
            let theirs: BTreeSet<u64> = theirs
                .into_iter()
                .filter(|pc| ours.last().is_some_and(|last| pc <= last))
                .collect();
            assert_eq!(ours, theirs, "{bin} {name}: instruction boundaries");
            checked += ours.len();
        }
    }
    assert!(checked > 1000, "only {checked} instructions");
}

#[test]
fn commands_that_need_arm64_refuse_amd64_in_one_line() {
    let path = corpus().join("go1.27.3/frames-amd64");
    let p = path.to_str().unwrap();
    for (command, args) in [
        ("scan", vec!["scan", p]),
        ("scan", vec!["scan", p, "--format", "json"]),
        ("explain", vec!["explain", p, "main.leaf96"]),
        ("run", vec!["run", p, "main.leaf96"]),
        ("confirm", vec!["confirm", p]),
    ] {
        let out = twixt(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: no report");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [format!(
                "twixt: error: {p}: amd64 binary: architecture not yet supported for {command} \
                 (supported: arm64; amd64 has funcs and disasm)"
            )],
            "{args:?}"
        );
    }
}

#[test]
fn a_directory_scan_skips_amd64_binaries() {
    // go1.27.3/ holds arm64 and amd64 binaries: the amd64 ones are skipped and counted.
    let dir = corpus().join("go1.27.3");
    let out = twixt(&[
        "scan",
        dir.to_str().unwrap(),
        "--filter",
        "^main\\.leaf96$",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = report["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["binary"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| !n.ends_with("-amd64")),
        "amd64 binaries scanned: {names:?}"
    );
    assert_eq!(report["summary"]["failed"], 0);
}
