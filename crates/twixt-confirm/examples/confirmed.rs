//! Builds `docs/confirmed.md` (used by `scripts/confirm-matrix`):
//!
//! - `confirmed collect REPORT.json... [--trace TRACE.json...]` prints the cells
//!   (`docs/confirmed.json`) of `twixt confirm --format json` reports of the corpus stress
//!   driver, sorted by Go version and column; `--trace` reports (`twixt confirm --trace`)
//!   join the cell of the same version and function;
//! - `confirmed render CELLS.json` prints the Markdown.

use twixt_confirm::matrix::{COLUMNS, Cell, TracerCell, render};

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, files)) if cmd == "collect" => {
            let (runs, traces) = match files.iter().position(|f| f == "--trace") {
                Some(i) => (&files[..i], &files[i + 1..]),
                None => (files, &[][..]),
            };
            let load = |f: &String| -> Result<serde_json::Value, String> {
                serde_json::from_str(&read(f)?).map_err(|e| format!("{f}: {e}"))
            };
            let mut cells = Vec::new();
            for f in runs {
                cells.push(Cell::from_report(&load(f)?).map_err(|e| format!("{f}: {e}"))?);
            }
            for f in traces {
                let value = load(f)?;
                let traced = Cell::from_report(&value).map_err(|e| format!("{f}: {e}"))?;
                let cell = cells
                    .iter_mut()
                    .find(|c| c.go_version == traced.go_version && c.function == traced.function)
                    .ok_or_else(|| format!("{f}: no cell for {} {}", traced.go_version, traced.function))?;
                cell.tracer = Some(TracerCell::from_report(&value).map_err(|e| format!("{f}: {e}"))?);
            }
            let column = |c: &Cell| COLUMNS.iter().position(|(f, _)| *f == c.function);
            cells.sort_by_key(|c| {
                let v: Vec<u32> = c
                    .go_version
                    .trim_start_matches("go")
                    .split('.')
                    .filter_map(|p| p.parse().ok())
                    .collect();
                (v, column(c))
            });
            let mut text = serde_json::to_string_pretty(&cells).map_err(|e| e.to_string())?;
            text.push('\n');
            Ok(text)
        }
        Some((cmd, [cells])) if cmd == "render" => {
            let cells: Vec<Cell> =
                serde_json::from_str(&read(cells)?).map_err(|e| format!("{cells}: {e}"))?;
            Ok(render(&cells))
        }
        _ => Err("usage: confirmed collect REPORT.json... [--trace TRACE.json...] | confirmed render CELLS.json".into()),
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
