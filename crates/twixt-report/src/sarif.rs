//! SARIF 2.1.0 output, the format code-scanning services (GitHub code scanning and others)
//! ingest: one run per binary, one rule per verdict that occurs, one result per finding.
//!
//! Like every renderer here it is a pure function of the report: rules sorted by verdict
//! name, results in the report's order, no timestamps, no absolute paths (the source
//! files are the `-trimpath` relative names the binary records, placed under the
//! `%SRCROOT%` base).

use std::collections::BTreeSet;

use crate::model::{Finding, ScanReport, Severity, Unwinder};
use serde_json::{Map, Value, json};

use crate::{rel_caller, signed_hex};

/// The JSON schema URI code-scanning services expect in `$schema`.
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// What a verdict means, in plain words: (short description, full description, help).
fn describe(verdict: &str) -> (&'static str, &'static str, &'static str) {
    match verdict {
        "unexpected-return-pc" => (
            "An interrupt here makes Go's unwinder read a return PC that is in no function.",
            "At this instruction boundary the real stack pointer and the frame size the pcsp \
             table records disagree (typically between the two ADDs of a split epilogue), so \
             the runtime's unwinder computes the caller's frame at the wrong address and reads \
             a value that is not a code address as the return PC.",
            "If the runtime asynchronously preempts a goroutine here, the garbage collector's \
             stack scan prints \"runtime: unexpected return pc\" and throws (\"unknown caller \
             pc\", \"traceback did not unwind completely\"); see golang/go#73259. A profiling \
             signal here truncates the sample's stack. The fix is in the code generator: pop \
             the frame with one SP adjustment, or keep pcsp exact at every instruction.",
        ),
        "wrong-return-pc" => (
            "An interrupt here makes Go's unwinder continue from a valid but wrong return PC.",
            "At this instruction boundary the unwinder reads the return PC from the wrong stack \
             slot or register, and the value it finds is a valid PC, but not the caller's: the \
             rest of the walk follows the wrong call chain.",
            "A traceback taken here (profiling sample, crash report, GC stack scan) is silently \
             wrong: frames are skipped or invented and a GC scan may use the wrong stack maps. \
             The frame metadata (pcsp, the saved link register) must describe the real frame \
             at every instruction that can be interrupted.",
        ),
        "wrong-caller-sp" => (
            "An interrupt here makes Go's unwinder compute the wrong caller SP.",
            "At this instruction boundary the return PC the unwinder finds is right, but the \
             caller's stack pointer it computes from pcsp is not the real one, so every frame \
             above is scanned at the wrong address.",
            "A GC stack scan of a goroutine stopped here reads the caller frames' pointer maps \
             against the wrong memory. pcsp must record the real frame size at every \
             instruction that can be interrupted.",
        ),
        "did-not-unwind-completely" => (
            "An interrupt here stops Go's unwinder before the top of the stack.",
            "The walk from this instruction boundary ends early or at the wrong stack pointer \
             instead of reaching the goroutine's top frame.",
            "A GC stack scan of a goroutine stopped here throws \"traceback did not unwind \
             completely\". The frame metadata at this instruction must describe the real \
             frame.",
        ),
        "stuck" => (
            "An interrupt here leaves Go's unwinder stuck.",
            "From this instruction boundary the unwinder computes a frame that does not move up \
             the stack, which the runtime reports as \"traceback stuck\".",
            "A traceback taken here fails (\"traceback stuck\"); in a GC stack scan that is \
             fatal. The frame metadata at this instruction must describe the real frame.",
        ),
        "memory-read-fault" => (
            "An interrupt here makes Go's unwinder read unmapped memory.",
            "From this instruction boundary the unwinder computes a stack slot outside the \
             goroutine's stack and reads it.",
            "A traceback taken here faults inside the runtime. The frame metadata at this \
             instruction must describe the real frame.",
        ),
        "unexpected-spwrite" => (
            "An interrupt here makes a strict walk meet an SPWrite function above the top frame.",
            "The walk from this instruction boundary reaches a function that writes SP \
             arbitrarily (SPWrite) as a caller frame, which a strict unwinder refuses.",
            "A GC stack scan of a goroutine stopped here throws \"traceback: unexpected SPWRITE \
             function\". The frame metadata at this instruction must describe the real frame.",
        ),
        "invalid-spdelta" => (
            "An interrupt here makes Go's unwinder meet a PC without a pcsp entry.",
            "The walk from this instruction boundary reaches a PC for which the pcsp table has \
             no value, so the frame size is unknown.",
            "A traceback taken here throws \"invalid spdelta\". The pcsp table must cover every \
             PC the walk can reach.",
        ),
        "fp-below-sp" => (
            "An interrupt here makes a frame-pointer walk follow a popped frame record.",
            "At this instruction boundary R29 still points at the function's frame record, but \
             SP has already been moved above it: the record lies below SP-8, in stack that an \
             injected call (asynchronous preemption), a signal or a stack move may overwrite.",
            "Go's execution tracer (fpTracebackPCs) and external profilers walk R29 chains; a \
             walk from here reads whatever has overwritten the record and may crash or record \
             garbage (golang/go#63830). Restore R29 before popping the frame.",
        ),
        "fp-wrong-return-pc" => (
            "An interrupt here makes a frame-pointer walk record a wrong caller.",
            "At this instruction boundary R29 does not point at a valid frame record (for \
             example it is half computed by a two-instruction sequence), so `[R29+8]` is not \
             the return PC.",
            "Execution traces and perf profiles taken here show a wrong or garbage caller. \
             Compute R29 in one instruction, or only from a valid value to a valid value.",
        ),
        "fp-broken-chain" => (
            "An interrupt here makes a frame-pointer walk fault or loop.",
            "From this instruction boundary the frame-pointer chain reaches an unreadable, \
             misaligned or non-ascending record before the goroutine's root.",
            "A frame-pointer unwinder stops early or, without checks, crashes. R29 must always \
             hold the caller's R29 or point at this frame's record.",
        ),
        "fp-past-root" => (
            "An interrupt here makes a frame-pointer walk run past the goroutine's root.",
            "From this instruction boundary the frame-pointer chain does not end with a zero \
             R29 at the root frame.",
            "A frame-pointer unwinder records frames that do not exist.",
        ),
        _ => (
            "An interrupt here makes Go's unwinder go wrong.",
            "At this instruction boundary the model of the runtime's unwinder disagrees with \
             the real call chain.",
            "A traceback taken here is wrong. The frame metadata at this instruction must \
             describe the real frame.",
        ),
    }
}

