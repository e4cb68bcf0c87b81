//! Real amd64 code in the emulator: the frame functions of `corpus/go1.27.3/frames-amd64`
//! run whole from their entries by `twixt_emu::amd64::Tracer`, each called from its call
//! site in `main.main` with goexit above it, and every boundary judged by Go's unwinder
//! (amd64 rules, after an injected asyncPreempt) and the frame-pointer walk (after the
//! same injection: records below SP lost), as the scan judges arm64.

use std::collections::BTreeSet;
use std::path::Path;

use twixt_emu::amd64::{Step, TraceEnd, TraceStart, Tracer};
use twixt_emu::{Layout, MapRange};
use twixt_image::Image;
use twixt_program::GoProgram;
use twixt_unwind::boundary::{Interrupt, Rules, check_fp, check_go};
use twixt_unwind::fp::FpVerdict;
use twixt_unwind::preempt::Decision;
use twixt_unwind::verdict::{TrueFrame, Verdict};
use twixt_unwind::{Arch, Memory};

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

/// Reads the emulator's memory as the run left it. The words the walks read are written
/// once by the code (the return PC by CALL, the frame record by PUSHQ BP) and never again,
/// so they hold at every boundary where a walk reads them what they hold at the end.
struct After<'t, 'e>(&'t Tracer<'e>);

impl Memory for After<'_, '_> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.0.read_u64(addr)
    }
}

/// What running one function whole showed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Judged {
    /// Boundaries of the function itself (callees' not counted), repeats included.
    boundaries: usize,
    /// Distinct PCs of the function that ran.
    pcs: usize,
    /// PCs where the emulated SP is not where pcsp puts it.
    sp_off: Vec<u64>,
    /// PCs where Go's walk after an injected asyncPreempt goes wrong, with the verdict.
    go: Vec<(u64, Verdict)>,
    /// PCs where the frame-pointer walk goes wrong.
    fp: Vec<(u64, FpVerdict)>,
}

/// Runs `name` whole, called from main.main's call site with goexit above, and judges
/// every boundary of it with both unwinders.
fn run_and_judge(prog: &GoProgram<'_>, image: &Image, name: &str) -> Judged {
    let f = prog.func_named(name).expect("function").clone();
    let main = prog.func_named("main.main").expect("main.main").clone();
    let goexit_ret = prog
        .func_named("runtime.goexit")
        .expect("goexit")
        .info
        .entry
        + 1;
    let code = prog
        .read(main.info.entry, (main.code_end - main.info.entry) as usize)
        .expect("main.main code");
    let ret = twixt_amd64::decode_all(main.info.entry, code)
        .into_iter()
        .find(|i| {
            i.effects.flow
                == twixt_amd64::Flow::Call {
                    target: f.info.entry,
                }
        })
        .map(|i| i.next_addr())
        .expect("call site in main.main");
    let main_frame = main.pcsp_at(ret).expect("main.main pcsp");
    let mut tracer = Tracer::new(&ranges(image), layout(image)).expect("tracer");
    // The planted chain: goexit <- main.main (its frame and the return PC) <- f.
    let top = tracer.layout().stack_hi - 0x1000;
    let csp = top - main_frame - 8;
    let caller_rbp = top - 0x10;
    let start = TraceStart {
        pc: f.info.entry,
        sp: csp - 8,
        fp: caller_rbp,
        regs: vec![(0, 5)],
        writes: vec![(top - 8, goexit_ret), (caller_rbp, 0), (csp - 8, ret)],
        allowed: prog.func_named("main.callee").expect("callee").info.entry..main.info.entry,
        stop: ret,
        budget: 10_000_000,
    };
    let (steps, end) = tracer.run(&start).expect("run");
    assert_eq!(end, TraceEnd::Stopped, "{name}");
    let own: Vec<Step> = steps
        .into_iter()
        .filter(|s| (f.info.entry..f.end).contains(&s.pc))
        .collect();
    let rules = Rules {
        version: prog.version(),
        async_preempt: prog.async_preempt_frame().expect("asyncPreempt"),
        stktopsp: top,
        max_frames: 16,
    };
    let mem = After(&tracer);
    let mut judged = Judged {
        boundaries: own.len(),
        pcs: own.iter().map(|s| s.pc).collect::<BTreeSet<u64>>().len(),
        ..Judged::default()
    };
    // A REP STOSQ is one boundary per iteration with the same registers: judge each
    // distinct boundary once.
    let distinct: BTreeSet<(u64, u64, u64)> = own.iter().map(|s| (s.pc, s.sp, s.fp)).collect();
    for (pc, sp, fp) in distinct {
        let s = Step { pc, sp, fp };
        let pcsp = f.pcsp_at(s.pc).expect("pcsp");
        if s.sp + pcsp + 8 != csp {
            judged.sp_off.push(s.pc);
        }
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
                TrueFrame { pc: ret, sp: csp },
                TrueFrame {
                    pc: goexit_ret,
                    sp: top,
                },
            ]
        };
        let resume = Decision::Preempt { resume_pc: s.pc };
        let go = check_go(prog, &mem, &rules, at, resume, truth);
        if !go.is_ok() {
            judged.go.push((s.pc, go.judgement.verdict));
        }
        let own = f.info.entry..f.end;
        let fp = check_fp(&mem, at, true, own, &[ret, goexit_ret], caller_rbp, 16);
        if fp.judgement.verdict != FpVerdict::Ok {
            judged.fp.push((s.pc, fp.judgement.verdict));
        }
    }
    judged
}

