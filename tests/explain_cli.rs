//! `ser explain` run as a binary: its JSON parses with the promised keys and shapes, its SVG is
//! well-formed XML, an ensemble works, and bad input ends in one error naming the file (or the
//! class) with a non-zero exit.

use ser::audio::{write_wav, Audio};
use ser::checkpoint;
use ser::nn::model::{ModelConfig, Padding, SerModel};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ser-explain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ser(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ser")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A synthetic angry clip at 16 kHz, and two checkpoints (study padding with dropout, masked
/// without) to use alone or as an ensemble.
fn clip_and_checkpoints(dir: &Path) -> (String, String, String) {
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
fn json_has_the_promised_keys_and_shapes_and_the_svg_is_well_formed() {
    let dir = temp_dir("json");
    let (wav, study, masked) = clip_and_checkpoints(&dir);
    let svg = dir.join("why.svg");
    let (ok, stdout, stderr) =
        ser(&["explain", "--weights", &study, "--weights", &masked, &wav, "--class", "angry", "--json", "--svg", svg.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(v["class"], "angry");
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 2, "both members");
    assert_eq!(v["method"], "integrated-gradients");
    assert_eq!(v["steps"], 32);
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
}

#[test]
fn text_output_names_the_predicted_class_when_none_is_asked() {
    let dir = temp_dir("text");
    let (wav, study, _) = clip_and_checkpoints(&dir);
    let (ok, stdout, stderr) = ser(&["explain", "--weights", &study, &wav, "--method", "gradient-x-input"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("explaining ") && stdout.contains("gradient-x-input") && stdout.contains("occlusion"), "{stdout}");
}

#[test]
fn bad_input_is_one_error_naming_the_file_or_class() {
    let dir = temp_dir("bad");
    let (wav, study, _) = clip_and_checkpoints(&dir);
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
}
