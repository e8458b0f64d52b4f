//! The scoring commands: `eval` (metrics of checkpoints on a folder) and `predict` (each file's
//! emotion and probabilities).

use super::args::{data_config, DataArgs};
use crate::checkpoint::Checkpoint;
use crate::data::pipeline::{self, DataConfig};
use crate::data::{Example, Variant, EMOTIONS};
use crate::features::{self, FeatureConfig};
use crate::nn::model::NUM_CLASSES;
use crate::train::{argmax_rows, ensemble_probabilities, Metrics, Scoring};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    pub weights: Vec<PathBuf>,
    /// A CSV of `file,emotion` (files relative to --data, any names and sample rates): cross-corpus evaluation.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Which clips to score: all, or the train/val/test part of the split made with --layout, --split and --seed.
    #[arg(long, value_enum, default_value = "all")]
    pub part: EvalPart,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    pub weights: Vec<PathBuf>,
    /// WAV files.
    #[arg(required = true)]
    pub clips: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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
pub fn eval(a: EvalArgs) -> Result<()> {
    let (labels, part, batch) = (a.labels.as_deref(), a.part, a.batch_size);
    let dir = a.data.data.as_deref().context("--data is required for eval")?;
    let mut models = Checkpoint::load_ensemble(&a.weights)?;
    let mut cfg = data_config(&a.data, a.seed, false);
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
    let mut metrics =
        |scoring| Metrics::compute(&truth, &argmax_rows(&ensemble_probabilities(&mut models, &examples, scoring)), NUM_CLASSES);
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
pub fn predict(a: PredictArgs) -> Result<()> {
    let (clips, json) = (&a.clips, a.json);
    let mut models = Checkpoint::load_ensemble(&a.weights)?;
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
        let clip = Example::original(features::extract(&samples, &FeatureConfig::default()), 0, 0);
        let probs = ensemble_probabilities(&mut models, &[clip], Scoring::SingleClip);
        rows.push((path.display().to_string(), EMOTIONS[argmax_rows(&probs)[0]], probs.row(0).to_vec()));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(f, e, p)| {
                let probs: serde_json::Map<String, serde_json::Value> =
                    EMOTIONS.iter().zip(p).map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect();
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
