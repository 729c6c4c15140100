//! Model-mined hard negatives: before every epoch the current model scores a few training
//! studies, and the voxels it calls (probability ≥ [`MineConfig::threshold`]) where the label
//! is exactly 0 become patch centres for the epoch's steps, false call by false call. Bright
//! normal tissue ([`crate::sampler::HARD_NEGATIVE_Z`]) is where a DWI-trained network *might*
//! err; this is where it *does*, on the real backgrounds it trains on (internal capsules,
//! posterior fossa, susceptibility at the skull base, ghosts), and the list follows the
//! network as it learns (what OHEM and nnDetection's hard-negative mining do for detectors).
//!
//! Owns: which studies are scored, what counts as a false call, the lists and their file
//! (`mined.json` beside `state.json`, so `--resume` continues with the lists the uninterrupted
//! run had). Must not touch: the optimiser, checkpoints or the patch sampling itself
//! ([`crate::sampler::sample_patch_near`] draws the patch).

use crate::data::Case;
use crate::lesions::components;
use ndarray::Array3;
use rand::Rng;
use serde::{Deserialize, Serialize};
use strokeseg_fastnet::FastUNet;
use strokeseg_infer::{predict_volume, predict_volume_with};
use strokeseg_model::{UNet3d, UNet3dConfig};

/// Settings of model-mined hard negatives (saved in `train_config.json`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct MineConfig {
    /// Share of all patches centred on a mined false call (while any study has one).
    pub fraction: f64,
    /// Probability from which a voxel counts as called.
    pub threshold: f32,
    /// Training studies scored before each epoch, drawn as patches draw them (with the
    /// sources' sampling weights), so real backgrounds are scored as often as they are trained.
    pub cases_per_epoch: usize,
    /// A call reaching within this many mm (per axis: a box) of a voxel whose label is not 0
    /// (lesion, its partial-volume rim, an excluded real stroke) is not mined: there a call
    /// is a lesion drawn too wide, or unlabelled infarct the expert left out, not normal
    /// tissue mistaken for infarct. 0 (configs written before it existed): every call.
    #[serde(default)]
    pub margin_mm: f64,
}

/// Per-axis radius in voxels ([d, h, w]) of `margin_mm` on a grid of `spacing_mm`
/// ([x, y, z], as plans give it): the smallest box holding the margin on every axis.
#[must_use]
pub fn margin_voxels(margin_mm: f64, spacing_mm: [f64; 3]) -> [usize; 3] {
    let r = |s: f64| {
        if margin_mm <= 0.0 || s <= 0.0 {
            0
        } else {
            (margin_mm / s).ceil() as usize
        }
    };
    [r(spacing_mm[2]), r(spacing_mm[1]), r(spacing_mm[0])]
}

/// Voxels within `radius` ([d, h, w], a box) of a voxel where `label` is not 0.
///
/// Written here because it is one separable running count per axis; a generic
/// morphological dilation with a structuring element would be far slower on this box.
fn near_label(label: &Array3<f32>, radius: [usize; 3]) -> Array3<bool> {
    let mut near = label.mapv(|l| l != 0.0);
    for (axis, &r) in radius.iter().enumerate() {
        if r == 0 {
            continue;
        }
        for mut lane in near.lanes_mut(ndarray::Axis(axis)) {
            let src: Vec<bool> = lane.iter().copied().collect();
            let n = src.len();
            // prefix[i] = set voxels in src[..i]
            let mut prefix = vec![0usize; n + 1];
            for i in 0..n {
                prefix[i + 1] = prefix[i] + usize::from(src[i]);
            }
            for (i, v) in lane.iter_mut().enumerate() {
                let lo = i.saturating_sub(r);
                let hi = (i + r + 1).min(n);
                *v = prefix[hi] > prefix[lo];
            }
        }
    }
    near
}

/// At most this many false calls are kept per study (the largest first would hide the small
/// spots that make a healthy study positive, so they are kept in scan order: a spread).
pub const MAX_CALLS: usize = 128;
/// At most this many voxels per false call (evenly spread), to bound the file.
pub const MAX_VOXELS: usize = 48;

