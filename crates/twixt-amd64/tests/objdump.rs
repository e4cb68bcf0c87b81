//! Cross-check against GNU objdump (Debian's binutils, x86-64) on real Go amd64 binaries:
//! every instruction objdump lists in every amd64 ELF file under `corpus/` (the `main.*`
//! functions, counted apart, and the whole runtime and library beside them) is decoded by
//! this crate at the address objdump lists and compared with objdump's line.
//!
//! Pinned down exactly: instruction boundaries and bytes (the decoder walks the function
//! from its entry, one instruction after another, and must land on every address objdump
//! lists, with the same bytes); undecodable bytes on both sides; the branch class (call,
//! jmp, jcc/loop/jrcxz, ret, indirect call and jump, traps) with its direct target; RSP and
//! RBP writes; and the constant of `RSP = RSP + c` for ADD/SUB with an immediate and
//! PUSH/POP. The share of instructions whose text equals objdump's `-M intel` text (after
//! normalising spacing, case and objdump's symbol annotations) is printed, not asserted.
//!
//! The test fails, rather than skipping, when objdump or the corpus is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use twixt_amd64::{Flow, decode};
use twixt_image::Image;

/// One instruction as objdump lists it.
#[derive(Debug)]
struct ObjLine {
    addr: u64,
    bytes: Vec<u8>,
    /// The function (symbol) it is in.
    func: String,
    mnemonic: String,
    operands: String,
}

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    dir.canonicalize().unwrap_or(dir)
}

