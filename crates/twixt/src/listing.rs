//! The `funcs` and `disasm` listings: plain tables, one line per function or instruction,
//! the same for every architecture a [`GoProgram`] lists (arm64 and amd64): only the
//! `BYTES` column differs (an arm64 word, an amd64 instruction's bytes).

use std::fmt::Write as _;

use regex::Regex;
use twixt_check::GoProgram;

/// One line per function: entry, size, largest pcsp value, flags, name, source file.
pub fn funcs(prog: &GoProgram<'_>, filter: Option<&Regex>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>8} {:>9} {:<5} {:<50} FILE",
        "ENTRY", "SIZE", "FRAME", "FLAGS", "NAME"
    );
    for f in prog.funcs() {
        if filter.is_some_and(|re| !re.is_match(&f.info.name)) {
            continue;
        }
        let raw = prog.raw_func(f.index);
        let flags = format!(
            "{}{}{}",
            if f.info.top_frame { 'T' } else { '-' },
            if f.info.sp_write { 'S' } else { '-' },
            if f.asm { 'A' } else { '-' }
        );
        let file = raw
            .as_ref()
            .and_then(|r| r.file_line(f.info.entry).ok().flatten())
            .map(|(file, _)| file.to_string())
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            s,
            "{:<12} {:>8} {:>9} {:<5} {:<50} {}",
            format!("{:#x}", f.info.entry),
            f.code_end - f.info.entry,
            f.frame_size(),
            flags,
            f.info.name,
            file
        );
    }
    for (index, reason) in prog.broken() {
        let _ = writeln!(s, "# function #{index}: unreadable: {reason}");
    }
    s
}

/// Every instruction of one function with its metadata.
pub fn disasm(prog: &GoProgram<'_>, name: &str) -> Result<String, String> {
    let f = prog.func_named(name).ok_or_else(|| {
        format!(
            "{}: no function named {name:?} (try `twixt funcs {} --filter REGEX`)",
            prog.image().path(),
            prog.image().path()
        )
    })?;
    let up_runs = prog.unsafe_point_runs(f);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} entry {:#x} size {} frame {:#x} ({}){}",
        f.info.name,
        f.info.entry,
        f.code_end - f.info.entry,
        f.frame_size(),
        f.frame_size(),
        if f.asm { " asm" } else { "" }
    );
    // An arm64 word is 8 hex digits; amd64 instructions of up to 10 bytes fit in 20.
    let bytes_width = match prog.arch() {
        twixt_image::Arch::Arm64 => 8,
        _ => 20,
    };
    let _ = writeln!(
        s,
        "{:<10} {:<bytes_width$} {:<40} {:>8} {:>6}  FILE:LINE",
        "PC", "BYTES", "INSTRUCTION", "PCSP", "UNSAFE"
    );
    let mut pc = f.info.entry;
    while pc < f.code_end {
        let Some(insn) = prog.listed(pc) else { break };
        let pcsp = f
            .pcsp_at(pc)
            .map(|v| format!("{v:#x}"))
            .unwrap_or_else(|| "?".into());
        let up = twixt_check::program::run_at(&up_runs, pc)
            .map(|r| r.value)
            .unwrap_or(-1);
        let place = prog
            .file_line(f, pc)
            .map(|(file, line)| format!("{file}:{line}"))
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            s,
            "{:<10} {:<bytes_width$} {:<40} {:>8} {:>6}  {}",
            format!("{pc:#x}"),
            insn.encoding.to_string(),
            insn.text,
            pcsp,
            up,
            place
        );
        pc += insn.len.max(1);
    }
    Ok(s)
}
