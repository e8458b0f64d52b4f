//! The general runner: train one model (with its ensemble members) from a recipe's plan, with
//! a checkpoint and a resumable state after every epoch, and score it on every split.

use crate::checkpoint::{self, Checkpoint};
use crate::data::pipeline::{load_corpora, DataConfig, DataSet};
use crate::data::{CacheReadError, Corpus, Example, InputScaling};
use crate::nn::model::{Padding, SerModel};
use crate::recipe::{Plan, Recipe};
use crate::stats::{summarize, Summary};
use crate::train::state::{load_state, save_state};
use crate::train::{evaluate_ensemble, EpochLog, Metrics, Scoring, TrainConfig, Trainer};
use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

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
    pub seed: u64,
    /// The epoch whose weights were kept, under early stopping.
    pub best_epoch: Option<usize>,
    pub history: Vec<EpochLog>,
    pub train: SplitResult,
    pub val: Option<SplitResult>,
    pub test: Option<SplitResult>,
    /// With several corpora: each corpus's validation and test figures (`corpus -> split`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_corpus: BTreeMap<String, BTreeMap<String, SplitResult>>,
    pub train_seconds: f64,
    pub checkpoint: PathBuf,
}

/// One figure read off a split's result.
pub type SplitFigure = fn(&SplitResult) -> f64;

/// The per-split figures summarised over seeds.
pub const SEED_METRICS: [(&str, SplitFigure); 3] =
    [("accuracy", |s| s.metrics.accuracy), ("accuracy_single_clip", |s| s.accuracy_single_clip), ("macro_f1", |s| s.metrics.macro_f1)];

/// The splits a model is scored on, in report order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

pub fn split_of<'a>(m: &'a ModelResult, split: &str) -> Option<&'a SplitResult> {
    match split {
        "train" => Some(&m.train),
        "val" => m.val.as_ref(),
        _ => m.test.as_ref(),
    }
}

/// `split -> metric -> summary` of [`SEED_METRICS`] over `runs` (one per seed).
pub fn summarize_runs<'a>(runs: impl Iterator<Item = &'a ModelResult> + Clone) -> BTreeMap<String, BTreeMap<String, Summary>> {
    let mut out: BTreeMap<String, BTreeMap<String, Summary>> = BTreeMap::new();
    for split in SPLITS {
        for (metric, f) in SEED_METRICS {
            let v: Vec<f64> = runs.clone().filter_map(|r| split_of(r, split)).map(f).collect();
            if !v.is_empty() {
                out.entry(split.into()).or_default().insert(metric.into(), summarize(&v));
            }
        }
    }
    out
}

/// The figures of `models` (one, or an ensemble's members, whose probabilities are averaged) on
/// `examples`, their features mapped by `scaling`.
pub fn split_result(
    models: &mut [SerModel<f32>],
    examples: &[Example],
    scaling: &InputScaling,
    batch: usize,
) -> Result<SplitResult, CacheReadError> {
    let metrics = evaluate_ensemble(models, examples, scaling, Scoring::Batched(batch))?;
    let accuracy_single_clip = evaluate_ensemble(models, examples, scaling, Scoring::SingleClip)?.accuracy;
    Ok(SplitResult { metrics, accuracy_single_clip })
}

/// Folder of one seed's checkpoints: the run folder for the first seed, `seed-<s>/` for others.
pub fn seed_dir(out_dir: &Path, seed: u64, first: bool) -> PathBuf {
    if first {
        out_dir.to_path_buf()
    } else {
        out_dir.join(format!("seed-{seed}"))
    }
}

/// One model to train: its name, its recipe (saved in the checkpoint's metadata) and what
/// [`Recipe::plan`] unpacked from it, and its input map.
pub struct ModelPlan<'a> {
    /// File stem of its checkpoints and key in reports.
    pub name: &'a str,
    pub recipe: &'a Recipe,
    pub plan: &'a Plan,
    /// Fitted on the training split ([`Recipe::fit_scaling`]), applied to every batch, saved in
    /// the checkpoint; the augmentation's affine form needs it too.
    pub scaling: &'a InputScaling,
}

