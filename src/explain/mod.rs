//! Why the model gave its answer: the chosen class's logit attributed to the model's input, from
//! the engine's own backward pass, and an occlusion check that needs no gradient.
//!
//! Everything here is in the model's input space: the 162 x K rows after the checkpoint's input
//! map (raw features for the study's recipe; mel in dB and every row standardised for the
//! improved one), zero-padded to [`MIN_FRAMES`](crate::nn::model::MIN_FRAMES) as the model scores a short clip alone.
//!
//! # Attribution
//! For the class logit `f` and input `x` with baseline `b`:
//! - integrated gradients (Sundararajan et al. 2017, the default):
//!   `a[r, t] = (x[r, t] - b[r, t]) * mean_i df/dx[r, t] (b + alpha_i (x - b))`, with the
//!   midpoint rule `alpha_i = (i + 1/2) / N`, `i = 0 .. N-1`. The N interpolated inputs run as
//!   one batch through one forward and one backward. Completeness: `sum a = f(x) - f(b)` up to
//!   the quadrature error, which [`Explanation::completeness_error`] reports.
//! - gradient x input: `a = (x - b) * df/dx (x)`, the same code with one point at `alpha = 1`.
//!
//! The gradients come from [`SerModel::input_gradient`]: the model as `Mode::Eval` scores it
//! (BatchNorm's running statistics, no dropout), no parameter gradient touched.
//!
//! The baseline is the training mean: 0 in every standardised row. A model fed unstandardised
//! rows (the study's) gets zeros, the value its training padding had.
//!
//! # Occlusion
//! The clip's frames in windows of `window` frames (the last may be shorter); each window in turn
//! replaced by the baseline, all windows as one evaluation batch; the drop in the class
//! probability is the window's score (positive: the window supported the class).
//!
//! # Ensembles
//! The attribution is of the members' mean logit, computed as the mean of the members'
//! attributions (integrated gradients are linear in the function explained, so the two agree
//! when the members share an input map, as the members of one training run do). Probabilities
//! (and so the predicted class and occlusion's drops) are the members' mean, as `ser predict`
//! averages them.

use crate::checkpoint::LoadedModel;
use crate::data::InputScaling;
use crate::features::{CHROMA, MEL, MFCC, RMS, ROWS, ZCR};
use crate::nn::model::{pad_batch, SerModel};
use crate::nn::softmax;
use ndarray::{s, Array2, Array3, ArrayView2, Axis};
use std::ops::Range;

/// How the gradient is turned into an attribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Integrated gradients from the baseline, midpoint rule.
    IntegratedGradients,
    /// The gradient at the input times (input - baseline).
    GradientXInput,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::IntegratedGradients => "integrated-gradients",
            Method::GradientXInput => "gradient-x-input",
        }
    }
}

/// The knobs of one explanation.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub method: Method,
    /// Integrated gradients' path points N.
    pub steps: usize,
    /// Occlusion window, in frames.
    pub window: usize,
}

/// 32 path points; occlusion windows of 8 frames (256 ms at hop 512 and 16 kHz, about a
/// syllable; the model's first LSTM step sees about 30 frames).
impl Default for Settings {
    fn default() -> Self {
        Settings { method: Method::IntegratedGradients, steps: 32, window: 8 }
    }
}

/// The feature groups, in row order, with the names the JSON uses.
pub const GROUPS: [(&str, Range<usize>); 5] = [("zcr", ZCR), ("chroma", CHROMA), ("mfcc", MFCC), ("rms", RMS), ("mel", MEL)];

/// One occlusion window: frames `start..end` replaced by the baseline.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OcclusionWindow {
    pub start: usize,
    pub end: usize,
    /// Class probability of the clip minus that of the occluded clip.
    pub drop: f32,
}

/// One clip's explanation for one class (mean over the ensemble's members).
#[derive(Clone, Debug)]
pub struct Explanation {
    pub class: usize,
    pub settings: Settings,
    /// (C) the class probabilities of the clip.
    pub probabilities: Vec<f32>,
    /// (162, K) attribution of the class logit to each input element; K is the clip's frames,
    /// at least [`MIN_FRAMES`](crate::nn::model::MIN_FRAMES).
    pub attribution: Array2<f32>,
    /// The class logit at the input and at the baseline.
    pub logit: f32,
    pub baseline_logit: f32,
    pub occlusion: Vec<OcclusionWindow>,
}

