//! `twixt run`: calls one Go function on a synthetic goroutine, checks every boundary on the
//! executed path (and, with `--inject`, injects real preemptions and compares the state).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use twixt_check::GoProgram;
use twixt_run::report::{CallReport, Injection, RunReport};
use twixt_run::{Arg, RunOptions};

/// Report formats of `twixt run`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RunFormat {
    /// Human-readable: per call, the outcome, the windows with their chains, the injections.
    Text,
    /// One JSON object (see README: the run report).
    Json,
}

/// Arguments of `twixt run`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    twixt run corpus/go1.23.4/frames main.chain1 --args 5\n  \
    twixt run corpus/go1.23.4/frames main.nonleaf96 --args 3 --inject\n  \
    twixt run corpus/go1.23.4/frames main.nonleaf70000 --args 1 --inject --all-boundaries\n  \
    twixt run corpus/go1.23.4/belowsp main.useBelow --args 9 --inject --all-boundaries\n  \
    twixt run corpus/go1.23.4/frames main.forever --args 1 --max-instructions 100000\n  \
    twixt run corpus/go1.23.4/frames main.callee --random 20 --seed 1 --format json\n\n\
    The call uses Go's register ABI: integer arguments in R0..R15 (results read from R0..).\n\
    Exit status: 0 no window, 1 windows (or clobbers) found, 2 error.")]
pub struct RunArgs {
    /// A Go linux/arm64 binary.
    pub binary: std::path::PathBuf,
    /// The function to call, by its full name (e.g. main.chain1).
    pub function: String,
    /// Integer arguments for R0, R1, ...: comma- or space-separated, decimal or 0x hex.
    #[arg(long, allow_hyphen_values = true)]
    pub args: Option<String>,
    /// Make N calls with arguments drawn from proptest strategies (small integers, any
    /// 64-bit value, lengths, pointers to zeroed heap buffers) instead of --args.
    #[arg(long, value_name = "N")]
    pub random: Option<usize>,
    /// Arguments per random call (default: as many as --args gives, else 1).
    #[arg(long, value_name = "K")]
    pub arity: Option<usize>,
    /// Seed for --random (the same seed draws the same arguments).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// At every preemptible boundary, inject Go's pushCall and a modelled asyncPreempt,
    /// poison the stack below SP, resume, and compare results, registers and memory with
    /// the uninterrupted call: any difference is a clobber window.
    #[arg(long)]
    pub inject: bool,
    /// With --inject: also inject where the runtime would not (UnsafePoint -2, assembly,
    /// runtime functions) and classify each such boundary as needed or not needed.
    #[arg(long, requires = "inject")]
    pub all_boundaries: bool,
    /// Instructions one call may execute before it is reported unanalysed (budget).
    #[arg(long, default_value_t = 10_000_000)]
    pub max_instructions: u64,
    /// Wall-clock seconds one call (with its injections) may take.
    #[arg(long, default_value_t = 60)]
    pub time_limit: u64,
    /// Report format.
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
    /// Apply the preemption rules of this Go release (e.g. go1.23.9) instead of the
    /// version read from the binary.
    #[arg(long, value_name = "VERSION", value_parser = twixt_check::version::parse_override)]
    pub go_version: Option<twixt_check::version::GoVersion>,
}

