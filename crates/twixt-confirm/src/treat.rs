//! The debugger's side of one `twixt confirm --at` run: through qemu-user's GDB stub,
//! stop the goroutine that reaches the boundary before that instruction executes, make the
//! runtime want to preempt it as the GC's `suspendG` does, deliver SIGURG to its thread, and
//! watch what the runtime does.
//!
//! The treatment, at the stop (x28 is the goroutine, `g`):
//! 1. check that `g` is what the layout says: `atomicstatus` is `_Grunning` (with or
//!    without the scan bit) and SP lies in `[g.stack.lo, g.stack.hi)`; otherwise nothing is
//!    written;
//! 2. `g.preemptStop = true`, `g.preempt = true`, `g.stackguard0 = stackPreempt` (what
//!    `suspendG` writes before it signals the thread);
//! 3. resume the thread with SIGURG (`C10`): qemu delivers it before the instruction runs,
//!    so the runtime's `sighandler` sees the boundary's PC; `doSigPreempt` asks
//!    `wantAsyncPreempt` and `isAsyncSafePoint`, and if both agree pushes a call to
//!    `runtime.asyncPreempt` with LR = the PC (or its restart PC).
//!
//! Then the watch, with breakpoints at the boundary and at `asyncPreempt`: the goroutine
//! entering `asyncPreempt` with LR = the PC means the runtime preempted it there
//! (injected); back at the boundary first means the runtime declined. Injected, it parks in
//! `_Gpreempted` (`preemptStop`), where only `suspendG` (the GC's stack scan) takes it out
//! and resumes it: so its return to the boundary means a GC scanned its stack and lived;
//! a broken scan ends the program with the runtime's crash. A survivor is treated again,
//! up to the number of treatments asked for.
//!
//! Every other signal the program receives stops its thread in qemu's stub and is passed
//! on unchanged; other goroutines that reach a breakpoint go on.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde::Serialize;
use twixt_gdbremote::{Client, Error, Stop, signal};
use twixt_golayout::{G_RUNNING, G_SCAN, GLayout, STACK_PREEMPT};

use crate::sandbox::{After, Attached};

/// The name of qemu's GDB socket in the work directory.
pub const SOCKET: &str = "gdb.sock";

/// How long one stub command may take. QEMU answers in well under a millisecond; a stub
/// that does not answer in this time is wedged.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do in one run.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    /// The boundary: the goroutine is stopped before this instruction.
    pub pc: u64,
    /// Where a preemption there resumes (the PC itself, or a restartable run's start).
    pub resume: u64,
    /// `runtime.asyncPreempt`'s entry.
    pub async_preempt: u64,
    /// `runtime.g`'s fields.
    pub layout: &'a GLayout,
    /// How many times to treat a goroutine that survives.
    pub treatments: u32,
}

/// One treatment of the goroutine.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Treatment {
    /// Seconds from the start of the run to the stop at the boundary.
    pub stopped_at: f64,
    /// The LR `asyncPreempt` was entered with: the PC the runtime's handler saw and
    /// resumes at (`"0x…"`).
    #[serde(with = "twixt_report::model::hex_opt")]
    pub injected_lr: Option<u64>,
    /// Seconds from the signal to `asyncPreempt`.
    pub injected_after: Option<f64>,
    /// The runtime declined: the thread came back to the boundary without `asyncPreempt`.
    pub declined: bool,
    /// Seconds from the signal to the goroutine's return to the boundary (after a GC
    /// scanned its stack).
    pub resumed_after: Option<f64>,
}

/// How the watch ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how", content = "detail")]
pub enum End {
    /// The program ended (the stub reported its exit): its output says how.
    Exited,
    /// No goroutine reached the boundary before the deadline.
    NotReached,
    /// The runtime did not preempt at the boundary.
    Declined,
    /// Every treatment was followed by a scan the goroutine survived.
    Survived,
    /// The signal was delivered but the goroutine never entered `asyncPreempt` nor came
    /// back to the boundary before the deadline.
    NotInjected,
    /// Preempted and parked, but no GC scanned it before the deadline.
    NotScanned,
    /// The goroutine at the boundary is not what the `runtime.g` layout says: nothing was
    /// written.
    LayoutMismatch(String),
    /// The stub stopped answering, or answered nonsense: the run says nothing.
    Stub(String),
}

/// What the debugger saw in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Watched {
    /// How it ended.
    pub end: End,
    /// Seconds from the start to the first stop at the boundary.
    pub reached_after: Option<f64>,
    /// The treated goroutine's id (`goroutine N` in the runtime's output).
    pub goroutine: Option<u64>,
    /// Its `g` (`"0x…"`).
    #[serde(with = "twixt_report::model::hex_opt")]
    pub g: Option<u64>,
    /// The host thread id qemu gave the thread stopped first.
    pub thread: Option<u64>,
    /// Every treatment.
    pub treatments: Vec<Treatment>,
    /// Seconds from the last signal sent to the stub's report that the program ended.
    pub exit_after_signal: Option<f64>,
    /// The runtime's own signals passed on (each stopped its thread in the stub).
    pub signals_passed: u64,
    /// Packets exchanged with the stub.
    pub packets: u64,
}

