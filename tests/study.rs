//! A short version of `ablation` end to end, on clips from the built-in synthesiser: both data
//! layouts, the report files and their keys, reproducibility, and checkpoint round trips.

use ser::audio::{write_wav, Audio};
use ser::checkpoint::{self, Checkpoint};
use ser::data::pipeline::{DataConfig, Layout};
use ser::data::DataSource;
use ser::experiments::ablation::{run_study, StudyConfig, StudyReport};
use ser::nn::model::Padding;
use ser::recipe::{Recipe, RunSettings};
use std::path::{Path, PathBuf};

mod common;
use common::temp_dir;

/// Writes `per_emotion` synthetic clips of each emotion (actors 1..) into `dir`.
fn write_clips(dir: &Path, per_emotion: u8, first_actor: u8) {
    std::fs::create_dir_all(dir).unwrap();
    for emotion in 0..8u8 {
        for i in 0..per_emotion {
            let actor = first_actor + i;
            let clip = ser::synth::synthesize_clip(1, actor, emotion, 1, 1 + i % 2, 1);
            let audio = Audio { samples: clip.samples, sample_rate: 16_000 };
            write_wav(&dir.join(&clip.file_name), &audio).unwrap();
        }
    }
}

fn config(seed: u64, cache: Option<PathBuf>) -> StudyConfig {
    StudyConfig {
        data: DataConfig { seed, noise_seed: seed, cache_dir: cache, ..DataConfig::default() },
        run: RunSettings { batch_size: 16, seed, ..RunSettings::default() },
        threads: 1,
        seeds: 1,
        recipe: Recipe { epochs: 2, padding: Padding::Study, ..Recipe::study() },
    }
}

fn source(dir: &Path) -> DataSource {
    DataSource { corpora: vec![ser::data::Corpus::ravdess(dir)], synthetic: true, chosen_by: "test".into() }
}

fn run(data: &Path, out: &Path, seed: u64, cache: Option<PathBuf>) -> StudyReport {
    let report = run_study(source(data), config(seed, cache), out, |_, _, _| {}).unwrap();
    ser::report::ablation::write_report(out, &report).unwrap();
    report
}

