//! The scan benchmark (`scripts/bench` runs it with `--release`): prints figures and
//! ratios, never asserts a time.
//!
//! For each binary given: load + scan time, functions/s, boundaries/s; for the pre-fix
//! binary, the time from start (before reading the file) to the first #73259 window; and
//! the rate of a bare Unicorn loop with an empty per-instruction hook, measured in the
//! same process, with twixt's boundary rate as a ratio of it.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use twixt_check::{GoProgram, ScanOptions};
use twixt_image::Image;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (first_finding_bin, scan_bins) = match args.split_first() {
        Some((first, rest)) if !rest.is_empty() => (first.clone(), rest.to_vec()),
        _ => {
            eprintln!("usage: bench PRE_FIX_BINARY BINARY...");
            std::process::exit(2);
        }
    };

    let bare = twixt_emu::bare::hooked_loop_rate(20_000_000).expect("bare unicorn loop");
    println!(
        "bare unicorn, empty per-instruction hook: {:.1} M instructions/s",
        bare / 1e6
    );

    for bin in &scan_bins {
        let mut best = Duration::MAX;
        let mut last = None;
        for _ in 0..3 {
            let started = Instant::now();
            let image = Image::open(Path::new(bin)).expect("binary");
            let prog = GoProgram::new(&image).expect("go program");
            let report = twixt_check::scan(&prog, &ScanOptions::default()).expect("scan");
            best = best.min(started.elapsed());
            last = Some(report);
        }
        let report = last.expect("ran");
        let secs = best.as_secs_f64();
        let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
        let rate = report.summary.boundaries as f64 / secs;
        println!(
            "{bin}: {:.1} MB, {} functions, {} boundaries: load+scan {:.3} s (best of 3), {:.0} functions/s, {:.2} M boundaries/s, {:.1}% of the bare hooked rate",
            size as f64 / 1e6,
            report.summary.functions,
            report.summary.boundaries,
            secs,
            report.summary.functions as f64 / secs,
            rate / 1e6,
            100.0 * rate / bare
        );
    }

    let started = Instant::now();
    let first: Cell<Option<Duration>> = Cell::new(None);
    let on_finding = |f: &twixt_check::Finding, _since_scan: Duration| {
        if first.get().is_none() && f.preemptible && f.function.starts_with("main.nonleaf") {
            first.set(Some(started.elapsed()));
        }
    };
    let image = Image::open(Path::new(&first_finding_bin)).expect("binary");
    let prog = GoProgram::new(&image).expect("go program");
    let options = ScanOptions {
        on_finding: Some(&on_finding),
        ..ScanOptions::default()
    };
    let report = twixt_check::scan(&prog, &options).expect("scan");
    match first.get() {
        Some(t) => println!(
            "{first_finding_bin}: first #73259 window after {:.1} ms (from process start of the run, including loading); whole scan {:.3} s",
            t.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64()
        ),
        None => println!(
            "{first_finding_bin}: no #73259 window found ({} windows)",
            report.summary.windows
        ),
    }
}
