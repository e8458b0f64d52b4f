//! Rectified linear unit (PyTorch's `nn.ReLU`).
//!
//! Forward:  y = max(x, 0)
//! Backward: dx = dy where x > 0, else 0 (the derivative at exactly 0 is taken as 0, as PyTorch's
//!           threshold backward does).
//!
//! Reference: the fast path below is already the plain loop of these two lines.
//! Tests: gradient check in tests/gradcheck_layers.rs (`relu`).

use crate::nn::Mode;
use crate::Real;
use ndarray::{Array2, ArrayView2, Zip};

/// ReLU with its training-mode mask (x > 0) cached.
#[derive(Default)]
pub struct Relu {
    /// Where the training-mode input was positive, (B, N).
    positive: Option<Array2<bool>>,
}

impl Relu {
    pub fn new() -> Self {
        Relu { positive: None }
    }

    /// x: (B, N) -> (B, N). Caches where x > 0 in Train and EvalInputGrad mode.
    pub fn forward<T: Real>(&mut self, x: ArrayView2<T>, mode: Mode) -> Array2<T> {
        // A NaN passes through, and so does its gradient, as in PyTorch (threshold backward tests
        // `y <= 0`, which is false for NaN).
        let passes = |v: T| v > T::zero() || v.is_nan();
        self.positive = mode.caches().then(|| x.mapv(passes));
        x.mapv(|v| if passes(v) { v } else { T::zero() })
    }

    /// dy: (B, N) -> dx: (B, N).
    pub fn backward<T: Real>(&mut self, dy: ArrayView2<T>) -> Array2<T> {
        let positive = self.positive.as_ref().expect("Relu::backward needs a Train or EvalInputGrad forward first");
        assert_eq!(dy.dim(), positive.dim(), "Relu dy shape");
        Zip::from(&dy).and(positive).map_collect(|&g, &p| if p { g } else { T::zero() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gradient_is_zero_at_and_below_zero() {
        let mut relu = Relu::new();
        let y = relu.forward(array![[-1.0, 0.0, 2.0]].view(), Mode::Train);
        assert_eq!(y, array![[0.0, 0.0, 2.0]]);
        assert_eq!(relu.backward(array![[5.0, 5.0, 5.0]].view()), array![[0.0, 0.0, 5.0]]);
    }
}
