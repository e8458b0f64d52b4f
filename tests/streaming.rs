//! Training from the feature cache: with a cache, a data set holds where each example's matrix
//! is, not the matrix, and every batch (training, curves, evaluation) reads its examples back and
//! maps them then. These tests show that this changes no number: the losses, curves, weights and
//! figures are bit for bit those of training with every matrix in memory and the input map
//! applied to all of them up front, as ser did before; and that a cache entry lost during a run
//! is an error naming it.

use ndarray::Array2;
use ser::audio::{write_wav, Audio};
use ser::data::pipeline::{self, DataConfig, DataSet, Layout};
use ser::data::{DataSource, Example, Features, InputScaling};
use ser::experiments::recipes::run_recipes;
use ser::nn::model::SerModel;
use ser::recipe::{Plan, Recipe, RunSettings};
use ser::train::{evaluate, EpochLog, Scoring, Trainer};
use std::path::Path;

mod common;
use common::temp_dir;

/// Three synthetic clips of each emotion from actors 1-3.
fn write_clips(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for emotion in 0..8u8 {
        for actor in 1..=3u8 {
            let clip = ser::synth::synthesize_clip(3, actor, emotion, 1, 1 + actor % 2, 1);
            write_wav(&dir.join(&clip.file_name), &Audio { samples: clip.samples, sample_rate: 16_000 }).unwrap();
        }
    }
}

fn data_config(cache: Option<&Path>) -> DataConfig {
    DataConfig { layout: Layout::Pool, seed: 1, noise_seed: 1, cache_dir: cache.map(Path::to_path_buf), ..DataConfig::default() }
}

/// Every example of the set, in split order.
fn all_examples(set: &DataSet) -> impl Iterator<Item = &Example> {
    set.train.iter().chain(&set.val).chain(set.test.iter().flatten())
}

/// The improved recipe (log-mel, standardised rows, SpecAugment, gain, mixup, AdamW, warm-up +
/// cosine, label smoothing), short, one model: everything a batch goes through.
fn recipe() -> Recipe {
    Recipe { epochs: 3, patience: None, ensemble: 1, ..Recipe::improved() }
}

fn plan(data: &DataConfig) -> Plan {
    recipe().plan(&RunSettings { batch_size: 16, seed: 5, ..RunSettings::default() }, data, 5)
}

/// What a run produced: each epoch's log (seconds zeroed), the weights, the test figures.
type Outcome = (Vec<EpochLog>, Vec<Vec<f32>>, (f64, f64));

/// Trains `plan`'s model on `set` with the input map `scaling` applied batch by batch (and
/// `augment_scaling` for the gain's affine form).
fn train(set: &DataSet, plan: &Plan, scaling: &InputScaling, augment_scaling: &InputScaling) -> Outcome {
    let mut model = SerModel::<f32>::new(plan.model, plan.train.seed);
    let mut trainer = Trainer::new(plan.train.clone());
    trainer.scaling = scaling.clone();
    trainer.augment = recipe().feature_augment(augment_scaling);
    trainer.fit(&mut model, &set.train, &set.val, |_, _| Ok::<(), anyhow::Error>(())).unwrap();
    let test = set.test.as_ref().unwrap();
    let batched = evaluate(&mut model, test, scaling, Scoring::Batched(16)).unwrap().accuracy;
    let single = evaluate(&mut model, test, scaling, Scoring::SingleClip).unwrap().accuracy;
    let history = trainer.history.into_iter().map(|l| EpochLog { seconds: 0.0, ..l }).collect();
    let weights = model.params().into_iter().map(|(_, p)| p.value.iter().copied().collect()).collect();
    (history, weights, (batched, single))
}

#[test]
fn a_data_set_with_a_cache_holds_no_feature_matrices() {
    let root = temp_dir("structure");
    let clips = root.join("clips");
    write_clips(&clips);
    let cache = root.join("cache");
    let memory = pipeline::load_dataset(&clips, &data_config(None)).unwrap();
    assert!(all_examples(&memory).all(|e| e.features.in_memory()), "without a cache every matrix is in memory");
    // Computed (first load) or found (second), with a cache each example is only a file and a length.
    for pass in ["computed", "found"] {
        let cached = pipeline::load_dataset(&clips, &data_config(Some(&cache))).unwrap();
        assert_eq!(cached.counts.cache_hits == 0, pass == "computed");
        assert_eq!(all_examples(&cached).count(), all_examples(&memory).count());
        for (c, m) in all_examples(&cached).zip(all_examples(&memory)) {
            let Features::Cached { file, frames } = &c.features else { panic!("{pass}: {} holds its matrix", c.name) };
            assert!(file.starts_with(&cache), "{}", file.display());
            assert_eq!((&c.name, *frames), (&m.name, m.features.frames()));
            assert_eq!(c.features.load().unwrap(), m.features.load().unwrap(), "{pass}: {}", c.name);
        }
    }
}

