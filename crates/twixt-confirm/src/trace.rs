//! Frame-pointer windows through the execution tracer. They do not crash the runtime: its
//! GC and crash tracebacks walk pcsp, not R29. But since go1.21 the execution tracer walks
//! frame pointers (`fpTracebackPCs`) for every stack it records, including the stack of a
//! goroutine that asynchronous preemption stopped: `asyncPreempt`'s frame record holds the
//! interrupted R29, so a half-built or stale R29 there sends the walk into the wrong memory.
//!
//! With `--trace`, the stress driver runs with `runtime/trace` on and no GC loop (the GC
//! would crash a function that also has Go-unwinder windows first; the scheduler's own
//! time-slice preemption still stops the workers every 10 ms), the trace is read back from
//! the work directory, and the toolchain of the same Go version, run on the host, dumps it
//! (`go tool trace -d=1`, or `-d=parsed` from go1.24). Every recorded stack whose innermost Go frame after
//! `runtime.asyncPreempt` is a stressed function must continue with the driver's frames
//! (`main.driveN`, which a walk from a prologue or epilogue legitimately skips: R29 is then
//! still the caller's) and end at the worker goroutine's function (`main.main.funcN`). A
//! stack that ends early (truncated), or holds a frame from elsewhere (foreign) or the same
//! frame twice (repeated), is a wrong stack, and its PC is where the goroutine was stopped.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The trace file's name in the work directory.
pub const FILE: &str = "twixt.trace";

/// One frame of a recorded stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function name.
    pub function: String,
    /// The PC the dump prints (a return address minus 1).
    pub pc: u64,
}

/// The stacks (`Stack=` blocks) of a `go tool trace -d=1` dump (go1.22 and later).
pub fn parse_stacks(dump: &str) -> Vec<Vec<Frame>> {
    let mut stacks = Vec::new();
    let mut current: Option<Vec<Frame>> = None;
    for line in dump.lines() {
        if line == "Stack=" {
            if let Some(s) = current.take() {
                stacks.push(s);
            }
            current = Some(Vec::new());
            continue;
        }
        let Some(stack) = current.as_mut() else {
            continue;
        };
        if let Some(frame) = line.strip_prefix('\t') {
            if frame.starts_with('\t') {
                continue; // file:line
            }
            if let Some((function, pc)) = frame.rsplit_once(" @ 0x")
                && let Ok(pc) = u64::from_str_radix(pc.trim(), 16)
            {
                stack.push(Frame {
                    function: function.to_string(),
                    pc,
                });
                continue;
            }
        }
        if let Some(s) = current.take() {
            stacks.push(s);
        }
    }
    if let Some(s) = current {
        stacks.push(s);
    }
    stacks
}

/// What is wrong with a recorded stack.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wrong {
    /// It ends before the worker's function.
    Truncated,
    /// It holds a frame that is not on the goroutine's stack.
    Foreign,
    /// It holds the same frame twice.
    Repeated,
}

impl Wrong {
    /// The stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Wrong::Truncated => "truncated",
            Wrong::Foreign => "foreign",
            Wrong::Repeated => "repeated",
        }
    }
}

/// A recorded stack at a preemption in a stressed function, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The stressed function.
    pub function: String,
    /// Where the goroutine was stopped (the resume PC).
    pub pc: u64,
    /// `None`: the stack is right (or skips only the driver frame, as a walk from a
    /// prologue or epilogue does).
    pub wrong: Option<Wrong>,
}

fn is_driver(f: &str) -> bool {
    f.strip_prefix("main.drive")
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

fn is_worker(f: &str) -> bool {
    f.starts_with("main.main.func")
}

/// Judges the stacks recorded at an asynchronous preemption of a function `stressed`
/// accepts (see the module documentation); other stacks are left out.
pub fn judge(stacks: &[Vec<Frame>], stressed: &dyn Fn(&str) -> bool) -> Vec<Judged> {
    let mut out = Vec::new();
    for stack in stacks {
        let Some(at) = stack
            .iter()
            .position(|f| f.function == "runtime.asyncPreempt")
        else {
            continue;
        };
        let Some(top) = stack.get(at + 1) else {
            continue;
        };
        if !stressed(&top.function) {
            continue;
        }
        let rest = &stack[at + 2..];
        let mut seen = vec![(&top.function, top.pc)];
        let mut wrong = None;
        for f in rest {
            if seen.contains(&(&f.function, f.pc)) {
                wrong = Some(Wrong::Repeated);
                break;
            }
            seen.push((&f.function, f.pc));
        }
        if wrong.is_none() {
            let ok_chain = match rest.split_last() {
                Some((last, middle)) => {
                    is_worker(&last.function) && middle.iter().all(|f| is_driver(&f.function))
                }
                None => false,
            };
            if !ok_chain {
                let foreign = rest
                    .iter()
                    .any(|f| !is_worker(&f.function) && !is_driver(&f.function));
                wrong = Some(if foreign {
                    Wrong::Foreign
                } else {
                    Wrong::Truncated
                });
            }
        }
        out.push(Judged {
            function: top.function.clone(),
            pc: top.pc + 1,
            wrong,
        });
    }
    out
}

/// Wrong stacks at one PC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrongAt {
    /// The function.
    pub function: String,
    /// The PC the goroutine was stopped at.
    pub pc: u64,
    /// Its offset in the function.
    pub offset: u64,
    /// What was wrong, and how often.
    pub what: BTreeMap<Wrong, usize>,
    /// Whether scan predicts a preemptible frame-pointer window there.
    pub predicted: bool,
}

