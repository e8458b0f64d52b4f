//! Batch normalisation over a (B, N) batch (PyTorch's `nn.BatchNorm1d(N)` on 2-D input).
//!
//! Forward in training, per feature n over the batch:
//!   mu = mean_b x[b],  var = mean_b (x[b] - mu)^2  (biased),  rstd = 1 / sqrt(var + eps)
//!   xhat[b] = (x[b] - mu) * rstd,   y[b] = gamma * xhat[b] + beta
//!   running_mean <- (1 - momentum) running_mean + momentum mu
//!   running_var  <- (1 - momentum) running_var  + momentum var * B / (B - 1)   (unbiased)
//! Forward in evaluation uses the running statistics in place of mu and var.
//! Backward in training, through mu and var as functions of x (per feature, means over the batch):
//!   dbeta  += sum_b dy[b],   dgamma += sum_b dy[b] xhat[b],   g[b] = gamma dy[b]
//!   dx[b]   = rstd * (g[b] - mean_b' g[b'] - xhat[b] * mean_b' (g[b'] xhat[b']))
//! The two subtracted means are the paths through mu and through var.

use crate::nn::{Param, ParamRef};
use crate::Real;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMutD, Axis, Ix1, Zip};

/// Batch normalisation with learnable scale and shift and running statistics for evaluation.
pub struct BatchNorm1d<T> {
    /// gamma, (N)
    pub weight: Param<T, Ix1>,
    /// beta, (N)
    pub bias: Param<T, Ix1>,
    /// (N)
    pub running_mean: Array1<T>,
    /// (N), unbiased
    pub running_var: Array1<T>,
    pub num_batches_tracked: u64,
    pub eps: f64,
    pub momentum: f64,
    /// Training-mode cache: xhat (B, N) and rstd (N).
    cache: Option<(Array2<T>, Array1<T>)>,
}

impl<T: Real> BatchNorm1d<T> {
    /// gamma = 1, beta = 0, running mean 0, running var 1, eps 1e-5, momentum 0.1 (PyTorch's defaults).
    pub fn new(features: usize) -> Self {
        BatchNorm1d {
            weight: Param::new(Array1::ones(features)),
            bias: Param::new(Array1::zeros(features)),
            running_mean: Array1::zeros(features),
            running_var: Array1::ones(features),
            num_batches_tracked: 0,
            eps: 1e-5,
            momentum: 0.1,
            cache: None,
        }
    }

    /// x: (B, N) -> (B, N). Training normalises with batch statistics and updates the running ones;
    /// evaluation normalises with the running statistics.
    pub fn forward(&mut self, x: ArrayView2<T>, train: bool) -> Array2<T> {
        if !train {
            self.cache = None;
            let rstd = self.running_var.mapv(|v| T::one() / (v + T::c(self.eps)).sqrt());
            let xhat = (&x - &self.running_mean) * &rstd;
            return xhat * &self.weight.value + &self.bias.value;
        }
        let (mean, var) = self.batch_stats(x);
        let batch = T::c(x.nrows() as f64);
        let (keep, m) = (T::c(1.0 - self.momentum), T::c(self.momentum));
        let unbiased = batch / (batch - T::one());
        Zip::from(&mut self.running_mean).and(&mean).for_each(|r, &mu| *r = keep * *r + m * mu);
        Zip::from(&mut self.running_var).and(&var).for_each(|r, &v| *r = keep * *r + m * v * unbiased);
        self.num_batches_tracked += 1;
        self.normalise_and_cache(x, &mean, &var)
    }

    /// x: (B, N) -> (B, N) exactly as `forward(x, true)`, ready for backward, but leaving the running
    /// statistics alone (gradient checks call forward many times on one batch; the speaker
    /// adversary, which only ever trains, keeps none).
    pub fn forward_train_no_update(&mut self, x: ArrayView2<T>) -> Array2<T> {
        let (mean, var) = self.batch_stats(x);
        self.normalise_and_cache(x, &mean, &var)
    }

    /// x: (B, N) -> per-feature batch mean and biased variance, (N) each.
    fn batch_stats(&self, x: ArrayView2<T>) -> (Array1<T>, Array1<T>) {
        let (batch, features) = x.dim();
        assert_eq!(features, self.weight.value.len(), "BatchNorm1d features: expected {}, got {features}", self.weight.value.len());
        // PyTorch refuses this too: one value per feature has no spread, and B - 1 = 0 below.
        assert!(batch > 1, "BatchNorm1d in training needs more than 1 value per feature, got a batch of {batch}");
        let mean = x.mean_axis(Axis(0)).expect("batch > 1");
        let var = (&x - &mean).mapv(|d| d * d).mean_axis(Axis(0)).expect("batch > 1");
        (mean, var)
    }

