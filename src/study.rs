//! The study end to end: data, both models (with and without dropout) trained from the same
//! initial weights on the same batches, evaluation, checkpoints and the report folder.

use crate::checkpoint;
use crate::data::pipeline::{load_dataset, DataConfig, DataCounts, DataSet, Layout};
use crate::nn::model::{ModelConfig, Padding, SerModel};
use crate::train::{evaluate, EpochLog, Example, Metrics, Scoring, TrainConfig, Trainer};
use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the data came from.
#[derive(Clone, Debug, Serialize)]
pub struct DataSource {
    pub dir: PathBuf,
    /// True for the built-in synthetic corpus.
    pub synthetic: bool,
    /// How the folder was chosen (`--data`, `$SER_DATA`, `./data/ravdess`, or the built-in default).
    pub chosen_by: String,
}

/// Picks the data folder: `--data`, then `$SER_DATA`, then `./data/ravdess`; with none present,
/// the built-in synthetic corpus (written once under `cache_root`).
pub fn resolve_data(arg: Option<&Path>, cache_root: &Path, seed: u64) -> anyhow::Result<DataSource> {
    if let Some(dir) = arg {
        return Ok(DataSource { dir: dir.into(), synthetic: false, chosen_by: "--data".into() });
    }
    if let Some(dir) = std::env::var_os("SER_DATA") {
        return Ok(DataSource { dir: dir.into(), synthetic: false, chosen_by: "$SER_DATA".into() });
    }
    let default = PathBuf::from("data/ravdess");
    if default.is_dir() {
        return Ok(DataSource { dir: default, synthetic: false, chosen_by: "./data/ravdess".into() });
    }
    let dir = cache_root.join(format!("synthetic-corpus-seed{seed}"));
    if !dir.join(".complete").exists() {
        eprintln!("No RAVDESS data found (--data, $SER_DATA, ./data/ravdess): synthesising the built-in corpus in {}", dir.display());
        crate::synth::write_corpus(&dir, seed).with_context(|| format!("writing the synthetic corpus to {}", dir.display()))?;
        std::fs::write(dir.join(".complete"), b"")?;
    }
    Ok(DataSource { dir, synthetic: true, chosen_by: "built-in synthetic corpus (no RAVDESS found)".into() })
}

/// One split's figures: the metrics of batched scoring plus the single-clip accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct SplitResult {
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Accuracy with each clip scored alone (no padding from other clips).
    pub accuracy_single_clip: f64,
}

/// A trained model's history and final figures.
#[derive(Clone, Debug, Serialize)]
pub struct ModelResult {
    pub dropout: bool,
    pub padding: Padding,
    pub history: Vec<EpochLog>,
    pub train: SplitResult,
    pub val: Option<SplitResult>,
    pub test: Option<SplitResult>,
    pub train_seconds: f64,
    pub checkpoint: PathBuf,
}

/// Settings of an ablation run.
#[derive(Clone, Debug, Serialize)]
pub struct StudyConfig {
    pub data: DataConfig,
    pub train: TrainConfig,
    pub padding: Padding,
    pub threads: usize,
}

/// Everything `report.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct StudyReport {
    pub source: DataSource,
    pub layout: Layout,
    pub config: StudyConfig,
    pub counts: DataCounts,
    pub models: BTreeMap<String, ModelResult>,
    pub feature_seconds: f64,
    pub wall_seconds: f64,
    pub ser_version: String,
}

/// Names of the two models in reports and files.
pub const MODEL_NAMES: [(&str, bool); 2] = [("dropout", true), ("no_dropout", false)];

fn split_result(model: &mut SerModel<f32>, examples: &[Example], batch: usize) -> SplitResult {
    let metrics = evaluate(model, examples, Scoring::Batched(batch));
    let accuracy_single_clip = evaluate(model, examples, Scoring::SingleClip).accuracy;
    SplitResult { metrics, accuracy_single_clip }
}

/// Trains and evaluates both models, writing checkpoints into `out_dir`; `on_epoch` sees progress.
pub fn run_models(
    data: &DataSet,
    cfg: &StudyConfig,
    out_dir: &Path,
    mut on_epoch: impl FnMut(&str, &EpochLog),
) -> anyhow::Result<BTreeMap<String, ModelResult>> {
    let mut models = BTreeMap::new();
    for (name, dropout) in MODEL_NAMES {
        let start = Instant::now();
        let mut model = SerModel::<f32>::new(ModelConfig { dropout, padding: cfg.padding }, cfg.train.seed);
        let mut trainer = Trainer::new(cfg.train.clone());
        trainer.fit(&mut model, &data.train, &data.val, |log| on_epoch(name, log));
        let train_seconds = start.elapsed().as_secs_f64();
        let checkpoint = out_dir.join(format!("{name}.safetensors"));
        let meta = HashMap::from([
            ("ser.epochs".to_string(), cfg.train.epochs.to_string()),
            ("ser.seed".to_string(), cfg.train.seed.to_string()),
            ("ser.resample_like_notebook".to_string(), cfg.data.resample_like_notebook.to_string()),
        ]);
        checkpoint::save(&mut model, &checkpoint, meta)?;
        let b = cfg.train.batch_size;
        models.insert(
            name.to_string(),
            ModelResult {
                dropout,
                padding: cfg.padding,
                train: split_result(&mut model, &data.train, b),
                val: (!data.val.is_empty()).then(|| split_result(&mut model, &data.val, b)),
                test: data.test.as_ref().filter(|t| !t.is_empty()).map(|t| split_result(&mut model, t, b)),
                history: trainer.history,
                train_seconds,
                checkpoint,
            },
        );
    }
    Ok(models)
}

/// Loads the data and runs the whole study.
pub fn run_study(source: DataSource, cfg: StudyConfig, out_dir: &Path, on_epoch: impl FnMut(&str, &EpochLog)) -> anyhow::Result<StudyReport> {
    let start = Instant::now();
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let data = load_dataset(&source.dir, &cfg.data)?;
    let feature_seconds = start.elapsed().as_secs_f64();
    if data.train.is_empty() {
        anyhow::bail!("{}: the training split is empty", source.dir.display());
    }
    let models = run_models(&data, &cfg, out_dir, on_epoch)?;
    Ok(StudyReport {
        source,
        layout: data.layout,
        config: cfg,
        counts: data.counts,
        models,
        feature_seconds,
        wall_seconds: start.elapsed().as_secs_f64(),
        ser_version: env!("CARGO_PKG_VERSION").into(),
    })
}
