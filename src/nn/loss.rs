//! Softmax and mean softmax cross-entropy with label smoothing (PyTorch's
//! `F.cross_entropy(logits, labels, label_smoothing=eps)`) or any soft targets (mixup's).
//!
//! Forward, for clip b with K classes, log-softmax computed stably by subtracting the row max:
//! ```text
//! logp[b, k] = z[b, k] - m_b - log sum_j exp(z[b, j] - m_b),   m_b = max_j z[b, j]
//! q[b, k]    = (1 - eps) [k = label_b] + eps / K                (the smoothed target)
//! L          = (1/B) sum_b sum_k -q[b, k] logp[b, k]
//! ```
//! Backward: since sum_k `q[b, k]` = 1, dL/`dz[b, k]` = (softmax(z)[b, k] - `q[b, k]`) / B; the same
//! holds for any target rows q that sum to 1 (mixup's λ q_i + (1 - λ) q_j).
//!
//! Weighted (class balance): L = (1/B) sum_b w_b sum_k -q[b, k] logp[b, k], whose gradient is
//! each row's scaled by its weight: dL/`dz[b, k]` = w_b (softmax(z)[b, k] - `q[b, k]`) / B.
//!
//! Consistency across views of one clip (AugMix's Jensen-Shannon term, Hendrycks et al. 2020,
//! for any number of views): rows b that share a clip g (n_g of them) should give the same
//! answer, so each is pulled towards the group's mean distribution M_g:
//! ```text
//! p[b]   = softmax(z[b]),   M_g = (1/n_g) sum_{b in g} p[b]
//! J      = (1/B) sum_g sum_{b in g} KL(p[b] || M_g) = (1/B) sum_b sum_k p[b, k] (logp[b, k] - log M_g[k])
//! ```
//! (n_g times the Jensen-Shannon divergence of the group's rows; a clip alone in its batch adds 0.)
//! Backward, first to the probabilities, then through the softmax:
//! ```text
//! g[b, k]     = dJ/dp[b, k] = (logp[b, k] - log M_g[k]) / B
//! dJ/dz[b, k] = p[b, k] (g[b, k] - sum_j p[b, j] g[b, j])
//! ```
//! (the terms through M_g sum to `-(1/B) sum_{b in g} p[b, k] / (n_g M_g[k])` = -1/B for every k,
//! a constant that the softmax's Jacobian removes).
//!
//! Consistency towards an anchor (the clip's original, say): each row b of clip g is pulled
//! towards the distribution of the clip's anchor row a_g, which the term holds fixed (a teacher
//! that the term does not move; rows of a clip without an anchor add 0):
//! ```text
//! q_g = softmax(z[a_g])  (a constant),   A = (1/B) sum_b KL(q_g || p[b]) = (1/B) sum_b sum_k q_g[k] (log q_g[k] - logp[b, k])
//! dA/dz[b, k] = (p[b, k] - q_g[k]) / B     (0 at the anchor row itself)
//! ```
//! (the cross-entropy towards soft targets q_g, above, less the targets' entropy, which does not
//! move with z).
//!
//! Reference: the fast path below is already the plain loop of these lines.
//! Tests: gradient check in tests/gradcheck_layers.rs (`softmax_cross_entropy_*`,
//! `view_consistency_*`, `anchored_consistency_*`).

use crate::Real;
use ndarray::{Array2, ArrayView2};

