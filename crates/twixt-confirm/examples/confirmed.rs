//! Builds `docs/confirmed.md` (used by `scripts/confirm-matrix`):
//!
//! - `confirmed collect REPORT.json... [--trace TRACE.json...] [--targeted AT.json...]`
//!   prints the cells (`docs/confirmed.json`) of `twixt confirm --format json` reports of the
//!   corpus stress driver (or of another corpus program), sorted by program, Go version and
//!   column; `--trace` reports (`twixt confirm --trace`) and `--targeted` reports (`twixt
//!   confirm --at all`) join the cell of the same program, version and function;
//! - `confirmed add CELLS.json [REPORT.json...] [--trace ...] [--targeted ...]` does the
//!   same starting from existing cells (a report replaces the cell it names);
//! - `confirmed render CELLS.json` prints the Markdown.

use twixt_confirm::matrix::{COLUMNS, Cell, STRESS, TargetedCell, TracerCell, render};

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn load(f: &String) -> Result<serde_json::Value, String> {
    serde_json::from_str(&read(f)?).map_err(|e| format!("{f}: {e}"))
}

/// Splits `FILES... [--trace FILES...] [--targeted FILES...]`.
fn groups(files: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut runs, mut traces, mut targeted) = (Vec::new(), Vec::new(), Vec::new());
    let mut into = 0;
    for f in files {
        match f.as_str() {
            "--trace" => into = 1,
            "--targeted" => into = 2,
            _ => [&mut runs, &mut traces, &mut targeted][into].push(f.clone()),
        }
    }
    (runs, traces, targeted)
}

fn find<'a>(cells: &'a mut [Cell], of: &Cell, f: &str) -> Result<&'a mut Cell, String> {
    cells
        .iter_mut()
        .find(|c| {
            c.program == of.program && c.go_version == of.go_version && c.function == of.function
        })
        .ok_or_else(|| {
            format!(
                "{f}: no cell for {} {} {}",
                of.program, of.go_version, of.function
            )
        })
}

fn add(mut cells: Vec<Cell>, files: &[String]) -> Result<String, String> {
    let (runs, traces, targeted) = groups(files);
    for f in &runs {
        let cell = Cell::from_report(&load(f)?).map_err(|e| format!("{f}: {e}"))?;
        cells.retain(|c| {
            !(c.program == cell.program
                && c.go_version == cell.go_version
                && c.function == cell.function)
        });
        cells.push(cell);
    }
    for f in &traces {
        let value = load(f)?;
        let traced = Cell::from_report(&value).map_err(|e| format!("{f}: {e}"))?;
        find(&mut cells, &traced, f)?.tracer =
            Some(TracerCell::from_report(&value).map_err(|e| format!("{f}: {e}"))?);
    }
    for f in &targeted {
        let value = load(f)?;
        let program = value["binary"].as_str().unwrap_or(STRESS).to_string();
        let version = value["go_version"].as_str().unwrap_or_default().to_string();
        let cell = cells
            .iter_mut()
            .find(|c| {
                c.program == program
                    && c.go_version == version
                    && value["targets"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["function"] == c.function.as_str()))
            })
            .ok_or_else(|| format!("{f}: no cell for {program} {version} and its targets"))?;
        cell.targeted = Some(
            TargetedCell::from_report(&value, &cell.function).map_err(|e| format!("{f}: {e}"))?,
        );
    }
    let column = |c: &Cell| COLUMNS.iter().position(|(f, _)| *f == c.function);
    cells.sort_by_key(|c| {
        let v: Vec<u32> = c
            .go_version
            .trim_start_matches("go")
            .split('.')
            .filter_map(|p| p.parse().ok())
            .collect();
        (c.program != STRESS, c.program.clone(), v, column(c))
    });
    let mut text = serde_json::to_string_pretty(&cells).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, files)) if cmd == "collect" => add(Vec::new(), files),
        Some((cmd, [cells, files @ ..])) if cmd == "add" => {
            let old: Vec<Cell> =
                serde_json::from_str(&read(cells)?).map_err(|e| format!("{cells}: {e}"))?;
            add(old, files)
        }
        Some((cmd, [cells])) if cmd == "render" => {
            let cells: Vec<Cell> =
                serde_json::from_str(&read(cells)?).map_err(|e| format!("{cells}: {e}"))?;
            Ok(render(&cells))
        }
        _ => Err("usage: confirmed collect REPORT.json... [--trace TRACE.json...] [--targeted AT.json...] | confirmed add CELLS.json [same] | confirmed render CELLS.json".into()),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("confirmed: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
