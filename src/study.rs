//! The study end to end: data, both models (with and without dropout) trained from the same
//! initial weights on the same batches, evaluation, checkpoints and the report folder.

use crate::checkpoint::{self, Checkpoint};
use crate::data::pipeline::{load_dataset, DataConfig, DataCounts, DataSet, Layout};
use crate::nn::model::{ModelConfig, Padding, SerModel};
use crate::recipe::{FeatureAugment, InputScaling, Recipe};
use crate::stats::{paired_test, summarize, PairedTest, Summary};
use crate::train::state::{load_state, save_state};
use crate::train::{evaluate_ensemble, EpochLog, Example, Metrics, Scoring, TrainConfig, Trainer};
use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Where the data came from.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
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
    pub seed: u64,
    /// The epoch whose weights were kept, under early stopping.
    pub best_epoch: Option<usize>,
    pub history: Vec<EpochLog>,
    pub train: SplitResult,
    pub val: Option<SplitResult>,
    pub test: Option<SplitResult>,
    pub train_seconds: f64,
    pub checkpoint: PathBuf,
}

/// Settings of an ablation run.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct StudyConfig {
    pub data: DataConfig,
    pub train: TrainConfig,
    pub padding: Padding,
    pub threads: usize,
    /// Training seeds: seed, seed + 1, ... (initialisation, batch order, dropout masks,
    /// augmentation noise); the split stays that of the first.
    pub seeds: usize,
    /// Input map, augmentation and optimisation (the study's unless asked); `padding` and the
    /// dropout switch of each model override the recipe's own.
    #[serde(default = "Recipe::study")]
    pub recipe: Recipe,
}

/// Both models trained with one seed.
#[derive(Clone, Debug, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    pub models: BTreeMap<String, ModelResult>,
}

/// Everything `report.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct StudyReport {
    pub source: DataSource,
    pub layout: Layout,
    pub config: StudyConfig,
    pub counts: DataCounts,
    /// The first seed's models (`models.dropout.test.accuracy`, ...).
    pub models: BTreeMap<String, ModelResult>,
    /// Every seed's models, the first included.
    pub seed_runs: Vec<SeedRun>,
    /// Mean, spread and paired tests over the seeds (`seeds.dropout.test.accuracy.mean`, ...).
    pub seeds: SeedSummary,
    pub feature_seconds: f64,
    pub wall_seconds: f64,
    pub ser_version: String,
}

/// The settings of a run, saved in its folder so that `ablation --resume` continues it exactly.
pub const RUN_SETTINGS: &str = "run.json";

/// Names of the two models in reports and files.
pub const MODEL_NAMES: [(&str, bool); 2] = [("dropout", true), ("no_dropout", false)];

/// The per-split figures summarised over seeds.
pub const SEED_METRICS: [(&str, fn(&SplitResult) -> f64); 3] =
    [("accuracy", |s| s.metrics.accuracy), ("accuracy_single_clip", |s| s.accuracy_single_clip), ("macro_f1", |s| s.metrics.macro_f1)];

/// `model -> split -> metric -> summary`, plus `comparison: split -> metric -> paired test` of
/// dropout against no dropout, and a sentence saying what they mean.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SeedSummary {
    #[serde(flatten)]
    pub models: BTreeMap<String, BTreeMap<String, BTreeMap<String, Summary>>>,
    pub comparison: BTreeMap<String, BTreeMap<String, PairedTest>>,
    pub conclusion: String,
}

pub fn split_of<'a>(m: &'a ModelResult, split: &str) -> Option<&'a SplitResult> {
    match split {
        "train" => Some(&m.train),
        "val" => m.val.as_ref(),
        _ => m.test.as_ref(),
    }
}

/// Summarises the seed runs.
pub fn summarize_seeds(runs: &[SeedRun]) -> SeedSummary {
    let mut out = SeedSummary::default();
    let values = |model: &str, split: &str, f: fn(&SplitResult) -> f64| -> Vec<f64> {
        runs.iter().filter_map(|r| r.models.get(model).and_then(|m| split_of(m, split)).map(f)).collect()
    };
    for (model, _) in MODEL_NAMES {
        for split in ["train", "val", "test"] {
            for (metric, f) in SEED_METRICS {
                let v = values(model, split, f);
                if !v.is_empty() {
                    out.models.entry(model.into()).or_default().entry(split.into()).or_default().insert(metric.into(), summarize(&v));
                }
            }
        }
    }
    for split in ["val", "test"] {
        for (metric, f) in SEED_METRICS {
            let (a, b) = (values("dropout", split, f), values("no_dropout", split, f));
            if !a.is_empty() && a.len() == b.len() {
                out.comparison.entry(split.into()).or_default().insert(metric.into(), paired_test(&a, &b));
            }
        }
    }
    out.conclusion = conclusion(&out);
    out
}