    /// x: (B, N) -> y (B, N), caching xhat and rstd for backward.
    fn normalise_and_cache(&mut self, x: ArrayView2<T>, mean: &Array1<T>, var: &Array1<T>) -> Array2<T> {
        let rstd = var.mapv(|v| T::one() / (v + T::c(self.eps)).sqrt());
        let xhat = (&x - mean) * &rstd;
        let y = &xhat * &self.weight.value + &self.bias.value;
        self.cache = Some((xhat, rstd));
        y
    }

    /// dy: (B, N) -> dx: (B, N); adds into weight.grad and bias.grad.
    pub fn backward(&mut self, dy: ArrayView2<T>) -> Array2<T> {
        let (xhat, rstd) = self.cache.as_ref().expect("BatchNorm1d::backward needs a forward in training mode first");
        assert_eq!(dy.dim(), xhat.dim(), "BatchNorm1d dy shape");
        self.bias.grad += &dy.sum_axis(Axis(0));
        self.weight.grad += &(&dy * xhat).sum_axis(Axis(0));
        let g = &dy * &self.weight.value;
        let mean_g = g.mean_axis(Axis(0)).expect("batch > 1");
        let mean_g_xhat = (&g * xhat).mean_axis(Axis(0)).expect("batch > 1");
        ((&g - &mean_g) - xhat * &mean_g_xhat) * rstd
    }

    /// ("weight", (N)), ("bias", (N)).
    pub fn params(&mut self) -> Vec<(&'static str, ParamRef<'_, T>)> {
        vec![("weight", self.weight.as_ref()), ("bias", self.bias.as_ref())]
    }

    /// ("running_mean", (N)), ("running_var", (N)): state that is saved but not trained.
    pub fn buffers(&mut self) -> Vec<(&'static str, ArrayViewMutD<'_, T>)> {
        vec![
            ("running_mean", self.running_mean.view_mut().into_dyn()),
            ("running_var", self.running_var.view_mut().into_dyn()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Numbers from the PyTorch formulas:
    /// bn = nn.BatchNorm1d(2); x = torch.tensor([[1., 10.], [2., 20.], [6., 30.]]); bn(x)
    /// feature 0: mean 3, biased var 14/3, unbiased var 7; feature 1: mean 20, var 200/3, 100.
    #[test]
    fn training_forward_normalises_and_updates_running_stats_with_unbiased_variance() {
        let mut bn = BatchNorm1d::<f64>::new(2);
        let x = array![[1.0, 10.0], [2.0, 20.0], [6.0, 30.0]];
        let y = bn.forward(x.view(), true);
        let rstd0 = 1.0 / (14.0f64 / 3.0 + 1e-5).sqrt();
        let rstd1 = 1.0 / (200.0f64 / 3.0 + 1e-5).sqrt();
        let expected = array![[-2.0 * rstd0, -10.0 * rstd1], [-rstd0, 0.0], [3.0 * rstd0, 10.0 * rstd1]];
        assert!((&y - &expected).iter().all(|d| d.abs() < 1e-12), "{y} vs {expected}");
        assert!((&bn.running_mean - &array![0.3, 2.0]).iter().all(|d| d.abs() < 1e-12), "{}", bn.running_mean);
        assert!((&bn.running_var - &array![0.9 + 0.7, 0.9 + 10.0]).iter().all(|d| d.abs() < 1e-12), "{}", bn.running_var);
        assert_eq!(bn.num_batches_tracked, 1);

        let before = (bn.running_mean.clone(), bn.running_var.clone());
        assert_eq!(bn.forward_train_no_update(x.view()), y);
        assert_eq!((bn.running_mean.clone(), bn.running_var.clone()), before);
        assert_eq!(bn.num_batches_tracked, 1);
    }

    #[test]
    fn eval_forward_uses_running_stats() {
        let mut bn = BatchNorm1d::<f64>::new(2);
        bn.running_mean = array![1.0, -1.0];
        bn.running_var = array![4.0, 0.25];
        bn.weight.value = array![2.0, 1.0];
        bn.bias.value = array![0.5, 0.0];
        let y = bn.forward(array![[3.0, 0.0]].view(), false);
        let expected = [2.0 * 2.0 / (4.0f64 + 1e-5).sqrt() + 0.5, 1.0 / (0.25f64 + 1e-5).sqrt()];
        assert!((y[[0, 0]] - expected[0]).abs() < 1e-12 && (y[[0, 1]] - expected[1]).abs() < 1e-12, "{y}");
    }
}
