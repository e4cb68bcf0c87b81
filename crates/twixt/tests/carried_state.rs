//! State carried across a function's regions: a region starts from the SP, R29, LR and
//! stored stack words its predecessors leave, not from what the metadata implies at its
//! first PC (`twixt_check::plan::region_states`).
//!
//! - A patched corpus function where a block boundary sits between an SP change and the
//!   pcsp change: the boundaries after it are windows, judged at the SP the code left.
//! - `runtime.systemstack`'s no-switch path in every corpus binary: the boundaries after its
//!   `ldr x30, [sp], #16` run with SP 16 bytes above what pcsp says, and twixt sees that SP;
//!   why Go's unwinders still walk correctly there is asserted too.
//! - The C-call stubs (`runtime.callCgoMmap`): after their own `SUB $16, RSP`, the frame
//!   record stays where the prologue put it, and the post-call region finds it there.

mod common;

use std::sync::Mutex;

use common::{image, manifest, patched};
use twixt_check::{BoundaryRecord, GoProgram, ScanOptions, ScanReport, scan};
use twixt_image::Image;

/// Every boundary record of the functions `accept` takes, in PC order.
fn records(
    prog: &GoProgram<'_>,
    accept: &(dyn Fn(&str) -> bool + Sync),
) -> (ScanReport, Vec<BoundaryRecord>) {
    let seen = Mutex::new(Vec::new());
    let cb = |r: &BoundaryRecord| seen.lock().unwrap().push(r.clone());
    let options = ScanOptions {
        filter: Some(accept),
        on_boundary: Some(&cb),
        jobs: 1,
        ..ScanOptions::default()
    };
    let report = scan(prog, &options).expect("scan");
    let mut records = seen.into_inner().unwrap();
    records.sort_by_key(|r| r.pc);
    (report, records)
}

// Hand-assembled words, each with its encoding checked by `aarch64-linux-gnu-as`.
/// `str x30, [sp, #-96]!`
const STR_LR_PRE_96: u32 = 0xf81a_0ffe;
/// `stur x29, [sp, #-8]`
const STUR_FP: u32 = 0xf81f_83fd;
/// `sub x29, sp, #0x8`
const SUB_FP_SP_8: u32 = 0xd100_23fd;
/// `add sp, sp, #0x20`
const ADD_SP_32: u32 = 0x9100_83ff;
/// `b .+8`
const B_PLUS_8: u32 = 0x1400_0002;
/// `udf #0`
const UDF: u32 = 0x0000_0000;
/// `nop`
const NOP: u32 = 0xd503_201f;
/// `add x29, sp, #0x38`
const ADD_FP_SP_56: u32 = 0x9100_e3fd;
/// `add sp, sp, #0x40`
const ADD_SP_64: u32 = 0x9101_03ff;
/// `ret`
const RET: u32 = 0xd65f_03c0;

/// `main.leaf96` of go1.23.4 `frames` rewritten (its metadata unchanged: pcsp 0 at +0x0,
/// 0x60 from +0x4 to +0x58, 0 at +0x5c; every PC preemptible) so that SP moves by 0x20 in
/// the first block, which the metadata does not record, and a branch starts a new region:
///
/// ```text
/// +0x00 str x30, [sp, #-96]!      +0x14 udf #0
/// +0x04 stur x29, [sp, #-8]       +0x18 nop           <- region start: pcsp 0x60, SP caller-0x40
/// +0x08 sub x29, sp, #0x8         ...  nop
/// +0x0c add sp, sp, #0x20         +0x54 add x29, sp, #0x38
/// +0x10 b +0x18                   +0x58 add sp, sp, #0x40
///                                 +0x5c ret
/// ```
fn sp_moved_before_a_block_boundary() -> Vec<u32> {
    let mut words = vec![
        STR_LR_PRE_96,
        STUR_FP,
        SUB_FP_SP_8,
        ADD_SP_32,
        B_PLUS_8,
        UDF,
    ];
    while words.len() < 21 {
        words.push(NOP);
    }
    words.extend([ADD_FP_SP_56, ADD_SP_64, RET]);
    assert_eq!(words.len(), 24);
    words
}

