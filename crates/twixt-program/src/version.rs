//! Which Go release linked a binary, and how twixt knows: the preemption rules
//! ([`twixt_unwind::preempt::decide`]) changed between releases, so a report must say which
//! release's rules it applied and why.
//!
//! In order of trust:
//!
//! 1. `--go-version` (the user says so);
//! 2. `.go.buildinfo` (what `go version BINARY` reads);
//! 3. the `runtime.buildVersion` string the linker writes into every binary (its string
//!    header lives in writable data and points at `go1.x.y` in read-only data): through
//!    the `runtime.buildVersion` symbol, or, without symbols, by finding every string
//!    header in writable data that points at a Go version string;
//! 4. inference from the binary's structure: the pclntab magic, whether the pclntab header
//!    records where text starts, the moduledata layout (see [`crate::moduledata`]), and
//!    runtime functions that exist only from, or only up to, a release. That gives a range
//!    of minor releases (usually exactly one); twixt then applies the rules of the earliest
//!    release in the range (see [`VersionInfo::rules`]).
//!
//! A version found in the `runtime.buildVersion` string by search is used only when it lies
//! in the inferred range, so a program's own `go1.` strings cannot be mistaken for it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use twixt_gopclntab::{Format, Pclntab};
use twixt_image::Image;
pub use twixt_unwind::preempt::GoVersion;

use crate::moduledata::{Layout, Moduledata};

/// A range of releases, by minor version: from `go1.FIRST.0` to the last patch release of
/// `go1.LAST`, or to any later release when `last` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Releases {
    /// The first minor release in the range.
    pub first: u32,
    /// The last minor release in the range (`None`: no upper bound known).
    pub last: Option<u32>,
}

impl Releases {
    /// Every release twixt reads (pclntab formats of Go 1.18 and later).
    pub const ALL: Releases = Releases {
        first: 18,
        last: None,
    };

    /// `go1.FIRST.0` up to the end of `go1.LAST`.
    pub fn new(first: u32, last: Option<u32>) -> Releases {
        Releases { first, last }
    }

    /// `go1.MINOR.0` and later.
    pub fn from(minor: u32) -> Releases {
        Releases::new(minor, None)
    }

    /// Everything up to the end of `go1.MINOR`.
    pub fn until(minor: u32) -> Releases {
        Releases::new(Releases::ALL.first, Some(minor))
    }

    /// Whether `version` is in the range.
    pub fn contains(self, version: GoVersion) -> bool {
        version.minor >= self.first && self.last.is_none_or(|l| version.minor <= l)
    }

    /// The releases in both ranges, `None` when they do not overlap.
    pub fn intersect(self, other: Releases) -> Option<Releases> {
        let first = self.first.max(other.first);
        let last = match (self.last, other.last) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last.is_none_or(|l| first <= l)
            .then_some(Releases { first, last })
    }

    /// The earliest release in the range, `go1.FIRST.0`.
    pub fn earliest(self) -> GoVersion {
        GoVersion {
            minor: self.first,
            patch: 0,
        }
    }

    /// Whether the range is the patch releases of one minor release.
    pub fn is_one_minor(self) -> bool {
        self.last == Some(self.first)
    }
}

impl fmt::Display for Releases {
    /// `go1.24.x` (one minor release), `go1.20.0 to go1.21.x`, `go1.27.0 or later`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last {
            Some(l) if l == self.first => write!(f, "go1.{l}.x"),
            Some(l) => write!(f, "go1.{}.0 to go1.{l}.x", self.first),
            None => write!(f, "go1.{}.0 or later", self.first),
        }
    }
}

/// One fact about the binary and the releases it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clue {
    /// What was seen, e.g. `pclntab magic 0xfffffff1`, `runtime.(*timers).adjust present`.
    pub what: String,
    /// The releases consistent with it.
    pub releases: Releases,
}

impl fmt::Display for Clue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.releases;
        match r.last {
            None => write!(f, "{} (go1.{}+)", self.what, r.first),
            Some(l) if l == r.first => write!(f, "{} (go1.{l})", self.what),
            Some(l) if r.first <= Releases::ALL.first && l > r.first + 1 => {
                write!(f, "{} (go1.{l} or earlier)", self.what)
            }
            Some(l) => write!(f, "{} (go1.{} to go1.{l})", self.what, r.first),
        }
    }
}

