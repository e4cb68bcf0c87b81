//! `twixt scan` and `twixt diff`: one binary (the report as it always was), or several
//! binaries and directories (a report per binary and a combined summary).
//!
//! Several binaries: directories are searched recursively, entries in byte order of their
//! names, symbolic links to files followed and to directories not; every arm64 ELF file with
//! Go metadata is scanned, other files are skipped and counted. A binary is named in the
//! reports by its path as given (for a directory's files: the directory as given, then the
//! path inside it). A binary that cannot be loaded or scanned is an error entry for it and
//! the rest goes on; the exit status is then 2, after everything is printed.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use regex::Regex;
use twixt_check::{GoProgram, ScanOptions, ScanReport, Severity};
use twixt_image::{Image, ImageError};
use twixt_report::{Failure, MultiReport};

/// Arguments of `twixt scan`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "One BINARY prints its report (text, or the JSON object described \
    in README). Several, or a DIR, print a report per binary and a combined summary; JSON is \
    then {\"summary\", \"reports\": [...], \"failed\": [...]}, JSONL carries \"binary\" on \
    every line, SARIF has one run per binary. Directories are searched recursively for arm64 \
    Go ELF binaries; other files are skipped (counted; -v lists them).\n\n\
    Exit status: 0 no window, 1 windows found (with --baseline: new windows), 2 error (with \
    several binaries: any binary that could not be scanned, after the rest is reported)."
)]
pub struct ScanArgs {
    /// Go linux/arm64 binaries, and directories to search for them.
    #[arg(required = true, value_name = "BINARY|DIR")]
    pub paths: Vec<PathBuf>,
    /// Only functions whose name matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only windows of this severity (default: both).
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
    /// Worker threads, each with its own emulator (default: one per CPU).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Scan only shard K of N (K from 1 to N; with a 0-based index such as
    /// $JOB_COMPLETION_INDEX pass $((INDEX+1))/N): every N-th function of the functab,
    /// starting with the K-th (of each binary). JSONL outputs of all shards concatenate
    /// into one report.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Compare with a saved JSON report (of one binary or several) instead of printing the
    /// report: new windows are listed and make the exit status 1, fixed ones are listed,
    /// unchanged ones counted. Windows match by function, offset in the function and
    /// verdict; reports match by binary (its name, else its file name).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Apply the preemption rules of this Go release (e.g. go1.23.9) instead of the
    /// version read from the binary (build info, runtime.buildVersion, or inferred).
    #[arg(long, value_name = "VERSION", value_parser = twixt_check::version::parse_override)]
    pub go_version: Option<twixt_check::version::GoVersion>,
}

/// Report formats of `twixt scan`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Human-readable findings with annotated windows and a summary.
    Text,
    /// The stable JSON report (see README).
    Json,
    /// One JSON object per line, streamed as functions finish: `{"finding": ...}` lines,
    /// `{"function": ...}` (one per function scanned, with its boundary count), then
    /// `{"unanalysed": ...}` lines; the lines of shards concatenate into the whole.
    Jsonl,
    /// SARIF 2.1.0, for code-scanning UIs (a rule per verdict, locations with file:line).
    Sarif,
}

/// `--severity`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SeverityArg {
    /// The runtime's asynchronous preemption may land there: a GC scan breaks.
    Preemptible,
    /// Only profiling signals and other observers can land there.
    SignalOnly,
}

/// One function in the JSONL stream: what a merged report's summary is summed from.
#[derive(serde::Serialize)]
struct FunctionRecord<'a> {
    name: &'a str,
    pc: String,
    instructions: usize,
    /// Boundaries checked (0 when the function could not be fully analysed).
    boundaries: usize,
    analysed: bool,
}

/// Parses `K/N` (1-based K) for `--shard`; returns the 0-based index and the count.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not K/N"))?;
    let k: usize = k
        .trim()
        .parse()
        .map_err(|_| format!("shard index {k:?} is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("shard count {n:?} is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n}: need 1 <= K <= N"));
    }
    Ok((k - 1, n))
}

