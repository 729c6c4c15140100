//! Choosing studies: a seeded, site-balanced order whose prefixes are the nested subsets of a
//! learning curve (and the N studies of an adaptation run), the held-out split, and the
//! "smallest subset reaching 95%" rule.

use crate::data::CaseRef;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// An order of `refs` (indices) such that every prefix is as balanced across sites as the data
/// allow: each site's studies are shuffled (ChaCha8 seeded by `seed`), then taken round-robin
/// over the sites in name order; a site that runs out drops out of the rotation. Prefixes of
/// this order are nested by construction, so subsets of sizes 25 ⊂ 50 ⊂ 100 … fall out as
/// `order[..n]`.
#[must_use]
pub fn balanced_order(refs: &[CaseRef], seed: u64) -> Vec<usize> {
    let mut by_site: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in refs.iter().enumerate() {
        by_site.entry(r.site.as_str()).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut queues: Vec<Vec<usize>> = by_site
        .into_values()
        .map(|mut v| {
            v.shuffle(&mut rng);
            v.reverse(); // pop() takes from the shuffled front
            v
        })
        .collect();
    let mut out = Vec::with_capacity(refs.len());
    while out.len() < refs.len() {
        for q in &mut queues {
            if let Some(i) = q.pop() {
                out.push(i);
            }
        }
    }
    out
}

/// How many of `n` studies are held out for early stopping and before/after metrics: 20%,
/// at least 2, always leaving at least one to train on. `None` when `n < 3`.
#[must_use]
pub fn held_out_count(n: usize, fraction: f64) -> Option<usize> {
    if n < 3 {
        return None;
    }
    let k = ((n as f64 * fraction).round() as usize).max(2);
    Some(k.min(n - 1))
}

/// The smallest size whose value reaches `fraction` of the value at the largest size
/// (`curve`: (size, value) in any order). `None` for an empty curve or a non-finite value at
/// the largest size.
#[must_use]
pub fn smallest_reaching(curve: &[(usize, f64)], fraction: f64) -> Option<usize> {
    let &(_, top) = curve.iter().max_by_key(|(n, _)| *n)?;
    if !top.is_finite() {
        return None;
    }
    curve
        .iter()
        .filter(|(_, v)| *v >= fraction * top)
        .map(|(n, _)| *n)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strokeseg_io::StudySpec;

    fn refs(sites: &[(&str, usize)]) -> Vec<CaseRef> {
        sites
            .iter()
            .flat_map(|(s, n)| {
                (0..*n).map(move |i| CaseRef {
                    id: format!("{s}-{i}"),
                    site: (*s).to_string(),
                    spec: StudySpec::default(),
                    mask: Default::default(),
                })
            })
            .collect()
    }

    #[test]
    fn prefixes_are_balanced_nested_and_seeded() {
        let r = refs(&[("a", 10), ("b", 10), ("c", 3)]);
        let o = balanced_order(&r, 7);
        let mut sorted = o.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..23).collect::<Vec<_>>(), "a permutation");
        let count = |n: usize, s: &str| o[..n].iter().filter(|&&i| r[i].site == s).count();
        assert_eq!((count(6, "a"), count(6, "b"), count(6, "c")), (2, 2, 2));
        assert_eq!((count(15, "a"), count(15, "b"), count(15, "c")), (6, 6, 3));
        assert_eq!(o, balanced_order(&r, 7));
        assert_ne!(o, balanced_order(&r, 8));
    }

    #[test]
    fn held_out_is_twenty_percent_at_least_two() {
        assert_eq!(held_out_count(2, 0.2), None);
        assert_eq!(held_out_count(3, 0.2), Some(2));
        assert_eq!(held_out_count(10, 0.2), Some(2));
        assert_eq!(held_out_count(50, 0.2), Some(10));
    }

    #[test]
    fn smallest_subset_reaching_95_percent() {
        let c = [(25, 0.40), (50, 0.62), (100, 0.70), (200, 0.72)];
        assert_eq!(smallest_reaching(&c, 0.95), Some(100)); // 0.95·0.72 = 0.684
        assert_eq!(smallest_reaching(&c, 0.5), Some(25));
        assert_eq!(smallest_reaching(&[], 0.95), None);
        // the largest size always qualifies, even when a smaller one did better
        assert_eq!(smallest_reaching(&[(10, 0.1), (20, 0.05)], 0.95), Some(10));
    }
}
