//! The progress bar on stderr for scans that take more than a second: hidden when stderr
//! is not a terminal (CI logs, pipes), so stdout's report is never mixed with it.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A lazily shown progress bar.
pub struct Progress {
    started: Instant,
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Progress {
    /// A progress bar that appears only after a second, and only on a terminal.
    pub fn new(started: Instant) -> Progress {
        Progress {
            started,
            bar: Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Records that `done` of `total` functions are finished.
    pub fn update(&self, done: usize, total: usize) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let Ok(mut bar) = self.bar.lock() else { return };
        let bar = bar.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} functions {elapsed}")
            {
                b.set_style(style);
            }
            b
        });
        bar.set_position(done as u64);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(b) = bar.take()
        {
            b.finish_and_clear();
        }
    }
}
