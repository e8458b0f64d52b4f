//! The `ser` binary's eval, predict, explain and features commands on clips generated here.

use ser::audio::{write_wav, Audio};
use ser::checkpoint;
use ser::data::pipeline::{self, DataConfig, Layout};
use ser::data::InputScaling;
use ser::nn::model::{ModelConfig, Padding, SerModel};
use ser::train::{evaluate, Scoring};
use std::collections::HashMap;
use std::path::Path;

mod common;
use common::{ser, temp_dir};

/// Synthetic clips under arbitrary names at 44.1 kHz (not RAVDESS-named, not 16 kHz).
fn foreign_corpus(dir: &Path) -> Vec<(String, &'static str)> {
    let emotions = ["angry", "sad", "happy", "neutral"];
    let mut rows = Vec::new();
    for (i, emotion) in emotions.iter().enumerate() {
        for k in 0..2u8 {
            let label = ser::data::EMOTIONS.iter().position(|e| e == emotion).unwrap() as u8;
            let clip = ser::synth::synthesize_clip(4, 1 + k, label, 1, 1, 1);
            let up = ser::audio::resample(&clip.samples, 16_000, 44_100).unwrap();
            let name = format!("speaker{k}_take{i}.wav");
            write_wav(&dir.join(&name), &Audio { samples: up, sample_rate: 44_100 }).unwrap();
            rows.push((name, *emotion));
        }
    }
    rows
}

fn save_model(path: &Path, padding: Padding) {
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding }, 11);
    checkpoint::save(&mut model, path, HashMap::new()).unwrap();
}