/// Prints one JSONL record: `{"binary", "go_version", KIND: value}`.
fn jsonl_line<T: serde::Serialize>(binary: &str, go_version: &str, kind: &str, value: &T) {
    let mut line = serde_json::Map::new();
    line.insert("binary".into(), binary.into());
    line.insert("go_version".into(), go_version.into());
    line.insert(
        kind.into(),
        serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
    );
    crate::out::emit_line(&serde_json::Value::Object(line).to_string());
}

/// Reads a saved JSON report of either shape: its reports, and whether it had several.
fn read_reports(path: &Path) -> Result<(Vec<ScanReport>, bool), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read report: {e}", path.display()))?;
    let reports =
        twixt_report::read_reports(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let multi = text.trim_start().starts_with('{')
        && serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v.get("reports").is_some());
    Ok((reports, multi))
}

/// `twixt diff OLD NEW`: two single-binary reports compare as they always did; otherwise
/// reports pair by binary.
pub fn diff(old: &Path, new: &Path) -> Result<ExitCode, String> {
    let (a, a_multi) = read_reports(old)?;
    let (b, b_multi) = read_reports(new)?;
    let (old_name, new_name) = (old.display().to_string(), new.display().to_string());
    if let ([a], [b], false, false) = (a.as_slice(), b.as_slice(), a_multi, b_multi) {
        let d = twixt_report::diff(a, b);
        crate::out::emit(&twixt_report::diff_text(&d, &old_name, &new_name));
        return Ok(crate::exit_for(d.has_new()));
    }
    let (text, any_new) = twixt_report::diff_multi_text(&a, &b, &old_name, &new_name);
    crate::out::emit(&text);
    Ok(crate::exit_for(any_new))
}

/// What one scan needs besides the binary.
struct Settings {
    filter: Option<Regex>,
    severity: Option<Severity>,
    jobs: usize,
    shard: Option<(usize, usize)>,
    forced: Option<twixt_check::version::GoVersion>,
    /// Stream JSONL lines as functions finish.
    stream: bool,
}

/// Scans one loaded binary, naming it `name` in the report and the JSONL stream.
fn scan_image(image: &Image, name: &str, settings: &Settings) -> Result<ScanReport, String> {
    crate::require_analysed(image, "scan")?;
    let prog = GoProgram::with_version(image, settings.forced).map_err(|e| e.to_string())?;
    let accept = |f: &str| settings.filter.as_ref().is_none_or(|re| re.is_match(f));
    let started = std::time::Instant::now();
    let progress = crate::progress::Progress::new(started);
    let go_version = prog.version_info().shown();
    let on_function = |stat: &twixt_check::FunctionStat,
                       findings: &[twixt_check::Finding],
                       done: usize,
                       total: usize| {
        progress.update(done, total);
        if settings.stream {
            for f in findings {
                jsonl_line(name, &go_version, "finding", f);
            }
            let record = FunctionRecord {
                name: &stat.name,
                pc: format!("{:#x}", stat.entry),
                instructions: stat.instructions,
                boundaries: if stat.analysed { stat.boundaries } else { 0 },
                analysed: stat.analysed,
            };
            jsonl_line(name, &go_version, "function", &record);
        }
    };
    let options = ScanOptions {
        filter: Some(&accept),
        severity: settings.severity,
        on_finding: None,
        on_function: Some(&on_function),
        jobs: settings.jobs,
        shard: settings.shard,
        ..ScanOptions::default()
    };
    let report = twixt_check::scan(&prog, &options).map_err(|e| e.to_string());
    progress.finish();
    let mut report = report?;
    report.binary = name.to_string();
    tracing::info!(
        binary = name,
        functions = report.summary.functions,
        boundaries = report.summary.boundaries,
        windows = report.summary.windows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scan finished"
    );
    if settings.stream {
        for u in &report.unanalysed {
            jsonl_line(name, &report.go_version, "unanalysed", u);
        }
    }
    Ok(report)
}

