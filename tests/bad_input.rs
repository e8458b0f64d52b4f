//! Bad input given to the built `ser` binary: each case must exit non-zero with one clear line on
//! stderr naming the file and the problem, never a panic, and leave no half-written output.
//! Cases that are not errors (a clip shorter than the model's receptive field, one bad clip among
//! good ones, a corrupt feature-cache entry) must succeed and say so where they should.

use ser::audio::{write_wav, Audio};
use ser::nn::model::{ModelConfig, Padding, SerModel};
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::temp_dir;

fn ser(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ser")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts the failure contract (progress lines such as ablation's `data: ...` may precede the
/// error) and returns the error line.
fn assert_clean_failure(out: &Output, names: &Path, problem: &str) -> String {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    assert!(err.trim_end().ends_with(errors[0]), "the error line should be the last: {err}");
    assert!(errors[0].contains(path_str(names)), "the error should name {}: {err}", names.display());
    assert!(errors[0].contains(problem), "the error should say '{problem}': {err}");
    errors[0].to_string()
}

/// A WAV file from raw fields: `fmt ` with `format_tag`, then a `data` chunk holding `data`.
fn raw_wav(format_tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend(format_tag.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(rate.to_le_bytes());
    fmt.extend(rate.wrapping_mul(block_align as u32).to_le_bytes());
    fmt.extend(block_align.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if format_tag != 1 {
        fmt.extend(0u16.to_le_bytes()); // cbSize: non-PCM formats carry it
    }
    let mut wav = b"RIFF".to_vec();
    wav.extend(((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend((fmt.len() as u32).to_le_bytes());
    wav.extend(fmt);
    wav.extend(b"data");
    wav.extend((data.len() as u32).to_le_bytes());
    wav.extend(data);
    wav
}

fn pcm16_wav(rate: u32, samples: &[i16]) -> Vec<u8> {
    raw_wav(1, 1, rate, 16, &samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())
}

fn float32_wav(samples: &[f32]) -> Vec<u8> {
    raw_wav(3, 1, 16_000, 32, &samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())
}

/// `n` samples of a 220 Hz tone at 16 kHz.
fn tone(n: usize) -> Vec<i16> {
    (0..n).map(|i| ((i as f32 * 220.0 * std::f32::consts::TAU / 16_000.0).sin() * 8000.0) as i16).collect()
}

/// A freshly initialised model's checkpoint (predictions are meaningless, the plumbing is not).
fn write_checkpoint(path: &Path) {
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Study }, 0);
    ser::checkpoint::save(&mut model, path, Default::default()).unwrap();
}

/// The files that fail both `ser features` and `ser predict`, with what the message must say.
fn bad_wavs(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut nan = vec![0.1f32; 800];
    nan[3] = f32::NAN;
    let mut inf = vec![0.1f32; 800];
    inf[5] = f32::INFINITY;
    let valid = pcm16_wav(16_000, &tone(8000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text.wav", b"just some text, not audio\n".to_vec(), "not a WAV file"),
        ("truncated.wav", valid[..valid.len() / 2].to_vec(), "truncated"),
        ("header-only.wav", valid[..30].to_vec(), "truncated WAV header"),
        ("empty.wav", Vec::new(), "not a WAV file"),
        ("no-samples.wav", pcm16_wav(16_000, &[]), "contains no samples"),
        ("float64.wav", raw_wav(3, 1, 16_000, 64, &[0u8; 64]), "64-bit float is not a supported encoding"),
        ("alaw.wav", raw_wav(6, 1, 8000, 8, &[0xd5; 800]), "8-bit A-law is not a supported encoding"),
        ("nan.wav", float32_wav(&nan), "sample 3 is NaN"),
        ("inf.wav", float32_wav(&inf), "sample 5 is inf"),
        ("loud.wav", float32_wav(&[1e30; 800]), "sample 0 is 1e30, beyond the ±65536 a float WAV may hold"),
        ("rate.wav", pcm16_wav(1_000_000_000, &tone(800)), "sample rate 1000000000 Hz is out of range"),
        ("rate0.wav", pcm16_wav(0, &tone(800)), "sample rate 0 Hz is out of range"),
    ];
    cases
        .into_iter()
        .map(|(name, bytes, problem)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            (path, problem)
        })
        .collect()
}

#[test]
fn features_rejects_bad_files_and_writes_nothing() {
    let dir = temp_dir("features");
    let mut cases = bad_wavs(&dir);
    cases.push((dir.clone(), "Is a directory"));
    cases.push((dir.join("missing.wav"), "No such file or directory"));
    for (wav, problem) in cases {
        let npy = dir.join("out.npy");
        let out = ser(&["features", path_str(&wav), "--out", path_str(&npy)]);
        let line = assert_clean_failure(&out, &wav, problem);
        println!("features {:<16} -> {line}", wav.file_name().unwrap().to_string_lossy());
        assert!(!npy.exists(), "{}: no output may be written", wav.display());
    }
    let leftovers: Vec<_> =
        std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("out.npy")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn predict_rejects_bad_files() {
    let dir = temp_dir("predict");
    let weights = dir.join("model.safetensors");
    write_checkpoint(&weights);
    let silence = dir.join("silence48k.wav");
    std::fs::write(&silence, pcm16_wav(48_000, &vec![0; 48_000])).unwrap();
    let mut cases = bad_wavs(&dir);
    cases.push((silence, "no speech found in 50 frames of 20 ms"));
    cases.push((dir.clone(), "Is a directory"));
    cases.push((dir.join("missing.wav"), "No such file or directory"));
    for (wav, problem) in cases {
        let out = ser(&["predict", "--weights", path_str(&weights), path_str(&wav)]);
        let line = assert_clean_failure(&out, &wav, problem);
        println!("predict {:<16} -> {line}", wav.file_name().unwrap().to_string_lossy());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_clip_shorter_than_the_receptive_field_is_padded_and_predicted() {
    let dir = temp_dir("short");
    let weights = dir.join("model.safetensors");
    write_checkpoint(&weights);
    // 0.3 s at 16 kHz: 10 feature frames, fewer than the model's 33.
    let wav = dir.join("short.wav");
    std::fs::write(&wav, pcm16_wav(16_000, &tone(4800))).unwrap();
    let out = ser(&["predict", "--weights", path_str(&weights), "--json", path_str(&wav)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.lines().all(|l| l.starts_with("checkpoint ")), "nothing odd to say: {stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let probabilities = rows[0]["probabilities"].as_object().unwrap();
    assert_eq!(probabilities.len(), 8);
    let total: f64 = probabilities.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4 && probabilities.values().all(|p| p.as_f64().unwrap().is_finite()), "{rows}");
    assert!(ser::data::EMOTIONS.contains(&rows[0]["emotion"].as_str().unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites the checkpoint at `src` into `dst` with `edit` applied to its (name -> tensor) map.
fn edit_checkpoint(src: &Path, dst: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<u8>)>)) {
    use safetensors::tensor::{Dtype, SafeTensors, TensorView};
    let bytes = std::fs::read(src).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == Dtype::F32)
        .map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> =
        tensors.iter().map(|(n, shape, data)| (n.clone(), TensorView::new(Dtype::F32, shape.clone(), data).unwrap())).collect();
    safetensors::serialize_to_file(views, meta.metadata().clone(), dst).unwrap();
}

#[test]
fn predict_rejects_broken_checkpoints() {
    let dir = temp_dir("checkpoint");
    let good = dir.join("good.safetensors");
    write_checkpoint(&good);
    let wav = dir.join("clip.wav");
    std::fs::write(&wav, pcm16_wav(16_000, &tone(16_000))).unwrap();

    let missing = dir.join("missing-tensor.safetensors");
    edit_checkpoint(&good, &missing, |t| t.retain(|(n, _, _)| n != "lstm.weight_hh_l0"));
    let reshaped = dir.join("wrong-shape.safetensors");
    edit_checkpoint(&good, &reshaped, |t| {
        let (_, shape, _) = t.iter_mut().find(|(n, _, _)| n == "classify.1.weight").unwrap();
        *shape = vec![shape[1], shape[0]];
    });
    let recurrent = dir.join("wrong-recurrent-shape.safetensors");
    edit_checkpoint(&good, &recurrent, |t| {
        let (_, shape, _) = t.iter_mut().find(|(n, _, _)| n == "lstm.weight_hh_l0").unwrap();
        *shape = vec![shape[1], shape[0]];
    });
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let cases = [
        (missing, "tensor 'lstm.weight_hh_l0' is missing"),
        (reshaped, "tensor 'classify.1.weight' has shape [320, 60], expected [60, 320]"),
        (recurrent, "tensor 'lstm.weight_hh_l0' has shape [80, 320]; a BiLSTM's recurrent weights are (4H, H)"),
        (garbage, "not a safetensors file"),
        (dir.join("absent.safetensors"), "No such file or directory"),
    ];
    for (weights, problem) in cases {
        let out = ser(&["predict", "--weights", path_str(&weights), path_str(&wav)]);
        let line = assert_clean_failure(&out, &weights, problem);
        println!("predict --weights {:<24} -> {line}", weights.file_name().unwrap().to_string_lossy());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes synthetic RAVDESS clips, one per emotion, into `dir`.
fn write_synthetic_clips(dir: &Path) {
    for emotion in 0..8u8 {
        let clip = ser::synth::synthesize_clip(1, 1 + emotion % 2, emotion, 1, 1, 1);
        write_wav(&dir.join(&clip.file_name), &Audio { samples: clip.samples, sample_rate: 16_000 }).unwrap();
    }
}

fn ablation(data: &Path, out: &Path, cache: &Path) -> Output {
    ser(&[
        "ablation",
        "--data",
        path_str(data),
        "--out",
        path_str(out),
        "--cache",
        path_str(cache),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--no-augment",
        "--threads",
        "2",
    ])
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path)
            } else {
                out.push(path)
            }
        }
    }
    out.sort();
    out
}

#[test]
fn ablation_rejects_folders_without_usable_clips() {
    let dir = temp_dir("ablation-empty");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let unnamed = dir.join("unnamed");
    std::fs::create_dir_all(&unnamed).unwrap();
    std::fs::write(unnamed.join("hello.wav"), pcm16_wav(16_000, &tone(8000))).unwrap();
    let cases = [
        (empty.clone(), empty.clone(), "no WAV files found"),
        (unnamed.clone(), unnamed.join("hello.wav"), "'hello' is not a RAVDESS name"),
        (dir.join("absent"), dir.join("absent"), "the data folder does not exist"),
    ];
    for (data, named, problem) in cases {
        let out_dir = dir.join("out");
        let out = ablation(&data, &out_dir, &dir.join("cache"));
        let line = assert_clean_failure(&out, &named, problem);
        println!("ablation --data {:<8} -> {line}", data.file_name().unwrap().to_string_lossy());
        assert_eq!(files_under(&out_dir), Vec::<PathBuf>::new(), "no report may be written");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ablation_skips_a_bad_clip_and_recomputes_corrupt_cache_entries() {
    let dir = temp_dir("ablation-mixed");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_synthetic_clips(&data);
    let bad = data.join("03-01-01-01-02-02-03.wav");
    std::fs::write(&bad, b"a text file named like a clip").unwrap();
    let cache = dir.join("cache");

    let out = ablation(&data, &dir.join("run1"), &cache);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("run1/report.json")).unwrap()).unwrap();
    let unusable = report["counts"]["unusable"].as_array().unwrap();
    assert_eq!(unusable.len(), 1, "{unusable:?}");
    assert_eq!(unusable[0][0], path_str(&bad));
    assert!(unusable[0][1].as_str().unwrap().contains("not a WAV file"), "{unusable:?}");
    assert_eq!(report["counts"]["cache_misses"], 8);

    // Garbage in two cache entries (one with a shape whose size overflows): the second run
    // recomputes them and succeeds.
    let cached: Vec<PathBuf> = files_under(&cache).into_iter().filter(|p| p.extension().is_some_and(|e| e == "npy")).collect();
    assert_eq!(cached.len(), 8);
    std::fs::write(&cached[0], b"\x93NUMPY garbage").unwrap();
    let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }\n";
    let mut huge = b"\x93NUMPY\x01\x00".to_vec();
    huge.extend((dict.len() as u16).to_le_bytes());
    huge.extend(dict);
    std::fs::write(&cached[1], huge).unwrap();
    let out = ablation(&data, &dir.join("run2"), &cache);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("run2/report.json")).unwrap()).unwrap();
    assert_eq!((report["counts"]["cache_hits"].as_u64(), report["counts"]["cache_misses"].as_u64()), (Some(6), Some(2)));
    for repaired in &cached[..2] {
        assert_eq!(ser::features::read_npy_f32(repaired).unwrap().nrows(), ser::features::ROWS, "the entry is rewritten");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `ser train` of one study epoch on `data` split by speaker, with `extra` arguments; the report
/// goes to `dir`/out and the cache to `dir`/cache.
fn train_split_by_speaker(data: &Path, dir: &Path, extra: &[&str]) -> Output {
    let (out_dir, cache) = (dir.join("out"), dir.join("cache"));
    let args = ["train", "--recipe", "study", "--epochs", "1", "--no-augment", "--threads", "2", "--split", "speakers"];
    let paths = ["--data", path_str(data), "--out", path_str(&out_dir), "--cache", path_str(&cache)];
    ser(&[&args[..], extra, &paths[..]].concat())
}

#[test]
fn a_speaker_split_of_a_folder_split_already_is_refused_not_ignored() {
    let dir = temp_dir("split-speakers");
    let data = dir.join("data");
    for part in ["training", "validation"] {
        std::fs::create_dir_all(data.join(part)).unwrap();
        write_synthetic_clips(&data.join(part));
    }
    let out_dir = dir.join("out");
    let out = train_split_by_speaker(&data, &dir, &[]);
    let line = assert_clean_failure(&out, &data, "comes split already");
    assert!(line.contains("--layout pool"), "the error should say how to pool the parts: {line}");
    assert_eq!(files_under(&out_dir), Vec::<PathBuf>::new(), "no report may be written");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_speaker_split_of_a_pooled_folder_is_made() {
    let dir = temp_dir("split-speakers-pool");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for actor in 1..=4u8 {
        for emotion in 0..4u8 {
            let clip = ser::synth::synthesize_clip(1, actor, emotion, 1, 1, 1);
            write_wav(&data.join(&clip.file_name), &Audio { samples: clip.samples, sample_rate: 16_000 }).unwrap();
        }
    }
    let out_dir = dir.join("out");
    let out = train_split_by_speaker(&data, &dir, &["--layout", "pool"]);
    assert!(out.status.success(), "a pooled folder must split by speaker: {}", String::from_utf8_lossy(&out.stderr));
    let report = std::fs::read_to_string(out_dir.join("recipes.json")).unwrap();
    assert!(report.contains("\"speakers\""), "the report should name the speaker split: {report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
