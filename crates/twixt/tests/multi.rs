//! `twixt scan BIN... DIR...`: the corpus directory scanned in one command (every binary
//! found, everything else skipped and counted, each report the single-binary one but for
//! its name), the JSON, JSONL and SARIF shapes, a damaged binary that costs only itself
//! (exit 2 at the end), and baselines and diffs matched per binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{corpus, manifest};

fn twixt_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twixt"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run twixt")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// The repository root: `corpus` is named relative to it, as a user would type it.
fn root() -> PathBuf {
    corpus().join("..")
}

const FILTER: &str = "^main\\.nonleaf70000$";

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_corpus_directory_scans_as_one_report_per_binary() {
    let out = twixt_in(
        &root(),
        &["scan", "corpus", "--filter", FILTER, "--format", "json"],
    );
    let report = json(&out);
    let mut expected: Vec<String> = manifest()
        .into_iter()
        .map(|e| format!("corpus/{}", e.path))
        .collect();
    expected.sort();
    let names: Vec<&str> = report["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["binary"].as_str().unwrap())
        .collect();
    assert_eq!(names, expected, "binaries found, in path order");
    // Everything else in the corpus (records, sources, scripts) is skipped and counted.
    let others = files(&corpus()).len() - expected.len();
    assert_eq!(report["summary"]["skipped"], others);
    assert_eq!(report["summary"]["binaries"], expected.len());
    assert_eq!(report["summary"]["failed"], 0);
    assert_eq!(report["failed"], serde_json::json!([]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "skipped {others} files that are not arm64 Go ELF binaries"
        )),
        "{stderr}"
    );
    // The summary is the sum of the reports'; the pre-fix toolchains' window is there.
    let reports = report["reports"].as_array().unwrap();
    for key in [
        "functions",
        "boundaries",
        "windows",
        "preemptible",
        "unanalysed",
    ] {
        let sum: u64 = reports
            .iter()
            .map(|r| r["summary"][key].as_u64().unwrap())
            .sum();
        assert_eq!(report["summary"][key], sum, "{key}");
    }
    assert_eq!(out.status.code(), Some(1), "windows found");
    // Each report is the single-binary report but for its name.
    for path in ["go1.23.4/frames", "go1.26.6/frames-stripped"] {
        let single = twixt_in(
            &root(),
            &[
                "scan",
                &format!("corpus/{path}"),
                "--filter",
                FILTER,
                "--format",
                "json",
            ],
        );
        let mut single = json(&single);
        single["binary"] = format!("corpus/{path}").into();
        let found = reports
            .iter()
            .find(|r| r["binary"] == single["binary"])
            .unwrap();
        assert_eq!(found, &single, "{path}");
    }
}

#[test]
fn a_single_binary_keeps_its_exact_json_report() {
    let path = corpus().join("go1.23.4/frames");
    let out = twixt_in(
        &root(),
        &["scan", path.to_str().unwrap(), "--format", "json"],
    );
    let golden = std::fs::read_to_string(corpus().join("go1.23.4/frames.scan.json")).unwrap();
    assert!(
        stdout(&out) == golden,
        "the CLI's JSON differs from the golden"
    );
}

/// A scratch directory of copies: `a/frames` (go1.23.4), `b/frames` (go1.25.5), a damaged
/// arm64 ELF and a text file.
fn scratch(name: &str, first: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twixt-multi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(corpus().join(first), dir.join("a/frames")).unwrap();
    std::fs::copy(corpus().join("go1.25.5/frames"), dir.join("b/frames")).unwrap();
    dir
}

