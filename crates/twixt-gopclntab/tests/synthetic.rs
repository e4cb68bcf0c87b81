//! Behaviour on hand-built pclntabs: every accessor against what the table was built to
//! say, both formats, the Go 1.26+ missing text start, and each kind of malformed input.

mod common;

use common::{FuncSpec, MAGIC_118, MAGIC_120, Spec, sample_spec};
use twixt_gopclntab::{
    Error, FUNCDATA_INL_TREE, FUNCDATA_LOCALS_POINTER_MAPS, Format, FuncFlags,
    PCDATA_INL_TREE_INDEX, PCDATA_STACK_MAP_INDEX, PCDATA_UNSAFE_POINT, PcRun, PcTable,
    PcValueProblem, Pclntab, StrProblem, UNSAFE_POINT_SAFE, UNSAFE_POINT_UNSAFE, inline,
};

fn run(start: u64, end: u64, value: i32) -> PcRun {
    PcRun { start, end, value }
}

#[test]
fn header_fields() {
    let (data, _) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.format(), Format::Go120);
    assert_eq!(tab.format().to_string(), "Go 1.20+");
    assert_eq!(tab.header_text_start(), 0x10000);
    assert_eq!(tab.text_start(), 0x10000);
    assert!(!tab.needs_text_start());
    assert_eq!(tab.min_lc(), 4);
    assert_eq!(tab.ptr_size(), 8);
    assert_eq!(tab.len(), 3);
    assert!(!tab.is_empty());
    assert_eq!(tab.nfiles(), 3);
    assert_eq!(tab.text_end(), 0x10060);
}

#[test]
fn function_records() {
    let (data, lay) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    let names: Vec<_> = tab.funcs().map(|f| f.unwrap().name()).collect();
    assert_eq!(names, ["main.leaf", "main.f", "runtime.goexit"]);

    let f = tab.func(1).unwrap();
    assert_eq!(f.index(), 1);
    assert_eq!((f.entry(), f.end()), (0x10010, 0x10050));
    assert_eq!((f.entry_off(), f.end_off()), (0x10, 0x50));
    assert_eq!(f.record_offset(), lay.records[1]);
    assert_eq!(f.name_off() as u32, lay.name_offs[1]);
    assert_eq!(f.args(), 24);
    assert_eq!(f.start_line(), Some(9));
    assert_eq!(f.func_id(), 0);
    assert_eq!(f.flags(), FuncFlags::default());
    assert_eq!(f.npcdata(), 3);
    assert_eq!(f.nfuncdata(), 4);

    let g = tab.func(2).unwrap();
    assert_eq!(g.func_id(), 7);
    assert_eq!(
        g.flags(),
        FuncFlags {
            top_frame: true,
            sp_write: false,
            asm: true
        }
    );
    assert_eq!(g.flag_bits(), 5);

    assert_eq!(
        tab.func(3).unwrap_err(),
        Error::FuncIndex { index: 3, nfunc: 3 }
    );
    assert_eq!(
        tab.func_name(lay.name_offs[2] as i32).unwrap(),
        "runtime.goexit"
    );
}

#[test]
fn pcsp() {
    let (data, _) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    let f = tab.func(1).unwrap();
    // Built as: frame 0 for 2 instructions, 48 for 12, 0 for 1 (RET), 48 for 1.
    assert_eq!(
        f.pcsp_table().unwrap(),
        vec![
            run(0x10010, 0x10018, 0),
            run(0x10018, 0x10048, 48),
            run(0x10048, 0x1004c, 0),
            run(0x1004c, 0x10050, 48),
        ]
    );
    assert_eq!(f.pcsp_at(0x10010).unwrap(), Some(0));
    assert_eq!(f.pcsp_at(0x10018).unwrap(), Some(48));
    assert_eq!(f.pcsp_at(0x10048).unwrap(), Some(0));
    assert_eq!(f.pcsp_at(0x1004c).unwrap(), Some(48));
    assert_eq!(f.pcsp_at(0x10050).unwrap(), None, "past the end");
    assert_eq!(f.pcsp_at(0x1000c).unwrap(), None, "before the entry");
    assert_eq!(f.max_pcsp().unwrap(), 48);

    let leaf = tab.func(0).unwrap();
    assert_eq!(leaf.pcsp_table().unwrap(), vec![run(0x10000, 0x10010, 0)]);
    assert_eq!(leaf.max_pcsp().unwrap(), 0);
}

