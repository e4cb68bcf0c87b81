//! `twixt explain` on the corpus: the #73259 window at the second ADD of the go1.23.4
//! non-leaf epilogue (wrong slot, wrong value), none in go1.25.5, the lessons (each starts
//! where it says), colour only when asked, `--at`, the page, and golden tables for two
//! lessons (`TWIXT_BLESS=1 cargo test -p twixt --test explain` re-blesses them).
//!
//! No absolute PCs here: boundaries are found by function name and instruction text, so
//! the corpus can be rebuilt.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::corpus;
use twixt_check::{GoProgram, Severity};
use twixt_explain::{Explanation, Selection, explain, lesson};

fn model(binary: &str, function: &str) -> Explanation {
    let image = twixt_image::Image::open(&corpus().join(binary)).expect("corpus binary");
    let prog = GoProgram::new(&image).expect("pclntab");
    explain(&prog, function, Selection::Interesting)
        .unwrap_or_else(|e| panic!("{binary} {function}: {e}"))
}

fn twixt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("TWIXT_CORPUS")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("run twixt")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "twixt failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/explain")
}

/// Compares with the golden file; `TWIXT_BLESS=1` rewrites it.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("TWIXT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `TWIXT_BLESS=1 cargo test -p twixt --test explain`",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header("expected (golden)", "actual")
            .to_string();
        panic!(
            "{} differs:\n{diff}\nIf intended: TWIXT_BLESS=1 cargo test -p twixt --test explain",
            path.display()
        );
    }
}

/// The epilogue's ADDs to SP after the steady frame: `add sp, sp, ...` once the whole
/// frame was in place.
fn epilogue_adds(ex: &Explanation) -> Vec<&twixt_explain::model::Row> {
    let steady = ex
        .rows
        .iter()
        .position(|r| r.sp_rel == -(ex.frame as i64))
        .expect("a steady frame");
    ex.rows[steady..]
        .iter()
        .filter(|r| r.instruction.starts_with("add sp, sp,"))
        .collect()
}

#[test]
fn go1_23_4_nonleaf70000_window_at_the_second_add() {
    let ex = model("go1.23.4/frames", "main.nonleaf70000");
    let adds = epilogue_adds(&ex);
    assert_eq!(adds.len(), 2, "the pre-fix epilogue pops with two ADDs");
    let (first, second) = (adds[0], adds[1]);
    assert_eq!(first.go.verdict.name(), "ok");
    assert!(!first.window);
    assert_eq!(second.go.verdict.name(), "unexpected-return-pc");
    assert_eq!(second.go.severity, Some(Severity::Preemptible));
    assert!(second.preemptible);
    // SP has moved by the first ADD's immediate, pcsp still claims the whole frame.
    assert!(second.sp_rel > -(ex.frame as i64) && second.sp_rel < 0);
    assert_eq!(second.pcsp, Some(ex.frame));
    // The wrong slot and the wrong value.
    assert_eq!(second.go.slot_sp.as_deref(), Some("[sp+0x0]"));
    let popped = ex.frame as i64 + second.sp_rel;
    assert_eq!(
        second.true_slot_sp.as_deref(),
        Some(format!("[sp-{popped:#x}]").as_str())
    );
    assert_ne!(
        second.go.read.as_deref(),
        Some(second.true_return_pc.as_str())
    );
    assert_eq!(second.go.read_symbol.as_deref(), Some("in no function"));
    assert_eq!(second.go.computed_caller_sp_rel, Some(popped));
    // It is the only place the Go unwinder goes wrong, and where the table starts.
    let go_windows: Vec<_> = ex
        .rows
        .iter()
        .filter(|r| r.go.verdict.name() != "ok")
        .collect();
    assert_eq!(go_windows.len(), 1);
    assert_eq!(ex.start, Some(second.index));
    assert!(ex.shown.contains(&second.index) && ex.shown.contains(&first.index));

    // The terminal table marks it and says what the unwinder reads.
    let out = stdout(&twixt(&[
        "explain",
        "corpus/go1.23.4/frames",
        "main.nonleaf70000",
    ]));
    let line = out
        .lines()
        .find(|l| l.contains(&format!("{} +", second.pc)))
        .expect("the window's row");
    assert!(line.starts_with(">!"), "{line}");
    assert!(line.contains("add sp, sp, #0x11, lsl #12"), "{line}");
    assert!(
        line.contains(&format!(
            "[sp+0x0] = {} (in no function)",
            second.go.read.as_deref().unwrap_or("?")
        )),
        "{line}"
    );
    assert!(
        line.contains("unexpected-return-pc (preemptible)"),
        "{line}"
    );
    assert!(
        out.contains("1 window (1 preemptible, 0 signal-only)"),
        "{out}"
    );
}

#[test]
fn go1_25_5_nonleaf70000_has_no_window() {
    let ex = model("go1.25.5/frames", "main.nonleaf70000");
    assert_eq!(ex.windows, 0, "{:?}", ex.rows.iter().find(|r| r.window));
    assert_eq!(ex.start, None);
    // The fix: one ADD of R27 pops the whole frame, so SP is either the full frame or the
    // caller's SP at every boundary.
    let adds = epilogue_adds(&ex);
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].instruction, "add sp, sp, x27");
    let out = stdout(&twixt(&[
        "explain",
        "corpus/go1.25.5/frames",
        "main.nonleaf70000",
    ]));
    assert!(
        out.contains(", 0 windows (0 preemptible, 0 signal-only)"),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with(" !")), "{out}");
}

