//! Reading how the real runtime ended: crashed (a `fatal error:`, or a fault inside the
//! runtime's own unwinder during a GC stack scan), survived (no crash in the budget) or
//! failed (anything else), and, for a crash, which goroutine's traceback broke and where
//! that goroutine was stopped.
//!
//! With `GOTRACEBACK=system` a crash prints the throw, then every goroutine with its frames
//! and `pc=` values. When a GC stack scan breaks on a goroutine that asynchronous
//! preemption stopped in a window, the runtime first names that goroutine
//! (`runtime: g21: frame.sp=...` before "traceback did not unwind completely",
//! `runtime: g 21: unexpected return pc for main.leaf70000 called from 0x0` before
//! "unknown caller pc"), and its dump shows `runtime.asyncPreempt()` followed by the
//! interrupted frame: the function, `+0xOFF` and `pc=`, which is the window's PC. Some
//! releases crash again while printing that frame (go1.19.8: "panic during panic"); then
//! only the function named by "unexpected return pc for F" is known.
//!
//! The same window can also kill the runtime without a throw. When the GC scans a
//! goroutine that is parked (`m=nil`) and its return PC is in no function, the
//! unexpected-return-pc path of `runtime.(*unwinder).next` reads `gp.m.incgo` before it
//! prints anything (go1.21 to go1.26; go1.27 checks `gp.m != nil`; go1.19's
//! `gentraceback` has the same read): a nil dereference, `SIGSEGV: segmentation violation`
//! with `addr=0x118`, on the GC worker's g0. The dump then names the unwinder and
//! `runtime.scanstack(0xGP, ...)`, whose first argument is the goroutine being scanned;
//! that goroutine's own dump (`gp=0xGP`, status `(scan)`) shows the window as above.

use serde::Serialize;

use crate::sandbox::{Ended, Ran};

/// The three outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The runtime died walking a stack: a fatal error, or a fault inside its unwinder.
    Crashed,
    /// No crash within the budget (or a clean exit).
    Survived,
    /// Any other end: an exit status or signal without a fatal error, a limit, qemu itself.
    Failed,
}

impl Kind {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Crashed => "crashed",
            Kind::Survived => "survived",
            Kind::Failed => "failed",
        }
    }
}

/// Where the runtime says the crashing goroutine was stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The goroutine whose stack the runtime could not walk.
    pub goroutine: Option<u64>,
    /// The function.
    pub function: String,
    /// Offset from its entry, when printed.
    pub offset: Option<u64>,
    /// The PC, when printed (`"0x…"` in JSON).
    #[serde(with = "twixt_report::model::hex_opt")]
    pub pc: Option<u64>,
    /// Where this came from: `asyncPreempt frame` (the dump) or `unexpected return pc`
    /// (the throw's own line).
    pub from: String,
}

/// One run, classified.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classified {
    /// The outcome.
    pub outcome: Kind,
    /// Why, in words (for failed: the status and what was printed; for survived: budget or
    /// clean exit).
    pub reason: String,
    /// What the runtime died of: the first `fatal error:` message without the prefix, or
    /// the fault in its unwinder (`SIGSEGV: segmentation violation in
    /// runtime.(*unwinder).next (addr=0x118) while runtime.scanstack walked goroutine 22`).
    pub fatal_error: Option<String>,
    /// Where the crashing goroutine was stopped, where the output tells.
    pub site: Option<Site>,
}

/// Fatal errors that are the sandbox's limits at work, not a broken unwind.
const LIMIT_ERRORS: [&str; 4] = [
    "runtime: out of memory",
    "newosproc",
    "failed to create new OS thread",
    "pthread_create failed",
];