#[test]
fn pcdata_and_unsafe_points() {
    let (data, _) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    let f = tab.func(1).unwrap();
    // UnsafePoint: -2 on the 2-instruction stack check, -1 after.
    assert_eq!(
        f.pcdata_table(PCDATA_UNSAFE_POINT).unwrap(),
        Some(vec![run(0x10010, 0x10018, -2), run(0x10018, 0x10050, -1)])
    );
    assert_eq!(f.unsafe_point_at(0x10014).unwrap(), UNSAFE_POINT_UNSAFE);
    assert_eq!(f.unsafe_point_at(0x10018).unwrap(), UNSAFE_POINT_SAFE);
    assert_eq!(
        f.pcdata_at(PCDATA_UNSAFE_POINT, 0x10020).unwrap(),
        Some(run(0x10018, 0x10050, -1)),
        "the run gives where the value starts"
    );
    // Stack map index: slot present, offset 0 -> absent.
    assert_eq!(f.pcdata_offset(PCDATA_STACK_MAP_INDEX), Some(0));
    assert_eq!(f.pcdata_table(PCDATA_STACK_MAP_INDEX).unwrap(), None);
    assert_eq!(f.pcdata_at(PCDATA_STACK_MAP_INDEX, 0x10010).unwrap(), None);
    // InlTreeIndex: -1 for 8 instructions, then entry 0.
    assert_eq!(
        f.pcdata_at(PCDATA_INL_TREE_INDEX, 0x10030).unwrap(),
        Some(run(0x10030, 0x10050, 0))
    );
    // Index past npcdata: absent, and UnsafePoint defaults to safe (-1) like Go.
    assert_eq!(f.pcdata_offset(3), None);
    assert_eq!(f.pcdata_table(3).unwrap(), None);
    assert_eq!(f.pcdata_table(u32::MAX).unwrap(), None);
    assert_eq!(f.unsafe_point_at(0x10050).unwrap(), UNSAFE_POINT_SAFE);
    let leaf = tab.func(0).unwrap();
    assert_eq!(leaf.npcdata(), 0);
    assert_eq!(leaf.unsafe_point_at(0x10000).unwrap(), UNSAFE_POINT_SAFE);
}

#[test]
fn funcdata() {
    let (data, _) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    let f = tab.func(1).unwrap();
    assert_eq!(f.funcdata(0), Some(0x100));
    assert_eq!(f.funcdata(FUNCDATA_LOCALS_POINTER_MAPS), Some(0x180));
    assert_eq!(f.funcdata(2), None, "0xFFFFFFFF is nil");
    assert_eq!(f.funcdata(FUNCDATA_INL_TREE), Some(0x200));
    assert_eq!(f.inline_tree_offset(), Some(0x200));
    assert_eq!(f.funcdata(4), None, "past nfuncdata");
    assert_eq!(f.funcdata(255), None);
    assert!(f.has_locals_pointer_maps());
    let gofunc: Vec<u8> = (0..=255u8).cycle().take(0x300).collect();
    assert_eq!(f.funcdata_bytes(0, &gofunc).unwrap()[0], 0);
    assert_eq!(
        f.funcdata_bytes(FUNCDATA_INL_TREE, &gofunc).unwrap().len(),
        0x100
    );
    assert_eq!(f.funcdata_bytes(2, &gofunc), None);
    // goexit has only slot 0, so no locals pointer maps: never async-preempted.
    let g = tab.func(2).unwrap();
    assert!(!g.has_locals_pointer_maps());
    assert_eq!(g.funcdata_bytes(0, &gofunc), None, "0x300 is past gofunc");
}

