//! The page journal: nested levels of page pre-images, so that a driver can bring memory
//! back to any earlier point at the cost of the pages written since, not of the address
//! space.
//!
//! A level records the contents of a page from before its first write while the level is
//! the innermost one. Restoring to a level writes back the pre-images of every level above
//! it, innermost first, then its own: a page first written in an inner level was unchanged
//! since the outer level began, so the inner pre-image is also the outer one, and saving it
//! once is enough (every store checks one level, not all of them).
//!
//! The goroutine stack of the region harness is the exception: it is mapped lazily and
//! every region starts from a stack that is all poison but for the words the harness plants,
//! so instead of page copies the journal keeps the stack ranges written (a few
//! [`Intervals`]) and restoring writes poison over them. Frames of many megabytes are
//! written near their bottom and top only, so this costs the bytes written, not the pages.
//!
//! This module holds only bookkeeping; the engine ([`crate::engine`]) reads and writes the
//! guest memory it describes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The journal's granule: Unicorn's page size.
pub(crate) const PAGE: u64 = 0x1000;

/// Nested levels of page pre-images, and the lazy stack's written ranges.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    levels: Vec<Level>,
    /// A page the innermost level has saved already: consecutive stores to one page (the
    /// common case) skip the lookup.
    hot: Option<u64>,
    /// Stack ranges written since the stack was last poisoned again (lazy stack only).
    stack_dirty: Intervals,
}

/// One level: page address → the page's bytes before its first write in this level.
type Level = HashMap<u64, Box<[u8]>, BuildHasherDefault<PageHasher>>;

impl Journal {
    /// The number of open levels.
    pub(crate) fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Opens a level; returns the new depth (the token to restore to).
    pub(crate) fn push(&mut self) -> usize {
        self.levels.push(Level::default());
        self.hot = None;
        self.levels.len()
    }

    /// Whether a store to `page` must save its pre-image first: a level is open and the
    /// innermost one has not saved it yet.
    pub(crate) fn wants(&mut self, page: u64) -> bool {
        if self.hot == Some(page) {
            return false;
        }
        let Some(level) = self.levels.last() else {
            return false;
        };
        if level.contains_key(&page) {
            self.hot = Some(page);
            return false;
        }
        true
    }

    /// Records `bytes` as `page`'s pre-image in the innermost level, unless it has one.
    pub(crate) fn save(&mut self, page: u64, bytes: Box<[u8]>) {
        if let Some(level) = self.levels.last_mut() {
            level.entry(page).or_insert(bytes);
            self.hot = Some(page);
        }
    }

    /// Closes the levels from `depth` inward (a depth [`Journal::push`] returned); returns
    /// the pre-images to write back, in the order to write them (innermost level first).
    pub(crate) fn pop_to(&mut self, depth: usize) -> Vec<(u64, Box<[u8]>)> {
        let keep = depth.saturating_sub(1).min(self.levels.len());
        self.hot = None;
        self.levels
            .drain(keep..)
            .rev()
            .flat_map(|level| level.into_iter())
            .collect()
    }

    /// `page` as it was when the level of `depth` was opened, if any level from it inward
    /// saved it (else it has not been written since, or the level is closed).
    pub(crate) fn pre_image(&self, depth: usize, page: u64) -> Option<&[u8]> {
        let from = depth.checked_sub(1)?;
        self.levels
            .get(from..)?
            .iter()
            .find_map(|level| level.get(&page))
            .map(|b| &b[..])
    }

    /// Every page some level from `depth` inward has saved: the pages written since that
    /// level was opened (empty when it is closed).
    pub(crate) fn pages_since(&self, depth: usize) -> Vec<u64> {
        let from = depth.saturating_sub(1);
        let mut pages: Vec<u64> = self
            .levels
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .flat_map(|level| level.keys().copied())
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages
    }

    /// Records a write of `[lo, hi)` to the lazy stack.
    pub(crate) fn stack_written(&mut self, lo: u64, hi: u64) {
        self.stack_dirty.add(lo, hi);
    }

