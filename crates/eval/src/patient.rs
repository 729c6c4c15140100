//! Patient-level statistics: a binary call or a score per study against "the truth mask is
//! not empty": sensitivity, specificity, PPV, NPV, ROC curve and AUC, and stratified
//! percentile-bootstrap confidence intervals.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Counts of a binary call against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Confusion {
    /// Truth positive, called positive.
    pub tp: usize,
    /// Truth negative, called positive.
    pub fp: usize,
    /// Truth negative, called negative.
    pub tn: usize,
    /// Truth positive, called negative.
    pub fn_: usize,
}

impl Confusion {
    /// Counts over the studies in `idx` (indices into `truth`/`call`, repeats allowed).
    #[must_use]
    pub fn of(truth: &[bool], call: &[bool], idx: impl IntoIterator<Item = usize>) -> Self {
        let mut c = Confusion::default();
        for i in idx {
            match (truth[i], call[i]) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
                (true, false) => c.fn_ += 1,
            }
        }
        c
    }
    fn ratio(a: usize, b: usize) -> Option<f64> {
        (a + b > 0).then(|| a as f64 / (a + b) as f64)
    }
    /// TP / (TP + FN); None without truth positives.
    #[must_use]
    pub fn sensitivity(&self) -> Option<f64> {
        Self::ratio(self.tp, self.fn_)
    }
    /// TN / (TN + FP); None without truth negatives.
    #[must_use]
    pub fn specificity(&self) -> Option<f64> {
        Self::ratio(self.tn, self.fp)
    }
    /// TP / (TP + FP); None when nothing was called positive.
    #[must_use]
    pub fn ppv(&self) -> Option<f64> {
        Self::ratio(self.tp, self.fp)
    }
    /// TN / (TN + FN); None when nothing was called negative.
    #[must_use]
    pub fn npv(&self) -> Option<f64> {
        Self::ratio(self.tn, self.fn_)
    }
}

/// ROC AUC of `score` for `truth` over the studies in `idx`: the probability that a random
/// positive scores higher than a random negative, ties counting one half (Mann–Whitney U /
/// (n₊·n₋)). None without both classes. NaN scores count as the lowest score.
#[must_use]
pub fn auc(truth: &[bool], score: &[f64], idx: &[usize]) -> Option<f64> {
    let clean = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    let mut v: Vec<(f64, bool)> = idx.iter().map(|&i| (clean(score[i]), truth[i])).collect();
    let np = v.iter().filter(|x| x.1).count();
    let nn = v.len() - np;
    if np == 0 || nn == 0 {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of (average) ranks of the positives, ranks 1-based, ties get the mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1].0 == v[i].0 {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * v[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (np * (np + 1)) as f64 / 2.0;
    Some(u / (np * nn) as f64)
}

/// ROC curve points (false-positive rate, true-positive rate) from (0,0) to (1,1), one point
/// per distinct score (call positive when `score >= s`). Empty without both classes.
#[must_use]
pub fn roc_curve(truth: &[bool], score: &[f64]) -> Vec<(f64, f64)> {
    let np = truth.iter().filter(|&&t| t).count();
    let nn = truth.len() - np;
    if np == 0 || nn == 0 {
        return Vec::new();
    }
    let clean = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    let mut v: Vec<(f64, bool)> = score
        .iter()
        .map(|&s| clean(s))
        .zip(truth.iter().copied())
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut pts = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, &(s, t)) in v.iter().enumerate() {
        if t {
            tp += 1;
        } else {
            fp += 1;
        }
        if i + 1 == v.len() || v[i + 1].0 != s {
            pts.push((fp as f64 / nn as f64, tp as f64 / np as f64));
        }
    }
    pts
}

/// A statistic with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// On all studies; None when undefined (e.g. sensitivity without positives).
    pub value: Option<f64>,
    /// 2.5th percentile of the bootstrap distribution.
    pub ci95_low: Option<f64>,
    /// 97.5th percentile of the bootstrap distribution.
    pub ci95_high: Option<f64>,
}

/// How confidence intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bootstrap {
    /// Number of resamples (0: no intervals).
    pub resamples: usize,
    /// Seed of the resampling (ChaCha8), so intervals are reproducible.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 2000,
            seed: 0,
        }
    }
}

