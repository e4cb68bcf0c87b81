//! Harness tests on hand-assembled arm64 code: boundaries are observed once each, the
//! stack is restored between regions, and runaway or hostile code ends its region.

use unicorn_engine::{RegisterARM64, Unicorn};

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

/// Records X1..X5 at each boundary.
#[derive(Default)]
struct Registers {
    seen: Vec<[u64; 5]>,
}

impl Observer for Registers {
    fn boundary(&mut self, b: &Boundary<'_, '_, HookState<Self>>) -> bool {
        self.seen.push([b.x(1), b.x(2), b.x(3), b.x(4), b.x(5)]);
        true
    }
}

#[test]
fn accesses_no_memory_can_back_yield_scratch_and_keep_their_writeback() {
    // mov x1, #0x1000000000000000 (beyond 48 bits) ; ldr x2, [x1, #8]! ; str x2, [x1] ;
    // ldp x3, x4, [x1], #16 ; ldr x5, [x1, x2, lsl #3] ; ret
    let code = [
        0xd2e20001, 0xf8408c22, 0xf9000022, 0xa8c11023, 0xf8627825, 0xd65f03c0,
    ];
    let bytes: Vec<u8> = code.iter().flat_map(|w: &u32| w.to_le_bytes()).collect();
    let ranges = [MapRange {
        vaddr: TEXT,
        size: 0x1000,
        read: true,
        write: false,
        execute: true,
        data: &bytes,
    }];
    let layout = Layout::default();
    let mut h: Harness<'_, Registers> = Harness::new(&ranges, layout).expect("harness");
    let s = RegionStart {
        pc: TEXT,
        last: TEXT + 4 * 5,
        instructions: 6,
        x: [0; 31],
        sp: layout.stack_hi - 0x100,
        writes: vec![],
        unhooked_stores: vec![],
    };
    let (rec, end) = h.run(&s, Registers::default());
    assert_eq!(end, RunEnd::Completed, "{:x?}", rec.seen);
    let base = 0x1000_0000_0000_0000u64;
    let word = layout.scratch_pointer();
    assert_eq!(rec.seen.len(), 6, "every boundary observed once");
    // After the pre-indexed load: the scratch word, and the base moved by 8.
    assert_eq!(rec.seen[2][..2], [base + 8, word]);
    // The store was dropped; the post-indexed pair load moved the base by 16 more.
    assert_eq!(rec.seen[4][..4], [base + 24, word, word, word]);
    // A register-offset load from the same nowhere: X5 gets the scratch word too.
    assert_eq!(rec.seen[5][4], word);
    // Scratch memory is as it was.
    assert_eq!(h.read_u64(layout.scratch_pointer()), Some(word));
}

#[test]
fn the_deep_stack_is_mapped_as_regions_reach_it() {
    // str x0, [sp, #-16]! ; ldr x1, [sp, #0x800] ; ret: a frame 1 GiB below the top.
    let code = [0xf81f0fe0u32, 0xf94403e1, 0xd65f03c0];
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    let ranges = [MapRange {
        vaddr: TEXT,
        size: 0x1000,
        read: true,
        write: false,
        execute: true,
        data: &bytes,
    }];
    let layout = Layout::default().deep();
    let mut h: Harness<'_, Registers> = Harness::new(&ranges, layout).expect("harness");
    let sp = layout.stack_hi - 0x1000 - (1 << 30);
    let mut s = RegionStart {
        pc: TEXT,
        last: TEXT + 8,
        instructions: 3,
        x: [0; 31],
        sp,
        writes: vec![(sp + 0x18, 0xfeed)],
        unhooked_stores: vec![],
    };
    s.x[0] = 0x1234;
    // Untouched stack reads as poison before anything maps it.
    assert_eq!(h.read_u64(sp - 0x10), Some(layout.poison()));
    let (rec, end) = h.run(&s, Registers::default());
    assert_eq!(end, RunEnd::Completed, "{:x?}", rec.seen);
    assert_eq!(h.read_u64(sp - 0x10), Some(0x1234));
    assert_eq!(h.read_u64(sp + 0x18), Some(0xfeed));
    // The load 0x800 above the new SP reads poison from a chunk nobody wrote.
    assert_eq!(rec.seen[2][0], layout.poison());
    // The next region starts from poison again.
    let s2 = RegionStart {
        pc: TEXT + 8,
        last: TEXT + 8,
        instructions: 1,
        writes: vec![],
        ..s
    };
    let _ = h.run(&s2, Registers::default());
    assert_eq!(h.read_u64(sp - 0x10), Some(layout.poison()));
    assert_eq!(h.read_u64(sp + 0x18), Some(layout.poison()));
}

