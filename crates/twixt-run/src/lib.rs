//! `twixt run`: calls one Go function by name with Go's internal register ABI on a synthetic
//! goroutine whose root frame is the binary's `runtime.goexit`, checks every boundary on the
//! path it executes (in the called function and every callee) with the Go unwinder and the
//! frame-pointer walk against a shadow call stack kept from BL/BLR/RET, and with `inject`
//! performs real preemptions (pushCall, a modelled asyncPreempt, a poisoned stack below
//! SP) and compares the resumed run with the uninterrupted one.
//!
//! Architecture invariant (as in the scan): the truth is what the emulator executed (the
//! shadow stack), never a model; anything the harness cannot emulate faithfully ends the
//! call as "unanalysed: reason", never as a silent pass.

pub mod args;
mod converge;
mod pc_hash;
pub mod report;
pub mod runtime;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use converge::{Checkpoint, Convergence, Fork, MAX_CHECKPOINTS, Now};
use pc_hash::PcMap;

use twixt_arm64::{Flow, RegUse};
use twixt_check::finding::{FpEvidence, FpWalkEvidence, Site};
use twixt_check::{GoProgram, Severity};
use twixt_emu::Layout;
use twixt_emu::call::{Cpu, Exit, Machine, Regs, Snapshot, Step, Stepper};
use twixt_gopclntab::PcRun;
use twixt_unwind::boundary::{FpCheck, Interrupt, Rules, check_fp, check_go};
use twixt_unwind::fp::{FpStart, FpVerdict};
use twixt_unwind::go::{Mode, Traceback, Walk, unwind};
use twixt_unwind::preempt::{
    AsyncPreemptFrame, Decision, GoVersion, Interrupted, SafePointFacts, SaveArea, decide,
    push_call,
};
use twixt_unwind::verdict::{TrueFrame, Verdict, judge};
use twixt_unwind::{Arch, Memory};

pub use args::Arg;
use report::{
    CallReport, ChainFrame, Change, Classification, InjectReport, Injection, Outcome, RunFinding,
    RunReport,
};
use runtime::Action;

/// What the stepper needs to know of one instruction.
#[derive(Clone, Copy, Debug)]
struct Decoded {
    flow: Flow,
    /// It may touch state the convergence test cannot read
    /// (`twixt_arm64::touches_unread_state`).
    opaque: bool,
    /// How it involves R27, the one register asyncPreempt's return changes.
    r27: RegUse,
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Inject a preemption at every preemptible boundary and compare.
    pub inject: bool,
    /// Also inject where the runtime would not, and classify those boundaries.
    pub all_boundaries: bool,
    /// Instructions one call may execute.
    pub max_instructions: u64,
    /// Wall time one call (with its injections) may take.
    pub time_limit: Duration,
    /// Run every injected call to its end instead of stopping once it has converged with
    /// the uninterrupted run (`converge`): for tests that check both give the same report.
    pub run_every_injection_to_the_end: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            inject: false,
            all_boundaries: false,
            max_instructions: 10_000_000,
            time_limit: Duration::from_secs(20),
            run_every_injection_to_the_end: false,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The function is not in the pclntab.
    #[error("{binary}: no function named {name:?} (see `twixt funcs`)")]
    NoFunction {
        /// The binary.
        binary: String,
        /// The name asked for.
        name: String,
    },
    /// A runtime function the harness needs is missing.
    #[error("{binary}: cannot find {what}")]
    MissingRuntime {
        /// The binary.
        binary: String,
        /// What is missing.
        what: String,
    },
    /// Unicorn refused.
    #[error("{binary}: {source}")]
    Emulator {
        /// The binary.
        binary: String,
        /// Unicorn's complaint.
        source: twixt_emu::EmuError,
    },
    /// Too many arguments for the register ABI.
    #[error("{0} integer arguments: Go's register ABI passes at most 16")]
    TooManyArgs(usize),
}

/// Instructions between two checkpoints taken at backward jumps in pass 1.
const LOOP_CHECKPOINT_GAP: u64 = 2048;

/// Heap the bump allocator hands out (64 MiB).
const HEAP_SIZE: u64 = 64 << 20;
/// Frames a walk may produce.
const MAX_FRAMES: usize = 256;

/// One frame of the shadow call stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Shadow {
    /// SP at the function's entry (the caller's SP at the call).
    entry_sp: u64,
    /// Where it returns to.
    ret_pc: u64,
    /// The caller's R29 at the call.
    caller_fp: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Call { ret: u64, fp: u64 },
    Ret,
}

/// Why the stepper paused.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stop {
    Returned,
    Runtime(Action, u64),
    Budget(String),
    Inject(usize),
    /// An injected run reached checkpoint k's PC in a state that may be the reference's.
    Converge(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepMode {
    /// Pass 1: check every boundary.
    Check,
    /// Pass 2: pause at the chosen instruction indices.
    Count,
    /// A resumed run after an injection: only follow the calls.
    Plain,
}

/// A boundary chosen for injection in pass 1.
#[derive(Clone, Debug)]
struct Candidate {
    pc: u64,
    depth: usize,
    resume_pc: u64,
    refused: Option<String>,
    /// The shadow stack there (to judge the unwind from the injected frame).
    shadow: Vec<Shadow>,
    /// The access log's length there (0 without convergence).
    log_pos: usize,
}

/// State a run needs that also lives in snapshots (the allocator and the clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Env {
    bump: u64,
    clock: u64,
}

struct Ctx<'p, 'a> {
    prog: &'p GoProgram<'a>,
    version: GoVersion,
    ap: AsyncPreemptFrame,
    goexit_ret: u64,
    top_sp: u64,
    actions: PcMap<u64, Action>,
    zerobase: Option<u64>,
    /// Wall time for one run (the call, the re-run, each resumed run).
    time_limit: Duration,
    /// What the stepper needs to know of the instruction at each PC, decoded once.
    flows: std::cell::RefCell<PcMap<u64, Decoded>>,
}

/// The stepper: shadow stack, budget, and in pass 1 the checks.
#[derive(Clone)]
struct Tracker<'c, 'p, 'a> {
    ctx: &'c Ctx<'p, 'a>,
    mode: StepMode,
    shadow: Vec<Shadow>,
    pending: Option<Pending>,
    count: u64,
    budget: u64,
    deadline: Instant,
    stop: Option<Stop>,
    skip_once: bool,
    env: Env,
    max_depth: usize,
    inject_at: BTreeMap<u64, usize>,
    /// The count of the last executed instruction that touches unread state.
    last_opaque: Option<u64>,
    /// In an injected run: the convergence test.
    probe: Option<Probe>,
    /// The PC of the last instruction executed (pass 1: backward jumps).
    prev_pc: u64,
    /// Pass 1: the count from which a backward jump makes a checkpoint.
    next_loop_checkpoint: u64,
    // Pass 1 only.
    checks: Option<Box<Checks>>,
}

/// What an injected run needs to test for convergence.
#[derive(Clone)]
struct Probe {
    conv: Rc<Convergence>,
    fork: Fork,
}

#[derive(Clone, Default)]
struct Checks {
    seen: PcMap<(u64, u64, usize), ()>,
    findings: BTreeMap<(u64, String, usize, u64), RunFinding>,
    candidates: Vec<(u64, Candidate)>,
    candidate_pcs: BTreeSet<(u64, usize)>,
    want_candidates: bool,
    all_boundaries: bool,
    boundaries: usize,
    meta_cache: MetaCache,
    /// Whether to keep checkpoints for convergence, and the ones kept.
    want_checkpoints: bool,
    checkpoints: Vec<Checkpoint>,
    /// Checkpoints whose run has not involved R27 yet.
    r27_waiting: Vec<usize>,
}

