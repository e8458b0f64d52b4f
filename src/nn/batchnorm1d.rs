//! Batch normalisation over a (B, N) batch (PyTorch's `nn.BatchNorm1d(N)` on 2-D input).
//!
//! Forward in training, per feature n over the batch:
//! ```text
//! mu = mean_b x[b],  var = mean_b (x[b] - mu)^2  (biased),  rstd = 1 / sqrt(var + eps)
//! xhat[b] = (x[b] - mu) * rstd,   y[b] = gamma * xhat[b] + beta
//! running_mean <- (1 - momentum) running_mean + momentum mu
//! running_var  <- (1 - momentum) running_var  + momentum var * B / (B - 1)   (unbiased)
//! ```
//! Forward in evaluation uses the running statistics in place of mu and var. Backward after an
//! `EvalInputGrad` forward: mu and var are constants, so `dx[b] = gamma * rstd * dy[b]` (and no
//! parameter gradient).
//! Backward in training, through mu and var as functions of x (per feature, means over the batch):
//! ```text
//! dbeta  = sum_b dy[b],   dgamma = sum_b dy[b] xhat[b],   g[b] = gamma dy[b]
//! dx[b]  = rstd * (g[b] - mean_b' g[b'] - xhat[b] * mean_b' (g[b'] xhat[b']))
//! ```
//! The two subtracted means are the paths through mu and through var: dmu/`dx[b]` = 1/B and
//! dvar/`dx[b]` = 2 (`x[b]` - mu) / B.
//!
//! Without running statistics ([`BatchNorm1d::without_running_stats`], PyTorch's
//! `track_running_stats=False`) both modes normalise with the batch's own.
//!
//! Reference: [`reference`](mod@reference), per feature and clip. Fast path: the same formulas as whole-array
//! operations (ndarray broadcasting). Tests: fast = reference in tests/nn_reference.rs
//! (`batchnorm1d_*`); gradient check in tests/gradcheck_layers.rs (`batchnorm1d_training_mode`).

use crate::nn::{Mode, Param, ParamRef};
use crate::Real;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMutD, Axis, Ix1, Zip};

/// The formulas as loops, one feature at a time.
pub mod reference {
    use crate::Real;
    use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

    /// x: (B, N) -> per-feature batch mean and biased variance, (N) each.
    pub fn batch_stats<T: Real>(x: ArrayView2<T>) -> (Array1<T>, Array1<T>) {
        let (batch, features) = x.dim();
        let count = T::c(batch as f64);
        let (mut mean, mut var) = (Array1::zeros(features), Array1::zeros(features));
        for n in 0..features {
            for b in 0..batch {
                mean[n] += x[[b, n]];
            }
            mean[n] /= count;
            for b in 0..batch {
                var[n] += (x[[b, n]] - mean[n]) * (x[[b, n]] - mean[n]);
            }
            var[n] /= count;
        }
        (mean, var)
    }

    /// x: (B, N) normalised with `mean` and `var` (N), then scaled by gamma and shifted by beta
    /// (N) -> y: (B, N). Training passes the batch's statistics, evaluation the running ones.
    pub fn forward<T: Real>(
        x: ArrayView2<T>,
        mean: ArrayView1<T>,
        var: ArrayView1<T>,
        gamma: ArrayView1<T>,
        beta: ArrayView1<T>,
        eps: f64,
    ) -> Array2<T> {
        let (batch, features) = x.dim();
        let mut y = Array2::zeros((batch, features));
        for n in 0..features {
            let rstd = T::one() / (var[n] + T::c(eps)).sqrt();
            for b in 0..batch {
                y[[b, n]] = gamma[n] * (x[[b, n]] - mean[n]) * rstd + beta[n];
            }
        }
        y
    }

