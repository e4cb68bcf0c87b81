//! Shared helpers for the GNU objdump cross-checks: running objdump, parsing its
//! listing, and reading from objdump's text the facts the classifier reports from bits
//! (control-flow class and target, registers written, SP delta).
//!
//! The predicates here are written from the assembly syntax alone, independently of the
//! classifier, so that agreement between the two means something.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::{Path, PathBuf};
use std::process::Command;

use twixt_arm64::{Flow, RegSet};

/// The objdump binary CI installs.
pub const OBJDUMP: &str = "aarch64-linux-gnu-objdump";

/// One instruction line of an objdump listing.
#[derive(Clone, Debug)]
pub struct ObjLine {
    pub addr: u64,
    pub word: u32,
    pub mnemonic: String,
    /// Operands with comments (`// ...`, `; ...`) and symbol annotations (`<...>`) removed.
    pub operands: String,
}

/// Runs objdump with `args` and returns its stdout; panics (failing the test) when it
/// cannot be run, because CI is expected to have it.
pub fn run_objdump(args: &[&str]) -> String {
    let out = Command::new(OBJDUMP)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {OBJDUMP} (CI installs binutils-aarch64-linux-gnu): {e}")
        });
    assert!(
        out.status.success(),
        "{OBJDUMP} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("objdump output is UTF-8")
}

/// Parses the instruction lines of an objdump `-d` listing (raw words shown).
pub fn parse_listing(text: &str) -> Vec<ObjLine> {
    let mut lines = Vec::new();
    for line in text.lines() {
        // "   11000:\tf9400b90 \tldr\tx16, [x28, #16]"
        let Some((addr, rest)) = line.split_once(":\t") else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr.trim(), 16) else {
            continue;
        };
        let mut fields = rest.splitn(3, '\t');
        let Some(word) = fields.next() else { continue };
        let Ok(word) = u32::from_str_radix(word.trim(), 16) else {
            continue;
        };
        let mnemonic = fields.next().unwrap_or("").trim().to_string();
        let operands = clean_operands(fields.next().unwrap_or(""));
        lines.push(ObjLine {
            addr,
            word,
            mnemonic,
            operands,
        });
    }
    lines
}

