//! The improved recipe end to end on clips from the built-in synthesiser: its checkpoint carries
//! the input map, `ser predict` applies it without being told, early stopping keeps the best
//! validation epoch, and the ablation accepts a recipe.

use ser::audio::{write_wav, Audio};
use ser::checkpoint::{Checkpoint, META_ENSEMBLE, META_INPUT_SCALING, META_RECIPE};
use ser::data::pipeline::{self, DataConfig, Layout};
use ser::data::DataSource;
use ser::experiments::ablation::{run_study, StudyConfig};
use ser::experiments::recipes::run_recipes;
use ser::features::{extract, FeatureConfig};
use ser::nn::loss::softmax;
use ser::nn::model::{pad_batch, Padding};
use ser::recipe::{Recipe, RunSettings};
use ser::train::{evaluate, evaluate_ensemble, Scoring};
use std::path::Path;
use std::process::Command;

mod common;
use common::temp_dir;

/// Four synthetic clips of each emotion from actors 1-4.
fn write_clips(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for emotion in 0..8u8 {
        for actor in 1..=4u8 {
            let clip = ser::synth::synthesize_clip(1, actor, emotion, 1, 1 + actor % 2, 1);
            write_wav(&dir.join(&clip.file_name), &Audio { samples: clip.samples, sample_rate: 16_000 }).unwrap();
        }
    }
}

fn data_config() -> DataConfig {
    DataConfig { layout: Layout::Pool, seed: 1, noise_seed: 1, ..DataConfig::default() }
}

fn source(dir: &Path) -> DataSource {
    DataSource { corpora: vec![ser::data::Corpus::ravdess(dir)], synthetic: true, chosen_by: "test".into() }
}

