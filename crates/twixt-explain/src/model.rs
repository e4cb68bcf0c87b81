//! The table model: one [`Row`] per instruction boundary, with every column already worked
//! out (positions relative to the caller's SP, whether R29 is a usable frame pointer, where
//! the Go unwinder reads the return PC and what it finds) and a plain-language explanation.
//! Both renderers read only this, so the terminal table and the web page always agree.

use serde::Serialize;
use twixt_check::{Severity, WalkVerdict};

use crate::BoundaryRecord;

/// Boundaries shown around each interesting one in the default (not `--all`) view.
const NEIGHBOURS: usize = 2;

/// Everything about one function that the renderers show.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    /// File name of the binary (no directories).
    pub binary: String,
    /// Go version from the build info, when known.
    pub go_version: Option<String>,
    /// Function name.
    pub function: String,
    /// Entry PC (hex).
    pub entry: String,
    /// The steady frame size: the largest pcsp value.
    pub frame: u64,
    /// Every boundary the scan ran, sorted by PC.
    pub rows: Vec<Row>,
    /// Indices into `rows` of the rows the table shows (sorted): by default every boundary
    /// where SP is not the steady frame, pcsp is not the steady value, the frame record is
    /// not in place or a walk goes wrong, with two neighbours each.
    pub shown: Vec<usize>,
    /// Index into `rows` of the boundary to start at (marked `>` in the table).
    pub start: Option<usize>,
    /// Number of rows that are windows.
    pub windows: usize,
    /// A lesson's title and introduction, when rendering a lesson.
    pub lesson: Option<LessonText>,
}

/// A lesson's words, carried to the renderers.
#[derive(Clone, Debug, Serialize)]
pub struct LessonText {
    /// The lesson's name (`73259`).
    pub name: String,
    /// One-line title.
    pub title: String,
    /// Paragraphs of introduction.
    pub intro: Vec<String>,
}

/// Whether R29 can serve as a frame pointer at a boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct R29State {
    /// R29 holds the caller's R29, or points at a record at SP-8 the walk can follow.
    pub valid: bool,
    /// Short words for the table: "caller's R29", "record at sp-8", "into popped frame".
    pub what: String,
}

/// One model unwinder's walk, as shown.
#[derive(Clone, Debug, Serialize)]
pub struct WalkView {
    /// Right, wrong (how) or not judged; serialized as its name.
    pub verdict: WalkVerdict,
    /// `preemptible` or `signal-only` when not ok.
    pub severity: Option<Severity>,
    /// Where it read the return PC, relative to SP: `[sp+0x0]`; `None` when it used LR.
    pub slot_sp: Option<String>,
    /// The slot relative to the caller's SP (for the diagram).
    pub slot_rel: Option<i64>,
    /// The value read (hex).
    pub read: Option<String>,
    /// What that value is: `func+0xoff` or `in no function`.
    pub read_symbol: Option<String>,
    /// The caller's SP the walk computed, relative to the true one.
    pub computed_caller_sp_rel: Option<i64>,
    /// What the walk or the runtime does at the end.
    pub outcome: String,
}

