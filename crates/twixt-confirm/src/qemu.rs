//! Finding qemu-user for arm64 and the flag that makes it deliver signals at every
//! instruction boundary.
//!
//! By default qemu-user translates a block of guest instructions at a time and delivers a
//! signal only between blocks, so a window in the middle of a block is never interrupted.
//! With one guest instruction per translation block every boundary can receive the
//! runtime's preemption signal. QEMU 7.2 (Debian bookworm) calls that `-singlestep`; QEMU
//! 8.1 renamed it `-one-insn-per-tb` (the old name stays as an alias for a while). The flag
//! is read from the installed binary's `--help`, never assumed from its version.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

/// The binaries tried, in order, on `PATH`.
pub const CANDIDATES: [&str; 2] = ["qemu-aarch64-static", "qemu-aarch64"];

/// What to tell someone who has no QEMU.
pub const INSTALL_HINT: &str = "install Debian's qemu-user-static (apt-get install \
     qemu-user-static, or run scripts/bootstrap, which installs it)";

/// The installed qemu-user for arm64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Qemu {
    /// The binary.
    pub path: PathBuf,
    /// The first line of `--version`, e.g. `qemu-aarch64 version 7.2.22 (Debian ...)`.
    pub version: String,
    /// The one-instruction-per-block flag this QEMU takes (`-one-insn-per-tb` or
    /// `-singlestep`).
    pub flag: String,
}

impl Qemu {
    /// Finds qemu-user for arm64 on `PATH` (or `path` when given) and reads its version and
    /// flag.
    pub fn find(path: Option<&Path>) -> Result<Qemu, String> {
        let binary = match path {
            Some(p) => p.to_path_buf(),
            None => on_path(&CANDIDATES).ok_or_else(|| {
                format!(
                    "twixt confirm runs the binary under qemu-user and found none ({} on PATH): \
                     {INSTALL_HINT}",
                    CANDIDATES.join(" or ")
                )
            })?,
        };
        let run = |arg: &str| -> Result<String, String> {
            let out = Command::new(&binary)
                .arg(arg)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("{}: cannot run: {e} ({INSTALL_HINT})", binary.display()))?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let version = run("--version")?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let flag = single_step_flag(&run("--help")?).ok_or_else(|| {
            format!(
                "{}: its --help lists neither -one-insn-per-tb nor -singlestep, so twixt cannot \
                 make it deliver signals at every instruction ({version})",
                binary.display()
            )
        })?;
        Ok(Qemu {
            path: binary,
            version,
            flag: flag.to_string(),
        })
    }
}

/// The flag in a QEMU `--help` text: `-one-insn-per-tb` where listed (QEMU 8.1+), else
/// `-singlestep` (QEMU 7.2).
pub fn single_step_flag(help: &str) -> Option<&'static str> {
    let listed = |flag: &str| {
        help.lines()
            .any(|l| l.split_whitespace().next() == Some(flag))
    };
    if listed("-one-insn-per-tb") {
        Some("-one-insn-per-tb")
    } else if listed("-singlestep") {
        Some("-singlestep")
    } else {
        None
    }
}

/// The first of `names` found as an executable file in a `PATH` directory.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_comes_from_the_help_text() {
        // QEMU 7.2.22 (Debian bookworm), abridged.
        let q72 = "usage: qemu-aarch64 [options] program [arguments...]\n\
                   -strace              QEMU_STRACE       log system calls\n\
                   -singlestep          QEMU_SINGLESTEP   run in singlestep mode\n";
        assert_eq!(single_step_flag(q72), Some("-singlestep"));
        // QEMU 8.1+ lists the new name (and may keep the old one as an alias).
        let q81 = "-one-insn-per-tb     QEMU_ONE_INSN_PER_TB  run with one guest instruction per emulated TB\n\
                   -singlestep          QEMU_SINGLESTEP   deprecated synonym for -one-insn-per-tb\n";
        assert_eq!(single_step_flag(q81), Some("-one-insn-per-tb"));
        assert_eq!(single_step_flag("-strace  log system calls\n"), None);
        // A mention in prose is not a listing.
        assert_eq!(single_step_flag("see -singlestep below\n"), None);
    }
}