impl Watched {
    /// Nothing seen yet; `end` is how the watch ends if nothing else happens.
    pub fn new(end: End) -> Watched {
        Watched {
            end,
            reached_after: None,
            goroutine: None,
            g: None,
            thread: None,
            treatments: Vec::new(),
            exit_after_signal: None,
            signals_passed: 0,
            packets: 0,
        }
    }

    /// Whether the run says nothing about the boundary (the stub failed) and may be
    /// repeated.
    pub fn inconclusive(&self) -> bool {
        matches!(self.end, End::Stub(_) | End::NotInjected)
    }
}

/// Drives one run (see the module documentation). Returns what to do with the program:
/// wait for its end when it is ending (a crash being printed), stop it otherwise.
pub fn watch(att: &mut Attached<'_>, plan: &Plan<'_>) -> (After, Watched) {
    // Leave the sandbox time to collect the program's output before its own timeout.
    let deadline = att
        .deadline()
        .checked_sub(Duration::from_millis(250))
        .unwrap_or_else(|| att.deadline());
    let mut w = Watched::new(End::NotReached);
    let client = match connect(att, deadline) {
        Ok(c) => c,
        Err(e) => {
            w.end = End::Stub(e);
            return (After::Wait, w);
        }
    };
    let mut session = Session {
        c: client,
        plan,
        started: att.started(),
        w,
        last_signal: None,
    };
    let result = session.run(deadline);
    let mut w = session.w;
    w.packets = session.c.exchanged;
    match result {
        Ok(end) => {
            let after = if end == End::Exited {
                After::Wait
            } else {
                After::Stop
            };
            w.end = end;
            (after, w)
        }
        Err(e) => {
            tracing::warn!("gdb stub: {e}");
            w.end = End::Stub(e.to_string());
            (After::Stop, w)
        }
    }
}

