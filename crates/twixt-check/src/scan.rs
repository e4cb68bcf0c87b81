//! `twixt scan`: every instruction boundary of every function, interrupted in the
//! emulator and judged by the model of Go's unwinder.
//!
//! For each region (see [`crate::plan`]) the harness starts from a state that agrees with
//! the metadata at the region's first PC: the caller's SP is a known value (`CSP`), SP is
//! `CSP - pcsp`, the saved return PC and R29 are planted where the frame keeps them, R30
//! holds the return PC, and the caller is a real function of the binary (one that calls
//! something, so its own frame is real) whose caller is `runtime.goexit`. That planted
//! chain is the truth. At every boundary the observer asks the runtime's questions: would
//! it preempt here (and resume where)? If so, it performs pushCall and walks the stack as a
//! GC scan would; if that walk disagrees with the truth, the boundary is a `preemptible`
//! window. Otherwise it walks the stack as a profiling signal would (innermost frame at the
//! interrupted PC); a disagreement there is a `signal-only` window.
//!
//! A second observer walks frame pointers at every boundary, as Go's execution tracer and
//! external profilers do ([`twixt_unwind::fp`]); its findings carry `unwinder: "fp"` and are
//! `preemptible` where the runtime would preempt (the tracer then walks through
//! asyncPreempt's frame into the interrupted R29), `signal-only` elsewhere.

use std::collections::BTreeMap;
use std::time::Instant;

use twixt_arm64::{Effects, Flow};
use twixt_emu::{Boundary, Harness, HookState, Layout, MapRange, Observer, RegionStart, RunEnd};
use twixt_unwind::boundary::{FpCheck, Interrupt, Rules, check_fp, check_go};
use twixt_unwind::fp::FpVerdict;
use twixt_unwind::preempt::{AsyncPreemptFrame, Decision, GoVersion, SafePointFacts, decide};
use twixt_unwind::verdict::{Judgement, TrueFrame, Verdict};
use twixt_unwind::{Arch, Memory};

use crate::finding::{
    BoundaryRecord, ContextLine, Finding, FpEvidence, FpWalkEvidence, FunctionStat,
    NOT_JUDGED_GO_NEVER_RUNS, NOT_JUDGED_OFF_STACK, ScanReport, Severity, Site, Summary,
    Unanalysed, WalkRecord, WalkVerdict,
};
use crate::plan::{Callees, EntryState, Region, Sp, Val, region_states, regions, switched_at};
use crate::program::{FuncMeta, GoProgram, run_at};

/// Receives each finding as it is made, with the time since the scan started.
pub type FindingCallback<'a> = dyn Fn(&Finding, std::time::Duration) + Sync + 'a;

/// Receives what the checker saw and decided at every boundary (in region order).
pub type BoundaryCallback<'a> = dyn Fn(&BoundaryRecord) + Sync + 'a;

/// What to scan and report.
#[derive(Default)]
pub struct ScanOptions<'f> {
    /// Only functions whose name this accepts.
    pub filter: Option<&'f (dyn Fn(&str) -> bool + Sync)>,
    /// Only findings of this severity.
    pub severity: Option<Severity>,
    /// Called for every finding as soon as it is made (before sorting), with the time since
    /// the scan started: for measuring time to first finding.
    pub on_finding: Option<&'f FindingCallback<'f>>,
    /// Called when a function is finished, with its findings (complete, with context) and
    /// the number of functions done and in all: for streaming output and progress.
    pub on_function: Option<&'f FunctionCallback<'f>>,
    /// Worker threads, each with its own emulator (0 or 1: one).
    pub jobs: usize,
    /// `(k, n)`: scan only functions whose functab index is `k` modulo `n` (0-based `k`), so
    /// that a sweep can be split across machines and the reports concatenated.
    pub shard: Option<(usize, usize)>,
    /// Called at every boundary with everything the checker saw there (costly: for
    /// per-boundary views of a few functions, such as `twixt explain`).
    pub on_boundary: Option<&'f BoundaryCallback<'f>>,
    /// Judge every boundary afresh, even where nothing the walks read has changed since the
    /// previous one (for tests: the report must be the same either way).
    pub judge_every_boundary: bool,
}

/// Receives each finished function's measurements and findings, the count of functions
/// done and the total.
pub type FunctionCallback<'a> = dyn Fn(&FunctionStat, &[Finding], usize, usize) + Sync + 'a;

/// Why a scan could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The model needs a runtime function the binary does not have.
    #[error("{binary}: no {what}: cannot model preemption in this binary")]
    MissingRuntime {
        /// The binary.
        binary: String,
        /// What is missing.
        what: String,
    },
    /// A worker thread died (a bug: twixt never panics on input by design).
    #[error("{binary}: a scan worker thread panicked")]
    Worker {
        /// The binary.
        binary: String,
    },
    /// The emulator could not be set up.
    #[error("{binary}: {source}")]
    Emulator {
        /// The binary.
        binary: String,
        /// Unicorn's complaint.
        source: twixt_emu::EmuError,
    },
}

/// Number of instructions shown on each side of a finding.
const CONTEXT: usize = 3;

/// The planted call chain every region starts under.
#[derive(Clone, Copy, Debug)]
struct Chain {
    /// The goroutine's stktopsp: goexit's frame.
    top_sp: u64,
    /// `runtime.goexit + 4`, the return PC of the goroutine's root function.
    goexit_ret: u64,
    /// The caller's SP.
    csp: u64,
    /// The return PC into the caller.
    ret_pc: u64,
}

/// Per-function tables the observer consults at each boundary.
struct FuncTables {
    meta: FuncMeta,
    /// pcsp per instruction.
    pcsp: Vec<Option<u64>>,
    /// UnsafePoint value and the start of its run, per instruction.
    unsafe_point: Vec<(i32, u64)>,
    /// Index into `names` of the innermost function, per instruction.
    innermost: Vec<usize>,
    names: Vec<String>,
    /// Why Go's own unwinder never walks from this function's boundaries, if it does not.
    go_never_runs: Option<&'static str>,
    /// Per instruction: SP has been switched to a stack the planner cannot follow.
    switched: Vec<bool>,
}

