//! The per-release tables agree with the DWARF the Go linker wrote into every corpus binary
//! (the compiler's own statement of `runtime.g`'s layout), and a binary without DWARF falls
//! back to the table.

use std::path::{Path, PathBuf};

use twixt_golayout::{from_dwarf, g_layout, table};
use twixt_image::Image;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// Every corpus binary: path, Go version, stripped.
fn binaries() -> Vec<(String, String, bool)> {
    let text = std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
    m["binaries"]
        .as_array()
        .expect("binaries")
        .iter()
        .map(|b| {
            (
                b["path"].as_str().unwrap().to_string(),
                b["go_version"].as_str().unwrap().to_string(),
                b["stripped"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_corpus_binary_agrees_with_its_release_table() {
    let bins = binaries();
    assert!(bins.len() >= 20, "{} binaries in the manifest", bins.len());
    let mut from_dwarf_count = 0;
    for (path, version, stripped) in bins {
        let image = Image::open(&corpus().join(&path)).expect("corpus binary");
        let dwarf = from_dwarf(&image).unwrap_or_else(|e| panic!("{path}: {e}"));
        let table = table(&version).unwrap_or_else(|| panic!("{path}: no table for {version}"));
        match dwarf {
            Some(d) => {
                from_dwarf_count += 1;
                assert_eq!(d.source, "DWARF (runtime.g in .debug_info)");
                let strip = |mut l: twixt_golayout::GLayout| {
                    l.source.clear();
                    l
                };
                assert_eq!(strip(d), strip(table.clone()), "{path} ({version})");
                assert!(!stripped, "{path}: stripped, yet DWARF");
            }
            None => {
                assert!(
                    stripped,
                    "{path}: not stripped, yet no runtime.g in its DWARF"
                );
                let l = g_layout(&image, &version).unwrap();
                assert_eq!(l, table, "{path}");
                assert!(l.source.contains("table"), "{}", l.source);
            }
        }
    }
    assert!(from_dwarf_count >= 20);
}