#[derive(Clone, Default)]
struct MetaCache {
    unsafe_runs: HashMap<u64, Vec<PcRun>>,
    innermost: HashMap<u64, String>,
}

/// Reads emulator memory at a boundary.
struct CpuMem<'a, 'b>(&'a Cpu<'b>);

impl Memory for CpuMem<'_, '_> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.0.read_u64(addr)
    }
}

/// Reads emulator memory between runs.
struct MachineMem<'m, 'e, S: Stepper>(&'m Machine<'e, S>);

impl<S: Stepper> Memory for MachineMem<'_, '_, S> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.0.read_u64(addr)
    }
}

impl Ctx<'_, '_> {
    fn symbolize(&self, pc: u64) -> String {
        self.prog
            .symbol(pc)
            .unwrap_or_else(|| format!("{pc:#x} (in no function)"))
    }

    fn flow(&self, pc: u64) -> Decoded {
        if let Some(f) = self.flows.borrow().get(&pc) {
            return *f;
        }
        // A word outside the binary's code counts as touching everything.
        let f = match self.prog.word(pc) {
            Some(w) => Decoded {
                flow: twixt_arm64::classify(pc, w).flow,
                opaque: twixt_arm64::touches_unread_state(w),
                r27: twixt_arm64::register_use(w, 27),
            },
            None => Decoded {
                flow: Flow::Next,
                opaque: true,
                r27: RegUse::Mention,
            },
        };
        self.flows.borrow_mut().insert(pc, f);
        f
    }

    /// The truth at a boundary: this frame, then each caller up to goexit.
    fn truth(&self, pc: u64, sp: u64, shadow: &[Shadow]) -> Vec<TrueFrame> {
        std::iter::once(TrueFrame { pc, sp })
            .chain(shadow.iter().rev().map(|s| TrueFrame {
                pc: s.ret_pc,
                sp: s.entry_sp,
            }))
            .collect()
    }

    fn walk(&self, mode: Mode) -> Walk {
        Walk {
            mode,
            stktopsp: self.top_sp,
            max_frames: MAX_FRAMES,
            arch: Arch::Arm64,
        }
    }

    /// The static preemption decision at `pc`.
    fn decision(&self, cache: &mut MetaCache, pc: u64) -> Option<Decision> {
        let f = self.prog.func_at(pc)?;
        let runs = cache
            .unsafe_runs
            .entry(f.info.entry)
            .or_insert_with(|| self.prog.unsafe_point_runs(f));
        let (up, run_start) = twixt_check::program::run_at(runs, pc)
            .map(|r| (r.value, r.start))
            .unwrap_or((-1, pc));
        let name = cache
            .innermost
            .entry(pc)
            .or_insert_with(|| self.prog.innermost_name(f, pc))
            .clone();
        let facts = SafePointFacts {
            entry: f.info.entry,
            unsafe_point: up,
            run_start,
            has_locals_pointer_maps: f.has_locals_pointer_maps,
            asm: f.asm,
            innermost_name: &name,
        };
        Some(decide(self.version, pc, &facts))
    }

    fn chain_go(&self, truth: &[TrueFrame], tb: &Traceback, skip: usize) -> Vec<ChainFrame> {
        let frames = tb.frames.get(skip..).unwrap_or(&[]);
        let mut unwound: Vec<String> = frames.iter().map(|f| self.symbolize(f.pc)).collect();
        // The return PC the last frame read, where the walk went wrong.
        if let Some(last) = frames.last()
            && last.lr != 0
            && unwound.len() < truth.len()
        {
            unwound.push(format!("{} (read, walk stops)", self.symbolize(last.lr)));
        }
        let n = truth.len().max(unwound.len());
        (0..n)
            .map(|i| ChainFrame {
                truth: truth
                    .get(i)
                    .map_or_else(|| "-".into(), |t| self.symbolize(t.pc)),
                unwound: unwound.get(i).cloned(),
            })
            .collect()
    }
}

impl Stepper for Tracker<'_, '_, '_> {
    fn step(&mut self, cpu: &Cpu<'_>) -> Step {
        let pc = cpu.pc();
        if self.skip_once {
            self.skip_once = false;
            self.note_flow(pc, cpu);
            return Step::Continue;
        }
        if let Some(&action) = self.ctx.actions.get(&pc) {
            self.pending = None;
            self.stop = Some(Stop::Runtime(action, pc));
            return Step::Pause;
        }
        let event = self.pending.is_some();
        match self.pending.take() {
            Some(Pending::Call { ret, fp }) => {
                self.shadow.push(Shadow {
                    entry_sp: cpu.sp(),
                    ret_pc: ret,
                    caller_fp: fp,
                });
                self.max_depth = self.max_depth.max(self.shadow.len().saturating_sub(1));
            }
            Some(Pending::Ret) => {
                // Pop to the frame this return lands in (a longjmp-like return would pop
                // several; an unknown target leaves the stack as it is).
                if let Some(i) = self.shadow.iter().rposition(|s| s.ret_pc == pc) {
                    self.shadow.truncate(i);
                }
            }
            None => {}
        }
        if self.shadow.is_empty() && pc == self.ctx.goexit_ret {
            self.stop = Some(Stop::Returned);
            return Step::Pause;
        }
        self.count += 1;
        if self.count > self.budget {
            self.stop = Some(Stop::Budget(format!(
                "instruction budget of {} exhausted at {}",
                self.budget,
                self.ctx.symbolize(pc)
            )));
            return Step::Pause;
        }
        if self.count.is_multiple_of(4096) && Instant::now() > self.deadline {
            self.stop = Some(Stop::Budget(format!(
                "time budget exhausted at {}",
                self.ctx.symbolize(pc)
            )));
            return Step::Pause;
        }
        match self.mode {
            StepMode::Check => {
                // Checkpoints at every call entry and return landing, and at a loop's
                // backward jump once in a while (a long loop converges before it ends).
                let looped = pc < self.prev_pc && self.count >= self.next_loop_checkpoint;
                if event || looped {
                    self.next_loop_checkpoint = self.count + LOOP_CHECKPOINT_GAP;
                    self.checkpoint(cpu);
                }
                self.check(cpu);
            }
            StepMode::Count => {
                if let Some(&k) = self.inject_at.get(&self.count) {
                    self.stop = Some(Stop::Inject(k));
                    return Step::Pause;
                }
            }
            StepMode::Plain => {
                if let Some(k) = self.probe_match(cpu) {
                    self.stop = Some(Stop::Converge(k));
                    return Step::Pause;
                }
            }
        }
        self.note_flow(pc, cpu);
        Step::Continue
    }
}