/// The false calls of one study: 26-connected components of `prob ≥ threshold` where `label`
/// is exactly 0 (not lesion, not partial volume of one, not ignored) and no voxel lies
/// within `margin` voxels ([d, h, w], a box) of a label that is not 0; each capped to
/// [`MAX_VOXELS`] voxels ([d, h, w]), at most [`MAX_CALLS`] of them.
#[must_use]
pub fn false_calls(
    prob: &Array3<f32>,
    label: &Array3<f32>,
    threshold: f32,
    margin: [usize; 3],
) -> Vec<Vec<[usize; 3]>> {
    let mask = ndarray::Zip::from(prob).and(label).map_collect(|&p, &l| {
        if p >= threshold && l == 0.0 {
            1.0f32
        } else {
            0.0
        }
    });
    let near = (margin != [0; 3]).then(|| near_label(label, margin));
    let comps: Vec<_> = components(&mask)
        .into_iter()
        .filter(|c| {
            near.as_ref()
                .is_none_or(|n| c.iter().all(|&[d, h, w]| !n[[d, h, w]]))
        })
        .collect();
    let every = comps.len().div_ceil(MAX_CALLS).max(1);
    comps
        .into_iter()
        .step_by(every)
        .map(|c| {
            let step = c.len().div_ceil(MAX_VOXELS).max(1);
            c.into_iter().step_by(step).collect()
        })
        .collect()
}

/// One scoring pass: when, how many studies, what was found, how long it took.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MinePass {
    /// The epoch the pass preceded (1-based: the epoch then trained).
    pub epoch: usize,
    /// Studies scored.
    pub studies: usize,
    /// Of those, studies with at least one false call.
    pub studies_with_calls: usize,
    /// False calls found.
    pub calls: usize,
    /// Seconds the pass took.
    pub seconds: f64,
}

/// The mined false calls of the loaded training studies, and the history of the passes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mined {
    /// Per training study (the loop's fixed cases, in order): its id and its false calls from
    /// the last pass that scored it (empty if none did).
    pub studies: Vec<(String, Vec<Vec<[usize; 3]>>)>,
    /// Every pass so far.
    pub passes: Vec<MinePass>,
}

impl Mined {
    /// No calls yet for `cases`.
    #[must_use]
    pub fn new(cases: &[Case]) -> Self {
        Mined {
            studies: cases.iter().map(|c| (c.id.clone(), Vec::new())).collect(),
            passes: Vec::new(),
        }
    }

    /// True when the lists belong to `cases` (same studies in the same order).
    #[must_use]
    pub fn matches(&self, cases: &[Case]) -> bool {
        self.studies.len() == cases.len()
            && self
                .studies
                .iter()
                .zip(cases)
                .all(|((id, _), c)| *id == c.id)
    }

    /// Replaces study `i`'s false calls.
    pub fn set(&mut self, i: usize, calls: Vec<Vec<[usize; 3]>>) {
        self.studies[i].1 = calls;
    }

    /// False calls held over all studies.
    #[must_use]
    pub fn total(&self) -> usize {
        self.studies.iter().map(|s| s.1.len()).sum()
    }

    /// A patch centre on a false call: a study with calls uniformly, one of its calls
    /// uniformly, one of its voxels uniformly. `None` when no study has a call.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> Option<(usize, [usize; 3])> {
        let with: Vec<usize> = (0..self.studies.len())
            .filter(|&i| !self.studies[i].1.is_empty())
            .collect();
        if with.is_empty() {
            return None;
        }
        let i = with[rng.random_range(0..with.len())];
        let calls = &self.studies[i].1;
        let call = &calls[rng.random_range(0..calls.len())];
        Some((i, call[rng.random_range(0..call.len())]))
    }
}

