//! 1-D max pooling without padding (PyTorch's `nn.MaxPool1d(K, stride)`).
//!
//! Forward: y[b, c, t] = max_{k < K} x[b, c, `t*stride` + k], remembering the arg-max a[b, c, t].
//! Backward: the max passes its input through unchanged and ignores the others, so
//!   dx[b, c, a[b, c, t]] += dy[b, c, t]
//! and with stride < K windows overlap, so one input can collect the gradient of several outputs.
//! Ties go to the first maximum in the window, as PyTorch's CPU kernel does.
//!
//! Reference: [`reference`](mod@reference), one window at a time. Fast path: each offset k of the window
//! competes for every output of a row at once (whole-row passes that vectorise), clips in
//! parallel on rayon; each output depends on its own window only, so threads change nothing.
//! Tests: fast = reference in tests/nn_reference.rs (`maxpool1d_*`); gradient check in
//! tests/gradcheck_layers.rs (`maxpool1d`).

use crate::nn::Mode;
use crate::Real;
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use ser_kernels::conv_out_len;

/// The formulas as loops, one window at a time.
pub mod reference {
    use crate::Real;
    use ndarray::{Array3, ArrayView3};

    /// The time index of the first maximum of window t of row (b, c) of x: (B, C, T).
    fn argmax<T: Real>(x: &ArrayView3<T>, b: usize, c: usize, t: usize, kernel: usize, stride: usize) -> usize {
        let mut best = t * stride;
        for k in 1..kernel {
            if x[[b, c, t * stride + k]] > x[[b, c, best]] {
                best = t * stride + k;
            }
        }
        best
    }

    /// x: (B, C, T) -> y: (B, C, T'), T' = (T - K) / stride + 1.
    pub fn forward<T: Real>(x: ArrayView3<T>, kernel: usize, stride: usize) -> Array3<T> {
        let (batch, channels, t_in) = x.dim();
        let t_out = (t_in - kernel) / stride + 1;
        Array3::from_shape_fn((batch, channels, t_out), |(b, c, t)| x[[b, c, argmax(&x, b, c, t, kernel, stride)]])
    }

    /// x: (B, C, T), dy: (B, C, T') -> dx: (B, C, T).
    pub fn backward<T: Real>(x: ArrayView3<T>, kernel: usize, stride: usize, dy: ArrayView3<T>) -> Array3<T> {
        let (batch, channels, t_out) = dy.dim();
        let mut dx = Array3::zeros(x.dim());
        for b in 0..batch {
            for c in 0..channels {
                for t in 0..t_out {
                    dx[[b, c, argmax(&x, b, c, t, kernel, stride)]] += dy[[b, c, t]];
                }
            }
        }
        dx
    }
}

/// Max pooling over time, with the training-mode arg-max cached for backward.
pub struct MaxPool1d {
    pub kernel: usize,
    pub stride: usize,
    /// Training-mode cache: input shape (B, C, T) and, per output (B, C, T'), the arg-max's time index.
    cache: Option<((usize, usize, usize), Vec<usize>)>,
}

impl MaxPool1d {
    pub fn new(kernel: usize, stride: usize) -> Self {
        assert!(kernel >= 1 && stride >= 1, "kernel {kernel} and stride {stride} must be >= 1");
        MaxPool1d { kernel, stride, cache: None }
    }

    /// Output length for an input of length t_in: (t_in - K) / stride + 1.
    pub fn out_len(&self, t_in: usize) -> usize {
        conv_out_len(t_in, self.kernel, self.stride)
    }

