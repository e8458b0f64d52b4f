//! The report of a recipe run (`ser train`, `ser recipe-ablation`): `recipes.md` for people (the
//! ladder table, each seed, the recipes) and `recipes.json` for programs.

use super::data::{class_counts_table, per_corpus_table};
use crate::experiments::recipes::RecipeReport;
use crate::experiments::run::SplitResult;
use crate::fsio::write_atomic;
use crate::stats::Summary;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
        r.source.folders(),
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
    let _ = writeln!(o);
    let row_name = |i: usize| if r.rows.len() == 1 { r.rows[0].recipe.name.clone() } else { format!("row {i}") };
    per_corpus_table(
        &mut o,
        r.rows.iter().enumerate().flat_map(|(i, row)| row.runs.iter().map(move |m| (format!("{} seed {}", row_name(i), m.seed), m))),
    );
    let _ = writeln!(o, "## Clips per class\n");
    class_counts_table(&mut o, &r.counts.per_class);
    let _ = writeln!(o, "## Each seed (single-clip test accuracy, %; best epoch under early stopping)\n");
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
    let _ = writeln!(
        o,
        "\nBatch size {}, gradient clipping {}. Wall time {:.0} s. ser {}.",
        r.run.batch_size, r.run.clip_norm, r.wall_seconds, r.ser_version
    );
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