fn conclusion(s: &SeedSummary) -> String {
    let split = if s.comparison.contains_key("test") { "test" } else { "val" };
    let Some(t) = s.comparison.get(split).and_then(|c| c.get("accuracy")) else {
        return "No split with labels to compare the models on.".into();
    };
    if t.n < 2 {
        return format!(
            "One seed only: dropout minus no dropout is {:+.1} points of {split} accuracy, but a single seed cannot tell an effect \
from seed-to-seed variation. Run with --seeds 5 or more.",
            100.0 * t.mean_difference
        );
    }
    let significant = t.t_test_p < 0.05 && t.permutation_p < 0.05;
    format!(
        "Over {} seeds, dropout minus no dropout is {:+.1} points of {split} accuracy (dropout better in {}, worse in {}); \
paired t-test p = {:.3}, sign test p = {:.3}, permutation test p = {:.3}. {}",
        t.n,
        100.0 * t.mean_difference,
        t.wins,
        t.losses,
        t.t_test_p,
        t.sign_test_p,
        t.permutation_p,
        if significant {
            "The seeds distinguish the two models: the difference is larger than seed-to-seed variation."
        } else {
            "The seeds cannot distinguish the two models: the difference is within seed-to-seed variation."
        }
    )
}

/// The figures of `models` (one, or an ensemble's members, whose probabilities are averaged).
pub fn split_result(models: &mut [SerModel<f32>], examples: &[Example], batch: usize) -> SplitResult {
    let metrics = evaluate_ensemble(models, examples, Scoring::Batched(batch));
    let accuracy_single_clip = evaluate_ensemble(models, examples, Scoring::SingleClip).accuracy;
    SplitResult { metrics, accuracy_single_clip }
}

/// Folder of one seed's checkpoints: the run folder for the first seed, `seed-<s>/` for others.
pub fn seed_dir(out_dir: &Path, seed: u64, first: bool) -> PathBuf {
    if first { out_dir.to_path_buf() } else { out_dir.join(format!("seed-{seed}")) }
}

/// What one model is trained with.
pub struct ModelPlan<'a> {
    /// File stem of its checkpoints and key in reports.
    pub name: &'a str,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// The input map the data went through (saved in the checkpoint).
    pub scaling: &'a InputScaling,
    pub augment: Option<FeatureAugment>,
    /// The recipe, saved in the checkpoint's metadata.
    pub recipe: &'a Recipe,
    /// The features came from audio resampled like the notebook's (saved for `predict`).
    pub resample_like_notebook: bool,
}

/// Trains (or resumes) one model on `data` (already scaled) and evaluates it. After every epoch
/// the resumable `<name>.state.safetensors` is written, and the clean `<name>.safetensors`
/// (every epoch, or only when validation improves under early stopping, whose best epoch is the
/// one evaluated and kept).
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
    let curve_clips = plan.recipe.curve_on_originals.then(|| Arc::new(data.train.iter().filter(|e| crate::data::pipeline::is_original(e)).cloned().collect()));
    let mut models = Vec::with_capacity(members);
    let mut first = None;
    for k in 0..members {
        let (model, trainer) = train_member(data, &plan, k, curve_clips.clone(), dir, on_epoch)?;
        first.get_or_insert(trainer);
        models.push(model);
    }
    let trainer = first.expect("an ensemble has at least one member");
    let train_seconds = start.elapsed().as_secs_f64();
    let b = plan.train.batch_size;
    Ok(ModelResult {
        dropout: plan.model.dropout,
        padding: plan.model.padding,
        seed: plan.train.seed,
        best_epoch: if plan.train.patience.is_some() { trainer.best_epoch() } else { None },
        train: split_result(&mut models, &data.train, b),
        val: (!data.val.is_empty()).then(|| split_result(&mut models, &data.val, b)),
        test: data.test.as_ref().filter(|t| !t.is_empty()).map(|t| split_result(&mut models, t, b)),
        history: trainer.history,
        train_seconds,
        checkpoint: dir.join(member_file(plan.name, 0)),
    })
}

