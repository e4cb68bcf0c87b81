//! `twixt fuzz --synthetic`: sweeps frame sizes through the assembler model
//! (`twixt_synth`): for each generation and shape, every multiple of 16 in the range is
//! synthesized, run (by the model's exact interpreter, cross-checked against Unicorn in
//! twixt-synth's tests) and judged at every boundary by Go's traceback and the
//! frame-pointer walk. The report gives, per unwinder and severity, the exact set of unsafe
//! frame sizes as ranges and as a predicate over the assembler's constant classes.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use twixt_synth::Generation;
use twixt_synth::check::{Severity, Unwinder};
use twixt_synth::model::Shape;
use twixt_synth::sweep::{ShapeSweep, sweep};

use crate::fuzz_cmd::{FuzzArgs, ShapeArg, SynthFormat};

/// The default range: 0 to 16 MiB + 64 KiB.
const DEFAULT_HI: u64 = (16 << 20) + (64 << 10);
/// Ranges the text report lists per set.
const TEXT_RANGES: usize = 12;
/// The largest frame the model covers.
const MAX_FRAME: u64 = (1 << 32) - 16;

fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim().replace('_', "");
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses `LO..=HI`.
fn parse_frames(text: &str) -> Result<(u64, u64), String> {
    let bad = |why: &str| format!("--frames {text:?}: {why} (expected LO..=HI, e.g. 0..=0x20000)");
    let (lo, hi) = text.split_once("..=").ok_or_else(|| bad("no `..=`"))?;
    let lo = parse_number(lo).ok_or_else(|| bad("LO is not a number"))?;
    let hi = parse_number(hi).ok_or_else(|| bad("HI is not a number"))?;
    if lo > hi {
        return Err(bad("LO is above HI"));
    }
    if hi > MAX_FRAME {
        return Err(bad(&format!(
            "HI is above {MAX_FRAME:#x}, the largest frame modelled"
        )));
    }
    Ok((lo, hi))
}