#[test]
fn a_block_boundary_between_an_sp_change_and_the_pcsp_change_keeps_the_real_sp() {
    let bytes = patched(
        "go1.23.4/frames",
        "main.leaf96",
        &sp_moved_before_a_block_boundary(),
    );
    let image = Image::parse("frames-patched", bytes).unwrap();
    let prog = GoProgram::new(&image).unwrap();
    let (report, recs) = records(&prog, &|n: &str| n == "main.leaf96");
    assert_eq!(report.summary.unanalysed, 0, "{:?}", report.unanalysed);
    let at = |offset: u64| {
        recs.iter()
            .find(|r| r.offset == offset)
            .unwrap_or_else(|| panic!("no boundary at +{offset:#x}"))
    };
    // Before the untracked SP change: SP where pcsp says, no window.
    let before = at(0xc);
    assert_eq!(before.caller_sp - before.sp, 0x60);
    assert_eq!(before.go.verdict.name(), "ok");
    // After it, in the same region and in the next one (the branch target), SP is 0x20
    // higher than pcsp says: the Go unwinder computes the caller's SP 0x20 too high.
    for offset in [0x10, 0x18, 0x30, 0x54] {
        let r = at(offset);
        assert_eq!(r.pcsp, Some(0x60), "+{offset:#x}");
        assert_eq!(
            r.caller_sp - r.sp,
            0x40,
            "+{offset:#x}: SP carried across the branch"
        );
        assert_eq!(
            r.go.computed_caller_sp,
            Some(r.caller_sp + 0x20),
            "+{offset:#x}"
        );
        assert_ne!(r.go.verdict.name(), "ok", "+{offset:#x}: {:?}", r.go);
        assert!(r.resume_pc.is_some(), "+{offset:#x} is preemptible");
    }
    // The frame record stayed where the prologue put it: R29 is caller-0x68, now below
    // SP-8 (the frame pointer walk reads a record the injected call overwrites).
    let r = at(0x18);
    assert_eq!(r.caller_sp - r.r29, 0x68);
    assert_eq!(r.fp.verdict.name(), "fp-below-sp");
    // The windows are in the report, the branch target's among them.
    let offsets: Vec<u64> = report
        .findings
        .iter()
        .filter(|f| f.unwinder.name() == "go")
        .map(|f| f.offset)
        .collect();
    assert!(offsets.contains(&0x18), "{offsets:x?}");
    assert!(!offsets.contains(&0xc), "{offsets:x?}");
}