/// Classifies a run.
pub fn classify(ran: &Ran) -> Classified {
    let stderr = &ran.stderr;
    let fatal = fatal_error(stderr).or_else(|| fatal_error(&ran.stdout));
    if let Some(fatal) = &fatal {
        let limit = LIMIT_ERRORS.iter().any(|l| fatal.contains(l))
            || stderr.contains("failed to create new OS thread");
        if limit {
            return Classified {
                outcome: Kind::Failed,
                reason: format!("a sandbox limit: fatal error: {fatal}"),
                fatal_error: Some(fatal.clone()),
                site: None,
            };
        }
        return Classified {
            outcome: Kind::Crashed,
            reason: format!("fatal error: {fatal}"),
            fatal_error: Some(fatal.clone()),
            site: crash_site(stderr),
        };
    }
    // Checked before qemu's complaints: qemu also reports the fault ("uncaught target
    // signal 11") that ended the process.
    if let Some(fault) = unwinder_fault(stderr) {
        return Classified {
            outcome: Kind::Crashed,
            reason: format!("fault in the runtime's unwinder: {}", fault.describe()),
            fatal_error: Some(fault.describe()),
            site: fault.scanned.and_then(|id| preempted_frame(stderr, id)),
        };
    }
    // qemu's own complaints (a thread it could not create at the process limit, a guest
    // signal nothing handled): the emulator, not the runtime, ended or wedged the run.
    if let Some(q) = qemu_error(stderr) {
        return Classified {
            outcome: Kind::Failed,
            reason: format!("qemu: {q}"),
            fatal_error: None,
            site: None,
        };
    }
    let (outcome, reason) = match ran.ended {
        Ended::Timeout => (
            Kind::Survived,
            format!("still running at the {:.0} s budget", ran.seconds),
        ),
        Ended::Stopped => (
            Kind::Survived,
            format!("no crash; stopped by twixt after {:.1} s", ran.seconds),
        ),
        Ended::Exited(0) => (
            Kind::Survived,
            format!("exited 0 after {:.1} s", ran.seconds),
        ),
        Ended::Exited(125) if ran.notes.iter().any(|n| n.contains("work directory")) => (
            Kind::Failed,
            format!("the sandbox could not start: {}", ran.notes.join("; ")),
        ),
        Ended::Exited(code) => (
            Kind::Failed,
            format!("exit status {code}{}", last_words(stderr)),
        ),
        Ended::Signal(sig) => (
            Kind::Failed,
            format!(
                "killed by signal {sig}{}{}",
                signal_note(sig),
                last_words(stderr)
            ),
        ),
    };
    Classified {
        outcome,
        reason,
        fatal_error: None,
        site: None,
    }
}

/// The first line qemu itself wrote (`qemu: ...`, `qemu-aarch64: ...`, or a GLib
/// assertion `ERROR:...`).
fn qemu_error(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let l = l.trim();
        let from_qemu = l.starts_with("qemu: ")
            || l.starts_with("qemu-aarch64")
            || (l.starts_with("ERROR:") && l.contains("assertion failed"));
        from_qemu.then(|| l.trim_start_matches("qemu: ").to_string())
    })
}

/// What a signal means here.
fn signal_note(sig: i32) -> &'static str {
    match sig {
        24 => " (SIGXCPU: the CPU-time limit)",
        25 => " (SIGXFSZ: the file-size limit)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        6 => " (SIGABRT)",
        _ => "",
    }
}

/// `: <last non-empty line>` of `text`, or nothing.
fn last_words(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default()
}

/// The first `fatal error: ...` message.
pub fn fatal_error(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("fatal error: "))
        .map(|m| m.trim().to_string())
}

/// The first `n` lines of what a run printed: for a crash, of the runtime's crash output
/// (from the first `runtime:` or `fatal error:` line of stderr); otherwise of stdout, then
/// stderr.
pub fn first_lines(ran: &Ran, crashed: bool, n: usize) -> Vec<String> {
    let all;
    let text = if crashed {
        ran.stderr.as_str()
    } else {
        all = format!("{}{}", ran.stdout, ran.stderr);
        all.as_str()
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("runtime: ") || l.starts_with("fatal error: "))
        .filter(|_| crashed)
        .unwrap_or(0);
    lines[start..]
        .iter()
        .take(n)
        .map(|l| l.to_string())
        .collect()
}