#[test]
fn file_and_line() {
    let (data, _) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    let f = tab.func(1).unwrap();
    // File number 1 of CU 0 is main.go; lines 10 x2, 11 x10, 12 x4.
    assert_eq!(f.file_line(0x10010).unwrap(), Some(("main.go", 10)));
    assert_eq!(f.file_line(0x10018).unwrap(), Some(("main.go", 11)));
    assert_eq!(f.file_line(0x1004c).unwrap(), Some(("main.go", 12)));
    assert_eq!(f.file_line(0x10050).unwrap(), None);
    assert_eq!(f.file_name(1).unwrap(), "main.go");
    // File number 0 of CU 0 was dead-code eliminated: 0xFFFFFFFF in the cutab.
    assert_eq!(
        f.file_name(0).unwrap_err().root(),
        &Error::MissingFile {
            file: 0,
            cu_offset: 0
        }
    );
    assert!(f.file_name(-1).is_err());
    // Numbers are not range-checked against the CU (Go does not either): file 2 of CU 0
    // is the next CU's first slot. Slot 3 is past the cutab.
    assert_eq!(f.file_name(2).unwrap(), "runtime/asm_arm64.s");
    assert!(matches!(
        f.file_name(3).unwrap_err().root(),
        Error::OutOfBounds {
            what: "cutab entry",
            ..
        }
    ));
    let g = tab.func(2).unwrap();
    assert_eq!(
        g.file_line(0x10050).unwrap(),
        Some(("runtime/asm_arm64.s", 200))
    );
    assert_eq!(g.cu_offset(), 2);
    assert_eq!(
        g.pcfile_table().unwrap(),
        vec![run(0x10050, 0x10060, 0)],
        "file numbers are per CU"
    );
    assert_eq!(g.pcln_table().unwrap(), vec![run(0x10050, 0x10060, 200)]);
}

#[test]
fn find_func_boundaries() {
    let (data, _) = sample_spec(MAGIC_120).build();
    let tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.find_func(0), None);
    assert_eq!(tab.find_func(0xffff), None);
    assert_eq!(tab.find_func(0x10000), Some(0));
    assert_eq!(tab.find_func(0x1000f), Some(0));
    assert_eq!(tab.find_func(0x10010), Some(1));
    assert_eq!(tab.find_func(0x1004f), Some(1));
    assert_eq!(tab.find_func(0x10050), Some(2));
    assert_eq!(tab.find_func(0x1005f), Some(2));
    assert_eq!(tab.find_func(0x10060), None, "end of the last function");
    assert_eq!(tab.find_func(u64::MAX), None);
    assert_eq!(tab.find_func(0x10000 + (1 << 32)), None);
}

#[test]
fn zero_size_function_is_skipped_by_find_func() {
    // Two functions share entry 0x10: the first has size 0. Like Go's findfunc, a PC
    // there belongs to the last function with that entry.
    let mut spec = sample_spec(MAGIC_120);
    let mut empty = FuncSpec::simple("main.empty", 0x10, 0);
    empty.pcsp = None;
    empty.pcfile = None;
    empty.pcln = None;
    spec.funcs.insert(1, empty);
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.find_func(0x10010), Some(2));
    let e = tab.func(1).unwrap();
    assert_eq!((e.entry(), e.end()), (0x10010, 0x10010));
    assert_eq!(e.pcsp_table().unwrap(), vec![]);
    assert_eq!(e.pcsp_at(0x10010).unwrap(), None);
    assert_eq!(e.max_pcsp().unwrap(), 0);
    assert_eq!(e.file_line(0x10010).unwrap(), None);
}

#[test]
fn go118_format() {
    let (data, lay) = sample_spec(MAGIC_118).build();
    let tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.format(), Format::Go118);
    assert_eq!(tab.format().to_string(), "Go 1.18-1.19");
    let f = tab.func(1).unwrap();
    assert_eq!(f.start_line(), None);
    assert_eq!(f.name(), "main.f");
    assert_eq!(f.record_offset(), lay.records[1]);
    // The 40-byte record shifts funcID/flag/nfuncdata and the tables four bytes down.
    assert_eq!(f.funcdata(FUNCDATA_INL_TREE), Some(0x200));
    assert_eq!(f.unsafe_point_at(0x10010).unwrap(), UNSAFE_POINT_UNSAFE);
    assert_eq!(f.pcsp_at(0x10020).unwrap(), Some(48));
    assert_eq!(f.file_line(0x10020).unwrap(), Some(("main.go", 11)));
    let g = tab.func(2).unwrap();
    assert_eq!((g.func_id(), g.flag_bits()), (7, 5));
    assert_eq!(inline::entry_size(tab.format()), 20);
}