/// `unexpected-return-pc` → `UnexpectedReturnPc`.
fn pascal_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The SARIF level of a finding's severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Preemptible => "error",
        Severity::SignalOnly => "warning",
    }
}

/// The result message: where, what the SP is against pcsp, what the unwinder reads against
/// the truth, what the runtime then does, and who can interrupt there.
fn message(f: &Finding) -> String {
    let mut parts = vec![format!(
        "{}+{:#x} ({:#x}): interrupted before `{}`, SP is {} but pcsp says the frame is {:#x} bytes",
        f.function,
        f.offset,
        f.pc,
        f.instruction,
        rel_caller(f.sp_below_caller),
        f.pcsp
    )];
    if let Some(resume) = f.resume_pc {
        parts.push(format!(
            "a preemption here resumes at {resume:#x} (restartable sequence)"
        ));
    }
    if let Some(err) = f.computed_caller_sp_error
        && err != 0
    {
        parts.push(format!(
            "the {} unwinder computes the caller's SP {:#x} bytes {} the true one",
            f.unwinder,
            err.unsigned_abs(),
            if err < 0 { "above" } else { "below" }
        ));
    }
    if let (Some(off), Some(value), Some(sym)) = (f.slot_sp_offset, f.read_value, &f.read_symbol) {
        let truth = match f.expected_slot_sp_offset {
            Some(e) => format!(
                "the saved LR {:#x} is at [sp{}]",
                f.expected_return_pc,
                signed_hex(e)
            ),
            None => format!("the true return PC is {:#x}", f.expected_return_pc),
        };
        parts.push(format!(
            "the {} unwinder reads the return PC at [sp{}] = {value:#x} ({sym}), but {truth}",
            f.unwinder,
            signed_hex(off)
        ));
    } else {
        parts.push(format!("the true return PC is {:#x}", f.expected_return_pc));
    }
    let who = if f.unwinder == Unwinder::Fp {
        "walk"
    } else {
        "runtime"
    };
    parts.push(format!("{who}: {}", f.outcome));
    let who = match f.severity {
        Severity::Preemptible => {
            "The runtime's asynchronous preemption can land here, so a GC stack scan breaks."
        }
        Severity::SignalOnly => {
            "Only a profiling signal, a crash handler or another asynchronous observer can land \
             here, not the runtime's preemption."
        }
    };
    format!("{}. {who}", parts.join("; "))
}