struct ScanObserver<'p, 'a> {
    prog: &'p GoProgram<'a>,
    /// `[lo, hi]` of the goroutine stack: where the planted call chain describes SP.
    goroutine_stack: (u64, u64),
    /// Boundaries of the current function a walk was not judged at, per reason.
    not_judged: BTreeMap<&'static str, usize>,
    /// The last boundary both walks judged right, while nothing they read has changed.
    right: Option<JudgedRight>,
    /// Never reuse a judgement (`ScanOptions::judge_every_boundary`, or per-boundary
    /// records wanted).
    judge_every_boundary: bool,
    version: GoVersion,
    ap: AsyncPreemptFrame,
    chain: Chain,
    func: Option<FuncTables>,
    /// Observed SP per instruction of the current function.
    observed: Vec<Option<u64>>,
    findings: Vec<(Finding, usize)>,
    boundaries: usize,
    /// Whether the current region started where pcsp is 0 (before the prologue).
    region_from_zero: bool,
    /// Where the current region started with the return PC saved on the stack.
    region_ret_slot: Option<u64>,
    /// Largest `caller SP - SP` seen in such regions: the frame the prologue really
    /// establishes when executed, to compare with the pcsp maximum.
    established: u64,
    /// The SP the current function's pcsp values are relative to.
    fn_csp: u64,
    started: Instant,
    on_finding: Option<&'p FindingCallback<'p>>,
    on_boundary: Option<&'p BoundaryCallback<'p>>,
}

/// What the observers decided at one boundary.
struct Judged {
    go: Option<Finding>,
    fp: Option<Finding>,
    record: Option<BoundaryRecord>,
    /// Why a walk was not judged here.
    not_judged: Option<&'static str>,
}

/// The walk record of a boundary a walk is not judged at.
fn not_judged_record(reason: &str) -> WalkRecord {
    WalkRecord {
        verdict: WalkVerdict::NotJudged,
        severity: None,
        slot: None,
        read: None,
        read_symbol: None,
        computed_caller_sp: None,
        outcome: reason.into(),
    }
}

/// Reads emulator memory at a boundary, and remembers which words the walks read.
struct BoundaryMemory<'b, 'u, 'e, D> {
    b: &'b Boundary<'u, 'e, D>,
    reads: std::cell::RefCell<Vec<u64>>,
}

impl<'b, 'u, 'e, D> BoundaryMemory<'b, 'u, 'e, D> {
    fn new(b: &'b Boundary<'u, 'e, D>) -> Self {
        BoundaryMemory {
            b,
            reads: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl<D> Memory for BoundaryMemory<'_, '_, '_, D> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.reads.borrow_mut().push(addr);
        self.b.read_u64(addr)
    }
}

/// Everything the verdicts at a boundary depend on besides memory: where the registers
/// point, what the metadata says at the PC, and where the runtime would resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct JudgeKey {
    /// SP was switched to a stack the planner cannot follow (the boundary is not judged).
    switched: bool,
    sp: u64,
    r29: u64,
    lr: u64,
    pcsp: Option<u64>,
    /// `None` where the runtime would not preempt; else whether it resumes at the PC
    /// itself, or the restart PC and its pcsp.
    resume: Option<Resume>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resume {
    AtPc,
    At { pc: u64, pcsp: Option<u64> },
}

/// The last boundary judged right by both walks, and the words they read there: until SP,
/// R29, R30, the metadata or one of those words changes, the next boundaries are right too.
struct JudgedRight {
    key: JudgeKey,
    reads: Vec<u64>,
}

impl Observer for ScanObserver<'_, '_> {
    fn boundary(&mut self, b: &Boundary<'_, '_, HookState<Self>>) -> bool {
        let Some(ft) = &self.func else { return false };
        let index = ((b.pc - ft.meta.info.entry) / 4) as usize;
        self.boundaries += 1;
        if let Some(slot) = self.observed.get_mut(index) {
            *slot = Some(b.sp);
        }
        if self.region_from_zero && b.sp <= self.fn_csp {
            self.established = self.established.max(self.fn_csp - b.sp);
        }
        if b.index == 0 {
            // A region starts from state of its own.
            self.right = None;
        }
        let (decision, up) = self.decision(ft, index, b.pc);
        if !self.judge_every_boundary
            && let Some(right) = &self.right
            && right.key == self.key(ft, index, b, &decision)
        {
            // Nothing either walk read has changed since a boundary both judged right.
            return true;
        }
        let (judged, right) = self.judge_boundary(ft, index, b, decision, up);
        self.right = right;
        if let Some(reason) = judged.not_judged {
            *self.not_judged.entry(reason).or_insert(0) += 1;
        }
        if let (Some(cb), Some(record)) = (self.on_boundary, &judged.record) {
            cb(record);
        }
        for finding in [judged.go, judged.fp].into_iter().flatten() {
            if let Some(cb) = self.on_finding {
                cb(&finding, self.started.elapsed());
            }
            self.findings.push((finding, index));
        }
        true
    }

    fn stored(&mut self, addr: u64, end: u64) {
        self.stored_into_reads(addr, end);
    }
}

impl<'p, 'a> ScanObserver<'p, 'a> {
    fn stored_into_reads(&mut self, addr: u64, end: u64) {
        if let Some(j) = &self.right
            && j.reads
                .iter()
                .any(|&r| r < end && addr < r.saturating_add(8))
        {
            self.right = None;
        }
    }

    fn truth(&self, ft: &FuncTables, pc: u64, sp: u64) -> Vec<TrueFrame> {
        let first = TrueFrame { pc, sp };
        if ft.meta.info.top_frame {
            return vec![first];
        }
        vec![
            first,
            // For functions the runtime enters through an injected call (asyncPreempt,
            // sigpanic), the caller's SP is 16 bytes above what their pcsp reaches: the
            // slot pushCall made for the interrupted LR. region_start plants it so.
            TrueFrame {
                pc: self.chain.ret_pc,
                sp: self.chain.csp,
            },
            TrueFrame {
                pc: self.chain.goexit_ret,
                sp: self.chain.top_sp,
            },
        ]
    }

    /// Where the runtime would stop at the boundary at `index` and resume (the static part
    /// of `isAsyncSafePoint`).
    fn decision(&self, ft: &FuncTables, index: usize, pc: u64) -> (Decision, i32) {
        let (up, run_start) = ft.unsafe_point.get(index).copied().unwrap_or((-1, pc));
        let facts = SafePointFacts {
            entry: ft.meta.info.entry,
            unsafe_point: up,
            run_start,
            has_locals_pointer_maps: ft.meta.has_locals_pointer_maps,
            asm: ft.meta.asm,
            innermost_name: ft
                .innermost
                .get(index)
                .and_then(|&i| ft.names.get(i))
                .map_or(&*ft.meta.info.name, String::as_str),
        };
        (decide(self.version, pc, &facts), up)
    }

