//! Why the model gave its answer: the chosen class's logit attributed to the model's input, from
//! the engine's own backward pass, and an occlusion check that needs no gradient.
//!
//! Everything here is in the model's input space: the 162 x K rows after the checkpoint's input
//! map (raw features for the study's recipe; mel in dB and every row standardised for the
//! improved one; mel and MFCC rows also centred on the clip's own means for the robust one, where
//! the baseline of 0 is that mean), zero-padded to [`MIN_FRAMES`](crate::nn::model::MIN_FRAMES) as the model scores a short clip alone.
//!
//! # Attribution
//! For the class logit `f` and input `x` with baseline `b`:
//! - integrated gradients (Sundararajan et al. 2017, the default):
//!   `a[r, t] = (x[r, t] - b[r, t]) * int_0^1 df/dx[r, t] (b + alpha (x - b)) d alpha`, the
//!   integral as `sum_i w_i df/dx[r, t] (b + alpha_i (x - b))` over the N nodes of a
//!   [`Quadrature`] rule (N = `steps`, the gradient evaluations along the path; by default the
//!   graded midpoint rule `alpha_i = ((i + 1/2) / N)^2`, `w_i = 2 (i + 1/2) / N^2`). The N
//!   interpolated inputs run as one batch through one forward and one backward. Completeness:
//!   `sum a = f(x) - f(b)` up to the quadrature error, which [`Explanation::completeness_error`]
//!   reports.
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
    /// Integrated gradients from the baseline (the path integral by [`Settings::quadrature`]).
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

/// A rule for integrated gradients' path integral `int_0^1 g(alpha) d alpha` from N evaluations
/// of the gradient: N nodes `alpha_i` in [0, 1] (0 is the baseline, 1 the input) and their
/// weights `w_i`, which sum to 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quadrature {
    /// `alpha_i = (i + 1/2) / N`, `w_i = 1 / N`.
    Midpoint,
    /// `alpha_i = i / (N - 1)`, both ends on the path, `w_i = 1 / (N - 1)` halved at the ends;
    /// N = 1 is the midpoint rule.
    Trapezoid,
    /// The N Gauss-Legendre nodes and weights mapped to [0, 1] (exact for polynomials of degree
    /// up to 2N - 1).
    GaussLegendre,
    /// The midpoint rule after the substitution `alpha = u^2`: `alpha_i = ((i + 1/2) / N)^2`,
    /// `w_i = 2 (i + 1/2) / N^2`. The same integral with its nodes densest near the baseline.
    GradedMidpoint,
}

impl Quadrature {
    pub fn name(self) -> &'static str {
        match self {
            Quadrature::Midpoint => "midpoint",
            Quadrature::Trapezoid => "trapezoid",
            Quadrature::GaussLegendre => "gauss-legendre",
            Quadrature::GradedMidpoint => "graded-midpoint",
        }
    }

    /// The rule's `n` nodes `(alpha_i, w_i)`, in increasing `alpha`.
    pub fn nodes(self, n: usize) -> Vec<(f64, f64)> {
        assert!(n > 0, "a rule needs at least one node");
        let nf = n as f64;
        match self {
            Quadrature::Midpoint => (0..n).map(|i| ((i as f64 + 0.5) / nf, 1.0 / nf)).collect(),
            Quadrature::Trapezoid if n == 1 => Quadrature::Midpoint.nodes(1),
            Quadrature::Trapezoid => {
                let h = 1.0 / (nf - 1.0);
                (0..n).map(|i| (i as f64 * h, if i == 0 || i == n - 1 { h / 2.0 } else { h })).collect()
            }
            Quadrature::GaussLegendre => gauss_legendre(n),
            Quadrature::GradedMidpoint => (0..n)
                .map(|i| {
                    let u = (i as f64 + 0.5) / nf;
                    (u * u, 2.0 * u / nf)
                })
                .collect(),
        }
    }
}

/// The n-point Gauss-Legendre rule on [0, 1]: the roots t of the Legendre polynomial P_n by
/// Newton's method from `cos(pi (i + 3/4) / (n + 1/2))`, with weights `2 / ((1 - t^2) P_n'(t)^2)`
/// on [-1, 1], halved for [0, 1], where the node is `(1 - t) / 2`.
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    // (P_n(t), P_n'(t)) by the three-term recurrence.
    let legendre = |t: f64| {
        let (mut p0, mut p1) = (1.0, t);
        for k in 2..=n {
            let k = k as f64;
            (p0, p1) = (p1, ((2.0 * k - 1.0) * t * p1 - (k - 1.0) * p0) / k);
        }
        (p1, n as f64 * (t * p1 - p0) / (t * t - 1.0))
    };
    // The roots in decreasing t, so the nodes come out in increasing alpha.
    (0..n)
        .map(|i| {
            let mut t = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            for _ in 0..100 {
                let (p, dp) = legendre(t);
                t -= p / dp;
                if (p / dp).abs() < 1e-15 {
                    break;
                }
            }
            let (_, dp) = legendre(t);
            ((1.0 - t) / 2.0, 1.0 / ((1.0 - t * t) * dp * dp))
        })
        .collect()
}

