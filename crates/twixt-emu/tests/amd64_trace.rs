//! Real amd64 code in the emulator: `main.nonleaf70000` of `corpus/go1.27.3/frames-amd64`
//! run whole from its entry by `twixt_emu::amd64::Tracer`, called from `main.main` with
//! goexit above it, and every boundary judged by Go's unwinder (amd64 rules, after an
//! injected asyncPreempt) and the frame-pointer walk, as the scan judges arm64.

use std::path::Path;

use twixt_emu::amd64::{Step, TraceEnd, TraceStart, Tracer};
use twixt_emu::{Layout, MapRange};
use twixt_image::Image;
use twixt_program::GoProgram;
use twixt_unwind::boundary::{Interrupt, Rules, check_fp, check_go};
use twixt_unwind::fp::FpVerdict;
use twixt_unwind::preempt::Decision;
use twixt_unwind::verdict::{TrueFrame, Verdict};
use twixt_unwind::{Arch, WordMemory};

/// main.main's `call main.nonleaf70000` returns here; main.main's pcsp there is 0xe0.
const RET_INTO_MAIN: u64 = 0x48d90d;

fn ranges<'a>(image: &'a Image) -> Vec<MapRange<'a>> {
    image
        .segments()
        .iter()
        .map(|s| MapRange {
            vaddr: s.vaddr,
            size: s.mem_size,
            read: s.perms.read,
            write: s.perms.write,
            execute: s.perms.execute,
            data: image.segment_bytes(s),
        })
        .collect()
}

fn layout(image: &Image) -> Layout {
    let end = image
        .segments()
        .iter()
        .map(|s| s.vaddr + s.mem_size)
        .max()
        .unwrap_or(0);
    Layout::above(end)
}

#[test]
fn nonleaf70000_runs_and_unwinds_at_every_boundary() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/go1.27.3/frames-amd64");
    let image = Image::open(&path).expect("frames-amd64");
    let prog = GoProgram::for_listing(&image).expect("pclntab");
    let f = prog
        .func_named("main.nonleaf70000")
        .expect("function")
        .clone();
    let callee = prog.func_named("main.callee").expect("callee").clone();
    let goexit_ret = prog
        .func_named("runtime.goexit")
        .expect("goexit")
        .info
        .entry
        + 1;
    let mut tracer = Tracer::new(&ranges(&image), layout(&image)).expect("tracer");
    // The planted chain: goexit <- main.main (frame 0xe0 + the return PC) <- f.
    let top = tracer.layout().stack_hi - 0x1000;
    let csp = top - 0xe0 - 8;
    let caller_rbp = top - 0x10;
    let start = TraceStart {
        pc: f.info.entry,
        sp: csp - 8,
        fp: caller_rbp,
        regs: vec![(0, 5)],
        writes: vec![
            (top - 8, goexit_ret),
            (caller_rbp, 0),
            (csp - 8, RET_INTO_MAIN),
        ],
        allowed: callee.info.entry..f.end,
        stop: RET_INTO_MAIN,
        budget: 100_000,
    };
    let (steps, end) = tracer.run(&start).expect("run");
    assert_eq!(end, TraceEnd::Stopped);
    let own: Vec<Step> = steps
        .into_iter()
        .filter(|s| (f.info.entry..f.end).contains(&s.pc))
        .collect();
    // Every instruction of the path ran: the prologue, the body (two rep stosq and the
    // call), the epilogue through `ret`; not the morestack tail.
    let first_tail_pc = 0x483b08;
    let distinct: std::collections::BTreeSet<u64> = own.iter().map(|s| s.pc).collect();
    assert_eq!(distinct.len(), 43);
    assert!(distinct.iter().all(|&pc| pc < first_tail_pc));

    let mut mem = WordMemory::default();
    for a in (csp - 0x12000..top + 0x100).step_by(8) {
        mem.words.insert(a, 0xdead_0000);
    }
    mem.words.insert(top - 8, goexit_ret);
    mem.words.insert(caller_rbp, 0);
    mem.words.insert(csp - 8, RET_INTO_MAIN);
    mem.words.insert(csp - 16, caller_rbp);
    let rules = Rules {
        version: prog.version(),
        async_preempt: prog.async_preempt_frame().expect("asyncPreempt"),
        stktopsp: top,
        max_frames: 16,
    };
    for s in own {
        // The emulated SP is where pcsp says: the caller's SP is SP + pcsp + 8.
        let pcsp = f.pcsp_at(s.pc).expect("pcsp");
        assert_eq!(s.sp + pcsp + 8, csp, "SP at {:#x}", s.pc);
        let at = Interrupt {
            arch: Arch::Amd64,
            pc: s.pc,
            sp: s.sp,
            lr: 0,
            r29: s.fp,
        };
        let truth = |p: u64| {
            vec![
                TrueFrame { pc: p, sp: s.sp },
                TrueFrame {
                    pc: RET_INTO_MAIN,
                    sp: csp,
                },
                TrueFrame {
                    pc: goexit_ret,
                    sp: top,
                },
            ]
        };
        let go = check_go(
            &prog,
            &mem,
            &rules,
            at,
            Decision::Preempt { resume_pc: s.pc },
            truth,
        );
        assert_eq!(go.judgement.verdict, Verdict::Ok, "Go walk at {:#x}", s.pc);
        let fp = check_fp(
            &mem,
            at,
            true,
            f.info.entry..f.end,
            &[RET_INTO_MAIN, goexit_ret],
            caller_rbp,
            16,
        );
        assert_eq!(
            fp.judgement.verdict,
            FpVerdict::Ok,
            "FP walk at {:#x}",
            s.pc
        );
    }
}