    /// What the verdicts at this boundary depend on besides memory.
    fn key<D>(
        &self,
        ft: &FuncTables,
        index: usize,
        b: &Boundary<'_, '_, D>,
        decision: &Decision,
    ) -> JudgeKey {
        let pcsp_at = |pc: u64| {
            let i = pc.wrapping_sub(ft.meta.info.entry) / 4;
            ft.pcsp.get(i as usize).copied().flatten()
        };
        JudgeKey {
            switched: ft.switched.get(index).copied().unwrap_or(false),
            sp: b.sp,
            r29: b.fp,
            lr: b.lr,
            pcsp: ft.pcsp.get(index).copied().flatten(),
            resume: match *decision {
                Decision::Refuse(_) => None,
                Decision::Preempt { resume_pc } if resume_pc == b.pc => Some(Resume::AtPc),
                Decision::Preempt { resume_pc } => Some(Resume::At {
                    pc: resume_pc,
                    pcsp: pcsp_at(resume_pc),
                }),
            },
        }
    }

    /// Judges a boundary; also returns, when both walks were judged right, what the
    /// verdicts depended on (for [`JudgedRight`]).
    fn judge_boundary<D>(
        &self,
        ft: &FuncTables,
        index: usize,
        b: &Boundary<'_, '_, D>,
        decision: Decision,
        up: i32,
    ) -> (Judged, Option<JudgedRight>) {
        let (lo, hi) = self.goroutine_stack;
        let off_stack =
            !(lo..=hi).contains(&b.sp) || ft.switched.get(index).copied().unwrap_or(false);
        let (go_skip, fp_skip) = if off_stack {
            let why = "SP is off the goroutine stack, or was switched to a stack the planner \
                       cannot follow (runtime assembly switching to the system stack): the \
                       call chain the harness planted does not describe this stack";
            (Some(why), Some(why))
        } else {
            (ft.go_never_runs, None)
        };
        let not_judged = if off_stack {
            Some(NOT_JUDGED_OFF_STACK)
        } else {
            go_skip.map(|_| NOT_JUDGED_GO_NEVER_RUNS)
        };
        let key = self.key(ft, index, b, &decision);
        let mem = BoundaryMemory::new(b);
        let at = Interrupt {
            arch: Arch::Arm64,
            pc: b.pc,
            sp: b.sp,
            lr: b.lr,
            r29: b.fp,
        };
        let rules = Rules {
            version: self.version,
            async_preempt: self.ap,
            stktopsp: self.chain.top_sp,
            max_frames: 64,
        };
        let check = check_go(self.prog, &mem, &rules, at, decision, |pc| {
            self.truth(ft, pc, b.sp)
        });
        let resume_pc = check.resume_pc;
        let go_severity = if check.preemptible {
            Severity::Preemptible
        } else {
            Severity::SignalOnly
        };
        let go_record = self.on_boundary.is_some().then(|| match go_skip {
            Some(why) => not_judged_record(why),
            None => self.go_record(&check.traceback, check.skip, &check.judgement, go_severity),
        });
        let go = (go_skip.is_none() && !check.is_ok()).then(|| {
            let resume = resume_pc.filter(|&pc| check.preemptible && pc != b.pc);
            self.finding(ft, b, &check.judgement, go_severity, resume)
        });
        let severity = if resume_pc.is_some() {
            Severity::Preemptible
        } else {
            Severity::SignalOnly
        };
        let (fp, fp_record) = match fp_skip {
            Some(why) => (
                None,
                self.on_boundary.is_some().then(|| not_judged_record(why)),
            ),
            None => self.judge_frame_pointers(ft, &mem, severity, resume_pc),
        };
        let record = match (go_record, fp_record) {
            (Some(go_walk), Some(fp_walk)) => Some(BoundaryRecord {
                function: ft.meta.info.name.to_string(),
                pc: b.pc,
                offset: b.pc - ft.meta.info.entry,
                instruction: self.prog.disassemble(b.pc),
                caller_sp: self.fn_csp,
                sp: b.sp,
                r29: b.fp,
                lr: b.lr,
                pcsp: ft.pcsp.get(index).copied().flatten(),
                unsafe_point: up,
                resume_pc,
                true_return_pc: self.chain.ret_pc,
                true_return_slot: self.true_return_slot(ft, b),
                caller_r29: self.caller_r29(),
                go: go_walk,
                fp: fp_walk,
            }),
            _ => None,
        };
        let right = (go.is_none() && fp.is_none() && not_judged.is_none()).then(|| JudgedRight {
            key,
            reads: mem.reads.into_inner(),
        });
        let judged = Judged {
            go,
            fp,
            record,
            not_judged,
        };
        (judged, right)
    }

    /// The caller's R29 as planted: its frame record sits just below the caller's SP.
    fn caller_r29(&self) -> u64 {
        self.chain.csp - 8
    }

    /// Where the true return PC is saved: the frame's LR slot, once the prologue stored it.
    fn true_return_slot<D>(&self, ft: &FuncTables, b: &Boundary<'_, '_, D>) -> Option<u64> {
        let frame_size = ft.meta.frame_size();
        let holds_it = |slot: &u64| b.read_u64(*slot) == Some(self.chain.ret_pc);
        // Where the region started with it saved (the prologue's slot, carried), else where
        // the frame keeps it once the prologue of this region has stored it.
        // Failing both, the nearest word at or above SP that holds it (a frame the code
        // extended by hand keeps its record above SP).
        self.region_ret_slot
            .filter(holds_it)
            .or_else(|| {
                (frame_size > 0)
                    .then(|| self.fn_csp.wrapping_sub(frame_size))
                    .filter(holds_it)
            })
            .or_else(|| {
                (0..64)
                    .map(|i| b.sp.wrapping_add(8 * i))
                    .take_while(|&slot| slot < self.fn_csp)
                    .find(holds_it)
            })
    }

    /// The Go walk at a boundary, for per-boundary views: the interrupted function's frame
    /// (or the culprit when the walk went wrong).
    fn go_record(
        &self,
        tb: &twixt_unwind::go::Traceback,
        skip: usize,
        j: &Judgement,
        severity: Severity,
    ) -> WalkRecord {
        let frame = j.culprit.as_ref().or_else(|| tb.frames.get(skip));
        let read = frame.map(|f| f.lr).filter(|&lr| lr != 0);
        WalkRecord {
            verdict: crate::finding::go_walk_verdict(j.verdict),
            severity: (j.verdict != Verdict::Ok).then_some(severity),
            slot: frame.and_then(|f| f.lr_slot),
            read,
            read_symbol: read.map(|pc| self.symbolize(pc)),
            computed_caller_sp: frame.map(|f| f.fp),
            outcome: j.outcome.describe(),
        }
    }