#[test]
fn eval_with_a_labels_csv_scores_foreign_clips_and_reports_absent_classes() {
    let dir = temp_dir("eval");
    let clips = dir.join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let rows = foreign_corpus(&clips);
    let csv = dir.join("labels.csv");
    let text: String = std::iter::once("file,emotion\n".to_string()).chain(rows.iter().map(|(f, e)| format!("{f},{e}\n"))).collect();
    std::fs::write(&csv, text).unwrap();
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);

    let (ok, stdout, stderr) = ser(&[
        "eval",
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        clips.to_str().unwrap(),
        "--labels",
        csv.to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("padding masked"), "{stdout}");
    assert!(stdout.contains("8 clips"), "{stdout}");
    assert!(stdout.contains("classes absent from the labels"), "{stdout}");
    for absent in ["calm", "fearful", "disgust", "surprised"] {
        assert!(stdout.lines().any(|l| l.starts_with("classes absent") && l.contains(absent)), "{absent}: {stdout}");
    }
    // The figure printed is the one the library computes for the same clips and model.
    let cfg = DataConfig { layout: Layout::Pool, augment: false, ..DataConfig::default() };
    let corpus = ser::data::Corpus { dir: clips.clone(), labels: Some(csv.clone()) };
    let split = pipeline::split_corpora(&[corpus], &cfg, false).unwrap();
    let (examples, _) = pipeline::featurise_clips(&clips, &split.all(), &cfg, split.counts.clone()).unwrap();
    let mut model = checkpoint::Checkpoint::open(&weights).unwrap().load::<f32>().unwrap();
    let acc = evaluate(&mut model, &examples, &InputScaling::identity(), Scoring::Batched(256)).unwrap().accuracy;
    assert!(stdout.contains(&format!("accuracy {:.2} %", 100.0 * acc)), "{acc}: {stdout}");

    // A label outside the model's classes is an error naming the CSV line.
    std::fs::write(&csv, "file,emotion\nspeaker0_take0.wav,bored\n").unwrap();
    let (ok, _, stderr) = ser(&[
        "eval",
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        clips.to_str().unwrap(),
        "--labels",
        csv.to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(!ok);
    assert!(stderr.contains("labels.csv, line 2: class 'bored' is not one of the classes (neutral, calm"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn predict_prints_an_emotion_and_probabilities_per_file() {
    let dir = temp_dir("predict");
    let rows = foreign_corpus(&dir);
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Study);
    let files: Vec<String> = rows.iter().take(3).map(|(f, _)| dir.join(f).display().to_string()).collect();
    let mut args = vec!["predict", "--json", "--weights", weights.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let (ok, stdout, stderr) = ser(&args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("padding study"));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for item in list {
        let probs = item["probabilities"].as_object().unwrap();
        assert_eq!(probs.len(), 8);
        let total: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-4);
        let best = probs.iter().max_by(|a, b| a.1.as_f64().partial_cmp(&b.1.as_f64()).unwrap()).unwrap().0;
        assert_eq!(item["emotion"].as_str().unwrap(), best);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn features_command_writes_the_162_row_matrix() {
    let dir = temp_dir("features");
    let clip = ser::synth::synthesize_clip(1, 2, 4, 2, 1, 1);
    let wav = dir.join("a.wav");
    write_wav(&wav, &Audio { samples: clip.samples.clone(), sample_rate: 16_000 }).unwrap();
    let npy = dir.join("a.npy");
    let (ok, _, stderr) = ser(&["features", wav.to_str().unwrap(), "--out", npy.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let m = ser::features::read_npy_f32(&npy).unwrap();
    let audio = ser::audio::read_wav(&wav).unwrap();
    assert_eq!(m, ser::features::extract(&audio.samples, &ser::features::FeatureConfig::default()));
    assert_eq!(m.nrows(), 162);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `ser explain`: a synthetic angry clip at 16 kHz, and two checkpoints (study padding with
/// dropout, masked without) to use alone or as an ensemble.
fn explain_clip_and_checkpoints(dir: &Path) -> (String, String, String) {
    let clip = ser::synth::synthesize_clip(3, 5, 4, 1, 1, 1);
    let wav = dir.join("clip.wav");
    write_wav(&wav, &Audio { samples: clip.samples, sample_rate: 16_000 }).unwrap();
    let save = |name: &str, dropout, padding, seed| {
        let path = dir.join(name);
        checkpoint::save(&mut SerModel::<f32>::new(ModelConfig { dropout, padding }, seed), &path, HashMap::new()).unwrap();
        path.display().to_string()
    };
    (wav.display().to_string(), save("study.safetensors", true, Padding::Study, 1), save("masked.safetensors", false, Padding::Masked, 2))
}

#[test]
fn explain_json_has_the_promised_keys_and_shapes_and_the_svg_is_well_formed() {
    let dir = temp_dir("explain-json");
    let (wav, study, masked) = explain_clip_and_checkpoints(&dir);
    let svg = dir.join("why.svg");
    let (ok, stdout, stderr) =
        ser(&["explain", "--weights", &study, "--weights", &masked, &wav, "--class", "angry", "--json", "--svg", svg.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(v["class"], "angry");
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 2, "both members");
    assert_eq!(v["method"], "integrated-gradients");
    assert_eq!(v["steps"], ser::explain::Settings::default().steps);
    assert_eq!(v["quadrature"], "graded-midpoint");
    let frames = v["frames"].as_u64().unwrap() as usize;
    assert!(frames >= 33);
    let attribution = v["attribution"].as_array().unwrap();
    assert_eq!(attribution.len(), 162);
    assert!(attribution.iter().all(|r| r.as_array().unwrap().len() == frames));
    assert_eq!(v["attribution_per_frame"].as_array().unwrap().len(), frames);
    assert_eq!(v["occlusion"]["drop_per_frame"].as_array().unwrap().len(), frames);
    assert_eq!(v["occlusion"]["windows"].as_array().unwrap().len(), frames.div_ceil(8));
    let sum = |key: &str| v[key].as_object().unwrap().values().map(|x| x.as_f64().unwrap()).sum::<f64>();
    assert!((sum("probabilities") - 1.0).abs() < 1e-4, "probabilities sum to {}", sum("probabilities"));
    assert!((sum("group_shares") - 1.0).abs() < 1e-4, "group shares sum to {}", sum("group_shares"));
    let total: f64 = attribution.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).sum();
    assert!((total - v["attribution_sum"].as_f64().unwrap()).abs() < 1e-3 * total.abs().max(1.0));
    assert!(v["completeness_error"].as_f64().unwrap().is_finite());

    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let rects = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
    assert!(rects > 500, "heat-map cells and bars: {rects} rects");
    let texts: String = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    assert!(texts.contains("class probabilities") && texts.contains("mfcc") && texts.contains("angry"), "labels missing: {texts}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_text_output_names_the_predicted_class_when_none_is_asked() {
    let dir = temp_dir("explain-text");
    let (wav, study, _) = explain_clip_and_checkpoints(&dir);
    let (ok, stdout, stderr) = ser(&["explain", "--weights", &study, &wav, "--method", "gradient-x-input"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("explaining ") && stdout.contains("gradient-x-input") && stdout.contains("occlusion"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_bad_input_is_one_error_naming_the_file_or_class() {
    let dir = temp_dir("explain-bad");
    let (wav, study, _) = explain_clip_and_checkpoints(&dir);
    let missing = dir.join("missing.wav").display().to_string();
    let not_wav = dir.join("notes.wav");
    std::fs::write(&not_wav, "not audio").unwrap();
    let not_wav = not_wav.display().to_string();
    let bad_ckpt = dir.join("bad.safetensors");
    std::fs::write(&bad_ckpt, [1u8, 2, 3]).unwrap();
    let bad_ckpt = bad_ckpt.display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["explain", "--weights", &study, &missing], &missing),
        (&["explain", "--weights", &study, &not_wav], &not_wav),
        (&["explain", "--weights", &bad_ckpt, &wav], &bad_ckpt),
        (&["explain", "--weights", &study, &wav, "--class", "joyful"], "--class joyful"),
        (&["explain", "--weights", &study, &wav, "--steps", "0"], "--steps"),
    ];
    for (args, named) in cases {
        let (ok, stdout, stderr) = ser(args);
        assert!(!ok, "{args:?} should fail: {stdout}");
        assert!(stderr.contains(named), "{args:?}: the error should name {named}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
