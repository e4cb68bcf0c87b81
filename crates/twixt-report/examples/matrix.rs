//! Prints the version matrix (`docs/matrix.md`) for the JSON reports named on the command
//! line (`twixt scan BINARY --format json` output, one per Go version).
//!
//! `cargo run --release --locked -q -p twixt-report --example matrix -- REPORT.json...`

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "-h" || p == "--help") {
        eprintln!("usage: matrix REPORT.json... (prints the Markdown version matrix)");
        return if paths.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let mut reports = Vec::new();
    for path in &paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("matrix: {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match twixt_report::read_json(&text) {
            Ok(report) => reports.push((report.go_version.clone(), report)),
            Err(e) => {
                eprintln!("matrix: {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", twixt_report::matrix(&reports));
    ExitCode::SUCCESS
}
