//! Unit tests over a synthetic function shaped like the go1.23.4 `main.nonleaf70000`
//! epilogue (the real corpus runs are in `crates/twixt/tests/explain.rs`).

use twixt_check::{Severity, Verdict, WalkVerdict};

use crate::model::{Selection, build};
use crate::{BoundaryRecord, WalkRecord};

const CSP: u64 = 0x4000_0000;
const FRAME: u64 = 0x11170;
const ENTRY: u64 = 0x88000;
const RET: u64 = 0x9565c;
const CALLER_R29: u64 = CSP + 0x38;

fn ok_walk(slot: Option<u64>, computed: Option<u64>) -> WalkRecord {
    WalkRecord {
        verdict: WalkVerdict::Ok,
        severity: None,
        slot,
        read: Some(RET),
        read_symbol: Some("main.main+0x2c".into()),
        computed_caller_sp: computed,
        outcome: "complete traceback".into(),
    }
}

fn rec(i: u64, insn: &str, sp: u64, pcsp: u64, r29: u64) -> BoundaryRecord {
    let steady = sp == CSP - FRAME;
    BoundaryRecord {
        function: "main.f".into(),
        pc: ENTRY + 4 * i,
        offset: 4 * i,
        instruction: insn.into(),
        caller_sp: CSP,
        sp,
        r29,
        lr: RET,
        pcsp: Some(pcsp),
        unsafe_point: -1,
        resume_pc: Some(ENTRY + 4 * i),
        true_return_pc: RET,
        true_return_slot: (pcsp > 0 || steady).then_some(CSP - FRAME),
        caller_r29: CALLER_R29,
        go: ok_walk((pcsp > 0).then_some(sp), Some(CSP)),
        fp: ok_walk(None, None),
    }
}

/// Records in shuffled order, like a scan over regions.
pub(crate) fn synthetic() -> Vec<BoundaryRecord> {
    let low = CSP - FRAME;
    let mut v = vec![
        rec(0, "ldr x16, [x28, #16]", CSP, 0, CALLER_R29),
        rec(1, "mov sp, x20", CSP, 0, CALLER_R29),
        rec(2, "sub x29, sp, #0x8", low, FRAME, CALLER_R29),
    ];
    for i in 3..12 {
        v.push(rec(i, "add x0, x2, x1", low, FRAME, low - 8));
    }
    v.push(rec(12, "ldp x29, x30, [sp, #-8]", low, FRAME, low - 8));
    v.push(rec(13, "add sp, sp, #0x170", low, FRAME, CALLER_R29));
    let mut w = rec(
        14,
        "add sp, sp, #0x11, lsl #12",
        CSP - 0x11000,
        FRAME,
        CALLER_R29,
    );
    w.go = WalkRecord {
        verdict: WalkVerdict::Wrong(Verdict::UnexpectedReturnPc),
        severity: Some(Severity::Preemptible),
        slot: Some(CSP - 0x11000),
        read: Some(0x308000),
        read_symbol: Some("in no function".into()),
        computed_caller_sp: Some(CSP + 0x170),
        outcome: "runtime: unexpected return pc 0x308000".into(),
    };
    v.push(w);
    v.push(rec(15, "ret", CSP, 0, CALLER_R29));
    let mut popped = rec(16, "sub x29, sp, #0x8", CSP, 0, low - 8);
    popped.fp = WalkRecord {
        verdict: WalkVerdict::Wrong(Verdict::FpBelowSp),
        severity: Some(Severity::SignalOnly),
        slot: Some(low),
        read: Some(RET),
        read_symbol: Some("main.main+0x2c".into()),
        computed_caller_sp: None,
        outcome: "R29 points below SP-8, into free stack".into(),
    };
    popped.resume_pc = None;
    v.push(popped);
    v.reverse();
    v
}

fn model(sel: Selection) -> crate::Explanation {
    build(
        "frames",
        Some("go1.23.4"),
        "main.f",
        ENTRY,
        FRAME,
        synthetic(),
        sel,
    )
}

#[test]
fn rows_sorted_and_window_found() {
    let ex = model(Selection::Interesting);
    assert!(ex.rows.windows(2).all(|w| w[0].offset < w[1].offset));
    assert_eq!(ex.windows, 2);
    let w = &ex.rows[14];
    assert!(w.window);
    assert_eq!(w.severity, Some(Severity::Preemptible));
    assert_eq!(w.sp_rel, -0x11000);
    assert_eq!(w.go.slot_sp.as_deref(), Some("[sp+0x0]"));
    assert_eq!(w.true_slot_sp.as_deref(), Some("[sp-0x170]"));
    assert_eq!(w.go.computed_caller_sp_rel, Some(0x170));
    assert_eq!(ex.start, Some(14));
    let text = w.explanation.join(" ");
    assert!(text.contains("0x170 bytes above the true one"), "{text}");
    assert!(text.contains("0x308000 (in no function)"), "{text}");
}

#[test]
fn default_view_keeps_prologue_epilogue_and_neighbours() {
    let ex = model(Selection::Interesting);
    // Rows 0-2 (no frame or no frame record yet) and two neighbours; 13-16 (the record
    // restored, then SP popped) and two before.
    assert_eq!(ex.shown, vec![0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16]);
    let all = model(Selection::All);
    assert_eq!(all.shown.len(), all.rows.len());
}

#[test]
fn r29_states() {
    let ex = model(Selection::Interesting);
    assert_eq!(ex.rows[0].r29.what, "caller's R29");
    assert!(ex.rows[0].r29.valid);
    assert_eq!(ex.rows[5].r29.what, "record at sp-8");
    assert!(ex.rows[5].r29.valid);
    assert_eq!(ex.rows[16].r29.what, "into popped frame");
    assert!(!ex.rows[16].r29.valid);
    assert_eq!(ex.rows[16].severity, Some(Severity::SignalOnly));
}

#[test]
fn text_marks_window_and_start_without_colour() {
    let ex = model(Selection::Interesting);
    let t = crate::text::render(&ex, false);
    assert!(!t.contains('\x1b'));
    let line = t
        .lines()
        .find(|l| l.contains("add sp, sp, #0x11, lsl #12"))
        .expect("window row");
    assert!(line.starts_with(">!"), "{line}");
    assert!(
        line.contains("[sp+0x0] = 0x308000 (in no function)"),
        "{line}"
    );
    assert!(
        line.contains("unexpected-return-pc (preemptible)"),
        "{line}"
    );
    assert!(
        t.contains("... 6 boundaries with the whole frame in place"),
        "{t}"
    );
    let coloured = crate::text::render(&ex, true);
    assert!(coloured.contains("\x1b[1;31m"));
}

#[test]
fn html_is_self_contained_and_embeds_the_model() {
    let mut ex = model(Selection::Interesting);
    ex.function = "main.</script><b>".into();
    let page = crate::html::render(&ex);
    assert!(!page.contains("http://") || !page.contains("src=\"http"));
    assert!(!page.contains("<link"));
    assert!(!page.contains("src="));
    assert!(
        !page.contains("</script><b>"),
        "the function name must be escaped"
    );
    let start = page.find("id=\"twixt-data\">").expect("data") + "id=\"twixt-data\">".len();
    let end = start + page[start..].find("</script>").expect("end");
    let v: serde_json::Value = serde_json::from_str(&page[start..end]).expect("json");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(17));
    assert_eq!(v["start"], 14);
}
