//! The report's way to stdout. A reader that goes away early (`twixt scan ... | head`) ends
//! the run quietly with status 0, as `grep` or `rg` do, instead of a panic; any other write
//! error is one line on stderr and status 2.

use std::io::Write as _;

/// Writes `text` to stdout and flushes it.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("twixt: cannot write the report to stdout: {e}");
        std::process::exit(2);
    }
}

/// Writes `line` and a newline to stdout (see [`emit`]).
pub fn emit_line(line: &str) {
    emit(&format!("{line}\n"));
}
