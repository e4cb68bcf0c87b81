//! SARIF output against the official SARIF 2.1.0 JSON schema (vendored in `tests/data`,
//! never fetched): the corpus reports render to logs the schema accepts, with one rule per
//! verdict, levels from the severity, and source locations code-scanning UIs can show.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use twixt_report::model::ScanReport;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn report(path: &str) -> ScanReport {
    let path = repo().join("corpus").join(path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read golden {}: {e}", path.display()));
    twixt_report::read_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The vendored schema's recorded SHA-256 (see tests/data/README.md).
const SCHEMA_SHA256: &str = "af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea";

/// The one pattern of the official schema (for `run.language`, `artifact.sourceLanguage`,
/// ...) that strict regex engines refuse: the `]` before `?$` is a literal only in
/// ECMA-262's legacy (Annex B) syntax.
const LANGUAGE_PATTERN: &str = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
/// The same pattern with that `]` escaped: identical meaning, accepted by every engine.
const LANGUAGE_PATTERN_ESCAPED: &str = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#;

/// The vendored schema; a missing or altered file fails the test (it is part of the
/// repository and never fetched).
fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the vendored SARIF schema {} is missing ({e}); see tests/data/README.md",
            path.display()
        )
    });
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        SCHEMA_SHA256,
        "{} is not the recorded schema (tests/data/README.md)",
        path.display()
    );
    // The schema compiler checks every `pattern` against the draft-07 meta-schema's "regex"
    // format, so the legacy-syntax pattern is escaped in memory (the file stays as shipped).
    assert!(
        text.contains(LANGUAGE_PATTERN),
        "the schema changed: revisit the fix-up"
    );
    let text = text.replace(LANGUAGE_PATTERN, LANGUAGE_PATTERN_ESCAPED);
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles without fetching anything")
}

fn errors(validator: &jsonschema::Validator, log: &Value) -> Vec<String> {
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn render(report: &ScanReport) -> Value {
    let text = twixt_report::sarif(report);
    assert!(text.ends_with("}\n"), "pretty JSON with a trailing newline");
    assert_eq!(text, twixt_report::sarif(report), "deterministic");
    serde_json::from_str(&text).expect("SARIF is JSON")
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().expect("results")
}

#[test]
fn corpus_reports_are_valid_sarif() {
    let validator = validator();
    for path in ["go1.23.4/frames.scan.json", "go1.25.5/hello.scan.json"] {
        let report = report(path);
        let log = render(&report);
        let errs = errors(&validator, &log);
        assert!(
            errs.is_empty(),
            "{path}: schema errors:\n{}",
            errs.join("\n")
        );

        assert_eq!(log["version"], "2.1.0");
        assert_eq!(
            log["$schema"],
            "https://json.schemastore.org/sarif-2.1.0.json"
        );
        assert_eq!(log["runs"].as_array().map(Vec::len), Some(1));
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "twixt");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));

        // One rule per verdict that occurs, sorted, named in PascalCase.
        let verdicts: BTreeSet<&str> = report.findings.iter().map(|f| f.verdict.name()).collect();
        let rules = driver["rules"].as_array().expect("rules");
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, verdicts.iter().copied().collect::<Vec<_>>(), "{path}");
        for rule in rules {
            let name = rule["name"].as_str().unwrap();
            assert!(name.starts_with(|c: char| c.is_ascii_uppercase()), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
            for field in ["shortDescription", "fullDescription", "help"] {
                assert!(
                    !rule[field]["text"].as_str().unwrap_or("").is_empty(),
                    "{path}: rule {name} has no {field}"
                );
            }
        }

        // One result per finding, in the report's order, level from the severity.
        let results = results(&log);
        assert_eq!(results.len(), report.findings.len(), "{path}");
        for (r, f) in results.iter().zip(&report.findings) {
            assert_eq!(r["ruleId"], f.verdict.name());
            assert_eq!(
                rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
                r["ruleId"]
            );
            let level = if f.preemptible { "error" } else { "warning" };
            assert_eq!(r["level"], level, "{path}: {} {}", f.function, f.pc);
            assert_eq!(r["properties"]["pc"], format!("{:#x}", f.pc));
            assert_eq!(r["properties"]["severity"], f.severity.name());
            assert_eq!(r["properties"]["go_version"], report.go_version.as_str());
            let loc = &r["locations"][0];
            assert_eq!(
                loc["logicalLocations"][0]["fullyQualifiedName"],
                f.function.as_str()
            );
            assert_eq!(loc["logicalLocations"][0]["kind"], "function");
            let uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            assert!(!uri.starts_with('/'), "{path}: absolute path {uri}");
            assert_eq!(
                loc["physicalLocation"]["artifactLocation"]["uriBaseId"],
                "%SRCROOT%"
            );
            let msg = r["message"]["text"].as_str().unwrap();
            assert!(
                msg.contains(&f.function) && msg.contains(&f.instruction),
                "{msg}"
            );
        }
    }
}

