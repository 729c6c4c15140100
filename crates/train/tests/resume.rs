//! The training loop resumes exactly (weights and AdamW moments from the last checkpoint), and
//! a fine-tuning run scores its start weights first and trains only the allowed parts.

use ndarray::{Array3, Array4};
use strokeseg_infer::Plan;
use strokeseg_model::{cpu_device, load, TrainableParts, UNet3d, UNet3dConfig};
use strokeseg_preproc::PrepConfig;
use strokeseg_train::data::Case;
use strokeseg_train::mining::{MineConfig, Mined};
use strokeseg_train::sampler::PatchConfig;
use strokeseg_train::stream::CaseSource;
use strokeseg_train::training::{checkpoint_dir, Event, MINED_FILE};
use strokeseg_train::{train, train_from, Objective, Start, TrainConfig, TrainData};

/// A bright, low-ADC block in a noisy "brain" of [2, 8, 32, 32].
fn case(seed: usize) -> Case {
    let (d, h, w) = (8, 32, 32);
    let mut input = Array4::<f32>::zeros((2, d, h, w));
    let mut label = Array3::<f32>::zeros((d, h, w));
    for ((c, z, y, x), v) in input.indexed_iter_mut() {
        let les =
            (2..5).contains(&z) && (8 + seed..16 + seed).contains(&y) && (10..18).contains(&x);
        let noise = (((z * 31 + y * 17 + x * 7 + seed * 13) % 11) as f32 - 5.0) * 0.02;
        *v = noise
            + match (c, les) {
                (0, true) => 2.0,
                (0, false) => 0.5,
                (_, true) => 0.4,
                _ => 0.8,
            };
        if les && c == 0 {
            label[[z, y, x]] = 1.0;
        }
    }
    let lesion_voxels: Vec<[usize; 3]> = label
        .indexed_iter()
        .filter(|(_, &v)| v > 0.5)
        .map(|((a, b, c), _)| [a, b, c])
        .collect();
    Case {
        id: format!("c{seed}"),
        site: "s".into(),
        input,
        label,
        lesion_components: vec![lesion_voxels.clone()],
        lesion_voxels,
        brain_voxels: vec![[4, 16, 16], [3, 10, 20]],
        hard_voxels: Vec::new(),
        has_lesion: true,
    }
}

fn plan() -> Plan {
    Plan {
        prep: PrepConfig::default(),
        model: UNet3dConfig::new()
            .with_base_channels(4)
            .with_depth(2)
            .with_seed(5),
        window: [8, 32, 32],
        channels: vec!["dwi".into(), "adc".into()],
        training_data: vec![],
        synthetic_only: true,
        spacing_plan: None,
    }
}

fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        steps_per_epoch: 2,
        batch_size: 1,
        lr: 1e-2,
        warmup_steps: 1,
        patch: PatchConfig {
            size: [8, 32, 32],
            ..PatchConfig::default()
        },
        seed: 3,
        patience: None,
        objective: Objective::Supervised,
        source_weights: Vec::new(),
        stream: None,
        mine: None,
        lesion_loss: 0.0,
    }
}

/// Runs `run` with an event callback that panics once epoch 1 has been checkpointed (a
/// simulated kill), and checks that the run did not get past it.
fn killed_after_epoch_1<T>(run: impl FnOnce(&mut dyn FnMut(Event<'_>)) -> T) {
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut stop = |e: Event<'_>| {
            if let Event::Epoch(s) = e {
                assert!(s.epoch < 1, "simulated kill after epoch {}", s.epoch);
            }
        };
        run(&mut stop)
    }));
    assert!(killed.is_err());
}

fn weights(dir: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    load(dir, &cpu_device()).unwrap().0.named_params()
}

fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn interrupted_and_resumed_run_equals_the_straight_run() {
    let cases = [case(0), case(4)];
    let val = [case(2)];
    let dev = cpu_device();
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let mut quiet = |_: Event<'_>| {};
    let sa = train(
        &plan(),
        &cfg(2),
        TrainData::new(&cases, &val),
        &a,
        false,
        &dev,
        &mut quiet,
    )
    .unwrap();
    // the same run, killed right after epoch 1 was checkpointed
    killed_after_epoch_1(|stop| {
        train(
            &plan(),
            &cfg(2),
            TrainData::new(&cases, &val),
            &b,
            false,
            &dev,
            stop,
        )
    });
    let s1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("state.json")).unwrap()).unwrap();
    assert_eq!(s1["epoch"], 1);
    // --resume continues it
    let sb = train(
        &plan(),
        &cfg(2),
        TrainData::new(&cases, &val),
        &b,
        true,
        &dev,
        &mut quiet,
    )
    .unwrap();
    assert_eq!((sa.epoch, sb.epoch, sa.step, sb.step), (2, 2, 4, 4));
    let diff = max_diff(
        &weights(&checkpoint_dir(&a, "last")),
        &weights(&checkpoint_dir(&b, "last")),
    );
    assert!(diff < 1e-5, "resumed run differs by {diff}");
    assert!(checkpoint_dir(&b, "last").join("optimizer.bpk").is_file());
    let log = std::fs::read_to_string(b.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
}

