//! The study's ablation: both models (with and without dropout) trained from the same initial
//! weights on the same batches for every seed, evaluated, and compared over the seeds.

use super::run::{load_data, seed_dir, split_of, summarize_runs, train_model, ModelPlan, ModelResult, SplitResult, SEED_METRICS};
use crate::data::pipeline::{DataConfig, DataCounts, DataSet, Layout};
use crate::data::{DataSource, InputScaling};
use crate::recipe::{Recipe, RunSettings};
use crate::stats::{paired_test, PairedTest, Summary};
use crate::train::EpochLog;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Settings of an ablation run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudyConfig {
    pub data: DataConfig,
    /// Batch size, clipping and the first seed.
    pub run: RunSettings,
    pub threads: usize,
    /// Training seeds: seed, seed + 1, ... (initialisation, batch order, dropout masks,
    /// augmentation noise); the split stays that of the first.
    pub seeds: usize,
    /// Padding, input map, augmentation and optimisation (the study's unless asked); each
    /// model's dropout switch overrides the recipe's own.
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
    /// The class names, in the models' output order.
    pub classes: Vec<String>,
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

/// `model -> split -> metric -> summary`, plus `comparison: split -> metric -> paired test` of
/// dropout against no dropout, and a sentence saying what they mean.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SeedSummary {
    #[serde(flatten)]
    pub models: BTreeMap<String, BTreeMap<String, BTreeMap<String, Summary>>>,
    pub comparison: BTreeMap<String, BTreeMap<String, PairedTest>>,
    pub conclusion: String,
}

/// Summarises the seed runs.
pub fn summarize_seeds(runs: &[SeedRun]) -> SeedSummary {
    let mut out = SeedSummary::default();
    let values = |model: &str, split: &str, f: fn(&SplitResult) -> f64| -> Vec<f64> {
        runs.iter().filter_map(|r| r.models.get(model).and_then(|m| split_of(m, split)).map(f)).collect()
    };
    for (model, _) in MODEL_NAMES {
        let summary = summarize_runs(runs.iter().filter_map(|r| r.models.get(model)));
        if !summary.is_empty() {
            out.models.insert(model.into(), summary);
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
        let recipe = Recipe { dropout, ..cfg.recipe.clone() };
        let plan = recipe.plan(&cfg.run, &cfg.data, seed);
        let model = ModelPlan { name, recipe: &recipe, plan: &plan, scaling };
        models.insert(name.to_string(), train_model(data, model, dir, on_epoch)?);
    }
    Ok(models)
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
        let seed = cfg.run.seed + k as u64;
        let loading = Instant::now();
        let data = load_data(&source.corpora, &cfg.recipe.plan(&cfg.run, &cfg.data, seed).data)?;
        let scaling = cfg.recipe.fit_scaling(&data.train)?;
        feature_seconds += loading.elapsed().as_secs_f64();
        if k == 0 {
            // The run folder appears only once there is data to train on.
            std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
            let settings = serde_json::to_vec_pretty(&(&source, &cfg))?;
            crate::fsio::write_atomic(&out_dir.join(RUN_SETTINGS), &settings).with_context(|| format!("writing {}", out_dir.display()))?;
        }
        let models = run_models(&data, &cfg, &scaling, seed, &seed_dir(out_dir, seed, k == 0), &mut on_epoch)?;
        seed_runs.push(SeedRun { seed, models });
        first_data.get_or_insert((data.layout, data.classes, data.counts));
    }
    let (layout, classes, counts) = first_data.expect("at least one seed ran");
    Ok(StudyReport {
        source,
        layout,
        models: seed_runs[0].models.clone(),
        seeds: summarize_seeds(&seed_runs),
        seed_runs,
        config: cfg,
        classes,
        counts,
        feature_seconds,
        wall_seconds: start.elapsed().as_secs_f64(),
        ser_version: env!("CARGO_PKG_VERSION").into(),
    })
}
