//! Property tests: the pc-value decoder against an independent naive decoder, and
//! "never panics" on arbitrary and mutated pclntabs.

mod common;

use common::{MAGIC_118, MAGIC_120, encode_runs, normalise, sample_spec};
use proptest::prelude::*;
use twixt_gopclntab::{PcRun, Pclntab, inline, pcvalue};

/// A deliberately naive reference decoder, written from Go's `runtime.step` without
/// looking at the crate's decoder: first split the whole table into varints (a terminator
/// is a one-byte varint too, so the split never depends on decoding state), then walk
/// them two at a time. Returns every pair's `(start, end, value)`, empty runs included;
/// `None` for anything Go's encoder could not have written or the runtime would read
/// past the end of.
fn reference(table: &[u8], entry: u64, quantum: u8, end: Option<u64>) -> Option<Vec<PcRun>> {
    // Phase 1: tokens (offset, value, byte length), in a u128 so nothing overflows here.
    let mut tokens: Vec<(usize, u128, usize)> = Vec::new();
    let mut at = 0;
    let mut malformed_at = None;
    while at < table.len() {
        let mut v: u128 = 0;
        let mut n = 0;
        let mut done = false;
        while at + n < table.len() && n < 19 {
            let b = table[at + n];
            v |= u128::from(b & 0x7f) << (7 * n);
            n += 1;
            if b < 0x80 {
                done = true;
                break;
            }
        }
        if !done || n > 5 || v > u128::from(u32::MAX) {
            malformed_at = Some(at);
            break;
        }
        tokens.push((at, v, n));
        at += n;
    }
    let _ = malformed_at; // any token we need past this point is simply missing

    // Phase 2: pairs.
    let mut out = Vec::new();
    let mut pc = u128::from(entry);
    let mut value: i64 = -1;
    let mut k = 0;
    loop {
        let &(off, uv, _) = tokens.get(k)?;
        // The runtime tests the first byte of the pair, and only once the PC has moved.
        if table[off] == 0 && pc != u128::from(entry) {
            return Some(out);
        }
        let &(_, pcd, _) = tokens.get(k + 1)?;
        k += 2;
        let delta: i64 = if uv % 2 == 1 {
            -((uv / 2) as i64) - 1
        } else {
            (uv / 2) as i64
        };
        // 32-bit wrapping, as Go's int32 `val += ...`.
        value = i64::from((value + delta) as i32);
        let next = pc + pcd * u128::from(quantum);
        if next > u128::from(u64::MAX) {
            return None;
        }
        if end.is_some_and(|end| next > u128::from(end)) {
            return None;
        }
        out.push(PcRun {
            start: pc as u64,
            end: next as u64,
            value: value as i32,
        });
        pc = next;
    }
}

/// The reference's runs without the empty ones (which cover no PC).
fn nonempty(runs: Vec<PcRun>) -> Vec<PcRun> {
    runs.into_iter().filter(|r| r.start < r.end).collect()
}

fn quantum() -> impl Strategy<Value = u8> {
    prop_oneof![Just(1u8), Just(2u8), Just(4u8)]
}