/// Connects to qemu's socket once it exists (qemu creates it before the guest's first
/// instruction and waits for the connection).
fn connect(att: &mut Attached<'_>, deadline: Instant) -> Result<Client<UnixStream>, String> {
    let path = att.work_dir().join(SOCKET);
    loop {
        match UnixStream::connect(&path) {
            Ok(s) => return Ok(Client::new(s, COMMAND_TIMEOUT)),
            Err(e) => {
                if !att.running() {
                    return Err(format!(
                        "the program ended before its debugger could connect to {} ({e})",
                        path.display()
                    ));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{}: no gdb socket before the deadline ({e})",
                        path.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Where the treated goroutine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No goroutine has reached the boundary yet.
    Reaching,
    /// SIGURG sent at `since`.
    Signalled { since: Instant },
    /// In `asyncPreempt` (parked) since the signal at `since`.
    Parked { since: Instant },
}

struct Session<'p> {
    c: Client<UnixStream>,
    plan: &'p Plan<'p>,
    started: Instant,
    w: Watched,
    /// When the last SIGURG was sent.
    last_signal: Option<Instant>,
}

/// What a stop at one of the breakpoints leads to.
enum Step {
    /// Go on watching, in this phase.
    Go(Phase),
    /// The watch is over.
    Done(End),
}

impl Session<'_> {
    fn run(&mut self, deadline: Instant) -> Result<End, Error> {
        self.c.handshake()?;
        self.c.stop_reason()?;
        self.c.insert_breakpoint(self.plan.pc)?;
        self.c.resume(None)?;
        let mut phase = Phase::Reaching;
        loop {
            let Some(stop) = self.c.wait_stop(deadline)? else {
                return Ok(match phase {
                    Phase::Reaching => End::NotReached,
                    Phase::Signalled { .. } => End::NotInjected,
                    Phase::Parked { .. } => End::NotScanned,
                });
            };
            let (sig, thread) = match stop {
                Stop::Exited { .. } | Stop::Killed { .. } => {
                    self.w.exit_after_signal = self.last_signal.map(|t| t.elapsed().as_secs_f64());
                    return Ok(End::Exited);
                }
                Stop::Signal { signal, thread } => (signal, thread),
            };
            if sig != signal::TRAP {
                // The runtime's own signal (its preemptions, mostly): passed on as it was.
                self.w.signals_passed += 1;
                self.c.resume(Some(sig))?;
                continue;
            }
            if let Some(t) = thread {
                self.c.select_thread(t)?;
            }
            match self.on_trap(phase, thread.map(|t| t.tid))? {
                Step::Go(next) => phase = next,
                Step::Done(end) => return Ok(end),
            }
        }
    }

    /// A thread stopped with SIGTRAP in `phase`: at one of the breakpoints, or the
    /// program's own.
    fn on_trap(&mut self, phase: Phase, thread: Option<u64>) -> Result<Step, Error> {
        let regs = self.c.read_registers()?;
        let (pc, g) = (regs.pc, regs.x[28]);
        let ours = self.w.g == Some(g);
        let plan = self.plan;
        match phase {
            Phase::Reaching if pc == plan.pc => {
                if self.w.reached_after.is_none() {
                    self.w.reached_after = Some(self.secs());
                    self.w.thread = thread;
                }
                if let Err(why) = self.check_g(g, regs.sp)? {
                    return Ok(Step::Done(End::LayoutMismatch(why)));
                }
                self.w.g = Some(g);
                self.treat(g)
            }
            Phase::Signalled { since } if ours && pc == plan.async_preempt => {
                if let Some(t) = self.w.treatments.last_mut() {
                    t.injected_lr = Some(regs.x[30]);
                    t.injected_after = Some(since.elapsed().as_secs_f64());
                }
                self.c.remove_breakpoint(plan.async_preempt)?;
                if plan.resume != plan.pc {
                    self.c.insert_breakpoint(plan.resume)?;
                }
                self.c.resume(None)?;
                Ok(Step::Go(Phase::Parked { since }))
            }
            Phase::Signalled { .. } if ours && pc == plan.pc => {
                if let Some(t) = self.w.treatments.last_mut() {
                    t.declined = true;
                }
                self.c.remove_breakpoint(plan.async_preempt)?;
                Ok(Step::Done(End::Declined))
            }
            Phase::Parked { since } if ours && pc == plan.resume => self.resumed(since, g, regs.sp),
            _ if [plan.pc, plan.resume, plan.async_preempt].contains(&pc) => {
                // Another goroutine at one of our breakpoints (or ours passing by): the
                // instruction runs as it would have.
                self.c.resume(None)?;
                Ok(Step::Go(phase))
            }
            _ => {
                // A SIGTRAP that is not ours: the program's own, passed on.
                self.w.signals_passed += 1;
                self.c.resume(Some(signal::TRAP))?;
                Ok(Step::Go(phase))
            }
        }
    }

    /// The parked goroutine is back at its resume PC: a GC scanned it and it lived. Treat
    /// it again, or end the watch.
    fn resumed(&mut self, since: Instant, g: u64, sp: u64) -> Result<Step, Error> {
        let plan = self.plan;
        if let Some(t) = self.w.treatments.last_mut() {
            t.resumed_after = Some(since.elapsed().as_secs_f64());
        }
        if self.w.treatments.len() as u32 >= plan.treatments {
            return Ok(Step::Done(End::Survived));
        }
        if plan.resume != plan.pc {
            // Back at the restart PC: treat again when it reaches the PC.
            self.c.remove_breakpoint(plan.resume)?;
            self.c.resume(None)?;
            return Ok(Step::Go(Phase::Reaching));
        }
        if let Err(why) = self.check_g(g, sp)? {
            return Ok(Step::Done(End::LayoutMismatch(why)));
        }
        self.treat(g)
    }

    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Checks that `g` is a running goroutine whose stack holds `sp`, and reads its id.
    /// `Ok(Err(why))` when it is not.
    fn check_g(&mut self, g: u64, sp: u64) -> Result<Result<(), String>, Error> {
        let l = self.plan.layout;
        let status_bytes = self.c.read_memory(g.wrapping_add(l.atomicstatus), 4)?;
        let status = u32::from_le_bytes([
            status_bytes[0],
            status_bytes[1],
            status_bytes[2],
            status_bytes[3],
        ]);
        let lo = self.c.read_u64(g.wrapping_add(l.stack_lo))?;
        let hi = self.c.read_u64(g.wrapping_add(l.stack_hi))?;
        if status & !G_SCAN != G_RUNNING || !(lo <= sp && sp < hi) {
            return Ok(Err(format!(
                "x28 = {g:#x}: atomicstatus (+{}) = {status:#x}, not _Grunning, or SP {sp:#x} \
                 outside its stack [{lo:#x}, {hi:#x}) ({}); nothing written",
                l.atomicstatus, l.source
            )));
        }
        self.w.goroutine = Some(self.c.read_u64(g.wrapping_add(l.goid))?);
        Ok(Ok(()))
    }

    /// The treatment (module documentation); the goroutine is then signalled.
    fn treat(&mut self, g: u64) -> Result<Step, Error> {
        let l = self.plan.layout;
        self.w.treatments.push(Treatment {
            stopped_at: self.secs(),
            ..Treatment::default()
        });
        if l.preempt_stop == l.preempt + 1 {
            self.c.write_memory(g.wrapping_add(l.preempt), &[1, 1])?;
        } else {
            self.c.write_memory(g.wrapping_add(l.preempt), &[1])?;
            self.c.write_memory(g.wrapping_add(l.preempt_stop), &[1])?;
        }
        self.c
            .write_memory(g.wrapping_add(l.stackguard0), &STACK_PREEMPT.to_le_bytes())?;
        self.c.insert_breakpoint(self.plan.async_preempt)?;
        let since = Instant::now();
        self.last_signal = Some(since);
        self.c.resume(Some(signal::URG))?;
        Ok(Step::Go(Phase::Signalled { since }))
    }
}