/// Runs `twixt scan`.
pub fn run(args: ScanArgs) -> Result<ExitCode, String> {
    let baseline = args
        .baseline
        .as_deref()
        .map(|path| read_reports(path).map(|r| (path.to_path_buf(), r.0)))
        .transpose()?;
    let settings = Settings {
        filter: crate::compile_filter(args.filter.as_deref())?,
        severity: args.severity.map(|s| match s {
            SeverityArg::Preemptible => Severity::Preemptible,
            SeverityArg::SignalOnly => Severity::SignalOnly,
        }),
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        shard: args.shard,
        forced: args.go_version,
        stream: matches!(args.format, Format::Jsonl) && baseline.is_none(),
    };
    // One path that is not a directory: the single-binary report, exactly as before.
    if let [path] = args.paths.as_slice()
        && !path.is_dir()
    {
        let image = crate::load(path)?;
        let report = scan_image(&image, image.file_name(), &settings)?;
        if let Some((base, old)) = baseline {
            let old = match old.as_slice() {
                [one] => one.clone(),
                many => pick(many, &report)?,
            };
            let d = twixt_report::diff(&old, &report);
            crate::out::emit(&twixt_report::diff_text(
                &d,
                &base.display().to_string(),
                &path.display().to_string(),
            ));
            return Ok(crate::exit_for(d.has_new()));
        }
        match args.format {
            Format::Text => crate::out::emit(&twixt_report::text(&report)),
            Format::Json => crate::out::emit(&twixt_report::json(&report)),
            Format::Sarif => crate::out::emit(&twixt_report::sarif(&report)),
            Format::Jsonl => {}
        }
        return Ok(crate::exit_for(report.summary.windows > 0));
    }

    let inputs = collect(&args.paths);
    let mut reports = Vec::new();
    let mut failed = inputs.failed;
    let mut skipped = inputs.skipped;
    for input in &inputs.binaries {
        let image = match Image::open(&input.path) {
            Ok(image) => image,
            Err(e) if input.in_directory && not_go_arm64(&e) => {
                tracing::info!(file = %input.name, reason = %e, "skipped");
                skipped += 1;
                continue;
            }
            Err(e) => {
                failed.push(failure(&input.name, e.to_string(), settings.stream));
                continue;
            }
        };
        match scan_image(&image, &input.name, &settings) {
            Ok(report) => reports.push(report),
            Err(e) => failed.push(failure(&input.name, e, settings.stream)),
        }
    }
    if skipped > 0 {
        eprintln!(
            "twixt: note: skipped {skipped} files that are not arm64 Go ELF binaries (-v lists them)"
        );
    }
    if !failed.is_empty() {
        eprintln!(
            "twixt: {} of {} binaries could not be scanned (see the report)",
            failed.len(),
            failed.len() + reports.len()
        );
    }
    let multi = MultiReport::new(reports, failed, skipped);
    let windows = if let Some((base, old)) = baseline {
        let (text, any_new) = twixt_report::diff_multi_text(
            &old,
            &multi.reports,
            &base.display().to_string(),
            "scan",
        );
        crate::out::emit(&text);
        for f in &multi.failed {
            crate::out::emit_line(&format!("== {}: error: {}", f.binary, f.error));
        }
        any_new
    } else {
        match args.format {
            Format::Text => crate::out::emit(&twixt_report::text_multi(&multi)),
            Format::Json => crate::out::emit(&twixt_report::json_multi(&multi)),
            Format::Sarif => crate::out::emit(&twixt_report::sarif_multi(&multi)),
            Format::Jsonl => {}
        }
        multi.summary.total.windows > 0
    };
    Ok(if multi.failed.is_empty() {
        crate::exit_for(windows)
    } else {
        ExitCode::from(2)
    })
}

/// The report in a multi-binary baseline that matches `report`'s binary.
fn pick(many: &[ScanReport], report: &ScanReport) -> Result<ScanReport, String> {
    twixt_report::pair_reports(many, std::slice::from_ref(report))
        .into_iter()
        .find_map(|(o, n)| o.filter(|_| n.is_some()).cloned())
        .ok_or_else(|| format!("the baseline has no report for {}", report.binary))
}

/// Records a binary that could not be scanned (and streams it as a JSONL line).
fn failure(name: &str, error: String, stream: bool) -> Failure {
    if stream {
        let line = serde_json::json!({ "binary": name, "error": error });
        crate::out::emit_line(&line.to_string());
    }
    Failure {
        binary: name.to_string(),
        error,
    }
}