/// The no-switch path of `runtime.systemstack` (asm_arm64.s):
///
/// ```text
/// noswitch:
///     MOVD 0(R26), R3     // code pointer
///     MOVD.P 16(RSP), R30 // restore LR
///     SUB $8, RSP, R29    // restore FP
///     B (R3)
/// ```
///
/// The assembler does not record the pop (pcsp stays 0x10 after it), so the last two
/// boundaries run with SP 16 bytes above what pcsp says. twixt sees that SP. They are not
/// windows of Go's unwinders: systemstack writes SP (`FuncFlagSPWrite`), and a profiling or
/// printing walk stops at an SPWrite frame (traceback.go, `resolveInternal`: `frame.lr = 0`
/// when `unwindSilentErrors|unwindPrintErrors`); the runtime never preempts assembly, so no
/// strict walk starts there. The frame-pointer walk is right too: before `sub x29` R29
/// still names systemstack's own record (intact: only a signal can land here, and it runs
/// on the signal stack), after it R29 is the caller's.
#[test]
fn systemstack_no_switch_path_runs_with_the_popped_sp_in_every_corpus_binary() {
    let mut checked = 0;
    for entry in manifest() {
        let image = image(&entry.path);
        let prog = GoProgram::new(&image).unwrap();
        let (report, recs) = records(&prog, &|n: &str| n == "runtime.systemstack");
        assert_eq!(report.summary.unanalysed, 0, "{}", entry.path);
        // The epilogue pops with the same instruction (then `ret`); the no-switch path
        // restores R29 next.
        let pop = recs
            .windows(2)
            .position(|w| {
                w[0].instruction == "ldr x30, [sp], #16" && w[1].instruction == "sub x29, sp, #0x8"
            })
            .unwrap_or_else(|| panic!("{}: no noswitch pop", entry.path));
        let (sub, br) = (&recs[pop + 1], &recs[pop + 2]);
        assert_eq!(sub.instruction, "sub x29, sp, #0x8", "{}", entry.path);
        assert!(br.instruction.starts_with("br x3"), "{}", entry.path);
        for r in [sub, br] {
            let what = format!("{} {} +{:#x}", entry.path, r.instruction, r.offset);
            assert_eq!(r.pcsp, Some(0x10), "{what}");
            assert_eq!(r.sp, r.caller_sp, "{what}: SP is 16 above what pcsp says");
            assert_eq!(r.resume_pc, None, "{what}: assembly is never preempted");
            assert_eq!(r.go.verdict.name(), "ok", "{what}: {:?}", r.go);
            assert_eq!(
                r.go.read, None,
                "{what}: the walk stops at the SPWrite frame"
            );
            assert_eq!(r.fp.verdict.name(), "ok", "{what}: {:?}", r.fp);
        }
        // Before `sub x29`, R29 is systemstack's own record, 0x18 below the caller's SP.
        assert_eq!(sub.caller_sp - sub.r29, 0x18, "{}", entry.path);
        assert_eq!(br.r29, br.caller_r29, "{}", entry.path);
        checked += 1;
    }
    assert!(checked >= 17, "{checked} binaries");
}

/// `runtime.callCgoMmap` reserves 16 bytes below its frame for the C function
/// (`SUB $16, RSP; BL R9; ADD $16, RSP`). The region after the call starts at pcsp 0x20;
/// the frame record is where the prologue put it, at SP+0x10 (saved LR) and SP+0x8, and the
/// 16 reserved bytes were never written. Planting a record at the metadata's SP would
/// invent windows at the epilogue and hide the real one at the `add`.
#[test]
fn cgo_call_stubs_find_their_frame_record_after_the_call() {
    for path in ["go1.19.8/frames", "go1.23.4/frames", "go1.27.3/frames"] {
        let image = image(path);
        let prog = GoProgram::new(&image).unwrap();
        let (report, recs) = records(&prog, &|n: &str| n == "runtime.callCgoMmap");
        let call = recs
            .iter()
            .position(|r| r.instruction.starts_with("blr x9"))
            .unwrap_or_else(|| panic!("{path}: no call"));
        // At the call and at the `add` after it, SP sits on the 16 reserved bytes: a
        // profiling walk reads the never-written word there as the return PC.
        for r in &recs[call..call + 2] {
            assert_eq!(r.pcsp, Some(0x20), "{path} +{:#x}", r.offset);
            assert_eq!(r.caller_sp - r.sp, 0x20, "{path} +{:#x}", r.offset);
            assert_eq!(
                r.go.verdict.name(),
                "unexpected-return-pc",
                "{path}: {:?}",
                r.go
            );
            assert_eq!(r.true_return_slot, Some(r.caller_sp - 0x10), "{path}");
        }
        assert_eq!(recs[call + 1].instruction, "add sp, sp, #0x10");
        // Once SP is back over the frame, both walks are right to the end.
        let after: Vec<&BoundaryRecord> = recs[call + 2..]
            .iter()
            .take_while(|r| r.instruction != "ret")
            .collect();
        assert!(after.len() >= 2, "{path}: {after:?}");
        for r in &after {
            assert_eq!(
                r.go.verdict.name(),
                "ok",
                "{path} +{:#x}: {:?}",
                r.offset,
                r.go
            );
            assert_eq!(
                r.fp.verdict.name(),
                "ok",
                "{path} +{:#x}: {:?}",
                r.offset,
                r.fp
            );
        }
        let windows: Vec<u64> = report.findings.iter().map(|f| f.offset).collect();
        assert_eq!(
            windows,
            vec![recs[call].offset, recs[call + 1].offset],
            "{path}"
        );
    }
}