/// One SARIF location: the source line when the binary records it, and the function.
fn location(f: &Finding) -> Value {
    let mut loc = Map::new();
    if let Some(file) = &f.file {
        let mut physical = Map::new();
        physical.insert(
            "artifactLocation".into(),
            json!({ "uri": file, "uriBaseId": "%SRCROOT%" }),
        );
        if let Some(line) = f.line.filter(|&l| l >= 1) {
            physical.insert("region".into(), json!({ "startLine": line }));
        }
        loc.insert("physicalLocation".into(), Value::Object(physical));
    }
    loc.insert(
        "logicalLocations".into(),
        json!([{ "fullyQualifiedName": f.function, "kind": "function" }]),
    );
    Value::Object(loc)
}

/// Renders the report as a SARIF 2.1.0 log (pretty-printed, with a trailing newline).
pub fn sarif(report: &ScanReport) -> String {
    log(vec![run(report)])
}

/// Renders several binaries' reports as one SARIF 2.1.0 log: one run per binary, in the
/// given order, then one run per binary that could not be scanned (no results, and an
/// invocation that says why).
pub fn sarif_multi(multi: &crate::MultiReport) -> String {
    let mut runs: Vec<Value> = multi.reports.iter().map(run).collect();
    for failure in &multi.failed {
        runs.push(json!({
            "tool": { "driver": driver(Vec::new()) },
            "invocations": [{
                "executionSuccessful": false,
                "toolExecutionNotifications": [{
                    "level": "error",
                    "message": { "text": failure.error }
                }]
            }],
            "results": [],
            "properties": { "binary": failure.binary }
        }));
    }
    log(runs)
}

/// The tool description of every run.
fn driver(rules: Vec<Value>) -> Value {
    let mut driver = json!({
        "name": "twixt",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "rules": rules
    });
    // The project's home page (the workspace `repository`), when the package has one.
    let home = env!("CARGO_PKG_REPOSITORY");
    if !home.is_empty()
        && let Some(d) = driver.as_object_mut()
    {
        d.insert("informationUri".into(), Value::from(home));
    }
    driver
}

/// A SARIF log around `runs`, pretty-printed with a trailing newline.
fn log(runs: Vec<Value>) -> String {
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": runs
    });
    let mut s =
        serde_json::to_string_pretty(&log).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// One binary's run: a rule per verdict that occurs, a result per finding.
fn run(report: &ScanReport) -> Value {
    let verdicts: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.verdict.name())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rules: Vec<Value> = verdicts
        .iter()
        .map(|&v| {
            let (short, full, help) = describe(v);
            json!({
                "id": v,
                "name": pascal_case(v),
                "shortDescription": { "text": short },
                "fullDescription": { "text": full },
                "help": { "text": help },
                "defaultConfiguration": { "level": "error" },
                "properties": {
                    "tags": ["correctness", "go-runtime", "arm64"],
                    "precision": "very-high"
                }
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let rule_index = verdicts
                .iter()
                .position(|&v| v == f.verdict.name())
                .unwrap_or(0);
            json!({
                "ruleId": f.verdict,
                "ruleIndex": rule_index,
                "level": level(f.severity),
                "message": { "text": message(f) },
                "locations": [location(f)],
                "partialFingerprints": {
                    "twixtWindow/v1": format!(
                        "{}+{:#x}:{}:{}",
                        f.function, f.offset, f.verdict, f.unwinder
                    )
                },
                "properties": {
                    "pc": format!("{:#x}", f.pc),
                    "offset": f.offset,
                    "severity": f.severity.name(),
                    "preemptible": f.preemptible,
                    "unwinder": f.unwinder,
                    "go_version": report.go_version,
                    "binary": report.binary
                }
            })
        })
        .collect();
    json!({
        "tool": { "driver": driver(rules) },
        "results": results,
        "properties": {
            "binary": report.binary,
            "go_version": report.go_version,
            "functions": report.summary.functions,
            "boundaries": report.summary.boundaries,
            "unanalysed": report.summary.unanalysed
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_of_verdicts() {
        assert_eq!(pascal_case("unexpected-return-pc"), "UnexpectedReturnPc");
        assert_eq!(pascal_case("stuck"), "Stuck");
        assert_eq!(pascal_case("invalid-spdelta"), "InvalidSpdelta");
    }
}
