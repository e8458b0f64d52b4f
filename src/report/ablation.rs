//! The report folder of a study run: `report.md` for people, `report.json` for programs (stable
//! keys such as `models.dropout.test.accuracy`), and SVG pictures of the curves and confusions.

use super::data::{class_counts_table, per_corpus_table};
use super::plot::{plot_confusion, plot_training_curves, Curve};
use crate::experiments::ablation::StudyReport;
use crate::experiments::run::{ModelResult, SplitResult};
use crate::fsio::write_atomic;
use crate::recipe::Recipe;
use std::fmt::Write;
use std::path::Path;

/// The paper's reported test accuracies (its notebook metric, see the report's notes).
pub const PAPER_TEST_ACCURACY: [(&str, f64); 2] = [("dropout", 0.58), ("no_dropout", 0.57)];

fn pct(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{:.1} %", 100.0 * x)
    }
}

fn opt_pct(s: Option<&SplitResult>, f: impl Fn(&SplitResult) -> f64) -> String {
    s.map_or_else(|| "n/a".into(), |s| pct(f(s)))
}

/// Writes report.md, report.json and the pictures into `dir`.
pub fn write_report(dir: &Path, report: &StudyReport) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("report.json"), json.as_bytes())?;
    write_pictures(dir, report)?;
    write_atomic(&dir.join("report.md"), markdown(report).as_bytes())
}

fn write_pictures(dir: &Path, report: &StudyReport) -> std::io::Result<()> {
    // One line per model and seed; the seed joins the label only when there are several.
    let several = report.seed_runs.len() > 1;
    let mut runs: Vec<(String, &ModelResult)> = Vec::new();
    for run in &report.seed_runs {
        for (name, m) in &run.models {
            runs.push((if several { format!("{name} seed {}", run.seed) } else { name.clone() }, m));
        }
    }
    let series =
        |f: fn(&crate::train::EpochLog) -> f64| -> Vec<Vec<f64>> { runs.iter().map(|(_, m)| m.history.iter().map(f).collect()).collect() };
    let (losses, train_acc, val_acc) = (series(|l| l.loss), series(|l| l.train_accuracy), series(|l| l.val_accuracy));
    let loss_curves: Vec<Curve> = runs.iter().zip(&losses).map(|((n, _), v)| Curve { label: n, values: v }).collect();
    let labels: Vec<String> = ["train", "val"].iter().flat_map(|part| runs.iter().map(move |(n, _)| format!("{n} {part}"))).collect();
    let acc_curves: Vec<Curve> = labels.iter().zip(train_acc.iter().chain(&val_acc)).map(|(n, v)| Curve { label: n, values: v }).collect();
    plot_training_curves(&dir.join("curves.svg"), "Training curves", &loss_curves, &acc_curves)?;
    for (name, m) in &report.models {
        if let Some(test) = &m.test {
            plot_confusion(
                &dir.join(format!("confusion_{name}.svg")),
                &format!("{name}: test confusion"),
                &test.metrics.confusion,
                &report.classes.iter().map(String::as_str).collect::<Vec<_>>(),
            )?;
        }
    }
    Ok(())
}

fn confusion_table(out: &mut String, m: &[Vec<usize>], classes: &[String]) {
    let _ = writeln!(out, "| true \\ predicted | {} |", classes.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(classes.len()));
    for (i, row) in m.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(out, "| {} | {} |", classes[i], cells.join(" | "));
    }
}

fn class_table(out: &mut String, s: &SplitResult, classes: &[String]) {
    let _ = writeln!(out, "| class | precision | recall | F1 |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (c, name) in classes.iter().enumerate() {
        let m = &s.metrics;
        let _ = writeln!(out, "| {name} | {:.3} | {:.3} | {:.3} |", m.precision[c], m.recall[c], m.f1[c]);
    }
}