    /// The frame-pointer observer: the tracer's and perf's walk from the interrupted R29.
    fn judge_frame_pointers<D>(
        &self,
        ft: &FuncTables,
        mem: &BoundaryMemory<'_, '_, '_, D>,
        severity: Severity,
        resume_pc: Option<u64>,
    ) -> (Option<Finding>, Option<WalkRecord>) {
        let b = mem.b;
        let want_record = self.on_boundary.is_some();
        if ft.meta.info.top_frame {
            // A top frame is where every walk ends; it has no caller to find.
            let record = want_record.then(|| WalkRecord {
                verdict: WalkVerdict::Ok,
                severity: None,
                slot: None,
                read: None,
                read_symbol: None,
                computed_caller_sp: None,
                outcome: "top frame: no caller to walk to".into(),
            });
            return (None, record);
        }
        let at = Interrupt {
            arch: Arch::Arm64,
            pc: b.pc,
            sp: b.sp,
            lr: b.lr,
            r29: b.fp,
        };
        // The planted chain's return PCs (`truth` above the innermost frame; top frames
        // returned early).
        let truth = [self.chain.ret_pc, self.chain.goexit_ret];
        let FpCheck {
            trace,
            judgement: j,
        } = check_fp(
            mem,
            at,
            severity == Severity::Preemptible,
            ft.meta.info.entry..ft.meta.end,
            &truth,
            self.caller_r29(),
            64,
        );
        let FpWalkEvidence {
            slot,
            read,
            outcome,
        } = FpWalkEvidence::of(&trace, &j, mem, b.sp, b.fp, |v| self.symbolize(v));
        let record = want_record.then(|| WalkRecord {
            verdict: crate::finding::fp_walk_verdict(j.verdict),
            severity: (j.verdict != FpVerdict::Ok).then_some(severity),
            slot,
            read,
            read_symbol: read.map(|v| self.symbolize(v)),
            computed_caller_sp: None,
            outcome: outcome.clone(),
        });
        if j.verdict == FpVerdict::Ok {
            return (None, record);
        }
        let finding = self.site(ft, b, severity).fp_finding(
            &j,
            FpEvidence {
                resume_pc: resume_pc.filter(|&pc| pc != b.pc),
                slot,
                read,
                expected_fallback: self.chain.ret_pc,
                true_return_slot: self.true_return_slot(ft, b),
                r29: b.fp,
                outcome,
            },
            |v| self.symbolize(v),
        );
        (Some(finding), record)
    }

    /// The site of a finding at this boundary.
    fn site<D>(&self, ft: &FuncTables, b: &Boundary<'_, '_, D>, severity: Severity) -> Site {
        Site::at(self.prog, &ft.meta, b.pc, b.sp, self.fn_csp, severity)
    }

    fn finding<D>(
        &self,
        ft: &FuncTables,
        b: &Boundary<'_, '_, D>,
        j: &Judgement,
        severity: Severity,
        resume_pc: Option<u64>,
    ) -> Finding {
        self.site(ft, b, severity).go_finding(
            j,
            resume_pc,
            self.chain.ret_pc,
            self.true_return_slot(ft, b),
            |pc| self.symbolize(pc),
        )
    }

    fn symbolize(&self, pc: u64) -> String {
        self.prog
            .symbol(pc)
            .unwrap_or_else(|| "in no function".into())
    }
}

/// Picks the planted caller: a real Go function with a call whose return PC lies inside
/// its frame. `main.main` when it qualifies, so that tracebacks read naturally.
fn pick_caller(prog: &GoProgram<'_>) -> Option<(u64, u64)> {
    let candidates = ["main.main", "runtime.main"]
        .iter()
        .filter_map(|n| prog.func_named(n))
        .chain(prog.funcs().iter());
    for f in candidates {
        if f.asm || f.info.top_frame || f.info.sp_write || f.error.is_some() {
            continue;
        }
        let mut pc = f.info.entry;
        while pc < f.code_end {
            // duffzero and duffcopy are entered with a record built for them below SP
            // (obj7.go), not as ordinary callees: their return PC is no caller's.
            if let Some(w) = prog.word(pc)
                && let Flow::Call { target } = twixt_arm64::classify(pc, w).flow
                && !prog
                    .func_at(target)
                    .is_some_and(|t| t.info.name.starts_with("runtime.duff"))
                && let Some(size) = f.pcsp_at(pc + 4)
                && size > 0
                && size < 0x10_0000
            {
                return Some((pc + 4, size));
            }
            pc += 4;
        }
    }
    None
}

/// Scans every function of `prog`.
pub fn scan(prog: &GoProgram<'_>, options: &ScanOptions<'_>) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let binary = prog.image().file_name().to_string();
    // The rules changed with versions: those of the release that linked the binary (or,
    // when only a range is known, of the earliest release in it).
    let version = prog.version();
    let (ap, chain, layout) = match model_setup(prog, &binary) {
        Ok(found) => found,
        // Damaged metadata may be why the runtime functions cannot be used: that costs
        // every function its analysis, but the run still completes and says why.
        Err(ScanError::MissingRuntime { what, .. }) if has_damage(prog) => {
            return Ok(unrunnable(prog, options, &what));
        }
        Err(e) => return Err(e),
    };
    let ranges = crate::emulator::ranges(prog);
    tracing::info!(
        binary = %binary,
        version = %version,
        caller = %prog.func_at(chain.ret_pc).map_or("?", |f| &*f.info.name),
        async_preempt_frame = ap.frame_size,
        scratch = format_args!("{:#x}", layout.scratch_pointer()),
        "scan set-up"
    );
    let order = scan_order(prog, options);
    // One Unicorn engine per worker thread; workers take functions from a shared counter.
    // Every region starts from restored memory, so the split does not change any result.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let returns = ReturnCache::default();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let setup = Setup {
        prog,
        version,
        ap,
        chain,
        layout,
        ranges: &ranges,
        started,
        options,
        order: &order,
        next: &next,
        returns: &returns,
        done: &done,
        binary: &binary,
    };
    let outcomes = run_workers(&setup)?;
    Ok(assemble(prog, options, binary, order.len(), outcomes))
}