/// What the binary's structure says about the release that linked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    /// The releases every clue allows.
    pub releases: Releases,
    /// The clues that decided the range, structure first.
    pub clues: Vec<Clue>,
    /// Clues that contradicted the others and were set aside (empty normally).
    pub conflicts: Vec<Clue>,
}

impl fmt::Display for Inference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.clues.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        if !self.conflicts.is_empty() {
            f.write_str("; set aside as contradictory: ")?;
            for (i, c) in self.conflicts.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Runtime functions that exist only from a release on (`Since`) or only up to one
/// (`Until`), each from a runtime change that removed or added it for every build
/// configuration (no GOEXPERIMENT brings it back). Checked against every corpus binary
/// (go1.19.8 to go1.27.3, `tests/goversion.rs`: each is narrowed to its own minor release)
/// and by hand against every tool binary of the official go1.21.13, 1.23.4, 1.24.3, 1.25.5,
/// 1.26.6 and 1.27.3 releases. No go1.18 or go1.20 binary was available: their bounds rest
/// on the runtime changes named below. Only presence counts: the linker drops unused
/// functions, so an absent one proves nothing.
const MARKERS: &[(&str, Marker)] = &[
    // Go 1.19: the GC CPU limiter (with the memory limit).
    ("runtime.(*gcCPULimiterState).update", Marker::Since(19)),
    // Go 1.21: the unwinder rewrite replaced gentraceback.
    ("runtime.(*unwinder).next", Marker::Since(21)),
    ("runtime.(*inlineUnwinder).next", Marker::Since(21)),
    ("runtime.gentraceback", Marker::Until(20)),
    ("runtime.funcspdelta", Marker::Until(20)),
    // Go 1.22: ChaCha8 runtime randomness; panic/defer rewrite.
    ("internal/chacha8rand.block", Marker::Since(22)),
    ("runtime.(*_panic).nextFrame", Marker::Since(22)),
    ("runtime.addOneOpenDeferFrame", Marker::Until(21)),
    ("runtime.runOpenDeferFrame", Marker::Until(21)),
    // Go 1.23: the timer rewrite.
    ("runtime.(*timers).adjust", Marker::Since(23)),
    ("runtime.(*timers).check", Marker::Since(23)),
    ("runtime.checkTimers", Marker::Until(22)),
    ("runtime.adjusttimers", Marker::Until(22)),
    // Go 1.24: internal/sync, GC masks built on demand (GC programs gone), vDSO getrandom.
    ("internal/sync.(*Mutex).lockSlow", Marker::Since(24)),
    ("runtime.getGCMaskOnDemand", Marker::Since(24)),
    ("runtime.vgetrandomInit", Marker::Since(24)),
    ("runtime.materializeGCProg", Marker::Until(23)),
    // Go 1.25: cleanups, container-aware GOMAXPROCS, finalizer queue rewrite.
    ("runtime.(*cleanupQueue).enqueue", Marker::Since(25)),
    ("runtime.defaultGOMAXPROCS", Marker::Since(25)),
    ("runtime.runFinalizers", Marker::Since(25)),
    ("runtime.runfinq", Marker::Until(24)),
    ("runtime.tracebackothers", Marker::Until(24)),
    ("runtime.getproccount", Marker::Until(24)),
    // Go 1.26: bounds-check panics rewritten; arm64 dropped duffzero.
    ("runtime.panicBounds", Marker::Since(26)),
    ("internal/runtime/syscall/linux.Syscall6", Marker::Since(26)),
    ("runtime.duffzero", Marker::Until(25)),
    ("runtime.gopreempt_m", Marker::Until(25)),
    // Go 1.27: type links and itabs from the moduledata, AES hashing in internal/runtime/maps.
    ("runtime.moduleTypelinks", Marker::Since(27)),
    ("runtime.addModuleItabs", Marker::Since(27)),
    ("internal/runtime/maps.AlgInit", Marker::Since(27)),
    ("runtime.alginit", Marker::Until(26)),
    ("runtime.checkASM", Marker::Until(26)),
];

#[derive(Clone, Copy, Debug)]
enum Marker {
    Since(u32),
    Until(u32),
}

/// Infers the releases that could have linked the binary from its structure and the names
/// of its functions.
pub fn infer<'n>(
    table: &Pclntab<'_>,
    moduledata: Option<&Moduledata>,
    names: impl IntoIterator<Item = &'n str>,
) -> Inference {
    let mut structure = Vec::new();
    let magic = table.format().magic();
    structure.push(Clue {
        what: format!("pclntab magic {magic:#x}"),
        releases: match table.format() {
            Format::Go118 => Releases::new(18, Some(19)),
            Format::Go120 => Releases::from(20),
        },
    });
    if table.format() == Format::Go120 {
        structure.push(if table.header_text_start() == 0 {
            Clue {
                what: "pclntab textStart 0".into(),
                releases: Releases::from(26),
            }
        } else {
            Clue {
                what: "pclntab textStart set".into(),
                releases: Releases::until(25),
            }
        });
    }
    if let Some(md) = moduledata {
        let (first, last) = md.layout.minors();
        let what = match md.layout {
            Layout::Go118 | Layout::Go120 => format!(
                "moduledata gofunc at +{} without epclntab",
                md.layout.gofunc_offset()
            ),
            Layout::Go126 | Layout::Go127 => format!(
                "moduledata gofunc at +{} then epclntab",
                md.layout.gofunc_offset()
            ),
        };
        structure.push(Clue {
            what,
            releases: Releases::new(first, last),
        });
    }

    // The markers present, by name (sorted, so the evidence reads the same every time).
    let wanted: BTreeMap<&str, Marker> = MARKERS.iter().copied().collect();
    let mut present: BTreeMap<&str, Marker> = BTreeMap::new();
    for name in names {
        if let Some((&n, &m)) = wanted.get_key_value(name) {
            present.insert(n, m);
        }
    }
    let markers: Vec<Clue> = present
        .into_iter()
        .map(|(name, m)| Clue {
            what: format!("{name} present"),
            releases: match m {
                Marker::Since(v) => Releases::from(v),
                Marker::Until(v) => Releases::until(v),
            },
        })
        .collect();

    let mut conflicts = Vec::new();
    let mut releases = Releases::ALL;
    let mut kept = Vec::new();
    // Structure first: it does not depend on what the linker kept. A clue that contradicts
    // what is already established is set aside and reported, never allowed to empty the
    // range.
    for clue in structure.into_iter().chain(markers) {
        match releases.intersect(clue.releases) {
            Some(r) => {
                releases = r;
                kept.push(clue);
            }
            None => conflicts.push(clue),
        }
    }
    // Keep the evidence short: the structural clues, and for each bound the first marker
    // that sets it.
    let mut clues: Vec<Clue> = Vec::new();
    let mut lower = false;
    let mut upper = false;
    for clue in kept {
        let structural = !clue.what.ends_with(" present");
        let sets_lower = clue.releases.first == releases.first && !lower;
        let sets_upper =
            clue.releases.last.is_some() && clue.releases.last == releases.last && !upper;
        if structural || sets_lower || sets_upper {
            if !structural {
                lower |= sets_lower;
                upper |= sets_upper;
            }
            clues.push(clue);
        }
    }
    Inference {
        releases,
        clues,
        conflicts,
    }
}

