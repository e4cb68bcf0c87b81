//! A hasher for the tables `twixt run` consults at every executed instruction (keyed by PC,
//! or by PC, SP and depth). The standard SipHash resists hash flooding, which keys the
//! harness computes itself never need, and it was a third of a `run --inject` profile.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`PcHasher`].
pub(crate) type PcMap<K, V> = HashMap<K, V, BuildHasherDefault<PcHasher>>;

/// Multiply-rotate mixing of whole words (FxHash's scheme): PCs differ in their low bits,
/// which the multiplication spreads over the high bits the table indexes by.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PcHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl PcHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for PcHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_pcs_land_apart() {
        let mut m: PcMap<u64, u64> = PcMap::default();
        for pc in (0x10000..0x20000).step_by(4) {
            m.insert(pc, pc * 2);
        }
        assert_eq!(m.get(&0x10004), Some(&0x20008));
        assert_eq!(m.len(), 0x4000);
        let hash = |k: (u64, u64, usize)| {
            let mut h = PcHasher::default();
            h.write_u64(k.0);
            h.write_u64(k.1);
            h.write_usize(k.2);
            h.finish()
        };
        assert_ne!(hash((0x10000, 8, 0)), hash((0x10004, 8, 0)));
        assert_ne!(hash((0x10000, 8, 0)), hash((0x10000, 8, 1)));
    }
}