/// One instruction boundary.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Index in `Explanation::rows`.
    pub index: usize,
    /// PC (hex).
    pub pc: String,
    /// Offset from the entry.
    pub offset: u64,
    /// The instruction about to execute.
    pub instruction: String,
    /// SP relative to the caller's SP (negative: below it).
    pub sp_rel: i64,
    /// The pcsp value here.
    pub pcsp: Option<u64>,
    /// PCDATA UnsafePoint.
    pub unsafe_point: i32,
    /// Whether asynchronous preemption may land here.
    pub preemptible: bool,
    /// Where a preemption here resumes, when not at this PC (a restartable sequence).
    pub resume_pc: Option<String>,
    /// R29 relative to SP, when it is a stack address near this frame.
    pub r29_sp: Option<i64>,
    /// R29 relative to the caller's SP (for the diagram).
    pub r29_rel: Option<i64>,
    /// Whether R29 is a usable frame pointer.
    pub r29: R29State,
    /// The true return PC (hex) and its symbol.
    pub true_return_pc: String,
    /// Where the true return PC is saved, relative to the caller's SP.
    pub true_slot_rel: Option<i64>,
    /// The same, relative to SP: `[sp-0x170]`.
    pub true_slot_sp: Option<String>,
    /// The Go runtime's traceback.
    pub go: WalkView,
    /// The frame-pointer walk.
    pub fp: WalkView,
    /// Either unwinder goes wrong here.
    pub window: bool,
    /// The worse severity of the two walks when this is a window.
    pub severity: Option<Severity>,
    /// Plain-language paragraphs explaining this boundary.
    pub explanation: Vec<String>,
}

/// How far from the caller's SP an address may be to be shown relative to it (frames in
/// the corpus reach 16 MiB; the caller's own frame lies above).
const NEAR: i64 = 64 << 20;

fn rel(addr: u64, base: u64) -> Option<i64> {
    let d = addr.wrapping_sub(base) as i64;
    (-NEAR..=NEAR).contains(&d).then_some(d)
}

/// `sp+0x10`, `sp-0x8`, `sp`.
pub fn signed(base: &str, d: i64) -> String {
    match d {
        0 => base.to_string(),
        d if d < 0 => format!("{base}-{:#x}", d.unsigned_abs()),
        d => format!("{base}+{d:#x}"),
    }
}

/// `caller-0x11170`: a position relative to the caller's SP, as the scan report writes it.
pub fn caller_rel(d: i64) -> String {
    signed("caller", d)
}

fn slot_sp(slot: u64, sp: u64) -> Option<String> {
    rel(slot, sp).map(|d| match d {
        0 => "[sp+0x0]".to_string(),
        d => format!("[{}]", signed("sp", d)),
    })
}

fn walk_view(w: &crate::WalkRecord, r: &BoundaryRecord) -> WalkView {
    WalkView {
        verdict: w.verdict,
        severity: if w.verdict.is_wrong() {
            w.severity
        } else {
            None
        },
        slot_sp: w
            .slot
            .map(|s| slot_sp(s, r.sp).unwrap_or_else(|| format!("[{s:#x}]"))),
        slot_rel: w.slot.and_then(|s| rel(s, r.caller_sp)),
        read: w.read.map(|v| format!("{v:#x}")),
        read_symbol: w.read_symbol.clone(),
        computed_caller_sp_rel: w.computed_caller_sp.and_then(|c| rel(c, r.caller_sp)),
        outcome: w.outcome.clone(),
    }
}

/// Classifies R29 at a boundary: the caller's R29 and a followable record at SP-8 are
/// valid; anything else is named by where it points.
fn r29_state(r: &BoundaryRecord, frame: u64) -> R29State {
    let valid = |what: &str| R29State {
        valid: true,
        what: what.into(),
    };
    let invalid = |what: String| R29State { valid: false, what };
    if r.r29 == r.caller_r29 {
        return valid("caller's R29");
    }
    let below_sp8 = r.sp.wrapping_sub(8);
    if r.r29 == below_sp8 {
        return if r.fp.verdict == WalkVerdict::Ok {
            valid("record at sp-8")
        } else {
            invalid("sp-8, record not followable".into())
        };
    }
    let Some(d) = rel(r.r29, r.caller_sp) else {
        return invalid("not a stack address".into());
    };
    if !r.r29.is_multiple_of(8) {
        return invalid("misaligned".into());
    }
    if r.r29 < below_sp8 {
        // Below the live part of the stack: into the frame the epilogue popped, or into
        // free stack below the frame altogether.
        let bottom = -(frame as i64) - 8;
        return if d >= bottom {
            invalid("into popped frame".into())
        } else {
            invalid("below sp, free stack".into())
        };
    }
    if d < 0 && r.fp.verdict == WalkVerdict::Ok {
        // A record inside the frame that the walk follows to the right return PCs: the
        // function's own record where SP has since moved (a frame extended by hand).
        valid(&format!(
            "record at {}",
            signed("sp", d - (r.sp as i64 - r.caller_sp as i64))
        ))
    } else if d < 0 {
        invalid("half-computed".into())
    } else {
        invalid("above the frame, not the caller's".into())
    }
}