/// The `runtime.buildVersion` string: through the symbol, else every Go version string
/// that a string header in writable data points at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildVersion {
    /// The string the `runtime.buildVersion` symbol's header points at, as written.
    pub by_symbol: Option<String>,
    /// Whole Go version strings found through string headers in writable data (distinct,
    /// sorted), searched only when there is no symbol.
    pub by_search: Vec<String>,
}

/// Longest Go version string considered (`go1.25.5 X:exp1,exp2,...`).
const MAX_VERSION_LEN: u64 = 128;

/// Reads `runtime.buildVersion`.
pub fn build_version(image: &Image) -> BuildVersion {
    let string_at = |header: u64| -> Option<String> {
        let b = image.read(header, 16)?;
        let ptr = u64::from_le_bytes(b[..8].try_into().ok()?);
        let len = u64::from_le_bytes(b[8..].try_into().ok()?);
        if !(5..=MAX_VERSION_LEN).contains(&len) {
            return None;
        }
        let text = image.read(ptr, len as usize)?;
        std::str::from_utf8(text).ok().map(str::to_string)
    };
    let by_symbol = image.symbol("runtime.buildVersion").and_then(string_at);
    let mut found = BTreeSet::new();
    if by_symbol.is_none() {
        for seg in image.segments().iter().filter(|s| s.perms.write) {
            let data = image.segment_bytes(seg);
            let mut i = 0usize;
            while i + 16 <= data.len() {
                let len = u64::from_le_bytes(data[i + 8..i + 16].try_into().unwrap_or([0; 8]));
                if (5..=MAX_VERSION_LEN).contains(&len) {
                    let ptr = u64::from_le_bytes(data[i..i + 8].try_into().unwrap_or([0; 8]));
                    // String literals are read-only; a header pointing into writable data
                    // is some other variable's.
                    let read_only = image.segment_at(ptr).is_some_and(|s| !s.perms.write);
                    let looks = image
                        .read(ptr, 4)
                        .is_some_and(|b| b == b"go1." || b == b"deve");
                    // Only a whole version string counts here: a program's own text that
                    // starts with "go1." is not one.
                    if read_only
                        && looks
                        && let Some(s) = string_at(seg.vaddr + i as u64)
                        && version_string(&s).is_some()
                    {
                        found.insert(s);
                    }
                }
                i += 8;
            }
        }
    }
    BuildVersion {
        by_symbol,
        by_search: found.into_iter().collect(),
    }
}