/// The human-readable report.
pub fn markdown(r: &StudyReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Dropout ablation: CNN + BiLSTM + MLP speech emotion recognition\n");
    if r.source.synthetic {
        let _ = writeln!(
            o,
            "> **SYNTHETIC DATA.** No RAVDESS folder was found (`--data`, `$SER_DATA`, `./data/ravdess`), so this run used \
ser's built-in synthetic emotional-speech corpus ({}). Its numbers say the pipeline works, not how well emotions are \
recognised in real speech. Get RAVDESS (CC BY-NC-SA 4.0) with `ser fetch-ravdess` or point `--data` at a folder of \
RAVDESS WAVs.\n",
            r.source.folders()
        );
    }
    let _ = writeln!(
        o,
        "Data: `{}` ({}), layout `{:?}`, padding `{}`.\n",
        r.source.folders(),
        r.source.chosen_by,
        r.layout,
        r.config.recipe.padding.name()
    );
    if (Recipe { padding: Recipe::study().padding, ..r.config.recipe.clone() }) != Recipe::study() {
        let _ = writeln!(
            o,
            "Recipe `{}` (not the study's; both models share it, only dropout differs): `{}`.\n",
            r.config.recipe.name,
            serde_json::to_string(&r.config.recipe).unwrap_or_default()
        );
    }
    let _ = writeln!(o, "## Results (per-sample accuracy, eval mode)\n");
    let _ = writeln!(
        o,
        "| model | train | val | test | test, one clip at a time | test macro-F1 | notebook metric (test) | paper (test) | train time |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, m) in &r.models {
        let paper = PAPER_TEST_ACCURACY.iter().find(|(n, _)| n == name).map_or("".into(), |(_, a)| pct(*a));
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} | {paper} | {:.0} s |",
            pct(m.train.metrics.accuracy),
            opt_pct(m.val.as_ref(), |s| s.metrics.accuracy),
            opt_pct(m.test.as_ref(), |s| s.metrics.accuracy),
            opt_pct(m.test.as_ref(), |s| s.accuracy_single_clip),
            m.test.as_ref().map_or("n/a".into(), |s| format!("{:.3}", s.metrics.macro_f1)),
            m.test.as_ref().map_or("n/a".into(), |s| format!("{:.1}", s.metrics.notebook_metric)),
            m.train_seconds,
        );
    }
    if r.models.values().all(|m| m.test.is_none()) {
        let _ = writeln!(
            o,
            "\nNo test split: the data folder has `training/` and `validation/` but no `testing/`, so test figures are absent."
        );
    }
    let _ = writeln!(o, "\n![training curves](curves.svg)\n");
    write_dropout_effect(&mut o, r);
    write_seeds(&mut o, r);
    let _ = writeln!(o, "## How these numbers relate to the paper's\n");
    let _ = writeln!(
        o,
        "- **Accuracy metric.** The paper reports 58 % (dropout) and 57 % (no dropout). Its notebook divides the number of \
correct answers by the number of *batches* of 100, not by the number of clips (its 58.5 is 234 correct of 360 = 65 %). \
The column \"notebook metric\" reproduces that figure; every other accuracy here is per sample.\n\
- **Eval mode.** The notebook never switched to eval mode, so its test figures had dropout active and BatchNorm using \
batch statistics. Here every evaluation runs in eval mode (no dropout, running statistics).\n\
- **Sample rate.** The notebook loaded the 16 kHz clips with librosa's default 22 050 Hz and told every feature function \
16 000. This run: {}.\n\
- **Padding.** The study's BiLSTM and pooling run over the zero padding of each batch, so a clip's answer depends on \
which clips share its batch. \"test, one clip at a time\" scores each clip alone; `--padding masked` removes the \
dependence.\n\
- **Split.** The paper used its own random 60/15/25 file split; this run's split comes from seed {} (`--layout`, `--split`). {}\n",
        if r.config.data.resample_like_notebook {
            "the notebook's input (`--resample-like-notebook`)"
        } else {
            "features at the clips' own 16 kHz (the paper's described pipeline)"
        },
        r.config.data.seed,
        speaker_note(r)
    );
    for (name, m) in &r.models {
        write_model_details(&mut o, name, m, &r.classes);
    }
    per_corpus_table(&mut o, r.models.iter().map(|(n, m)| (n.clone(), m)));
    let c = &r.counts;
    let _ = writeln!(o, "## Data\n");
    let _ = writeln!(
        o,
        "WAV files found: {}; not RAVDESS speech (skipped): {}; unusable (skipped): {}.\n\
Clips: train {} (x{} with augmentation = {} examples), validation {}, test {}. Feature cache: {} hits, {} computed.\n",
        c.files_found,
        c.not_speech_skipped,
        c.unusable.len(),
        c.train_clips,
        if r.config.data.augment { 4 } else { 1 },
        c.train_examples,
        c.val_clips,
        c.test_clips,
        c.cache_hits,
        c.cache_misses
    );
    class_counts_table(&mut o, &c.per_class);
    for (file, reason) in c.unusable.iter().take(20) {
        let _ = writeln!(o, "- skipped `{file}`: {reason}");
    }
    let (run, recipe) = (&r.config.run, &r.config.recipe);
    let _ = writeln!(o, "## Settings\n");
    let _ = writeln!(
        o,
        "epochs {}, batch {}, Adam lr {}, gradient-norm clip {}, seed {}, threads {}, VAD `{:?}`, split `{:?}`, augmentation {}.\n\
Features {:.1} s, wall time {:.1} s, ser {}.",
        recipe.epochs,
        run.batch_size,
        recipe.lr,
        run.clip_norm,
        run.seed,
        r.config.threads,
        r.config.data.vad,
        r.config.data.split,
        r.config.data.augment,
        r.feature_seconds,
        r.wall_seconds,
        r.ser_version
    );
    o
}