/// What the model needs from the runtime: asyncPreempt's frame, and the planted chain (a
/// caller of the binary's own under `runtime.goexit`), with the emulator's layout.
fn model_setup(
    prog: &GoProgram<'_>,
    binary: &str,
) -> Result<(AsyncPreemptFrame, Chain, Layout), ScanError> {
    let missing = |what: &str| ScanError::MissingRuntime {
        binary: binary.to_string(),
        what: what.into(),
    };
    let ap = prog
        .async_preempt_frame()
        .ok_or_else(|| missing("runtime.asyncPreempt calling runtime.asyncPreempt2"))?;
    let goexit = prog
        .func_named("runtime.goexit")
        .ok_or_else(|| missing("runtime.goexit"))?;
    let (ret_pc, caller_frame) =
        pick_caller(prog).ok_or_else(|| missing("Go function that makes a call"))?;
    // Regions map the stack lazily, so it can be as deep as reflectcall's largest frame.
    let layout = crate::emulator::layout(prog).deep();
    let top_sp = layout.stack_hi - 0x1000;
    let chain = Chain {
        top_sp,
        goexit_ret: goexit.info.entry + 4,
        csp: top_sp - caller_frame,
        ret_pc,
    };
    Ok((ap, chain, layout))
}

/// The functions to scan, the program's own code first, then other user packages, then
/// the runtime: that is where compiler-generated windows matter most, and streaming
/// consumers see them soonest. The report is sorted by PC at the end regardless.
fn scan_order<'p>(prog: &'p GoProgram<'_>, options: &ScanOptions<'_>) -> Vec<&'p FuncMeta> {
    let mut order: Vec<&FuncMeta> = selected(prog, options).collect();
    order.sort_by_key(|f| {
        let rank = if f.info.name.starts_with("main.") {
            0
        } else if is_runtime(&f.info.name) {
            2
        } else {
            1
        };
        (rank, f.info.entry)
    });
    order
}

/// Runs the workers over `setup.order`; returns every function's outcome in that order.
fn run_workers(setup: &Setup<'_, '_, '_>) -> Result<Vec<FunctionOutcome>, ScanError> {
    let jobs = setup.options.jobs.max(1).min(setup.order.len().max(1));
    let results: Vec<Result<Vec<(usize, FunctionOutcome)>, ScanError>> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs).map(|_| scope.spawn(|| worker(setup))).collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(ScanError::Worker {
                            binary: setup.binary.to_string(),
                        })
                    })
                })
                .collect()
        });
    let mut outcomes: Vec<(usize, FunctionOutcome)> = Vec::with_capacity(setup.order.len());
    for r in results {
        outcomes.extend(r?);
    }
    outcomes.sort_by_key(|(i, _)| *i);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

/// The report from the functions' outcomes: findings by PC, the unanalysed (with the
/// records too damaged to name a function), and the counts.
fn assemble(
    prog: &GoProgram<'_>,
    options: &ScanOptions<'_>,
    binary: String,
    scanned: usize,
    outcomes: Vec<FunctionOutcome>,
) -> ScanReport {
    let mut unanalysed = broken_records(prog, options);
    let mut summary = Summary {
        functions: scanned + unanalysed.len(),
        ..Summary::default()
    };
    let mut findings = Vec::new();
    let mut stats = Vec::new();
    for outcome in outcomes {
        let f = outcome.stat.clone();
        match outcome.result {
            FunctionResult::Analysed { boundaries } => {
                summary.boundaries += boundaries;
                for (&reason, &n) in &f.not_judged {
                    *summary.not_judged.entry(reason.to_string()).or_insert(0) += n;
                }
            }
            FunctionResult::Unanalysed(reason) => {
                tracing::debug!(function = %f.name, %reason, "unanalysed");
                unanalysed.push(Unanalysed {
                    function: f.name.clone(),
                    pc: f.entry,
                    reason,
                });
            }
        }
        stats.push(outcome.stat);
        findings.extend(outcome.findings);
    }
    // By PC, then "fp" before "go" (the unwinders' names).
    findings.sort_by(|a, b| (a.pc, a.unwinder.name()).cmp(&(b.pc, b.unwinder.name())));
    unanalysed.sort_by_key(|u| u.pc);
    summary.unanalysed = unanalysed.len();
    summary.count_windows(&findings);
    ScanReport {
        binary,
        go_version: prog.version_info().shown(),
        go_version_source: prog.version_info().source_text(),
        go_version_rules: prog.version_info().rules_for_range().map(|v| v.to_string()),
        summary,
        findings,
        unanalysed,
        stats,
    }
}

/// The records too damaged to name a function, as unanalysed entries. They belong to the
/// first shard only, so concatenated shards count them once.
fn broken_records(prog: &GoProgram<'_>, options: &ScanOptions<'_>) -> Vec<Unanalysed> {
    if options.shard.is_some_and(|(k, _)| k != 0) {
        return Vec::new();
    }
    prog.broken()
        .iter()
        .map(|(index, reason)| Unanalysed {
            function: format!("<function #{index}>"),
            pc: 0,
            reason: format!("damaged metadata: {reason}"),
        })
        .collect()
}

/// Whether any function's metadata is damaged (unreadable record or table).
fn has_damage(prog: &GoProgram<'_>) -> bool {
    !prog.broken().is_empty() || prog.funcs().iter().any(|f| f.error.is_some())
}

/// The report of a scan that could not set up its model because the runtime functions it
/// needs are damaged: every function is unanalysed, with its own damage when it has one.
fn unrunnable(prog: &GoProgram<'_>, options: &ScanOptions<'_>, what: &str) -> ScanReport {
    let mut unanalysed = broken_records(prog, options);
    for f in selected(prog, options) {
        unanalysed.push(Unanalysed {
            function: f.info.name.to_string(),
            pc: f.info.entry,
            reason: match &f.error {
                Some(e) => format!("damaged metadata: {e}"),
                None => format!("not run: no usable {what} (damaged metadata)"),
            },
        });
    }
    unanalysed.sort_by_key(|u| u.pc);
    ScanReport {
        binary: prog.image().file_name().to_string(),
        go_version: prog.version_info().shown(),
        go_version_source: prog.version_info().source_text(),
        go_version_rules: prog.version_info().rules_for_range().map(|v| v.to_string()),
        summary: Summary {
            functions: unanalysed.len(),
            unanalysed: unanalysed.len(),
            ..Summary::default()
        },
        findings: Vec::new(),
        unanalysed,
        stats: Vec::new(),
    }
}