#[test]
fn training_from_the_cache_gives_the_numbers_of_training_in_memory() {
    let root = temp_dir("same-numbers");
    let clips = root.join("clips");
    write_clips(&clips);
    let cache = root.join("cache");
    let plan = plan(&data_config(None));
    let memory = pipeline::load_dataset(&clips, &plan.data).unwrap();
    let streamed = pipeline::load_dataset(&clips, &DataConfig { cache_dir: Some(cache.clone()), ..plan.data.clone() }).unwrap();
    assert!(all_examples(&streamed).all(|e| !e.features.in_memory()));

    // The input map: fitted by one streaming pass over the cache, the same as over memory.
    let scaling = recipe().fit_scaling(&memory.train).unwrap();
    assert!(scaling.log_mel && scaling.mean.len() == 162);
    assert_eq!(recipe().fit_scaling(&streamed.train).unwrap(), scaling);

    // As ser trained before batches were read from the cache: every matrix in memory, scaled up
    // front, fed as it is.
    let scaled_up_front = |examples: &[Example]| -> Vec<Example> {
        examples.iter().map(|e| Example { features: scaling.input(e).unwrap().into(), ..e.clone() }).collect()
    };
    let before = DataSet {
        train: scaled_up_front(&memory.train),
        val: scaled_up_front(&memory.val),
        test: memory.test.as_deref().map(scaled_up_front),
        ..memory.clone()
    };
    let (history, weights, test) = train(&before, &plan, &InputScaling::identity(), &scaling);
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|l| l.loss.is_finite()));

    // Raw matrices mapped batch by batch, in memory and from the cache: the same numbers.
    for (name, set) in [("in memory", &memory), ("from the cache", &streamed)] {
        let (h, w, t) = train(set, &plan, &scaling, &scaling);
        assert_eq!(h, history, "{name}: the epochs' losses and accuracies");
        assert!(w == weights, "{name}: the weights after {} epochs", history.len());
        assert_eq!(t, test, "{name}: the test figures");
    }

    // Through the runner: a report and checkpoint from the cache equal to those without one.
    let source = DataSource { corpora: vec![ser::data::Corpus::ravdess(&clips)], synthetic: true, chosen_by: "test".into() };
    let run = RunSettings { batch_size: 16, seed: 5, ..RunSettings::default() };
    let rows = [("improved".to_string(), Recipe { epochs: 2, ..recipe() })];
    let runs: Vec<_> = [None, Some(cache.as_path())]
        .into_iter()
        .enumerate()
        .map(|(k, cache)| {
            let out = root.join(format!("run-{k}"));
            let report = run_recipes(source.clone(), &data_config(cache), &rows, &run, 1, &out, |_, _, _, _| {}).unwrap();
            let mut model = report.rows[0].runs[0].clone();
            model.history.iter_mut().for_each(|l| l.seconds = 0.0);
            let figures = serde_json::to_value((&model.history, &model.train, &model.val, &model.test)).unwrap();
            (figures, std::fs::read(out.join("model.safetensors")).unwrap())
        })
        .collect();
    assert_eq!(runs[0].0, runs[1].0, "the same history and figures");
    assert!(runs[0].1 == runs[1].1, "the same checkpoint, byte for byte");
}

#[test]
fn a_cache_entry_lost_during_training_is_an_error_naming_it() {
    let root = temp_dir("lost-entry");
    let clips = root.join("clips");
    write_clips(&clips);
    let plan = plan(&data_config(Some(&root.join("cache"))));
    let set = pipeline::load_dataset(&clips, &plan.data).unwrap();
    let Features::Cached { file, frames } = set.train[3].features.clone() else { panic!("a cached example") };
    let train = |set: &DataSet| {
        let mut model = SerModel::<f32>::new(plan.model, 1);
        Trainer::new(plan.train.clone()).train_epoch(&mut model, &set.train, 1)
    };
    assert!(train(&set).is_ok());

    // Replaced by a matrix of another length, then deleted: each time one error naming the file.
    ser::features::write_npy_f32(&file, Array2::<f32>::ones((162, frames + 1)).view()).unwrap();
    let error = train(&set).unwrap_err().to_string();
    assert!(error.starts_with(&file.display().to_string()) && error.contains(&format!("{} frames, {frames}", frames + 1)), "{error}");
    std::fs::remove_file(&file).unwrap();
    let error = train(&set).unwrap_err().to_string();
    assert!(error.starts_with(&file.display().to_string()) && error.contains("cannot be read back"), "{error}");
    let scoring = evaluate(&mut SerModel::<f32>::new(plan.model, 1), &set.train, &InputScaling::identity(), Scoring::SingleClip);
    assert_eq!(scoring.unwrap_err().file, file);
    assert_eq!(recipe().fit_scaling(&set.train).unwrap_err().file, file);
}
