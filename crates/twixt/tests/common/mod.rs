//! Shared helpers for the corpus tests: where the corpus is, what its manifest says, a
//! cached scan per binary, and golden-file comparison with a unified diff.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use twixt_check::{GoProgram, ScanOptions, ScanReport};
use twixt_image::Image;

/// The repository's `corpus/` folder.
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// One binary from `corpus/manifest.json`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to `corpus/`.
    pub path: String,
    /// `go1.23.4`.
    pub go_version: String,
    /// Program name (`frames`, `hello`).
    pub program: String,
    /// Built with `-ldflags=-s`.
    pub stripped: bool,
    /// `go tool nm` record, relative to `corpus/`.
    pub nm: Option<String>,
    /// `go tool addr2line` record, relative to `corpus/`.
    pub addr2line: Option<String>,
    /// `GOARCH` it was built for (`arm64`, `amd64`).
    pub goarch: String,
}

/// Every arm64 binary in the manifest (everything twixt analyses: the scan, run, explain
/// and the records' cross-checks); panics if the manifest is missing (the corpus is part of
/// the repository, so that is a broken checkout, not a reason to skip).
pub fn manifest() -> Vec<Entry> {
    manifest_all()
        .into_iter()
        .filter(|e| e.goarch == "arm64")
        .collect()
}

/// Every binary in the manifest, of every architecture.
pub fn manifest_all() -> Vec<Entry> {
    let text =
        std::fs::read_to_string(corpus().join("manifest.json")).expect("corpus/manifest.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let list = json["binaries"].as_array().expect("manifest has binaries");
    assert!(!list.is_empty(), "the corpus manifest lists no binaries");
    list.iter()
        .map(|b| Entry {
            path: b["path"].as_str().expect("path").to_string(),
            go_version: b["go_version"].as_str().expect("go_version").to_string(),
            program: b["program"].as_str().expect("program").to_string(),
            stripped: b["stripped"].as_bool().unwrap_or(false),
            nm: b["nm"].as_str().map(str::to_string),
            addr2line: b["addr2line"].as_str().map(str::to_string),
            goarch: b["goarch"].as_str().expect("goarch").to_string(),
        })
        .collect()
}

/// The manifest entry for a path.
pub fn entry(path: &str) -> Entry {
    manifest_all()
        .into_iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{path} is not in corpus/manifest.json"))
}

/// Loads a corpus binary.
pub fn image(path: &str) -> Image {
    Image::open(&corpus().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The full scan report of a corpus binary, computed once per test process.
pub fn scan(path: &str) -> Arc<ScanReport> {
    type Slot = Arc<OnceLock<Arc<ScanReport>>>;
    static CACHE: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let cell = {
        let mut map = CACHE.get_or_init(Default::default).lock().unwrap();
        map.entry(path.to_string()).or_default().clone()
    };
    cell.get_or_init(|| {
        let image = image(path);
        let prog = GoProgram::new(&image).unwrap_or_else(|e| panic!("{path}: {e}"));
        let report = twixt_check::scan(&prog, &ScanOptions::default())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        Arc::new(report)
    })
    .clone()
}

/// Compares `actual` with the golden file; with `TWIXT_BLESS=1` rewrites it instead.
pub fn check_golden(golden: &Path, actual: &str) {
    if std::env::var_os("TWIXT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(golden, actual).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nno golden file yet: run `TWIXT_BLESS=1 cargo test -p twixt --test scan` to create it",
            golden.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .context_radius(3)
            .header("expected (golden)", "actual")
            .to_string();
        let shown: String = diff.lines().take(200).collect::<Vec<_>>().join("\n");
        panic!(
            "{} differs from the scan:\n{shown}\n\nIf the change is intended, re-bless with TWIXT_BLESS=1 cargo test -p twixt --test scan",
            golden.display()
        );
    }
}

/// A corpus binary with the first instructions of `function` replaced by `words`.
pub fn patched(path: &str, function: &str, words: &[u32]) -> Vec<u8> {
    let image = image(path);
    let prog = GoProgram::new(&image).unwrap();
    let f = prog.func_named(function).unwrap();
    let seg = image.segment_at(f.info.entry).unwrap();
    let at = (seg.file_offset + (f.info.entry - seg.vaddr)) as usize;
    assert!(f.code_end - f.info.entry >= 4 * words.len() as u64);
    let mut bytes = image.bytes().to_vec();
    for (i, w) in words.iter().enumerate() {
        bytes[at + 4 * i..at + 4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    bytes
}