#[test]
fn go126_text_start_from_the_caller() {
    // Go 1.26+ writes textStart 0; entries are relative to runtime.text.
    let mut spec = sample_spec(MAGIC_120);
    spec.text_start = 0;
    let (data, _) = spec.build();
    let mut tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.header_text_start(), 0);
    assert!(tab.needs_text_start());
    tab.set_text_start(0x4_0000);
    assert_eq!(tab.text_start(), 0x4_0000);
    assert_eq!(tab.header_text_start(), 0);
    assert_eq!(tab.text_end(), 0x4_0060);
    assert_eq!(tab.find_func(0x4_0014), Some(1));
    let f = tab.func(1).unwrap();
    assert_eq!(f.entry(), 0x4_0010);
    assert_eq!(f.pcsp_at(0x4_0018).unwrap(), Some(48));
    assert_eq!(f.file_line(0x4_0010).unwrap(), Some(("main.go", 10)));
    let tab2 = Pclntab::parse(&data).unwrap().with_text_start(0x4_0000);
    assert_eq!(tab2.func(2).unwrap().entry(), 0x4_0050);
}

#[test]
fn ptr_size_4() {
    let mut spec = sample_spec(MAGIC_120);
    spec.ptr_size = 4;
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.ptr_size(), 4);
    assert_eq!(tab.func(1).unwrap().pcsp_at(0x10018).unwrap(), Some(48));
}

#[test]
fn empty_table() {
    let spec = Spec {
        funcs: vec![],
        end_off: 0,
        ..sample_spec(MAGIC_120)
    };
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    assert!(tab.is_empty());
    assert_eq!(tab.funcs().count(), 0);
    assert_eq!(tab.find_func(0x10000), None);
    assert_eq!(tab.text_end(), 0x10000);
}

#[test]
fn old_and_unknown_magics() {
    let (mut data, _) = sample_spec(MAGIC_120).build();
    data[..4].copy_from_slice(&0xffff_fffau32.to_le_bytes());
    let e = Pclntab::parse(&data).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Go 1.16-1.17 pclntab (magic 0xfffffffa); twixt supports Go 1.18 to 1.27"
    );
    data[..4].copy_from_slice(&0xffff_fffbu32.to_le_bytes());
    assert_eq!(
        Pclntab::parse(&data).unwrap_err().to_string(),
        "Go 1.2-1.15 pclntab (magic 0xfffffffb); twixt supports Go 1.18 to 1.27"
    );
    data[..4].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    assert_eq!(
        Pclntab::parse(&data).unwrap_err(),
        Error::UnknownMagic { magic: 0x1234_5678 }
    );
    data[..4].copy_from_slice(&0xffff_fff1u32.to_be_bytes());
    assert_eq!(
        Pclntab::parse(&data).unwrap_err(),
        Error::BigEndian { magic: 0xffff_fff1 }
    );
    assert!(matches!(
        Pclntab::parse(&[0xf1, 0xff]),
        Err(Error::OutOfBounds { .. })
    ));
}

#[test]
fn bad_headers() {
    let (good, lay) = sample_spec(MAGIC_120).build();
    let bad = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = good.clone();
        f(&mut d);
        Pclntab::parse(&d).unwrap_err()
    };
    assert!(matches!(
        bad(&|d| d[6] = 3),
        Error::BadHeader {
            field: "minLC",
            offset: 6,
            value: 3,
            ..
        }
    ));
    assert!(matches!(
        bad(&|d| d[7] = 2),
        Error::BadHeader {
            field: "ptrSize",
            ..
        }
    ));
    assert!(matches!(
        bad(&|d| d[5] = 1),
        Error::BadHeader { field: "pad2", .. }
    ));
    assert!(matches!(
        bad(&|d| d.truncate(40)),
        Error::OutOfBounds {
            what: "pclntab header",
            ..
        }
    ));
    // pctabOffset (word 6 at byte 8 + 6*8) past the end.
    assert!(matches!(
        bad(&|d| d[56..64].copy_from_slice(&u64::MAX.to_le_bytes())),
        Error::BadHeader {
            field: "pctabOffset",
            offset: 56,
            ..
        }
    ));
    // funcnameOffset pointing into the header.
    assert!(matches!(
        bad(&|d| d[32..40].copy_from_slice(&8u64.to_le_bytes())),
        Error::BadHeader {
            field: "funcnameOffset",
            reason: "points into the header",
            ..
        }
    ));
    // nfunc so large the functab cannot fit.
    assert!(matches!(
        bad(&|d| d[8..16].copy_from_slice(&1000u64.to_le_bytes())),
        Error::OutOfBounds {
            what: "functab",
            ..
        }
    ));
    assert!(matches!(
        bad(&|d| d[8..16].copy_from_slice(&u64::MAX.to_le_bytes())),
        Error::BadHeader { field: "nfunc", .. } | Error::OutOfBounds { .. }
    ));
    // Second functab entry below the first.
    let e = bad(&|d| {
        let at = lay.pclntable + 8;
        d[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        let at = lay.pclntable;
        d[at..at + 4].copy_from_slice(&8u32.to_le_bytes());
    });
    assert_eq!(
        e,
        Error::FunctabNotSorted {
            index: 1,
            entry_off: 0,
            prev_entry_off: 8
        }
    );
}