    /// The running statistics (N) after one training batch x: (B, N).
    pub fn updated_running_stats<T: Real>(
        running_mean: ArrayView1<T>,
        running_var: ArrayView1<T>,
        x: ArrayView2<T>,
        momentum: f64,
    ) -> (Array1<T>, Array1<T>) {
        let (mean, var) = batch_stats(x);
        let batch = x.nrows() as f64;
        let (keep, m, unbiased) = (T::c(1.0 - momentum), T::c(momentum), T::c(batch / (batch - 1.0)));
        let new_mean = Array1::from_shape_fn(mean.len(), |n| keep * running_mean[n] + m * mean[n]);
        let new_var = Array1::from_shape_fn(var.len(), |n| keep * running_var[n] + m * var[n] * unbiased);
        (new_mean, new_var)
    }

    /// Training-mode backward. x: (B, N), gamma: (N), dy: (B, N) ->
    /// (dx (B, N), dgamma (N), dbeta (N)).
    pub fn backward<T: Real>(x: ArrayView2<T>, gamma: ArrayView1<T>, eps: f64, dy: ArrayView2<T>) -> (Array2<T>, Array1<T>, Array1<T>) {
        let (batch, features) = x.dim();
        let count = T::c(batch as f64);
        let (mean, var) = batch_stats(x);
        let mut dx = Array2::zeros((batch, features));
        let (mut dgamma, mut dbeta) = (Array1::zeros(features), Array1::zeros(features));
        for n in 0..features {
            let rstd = T::one() / (var[n] + T::c(eps)).sqrt();
            let xhat = |b: usize| (x[[b, n]] - mean[n]) * rstd;
            let (mut mean_g, mut mean_g_xhat) = (T::zero(), T::zero());
            for b in 0..batch {
                dbeta[n] += dy[[b, n]];
                dgamma[n] += dy[[b, n]] * xhat(b);
                mean_g += gamma[n] * dy[[b, n]] / count;
                mean_g_xhat += gamma[n] * dy[[b, n]] * xhat(b) / count;
            }
            for b in 0..batch {
                dx[[b, n]] = rstd * (gamma[n] * dy[[b, n]] - mean_g - xhat(b) * mean_g_xhat);
            }
        }
        (dx, dgamma, dbeta)
    }
}