/// Every little-endian ELF64 file with `e_machine` EM_X86_64 (62) under `dir`, sorted.
fn amd64_elves(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| {
                b.len() > 20
                    && b[..4] == *b"\x7fELF"
                    && b[4] == 2
                    && b[5] == 1
                    && u16::from_le_bytes([b[18], b[19]]) == 62
            }) {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

/// `objdump -d -M intel -z --insn-width=15` of `path`.
fn objdump(path: &Path) -> String {
    let tool = ["x86_64-linux-gnu-objdump", "objdump"]
        .into_iter()
        .find(|t| Command::new(t).arg("--version").output().is_ok())
        .expect("GNU objdump for x86-64 (binutils, installed by scripts/bootstrap)");
    let out = Command::new(tool)
        .args(["-d", "-M", "intel", "-z", "--insn-width=15"])
        .arg(path)
        .output()
        .expect("objdump runs");
    assert!(
        out.status.success(),
        "{tool} -d {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("objdump prints UTF-8")
}

/// The instructions of a listing, each with the function it is in.
fn parse(listing: &str) -> Vec<ObjLine> {
    let mut func = String::new();
    let mut lines = Vec::new();
    for line in listing.lines() {
        // "0000000000483a40 <main.nonleaf70000>:"
        if let Some(name) = line.strip_suffix(">:").and_then(|l| l.split_once(" <")) {
            func = name.1.to_string();
            continue;
        }
        // "  483a40:\t49 89 e4             \tmov    r12,rsp"
        let mut cols = line.split('\t');
        let (Some(addr), Some(hex)) = (cols.next(), cols.next()) else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr.trim().trim_end_matches(':'), 16) else {
            continue;
        };
        let bytes: Vec<u8> = hex
            .split_whitespace()
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect();
        let asm = cols.next().unwrap_or("").trim();
        let (mnemonic, operands) = asm.split_once(char::is_whitespace).unwrap_or((asm, ""));
        lines.push(ObjLine {
            addr,
            bytes,
            func: func.clone(),
            mnemonic: mnemonic.to_string(),
            operands: operands.trim().to_string(),
        });
    }
    lines
}

/// The mnemonic without the prefixes objdump writes before it (`rep stos`, `lock cmpxchg`,
/// `bnd jmp`, `notrack jmp`, `data16`, `cs nop`): the real mnemonic is the first word of
/// the operands then.
fn base_mnemonic(l: &ObjLine) -> (String, String) {
    let mut m = l.mnemonic.clone();
    let mut ops = l.operands.clone();
    while matches!(
        m.as_str(),
        "rep"
            | "repz"
            | "repnz"
            | "repe"
            | "repne"
            | "lock"
            | "bnd"
            | "notrack"
            | "data16"
            | "cs"
            | "ds"
            | "es"
            | "ss"
            | "fs"
            | "gs"
            | "rex"
            | "rex.W"
            | "addr32"
    ) && !ops.is_empty()
    {
        let (a, b) = ops.split_once(char::is_whitespace).unwrap_or((&ops, ""));
        m = a.to_string();
        ops = b.trim().to_string();
    }
    (m, ops)
}

/// The direct target objdump prints (`483b08 <main.nonleaf70000+0xc8>`).
fn target(ops: &str) -> Option<u64> {
    u64::from_str_radix(ops.split_whitespace().next()?, 16).ok()
}

/// The control flow objdump's line says, in our terms.
fn objdump_flow(l: &ObjLine) -> Option<Flow> {
    let (m, ops) = base_mnemonic(l);
    // The symbol annotation may itself hold brackets (`<type:.eq.[8SM10K6]+0x5f>`).
    let ops = ops.split(" <").next().unwrap_or("");
    let direct = target(ops).filter(|_| !ops.contains('['));
    let reg = || None::<u8>;
    Some(match m.as_str() {
        "(bad)" | "int3" | "ud2" | "ud0" | "ud1" | "hlt" | "int1" | "icebp" => Flow::Trap,
        "syscall" | "sysenter" | "int" | "into" => Flow::System,
        "ret" | "retq" => Flow::Ret,
        "call" | "callq" => match direct {
            Some(target) => Flow::Call { target },
            None => Flow::CallIndirect { reg: reg() },
        },
        "jmp" | "jmpq" => match direct {
            Some(target) => Flow::Branch { target },
            None => Flow::IndirectBranch { reg: reg() },
        },
        m if (m.starts_with('j') || m.starts_with("loop")) && direct.is_some() => {
            Flow::CondBranch { target: direct? }
        }
        _ => return None,
    })
}

/// Our flow with the indirect register forgotten (objdump's text names it, but comparing
/// the class is what matters here).
fn class(f: Flow) -> Flow {
    match f {
        Flow::CallIndirect { .. } => Flow::CallIndirect { reg: None },
        Flow::IndirectBranch { .. } => Flow::IndirectBranch { reg: None },
        f => f,
    }
}

fn first_operand(ops: &str) -> &str {
    ops.split(',').next().unwrap_or("").trim()
}

/// Whether objdump's line writes the register whose names are `names`, by the rule of
/// `Effects::writes_sp`: an explicit destination (the first Intel operand) of an
/// instruction that writes its first operand, or PUSH/POP/LEAVE/ENTER for RSP.
fn objdump_writes(l: &ObjLine, names: &[&str], implicit_sp: bool) -> bool {
    let (m, ops) = base_mnemonic(l);
    if implicit_sp
        && matches!(
            m.as_str(),
            "push" | "pop" | "leave" | "enter" | "pushf" | "popf" | "pushfq" | "popfq"
        )
    {
        return true;
    }
    let reads_only = matches!(
        m.as_str(),
        "cmp"
            | "test"
            | "push"
            | "bt"
            | "call"
            | "jmp"
            | "ucomisd"
            | "ucomiss"
            | "comisd"
            | "comiss"
            | "ptest"
            | "prefetcht0"
            | "prefetchnta"
    ) || (m.starts_with('j') && m != "jmp");
    if m == "leave" {
        return names.contains(&"rbp");
    }
    !reads_only && names.contains(&first_operand(&ops))
}

/// The constant objdump's line adds to RSP, when it is ADD/SUB rsp,imm or PUSH/POP.
fn objdump_sp_delta(l: &ObjLine) -> Option<i64> {
    let (m, ops) = base_mnemonic(l);
    match m.as_str() {
        "push" | "pushf" | "pushfq" => Some(-8),
        "pop" if first_operand(&ops) == "rsp" => None,
        "pop" | "popf" | "popfq" => Some(8),
        "add" | "sub" if first_operand(&ops) == "rsp" => {
            let imm = ops.split(',').nth(1)?.trim();
            let v = u64::from_str_radix(imm.strip_prefix("0x")?, 16).ok()? as i64;
            Some(if m == "add" { v } else { v.wrapping_neg() })
        }
        _ => None,
    }
}

/// objdump's text normalised to compare with ours: single spaces after the mnemonic and
/// commas, lower case, symbol annotations (`<...>`) and comments (`# ...`) dropped, `0x`
/// before direct targets.
fn normalise_objdump(l: &ObjLine) -> String {
    let mut ops = l.operands.split(" <").next().unwrap_or("").to_string();
    ops = ops.split('#').next().unwrap_or("").trim().to_string();
    if objdump_flow(l).is_some_and(|f| f.target().is_some()) {
        ops = format!("0x{ops}");
    }
    let asm = format!("{} {}", l.mnemonic, ops.replace(',', ", "));
    asm.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Counters for one binary (for the `main.*` functions or the rest).
#[derive(Default)]
struct Tally {
    insns: usize,
    branches: usize,
    sp_writes: usize,
    sp_deltas: usize,
    fp_writes: usize,
    text_equal: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn summary(&self) -> String {
        format!(
            "{} insns, {} branches, {} RSP writes ({} constant), {} RBP writes, text equal to \
             objdump's {:.1}%, {} disagreements",
            self.insns,
            self.branches,
            self.sp_writes,
            self.sp_deltas,
            self.fp_writes,
            100.0 * self.text_equal as f64 / self.insns.max(1) as f64,
            self.mismatches.len()
        )
    }
}

/// Decodes from each function's first listed instruction onwards, in step with objdump.
fn check(lines: &[&ObjLine], code: &dyn Fn(u64) -> Vec<u8>, t: &mut Tally) {
    let mut expect_at: Option<(u64, &str)> = None;
    for l in lines {
        t.insns += 1;
        let insn = decode(l.addr, &code(l.addr));
        let mut bad = |msg: String| {
            t.mismatches.push(format!(
                "{} {:#x} objdump `{} {}` ours `{}`: {msg}",
                l.func, l.addr, l.mnemonic, l.operands, insn.text
            ))
        };
        // Boundaries: our previous instruction ends where objdump's next one starts.
        if let Some((next, func)) = expect_at
            && func == l.func
            && next != l.addr
        {
            bad(format!("our previous instruction ends at {next:#x}"));
        }
        expect_at = Some((insn.next_addr(), &l.func));
        let theirs_bad = l.mnemonic == "(bad)";
        if theirs_bad == insn.is_decoded() {
            bad("decodable on one side only".into());
            continue;
        }
        if !theirs_bad && insn.bytes != l.bytes {
            bad(format!(
                "bytes: objdump {:02x?}, ours {:02x?}",
                l.bytes, insn.bytes
            ));
        }
        let e = &insn.effects;
        let theirs = objdump_flow(l);
        let ours = class(e.flow);
        let pinned = |f: &Flow| *f != Flow::Next;
        if (theirs.as_ref().is_some_and(pinned) || pinned(&ours)) && theirs != Some(ours) {
            bad(format!("flow: objdump {theirs:?}, ours {ours:?}"));
        }
        t.branches += usize::from(e.flow.target().is_some() || e.flow == Flow::Ret);
        let sp = objdump_writes(l, &["rsp", "esp", "sp", "spl"], true);
        if sp != e.writes_sp {
            bad(format!("writes RSP: objdump {sp}, ours {}", e.writes_sp));
        }
        let fp = objdump_writes(l, &["rbp", "ebp", "bp", "bpl"], false)
            || (base_mnemonic(l).0 == "pop" && first_operand(&l.operands) == "rbp");
        if fp != e.writes_fp {
            bad(format!("writes RBP: objdump {fp}, ours {}", e.writes_fp));
        }
        let delta = objdump_sp_delta(l);
        if delta.is_some() && delta != e.sp_delta {
            bad(format!(
                "RSP delta: objdump {delta:?}, ours {:?}",
                e.sp_delta
            ));
        }
        t.sp_writes += usize::from(e.writes_sp);
        t.sp_deltas += usize::from(e.sp_delta.is_some());
        t.fp_writes += usize::from(e.writes_fp);
        t.text_equal += usize::from(normalise_objdump(l) == insn.text);
    }
}

#[test]
fn every_instruction_agrees_with_gnu_objdump() {
    let bins = amd64_elves(&corpus_dir());
    assert!(
        !bins.is_empty(),
        "no amd64 ELF binary under {} (the corpus is built by scripts/build-corpus)",
        corpus_dir().display()
    );
    let mut failures = Vec::new();
    let mut main_total = 0;
    let mut total = 0;
    for bin in &bins {
        let image = Image::open(bin).expect("the corpus binary reads");
        let lines = parse(&objdump(bin));
        // The bytes from `addr` to the end of its segment's file bytes, at most 15.
        let code = |addr: u64| -> Vec<u8> {
            let seg = image.segment_at(addr).expect("code in a segment");
            let left = (seg.vaddr + seg.file_size - addr).min(15) as usize;
            image.read(addr, left).expect("code in the file").to_vec()
        };
        let (main, rest): (Vec<&ObjLine>, Vec<&ObjLine>) =
            lines.iter().partition(|l| l.func.starts_with("main."));
        let mut m = Tally::default();
        check(&main, &code, &mut m);
        let mut r = Tally::default();
        check(&rest, &code, &mut r);
        let shown = bin.strip_prefix(corpus_dir()).unwrap_or(bin).display();
        eprintln!("corpus/{shown}: main.*: {}", m.summary());
        eprintln!("corpus/{shown}: the rest: {}", r.summary());
        assert!(
            m.insns > 100,
            "{shown}: only {} main.* instructions",
            m.insns
        );
        main_total += m.insns;
        total += m.insns + r.insns;
        failures.extend(m.mismatches);
        failures.extend(r.mismatches);
    }
    eprintln!("total: {total} instructions checked, {main_total} of them in main.* functions");
    assert!(
        failures.is_empty(),
        "{} disagreements with objdump, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}