    /// x: (B, C, T) -> (B, C, T'). Caches the arg-max in Train and EvalInputGrad mode.
    pub fn forward<T: Real>(&mut self, x: ArrayView3<T>, mode: Mode) -> Array3<T> {
        let (batch, channels, t_in) = x.dim();
        let t_out = self.out_len(t_in);
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let mut y = Array3::zeros((batch, channels, t_out));
        let mut argmax = vec![0usize; batch * channels * t_out];
        let (kernel, stride) = (self.kernel, self.stride);
        // Per row: y starts as each window's first value, then each later offset k of the window
        // competes, k ascending, for every t at once: the same comparisons in the same order per
        // window as a scan of each window, but as whole-row passes that vectorise.
        let pool_row = |(x_row, y_row, a_row): (&[T], &mut [T], &mut [usize])| {
            for (t, (y_t, a_t)) in y_row.iter_mut().zip(a_row.iter_mut()).enumerate() {
                (*y_t, *a_t) = (x_row[t * stride], t * stride);
            }
            for k in 1..kernel {
                // The study's pools have stride 1: a plain slice iterator there, so the pass is
                // one contiguous loop.
                if stride == 1 {
                    compete(y_row, a_row, x_row[k..].iter().copied(), k, 1);
                } else {
                    compete(y_row, a_row, x_row[k..].iter().copied().step_by(stride), k, stride);
                }
            }
        };
        // One task per clip: a row alone is too little work to hand to another thread.
        let y_clips = y.as_slice_mut().expect("fresh array").par_chunks_mut(channels * t_out);
        let a_clips = argmax.par_chunks_mut(channels * t_out);
        x_flat.par_chunks(channels * t_in).zip(y_clips).zip(a_clips).for_each(|((x_clip, y_clip), a_clip)| {
            let rows = x_clip.chunks_exact(t_in).zip(y_clip.chunks_exact_mut(t_out)).zip(a_clip.chunks_exact_mut(t_out));
            rows.for_each(|((x_row, y_row), a_row)| pool_row((x_row, y_row, a_row)));
        });
        self.cache = mode.caches().then_some(((batch, channels, t_in), argmax));
        y
    }

    /// dy: (B, C, T') -> dx: (B, C, T), each dy routed to its window's arg-max.
    pub fn backward<T: Real>(&mut self, dy: ArrayView3<T>) -> Array3<T> {
        let (in_shape, argmax) = self.cache.as_ref().expect("MaxPool1d::backward needs a Train or EvalInputGrad forward first");
        let (batch, channels, t_in) = *in_shape;
        let t_out = self.out_len(t_in);
        assert_eq!(dy.dim(), (batch, channels, t_out), "MaxPool1d dy shape");
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        let mut dx = Array3::zeros(*in_shape);
        let dx_rows = dx.as_slice_mut().expect("fresh array").par_chunks_mut(t_in);
        dx_rows.zip(dy_flat.par_chunks(t_out)).zip(argmax.par_chunks(t_out)).for_each(|((dx_row, dy_row), a_row)| {
            for (&g, &at) in dy_row.iter().zip(a_row) {
                dx_row[at] += g;
            }
        });
        dx
    }
}

/// One pass of max pooling: the value at offset k of each window, `values` (window t's at t),
/// replaces the running max y[t] (arg-max a[t]) where it is strictly greater, or NaN as in PyTorch,
/// so the first of equal maxima is kept. Written as selects, without branches, so that it vectorises.
#[inline(always)]
fn compete<T: Real>(y: &mut [T], a: &mut [usize], values: impl Iterator<Item = T>, k: usize, stride: usize) {
    for (t, ((y_t, a_t), v)) in y.iter_mut().zip(a.iter_mut()).zip(values).enumerate() {
        let take = (v > *y_t) | v.is_nan();
        *y_t = if take { v } else { *y_t };
        *a_t = if take { t * stride + k } else { *a_t };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn forward_takes_window_maxima() {
        let x = array![[[1.0, 3.0, 2.0, 5.0, 4.0, 0.0, 6.0]]];
        // kernel 3 stride 2: windows [1,3,2], [2,5,4], [4,0,6]
        let y = MaxPool1d::new(3, 2).forward(x.view(), Mode::Eval);
        assert_eq!(y, array![[[3.0, 5.0, 6.0]]]);
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum_and_overlaps_accumulate() {
        let x = array![[[2.0f64, 7.0, 7.0, 1.0, 7.0]]];
        let mut pool = MaxPool1d::new(3, 1);
        // windows [2,7,7] [7,7,1] [7,1,7]: every max is 7, first at index 1, 1, 2
        let y = pool.forward(x.view(), Mode::Train);
        assert_eq!(y, array![[[7.0, 7.0, 7.0]]]);
        let dx = pool.backward(array![[[1.0, 10.0, 100.0]]].view());
        assert_eq!(dx, array![[[0.0, 11.0, 100.0, 0.0, 0.0]]]);
    }
}