impl Tracker<'_, '_, '_> {
    /// Pass 1, at a call entry or a return landing: keeps a checkpoint for convergence.
    fn checkpoint(&mut self, cpu: &Cpu<'_>) {
        let Some(checks) = self.checks.as_mut() else {
            return;
        };
        if !checks.want_checkpoints || checks.checkpoints.len() >= MAX_CHECKPOINTS {
            return;
        }
        checks.checkpoints.push(Checkpoint {
            count: self.count,
            regs: cpu.regs(),
            shadow: self.shadow.clone(),
            env: self.env,
            log_pos: cpu.log_len(),
            last_opaque: self.last_opaque,
            // Until the rest involves R27, it never reads it.
            r27_dead: true,
        });
        checks.r27_waiting.push(checks.checkpoints.len() - 1);
    }

    /// In an injected run: a checkpoint here whose cheap part of the test passes (the rest
    /// needs the machine: the stepper pauses and the driver decides).
    fn probe_match(&self, cpu: &Cpu<'_>) -> Option<usize> {
        let probe = self.probe.as_ref()?;
        let ids = probe.conv.at_pc(cpu.pc())?;
        // An instruction of this run since the injection touched unread state.
        if self.last_opaque.is_some_and(|o| o > probe.fork.count) {
            return None;
        }
        let now = Now {
            count: self.count,
            sp: cpu.sp(),
            env: &self.env,
            shadow: &self.shadow,
        };
        // Only checkpoints the injected run can be at: the reference passed them after the
        // injection, and not after this run's count (it never executes fewer instructions).
        let lo = ids.partition_point(|&k| probe.conv.count(k) < probe.fork.count);
        let hi = ids.partition_point(|&k| probe.conv.count(k) <= self.count);
        ids.get(lo..hi)?.iter().copied().find(|&k| {
            probe.conv.may_match(k, &probe.fork, &now, self.budget)
                && probe.conv.same_x(k, |n| cpu.x(n))
        })
    }

    fn note_flow(&mut self, pc: u64, cpu: &Cpu<'_>) {
        self.prev_pc = pc;
        let Decoded { flow, opaque, r27 } = self.ctx.flow(pc);
        if opaque {
            self.last_opaque = Some(self.count);
        }
        if r27 != RegUse::Untouched
            && let Some(checks) = self.checks.as_mut()
        {
            checks.r27_involved(r27);
        }
        self.pending = match flow {
            Flow::Call { .. } | Flow::CallIndirect { .. } => Some(Pending::Call {
                ret: pc.wrapping_add(4),
                fp: cpu.x(29),
            }),
            Flow::Ret { .. } => Some(Pending::Ret),
            _ => None,
        };
    }

    fn check(&mut self, cpu: &Cpu<'_>) {
        let ctx = self.ctx;
        let Some(checks) = self.checks.as_mut() else {
            return;
        };
        let pc = cpu.pc();
        let sp = cpu.sp();
        let depth = self.shadow.len().saturating_sub(1);
        let key = (pc, sp, depth);
        let first = checks.seen.insert(key, ()).is_none();
        let count = self.count;
        if !first {
            checks.count_visit(pc, depth);
            return;
        }
        checks.boundaries += 1;
        let Some(f) = ctx.prog.func_at(pc) else {
            return;
        };
        let mem = CpuMem(cpu);
        let decision = ctx.decision(&mut checks.meta_cache, pc);
        let entry_sp = self.shadow.last().map_or(ctx.top_sp, |s| s.entry_sp);
        // `func_at` found the function above, so the decision exists.
        let Some(decided) = decision else {
            return;
        };
        let boundary = Boundary {
            ctx,
            f,
            mem: &mem,
            at: Interrupt {
                arch: Arch::Arm64,
                pc,
                sp,
                lr: cpu.x(30),
                r29: cpu.x(29),
            },
            entry_sp,
            depth,
            shadow: &self.shadow,
        };
        if let Some(finding) = boundary.go_finding(decided.clone()) {
            checks.findings.insert((pc, "go".into(), depth, 0), finding);
        }
        if let Some(finding) = boundary.fp_finding(&decided) {
            checks.findings.insert((pc, "fp".into(), depth, 0), finding);
        }
        // Injection candidates: the first visit of each boundary in each chain depth.
        if checks.want_candidates && checks.candidate_pcs.insert((pc, depth)) {
            let cand = match decided {
                Decision::Preempt { resume_pc } => Some((resume_pc, None)),
                Decision::Refuse(r) if checks.all_boundaries => Some((pc, Some(r.to_string()))),
                _ => None,
            };
            if let Some((resume_pc, refused)) = cand {
                checks.candidates.push((
                    count,
                    Candidate {
                        pc,
                        depth,
                        resume_pc,
                        refused,
                        shadow: self.shadow.clone(),
                        log_pos: cpu.log_len(),
                    },
                ));
            }
        }
    }
}

impl Checks {
    /// The run executes an instruction that involves R27 (`how`): it decides for every
    /// checkpoint waiting whether R27 is dead there (set before it is read).
    fn r27_involved(&mut self, how: RegUse) {
        for k in self.r27_waiting.drain(..) {
            if let Some(c) = self.checkpoints.get_mut(k) {
                c.r27_dead = how == RegUse::Kill;
            }
        }
    }

    /// Counts another visit of a boundary already checked in every finding made there.
    fn count_visit(&mut self, pc: u64, depth: usize) {
        for ((fpc, _, d, _), f) in self.findings.iter_mut() {
            if *fpc == pc && *d == depth {
                f.visits += 1;
            }
        }
    }
}

/// One boundary checked in pass 1: the function, the registers and memory there, and the
/// shadow stack that is the truth.
struct Boundary<'b, 'p, 'a> {
    ctx: &'b Ctx<'p, 'a>,
    f: &'b twixt_check::FuncMeta,
    mem: &'b dyn Memory,
    at: Interrupt,
    /// SP at the function's entry (the top of the goroutine stack for the called function).
    entry_sp: u64,
    /// Calls below the called function.
    depth: usize,
    shadow: &'b [Shadow],
}

