//! Max and mean over time, concatenated: the summary of a sequence the classifier sees.
//!
//! Forward, for clip b over its steps t < L_b (L_b = T when no lengths are given):
//!   y[b, h]     = max_t x[b, t, h]        (arg-max a[b, h], the first one on ties)
//!   y[b, H + h] = (1/L_b) sum_t x[b, t, h]
//! Backward:
//!   dx[b, a[b, h], h] += dy[b, h]
//!   dx[b, t, h]       += dy[b, H + h] / L_b   for every t < L_b; steps past L_b get nothing.
//!
//! The study pools over all T steps, zero padding included, so a clip's summary depends on the
//! longest clip of its batch; passing lengths pools over each clip's real steps only.
//!
//! Reference: [`reference`](mod@reference), one clip and feature at a time. Fast path: the same loops over
//! contiguous rows. Tests: fast = reference in tests/nn_reference.rs (`temporal_pool_*`);
//! gradient check in tests/gradcheck_layers.rs (`temporal_pool`).

use crate::nn::Mode;
use crate::Real;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

/// The formulas as loops, one clip and feature at a time.
pub mod reference {
    use crate::Real;
    use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

    /// L_b: lengths[b], or T without lengths.
    fn steps_of(lengths: Option<&[usize]>, b: usize, steps: usize) -> usize {
        lengths.map_or(steps, |lengths| lengths[b])
    }

    /// The first t < L_b where x[b, t, h] is largest.
    fn argmax<T: Real>(x: &ArrayView3<T>, b: usize, h: usize, len: usize) -> usize {
        (1..len).fold(0, |best, t| if x[[b, t, h]] > x[[b, best, h]] { t } else { best })
    }

    /// x: (B, T, H), lengths: (B) or None for all T -> y: (B, 2H) = [max over time, mean over time].
    pub fn forward<T: Real>(x: ArrayView3<T>, lengths: Option<&[usize]>) -> Array2<T> {
        let (batch, steps, hidden) = x.dim();
        let mut y = Array2::zeros((batch, 2 * hidden));
        for b in 0..batch {
            let len = steps_of(lengths, b, steps);
            for h in 0..hidden {
                y[[b, h]] = x[[b, argmax(&x, b, h, len), h]];
                let mut sum = T::zero();
                for t in 0..len {
                    sum += x[[b, t, h]];
                }
                y[[b, hidden + h]] = sum / T::c(len as f64);
            }
        }
        y
    }

    /// x: (B, T, H), lengths as in forward, dy: (B, 2H) -> dx: (B, T, H).
    pub fn backward<T: Real>(x: ArrayView3<T>, lengths: Option<&[usize]>, dy: ArrayView2<T>) -> Array3<T> {
        let (batch, steps, hidden) = x.dim();
        let mut dx = Array3::zeros(x.dim());
        for b in 0..batch {
            let len = steps_of(lengths, b, steps);
            for h in 0..hidden {
                dx[[b, argmax(&x, b, h, len), h]] += dy[[b, h]];
                for t in 0..len {
                    dx[[b, t, h]] += dy[[b, hidden + h]] / T::c(len as f64);
                }
            }
        }
        dx
    }
}

/// Max-and-mean pooling over time, with the training-mode arg-max and lengths cached.
#[derive(Default)]
pub struct TemporalPool {
    cache: Option<PoolCache>,
}

/// Training-mode cache: input shape (B, T, H), steps used per clip (B), arg-max time per (B, H).
type PoolCache = ((usize, usize, usize), Vec<usize>, Vec<usize>);

impl TemporalPool {
    pub fn new() -> Self {
        TemporalPool { cache: None }
    }

