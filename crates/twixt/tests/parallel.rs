//! Parallel and sharded scans: the same report whatever the number of workers, and JSONL
//! shards that concatenate into the whole.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::corpus;

fn twixt(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("run twixt");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn two_workers_give_the_golden_report() {
    let bin = corpus().join("go1.23.4/frames");
    let golden = std::fs::read_to_string(corpus().join("go1.23.4/frames.scan.txt")).unwrap();
    assert_eq!(
        twixt(&["scan", bin.to_str().unwrap(), "--jobs", "2"]),
        golden
    );
}

#[test]
fn jsonl_shards_concatenate_into_the_unsharded_jsonl() {
    let bin = corpus().join("go1.23.4/frames");
    let bin = bin.to_str().unwrap();
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let whole = sorted(twixt(&["scan", bin, "--format", "jsonl", "--jobs", "2"]));
    let mut shards = String::new();
    for k in 1..=3 {
        shards.push_str(&twixt(&[
            "scan",
            bin,
            "--format",
            "jsonl",
            "--shard",
            &format!("{k}/3"),
        ]));
    }
    let shards = sorted(shards);
    assert_eq!(shards.len(), whole.len());
    assert!(
        shards == whole,
        "sharded JSONL differs from the unsharded JSONL"
    );

    // And the stream adds up to the golden report.
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(corpus().join("go1.23.4/frames.scan.json")).unwrap(),
    )
    .unwrap();
    let (mut functions, mut boundaries, mut findings) = (0u64, 0u64, BTreeSet::new());
    for line in &whole {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(v["binary"], "frames");
        if let Some(f) = v.get("function") {
            functions += 1;
            boundaries += f["boundaries"].as_u64().unwrap();
        }
        if let Some(f) = v.get("finding") {
            assert!(
                findings.insert((
                    f["pc"].as_str().unwrap().to_string(),
                    f["unwinder"].as_str().unwrap().to_string()
                )),
                "finding twice: {line}"
            );
        }
    }
    let want: BTreeSet<(String, String)> = golden["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["pc"].as_str().unwrap().to_string(),
                f["unwinder"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(findings, want);
    assert_eq!(functions, golden["summary"]["functions"].as_u64().unwrap());
    assert_eq!(
        boundaries,
        golden["summary"]["boundaries"].as_u64().unwrap()
    );
}