/// Trains (or resumes) one model on `data` (raw features, mapped batch by batch by the plan's
/// input map) and evaluates it. After every epoch the resumable `<name>.state.safetensors` is
/// written, and the clean `<name>.safetensors` (every epoch, or only when validation improves
/// under early stopping, whose best epoch is the one evaluated and kept).
pub fn train_model(
    data: &DataSet,
    plan: ModelPlan<'_>,
    dir: &Path,
    on_epoch: &mut dyn FnMut(&str, u64, &EpochLog),
) -> anyhow::Result<ModelResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let start = Instant::now();
    let members = plan.recipe.members();
    // Scored after every epoch of every member, so picked out once.
    let curve_clips = plan.recipe.curve_on_originals.then(|| Arc::new(data.train.iter().filter(|e| e.is_original()).cloned().collect()));
    let mut models = Vec::with_capacity(members);
    let mut first = None;
    for k in 0..members {
        let (model, trainer) = train_member(data, &plan, k, curve_clips.clone(), dir, on_epoch)?;
        first.get_or_insert(trainer);
        models.push(model);
    }
    let trainer = first.expect("an ensemble has at least one member");
    let train_seconds = start.elapsed().as_secs_f64();
    let (b, scaling) = (plan.plan.train.batch_size, plan.scaling);
    Ok(ModelResult {
        dropout: plan.plan.model.dropout,
        padding: plan.plan.model.padding,
        seed: plan.plan.train.seed,
        best_epoch: if plan.plan.train.patience.is_some() { trainer.best_epoch() } else { None },
        train: split_result(&mut models, &data.train, scaling, b)?,
        val: (!data.val.is_empty()).then(|| split_result(&mut models, &data.val, scaling, b)).transpose()?,
        test: data.test.as_ref().filter(|t| !t.is_empty()).map(|t| split_result(&mut models, t, scaling, b)).transpose()?,
        per_corpus: per_corpus_results(&mut models, data, scaling, b)?,
        history: trainer.history,
        train_seconds,
        checkpoint: dir.join(member_file(plan.name, 0)),
    })
}

/// Each corpus's validation and test figures, when there are several corpora.
fn per_corpus_results(
    models: &mut [SerModel<f32>],
    data: &DataSet,
    scaling: &InputScaling,
    batch: usize,
) -> Result<BTreeMap<String, BTreeMap<String, SplitResult>>, CacheReadError> {
    let mut out: BTreeMap<String, BTreeMap<String, SplitResult>> = BTreeMap::new();
    if data.corpora.len() < 2 {
        return Ok(out);
    }
    for (k, name) in data.corpora.iter().enumerate() {
        for (split, examples) in [("val", Some(&data.val)), ("test", data.test.as_ref())] {
            let own: Vec<Example> = examples.into_iter().flatten().filter(|e| e.corpus == k).cloned().collect();
            if !own.is_empty() {
                out.entry(name.clone()).or_default().insert(split.into(), split_result(models, &own, scaling, batch)?);
            }
        }
    }
    Ok(out)
}