fn frames_amd64() -> Image {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/go1.27.3/frames-amd64");
    Image::open(&path).expect("frames-amd64")
}

#[test]
fn nonleaf70000_runs_and_unwinds_at_every_boundary() {
    let image = frames_amd64();
    let prog = GoProgram::for_listing(&image).expect("pclntab");
    let judged = run_and_judge(&prog, &image, "main.nonleaf70000");
    // Every instruction of the path ran: the prologue, the body (two rep stosq and the
    // call), the epilogue through `ret`; not the 4 instructions of the morestack tail.
    assert_eq!(judged.pcs, 43);
    assert_eq!(
        judged,
        Judged {
            boundaries: judged.boundaries,
            pcs: 43,
            ..Judged::default()
        }
    );
}

/// Every leaf and non-leaf frame of `frames` (96 bytes to just over 16 MiB) and the chain,
/// as go1.27.3 builds them for amd64: the emulated SP is where pcsp says at every boundary
/// and both unwinders are right at every one (the question issue 15 asks, for this
/// release and these frames: no SP or frame-pointer window).
#[test]
fn every_frames_function_unwinds_at_every_boundary() {
    let image = frames_amd64();
    let prog = GoProgram::for_listing(&image).expect("pclntab");
    let names: Vec<String> = prog
        .funcs()
        .iter()
        .map(|f| f.info.name.to_string())
        .filter(|n| {
            n.starts_with("main.leaf") || n.starts_with("main.nonleaf") || n == "main.chain1"
        })
        .collect();
    assert_eq!(
        names.len(),
        25,
        "12 frame sizes, leaf and non-leaf, and main.chain1"
    );
    let mut pcs = 0;
    for name in &names {
        let judged = run_and_judge(&prog, &image, name);
        assert_eq!(judged.pcs, before_tail(&prog, name), "{name}: PCs that ran");
        assert_eq!(judged.sp_off, Vec::<u64>::new(), "{name}: SP against pcsp");
        assert_eq!(judged.go, Vec::new(), "{name}: Go walk");
        assert_eq!(judged.fp, Vec::new(), "{name}: frame-pointer walk");
        pcs += judged.pcs;
    }
    assert!(pcs > 25 * 20);
}

/// The instructions of `name` up to its last RET: all but the morestack tail.
fn before_tail(prog: &GoProgram<'_>, name: &str) -> usize {
    let f = prog.func_named(name).expect("function");
    let code = prog
        .read(f.info.entry, (f.code_end - f.info.entry) as usize)
        .expect("code");
    let insns = twixt_amd64::decode_all(f.info.entry, code);
    insns
        .iter()
        .rposition(|i| i.effects.flow == twixt_amd64::Flow::Ret)
        .map_or(0, |last| last + 1)
}
