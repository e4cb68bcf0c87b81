//! The sweep: every frame size in a range (multiples of 16), one shape, judged boundary
//! by boundary with the interpreter ([`crate::check::Checker::check_exact`]): the exact set
//! of frame sizes with a window, per unwinder and severity, as ranges and as a predicate
//! over the assembler's constant classes.
//!
//! How the predicate is obtained: every frame size has a [`Signature`] (the constant
//! class of each immediate its prologue and epilogue encode: sizes with the same signature
//! get the same instruction kinds). For each unsafe set the sweep finds the fewest
//! signature fields that separate it from the safe sizes (no projected key is both safe
//! and unsafe over the range), and prints the unsafe keys as conditions on `A`. Then it
//! re-evaluates that predicate on every size of the range and checks it gives exactly the
//! set. When no projection separates the set (a signature with both safe and unsafe
//! sizes), the predicate is reported as not derivable and only the ranges stand.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{Checker, Severity, Unwinder};
use crate::generation::Generation;
use crate::model::{ConstClass, PopKind, Shape, Signature, signature, synthesize};

/// The unsafe frame sizes of one (unwinder, severity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsafeSet {
    /// The sizes, ascending.
    pub sizes: Vec<u64>,
}

impl UnsafeSet {
    /// Maximal runs of consecutive multiples of 16: `(first, last)`.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for &a in &self.sizes {
            match out.last_mut() {
                Some((_, hi)) if *hi + 16 == a => *hi = a,
                _ => out.push((a, a)),
            }
        }
        out
    }
}

/// The result of sweeping one generation and shape.
#[derive(Clone, Debug)]
pub struct ShapeSweep {
    /// The generation.
    pub generation: Generation,
    /// The shape.
    pub shape: Shape,
    /// Frame sizes judged.
    pub checked: u64,
    /// Boundaries judged.
    pub boundaries: u64,
    /// Frame sizes in the range the assembler never emits for this shape (0 for non-leaf).
    pub skipped: u64,
    /// The unsafe sets.
    pub sets: BTreeMap<(Unwinder, Severity), UnsafeSet>,
    /// Per set, the predicate (or why there is none).
    pub predicates: BTreeMap<(Unwinder, Severity), Result<String, String>>,
    /// The verdicts seen per set, with counts of boundaries.
    pub verdicts: BTreeMap<(Unwinder, Severity), BTreeMap<String, u64>>,
}

