//! The scan benchmark (`scripts/bench` runs it with `--release`): prints figures and
//! ratios, never asserts a time.
//!
//! `bench [--jobs N] BINARY`: load + scan time (best of 3), functions/s, boundaries/s, peak
//! RSS, and the rate of a bare Unicorn loop with an empty per-instruction hook measured in
//! the same process, with twixt's boundary rate as a share of it.
//! `bench --first-finding BINARY`: the time from start (before reading the file) to the
//! first golang/go#73259 window, on one worker.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use twixt_check::{GoProgram, ScanOptions};
use twixt_image::Image;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut jobs = 1usize;
    let mut first_finding = false;
    let mut binary = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--jobs" => jobs = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            "--first-finding" => first_finding = true,
            _ => binary = Some(a),
        }
    }
    let Some(bin) = binary else {
        eprintln!("usage: bench [--jobs N | --first-finding] BINARY");
        std::process::exit(2);
    };

    if first_finding {
        let started = Instant::now();
        let first: Mutex<Option<Duration>> = Mutex::new(None);
        let on_finding = |f: &twixt_check::Finding, _: Duration| {
            if let Ok(mut slot) = first.lock()
                && slot.is_none()
                && f.preemptible
                && f.function.starts_with("main.nonleaf")
            {
                *slot = Some(started.elapsed());
            }
        };
        let image = Image::open(Path::new(&bin)).expect("binary");
        let prog = GoProgram::new(&image).expect("go program");
        let options = ScanOptions {
            on_finding: Some(&on_finding),
            ..ScanOptions::default()
        };
        let report = twixt_check::scan(&prog, &options).expect("scan");
        match *first.lock().unwrap() {
            Some(t) => println!(
                "{bin}: first #73259 window after {:.1} ms (from start, including loading); whole scan {:.3} s",
                t.as_secs_f64() * 1e3,
                started.elapsed().as_secs_f64()
            ),
            None => println!(
                "{bin}: no #73259 window ({} windows)",
                report.summary.windows
            ),
        }
        return;
    }

    let bare = twixt_emu::bare::hooked_loop_rate(20_000_000).expect("bare unicorn loop");
    // The scan executes each instruction once: TCG translates all of them. The same mix of
    // code run once, in regions of 8 (about a scan's average), is the other ceiling.
    let once = twixt_emu::bare::translated_once_rate(1 << 20, 8, true).expect("translated once");
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..3 {
        let started = Instant::now();
        let image = Image::open(Path::new(&bin)).expect("binary");
        let prog = GoProgram::new(&image).expect("go program");
        let options = ScanOptions {
            jobs,
            ..ScanOptions::default()
        };
        let report = twixt_check::scan(&prog, &options).expect("scan");
        best = best.min(started.elapsed());
        last = Some(report);
    }
    let report = last.expect("ran");
    let secs = best.as_secs_f64();
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    let rate = report.summary.boundaries as f64 / secs;
    println!(
        "{bin} --jobs {jobs}: {:.1} MB, {} functions, {} boundaries, {} unanalysed: load+scan {:.3} s (best of 3), {:.0} functions/s, {:.2} M boundaries/s, peak RSS {:.0} MiB; bare hooked Unicorn {:.1} M instructions/s, twixt's boundary rate is {:.2}% of it; bare hooked Unicorn on code run once (translated as it runs) {:.2} M instructions/s, twixt's rate is {:.0}% of that",
        size as f64 / 1e6,
        report.summary.functions,
        report.summary.boundaries,
        report.summary.unanalysed,
        secs,
        report.summary.functions as f64 / secs,
        rate / 1e6,
        peak_rss_mib().unwrap_or(0.0),
        bare / 1e6,
        100.0 * rate / bare,
        once / 1e6,
        100.0 * rate / once
    );
}
