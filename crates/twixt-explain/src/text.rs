//! The terminal renderer: a fixed-column table of the shown boundaries, windows marked with
//! `!` (and coloured when asked), the start boundary marked with `>`, then the plain-language
//! explanation of the start boundary. Deterministic: no paths, no timestamps.

use std::fmt::Write as _;

use twixt_check::Severity;

use crate::model::{Explanation, Row, caller_rel, signed};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

/// Width the prose paragraphs are wrapped to.
const WRAP: usize = 96;

/// Wraps `text` at word boundaries to `width` columns, each line prefixed with `indent`.
pub fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

/// The R29 column: where R29 points (relative to SP when near it) and whether it is a valid
/// frame pointer, and if not, why.
pub fn r29_cell(row: &Row) -> String {
    if row.r29.what == "caller's R29" {
        return "caller's (valid)".into();
    }
    let at = row
        .r29_sp
        .map_or_else(|| "far".to_string(), |d| signed("sp", d));
    if row.r29.valid {
        format!("{at} (valid record)")
    } else {
        format!("{at}: invalid, {}", row.r29.what)
    }
}

/// Where the Go unwinder reads the return PC and what it finds.
pub fn go_reads(row: &Row) -> String {
    let sym = row.go.read_symbol.as_deref().unwrap_or("?");
    match (&row.go.slot_sp, &row.go.read) {
        (Some(slot), Some(v)) => format!("{slot} = {v} ({sym})"),
        (None, Some(v)) => format!("LR = {v} ({sym})"),
        _ => "-".into(),
    }
}

/// `ok`, or `verdict (severity)`.
pub fn verdict(v: &crate::model::WalkView) -> String {
    match v.severity {
        Some(s) if v.verdict.is_wrong() => format!("{} ({})", v.verdict, s.name()),
        _ => v.verdict.to_string(),
    }
}

/// Renders the table. `color` adds ANSI escapes (the caller decides: a terminal, no
/// NO_COLOR).
pub fn render(ex: &Explanation, color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    render_heading(&mut out, ex, paint);
    let cells = table_cells(ex);
    if cells.is_empty() {
        let _ = writeln!(
            out,
            "No boundary moves SP away from the steady frame, disagrees with pcsp or is a \
             window: --all shows every boundary."
        );
        return out;
    }
    render_table(&mut out, ex, &cells, paint);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        paint.with(
            DIM,
            "! a window (go or fp walk wrong)  > the boundary explained below  SP: relative to \
             the caller's SP  UNSAFE: PCDATA UnsafePoint, then whether asynchronous preemption \
             may land here"
        )
    );
    if let Some(row) = ex.start.and_then(|i| ex.rows.get(i)) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            paint.with(
                BOLD,
                &format!("At {} +{:#x}: {}", row.pc, row.offset, row.instruction)
            )
        );
        for p in &row.explanation {
            out.push_str(&wrap(p, "  ", WRAP));
        }
    }
    out
}

/// Whether to colour, and how.
#[derive(Clone, Copy)]
struct Paint {
    color: bool,
}

impl Paint {
    /// `s` in the ANSI style `code` when colouring, else as it is.
    fn with(self, code: &str, s: &str) -> String {
        if self.color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    }
}

/// The lesson's title and introduction (when there is one), the function and the counts of
/// boundaries and windows.
fn render_heading(out: &mut String, ex: &Explanation, paint: Paint) {
    if let Some(lesson) = &ex.lesson {
        let _ = writeln!(
            out,
            "{}",
            paint.with(BOLD, &format!("Lesson {}: {}", lesson.name, lesson.title))
        );
        let _ = writeln!(out);
        for p in &lesson.intro {
            out.push_str(&wrap(p, "", WRAP));
            let _ = writeln!(out);
        }
    }
    let version = ex.go_version.as_deref().unwrap_or("unknown Go version");
    let _ = writeln!(
        out,
        "{}",
        paint.with(
            BOLD,
            &format!("twixt explain {} in {} ({version})", ex.function, ex.binary)
        )
    );
    let preemptible = ex
        .rows
        .iter()
        .filter(|r| r.severity == Some(Severity::Preemptible))
        .count();
    let _ = writeln!(
        out,
        "entry {}, frame {:#x} bytes, {} boundaries, {} window{} ({} preemptible, {} signal-only)",
        ex.entry,
        ex.frame,
        ex.rows.len(),
        ex.windows,
        if ex.windows == 1 { "" } else { "s" },
        preemptible,
        ex.windows - preemptible
    );
    let _ = writeln!(out);
}

/// The table's column headings.
const HEADER: [&str; 10] = [
    "",
    "PC",
    "INSTRUCTION",
    "SP",
    "PCSP",
    "UNSAFE",
    "R29 (FRAME POINTER?)",
    "GO UNWINDER READS",
    "GO",
    "FP",
];

/// The cells of each shown row, in the columns of [`HEADER`].
fn table_cells(ex: &Explanation) -> Vec<[String; 10]> {
    ex.shown
        .iter()
        .filter_map(|&i| ex.rows.get(i))
        .map(|r| {
            [
                format!(
                    "{}{}",
                    if ex.start == Some(r.index) { '>' } else { ' ' },
                    if r.window { '!' } else { ' ' }
                ),
                format!("{} +{:#x}", r.pc, r.offset),
                r.instruction.clone(),
                caller_rel(r.sp_rel),
                r.pcsp.map_or("-".into(), |p| format!("{p:#x}")),
                format!(
                    "{}{}",
                    r.unsafe_point,
                    if r.preemptible { " yes" } else { " no" }
                ),
                r29_cell(r),
                go_reads(r),
                verdict(&r.go),
                verdict(&r.fp),
            ]
        })
        .collect()
}

/// The heading and the shown rows (windows coloured by severity, the start boundary in
/// cyan), with a line for each run of rows left out.
fn render_table(out: &mut String, ex: &Explanation, cells: &[[String; 10]], paint: Paint) {
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.len()).collect();
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cols: &[&str]| {
        let mut s = String::new();
        for (k, (c, w)) in cols.iter().zip(widths.iter()).enumerate() {
            if k + 1 == cols.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ");
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", paint.with(BOLD, &line(&HEADER)));
    let mut prev: Option<usize> = None;
    for (cell, &i) in cells.iter().zip(ex.shown.iter()) {
        if let Some(p) = prev
            && i > p + 1
        {
            let gap = i - p - 1;
            let _ = writeln!(
                out,
                "{}",
                paint.with(
                    DIM,
                    &format!(
                        "    ... {gap} boundar{} with the whole frame in place and both walks ok",
                        if gap == 1 { "y" } else { "ies" }
                    )
                )
            );
        }
        prev = Some(i);
        let refs: Vec<&str> = cell.iter().map(String::as_str).collect();
        let text = line(&refs);
        let row = &ex.rows[i];
        let code = match row.severity {
            Some(Severity::Preemptible) => Some(RED),
            Some(Severity::SignalOnly) => Some(YELLOW),
            None if ex.start == Some(i) => Some(CYAN),
            None => None,
        };
        let _ = writeln!(
            out,
            "{}",
            match code {
                Some(c) => paint.with(c, &text),
                None => text,
            }
        );
    }
    if let Some(last) = prev
        && last + 1 < ex.rows.len()
    {
        let gap = ex.rows.len() - last - 1;
        let _ = writeln!(
            out,
            "{}",
            paint.with(DIM, &format!("    ... {gap} more boundaries"))
        );
    }
}
