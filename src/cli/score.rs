//! The scoring commands: `eval` (metrics of checkpoints on a folder) and `predict` (each file's
//! emotion and probabilities).

use super::args::{data_config, DataArgs};
use crate::audio::corrupt::{Corruption, NoiseKind, BABBLE_TALKERS, MAX_BABBLE_TALKERS};
use crate::audio::wav::wav_sample_rate;
use crate::checkpoint::{Checkpoint, LoadedModel};
use crate::data::pipeline::{self, Band, ClipSplit, DataConfig};
use crate::data::{resolve_data, Clip, Example, LabelSettings, Variant};
use crate::experiments::robustness::{run_robustness, test_grid, RobustnessClips};
use crate::features::{self, FeatureConfig};
use crate::train::{argmax_rows, ensemble_probabilities, Metrics, Scoring};
use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::Array2;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    pub weights: Vec<PathBuf>,
    /// Which clips to score: all, or the train/val/test part of the split made with --layout, --split and --seed
    /// (a labels CSV's split column when it has one).
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

/// The clips of the command line's corpora that `part` names, split as training with `cfg`
/// split them, labelled with the classes of `models` (a label outside them is an error naming its
/// CSV line or file); with their counts and the whole split's corpora and speakers.
fn select_clips(data: &DataArgs, part: EvalPart, cfg: &DataConfig, models: &[LoadedModel]) -> Result<(Vec<Clip>, ClipSplit)> {
    if data.data.is_empty() {
        bail!("--data is required");
    }
    let source = resolve_data(&data.data, &data.labels, &data.cache, cfg.seed)?;
    let cfg = DataConfig { labels: LabelSettings { classes: Some(models[0].classes.clone()), ..cfg.labels.clone() }, ..cfg.clone() };
    let split = pipeline::split_corpora(&source.corpora, &cfg, false)?;
    let clips = match part {
        EvalPart::All => split.all(),
        EvalPart::Train => split.train.clone(),
        EvalPart::Val => split.val.clone(),
        EvalPart::Test => split.test.clone().with_context(|| format!("{}: the split has no test part", source.folders()))?,
    };
    Ok((clips, split))
}

/// A warning when some of `files` carry a narrower band than `band`, the one the model was
/// trained for: a WAV sampled at `rate` holds nothing above `rate / 2` (an 8 kHz telephone
/// recording fed to a wideband model, which never heard such clips).
fn narrower_band_warning<'a>(band: Band, files: impl Iterator<Item = &'a Path>) -> Option<String> {
    let mut narrower = Vec::new();
    let mut total = 0;
    for file in files {
        total += 1;
        if let Some(rate) = wav_sample_rate(file).filter(|&rate| band.wider_than(rate)) {
            narrower.push((file, rate));
        }
    }
    let (first, rate) = narrower.first()?;
    Some(format!(
        "warning: {} of {total} clips (first {}, sampled at {rate} Hz) carry nothing above {} Hz, {}",
        narrower.len(),
        first.display(),
        rate / 2,
        narrower_than(band)
    ))
}

/// A narrower input's warning from the band on: what the model was trained for and what to expect.
pub fn narrower_than(band: Band) -> String {
    format!(
        "narrower than the band the model was trained for ({}, up to {} Hz); expect lower accuracy (a model trained with --band telephone hears such audio as it was trained)",
        band.name(),
        band.top_hz()
    )
}

/// `ser eval`: metrics of a checkpoint (or the mean probabilities of several: an ensemble) on
/// the RAVDESS speech clips of a folder (all, or one part of a training split), or on any WAVs
/// labelled by a CSV (cross-corpus evaluation).
pub fn eval(a: EvalArgs) -> Result<()> {
    let (part, batch) = (a.part, a.batch_size);
    let mut models = Checkpoint::load_ensemble(&a.weights)?;
    let cfg = model_data_config(&a.data, a.seed, &models)?;
    let (clips, ClipSplit { counts, corpora, .. }) = select_clips(&a.data, part, &cfg, &models)?;
    if let Some(warning) = narrower_band_warning(models[0].band, clips.iter().map(|c| c.path.as_path())) {
        eprintln!("{warning}");
    }
    let (examples, counts) = pipeline::featurise_clips(&a.data.data[0], &clips, &cfg, counts)?;
    let classes = models[0].classes.clone();
    let batched_predicted = argmax_rows(&ensemble_probabilities(&mut models, &examples, Scoring::Batched(batch))?);
    let single_predicted = argmax_rows(&ensemble_probabilities(&mut models, &examples, Scoring::SingleClip)?);
    // The metrics of the clips `keep` picks, from one scoring's predictions.
    let score = |predicted: &[usize], keep: &dyn Fn(&Example) -> bool| {
        let kept: Vec<usize> = (0..examples.len()).filter(|&i| keep(&examples[i])).collect();
        let truth: Vec<usize> = kept.iter().map(|&i| examples[i].label).collect();
        Metrics::compute(&truth, &kept.iter().map(|&i| predicted[i]).collect::<Vec<_>>(), classes.len())
    };
    let batched = score(&batched_predicted, &|_| true);
    let single = score(&single_predicted, &|_| true);
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
    if corpora.len() > 1 {
        for (k, name) in corpora.iter().enumerate() {
            let (b, s) = (score(&batched_predicted, &|e| e.corpus == k), score(&single_predicted, &|e| e.corpus == k));
            println!(
                "  {name}: {} clips, accuracy {:.2} % batched, {:.2} % one clip at a time, macro-F1 {:.3}",
                b.n,
                100.0 * b.accuracy,
                100.0 * s.accuracy,
                b.macro_f1
            );
        }
    }
    let absent: Vec<&str> =
        (0..classes.len()).filter(|&c| batched.confusion[c].iter().sum::<usize>() == 0).map(|c| classes[c].as_str()).collect();
    if !absent.is_empty() {
        println!("classes absent from the labels (not in macro-F1 unless predicted): {}", absent.join(", "));
    }
    for (file, reason) in &counts.unusable {
        eprintln!("skipped {file}: {reason}");
    }
    println!("confusion (rows true, columns predicted; {}):", classes.join(", "));
    for row in &batched.confusion {
        println!("  {}", row.iter().map(|c| format!("{c:4}")).collect::<String>());
    }
    Ok(())
}

