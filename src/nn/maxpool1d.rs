//! 1-D max pooling without padding (PyTorch's `nn.MaxPool1d(K, stride)`).
//!
//! Forward: y[b, c, t] = max_{k < K} x[b, c, t*stride + k], remembering the arg-max a[b, c, t].
//! Backward: the max passes its input through unchanged and ignores the others, so
//!   dx[b, c, a[b, c, t]] += dy[b, c, t]
//! and with stride < K windows overlap, so one input can collect the gradient of several outputs.
//! Ties go to the first maximum in the window, as PyTorch's CPU kernel does. Clips run in parallel
//! on rayon; each output depends on its own window only, so threads change nothing.

use crate::Real;
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use ser_kernels::conv_out_len;

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

    /// x: (B, C, T) -> (B, C, T'). Caches the arg-max only when `train`.
    pub fn forward<T: Real>(&mut self, x: ArrayView3<T>, train: bool) -> Array3<T> {
        let (batch, channels, t_in) = x.dim();
        let t_out = self.out_len(t_in);
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let mut y = Array3::zeros((batch, channels, t_out));
        let mut argmax = vec![0usize; batch * channels * t_out];
        let (kernel, stride) = (self.kernel, self.stride);
        let pool_row = |((x_row, y_row), a_row): ((&[T], &mut [T]), &mut [usize])| {
            for (t, (y_t, a_t)) in y_row.iter_mut().zip(a_row.iter_mut()).enumerate() {
                let start = t * stride;
                let (mut best, mut best_at) = (x_row[start], start);
                for (i, &v) in x_row.iter().enumerate().take(start + kernel).skip(start + 1) {
                    // Strictly greater keeps the first of equal maxima; a NaN wins, as in PyTorch.
                    if v > best || v.is_nan() {
                        best = v;
                        best_at = i;
                    }
                }
                *y_t = best;
                *a_t = best_at;
            }
        };
        let y_rows = y.as_slice_mut().expect("fresh array").par_chunks_mut(t_out);
        x_flat.par_chunks(t_in).zip(y_rows).zip(argmax.par_chunks_mut(t_out)).for_each(pool_row);
        self.cache = train.then_some(((batch, channels, t_in), argmax));
        y
    }

    /// dy: (B, C, T') -> dx: (B, C, T), each dy routed to its window's arg-max.
    pub fn backward<T: Real>(&mut self, dy: ArrayView3<T>) -> Array3<T> {
        let (in_shape, argmax) = self.cache.as_ref().expect("MaxPool1d::backward needs a forward with train = true first");
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn forward_takes_window_maxima() {
        let x = array![[[1.0, 3.0, 2.0, 5.0, 4.0, 0.0, 6.0]]];
        // kernel 3 stride 2: windows [1,3,2], [2,5,4], [4,0,6]
        let y = MaxPool1d::new(3, 2).forward(x.view(), false);
        assert_eq!(y, array![[[3.0, 5.0, 6.0]]]);
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum_and_overlaps_accumulate() {
        let x = array![[[2.0f64, 7.0, 7.0, 1.0, 7.0]]];
        let mut pool = MaxPool1d::new(3, 1);
        // windows [2,7,7] [7,7,1] [7,1,7]: every max is 7, first at index 1, 1, 2
        let y = pool.forward(x.view(), true);
        assert_eq!(y, array![[[7.0, 7.0, 7.0]]]);
        let dx = pool.backward(array![[[1.0, 10.0, 100.0]]].view());
        assert_eq!(dx, array![[[0.0, 11.0, 100.0, 0.0, 0.0]]]);
    }
}