/// Whether `text` is a whole Go version string as the linker writes it into
/// `runtime.buildVersion` (`go1.25.5`, `go1.25rc2`, `go1.25.5 X:nosynctest`,
/// `devel go1.27-abcdef Tue ...`): the version as shown (experiments cut off) and parsed.
pub fn version_string(text: &str) -> Option<(String, GoVersion)> {
    if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return None;
    }
    if let Some(rest) = text.strip_prefix("devel ") {
        // `devel go1.27-<hash> <date>`: the token up to the first space.
        let token = rest.split(' ').next()?;
        let after = token.strip_prefix("go1.")?;
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !after[digits..].starts_with('-') {
            return None;
        }
        return Some((format!("devel {token}"), GoVersion::parse(token)?));
    }
    let (token, experiments) = match text.split_once(' ') {
        Some((t, x)) => (t, Some(x)),
        None => (text, None),
    };
    if let Some(x) = experiments {
        let list = x.strip_prefix("X:")?;
        if list.is_empty()
            || !list
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b'_' || b == b'-')
        {
            return None;
        }
    }
    if !is_release_token(token) {
        return None;
    }
    Some((token.to_string(), GoVersion::parse(token)?))
}

/// The version in a string the toolchain recorded (build info, or `runtime.buildVersion`
/// through its symbol), read leniently: the first token must be a Go version
/// (`go1.21.13 (Red Hat 1.21.13-4.el9_4)` is go1.21.13; `devel go1.27-abc ...` is go1.27).
pub fn recorded_version(text: &str) -> Option<(String, GoVersion)> {
    if let Some(rest) = text.strip_prefix("devel ") {
        let token = rest.split(' ').next()?;
        return Some((format!("devel {token}"), GoVersion::parse(token)?));
    }
    let token = text.split(' ').next()?;
    Some((token.to_string(), GoVersion::parse(token)?))
}

/// `go1.N`, `go1.N.P`, optionally followed by `rcK` or `betaK` (after N).
fn is_release_token(token: &str) -> bool {
    let Some(rest) = token.strip_prefix("go1.") else {
        return false;
    };
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(rest);
    if n == 0 {
        return false;
    }
    let rest = &rest[n..];
    if rest.is_empty() {
        return true;
    }
    if let Some(p) = rest.strip_prefix('.') {
        let m = digits(p);
        return m > 0 && m == p.len();
    }
    for pre in ["rc", "beta"] {
        if let Some(k) = rest.strip_prefix(pre) {
            let m = digits(k);
            return m > 0 && m == k.len();
        }
    }
    false
}