/// Runs `twixt run`.
pub fn run(args: RunArgs) -> Result<ExitCode, String> {
    let image = crate::load(&args.binary)?;
    crate::require_analysed(&image, "run")?;
    let prog = GoProgram::with_version(&image, args.go_version).map_err(|e| e.to_string())?;
    let given = match &args.args {
        Some(text) => twixt_run::args::parse(text)?,
        None => Vec::new(),
    };
    let calls: Vec<Vec<Arg>> = match args.random {
        Some(n) => {
            let arity = args.arity.unwrap_or(given.len().max(1));
            twixt_run::args::random(n, arity, args.seed)
        }
        None => vec![given],
    };
    let options = RunOptions {
        inject: args.inject,
        all_boundaries: args.all_boundaries,
        max_instructions: args.max_instructions,
        time_limit: Duration::from_secs(args.time_limit),
        run_every_injection_to_the_end: false,
    };
    let report =
        twixt_run::run(&prog, &args.function, &calls, &options).map_err(|e| e.to_string())?;
    match args.format {
        RunFormat::Text => crate::out::emit(&render_text(&report, args.all_boundaries)),
        RunFormat::Json => crate::out::emit_line(
            &serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?,
        ),
    }
    Ok(if report.windows() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The text report.
pub fn render_text(r: &RunReport, all_boundaries: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "twixt run {} ({}): {}",
        r.binary, r.go_version, r.function
    );
    match r.write_barrier_flag {
        Some(0) => {}
        Some(v) => {
            let _ = writeln!(out, "warning: runtime.writeBarrier is {v}, not 0");
        }
        None => {
            let _ = writeln!(out, "note: runtime.writeBarrier not found");
        }
    }
    for c in &r.calls {
        render_call(&mut out, r, c, all_boundaries);
    }
    let windows = r.windows();
    let injects: Vec<_> = r.calls.iter().filter_map(|c| c.inject.as_ref()).collect();
    let _ = write!(
        out,
        "\nsummary: {} calls, {} boundaries checked, {} windows",
        r.calls.len(),
        r.calls.iter().map(|c| c.boundaries).sum::<usize>(),
        windows
    );
    if !injects.is_empty() {
        let _ = write!(
            out,
            " ({} from injection: {} injected)",
            injects.iter().map(|i| i.clobbers.len()).sum::<usize>(),
            injects.iter().map(|i| i.injected).sum::<usize>()
        );
    }
    if all_boundaries {
        let k = injects.iter().flat_map(|i| &i.classification);
        let (needed, not): (Vec<_>, Vec<_>) = k.partition(|c| c.class == "needed");
        let _ = write!(
            out,
            "; unsafe marks: {} needed, {} not needed",
            needed.len(),
            not.len()
        );
    }
    let _ = writeln!(out);
    out
}

fn render_call(out: &mut String, r: &RunReport, c: &CallReport, all_boundaries: bool) {
    let _ = writeln!(out, "\ncall {}({})", r.function, c.args.join(", "));
    let _ = writeln!(out, "  {}", c.outcome.describe());
    let _ = writeln!(
        out,
        "  {} instructions, {} boundaries checked, deepest frame {}",
        c.instructions, c.boundaries, c.max_depth
    );
    for f in &c.findings {
        let x = &f.finding;
        let _ = writeln!(
            out,
            "\n  {}  {}+{:#x} ({:#x})  depth {}  {}  [{} unwinder]{}",
            x.verdict,
            x.function,
            x.offset,
            x.pc,
            f.depth,
            x.severity.name(),
            x.unwinder,
            if f.visits > 1 {
                format!("  ({} visits)", f.visits)
            } else {
                String::new()
            }
        );
        let at = match (&x.file, x.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            _ => "?".into(),
        };
        let _ = writeln!(out, "      at {at}: {}", x.instruction);
        let _ = writeln!(
            out,
            "      SP is entry-{:#x}, pcsp says {:#x}; {}",
            x.sp_below_caller, x.pcsp, x.outcome
        );
        if let Some(s) = &x.read_symbol {
            let _ = writeln!(
                out,
                "      it reads the return PC {s}; the true one is {:#x}",
                x.expected_return_pc
            );
        }
        let _ = writeln!(out, "      chain (true | unwound):");
        for (i, fr) in f.chain.iter().enumerate() {
            let _ = writeln!(
                out,
                "        #{i:<2} {:<34} {}",
                fr.truth,
                fr.unwound.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(inj) = &c.inject {
        let _ = writeln!(
            out,
            "\n  injection: {} preemptible boundaries injected, {} clobber windows, {} unanalysed",
            inj.injected,
            inj.clobbers.len(),
            inj.unanalysed.len()
        );
        if let Some(why) = &inj.incomplete {
            let _ = writeln!(out, "    incomplete: {why}");
        }
        for i in &inj.unanalysed {
            render_injection(out, "unanalysed", i);
        }
        for i in &inj.clobbers {
            render_injection(out, "clobber", i);
        }
        for i in &inj.unwind_breaks {
            render_injection(out, "unwind breaks (a window above, no clobber)", i);
        }
        if all_boundaries {
            let needed = inj
                .classification
                .iter()
                .filter(|k| k.class == "needed")
                .count();
            let _ = writeln!(
                out,
                "\n  --all-boundaries: {} boundaries the runtime never preempts (unsafe point, \
                 assembly, runtime): {} needed, {} not needed",
                inj.classification.len(),
                needed,
                inj.classification.len() - needed
            );
            for k in &inj.classification {
                if k.class == "needed" {
                    render_injection(out, "needed", &k.injection);
                } else {
                    let _ = writeln!(
                        out,
                        "    not needed  {}  {}  ({})",
                        k.injection.at,
                        k.injection.instruction,
                        k.injection.refused.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
}

fn render_injection(out: &mut String, label: &str, i: &Injection) {
    let _ = writeln!(
        out,
        "    {label}  {} ({})  depth {}  {}{}",
        i.at,
        i.pc,
        i.depth,
        i.instruction,
        i.refused
            .as_ref()
            .map(|r| format!("  [runtime never preempts here: {r}]"))
            .unwrap_or_default()
    );
    if let Some(u) = &i.unwind {
        let _ = writeln!(out, "        unwind from asyncPreempt: {u}");
    }
    if let Some(o) = &i.outcome {
        let _ = writeln!(out, "        outcome: {o}");
    }
    for s in &i.clobbered_slots {
        let _ = writeln!(
            out,
            "        clobbered slot {}: {} -> {}, read by {}",
            s.location,
            s.before,
            s.after,
            s.read_by.as_deref().unwrap_or("?")
        );
    }
    for s in &i.changes {
        let _ = writeln!(out, "        {}: {} -> {}", s.location, s.before, s.after);
    }
}