/// The training seed of ensemble member k of a model trained with `seed` (member 0 is the model
/// itself, so a one-member recipe trains exactly what it did before ensembles existed).
pub fn member_seed(seed: u64, k: usize) -> u64 {
    seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// File stem of ensemble member k of the model `name`.
pub fn member_name(name: &str, k: usize) -> String {
    if k == 0 { name.to_string() } else { format!("{name}.member-{k}") }
}

/// Checkpoint file name of ensemble member k of the model `name`.
fn member_file(name: &str, k: usize) -> String {
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
    let seed = member_seed(plan.train.seed, k);
    let name = member_name(plan.name, k);
    let mut model = SerModel::<f32>::new(plan.model, seed);
    let mut trainer = Trainer::new(TrainConfig { seed, ..plan.train.clone() });
    trainer.augment = plan.augment.clone();
    trainer.attach_adversary(crate::train::speakers(&data.train).len());
    trainer.curve_clips = curve_clips;
    let checkpoint = dir.join(member_file(plan.name, k));
    let state = dir.join(format!("{name}.state.safetensors"));
    if state.exists() {
        load_state(&state, &mut model, &mut trainer)?;
        eprintln!("{name} (seed {seed}): resuming after epoch {}", trainer.history.len());
    }
    let mut meta = HashMap::from([
        ("ser.epochs".to_string(), plan.train.epochs.to_string()),
        ("ser.seed".to_string(), seed.to_string()),
        ("ser.resample_like_notebook".to_string(), plan.resample_like_notebook.to_string()),
        (checkpoint::META_RECIPE.to_string(), serde_json::to_string(plan.recipe)?),
    ]);
    if !plan.scaling.is_identity() {
        meta.insert(checkpoint::META_INPUT_SCALING.to_string(), serde_json::to_string(plan.scaling)?);
    }
    let members = plan.recipe.members();
    if k == 0 && members > 1 {
        let files: Vec<String> = (1..members).map(|m| member_file(plan.name, m)).collect();
        meta.insert(checkpoint::META_ENSEMBLE.to_string(), serde_json::to_string(&files)?);
    }
    let early_stopping = plan.train.patience.is_some();
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

/// Trains (or resumes) and evaluates both models of the ablation for one seed.
pub fn run_models(
    data: &DataSet,
    cfg: &StudyConfig,
    scaling: &InputScaling,
    seed: u64,
    dir: &Path,
    on_epoch: &mut dyn FnMut(&str, u64, &EpochLog),
) -> anyhow::Result<BTreeMap<String, ModelResult>> {
    let mut models = BTreeMap::new();
    for (name, dropout) in MODEL_NAMES {
        let recipe = Recipe { dropout, padding: cfg.padding, ..cfg.recipe.clone() };
        let plan = ModelPlan {
            name,
            model: ModelConfig { dropout, padding: cfg.padding },
            train: TrainConfig { seed, ..cfg.train.clone() },
            scaling,
            augment: recipe.feature_augment(scaling),
            recipe: &recipe,
            resample_like_notebook: cfg.data.resample_like_notebook,
        };
        models.insert(name.to_string(), train_model(data, plan, dir, on_epoch)?);
    }
    Ok(models)
}

/// Loads the data for one training seed: the split stays that of `cfg.seed`, the augmentation
/// noise follows the training seed.
pub fn load_for_seed(dir: &Path, cfg: &DataConfig, seed: u64) -> anyhow::Result<DataSet> {
    let data = load_dataset(dir, &DataConfig { noise_seed: seed, ..cfg.clone() })?;
    if data.train.is_empty() {
        anyhow::bail!("{}: the training split is empty", dir.display());
    }
    Ok(data)
}

/// Applies the recipe's input map, fitted on the training split, to every split.
pub fn scale_dataset(mut data: DataSet, recipe: &Recipe) -> (DataSet, InputScaling) {
    let scaling = recipe.fit_scaling(&mut data.train);
    scaling.apply_all(&mut data.val);
    if let Some(test) = &mut data.test {
        scaling.apply_all(test);
    }
    (data, scaling)
}

/// Loads the data and runs the whole study for every seed. Rerun on the same `out_dir`, it resumes
/// each model from its last finished epoch.
pub fn run_study(
    source: DataSource,
    cfg: StudyConfig,
    out_dir: &Path,
    mut on_epoch: impl FnMut(&str, u64, &EpochLog),
) -> anyhow::Result<StudyReport> {
    let start = Instant::now();
    let mut seed_runs = Vec::new();
    let mut first_data = None;
    let mut feature_seconds = 0.0;
    for k in 0..cfg.seeds.max(1) {
        let seed = cfg.train.seed + k as u64;
        let loading = Instant::now();
        let (data, scaling) = scale_dataset(load_for_seed(&source.dir, &cfg.recipe.data_config(&cfg.data), seed)?, &cfg.recipe);
        feature_seconds += loading.elapsed().as_secs_f64();
        if k == 0 {
            // The run folder appears only once there is data to train on.
            std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
            let settings = serde_json::to_vec_pretty(&(&source, &cfg))?;
            crate::fsio::write_atomic(&out_dir.join(RUN_SETTINGS), &settings).with_context(|| format!("writing {}", out_dir.display()))?;
        }
        let models = run_models(&data, &cfg, &scaling, seed, &seed_dir(out_dir, seed, k == 0), &mut on_epoch)?;
        seed_runs.push(SeedRun { seed, models });
        first_data.get_or_insert((data.layout, data.counts));
    }
    let (layout, counts) = first_data.expect("at least one seed ran");
    Ok(StudyReport {
        source,
        layout,
        models: seed_runs[0].models.clone(),
        seeds: summarize_seeds(&seed_runs),
        seed_runs,
        config: cfg,
        counts,
        feature_seconds,
        wall_seconds: start.elapsed().as_secs_f64(),
        ser_version: env!("CARGO_PKG_VERSION").into(),
    })
}
