//! How a boundary the unwinders judged wrong becomes a [`Finding`]: its [`Site`] (function,
//! instruction, source line, where SP stands) and the walk's evidence. The report types
//! themselves live in `twixt_report::model` (no emulator); they are re-exported here for
//! the drivers.

pub use twixt_report::model::{
    BoundaryRecord, ContextLine, Finding, FunctionStat, NOT_JUDGED_GO_NEVER_RUNS,
    NOT_JUDGED_OFF_STACK, NOT_JUDGED_VERDICT, ScanReport, Severity, Summary, Unanalysed, Unwinder,
    Verdict, WalkRecord, WalkVerdict, parse_hex,
};

/// Where a finding stands: the facts every finding carries, whichever unwinder it is
/// about and whichever driver (scan, run) made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Function name.
    pub function: String,
    /// Its entry PC.
    pub entry: u64,
    /// The boundary's PC.
    pub pc: u64,
    /// Disassembly of the instruction there.
    pub instruction: String,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Actual SP.
    pub sp: u64,
    /// The caller's SP, which pcsp values are relative to.
    pub caller_sp: u64,
    /// The pcsp value at the PC (0 where the table has none).
    pub pcsp: u64,
    /// Whether the runtime's preemption may land here.
    pub severity: Severity,
}

impl Site {
    /// The site of a finding at `pc` in `f`, with SP `sp` under the caller's SP `caller_sp`.
    pub fn at(
        prog: &twixt_program::GoProgram<'_>,
        f: &twixt_program::FuncMeta,
        pc: u64,
        sp: u64,
        caller_sp: u64,
        severity: Severity,
    ) -> Site {
        let (file, line) = match prog.file_line(f, pc) {
            Some((file, line)) => (Some(file), Some(line)),
            None => (None, None),
        };
        Site {
            function: f.info.name.to_string(),
            entry: f.info.entry,
            pc,
            instruction: prog.disassemble(pc),
            file,
            line,
            sp,
            caller_sp,
            pcsp: f.pcsp_at(pc).unwrap_or(0),
            severity,
        }
    }

    /// `addr` relative to the actual SP.
    pub fn sp_offset(&self, addr: u64) -> i64 {
        (addr as i64).wrapping_sub(self.sp as i64)
    }

    /// A finding with `verdict` at this site; the fields that describe the walk itself
    /// are empty, for the caller to fill in.
    pub fn finding(&self, verdict: Verdict) -> Finding {
        Finding {
            function: self.function.clone(),
            pc: self.pc,
            offset: self.pc - self.entry,
            instruction: self.instruction.clone(),
            unwinder: verdict.unwinder(),
            verdict,
            preemptible: self.severity == Severity::Preemptible,
            severity: self.severity,
            file: self.file.clone(),
            line: self.line,
            sp_below_caller: (self.caller_sp as i64).wrapping_sub(self.sp as i64),
            pcsp: self.pcsp,
            resume_pc: None,
            slot_sp_offset: None,
            read_value: None,
            read_symbol: None,
            expected_return_pc: 0,
            expected_slot_sp_offset: None,
            computed_caller_sp_error: None,
            outcome: String::new(),
            r29_sp_offset: None,
            context: Vec::new(),
        }
    }

    /// The finding for a Go-unwinder walk that went wrong: where it read the return PC and
    /// what it found (named by `symbolize`), against the truth (`expected_fallback` when the
    /// judgement names no true frame; `true_return_slot` where the real return PC is saved).
    pub fn go_finding(
        &self,
        j: &twixt_unwind::verdict::Judgement,
        resume_pc: Option<u64>,
        expected_fallback: u64,
        true_return_slot: Option<u64>,
        symbolize: impl Fn(u64) -> String,
    ) -> Finding {
        let culprit = j.culprit.as_ref();
        let expected = j.expected.map_or(expected_fallback, |t| t.pc);
        Finding {
            resume_pc,
            slot_sp_offset: culprit.and_then(|c| c.lr_slot).map(|s| self.sp_offset(s)),
            read_value: culprit.map(|c| c.lr),
            read_symbol: culprit.map(|c| symbolize(c.lr)),
            expected_return_pc: expected,
            expected_slot_sp_offset: true_return_slot.map(|s| self.sp_offset(s)),
            computed_caller_sp_error: match (culprit, j.expected) {
                (Some(c), Some(t)) => Some((t.sp as i64).wrapping_sub(c.fp as i64)),
                _ => None,
            },
            outcome: j.outcome.describe(),
            ..self.finding(go_verdict(j.verdict).unwrap_or(Verdict::WrongReturnPc))
        }
    }
}

/// What a frame-pointer walk read and did, in the terms a finding or a per-boundary record
/// gives: the record whose return PC matters (the one that went wrong, the unusable one, or
/// when all is well the first one followed), what its return-PC slot holds, and what the
/// walk did, in words. Scan and run describe the same walk the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpWalkEvidence {
    /// The return-PC slot (`record + 8`).
    pub slot: Option<u64>,
    /// What it holds.
    pub read: Option<u64>,
    /// What the walk did.
    pub outcome: String,
}

