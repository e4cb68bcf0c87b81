//! Go's pc-value tables (pcsp, pcfile, pcln, pcdata): a decoder usable on its own.
//!
//! A table is a sequence of `(value delta, pc delta)` pairs of unsigned varints. The value
//! starts at -1 and the PC at the function entry; each pair adds the zigzag-decoded value
//! delta, and the resulting value holds from the current PC for `pc delta * minLC` bytes.
//! A value-delta byte of 0 ends the table, except while the PC is still at the entry (the
//! first pair may legitimately have delta 0, meaning "value -1").
//!
//! The semantics are those of Go's `runtime.step`/`runtime.pcvalue` (runtime/symtab.go),
//! including two details that matter only for odd input: the end test looks at the first
//! *byte* of the value delta (so a non-canonical `80 00` does not end the table), and "first
//! pair" means "the PC is still at the entry"; and values wrap in 32 bits, as Go's encoder
//! writes wrapping int32 differences. Where the runtime would read past the table or let
//! the PC wrap, this decoder returns an [`Error::PcValue`] instead.

use crate::error::{Error, PcValueProblem};

/// One run of a pc-value table: `value` holds for every PC in `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PcRun {
    /// First PC of the run (absolute).
    pub start: u64,
    /// One past the last PC of the run (absolute).
    pub end: u64,
    /// The value on the run.
    pub value: i32,
}

impl PcRun {
    /// Whether `pc` lies in this run.
    pub fn contains(&self, pc: u64) -> bool {
        self.start <= pc && pc < self.end
    }
}

/// Go encodes 32-bit deltas only, so a varint has at most 5 bytes.
const MAX_VARINT_LEN: usize = 5;

/// Reads an unsigned varint at `pos`; returns the value and its length.
fn read_uvarint(table: &[u8], pos: usize) -> Result<(u32, usize), PcValueProblem> {
    let mut value: u32 = 0;
    for i in 0..MAX_VARINT_LEN {
        let byte = pos
            .checked_add(i)
            .and_then(|p| table.get(p))
            .copied()
            .ok_or(PcValueProblem::Truncated)?;
        let bits = u32::from(byte & 0x7f);
        // The fifth byte carries bits 28..34; only bits 28..31 exist in a u32.
        if i == MAX_VARINT_LEN - 1 && bits > 0x0f {
            return Err(PcValueProblem::VarintOverflow);
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(PcValueProblem::VarintTooLong)
}

/// Zigzag decoding as Go's `step` does it: `-(u&1) ^ (u>>1)`.
fn zigzag(u: u32) -> i32 {
    // Reinterpreting the bits is the point here: the result is a signed 32-bit delta.
    let half = (u >> 1) as i32;
    if u & 1 == 0 { half } else { !half }
}

/// Streaming decoder over one pc-value table, yielding its non-empty runs in PC order.
///
/// The iterator ends at the table's terminator; after an error it yields nothing more.
/// Every step consumes at least two bytes, so it ends after at most `table.len() / 2` pairs.
#[derive(Debug, Clone)]
pub struct Decoder<'t> {
    table: &'t [u8],
    pos: usize,
    entry: u64,
    pc: u64,
    value: i32,
    min_lc: u8,
    end: Option<u64>,
    done: bool,
}

impl<'t> Decoder<'t> {
    /// Decodes `table` for a function starting at `entry`, with PC quantum `min_lc`.
    pub fn new(table: &'t [u8], entry: u64, min_lc: u8) -> Self {
        Decoder {
            table,
            pos: 0,
            entry,
            pc: entry,
            value: -1,
            min_lc,
            end: None,
            done: false,
        }
    }

    /// Makes runs that reach past `end` (the function's end) an error.
    pub fn with_end(mut self, end: u64) -> Self {
        self.end = Some(end);
        self
    }

    /// Bytes of the table consumed so far (including the terminator once reached).
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// Decodes one pair. `Ok(None)` at the terminator; the run may be empty.
    fn step(&mut self) -> Result<Option<PcRun>, Error> {
        let at = self.pos;
        let fail = |problem| Error::PcValue {
            offset: at,
            problem,
        };
        let first = self.pc == self.entry;
        let lead = *self
            .table
            .get(at)
            .ok_or_else(|| fail(PcValueProblem::Truncated))?;
        if lead == 0 && !first {
            self.pos = at.saturating_add(1);
            return Ok(None);
        }
        let (uvdelta, n) = read_uvarint(self.table, at).map_err(fail)?;
        // Go's encoder writes `val - oldval` in wrapping int32 arithmetic and `step`
        // adds it back the same way, so the value is modular by construction: wrap too.
        let value = self.value.wrapping_add(zigzag(uvdelta));
        let pc_pos = at.saturating_add(n);
        let (pcdelta, m) = read_uvarint(self.table, pc_pos).map_err(fail)?;
        // u32 * u8 always fits in u64; only the addition can overflow.
        let step = u64::from(pcdelta) * u64::from(self.min_lc);
        let next = self
            .pc
            .checked_add(step)
            .ok_or_else(|| fail(PcValueProblem::PcOverflow))?;
        if let Some(end) = self.end
            && next > end
        {
            return Err(fail(PcValueProblem::PastEnd { pc: next, end }));
        }
        let run = PcRun {
            start: self.pc,
            end: next,
            value,
        };
        self.value = value;
        self.pc = next;
        self.pos = pc_pos.saturating_add(m);
        Ok(Some(run))
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<PcRun, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(None) => self.done = true,
                // An empty run covers no PC; Go never reports one either.
                Ok(Some(run)) if run.start == run.end => {}
                Ok(Some(run)) => return Some(Ok(run)),
            }
        }
        None
    }
}