/// Sweeps `lo..=hi` (multiples of 16) for one generation and shape; `progress` is called
/// with the number of sizes done now and then.
pub fn sweep(
    generation: Generation,
    shape: Shape,
    lo: u64,
    hi: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<ShapeSweep, String> {
    let checker = Checker::new(generation);
    let mut out = ShapeSweep {
        generation,
        shape,
        checked: 0,
        boundaries: 0,
        skipped: 0,
        sets: BTreeMap::new(),
        predicates: BTreeMap::new(),
        verdicts: BTreeMap::new(),
    };
    for u in Unwinder::ALL {
        for s in Severity::ALL {
            out.sets.insert((u, s), UnsafeSet::default());
            out.verdicts.insert((u, s), BTreeMap::new());
        }
    }
    let first = lo.div_ceil(16) * 16;
    let mut a = first;
    let mut done = 0u64;
    while a <= hi {
        match synthesize(generation, a, shape) {
            Err(_) => out.skipped += 1,
            Ok(f) => {
                out.checked += 1;
                let judged = checker.check_exact(&f)?;
                out.boundaries += judged.len() as u64;
                let mut hit: BTreeSet<(Unwinder, Severity)> = BTreeSet::new();
                for (j, _) in &judged {
                    if let Some((v, s)) = j.go {
                        hit.insert((Unwinder::Go, s));
                        *out.verdicts
                            .entry((Unwinder::Go, s))
                            .or_default()
                            .entry(v.name().to_string())
                            .or_default() += 1;
                    }
                    if let Some((v, s)) = j.fp {
                        hit.insert((Unwinder::Fp, s));
                        *out.verdicts
                            .entry((Unwinder::Fp, s))
                            .or_default()
                            .entry(v.name().to_string())
                            .or_default() += 1;
                    }
                }
                for key in hit {
                    out.sets.entry(key).or_default().sizes.push(a);
                }
            }
        }
        done += 1;
        if done.is_multiple_of(4096) {
            progress(done);
        }
        a += 16;
    }
    progress(done);
    for (key, set) in &out.sets {
        out.predicates
            .insert(*key, predicate(generation, shape, first, hi, set));
    }
    Ok(out)
}

/// The fields of a signature, in the order the predicate search tries them.
const FIELDS: usize = 5;

fn field(sig: &Signature, i: usize) -> u16 {
    let class = |c: Option<ConstClass>| c.map_or(0, |c| c as u16 + 1);
    match i {
        0 => u16::from(sig.prologue_kind),
        1 => class(sig.prologue),
        2 => class(sig.leaf_r29),
        3 => sig.pop_kind as u16,
        _ => class(sig.pop),
    }
}

fn describe_class(x: &str, c: ConstClass) -> String {
    match c {
        ConstClass::Imm12 => format!("{x} <= 0xfff"),
        ConstClass::Imm12Lsl12 => format!("{x} > 0xfff and {x} & 0xfff == 0 and {x} <= 0xfff000"),
        ConstClass::Movz => format!("{x} is one 16-bit chunk (and not an ADD immediate)"),
        ConstClass::Bitmask => format!("{x} is a logical immediate (and not one chunk)"),
        ConstClass::Split => format!(
            "0xffff < {x} <= 0xffffff and {x} & 0xfff != 0 and {x} is not a logical immediate"
        ),
        ConstClass::Wide => {
            format!("{x} > 0xffffff and {x} is neither one 16-bit chunk nor a logical immediate")
        }
    }
}

fn describe_field(sig: &Signature, i: usize) -> String {
    match i {
        0 => match sig.prologue_kind {
            0 => "A == 0".into(),
            1 => "0 < A <= 0xf0".into(),
            _ => "A > 0xf0".into(),
        },
        1 => sig
            .prologue
            .map_or("A <= 0xf0".into(), |c| describe_class("A", c)),
        2 => sig
            .leaf_r29
            .map_or("(no R29 rebuild through ADD $A-8)".into(), |c| {
                describe_class("A-8", c)
            }),
        3 => match sig.pop_kind {
            PopKind::None => "A == 0".into(),
            PopKind::Add => "the frame is popped by ADD $A, RSP, RSP".into(),
            PopKind::PostIndex => "A <= 0xf0 (MOVD.P pop)".into(),
            PopKind::ViaR27 => "A >= 0x1000 (pop through R27)".into(),
        },
        _ => sig
            .pop
            .map_or("(no ADD pop)".into(), |c| describe_class("A", c)),
    }
}

/// The predicate of `set` over `first..=hi` (see the module docs).
fn predicate(
    generation: Generation,
    shape: Shape,
    first: u64,
    hi: u64,
    set: &UnsafeSet,
) -> Result<String, String> {
    if set.sizes.is_empty() {
        return Ok("none".into());
    }
    let unsafe_sizes: BTreeSet<u64> = set.sizes.iter().copied().collect();
    // Every signature in the range, with whether it is unsafe (None: mixed).
    let mut sigs: BTreeMap<Signature, Option<bool>> = BTreeMap::new();
    let mut a = first;
    while a <= hi {
        if let Some(sig) = signature(generation, a, shape) {
            let u = unsafe_sizes.contains(&a);
            sigs.entry(sig)
                .and_modify(|v| {
                    if *v != Some(u) {
                        *v = None;
                    }
                })
                .or_insert(Some(u));
        }
        a += 16;
    }
    // Every frame the shape can have (all but A = 0): say so plainly.
    let framed = sigs
        .iter()
        .filter(|(sig, _)| sig.prologue_kind != 0)
        .all(|(_, u)| *u == Some(true));
    let unframed_safe = sigs
        .iter()
        .filter(|(sig, _)| sig.prologue_kind == 0)
        .all(|(_, u)| *u == Some(false));
    if framed && unframed_safe {
        return Ok("A > 0 (every frame)".into());
    }
    if sigs.values().any(Option::is_none) {
        return Err("not derivable: sizes with the same instruction signature differ".into());
    }
    // The smallest set of fields that separates unsafe from safe signatures.
    let mut masks: Vec<u32> = (1..(1u32 << FIELDS)).collect();
    masks.sort_by_key(|m| (m.count_ones(), *m));
    for mask in masks {
        let fields: Vec<usize> = (0..FIELDS).filter(|i| mask & (1 << i) != 0).collect();
        let mut keys: BTreeMap<Vec<u16>, (bool, Signature)> = BTreeMap::new();
        let mut ok = true;
        for (sig, u) in &sigs {
            let u = u.unwrap_or(false);
            let key: Vec<u16> = fields.iter().map(|&i| field(sig, i)).collect();
            match keys.get(&key) {
                Some((prev, _)) if *prev != u => {
                    ok = false;
                    break;
                }
                Some(_) => {}
                None => {
                    keys.insert(key, (u, *sig));
                }
            }
        }
        if !ok {
            continue;
        }
        let unsafe_keys: Vec<(&Vec<u16>, &Signature)> = keys
            .iter()
            .filter(|(_, (u, _))| *u)
            .map(|(k, (_, s))| (k, s))
            .collect();
        let text = unsafe_keys
            .iter()
            .map(|(_, sig)| {
                let parts: Vec<String> = fields.iter().map(|&i| describe_field(sig, i)).collect();
                format!("({})", parts.join(" and "))
            })
            .collect::<Vec<_>>()
            .join(" or ");
        // Check the predicate against the exact set, size by size.
        let unsafe_key_set: BTreeSet<&Vec<u16>> = unsafe_keys.iter().map(|(k, _)| *k).collect();
        let mut a = first;
        while a <= hi {
            if let Some(sig) = signature(generation, a, shape) {
                let key: Vec<u16> = fields.iter().map(|&i| field(&sig, i)).collect();
                if unsafe_key_set.contains(&key) != unsafe_sizes.contains(&a) {
                    return Err(format!("predicate check failed at A = {a:#x}"));
                }
            }
            a += 16;
        }
        return Ok(text);
    }
    Err("not derivable".into())
}
