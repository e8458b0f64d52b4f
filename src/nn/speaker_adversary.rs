//! Speaker-adversarial head (Ganin & Lempitsky 2015's domain-adversarial training, the training
//! speakers as the domains): a small classifier guesses which training speaker a clip came from
//! out of the pooled utterance vector, behind a gradient-reversal layer. The adversary learns to
//! tell speakers apart; the encoder receives the negated gradient, which pushes it toward pooled
//! vectors that do not. Training only: nothing of it is saved with the model or used to predict.
//!
//! Forward:  s (B, S) = fc2(ReLU(fc1(BN(pooled))))      fc1: 320 -> 64, fc2: 64 -> S speakers
//!           (the reversal layer is the identity going forward; BN standardises the pooled
//!           vector with the batch's statistics, without which the adversary learnt too slowly to
//!           push the encoder at all: it only ever runs in training, so it keeps no running ones)
//! Backward: the adversary's own gradients as usual; the gradient returned to the encoder is
//!           -λ dL/dpooled, the reversal's scaled negation.
//!
//! Reference: its layers' own. Tests: gradient check in tests/gradcheck_layers.rs
//! (`speaker_adversary_with_gradient_reversal`).

use crate::nn::{BatchNorm1d, Linear, Mode, ParamRef, Relu};
use crate::Real;
use ndarray::{Array2, ArrayView2};
use rand::Rng;

/// Hidden units of the adversary.
pub const ADVERSARY_HIDDEN: usize = 64;

/// Gradient reversal followed by a two-layer speaker classifier.
pub struct SpeakerAdversary<T> {
    pub bn: BatchNorm1d<T>,
    pub fc1: Linear<T>,
    pub relu: Relu,
    pub fc2: Linear<T>,
    /// λ: how strongly the reversed gradient pushes the encoder (0: the encoder is left alone).
    pub reversal: f64,
}

impl<T: Real> SpeakerAdversary<T> {
    /// PyTorch's default initialisation from `rng`, for `speakers` classes.
    pub fn new(inputs: usize, speakers: usize, rng: &mut impl Rng) -> Self {
        let fc1 = Linear::new(inputs, ADVERSARY_HIDDEN, rng);
        let fc2 = Linear::new(ADVERSARY_HIDDEN, speakers, rng);
        SpeakerAdversary { bn: BatchNorm1d::without_running_stats(inputs), fc1, relu: Relu::new(), fc2, reversal: 0.0 }
    }

    /// pooled: (B, I) -> speaker logits (B, S), caching what backward needs.
    pub fn forward(&mut self, pooled: ArrayView2<T>) -> Array2<T> {
        let h = self.bn.forward(pooled, Mode::Train);
        let h = self.fc1.forward(h.view(), Mode::Train);
        let h = self.relu.forward(h.view(), Mode::Train);
        self.fc2.forward(h.view(), Mode::Train)
    }

    /// dlogits: (B, S) -> the reversed gradient for the encoder, -λ dL/dpooled (B, I). Adds into
    /// the adversary's gradients.
    pub fn backward(&mut self, dlogits: ArrayView2<T>) -> Array2<T> {
        let d = self.fc2.backward(dlogits);
        let d = self.relu.backward(d.view());
        let scale = T::c(-self.reversal);
        let d = self.fc1.backward(d.view());
        self.bn.backward(d.view()).mapv(|v| v * scale)
    }

    /// The adversary's tensors: fc1 then fc2, weight then bias.
    pub fn params(&mut self) -> Vec<(String, ParamRef<'_, T>)> {
        let bn = self.bn.params().into_iter().map(|(n, p)| (format!("bn.{n}"), p));
        let fc1 = self.fc1.params().into_iter().map(|(n, p)| (format!("fc1.{n}"), p));
        let fc2 = self.fc2.params().into_iter().map(|(n, p)| (format!("fc2.{n}"), p));
        bn.chain(fc1).chain(fc2).collect()
    }

    pub fn zero_grad(&mut self) {
        for (_, mut p) in self.params() {
            p.grad.fill(T::zero());
        }
    }
}

/// The reversal strength after `progress` in [0, 1] of training: Ganin & Lempitsky's ramp
/// λ_max (2 / (1 + exp(-10 p)) - 1), so the encoder is left alone while the adversary is still
/// guessing and pushed fully once it has learnt.
pub fn reversal_ramp(max: f64, progress: f64) -> f64 {
    max * (2.0 / (1.0 + (-10.0 * progress.clamp(0.0, 1.0)).exp()) - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_rises_from_zero_to_its_maximum() {
        assert_eq!(reversal_ramp(0.5, 0.0), 0.0);
        assert!((reversal_ramp(0.5, 1.0) - 0.5 * (2.0 / (1.0 + (-10.0f64).exp()) - 1.0)).abs() < 1e-15);
        assert!(reversal_ramp(0.5, 1.0) > 0.4999);
        assert!(reversal_ramp(1.0, 0.1) > 0.46 && reversal_ramp(1.0, 0.1) < 0.47, "2/(1+e^-1) - 1 = 0.462");
    }
}