/// Whether a load error means "not an arm64 Go binary" (skipped when found in a directory)
/// rather than a damaged or unreadable one.
fn not_go_arm64(e: &ImageError) -> bool {
    matches!(
        e,
        ImageError::Empty { .. }
            | ImageError::NotElf { .. }
            | ImageError::Unsupported { .. }
            | ImageError::NoPclntab { .. }
    )
}

/// A file to scan.
struct Input {
    path: PathBuf,
    /// How reports name it.
    name: String,
    /// Found by searching a directory (not named on the command line).
    in_directory: bool,
}

/// The files to scan, in order, and what went wrong finding them.
struct Inputs {
    binaries: Vec<Input>,
    failed: Vec<Failure>,
    skipped: usize,
}

/// A path as given without leading `./` components (still a path to the same file).
fn tidy(path: &Path) -> &Path {
    let mut p = path;
    while let Ok(rest) = p.strip_prefix(".") {
        if rest.as_os_str().is_empty() {
            break;
        }
        p = rest;
    }
    p
}

/// Expands the command line's paths: files as given, directories searched.
fn collect(paths: &[PathBuf]) -> Inputs {
    let mut inputs = Inputs {
        binaries: Vec::new(),
        failed: Vec::new(),
        skipped: 0,
    };
    let mut seen = HashSet::new();
    for path in paths {
        let path = tidy(path);
        if path.is_dir() {
            // The directory's files are named from here: `.` adds nothing.
            let base = if path == Path::new(".") {
                Path::new("")
            } else {
                path
            };
            walk(path, base, &mut inputs, &mut seen);
        } else if seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())) {
            inputs.binaries.push(Input {
                path: path.to_path_buf(),
                name: path.display().to_string(),
                in_directory: false,
            });
        }
    }
    inputs
}

/// Searches `dir` for arm64 ELF files; `base` is how reports name it (its files are
/// `base/NAME`, opened by that path so that errors name them as the reports do).
fn walk(dir: &Path, base: &Path, inputs: &mut Inputs, seen: &mut HashSet<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            inputs.failed.push(Failure {
                binary: dir.display().to_string(),
                error: format!("{}: cannot read directory: {e}", dir.display()),
            });
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = base.join(entry.file_name());
        let child = path.display().to_string();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&entry.path(), &path, inputs, seen);
            continue;
        }
        // A link to a directory is not followed (no loops); a link to a file is.
        if kind.is_symlink() && path.is_dir() {
            tracing::debug!(link = %child, "not following a link to a directory");
            continue;
        }
        if !path.is_file() {
            continue;
        }
        if !seen.insert(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())) {
            continue;
        }
        match arm64_elf(&path) {
            // Opened by its name, so that errors name it as the report does.
            Ok(()) => inputs.binaries.push(Input {
                path,
                name: child,
                in_directory: true,
            }),
            Err(why) => {
                tracing::info!(file = %child, reason = why, "skipped");
                inputs.skipped += 1;
            }
        }
    }
}

/// Reads the ELF identification and machine only, so that large files of other kinds are
/// skipped without being read.
fn arm64_elf(path: &Path) -> Result<(), &'static str> {
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|_| "shorter than an ELF header or unreadable")?;
    if &head[..4] != b"\x7fELF" {
        return Err("not an ELF file");
    }
    // 64-bit, little-endian, e_machine EM_AARCH64 (183).
    if head[4] != 2 || head[5] != 1 || u16::from_le_bytes([head[18], head[19]]) != 183 {
        return Err("not a 64-bit little-endian arm64 ELF file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_shard, tidy};
    use std::path::Path;

    #[test]
    fn shards_are_one_based() {
        assert_eq!(parse_shard("1/4"), Ok((0, 4)));
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
        assert!(parse_shard("x").is_err());
    }

    #[test]
    fn names_are_paths_as_given() {
        assert_eq!(tidy(Path::new("././corpus/x")), Path::new("corpus/x"));
        assert_eq!(
            tidy(Path::new("corpus/go1.23.4/frames")),
            Path::new("corpus/go1.23.4/frames")
        );
        assert_eq!(tidy(Path::new(".")), Path::new("."));
        assert_eq!(tidy(Path::new("/")), Path::new("/"));
        assert_eq!(Path::new("").join("a"), Path::new("a"));
    }
}