#[test]
fn a_damaged_binary_costs_only_itself() {
    let dir = scratch("damaged", "go1.23.4/frames");
    let bytes = std::fs::read(corpus().join("go1.23.4/frames")).unwrap();
    std::fs::write(dir.join("a/cut"), &bytes[..200]).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a binary\n").unwrap();

    let out = twixt_in(&dir, &["scan", ".", "--filter", FILTER]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("twixt scan a/cut: error: a/cut: damaged ELF"),
        "{text}"
    );
    assert!(
        text.contains("twixt scan a/frames (go1.23.4 from buildinfo)"),
        "{text}"
    );
    assert!(
        text.contains("twixt scan b/frames (go1.25.5 from buildinfo)"),
        "{text}"
    );
    assert!(
        text.contains("== 2 binaries scanned, 1 failed, 1 other files skipped"),
        "{text}"
    );

    let lines: Vec<serde_json::Value> = stdout(&twixt_in(
        &dir,
        &["scan", ".", "--filter", FILTER, "--format", "jsonl"],
    ))
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert!(lines.iter().all(|l| l["binary"].is_string()), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["binary"] == "a/cut" && l["error"].is_string())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["binary"] == "b/frames" && l["function"].is_object())
    );

    let sarif = json(&twixt_in(
        &dir,
        &["scan", ".", "--filter", FILTER, "--format", "sarif"],
    ));
    let runs = sarif["runs"].as_array().unwrap();
    let binaries: Vec<&str> = runs
        .iter()
        .map(|r| r["properties"]["binary"].as_str().unwrap())
        .collect();
    assert_eq!(binaries, ["a/frames", "b/frames", "a/cut"]);
    assert_eq!(runs[2]["invocations"][0]["executionSuccessful"], false);
    assert_eq!(runs[0]["results"].as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn baselines_and_diffs_match_reports_by_binary() {
    // Old: a/frames is go1.23.4 (the #73259 window); new: a/frames is go1.25.5 (fixed).
    let old = scratch("old", "go1.23.4/frames");
    let new = scratch("new", "go1.25.5/frames");
    let saved = old.join("baseline.json");
    let out = twixt_in(
        &old,
        &["scan", "a", "b", "--filter", FILTER, "--format", "json"],
    );
    std::fs::write(&saved, &out.stdout).unwrap();
    let saved = saved.to_str().unwrap();

    let out = twixt_in(
        &new,
        &["scan", "a", "b", "--filter", FILTER, "--baseline", saved],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let a = text.split("== a/frames").nth(1).unwrap();
    assert!(
        a.contains("fixed windows (1):") && a.contains("main.nonleaf70000+0xe8"),
        "{text}"
    );
    assert!(
        text.contains("total: 0 new, 1 fixed, 0 unchanged"),
        "{text}"
    );

    // The other way round the window is new (exit 1), in a/frames only.
    let newer = new.join("new.json");
    std::fs::write(
        &newer,
        twixt_in(
            &new,
            &["scan", "a", "b", "--filter", FILTER, "--format", "json"],
        )
        .stdout,
    )
    .unwrap();
    let out = twixt_in(&old, &["diff", newer.to_str().unwrap(), saved]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("== a/frames\n\nnew windows (1):"), "{text}");
    assert!(
        text.contains("== b/frames\n\n0 new, 0 fixed, 0 unchanged"),
        "{text}"
    );

    // A single-binary baseline matches the binary of the same file name.
    let single = corpus().join("go1.23.4/frames.scan.json");
    let out = twixt_in(
        &new,
        &[
            "scan",
            "a",
            "--baseline",
            single.to_str().unwrap(),
            "--filter",
            FILTER,
        ],
    );
    let text = stdout(&out);
    assert!(text.contains("== a/frames (baseline: frames)"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let _ = std::fs::remove_dir_all(&old);
    let _ = std::fs::remove_dir_all(&new);
}

#[test]
fn shards_of_several_binaries_concatenate_into_the_whole() {
    let dir = scratch("shards", "go1.23.4/frames");
    let lines = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "scan", "a", "b", "--filter", "^main\\.", "--format", "jsonl",
        ];
        args.extend_from_slice(extra);
        let out = twixt_in(&dir, &args);
        stdout(&out).lines().map(str::to_string).collect()
    };
    let mut whole = lines(&["--jobs", "2"]);
    let mut shards = lines(&["--shard", "1/2", "--jobs", "1"]);
    shards.extend(lines(&["--shard", "2/2", "--jobs", "1"]));
    assert!(whole.len() > 50, "{} lines", whole.len());
    whole.sort();
    shards.sort();
    assert_eq!(shards, whole);
    let _ = std::fs::remove_dir_all(&dir);
}
