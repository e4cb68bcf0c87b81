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
fn jsonl_shards_concatenate_into_the_whole_report() {
    let bin = corpus().join("go1.23.4/frames");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(corpus().join("go1.23.4/frames.scan.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<String> = golden["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pc"].as_str().unwrap().to_string())
        .collect();
    let mut got = BTreeSet::new();
    let (mut functions, mut boundaries) = (0, 0);
    for k in 0..3 {
        let shard = format!("{k}/3");
        let out = twixt(&[
            "scan",
            bin.to_str().unwrap(),
            "--format",
            "jsonl",
            "--shard",
            &shard,
        ]);
        for line in out.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).expect("one JSON object per line");
            assert_eq!(v["binary"], "frames");
            if let Some(f) = v.get("finding") {
                assert!(
                    got.insert(f["pc"].as_str().unwrap().to_string()),
                    "finding twice: {line}"
                );
            }
            if let Some(s) = v.get("summary") {
                functions += s["functions"].as_u64().unwrap();
                boundaries += s["boundaries"].as_u64().unwrap();
            }
        }
    }
    assert_eq!(got, want);
    assert_eq!(functions, golden["summary"]["functions"].as_u64().unwrap());
    assert_eq!(
        boundaries,
        golden["summary"]["boundaries"].as_u64().unwrap()
    );
}
