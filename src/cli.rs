//! The commands behind `ser eval`, `ser predict` and `ser features`.

use crate::checkpoint::{Checkpoint, META_RECIPE};
use crate::data::pipeline::{self, DataConfig, Variant};
use crate::data::EMOTIONS;
use crate::features::{self, FeatureConfig};
use crate::nn::loss::softmax;
use crate::nn::model::{pad_batch, SerModel};
use crate::recipe::InputScaling;
use crate::train::{evaluate, Scoring};
use anyhow::{Context, Result};
use std::path::Path;

/// Opens a checkpoint and builds its model and the input map it was trained on.
fn load_model(weights: &Path) -> Result<(SerModel<f32>, Checkpoint, InputScaling)> {
    let ckpt = Checkpoint::open(weights)?;
    let model = ckpt.load()?;
    let scaling = ckpt.input_scaling()?;
    Ok((model, ckpt, scaling))
}

/// One line describing what a checkpoint is.
fn describe(weights: &Path, model: &SerModel<f32>, ckpt: &Checkpoint) -> String {
    let recipe = ckpt.metadata.get(META_RECIPE).and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
    let name = recipe.as_ref().and_then(|r| r["name"].as_str().map(str::to_string)).unwrap_or_else(|| "study".into());
    format!("checkpoint {} (recipe {name}, dropout {}, padding {})", weights.display(), model.config.dropout, model.config.padding.name())
}

/// `ser eval`: metrics of a checkpoint on every RAVDESS speech clip of a folder, or on any WAVs
/// labelled by a CSV (cross-corpus evaluation).
pub fn eval(weights: &Path, data: Option<&Path>, labels: Option<&Path>, cfg: &DataConfig, batch: usize) -> Result<()> {
    let dir = data.context("--data is required for eval")?;
    let (mut model, ckpt, scaling) = load_model(weights)?;
    let mut cfg = cfg.clone();
    cfg.resample_like_notebook |= ckpt.metadata.get("ser.resample_like_notebook").is_some_and(|v| v == "true");
    let (mut examples, counts) = match labels {
        Some(csv) => pipeline::load_labelled(dir, csv, &cfg)?,
        None => pipeline::load_all(dir, &cfg)?,
    };
    scaling.apply_all(&mut examples);
    let batched = evaluate(&mut model, &examples, Scoring::Batched(batch));
    let single = evaluate(&mut model, &examples, Scoring::SingleClip);
    println!("{}", describe(weights, &model, &ckpt));
    println!(
        "{} clips ({} skipped): accuracy {:.2} % batched ({} per batch), {:.2} % one clip at a time, macro-F1 {:.3}",
        batched.n,
        counts.unusable.len() + counts.not_speech_skipped,
        100.0 * batched.accuracy,
        batch,
        100.0 * single.accuracy,
        batched.macro_f1
    );
    let absent: Vec<&str> = (0..EMOTIONS.len()).filter(|&c| batched.confusion[c].iter().sum::<usize>() == 0).map(|c| EMOTIONS[c]).collect();
    if !absent.is_empty() {
        println!("classes absent from the labels (not in macro-F1 unless predicted): {}", absent.join(", "));
    }
    for (file, reason) in &counts.unusable {
        eprintln!("skipped {file}: {reason}");
    }
    println!("confusion (rows true, columns predicted; {}):", EMOTIONS.join(", "));
    for row in &batched.confusion {
        println!("  {}", row.iter().map(|c| format!("{c:4}")).collect::<String>());
    }
    Ok(())
}

/// `ser predict`: each file's emotion and the eight probabilities, scored alone.
pub fn predict(weights: &Path, clips: &[std::path::PathBuf], json: bool) -> Result<()> {
    let (mut model, ckpt, scaling) = load_model(weights)?;
    let cfg = DataConfig {
        layout: pipeline::Layout::Pool,
        vad: pipeline::VadMode::Auto,
        split: pipeline::SplitKind::Files,
        resample_like_notebook: ckpt.metadata.get("ser.resample_like_notebook").is_some_and(|v| v == "true"),
        augment: false,
        seed: 0,
        noise_seed: 0,
        cache_dir: None,
    };
    eprintln!("{}", describe(weights, &model, &ckpt));
    let mut rows = Vec::new();
    for path in clips {
        let samples = pipeline::prepare_audio(path, Variant::Original, &cfg)?;
        let f = scaling.apply(features::extract(&samples, &FeatureConfig::default()));
        let (x, lengths) = pad_batch(&[f.view()]);
        let probs = softmax(model.forward(x.view(), &lengths, false).view());
        let p: Vec<f32> = probs.row(0).to_vec();
        let best = p.iter().enumerate().fold(0, |b, (i, &v)| if v > p[b] { i } else { b });
        rows.push((path.display().to_string(), EMOTIONS[best], p));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(f, e, p)| {
                let probs: serde_json::Map<String, serde_json::Value> = EMOTIONS.iter().zip(p).map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect();
                serde_json::json!({ "file": f, "emotion": e, "probabilities": probs })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (f, e, p) in &rows {
            let probs: Vec<String> = EMOTIONS.iter().zip(p).map(|(n, v)| format!("{n} {v:.3}")).collect();
            println!("{f}: {e} ({})", probs.join(", "));
        }
    }
    Ok(())
}

/// `ser features`: the 162 x K matrix of one WAV file.
pub fn features(wav: &Path, out: Option<&Path>, json: bool) -> Result<()> {
    let audio = crate::audio::read_wav(wav)?;
    let samples = crate::audio::resample(&audio.samples, audio.sample_rate, pipeline::SAMPLE_RATE)?;
    let m = features::extract(&samples, &FeatureConfig::default());
    if let Some(out) = out {
        features::write_npy_f32(out, m.view()).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {} x {} float32 to {}", m.nrows(), m.ncols(), out.display());
    }
    if json {
        let rows: Vec<Vec<f32>> = m.rows().into_iter().map(|r| r.to_vec()).collect();
        println!("{}", serde_json::json!({ "file": wav.display().to_string(), "rows": m.nrows(), "frames": m.ncols(),
            "row_groups": { "zcr": [0, 1], "chroma": [1, 13], "mfcc": [13, 33], "rms": [33, 34], "mel": [34, 162] }, "features": rows }));
    } else if out.is_none() {
        println!("{} x {} (use --out FILE.npy or --json)", m.nrows(), m.ncols());
    }
    Ok(())
}
