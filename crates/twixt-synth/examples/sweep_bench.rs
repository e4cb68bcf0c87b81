//! Benchmark of the synthetic sweep: frame sizes per second for a full default sweep
//! (0 to 16 MiB + 64 KiB, both shapes) of one generation on one thread.
//!
//! `cargo run --release -p twixt-synth --example sweep_bench -- [GENERATION]`

use std::time::Instant;

use twixt_synth::Generation;
use twixt_synth::model::Shape;
use twixt_synth::sweep::sweep;

fn main() {
    let g = std::env::args()
        .nth(1)
        .and_then(|s| Generation::parse(&s))
        .unwrap_or(Generation::G1_21_7);
    let hi = (16 << 20) + (64 << 10);
    let started = Instant::now();
    let mut sizes = 0;
    let mut boundaries = 0;
    for shape in Shape::ALL {
        match sweep(g, shape, 0, hi, &mut |_| {}) {
            Ok(s) => {
                sizes += s.checked;
                boundaries += s.boundaries;
            }
            Err(e) => {
                eprintln!("sweep_bench: {e}");
                std::process::exit(2);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "synthetic sweep, generation {g}: {sizes} (frame size, shape) pairs, {boundaries} boundaries in {secs:.2} s on one thread: {:.0} frame sizes/s, {:.0} boundaries/s",
        sizes as f64 / secs,
        boundaries as f64 / secs
    );
}
