//! The Go traceback model on synthetic frames whose correct caller is known by
//! construction: one test per verdict the checker can give.
//!
//! Layout used throughout (addresses are arbitrary but realistic):
//! - `main.f` at 0x1000..0x1100 with a 0x40-byte frame from 0x1010 on (pcsp 0 before);
//! - `main.caller` at 0x2000..0x2100 with a 0x20-byte frame; its call returns to 0x2050;
//! - `runtime.goexit` at 0x3000 (TopFrame); the root frame returns to 0x3004;
//! - `runtime.asyncPreempt` at 0x4000 with a 0x1f0-byte frame at its call's return PC;
//! - `spwriter` at 0x5000 (SPWrite); `runtime.sigpanic` at 0x6000.
//!
//! The stack top (stktopsp) is 0x10000; the caller's frame is at 0xffe0, f's at 0xffa0.

use twixt_unwind::go::{End, Mode, Start, Walk, unwind};
use twixt_unwind::preempt::{AsyncPreemptFrame, GoVersion, Interrupted, inject};
use twixt_unwind::verdict::{TrueFrame, Verdict, judge};
use twixt_unwind::{Arch, FuncInfo, Metadata, Overlay, Special, WordMemory};

struct Funcs;

const TOP: u64 = 0x10000;
const CSP: u64 = TOP - 0x20; // the caller's SP
const F_SP: u64 = CSP - 0x40; // f's SP after its prologue
const RET_INTO_CALLER: u64 = 0x2050;
const GOEXIT_RET: u64 = 0x3004;
const POISON: u64 = 0xdead_0000; // in no function

fn info(entry: u64, name: &str) -> FuncInfo {
    FuncInfo {
        entry,
        name: name.into(),
        top_frame: name == "runtime.goexit",
        sp_write: name == "spwriter",
        special: Special::from_name(name),
    }
}

impl Metadata for Funcs {
    fn find_func(&self, pc: u64) -> Option<FuncInfo> {
        match pc {
            0x1000..0x1100 => Some(info(0x1000, "main.f")),
            0x2000..0x2100 => Some(info(0x2000, "main.caller")),
            0x3000..0x3010 => Some(info(0x3000, "runtime.goexit")),
            0x4000..0x4100 => Some(info(0x4000, "runtime.asyncPreempt")),
            0x5000..0x5100 => Some(info(0x5000, "spwriter")),
            0x6000..0x6100 => Some(info(0x6000, "runtime.sigpanic")),
            _ => None,
        }
    }

    fn sp_delta(&self, func: &FuncInfo, pc: u64) -> Option<u64> {
        match func.entry {
            // f has no pcsp entry past 0x10f0, to provoke "invalid spdelta".
            0x1000 if pc >= 0x10f0 => None,
            0x1000 if pc < 0x1010 => Some(0),
            0x1000 => Some(0x40),
            0x2000 => Some(0x20),
            0x3000 => Some(0),
            0x4000 => Some(0x1f0),
            0x5000 => Some(0x10),
            0x6000 => Some(0),
            _ => None,
        }
    }
}

/// The planted stack: f's saved LR at its SP, the caller's saved LR at its SP, poison
/// everywhere else.
fn stack() -> WordMemory {
    let mut m = WordMemory::default();
    for a in (TOP - 0x1000..TOP + 0x100).step_by(8) {
        m.words.insert(a, POISON);
    }
    m.words.insert(F_SP, RET_INTO_CALLER);
    m.words.insert(CSP, GOEXIT_RET);
    m
}