/// The raw features (162, K) of any WAV file, prepared as the checkpoint's models were trained:
/// 16 kHz (VAD for clips at other rates), resampled like the notebook's when they expect that.
pub(super) fn clip_features(path: &Path, models: &[LoadedModel]) -> Result<Array2<f32>> {
    // One band, enhancement and input for every member: `Checkpoint::load_ensemble` refuses mixed ones.
    let first = models.first().context("no checkpoint loaded")?;
    let cfg = first.data_config(DataConfig { augment: false, ..DataConfig::default() });
    let samples = pipeline::prepare_audio(path, Variant::Original, &cfg)?;
    Ok(features::extract(&samples, &FeatureConfig::default()))
}

/// `ser predict`: each file's emotion and the eight probabilities, scored alone (averaged over
/// the checkpoints when several are given).
pub fn predict(a: PredictArgs) -> Result<()> {
    let (clips, json) = (&a.clips, a.json);
    let mut models = Checkpoint::load_ensemble(&a.weights)?;
    for m in &models {
        eprintln!("{}", m.description);
    }
    if let Some(warning) = narrower_band_warning(models[0].band, clips.iter().map(PathBuf::as_path)) {
        eprintln!("{warning}");
    }
    let classes = models[0].classes.clone();
    let mut rows = Vec::new();
    for path in clips {
        let clip = Example::original(clip_features(path, &models)?, 0, 0);
        let probs = ensemble_probabilities(&mut models, &[clip], Scoring::SingleClip)?;
        rows.push((path.display().to_string(), classes[argmax_rows(&probs)[0]].clone(), probs.row(0).to_vec()));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(f, e, p)| {
                let probs: serde_json::Map<String, serde_json::Value> =
                    classes.iter().zip(p).map(|(n, v)| (n.clone(), serde_json::json!(v))).collect();
                serde_json::json!({ "file": f, "emotion": e, "probabilities": probs })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (f, e, p) in &rows {
            let probs: Vec<String> = classes.iter().zip(p).map(|(n, v)| format!("{n} {v:.3}")).collect();
            println!("{f}: {e} ({})", probs.join(", "));
        }
    }
    Ok(())
}

/// How `eval` and `robustness` read clips for `models`: the command line's data settings, with
/// the notebook's resampling and the band the checkpoints were trained with.
fn model_data_config(data: &DataArgs, seed: u64, models: &[LoadedModel]) -> Result<DataConfig> {
    Ok(models[0].data_config(data_config(data, seed, false)?))
}

#[derive(Args)]
pub struct RobustnessArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    pub weights: Vec<PathBuf>,
    /// Which clips to score: all, or the train/val/test part of the split made with --layout, --split and --seed.
    #[arg(long, value_enum, default_value = "all")]
    pub part: EvalPart,
    #[command(flatten)]
    pub data: DataArgs,
    /// Seed of the split (with --part).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed of the test corruptions (noise, babble talkers, rooms).
    #[arg(long, default_value_t = 0)]
    pub corruption_seed: u64,
    /// Talkers mixed into each babble, 1 to 16 (default 4).
    #[arg(long, default_value_t = BABBLE_TALKERS)]
    pub babble_talkers: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Report folder (default `runs/<timestamp>-robustness`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `ser robustness`: accuracy, each clip scored alone, clean and under each channel corruption
/// of the test grid; writes robustness.md, .json and .svg.
pub fn robustness(a: RobustnessArgs) -> Result<()> {
    super::args::init_threads(a.threads)?;
    if !(1..=MAX_BABBLE_TALKERS).contains(&a.babble_talkers) {
        bail!("--babble-talkers takes the talkers of each babble, 1 to {MAX_BABBLE_TALKERS}; got {}", a.babble_talkers);
    }
    let mut models = Checkpoint::load_ensemble(&a.weights)?;
    let cfg = model_data_config(&a.data, a.seed, &models)?;
    let (clips, split) = select_clips(&a.data, a.part, &cfg, &models)?;
    for m in &models {
        eprintln!("{}", m.description);
    }
    let mut grid = test_grid();
    if !split.speakers_known {
        grid.retain(|c| !matches!(c, Corruption::Noise { kind: NoiseKind::Babble, .. }));
        eprintln!(
            "babble is left out: the labels CSV names no speakers (no speaker column, no --speaker-pattern), so no clip's own voice can be kept out of its babble"
        );
    }
    let part = format!("{:?}", a.part).to_lowercase();
    let run = RobustnessClips {
        data: a.data.data[0].clone(),
        part,
        clips: &clips,
        cfg: &cfg,
        seed: a.corruption_seed,
        babble_talkers: a.babble_talkers,
    };
    let report = run_robustness(&mut models, run, &grid)?;
    let out = a.out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-robustness", crate::report::timestamp())));
    let md = crate::report::robustness::write_report(&out, &report)?;
    println!("{} clips, clean: {:.1} % one clip at a time", report.clips, 100.0 * report.clean_accuracy);
    for c in &report.conditions {
        println!("{:>16} {:<14} {:5.1} % ({:+.1})", c.corruption, c.severity, 100.0 * c.accuracy, c.change_points);
    }
    println!("report: {}", md.display());
    Ok(())
}