/// The training seed of ensemble member k of a model trained with `seed` (member 0 is the model
/// itself, so a one-member recipe trains exactly what it did before ensembles existed).
pub fn member_seed(seed: u64, k: usize) -> u64 {
    seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// File stem of ensemble member k of the model `name`.
pub fn member_name(name: &str, k: usize) -> String {
    if k == 0 {
        name.to_string()
    } else {
        format!("{name}.member-{k}")
    }
}

/// Checkpoint file name of ensemble member k of the model `name`.
pub fn member_file(name: &str, k: usize) -> String {
    format!("{}.safetensors", member_name(name, k))
}

/// Trains (or resumes) ensemble member k of `plan` (member 0: the model itself). After every
/// epoch the resumable `<member>.state.safetensors` is written, and the clean
/// `<member>.safetensors` (every epoch, or only when validation improves under early stopping,
/// whose best epoch is the one kept). Member 0's metadata lists the other members' files.
/// `curve_clips`: what each epoch's training accuracy is scored on (None: every example).
fn train_member(
    data: &DataSet,
    plan: &ModelPlan<'_>,
    k: usize,
    curve_clips: Option<Arc<Vec<Example>>>,
    dir: &Path,
    on_epoch: &mut dyn FnMut(&str, u64, &EpochLog),
) -> anyhow::Result<(SerModel<f32>, Trainer)> {
    let seed = member_seed(plan.plan.train.seed, k);
    let name = member_name(plan.name, k);
    let mut model = SerModel::<f32>::with_width(plan.plan.model, data.classes.len(), plan.plan.lstm_hidden, seed);
    let mut trainer = Trainer::new(TrainConfig { seed, ..plan.plan.train.clone() });
    trainer.scaling = plan.scaling.clone();
    trainer.augment = plan.recipe.feature_augment(plan.scaling);
    trainer.attach_adversary(crate::train::speakers(&data.train).len(), model.pooled());
    trainer.curve_clips = curve_clips;
    let checkpoint = dir.join(member_file(plan.name, k));
    let state = dir.join(format!("{name}.state.safetensors"));
    if state.exists() {
        load_state(&state, &mut model, &mut trainer)?;
        eprintln!("{name} (seed {seed}): resuming after epoch {}", trainer.history.len());
    }
    let mut meta = HashMap::from([
        (checkpoint::META_EPOCHS.to_string(), plan.plan.train.epochs.to_string()),
        (checkpoint::META_SEED.to_string(), seed.to_string()),
        (checkpoint::META_RESAMPLE_LIKE_NOTEBOOK.to_string(), plan.plan.data.resample_like_notebook.to_string()),
        (checkpoint::META_RECIPE.to_string(), serde_json::to_string(plan.recipe)?),
        (checkpoint::META_BAND.to_string(), plan.plan.data.band.name().to_string()),
        (checkpoint::META_ENHANCEMENT.to_string(), plan.plan.data.enhancement.name().to_string()),
        (checkpoint::META_CLASSES.to_string(), serde_json::to_string(&data.classes)?),
    ]);
    if !plan.scaling.is_identity() {
        meta.insert(checkpoint::META_INPUT_SCALING.to_string(), serde_json::to_string(plan.scaling)?);
    }
    let members = plan.recipe.members();
    if k == 0 && members > 1 {
        let files: Vec<String> = (1..members).map(|m| member_file(plan.name, m)).collect();
        meta.insert(checkpoint::META_ENSEMBLE.to_string(), serde_json::to_string(&files)?);
    }
    let early_stopping = plan.plan.train.patience.is_some();
    trainer.fit(&mut model, &data.train, &data.val, |model, trainer| -> anyhow::Result<()> {
        let log = trainer.history.last().expect("an epoch was just logged").clone();
        // Without validation clips there is no best epoch: every epoch is saved, the last kept.
        if !early_stopping || trainer.best_epoch().is_none_or(|best| best == log.epoch) {
            checkpoint::save(model, &checkpoint, meta.clone())?;
        }
        save_state(&state, model, trainer)?;
        on_epoch(&name, seed, &log);
        Ok(())
    })?;
    if trainer.history.is_empty() {
        checkpoint::save(&mut model, &checkpoint, meta)?;
    } else if early_stopping {
        Checkpoint::open(&checkpoint)?.load_into(&mut model)?;
    }
    Ok((model, trainer))
}

/// Loads the data a plan asks for (`Plan::data`: the split of `cfg.seed`, augmentation noise
/// following the training seed), refusing an empty training split.
pub fn load_data(corpora: &[Corpus], cfg: &DataConfig) -> anyhow::Result<DataSet> {
    let data = load_corpora(corpora, cfg)?;
    if data.train.is_empty() {
        let dirs: Vec<String> = corpora.iter().map(|c| c.dir.display().to_string()).collect();
        anyhow::bail!("{}: the training split is empty", dirs.join(", "));
    }
    Ok(data)
}