#[test]
fn lessons_start_where_they_say() {
    for l in lesson::LESSONS {
        let mut ex = model(l.binary, l.function);
        twixt_explain::apply_lesson(&mut ex, l);
        let row = &ex.rows[ex.start.unwrap_or_else(|| panic!("{}: no start", l.name))];
        match l.name {
            "73259" | "leaf-split" => {
                assert_eq!(row.go.verdict.name(), "unexpected-return-pc", "{}", l.name);
                assert_eq!(row.severity, Some(Severity::Preemptible), "{}", l.name);
                assert!(row.instruction.starts_with("add sp, sp, #"), "{}", l.name);
            }
            "73259-fixed" => {
                assert_eq!(row.instruction, "add sp, sp, x27");
                assert!(!row.window);
                // Conservatively unsafe: the run names REGTMP (R27).
                assert_eq!(row.unsafe_point, -2);
                assert!(!row.preemptible);
                assert_eq!(ex.windows, 0);
            }
            "fp-leaf-1.19" => {
                assert_eq!(row.go.verdict.name(), "ok");
                assert_ne!(row.fp.verdict.name(), "ok");
                assert!(!row.r29.valid);
                assert_eq!(row.r29.what, "into popped frame");
                // SP is popped already, R29 still points into the frame.
                assert_eq!(row.sp_rel, 0);
            }
            other => panic!("lesson {other} has no test"),
        }
    }
    let list = stdout(&twixt(&["explain", "--lesson", "list"]));
    for l in lesson::LESSONS {
        assert!(list.contains(l.name), "{list}");
    }
}

#[test]
fn lesson_goldens() {
    for name in ["73259", "73259-fixed", "fp-leaf-1.19"] {
        let out = stdout(&twixt(&["explain", "--lesson", name, "--color", "never"]));
        assert!(!out.contains('\x1b'));
        check_golden(&format!("{name}.txt"), &out);
    }
}

#[test]
fn all_shows_every_boundary() {
    let ex = model("go1.23.4/frames", "main.nonleaf70000");
    let out = stdout(&twixt(&[
        "explain",
        "corpus/go1.23.4/frames",
        "main.nonleaf70000",
        "--all",
        "--color",
        "never",
    ]));
    let rows = out
        .lines()
        .filter(|l| l.get(4..6) == Some("0x") && l.contains(" +0x"))
        .count();
    assert_eq!(rows, ex.rows.len());
    assert!(
        ex.shown.len() < ex.rows.len(),
        "the default view is a selection"
    );
    assert!(!out.contains("... "), "no elided boundaries with --all");
}

#[test]
fn colour_only_when_asked() {
    let args = ["explain", "corpus/go1.23.4/frames", "main.nonleaf70000"];
    // stdout is a pipe: auto means none.
    assert!(!stdout(&twixt(&args)).contains('\x1b'));
    let mut always = args.to_vec();
    always.extend(["--color", "always"]);
    assert!(stdout(&twixt(&always)).contains("\x1b[1;31m"));
    let mut never = args.to_vec();
    never.extend(["--color", "never"]);
    assert!(!stdout(&twixt(&never)).contains('\x1b'));
}

/// Runs twixt on a pseudo-terminal (util-linux `script`, part of Debian's essential
/// bsdutils) so that `--color auto` sees a terminal.
fn on_terminal(no_color: bool) -> String {
    let cmd = format!(
        "'{}' explain corpus/go1.23.4/frames main.nonleaf70000",
        env!("CARGO_BIN_EXE_twixt")
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let o = c
        .output()
        .expect("util-linux `script` (Debian bsdutils) runs the command on a terminal");
    stdout(&o)
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let tty = on_terminal(false);
    assert!(tty.contains("unexpected-return-pc"), "{tty}");
    assert!(tty.contains("\x1b[1;31m"), "a terminal gets colour");
    let plain = on_terminal(true);
    assert!(plain.contains("unexpected-return-pc"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR turns it off");
}

#[test]
fn at_marks_and_explains_a_boundary() {
    let ex = model("go1.23.4/frames", "main.nonleaf70000");
    let first = epilogue_adds(&ex)[0];
    let at = format!("+{:#x}", first.offset);
    let out = stdout(&twixt(&[
        "explain",
        "corpus/go1.23.4/frames",
        "main.nonleaf70000",
        "--at",
        &at,
    ]));
    let line = out
        .lines()
        .find(|l| l.starts_with('>'))
        .expect("a marked row");
    assert!(line.contains(&first.pc), "{line}");
    assert!(
        out.contains(&format!(
            "At {} +{:#x}: {}",
            first.pc, first.offset, first.instruction
        )),
        "{out}"
    );
    let bad = twixt(&[
        "explain",
        "corpus/go1.23.4/frames",
        "main.nonleaf70000",
        "--at",
        "+0x2",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an instruction boundary"));
}

#[test]
fn unknown_function_is_an_error() {
    let o = twixt(&["explain", "corpus/go1.23.4/frames", "main.nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no function named \"main.nosuch\""), "{err}");
    let o = twixt(&["explain", "--lesson", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn html_page_is_self_contained() {
    let dir = std::env::temp_dir().join(format!("twixt-explain-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let page = dir.join("page.html");
    let out = twixt(&[
        "explain",
        "--lesson",
        "73259",
        "--html",
        page.to_str().expect("utf-8 temp path"),
    ]);
    stdout(&out);
    let html = std::fs::read_to_string(&page).expect("page written");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in ["<link", " src=", "@import", "url(", "https:", "//fonts"] {
        assert!(!html.contains(external), "the page refers to {external}");
    }
    // The only URL is the SVG namespace name, which is never fetched.
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(html.contains("id=\"twixt-data\""));
    assert!(html.contains("data-lesson=\"73259\""));
    assert!(html.contains("<svg id=\"stack\""));
}
