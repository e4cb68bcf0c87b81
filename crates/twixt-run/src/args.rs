//! Arguments of a call: parsed from `--args` or drawn from proptest strategies (`--random`).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// One integer-register argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// The value itself.
    Int(u64),
    /// A pointer to a zeroed buffer of this many bytes in the harness heap.
    Buffer(u64),
}

/// Parses `5,0x10 7` (commas or spaces; decimal, `0x` hex, or negative decimal).
pub fn parse(text: &str) -> Result<Vec<Arg>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                u64::from_str_radix(h, 16).ok()
            } else if let Some(n) = s.strip_prefix('-') {
                n.parse::<u64>().ok().map(|v| v.wrapping_neg())
            } else {
                s.parse::<u64>().ok()
            };
            v.map(Arg::Int)
                .ok_or_else(|| format!("argument {s:?} is not an integer (decimal or 0x hex)"))
        })
        .collect()
}

/// The strategy for one argument: small integers, any 64-bit value, lengths, pointers to
/// buffers.
fn one() -> impl Strategy<Value = Arg> {
    prop_oneof![
        (0u64..16).prop_map(Arg::Int),
        any::<u64>().prop_map(Arg::Int),
        (0u64..256).prop_map(Arg::Int),
        (1u64..4096).prop_map(Arg::Buffer),
    ]
}

/// `n` argument lists of `arity` arguments each, from `seed` (deterministic).
pub fn random(n: usize, arity: usize, seed: u64) -> Vec<Vec<Arg>> {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = proptest::collection::vec(one(), arity);
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .map(|t| t.current())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(
            parse("5, 0x10 -1").unwrap(),
            vec![Arg::Int(5), Arg::Int(16), Arg::Int(u64::MAX)]
        );
        assert!(parse("x").is_err());
    }

    #[test]
    fn random_is_deterministic() {
        assert_eq!(random(4, 2, 7), random(4, 2, 7));
        assert_ne!(random(4, 2, 7), random(4, 2, 8));
    }
}
