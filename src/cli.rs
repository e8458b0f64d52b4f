//! The commands behind `ser eval`, `ser predict` and `ser features`.

use crate::checkpoint::{Checkpoint, META_ENSEMBLE, META_RECIPE};
use crate::data::pipeline::{self, DataConfig, Variant};
use crate::data::EMOTIONS;
use crate::features::{self, FeatureConfig};
use crate::nn::model::{SerModel, NUM_CLASSES};
use crate::recipe::InputScaling;
use crate::train::{argmax_rows, mean_probabilities, Example, Metrics, Scoring};
use anyhow::{anyhow, bail, Context, Result};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// A checkpoint's model and the input map it was trained on.
struct Loaded {
    /// "checkpoint F (recipe R, dropout D, padding P)".
    description: String,
    model: SerModel<f32>,
    scaling: InputScaling,
    resample_like_notebook: bool,
}

/// Opens each checkpoint, and the other members of an ensemble whose first member it is, and
/// checks that they all read audio the same way (an ensemble averages models that see the same
/// clips).
fn load_models(weights: &[PathBuf]) -> Result<Vec<Loaded>> {
    let mut loaded: Vec<Loaded> = Vec::new();
    for path in weights {
        let ckpt = Checkpoint::open(path)?;
        let members = match ckpt.metadata.get(META_ENSEMBLE) {
            Some(list) => serde_json::from_str::<Vec<String>>(list)
                .map_err(|e| anyhow!("{}: metadata '{META_ENSEMBLE}' is not a list of file names: {e}", path.display()))?,
            None => Vec::new(),
        };
        let folder = path.parent().unwrap_or(Path::new("."));
        load_into(&mut loaded, ckpt, &weights[0])?;
        for member in members {
            load_into(&mut loaded, Checkpoint::open(&folder.join(member))?, &weights[0])?;
        }
    }
    Ok(loaded)
}

/// Loads one opened checkpoint after `loaded`, refusing one that reads audio differently from
/// the first (from the file `first`).
fn load_into(loaded: &mut Vec<Loaded>, ckpt: Checkpoint, first: &Path) -> Result<()> {
    let path = &ckpt.path;
    let model = ckpt.load()?;
    let recipe = ckpt.metadata.get(META_RECIPE).and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
    let name = recipe.as_ref().and_then(|r| r["name"].as_str().map(str::to_string)).unwrap_or_else(|| "study".into());
    let description = format!("checkpoint {} (recipe {name}, dropout {}, padding {})", path.display(), model.config.dropout, model.config.padding.name());
    let resample_like_notebook = ckpt.metadata.get("ser.resample_like_notebook").is_some_and(|v| v == "true");
    if loaded.first().is_some_and(|f| f.resample_like_notebook != resample_like_notebook) {
        bail!("{}: trained on notebook-resampled features and {} not; an ensemble needs one input", path.display(), first.display());
    }
    loaded.push(Loaded { description, model, scaling: ckpt.input_scaling()?, resample_like_notebook });
    Ok(())
}

/// Class probabilities (N, 8) of `examples` (raw features), averaged over the models, each
/// applying its own input map.
fn ensemble_probabilities(models: &mut [Loaded], examples: &[Example], scoring: Scoring) -> Array2<f32> {
    let mut sum = Array2::<f32>::zeros((examples.len(), NUM_CLASSES));
    for m in models.iter_mut() {
        let mut scaled = examples.to_vec();
        m.scaling.apply_all(&mut scaled);
        sum += &mean_probabilities(std::slice::from_mut(&mut m.model), &scaled, scoring);
    }
    sum / models.len() as f32
}

/// Which clips of a RAVDESS folder `ser eval` scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalPart {
    /// Every speech clip.
    All,
    /// One part of the split that training with the same --layout, --split and --seed made.
    Train,
    Val,
    Test,
}

/// `ser eval`: metrics of a checkpoint (or the mean probabilities of several: an ensemble) on
/// the RAVDESS speech clips of a folder (all, or one part of a training split), or on any WAVs
/// labelled by a CSV (cross-corpus evaluation).
pub fn eval(weights: &[PathBuf], data: Option<&Path>, labels: Option<&Path>, part: EvalPart, cfg: &DataConfig, batch: usize) -> Result<()> {
    let dir = data.context("--data is required for eval")?;
    let mut models = load_models(weights)?;
    let mut cfg = cfg.clone();
    cfg.resample_like_notebook |= models[0].resample_like_notebook;
    let (examples, counts) = match (labels, part) {
        (Some(csv), EvalPart::All) => pipeline::load_labelled(dir, csv, &cfg)?,
        (Some(_), _) => bail!("--labels scores every clip of its CSV; it takes no --part"),
        (None, EvalPart::All) => pipeline::load_all(dir, &cfg)?,
        (None, part) => {
            let data = pipeline::load_dataset(dir, &DataConfig { augment: false, ..cfg })?;
            let examples = match part {
                EvalPart::Train => data.train,
                EvalPart::Val => data.val,
                _ => data.test.with_context(|| format!("{}: the split has no test part", dir.display()))?,
            };
            (examples, data.counts)
        }
    };
    let truth: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let mut metrics = |scoring| Metrics::compute(&truth, &argmax_rows(&ensemble_probabilities(&mut models, &examples, scoring)), NUM_CLASSES);
    let batched = metrics(Scoring::Batched(batch));
    let single = metrics(Scoring::SingleClip);
    for m in &models {
        println!("{}", m.description);
    }
    if models.len() > 1 {
        println!("ensemble of {} checkpoints (mean probabilities)", models.len());
    }
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

/// `ser predict`: each file's emotion and the eight probabilities, scored alone (averaged over
/// the checkpoints when several are given).
pub fn predict(weights: &[PathBuf], clips: &[PathBuf], json: bool) -> Result<()> {
    let mut models = load_models(weights)?;
    let cfg = DataConfig {
        layout: pipeline::Layout::Pool,
        vad: pipeline::VadMode::Auto,
        split: pipeline::SplitKind::Files,
        resample_like_notebook: models[0].resample_like_notebook,
        augment: false,
        speed_factors: Vec::new(),
        seed: 0,
        noise_seed: 0,
        cache_dir: None,
    };
    for m in &models {
        eprintln!("{}", m.description);
    }
    let mut rows = Vec::new();
    for path in clips {
        let samples = pipeline::prepare_audio(path, Variant::Original, &cfg)?;
        let clip = Example { features: features::extract(&samples, &FeatureConfig::default()), label: 0, name: String::new(), actor: 0 };
        let probs = ensemble_probabilities(&mut models, &[clip], Scoring::SingleClip);
        rows.push((path.display().to_string(), EMOTIONS[argmax_rows(&probs)[0]], probs.row(0).to_vec()));
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