/// Parses a `--go-version` value: `go1.23.4`, `1.23.4`, `go1.23` (patch 0).
pub fn parse_override(text: &str) -> Result<GoVersion, String> {
    let with_go = if text.starts_with("go") {
        text.to_string()
    } else {
        format!("go{text}")
    };
    if !is_release_token(&with_go) || with_go.contains("rc") || with_go.contains("beta") {
        return Err(format!(
            "{text:?} is not a Go release like go1.23.4 or go1.23"
        ));
    }
    GoVersion::parse(&with_go)
        .ok_or_else(|| format!("{text:?} is not a Go release like go1.23.4 or go1.23"))
}

/// How the version in a report was determined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--go-version`.
    Override,
    /// The `.go.buildinfo` section.
    BuildInfo,
    /// The `runtime.buildVersion` string.
    BuildVersion,
    /// Inferred from the binary's structure (a range of releases).
    Inferred,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Override => "--go-version",
            Source::BuildInfo => "buildinfo",
            Source::BuildVersion => "runtime.buildVersion",
            Source::Inferred => "inferred",
        })
    }
}

/// The Go version of a binary: what is known, how, and whose preemption rules apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// The exact version string (`go1.23.4`), when known.
    pub exact: Option<String>,
    /// How it was determined.
    pub source: Source,
    /// What the binary's structure says (always computed, to cross-check the others).
    pub inferred: Inference,
    /// The release whose preemption rules apply: the exact version, or for a range the
    /// earliest release in it. Within one minor release that choice never under-rates a
    /// window: the earliest patch releases let the runtime preempt in the most places
    /// (go1.23.0 to go1.23.8 preempt in `internal/runtime/` functions, go1.23.9 and later
    /// do not).
    pub rules: GoVersion,
}

impl VersionInfo {
    /// The version for reports: `go1.23.4`, or the inferred range (`go1.24.x`).
    pub fn shown(&self) -> String {
        match &self.exact {
            Some(v) => v.clone(),
            None => self.inferred.releases.to_string(),
        }
    }

    /// The release whose rules apply when only a range is known (`None` when the version
    /// is exact).
    pub fn rules_for_range(&self) -> Option<GoVersion> {
        self.exact.is_none().then_some(self.rules)
    }

    /// The version for a one-line header: `go1.23.4` when the binary records it,
    /// `go1.23.9 from --go-version`, `go1.24.x inferred, rules of go1.24.0`.
    pub fn label(&self) -> String {
        match self.source {
            Source::BuildInfo | Source::BuildVersion => self.shown(),
            Source::Override => format!("{} from --go-version", self.shown()),
            Source::Inferred => format!("{} inferred, rules of {}", self.shown(), self.rules),
        }
    }

    /// `go_version_source` in reports: `buildinfo`, `runtime.buildVersion`, `--go-version`,
    /// or `inferred: <clues>; preemption rules of <release> (<why>)`.
    pub fn source_text(&self) -> String {
        match self.source {
            Source::Inferred => format!(
                "inferred: {}; preemption rules of {} ({})",
                self.inferred,
                self.rules,
                if self.inferred.releases.is_one_minor() {
                    "the earliest patch release preempts in the most places"
                } else {
                    "the earliest release in the range"
                }
            ),
            other => other.to_string(),
        }
    }
}

