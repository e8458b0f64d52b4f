//! The training commands: `ablation` (the study's dropout ablation), `train` (one recipe over
//! seeds) and `recipe-ablation` (the ladder), with a progress bar per model.

use super::args::{check_counts, data_config, init_threads, DataArgs, RecipeArgs};
use crate::data::{resolve_data, DataSource};
use crate::experiments::ablation::{run_study, StudyConfig, RUN_SETTINGS};
use crate::experiments::recipes::{run_recipes, MODEL_NAME};
use crate::recipe::{ladder, Recipe, RunSettings};
use crate::train::EpochLog;
use anyhow::{anyhow, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(Args)]
pub struct AblationArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub training: RecipeArgs,
    /// Train each model with this many seeds (seed, seed + 1, ...) and compare them statistically.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Report folder (default: runs/ and the UTC time, `runs/YYYY-MM-DD_HH-MM-SS`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the interrupted run in this folder from its last finished epoch, with its settings.
    #[arg(long, conflicts_with = "out")]
    pub resume: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub training: RecipeArgs,
    /// Train this many seeds (seed, seed + 1, ...) and report mean and standard deviation.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Output folder (default: runs/ and the UTC time, `runs/YYYY-MM-DD_HH-MM-SS`); the first seed's checkpoint is `model.safetensors`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct RecipeAblationArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Epochs of every row (default: each recipe's, 80).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Only these rows of the ladder (0 = the study recipe, masked).
    #[arg(long, value_delimiter = ',')]
    pub rows: Option<Vec<usize>>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output folder (default: runs/ and the UTC time, `runs/YYYY-MM-DD_HH-MM-SS`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn epoch_bar(epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(epochs as u64);
    bar.set_style(ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg}").unwrap().progress_chars("=> "));
    bar
}

fn show_epoch(bar: &ProgressBar, current: &mut String, prefix: String, log: &EpochLog) {
    if *current != prefix {
        bar.reset();
        bar.set_prefix(prefix.clone());
        *current = prefix;
    }
    bar.set_position(log.epoch as u64);
    bar.set_message(format!("loss {:.3} train {:.3} val {:.3}", log.loss, log.train_accuracy, log.val_accuracy));
}

/// Runs recipe rows and writes their report; prints the headline figures.
fn run_recipe_rows(
    data: &DataArgs,
    rows: Vec<(String, Recipe)>,
    run: RunSettings,
    augment: bool,
    seeds: usize,
    out: Option<PathBuf>,
) -> Result<()> {
    let source = resolve_data(&data.data, &data.labels, &data.cache, run.seed)?;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(crate::report::timestamp()));
    eprintln!("data: {} ({})", source.folders(), source.chosen_by);
    let bar = epoch_bar(rows.iter().map(|(_, r)| r.epochs).max().unwrap_or(1));
    let mut current = String::new();
    let several = rows.len() > 1;
    let report = run_recipes(source, &data_config(data, run.seed, augment)?, &rows, &run, seeds, &out, |row, _, seed, log| {
        let prefix = if several { format!("row {row} seed {seed}") } else { format!("seed {seed}") };
        show_epoch(&bar, &mut current, prefix, log);
    })?;
    bar.finish_and_clear();
    let md = crate::report::recipes::write_report(&out, &report)?;
    for (i, row) in report.rows.iter().enumerate() {
        let s = row.summary.get("test").or(row.summary.get("val")).and_then(|m| m.get("accuracy_single_clip"));
        if let Some(s) = s {
            println!("{i}: {:<48} one clip at a time {:.1} % ± {:.1}", row.added, 100.0 * s.mean, 100.0 * s.std);
        }
    }
    // The last row's first seed: the recipe with every piece.
    let last = if report.rows.len() == 1 { out.clone() } else { out.join(format!("row-{}", report.rows.len() - 1)) };
    println!("checkpoint: {}", last.join(format!("{}.safetensors", MODEL_NAME)).display());
    println!("report: {}", md.display());
    Ok(())
}

pub fn train(a: TrainArgs) -> Result<()> {
    let t = &a.training;
    init_threads(t.threads)?;
    let recipe = t.recipe()?;
    check_counts(a.seeds, recipe.epochs, t.batch_size)?;
    run_recipe_rows(&a.data, vec![(format!("recipe {}", recipe.name), recipe)], t.run(), !t.no_augment, a.seeds, a.out)
}

pub fn recipe_ablation(a: RecipeAblationArgs) -> Result<()> {
    init_threads(a.threads)?;
    let chosen: Vec<usize> = a.rows.clone().unwrap_or_else(|| (0..Recipe::ladder().len()).collect());
    let mut rows = ladder::chosen_rows(&chosen).map_err(|reason| anyhow!("--rows: {reason}"))?;
    if let Some(e) = a.epochs {
        for (_, recipe) in &mut rows {
            recipe.epochs = e;
        }
    }
    check_counts(a.seeds, rows.iter().map(|(_, r)| r.epochs).min().unwrap_or(1), a.batch_size)?;
    let run = RunSettings { batch_size: a.batch_size, seed: a.seed, ..RunSettings::default() };
    run_recipe_rows(&a.data, rows, run, true, a.seeds, a.out)
}

pub fn ablation(a: AblationArgs) -> Result<()> {
    let (source, cfg, out) = match &a.resume {
        Some(dir) => {
            let saved = dir.join(RUN_SETTINGS);
            let text = std::fs::read(&saved).with_context(|| format!("{}: cannot resume (no settings of a run)", saved.display()))?;
            let (source, cfg): (DataSource, StudyConfig) =
                serde_json::from_slice(&text).with_context(|| format!("{}: not the settings of a run", saved.display()))?;
            eprintln!("resuming {} with its saved settings", dir.display());
            (source, cfg, dir.clone())
        }
        None => {
            let t = &a.training;
            let threads = init_threads(t.threads)?;
            let recipe = t.recipe()?;
            check_counts(a.seeds, recipe.epochs, t.batch_size)?;
            let source = resolve_data(&a.data.data, &a.data.labels, &a.data.cache, t.seed)?;
            let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(crate::report::timestamp()));
            let cfg = StudyConfig { data: data_config(&a.data, t.seed, !t.no_augment)?, run: t.run(), threads, seeds: a.seeds, recipe };
            (source, cfg, out)
        }
    };
    if a.resume.is_some() {
        init_threads(Some(cfg.threads))?;
    }
    eprintln!("data: {} ({})", source.folders(), source.chosen_by);
    let bar = epoch_bar(cfg.recipe.epochs);
    let mut current = String::new();
    let report = run_study(source, cfg, &out, |name, seed, log| show_epoch(&bar, &mut current, format!("{name} seed {seed}"), log))?;
    bar.finish_and_clear();
    crate::report::ablation::write_report(&out, &report).with_context(|| format!("writing the report in {}", out.display()))?;
    for (name, m) in &report.models {
        let test = m.test.as_ref().map_or("n/a".to_string(), |t| format!("{:.1} %", 100.0 * t.metrics.accuracy));
        println!("{name:>10}: train {:.1} %, test {test}", 100.0 * m.train.metrics.accuracy);
    }
    if report.seed_runs.len() > 1 {
        println!("{}", report.seeds.conclusion);
    }
    println!("report: {}", out.join("report.md").display());
    Ok(())
}