impl Explanation {
    /// K, the frames explained.
    pub fn frames(&self) -> usize {
        self.attribution.ncols()
    }

    /// (K) the attribution summed over the 162 rows, per frame (signed).
    pub fn per_frame(&self) -> Vec<f32> {
        self.attribution.sum_axis(Axis(0)).to_vec()
    }

    /// Each group's share of the absolute attribution mass (the five sum to 1), in [`GROUPS`] order.
    pub fn group_shares(&self) -> [f32; 5] {
        let mass = |rows: Range<usize>| self.attribution.slice(s![rows, ..]).iter().map(|v| f64::from(v.abs())).sum::<f64>();
        let total = mass(0..ROWS).max(f64::MIN_POSITIVE);
        GROUPS.map(|(_, rows)| (mass(rows) / total) as f32)
    }

    /// The sum of the attribution, in f64.
    pub fn total(&self) -> f64 {
        self.attribution.iter().map(|&v| f64::from(v)).sum()
    }

    /// `|sum a - (f(x) - f(b))| / |f(x) - f(b)|`: how far the attribution is from complete.
    pub fn completeness_error(&self) -> f64 {
        let gap = f64::from(self.logit) - f64::from(self.baseline_logit);
        (self.total() - gap).abs() / gap.abs().max(f64::MIN_POSITIVE)
    }

    /// (K) occlusion's drop for each frame: that of the window holding it.
    pub fn occlusion_per_frame(&self) -> Vec<f32> {
        self.occlusion.iter().flat_map(|w| std::iter::repeat_n(w.drop, w.end - w.start)).collect()
    }
}

/// The baseline's description for a model fed through `scaling`.
pub fn baseline_name(scaling: &InputScaling) -> &'static str {
    if scaling.mean.is_empty() {
        "zeros"
    } else {
        "training mean (0 in standardised rows)"
    }
}

/// Explains one clip's raw features (162, K) with a checkpoint's models (each applying its own
/// input map); `class` `None` explains the predicted class.
pub fn explain_clip(models: &mut [LoadedModel], features: ArrayView2<f32>, class: Option<usize>, settings: &Settings) -> Explanation {
    let inputs: Vec<Array2<f32>> = models.iter().map(|m| m.scaling.apply(features.to_owned())).collect();
    let mut members: Vec<&mut SerModel<f32>> = models.iter_mut().map(|m| &mut m.model).collect();
    explain(&mut members, &inputs, class, settings)
}

/// Explains the members' inputs (each (162, K), one per member; the same clip through each
/// member's input map) for `class`, or for the class of the highest mean probability.
pub fn explain(members: &mut [&mut SerModel<f32>], inputs: &[Array2<f32>], class: Option<usize>, settings: &Settings) -> Explanation {
    assert!(!members.is_empty() && members.len() == inputs.len(), "one input per member");
    assert!(settings.steps > 0 && settings.window > 0, "steps and window must be positive");
    let inputs: Vec<Array2<f32>> = inputs.iter().map(|x| pad_batch(&[x.view()]).0.index_axis_move(Axis(0), 0)).collect();
    let windows = occlusion_windows(inputs[0].ncols(), settings.window);

    // Occlusion first: its batch's first row is the clip itself, whose probabilities pick the class.
    let classes = members[0].classes();
    let mut occluded_probs = Array2::<f32>::zeros((windows.len() + 1, classes));
    for (model, x) in members.iter_mut().zip(&inputs) {
        let batch = occluded_batch(x.view(), &windows);
        let lengths = vec![x.ncols(); batch.dim().0];
        occluded_probs += &softmax(model.forward(batch.view(), &lengths, false).view());
    }
    occluded_probs /= members.len() as f32;
    let probabilities = occluded_probs.row(0).to_vec();
    let class = class.unwrap_or_else(|| crate::train::argmax_rows(&occluded_probs.slice(s![0..1, ..]).to_owned())[0]);
    assert!(class < classes, "class {class} out of range");
    let occlusion = windows
        .iter()
        .enumerate()
        .map(|(i, w)| OcclusionWindow { start: w.start, end: w.end, drop: probabilities[class] - occluded_probs[[i + 1, class]] })
        .collect();

    let mut attribution = Array2::<f32>::zeros(inputs[0].dim());
    let (mut logit, mut baseline_logit) = (0.0, 0.0);
    for (model, x) in members.iter_mut().zip(&inputs) {
        let member = attribute(model, x.view(), class, settings);
        attribution += &member.attribution;
        logit += member.logit;
        baseline_logit += member.baseline_logit;
    }
    let n = members.len() as f32;
    Explanation {
        class,
        settings: settings.clone(),
        probabilities,
        attribution: attribution / n,
        logit: logit / n,
        baseline_logit: baseline_logit / n,
        occlusion,
    }
}