#[test]
fn a_literal_pool_word_in_a_region_is_skipped() {
    // .word 0x04000028 (a frame-size constant after runtime.call67108864's code; it
    // decodes as SVE, which the CPU refuses) ; nop ; ret
    let mut h = harness(&[0x0400_0028, 0xd503201f, 0xd65f03c0]);
    let s = start(&h, 3);
    let (rec, end) = h.run(&s, Recorder::default());
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(rec.seen.len(), 3);
}

#[test]
fn the_fake_g_leads_to_an_m_and_a_g0_with_its_own_stack() {
    let h = harness(&[0xd65f03c0]);
    let l = *h.layout();
    assert_eq!(h.read_u64(l.g + 48), Some(l.m()));
    assert_eq!(h.read_u64(l.m()), Some(l.g0()));
    let (lo, hi) = l.g0_stack();
    assert_eq!(h.read_u64(l.g0()), Some(lo));
    assert_eq!(h.read_u64(l.g0() + 8), Some(hi));
    let sched_sp = h.read_u64(l.g0() + 56).unwrap();
    assert!(lo < sched_sp && sched_sp < hi);
    assert_eq!(h.read_u64(sched_sp), Some(l.poison()));
}

/// Reads one word at every boundary, and records every store it is told of.
struct Watch {
    addr: u64,
    seen: Vec<Option<u64>>,
    stores: Vec<(u64, u64)>,
}

impl Observer for Watch {
    fn boundary(&mut self, b: &Boundary<'_, '_, HookState<Self>>) -> bool {
        self.seen.push(b.read_u64(self.addr));
        true
    }

    fn stored(&mut self, addr: u64, end: u64) {
        self.stores.push((addr, end));
    }
}

const DATA: u64 = 0x20000;

/// A harness over `code` and a writable data page holding 0x5a5a... at `DATA`.
fn harness_with_data(code: &[u32]) -> Harness<'static, Watch> {
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    let data = vec![0x5au8; 0x1000];
    let ranges = [
        MapRange {
            vaddr: TEXT,
            size: 0x1000,
            read: true,
            write: false,
            execute: true,
            data: &bytes,
        },
        MapRange {
            vaddr: DATA,
            size: 0x1000,
            read: true,
            write: true,
            execute: false,
            data: &data,
        },
    ];
    Harness::new(&ranges, Layout::default()).expect("harness")
}

#[test]
fn every_region_starts_from_the_memory_the_harness_was_built_with() {
    // str x0, [x1] ; str x0, [x2] ; str x0, [sp, #-8] ; ret: a data page, scratch memory
    // and the stack, all written.
    let mut h = harness_with_data(&[0xf9000020, 0xf9000040, 0xf81f83e0, 0xd65f03c0]);
    let l = *h.layout();
    let scratch = l.scratch_lo + 0x100;
    let mut s = RegionStart {
        pc: TEXT,
        last: TEXT + 12,
        instructions: 4,
        x: [0; 31],
        sp: l.stack_hi - 0x100,
        writes: vec![],
        unhooked_stores: vec![],
    };
    s.x[0] = 0x1234;
    s.x[1] = DATA + 0x10;
    s.x[2] = scratch;
    let watch = Watch {
        addr: DATA + 0x10,
        seen: vec![],
        stores: vec![],
    };
    let (watch, end) = h.run(&s, watch);
    assert_eq!(end, RunEnd::Completed);
    // The region saw its own store; the observer was told of all three.
    assert_eq!(watch.seen[0], Some(0x5a5a_5a5a_5a5a_5a5a));
    assert_eq!(watch.seen[3], Some(0x1234));
    assert_eq!(
        watch.stores,
        vec![
            (DATA + 0x10, DATA + 0x18),
            (scratch, scratch + 8),
            (s.sp - 8, s.sp)
        ]
    );
    // Between regions the memory shows what the region left...
    assert_eq!(h.read_u64(DATA + 0x10), Some(0x1234));
    assert_eq!(h.read_u64(scratch), Some(0x1234));
    assert_eq!(h.read_u64(s.sp - 8), Some(0x1234));
    // ...and the next region starts from the pristine memory: the journal level the first
    // region ran in is rewound first.
    let ret = RegionStart {
        pc: TEXT + 12,
        instructions: 1,
        ..s.clone()
    };
    for addr in [DATA + 0x10, scratch, s.sp - 8] {
        let watch = Watch {
            addr,
            seen: vec![],
            stores: vec![],
        };
        let (watch, end) = h.run(&ret, watch);
        assert_eq!(end, RunEnd::Completed);
        let pristine = if addr == DATA + 0x10 {
            0x5a5a_5a5a_5a5a_5a5a
        } else {
            l.poison()
        };
        assert_eq!(watch.seen, vec![Some(pristine)], "{addr:#x}");
    }
}

