//! Branch targets are named in every command's evidence, objdump style: checked against
//! the toolchain's own `go tool objdump` and `go tool nm` records for every direct branch
//! and call in the corpus's `main.*` functions, then once per command on the CLI.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{corpus, image, manifest};
use twixt_check::GoProgram;

/// `go tool nm` records: text symbols by address, with their sizes (`.abi0` dropped: the
/// pclntab names assembly functions without it).
fn nm(path: &str) -> BTreeMap<u64, (String, u64)> {
    let text = std::fs::read_to_string(corpus().join(path)).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 4 && (f[2] == "T" || f[2] == "t") && f[1] != "0" {
            let addr = u64::from_str_radix(f[0], 16).unwrap();
            let name = f[3].trim_end_matches(".abi0").to_string();
            out.insert(addr, (name, f[1].parse().unwrap()));
        }
    }
    out
}

/// The text symbol containing `pc`: (entry, name).
fn containing(syms: &BTreeMap<u64, (String, u64)>, pc: u64) -> (u64, &str) {
    let (entry, (name, size)) = syms.range(..=pc).next_back().expect("a symbol below");
    assert!(pc < entry + size, "{pc:#x} past {name}");
    (*entry, name)
}

#[test]
fn every_branch_target_is_named_as_the_toolchain_names_it() {
    let mut checked = 0;
    let mut calls_into_the_middle = 0;
    for entry in manifest() {
        let (Some(nm_path), false) = (&entry.nm, entry.stripped) else {
            continue;
        };
        let syms = nm(nm_path);
        let image = image(&entry.path);
        let prog = GoProgram::new(&image).unwrap();
        let objdump =
            std::fs::read_to_string(corpus().join(format!("{}.objdump-main.txt", entry.path)))
                .unwrap();
        for line in objdump.lines() {
            // `  main.go:35  0x87954  97ffffd7  CALL main.callee(SB)`
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 || !f[1].starts_with("0x") {
                continue;
            }
            let pc = u64::from_str_radix(&f[1][2..], 16).unwrap();
            let op = f[3];
            let is_branch = op == "CALL"
                || op == "JMP"
                || op.starts_with('B')
                || op.starts_with("CB")
                || op.starts_with("TB");
            // The target is the last operand (`CBZ R0, 5(PC)`, `TBZ $3, R1, 7(PC)`).
            let Some(arg) = f[4..]
                .iter()
                .find(|a| a.ends_with("(PC)") || a.ends_with("(SB)"))
                .filter(|_| is_branch)
            else {
                continue;
            };
            let target = if let Some(rel) = arg.strip_suffix("(PC)") {
                pc.wrapping_add_signed(rel.parse::<i64>().unwrap() * 4)
            } else if let Some(sym) = arg.strip_suffix("(SB)") {
                let (name, off) = match sym.split_once('+') {
                    Some((n, o)) => (n, o.parse::<u64>().unwrap()),
                    None => (sym, 0),
                };
                let name = name.trim_end_matches(".abi0");
                let (addr, _) = syms
                    .iter()
                    .find(|(_, (n, _))| n == name)
                    .unwrap_or_else(|| panic!("{}: {name} not in nm", entry.path));
                addr + off
            } else {
                continue;
            };
            let (own, _) = containing(&syms, pc);
            let (callee, name) = containing(&syms, target);
            let off = target - callee;
            let expected = if callee == own {
                format!(" {target:#x} <+{off:#x}>")
            } else if off == 0 {
                format!(" {target:#x} <{name}>")
            } else {
                calls_into_the_middle += 1;
                format!(" {target:#x} <{name}+{off:#x}>")
            };
            let text = prog.disassemble(pc);
            assert!(
                text.ends_with(&expected),
                "{} {pc:#x}: {text:?} should end with {expected:?} ({line})",
                entry.path
            );
            checked += 1;
        }
    }
    // Calls, branches back to the entry, conditional branches, and the DUFFZERO calls
    // into the middle of runtime.duffzero (go1.23.4 hello).
    assert!(checked > 10_000, "only {checked} branches checked");
    assert!(
        calls_into_the_middle > 0,
        "no call into a function's middle"
    );
}

fn twixt(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("run twixt");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_prints_named_targets() {
    let frames = corpus().join("go1.23.4/frames");
    let frames = frames.to_str().unwrap();
    let morestack = "bl 0x792b0 <runtime.morestack_noctxt>";
    let disasm = twixt(&["disasm", frames, "main.nonleaf70000"]);
    for want in [morestack, "b.lo 0x88390 <+0xf0>", "b 0x882a0 <+0x0>"] {
        assert!(disasm.contains(want), "disasm lacks {want:?}:\n{disasm}");
    }
    let explain = twixt(&["explain", frames, "main.nonleaf70000", "--color", "never"]);
    assert!(explain.contains(morestack), "explain:\n{explain}");
    let run = twixt(&[
        "run",
        frames,
        "main.nonleaf70000",
        "--args",
        "1",
        "--inject",
        "--all-boundaries",
    ]);
    assert!(run.contains("b.lo 0x88390 <+0xf0>"), "run:\n{run}");
    // Scan: the context lines of a finding, in text and JSON.
    let scan = twixt(&["scan", frames, "--filter", "^debugCall65536$"]);
    assert!(scan.contains(morestack), "scan text:\n{scan}");
    let json = twixt(&[
        "scan",
        frames,
        "--filter",
        "^debugCall65536$",
        "--format",
        "json",
    ]);
    assert!(
        json.contains(&format!("\"instruction\": \"{morestack}\"")),
        "scan json:\n{json}"
    );
}