impl FpWalkEvidence {
    /// The evidence of `trace`, judged `j`, from a boundary with SP `sp` and R29 `r29`.
    pub fn of<M: twixt_unwind::Memory + ?Sized>(
        trace: &twixt_unwind::fp::FpTrace,
        j: &twixt_unwind::fp::FpJudgement,
        mem: &M,
        sp: u64,
        r29: u64,
        symbolize: impl Fn(u64) -> String,
    ) -> FpWalkEvidence {
        use twixt_unwind::fp::FpVerdict;
        let record = j
            .culprit
            .map(|c| c.record)
            .or(j.bad_record)
            .or_else(|| trace.frames.first().map(|f| f.record));
        let slot = record.map(|r| r.wrapping_add(8));
        let read = slot.and_then(|s| mem.read_u64(s));
        let outcome = match j.verdict {
            FpVerdict::Ok | FpVerdict::Broken => trace.end.describe(),
            FpVerdict::BelowSp => format!(
                "R29 = SP-{:#x} names a frame record below SP-8, in stack that the injected \
                 asyncPreempt frame or a stack move overwrites: the tracer follows whatever \
                 is there",
                sp.wrapping_sub(r29)
            ),
            FpVerdict::WrongReturnPc => format!(
                "the walk records {} as a caller; {}",
                read.map_or_else(|| "?".into(), &symbolize),
                trace.end.describe()
            ),
            FpVerdict::TooLong => {
                format!("the walk continues past the root: {}", trace.end.describe())
            }
        };
        FpWalkEvidence {
            slot,
            read,
            outcome,
        }
    }
}

/// What a frame-pointer walk that went wrong read, for [`Site::fp_finding`].
#[derive(Clone, Debug)]
pub struct FpEvidence {
    /// Where a preemption here resumes, when not the PC itself.
    pub resume_pc: Option<u64>,
    /// The return-PC slot of the record that went wrong (`R29+8`).
    pub slot: Option<u64>,
    /// What it holds.
    pub read: Option<u64>,
    /// The true return PC when the judgement names none.
    pub expected_fallback: u64,
    /// Where the true return PC is saved, if on the stack.
    pub true_return_slot: Option<u64>,
    /// R29 at the boundary.
    pub r29: u64,
    /// What the walk did, in words.
    pub outcome: String,
}

impl Site {
    /// The finding for a frame-pointer walk that went wrong (`j.verdict` is not right).
    pub fn fp_finding(
        &self,
        j: &twixt_unwind::fp::FpJudgement,
        e: FpEvidence,
        symbolize: impl Fn(u64) -> String,
    ) -> Finding {
        Finding {
            resume_pc: e.resume_pc,
            slot_sp_offset: e.slot.map(|s| self.sp_offset(s)),
            read_value: e.read,
            read_symbol: e.read.map(&symbolize),
            expected_return_pc: j.expected.unwrap_or(e.expected_fallback),
            expected_slot_sp_offset: e.true_return_slot.map(|s| self.sp_offset(s)),
            outcome: e.outcome,
            r29_sp_offset: Some(self.sp_offset(e.r29)),
            ..self.finding(fp_verdict(j.verdict).unwrap_or(Verdict::FpBrokenChain))
        }
    }
}

/// The report's name for a Go-walk verdict (`None` for "right").
pub fn go_verdict(v: twixt_unwind::verdict::Verdict) -> Option<Verdict> {
    use twixt_unwind::verdict::Verdict as V;
    Some(match v {
        V::Ok => return None,
        V::WrongCallerSp => Verdict::WrongCallerSp,
        V::UnexpectedReturnPc => Verdict::UnexpectedReturnPc,
        V::WrongReturnPc => Verdict::WrongReturnPc,
        V::DidNotUnwindCompletely => Verdict::DidNotUnwindCompletely,
        V::Stuck => Verdict::Stuck,
        V::MemoryReadFault => Verdict::MemoryReadFault,
        V::UnexpectedSpWrite => Verdict::UnexpectedSpWrite,
        V::InvalidSpDelta => Verdict::InvalidSpDelta,
    })
}

/// The report's name for a frame-pointer verdict (`None` for "right").
pub fn fp_verdict(v: twixt_unwind::fp::FpVerdict) -> Option<Verdict> {
    use twixt_unwind::fp::FpVerdict as V;
    Some(match v {
        V::Ok => return None,
        V::BelowSp => Verdict::FpBelowSp,
        V::WrongReturnPc => Verdict::FpWrongReturnPc,
        V::Broken => Verdict::FpBrokenChain,
        V::TooLong => Verdict::FpPastRoot,
    })
}

/// A Go walk's verdict as a per-boundary record says it.
pub fn go_walk_verdict(v: twixt_unwind::verdict::Verdict) -> WalkVerdict {
    go_verdict(v).map_or(WalkVerdict::Ok, WalkVerdict::Wrong)
}

/// A frame-pointer walk's verdict as a per-boundary record says it.
pub fn fp_walk_verdict(v: twixt_unwind::fp::FpVerdict) -> WalkVerdict {
    fp_verdict(v).map_or(WalkVerdict::Ok, WalkVerdict::Wrong)
}