fn write_seeds(o: &mut String, r: &StudyReport) {
    if r.seed_runs.len() < 2 {
        return;
    }
    let seeds: Vec<String> = r.seed_runs.iter().map(|s| s.seed.to_string()).collect();
    let _ = writeln!(o, "## Over {} seeds ({})\n", seeds.len(), seeds.join(", "));
    let _ = writeln!(o, "Mean +- standard deviation [95 % interval of the mean]; each seed changes the initialisation, batch order, dropout masks and augmentation noise, not the split.\n");
    let _ = writeln!(o, "| model | split | accuracy | accuracy, one clip at a time | macro-F1 |");
    let _ = writeln!(o, "|---|---|---:|---:|---:|");
    let cell = |s: Option<&crate::stats::Summary>| {
        s.map_or("n/a".into(), |s| {
            format!("{:.1} +- {:.1} [{:.1}, {:.1}]", 100.0 * s.mean, 100.0 * s.std, 100.0 * s.ci95[0], 100.0 * s.ci95[1])
        })
    };
    for (model, splits) in &r.seeds.models {
        for (split, metrics) in splits {
            let _ = writeln!(
                o,
                "| {model} | {split} | {} | {} | {} |",
                cell(metrics.get("accuracy")),
                cell(metrics.get("accuracy_single_clip")),
                metrics.get("macro_f1").map_or("n/a".into(), |s| format!("{:.3} +- {:.3}", s.mean, s.std))
            );
        }
    }
    let _ = writeln!(o, "\nDropout against no dropout, paired by seed:\n");
    let _ = writeln!(o, "| split | metric | mean difference | dropout better / worse | paired t-test p | sign test p | permutation p |");
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|");
    for (split, tests) in &r.seeds.comparison {
        for (metric, t) in tests {
            let _ = writeln!(
                o,
                "| {split} | {metric} | {:+.2} points | {} / {} | {:.3} | {:.3} | {:.3} |",
                100.0 * t.mean_difference,
                t.wins,
                t.losses,
                t.t_test_p,
                t.sign_test_p,
                t.permutation_p
            );
        }
    }
    let _ = writeln!(o, "\n**Conclusion.** {}\n", r.seeds.conclusion);
}

fn write_dropout_effect(o: &mut String, r: &StudyReport) {
    let (Some(d), Some(n)) = (r.models.get("dropout"), r.models.get("no_dropout")) else { return };
    let _ = writeln!(o, "## What dropout changed\n");
    let diff = |f: &dyn Fn(&ModelResult) -> Option<f64>| match (f(d), f(n)) {
        (Some(a), Some(b)) => format!("{:+.1} points", 100.0 * (a - b)),
        _ => "n/a".into(),
    };
    let gap = |m: &ModelResult| m.val.as_ref().map(|v| m.train.metrics.accuracy - v.metrics.accuracy);
    let _ = writeln!(
        o,
        "Dropout minus no dropout: test accuracy {}, test accuracy one clip at a time {}, validation accuracy {}; \
train-validation accuracy gap {} (dropout) vs {} (no dropout). One seed decides little: differences of a few \
points are within seed-to-seed variation (see `--seeds`).\n",
        diff(&|m| m.test.as_ref().map(|s| s.metrics.accuracy)),
        diff(&|m| m.test.as_ref().map(|s| s.accuracy_single_clip)),
        diff(&|m| m.val.as_ref().map(|s| s.metrics.accuracy)),
        gap(d).map_or("n/a".into(), |g| format!("{:.1} points", 100.0 * g)),
        gap(n).map_or("n/a".into(), |g| format!("{:.1} points", 100.0 * g)),
    );
}

fn speaker_note(r: &StudyReport) -> &'static str {
    match (r.layout, r.config.data.split) {
        (crate::data::pipeline::Layout::Split, _) => "The folder's own training/validation/testing split was used as it is.",
        (_, crate::data::pipeline::SplitKind::Speakers) => {
            "This run split by speaker: no actor is heard in more than one of train, validation and test, so the test \
figures measure emotions in voices the model has never heard."
        }
        _ => {
            "A random file split puts every actor's voice in training and test alike (RAVDESS has 60 clips per actor), so \
the model can lean on recognising the voice and the recording rather than the emotion; `--split speakers` keeps each \
actor in one part and measures generalisation to new speakers."
        }
    }
}

fn write_model_details(o: &mut String, name: &str, m: &ModelResult, classes: &[String]) {
    let Some(test) = &m.test else { return };
    let _ = writeln!(o, "## {name}: test confusion matrix\n\n![{name} confusion](confusion_{name}.svg)\n");
    confusion_table(o, &test.metrics.confusion, classes);
    let _ = writeln!(o);
    class_table(o, test, classes);
    let _ = writeln!(o, "\nmacro-F1 {:.3}; checkpoint `{}`.\n", test.metrics.macro_f1, m.checkpoint.display());
}