fn is_runtime(name: &str) -> bool {
    [
        "runtime.",
        "runtime/",
        "internal/",
        "reflect.",
        "sync",
        "type:",
        "go:",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The functions a scan covers: this shard's (every n-th by functab index), then the filter.
fn selected<'p>(
    prog: &'p GoProgram<'_>,
    options: &ScanOptions<'_>,
) -> impl Iterator<Item = &'p FuncMeta> {
    let shard = options.shard;
    let filter = options.filter;
    prog.funcs()
        .iter()
        .enumerate()
        .filter(move |(i, _)| shard.is_none_or(|(k, n)| n > 0 && i % n == k % n))
        .map(|(_, f)| f)
        .filter(move |f| filter.is_none_or(|accept| accept(&f.info.name)))
}

/// Whether a call to `f` never comes back: panics and throws by name, in the runtime and in
/// the packages that link their own (`internal/runtime/cgroup.throw`), and any function
/// whose code cannot return ([`has_no_way_out`]: `runtime.abort`, `runtime.badmcall`, ...).
/// `target` is where the call lands: a call into the middle of a function (duffzero's
/// entry points) is judged by the name alone.
fn never_returns(prog: &GoProgram<'_>, f: &FuncMeta, target: u64, cache: &ReturnCache) -> bool {
    if never_returns_by_name(&f.info.name) {
        return true;
    }
    if target != f.info.entry {
        return false;
    }
    let mut known = cache.lock().unwrap_or_else(|e| e.into_inner());
    *known
        .entry(f.info.entry)
        .or_insert_with(|| has_no_way_out(prog, f))
}

/// Per-scan memo of [`has_no_way_out`], by entry PC.
type ReturnCache = std::sync::Mutex<std::collections::HashMap<u64, bool>>;

/// Whether `f`'s code has no way back to its caller: no RET, no indirect jump (a tail call
/// or a jump table, either may leave), no branch out of the function (a tail call). Such a
/// function ends every path in a trap, a loop or a call that does not return.
fn has_no_way_out(prog: &GoProgram<'_>, f: &FuncMeta) -> bool {
    if f.info.top_frame || f.code_end <= f.info.entry || f.code_end - f.info.entry > 1 << 20 {
        return false;
    }
    let range = f.info.entry..f.code_end;
    (0..(f.code_end - f.info.entry) / 4).all(|i| {
        let pc = f.info.entry + 4 * i;
        let Some(word) = prog.word(pc) else {
            return false;
        };
        match twixt_arm64::classify(pc, word).flow {
            Flow::Ret { .. } | Flow::IndirectBranch { .. } => false,
            Flow::Branch { target } | Flow::CondBranch { target } => range.contains(&target),
            _ => true,
        }
    })
}

/// Functions the compiler calls without expecting a return, by name.
fn never_returns_by_name(name: &str) -> bool {
    let base = name.rsplit('.').next().unwrap_or(name);
    base.starts_with("panic")
        || base.starts_with("goPanic")
        || base.starts_with("gopanic")
        || base == "throw"
        || base == "fatal"
        || base == "fatalthrow"
        || base == "fatalpanic"
        || name == "runtime.goexit1"
}

/// What every worker shares.
struct Setup<'s, 'p, 'a> {
    prog: &'p GoProgram<'a>,
    version: GoVersion,
    ap: AsyncPreemptFrame,
    chain: Chain,
    layout: Layout,
    ranges: &'s [MapRange<'s>],
    started: Instant,
    options: &'s ScanOptions<'s>,
    order: &'s [&'p FuncMeta],
    next: &'s std::sync::atomic::AtomicUsize,
    returns: &'s ReturnCache,
    done: &'s std::sync::atomic::AtomicUsize,
    binary: &'s str,
}

/// One function's results.
struct FunctionOutcome {
    stat: FunctionStat,
    result: FunctionResult,
    findings: Vec<Finding>,
}

/// A worker: its own emulator, functions taken from the shared counter until none is left.
fn worker(setup: &Setup<'_, '_, '_>) -> Result<Vec<(usize, FunctionOutcome)>, ScanError> {
    use std::sync::atomic::Ordering;
    let mut harness: Harness<'_, ScanObserver<'_, '_>> = Harness::new(setup.ranges, setup.layout)
        .map_err(|source| ScanError::Emulator {
        binary: setup.binary.to_string(),
        source,
    })?;
    let mut observer = ScanObserver {
        prog: setup.prog,
        goroutine_stack: (setup.layout.stack_lo, setup.layout.stack_hi),
        not_judged: BTreeMap::new(),
        right: None,
        judge_every_boundary: setup.options.judge_every_boundary
            || setup.options.on_boundary.is_some(),
        version: setup.version,
        ap: setup.ap,
        chain: setup.chain,
        func: None,
        observed: Vec::new(),
        findings: Vec::new(),
        boundaries: 0,
        region_from_zero: false,
        region_ret_slot: None,
        established: 0,
        fn_csp: setup.chain.csp,
        started: setup.started,
        on_finding: setup.options.on_finding,
        on_boundary: setup.options.on_boundary,
    };
    let mut out = Vec::new();
    loop {
        let i = setup.next.fetch_add(1, Ordering::Relaxed);
        let Some(&f) = setup.order.get(i) else { break };
        let (obs, result) = scan_function(&mut harness, observer, f, &setup.chain, setup.returns);
        observer = obs;
        let stat = FunctionStat {
            name: f.info.name.to_string(),
            entry: f.info.entry,
            instructions: ((f.code_end - f.info.entry) / 4) as usize,
            analysed: matches!(result, FunctionResult::Analysed { .. }),
            boundaries: observer.boundaries,
            frame_established: observer.established,
            max_pcsp: f.frame_size(),
            asm: f.asm,
            not_judged: std::mem::take(&mut observer.not_judged),
        };
        let mut findings = Vec::new();
        for (mut finding, index) in observer.findings.drain(..) {
            if setup
                .options
                .severity
                .is_some_and(|s| s != finding.severity)
            {
                continue;
            }
            finding.context = context(setup.prog, f, &observer.observed, index, observer.fn_csp);
            findings.push(finding);
        }
        let done = setup.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(cb) = setup.options.on_function {
            cb(&stat, &findings, done, setup.order.len());
        }
        out.push((
            i,
            FunctionOutcome {
                stat,
                result,
                findings,
            },
        ));
    }
    Ok(out)
}

enum FunctionResult {
    Analysed { boundaries: usize },
    Unanalysed(String),
}

