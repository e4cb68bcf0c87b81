//! Go's unwinder and the frame-pointer walk on amd64, on frames laid out as go1.27.3 lays
//! out `main.nonleaf70000` of `corpus/go1.27.3/frames-amd64` (entry 0x483a40, frame
//! 0x11160; the PCs and pcsp values below are the binary's, see `twixt disasm`):
//!
//! ```text
//! 0x483a5a push rbp             pcsp 0x0
//! 0x483a5b mov rbp, rsp         pcsp 0x8
//! 0x483a5e sub rsp, 0x11158     pcsp 0x8
//! 0x483a65 ...                  pcsp 0x11160
//! 0x483aff add rsp, 0x11158     pcsp 0x11160
//! 0x483b06 pop rbp              pcsp 0x8
//! 0x483b07 ret                  pcsp 0x0
//! ```
//!
//! Each case is one boundary with the SP and RBP the code really has there, judged by
//! `boundary::check_go` and `boundary::check_fp` exactly as the scan judges arm64; the
//! hypothetical cases (an epilogue split into two ADDs, a record left below SP) show that
//! the amd64 rules see the window classes twixt looks for.

use twixt_unwind::boundary::{Interrupt, Rules, check_fp, check_go};
use twixt_unwind::fp::FpVerdict;
use twixt_unwind::preempt::{AsyncPreemptFrame, Decision, GoVersion, Interrupted, push_call};
use twixt_unwind::verdict::{TrueFrame, Verdict};
use twixt_unwind::{Arch, FuncInfo, Metadata, Special, WordMemory};

const ENTRY: u64 = 0x483a40;
const FRAME: u64 = 0x11160;
/// The goroutine's stktopsp; the root frame (the caller) returns into goexit.
const TOP: u64 = 0xc000_8000;
/// The caller, main.main (pcsp 0xe0 at its `call main.nonleaf70000`), as the root frame:
/// its SP at the CALL (before the push) is TOP - 0xe0 - 8.
const CSP: u64 = TOP - 0xe8;
const RET_INTO_CALLER: u64 = 0x48d90d; // after main.main's call main.nonleaf70000
const GOEXIT_RET: u64 = 0x47bfa1; // runtime.goexit + 1
const CALLER_RBP: u64 = TOP - 0x10; // main.main's record: its PUSHQ BP below its return PC
const POISON: u64 = 0xdead_0000;
/// go1.27.3's asyncPreempt: `call runtime.asyncPreempt2` returns to 0x47d0cb, pcsp 0x80
/// there (PUSHQ BP, PUSHFQ, SUBQ $0x70: the vector registers live in `p.xRegs`).
const AP: AsyncPreemptFrame = AsyncPreemptFrame {
    return_pc: 0x47d0cb,
    frame_size: 0x80,
};
const V: GoVersion = GoVersion {
    minor: 27,
    patch: 3,
};

struct Funcs;

fn info(entry: u64, name: &str) -> FuncInfo {
    FuncInfo {
        entry,
        name: name.into(),
        top_frame: name == "runtime.goexit",
        sp_write: false,
        special: Special::from_name(name),
    }
}

impl Metadata for Funcs {
    fn find_func(&self, pc: u64) -> Option<FuncInfo> {
        match pc {
            ENTRY..0x483b1c => Some(info(ENTRY, "main.nonleaf70000")),
            0x48d7e0..0x48dad9 => Some(info(0x48d7e0, "main.main")),
            0x47bfa0..0x47bfa7 => Some(info(0x47bfa0, "runtime.goexit")),
            0x47ce40..0x47d346 => Some(info(0x47ce40, "runtime.asyncPreempt")),
            _ => None,
        }
    }

    fn sp_delta(&self, func: &FuncInfo, pc: u64) -> Option<u64> {
        Some(match (func.entry, pc) {
            (ENTRY, ..0x483a5b) => 0,
            (ENTRY, ..0x483a65) => 8,
            (ENTRY, ..0x483b06) => FRAME,
            (ENTRY, ..0x483b07) => 8,
            (ENTRY, _) => 0,
            (0x48d7e0, _) => 0xe0,
            (0x47bfa0, _) => 0,
            (0x47ce40, _) => AP.frame_size,
            _ => return None,
        })
    }
}

/// The stack as the code builds it: the caller's return into goexit at TOP-8 and its frame
/// record (caller RBP 0 at CALLER_RBP), f's return PC pushed by the CALL at CSP-8, f's
/// record at CSP-16 once its prologue pushed RBP.
fn stack() -> WordMemory {
    let mut m = WordMemory::default();
    for a in (CSP - FRAME - 0x1000..TOP + 0x100).step_by(8) {
        m.words.insert(a, POISON);
    }
    m.words.insert(TOP - 8, GOEXIT_RET);
    m.words.insert(CALLER_RBP, 0);
    m.words.insert(CALLER_RBP + 8, GOEXIT_RET);
    m.words.insert(CSP - 8, RET_INTO_CALLER);
    m.words.insert(CSP - 16, CALLER_RBP);
    m
}

fn truth(pc: u64) -> Vec<TrueFrame> {
    vec![
        TrueFrame { pc, sp: 0 },
        TrueFrame {
            pc: RET_INTO_CALLER,
            sp: CSP,
        },
        TrueFrame {
            pc: GOEXIT_RET,
            sp: TOP,
        },
    ]
}

