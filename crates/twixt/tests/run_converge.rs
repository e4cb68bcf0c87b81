//! `twixt run --inject` stops an injected run once it has converged with the uninterrupted
//! one (`twixt_run`'s `converge` module) and takes the rest from the reference. Running
//! every injected call to its end instead gives the same reports, on real corpus functions:
//! harmless injections (which converge), clobber windows and needed boundaries (which do
//! not, or later), several toolchains and random arguments.

mod common;

use twixt_run::{Arg, RunOptions, run};

/// Runs `function` of the corpus binary `path` with and without convergence.
fn both(path: &str, function: &str, calls: &[Vec<Arg>], all_boundaries: bool) {
    let image = common::image(path);
    let prog = twixt_check::GoProgram::new(&image).unwrap();
    let options = RunOptions {
        inject: true,
        all_boundaries,
        ..RunOptions::default()
    };
    let converged = run(&prog, function, calls, &options).unwrap();
    let every = RunOptions {
        run_every_injection_to_the_end: true,
        ..options
    };
    let to_the_end = run(&prog, function, calls, &every).unwrap();
    assert!(
        converged.calls.iter().all(|c| c.inject.is_some()),
        "{path} {function}: every call is injected"
    );
    assert_eq!(
        converged, to_the_end,
        "{path} {function}: convergence changes the report"
    );
}

fn ints(values: &[u64]) -> Vec<Vec<Arg>> {
    values.iter().map(|&v| vec![Arg::Int(v)]).collect()
}

#[test]
fn convergence_gives_the_same_report_on_large_frame_chains() {
    both("go1.23.4/frames", "main.chain1", &ints(&[5]), false);
    both("go1.27.3/frames", "main.chain2", &ints(&[8191]), true);
}

#[test]
fn convergence_gives_the_same_report_on_ordinary_and_split_epilogues() {
    for path in ["go1.19.8/frames", "go1.23.4/frames", "go1.27.3/frames"] {
        for all in [false, true] {
            both(path, "main.nonleaf70000", &ints(&[1]), all);
            both(path, "main.nonleaf96", &ints(&[3]), all);
            both(path, "main.leaf96", &ints(&[3]), all);
        }
    }
}

#[test]
fn convergence_gives_the_same_report_where_live_data_below_sp_is_clobbered() {
    for path in ["go1.23.4/belowsp", "go1.27.3/belowsp"] {
        both(path, "main.useBelow", &ints(&[9, 0]), true);
        both(path, "main.useBelow", &ints(&[9]), false);
    }
}

#[test]
fn convergence_gives_the_same_report_with_random_arguments() {
    let calls = twixt_run::args::random(3, 1, 7);
    both("go1.23.4/frames", "main.chain3", &calls, true);
}