/// Decides the version of `image`: `--go-version` when given, else build info, else the
/// `runtime.buildVersion` string, else the inferred range.
pub fn determine<'n>(
    image: &Image,
    table: &Pclntab<'_>,
    moduledata: Option<&Moduledata>,
    names: impl IntoIterator<Item = &'n str>,
    forced: Option<GoVersion>,
) -> VersionInfo {
    let inferred = infer(table, moduledata, names);
    let releases = inferred.releases;
    tracing::debug!(binary = %image.path(), "structure says {releases}: {inferred}");
    let exact = |text: String, source: Source, rules: GoVersion| VersionInfo {
        exact: Some(text),
        source,
        inferred: inferred.clone(),
        rules,
    };
    let disagree = |what: &str, text: &str| {
        tracing::warn!(
            binary = %image.path(),
            "{what} says {text} but the binary's structure says {releases} ({})",
            inferred
        );
    };
    if let Some(v) = forced {
        if !releases.contains(v) {
            disagree("--go-version", &v.to_string());
        }
        return exact(v.to_string(), Source::Override, v);
    }
    if let Some(text) = image.go_version()
        && let Some((shown, v)) = recorded_version(text)
    {
        if !releases.contains(v) {
            disagree(".go.buildinfo", text);
        }
        return exact(shown, Source::BuildInfo, v);
    }
    let bv = build_version(image);
    if let Some(text) = &bv.by_symbol
        && let Some((shown, v)) = recorded_version(text)
    {
        if !releases.contains(v) {
            disagree("runtime.buildVersion", text);
        }
        return exact(shown, Source::BuildVersion, v);
    }
    // Without the symbol, a candidate must agree with the structure, and only one distinct
    // version may remain.
    let fitting: Vec<(String, GoVersion)> = bv
        .by_search
        .iter()
        .filter_map(|t| version_string(t))
        .filter(|(_, v)| releases.contains(*v))
        .collect();
    if let [(shown, v)] = fitting.as_slice() {
        return exact(shown.clone(), Source::BuildVersion, *v);
    }
    if !bv.by_search.is_empty() {
        tracing::info!(
            binary = %image.path(),
            candidates = ?bv.by_search,
            "no single Go version string in data fits the inferred range {releases}"
        );
    }
    VersionInfo {
        exact: None,
        source: Source::Inferred,
        rules: releases.earliest(),
        inferred,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_are_whole_versions_only() {
        let v = |t| version_string(t).map(|(s, v)| (s, v.minor, v.patch));
        assert_eq!(v("go1.23.4"), Some(("go1.23.4".into(), 23, 4)));
        assert_eq!(v("go1.25rc2"), Some(("go1.25rc2".into(), 25, 0)));
        assert_eq!(
            v("go1.25.5 X:nocoverageredesign,nosynctest"),
            Some(("go1.25.5".into(), 25, 5))
        );
        assert_eq!(
            v("devel go1.27-1a2b3c Tue Jan 1 00:00:00 2030 +0000"),
            Some(("devel go1.27-1a2b3c".into(), 27, 0))
        );
        for bad in [
            "go1.",
            "go1.x",
            "go1.23.",
            "go1.23.4.5",
            "go1.23.4 extra",
            "go1.23.4\n",
            "go2.0",
            "devel go1.x",
            "go1.23.4 X:",
            "go1.23beta",
        ] {
            assert_eq!(version_string(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recorded_versions_are_read_leniently() {
        let v = |t| recorded_version(t).map(|(s, v)| (s, v.minor, v.patch));
        assert_eq!(
            v("go1.21.13 (Red Hat 1.21.13-4.el9_4)"),
            Some(("go1.21.13".into(), 21, 13))
        );
        assert_eq!(v("go1.25.5 X:nosynctest"), Some(("go1.25.5".into(), 25, 5)));
        assert_eq!(
            v("devel go1.27-1a2b3c Tue"),
            Some(("devel go1.27-1a2b3c".into(), 27, 0))
        );
        assert_eq!(v("unknown"), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn overrides_are_releases() {
        assert_eq!(
            parse_override("go1.23.9"),
            Ok(GoVersion {
                minor: 23,
                patch: 9
            })
        );
        assert_eq!(
            parse_override("1.24"),
            Ok(GoVersion {
                minor: 24,
                patch: 0
            })
        );
        assert!(parse_override("go1.24.x").is_err());
        assert!(parse_override("latest").is_err());
        assert!(parse_override("go1.25rc1").is_err());
    }

    #[test]
    fn ranges_intersect_and_print() {
        let r = Releases::from(20)
            .intersect(Releases::until(25))
            .and_then(|r| r.intersect(Releases::from(23)))
            .unwrap();
        assert_eq!(r, Releases::new(23, Some(25)));
        assert_eq!(r.to_string(), "go1.23.0 to go1.25.x");
        assert_eq!(Releases::new(24, Some(24)).to_string(), "go1.24.x");
        assert_eq!(Releases::from(27).to_string(), "go1.27.0 or later");
        assert_eq!(Releases::until(22).intersect(Releases::from(23)), None);
        assert!(Releases::new(23, Some(23)).contains(GoVersion {
            minor: 23,
            patch: 9
        }));
    }
}