impl Boundary<'_, '_, '_> {
    /// The Go unwinder's finding here (the same rules as scan: `boundary::check_go`), if its
    /// walk goes wrong.
    fn go_finding(&self, decided: Decision) -> Option<RunFinding> {
        let (ctx, pc, sp) = (self.ctx, self.at.pc, self.at.sp);
        let rules = Rules {
            version: ctx.version,
            async_preempt: ctx.ap,
            stktopsp: ctx.top_sp,
            max_frames: MAX_FRAMES,
        };
        let check = check_go(ctx.prog, self.mem, &rules, self.at, decided, |at_pc| {
            ctx.truth(at_pc, sp, self.shadow)
        });
        if check.is_ok() {
            return None;
        }
        let judged_pc = match check.resume_pc {
            Some(resume) if check.preemptible => resume,
            _ => pc,
        };
        let truth = ctx.truth(judged_pc, sp, self.shadow);
        let severity = if check.preemptible {
            Severity::Preemptible
        } else {
            Severity::SignalOnly
        };
        let resume = (check.preemptible && judged_pc != pc).then_some(judged_pc);
        let chain = ctx.chain_go(&truth, &check.traceback, check.skip);
        let j = &check.judgement;
        let expected = j.expected.map(|t| t.pc).unwrap_or(0);
        let expected_slot = true_return_slot(self.f, self.entry_sp, expected, self.mem);
        let finding = self
            .site(severity)
            .go_finding(j, resume, 0, expected_slot, |v| ctx.symbolize(v));
        Some(RunFinding {
            finding,
            depth: self.depth,
            chain,
            visits: 1,
        })
    }

    /// The frame-pointer walk's finding here (the same rules as scan:
    /// `boundary::check_fp`), if it goes wrong.
    fn fp_finding(&self, decided: &Decision) -> Option<RunFinding> {
        let (ctx, f, pc, sp) = (self.ctx, self.f, self.at.pc, self.at.sp);
        let preemptible = matches!(decided, Decision::Preempt { .. });
        let rets: Vec<u64> = self.shadow.iter().rev().map(|s| s.ret_pc).collect();
        let caller_fp = self.shadow.last().map_or(0, |s| s.caller_fp);
        let FpCheck {
            trace,
            judgement: fj,
        } = check_fp(
            self.mem,
            self.at,
            preemptible,
            f.info.entry..f.end,
            &rets,
            caller_fp,
            MAX_FRAMES,
        );
        if fj.verdict == FpVerdict::Ok {
            return None;
        }
        let start = FpStart {
            pc,
            sp,
            fp: self.at.r29,
        };
        let skip = usize::from(start.fp == caller_fp && !rets.is_empty());
        let chain = self.fp_chain(&rets, &trace.pcs(), skip);
        let severity = if preemptible {
            Severity::Preemptible
        } else {
            Severity::SignalOnly
        };
        // The same evidence and the same finding as scan gives for this boundary.
        let evidence =
            FpWalkEvidence::of(&trace, &fj, self.mem, sp, self.at.r29, |v| ctx.symbolize(v));
        let expected_slot = fj
            .expected
            .and_then(|want| true_return_slot(f, self.entry_sp, want, self.mem));
        let finding = self.site(severity).fp_finding(
            &fj,
            FpEvidence {
                resume_pc: match decided {
                    Decision::Preempt { resume_pc } if *resume_pc != pc => Some(*resume_pc),
                    _ => None,
                },
                slot: evidence.slot,
                read: evidence.read,
                expected_fallback: 0,
                true_return_slot: expected_slot,
                r29: self.at.r29,
                outcome: evidence.outcome,
            },
            |v| ctx.symbolize(v),
        );
        Some(RunFinding {
            finding,
            depth: self.depth,
            chain,
            visits: 1,
        })
    }

    /// The true chain (this PC, then the shadow stack's return PCs `rets`) beside the
    /// frame-pointer walk's PCs, `skip` telling whether the walk skipped the direct caller.
    fn fp_chain(&self, rets: &[u64], walked: &[u64], skip: usize) -> Vec<ChainFrame> {
        let ctx = self.ctx;
        let truth: Vec<String> = std::iter::once(self.at.pc)
            .chain(rets.iter().copied())
            .map(|p| ctx.symbolize(p))
            .collect();
        let mut unwound: Vec<String> = walked.iter().map(|&p| ctx.symbolize(p)).collect();
        // A skipped direct caller is by design: show the walk aligned with the truth.
        if skip == 1 && !unwound.is_empty() {
            unwound.insert(1, "(skipped: caller's R29)".into());
        }
        let n = truth.len().max(unwound.len());
        (0..n)
            .map(|i| ChainFrame {
                truth: truth.get(i).cloned().unwrap_or_else(|| "-".into()),
                unwound: unwound.get(i).cloned(),
            })
            .collect()
    }

    /// Where a finding here is (function, instruction, line, frame) with `severity`.
    fn site(&self, severity: Severity) -> Site {
        Site::at(
            self.ctx.prog,
            self.f,
            self.at.pc,
            self.at.sp,
            self.entry_sp,
            severity,
        )
    }
}

/// The frame's LR slot, once the prologue has saved the true return PC `expected` there.
fn true_return_slot(
    f: &twixt_check::FuncMeta,
    entry_sp: u64,
    expected: u64,
    mem: &dyn Memory,
) -> Option<u64> {
    let frame_size = f.frame_size();
    (frame_size > 0)
        .then(|| entry_sp.wrapping_sub(frame_size))
        .filter(|&slot| mem.read_u64(slot) == Some(expected))
}

/// The end state of a call, for comparisons.
struct EndState {
    outcome: Outcome,
    regs: Regs,
    /// Final contents of every page written (outside the dead stack).
    pages: BTreeMap<u64, Vec<u8>>,
}

/// Calls `function` once per argument list in `calls`.
pub fn run(
    prog: &GoProgram<'_>,
    function: &str,
    calls: &[Vec<Arg>],
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    let binary = prog.image().file_name().to_string();
    let missing = |what: &str| RunError::MissingRuntime {
        binary: binary.clone(),
        what: what.into(),
    };
    let f = prog
        .func_named(function)
        .ok_or_else(|| RunError::NoFunction {
            binary: binary.clone(),
            name: function.into(),
        })?;
    let goexit = prog
        .func_named("runtime.goexit")
        .ok_or_else(|| missing("runtime.goexit"))?;
    let ap = prog
        .async_preempt_frame()
        .ok_or_else(|| missing("runtime.asyncPreempt calling runtime.asyncPreempt2"))?;
    let version = prog.version();
    let image = prog.image();
    let layout = twixt_check::emulator::layout(prog);
    let heap_lo = layout.heap_base();
    let ranges = twixt_check::emulator::ranges(prog);
    let mut actions = PcMap::default();
    for m in prog.funcs() {
        if let Some(a) = runtime::action(&m.info.name) {
            actions.insert(m.info.entry, a);
        }
    }
    let ctx = Ctx {
        prog,
        version,
        ap,
        goexit_ret: goexit.info.entry + 4,
        top_sp: layout.stack_hi - 0x1000,
        actions,
        zerobase: image.symbol("runtime.zerobase"),
        flows: Default::default(),
        time_limit: options.time_limit,
    };
    let emu_err = |source| RunError::Emulator {
        binary: binary.clone(),
        source,
    };
    let mut machine: Machine<'_, Tracker<'_, '_, '_>> =
        Machine::new(&ranges, layout, heap_lo, HEAP_SIZE).map_err(emu_err)?;
    let write_barrier_flag = image
        .symbol("runtime.writeBarrier")
        .and_then(|a| machine.read(a, 4))
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let pristine = machine.snapshot();
    let mut reports = Vec::new();
    for args in calls {
        if args.len() > 16 {
            return Err(RunError::TooManyArgs(args.len()));
        }
        let report = call(&ctx, &mut machine, f.info.entry, args, options).map_err(emu_err)?;
        machine.restore(&pristine).map_err(emu_err)?;
        // Keep the pristine journal for the next call.
        let _ = machine.snapshot();
        reports.push(report);
    }
    Ok(RunReport {
        binary,
        go_version: prog.version_info().shown(),
        go_version_source: prog.version_info().source_text(),
        function: function.to_string(),
        write_barrier_flag,
        calls: reports,
    })
}

type M<'e, 'c, 'p, 'a> = Machine<'e, Tracker<'c, 'p, 'a>>;