#[test]
fn a_mining_run_scores_studies_before_each_epoch_and_resumes_with_its_lists() {
    let cases = [case(0), case(4), case(8)];
    let val = [case(2)];
    let dev = cpu_device();
    let d = tempfile::tempdir().unwrap();
    let (a, b, plain) = (d.path().join("a"), d.path().join("b"), d.path().join("p"));
    // threshold 0: every unlabelled voxel is "called", so every scored study has calls and
    // every patch is centred on one
    let mining = TrainConfig {
        mine: Some(MineConfig {
            fraction: 1.0,
            threshold: 0.0,
            cases_per_epoch: 2,
            margin_mm: 0.0,
        }),
        ..cfg(2)
    };
    let mut quiet = |_: Event<'_>| {};
    let data = TrainData::new(&cases, &val);
    train(&plan(), &mining, data, &a, false, &dev, &mut quiet).unwrap();
    train(&plan(), &cfg(2), data, &plain, false, &dev, &mut quiet).unwrap();
    let mined: Mined =
        serde_json::from_str(&std::fs::read_to_string(a.join(MINED_FILE)).unwrap()).unwrap();
    assert_eq!(mined.passes.len(), 2);
    for (k, p) in mined.passes.iter().enumerate() {
        assert_eq!((p.epoch, p.studies, p.studies_with_calls), (k + 1, 2, 2));
        assert!(p.calls >= 2);
    }
    assert!(mined.matches(&cases));
    // the calls are where the label is 0
    for ((_, calls), c) in mined.studies.iter().zip(&cases) {
        assert!(calls.iter().flatten().all(|v| c.label[*v] == 0.0));
    }
    // mined patches change what is learned
    let w = |dir: &std::path::Path| weights(&checkpoint_dir(dir, "last"));
    assert!(max_diff(&w(&a), &w(&plain)) > 1e-4);
    // killed after epoch 1 and resumed: the lists of epoch 1 are read back, same weights
    killed_after_epoch_1(|stop| train(&plan(), &mining, data, &b, false, &dev, stop));
    train(&plan(), &mining, data, &b, true, &dev, &mut quiet).unwrap();
    let diff = max_diff(&w(&a), &w(&b));
    assert!(diff < 1e-5, "resumed mining run differs by {diff}");
    // lists of other studies are refused on resume
    let other = [case(1), case(5), case(9)];
    let e = train(
        &plan(),
        &TrainConfig {
            epochs: 3,
            ..mining
        },
        TrainData::new(&other, &val),
        &b,
        true,
        &dev,
        &mut quiet,
    )
    .unwrap_err();
    assert!(e.to_string().contains("mined.json"), "{e}");
}

#[test]
fn fine_tuning_scores_the_start_and_trains_only_the_decoder() {
    let cases = [case(0), case(4)];
    let val = [case(2)];
    let dev = cpu_device();
    let base: UNet3d = plan().model.init(&dev);
    let d = tempfile::tempdir().unwrap();
    let mut quiet = |_: Event<'_>| {};
    let s = train_from(
        &plan(),
        &cfg(1),
        Start {
            init: Some(&base),
            parts: TrainableParts::Decoder,
        },
        TrainData::new(&cases, &val),
        d.path(),
        false,
        &dev,
        &mut quiet,
    )
    .unwrap();
    let b0 = s.baseline.expect("the start weights are scored");
    assert!((0.0..=1.0).contains(&b0));
    assert!(s.best_dice >= b0);
    let log = std::fs::read_to_string(d.path().join("train_log.csv")).unwrap();
    assert!(log.lines().nth(1).unwrap().starts_with("0,0,"), "{log}");
    let before = base.named_params();
    let after = weights(&checkpoint_dir(d.path(), "last"));
    let mut moved = 0;
    for ((p, x), (_, y)) in before.iter().zip(&after) {
        if p.starts_with("encoder.") {
            assert_eq!(x, y, "{p} moved");
        } else {
            moved += usize::from(x != y);
        }
    }
    assert!(moved > 0);
}

/// An on-the-fly source of [`case`]s that records which studies were asked for.
struct Counting {
    asked: std::sync::Mutex<Vec<u64>>,
}

/// Only on-the-fly studies: no loaded training case at all.
fn data<'a>(val: &'a [Case], streams: &'a [&'a dyn CaseSource]) -> TrainData<'a> {
    TrainData {
        train: &[],
        val,
        streams,
    }
}

