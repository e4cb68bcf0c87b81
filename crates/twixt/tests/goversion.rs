//! The Go version without build info: the structural inference names each corpus binary's
//! own minor release; `runtime.buildVersion` gives the exact version with or without
//! symbols; a corpus binary with `.go.buildinfo` removed (by `objcopy`, at test time) scans
//! to the same report as the original apart from `go_version_source`; with neither, the
//! inferred range applies the earliest release's rules; `--go-version` overrides all.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{corpus, image, manifest};
use twixt_check::version::{self, GoVersion, Releases, Source};
use twixt_check::{GoProgram, ScanOptions, ScanReport};
use twixt_image::Image;

fn minor_of(version: &str) -> u32 {
    GoVersion::parse(version)
        .unwrap_or_else(|| panic!("{version}: not a Go version"))
        .minor
}

#[test]
fn the_structure_names_each_corpus_binarys_minor_release() {
    for entry in manifest() {
        let image = image(&entry.path);
        let prog = GoProgram::new(&image).unwrap();
        let inferred = &prog.version_info().inferred;
        let minor = minor_of(&entry.go_version);
        // Exactly the binary's own minor release; the newest has no later release to
        // exclude, so its range is open.
        let expected = if minor >= 27 {
            Releases::from(minor)
        } else {
            Releases::new(minor, Some(minor))
        };
        assert_eq!(
            inferred.releases, expected,
            "{}: inferred {} from {inferred}",
            entry.path, inferred.releases
        );
        assert!(
            inferred.conflicts.is_empty(),
            "{}: contradictory clues: {inferred}",
            entry.path
        );
        // The structural clues are always there; at least one marker too.
        assert!(
            inferred
                .clues
                .iter()
                .any(|c| c.what.starts_with("pclntab magic"))
                && inferred
                    .clues
                    .iter()
                    .any(|c| c.what.starts_with("moduledata"))
                && inferred.clues.iter().any(|c| c.what.ends_with(" present")),
            "{}: {inferred}",
            entry.path
        );
    }
}

#[test]
fn build_version_is_read_with_or_without_symbols() {
    for entry in manifest() {
        let image = image(&entry.path);
        let found = version::build_version(&image);
        if entry.stripped {
            assert_eq!(found.by_symbol, None, "{}", entry.path);
            assert_eq!(
                found.by_search,
                std::slice::from_ref(&entry.go_version),
                "{}",
                entry.path
            );
        } else {
            assert_eq!(
                found.by_symbol.as_deref(),
                Some(entry.go_version.as_str()),
                "{}",
                entry.path
            );
        }
        // With build info present, that is the source.
        let prog = GoProgram::new(&image).unwrap();
        assert_eq!(
            prog.version_info().source,
            Source::BuildInfo,
            "{}",
            entry.path
        );
        assert_eq!(
            prog.version_info().shown(),
            entry.go_version,
            "{}",
            entry.path
        );
    }
}

/// A scratch directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twixt-goversion-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of a corpus binary without `.go.buildinfo`, made by binutils' objcopy.
fn without_buildinfo(path: &str, dir: &Path) -> PathBuf {
    let out = dir.join(path.replace('/', "-"));
    let status = Command::new("aarch64-linux-gnu-objcopy")
        .arg("--remove-section")
        .arg(".go.buildinfo")
        .arg(corpus().join(path))
        .arg(&out)
        .status()
        .expect(
            "aarch64-linux-gnu-objcopy (binutils-aarch64-linux-gnu; scripts/bootstrap installs it)",
        );
    assert!(status.success(), "objcopy failed on {path}");
    out
}

fn scan_image(image: &Image, forced: Option<GoVersion>) -> ScanReport {
    let prog = GoProgram::with_version(image, forced).unwrap();
    twixt_check::scan(&prog, &ScanOptions::default()).unwrap()
}

