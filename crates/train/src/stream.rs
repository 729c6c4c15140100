//! Training studies made on the fly: a [`CaseSource`] makes study `i` on demand (the template
//! generator, [`SynthSource`]; infarcts implanted into real backgrounds, [`ImplantSource`]),
//! and the training loop keeps a pool of them in memory that it
//! refreshes on a fixed schedule ([`StreamConfig`]): after every `refresh_every` optimiser
//! steps the oldest study of the pool is replaced by the next one. Which study sits in which
//! slot is a function of the step alone, so a resumed run sees the studies the uninterrupted
//! run saw. Nothing is written to disk: a template study costs about as much to make as to
//! read back from gzipped NIfTI, and an implant far less once its background is registered,
//! so a pool of thousands on disk buys nothing.
//!
//! Must not touch: the training loop's optimiser or checkpoints (that is [`crate::training`]).

use crate::data::{case_from_study, Case};
use serde::{Deserialize, Serialize};
use strokeseg_core::{Image, Volume};
use strokeseg_preproc::PrepConfig;
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::site::Site;

/// Makes training study `index` on demand, the same study for the same index.
pub trait CaseSource: Sync {
    /// The source's name: the `site` of its cases, what sampling weights refer to.
    fn name(&self) -> String;
    /// One line for the plan's record of the training data.
    fn describe(&self) -> String;
    /// Study `index`, prepared as the plan prepares every study.
    ///
    /// # Errors
    /// A message when the study cannot be made (the loop keeps the slot's previous study).
    fn case(&self, index: u64, prep: &PrepConfig, multiple: [usize; 3]) -> Result<Case, String>;
}

/// Pool size and refresh schedule of an on-the-fly source (saved in `train_config.json`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamConfig {
    /// Studies held in memory at once.
    pub pool: usize,
    /// Optimiser steps between two new studies (one slot replaced each time).
    pub refresh_every: usize,
}

impl StreamConfig {
    /// A schedule; `None` unless both numbers are at least 1.
    #[must_use]
    pub fn new(pool: usize, refresh_every: usize) -> Option<StreamConfig> {
        (pool >= 1 && refresh_every >= 1).then_some(StreamConfig {
            pool,
            refresh_every,
        })
    }

    /// How many studies have been made once `step` steps are done (the initial pool plus one
    /// per refresh).
    #[must_use]
    pub fn made_by(&self, step: usize) -> u64 {
        (self.pool + step / self.refresh_every) as u64
    }

    /// The study in pool slot `slot` once `step` steps are done: the newest index that maps to
    /// this slot (`index % pool == slot`).
    #[must_use]
    pub fn slot_index(&self, slot: usize, step: usize) -> u64 {
        let pool = self.pool as u64;
        let made = self.made_by(step);
        let slot = slot as u64;
        slot + pool * ((made - 1 - slot) / pool)
    }

    /// True when a new study enters the pool right after step `step` (1-based).
    #[must_use]
    pub fn refresh_after(&self, step: usize) -> bool {
        step > 0 && step % self.refresh_every == 0
    }

    /// The indices a run starting after `step` steps needs, in the order it needs them: the
    /// pool as it stands (slot 0 first), then every later study.
    pub fn order_from(&self, step: usize) -> impl Iterator<Item = u64> {
        let pool: Vec<u64> = (0..self.pool).map(|s| self.slot_index(s, step)).collect();
        pool.into_iter().chain(self.made_by(step)..)
    }
}

/// Template-synthetic studies of one site (a preset, or `random` for domain randomisation),
/// made in memory by the same generator call as `strokeseg synth` and assembled as
/// `Study::load` assembles the files `synth` would write.
pub struct SynthSource {
    generator: Generator,
    site: Site,
    seed: u64,
}

impl SynthSource {
    /// A source of `site`'s studies for dataset seed `seed` (study `i` is `synth --seed SEED`'s
    /// study `i`).
    #[must_use]
    pub fn new(generator: Generator, site: Site, seed: u64) -> SynthSource {
        SynthSource {
            generator,
            site,
            seed,
        }
    }
}

impl CaseSource for SynthSource {
    fn name(&self) -> String {
        format!("synth-stream-{}", self.site.name)
    }

    fn describe(&self) -> String {
        format!(
            "on the fly: strokeseg synth --site {} --seed {} (SYNTHETIC, made in memory)",
            self.site.name, self.seed
        )
    }