fn worse(a: Option<Severity>, b: Option<Severity>) -> Option<Severity> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The plain-language paragraphs for `row` of a function with a `frame`-byte frame;
/// `popped` when an earlier boundary had the whole frame (a partial frame is being popped).
fn explain_row(row: &Row, frame: u64, popped: bool) -> Vec<String> {
    let mut out = vec![
        stack_paragraph(row, frame, popped),
        go_paragraph(row),
        preemption_paragraph(row),
        fp_paragraph(row),
    ];
    out.extend(window_paragraph(row));
    out
}

/// Where SP is against the frame, and whether pcsp agrees.
fn stack_paragraph(row: &Row, frame: u64, popped: bool) -> String {
    let below = (-row.sp_rel).max(0) as u64;
    let stack = if row.sp_rel == 0 {
        "SP is the caller's SP: this function has no frame on the stack here (before the \
         prologue has moved SP, or after the epilogue has popped it)."
            .to_string()
    } else if below == frame {
        format!(
            "SP is {}: the whole {frame:#x}-byte frame is in place.",
            caller_rel(row.sp_rel)
        )
    } else if below < frame {
        format!(
            "SP is {}: {:#x} of the {frame:#x} bytes of the frame are on the stack, {:#x} {}.",
            caller_rel(row.sp_rel),
            below,
            frame - below,
            if popped {
                "already popped by the epilogue"
            } else {
                "not yet pushed by the prologue"
            }
        )
    } else {
        format!(
            "SP is {}, below the {frame:#x}-byte frame.",
            caller_rel(row.sp_rel)
        )
    };
    let meta = match row.pcsp {
        Some(p) if p == below => format!("pcsp says {p:#x}, which agrees."),
        Some(p) => format!(
            "pcsp says {p:#x}: the metadata disagrees with the machine by {:#x} bytes.",
            p.abs_diff(below)
        ),
        None => "This PC has no pcsp value.".into(),
    };
    format!("{stack} {meta}")
}

/// Where the Go unwinder reads the return PC, what it finds, and whether that is right.
fn go_paragraph(row: &Row) -> String {
    let go = &row.go;
    let mut gp = String::new();
    match (&go.slot_sp, &go.read) {
        (Some(slot), Some(read)) => {
            gp.push_str("The Go unwinder takes the caller's SP to be SP + pcsp");
            match go.computed_caller_sp_rel {
                Some(0) => gp.push_str(" (the true one)"),
                Some(d) => gp.push_str(&format!(
                    ", {:#x} bytes {} the true one",
                    d.unsigned_abs(),
                    if d > 0 { "above" } else { "below" }
                )),
                None => {}
            }
            gp.push_str(&format!(
                ", and reads the return PC at {slot}: {read} ({}).",
                go.read_symbol.as_deref().unwrap_or("?")
            ));
        }
        (None, Some(read)) => gp.push_str(&format!(
            "With no frame recorded here the Go unwinder takes the return PC from LR: {read} \
             ({}).",
            go.read_symbol.as_deref().unwrap_or("?")
        )),
        _ => gp.push_str("The Go unwinder reads no return PC here."),
    }
    if go.verdict == WalkVerdict::NotJudged {
        gp = format!("The Go unwinder is not judged here: {}.", go.outcome);
    } else if go.verdict == WalkVerdict::Ok {
        if go.read.is_some() {
            gp.push_str(" That is the true return PC: the traceback is right.");
        }
    } else {
        gp.push_str(&format!(" The true return PC is {}", row.true_return_pc));
        match &row.true_slot_sp {
            Some(s) => gp.push_str(&format!(", saved at {s}.")),
            None => gp.push_str(", not yet saved on the stack (it is in LR)."),
        }
        gp.push_str(&format!(" Verdict {}: {}.", go.verdict, go.outcome));
    }
    gp
}