fn call<'c, 'p, 'a>(
    ctx: &'c Ctx<'p, 'a>,
    machine: &mut M<'_, 'c, 'p, 'a>,
    entry: u64,
    args: &[Arg],
    options: &RunOptions,
) -> Result<CallReport, twixt_emu::EmuError> {
    let deadline = Instant::now() + options.time_limit;
    // Convergence needs pass 1's access log and checkpoints (module `converge`).
    let converge = options.inject && !options.run_every_injection_to_the_end;
    let mut env = Env {
        bump: machine.heap().0,
        clock: 0,
    };
    // Buffers first: their addresses are arguments.
    let mut x = [0u64; 31];
    let mut shown = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let v = match *a {
            Arg::Int(v) => v,
            Arg::Buffer(len) => alloc(machine, &mut env, len.max(1)),
        };
        x[i] = v;
        shown.push(format!("{v:#x}"));
    }
    x[28] = machine.layout().g;
    x[29] = 0;
    x[30] = ctx.goexit_ret;
    let regs = Regs {
        x,
        sp: ctx.top_sp,
        pc: entry,
        nzcv: 0,
        d: [0; 32],
    };
    machine.set_regs(&regs)?;
    // The root frame as an ordinary caller's frame record ([SP-8] = the next R29, 0: the
    // chain ends; [SP] = the return PC): Go 1.22+ leaf epilogues recompute R29 as
    // entry SP - 8, assuming the caller keeps its record there, and the frame-pointer walk
    // then reads it. The region harness plants its caller the same way.
    machine.write_u64(ctx.top_sp, ctx.goexit_ret)?;
    machine.write_u64(ctx.top_sp - 8, 0)?;
    machine.clear_written();
    let start = machine.snapshot();
    let root = Shadow {
        entry_sp: ctx.top_sp,
        ret_pc: ctx.goexit_ret,
        caller_fp: 0,
    };
    let tracker = Tracker {
        ctx,
        mode: StepMode::Check,
        shadow: vec![root],
        pending: None,
        count: 0,
        budget: options.max_instructions,
        deadline,
        stop: None,
        skip_once: false,
        env,
        max_depth: 0,
        inject_at: BTreeMap::new(),
        last_opaque: None,
        probe: None,
        prev_pc: 0,
        next_loop_checkpoint: 0,
        checks: Some(Box::new(Checks {
            want_candidates: options.inject,
            all_boundaries: options.all_boundaries,
            want_checkpoints: converge,
            ..Checks::default()
        })),
    };
    if converge {
        machine.start_access_log()?;
    }
    let (mut tracker, outcome) = drive(ctx, machine, tracker)?;
    let log = machine.stop_access_log();
    let end = end_state(ctx, machine, outcome.clone());
    let mut checks = tracker.checks.take().unwrap_or_default();
    let conv = converge.then(|| {
        Rc::new(Convergence::new(
            std::mem::take(&mut checks.checkpoints),
            log,
            tracker.count,
            machine.layout(),
            live_stack(ctx),
        ))
    });
    let mut findings: Vec<RunFinding> = checks.findings.into_values().collect();
    findings.sort_by(|a, b| {
        (a.finding.pc, a.depth, a.finding.unwinder.name()).cmp(&(
            b.finding.pc,
            b.depth,
            b.finding.unwinder.name(),
        ))
    });
    let inject = if options.inject && matches!(outcome, Outcome::Returned { .. }) {
        machine.restore(&start)?;
        let start = machine.snapshot();
        Some(inject_pass(
            ctx,
            machine,
            root,
            env,
            &checks.candidates,
            &end,
            options,
            deadline,
            &start,
            conv,
        )?)
    } else {
        None
    };
    Ok(CallReport {
        args: shown,
        outcome,
        instructions: tracker.count,
        boundaries: checks.boundaries,
        max_depth: tracker.max_depth,
        findings,
        inject,
    })
}

/// Bump allocation, 16-byte aligned; the heap is zero and never reused.
fn alloc<S: Stepper>(machine: &Machine<'_, S>, env: &mut Env, size: u64) -> u64 {
    let p = (env.bump + 15) & !15;
    let (lo, len) = machine.heap();
    let end = p.saturating_add(size);
    if end > lo + len {
        return 0;
    }
    env.bump = end;
    p
}

/// Runs until the call returns, stops, or reaches an injection point; emulates the runtime
/// entry points on the way.
fn drive<'c, 'p, 'a>(
    ctx: &'c Ctx<'p, 'a>,
    machine: &mut M<'_, 'c, 'p, 'a>,
    mut tracker: Tracker<'c, 'p, 'a>,
) -> Result<(Tracker<'c, 'p, 'a>, Outcome), twixt_emu::EmuError> {
    loop {
        let (mut t, exit) = machine.run(tracker, 0);
        let pc = match exit {
            Exit::Fault(reason) => return Ok((t, Outcome::Faulted { reason })),
            Exit::Paused(pc) => pc,
        };
        match t.stop.take() {
            Some(Stop::Returned) => {
                let r = machine.regs();
                let results = r.x[..4].iter().map(|v| format!("{v:#x}")).collect();
                let float_results = r.d[..2].iter().map(|v| format!("{v:#x}")).collect();
                return Ok((
                    t,
                    Outcome::Returned {
                        results,
                        float_results,
                    },
                ));
            }
            Some(Stop::Budget(reason)) => {
                return Ok((
                    t,
                    Outcome::Unanalysed {
                        reason: format!("budget: {reason}"),
                    },
                ));
            }
            Some(Stop::Inject(k)) => {
                t.stop = Some(Stop::Inject(k));
                return Ok((
                    t,
                    Outcome::Unanalysed {
                        reason: format!("inject {k}"),
                    },
                ));
            }
            Some(Stop::Converge(k)) => {
                t.stop = Some(Stop::Converge(k));
                return Ok((
                    t,
                    Outcome::Unanalysed {
                        reason: format!("converge {k}"),
                    },
                ));
            }
            Some(Stop::Runtime(action, entry)) => {
                if let Some(o) = emulate(ctx, machine, &mut t.env, action, entry)? {
                    return Ok((t, o));
                }
            }
            None => {
                return Ok((
                    t,
                    Outcome::Unanalysed {
                        reason: format!("the emulator paused at {pc:#x} for no reason"),
                    },
                ));
            }
        }
        tracker = t;
    }
}

/// Emulates one runtime entry point; `Some(outcome)` ends the call.
fn emulate<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &mut Machine<'_, S>,
    env: &mut Env,
    action: Action,
    entry: u64,
) -> Result<Option<Outcome>, twixt_emu::EmuError> {
    let name = ctx
        .prog
        .func_at(entry)
        .map_or_else(|| format!("{entry:#x}"), |f| f.info.name.to_string());
    let mut r = machine.regs();
    let lr = r.x[30];
    let from = ctx.symbolize(lr.wrapping_sub(4));
    let ret = |machine: &mut Machine<'_, S>, r: &mut Regs| -> Result<Option<Outcome>, _> {
        r.pc = lr;
        machine.set_regs(r)?;
        Ok(None)
    };
    match action {
        Action::Panic => Ok(Some(Outcome::Panicked {
            function: name,
            from,
        })),
        Action::Morestack => unanalysed(format!(
            "calls {name} from {from}: the stack check failed although g.stackguard0 is low"
        )),
        Action::WriteBarrier => unanalysed(format!(
            "calls {name} from {from}: a write barrier although runtime.writeBarrier is 0"
        )),
        Action::Unsupported => unanalysed(format!("calls {name} (from {from})")),
        Action::Nanotime => {
            env.clock += 1;
            r.x[0] = 1_000_000_000 + env.clock * 1_000_000;
            ret(machine, &mut r)
        }
        Action::TimeNow => {
            env.clock += 1;
            r.x[0] = 1_700_000_000;
            r.x[1] = env.clock * 1_000_000;
            r.x[2] = 1_000_000_000 + env.clock * 1_000_000;
            ret(machine, &mut r)
        }
        Action::NewObject | Action::Malloc | Action::MakeSlice => {
            let reached = Reached { name, from };
            match emulate_alloc(ctx, machine, env, action, &reached, &mut r)? {
                Some(end) => Ok(Some(end)),
                None => ret(machine, &mut r),
            }
        }
        Action::GrowSlice => {
            let reached = Reached { name, from };
            match emulate_growslice(ctx, machine, env, &reached, &mut r)? {
                Some(end) => Ok(Some(end)),
                None => ret(machine, &mut r),
            }
        }
    }
}