    /// x: (B, T, H), lengths: (B) or None for all T -> (B, 2H) = [max over time, mean over time].
    /// Caches the arg-max and lengths in Train and EvalInputGrad mode.
    pub fn forward<T: Real>(&mut self, x: ArrayView3<T>, lengths: Option<&[usize]>, mode: Mode) -> Array2<T> {
        let (batch, steps, hidden) = x.dim();
        let lengths = match lengths {
            Some(lengths) => {
                assert_eq!(lengths.len(), batch, "TemporalPool: one length per clip");
                assert!(lengths.iter().all(|&l| (1..=steps).contains(&l)), "TemporalPool: lengths must be in 1..={steps}, got {lengths:?}");
                lengths.to_vec()
            }
            None => vec![steps; batch],
        };
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let mut y = Array2::zeros((batch, 2 * hidden));
        let mut argmax = vec![0usize; batch * hidden];
        let y_rows = y.as_slice_mut().expect("fresh array").chunks_exact_mut(2 * hidden);
        for (((x_b, y_b), a_b), &len) in x_flat.chunks_exact(steps * hidden).zip(y_rows).zip(argmax.chunks_exact_mut(hidden)).zip(&lengths)
        {
            let (max, mean) = y_b.split_at_mut(hidden);
            max.copy_from_slice(&x_b[..hidden]);
            for (t, x_t) in x_b.chunks_exact(hidden).enumerate().take(len) {
                for h in 0..hidden {
                    // Strictly greater keeps the first of equal maxima; a NaN wins, as in PyTorch.
                    if x_t[h] > max[h] || x_t[h].is_nan() {
                        max[h] = x_t[h];
                        a_b[h] = t;
                    }
                    mean[h] += x_t[h];
                }
            }
            let inv_len = T::one() / T::c(len as f64);
            mean.iter_mut().for_each(|m| *m *= inv_len);
        }
        self.cache = mode.caches().then_some(((batch, steps, hidden), lengths, argmax));
        y
    }

    /// dy: (B, 2H) -> dx: (B, T, H).
    pub fn backward<T: Real>(&mut self, dy: ArrayView2<T>) -> Array3<T> {
        let (shape, lengths, argmax) = self.cache.as_ref().expect("TemporalPool::backward needs a Train or EvalInputGrad forward first");
        let (batch, steps, hidden) = *shape;
        assert_eq!(dy.dim(), (batch, 2 * hidden), "TemporalPool dy shape");
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        let mut dx = Array3::zeros(*shape);
        let dx_clips = dx.as_slice_mut().expect("fresh array").chunks_exact_mut(steps * hidden);
        for (((dx_b, dy_b), a_b), &len) in dx_clips.zip(dy_flat.chunks_exact(2 * hidden)).zip(argmax.chunks_exact(hidden)).zip(lengths) {
            let (dmax, dmean) = dy_b.split_at(hidden);
            let inv_len = T::one() / T::c(len as f64);
            for dx_t in dx_b.chunks_exact_mut(hidden).take(len) {
                for (d, &g) in dx_t.iter_mut().zip(dmean) {
                    *d += g * inv_len;
                }
            }
            for (h, (&g, &t)) in dmax.iter().zip(a_b).enumerate() {
                dx_b[t * hidden + h] += g;
            }
        }
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn max_then_mean_with_and_without_lengths() {
        // one clip, T = 3, H = 2; the last step is padding when the length is 2
        let x = array![[[1.0, -4.0], [3.0, -2.0], [0.0, 9.0]]];
        let mut pool = TemporalPool::new();
        assert_eq!(pool.forward(x.view(), None, Mode::Eval), array![[3.0, 9.0, 4.0 / 3.0, 1.0]]);
        assert_eq!(pool.forward(x.view(), Some(&[2]), Mode::Eval), array![[3.0, -2.0, 2.0, -3.0]]);
    }

    #[test]
    fn ties_send_the_max_gradient_to_the_first_step() {
        let x = array![[[5.0], [5.0]]];
        let mut pool = TemporalPool::new();
        pool.forward(x.view(), None, Mode::Train);
        assert_eq!(pool.backward(array![[1.0, 0.0]].view()), array![[[1.0], [0.0]]]);
    }
}