/// Whether asynchronous preemption may land here, and if not, why.
fn preemption_paragraph(row: &Row) -> String {
    if row.preemptible {
        let mut s = format!(
            "Asynchronous preemption may land here (UnsafePoint {}, isAsyncSafePoint says \
             yes)",
            row.unsafe_point
        );
        if let Some(resume) = &row.resume_pc {
            s.push_str(&format!(", resuming at {resume} (a restartable sequence)"));
        }
        s.push_str(": a GC stack scan of the stopped goroutine walks exactly this stack.");
        s
    } else {
        let why = match row.unsafe_point {
            -2 => "UnsafePoint -2: the compiler or assembler marked this instruction unsafe",
            -1 => "isAsyncSafePoint refuses this function or PC",
            _ => "a restartable or unsafe UnsafePoint value",
        };
        format!(
            "Asynchronous preemption does not land here ({why}); only a profiling signal or \
             a crash handler can observe this boundary.",
        )
    }
}

/// Whether R29 is a valid frame pointer, and how the frame-pointer walk fares.
fn fp_paragraph(row: &Row) -> String {
    let mut fp = format!(
        "R29 {}: {}.",
        if row.r29.valid {
            "is a valid frame pointer"
        } else {
            "is not a valid frame pointer"
        },
        row.r29.what
    );
    if row.fp.verdict == WalkVerdict::NotJudged {
        fp.push_str(&format!(
            " The frame-pointer walk is not judged here: {}.",
            row.fp.outcome
        ));
    } else if row.fp.verdict == WalkVerdict::Ok {
        fp.push_str(" The frame-pointer walk finds the right return PCs.");
    } else {
        fp.push_str(&format!(
            " The frame-pointer walk goes wrong ({}): {}.",
            row.fp.verdict, row.fp.outcome
        ));
    }
    fp
}

/// For a window, what kind it is and who is hurt by it.
fn window_paragraph(row: &Row) -> Option<String> {
    let go_wrong = row.go.verdict.is_wrong();
    let sev = row.severity?;
    Some(match (sev, go_wrong) {
        (Severity::Preemptible, true) => "Window (preemptible): the runtime itself can stop \
            the goroutine here, and its stack scan then goes wrong."
            .into(),
        (Severity::SignalOnly, true) => "Window (signal-only): only a profiling signal or \
            crash handler can land here; it gets a wrong traceback, the runtime does not \
            crash."
            .into(),
        (Severity::Preemptible, false) => "Window for frame-pointer unwinders \
            (preemptible): the runtime may stop the goroutine here, and a frame-pointer \
            traceback taken then (the execution tracer, perf, eBPF) is wrong; Go's own \
            stack scan is not affected."
            .into(),
        (Severity::SignalOnly, false) => "Window for frame-pointer unwinders \
            (signal-only): a profiling signal landing here (perf, eBPF) gets a wrong \
            frame-pointer traceback; Go's own stack scan is not affected."
            .into(),
    })
}

/// Which rows the table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The prologue, every epilogue and every window, with neighbours for context.
    Interesting,
    /// Every boundary.
    All,
}