/// logits: (B, K) -> probabilities (B, K), each row summing to 1.
pub fn softmax<T: Real>(logits: ArrayView2<T>) -> Array2<T> {
    let mut probs = logits.to_owned();
    for mut row in probs.rows_mut() {
        let max = row.fold(T::neg_infinity(), |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    probs
}

/// logits: (B, K) -> log-probabilities (B, K), computed stably: z - max - log sum exp(z - max).
pub fn log_softmax<T: Real>(logits: ArrayView2<T>) -> Array2<T> {
    let mut logp = logits.to_owned();
    for mut row in logp.rows_mut() {
        let max = row.fold(T::neg_infinity(), |m, &v| m.max(v));
        let log_sum_exp = row.iter().map(|&v| (v - max).exp()).sum::<T>().ln();
        row.mapv_inplace(|v| v - max - log_sum_exp);
    }
    logp
}

/// logits: (B, K), labels: (B) -> (mean loss, dL/dlogits (B, K)). `label_smoothing` = 0 is plain
/// cross-entropy.
pub fn softmax_cross_entropy<T: Real>(logits: ArrayView2<T>, labels: &[usize], label_smoothing: f64) -> (T, Array2<T>) {
    let (batch, classes) = logits.dim();
    assert_eq!(labels.len(), batch, "one label per row of logits");
    softmax_cross_entropy_soft(logits, label_targets(labels, classes, label_smoothing).view())
}

/// The smoothed one-hot rows q (B, K) of `labels`: (1 - eps) [k = label_b] + eps / K.
pub fn label_targets<T: Real>(labels: &[usize], classes: usize, label_smoothing: f64) -> Array2<T> {
    smoothed_targets(labels, &vec![T::one(); labels.len()], classes, label_smoothing)
}

/// The smoothed one-hot rows q (B, K) of `labels`, row b scaled by `weights[b]`:
/// `weights[b]` * ((1 - eps) [k = label_b] + eps / K). Mixup adds two of them with weights λ, 1 - λ.
pub fn smoothed_targets<T: Real>(labels: &[usize], weights: &[T], classes: usize, label_smoothing: f64) -> Array2<T> {
    assert!(labels.iter().all(|&l| l < classes), "labels must be < {classes}, got {labels:?}");
    assert!((0.0..=1.0).contains(&label_smoothing), "label_smoothing must be in [0, 1], got {label_smoothing}");
    let on_label = T::c(1.0 - label_smoothing);
    let everywhere = T::c(label_smoothing / classes as f64);
    let mut q = Array2::zeros((labels.len(), classes));
    for ((mut row, &label), &w) in q.rows_mut().into_iter().zip(labels).zip(weights) {
        row.fill(w * everywhere);
        row[label] += w * on_label;
    }
    q
}

/// logits: (B, K), targets: (B, K) rows summing to 1 -> (mean loss, dL/dlogits (B, K)).
pub fn softmax_cross_entropy_soft<T: Real>(logits: ArrayView2<T>, targets: ArrayView2<T>) -> (T, Array2<T>) {
    // A weight of exactly 1 leaves every product as it was: the same numbers as unweighted.
    softmax_cross_entropy_weighted(logits, targets, &vec![T::one(); logits.nrows()])
}

/// logits: (B, K), targets: (B, K) rows summing to 1, weights: (B) -> (loss (1/B) sum_b w_b CE_b,
/// dL/dlogits (B, K)).
pub fn softmax_cross_entropy_weighted<T: Real>(logits: ArrayView2<T>, targets: ArrayView2<T>, weights: &[T]) -> (T, Array2<T>) {
    let batch = logits.nrows();
    assert_eq!(targets.dim(), logits.dim(), "one target row per row of logits");
    assert_eq!(weights.len(), batch, "one weight per row of logits");
    let inv_batch = T::one() / T::c(batch as f64);
    let mut loss = T::zero();
    let mut dlogits = Array2::zeros(logits.dim());
    let logp = log_softmax(logits);
    for (((lp, q), mut dz), &w) in logp.rows().into_iter().zip(targets.rows()).zip(dlogits.rows_mut()).zip(weights) {
        for ((&logp, &target), d) in lp.iter().zip(q).zip(dz.iter_mut()) {
            loss -= w * target * logp;
            *d = w * (logp.exp() - target) * inv_batch;
        }
    }
    (loss * inv_batch, dlogits)
}

/// logits: (B, K), clips: (B) the clip each row is a view of -> (J above, dJ/dlogits (B, K)).
/// Rows of a clip need not be adjacent.
pub fn view_consistency<T: Real>(logits: ArrayView2<T>, clips: &[usize]) -> (T, Array2<T>) {
    let (batch, classes) = logits.dim();
    assert_eq!(clips.len(), batch, "one clip per row of logits");
    let inv_batch = T::one() / T::c(batch as f64);
    let logp = log_softmax(logits);
    // Each clip's mean distribution M_g, found by the clip's first row.
    let mut means: Vec<(usize, Vec<T>, usize)> = Vec::new();
    for (row, &clip) in logp.rows().into_iter().zip(clips) {
        let slot = match means.iter().position(|m| m.0 == clip) {
            Some(i) => i,
            None => {
                means.push((clip, vec![T::zero(); classes], 0));
                means.len() - 1
            }
        };
        let (_, sum, count) = &mut means[slot];
        for (s, &l) in sum.iter_mut().zip(row) {
            *s += l.exp();
        }
        *count += 1;
    }
    let mut loss = T::zero();
    let mut dlogits = Array2::zeros((batch, classes));
    for ((row, &clip), mut dz) in logp.rows().into_iter().zip(clips).zip(dlogits.rows_mut()) {
        let (_, sum, count) = means.iter().find(|m| m.0 == clip).expect("every clip has a mean");
        let inv_count = T::one() / T::c(*count as f64);
        let g: Vec<T> = row.iter().zip(sum).map(|(&l, &s)| (l - (s * inv_count).ln()) * inv_batch).collect();
        let p_dot_g = row.iter().zip(&g).map(|(&l, &gk)| l.exp() * gk).sum::<T>();
        loss += p_dot_g;
        for ((d, &l), &gk) in dz.iter_mut().zip(row).zip(&g) {
            *d = l.exp() * (gk - p_dot_g);
        }
    }
    (loss, dlogits)
}

/// logits: (B, K), clips: (B) the clip each row is a view of, anchors: (B) whether each row is its
/// clip's anchor -> (A above, dA/dlogits (B, K)), each anchor's distribution held fixed. A clip
/// with several anchor rows is pulled towards its first.
pub fn anchored_consistency<T: Real>(logits: ArrayView2<T>, clips: &[usize], anchors: &[bool]) -> (T, Array2<T>) {
    let (batch, classes) = logits.dim();
    assert!(clips.len() == batch && anchors.len() == batch, "one clip and one anchor flag per row of logits");
    let inv_batch = T::one() / T::c(batch as f64);
    let logp = log_softmax(logits);
    let mut loss = T::zero();
    let mut dlogits = Array2::zeros((batch, classes));
    for ((row, &clip), mut dz) in logp.rows().into_iter().zip(clips).zip(dlogits.rows_mut()) {
        let Some(anchor) = (0..batch).find(|&a| anchors[a] && clips[a] == clip) else { continue };
        for ((&l, &lq), d) in row.iter().zip(logp.row(anchor)).zip(dz.iter_mut()) {
            let q = lq.exp();
            loss += q * (lq - l) * inv_batch;
            *d = (l.exp() - q) * inv_batch;
        }
    }
    (loss, dlogits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn uniform_logits_cost_ln_of_the_class_count() {
        let logits = Array2::<f64>::from_elem((4, 8), 3.0);
        for smoothing in [0.0, 0.1] {
            let (loss, _) = softmax_cross_entropy(logits.view(), &[0, 3, 7, 5], smoothing);
            assert!((loss - 8.0f64.ln()).abs() < 1e-12, "{loss}");
        }
    }

    /// F.cross_entropy(torch.tensor([[1., 2., 3.]]), torch.tensor([2]), label_smoothing=0.3)
    /// = 0.7 * -`logp[2]` + 0.1 * sum_k -`logp[k]` with logp = z - logsumexp(z).
    #[test]
    fn label_smoothing_mixes_the_label_with_the_uniform_target() {
        let lse = (1.0f64.exp() + 2.0f64.exp() + 3.0f64.exp()).ln();
        let expected = 0.7 * (lse - 3.0) + 0.1 * (3.0 * lse - 6.0);
        let (loss, _) = softmax_cross_entropy(array![[1.0, 2.0, 3.0]].view(), &[2], 0.3);
        assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
    }

    #[test]
    fn huge_logits_stay_finite_and_softmax_rows_sum_to_one() {
        let logits = array![[1000.0f32, 0.0, -1000.0], [5.0, 5.0, 5.0]];
        let (loss, grad) = softmax_cross_entropy(logits.view(), &[0, 1], 0.0);
        assert!(loss.is_finite() && grad.iter().all(|g| g.is_finite()));
        assert!((loss - 3.0f32.ln() / 2.0).abs() < 1e-6, "{loss}");
        for row in softmax(logits.view()).rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
    }

    /// A view costs its KL divergence from its clip's anchor; the anchor and a clip without one
    /// get no gradient.
    #[test]
    fn anchored_consistency_is_the_kl_from_the_anchor_and_leaves_the_anchor_alone() {
        // Rows 0 and 2 are views of clip 4 anchored at row 2; row 1 is clip 9 with no anchor.
        let logits = array![[0.0f64, 1.0], [3.0, -1.0], [2.0, 0.0]];
        let (loss, grad) = anchored_consistency(logits.view(), &[4, 9, 4], &[false, false, true]);
        let p = softmax(logits.view());
        let kl: f64 = (0..2).map(|k| p[[2, k]] * (p[[2, k]].ln() - p[[0, k]].ln())).sum();
        assert!((loss - kl / 3.0).abs() < 1e-12, "{loss} vs {}", kl / 3.0);
        assert!(grad.row(1).iter().chain(grad.row(2)).all(|g| g.abs() < 1e-15), "{grad}");
        assert!((grad[[0, 0]] - (p[[0, 0]] - p[[2, 0]]) / 3.0).abs() < 1e-15, "{grad}");
        let (agree, _) = anchored_consistency(array![[1.0f64, 2.0], [1.0, 2.0]].view(), &[0, 0], &[true, false]);
        assert!(agree.abs() < 1e-15, "{agree}");
    }

    /// Views that agree cost nothing; views that disagree cost n_g times their Jensen-Shannon
    /// divergence, (1/B) sum KL(p || M): two one-hot-like views of one clip cost about 2 ln 2 / B.
    #[test]
    fn view_consistency_is_zero_for_agreeing_views_and_jensen_shannon_otherwise() {
        let agree = array![[1.0f64, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, 0.0, 0.0]];
        let (loss, grad) = view_consistency(agree.view(), &[4, 4, 9]);
        assert!(loss.abs() < 1e-15 && grad.iter().all(|g| g.abs() < 1e-15), "{loss}");
        let apart = array![[60.0f64, 0.0], [0.0, 60.0], [1.0, 2.0]];
        let (loss, _) = view_consistency(apart.view(), &[0, 0, 1]);
        assert!((loss - 2.0 * 2.0f64.ln() / 3.0).abs() < 1e-12, "{loss}");
    }
}
