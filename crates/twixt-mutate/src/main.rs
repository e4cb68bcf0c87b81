//! `twixt-mutate`: mutation fuzzing of twixt's front end and scan over the corpus (run by
//! `scripts/fuzz`; named apart from `twixt fuzz`, which fuzzes Go toolchains).
//!
//! ```text
//! twixt-mutate [--iterations N] [--seed S] [--threads T] [--only I] [--save DIR] [--corpus DIR]
//! ```
//!
//! Prints `N inputs, P panics, H hangs` and the inputs per target and outcome; exits 1 on
//! any panic, hang or error that is not one line naming the file. `--only I` reruns input
//! `I` of a run alone (with the same `--seed`); `--save DIR` writes every failing input
//! there. See the library (`twixt_mutate`) for what is mutated and how.

use twixt_mutate as engine;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn usage() -> &'static str {
    "usage: twixt-mutate [--iterations N] [--seed S] [--threads T] [--only I] [--save DIR] [--corpus DIR] \
     [--scan-every N]"
}

fn main() -> ExitCode {
    let mut config = engine::Config {
        iterations: 100_000,
        ..engine::Config::default()
    };
    let mut corpus = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value\n{}", usage()))
        };
        let number = |s: String| -> u64 {
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("not a number: {s}\n{}", usage()))
        };
        match arg.as_str() {
            "--iterations" => config.iterations = number(value("--iterations")),
            "--seed" => config.seed = number(value("--seed")),
            "--threads" => config.threads = number(value("--threads")) as usize,
            "--only" => config.only = Some(number(value("--only"))),
            "--scan-every" => config.scan_every = number(value("--scan-every")),
            "--save" => config.save = Some(PathBuf::from(value("--save"))),
            "--corpus" => corpus = PathBuf::from(value("--corpus")),
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    let seeds = match engine::default_seeds(&corpus) {
        Ok(seeds) => seeds,
        Err(e) => {
            eprintln!("fuzz: cannot load the seeds: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "fuzzing {} inputs from {} seeds ({}), seed {:#x}, {} threads, hang limit {:?}",
        config.only.map_or(config.iterations, |_| 1),
        seeds.len(),
        seeds
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        config.seed,
        config.threads,
        config.hang_after
    );
    let totals = engine::run(Arc::new(seeds), &config);
    let join = |m: &std::collections::BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("targets: {}", join(&totals.by_target));
    println!("outcomes: {}", join(&totals.by_outcome));
    println!(
        "{} scans, {} bad error messages, {:.1} s",
        totals.scans,
        totals.bad_errors,
        totals.elapsed.as_secs_f64()
    );
    for f in &totals.failures {
        println!("FAIL {f}");
    }
    if !totals.failures.is_empty() {
        println!(
            "reproduce one input with: cargo run --release -p twixt --example fuzz -- --seed {:#x} --only I --save DIR",
            config.seed
        );
    }
    println!("{}", engine::counts_line(&totals));
    // Hung workers are abandoned, not joined: exit without waiting for them.
    let ok = totals.panics == 0 && totals.hangs == 0 && totals.bad_errors == 0;
    std::process::exit(if ok { 0 } else { 1 });
}