/// The knobs of one explanation.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub method: Method,
    /// Integrated gradients' gradient evaluations along the path: the rule's nodes N.
    pub steps: usize,
    /// Integrated gradients' rule for the path integral.
    pub quadrature: Quadrature,
    /// Occlusion window, in frames.
    pub window: usize,
}

/// Integrated gradients with 128 gradient evaluations placed by the graded midpoint rule;
/// occlusion windows of 8 frames (256 ms at hop 512 and 16 kHz, about a syllable; the model's
/// first LSTM step sees about 30 frames).
///
/// Why these: the goal is an attribution complete to 1 % (`completeness_error` <= 0.01) for each
/// explanation. Along the path the gradient jumps wherever a ReLU or a max-pooling arg-max
/// switches, so every rule's error falls only about as 1/N, and higher-order rules buy nothing
/// (Gauss-Legendre is about the midpoint rule; the trapezoid rule, which spends two of its
/// nodes on the ends, is worse). In trained models the jumps crowd the first third of the path,
/// near the baseline, so the rule that puts its nodes there does best: on the 216 validation
/// clips and a trained checkpoint, at 32 evaluations the median error is 0.81 % against the
/// midpoint rule's 1.26 %, but only 57 % of the clips are within 1 %; at 128, 91 % are (90th
/// percentile 0.89 %), and on four other trained checkpoints 76 % to 99 %. 128 evaluations cost
/// about 4 times 32 and stay well inside the 100 ms budget for a 3 s clip on 2 cores (`ser
/// bench`). docs/explain.md has the table and the command that measured it.
impl Default for Settings {
    fn default() -> Self {
        Settings { method: Method::IntegratedGradients, steps: 128, quadrature: Quadrature::GradedMidpoint, window: 8 }
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
            settings.quadrature.nodes(settings.steps).into_iter().map(|(alpha, w)| (alpha as f32, w as f32)).collect()
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

    const RULES: [Quadrature; 4] = [Quadrature::Midpoint, Quadrature::Trapezoid, Quadrature::GaussLegendre, Quadrature::GradedMidpoint];

    fn integrate(rule: Quadrature, n: usize, f: impl Fn(f64) -> f64) -> f64 {
        rule.nodes(n).iter().map(|&(alpha, w)| w * f(alpha)).sum()
    }

    #[test]
    fn every_rule_has_n_increasing_nodes_in_the_interval_and_weights_summing_to_one() {
        for rule in RULES {
            for n in [1, 2, 3, 7, 32, 128, 4096] {
                let nodes = rule.nodes(n);
                assert_eq!(nodes.len(), n, "{rule:?}");
                assert!(nodes.iter().all(|&(a, w)| (0.0..=1.0).contains(&a) && w > 0.0), "{rule:?}, {n} nodes");
                assert!(nodes.windows(2).all(|p| p[0].0 < p[1].0), "{rule:?}, {n} nodes: not in increasing order");
                let total = integrate(rule, n, |_| 1.0);
                assert!((total - 1.0).abs() < 1e-12, "{rule:?}, {n} nodes: weights sum to {total}");
            }
        }
        assert_eq!(Quadrature::Trapezoid.nodes(3), vec![(0.0, 0.25), (0.5, 0.5), (1.0, 0.25)]);
        assert_eq!(Quadrature::GradedMidpoint.nodes(2), vec![(0.0625, 0.25), (0.5625, 0.75)]);
    }

    /// Gauss-Legendre with n nodes integrates `alpha^d` exactly up to d = 2n - 1.
    #[test]
    fn gauss_legendre_is_exact_up_to_degree_2n_minus_1() {
        assert_eq!(Quadrature::GaussLegendre.nodes(1), vec![(0.5, 1.0)]);
        for n in [1, 2, 3, 5, 8, 16] {
            for d in 0..2 * n as i32 {
                let got = integrate(Quadrature::GaussLegendre, n, |a| a.powi(d));
                assert!((got - 1.0 / f64::from(d + 1)).abs() < 1e-13, "{n} nodes: alpha^{d} integrates to {got}");
            }
        }
    }

    /// On a smooth integrand the second-order rules' errors fall by about 4 as N doubles, and
    /// Gauss-Legendre's is at rounding level.
    #[test]
    fn rules_converge_at_their_order_on_a_smooth_integrand() {
        let f = |a: f64| 3.0 * (-3.0 * a).exp();
        let exact = 1.0 - (-3.0f64).exp();
        for rule in [Quadrature::Midpoint, Quadrature::Trapezoid, Quadrature::GradedMidpoint] {
            let ratio = (integrate(rule, 16, f) - exact).abs() / (integrate(rule, 32, f) - exact).abs();
            assert!((3.8..4.4).contains(&ratio), "{rule:?}: error ratio {ratio} from 16 to 32 nodes");
        }
        assert!((integrate(Quadrature::GaussLegendre, 12, f) - exact).abs() < 1e-12);
    }
}
