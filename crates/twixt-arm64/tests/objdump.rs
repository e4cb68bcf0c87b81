//! Cross-check against GNU objdump on real Go arm64 binaries: every instruction of every
//! AArch64 ELF file under `corpus/` is decoded by this crate and compared with objdump's
//! listing of the same address.
//!
//! Pinned down exactly: the branch class (b, bl, b.cond, cbz/cbnz/tbz/tbnz, br, blr, ret
//! and their authenticated forms) with its target address or register; traps (udf, brk,
//! hlt, undefined words); which general-purpose registers are written (including SP,
//! R29 and R30); the constant of `SP = SP + constant`; and that PC-relative operands in
//! our text are the absolute addresses objdump prints.
//!
//! The test fails, rather than skipping, when objdump or the corpus is missing: CI
//! installs both. Extra binaries can be added with `TWIXT_ARM64_EXTRA_ELF=a:b:c`.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{
    ObjLine, find_arm64_elves, is_branch_class, objdump_flow, objdump_sp_delta, objdump_written,
    parse_listing, run_objdump, split_operands,
};
use twixt_arm64::{Flow, decode};

/// Counters for one listing.
#[derive(Default, Debug)]
struct Tally {
    insns: usize,
    branches: usize,
    sp_writes: usize,
    sp_deltas: usize,
    fp_writes: usize,
    lr_writes: usize,
    written_checked: usize,
    text_equal: usize,
    yaxpeax_undecoded: usize,
    mismatches: Vec<String>,
}

/// objdump's text, normalised to compare with ours: single spaces, `0x` on branch
/// targets, and symbol annotations and comments dropped (already done by the parser).
fn objdump_text(l: &ObjLine) -> String {
    let mut ops = l.operands.clone();
    if objdump_flow(l).is_some_and(|f| f.target().is_some())
        || matches!(l.mnemonic.as_str(), "adr" | "adrp")
        || (l.mnemonic.starts_with("ld") && !ops.contains('['))
    {
        // objdump prints PC-relative addresses as bare hex in ELF listings.
        let parts = split_operands(&ops);
        if let Some((last, init)) = parts.split_last() {
            let mut v: Vec<String> = init.to_vec();
            v.push(if last.starts_with("0x") {
                last.clone()
            } else {
                format!("0x{last}")
            });
            ops = v.join(", ");
        }
    }
    if ops.is_empty() {
        l.mnemonic.clone()
    } else {
        format!("{} {}", l.mnemonic, ops)
    }
}

fn check_listing(lines: &[ObjLine], tally: &mut Tally, what: &str) {
    for l in lines {
        tally.insns += 1;
        let insn = decode(l.addr, l.word);
        let e = &insn.effects;
        let mut bad = |msg: String| {
            if tally.mismatches.len() < 200 {
                tally.mismatches.push(format!(
                    "{what} {:#x} {:08x} objdump `{} {}` ours `{}`: {msg}",
                    l.addr, l.word, l.mnemonic, l.operands, insn.text
                ));
            }
        };
        if !insn.is_decoded() {
            tally.yaxpeax_undecoded += 1;
        }

        // Branches must agree on class and target (or register) and traps on being traps;
        // neither side may see one where the other sees an ordinary instruction.
        let theirs = objdump_flow(l);
        let pinned = |f: &Flow| is_branch_class(f) || *f == Flow::Trap;
        if (theirs.as_ref().is_some_and(pinned) || pinned(&e.flow)) && theirs != Some(e.flow) {
            bad(format!("flow: objdump {theirs:?}, ours {:?}", e.flow));
        }
        let ours_branch = is_branch_class(&e.flow);
        if ours_branch {
            tally.branches += 1;
        }
        if let Some(t) = e.flow.target()
            && !insn.text.contains(&format!("{t:#x}"))
        {
            bad(format!("target {t:#x} not in our text"));
        }

        if let Some(w) = objdump_written(l) {
            tally.written_checked += 1;
            if w.contains_sp() != e.writes_sp {
                bad(format!(
                    "writes_sp: objdump {}, ours {}",
                    w.contains_sp(),
                    e.writes_sp
                ));
            } else if w != e.written {
                bad(format!(
                    "written: objdump {:#x}, ours {:#x}",
                    w.0, e.written.0
                ));
            }
        }
        tally.sp_writes += usize::from(e.writes_sp);
        tally.fp_writes += usize::from(e.writes_fp);
        tally.lr_writes += usize::from(e.writes_lr);

        let delta = objdump_sp_delta(l);
        if delta != e.sp_delta {
            bad(format!(
                "sp_delta: objdump {delta:?}, ours {:?}",
                e.sp_delta
            ));
        }
        tally.sp_deltas += usize::from(e.sp_delta.is_some());

        if objdump_text(l) == insn.text {
            tally.text_equal += 1;
        }
    }
}

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    dir.canonicalize().unwrap_or(dir)
}