#[test]
fn improved_recipe_checkpoint_carries_its_input_map_and_keeps_the_best_epoch() {
    let root = temp_dir("train");
    let data = root.join("clips");
    write_clips(&data);
    let out = root.join("run");
    // One model (no ensemble): the early-stopping figures below are that model's.
    let recipe = Recipe { epochs: 6, patience: Some(2), ensemble: 1, ..Recipe::improved() };
    let run = RunSettings { batch_size: 16, seed: 4, ..RunSettings::default() };
    let report =
        run_recipes(source(&data), &data_config(), &[("improved".into(), recipe.clone())], &run, 1, &out, |_, _, _, _| {}).unwrap();
    let md = ser::report::recipes::write_report(&out, &report).unwrap();
    assert!(std::fs::read_to_string(md).unwrap().contains("| 0 | improved |"));
    let run = &report.rows[0].runs[0];

    // Early stopping: the kept weights are the best validation epoch's (masked padding, so batched
    // and single-clip scoring agree).
    let best = run.best_epoch.expect("early stopping records its best epoch");
    let best_val = run.history.iter().map(|l| l.val_accuracy).fold(f64::MIN, f64::max);
    assert_eq!(run.history[best - 1].val_accuracy, best_val);
    assert_eq!(run.val.as_ref().unwrap().metrics.accuracy, best_val);
    assert_eq!(run.val.as_ref().unwrap().accuracy_single_clip, best_val);

    // The checkpoint says what it needs.
    let weights = out.join("model.safetensors");
    let ckpt = Checkpoint::open(&weights).unwrap();
    let saved: Recipe = serde_json::from_str(&ckpt.metadata[META_RECIPE]).unwrap();
    assert_eq!(saved, recipe);
    let scaling = ckpt.input_scaling().unwrap();
    assert!(scaling.log_mel && scaling.mean.len() == 162 && scaling.std.len() == 162);

    // `ser predict` applies the map: its probabilities are those of the scaled features, not the raw ones.
    let clip = std::fs::read_dir(&data).unwrap().next().unwrap().unwrap().path();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["predict", "--json", "--weights", weights.to_str().unwrap(), clip.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("recipe improved"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let printed: Vec<f64> = ser::data::EMOTIONS.iter().map(|e| json[0]["probabilities"][e].as_f64().unwrap()).collect();
    let mut model = ckpt.load::<f32>().unwrap();
    let cfg = DataConfig { augment: false, ..data_config() };
    let raw = extract(&pipeline::prepare_audio(&clip, ser::data::Variant::Original, &cfg).unwrap(), &FeatureConfig::default());
    let probs = |x: ndarray::Array2<f32>, model: &mut ser::nn::model::SerModel<f32>| -> Vec<f64> {
        let (batch, lengths) = pad_batch(&[x.view()]);
        softmax(model.forward(batch.view(), &lengths, false).view()).row(0).iter().map(|&p| p as f64).collect()
    };
    let scaled = probs(scaling.apply(raw.clone()), &mut model);
    let unscaled = probs(raw.clone(), &mut model);
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff(&printed, &scaled) < 1e-6, "predict {printed:?} vs scaled {scaled:?}");
    assert!(diff(&printed, &unscaled) > 1e-3, "the map must matter: {printed:?} vs {unscaled:?}");

    // `ser eval --part test` scores the run's own test clips (same layout, split and seed) and
    // gives the figure the run reported.
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args([
            "eval",
            "--weights",
            weights.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--layout",
            "pool",
            "--seed",
            "1",
            "--part",
            "test",
            "--no-cache",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let test = run.test.as_ref().unwrap();
    let expected = format!("{} clips (0 skipped): accuracy {:.2} % batched", test.metrics.n, 100.0 * test.metrics.accuracy);
    assert!(out.status.success() && stdout.contains(&expected), "{expected}: {stdout} {}", String::from_utf8_lossy(&out.stderr));

    // Two checkpoints are an ensemble: the mean of their probabilities, each with its own map.
    let mut other = ser::nn::model::SerModel::<f32>::new(ckpt.config().unwrap(), 99);
    let second = root.join("second.safetensors");
    ser::checkpoint::save(&mut other, &second, ckpt.metadata.clone()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["predict", "--json", "--weights", weights.to_str().unwrap(), "--weights", second.to_str().unwrap(), clip.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let averaged: Vec<f64> = ser::data::EMOTIONS.iter().map(|e| json[0]["probabilities"][e].as_f64().unwrap()).collect();
    let raw = extract(&pipeline::prepare_audio(&clip, ser::data::Variant::Original, &cfg).unwrap(), &FeatureConfig::default());
    let other_probs = probs(scaling.apply(raw), &mut other);
    let mean: Vec<f64> = scaled.iter().zip(&other_probs).map(|(a, b)| (a + b) / 2.0).collect();
    assert!(diff(&averaged, &mean) < 1e-6, "ensemble {averaged:?} vs mean {mean:?}");
    assert!(diff(&scaled, &other_probs) > 1e-3, "the two models must differ for the test to mean anything");

    // A checkpoint whose map is damaged is refused with the file and the key named.
    let mut meta = ckpt.metadata.clone();
    meta.insert(META_INPUT_SCALING.into(), r#"{"log_mel":true,"mean":[0.5],"std":[2.0]}"#.into());
    let broken = root.join("broken.safetensors");
    ser::checkpoint::save(&mut model, &broken, meta).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["predict", "--weights", broken.to_str().unwrap(), clip.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("broken.safetensors") && stderr.contains(META_INPUT_SCALING) && stderr.contains("1 means"),
        "{stderr}"
    );
}

#[test]
fn ablation_with_the_improved_recipe_scales_inputs_for_both_models() {
    let root = temp_dir("ablation");
    let data = root.join("clips");
    write_clips(&data);
    let recipe = Recipe { epochs: 2, speed_perturb: vec![1.1], ..Recipe::improved() };
    assert_eq!(recipe.padding, Padding::Masked);
    let cfg = StudyConfig {
        data: data_config(),
        run: RunSettings { batch_size: 16, seed: 2, ..RunSettings::default() },
        threads: 1,
        seeds: 1,
        recipe,
    };
    let out = root.join("run");
    let report = run_study(source(&data), cfg, &out, |_, _, _| {}).unwrap();
    assert_eq!(report.counts.train_examples, 5 * report.counts.train_clips, "the study's 4 variants + the recipe's speed copy");
    for (name, m) in &report.models {
        let ckpt = Checkpoint::open(&m.checkpoint).unwrap();
        let saved: Recipe = serde_json::from_str(&ckpt.metadata[META_RECIPE]).unwrap();
        assert_eq!(saved.dropout, name == "dropout");
        assert!(ckpt.input_scaling().unwrap().log_mel, "{name}");
        assert_eq!(m.history.len(), 2);
        // The reported test figure is that of the saved ensemble (the recipe's two members, the
        // second named by the first) on the test clips through the input map.
        let members: Vec<String> = serde_json::from_str(&ckpt.metadata[META_ENSEMBLE]).unwrap();
        assert_eq!(members, [format!("{name}.member-1.safetensors")]);
        let mut models = vec![ckpt.load::<f32>().unwrap()];
        models.extend(members.iter().map(|f| Checkpoint::open(&m.checkpoint.with_file_name(f)).unwrap().load::<f32>().unwrap()));
        // The data as the run had it: with the recipe's speed copies, which the input map was fitted on.
        let set = ser::experiments::run::load_data(
            &[ser::data::Corpus::ravdess(&data)],
            &report.config.recipe.plan(&report.config.run, &report.config.data, 2).data,
        )
        .unwrap();
        let scaling = report.config.recipe.fit_scaling(&set.train).unwrap();
        assert_eq!(ckpt.input_scaling().unwrap(), scaling, "{name}");
        let acc = evaluate_ensemble(&mut models, set.test.as_ref().unwrap(), &scaling, Scoring::SingleClip).unwrap().accuracy;
        assert_eq!(acc, m.test.as_ref().unwrap().accuracy_single_clip, "{name}");
        // Each epoch's training accuracy (the curve) is the first member's on the original clips
        // only; the final training figure covers every example.
        let originals: Vec<_> = set.train.iter().filter(|e| e.is_original()).cloned().collect();
        assert_eq!(originals.len(), report.counts.train_clips);
        let curve = evaluate(&mut models[0], &originals, &scaling, Scoring::Batched(16)).unwrap().accuracy;
        assert_eq!(m.history.last().unwrap().train_accuracy, curve, "{name}");
        let train = evaluate_ensemble(&mut models, &set.train, &scaling, Scoring::Batched(16)).unwrap();
        assert_eq!(m.train.metrics.accuracy, train.accuracy, "{name}");
    }
}

#[test]
fn a_malformed_recipe_override_is_refused_before_anything_is_written() {
    let out_dir = temp_dir("override").join("run");
    for (flag, value, error) in [
        ("--spec-augment", "2,12", "error: --spec-augment takes four numbers"),
        ("--speed-perturb", "0.9,fast", "error: --speed-perturb: 'fast' is not a number"),
        ("--speed-perturb", "1", "error: --speed-perturb: a factor of 1 is the original clip"),
        ("--speed-perturb", "4", "error: --speed-perturb: speed factor 4 is outside 0.5 to 2"),
        ("--mixup", "nan", "error: --mixup takes Beta's alpha"),
        ("--vtlp", "0.7", "error: --vtlp takes the largest warp"),
        ("--ensemble", "0", "error: --ensemble takes the number of models per seed"),
        ("--consistency", "nan", "error: --consistency takes the weight of the consistency term"),
        ("--consistency", "inf", "error: --consistency takes the weight of the consistency term"),
        ("--consistency-target", "original", "error: --consistency-target sets what the consistency term pulls towards"),
        ("--lstm-hidden", "0", "error: --lstm-hidden takes the BiLSTM's units each way"),
        ("--babble-talkers", "8-2", "error: --babble-talkers: '8-2' runs from more talkers to fewer"),
        ("--lstm-hidden", "5000", "error: --lstm-hidden takes the BiLSTM's units each way"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ser"))
            .args(["train", "--recipe", "improved", flag, value, "--out", out_dir.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}: {stderr}");
        assert!(stderr.starts_with(error), "{flag} {value}: {stderr}");
        assert!(!out_dir.exists());
    }
}

#[test]
fn speed_copies_are_made_for_the_training_split_only_and_cached() {
    let root = temp_dir("speed-data");
    let data = root.join("clips");
    write_clips(&data);
    let cfg = DataConfig { speed_factors: vec![0.9, 1.1], cache_dir: Some(root.join("cache")), ..data_config() };
    let set = pipeline::load_dataset(&data, &cfg).unwrap();
    let tags = ["orig", "noise0.01", "pitch+3", "pitch-3", "speed0.9", "speed1.1"];
    assert_eq!(set.train.len(), tags.len() * set.counts.train_clips);
    for (clip, copies) in set.train.chunks(tags.len()).enumerate() {
        let file = copies[0].name.trim_end_matches("#orig");
        let names: Vec<String> = tags.iter().map(|t| format!("{file}#{t}")).collect();
        assert_eq!(copies.iter().map(|e| e.name.clone()).collect::<Vec<_>>(), names, "clip {clip}");
        // Frames follow the length: a clip played f times as fast has 1/f times the hops (give or
        // take the rounding to whole hops).
        let hops = |e: &ser::data::Example| (e.features.frames() - 1) as f64;
        for (copy, factor) in copies[4..].iter().zip([0.9, 1.1]) {
            assert!((hops(copy) - hops(&copies[0]) / factor).abs() <= 1.5, "{}: {} hops vs {}", copy.name, hops(copy), hops(&copies[0]));
        }
    }
    for e in set.val.iter().chain(set.test.as_ref().unwrap()) {
        assert!(e.name.ends_with("#orig"), "{} outside the training split", e.name);
    }

    // Cached like the other variants: the second load reads every copy back, and a speed copy is
    // the features of the perturbed audio.
    let again = pipeline::load_dataset(&data, &cfg).unwrap();
    assert_eq!(
        (again.counts.cache_misses, again.counts.cache_hits),
        (0, set.train.len() + set.val.len() + set.test.as_ref().unwrap().len())
    );
    let (copy, file) = (&again.train[5], data.join(set.train[0].name.trim_end_matches("#orig")));
    let direct = extract(&pipeline::prepare_audio(&file, ser::data::Variant::Speed(1.1), &cfg).unwrap(), &FeatureConfig::default());
    assert_eq!(copy.features.load().unwrap(), direct);

    // No augmentation, no speed copies either.
    let plain = pipeline::load_dataset(&data, &DataConfig { augment: false, ..cfg }).unwrap();
    assert_eq!(plain.train.len(), plain.counts.train_clips);
}

#[test]
fn train_takes_speed_factors_from_the_command_line() {
    let root = temp_dir("speed-cli");
    let data = root.join("clips");
    write_clips(&data);
    for (value, factors, copies) in [("0.9,1.1", vec![0.9, 1.1], 6), ("off", vec![], 4)] {
        let out_dir = root.join(format!("run-{value}"));
        let out = Command::new(env!("CARGO_BIN_EXE_ser"))
            .args(["train", "--recipe", "improved", "--speed-perturb", value, "--epochs", "1", "--batch-size", "16", "--no-cache"])
            .args(["--data", data.to_str().unwrap(), "--layout", "pool", "--out", out_dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("recipes.json")).unwrap()).unwrap();
        assert_eq!(report["rows"][0]["recipe"]["speed_perturb"], serde_json::json!(factors), "{value}");
        let counts = &report["counts"];
        assert_eq!(counts["train_examples"].as_u64().unwrap(), copies * counts["train_clips"].as_u64().unwrap(), "{value}");
    }
}

#[test]
fn an_ensemble_recipe_trains_its_members_and_eval_and_predict_load_them_from_the_first() {
    let root = temp_dir("ensemble");
    let data = root.join("clips");
    write_clips(&data);
    let run = root.join("run");
    let ser = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_ser")).args(args).output().unwrap();
    let out = ser(&[
        "train",
        "--recipe",
        "improved",
        "--ensemble",
        "2",
        "--mixup",
        "0.4",
        "--vtlp",
        "0.1",
        "--lstm-hidden",
        "12",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--seed",
        "3",
    ]
    .into_iter()
    .chain(["--no-cache", "--data", data.to_str().unwrap(), "--layout", "pool", "--out", run.to_str().unwrap()])
    .collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("recipes.json")).unwrap()).unwrap();
    let recipe = &report["rows"][0]["recipe"];
    assert_eq!((recipe["ensemble"].as_u64(), recipe["mixup_alpha"].as_f64(), recipe["vtlp"].as_f64()), (Some(2), Some(0.4), Some(0.1)));
    // The members' BiLSTMs are 12 wide, not the authors' 80: eval and predict below load that width.
    assert_eq!(recipe["lstm_hidden"].as_u64(), Some(12));

    // The first checkpoint names the second; each is a whole model with its own seed.
    let first = Checkpoint::open(&run.join("model.safetensors")).unwrap();
    assert_eq!(first.metadata[META_ENSEMBLE], r#"["model.member-1.safetensors"]"#);
    let second = Checkpoint::open(&run.join("model.member-1.safetensors")).unwrap();
    assert_eq!((first.lstm_hidden().unwrap(), second.lstm_hidden().unwrap()), (12, 12));
    assert!(!second.metadata.contains_key(META_ENSEMBLE));
    assert_eq!(second.metadata["ser.seed"], ser::experiments::run::member_seed(3, 1).to_string());
    assert_ne!(first.metadata["ser.seed"], second.metadata["ser.seed"]);

    // `ser eval` on the first file scores the ensemble and gives the run's test figure.
    let weights = run.join("model.safetensors");
    let out = ser(&[
        "eval",
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--layout",
        "pool",
        "--seed",
        "3",
        "--part",
        "test",
        "--no-cache",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let test = &report["rows"][0]["runs"][0]["test"];
    let expected = format!("accuracy {:.2} % batched", 100.0 * test["accuracy"].as_f64().unwrap());
    assert!(out.status.success() && stdout.contains("ensemble of 2 checkpoints") && stdout.contains(&expected), "{expected}: {stdout}");

    // `ser predict` averages the two members' probabilities, each on its own scaled features.
    let clip = std::fs::read_dir(&data).unwrap().next().unwrap().unwrap().path();
    let out = ser(&["predict", "--json", "--weights", weights.to_str().unwrap(), clip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let printed: Vec<f64> = ser::data::EMOTIONS.iter().map(|e| json[0]["probabilities"][e].as_f64().unwrap()).collect();
    let cfg = DataConfig { augment: false, ..data_config() };
    let raw = extract(&pipeline::prepare_audio(&clip, ser::data::Variant::Original, &cfg).unwrap(), &FeatureConfig::default());
    let member_probs: Vec<Vec<f64>> = [&first, &second]
        .iter()
        .map(|ckpt| {
            let mut model = ckpt.load::<f32>().unwrap();
            let (batch, lengths) = pad_batch(&[ckpt.input_scaling().unwrap().apply(raw.clone()).view()]);
            softmax(model.forward(batch.view(), &lengths, false).view()).row(0).iter().map(|&p| p as f64).collect()
        })
        .collect();
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    let mean: Vec<f64> = member_probs[0].iter().zip(&member_probs[1]).map(|(a, b)| (a + b) / 2.0).collect();
    assert!(diff(&printed, &mean) < 1e-6, "predict {printed:?} vs mean {mean:?}");
    assert!(diff(&member_probs[0], &member_probs[1]) > 1e-3, "the members must differ for the test to mean anything");

    // A missing member is an error naming its file.
    std::fs::remove_file(run.join("model.member-1.safetensors")).unwrap();
    let out = ser(&["predict", "--weights", weights.to_str().unwrap(), clip.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("model.member-1.safetensors"), "{stderr}");
}
