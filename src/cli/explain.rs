//! `ser explain`: why a checkpoint gave its answer for one WAV file: the class logit attributed to
//! the model's input (integrated gradients by default), occlusion over time, as text, JSON and an
//! SVG picture.

use super::score::clip_features;
use crate::checkpoint::Checkpoint;
use crate::explain::{baseline_name, explain_clip, Explanation, Method, Settings, GROUPS};
use crate::report::explanation::plot_explanation;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExplainArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: the mean of the members' attributions.
    #[arg(long, required = true)]
    pub weights: Vec<PathBuf>,
    /// The WAV file (any rate; prepared as `ser predict` prepares it).
    pub clip: PathBuf,
    /// The class to explain (neutral, calm, happy, sad, angry, fearful, disgust, surprised);
    /// default: the predicted one.
    #[arg(long)]
    pub class: Option<String>,
    /// Write the picture here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value = "integrated-gradients")]
    pub method: Method,
    /// Integrated gradients' gradient evaluations along the path (the nodes of its graded
    /// midpoint rule; docs/explain.md says why 128).
    #[arg(long, default_value_t = Settings::default().steps as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub steps: u32,
    /// Occlusion window, in frames (32 ms each at 16 kHz).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub window: u32,
}

/// `ser explain`.
pub fn explain(a: ExplainArgs) -> Result<()> {
    let mut models = Checkpoint::load_ensemble(&a.weights)?;
    let classes = models[0].classes.clone();
    let class = match &a.class {
        Some(name) => Some(
            classes
                .iter()
                .position(|e| e.eq_ignore_ascii_case(name))
                .with_context(|| format!("--class {name}: not a class; the classes are {}", classes.join(", ")))?,
        ),
        None => None,
    };
    if models.iter().any(|m| m.scaling != models[0].scaling) {
        bail!("{}: the ensemble's members map their input differently, so their attributions are not in one space", a.weights[0].display());
    }
    let features = clip_features(&a.clip, &models)?;
    let settings = Settings { method: a.method, steps: a.steps as usize, window: a.window as usize, ..Settings::default() };
    let e = explain_clip(&mut models, features.view(), class, &settings);
    let baseline = baseline_name(&models[0].scaling);
    let file = a.clip.display().to_string();
    if let Some(svg) = &a.svg {
        let title = format!("{file}: why {} (p = {:.2})", classes[e.class], e.probabilities[e.class]);
        plot_explanation(svg, &title, &e, features.view(), &classes).with_context(|| format!("writing {}", svg.display()))?;
    }
    if a.json {
        let checkpoints: Vec<String> = models.iter().map(|m| m.path.display().to_string()).collect();
        println!("{}", serde_json::to_string_pretty(&json(&file, &checkpoints, baseline, &e, &classes))?);
    } else {
        for m in &models {
            println!("{}", m.description);
        }
        print!("{}", text(&file, baseline, &e, &classes));
    }
    Ok(())
}

/// The explanation as JSON; the keys are stable.
fn json(file: &str, checkpoints: &[String], baseline: &str, e: &Explanation, classes: &[String]) -> serde_json::Value {
    let named = |values: Vec<(&str, f32)>| {
        values.into_iter().map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>()
    };
    let predicted = e.probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    serde_json::json!({
        "file": file,
        "checkpoints": checkpoints,
        "class": classes[e.class],
        "predicted": classes[predicted],
        "probabilities": named(classes.iter().map(String::as_str).zip(e.probabilities.iter().copied()).collect()),
        "method": e.settings.method.name(),
        "steps": e.settings.steps,
        "quadrature": (e.settings.method == Method::IntegratedGradients).then(|| e.settings.quadrature.name()),
        "baseline": baseline,
        "frames": e.frames(),
        "logit": e.logit,
        "baseline_logit": e.baseline_logit,
        "attribution_sum": e.total(),
        "completeness_error": e.completeness_error(),
        "group_shares": named(GROUPS.iter().map(|(n, _)| *n).zip(e.group_shares()).collect()),
        "attribution_per_frame": e.per_frame(),
        "occlusion": { "window": e.settings.window, "windows": e.occlusion, "drop_per_frame": e.occlusion_per_frame() },
        "attribution": e.attribution.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
    })
}

/// A few lines for a person: the answer, how complete the attribution is, where it lies.
fn text(file: &str, baseline: &str, e: &Explanation, classes: &[String]) -> String {
    let mut out = format!("{file}: explaining {} (p = {:.3})\n", classes[e.class], e.probabilities[e.class]);
    let probs: Vec<String> = classes.iter().zip(&e.probabilities).map(|(n, p)| format!("{n} {p:.3}")).collect();
    out += &format!("probabilities: {}\n", probs.join(", "));
    // Integrated gradients' sum misses the logit gap by the quadrature error: say so when it is
    // large enough to matter, and what shrinks it.
    let (how, advice) = match e.settings.method {
        Method::IntegratedGradients => {
            (format!("{} steps, {} rule", e.settings.steps, e.settings.quadrature.name()), "more --steps shrink it")
        }
        Method::GradientXInput => ("one gradient".to_string(), "integrated gradients is complete, this is not"),
    };
    let advice = if e.completeness_error() > 0.01 { format!("; above 1 %: {advice}") } else { String::new() };
    out += &format!(
        "{} ({how}) from the baseline ({baseline}): logit {:.3} at the clip, {:.3} at the baseline, a gap of {:.3}; \
         attributions sum to {:.3} (completeness error {:.2} %{advice})\n",
        e.settings.method.name(),
        e.logit,
        e.baseline_logit,
        e.logit - e.baseline_logit,
        e.total(),
        100.0 * e.completeness_error()
    );
    let shares: Vec<String> = GROUPS.iter().zip(e.group_shares()).map(|((n, _), s)| format!("{n} {:.1} %", 100.0 * s)).collect();
    out += &format!("share of |attribution|: {}\n", shares.join(", "));
    let mut windows = e.occlusion.clone();
    windows.sort_by(|a, b| b.drop.total_cmp(&a.drop));
    let top: Vec<String> = windows.iter().take(3).map(|w| format!("frames {}..{} ({:+.3})", w.start, w.end, w.drop)).collect();
    out += &format!("occlusion, largest drops in p({}): {}\n", classes[e.class], top.join(", "));
    out
}