impl CaseSource for Counting {
    fn name(&self) -> String {
        "stream".into()
    }
    fn describe(&self) -> String {
        "test stream".into()
    }
    fn case(&self, index: u64, _: &PrepConfig, _: [usize; 3]) -> Result<Case, String> {
        self.asked.lock().unwrap().push(index);
        if index == 5 {
            return Err("study 5 cannot be made".into());
        }
        let mut c = case((index % 7) as usize);
        c.site = "stream".into();
        Ok(c)
    }
}

#[test]
fn an_on_the_fly_run_refreshes_its_pool_and_resumes_with_the_same_studies() {
    let val = [case(2)];
    let dev = cpu_device();
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let mut cfg = cfg(2);
    cfg.stream = strokeseg_train::stream::StreamConfig::new(2, 1);
    cfg.source_weights = vec![("stream".into(), 1.0)];
    let mut quiet = |_: Event<'_>| {};
    let src = Counting {
        asked: Default::default(),
    };
    let sa = {
        let streams: [&dyn CaseSource; 1] = [&src];
        train(
            &plan(),
            &cfg,
            data(&val, &streams),
            &a,
            false,
            &dev,
            &mut quiet,
        )
        .unwrap()
    };
    assert_eq!(sa.step, 4);
    let asked = src.asked.lock().unwrap().clone();
    // pool 0, 1, then one new study after each of the 4 steps (the producer may make one
    // more ahead of the loop before it sees the run end)
    assert!(asked.starts_with(&[0, 1, 2, 3, 4, 5]), "{asked:?}");
    // killed after epoch 1, resumed: the resumed run rebuilds the pool of step 2 (studies 2
    // and 3) and goes on with study 4, as the straight run did
    killed_after_epoch_1(|stop| {
        let src = Counting {
            asked: Default::default(),
        };
        let streams: [&dyn CaseSource; 1] = [&src];
        train(&plan(), &cfg, data(&val, &streams), &b, false, &dev, stop)
    });
    let src2 = Counting {
        asked: Default::default(),
    };
    let sb = {
        let streams: [&dyn CaseSource; 1] = [&src2];
        train(
            &plan(),
            &cfg,
            data(&val, &streams),
            &b,
            true,
            &dev,
            &mut quiet,
        )
        .unwrap()
    };
    assert_eq!(sb.step, 4);
    let asked = src2.asked.lock().unwrap().clone();
    assert!(asked.starts_with(&[2, 3, 4, 5]), "{asked:?}");
    let diff = max_diff(
        &weights(&checkpoint_dir(&a, "last")),
        &weights(&checkpoint_dir(&b, "last")),
    );
    assert!(diff < 1e-5, "resumed on-the-fly run differs by {diff}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("train_config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["stream"]["pool"], 2);
    assert_eq!(saved["stream"]["refresh_every"], 1);
}

#[test]
fn an_on_the_fly_source_without_a_schedule_is_refused() {
    let val = [case(2)];
    let d = tempfile::tempdir().unwrap();
    let src = Counting {
        asked: Default::default(),
    };
    let mut quiet = |_: Event<'_>| {};
    let err = train(
        &plan(),
        &cfg(1),
        TrainData {
            train: &[case(0)],
            val: &val,
            streams: &[&src],
        },
        d.path(),
        false,
        &cpu_device(),
        &mut quiet,
    )
    .unwrap_err();
    assert!(err.is_user_error(), "{err}");
    assert!(err.to_string().contains("schedule"), "{err}");
}

#[test]
fn a_lesion_loss_run_learns_otherwise_records_its_weight_and_resumes_exactly() {
    let cases = [case(0), case(4)];
    let val = [case(2)];
    let dev = cpu_device();
    let d = tempfile::tempdir().unwrap();
    let (a, b, plain) = (d.path().join("a"), d.path().join("b"), d.path().join("p"));
    // every patch is centred on the lesion, so every batch holds one
    let blob = TrainConfig {
        lesion_loss: 1.0,
        patch: PatchConfig {
            size: [8, 32, 32],
            lesion_fraction: 1.0,
            ..PatchConfig::default()
        },
        ..cfg(2)
    };
    let plain_cfg = TrainConfig {
        lesion_loss: 0.0,
        ..blob.clone()
    };
    let mut quiet = |_: Event<'_>| {};
    let data = TrainData::new(&cases, &val);
    train(&plan(), &blob, data, &a, false, &dev, &mut quiet).unwrap();
    train(&plan(), &plain_cfg, data, &plain, false, &dev, &mut quiet).unwrap();
    let w = |dir: &std::path::Path| weights(&checkpoint_dir(dir, "last"));
    assert!(max_diff(&w(&a), &w(&plain)) > 1e-4);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("train_config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["lesion_loss"], 1.0, "{saved}");
    killed_after_epoch_1(|stop| train(&plan(), &blob, data, &b, false, &dev, stop));
    train(&plan(), &blob, data, &b, true, &dev, &mut quiet).unwrap();
    let diff = max_diff(&w(&a), &w(&b));
    assert!(diff < 1e-5, "resumed lesion-loss run differs by {diff}");
}