/// What the tracer showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceReport {
    /// `confirmed (trace)`, `not observed`, `unpredicted wrong stacks`, or `not possible: ...`.
    pub result: String,
    /// Stacks recorded at a preemption in the stressed function(s).
    pub stacks: usize,
    /// Wrong ones, by PC.
    pub wrong: Vec<WrongAt>,
    /// The host tool that dumped the trace.
    pub parser: Option<String>,
}

impl TraceReport {
    /// A report that says why the tracer cannot show anything.
    pub fn impossible(why: String) -> TraceReport {
        TraceReport {
            result: format!("not possible: {why}"),
            stacks: 0,
            wrong: vec![],
            parser: None,
        }
    }
}

/// Why the tracer of `go_version` cannot show a frame-pointer window, if it cannot.
pub fn impossible_for(go_version: &str) -> Option<String> {
    let v: Vec<u32> = go_version
        .trim_start_matches("go")
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    if v.as_slice() < [1, 21].as_slice() {
        return Some(format!(
            "{go_version}'s execution tracer records stacks with the runtime's own unwinder \
             (pcsp), not frame pointers (fpTracebackPCs arrived in go1.21): a frame-pointer \
             window cannot show in its traces (perf, which walks R29, would see it)"
        ));
    }
    if v.as_slice() < [1, 22].as_slice() {
        return Some(format!(
            "{go_version} writes the go1.21 trace format, whose dump twixt does not read"
        ));
    }
    None
}