fn scan_function<'p, 'a>(
    harness: &mut Harness<'_, ScanObserver<'p, 'a>>,
    mut observer: ScanObserver<'p, 'a>,
    f: &FuncMeta,
    chain: &Chain,
    returns: &ReturnCache,
) -> (ScanObserver<'p, 'a>, FunctionResult) {
    observer.boundaries = 0;
    observer.not_judged.clear();
    observer.established = 0;
    // The SP pcsp is relative to: the caller's, less pushCall's 16 bytes for functions the
    // runtime enters through an injected call.
    observer.fn_csp = chain.csp
        - if f.info.special.is_injected_call() {
            16
        } else {
            0
        };
    let code = match Code::of(observer.prog, f) {
        Ok(code) => code,
        Err(result) => return (observer, result),
    };
    observer.func = Some(tables(observer.prog, f, code.words.len()));
    observer.observed = vec![None; code.words.len()];
    let (plan, states) = plan_function(&mut observer, f, &code, returns);
    let mut failure = None;
    for (region, state) in plan.iter().zip(&states) {
        let (obs, reason) = run_region(harness, observer, f, &code, chain, region, state);
        observer = obs;
        if let Some(reason) = reason {
            failure.get_or_insert(format!(
                "region at +{:#x}: {reason}",
                region.start - code.entry
            ));
        }
    }
    let result = match failure {
        Some(reason) => FunctionResult::Unanalysed(reason),
        None => FunctionResult::Analysed {
            boundaries: observer.boundaries,
        },
    };
    (observer, result)
}

/// A function's code, decoded once: its words and what each does.
struct Code {
    entry: u64,
    words: Vec<u32>,
    effects: Vec<Effects>,
}

impl Code {
    /// The code of `f`, or why it cannot be scanned (damaged metadata, an impossible code
    /// range, code outside the file). An empty function is analysed with no boundary.
    fn of(prog: &GoProgram<'_>, f: &FuncMeta) -> Result<Code, FunctionResult> {
        if let Some(e) = &f.error {
            return Err(FunctionResult::Unanalysed(format!("damaged metadata: {e}")));
        }
        let entry = f.info.entry;
        if f.code_end <= entry {
            return Err(FunctionResult::Analysed { boundaries: 0 });
        }
        if !(f.code_end - entry).is_multiple_of(4) || !entry.is_multiple_of(4) {
            return Err(FunctionResult::Unanalysed(format!(
                "code range {entry:#x}..{:#x} is not 4-byte aligned",
                f.code_end
            )));
        }
        // Real functions are at most a few hundred kilobytes; a damaged table could claim
        // gigabytes, and the tables below are per instruction.
        const MAX_FUNCTION: u64 = 64 << 20;
        if f.code_end - entry > MAX_FUNCTION {
            return Err(FunctionResult::Unanalysed(format!(
                "code range {entry:#x}..{:#x} is larger than {} MiB",
                f.code_end,
                MAX_FUNCTION >> 20
            )));
        }
        let n = ((f.code_end - entry) / 4) as usize;
        let mut words = Vec::with_capacity(n);
        let mut effects = Vec::with_capacity(n);
        for i in 0..n {
            let pc = entry + 4 * i as u64;
            let Some(w) = prog.word(pc) else {
                return Err(FunctionResult::Unanalysed(format!(
                    "code at {pc:#x} is not in the file"
                )));
            };
            words.push(w);
            effects.push(twixt_arm64::classify(pc, w));
        }
        Ok(Code {
            entry,
            words,
            effects,
        })
    }
}

/// Splits `f` into regions and flows what each starts from (see [`crate::plan`]); marks
/// the instructions that run on a stack the planner cannot follow.
fn plan_function(
    observer: &mut ScanObserver<'_, '_>,
    f: &FuncMeta,
    code: &Code,
    returns: &ReturnCache,
) -> (Vec<Region>, Vec<EntryState>) {
    let plan = regions(code.entry, &code.effects);
    let prog = observer.prog;
    let keeps_lr = |target: u64| {
        prog.func_at(target)
            .is_some_and(|f| f.info.name.starts_with("runtime.morestack"))
    };
    let no_return = |target: u64| {
        prog.func_at(target)
            .is_some_and(|f| never_returns(prog, f, target, returns))
    };
    let frameless = |target: u64| {
        prog.func_at(target).is_some_and(|f| {
            &*f.info.name == "runtime.duffzero" || &*f.info.name == "runtime.duffcopy"
        })
    };
    let callees = Callees {
        keeps_lr: &keeps_lr,
        no_return: &no_return,
        frameless: &frameless,
    };
    let (entry, words, effects) = (code.entry, &code.words, &code.effects);
    let states = region_states(entry, words, effects, &plan, &callees, f.info.sp_write);
    if f.info.sp_write
        && let Some(ft) = observer.func.as_mut()
    {
        ft.switched = switched_at(entry, words, effects, &plan, &states, &callees);
    }
    (plan, states)
}

/// Runs one region from the state it starts from; returns the observer and, when the
/// region could not be run to its end, why.
fn run_region<'p, 'a>(
    harness: &mut Harness<'_, ScanObserver<'p, 'a>>,
    mut observer: ScanObserver<'p, 'a>,
    f: &FuncMeta,
    code: &Code,
    chain: &Chain,
    region: &Region,
    state: &EntryState,
) -> (ScanObserver<'p, 'a>, Option<String>) {
    observer.region_from_zero = f.pcsp_at(region.start) == Some(0);
    let scratch = harness.layout().scratch_pointer();
    let mut start = match region_start(f, region, state, chain, scratch) {
        Ok(start) => start,
        Err(reason) => return (observer, Some(reason)),
    };
    let first = ((region.start - code.entry) / 4) as usize;
    start.unhooked_stores = (first..first + region.len)
        .filter_map(|i| {
            // Unicorn may perform these without calling the write hook.
            twixt_arm64::register_addressed_store(code.words[i])
                .map(|(reg, span)| (code.entry + 4 * i as u64, reg, span))
        })
        .collect();
    // pushCall's copy of the interrupted LR (injected-call functions) is not the frame's.
    observer.region_ret_slot = start
        .writes
        .iter()
        .filter(|&&(addr, value)| value == chain.ret_pc && addr != chain.csp - 16)
        .map(|&(addr, _)| addr)
        .min();
    let (obs, end) = harness.run(&start, observer);
    let reason = match end {
        RunEnd::Unanalysed(reason) => Some(reason),
        RunEnd::Completed | RunEnd::Stopped => None,
    };
    (obs, reason)
}

/// The largest frame the harness can plant below the caller: the emulated stack holds the
/// `runtime.callN` frames up to 1 GiB (`reflectcall`'s largest), with room for the caller.
const MAX_FRAME: u64 = (1 << 30) + (8 << 20);

