//! Inverted dropout (PyTorch's `nn.Dropout(p)`).
//!
//! Forward in training: `m[i]` = 1/(1-p) with probability 1-p, else 0 (a fresh draw every call);
//!   y = x * m, so `E[y]` = x and evaluation needs no rescaling. In evaluation, y = x.
//! Backward: dx = dy * m (the same mask); after an `EvalInputGrad` forward, dx = dy.
//!
//! Reference: the fast path below is already the plain loop of these lines. A gradient check
//! needs the same mask at every evaluation: [`Dropout::reseed`] with one seed before each forward.
//! Tests: gradient check in tests/gradcheck_layers.rs (`dropout_with_a_fixed_mask`).

use crate::nn::Mode;
use crate::Real;
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Dropout with its own random stream and the last training-mode mask.
pub struct Dropout<T> {
    /// Probability of zeroing an element.
    pub p: f64,
    rng: StdRng,
    /// What backward multiplies dy by: the last training-mode mask (B, N), already scaled (each
    /// element 0 or 1/(1-p)), or `None` after an `EvalInputGrad` forward (the identity).
    mask: Option<Option<Array2<T>>>,
}

impl<T: Real> Dropout<T> {
    pub fn new(p: f64, seed: u64) -> Self {
        assert!((0.0..=1.0).contains(&p), "dropout probability has to be between 0 and 1, got {p}");
        Dropout { p, rng: StdRng::seed_from_u64(seed), mask: None }
    }

    /// Restarts the random stream.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// x: (B, N) -> (B, N). In training draws a new mask and caches it; in evaluation the identity.
    pub fn forward(&mut self, x: ArrayView2<T>, mode: Mode) -> Array2<T> {
        if !mode.is_train() {
            self.mask = mode.caches().then_some(None);
            return x.to_owned();
        }
        let keep = 1.0 - self.p;
        // p = 1 zeroes everything (PyTorch returns zeros rather than 0 * inf).
        let scale = if keep > 0.0 { T::c(1.0 / keep) } else { T::zero() };
        let rng = &mut self.rng;
        let mask = Array2::from_shape_simple_fn(x.raw_dim(), || if rng.gen::<f64>() < keep { scale } else { T::zero() });
        let y = &x * &mask;
        self.mask = Some(Some(mask));
        y
    }

    /// dy: (B, N) -> dx: (B, N).
    pub fn backward(&mut self, dy: ArrayView2<T>) -> Array2<T> {
        match self.mask.as_ref().expect("Dropout::backward needs a Train or EvalInputGrad forward first") {
            Some(mask) => {
                assert_eq!(dy.dim(), mask.dim(), "Dropout dy shape");
                &dy * mask
            }
            None => dy.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_three_quarters_scaled_by_four_thirds() {
        let mut dropout = Dropout::<f64>::new(0.25, 3);
        let x = Array2::from_elem((100, 400), 1.0);
        let y = dropout.forward(x.view(), Mode::Train);
        assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-15));
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
        // 40 000 draws: the standard error of the keep rate is ~0.002.
        assert!((kept - 0.75).abs() < 0.01, "keep rate {kept}");
        assert!((y.mean().unwrap() - 1.0).abs() < 0.02, "E[y] should stay x");
        let again = dropout.forward(x.view(), Mode::Train);
        assert_ne!(y, again, "every training forward draws a new mask");
        assert_eq!(dropout.forward(x.view(), Mode::Eval), x);
    }

    #[test]
    fn reseed_repeats_the_masks() {
        let x = Array2::from_elem((4, 8), 1.0f32);
        let mut dropout = Dropout::<f32>::new(0.5, 11);
        let first = dropout.forward(x.view(), Mode::Train);
        dropout.reseed(11);
        assert_eq!(dropout.forward(x.view(), Mode::Train), first);
    }
}