/// Linear-interpolation percentile (numpy's default) of sorted `v`, `q` in 0–1.
fn percentile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// `stat` on all studies, with a stratified percentile-bootstrap 95% interval: each resample
/// draws the positives with replacement from the positives and the negatives from the
/// negatives (so both counts stay fixed and per-class rates stay defined), with a ChaCha8
/// generator seeded by `boot.seed`. Resamples where `stat` is undefined are skipped.
pub fn bootstrap(
    truth: &[bool],
    boot: Bootstrap,
    stat: impl Fn(&[usize]) -> Option<f64>,
) -> Estimate {
    let all: Vec<usize> = (0..truth.len()).collect();
    let value = stat(&all);
    let pos: Vec<usize> = all.iter().copied().filter(|&i| truth[i]).collect();
    let neg: Vec<usize> = all.iter().copied().filter(|&i| !truth[i]).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(boot.seed);
    let mut stats = Vec::with_capacity(boot.resamples);
    let mut idx = Vec::with_capacity(truth.len());
    for _ in 0..boot.resamples {
        idx.clear();
        for class in [&pos, &neg] {
            for _ in 0..class.len() {
                idx.push(class[rng.random_range(0..class.len())]);
            }
        }
        if let Some(s) = stat(&idx) {
            stats.push(s);
        }
    }
    if stats.is_empty() || value.is_none() {
        return Estimate {
            value,
            ci95_low: None,
            ci95_high: None,
        };
    }
    stats.sort_by(f64::total_cmp);
    Estimate {
        value,
        ci95_low: Some(percentile(&stats, 0.025)),
        ci95_high: Some(percentile(&stats, 0.975)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half_and_matches_pairs() {
        let truth = [true, true, false, false, true];
        let score = [0.9, 0.4, 0.4, 0.1, 0.8];
        // pairs (pos, neg): 0.9>0.4,0.9>0.1, 0.4=0.4 (½), 0.4>0.1, 0.8>0.4, 0.8>0.1 → 5.5/6
        let a = auc(&truth, &score, &[0, 1, 2, 3, 4]).unwrap();
        assert!((a - 5.5 / 6.0).abs() < 1e-12, "{a}");
        assert_eq!(auc(&[true, true], &[0.1, 0.2], &[0, 1]), None);
    }

    #[test]
    fn roc_goes_from_origin_to_one_one() {
        let truth = [true, false, true, false];
        let score = [0.9, 0.8, 0.3, 0.1];
        let r = roc_curve(&truth, &score);
        assert_eq!(
            r,
            vec![(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn confusion_rates() {
        let truth = [true, true, true, false, false];
        let call = [true, true, false, true, false];
        let c = Confusion::of(&truth, &call, 0..5);
        assert_eq!((c.tp, c.fn_, c.fp, c.tn), (2, 1, 1, 1));
        assert_eq!(c.sensitivity(), Some(2.0 / 3.0));
        assert_eq!(c.specificity(), Some(0.5));
        assert_eq!(c.ppv(), Some(2.0 / 3.0));
        assert_eq!(c.npv(), Some(0.5));
        assert_eq!(Confusion::of(&truth, &call, 3..5).sensitivity(), None);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_estimate() {
        let truth: Vec<bool> = (0..40).map(|i| i % 3 != 0).collect();
        let call: Vec<bool> = (0..40).map(|i| i % 3 != 0 && i % 5 != 0).collect();
        let sens = |idx: &[usize]| Confusion::of(&truth, &call, idx.iter().copied()).sensitivity();
        let b = Bootstrap {
            resamples: 500,
            seed: 7,
        };
        let e = bootstrap(&truth, b, sens);
        let (v, lo, hi) = (e.value.unwrap(), e.ci95_low.unwrap(), e.ci95_high.unwrap());
        assert!(lo <= v && v <= hi && lo < hi, "{lo} {v} {hi}");
        assert_eq!(e, bootstrap(&truth, b, sens));
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1,2,3,4], 25) == 1.75
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 0.25) - 1.75).abs() < 1e-12);
    }
}
