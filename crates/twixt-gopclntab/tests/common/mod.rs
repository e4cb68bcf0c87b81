//! A writer for small synthetic pclntabs, laid out the way Go's linker lays them out
//! (cmd/link/internal/ld/pcln.go), so tests can state exactly what a table means.
//!
//! This is an independent encoder: it shares no code with the crate's reader.

#![allow(dead_code)] // each test binary uses a different part of this helper

/// Go 1.18-1.19 magic.
pub const MAGIC_118: u32 = 0xffff_fff0;
/// Go 1.20+ magic.
pub const MAGIC_120: u32 = 0xffff_fff1;

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes runs of `(value, length in PC quanta)` as a pc-value table, the way
/// cmd/internal/obj `funcpctab` does: value deltas zigzag-encoded (as Go's
/// `binary.PutVarint` of the int32 difference), then PC deltas, then a 0 terminator.
///
/// Adjacent runs must have different values (a zero delta would end the table), and
/// lengths should be non-zero; callers normalise their run lists with [`normalise`].
pub fn encode_runs(runs: &[(i32, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev: i32 = -1;
    for (i, &(value, len)) in runs.iter().enumerate() {
        let delta = i64::from(value.wrapping_sub(prev));
        assert!(i == 0 || delta != 0, "adjacent runs with equal values");
        let zz = ((delta << 1) ^ (delta >> 63)) as u64;
        put_uvarint(&mut out, zz);
        put_uvarint(&mut out, u64::from(len));
        prev = value;
    }
    if !runs.is_empty() {
        out.push(0);
    }
    out
}

/// Merges adjacent runs with equal values and drops empty ones, as Go's encoder does.
pub fn normalise(runs: &[(i32, u32)]) -> Vec<(i32, u32)> {
    let mut out: Vec<(i32, u32)> = Vec::new();
    for &(v, len) in runs {
        if len == 0 {
            continue;
        }
        match out.last_mut() {
            Some((pv, plen)) if *pv == v => *plen += len,
            _ => out.push((v, len)),
        }
    }
    out
}

/// One function of a synthetic pclntab.
#[derive(Debug, Clone)]
pub struct FuncSpec {
    pub name: String,
    /// Entry offset from the text start.
    pub entry_off: u32,
    pub args: i32,
    pub deferreturn: u32,
    pub start_line: i32,
    pub func_id: u8,
    pub flag: u8,
    /// Index into [`Spec::cus`], or `None` for cuOffset 0xFFFFFFFF.
    pub cu: Option<usize>,
    /// `None` writes table offset 0 (no table).
    pub pcsp: Option<Vec<(i32, u32)>>,
    pub pcfile: Option<Vec<(i32, u32)>>,
    pub pcln: Option<Vec<(i32, u32)>>,
    pub pcdata: Vec<Option<Vec<(i32, u32)>>>,
    /// `None` writes 0xFFFFFFFF (nil).
    pub funcdata: Vec<Option<u32>>,
}

impl FuncSpec {
    /// A function with only a name, an entry and a one-run pcsp table of `len` quanta.
    pub fn simple(name: &str, entry_off: u32, len: u32) -> Self {
        FuncSpec {
            name: name.to_owned(),
            entry_off,
            args: 0,
            deferreturn: 0,
            start_line: 1,
            func_id: 0,
            flag: 0,
            cu: Some(0),
            pcsp: Some(vec![(0, len)]),
            pcfile: Some(vec![(0, len)]),
            pcln: Some(vec![(1, len)]),
            pcdata: Vec::new(),
            funcdata: Vec::new(),
        }
    }
}

/// A whole synthetic pclntab.
#[derive(Debug, Clone)]
pub struct Spec {
    pub magic: u32,
    pub min_lc: u8,
    pub ptr_size: u8,
    /// Written into the header (0 for Go 1.26+ style).
    pub text_start: u64,
    /// Offset of the end of the last function from the text start.
    pub end_off: u32,
    pub files: Vec<String>,
    /// Per compilation unit: file-number -> index into `files` (`None` = 0xFFFFFFFF).
    pub cus: Vec<Vec<Option<usize>>>,
    pub funcs: Vec<FuncSpec>,
}

/// Where things ended up in a built pclntab.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub funcnametab: usize,
    pub cutab: usize,
    pub filetab: usize,
    pub pctab: usize,
    pub pclntable: usize,
    /// Offsets of each function's name in the funcnametab.
    pub name_offs: Vec<u32>,
    /// Absolute offsets of each `_func` record.
    pub records: Vec<usize>,
}

fn put_word(out: &mut Vec<u8>, v: u64, ptr_size: u8) {
    out.extend_from_slice(&v.to_le_bytes()[..usize::from(ptr_size)]);
}

impl Spec {
    /// Serialises the spec.
    pub fn build(&self) -> (Vec<u8>, Layout) {
        let ps = self.ptr_size;
        let header_len = 8 + 8 * usize::from(ps);
        let mut lay = Layout::default();

        let mut funcnametab = Vec::new();
        for f in &self.funcs {
            lay.name_offs.push(funcnametab.len() as u32);
            funcnametab.extend_from_slice(f.name.as_bytes());
            funcnametab.push(0);
        }

        let mut filetab = Vec::new();
        let mut file_offs = Vec::new();
        for name in &self.files {
            file_offs.push(filetab.len() as u32);
            filetab.extend_from_slice(name.as_bytes());
            filetab.push(0);
        }

        let mut cutab = Vec::new();
        let mut cu_offsets = Vec::new();
        for cu in &self.cus {
            cu_offsets.push((cutab.len() / 4) as u32);
            for file in cu {
                let v = file.map_or(u32::MAX, |i| file_offs[i]);
                cutab.extend_from_slice(&v.to_le_bytes());
            }
        }

        // Offset 0 of the pctab is a lone zero byte, so that offset 0 means "no table".
        let mut pctab = vec![0u8];
        let mut table = |runs: &Option<Vec<(i32, u32)>>| -> u32 {
            match runs {
                None => 0,
                Some(runs) => {
                    let off = pctab.len() as u32;
                    pctab.extend(encode_runs(runs));
                    off
                }
            }
        };
        struct Offs {
            pcsp: u32,
            pcfile: u32,
            pcln: u32,
            pcdata: Vec<u32>,
        }
        let offs: Vec<Offs> = self
            .funcs
            .iter()
            .map(|f| Offs {
                pcsp: table(&f.pcsp),
                pcfile: table(&f.pcfile),
                pcln: table(&f.pcln),
                pcdata: f.pcdata.iter().map(&mut table).collect(),
            })
            .collect();

        let nfunc = self.funcs.len();
        let func_size = if self.magic == MAGIC_118 { 40 } else { 44 };
        let mut pclntable = Vec::new();
        let functab_len = nfunc * 8 + 4;
        let mut record_offs = Vec::new();
        let mut size = functab_len;
        for f in &self.funcs {
            size = size.next_multiple_of(usize::from(ps));
            record_offs.push(size);
            size += func_size + 4 * f.pcdata.len() + 4 * f.funcdata.len();
        }
        for (f, &ro) in self.funcs.iter().zip(&record_offs) {
            pclntable.extend_from_slice(&f.entry_off.to_le_bytes());
            pclntable.extend_from_slice(&(ro as u32).to_le_bytes());
        }
        pclntable.extend_from_slice(&self.end_off.to_le_bytes());
        for (i, f) in self.funcs.iter().enumerate() {
            pclntable.resize(record_offs[i], 0);
            let o = &offs[i];
            let cu = f.cu.map_or(u32::MAX, |c| cu_offsets[c]);
            let mut words = vec![
                f.entry_off,
                lay.name_offs[i],
                f.args as u32,
                f.deferreturn,
                o.pcsp,
                o.pcfile,
                o.pcln,
                f.pcdata.len() as u32,
                cu,
            ];
            if self.magic != MAGIC_118 {
                words.push(f.start_line as u32);
            }
            for w in words {
                pclntable.extend_from_slice(&w.to_le_bytes());
            }
            pclntable.extend_from_slice(&[f.func_id, f.flag, 0, f.funcdata.len() as u8]);
            for p in &o.pcdata {
                pclntable.extend_from_slice(&p.to_le_bytes());
            }
            for d in &f.funcdata {
                pclntable.extend_from_slice(&d.unwrap_or(u32::MAX).to_le_bytes());
            }
        }

        let mut out = Vec::new();
        out.extend_from_slice(&self.magic.to_le_bytes());
        out.extend_from_slice(&[0, 0, self.min_lc, ps]);
        lay.funcnametab = header_len;
        lay.cutab = lay.funcnametab + funcnametab.len();
        lay.filetab = lay.cutab + cutab.len();
        lay.pctab = lay.filetab + filetab.len();
        // The pclntable is aligned like the linker aligns runtime.functab.
        lay.pclntable = (lay.pctab + pctab.len()).next_multiple_of(usize::from(ps));
        for v in [
            nfunc as u64,
            self.files.len() as u64,
            self.text_start,
            lay.funcnametab as u64,
            lay.cutab as u64,
            lay.filetab as u64,
            lay.pctab as u64,
            lay.pclntable as u64,
        ] {
            put_word(&mut out, v, ps);
        }
        assert_eq!(out.len(), header_len);
        out.extend(funcnametab);
        out.extend(cutab);
        out.extend(filetab);
        out.extend(pctab);
        out.resize(lay.pclntable, 0);
        out.extend(pclntable);
        lay.records = record_offs.iter().map(|r| r + lay.pclntable).collect();
        (out, lay)
    }
}

/// A small but complete Go 1.20+ style pclntab: three functions, two compilation units,
/// pcdata and funcdata, an unused file slot.
///
/// Text starts at 0x10000 and PCs advance in 4-byte quanta:
/// - `main.leaf` at 0x10000..0x10010 (4 instructions), frame 0 everywhere, NOSPLIT-like:
///   no pcdata, no funcdata.
/// - `main.f` at 0x10010..0x10050 (16 instructions): frame 0 for 2, 48 for 12, 0 for 1
///   (the RET), 48 for 1; UnsafePoint -2 for the first 2 instructions (stack check),
///   -1 after; stack map index table absent (offset 0); InlTreeIndex -1 for 8, 0 for 8.
///   Lines 10 (x2), 11 (x10), 12 (x4) of file number 1 of CU 0 ("main.go").
///   funcdata: args maps at 0x100, locals maps at 0x180, none for stack objects, inline
///   tree at 0x200.
/// - `runtime.goexit` at 0x10050..0x10060, TopFrame|Asm flags, funcID 7, in CU 1.
pub fn sample_spec(magic: u32) -> Spec {
    let mut f = FuncSpec::simple("main.f", 0x10, 16);
    f.args = 24;
    f.start_line = 9;
    f.func_id = 0;
    f.pcsp = Some(vec![(0, 2), (48, 12), (0, 1), (48, 1)]);
    f.pcfile = Some(vec![(1, 16)]);
    f.pcln = Some(vec![(10, 2), (11, 10), (12, 4)]);
    f.pcdata = vec![
        Some(vec![(-2, 2), (-1, 14)]),
        None,
        Some(vec![(-1, 8), (0, 8)]),
    ];
    f.funcdata = vec![Some(0x100), Some(0x180), None, Some(0x200)];

    let mut leaf = FuncSpec::simple("main.leaf", 0, 4);
    leaf.pcfile = Some(vec![(1, 4)]);
    leaf.pcln = Some(vec![(3, 4)]);

    let mut goexit = FuncSpec::simple("runtime.goexit", 0x50, 4);
    goexit.flag = 1 | 4;
    goexit.func_id = 7;
    goexit.cu = Some(1);
    goexit.pcfile = Some(vec![(0, 4)]);
    goexit.pcln = Some(vec![(200, 4)]);
    goexit.funcdata = vec![Some(0x300)];

    Spec {
        magic,
        min_lc: 4,
        ptr_size: 8,
        text_start: 0x10000,
        end_off: 0x60,
        files: vec![
            "main.go".into(),
            "runtime/asm_arm64.s".into(),
            "unused.go".into(),
        ],
        // CU 0: file 0 is dead-code eliminated (0xFFFFFFFF), file 1 is main.go.
        // CU 1: file 0 is runtime/asm_arm64.s.
        cus: vec![vec![None, Some(0)], vec![Some(1)]],
        funcs: vec![leaf, f, goexit],
    }
}
