//! The fuzz loop: proptest draws programs, each is compiled with the real toolchain and its
//! `main.*` functions scanned; a window fails the case and proptest's shrinking reduces
//! it (every step recompiles) to a minimal program, written out as a reproducer.
//!
//! A window is told apart by its class (leaf or not, verdict, the instruction with its
//! immediates blanked). After a minimal case is written, the run goes on with the cases
//! left, and only windows of classes not yet reported fail a case: so one run reports each
//! kind of window once instead of shrinking the same bug again and again.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use twixt_check::{Finding, GoProgram, ScanOptions, ScanReport};
use twixt_image::Image;

use crate::program::{Owner, Program};
use crate::toolchain::Toolchain;

/// The binary name in every build directory and reproducer.
pub const BINARY: &str = "repro";
/// The `go.mod` of every generated package (the oldest `go` line with generics, so every
/// supported toolchain accepts it).
pub const GO_MOD: &str = "module repro\n\ngo 1.18\n";

/// What to run.
pub struct FuzzConfig<'a> {
    /// The toolchain.
    pub toolchain: &'a Toolchain,
    /// Cases to generate (each is compiled once; shrinking adds builds on top).
    pub cases: u32,
    /// The seed of proptest's ChaCha generator.
    pub seed: u64,
    /// Where reproducers go (one directory each).
    pub out_dir: PathBuf,
    /// Keep the scratch build directory and the reproducers' binaries.
    pub keep: bool,
    /// At most this many shrink steps per window.
    pub max_shrink_iters: u32,
}

/// Progress, for the caller to show.
#[derive(Clone, Debug)]
pub enum Event {
    /// Case `case` (1-based) of `total` is being compiled and scanned.
    Case {
        /// 1-based.
        case: u32,
        /// `--cases`.
        total: u32,
    },
    /// A case failed: shrinking starts.
    Found {
        /// The new window classes.
        classes: Vec<String>,
        /// The failing program's function count.
        functions: usize,
    },
    /// Shrink step `step` (1-based) is being compiled and scanned.
    Shrink {
        /// 1-based.
        step: u32,
        /// The candidate's function count.
        functions: usize,
    },
    /// A reproducer was written.
    Written(PathBuf),
}

/// One minimal failing case.
#[derive(Clone, Debug)]
pub struct Reproducer {
    /// Its directory.
    pub dir: PathBuf,
    /// The minimal program.
    pub program: Program,
    /// The window classes it shows that were new when it was found.
    pub classes: Vec<String>,
    /// Its windows (`main.*` findings).
    pub findings: Vec<Finding>,
    /// Shrink steps it took.
    pub shrink_steps: u32,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Cases generated.
    pub cases: u32,
    /// Programs compiled (cases and shrink steps; repeated programs are not rebuilt).
    pub builds: u32,
    /// Minimal reproducers, in the order found.
    pub reproducers: Vec<Reproducer>,
}

/// The class of a window: the function's leafness (or `main`), the verdict and the
/// instruction with its immediates blanked, e.g. `leaf unexpected-return-pc add sp, sp, #N, lsl #N`.
pub fn class_of(program: &Program, f: &Finding) -> String {
    let who = match program.owner(&f.function) {
        Owner::Main => "main",
        Owner::Func(i) if program.funcs[i].is_leaf() => "leaf",
        Owner::Func(_) => "non-leaf",
        Owner::Other => "other",
    };
    format!("{who} {} {}", f.verdict, blank_immediates(&f.instruction))
}

/// `add sp, sp, #0x11, lsl #12` -> `add sp, sp, #N, lsl #N`; `bl 0x7b90c <main.f+0x1c>`
/// -> `bl N` (immediates and addresses, and the target's name: a generated program's
/// names must not make new classes; register names start with a letter and are kept).
fn blank_immediates(ins: &str) -> String {
    let ins = ins.split_once(" <").map_or(ins, |(text, _)| text);
    let mut out = String::new();
    let mut chars = ins.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        let number = c.is_ascii_digit() && !prev.is_some_and(|p| p.is_ascii_alphanumeric());
        if c == '#' || number {
            out.push_str(if c == '#' { "#N" } else { "N" });
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '-')
            {
                chars.next();
            }
            prev = Some('N');
            continue;
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Scans the `main.*` functions of the binary at `path` (one worker).
pub fn scan_main(path: &Path) -> Result<ScanReport, String> {
    let image = Image::open(path).map_err(|e| e.to_string())?;
    let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
    let accept = |name: &str| name.starts_with("main.");
    let options = ScanOptions {
        filter: Some(&accept),
        jobs: 1,
        ..ScanOptions::default()
    };
    twixt_check::scan(&prog, &options).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `program` into `dir` (main.go and go.mod), builds it there and scans it.
pub fn build_and_scan(
    toolchain: &Toolchain,
    program: &Program,
    dir: &Path,
) -> Result<ScanReport, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("{}: cannot write: {e}", dir.join(name).display()))
    };
    write("main.go", &program.source())?;
    write("go.mod", GO_MOD)?;
    let bin = toolchain.build(dir, BINARY)?;
    scan_main(&bin)
}

