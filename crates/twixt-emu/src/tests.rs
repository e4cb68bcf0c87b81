//! Harness tests on hand-assembled arm64 code: boundaries are observed once each, the
//! stack is restored between regions, and runaway or hostile code ends its region.

use super::*;

/// Records (pc, sp) at each boundary.
#[derive(Default)]
struct Recorder {
    seen: Vec<(u64, u64)>,
}

impl Observer for Recorder {
    fn boundary(&mut self, b: &Boundary<'_, '_, HookState<Self>>) -> bool {
        self.seen.push((b.pc, b.sp));
        true
    }
}

const TEXT: u64 = 0x10000;

fn harness(code: &[u32]) -> Harness<'static, Recorder> {
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    let ranges = [MapRange {
        vaddr: TEXT,
        size: 0x1000,
        read: true,
        write: false,
        execute: true,
        data: &bytes,
    }];
    Harness::new(&ranges, Layout::default()).expect("harness")
}

fn start(h: &Harness<'_, Recorder>, n: usize) -> RegionStart {
    RegionStart {
        pc: TEXT,
        last: TEXT + 4 * (n as u64 - 1),
        instructions: n,
        x: [h.layout().scratch_pointer(); 31],
        sp: h.layout().stack_hi - 0x100,
        writes: vec![],
        unhooked_stores: vec![],
    }
}

#[test]
fn observes_every_boundary_once_with_sp() {
    // sub sp, sp, #0x10 ; add sp, sp, #0x1, lsl #12 ; add sp, sp, #0x8 ; ret
    let mut h = harness(&[0xd10043ff, 0x914007ff, 0x910023ff, 0xd65f03c0]);
    let s = start(&h, 4);
    let (rec, end) = h.run(&s, Recorder::default());
    assert_eq!(end, RunEnd::Completed);
    let sp0 = s.sp;
    assert_eq!(
        rec.seen,
        vec![
            (TEXT, sp0),
            (TEXT + 4, sp0 - 0x10),
            (TEXT + 8, sp0 - 0x10 + 0x1000),
            (TEXT + 12, sp0 - 0x10 + 0x1008),
        ]
    );
}

#[test]
fn single_instruction_region_is_observed() {
    let mut h = harness(&[0xd65f03c0]); // ret
    let s = start(&h, 1);
    let (rec, end) = h.run(&s, Recorder::default());
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(rec.seen.len(), 1);
}

#[test]
fn stack_is_poisoned_again_between_regions() {
    // str x0, [sp, #-8]! ; nop ; ret   (x0 = 0x1234)
    let mut h = harness(&[0xf81f8fe0, 0xd503201f, 0xd65f03c0]);
    let mut s = start(&h, 3);
    s.x[0] = 0x1234;
    let (_, end) = h.run(&s, Recorder::default());
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(h.read_u64(s.sp - 8), Some(0x1234));
    // A one-instruction region starting at the ret leaves memory alone, but the stack
    // must have been restored before it ran.
    let mut s2 = start(&h, 1);
    s2.pc = TEXT + 8;
    s2.last = TEXT + 8;
    let _ = h.run(&s2, Recorder::default());
    assert_eq!(h.read_u64(s.sp - 8), Some(h.layout().poison()));
}

#[test]
fn writing_code_ends_the_region() {
    // adr x1, . ; str x0, [x1] ; nop ; ret
    let mut h = harness(&[0x10000001, 0xf9000020, 0xd503201f, 0xd65f03c0]);
    let s = start(&h, 4);
    let (_, end) = h.run(&s, Recorder::default());
    match end {
        RunEnd::Unanalysed(reason) => assert!(reason.contains("read-only"), "{reason}"),
        other => panic!("expected unanalysed, got {other:?}"),
    }
}

#[test]
fn jumping_to_unmapped_memory_ends_the_region() {
    // mov x1, #0x5000000 (movz x1, #0x500, lsl #16) ; br x1 ; nop ; ret
    let mut h = harness(&[0xd2a0a001, 0xd61f0020, 0xd503201f, 0xd65f03c0]);
    let s = start(&h, 4);
    let (_, end) = h.run(&s, Recorder::default());
    assert!(matches!(end, RunEnd::Unanalysed(_)), "{end:?}");
}

#[test]
fn a_loop_exhausts_the_instruction_budget() {
    // b . ; nop  — the planner believed this was a 2-instruction straight line
    let mut h = harness(&[0x14000000, 0xd503201f]);
    let s = start(&h, 2);
    let (_, end) = h.run(&s, Recorder::default());
    match end {
        RunEnd::Unanalysed(reason) => assert!(reason.contains("budget"), "{reason}"),
        other => panic!("expected budget overrun, got {other:?}"),
    }
}

#[test]
fn svc_ends_the_region() {
    // svc #0 ; nop
    let mut h = harness(&[0xd4000001, 0xd503201f]);
    let s = start(&h, 2);
    let (_, end) = h.run(&s, Recorder::default());
    match end {
        RunEnd::Unanalysed(reason) => assert!(reason.contains("system"), "{reason}"),
        other => panic!("expected unanalysed, got {other:?}"),
    }
}

#[test]
fn loads_through_unknown_pointers_get_scratch() {
    // movz x1, #0x4000, lsl #16 (x1 = 0x40000000) ; ldr x2, [x1] ; ldr x3, [x2] ; ret
    let mut h = harness(&[0xd2a80001, 0xf9400022, 0xf9400043, 0xd65f03c0]);
    let s = start(&h, 4);
    let (rec, end) = h.run(&s, Recorder::default());
    assert_eq!(end, RunEnd::Completed, "{:?}", rec.seen);
}

#[test]
fn unicorn_runs_arm64_instructions() {
    // The plain engine, no harness: proves the C build works.
    use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
    // mov x0, #5 ; add x1, x0, #7 ; sub sp, sp, #16
    let code: [u8; 12] = [
        0xa0, 0x00, 0x80, 0xd2, 0x01, 0x1c, 0x00, 0x91, 0xff, 0x43, 0x00, 0xd1,
    ];
    let mut uc = Unicorn::new(Arch::ARM64, Mode::LITTLE_ENDIAN).expect("unicorn");
    uc.mem_map(0x10000, 0x1000, Prot::ALL).unwrap();
    uc.mem_write(0x10000, &code).unwrap();
    uc.reg_write(RegisterARM64::SP, 0x20000).unwrap();
    uc.emu_start(0x10000, 0x10000 + code.len() as u64, 0, 0)
        .unwrap();
    assert_eq!(uc.reg_read(RegisterARM64::X1).unwrap(), 12);
    assert_eq!(uc.reg_read(RegisterARM64::SP).unwrap(), 0x20000 - 16);
}