#[test]
fn the_73259_window_points_at_its_source_line() {
    let report = report("go1.23.4/frames.scan.json");
    let log = render(&report);
    let hits: Vec<&Value> = results(&log)
        .iter()
        .filter(|r| {
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "main.nonleaf70000"
        })
        .collect();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let r = hits[0];
    assert_eq!(r["ruleId"], "unexpected-return-pc");
    assert_eq!(r["level"], "error");
    let physical = &r["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], "frames/main.go");
    assert_eq!(physical["region"]["startLine"], 212);
    assert_eq!(r["properties"]["offset"], 0xe8);
    assert_eq!(r["properties"]["preemptible"], true);
    assert_eq!(r["properties"]["unwinder"], "go");
    assert_eq!(r["properties"]["binary"], "frames");
    let msg = r["message"]["text"].as_str().unwrap();
    for part in [
        "main.nonleaf70000+0xe8",
        "add sp, sp, #0x11, lsl #12",
        "SP is caller-0x11000 but pcsp says the frame is 0x11170 bytes",
        "[sp+0x0] = 0x308000 (in no function)",
        "the saved LR 0x",
        "is at [sp-0x170]",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg:?}");
    }
    let rule = &log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == "unexpected-return-pc")
        .expect("rule")
        .clone();
    assert_eq!(rule["name"], "UnexpectedReturnPc");
}

#[test]
fn findings_without_a_file_get_only_the_logical_location() {
    let mut report = report("go1.23.4/frames.scan.json");
    for f in &mut report.findings {
        f.file = None;
        f.line = None;
    }
    let log = render(&report);
    let errs = errors(&validator(), &log);
    assert!(errs.is_empty(), "schema errors:\n{}", errs.join("\n"));
    for r in results(&log) {
        let loc = r["locations"][0].as_object().unwrap();
        assert!(!loc.contains_key("physicalLocation"), "{loc:?}");
        assert!(loc.contains_key("logicalLocations"));
    }
}

#[test]
fn the_schema_rejects_a_broken_log() {
    // The validation above is not vacuous: an unknown level and a missing version fail.
    let validator = validator();
    let mut log = render(&report("go1.23.4/frames.scan.json"));
    log["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!errors(&validator, &log).is_empty());
    let mut log = render(&report("go1.23.4/frames.scan.json"));
    log.as_object_mut().unwrap().remove("version");
    assert!(!errors(&validator, &log).is_empty());
}

#[test]
fn several_binaries_are_one_run_each_and_valid_sarif() {
    let reports = vec![
        report("go1.23.4/frames.scan.json"),
        report("go1.25.5/hello.scan.json"),
    ];
    let failed = vec![twixt_report::Failure {
        binary: "build/cut".into(),
        error: "build/cut: damaged ELF: ELF header or tables: truncated".into(),
    }];
    let multi = twixt_report::MultiReport::new(reports.clone(), failed, 2);
    let text = twixt_report::sarif_multi(&multi);
    let log: Value = serde_json::from_str(&text).expect("SARIF is JSON");
    let errs = errors(&validator(), &log);
    assert!(errs.is_empty(), "schema errors:\n{}", errs.join("\n"));
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 3);
    // Each binary's run is the run its single-binary log has.
    for (run, report) in runs.iter().zip(&reports) {
        assert_eq!(run, &render(report)["runs"][0]);
    }
    assert_eq!(runs[2]["properties"]["binary"], "build/cut");
    assert_eq!(runs[2]["invocations"][0]["executionSuccessful"], false);
    assert!(runs[2]["results"].as_array().unwrap().is_empty());
}