/// A scratch directory removed on drop (unless kept).
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("twixt fuzz: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The 32-byte ChaCha seed of round `round` of seed `seed`.
fn rng_seed(seed: u64, round: u32) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..12].copy_from_slice(&round.to_le_bytes());
    s[12..20].copy_from_slice(b"twixtfuz");
    s
}

/// Runs the fuzzer with programs from `strategy`.
pub fn fuzz(
    config: &FuzzConfig<'_>,
    strategy: &BoxedStrategy<Program>,
    on_event: &dyn Fn(Event),
) -> Result<Outcome, String> {
    let builder = Builder {
        toolchain: config.toolchain,
        scratch: Scratch {
            path: std::env::temp_dir().join(format!(
                "twixt-fuzz-{}-{}",
                std::process::id(),
                config.seed
            )),
            keep: config.keep,
        },
        memo: RefCell::new(HashMap::new()),
        builds: Cell::new(0),
    };
    let _ = std::fs::remove_dir_all(&builder.scratch.path);

    let mut outcome = Outcome::default();
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut round = 0u32;
    while outcome.cases < config.cases {
        let run = Round {
            config,
            builder: &builder,
            known: &known,
            cases_before: outcome.cases,
            on_event,
        }
        .run(strategy, round)?;
        outcome.cases += run.generated;
        match run.result {
            Ok(()) => break,
            Err(TestError::Abort(why)) => return Err(format!("proptest aborted: {why}")),
            Err(TestError::Fail(_, program)) => {
                let findings = builder.check(&program)?;
                let classes: Vec<String> = new_classes(&program, &findings, &known)
                    .into_iter()
                    .collect();
                if classes.is_empty() {
                    return Err("the minimal case no longer fails (a flaky build?)".into());
                }
                let n = outcome.reproducers.len() + 1;
                let dir = config.out_dir.join(format!(
                    "{}-seed{}-{n}",
                    config.toolchain.version, config.seed
                ));
                let repro = write_reproducer(config, &dir, &program, classes, run.steps)?;
                on_event(Event::Written(dir.clone()));
                known.extend(repro.classes.iter().cloned());
                outcome.reproducers.push(repro);
                // No case was spent on a failure that passes nothing: end when a round
                // generated nothing new.
                if run.generated == 0 {
                    break;
                }
            }
        }
        round += 1;
    }
    outcome.builds = builder.builds.get();
    Ok(outcome)
}

/// Builds and scans programs in one scratch directory, remembering the findings of every
/// program built by its source: shrinking revisits programs.
struct Builder<'a> {
    toolchain: &'a Toolchain,
    scratch: Scratch,
    memo: RefCell<HashMap<String, Vec<Finding>>>,
    /// Programs built (not found in `memo`).
    builds: Cell<u32>,
}

impl Builder<'_> {
    /// The `main.*` findings of `program`, built and scanned unless it was before.
    fn check(&self, program: &Program) -> Result<Vec<Finding>, String> {
        let source = program.source();
        if let Some(found) = self.memo.borrow().get(&source) {
            return Ok(found.clone());
        }
        self.builds.set(self.builds.get() + 1);
        let report = build_and_scan(self.toolchain, program, &self.scratch.path)?;
        self.memo
            .borrow_mut()
            .insert(source, report.findings.clone());
        Ok(report.findings)
    }
}

/// The classes of `findings` in `program` not in `known`, sorted.
fn new_classes(
    program: &Program,
    findings: &[Finding],
    known: &BTreeSet<String>,
) -> BTreeSet<String> {
    findings
        .iter()
        .map(|f| class_of(program, f))
        .filter(|c| !known.contains(c))
        .collect()
}

/// One proptest run over the cases left: it ends at the first case with a window of a new
/// class, shrunk.
struct Round<'r, 'c> {
    config: &'r FuzzConfig<'c>,
    builder: &'r Builder<'c>,
    /// The window classes already reported.
    known: &'r BTreeSet<String>,
    /// Cases generated in earlier rounds.
    cases_before: u32,
    on_event: &'r dyn Fn(Event),
}

