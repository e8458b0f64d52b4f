//! Recipes over several seeds: `ser train` (one recipe) and `ser recipe-ablation` (the ladder of
//! [`crate::recipe::ladder`], one row per piece added), with mean and standard deviation over
//! seeds and a paired test of each row against the one before it.

use super::run::{load_data, seed_dir, split_of, summarize_runs, train_model, ModelPlan, ModelResult};
use crate::data::pipeline::{DataConfig, DataCounts, DataSet, Layout};
use crate::data::DataSource;
use crate::recipe::{Recipe, RunSettings};
use crate::stats::{paired_test, summarize, PairedTest, Summary};
use crate::train::EpochLog;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// File stem of every checkpoint a recipe run writes.
pub const MODEL_NAME: &str = "model";

/// One recipe trained with every seed.
#[derive(Clone, Debug, Serialize)]
pub struct RecipeRow {
    /// What this row adds to the one before.
    pub added: String,
    pub recipe: Recipe,
    pub runs: Vec<ModelResult>,
    /// `split -> metric -> summary over seeds`.
    pub summary: BTreeMap<String, BTreeMap<String, Summary>>,
    pub train_seconds: Summary,
    /// Epochs trained (fewer than the recipe's under early stopping).
    pub epochs_run: Summary,
    /// Single-clip test (else validation) accuracy of this row minus the row before, paired by seed.
    pub versus_previous: Option<PairedTest>,
}

/// Everything `recipes.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct RecipeReport {
    pub source: DataSource,
    pub layout: Layout,
    pub data: DataConfig,
    pub run: RunSettings,
    pub seeds: Vec<u64>,
    /// The class names, in the models' output order.
    pub classes: Vec<String>,
    pub counts: DataCounts,
    pub rows: Vec<RecipeRow>,
    pub wall_seconds: f64,
    pub ser_version: String,
}

/// The split whose single-clip accuracy rows are compared on: test when there is one.
fn headline_split(row: &RecipeRow) -> &'static str {
    if row.runs.iter().all(|r| r.test.is_some()) {
        "test"
    } else {
        "val"
    }
}

fn headline(row: &RecipeRow) -> Vec<f64> {
    let split = headline_split(row);
    row.runs.iter().filter_map(|r| split_of(r, split)).map(|s| s.accuracy_single_clip).collect()
}

/// Trains every recipe of `rows` with `seeds` seeds from `base.seed` on the same data and split.
/// Row i's checkpoints go to `out_dir` (one row) or `out_dir/row-<i>`, one folder per seed after
/// the first; rerun on the same folder, each model resumes from its last finished epoch.
pub fn run_recipes(
    source: DataSource,
    data_cfg: &DataConfig,
    rows: &[(String, Recipe)],
    run: &RunSettings,
    seeds: usize,
    out_dir: &Path,
    mut on_epoch: impl FnMut(usize, &str, u64, &EpochLog),
) -> anyhow::Result<RecipeReport> {
    let start = Instant::now();
    let seed_list: Vec<u64> = (0..seeds.max(1) as u64).map(|k| run.seed + k).collect();
    let mut runs: Vec<Vec<ModelResult>> = vec![Vec::new(); rows.len()];
    let mut first = None;
    for (k, &seed) in seed_list.iter().enumerate() {
        // Consecutive rows that make the same speed copies share one load.
        let mut loaded: Option<(&[f64], DataSet)> = None;
        for (i, (_, recipe)) in rows.iter().enumerate() {
            let plan = recipe.plan(run, data_cfg, seed);
            if loaded.as_ref().is_none_or(|(factors, _)| *factors != recipe.speed_perturb.as_slice()) {
                loaded = Some((&recipe.speed_perturb, load_data(&source.corpora, &plan.data)?));
            }
            let data = &loaded.as_ref().expect("loaded above").1;
            first.get_or_insert((data.layout, data.classes.clone(), data.counts.clone()));
            let row_dir = if rows.len() == 1 { out_dir.to_path_buf() } else { out_dir.join(format!("row-{i}")) };
            let scaling = recipe.fit_scaling(&data.train)?;
            let model = ModelPlan { name: MODEL_NAME, recipe, plan: &plan, scaling: &scaling };
            let dir = seed_dir(&row_dir, seed, k == 0);
            runs[i].push(train_model(data, model, &dir, &mut |name, seed, log| on_epoch(i, name, seed, log))?);
        }
    }
    let mut report_rows: Vec<RecipeRow> = Vec::new();
    for ((added, recipe), runs) in rows.iter().zip(runs) {
        let summary = summarize_runs(runs.iter());
        let mut row = RecipeRow {
            added: added.clone(),
            recipe: recipe.clone(),
            train_seconds: summarize(&runs.iter().map(|r| r.train_seconds).collect::<Vec<_>>()),
            epochs_run: summarize(&runs.iter().map(|r| r.history.len() as f64).collect::<Vec<_>>()),
            runs,
            summary,
            versus_previous: None,
        };
        if let Some(prev) = report_rows.last() {
            row.versus_previous = Some(paired_test(&headline(&row), &headline(prev)));
        }
        report_rows.push(row);
    }
    let (layout, classes, counts) = first.expect("at least one seed ran");
    Ok(RecipeReport {
        source,
        layout,
        data: data_cfg.clone(),
        run: run.clone(),
        seeds: seed_list,
        classes,
        counts,
        rows: report_rows,
        wall_seconds: start.elapsed().as_secs_f64(),
        ser_version: env!("CARGO_PKG_VERSION").into(),
    })
}
