//! `twixt explain`: one function's prologue and epilogues, boundary by boundary, as a
//! terminal table or a self-contained HTML page; `--lesson` over the bundled corpus.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use twixt_check::GoProgram;
use twixt_explain::{Selection, lesson};

/// Arguments of `twixt explain`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Columns: PC and offset, the instruction about to execute, SP relative \
    to the caller's SP, the pcsp value (the frame the metadata claims), the UnsafePoint value \
    and whether asynchronous preemption may land there, R29 and whether it is a valid frame \
    pointer, where the Go unwinder reads the return PC and what it finds there, and the \
    verdicts of the Go unwinder and the frame-pointer walk with their severity. `!` marks a \
    window, `>` the boundary explained under the table.\n\n\
    Examples:\n  \
    twixt explain corpus/go1.23.4/frames main.nonleaf70000\n  \
    twixt explain corpus/go1.23.4/frames main.nonleaf70000 --at +0xe8\n  \
    twixt explain corpus/go1.23.4/frames main.nonleaf70000 --html 73259.html\n  \
    twixt explain corpus/go1.25.5/frames main.nonleaf70000 --all\n  \
    twixt explain --lesson list\n  \
    twixt explain --lesson 73259 --html 73259.html\n\n\
    The corpus for --lesson is found, in order: --corpus DIR, $TWIXT_CORPUS, a `corpus/` \
    directory (one holding manifest.json) beside the executable or in any directory above \
    it, then in the current directory or any directory above it.\n\n\
    Colour: --color auto (the default) colours only when stdout is a terminal and NO_COLOR \
    is not set; --color always overrides both."
)]
pub struct ExplainArgs {
    /// A Go linux/arm64 binary (not with --lesson).
    #[arg(required_unless_present = "lesson", conflicts_with = "lesson")]
    pub binary: Option<PathBuf>,
    /// The function to explain, by its full name (e.g. main.nonleaf70000).
    #[arg(required_unless_present = "lesson")]
    pub function: Option<String>,
    /// The boundary to explain under the table and to open the page at: an absolute PC
    /// (0x88388) or an offset from the entry (+0xe8). Default: the first window.
    #[arg(long, value_name = "PC|+OFFSET")]
    pub at: Option<String>,
    /// Show every boundary, not just the prologue, the epilogues and the windows with two
    /// neighbours each (the page then also steps through every boundary).
    #[arg(long)]
    pub all: bool,
    /// Also write a self-contained HTML page (stack diagram, disassembly, stepping with
    /// Prev/Next, arrow keys or j/k) to FILE; `-` writes the page to stdout instead of the
    /// table.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// When to colour the table.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// A guided example over the bundled corpus; `list` lists them.
    #[arg(long, value_name = "NAME|list")]
    pub lesson: Option<String>,
    /// The corpus directory for --lesson (default: see below).
    #[arg(long, value_name = "DIR", requires = "lesson")]
    pub corpus: Option<PathBuf>,
    /// Apply the preemption rules of this Go release (e.g. go1.23.9) instead of the
    /// version read from the binary.
    #[arg(long, value_name = "VERSION", value_parser = twixt_check::version::parse_override)]
    pub go_version: Option<twixt_check::version::GoVersion>,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Only when stdout is a terminal and NO_COLOR is unset (or empty).
    Auto,
    /// Always (overrides NO_COLOR: an explicit request).
    Always,
    /// Never.
    Never,
}

fn use_color(arg: ColorArg) -> bool {
    match arg {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Looks for a directory holding `corpus/manifest.json` in `start` and its ancestors.
fn corpus_above(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join("corpus"))
        .find(|c| c.join("manifest.json").is_file())
}

/// The corpus directory for lessons (see the help text for the order).
fn find_corpus(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("TWIXT_CORPUS").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(corpus_above));
    let from_cwd = std::env::current_dir()
        .ok()
        .and_then(|cwd| corpus_above(&cwd));
    from_exe.or(from_cwd).ok_or_else(|| {
        "cannot find the corpus for --lesson (a corpus/ directory with manifest.json beside \
         the twixt executable or above the current directory); pass --corpus DIR or set \
         TWIXT_CORPUS"
            .to_string()
    })
}

/// Parses `--at`: `0x...` (absolute) or `+0x...`/`+N` (from the entry).
fn parse_at(at: &str, entry: u64) -> Result<u64, String> {
    let num = |s: &str| {
        let s = s.trim();
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => s.parse::<u64>(),
        }
    };
    let bad = || format!("--at {at:?}: expected a PC (0x88388) or an offset (+0xe8)");
    match at.strip_prefix('+') {
        Some(off) => num(off)
            .ok()
            .and_then(|o| entry.checked_add(o))
            .ok_or_else(bad),
        None => num(at).map_err(|_| bad()),
    }
}

/// Runs `twixt explain`.
pub fn run(args: ExplainArgs) -> Result<ExitCode, String> {
    let (binary, function, chosen) = match args.lesson.as_deref() {
        Some("list") => {
            crate::out::emit(&lesson::list());
            return Ok(ExitCode::SUCCESS);
        }
        Some(name) => {
            let l = lesson::find(name).ok_or_else(|| {
                format!("--lesson {name:?}: no such lesson (`twixt explain --lesson list`)")
            })?;
            let corpus = find_corpus(args.corpus.as_deref())?;
            (corpus.join(l.binary), l.function.to_string(), Some(l))
        }
        None => match (args.binary, args.function) {
            (Some(b), Some(f)) => (b, f, None),
            _ => return Err("twixt explain needs BINARY and FUNCTION, or --lesson".into()),
        },
    };
    let image = crate::load(&binary)?;
    crate::require_analysed(&image, "explain")?;
    let prog = GoProgram::with_version(&image, args.go_version).map_err(|e| e.to_string())?;
    let selection = if args.all {
        Selection::All
    } else {
        Selection::Interesting
    };
    let mut ex = twixt_explain::explain(&prog, &function, selection).map_err(|e| e.to_string())?;
    if let Some(l) = chosen {
        twixt_explain::apply_lesson(&mut ex, l);
    }
    if let Some(at) = &args.at {
        let pc = parse_at(at, ex.entry_pc())?;
        if !ex.start_at(pc) {
            return Err(format!(
                "--at {at}: {pc:#x} is not an instruction boundary of {function} (entry {}, {} \
                 boundaries)",
                ex.entry,
                ex.rows.len()
            ));
        }
    }
    let to_stdout = args.html.as_deref() == Some(Path::new("-"));
    if let Some(path) = args.html.as_deref().filter(|_| !to_stdout) {
        std::fs::write(path, twixt_explain::html::render(&ex))
            .map_err(|e| format!("{}: cannot write the page: {e}", path.display()))?;
        tracing::info!(page = %path.display(), "wrote the page");
    }
    if to_stdout {
        crate::out::emit(&twixt_explain::html::render(&ex));
    } else {
        crate::out::emit(&twixt_explain::text::render(&ex, use_color(args.color)));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_at;

    #[test]
    fn at_forms() {
        assert_eq!(parse_at("0x88388", 0x882a0), Ok(0x88388));
        assert_eq!(parse_at("+0xe8", 0x882a0), Ok(0x88388));
        assert_eq!(parse_at("+232", 0x882a0), Ok(0x88388));
        assert!(parse_at("main+4", 0x882a0).is_err());
        assert!(parse_at("+0xffffffffffffffff", 1).is_err());
    }
}