/// A runtime entry point the call reached: its name and the caller's position.
struct Reached {
    name: String,
    from: String,
}

/// Ends the call as unanalysed for `reason`.
fn unanalysed(reason: String) -> Result<Option<Outcome>, twixt_emu::EmuError> {
    Ok(Some(Outcome::Unanalysed { reason }))
}

/// `runtime.newobject`, `mallocgc` or `makeslice`: allocates from the harness heap and sets
/// the result in `r`; `Some(outcome)` ends the call instead.
fn emulate_alloc<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &mut Machine<'_, S>,
    env: &mut Env,
    action: Action,
    reached: &Reached,
    r: &mut Regs,
) -> Result<Option<Outcome>, twixt_emu::EmuError> {
    let Reached { name, from } = reached;
    let size = match action {
        Action::NewObject => match machine.read_u64(r.x[0]) {
            Some(s) => s,
            None => return unanalysed(format!("calls {name} with an unreadable type")),
        },
        Action::Malloc => r.x[0],
        _ => {
            let elem = machine.read_u64(r.x[0]).unwrap_or(u64::MAX);
            let (len, cap) = (r.x[1] as i64, r.x[2] as i64);
            match elem.checked_mul(cap as u64) {
                Some(m) if len >= 0 && len <= cap && m <= 1 << 30 => m,
                _ => {
                    return Ok(Some(Outcome::Panicked {
                        function: "runtime.panicmakeslicelen".into(),
                        from: from.clone(),
                    }));
                }
            }
        }
    };
    if size > 1 << 30 {
        return unanalysed(format!("calls {name} for {size} bytes"));
    }
    let p = if size == 0 {
        ctx.zerobase.unwrap_or_else(|| alloc(machine, env, 1))
    } else {
        alloc(machine, env, size)
    };
    if p == 0 {
        return unanalysed(format!("calls {name}: the harness heap is exhausted"));
    }
    r.x[0] = p;
    Ok(None)
}

/// `runtime.growslice`: allocates the grown array (rounded up to a size class as the
/// runtime does, which decides the new capacity), copies the old elements and sets the
/// results in `r`; `Some(outcome)` ends the call instead.
fn emulate_growslice<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &mut Machine<'_, S>,
    env: &mut Env,
    reached: &Reached,
    r: &mut Regs,
) -> Result<Option<Outcome>, twixt_emu::EmuError> {
    let Reached { name, from } = reached;
    let (old_ptr, new_len, old_cap, num, et) =
        (r.x[0], r.x[1] as i64, r.x[2] as i64, r.x[3] as i64, r.x[4]);
    let (Some(size), Some(ptrbytes)) = (machine.read_u64(et), machine.read_u64(et.wrapping_add(8)))
    else {
        return unanalysed(format!("calls {name} with an unreadable element type"));
    };
    let old_len = new_len.wrapping_sub(num);
    if new_len < 0 || old_len < 0 {
        return Ok(Some(Outcome::Panicked {
            function: "runtime.panicmakeslicelen".into(),
            from: from.clone(),
        }));
    }
    let mut cap = runtime::next_slice_cap(new_len, old_cap);
    let mut bytes = 0u64;
    if size > 0 {
        let Some(mem) = (cap as u64).checked_mul(size) else {
            return unanalysed(format!("calls {name}: capacity overflows"));
        };
        let rounded = runtime::round_up_size(mem, ptrbytes == 0, ctx.version.minor >= 22);
        cap = (rounded / size) as i64;
        bytes = rounded;
    }
    if bytes > 1 << 30 {
        return unanalysed(format!("calls {name} for {bytes} bytes"));
    }
    let p = if bytes == 0 {
        ctx.zerobase.unwrap_or(0)
    } else {
        alloc(machine, env, bytes)
    };
    if bytes > 0 && p == 0 {
        return unanalysed(format!("calls {name}: the harness heap is exhausted"));
    }
    let copy = (old_len as u64).saturating_mul(size);
    if copy > 0 {
        let Some(old) = machine.read(old_ptr, copy as usize) else {
            return unanalysed(format!("calls {name} with an unreadable old array"));
        };
        machine.write(p, &old)?;
    }
    r.x[0] = p;
    r.x[1] = new_len as u64;
    r.x[2] = cap as u64;
    Ok(None)
}

/// Where the stack the end comparison reads begins: the page of the call's root frame. The
/// stack below it is dead at the end (`converge` relies on that too).
fn live_stack(ctx: &Ctx<'_, '_>) -> u64 {
    ctx.top_sp & !0xfff
}

fn end_state<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &Machine<'_, S>,
    outcome: Outcome,
) -> EndState {
    let layout = machine.layout();
    let live_stack = live_stack(ctx);
    let mut pages = BTreeMap::new();
    for p in machine.written_pages() {
        if p >= layout.stack_lo && p < live_stack {
            continue;
        }
        if let Some(b) = machine.read(p, 0x1000) {
            pages.insert(p, b);
        }
    }
    EndState {
        outcome,
        regs: machine.regs(),
        pages,
    }
}

/// Pass 2: re-runs the call and injects a preemption at each candidate.
#[allow(clippy::too_many_arguments)]
fn inject_pass<'c, 'p, 'a>(
    ctx: &'c Ctx<'p, 'a>,
    machine: &mut M<'_, 'c, 'p, 'a>,
    root: Shadow,
    env: Env,
    candidates: &[(u64, Candidate)],
    baseline: &EndState,
    options: &RunOptions,
    deadline: Instant,
    start: &Snapshot,
    conv: Option<Rc<Convergence>>,
) -> Result<InjectReport, twixt_emu::EmuError> {
    let mut report = InjectReport::default();
    let mut tracker = Tracker {
        ctx,
        mode: StepMode::Count,
        shadow: vec![root],
        pending: None,
        count: 0,
        budget: options.max_instructions,
        deadline: deadline.max(Instant::now() + options.time_limit),
        stop: None,
        skip_once: false,
        env,
        max_depth: 0,
        inject_at: candidates
            .iter()
            .enumerate()
            .map(|(i, (count, _))| (*count, i))
            .collect(),
        last_opaque: None,
        probe: None,
        prev_pc: 0,
        next_loop_checkpoint: 0,
        checks: None,
    };
    loop {
        let (mut t, outcome) = drive(ctx, machine, tracker)?;
        let Some(Stop::Inject(k)) = t.stop.take() else {
            if !matches!(outcome, Outcome::Returned { .. }) {
                // The re-run did not reach every candidate: say so, never a silent pass.
                report.incomplete = Some(format!(
                    "the re-run stopped after {} of {} injections: {}",
                    report.injected + report.classification.len() + report.unanalysed.len(),
                    candidates.len(),
                    outcome.describe()
                ));
            }
            break;
        };
        let Some((_, cand)) = candidates.get(k) else {
            break;
        };
        let inj = inject_one(ctx, machine, &t, cand, baseline, start, conv.as_ref())?;
        if inj
            .outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("unanalysed"))
        {
            // The resumed run hit a budget or an unemulated call: no verdict either way.
            report.unanalysed.push(inj);
        } else if cand.refused.is_none() {
            report.injected += 1;
            if inj.clobbered() {
                report.clobbers.push(inj);
            } else if inj.unwind.is_some() {
                report.unwind_breaks.push(inj);
            }
        } else {
            report.classification.push(Classification {
                class: if inj.broke() { "needed" } else { "not-needed" }.into(),
                injection: inj,
            });
        }
        t.skip_once = true;
        tracker = t;
    }
    Ok(report)
}