#[test]
fn bad_records_are_errors_for_that_function_only() {
    let (good, lay) = sample_spec(MAGIC_120).build();

    // A record whose entry disagrees with the functab.
    let mut d = good.clone();
    let at = lay.records[1];
    d[at..at + 4].copy_from_slice(&0x14u32.to_le_bytes());
    let tab = Pclntab::parse(&d).unwrap();
    assert_eq!(
        tab.func(1).unwrap_err(),
        Error::InFunc {
            index: 1,
            name: None,
            source: Box::new(Error::EntryMismatch {
                functab: 0x10,
                record: 0x14
            })
        }
    );
    let results: Vec<bool> = tab.funcs().map(|f| f.is_ok()).collect();
    assert_eq!(results, [true, false, true]);

    // funcoff of function 0 past the end of the section.
    let mut d = good.clone();
    let at = lay.pclntable + 4;
    d[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let e = Pclntab::parse(&d).unwrap().func(0).unwrap_err();
    assert!(
        matches!(
            e.root(),
            Error::OutOfBounds {
                what: "_func record",
                ..
            }
        ),
        "{e}"
    );

    // nameOff past the funcnametab.
    let mut d = good.clone();
    let at = lay.records[2] + 4;
    d[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let e = Pclntab::parse(&d).unwrap().func(2).unwrap_err();
    assert!(matches!(
        e.root(),
        Error::BadString {
            what: "function name",
            problem: StrProblem::OutOfRange,
            ..
        }
    ));

    // npcdata so large the offsets run off the section.
    let mut d = good.clone();
    let at = lay.records[1] + 28;
    d[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = Pclntab::parse(&d).unwrap().func(1).unwrap_err();
    assert!(matches!(
        &e,
        Error::InFunc { index: 1, name: Some(n), .. } if n == "main.f"
    ));
}

#[test]
fn table_past_the_function_end_is_an_error_with_context() {
    // main.leaf is 4 instructions long, but its pcsp table claims 5.
    let mut spec = sample_spec(MAGIC_120);
    spec.funcs[0].pcsp = Some(vec![(0, 5)]);
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    let f = tab.func(0).unwrap();
    let e = f.pcsp_table().unwrap_err();
    let Error::InFunc {
        index: 0,
        name: Some(name),
        source,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(name, "main.leaf");
    let Error::InTable {
        table: PcTable::Pcsp,
        source,
        ..
    } = &**source
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        **source,
        Error::PcValue {
            offset: 0,
            problem: PcValueProblem::PastEnd {
                pc: 0x10014,
                end: 0x10010
            }
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "function #0 (main.leaf): pcsp table at pctab+{:#x}: byte 0: table reaches pc 0x10014, past the function's end 0x10010",
            f.pcsp_offset()
        )
    );
    assert!(f.max_pcsp().is_err());
    assert!(f.pcsp_at(0x10000).is_err());
}

#[test]
fn negative_line_is_an_error() {
    let mut spec = sample_spec(MAGIC_120);
    spec.funcs[0].pcln = Some(vec![(-7, 4)]);
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    let e = tab.func(0).unwrap().file_line(0x10000).unwrap_err();
    assert_eq!(e.root(), &Error::NegativeLine { line: -7 });
    // -1 means "no line": not an error, no answer.
    let mut spec = sample_spec(MAGIC_120);
    spec.funcs[0].pcln = Some(vec![(-1, 4)]);
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    assert_eq!(tab.func(0).unwrap().file_line(0x10000).unwrap(), None);
}

#[test]
fn no_compilation_unit() {
    let mut spec = sample_spec(MAGIC_120);
    spec.funcs[0].cu = None;
    let (data, _) = spec.build();
    let tab = Pclntab::parse(&data).unwrap();
    let f = tab.func(0).unwrap();
    assert_eq!(f.cu_offset(), u32::MAX);
    assert!(matches!(
        f.file_line(0x10000).unwrap_err().root(),
        Error::MissingFile {
            cu_offset: u32::MAX,
            ..
        }
    ));
}