fn run_lists() -> impl Strategy<Value = Vec<(i32, u32)>> {
    let value = prop_oneof![
        4 => -8i32..512,
        1 => any::<i32>(),
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
    ];
    let len = prop_oneof![8 => 1u32..64, 1 => 1u32..100_000];
    // At least one run: a table covering no PC cannot be terminated (the zero byte only
    // ends a table once the PC has moved), and Go writes none for empty functions.
    prop::collection::vec((value, len), 1..24).prop_map(|r| normalise(&r))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoder_matches_reference_on_encoded_runs(
        runs in run_lists(),
        entry in 0u64..(1 << 48),
        q in quantum(),
        trailing in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut table = encode_runs(&runs);
        // Bytes after the terminator belong to other tables and must not matter.
        table.extend(&trailing);
        let got = pcvalue::decode(&table, entry, q).unwrap();
        let want = nonempty(reference(&table, entry, q, None).unwrap());
        prop_assert_eq!(&got, &want);

        // And both say what was encoded.
        let mut pc = entry;
        let expected: Vec<PcRun> = runs.iter().map(|&(value, len)| {
            let start = pc;
            pc += u64::from(len) * u64::from(q);
            PcRun { start, end: pc, value }
        }).collect();
        prop_assert_eq!(&got, &expected);

        // With the function ending exactly at the table's end it still decodes; one
        // quantum earlier it does not (unless the table covers nothing).
        prop_assert_eq!(pcvalue::decode_within(&table, entry, pc, q).unwrap(), got.clone());
        if pc > entry {
            prop_assert!(pcvalue::decode_within(&table, entry, pc - 1, q).is_err());
        }

        // Point lookups agree with the run list, at every run boundary and inside.
        for r in &got {
            for probe in [r.start, r.end - 1, r.start + (r.end - r.start) / 2] {
                let at = pcvalue::run_at(&table, entry, Some(pc), q, probe).unwrap();
                prop_assert_eq!(at, Some(*r));
                prop_assert_eq!(pcvalue::lookup(&got, probe), Some(r));
            }
        }
        prop_assert_eq!(pcvalue::run_at(&table, entry, None, q, pc).unwrap(), None);
        prop_assert_eq!(pcvalue::lookup(&got, pc), None);
        if entry > 0 {
            prop_assert_eq!(pcvalue::run_at(&table, entry, None, q, entry - 1).unwrap(), None);
        }
    }

    #[test]
    fn decoder_matches_reference_on_damaged_encodings(
        runs in run_lists(),
        q in quantum(),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<usize>(),
        end in prop::option::of(0u64..0x10_0000),
    ) {
        // A real table with one byte overwritten and maybe cut short: mostly near-valid
        // input, where the terminator and varint rules matter most.
        let mut table = encode_runs(&runs);
        let len = table.len();
        table[at % len] = byte;
        if cut % 3 == 0 {
            table.truncate(cut % len);
        }
        let got = match end {
            Some(end) => pcvalue::decode_within(&table, 0x1000, end, q),
            None => pcvalue::decode(&table, 0x1000, q),
        };
        let want = reference(&table, 0x1000, q, end).map(nonempty);
        prop_assert_eq!(got.ok(), want);
    }

    #[test]
    fn decoder_matches_reference_on_arbitrary_bytes(
        table in prop::collection::vec(
            prop_oneof![3 => any::<u8>(), 1 => Just(0u8), 1 => Just(0x80u8), 1 => Just(0xffu8)],
            0..40,
        ),
        entry in prop_oneof![0u64..0x1000, Just(u64::MAX - 64)],
        q in quantum(),
        end in prop::option::of(0u64..0x2000),
    ) {
        let got = match end {
            Some(end) => pcvalue::decode_within(&table, entry, end, q),
            None => pcvalue::decode(&table, entry, q),
        };
        let want = reference(&table, entry, q, end).map(nonempty);
        prop_assert_eq!(got.ok(), want);
    }
}

/// Calls every accessor on everything reachable from `data`; errors are fine, panics
/// are not. Error messages are rendered too, since formatting must not panic either.
fn exercise(data: &[u8]) {
    let Ok(mut tab) = Pclntab::parse(data) else {
        return;
    };
    let header_ts = tab.header_text_start();
    let _ = (
        tab.format(),
        tab.min_lc(),
        tab.ptr_size(),
        tab.nfiles(),
        tab.table_ranges(),
    );
    let _ = tab.func(usize::MAX).map_err(|e| e.to_string());
    for off in [-1, 0, 1, 7, i32::MAX] {
        let _ = tab.func_name(off).map_err(|e| e.to_string());
    }
    let _ = tab.file_name_at(u32::MAX);
    for ts in [header_ts, 0, 0x10000, u64::MAX - 16] {
        tab.set_text_start(ts);
        let _ = (tab.text_start(), tab.text_end(), tab.len(), tab.is_empty());
        for pc in [
            0,
            ts,
            ts.wrapping_add(0x14),
            ts.wrapping_sub(1),
            tab.text_end(),
            u64::MAX,
        ] {
            if let Some(i) = tab.find_func(pc) {
                assert!(i < tab.len());
            }
        }
        for f in tab.funcs() {
            let f = match f {
                Ok(f) => f,
                Err(e) => {
                    let _ = e.to_string();
                    continue;
                }
            };
            let _ = (f.index(), f.name(), f.name_off(), f.flags(), f.flag_bits());
            let _ = (
                f.func_id(),
                f.args(),
                f.start_line(),
                f.deferreturn(),
                f.cu_offset(),
            );
            let _ = (
                f.record_offset(),
                f.entry_off(),
                f.end_off(),
                f.contains(ts),
            );
            let _ = (f.pcsp_offset(), f.pcfile_offset(), f.pcln_offset());
            let _ = f.pcsp_table().map_err(|e| e.to_string());
            let _ = f.max_pcsp().map_err(|e| e.to_string());
            let _ = f.pcfile_table().map_err(|e| e.to_string());
            let _ = f.pcln_table().map_err(|e| e.to_string());
            for i in (0..f.npcdata().min(8)).chain([f.npcdata(), u32::MAX]) {
                let _ = f.pcdata_offset(i);
                let _ = f.pcdata_table(i).map_err(|e| e.to_string());
                let _ = f.pcdata_at(i, f.entry()).map_err(|e| e.to_string());
            }
            for i in 0..=u8::MAX {
                let _ = f.funcdata(i);
                let _ = f.funcdata_bytes(i, data);
            }
            let _ = (
                f.nfuncdata(),
                f.has_locals_pointer_maps(),
                f.inline_tree_offset(),
            );
            for file in [-2, -1, 0, 1, 2, i32::MAX] {
                let _ = f.file_name(file).map_err(|e| e.to_string());
            }
            // Every PC of the function (capped: a mutated end can be 4 GiB away), plus
            // the edges.
            let step = u64::from(tab.min_lc());
            let pcs = (0..256u64)
                .map(|k| f.entry().wrapping_add(k * step))
                .take_while(|&pc| pc < f.end())
                .chain([f.entry().wrapping_sub(1), f.end(), f.end().wrapping_sub(1)]);
            for pc in pcs {
                let _ = f.pcsp_at(pc).map_err(|e| e.to_string());
                let _ = f.unsafe_point_at(pc).map_err(|e| e.to_string());
                let _ = f.pcdata_at(2, pc).map_err(|e| e.to_string());
                let _ = f.file_line(pc).map_err(|e| e.to_string());
            }
            if let Some(tree) = f.funcdata_bytes(3, data) {
                for i in [0, 1, 2, u32::MAX] {
                    if let Ok(call) = inline::inlined_call(tab.format(), tree, i) {
                        let _ = tab.func_name(call.name_off).map_err(|e| e.to_string());
                    }
                }
            }
        }
    }
}