/// Builds the model from the scanner's records for one function (any order).
pub fn build(
    binary: &str,
    go_version: Option<&str>,
    function: &str,
    entry: u64,
    frame: u64,
    mut records: Vec<BoundaryRecord>,
    selection: Selection,
) -> Explanation {
    records.sort_by_key(|r| r.pc);
    records.dedup_by_key(|r| r.pc);
    let mut rows = Vec::with_capacity(records.len());
    // Whether an earlier boundary had the whole frame: a partial frame after one is being
    // popped, before one is being pushed.
    let mut seen_full = false;
    for (index, r) in records.iter().enumerate() {
        let sp_rel = r.sp.wrapping_sub(r.caller_sp) as i64;
        let go = walk_view(&r.go, r);
        let fp = walk_view(&r.fp, r);
        let window = go.verdict.is_wrong() || fp.verdict.is_wrong();
        let severity = if window {
            worse(go.severity, fp.severity)
        } else {
            None
        };
        let mut row = Row {
            index,
            pc: format!("{:#x}", r.pc),
            offset: r.offset,
            instruction: r.instruction.clone(),
            sp_rel,
            pcsp: r.pcsp,
            unsafe_point: r.unsafe_point,
            preemptible: r.resume_pc.is_some(),
            resume_pc: r
                .resume_pc
                .filter(|&p| p != r.pc)
                .map(|p| format!("{p:#x}")),
            r29_sp: rel(r.r29, r.sp),
            r29_rel: rel(r.r29, r.caller_sp),
            r29: r29_state(r, frame),
            true_return_pc: format!("{:#x}", r.true_return_pc),
            true_slot_rel: r.true_return_slot.and_then(|s| rel(s, r.caller_sp)),
            true_slot_sp: r.true_return_slot.and_then(|s| slot_sp(s, r.sp)),
            go,
            fp,
            window,
            severity,
            explanation: Vec::new(),
        };
        row.explanation = explain_row(&row, frame, seen_full);
        seen_full |= sp_rel == -(frame as i64);
        rows.push(row);
    }
    let interesting: Vec<bool> = rows
        .iter()
        .map(|r| {
            // Where the frame record is not in place (R29 restored or not yet set) the
            // prologue or an epilogue is under way even while SP still holds the frame.
            let record = frame == 0 || r.r29.what == "record at sp-8";
            r.window || r.sp_rel != -(frame as i64) || r.pcsp != Some(frame) || !record
        })
        .collect();
    let shown = match selection {
        Selection::All => (0..rows.len()).collect(),
        Selection::Interesting => {
            let mut keep = vec![false; rows.len()];
            for (i, _) in interesting.iter().enumerate().filter(|(_, x)| **x) {
                let lo = i.saturating_sub(NEIGHBOURS);
                let hi = (i + NEIGHBOURS).min(rows.len().saturating_sub(1));
                for k in keep.iter_mut().take(hi + 1).skip(lo) {
                    *k = true;
                }
            }
            (0..rows.len()).filter(|&i| keep[i]).collect()
        }
    };
    let windows = rows.iter().filter(|r| r.window).count();
    let start = rows
        .iter()
        .position(|r| r.go.verdict.is_wrong())
        .or_else(|| rows.iter().position(|r| r.window));
    Explanation {
        binary: binary.to_string(),
        go_version: go_version.map(str::to_string),
        function: function.to_string(),
        entry: format!("{entry:#x}"),
        frame,
        rows,
        shown,
        start,
        windows,
        lesson: None,
    }
}

impl Explanation {
    /// Marks the boundary at `pc` (absolute) as the one to start at, and makes sure the table
    /// shows it. Returns false when the function has no boundary there.
    pub fn start_at(&mut self, pc: u64) -> bool {
        let Some(i) = self.rows.iter().position(|r| r.pc == format!("{pc:#x}")) else {
            return false;
        };
        self.start = Some(i);
        if let Err(pos) = self.shown.binary_search(&i) {
            self.shown.insert(pos, i);
        }
        true
    }

    /// The entry PC as a number.
    pub fn entry_pc(&self) -> u64 {
        u64::from_str_radix(self.entry.trim_start_matches("0x"), 16).unwrap_or(0)
    }
}