/// Batch normalisation with learnable scale and shift and, unless built without, running
/// statistics for evaluation.
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
    /// false: batch statistics in both modes, and the running ones are left alone.
    pub track_running_stats: bool,
    pub eps: f64,
    pub momentum: f64,
    /// What backward reads: xhat (B, N), rstd (N) and the forward's mode (Train: through the
    /// batch statistics, with parameter gradients; EvalInputGrad: statistics held fixed).
    cache: Option<(Array2<T>, Array1<T>, Mode)>,
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
            track_running_stats: true,
            eps: 1e-5,
            momentum: 0.1,
            cache: None,
        }
    }

    /// As [`BatchNorm1d::new`], but normalising with the batch's statistics in both modes and
    /// keeping no running ones (PyTorch's `track_running_stats=False`).
    pub fn without_running_stats(features: usize) -> Self {
        BatchNorm1d { track_running_stats: false, ..BatchNorm1d::new(features) }
    }

    /// x: (B, N) -> (B, N). Training normalises with batch statistics, updates the running ones
    /// and caches for backward; evaluation normalises with the running statistics.
    pub fn forward(&mut self, x: ArrayView2<T>, mode: Mode) -> Array2<T> {
        if !mode.is_train() && self.track_running_stats {
            let rstd = self.running_var.mapv(|v| T::one() / (v + T::c(self.eps)).sqrt());
            let xhat = (&x - &self.running_mean) * &rstd;
            let y = &xhat * &self.weight.value + &self.bias.value;
            self.cache = mode.caches().then_some((xhat, rstd, mode));
            return y;
        }
        let (mean, var) = self.batch_stats(x);
        if mode == Mode::Train && self.track_running_stats {
            let batch = T::c(x.nrows() as f64);
            let (keep, m) = (T::c(1.0 - self.momentum), T::c(self.momentum));
            let unbiased = batch / (batch - T::one());
            Zip::from(&mut self.running_mean).and(&mean).for_each(|r, &mu| *r = keep * *r + m * mu);
            Zip::from(&mut self.running_var).and(&var).for_each(|r, &v| *r = keep * *r + m * v * unbiased);
            self.num_batches_tracked += 1;
        }
        let rstd = var.mapv(|v| T::one() / (v + T::c(self.eps)).sqrt());
        let xhat = (&x - &mean) * &rstd;
        let y = &xhat * &self.weight.value + &self.bias.value;
        self.cache = mode.caches().then_some((xhat, rstd, mode));
        y
    }

    /// x: (B, N) -> per-feature batch mean and biased variance, (N) each.
    fn batch_stats(&self, x: ArrayView2<T>) -> (Array1<T>, Array1<T>) {
        let (batch, features) = x.dim();
        assert_eq!(features, self.weight.value.len(), "BatchNorm1d features: expected {}, got {features}", self.weight.value.len());
        // PyTorch refuses this too: one value per feature has no spread, and B - 1 = 0 below.
        assert!(batch > 1, "BatchNorm1d with batch statistics needs more than 1 value per feature, got a batch of {batch}");
        let mean = x.mean_axis(Axis(0)).expect("batch > 1");
        let var = (&x - &mean).mapv(|d| d * d).mean_axis(Axis(0)).expect("batch > 1");
        (mean, var)
    }

    /// dy: (B, N) -> dx: (B, N); after a Train forward adds into weight.grad and bias.grad.
    pub fn backward(&mut self, dy: ArrayView2<T>) -> Array2<T> {
        let (xhat, rstd, mode) = self.cache.as_ref().expect("BatchNorm1d::backward needs a Train or EvalInputGrad forward first");
        assert_eq!(dy.dim(), xhat.dim(), "BatchNorm1d dy shape");
        if !mode.is_train() && self.track_running_stats {
            return &dy * &(&self.weight.value * rstd);
        }
        if mode.is_train() {
            self.bias.grad += &dy.sum_axis(Axis(0));
            self.weight.grad += &(&dy * xhat).sum_axis(Axis(0));
        }
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
        vec![("running_mean", self.running_mean.view_mut().into_dyn()), ("running_var", self.running_var.view_mut().into_dyn())]
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
        let y = bn.forward(x.view(), Mode::Train);
        let rstd0 = 1.0 / (14.0f64 / 3.0 + 1e-5).sqrt();
        let rstd1 = 1.0 / (200.0f64 / 3.0 + 1e-5).sqrt();
        let expected = array![[-2.0 * rstd0, -10.0 * rstd1], [-rstd0, 0.0], [3.0 * rstd0, 10.0 * rstd1]];
        assert!((&y - &expected).iter().all(|d| d.abs() < 1e-12), "{y} vs {expected}");
        assert!((&bn.running_mean - &array![0.3, 2.0]).iter().all(|d| d.abs() < 1e-12), "{}", bn.running_mean);
        assert!((&bn.running_var - &array![0.9 + 0.7, 0.9 + 10.0]).iter().all(|d| d.abs() < 1e-12), "{}", bn.running_var);
        assert_eq!(bn.num_batches_tracked, 1);

        let mut untracked = BatchNorm1d::<f64>::without_running_stats(2);
        assert_eq!(untracked.forward(x.view(), Mode::Train), y);
        assert_eq!(untracked.forward(x.view(), Mode::Eval), y, "without running statistics, evaluation uses the batch's");
        assert_eq!((untracked.running_mean, untracked.running_var, untracked.num_batches_tracked), (array![0.0, 0.0], array![1.0, 1.0], 0));
    }

    #[test]
    fn eval_forward_uses_running_stats() {
        let mut bn = BatchNorm1d::<f64>::new(2);
        bn.running_mean = array![1.0, -1.0];
        bn.running_var = array![4.0, 0.25];
        bn.weight.value = array![2.0, 1.0];
        bn.bias.value = array![0.5, 0.0];
        let y = bn.forward(array![[3.0, 0.0]].view(), Mode::Eval);
        let expected = [2.0 * 2.0 / (4.0f64 + 1e-5).sqrt() + 0.5, 1.0 / (0.25f64 + 1e-5).sqrt()];
        assert!((y[[0, 0]] - expected[0]).abs() < 1e-12 && (y[[0, 1]] - expected[1]).abs() < 1e-12, "{y}");
    }
}
