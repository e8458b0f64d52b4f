//! A robustness run's report: `robustness.md` (accuracy under each corruption beside the clean
//! figure), `robustness.json` (the same, with stable keys) and `robustness.svg` (accuracy against
//! severity, one line per corruption).

use super::plot::{plot_accuracy_by_severity, Curve};
use crate::experiments::robustness::RobustnessReport;
use crate::fsio::write_atomic;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The report as markdown.
pub fn markdown(r: &RobustnessReport) -> String {
    let mut o = String::new();
    let checkpoints: Vec<String> = r.checkpoints.iter().map(|p| format!("`{}`", p.display())).collect();
    let _ = writeln!(o, "# Robustness to channels\n");
    let _ = writeln!(
        o,
        "Checkpoint{} {} ({} band{}), {} clips of `{}` (part: {}), each scored alone; test corruption seed {}; babble of {} talker{}.\n",
        if checkpoints.len() > 1 { "s" } else { "" },
        checkpoints.join(", "),
        r.band,
        if r.enhancement == "none" { String::new() } else { format!(", {} enhancement", r.enhancement) },
        r.clips,
        r.data.display(),
        r.part,
        r.seed,
        r.babble_talkers,
        if r.babble_talkers == 1 { "" } else { "s" }
    );
    let _ = writeln!(o, "| corruption | severity | accuracy | change (points) | macro-F1 |\n|---|---|---:|---:|---:|");
    let _ = writeln!(o, "| clean | | {:.1} % | | {:.3} |", 100.0 * r.clean_accuracy, r.clean_macro_f1);
    for c in &r.conditions {
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} % | {:+.1} | {:.3} |",
            c.corruption,
            c.severity,
            100.0 * c.accuracy,
            c.change_points,
            c.macro_f1
        );
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "\n{} clips could not be read and were left out:\n", r.skipped.len());
        for (file, reason) in &r.skipped {
            let _ = writeln!(o, "- `{file}`: {reason}");
        }
    }
    let _ = writeln!(o, "\n![accuracy against severity](robustness.svg)\n\n{:.0} s.", r.seconds);
    o
}

/// The lines of the picture: per corruption, the clean accuracy then each severity in order,
/// labelled with the severities.
fn severity_curves(r: &RobustnessReport) -> Vec<(String, Vec<f64>)> {
    let mut curves: Vec<(String, Vec<String>, Vec<f64>)> = Vec::new();
    for c in &r.conditions {
        match curves.iter_mut().find(|(kind, _, _)| *kind == c.corruption) {
            Some((_, severities, values)) => {
                severities.push(c.severity.clone());
                values.push(c.accuracy);
            }
            None => curves.push((c.corruption.clone(), vec![c.severity.clone()], vec![r.clean_accuracy, c.accuracy])),
        }
    }
    curves.into_iter().map(|(kind, severities, values)| (format!("{kind} ({})", severities.join(" / ")), values)).collect()
}

/// Writes `robustness.json`, `robustness.md` and `robustness.svg` into `dir`; returns the markdown's path.
pub fn write_report(dir: &Path, r: &RobustnessReport) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(r)?;
    write_atomic(&dir.join("robustness.json"), json.as_bytes()).with_context(|| format!("writing {}", dir.display()))?;
    let curves = severity_curves(r);
    let curves: Vec<Curve> = curves.iter().map(|(label, values)| Curve { label, values }).collect();
    let svg = dir.join("robustness.svg");
    plot_accuracy_by_severity(&svg, "accuracy under channel corruptions", &curves).with_context(|| format!("writing {}", svg.display()))?;
    let md = dir.join("robustness.md");
    write_atomic(&md, markdown(r).as_bytes()).with_context(|| format!("writing {}", md.display()))?;
    Ok(md)
}