    fn case(&self, index: u64, prep: &PrepConfig, multiple: [usize; 3]) -> Result<Case, String> {
        let i = usize::try_from(index).map_err(|e| e.to_string())?;
        let s = self.generator.study(&self.site, self.seed, i);
        let vol = |a: &ndarray::Array3<f32>| Volume::on_grid(a.clone(), &s.grid);
        let study = strokeseg_io::Study::from_volumes(
            &s.truth.id,
            vol(&s.images.dwi),
            Some(vol(&s.images.adc)),
            Some(vol(&s.images.b0)),
            Some(s.truth.b_value),
        )
        .map_err(|e| format!("{} study {index}: {e}", self.name()))?;
        let mask = Image::on_grid(s.mask.clone(), &s.grid);
        Ok(case_from_study(
            &s.truth.id,
            &self.name(),
            &study,
            &mask,
            None,
            prep,
            multiple,
        ))
    }
}

/// Synthetic infarcts implanted into real backgrounds, made in memory: each background is
/// registered once ([`strokeseg_implant::prepare`], seconds), then every study costs one
/// implant (a fraction of a second). Study `i` is the background `i mod n` with implant
/// number `i div n`, as `synth --implant-list` numbers them; every
/// [`ImplantSource::ORIGINAL_EVERY`]-th study of a background is the background unchanged
/// (its own truth, or a true negative for a healthy one).
pub struct ImplantSource<'a> {
    preps: Vec<strokeseg_implant::Prepared<'a>>,
    template: &'a strokeseg_synth::Template,
    cfg: strokeseg_implant::ImplantConfig,
    seed: u64,
}

impl<'a> ImplantSource<'a> {
    /// One in this many studies of a background is the background itself.
    pub const ORIGINAL_EVERY: u64 = 8;

    /// A source over prepared backgrounds (at least one).
    #[must_use]
    pub fn new(
        preps: Vec<strokeseg_implant::Prepared<'a>>,
        template: &'a strokeseg_synth::Template,
        cfg: strokeseg_implant::ImplantConfig,
        seed: u64,
    ) -> Option<ImplantSource<'a>> {
        (!preps.is_empty()).then_some(ImplantSource {
            preps,
            template,
            cfg,
            seed,
        })
    }
}

impl CaseSource for ImplantSource<'_> {
    fn name(&self) -> String {
        "implant-stream".into()
    }

    fn describe(&self) -> String {
        let ids: Vec<&str> = self.preps.iter().map(|p| p.bg.id.as_str()).collect();
        format!(
            "on the fly: strokeseg synth --implant-list --seed {} into real backgrounds {} \
             (SYNTHETIC lesions in REAL studies, made in memory)",
            self.seed,
            ids.join(", ")
        )
    }

    fn case(&self, index: u64, prep: &PrepConfig, multiple: [usize; 3]) -> Result<Case, String> {
        let n = self.preps.len() as u64;
        let bg = &self.preps[usize::try_from(index % n).map_err(|e| e.to_string())?];
        let k = index / n;
        let s = strokeseg_implant::implant(
            bg,
            self.template,
            &self.cfg,
            self.seed,
            usize::try_from(k).map_err(|e| e.to_string())?,
            k % Self::ORIGINAL_EVERY != 0,
        );
        let vol = |a: &ndarray::Array3<f32>| Volume::on_grid(a.clone(), &s.grid);
        let study = strokeseg_io::Study::from_volumes(
            &s.id,
            vol(&s.dwi),
            s.adc.as_ref().map(vol),
            s.b0.as_ref().map(vol),
            Some(bg.b_value),
        )
        .map_err(|e| format!("{} study {index}: {e}", self.name()))?;
        let mask = Image::on_grid(s.mask.clone(), &s.grid);
        let ignore = s
            .exclude
            .as_ref()
            .map(|e| Image::on_grid(e.clone(), &s.grid));
        Ok(case_from_study(
            &s.id,
            &self.name(),
            &study,
            &mask,
            ignore.as_ref(),
            prep,
            multiple,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_after_a_step_is_what_the_refreshes_left_there() {
        let c = StreamConfig::new(3, 2).unwrap();
        // before any step: studies 0, 1, 2
        assert_eq!(c.order_from(0).take(5).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        // after 2 steps study 3 replaced study 0 in slot 0
        assert_eq!(c.slot_index(0, 2), 3);
        assert_eq!(c.slot_index(1, 2), 1);
        // after 7 steps (3 refreshes): 3, 4, 5 and 6 comes next
        assert_eq!(c.order_from(7).take(4).collect::<Vec<_>>(), [3, 4, 5, 6]);
        // a run that refreshes step by step ends where a run started at that step begins
        let mut pool: Vec<u64> = c.order_from(0).take(3).collect();
        let mut next = c.made_by(0);
        for step in 1..=11 {
            if c.refresh_after(step) {
                pool[(next % 3) as usize] = next;
                next += 1;
            }
            let fresh: Vec<u64> = c.order_from(step).take(3).collect();
            assert_eq!(pool, fresh, "step {step}");
            assert_eq!(c.order_from(step).nth(3), Some(next));
        }
        assert!(StreamConfig::new(0, 1).is_none() && StreamConfig::new(1, 0).is_none());
    }
}