fn rules() -> Rules {
    Rules {
        version: V,
        async_preempt: AP,
        stktopsp: TOP,
        max_frames: 16,
    }
}

/// The Go verdict at `pc` with `sp`, preempted there (resuming at `pc`).
fn go_verdict(pc: u64, sp: u64, rbp: u64) -> (bool, Verdict) {
    let at = Interrupt {
        arch: Arch::Amd64,
        pc,
        sp,
        lr: 0,
        r29: rbp,
    };
    let truth_at = |p: u64| {
        let mut t = truth(p);
        t[0].sp = sp;
        t
    };
    let c = check_go(
        &Funcs,
        &stack(),
        &rules(),
        at,
        Decision::Preempt { resume_pc: pc },
        truth_at,
    );
    (c.preemptible, c.judgement.verdict)
}

fn fp_verdict(pc: u64, sp: u64, rbp: u64) -> FpVerdict {
    let at = Interrupt {
        arch: Arch::Amd64,
        pc,
        sp,
        lr: 0,
        r29: rbp,
    };
    let own = ENTRY..0x483b1c;
    check_fp(
        &stack(),
        at,
        true,
        own,
        &[RET_INTO_CALLER, GOEXIT_RET],
        CALLER_RBP,
        16,
    )
    .judgement
    .verdict
}

/// Every boundary of the real prologue and epilogue, with the SP and RBP it really has.
const REAL: [(u64, u64, u64); 7] = [
    (ENTRY, CSP - 8, CALLER_RBP),             // entry: [SP] is the return PC
    (0x483a5a, CSP - 8, CALLER_RBP),          // push rbp
    (0x483a5b, CSP - 16, CALLER_RBP),         // mov rbp, rsp
    (0x483a5e, CSP - 16, CSP - 16),           // sub rsp, 0x11158
    (0x483a65, CSP - 16 - 0x11158, CSP - 16), // body
    (0x483b06, CSP - 16, CSP - 16),           // pop rbp: record at SP
    (0x483b07, CSP - 8, CALLER_RBP),          // ret
];

#[test]
fn the_real_prologue_and_epilogue_unwind_at_every_boundary() {
    for (pc, sp, rbp) in REAL {
        assert_eq!(
            go_verdict(pc, sp, rbp),
            (false, Verdict::Ok),
            "Go walk at {pc:#x}"
        );
        assert_eq!(fp_verdict(pc, sp, rbp), FpVerdict::Ok, "FP walk at {pc:#x}");
    }
}

#[test]
fn a_split_epilogue_would_be_a_preemptible_window() {
    // ADDQ $0x8000, SP ; ADDQ $0x9158, SP: between them pcsp still says the full frame.
    let (preemptible, verdict) = go_verdict(0x483b00, CSP - 16 - 0x9158, CSP - 16);
    assert!(preemptible);
    assert_ne!(verdict, Verdict::Ok);
}

#[test]
fn a_record_below_sp_is_lost_on_amd64_but_not_on_arm64() {
    // The frame popped past the record (SP = CSP-8) while RBP still names it at CSP-16:
    // amd64's pushCall and asyncPreempt's PUSHQ BP overwrite CSP-16 and CSP-24.
    assert_eq!(fp_verdict(0x483b07, CSP - 8, CSP - 16), FpVerdict::BelowSp);
    assert_eq!(Arch::Arm64.lowest_live_record(CSP - 8), CSP - 16);
}

#[test]
fn push_call_pushes_the_resume_pc_like_a_call() {
    let sp = CSP - 16 - 0x11158;
    let regs = Interrupted {
        sp,
        lr: 0,
        r29: CSP - 16,
    };
    let call = push_call(Arch::Amd64, V, regs, 0x483a65, AP);
    assert_eq!(
        call.writes,
        vec![(sp - 8, 0x483a65), (sp - 16, CSP - 16)],
        "[sp-8] = resume PC (pushCall), [sp-16] = RBP (asyncPreempt's PUSHQ BP)"
    );
    assert_eq!(call.ap_sp, sp - 8 - AP.frame_size);
    // asyncPreempt's frame: fp = ap_sp + pcsp + 8 = sp, return PC at fp-8 = the resume PC.
    assert_eq!(Arch::Amd64.caller_sp(call.ap_sp, AP.frame_size), sp);
    assert!(!call.start.innermost);
}

#[test]
fn the_go_walk_reads_the_return_pc_above_the_frame() {
    use twixt_unwind::go::{End, Mode, Start, Walk, unwind};
    let walk = Walk {
        mode: Mode::Strict,
        stktopsp: TOP,
        max_frames: 16,
        arch: Arch::Amd64,
    };
    let start = Start {
        pc: 0x483a70,
        sp: CSP - 16 - 0x11158,
        lr: 0,
        innermost: true,
    };
    let tb = unwind(&Funcs, &stack(), start, walk);
    assert_eq!(tb.end, End::Complete);
    let slots: Vec<Option<u64>> = tb.frames.iter().map(|f| f.lr_slot).collect();
    assert_eq!(slots, vec![Some(CSP - 8), Some(TOP - 8), None]);
    let fps: Vec<u64> = tb.frames.iter().map(|f| f.fp).collect();
    // goexit: pcsp 0, so its fp is TOP + 8; the walk ends on its SP, TOP = stktopsp.
    assert_eq!(fps, vec![CSP, TOP, TOP + 8]);
}