/// What a [`Round`] did.
struct RoundEnd {
    /// Proptest's result: a failure carries the minimal program.
    result: Result<(), TestError<Program>>,
    /// Cases generated (shrink steps not counted).
    generated: u32,
    /// Shrink steps taken.
    steps: u32,
}

impl Round<'_, '_> {
    /// Runs round `round` (which seeds the generator); a build or scan error ends the run.
    fn run(&self, strategy: &BoxedStrategy<Program>, round: u32) -> Result<RoundEnd, String> {
        let (config, on_event) = (self.config, self.on_event);
        let remaining = config.cases - self.cases_before;
        let runner_config = Config {
            cases: remaining,
            failure_persistence: None,
            max_shrink_iters: config.max_shrink_iters,
            max_shrink_time: 0,
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(config.seed, round));
        let mut runner = TestRunner::new_with_rng(runner_config, rng);
        let error: RefCell<Option<String>> = RefCell::new(None);
        let failed = Cell::new(false);
        let generated = Cell::new(0u32);
        let steps = Cell::new(0u32);
        let result = runner.run(strategy, |program| {
            if error.borrow().is_some() {
                return Ok(());
            }
            if failed.get() {
                steps.set(steps.get() + 1);
                on_event(Event::Shrink {
                    step: steps.get(),
                    functions: program.funcs.len(),
                });
            } else {
                generated.set(generated.get() + 1);
                on_event(Event::Case {
                    case: self.cases_before + generated.get(),
                    total: config.cases,
                });
            }
            let findings = match self.builder.check(&program) {
                Ok(f) => f,
                Err(e) => {
                    *error.borrow_mut() = Some(e);
                    return Ok(());
                }
            };
            let new = new_classes(&program, &findings, self.known);
            if new.is_empty() {
                return Ok(());
            }
            if !failed.get() {
                failed.set(true);
                on_event(Event::Found {
                    classes: new.iter().cloned().collect(),
                    functions: program.funcs.len(),
                });
            }
            Err(TestCaseError::fail(
                new.into_iter().collect::<Vec<_>>().join("; "),
            ))
        });
        if let Some(e) = error.into_inner() {
            return Err(e);
        }
        Ok(RoundEnd {
            result,
            generated: generated.get(),
            steps: steps.get(),
        })
    }
}

/// Writes a standalone reproducer: main.go, go.mod, BUILD, twixt-report.txt and README,
/// building the program in `dir` with the BUILD command's exact settings.
fn write_reproducer(
    config: &FuzzConfig<'_>,
    dir: &Path,
    program: &Program,
    classes: Vec<String>,
    shrink_steps: u32,
) -> Result<Reproducer, String> {
    let tc = config.toolchain;
    let report = build_and_scan(tc, program, dir)?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("{}: cannot write: {e}", dir.join(name).display()))
    };
    write("BUILD", &tc.build_script(BINARY))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir.join("BUILD"), std::fs::Permissions::from_mode(0o755));
    }
    write("twixt-report.txt", &twixt_report::text(&report))?;
    let funcs: Vec<String> = program
        .funcs
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}: {}", program.func_name(i), s.describe()))
        .collect();
    write(
        "README",
        &format!(
            "{} window(s) ({}) in {} found by `twixt fuzz --go {} --seed {}`, shrunk in {shrink_steps} \
             steps to: {}. Rebuild with `sh BUILD` (the exact command is in it), then \
             `twixt scan {BINARY} --filter '^main\\.'` prints twixt-report.txt.\n",
            report.findings.len(),
            classes.join("; "),
            tc.version,
            tc.version.trim_start_matches("go"),
            config.seed,
            funcs.join("; ")
        ),
    )?;
    if !config.keep {
        let _ = std::fs::remove_file(dir.join(BINARY));
    }
    Ok(Reproducer {
        dir: dir.to_path_buf(),
        program: program.clone(),
        classes,
        findings: report.findings,
        shrink_steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediates_are_blanked() {
        assert_eq!(
            blank_immediates("add sp, sp, #0x11, lsl #12"),
            "add sp, sp, #N, lsl #N"
        );
        assert_eq!(
            blank_immediates("ldp x29, x30, [sp, #-8]"),
            "ldp x29, x30, [sp, #N]"
        );
        assert_eq!(blank_immediates("ret"), "ret");
        assert_eq!(blank_immediates("bl 0x7b90c"), "bl N");
        assert_eq!(blank_immediates("bl 0x7b90c <main.f2+0x1c>"), "bl N");
        assert_eq!(blank_immediates("b.ls 0x7b90c <+0x1c>"), "b.ls N");
        assert_eq!(
            blank_immediates("add x29, x29, #0x10, lsl #12"),
            "add x29, x29, #N, lsl #N"
        );
    }
}