fn truth(pc: u64, sp: u64) -> Vec<TrueFrame> {
    vec![
        TrueFrame { pc, sp },
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

fn strict() -> Walk {
    Walk {
        mode: Mode::Strict,
        stktopsp: TOP,
        max_frames: 16,
        arch: Arch::Arm64,
    }
}

fn start(pc: u64, sp: u64, lr: u64, innermost: bool) -> Start {
    Start {
        pc,
        sp,
        lr,
        innermost,
    }
}

fn signal_walk(mem: &WordMemory, pc: u64, sp: u64, lr: u64) -> Verdict {
    let walk = Walk {
        mode: Mode::Silent,
        ..strict()
    };
    let tb = unwind(&Funcs, mem, start(pc, sp, lr, true), walk);
    judge(&tb, 0, &truth(pc, sp)).verdict
}

const AP: AsyncPreemptFrame = AsyncPreemptFrame {
    return_pc: 0x4080,
    frame_size: 0x1f0,
};

fn preempt_walk(mem: &WordMemory, pc: u64, sp: u64, lr: u64) -> (Verdict, End) {
    let mut overlay = Overlay::new(mem);
    let regs = Interrupted { sp, lr, r29: 0 };
    let s = inject(
        &mut overlay,
        Arch::Arm64,
        GoVersion {
            minor: 23,
            patch: 4,
        },
        regs,
        pc,
        AP,
    );
    let tb = unwind(&Funcs, &overlay, s, strict());
    let j = judge(&tb, 1, &truth(pc, sp));
    (j.verdict, j.outcome)
}

#[test]
fn ok_inside_the_frame_and_before_the_prologue() {
    let mem = stack();
    assert_eq!(preempt_walk(&mem, 0x1020, F_SP, 0).0, Verdict::Ok);
    // Before the prologue there is no frame: the return PC is still in LR.
    assert_eq!(
        preempt_walk(&mem, 0x1004, CSP, RET_INTO_CALLER).0,
        Verdict::Ok
    );
    assert_eq!(signal_walk(&mem, 0x1004, CSP, RET_INTO_CALLER), Verdict::Ok);
}

#[test]
fn half_popped_frame_reading_a_non_pc_is_unexpected_return_pc() {
    // SP moved 0x30 of 0x40 (the first of two ADDs ran); pcsp still says 0x40.
    let mem = stack();
    let (v, end) = preempt_walk(&mem, 0x1020, F_SP + 0x30, 0);
    assert_eq!(v, Verdict::UnexpectedReturnPc);
    assert_eq!(end, End::UnexpectedReturnPc { lr: POISON });
    assert!(end.crashes(Mode::Strict));
}

#[test]
fn half_popped_frame_reading_a_valid_pc_is_a_silently_wrong_traceback() {
    let mut mem = stack();
    mem.words.insert(F_SP + 0x30, 0x2010); // a stale value that is a PC in the caller
    assert_eq!(
        preempt_walk(&mem, 0x1020, F_SP + 0x30, 0).0,
        Verdict::WrongReturnPc
    );
}

#[test]
fn right_return_pc_at_the_wrong_sp_is_wrong_caller_sp() {
    // The frame is 0x10 larger than pcsp says and the LR slot holds the right PC where the
    // unwinder looks: it finds the caller but computes its SP 0x10 too low.
    let mut mem = stack();
    mem.words.insert(F_SP - 0x10, RET_INTO_CALLER);
    assert_eq!(
        preempt_walk(&mem, 0x1020, F_SP - 0x10, 0).0,
        Verdict::WrongCallerSp
    );
}

#[test]
fn a_walk_that_ends_off_the_top_did_not_unwind_completely() {
    // Every frame is found but SP is 8 bytes off all the way to goexit.
    let mut mem = stack();
    mem.words.insert(F_SP + 8, RET_INTO_CALLER);
    mem.words.insert(CSP + 8, GOEXIT_RET);
    let tb = unwind(&Funcs, &mem, start(0x1020, F_SP + 8, 0, false), strict());
    assert!(
        matches!(tb.end, End::DidNotUnwindCompletely { .. }),
        "{:?}",
        tb.end
    );
    // Against the full truth the first divergence is the caller's SP...
    assert_eq!(
        judge(&tb, 0, &truth(0x1020, F_SP + 8)).verdict,
        Verdict::WrongCallerSp
    );
    // ...and a walk whose listed frames all match is judged by how it ended.
    let short = [TrueFrame {
        pc: 0x1020,
        sp: F_SP + 8,
    }];
    assert_eq!(
        judge(&tb, 0, &short).verdict,
        Verdict::DidNotUnwindCompletely
    );
}

#[test]
fn a_frame_returning_to_itself_is_stuck() {
    // pcsp 0 and LR pointing at the same PC: pc == lr && sp == fp.
    let mem = stack();
    assert_eq!(signal_walk(&mem, 0x1004, CSP, 0x1004), Verdict::Stuck);
}

#[test]
fn reading_outside_the_stack_is_a_memory_fault() {
    let mem = stack();
    let (v, end) = preempt_walk(&mem, 0x1020, 0x9000_0000, 0);
    assert_eq!(v, Verdict::MemoryReadFault);
    assert!(matches!(end, End::ReadFault { .. }));
}

#[test]
fn a_strict_walk_through_an_spwrite_frame_throws() {
    let mut mem = stack();
    mem.words.insert(F_SP, 0x5010); // f's caller is an SPWrite function
    let tb = unwind(&Funcs, &mem, start(0x1020, F_SP, 0, true), strict());
    assert_eq!(
        tb.end,
        End::UnexpectedSpWrite {
            func: "spwriter".into()
        }
    );
    // The walk throws while resolving the caller, before producing its frame: the verdict
    // is what the runtime prints.
    assert_eq!(
        judge(&tb, 0, &truth(0x1020, F_SP)).verdict,
        Verdict::UnexpectedSpWrite
    );
}

#[test]
fn a_pc_without_pcsp_is_an_invalid_symbol_table() {
    let mem = stack();
    assert_eq!(signal_walk(&mem, 0x10f4, F_SP, 0), Verdict::InvalidSpDelta);
}

#[test]
fn the_injected_call_hop_takes_lr_from_the_spill_when_the_frame_is_empty() {
    // Preempted before f's prologue: pushCall spilled LR, and the hop must use it.
    let mem = stack();
    let mut overlay = Overlay::new(&mem);
    let regs = Interrupted {
        sp: CSP,
        lr: RET_INTO_CALLER,
        r29: 0,
    };
    let s = inject(
        &mut overlay,
        Arch::Arm64,
        GoVersion {
            minor: 23,
            patch: 4,
        },
        regs,
        0x1004,
        AP,
    );
    let tb = unwind(&Funcs, &overlay, s, strict());
    assert_eq!(tb.end, End::Complete);
    let pcs: Vec<u64> = tb.frames.iter().map(|f| f.pc).collect();
    assert_eq!(pcs, vec![0x4080, 0x1004, RET_INTO_CALLER, GOEXIT_RET]);
    assert_eq!(
        tb.frames[1].lr_slot, None,
        "the LR came from pushCall's spill, not a frame slot"
    );
}

#[test]
fn sigpanic_is_an_injected_call_too() {
    // A walk starting in sigpanic, injected at f's PC 0x1020: the hop skips 16 bytes.
    let mut mem = stack();
    mem.words.insert(F_SP - 16, 0x1020);
    let tb = unwind(
        &Funcs,
        &mem,
        start(0x6000, F_SP - 16, 0x1020, true),
        strict(),
    );
    let pcs: Vec<u64> = tb.frames.iter().map(|f| f.pc).collect();
    assert_eq!(
        pcs,
        vec![0x6000, 0x1020, RET_INTO_CALLER, GOEXIT_RET],
        "{:?}",
        tb.end
    );
    assert_eq!(tb.frames[1].sp, F_SP, "the hop skips pushCall's 16 bytes");
    assert_eq!(tb.end, End::Complete);
}
