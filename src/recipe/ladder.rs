//! Training recipes over several seeds: `ser train` (one recipe) and `ser recipe-ablation` (the
//! ladder of [`Recipe::ladder`], one row per piece added), with mean and standard deviation over
//! seeds and a paired test of each row against the one before it.

use super::Recipe;
use crate::data::pipeline::{DataConfig, DataCounts, DataSet, Layout};
use crate::fsio::write_atomic;
use crate::stats::{paired_test, summarize, PairedTest, Summary};
use crate::study::{load_for_seed, scale_dataset, seed_dir, split_of, train_model, DataSource, ModelPlan, ModelResult, SplitResult, SEED_METRICS};
use crate::train::{EpochLog, TrainConfig};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File stem of every checkpoint a recipe run writes.
pub const MODEL_NAME: &str = "model";

/// The ladder rows `chosen` (increasing indices into [`Recipe::ladder`]), each labelled with what
/// it adds to the chosen row before it: its own piece when that is the ladder row before it,
/// else every ladder row it stacks on top, e.g. "ladder rows 1-6 (last: + early stopping ...)".
pub fn chosen_rows(chosen: &[usize]) -> Result<Vec<(String, Recipe)>, String> {
    let ladder = Recipe::ladder();
    let mut rows = Vec::new();
    let mut previous: Option<usize> = None;
    for &i in chosen {
        let (added, recipe) = ladder.get(i).cloned().ok_or_else(|| format!("the ladder has rows 0 to {}", ladder.len() - 1))?;
        if let Some(p) = previous.filter(|&p| i <= p) {
            return Err(format!("rows must increase, got {i} after {p}"));
        }
        let first = previous.map_or(if i == 0 { 0 } else { 1 }, |p| p + 1);
        let label = if first == i { format!("ladder row {i}: {added}") } else { format!("ladder rows {first}-{i} (last: {added})") };
        rows.push((label, recipe));
        previous = Some(i);
    }
    Ok(rows)
}

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
    pub base: TrainConfig,
    pub seeds: Vec<u64>,
    pub counts: DataCounts,
    pub rows: Vec<RecipeRow>,
    pub wall_seconds: f64,
    pub ser_version: String,
}