/// Dumps `trace` with the host toolchain of `go_version` and judges its stacks against the
/// predicted windows; `symbol` gives a PC's function and offset.
pub fn examine(
    trace: &[u8],
    go_version: &str,
    stressed: &dyn Fn(&str) -> bool,
    fp_windows: &[crate::Window],
    offset_of: &dyn Fn(u64) -> Option<u64>,
) -> Result<TraceReport, String> {
    if let Some(why) = impossible_for(go_version) {
        return Ok(TraceReport::impossible(why));
    }
    let cache = twixt_gofuzz::cache_dir()?;
    let toolchain = twixt_gofuzz::resolve(go_version, &cache, true)?;
    let dir = std::env::temp_dir().join(format!(
        "twixt-trace-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(FILE);
    let dump = std::fs::write(&file, trace)
        .map_err(|e| format!("{}: {e}", file.display()))
        .and_then(|()| dump(&toolchain.go, &cache, go_version, &file));
    let _ = std::fs::remove_dir_all(&dir);
    let dump = dump?;
    let stacks = parse_stacks(&dump);
    let judged = judge(&stacks, stressed);
    let mut wrong: BTreeMap<(String, u64), BTreeMap<Wrong, usize>> = BTreeMap::new();
    for j in &judged {
        if let Some(w) = &j.wrong {
            *wrong
                .entry((j.function.clone(), j.pc))
                .or_default()
                .entry(w.clone())
                .or_default() += 1;
        }
    }
    let wrong: Vec<WrongAt> = wrong
        .into_iter()
        .map(|((function, pc), what)| WrongAt {
            predicted: fp_windows
                .iter()
                .any(|w| w.traces_wrong() && (w.pc == pc || w.resume_pc == Some(pc))),
            offset: offset_of(pc).unwrap_or(0),
            function,
            pc,
            what,
        })
        .collect();
    let result = if wrong.iter().any(|w| !w.predicted) {
        "unpredicted wrong stacks"
    } else if wrong.is_empty() {
        "not observed"
    } else {
        "confirmed (trace)"
    };
    Ok(TraceReport {
        result: result.to_string(),
        stacks: judged.len(),
        wrong,
        parser: Some(format!(
            "{} go tool trace {} (host)",
            toolchain.version,
            dump_flag(go_version)
        )),
    })
}

/// The `go tool trace` debug flag that prints parsed events with their stacks: `-d=1` up to
/// go1.23, `-d=parsed` from go1.24 (which rejects `-d=1`: "invalid debug mode 1, want one
/// of: parsed, wire, footprint").
pub fn dump_flag(go_version: &str) -> &'static str {
    let v: Vec<u32> = go_version
        .trim_start_matches("go")
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    if v.as_slice() >= [1, 24].as_slice() {
        "-d=parsed"
    } else {
        "-d=1"
    }
}

/// `go tool trace -d=... FILE`, hermetic: no user settings, no network.
fn dump(go: &Path, cache: &Path, go_version: &str, file: &Path) -> Result<String, String> {
    let flag = dump_flag(go_version);
    let out = Command::new(go)
        .args(["tool", "trace", flag])
        .arg(file)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", cache)
        .env("GOCACHE", cache.join("gocache").join(go_version))
        .env("GOPATH", cache.join("gopath"))
        .env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: cannot run: {e}", go.display()))?;
    if !out.status.success() {
        return Err(format!(
            "go tool trace {flag} ({go_version}) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abridged from a go1.23.4 dump of the corpus stress driver (-func leaf70000).
    const DUMP: &str = "M=3754 P=1 G=6 StateTransition Time=1 Resource=Goroutine(6) Reason=\"preempted\" GoID=6 Running->Runnable\n\
TransitionStack=\n\
\truntime.asyncPreempt @ 0x801db\n\
\t\truntime/preempt_arm64.s:47\n\
\tmain.leaf70000 @ 0xaef8f\n\
\t\tstress/main.go:59\n\
\n\
Stack=\n\
\truntime.asyncPreempt @ 0x801db\n\
\t\truntime/preempt_arm64.s:47\n\
\tmain.leaf70000 @ 0xaef8f\n\
\t\tstress/main.go:59\n\
\n\
M=3754 P=1 G=-1 StateTransition\n\
Stack=\n\
\truntime.asyncPreempt @ 0x801db\n\
\t\truntime/preempt_arm64.s:47\n\
\tmain.leaf70000 @ 0xaeedf\n\
\t\tstress/main.go:47\n\
\tmain.drive1 @ 0xaf18b\n\
\t\tstress/main.go:106\n\
\tmain.main.func2 @ 0xaf9a7\n\
\t\tstress/main.go:174\n\
\n\
Stack=\n\
\truntime.asyncPreempt @ 0x801db\n\
\t\truntime/preempt_arm64.s:47\n\
\tmain.leaf70000 @ 0xaef9b\n\
\t\tstress/main.go:59\n\
\tmain.main.func2 @ 0xaf9a7\n\
\t\tstress/main.go:174\n\
\n\
Stack=\n\
\truntime.asyncPreempt @ 0x801db\n\
\tmain.leaf70000 @ 0xaef77\n\
\tmain.callee @ 0xaed0f\n\
\tmain.main.func2 @ 0xaf9a7\n\
\n\
Stack=\n\
\truntime.gcBgMarkWorker @ 0x2a0f3\n\
\t\truntime/mgc.go:1363\n";

    #[test]
    fn stacks_are_parsed_and_judged() {
        let stacks = parse_stacks(DUMP);
        assert_eq!(stacks.len(), 5, "{stacks:#?}");
        let judged = judge(&stacks, &|f| f == "main.leaf70000");
        let verdicts: Vec<(u64, Option<Wrong>)> =
            judged.iter().map(|j| (j.pc, j.wrong.clone())).collect();
        assert_eq!(
            verdicts,
            vec![
                (0xaef90, Some(Wrong::Truncated)),
                (0xaeee0, None),
                // The driver frame skipped: a walk from an epilogue whose R29 is the caller's.
                (0xaef9c, None),
                (0xaef78, Some(Wrong::Foreign)),
            ]
        );
    }

    #[test]
    fn go119_and_go121_cannot_show_it() {
        assert!(impossible_for("go1.19.8").unwrap().contains("pcsp"));
        assert!(impossible_for("go1.21.13").unwrap().contains("format"));
        assert_eq!(impossible_for("go1.23.4"), None);
        assert_eq!(impossible_for("go1.27.3"), None);
        assert_eq!(dump_flag("go1.23.4"), "-d=1");
        assert_eq!(dump_flag("go1.24.11"), "-d=parsed");
        assert_eq!(dump_flag("go1.27.3"), "-d=parsed");
    }
}
