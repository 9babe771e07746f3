//! Choosing free SPI_SA_C values (draft §2.1): the part of the pool algorithm
//! that needs no database. The database (or the memory store's map) decides
//! what is in use; this picks candidates.

use std::collections::BTreeSet;

use rand::Rng;

use crate::model::SpiRange;

/// Up to `need` distinct SPIs of `range` that are not in `taken`, chosen at
/// random (so two AS instances drawing from one pool rarely propose the same
/// value). Fewer than `need` only when fewer are free; `taken` may hold
/// values outside `range`.
///
/// Sparse pools draw by rejection (at least half the range is free, so a draw
/// costs two tries on average); dense pools, or requests for most of what is
/// left, walk the gaps between taken values (`O(|taken ∩ range| + free)`,
/// where `free <= size <= 2 · |taken ∩ range|`, or `free <= 2 · need`).
pub(crate) fn pick_free<R: Rng + ?Sized>(
    range: SpiRange,
    taken: &BTreeSet<u32>,
    need: usize,
    rng: &mut R,
) -> Vec<u32> {
    // Cheap test for a sparse pool first (`taken.len()` bounds the taken
    // part of the range), so a large pool costs no count of what is taken.
    let sparse = (taken.len() as u64).saturating_add(need as u64) * 4 <= range.size();
    if sparse {
        return draw(range, taken, need as u64, rng);
    }
    let taken_in_range = taken.range(range.lo()..=range.hi()).count() as u64;
    let free = range.size() - taken_in_range;
    let want = (need as u64).min(free);
    if want == 0 {
        return Vec::new();
    }
    if free <= 2 * want || 2 * taken_in_range >= range.size() {
        let mut all = free_values(range, taken);
        // Partial Fisher-Yates: the first `want` become a uniform sample.
        let want = want as usize;
        for i in 0..want {
            let j = rng.random_range(i..all.len());
            all.swap(i, j);
        }
        all.truncate(want);
        return all;
    }
    draw(range, taken, want, rng)
}

/// `want` distinct values of `range` outside `taken`, by rejection; the
/// caller makes sure at least half of the range is free and `want` is at most
/// half of what is free.
fn draw<R: Rng + ?Sized>(
    range: SpiRange,
    taken: &BTreeSet<u32>,
    want: u64,
    rng: &mut R,
) -> Vec<u32> {
    let mut chosen = BTreeSet::new();
    while (chosen.len() as u64) < want {
        let spi = rng.random_range(range.lo()..=range.hi());
        if !taken.contains(&spi) {
            chosen.insert(spi);
        }
    }
    chosen.into_iter().collect()
}

/// Every value of `range` not in `taken`, ascending.
fn free_values(range: SpiRange, taken: &BTreeSet<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next = u64::from(range.lo());
    for &t in taken.range(range.lo()..=range.hi()) {
        out.extend((next..u64::from(t)).filter_map(|v| u32::try_from(v).ok()));
        next = u64::from(t) + 1;
    }
    out.extend((next..=u64::from(range.hi())).filter_map(|v| u32::try_from(v).ok()));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn a_full_pool_yields_nothing() {
        let range = SpiRange::new(256, 259).unwrap();
        let taken: BTreeSet<u32> = (256..=259).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(pick_free(range, &taken, 3, &mut rng).is_empty());
    }

    #[test]
    fn the_last_free_spi_is_found() {
        let range = SpiRange::new(256, 1279).unwrap();
        let taken: BTreeSet<u32> = (256..=1279).filter(|&v| v != 1000).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        assert_eq!(pick_free(range, &taken, 5, &mut rng), vec![1000]);
    }

    #[test]
    fn the_top_of_the_spi_space_is_reachable() {
        let range = SpiRange::new(u32::MAX - 1, u32::MAX).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut got = pick_free(range, &BTreeSet::new(), 4, &mut rng);
        got.sort_unstable();
        assert_eq!(got, vec![u32::MAX - 1, u32::MAX]);
    }

    proptest! {
        /// Whatever is taken and however many are asked for: distinct, in
        /// range, not taken, and as many as are free up to `need`.
        #[test]
        fn picks_are_free_distinct_and_enough(
            lo in 256u32..100_000,
            len in 0u32..300,
            taken in proptest::collection::btree_set(200u32..100_400, 0..400),
            need in 0usize..400,
            seed: u64,
        ) {
            let range = SpiRange::new(lo, lo + len).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let got = pick_free(range, &taken, need, &mut rng);
            let distinct: BTreeSet<u32> = got.iter().copied().collect();
            prop_assert_eq!(distinct.len(), got.len());
            for spi in &got {
                prop_assert!(range.contains(*spi));
                prop_assert!(!taken.contains(spi));
            }
            let free = (range.lo()..=range.hi()).filter(|v| !taken.contains(v)).count();
            prop_assert_eq!(got.len(), need.min(free));
        }
    }
}