/// The runtime's unwinder functions: a fault whose PC is in one of these, during a stack
/// scan, is the walk itself reading what a window left behind.
const UNWINDER_FUNCTIONS: [&str; 3] = [
    "runtime.(*unwinder).next(",
    "runtime.(*unwinder).resolveInternal(",
    "runtime.gentraceback(",
];

/// A fault inside the runtime's unwinder while a GC stack scan walked a goroutine.
#[derive(Clone, Debug, PartialEq, Eq)]
struct UnwinderFault {
    /// `SIGSEGV: segmentation violation`.
    signal: String,
    /// The unwinder function that faulted.
    function: String,
    /// The faulting address, as printed (`0x118`).
    addr: Option<String>,
    /// The goroutine the scan was walking, when its dump can be found.
    scanned: Option<u64>,
}

impl UnwinderFault {
    fn describe(&self) -> String {
        let addr = self
            .addr
            .as_ref()
            .map(|a| format!(" (addr={a})"))
            .unwrap_or_default();
        let whom = self
            .scanned
            .map(|id| format!("goroutine {id}"))
            .unwrap_or_else(|| "a goroutine".into());
        format!(
            "{} in {}{addr} while runtime.scanstack walked {whom}",
            self.signal, self.function
        )
    }
}

/// The fault described in the module documentation: a `SIG...:` line, then a dump whose
/// first goroutine's top frame is an unwinder function with `runtime.scanstack` below it.
fn unwinder_fault(text: &str) -> Option<UnwinderFault> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("SIG") && l.contains(": "))?;
    let signal = lines[at].trim().to_string();
    let addr = lines.get(at + 1).and_then(|l| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .map(str::to_string)
    });
    let header = at
        + lines[at..]
            .iter()
            .position(|l| l.starts_with("goroutine "))?;
    let body = &lines[header + 1..];
    let end = body
        .iter()
        .position(|l| l.trim().is_empty() || l.starts_with("goroutine "))
        .unwrap_or(body.len());
    let body = &body[..end];
    let top = body.first()?;
    let function = UNWINDER_FUNCTIONS.iter().find(|f| top.starts_with(*f))?;
    let scan = body
        .iter()
        .find_map(|l| l.strip_prefix("runtime.scanstack("))?;
    let gp = scan
        .split([',', ')'])
        .next()
        .and_then(|a| a.trim().strip_prefix("0x"))
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    Some(UnwinderFault {
        signal,
        function: function.trim_end_matches('(').to_string(),
        addr,
        scanned: scanned_goroutine(&lines, gp),
    })
}