/// Valid synthetic pclntabs in both formats and both pointer sizes.
fn valid_tables() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(MAGIC_118), Just(MAGIC_120)],
        prop_oneof![Just(8u8), Just(4u8)],
        any::<bool>(),
    )
        .prop_map(|(magic, ptr_size, zero_text)| {
            let mut spec = sample_spec(magic);
            spec.ptr_size = ptr_size;
            if zero_text {
                spec.text_start = 0;
            }
            spec.build().0
        })
}

/// One way to damage a table.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte (position taken modulo the length).
    Flip(usize, u8),
    /// Overwrite an aligned u32 with an interesting value.
    Word(usize, u32),
    /// Cut the table short (length taken modulo the length).
    Truncate(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(4),
        Just(0x7f),
        Just(0x80),
        Just(0xffff),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        any::<u32>(),
    ];
    let m = prop_oneof![
        6 => (any::<usize>(), 1u8..=255).prop_map(|(p, x)| Mutation::Flip(p, x)),
        4 => (any::<usize>(), word).prop_map(|(p, w)| Mutation::Word(p, w)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ];
    prop::collection::vec(m, 1..6)
}

fn apply(data: &mut Vec<u8>, muts: &[Mutation]) {
    for m in muts {
        if data.is_empty() {
            return;
        }
        let len = data.len();
        match *m {
            Mutation::Flip(p, x) => data[p % len] ^= x,
            Mutation::Word(p, w) => {
                let at = (p % len) & !3;
                for (i, b) in w.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = data.get_mut(at + i) {
                        *slot = b;
                    }
                }
            }
            Mutation::Truncate(n) => data.truncate(n % len),
        }
    }
}

#[test]
fn sample_tables_are_valid_in_every_variant() {
    // The mutation tests start from these, so they must parse cleanly to begin with.
    for magic in [MAGIC_118, MAGIC_120] {
        for ptr_size in [4, 8] {
            let mut spec = sample_spec(magic);
            spec.ptr_size = ptr_size;
            let (data, _) = spec.build();
            let tab = Pclntab::parse(&data).unwrap();
            for f in tab.funcs() {
                let f = f.unwrap();
                f.pcsp_table().unwrap();
                f.pcfile_table().unwrap();
                f.pcln_table().unwrap();
                for i in 0..f.npcdata() {
                    f.pcdata_table(i).unwrap();
                }
                let mut pc = f.entry();
                while pc < f.end() {
                    assert!(f.file_line(pc).unwrap().is_some());
                    pc += 4;
                }
            }
            exercise(&data);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&data);
    }

    #[test]
    fn valid_header_with_arbitrary_body_never_panics(
        base in valid_tables(),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        // Keep the 8-byte prefix and header words, replace everything after them.
        let header_len = 8 + 8 * usize::from(base[7]);
        let mut data = base[..header_len].to_vec();
        data.extend(body);
        exercise(&data);
    }

    #[test]
    fn mutated_valid_tables_never_panic(base in valid_tables(), muts in mutations()) {
        let mut data = base;
        apply(&mut data, &muts);
        exercise(&data);
    }
}