fn clean_operands(s: &str) -> String {
    let s = s.split("//").next().unwrap_or("");
    let s = s.split(';').next().unwrap_or("");
    let mut out = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// Splits operands at top-level commas (not inside `[...]` or `{...}`).
pub fn split_operands(ops: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in ops.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The general-purpose register an operand names: `Some(0..=30)` for x/w registers,
/// `Some(31)` for sp/wsp, `None` for anything else (including the zero register).
pub fn gpr(op: &str) -> Option<u8> {
    match op {
        "sp" | "wsp" => return Some(31),
        _ => {}
    }
    let rest = op.strip_prefix('x').or_else(|| op.strip_prefix('w'))?;
    let n: u8 = rest.parse().ok()?;
    (n <= 30).then_some(n)
}

fn parse_hex_target(op: &str) -> Option<u64> {
    let op = op.trim();
    let op = op.strip_prefix("0x").unwrap_or(op);
    u64::from_str_radix(op, 16).ok()
}

/// The control-flow class objdump's text implies, using the same enum as the
/// classifier. `None` when the mnemonic is not one the committed test pins down
/// (ordinary instructions, system instructions and their many aliases).
pub fn objdump_flow(l: &ObjLine) -> Option<Flow> {
    let m = l.mnemonic.as_str();
    let ops = split_operands(&l.operands);
    let target = || {
        ops.last()
            .and_then(|o| parse_hex_target(o))
            .expect("branch target")
    };
    // A branch register of 31 is XZR; a missing operand means x30.
    let reg = |i: usize| match ops.get(i).map(String::as_str) {
        None => 30,
        Some("xzr") => 31,
        Some(o) => gpr(o).expect("branch register"),
    };
    Some(match m {
        "b" => Flow::Branch { target: target() },
        // AL and NV always branch.
        "b.al" | "b.nv" | "bc.al" | "bc.nv" => Flow::Branch { target: target() },
        "bl" => Flow::Call { target: target() },
        "cbz" | "cbnz" | "tbz" | "tbnz" => Flow::CondBranch { target: target() },
        _ if m.starts_with("b.") || m.starts_with("bc.") => Flow::CondBranch { target: target() },
        "br" | "braa" | "brab" | "braaz" | "brabz" => Flow::IndirectBranch { reg: reg(0) },
        "blr" | "blraa" | "blrab" | "blraaz" | "blrabz" => Flow::CallIndirect { reg: reg(0) },
        "ret" => Flow::Ret { reg: reg(0) },
        "retaa" | "retab" => Flow::Ret { reg: 30 },
        "udf" | "brk" | "hlt" | ".inst" => Flow::Trap,
        _ => return None,
    })
}

/// Whether a flow is one of the branch classes the objdump check pins down exactly.
pub fn is_branch_class(f: &Flow) -> bool {
    !matches!(f, Flow::Next | Flow::System | Flow::Trap)
}

/// Mnemonics whose first operand is a source, not a destination.
fn first_operand_is_source(m: &str) -> bool {
    const EXACT: &[&str] = &[
        "cmp", "cmn", "tst", "ccmp", "ccmn", "cmpp", "cbz", "cbnz", "tbz", "tbnz", "br", "blr",
        "ret", "braa", "brab", "braaz", "brabz", "blraa", "blrab", "blraaz", "blrabz", "prfm",
        "prfum", "msr", "sys", "dc", "ic", "at", "tlbi", "cfp", "dvp", "cpp", "b", "bl", "svc",
        "hvc", "smc", "brk", "hlt", "udf", "hint", "wfet", "wfit", "rmif", "setf8", "setf16",
        "msrr", "sysp", "dsb", "dmb", "isb", "ctermeq", "ctermne",
    ];
    EXACT.contains(&m)
        || m.starts_with("b.")
        || m.starts_with("bc.")
        || m.starts_with("fcmp")
        || m.starts_with("fccmp")
        || (m.starts_with("st") && !is_store_with_status(m))
}

/// Exclusive stores write a status register as their first operand.
fn is_store_with_status(m: &str) -> bool {
    matches!(
        m,
        "stxr"
            | "stxrb"
            | "stxrh"
            | "stlxr"
            | "stlxrb"
            | "stlxrh"
            | "stxp"
            | "stlxp"
            | "st64bv"
            | "st64bv0"
    )
}

/// LSE atomics (`ld<op>` and `swp` families): the second operand receives the old value.
fn is_atomic_rmw(m: &str) -> bool {
    const OPS: &[&str] = &[
        "ldadd", "ldclr", "ldeor", "ldset", "ldsmax", "ldsmin", "ldumax", "ldumin", "swp",
    ];
    OPS.iter().any(|op| {
        m.strip_prefix(op).is_some_and(|suffix| {
            matches!(
                suffix,
                "" | "a" | "al" | "l" | "b" | "ab" | "alb" | "lb" | "h" | "ah" | "alh" | "lh"
            )
        })
    })
}

/// Loads (and CASP) whose first two operands are both destinations.
fn writes_first_two(m: &str) -> bool {
    matches!(m, "ldp" | "ldnp" | "ldpsw" | "ldxp" | "ldaxp" | "ldiapp") || m.starts_with("casp")
}

/// The general-purpose registers (SP as 31) objdump's text says are written, or `None`
/// for mnemonics this predicate does not model (it is only relied on for code a Go
/// compiler produces).
pub fn objdump_written(l: &ObjLine) -> Option<RegSet> {
    let m = l.mnemonic.as_str();
    if m == ".inst" || m.starts_with("cpy") || m.starts_with("set") || m == "ld64b" {
        return None;
    }
    let ops = split_operands(&l.operands);
    let mut set = 0u32;
    let mut add = |r: Option<u8>| {
        if let Some(r) = r {
            set |= 1 << r;
        }
    };
    match m {
        "bl" | "blr" | "blraa" | "blrab" | "blraaz" | "blrabz" => add(Some(30)),
        "paciaz" | "paciasp" | "pacibz" | "pacibsp" | "autiaz" | "autiasp" | "autibz"
        | "autibsp" | "xpaclri" => add(Some(30)),
        "pacia1716" | "pacib1716" | "autia1716" | "autib1716" => add(Some(17)),
        "mrrs" => {
            let r = ops.first().and_then(|o| gpr(o));
            add(r);
            add(r.map(|r| r + 1));
        }
        _ if is_atomic_rmw(m) => add(ops.get(1).and_then(|o| gpr(o))),
        _ if writes_first_two(m) => {
            add(ops.first().and_then(|o| gpr(o)));
            add(ops.get(1).and_then(|o| gpr(o)));
        }
        _ if first_operand_is_source(m) => {}
        _ => add(ops.first().and_then(|o| gpr(o))),
    }
    // Base register writeback: `[xN, #imm]!` (pre-index) or `[xN], ...` (post-index: a
    // memory operand followed by another operand).
    for (i, op) in ops.iter().enumerate() {
        let Some(inner) = op.strip_prefix('[') else {
            continue;
        };
        let base = inner.split([',', ']']).next().unwrap_or("").trim();
        if op.ends_with("]!") || (op.ends_with(']') && i + 1 < ops.len()) {
            add(gpr(base));
        }
    }
    Some(RegSet(set))
}

/// Parses an objdump immediate (`#16`, `#0x20`, `#-8`).
fn imm(op: &str) -> Option<i64> {
    let s = op.trim().strip_prefix('#')?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// `SP = SP + constant` as objdump's text shows it: `add|sub sp, sp, #imm[, lsl #12]`,
/// `mov sp, sp` and the writeback of `[sp, #imm]!` / `[sp], #imm`.
pub fn objdump_sp_delta(l: &ObjLine) -> Option<i64> {
    let ops = split_operands(&l.operands);
    let m = l.mnemonic.as_str();
    if (m == "add" || m == "sub")
        && ops.len() >= 3
        && ops[0] == "sp"
        && ops[1] == "sp"
        && ops[2].starts_with('#')
    {
        let mut v = imm(&ops[2])?;
        if let Some(shift) = ops.get(3) {
            v <<= imm(shift.strip_prefix("lsl ")?)?;
        }
        return Some(if m == "sub" { -v } else { v });
    }
    if m == "mov" && ops.len() == 2 && ops[0] == "sp" && ops[1] == "sp" {
        return Some(0);
    }
    for (i, op) in ops.iter().enumerate() {
        if op == "[sp]!" {
            return Some(0);
        }
        if let Some(inner) = op.strip_prefix("[sp, ").and_then(|s| s.strip_suffix("]!")) {
            return imm(inner);
        }
        if op == "[sp]"
            && let Some(next) = ops.get(i + 1)
        {
            return imm(next);
        }
    }
    None
}

/// Every AArch64 ELF file under `dir` (recursively), sorted.
pub fn find_arm64_elves(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && is_arm64_elf(&p) {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

fn is_arm64_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 20];
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    // ELF magic, 64-bit, little-endian, e_machine EM_AARCH64 (183).
    head[..4] == *b"\x7fELF"
        && head[4] == 2
        && head[5] == 1
        && u16::from_le_bytes([head[18], head[19]]) == 183
}