fn binaries() -> Vec<PathBuf> {
    let mut bins = find_arm64_elves(&corpus_dir());
    if let Ok(extra) = std::env::var("TWIXT_ARM64_EXTRA_ELF") {
        bins.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    bins
}

/// Lists and checks one binary; returns its summary line and its disagreements, or
/// `None` when its instruction words are identical to an already checked binary (the
/// stripped twins in the corpus).
fn check_binary(
    bin: &Path,
    seen: &Mutex<HashMap<u64, String>>,
) -> Option<(String, Vec<String>, usize)> {
    let shown = bin
        .strip_prefix(corpus_dir())
        .map(|p| format!("corpus/{}", p.display()))
        .unwrap_or_else(|_| bin.display().to_string());
    let path = bin.to_str().expect("UTF-8 path");
    // `-z`: list runs of zero words too instead of eliding them as "...".
    let listing = run_objdump(&["-d", "-z", path]);
    let lines = parse_listing(&listing);
    assert!(!lines.is_empty(), "{shown}: objdump listed no instructions");
    let mut h = DefaultHasher::new();
    for l in &lines {
        (l.addr, l.word).hash(&mut h);
    }
    if let Some(twin) = seen
        .lock()
        .expect("no poisoned lock")
        .insert(h.finish(), shown.clone())
    {
        return Some((
            format!("{shown}: same instruction words as {twin}, not checked twice"),
            Vec::new(),
            0,
        ));
    }
    let mut t = Tally::default();
    check_listing(&lines, &mut t, &shown);
    let summary = format!(
        "{shown}: {} insns, {} branches, {} SP writes ({} constant), {} R29 writes, \
         {} R30 writes, {} register-write sets compared, text equal to objdump's {:.1}%, \
         yaxpeax-undecoded {}",
        t.insns,
        t.branches,
        t.sp_writes,
        t.sp_deltas,
        t.fp_writes,
        t.lr_writes,
        t.written_checked,
        100.0 * t.text_equal as f64 / t.insns as f64,
        t.yaxpeax_undecoded
    );
    Some((summary, t.mismatches, t.insns))
}

#[test]
fn corpus_binaries_agree_with_objdump() {
    let bins = binaries();
    assert!(
        !bins.is_empty(),
        "no AArch64 ELF binary under {} (the corpus is built by scripts/build-corpus and \
         required here)",
        corpus_dir().display()
    );
    // Binaries are independent: check them on all cores.
    let next = AtomicUsize::new(0);
    let seen = Mutex::new(HashMap::new());
    let results = Mutex::new(vec![None; bins.len()]);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(bins.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(bin) = bins.get(i) else { break };
                    let r = check_binary(bin, &seen);
                    results.lock().expect("no poisoned lock")[i] = r;
                }
            });
        }
    });
    let mut summary = String::new();
    let mut mismatches = Vec::new();
    let mut insns = 0;
    for (s, m, n) in results
        .into_inner()
        .expect("no poisoned lock")
        .into_iter()
        .flatten()
    {
        let _ = writeln!(summary, "{s}");
        mismatches.extend(m);
        insns += n;
    }
    let _ = writeln!(summary, "total: {insns} instructions checked");
    eprint!("{summary}");
    assert!(
        mismatches.is_empty(),
        "{} disagreements with objdump, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(60)].join("\n")
    );
}