/// One model's attribution of `class` for x (162, K), with the logits at x and at the baseline.
struct MemberAttribution {
    attribution: Array2<f32>,
    logit: f32,
    baseline_logit: f32,
}

/// x: (162, K) -> the attribution of one model's `class` logit, from one forward and one backward
/// over a batch of the path points, then x and the baseline (whose rows carry no gradient: they
/// are there for their logits).
fn attribute(model: &mut SerModel<f32>, x: ArrayView2<f32>, class: usize, settings: &Settings) -> MemberAttribution {
    let baseline = Array2::<f32>::zeros(x.raw_dim());
    let path: Vec<(f32, f32)> = match settings.method {
        Method::IntegratedGradients => {
            let n = settings.steps;
            (0..n).map(|i| ((i as f32 + 0.5) / n as f32, 1.0 / n as f32)).collect()
        }
        Method::GradientXInput => vec![(1.0, 1.0)],
    };
    let (rows, frames) = x.dim();
    let points = path.len();
    let diff = &x - &baseline;
    let mut batch = Array3::<f32>::zeros((points + 2, rows, frames));
    for (mut slot, &(alpha, _)) in batch.outer_iter_mut().zip(&path) {
        slot.assign(&(&baseline + &(&diff * alpha)));
    }
    batch.index_axis_mut(Axis(0), points).assign(&x);
    batch.index_axis_mut(Axis(0), points + 1).assign(&baseline);
    let mut dlogits = Array2::<f32>::zeros((points + 2, model.classes()));
    for (i, &(_, weight)) in path.iter().enumerate() {
        dlogits[[i, class]] = weight;
    }
    let lengths = vec![frames; points + 2];
    let (dx, logits) = model.input_gradient(batch.view(), &lengths, dlogits.view());
    // The weighted mean gradient along the path: the weights are in dlogits, so a plain sum.
    let mean_grad = dx.slice(s![..points, .., ..]).sum_axis(Axis(0));
    MemberAttribution { attribution: diff * mean_grad, logit: logits[[points, class]], baseline_logit: logits[[points + 1, class]] }
}

/// Frames 0..K in consecutive windows of `window` (the last one shorter when K is not a multiple).
fn occlusion_windows(frames: usize, window: usize) -> Vec<Range<usize>> {
    (0..frames).step_by(window).map(|start| start..(start + window).min(frames)).collect()
}

/// x: (162, K) -> (1 + W, 162, K): x, then x with each window's frames set to the baseline (0).
fn occluded_batch(x: ArrayView2<f32>, windows: &[Range<usize>]) -> Array3<f32> {
    let mut batch = Array3::<f32>::zeros((windows.len() + 1, x.nrows(), x.ncols()));
    for mut slot in batch.outer_iter_mut() {
        slot.assign(&x);
    }
    for (i, w) in windows.iter().enumerate() {
        batch.slice_mut(s![i + 1, .., w.clone()]).fill(0.0);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::model::MIN_FRAMES;

    #[test]
    fn windows_cover_every_frame_once() {
        assert_eq!(occlusion_windows(20, 8), vec![0..8, 8..16, 16..20]);
        assert_eq!(occlusion_windows(MIN_FRAMES, MIN_FRAMES), vec![0..MIN_FRAMES]);
    }

    #[test]
    fn occluded_batch_blanks_one_window_per_row() {
        let x = Array2::from_elem((ROWS, 10), 2.0f32);
        let batch = occluded_batch(x.view(), &[0..4, 4..10]);
        assert_eq!(batch.index_axis(Axis(0), 0), x);
        assert!(batch.slice(s![1, .., 0..4]).iter().all(|&v| v == 0.0) && batch.slice(s![1, .., 4..]).iter().all(|&v| v == 2.0));
        assert!(batch.slice(s![2, .., 4..]).iter().all(|&v| v == 0.0) && batch.slice(s![2, .., ..4]).iter().all(|&v| v == 2.0));
    }
}