#[test]
fn a_store_to_fresh_scratch_is_undone_to_the_scratch_pattern() {
    // movz x1, #0x4000, lsl #16 (x1 = 0x40000000, nothing mapped) ; str x0, [x1] ; ret
    let mut h = harness_with_data(&[0xd2a80001, 0xf9000020, 0xd65f03c0]);
    let l = *h.layout();
    let mut s = RegionStart {
        pc: TEXT,
        last: TEXT + 8,
        instructions: 3,
        x: [0; 31],
        sp: l.stack_hi - 0x100,
        writes: vec![],
        unhooked_stores: vec![],
    };
    s.x[0] = 0x1234;
    let watch = |addr| Watch {
        addr,
        seen: vec![],
        stores: vec![],
    };
    let (w, end) = h.run(&s, watch(0x4000_0000));
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(w.seen[2], Some(0x1234));
    let ret = RegionStart {
        pc: TEXT + 8,
        instructions: 1,
        ..s
    };
    let (w, _) = h.run(&ret, watch(0x4000_0000));
    assert_eq!(w.seen, vec![Some(l.scratch_pointer())]);
}

#[test]
fn boundaries_are_observed_across_translation_flushes() {
    // Every 512 regions the harness drops its translations and renews its code hook: the
    // regions after that are observed like the ones before.
    let mut h = harness(&[0xd503201f, 0xd65f03c0]); // nop ; ret
    let s = start(&h, 2);
    for i in 0..1100 {
        let (rec, end) = h.run(&s, Recorder::default());
        assert_eq!(end, RunEnd::Completed, "region {i}");
        assert_eq!(rec.seen, vec![(TEXT, s.sp), (TEXT + 4, s.sp)], "region {i}");
    }
}

#[test]
fn a_word_that_cannot_be_planted_names_its_address() {
    let mut h = harness(&[0xd65f03c0]); // ret
    let mut s = start(&h, 1);
    // The guard below the stack: never mapped.
    let guard = h.layout().stack_lo - 0x100;
    s.writes = vec![(guard, 0x77)];
    let (rec, end) = h.run(&s, Recorder::default());
    let want = format!("cannot set up region: planting 0x77 at {guard:#x}");
    assert!(
        matches!(&end, RunEnd::Unanalysed(r) if r.starts_with(&want)),
        "{end:?}"
    );
    assert!(rec.seen.is_empty());
}

#[test]
fn planted_words_land_whether_consecutive_or_not() {
    let mut h = harness(&[0xd65f03c0]); // ret
    let mut s = start(&h, 1);
    // A run across a 64 KiB chunk of the lazy stack, a lone word, and a word planted twice
    // (the later one stands).
    let chunk = (s.sp & !0xffff) - 0x10000;
    s.writes = vec![
        (chunk - 8, 1),
        (chunk, 2),
        (chunk + 8, 3),
        (chunk + 0x40, 4),
        (chunk - 8, 5),
    ];
    let (_, end) = h.run(&s, Recorder::default());
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(h.read_u64(chunk - 8), Some(5));
    assert_eq!(h.read_u64(chunk), Some(2));
    assert_eq!(h.read_u64(chunk + 8), Some(3));
    assert_eq!(h.read_u64(chunk + 0x40), Some(4));
    assert_eq!(h.read_u64(chunk + 0x10), Some(h.layout().poison()));
    // All of it is poison again for the next region.
    s.writes.clear();
    let _ = h.run(&s, Recorder::default());
    for a in [chunk - 8, chunk, chunk + 8, chunk + 0x40] {
        assert_eq!(h.read_u64(a), Some(h.layout().poison()), "{a:#x}");
    }
}