/// Decodes a whole table into its non-empty runs, in PC order.
pub fn decode(table: &[u8], entry: u64, min_lc: u8) -> Result<Vec<PcRun>, Error> {
    Decoder::new(table, entry, min_lc).collect()
}

/// Like [`decode`], but a table reaching past `end` (the function's end) is an error.
pub fn decode_within(table: &[u8], entry: u64, end: u64, min_lc: u8) -> Result<Vec<PcRun>, Error> {
    Decoder::new(table, entry, min_lc).with_end(end).collect()
}

/// The run containing `pc`, stopping as soon as it is found (like Go's `pcvalue`, errors
/// later in the table are not seen). `Ok(None)` when the table does not cover `pc`.
pub fn run_at(
    table: &[u8],
    entry: u64,
    end: Option<u64>,
    min_lc: u8,
    pc: u64,
) -> Result<Option<PcRun>, Error> {
    if pc < entry {
        return Ok(None);
    }
    let mut dec = Decoder::new(table, entry, min_lc);
    if let Some(end) = end {
        dec = dec.with_end(end);
    }
    for run in dec {
        let run = run?;
        if pc < run.end {
            return Ok(run.contains(pc).then_some(run));
        }
    }
    Ok(None)
}

/// The run containing `pc` in an already decoded, sorted run list.
pub fn lookup(runs: &[PcRun], pc: u64) -> Option<&PcRun> {
    let i = runs.partition_point(|r| r.end <= pc);
    runs.get(i).filter(|r| r.contains(pc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_go() {
        // Go: int32(-(u&1) ^ (u>>1)).
        for u in [0u32, 1, 2, 3, 4, 0xffff_fffe, 0xffff_ffff, 0x8000_0000] {
            let go = ((u & 1).wrapping_neg() ^ (u >> 1)) as i32;
            assert_eq!(zigzag(u), go, "u={u:#x}");
        }
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(1), -1);
        assert_eq!(zigzag(2), 1);
        assert_eq!(zigzag(0xffff_ffff), i32::MIN);
        assert_eq!(zigzag(0xffff_fffe), i32::MAX);
    }

    #[test]
    fn uvarint_limits() {
        assert_eq!(read_uvarint(&[0x05], 0), Ok((5, 1)));
        assert_eq!(read_uvarint(&[0x80, 0x01], 0), Ok((128, 2)));
        assert_eq!(
            read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0x0f], 0),
            Ok((u32::MAX, 5))
        );
        assert_eq!(
            read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0),
            Err(PcValueProblem::VarintOverflow)
        );
        assert_eq!(
            read_uvarint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0),
            Err(PcValueProblem::VarintTooLong)
        );
        assert_eq!(read_uvarint(&[0x80], 0), Err(PcValueProblem::Truncated));
        assert_eq!(read_uvarint(&[], 0), Err(PcValueProblem::Truncated));
        assert_eq!(
            read_uvarint(&[1], usize::MAX),
            Err(PcValueProblem::Truncated)
        );
    }

    #[test]
    fn typical_pcsp_table() {
        // A small non-leaf arm64 function at 0x1000, minLC 4:
        //   value 0 for 2 instructions   (delta +1 from -1 -> zigzag 2), pcdelta 2
        //   value 32 for 10 instructions (delta +32 -> zigzag 64), pcdelta 10
        //   value 0 for 1 instruction    (delta -32 -> zigzag 63), pcdelta 1 (the RET)
        //   value 32 for 3 instructions  (+32 -> 64), pcdelta 3 (code after the RET)
        //   terminator 0
        let table = [2, 2, 64, 10, 63, 1, 64, 3, 0];
        let runs = decode(&table, 0x1000, 4).unwrap();
        assert_eq!(
            runs,
            vec![
                PcRun {
                    start: 0x1000,
                    end: 0x1008,
                    value: 0
                },
                PcRun {
                    start: 0x1008,
                    end: 0x1030,
                    value: 32
                },
                PcRun {
                    start: 0x1030,
                    end: 0x1034,
                    value: 0
                },
                PcRun {
                    start: 0x1034,
                    end: 0x1040,
                    value: 32
                },
            ]
        );
        assert_eq!(lookup(&runs, 0x1000).map(|r| r.value), Some(0));
        assert_eq!(lookup(&runs, 0x1007).map(|r| r.value), Some(0));
        assert_eq!(lookup(&runs, 0x1008).map(|r| r.value), Some(32));
        assert_eq!(lookup(&runs, 0x103c).map(|r| r.value), Some(32));
        assert_eq!(lookup(&runs, 0x1040), None);
        assert_eq!(lookup(&runs, 0xfff), None);
        for pc in [
            0xffc, 0x1000, 0x1004, 0x1008, 0x1030, 0x1034, 0x103c, 0x1040,
        ] {
            assert_eq!(
                run_at(&table, 0x1000, None, 4, pc).unwrap(),
                lookup(&runs, pc).copied(),
                "pc {pc:#x}"
            );
        }
        // The function ends exactly where the table does: fine. One byte earlier: error.
        assert_eq!(decode_within(&table, 0x1000, 0x1040, 4).unwrap(), runs);
        assert_eq!(
            decode_within(&table, 0x1000, 0x103c, 4),
            Err(Error::PcValue {
                offset: 6,
                problem: PcValueProblem::PastEnd {
                    pc: 0x1040,
                    end: 0x103c
                }
            })
        );
    }

    #[test]
    fn first_pair_may_have_zero_delta() {
        // Value -1 (delta 0) for 3 instructions, then value 5 (delta +6 -> 12) for 1, end.
        // The leading 0 is not a terminator because the PC is still at the entry.
        let table = [0, 3, 12, 1, 0];
        assert_eq!(
            decode(&table, 100, 4).unwrap(),
            vec![
                PcRun {
                    start: 100,
                    end: 112,
                    value: -1
                },
                PcRun {
                    start: 112,
                    end: 116,
                    value: 5
                },
            ]
        );
    }

    #[test]
    fn zero_pc_delta_keeps_first_pair_semantics_like_go() {
        // (delta +1 -> value 0, pcdelta 0): the PC stays at entry, so Go's step still treats
        // the next pair as "first", and its 0 value delta does not end the table.
        // Then (delta 0 -> value 0, pcdelta 2), terminator.
        let table = [2, 0, 0, 2, 0];
        assert_eq!(
            decode(&table, 0, 1).unwrap(),
            vec![PcRun {
                start: 0,
                end: 2,
                value: 0
            }]
        );
    }

    #[test]
    fn non_canonical_zero_is_not_a_terminator() {
        // Go's runtime tests the first byte, so 0x80 0x00 (a two-byte zero) is a delta of 0.
        let table = [2, 1, 0x80, 0x00, 1, 0];
        let runs = decode(&table, 0, 4).unwrap();
        assert_eq!(
            runs,
            vec![
                PcRun {
                    start: 0,
                    end: 4,
                    value: 0
                },
                PcRun {
                    start: 4,
                    end: 8,
                    value: 0
                },
            ]
        );
    }

    #[test]
    fn malformed_tables_are_errors() {
        let err = |table: &[u8]| decode(table, 0, 4).unwrap_err();
        assert_eq!(
            err(&[]),
            Error::PcValue {
                offset: 0,
                problem: PcValueProblem::Truncated
            }
        );
        // A pair without its pc delta.
        assert_eq!(
            err(&[2]),
            Error::PcValue {
                offset: 0,
                problem: PcValueProblem::Truncated
            }
        );
        // A complete pair but no terminator.
        assert_eq!(
            err(&[2, 1]),
            Error::PcValue {
                offset: 2,
                problem: PcValueProblem::Truncated
            }
        );
        // Values wrap like Go's int32 arithmetic. zigzag(0xffff_fffe) = i32::MAX and
        // zigzag(2) = +1: -1 -> i32::MAX - 1 -> i32::MAX -> i32::MIN.
        let t = [0xfe, 0xff, 0xff, 0xff, 0x0f, 1, 2, 1, 2, 1, 0];
        let values: Vec<i32> = decode(&t, 0, 4).unwrap().iter().map(|r| r.value).collect();
        assert_eq!(values, [i32::MAX - 1, i32::MAX, i32::MIN]);
        // PC overflow.
        assert_eq!(
            decode(&[2, 2, 0], u64::MAX - 4, 4).unwrap_err(),
            Error::PcValue {
                offset: 0,
                problem: PcValueProblem::PcOverflow
            }
        );
        // Over-long varint.
        assert_eq!(
            err(&[0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 0]),
            Error::PcValue {
                offset: 0,
                problem: PcValueProblem::VarintTooLong
            }
        );
    }

    #[test]
    fn iteration_stops_after_an_error() {
        let mut d = Decoder::new(&[2, 1, 0x80], 0, 4);
        assert!(matches!(d.next(), Some(Ok(_))));
        assert!(matches!(d.next(), Some(Err(_))));
        assert!(d.next().is_none());
    }

    #[test]
    fn consumed_counts_the_terminator() {
        let table = [2, 2, 64, 10, 0, 99, 99];
        let mut d = Decoder::new(&table, 0, 4);
        assert_eq!(d.by_ref().count(), 2);
        assert_eq!(d.consumed(), 5);
    }
}
