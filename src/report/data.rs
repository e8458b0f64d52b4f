//! What every training report says about its data: the clips of each class in each part, and,
//! with several corpora, each corpus's figures.

use crate::data::corpus::ClassCount;
use crate::experiments::run::ModelResult;
use std::fmt::Write;

/// A table of the clips of each class in train, validation and test.
pub fn class_counts_table(out: &mut String, counts: &[ClassCount]) {
    let _ = writeln!(out, "| class | train clips | val clips | test clips |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for c in counts {
        let _ = writeln!(out, "| {} | {} | {} | {} |", c.class, c.train, c.val, c.test);
    }
    let _ = writeln!(out);
}

/// With several corpora: each model's validation and test accuracy per corpus (one clip at a
/// time and batched); nothing for one corpus.
pub fn per_corpus_table<'a>(out: &mut String, models: impl Iterator<Item = (String, &'a ModelResult)>) {
    let mut rows = Vec::new();
    for (name, m) in models {
        for (corpus, splits) in &m.per_corpus {
            for (split, r) in splits {
                rows.push(format!(
                    "| {name} | {corpus} | {split} | {} | {:.1} % | {:.1} % | {:.3} |",
                    r.metrics.n,
                    100.0 * r.accuracy_single_clip,
                    100.0 * r.metrics.accuracy,
                    r.metrics.macro_f1
                ));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Each corpus\n");
    let _ = writeln!(out, "| model | corpus | split | clips | one clip at a time | batched | macro-F1 |");
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(out);
}