/// Runs the synthetic sweep.
pub fn run(args: &FuzzArgs) -> Result<ExitCode, String> {
    let generations: Vec<Generation> = match &args.generation {
        None => Generation::ALL.to_vec(),
        Some(g) => vec![Generation::parse(g).ok_or_else(|| {
            format!(
                "--generation {g:?}: not a modelled generation (1.19, 1.21.7, 1.24, fixed, or a release from go1.19 on, except go1.23.12+)"
            )
        })?],
    };
    let (lo, hi) = match &args.frames {
        Some(f) => parse_frames(f)?,
        None => (0, DEFAULT_HI),
    };
    let shapes: Vec<Shape> = match args.shape {
        ShapeArg::Leaf => vec![Shape::Leaf],
        ShapeArg::Nonleaf => vec![Shape::NonLeaf],
        ShapeArg::Both => Shape::ALL.to_vec(),
    };
    let per_shape =
        (hi / 16).saturating_sub(lo.div_ceil(16)) + u64::from(lo.div_ceil(16) * 16 <= hi);
    let total = per_shape * (generations.len() * shapes.len()) as u64;
    let bar = progress_bar(total);
    let mut results = Vec::new();
    let mut base = 0u64;
    for g in &generations {
        for shape in &shapes {
            tracing::info!(generation = %g, shape = shape.name(), lo, hi, "sweeping");
            let r = sweep(*g, *shape, lo, hi, &mut |done| {
                if let Some(b) = &bar {
                    b.set_position(base + done);
                }
            })
            .map_err(|e| format!("twixt fuzz --synthetic: generation {g}: {e}"))?;
            base += per_shape;
            results.push(r);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let windows = results
        .iter()
        .any(|r| r.sets.values().any(|s| !s.sizes.is_empty()));
    let text = match args.format {
        SynthFormat::Text => render_text(&results, lo, hi),
        SynthFormat::Json => render_json(&results, lo, hi),
    };
    crate::out::emit(&text);
    Ok(if windows {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} frame sizes {elapsed}") {
        b.set_style(style);
    }
    b.enable_steady_tick(Duration::from_millis(200));
    Some(b)
}

fn range_text((a, b): (u64, u64)) -> String {
    if a == b {
        format!("{a:#x}")
    } else {
        format!("{a:#x}..={b:#x} step 16")
    }
}

fn render_text(results: &[ShapeSweep], lo: u64, hi: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "twixt fuzz --synthetic: frame sizes {lo:#x}..={hi:#x} (multiples of 16)"
    );
    let mut last_gen = None;
    for r in results {
        if last_gen != Some(r.generation) {
            let _ = writeln!(
                out,
                "\ngeneration {} ({})",
                r.generation,
                r.generation.releases()
            );
            last_gen = Some(r.generation);
        }
        let _ = writeln!(
            out,
            "  {}: {} frame sizes, {} boundaries judged{}",
            r.shape.name(),
            r.checked,
            r.boundaries,
            if r.skipped > 0 {
                format!(
                    " ({} sizes skipped: a non-leaf function always has a frame)",
                    r.skipped
                )
            } else {
                String::new()
            }
        );
        for u in Unwinder::ALL {
            for s in Severity::ALL {
                let set = &r.sets[&(u, s)];
                let ranges = set.ranges();
                let _ = writeln!(
                    out,
                    "    {} unwinder, {}: {} unsafe frame sizes in {} ranges",
                    u.name(),
                    s.name(),
                    set.sizes.len(),
                    ranges.len()
                );
                if set.sizes.is_empty() {
                    continue;
                }
                let verdicts: Vec<String> = r.verdicts[&(u, s)]
                    .iter()
                    .map(|(v, n)| format!("{v} x{n}"))
                    .collect();
                let _ = writeln!(out, "      verdicts (boundaries): {}", verdicts.join(", "));
                match &r.predicates[&(u, s)] {
                    Ok(p) => {
                        let _ = writeln!(out, "      predicate: {p}");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "      predicate: {e}");
                    }
                }
                // The predicate is exact (checked against every size); the text lists the
                // first ranges, JSON lists them all.
                let shown = ranges.len().min(TEXT_RANGES);
                for chunk in ranges[..shown].chunks(4) {
                    let parts: Vec<String> = chunk.iter().map(|&x| range_text(x)).collect();
                    let _ = writeln!(out, "      {}", parts.join(", "));
                }
                if ranges.len() > shown {
                    let _ = writeln!(
                        out,
                        "      ... and {} more ranges up to {:#x} (--format json lists them all)",
                        ranges.len() - shown,
                        ranges.last().map_or(0, |r| r.1)
                    );
                }
            }
        }
    }
    out
}

fn render_json(results: &[ShapeSweep], lo: u64, hi: u64) -> String {
    let sweeps: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let mut sets = Vec::new();
            for u in Unwinder::ALL {
                for s in Severity::ALL {
                    let set = &r.sets[&(u, s)];
                    let ranges: Vec<serde_json::Value> = set
                        .ranges()
                        .into_iter()
                        .map(|(a, b)| serde_json::json!({"from": a, "to": b, "step": 16}))
                        .collect();
                    let (predicate, predicate_error) = match &r.predicates[&(u, s)] {
                        Ok(p) => (Some(p.clone()), None),
                        Err(e) => (None, Some(e.clone())),
                    };
                    sets.push(serde_json::json!({
                        "unwinder": u.name(),
                        "severity": s.name(),
                        "count": set.sizes.len(),
                        "ranges": ranges,
                        "predicate": predicate,
                        "predicate_error": predicate_error,
                        "verdicts": r.verdicts[&(u, s)],
                    }));
                }
            }
            serde_json::json!({
                "generation": r.generation.name(),
                "releases": r.generation.releases(),
                "shape": r.shape.name(),
                "frame_sizes": r.checked,
                "skipped": r.skipped,
                "boundaries": r.boundaries,
                "unsafe": sets,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "frames": {"from": lo, "to": hi, "step": 16},
        "sweeps": sweeps,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse() {
        assert_eq!(parse_frames("0..=0x20000"), Ok((0, 0x20000)));
        assert_eq!(parse_frames("4096..=8192"), Ok((4096, 8192)));
        assert!(parse_frames("10..5").is_err());
        assert!(parse_frames("0x20..=0x10").is_err());
        assert!(parse_frames("0..=0x200000000").is_err());
    }
}