/// One injected preemption at the current (paused) boundary, run to the end and compared;
/// the state is restored afterwards.
fn inject_one<'c, 'p, 'a>(
    ctx: &'c Ctx<'p, 'a>,
    machine: &mut M<'_, 'c, 'p, 'a>,
    tracker: &Tracker<'c, 'p, 'a>,
    cand: &Candidate,
    baseline: &EndState,
    start_snap: &Snapshot,
    conv: Option<&Rc<Convergence>>,
) -> Result<Injection, twixt_emu::EmuError> {
    let snap = machine.snapshot();
    let r = machine.regs();
    let sp = r.sp;
    let stack_low = machine.stack_low();
    let call = write_preemption(ctx, machine, &r, cand.resume_pc)?;
    let ap_sp = call.ap_sp;
    // The goroutine is stopped in asyncPreempt2: the GC scans its stack strictly.
    let truth = ctx.truth(cand.resume_pc, sp, &cand.shadow);
    let unwind_verdict = judge_stopped(ctx, machine, call.start, &truth);
    let back = async_preempt_return(machine, &r, ap_sp, ctx.ap.frame_size);
    // While stopped, the stack may be copied or reused: only frames survive. The word at
    // SP-8 is the interrupted frame's record (Go's arm64 layout keeps the saved R29 there);
    // pushCall leaves it alone on purpose and a stack copy moves it with asyncPreempt's
    // frame, so it survives. Everything lower is destroyed.
    let lo = (stack_low.min(ap_sp.wrapping_sub(16)) & !7).max(machine.layout().stack_lo);
    let hi = sp.wrapping_sub(8);
    machine.poison(lo, hi)?;
    machine.set_regs(&back)?;
    machine.watch_poison_reads(lo, hi)?;
    let probe = conv.map(|conv| Probe {
        conv: Rc::clone(conv),
        fork: Fork {
            count: tracker.count,
            log_pos: cand.log_pos,
        },
    });
    let resumed = resume(ctx, machine, tracker.resumed(probe), &snap)?;
    let mut reads = machine.unwatch();
    let (outcome_diff, changes) = match resumed {
        Resumed::Converged(k, conv) => {
            // The rest is the reference's (module `converge`): the same outcome, registers
            // and memory outside the dead stack, so no difference; the watch would have seen
            // the reference's poison loads of the rest (it keeps the first 256), and the
            // rest's stores would have lowered the stack low-water mark (later injections
            // poison from it). The pages the rest would have added to the written set are
            // pages the reference wrote: in the baseline already or dead stack, so later
            // comparisons read the same pages either way.
            reads.extend(conv.rest_poison_reads(k, lo, hi));
            reads.truncate(256);
            if let Some(low) = conv.rest_stack_low(k) {
                machine.note_stack_low(low);
            }
            (None, Vec::new())
        }
        Resumed::Ended(outcome) => compare_ends(ctx, machine, outcome, baseline, start_snap, sp),
    };
    let clobbered = clobbered_slots(ctx, machine, &snap, reads, sp);
    machine.restore(&snap)?;
    Ok(Injection {
        at: ctx.symbolize(cand.pc),
        pc: format!("{:#x}", cand.pc),
        instruction: ctx.prog.disassemble(cand.pc),
        depth: cand.depth,
        resume_pc: (cand.resume_pc != cand.pc).then(|| format!("{:#x}", cand.resume_pc)),
        refused: cand.refused.clone(),
        unwind: unwind_verdict,
        outcome: outcome_diff,
        clobbered_slots: clobbered,
        changes,
    })
}

/// Writes pushCall and asyncPreempt's prologue, as the model writes them, then its register
/// saves from `r` (twixt_unwind::preempt: the one description of both).
fn write_preemption<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &mut Machine<'_, S>,
    r: &Regs,
    resume_pc: u64,
) -> Result<twixt_unwind::preempt::PushedCall, twixt_emu::EmuError> {
    let (sp, lr, r29) = (r.sp, r.x[30], r.x[29]);
    let call = push_call(
        Arch::Arm64,
        ctx.version,
        Interrupted { sp, lr, r29 },
        resume_pc,
        ctx.ap,
    );
    for &(addr, value) in &call.writes {
        machine.write_u64(addr, value)?;
    }
    let ap_sp = call.ap_sp;
    let area = SaveArea {
        frame_size: ctx.ap.frame_size,
    };
    for (i, &n) in SaveArea::GPRS.iter().enumerate() {
        machine.write_u64(
            ap_sp.wrapping_add(SaveArea::gpr_slot(i)),
            r.x[usize::from(n)],
        )?;
    }
    machine.write_u64(ap_sp.wrapping_add(SaveArea::NZCV), r.nzcv)?;
    machine.write_u64(ap_sp.wrapping_add(SaveArea::FPSR), 0)?;
    if area.fp_in_frame() {
        for (i, d) in r.d.iter().enumerate() {
            machine.write_u64(ap_sp.wrapping_add(SaveArea::d_slot(i)), *d)?;
        }
    }
    Ok(call)
}

/// The strict (GC) walk of the stopped goroutine from `start` judged against `truth`:
/// `None` when it is right, else what goes wrong.
fn judge_stopped<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &Machine<'_, S>,
    start: twixt_unwind::go::Start,
    truth: &[TrueFrame],
) -> Option<String> {
    let mem = MachineMem(machine);
    let tb = unwind(ctx.prog, &mem, start, ctx.walk(Mode::Strict));
    let j = judge(&tb, 1, truth);
    (j.verdict != Verdict::Ok).then(|| {
        let culprit = j.culprit.as_ref().map_or_else(String::new, |c| {
            format!(
                ": in {} it reads the return PC {}",
                ctx.symbolize(c.pc),
                ctx.symbolize(c.lr)
            )
        });
        format!("{}{} ({})", j.verdict.name(), culprit, j.outcome.describe())
    })
}

/// asyncPreempt's epilogue: the registers `r` had, reloaded from its frame at `ap_sp`
/// (`frame` bytes), with R27 = the resume PC.
fn async_preempt_return<S: Stepper>(
    machine: &Machine<'_, S>,
    r: &Regs,
    ap_sp: u64,
    frame: u64,
) -> Regs {
    let area = SaveArea { frame_size: frame };
    let mut back = r.clone();
    for (i, &n) in SaveArea::GPRS.iter().enumerate() {
        back.x[usize::from(n)] = machine
            .read_u64(ap_sp.wrapping_add(SaveArea::gpr_slot(i)))
            .unwrap_or(0);
    }
    back.nzcv = machine
        .read_u64(ap_sp.wrapping_add(SaveArea::NZCV))
        .unwrap_or(0);
    if area.fp_in_frame() {
        for (i, d) in back.d.iter_mut().enumerate() {
            *d = machine
                .read_u64(ap_sp.wrapping_add(SaveArea::d_slot(i)))
                .unwrap_or(0);
        }
    }
    back.x[30] = machine.read_u64(ap_sp.wrapping_add(frame)).unwrap_or(0);
    back.x[29] = machine.read_u64(ap_sp.wrapping_sub(8)).unwrap_or(0);
    back.x[27] = machine.read_u64(ap_sp).unwrap_or(0);
    back.sp = ap_sp.wrapping_add(frame).wrapping_add(16);
    back.pc = back.x[27];
    back
}