/// The goroutine being scanned: the dump whose header says `gp=0xGP` (go1.23+), else the
/// only one whose status carries the scan bit (`[runnable (scan)]`).
fn scanned_goroutine(lines: &[&str], gp: Option<u64>) -> Option<u64> {
    let id_of = |l: &str| -> Option<u64> {
        l.strip_prefix("goroutine ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let headers = || lines.iter().filter(|l| l.starts_with("goroutine "));
    if let Some(gp) = gp {
        let tag = format!(" gp={gp:#x} ");
        if let Some(l) = headers().find(|l| l.contains(&tag)) {
            return id_of(l);
        }
    }
    let mut scanning = headers().filter(|l| l.contains(" (scan)]"));
    match (scanning.next(), scanning.next()) {
        (Some(l), None) => id_of(l),
        _ => None,
    }
}

/// The goroutine the runtime names before it throws, and the function "unexpected return
/// pc for F" names.
fn victim(text: &str) -> (Option<u64>, Option<String>) {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("runtime: g") else {
            continue;
        };
        // "g21: frame.sp=..." (go1.21+) or "g 21: unexpected return pc for F called from X".
        let rest = rest.trim_start();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(id) = digits.parse::<u64>() else {
            continue;
        };
        let after = &rest[digits.len()..];
        if !after.starts_with(':') {
            continue;
        }
        let function = after
            .split_once("unexpected return pc for ")
            .and_then(|(_, f)| {
                f.split_once(" called from ")
                    .map(|(name, _)| name.trim().to_string())
            });
        return (Some(id), function);
    }
    (None, None)
}

/// Where the crashing goroutine was stopped (see the module documentation).
pub fn crash_site(text: &str) -> Option<Site> {
    let (goroutine, named) = victim(text);
    if let Some(id) = goroutine
        && let Some(site) = preempted_frame(text, id)
    {
        return Some(site);
    }
    named.map(|function| Site {
        goroutine,
        function,
        offset: None,
        pc: None,
        from: "unexpected return pc".into(),
    })
}

/// In goroutine `id`'s dump, the frame after `runtime.asyncPreempt()`.
fn preempted_frame(text: &str, id: u64) -> Option<Site> {
    let header = format!("goroutine {id} ");
    let lines: Vec<&str> = text.lines().collect();
    // The last dump of that goroutine (a throw prints the stack more than once at most).
    let start = lines.iter().rposition(|l| l.starts_with(&header))?;
    let body = &lines[start + 1..];
    let end = body
        .iter()
        .position(|l| l.trim().is_empty() || l.starts_with("goroutine "))
        .unwrap_or(body.len());
    let body = &body[..end];
    let at = body
        .iter()
        .position(|l| l.starts_with("runtime.asyncPreempt("))?;
    // asyncPreempt's own location line, then the interrupted frame: a call line and its
    // location line ("\tfile:line +0xOFF fp=... sp=... pc=0x...").
    let call = body.get(at + 2)?;
    let location = body.get(at + 3)?;
    if call.starts_with('\t') || !location.starts_with('\t') {
        return None;
    }
    let function = call[..call.rfind('(')?].to_string();
    let mut offset = None;
    let mut pc = None;
    for word in location.split_whitespace() {
        if let Some(h) = word.strip_prefix("+0x") {
            offset = u64::from_str_radix(h, 16).ok();
        } else if let Some(h) = word.strip_prefix("pc=0x") {
            pc = u64::from_str_radix(h, 16).ok();
        }
    }
    Some(Site {
        goroutine: Some(id),
        function,
        offset,
        pc,
        from: "asyncPreempt frame".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// go1.23.4, corpus stress `-func leaf70000` under qemu 7.2 -singlestep (abridged).
    const GO123: &str = "runtime: g21: frame.sp=0x40000ecf90 top=0x40000fdfd0\n\
        \tstack=[0x40000de000-0x40000fe000\n\
        fatal error: traceback did not unwind completely\n\
        \n\
        runtime stack:\n\
        runtime.throw({0xd5333?, 0x400005bd98?})\n\
        \truntime/panic.go:1067 +0x38 fp=0x400005bbf0 sp=0x400005bbc0 pc=0x76708\n\
        \n\
        goroutine 20 gp=0x4000084540 m=nil [runnable]:\n\
        runtime.asyncPreempt2()\n\
        \truntime/preempt.go:308 +0x3c fp=0x40000dcd90 sp=0x40000dcd70 pc=0x43d5c\n\
        runtime.asyncPreempt()\n\
        \truntime/preempt_arm64.s:47 +0x9c fp=0x40000dcf80 sp=0x40000dcd90 pc=0x7df9c\n\
        main.main.func1()\n\
        \tstress/main.go:60 +0x44 fp=0x40000dcfd0 sp=0x40000dcf90 pc=0xa3100\n\
        \n\
        goroutine 21 gp=0x4000084700 m=nil [runnable (scan)]:\n\
        runtime.asyncPreempt2()\n\
        \truntime/preempt.go:308 +0x3c fp=0x40000ecd90 sp=0x40000ecd70 pc=0x43d5c\n\
        runtime.asyncPreempt()\n\
        \truntime/preempt_arm64.s:47 +0x9c fp=0x40000ecf80 sp=0x40000ecd90 pc=0x7df9c\n\
        main.leaf70000(0x0?, 0x0?)\n\
        \tstress/main.go:28 +0xe8 fp=0x40000fe100 sp=0x40000ecf90 pc=0xa2f98\n\
        created by main.main in goroutine 1\n\
        \tstress/main.go:58 +0x110\n";

    /// go1.19.8: the throw names the function, the dump crashes before the frame.
    const GO119: &str = "runtime: g 21: unexpected return pc for main.leaf70000 called from 0x0\n\
        stack: frame={sp:0x400012ef90, fp:0x4000140100} stack=[0x4000120000,0x4000140000)\n\
        fatal error: unknown caller pc\n\
        \n\
        goroutine 21 [runnable (scan)]:\n\
        runtime.asyncPreempt2()\n\
        \truntime/preempt.go:308 +0x3c fp=0x400012ed90 sp=0x400012ed70 pc=0x423bc\n\
        runtime.asyncPreempt()\n\
        \truntime/preempt_arm64.s:47 +0x9c fp=0x400012ef80 sp=0x400012ed90 pc=0x6d70c\n\
        fatal error: unexpected signal during runtime execution\n\
        panic during panic\n";

    /// go1.23.4, a `twixt fuzz --go` reproducer (leaf frame 0x10010): the GC worker's scan
    /// of parked goroutine 22 faults in the unwinder (abridged).
    const GO123_FAULT: &str = "SIGSEGV: segmentation violation\n\
        PC=0x66128 m=2 sigcode=1 addr=0x118\n\
        \n\
        goroutine 0 gp=0x40000028c0 m=2 mp=0x4000038708 [idle]:\n\
        runtime.(*unwinder).next(0x4000053d10)\n\
        \truntime/traceback.go:458 +0x188 fp=0x4000053cc0 sp=0x4000053c30 pc=0x66128\n\
        runtime.scanstack(0x40000808c0, 0x4000021250)\n\
        \truntime/mgcmark.go:887 +0x290 fp=0x4000053e00 sp=0x4000053cc0 pc=0x2ad20\n\
        \n\
        goroutine 21 gp=0x4000080700 m=nil [runnable]:\n\
        main.drive0(0x0?, 0x0?)\n\
        \trepro/main.go:39 +0x38 fp=0x40000f3f70 sp=0x40000f3f70 pc=0xaee58\n\
        \n\
        goroutine 22 gp=0x40000808c0 m=nil [runnable (scan)]:\n\
        runtime.asyncPreempt2()\n\
        \truntime/preempt.go:308 +0x3c fp=0x40000d3d50 sp=0x40000d3d30 pc=0x4408c\n\
        runtime.asyncPreempt()\n\
        \truntime/preempt_arm64.s:47 +0x9c fp=0x40000d3f40 sp=0x40000d3d50 pc=0x801dc\n\
        main.f0(0x0?, 0x64?)\n\
        \trepro/main.go:33 +0x84 fp=0x40000e3f60 sp=0x40000d3f50 pc=0xaedf4\n\
        qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n";

    #[test]
    fn a_fault_in_the_unwinder_is_a_crash_at_the_scanned_goroutines_window() {
        let c = classify(&ran(GO123_FAULT, Ended::Signal(11)));
        assert_eq!(c.outcome, Kind::Crashed, "{}", c.reason);
        assert_eq!(
            c.fatal_error.as_deref(),
            Some(
                "SIGSEGV: segmentation violation in runtime.(*unwinder).next (addr=0x118) \
                 while runtime.scanstack walked goroutine 22"
            )
        );
        let site = c.site.unwrap();
        assert_eq!(
            (site.goroutine, site.function.as_str(), site.offset, site.pc),
            (Some(22), "main.f0", Some(0x84), Some(0xaedf4))
        );
        // Without the gp= tags (go1.19's headers), the scan bit names the goroutine.
        let old = GO123_FAULT
            .replace(" gp=0x40000808c0 m=nil", "")
            .replace(" gp=0x4000080700 m=nil", "");
        let site = classify(&ran(&old, Ended::Signal(11))).site.unwrap();
        assert_eq!(site.goroutine, Some(22));
        // A fault anywhere else is not an unwinder crash.
        let elsewhere = GO123_FAULT.replace("runtime.(*unwinder).next(", "main.f0(");
        let f = classify(&ran(&elsewhere, Ended::Signal(11)));
        assert_eq!(f.outcome, Kind::Failed, "{}", f.reason);
    }

    fn ran(stderr: &str, ended: Ended) -> Ran {
        Ran {
            ended,
            seconds: 1.5,
            stdout: "twixt-stress: 1.0 s, 10 calls, 10 calls/s, 1 GC cycles\n".into(),
            stderr: stderr.into(),
            truncated: false,
            killed: 0,
            notes: vec![],
            files: Default::default(),
        }
    }

    #[test]
    fn a_go123_crash_names_the_window_pc() {
        let c = classify(&ran(GO123, Ended::Exited(2)));
        assert_eq!(c.outcome, Kind::Crashed);
        assert_eq!(
            c.fatal_error.as_deref(),
            Some("traceback did not unwind completely")
        );
        let site = c.site.unwrap();
        assert_eq!(site.goroutine, Some(21));
        assert_eq!(site.function, "main.leaf70000");
        assert_eq!(site.offset, Some(0xe8));
        assert_eq!(site.pc, Some(0xa2f98));
        assert_eq!(site.from, "asyncPreempt frame");
    }

    #[test]
    fn a_go119_crash_names_only_the_function() {
        let c = classify(&ran(GO119, Ended::Exited(2)));
        assert_eq!(c.outcome, Kind::Crashed);
        assert_eq!(c.fatal_error.as_deref(), Some("unknown caller pc"));
        let site = c.site.unwrap();
        assert_eq!(
            (site.goroutine, site.function.as_str(), site.pc),
            (Some(21), "main.leaf70000", None)
        );
        assert_eq!(site.from, "unexpected return pc");
    }

    #[test]
    fn other_ends_are_survived_or_failed() {
        assert_eq!(classify(&ran("", Ended::Timeout)).outcome, Kind::Survived);
        assert_eq!(classify(&ran("", Ended::Exited(0))).outcome, Kind::Survived);
        let f = classify(&ran("panic: boom\n", Ended::Exited(2)));
        assert_eq!(f.outcome, Kind::Failed);
        assert_eq!(f.reason, "exit status 2: panic: boom");
        let x = classify(&ran("", Ended::Signal(24)));
        assert_eq!(x.outcome, Kind::Failed);
        assert!(x.reason.contains("CPU-time limit"), "{}", x.reason);
        let q = classify(&ran(
            "qemu: qemu_thread_create: Resource temporarily unavailable\n**\n",
            Ended::Timeout,
        ));
        assert_eq!(q.outcome, Kind::Failed);
        assert_eq!(
            q.reason,
            "qemu: qemu_thread_create: Resource temporarily unavailable"
        );
        let limit = classify(&ran(
            "runtime: failed to create new OS thread (have 5 already; errno=11)\n\
             fatal error: newosproc\n",
            Ended::Exited(2),
        ));
        assert_eq!(limit.outcome, Kind::Failed);
        assert!(
            limit.reason.starts_with("a sandbox limit"),
            "{}",
            limit.reason
        );
    }

    #[test]
    fn first_lines_start_at_the_runtime() {
        let r = ran(&format!("noise\n{GO123}"), Ended::Exited(2));
        let l = first_lines(&r, true, 3);
        assert_eq!(l[0], "runtime: g21: frame.sp=0x40000ecf90 top=0x40000fdfd0");
        assert_eq!(l[2], "fatal error: traceback did not unwind completely");
        let l = first_lines(&r, false, 1);
        assert!(l[0].starts_with("twixt-stress: "), "{l:?}");
    }
}
