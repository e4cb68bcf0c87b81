//! The program model on real amd64 binaries of the corpus: asyncPreempt's frame read from
//! the code, and Go's unwinder (amd64 rules) walking the real pcsp tables of
//! `main.nonleaf70000` after an injected asyncPreempt at every instruction boundary.

use std::path::{Path, PathBuf};

use twixt_image::Image;
use twixt_program::GoProgram;
use twixt_unwind::boundary::{Interrupt, Rules, check_go};
use twixt_unwind::preempt::{AsyncPreemptFrame, Decision};
use twixt_unwind::verdict::{TrueFrame, Verdict};
use twixt_unwind::{Arch, WordMemory};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus")
        .join(name)
}

#[test]
fn async_preempt_frame_is_read_from_amd64_code() {
    let image = Image::open(&corpus("go1.27.3/frames-amd64")).expect("frames-amd64");
    let prog = GoProgram::for_listing(&image).expect("pclntab");
    // 0x47d0c6: call runtime.asyncPreempt2 (5 bytes); pcsp 0x80 = PUSHQ BP, PUSHFQ,
    // SUBQ $0x70 (go1.27 keeps the vector registers in p.xRegs).
    assert_eq!(
        prog.async_preempt_frame(),
        Some(AsyncPreemptFrame {
            return_pc: 0x47d0cb,
            frame_size: 0x80
        })
    );
    let image = Image::open(&corpus("go1.27.3/hello-amd64")).expect("hello-amd64");
    let prog = GoProgram::for_listing(&image).expect("pclntab");
    assert_eq!(prog.async_preempt_frame().map(|f| f.frame_size), Some(0x80));
}

#[test]
fn async_preempt_frame_on_arm64_is_unchanged() {
    let image = Image::open(&corpus("go1.27.3/frames")).expect("frames");
    let prog = GoProgram::new(&image).expect("pclntab");
    let ap = prog.async_preempt_frame().expect("asyncPreempt");
    // The BL before the return PC calls asyncPreempt2; go1.27.3's frame is 240 bytes.
    assert_eq!(ap.frame_size, 240);
    let bl = prog.word(ap.return_pc - 4).expect("word");
    assert_eq!(bl >> 26, 0b100101, "BL at {:#x}", ap.return_pc - 4);
}

/// Every instruction boundary of `main.nonleaf70000` with the SP offset below its entry SP
/// that its decoded instructions give (PUSH -8, SUBQ, ADDQ, POP +8; code after RET is
/// entered with the entry SP), paired with the pcsp the binary records there.
fn sp_offsets(prog: &GoProgram<'_>, name: &str) -> Vec<(u64, u64, u64)> {
    let f = prog.func_named(name).expect("function");
    let len = usize::try_from(f.code_end - f.info.entry).expect("size");
    let bytes = prog.read(f.info.entry, len).expect("code");
    let mut off = 0i64;
    let mut out = Vec::new();
    for insn in twixt_amd64::decode_all(f.info.entry, bytes) {
        let pcsp = f.pcsp_at(insn.addr).expect("pcsp");
        out.push((insn.addr, u64::try_from(off).expect("offset"), pcsp));
        if insn.effects.flow == twixt_amd64::Flow::Ret {
            off = 0;
        } else if let Some(d) = insn.effects.sp_delta {
            off -= d;
        }
    }
    out
}

#[test]
fn the_go_walk_after_preemption_is_right_at_every_boundary_of_a_real_function() {
    let image = Image::open(&corpus("go1.27.3/frames-amd64")).expect("frames-amd64");
    let prog = GoProgram::for_listing(&image).expect("pclntab");
    let ap = prog.async_preempt_frame().expect("asyncPreempt");
    let main = prog.func_named("main.main").expect("main.main");
    let goexit = prog.func_named("runtime.goexit").expect("goexit");
    // main.main called main.nonleaf70000 at 0x48d908 with pcsp 0xe0, as the root frame.
    let top = 0xc000_8000u64;
    let ret_into_main = 0x48d90d;
    assert_eq!(main.pcsp_at(ret_into_main), Some(0xe0));
    let csp = top - 0xe0 - 8;
    let goexit_ret = goexit.info.entry + 1;
    let mut mem = WordMemory::default();
    for a in (csp - 0x12000..top + 0x100).step_by(8) {
        mem.words.insert(a, 0xdead_0000);
    }
    mem.words.insert(top - 8, goexit_ret);
    mem.words.insert(csp - 8, ret_into_main);
    let rules = Rules {
        version: prog.version(),
        async_preempt: ap,
        stktopsp: top,
        max_frames: 16,
    };
    let offsets = sp_offsets(&prog, "main.nonleaf70000");
    assert_eq!(
        offsets.len(),
        47,
        "corpus/go1.27.3/frames-amd64.disasm-nonleaf70000.txt"
    );
    for (pc, off, pcsp) in offsets {
        assert_eq!(off, pcsp, "decoded SP offset against pcsp at {pc:#x}");
        let sp = csp - 8 - off;
        let at = Interrupt {
            arch: Arch::Amd64,
            pc,
            sp,
            lr: 0,
            r29: 0,
        };
        let truth = |p: u64| {
            vec![
                TrueFrame { pc: p, sp },
                TrueFrame {
                    pc: ret_into_main,
                    sp: csp,
                },
                TrueFrame {
                    pc: goexit_ret,
                    sp: top,
                },
            ]
        };
        let check = check_go(
            &prog,
            &mem,
            &rules,
            at,
            Decision::Preempt { resume_pc: pc },
            truth,
        );
        assert_eq!(check.judgement.verdict, Verdict::Ok, "at {pc:#x}");
        assert!(!check.preemptible);
    }
}