/// The split whose single-clip accuracy rows are compared on: test when there is one.
fn headline_split(row: &RecipeRow) -> &'static str {
    if row.runs.iter().all(|r| r.test.is_some()) { "test" } else { "val" }
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
    base: &TrainConfig,
    seeds: usize,
    out_dir: &Path,
    mut on_epoch: impl FnMut(usize, &str, u64, &EpochLog),
) -> anyhow::Result<RecipeReport> {
    let start = Instant::now();
    let seed_list: Vec<u64> = (0..seeds.max(1) as u64).map(|k| base.seed + k).collect();
    let mut runs: Vec<Vec<ModelResult>> = vec![Vec::new(); rows.len()];
    let mut first = None;
    for (k, &seed) in seed_list.iter().enumerate() {
        // Consecutive rows that make the same speed copies share one load.
        let mut loaded: Option<(&[f64], DataSet)> = None;
        for (i, (_, recipe)) in rows.iter().enumerate() {
            if loaded.as_ref().is_none_or(|(factors, _)| *factors != recipe.speed_perturb.as_slice()) {
                loaded = Some((&recipe.speed_perturb, load_for_seed(&source.dir, &recipe.data_config(data_cfg), seed)?));
            }
            let raw = &loaded.as_ref().expect("loaded above").1;
            first.get_or_insert((raw.layout, raw.counts.clone()));
            let row_dir = if rows.len() == 1 { out_dir.to_path_buf() } else { out_dir.join(format!("row-{i}")) };
            let (data, scaling) = scale_dataset(raw.clone(), recipe);
            let plan = ModelPlan {
                name: MODEL_NAME,
                model: recipe.model_config(),
                train: TrainConfig { seed, ..recipe.train_config(base) },
                scaling: &scaling,
                augment: recipe.feature_augment(&scaling),
                recipe,
                resample_like_notebook: data_cfg.resample_like_notebook,
            };
            let dir = seed_dir(&row_dir, seed, k == 0);
            runs[i].push(train_model(&data, plan, &dir, &mut |name, seed, log| on_epoch(i, name, seed, log))?);
        }
    }
    let mut report_rows: Vec<RecipeRow> = Vec::new();
    for ((added, recipe), runs) in rows.iter().zip(runs) {
        let mut summary: BTreeMap<String, BTreeMap<String, Summary>> = BTreeMap::new();
        for split in ["train", "val", "test"] {
            for (metric, f) in SEED_METRICS {
                let v: Vec<f64> = runs.iter().filter_map(|r| split_of(r, split)).map(f).collect();
                if !v.is_empty() {
                    summary.entry(split.into()).or_default().insert(metric.into(), summarize(&v));
                }
            }
        }
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
    let (layout, counts) = first.expect("at least one seed ran");
    Ok(RecipeReport {
        source,
        layout,
        data: data_cfg.clone(),
        base: base.clone(),
        seeds: seed_list,
        counts,
        rows: report_rows,
        wall_seconds: start.elapsed().as_secs_f64(),
        ser_version: env!("CARGO_PKG_VERSION").into(),
    })
}

fn pct(s: Option<&Summary>) -> String {
    s.map_or("n/a".into(), |s| format!("{:.1} ± {:.1}", 100.0 * s.mean, 100.0 * s.std))
}

/// The report as Markdown: the ladder table, each seed's figures and the settings.
pub fn markdown(r: &RecipeReport) -> String {
    let mut o = String::new();
    let title = if r.rows.len() == 1 { format!("Recipe `{}`", r.rows[0].recipe.name) } else { "Recipe ablation".into() };
    let _ = writeln!(o, "# {title}\n");
    if r.source.synthetic {
        let _ = writeln!(o, "**SYNTHETIC DATA**: these figures come from ser's built-in corpus, not RAVDESS.\n");
    }
    let _ = writeln!(
        o,
        "Data: `{}` ({}), layout `{:?}`, split `{:?}` (seed {}), {} training examples ({} clips), {} validation, {} test clips. \
Seeds {:?} (initialisation, batch order, dropout, augmentation). Figures are mean ± sample standard deviation over the seeds; \
accuracies are per sample, eval mode.\n",
        r.source.dir.display(),
        r.source.chosen_by,
        r.layout,
        r.data.split,
        r.data.seed,
        r.counts.train_examples,
        r.counts.train_clips,
        r.counts.val_clips,
        r.counts.test_clips,
        r.seeds
    );
    let _ = writeln!(o, "| # | recipe | test, one clip at a time | test, batched | val, one clip at a time | test macro-F1 | Δ vs row above (p, paired t) | epochs | train time (s) |");
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, row) in r.rows.iter().enumerate() {
        let get = |split: &str, metric: &str| row.summary.get(split).and_then(|m| m.get(metric));
        let delta = row.versus_previous.as_ref().map_or("".into(), |t| format!("{:+.1} (p {:.3})", 100.0 * t.mean_difference, t.t_test_p));
        let _ = writeln!(
            o,
            "| {i} | {} | {} | {} | {} | {} | {delta} | {:.0} | {:.0} ± {:.0} |",
            row.added,
            pct(get("test", "accuracy_single_clip")),
            pct(get("test", "accuracy")),
            pct(get("val", "accuracy_single_clip")),
            get("test", "macro_f1").map_or("n/a".into(), |s| format!("{:.3} ± {:.3}", s.mean, s.std)),
            row.epochs_run.mean,
            row.train_seconds.mean,
            row.train_seconds.std
        );
    }
    let _ = writeln!(o, "\n## Each seed (single-clip test accuracy, %; best epoch under early stopping)\n");
    for (i, row) in r.rows.iter().enumerate() {
        let cells: Vec<String> = row
            .runs
            .iter()
            .map(|m| {
                let acc = m.test.as_ref().map_or("n/a".into(), |t: &SplitResult| format!("{:.1}", 100.0 * t.accuracy_single_clip));
                match m.best_epoch {
                    Some(b) => format!("seed {}: {acc} (epoch {b})", m.seed),
                    None => format!("seed {}: {acc}", m.seed),
                }
            })
            .collect();
        let _ = writeln!(o, "- row {i}: {}", cells.join(", "));
    }
    let _ = writeln!(o, "\n## Recipes\n");
    for (i, row) in r.rows.iter().enumerate() {
        let _ = writeln!(o, "- row {i}: `{}`", serde_json::to_string(&row.recipe).unwrap_or_default());
    }
    let _ = writeln!(o, "\nBatch size {}, gradient clipping {}. Wall time {:.0} s. ser {}.", r.base.batch_size, r.base.clip_norm, r.wall_seconds, r.ser_version);
    o
}

/// Writes `recipes.json` and `recipes.md` into `dir`.
pub fn write_report(dir: &Path, r: &RecipeReport) -> anyhow::Result<PathBuf> {
    let json = serde_json::to_string_pretty(r)?;
    write_atomic(&dir.join("recipes.json"), json.as_bytes()).with_context(|| format!("writing {}", dir.display()))?;
    let md = dir.join("recipes.md");
    write_atomic(&md, markdown(r).as_bytes()).with_context(|| format!("writing {}", md.display()))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_rows_say_every_ladder_row_they_add() {
        let ladder = Recipe::ladder();
        let rows = chosen_rows(&[0, 6, 7, 9]).unwrap();
        let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels[0], format!("ladder row 0: {}", ladder[0].0));
        assert_eq!(labels[1], format!("ladder rows 1-6 (last: {})", ladder[6].0));
        assert_eq!(labels[2], format!("ladder row 7: {}", ladder[7].0));
        assert_eq!(labels[3], format!("ladder rows 8-9 (last: {})", ladder[9].0));
        assert_eq!(rows[3].1, ladder[9].1, "each row is that ladder row's recipe");
        assert_eq!(chosen_rows(&[3]).unwrap()[0].0, format!("ladder rows 1-3 (last: {})", ladder[3].0));
        assert!(chosen_rows(&[2, 2]).unwrap_err().contains("must increase"));
        assert!(chosen_rows(&[99]).unwrap_err().contains("rows 0 to"));
    }
}