/// The machine state a region starts from: where the paths that reach it agree on SP,
/// registers and stored stack words ([`EntryState`]), that; elsewhere what the metadata at
/// its first PC implies (SP = caller SP - pcsp, the frame record at SP-8, the saved LR at
/// SP).
fn region_start(
    f: &FuncMeta,
    region: &Region,
    state: &EntryState,
    chain: &Chain,
    scratch: u64,
) -> Result<RegionStart, String> {
    let frame = f
        .pcsp_at(region.start)
        .ok_or_else(|| format!("no pcsp value at {:#x}", region.start))?;
    let plantable = |depth: i64| (-4096..=MAX_FRAME as i64).contains(&depth);
    // Negative values are real: asyncPreempt's epilogue also pops pushCall's 16 bytes.
    if !plantable(frame as i64) {
        return Err(format!(
            "pcsp value {} at {:#x} is not a frame size the harness can plant (stack is {} MiB)",
            frame as i64,
            region.start,
            MAX_FRAME >> 20
        ));
    }
    // An injected call's frame sits below the 16 bytes pushCall reserved: depths and pcsp
    // are relative to the SP the function was entered with.
    let pushed = if f.info.special.is_injected_call() {
        16
    } else {
        0
    };
    let entry_sp = chain.csp.wrapping_sub(pushed);
    let metadata_sp = entry_sp.wrapping_sub(frame);
    // Carried: every path agrees where SP is (and the function's own stores say where its
    // frame record is). Switched: SP is on another stack; scratch memory stands in for it,
    // and the boundaries there are not judged (off the goroutine stack).
    let (sp, carried) = match state.sp {
        Sp::At(depth) if plantable(depth) => (entry_sp.wrapping_sub(depth as u64), true),
        Sp::Switched => (scratch, true),
        _ => (metadata_sp, false),
    };
    let caller_fp = chain.csp - 8;
    let value = |v: Val| match v {
        Val::Unknown => None,
        Val::EntryLr => Some(chain.ret_pc),
        Val::Pc(pc) => Some(pc),
        Val::CallerFp => Some(caller_fp),
        Val::Stack(depth) => Some(entry_sp.wrapping_sub(depth as u64)),
    };
    let mut x = [scratch; 31];
    for (slot, val) in x.iter_mut().zip(&state.regs) {
        if let Some(v) = value(*val) {
            *slot = v;
        }
    }
    if state.regs[29] == Val::Unknown {
        x[29] = if frame as i64 > 0 { sp - 8 } else { caller_fp };
    }
    // The planted chain, then the frame record the metadata implies (unless the paths say
    // where SP is and every stack word the function stored: then a word they do not list
    // was never written), then what the function's own stores left: those win.
    let mut words: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    words.insert(chain.csp, Some(chain.goexit_ret));
    words.insert(chain.csp - 8, Some(0));
    if pushed > 0 {
        // pushCall: [sp-16] = the interrupted LR, [sp-24] = the interrupted R29.
        words.insert(chain.csp - 16, Some(chain.ret_pc));
        words.insert(chain.csp - 24, Some(caller_fp));
    }
    if frame as i64 > 0 && sp == metadata_sp && !(carried && state.complete) {
        words.insert(sp, Some(chain.ret_pc));
        words.insert(sp - 8, Some(caller_fp));
    }
    for (&depth, &v) in &state.slots {
        if plantable(depth) {
            words.insert(entry_sp.wrapping_sub(depth as u64), value(v));
        }
    }
    // A word overwritten with something unknown holds the poison every unwritten word does.
    let writes = words
        .into_iter()
        .map(|(addr, v)| (addr, v.unwrap_or(scratch)))
        .collect();
    Ok(RegionStart {
        pc: region.start,
        last: region.last(),
        instructions: region.len,
        x,
        sp,
        writes,
        unhooked_stores: Vec::new(),
    })
}

fn tables(prog: &GoProgram<'_>, f: &FuncMeta, n: usize) -> FuncTables {
    let entry = f.info.entry;
    let pcsp = (0..n).map(|i| f.pcsp_at(entry + 4 * i as u64)).collect();
    let raw = prog.raw_func(f.index);
    let up_runs = prog.unsafe_point_runs(f);
    let unsafe_point = (0..n)
        .map(|i| {
            let pc = entry + 4 * i as u64;
            match run_at(&up_runs, pc) {
                Some(r) => (r.value, r.start),
                None => (-1, pc),
            }
        })
        .collect();
    // Innermost names only matter where the other checks pass; computing them per run of
    // the inline-tree index keeps this linear.
    let mut names = vec![f.info.name.to_string()];
    let mut innermost = vec![0usize; n];
    if !f.asm && f.has_locals_pointer_maps {
        let inl_runs = raw
            .as_ref()
            .and_then(|r| {
                r.pcdata_table(twixt_gopclntab::PCDATA_INL_TREE_INDEX)
                    .ok()
                    .flatten()
            })
            .unwrap_or_default();
        let mut by_index: BTreeMap<i32, usize> = BTreeMap::new();
        for r in inl_runs.iter().filter(|r| r.value >= 0) {
            let name_index = *by_index.entry(r.value).or_insert_with(|| {
                names.push(prog.innermost_name(f, r.start));
                names.len() - 1
            });
            let lo = ((r.start.max(entry) - entry) / 4) as usize;
            let hi = (((r.end.min(entry + 4 * n as u64)) - entry) / 4) as usize;
            for slot in innermost.iter_mut().take(hi).skip(lo) {
                *slot = name_index;
            }
        }
    }
    FuncTables {
        meta: f.clone(),
        pcsp,
        unsafe_point,
        innermost,
        names,
        go_never_runs: twixt_unwind::preempt::go_unwinder_never_observes(&f.info.name),
        switched: Vec::new(),
    }
}

fn context(
    prog: &GoProgram<'_>,
    f: &FuncMeta,
    observed: &[Option<u64>],
    index: usize,
    csp: u64,
) -> Vec<ContextLine> {
    let lo = index.saturating_sub(CONTEXT);
    let hi = (index + CONTEXT + 1).min(observed.len());
    (lo..hi)
        .map(|i| {
            let pc = f.info.entry + 4 * i as u64;
            ContextLine {
                pc,
                offset: pc - f.info.entry,
                instruction: prog.disassemble(pc),
                sp_below_caller: observed[i].map(|sp| (csp as i64).wrapping_sub(sp as i64)),
                pcsp: f.pcsp_at(pc),
                here: i == index,
            }
        })
        .collect()
}