#[test]
fn pool_ablation_writes_a_complete_reproducible_report() {
    let root = temp_dir("pool");
    let data = root.join("pool");
    write_clips(&data, 5, 1);
    let cache = root.join("cache");
    let out1 = root.join("run1");
    let r1 = run(&data, &out1, 3, Some(cache.clone()));
    assert_eq!(r1.layout, Layout::Pool);
    assert_eq!((r1.counts.train_clips, r1.counts.val_clips, r1.counts.test_clips), (24, 6, 10));
    assert_eq!(r1.counts.train_examples, 96, "originals + 3 augmented copies");
    assert_eq!(r1.counts.cache_hits, 0);

    for f in [
        "report.md",
        "report.json",
        "curves.svg",
        "confusion_dropout.svg",
        "confusion_no_dropout.svg",
        "dropout.safetensors",
        "no_dropout.safetensors",
    ] {
        assert!(out1.join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out1.join("report.json")).unwrap()).unwrap();
    for model in ["dropout", "no_dropout"] {
        for split in ["train", "val", "test"] {
            let acc = json["models"][model][split]["accuracy"].as_f64().unwrap_or_else(|| panic!("models.{model}.{split}.accuracy"));
            assert!((0.0..=1.0).contains(&acc));
            let single = json["models"][model][split]["accuracy_single_clip"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&single));
        }
        let confusion = json["models"][model]["test"]["confusion"].as_array().unwrap();
        assert_eq!(confusion.len(), 8);
        let total: u64 = confusion.iter().flat_map(|r| r.as_array().unwrap()).map(|c| c.as_u64().unwrap()).sum();
        assert_eq!(total, 10);
        assert_eq!(json["models"][model]["history"].as_array().unwrap().len(), 2);
    }
    let md = std::fs::read_to_string(out1.join("report.md")).unwrap();
    assert!(md.contains("SYNTHETIC DATA"));
    assert!(md.contains("notebook metric"));

    // Same seed, second run from the cache: identical numbers.
    let out2 = root.join("run2");
    let r2 = run(&data, &out2, 3, Some(cache));
    assert_eq!(r2.counts.cache_misses, 0, "second run must read every feature from the cache");
    for (name, m1) in &r1.models {
        let m2 = &r2.models[name];
        assert_eq!(m1.test.as_ref().unwrap().metrics, m2.test.as_ref().unwrap().metrics, "{name}");
        let l1: Vec<f64> = m1.history.iter().map(|l| l.loss).collect();
        let l2: Vec<f64> = m2.history.iter().map(|l| l.loss).collect();
        assert_eq!(l1, l2, "{name} losses");
    }
    assert_eq!(std::fs::read(out1.join("dropout.safetensors")).unwrap(), std::fs::read(out2.join("dropout.safetensors")).unwrap());

    // A checkpoint round-trips exactly: load, save again, same bytes.
    for name in ["dropout", "no_dropout"] {
        let path = out1.join(format!("{name}.safetensors"));
        let ckpt = Checkpoint::open(&path).unwrap();
        assert_eq!(ckpt.config().unwrap().dropout, name == "dropout");
        let mut model = ckpt.load::<f32>().unwrap();
        let again = root.join("again.safetensors");
        checkpoint::save(
            &mut model,
            &again,
            ckpt.metadata
                .iter()
                .filter(|(k, _)| !k.starts_with("ser.dropout") && !k.starts_with("ser.padding"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap(), "{name}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn split_layout_is_used_as_it_is_and_missing_test_is_reported() {
    let root = temp_dir("split");
    let data = root.join("data");
    write_clips(&data.join("training"), 2, 1);
    write_clips(&data.join("validation"), 1, 10);
    let out = root.join("out");
    let r = run(&data, &out, 1, None);
    assert_eq!(r.layout, Layout::Split);
    assert_eq!((r.counts.train_clips, r.counts.val_clips, r.counts.test_clips), (16, 8, 0));
    assert!(r.models.values().all(|m| m.test.is_none()));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("No test split"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn resumed_run_gives_the_numbers_of_an_uninterrupted_one_and_seeds_are_summarised() {
    let root = temp_dir("resume");
    let data = root.join("pool");
    write_clips(&data, 4, 1);
    let cache = Some(root.join("cache"));
    let mut cfg = config(2, cache.clone());
    cfg.recipe.epochs = 3;
    cfg.seeds = 2;
    let full = run_study(source(&data), cfg.clone(), &root.join("full"), |_, _, _| {}).unwrap();

    // "Interrupt" after epoch 1 of every model: train one epoch, then resume to three.
    let part = root.join("part");
    let mut short = cfg.clone();
    short.recipe.epochs = 1;
    run_study(source(&data), short, &part, |_, _, _| {}).unwrap();
    let mut resumed_epochs = Vec::new();
    let resumed = run_study(source(&data), cfg, &part, |name, seed, log| resumed_epochs.push((name.to_string(), seed, log.epoch))).unwrap();
    assert!(resumed_epochs.iter().all(|(_, _, e)| *e > 1), "resumed runs must start after epoch 1: {resumed_epochs:?}");
    assert_eq!(resumed_epochs.len(), 2 * 2 * 2, "two models x two seeds x epochs 2..=3");
    for (a, b) in full.seed_runs.iter().zip(&resumed.seed_runs) {
        assert_eq!(a.seed, b.seed);
        for (name, m) in &a.models {
            let r = &b.models[name];
            assert_eq!(
                m.history.iter().map(|l| l.loss).collect::<Vec<_>>(),
                r.history.iter().map(|l| l.loss).collect::<Vec<_>>(),
                "{name} seed {}",
                a.seed
            );
            assert_eq!(m.test.as_ref().unwrap().metrics, r.test.as_ref().unwrap().metrics);
        }
    }

    // Two seeds: summaries and paired tests under stable keys, and the seeds really differ.
    assert_eq!(full.seed_runs.len(), 2);
    let l0: Vec<f64> = full.seed_runs[0].models["dropout"].history.iter().map(|l| l.loss).collect();
    let l1: Vec<f64> = full.seed_runs[1].models["dropout"].history.iter().map(|l| l.loss).collect();
    assert_ne!(l0, l1);
    let json = serde_json::to_value(&full).unwrap();
    for model in ["dropout", "no_dropout"] {
        let s = &json["seeds"][model]["test"]["accuracy"];
        assert_eq!(s["n"].as_u64(), Some(2));
        let (mean, lo, hi) = (s["mean"].as_f64().unwrap(), s["ci95"][0].as_f64().unwrap(), s["ci95"][1].as_f64().unwrap());
        assert!(lo <= mean && mean <= hi);
        assert!(json["seeds"][model]["test"]["accuracy_single_clip"]["mean"].is_f64());
    }
    assert_eq!(json["seeds"]["comparison"]["test"]["accuracy"]["n"].as_u64(), Some(2));
    assert!(json["seeds"]["conclusion"].as_str().unwrap().contains("2 seeds"));
    std::fs::remove_dir_all(&root).unwrap();
}