impl<'c, 'p, 'a> Tracker<'c, 'p, 'a> {
    /// A copy of this paused tracker for the run resumed after an injection: it only
    /// follows calls (and with `probe`, tests for convergence), with a time limit of its own.
    fn resumed(&self, probe: Option<Probe>) -> Tracker<'c, 'p, 'a> {
        let mut cont = self.clone();
        cont.mode = StepMode::Plain;
        cont.checks = None;
        cont.stop = None;
        cont.skip_once = false;
        cont.deadline = Instant::now() + self.ctx.time_limit;
        cont.probe = probe;
        cont
    }
}

/// How a run resumed after an injection ended.
enum Resumed {
    /// It ran to this outcome.
    Ended(Outcome),
    /// It reached checkpoint k of this convergence in the reference's state and was
    /// stopped there.
    Converged(usize, Rc<Convergence>),
}

/// Runs the resumed `tracker` to the end of the call, or until it converges with the
/// reference (`snap`: the snapshot taken at the injection).
fn resume<'c, 'p, 'a>(
    ctx: &'c Ctx<'p, 'a>,
    machine: &mut M<'_, 'c, 'p, 'a>,
    mut tracker: Tracker<'c, 'p, 'a>,
    snap: &Snapshot,
) -> Result<Resumed, twixt_emu::EmuError> {
    loop {
        let (mut t, outcome) = drive(ctx, machine, tracker)?;
        let Some(Stop::Converge(k)) = t.stop.take() else {
            return Ok(Resumed::Ended(outcome));
        };
        if let Some(p) = &t.probe
            && p.conv.converged(machine, k, &p.fork, snap)
        {
            tracing::debug!(checkpoint = k, at = t.count, "injected run converged");
            return Ok(Resumed::Converged(k, Rc::clone(&p.conv)));
        }
        tracing::debug!(checkpoint = k, at = t.count, "injected run not converged");
        // Not the reference's state after all: execute the paused instruction (already
        // counted) and go on.
        t.skip_once = true;
        tracker = t;
    }
}

/// The injected run's end (`outcome`, and the machine's registers and memory) against the
/// uninterrupted `baseline`: the outcome's difference, else the registers and memory words
/// that differ.
fn compare_ends<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &Machine<'_, S>,
    outcome: Outcome,
    baseline: &EndState,
    start: &Snapshot,
    sp: u64,
) -> (Option<String>, Vec<Change>) {
    let after = end_state(ctx, machine, outcome);
    let outcome_diff = (after.outcome != baseline.outcome).then(|| {
        format!(
            "{} (uninterrupted: {})",
            after.outcome.describe(),
            baseline.outcome.describe()
        )
    });
    let mut changes = Vec::new();
    if outcome_diff.is_none() {
        changes = register_changes(&baseline.regs, &after.regs);
        let ends = Ends {
            baseline,
            after: &after,
            start,
        };
        page_changes(ctx, machine, &ends, sp, &mut changes);
    }
    (outcome_diff, changes)
}

/// The poisoned stack words the resumed run read (`reads`: PC, address, size), first read
/// of each address only, with what they held at the snapshot `snap` before the injection.
fn clobbered_slots<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &Machine<'_, S>,
    snap: &Snapshot,
    reads: Vec<(u64, u64, usize)>,
    sp: u64,
) -> Vec<Change> {
    let mut clobbered = Vec::new();
    let mut seen = BTreeSet::new();
    for (pc, addr, size) in reads {
        if !seen.insert(addr) {
            continue;
        }
        let before = machine
            .journal_bytes(snap, addr, size)
            .map(|b| hex_le(&b))
            .unwrap_or_else(|| "?".into());
        clobbered.push(Change {
            location: sp_rel(addr, sp),
            before,
            after: format!("poison (0x{:02x} bytes)", machine.poison_byte()),
            read_by: Some(ctx.symbolize(pc)),
        });
    }
    clobbered
}

/// The registers compared at the end of a call (X0-X15, X28, X29, D0-D15 and SP) that
/// differ between the uninterrupted end state `a` and the injected one `b`.
fn register_changes(a: &Regs, b: &Regs) -> Vec<Change> {
    let mut changes = Vec::new();
    for n in (0..16).chain([28, 29]) {
        if a.x[n] != b.x[n] {
            changes.push(Change {
                location: format!("x{n}"),
                before: format!("{:#x}", a.x[n]),
                after: format!("{:#x}", b.x[n]),
                read_by: None,
            });
        }
    }
    for n in 0..16 {
        if a.d[n] != b.d[n] {
            changes.push(Change {
                location: format!("d{n}"),
                before: format!("{:#x}", a.d[n]),
                after: format!("{:#x}", b.d[n]),
                read_by: None,
            });
        }
    }
    if a.sp != b.sp {
        changes.push(Change {
            location: "sp".into(),
            before: format!("{:#x}", a.sp),
            after: format!("{:#x}", b.sp),
            read_by: None,
        });
    }
    changes
}

/// The end states an injection compares.
struct Ends<'s> {
    /// The uninterrupted run's.
    baseline: &'s EndState,
    /// The injected run's.
    after: &'s EndState,
    /// The call's start: what a page the uninterrupted run never wrote held.
    start: &'s Snapshot,
}

/// Appends the 8-byte words of memory that differ between the two end states to
/// `changes`, in address order, until it holds 32.
fn page_changes<S: Stepper>(
    ctx: &Ctx<'_, '_>,
    machine: &Machine<'_, S>,
    ends: &Ends<'_>,
    sp: u64,
    changes: &mut Vec<Change>,
) {
    let Ends {
        baseline,
        after,
        start,
    } = ends;
    let pages: BTreeSet<u64> = baseline
        .pages
        .keys()
        .chain(after.pages.keys())
        .copied()
        .collect();
    for p in pages {
        let old = match baseline.pages.get(&p) {
            Some(b) => b.clone(),
            None => machine
                .journal_bytes(start, p, 0x1000)
                .unwrap_or_else(|| vec![0; 0x1000]),
        };
        let new = match after.pages.get(&p) {
            Some(b) => b.clone(),
            None => machine.read(p, 0x1000).unwrap_or_default(),
        };
        for (i, (o, n)) in old.chunks(8).zip(new.chunks(8)).enumerate() {
            if o != n {
                let addr = p + 8 * i as u64;
                changes.push(Change {
                    location: describe_addr(ctx, machine.layout(), machine.heap().0, addr, sp),
                    before: hex_le(o),
                    after: hex_le(n),
                    read_by: None,
                });
                if changes.len() >= 32 {
                    return;
                }
            }
        }
    }
}

fn hex_le(b: &[u8]) -> String {
    let mut v = 0u64;
    for (i, x) in b.iter().take(8).enumerate() {
        v |= u64::from(*x) << (8 * i);
    }
    format!("{v:#x}")
}

fn sp_rel(addr: u64, sp: u64) -> String {
    let d = (addr as i64).wrapping_sub(sp as i64);
    if d < 0 {
        format!("sp-{:#x}", d.unsigned_abs())
    } else {
        format!("sp+{d:#x}")
    }
}

fn describe_addr(ctx: &Ctx<'_, '_>, layout: &Layout, heap: u64, addr: u64, sp: u64) -> String {
    if addr >= layout.stack_lo && addr < layout.stack_hi {
        let _ = ctx;
        return format!("stack {}", sp_rel(addr, sp));
    }
    if addr >= heap {
        return format!("heap+{:#x}", addr - heap);
    }
    format!("{addr:#x}")
}