    /// The lazy stack's written ranges, forgotten (the caller poisons them again).
    pub(crate) fn take_stack_written(&mut self) -> Vec<(u64, u64)> {
        self.stack_dirty.take()
    }
}

/// Hashes page addresses (multiples of [`PAGE`]): one multiply, not SipHash, since every
/// store to a page not yet saved looks one up.
#[derive(Default)]
pub(crate) struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, page: u64) {
        self.0 = (page >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A few address ranges, merged when close: what regions wrote on the stack. Frames of
/// many megabytes are written near their bottom and top only, so one `[min, max)` range
/// would make restoring them cost the whole frame.
#[derive(Clone, Debug, Default)]
pub(crate) struct Intervals {
    ranges: Vec<(u64, u64)>,
}

impl Intervals {
    const MERGE_GAP: u64 = 4096;
    const MAX: usize = 16;

    pub(crate) fn add(&mut self, lo: u64, hi: u64) {
        for r in &mut self.ranges {
            if lo <= r.1.saturating_add(Self::MERGE_GAP)
                && r.0 <= hi.saturating_add(Self::MERGE_GAP)
            {
                r.0 = r.0.min(lo);
                r.1 = r.1.max(hi);
                return;
            }
        }
        if self.ranges.len() >= Self::MAX {
            // Too scattered: one range over all of it is still correct, only slower.
            let all = self
                .ranges
                .iter()
                .fold((lo, hi), |a, r| (a.0.min(r.0), a.1.max(r.1)));
            self.ranges = vec![all];
            return;
        }
        self.ranges.push((lo, hi));
    }

    pub(crate) fn take(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(byte: u8) -> Box<[u8]> {
        vec![byte; PAGE as usize].into_boxed_slice()
    }

    #[test]
    fn a_page_is_saved_once_per_level() {
        let mut j = Journal::default();
        assert!(!j.wants(0x1000), "no level open: nothing to save");
        j.push();
        assert!(j.wants(0x1000));
        j.save(0x1000, page(1));
        assert!(!j.wants(0x1000));
        // A second save keeps the first (older) pre-image.
        j.save(0x1000, page(2));
        assert_eq!(j.pre_image(1, 0x1000).map(|b| b[0]), Some(1));
        j.push();
        assert!(j.wants(0x1000), "an inner level saves its own pre-image");
    }

    #[test]
    fn restoring_writes_inner_levels_first_so_the_oldest_copy_wins() {
        let mut j = Journal::default();
        let outer = j.push();
        j.save(0x1000, page(1));
        let inner = j.push();
        j.save(0x1000, page(2));
        j.save(0x2000, page(3));
        let writes = j.pop_to(outer);
        assert_eq!(j.depth(), 0);
        let last_for = |p: u64| writes.iter().rev().find(|w| w.0 == p).map(|w| w.1[0]);
        assert_eq!(last_for(0x1000), Some(1));
        assert_eq!(last_for(0x2000), Some(3));
        assert!(inner > outer);
    }

    #[test]
    fn an_outer_level_sees_pages_first_written_in_an_inner_one() {
        let mut j = Journal::default();
        let outer = j.push();
        let inner = j.push();
        j.save(0x3000, page(7));
        assert_eq!(j.pre_image(outer, 0x3000).map(|b| b[0]), Some(7));
        assert_eq!(j.pre_image(inner, 0x3000).map(|b| b[0]), Some(7));
        // Closing the inner level alone leaves the outer one open.
        let writes = j.pop_to(inner);
        assert_eq!(writes.len(), 1);
        assert_eq!(j.depth(), 1);
        assert_eq!(j.pre_image(outer, 0x3000), None);
        assert_eq!(
            j.pre_image(inner, 0x3000),
            None,
            "a closed level has nothing"
        );
    }

    #[test]
    fn close_stack_writes_merge_and_far_ones_do_not() {
        let mut i = Intervals::default();
        i.add(0x1000, 0x1008);
        i.add(0x1800, 0x1810);
        i.add(0x10_0000, 0x10_0008);
        assert_eq!(i.take(), vec![(0x1000, 0x1810), (0x10_0000, 0x10_0008)]);
        assert!(i.take().is_empty());
    }
}