/// Scores studies `picks` of `cases` with `model` (built with `config`; sliding windows of
/// `window`, no test-time mirroring; the grid's spacing `spacing_mm`, [x, y, z]) and replaces their false calls in `mined`; the pass is
/// recorded as preceding `epoch`. The fast CPU forward (`strokeseg-fastnet`, the one
/// `segment` uses) does the scoring, burn's forward where it refuses the model.
pub fn pass(
    (model, config): (&UNet3d, &UNet3dConfig),
    (window, spacing_mm): ([usize; 3], [f64; 3]),
    cases: &[Case],
    picks: &[usize],
    cfg: &MineConfig,
    mined: &mut Mined,
    epoch: usize,
) {
    let t0 = std::time::Instant::now();
    let fast = FastUNet::new(model, config)
        .inspect_err(|e| tracing::debug!("mining with burn's forward: {e}"))
        .ok();
    let mut record = MinePass {
        epoch,
        studies: picks.len(),
        ..MinePass::default()
    };
    let margin = margin_voxels(cfg.margin_mm, spacing_mm);
    for &i in picks {
        let c = &cases[i];
        let prob = match &fast {
            Some(f) => predict_volume_with(&c.input, window, false, &mut |b| f.predict(&b)),
            None => predict_volume(model, &c.input, window, false),
        };
        let calls = false_calls(&prob, &c.label, cfg.threshold, margin);
        record.calls += calls.len();
        record.studies_with_calls += usize::from(!calls.is_empty());
        mined.set(i, calls);
    }
    record.seconds = t0.elapsed().as_secs_f64();
    tracing::info!(
        "epoch {epoch}: mined {} false calls in {} of {} studies ({:.0} s); {} held",
        record.calls,
        record.studies_with_calls,
        record.studies,
        record.seconds,
        mined.total()
    );
    mined.passes.push(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn false_calls_are_the_called_components_outside_the_label() {
        let mut prob = Array3::<f32>::zeros((6, 20, 20));
        let mut label = Array3::<f32>::zeros((6, 20, 20));
        // a true lesion, called: not a false call
        for y in 2..5 {
            label[[1, y, 2]] = 1.0;
            prob[[1, y, 2]] = 0.9;
        }
        // a called voxel on an ignored region (negative label): not a false call either
        label[[5, 19, 19]] = -1.0;
        prob[[5, 19, 19]] = 0.9;
        // a partial-volume rim voxel of the lesion: not exactly 0, not a false call
        label[[1, 5, 2]] = 0.1;
        prob[[1, 5, 2]] = 0.8;
        // two false calls: a 2-voxel spot and a single voxel; one voxel below the threshold
        prob[[3, 10, 10]] = 0.6;
        prob[[3, 10, 11]] = 0.7;
        prob[[4, 17, 3]] = 0.5;
        prob[[0, 15, 15]] = 0.49;
        let calls = false_calls(&prob, &label, 0.5, [0; 3]);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0], vec![[3, 10, 10], [3, 10, 11]]);
        assert_eq!(calls[1], vec![[4, 17, 3]]);
    }

    #[test]
    fn calls_near_a_label_are_not_mined_with_a_margin() {
        let mut prob = Array3::<f32>::zeros((10, 30, 30));
        let mut label = Array3::<f32>::zeros((10, 30, 30));
        label[[5, 10, 10]] = 1.0;
        label[[8, 25, 25]] = -1.0; // an excluded real stroke counts as near too
        prob[[5, 10, 13]] = 0.9; // 3 voxels from the lesion along w
        prob[[7, 25, 25]] = 0.9; // next to the excluded region
        prob[[5, 10, 20]] = 0.9; // 10 voxels away along w
        prob[[1, 10, 10]] = 0.9; // 4 slices away along d
        assert_eq!(false_calls(&prob, &label, 0.5, [0; 3]).len(), 4);
        let far = false_calls(&prob, &label, 0.5, [2, 3, 3]);
        assert_eq!(far, vec![vec![[1, 10, 10]], vec![[5, 10, 20]]]);
        // a call reaching into the margin is dropped whole
        prob[[5, 10, 14]] = 0.9;
        prob[[5, 10, 15]] = 0.9;
        assert_eq!(false_calls(&prob, &label, 0.5, [2, 3, 3]).len(), 2);
        // 8 mm on a 1.6 × 1.6 × 4 mm grid ([x, y, z]): 2 slices, 5 voxels in plane
        assert_eq!(margin_voxels(8.0, [1.6, 1.6, 4.0]), [2, 5, 5]);
        assert_eq!(margin_voxels(0.0, [1.6, 1.6, 4.0]), [0, 0, 0]);
    }

    #[test]
    fn a_large_call_is_capped_and_so_is_their_number() {
        let mut prob = Array3::<f32>::zeros((8, 40, 40));
        for z in 0..2 {
            for y in 0..40 {
                for x in 0..10 {
                    prob[[z, y, x]] = 1.0;
                }
            }
        }
        // isolated spots on a lattice (not 26-connected)
        for y in (0..40).step_by(2) {
            for x in (12..40).step_by(2) {
                for z in (4..8).step_by(2) {
                    prob[[z, y, x]] = 1.0;
                }
            }
        }
        let label = Array3::<f32>::zeros(prob.dim());
        let calls = false_calls(&prob, &label, 0.5, [0; 3]);
        assert!(
            calls.len() <= MAX_CALLS && calls.len() > MAX_CALLS / 2,
            "{}",
            calls.len()
        );
        assert!(calls.iter().all(|c| !c.is_empty() && c.len() <= MAX_VOXELS));
        // the slab (the first component in scan order) is kept, thinned
        assert_eq!(calls[0].len(), MAX_VOXELS.min(800));
    }

    #[test]
    fn draws_come_only_from_studies_with_calls() {
        let mut m = Mined {
            studies: vec![
                ("a".into(), vec![]),
                ("b".into(), vec![]),
                ("c".into(), vec![]),
            ],
            passes: vec![],
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert!(m.draw(&mut rng).is_none());
        m.set(1, vec![vec![[1, 2, 3]], vec![[4, 5, 6], [4, 5, 7]]]);
        assert_eq!(m.total(), 2);
        let mut seen = [false; 3];
        for _ in 0..200 {
            let (i, v) = m.draw(&mut rng).unwrap();
            assert_eq!(i, 1);
            seen[match v {
                [1, 2, 3] => 0,
                [4, 5, 6] => 1,
                _ => 2,
            }] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