#[test]
fn without_buildinfo_the_report_is_the_original_but_for_its_source() {
    let dir = scratch("nobuildinfo");
    // Pre- and post-1.26 layouts, and a binary without symbols (found by search).
    for path in [
        "go1.23.4/frames",
        "go1.27.3/frames",
        "go1.26.6/frames-stripped",
    ] {
        let copy = without_buildinfo(path, &dir);
        let image = Image::open(&copy).unwrap();
        assert_eq!(
            image.go_version(),
            None,
            "{path}: objcopy left the build info"
        );
        let mut report = scan_image(&image, None);
        assert_eq!(report.go_version_source, "runtime.buildVersion", "{path}");
        assert_eq!(report.go_version_rules, None, "{path}");
        // The copy has another file name; everything else must be the golden report's.
        report.binary = path.rsplit('/').next().unwrap().to_string();
        report.go_version_source = "buildinfo".into();
        for (kind, rendered) in [
            ("json", twixt_report::json(&report)),
            ("txt", twixt_report::text(&report)),
        ] {
            let golden = corpus().join(format!("{path}.scan.{kind}"));
            let expected = std::fs::read_to_string(&golden).unwrap();
            assert!(
                expected == rendered,
                "{path}: the report without .go.buildinfo differs from {}",
                golden.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_no_version_string_the_inferred_range_applies_its_earliest_rules() {
    let dir = scratch("inferred");
    let path = "go1.23.9/frames";
    let copy = without_buildinfo(path, &dir);
    let mut bytes = std::fs::read(&copy).unwrap();
    // Empty the runtime.buildVersion string header (length 0): no version string remains.
    let original = Image::open(&copy).unwrap();
    let header = original.symbol("runtime.buildVersion").unwrap();
    let seg = original.segment_at(header).unwrap();
    let len_at = (seg.file_offset + (header - seg.vaddr) + 8) as usize;
    bytes[len_at..len_at + 8].copy_from_slice(&0u64.to_le_bytes());
    let image = Image::parse("frames", bytes).unwrap();
    assert_eq!(version::build_version(&image).by_symbol, None);

    let prog = GoProgram::new(&image).unwrap();
    let info = prog.version_info();
    assert_eq!(info.source, Source::Inferred);
    assert_eq!(info.shown(), "go1.23.x");
    assert_eq!(prog.version(), GoVersion::parse("go1.23.0").unwrap());
    let report = scan_image(&image, None);
    assert_eq!(report.go_version, "go1.23.x");
    assert_eq!(report.go_version_rules.as_deref(), Some("go1.23.0"));
    assert!(
        report
            .go_version_source
            .starts_with("inferred: pclntab magic 0xfffffff1 (go1.20+)")
            && report
                .go_version_source
                .ends_with("preemption rules of go1.23.0 (the earliest patch release preempts in the most places)"),
        "{}",
        report.go_version_source
    );
    let text = twixt_report::text(&report);
    assert!(
        text.starts_with(
            "twixt scan frames (go1.23.x inferred; preemption rules of go1.23.0)\n    go version evidence: pclntab magic"
        ),
        "{}",
        text.lines().take(2).collect::<Vec<_>>().join("\n")
    );
    // The same windows as the original scanned under go1.23.0's rules.
    let forced = scan_image(&original, GoVersion::parse("go1.23.0"));
    assert_eq!(report.findings, forced.findings);
    assert_eq!(report.summary, forced.summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn go_version_overrides_and_is_checked() {
    let bin = corpus().join("go1.23.9/frames");
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(["scan", bin.to_str().unwrap(), "--filter", "^main\\.leaf96$"])
        .args(["--format", "json", "--go-version", "go1.23.0"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["go_version"], "go1.23.0");
    assert_eq!(report["go_version_source"], "--go-version");

    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(["scan", bin.to_str().unwrap(), "--go-version", "latest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"latest\" is not a Go release like go1.23.4"),
        "{err}"
    );
}
