//! 1-D convolution without padding (PyTorch's `nn.Conv1d(C, O, K, stride)`), as im2col + GEMM.
//!
//! Forward, per clip b, with `col_b = im2col(x_b)` of shape (C*K, T') (the code puts the columns
//! of several clips side by side so that each GEMM is wide enough to run fast):
//!   y_b (O, T') = W (O, C*K) @ col_b + bias (broadcast over T')
//! Backward, given dy_b = dL/dy_b:
//!   dW    += dy_b (O, T') @ col_b^T (T', C*K)      summed over the batch
//!   dbias += sum over t of dy_b[:, t]              summed over the batch
//!   dcol_b = W^T (C*K, O) @ dy_b (O, T'),   dx_b = col2im(dcol_b)   (an input element that sits in
//!            several windows collects the gradient of each)
//!
//! # Skipped work
//! A window that lies wholly in a clip's all-zero tail (the batch padding) outputs exactly the
//! bias and adds nothing to dW, so forward finds each clip's last nonzero frame and runs im2col
//! and the GEMMs only over the windows before it, filling the rest with the bias; backward does
//! the same for dW when no input gradient is asked for (the first layer's case), since dx of the
//! padding needs every window. The numbers are those of the full computation: the skipped
//! columns' products are all zero.
//!
//! # Threads
//! Groups of clips (each one wide GEMM) run in parallel on rayon. The groups depend on the batch
//! and lengths only, and their weight gradients are added in group order, so the result is the
//! same whatever the thread count.

use crate::nn::{Param, ParamRef};
use crate::Real;
use ndarray::{Array3, ArrayView3, Ix1, Ix3};
use rand::Rng;
use rayon::prelude::*;
use ser_kernels::gemm::{gemm, Mat};
use ser_kernels::{col2im, conv_out_len, im2col};
use std::ops::Range;

/// A 1-D convolution layer with its cached input.
pub struct Conv1d<T> {
    /// (O, C, K)
    pub weight: Param<T, Ix3>,
    /// (O)
    pub bias: Param<T, Ix1>,
    pub stride: usize,
    /// The training-mode input (B, C, T) and each clip's windows before its zero tail (B), kept
    /// for backward.
    cache: Option<(Array3<T>, Vec<usize>)>,
}

/// How many clips share one GEMM: enough for about 1024 columns, since one wide GEMM runs about
/// twice as fast as a GEMM per clip of ~60 columns, while the column buffer stays a few MB.
fn clips_per_gemm(batch: usize, t_out: usize) -> usize {
    (1024 / t_out).clamp(1, batch.max(1))
}

/// Per clip of x (B, C, T): how many of its T' windows reach a nonzero input, i.e. start before
/// the clip's last nonzero frame. Scans each row from the end, so it reads little more than the
/// zero tail.
fn windows_before_zero_tail<T: Real>(x: &[T], batch: usize, channels: usize, t_in: usize, kernel: usize, stride: usize) -> Vec<usize> {
    let t_out = conv_out_len(t_in, kernel, stride);
    (0..batch)
        .into_par_iter()
        .map(|b| {
            let clip = &x[b * channels * t_in..][..channels * t_in];
            let extent = clip.chunks_exact(t_in).map(last_nonzero_end).max().unwrap_or(0);
            // Window t reads frames t*stride.., so it reaches frame extent - 1 when t*stride < extent.
            extent.div_ceil(stride).min(t_out)
        })
        .collect()
}

/// 1 + the index of the last nonzero value of a row, 0 if none. Tests 16 values at a time from
/// the end (no early exit inside a block, so the test vectorises), then finds the value in the
/// first block that has one.
fn last_nonzero_end<T: Real>(row: &[T]) -> usize {
    const BLOCK: usize = 16;
    let whole = row.len() / BLOCK * BLOCK;
    if let Some(i) = row[whole..].iter().rposition(|&v| v != T::zero()) {
        return whole + i + 1;
    }
    for start in (0..whole).step_by(BLOCK).rev() {
        let block = &row[start..start + BLOCK];
        if block.iter().fold(false, |any, &v| any | (v != T::zero())) {
            return start + block.iter().rposition(|&v| v != T::zero()).expect("the block has a nonzero") + 1;
        }
    }
    0
}

/// Clip ranges of the groups that share one GEMM, in order.
fn groups(batch: usize, t_out: usize) -> Vec<Range<usize>> {
    let size = clips_per_gemm(batch, t_out);
    (0..batch).step_by(size).map(|first| first..(first + size).min(batch)).collect()
}

/// A group's columns: each clip's windows side by side, clip j at `offsets[j]`; `offsets` ends
/// with the total width.
fn column_offsets(windows: &[usize]) -> Vec<usize> {
    std::iter::once(0).chain(windows.iter().scan(0, |end, &w| { *end += w; Some(*end) })).collect()
}

impl<T: Real> Conv1d<T> {
    /// PyTorch's default init: weight, then bias, from uniform(-1/sqrt(C*K), 1/sqrt(C*K)).
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize, rng: &mut impl Rng) -> Self {
        assert!(stride >= 1, "stride must be >= 1");
        let fan_in = in_channels * kernel;
        let weight = Param::uniform_fan_in((out_channels, in_channels, kernel), fan_in, rng);
        let bias = Param::uniform_fan_in(out_channels, fan_in, rng);
        Conv1d { weight, bias, stride, cache: None }
    }

    /// (O, C, K)
    fn dims(&self) -> (usize, usize, usize) {
        self.weight.value.dim()
    }

    /// Output length for an input of length t_in: (t_in - K) / stride + 1.
    pub fn out_len(&self, t_in: usize) -> usize {
        conv_out_len(t_in, self.dims().2, self.stride)
    }

    /// x: (B, C, T) -> (B, O, T'). Caches the input only when `train`.
    pub fn forward(&mut self, x: ArrayView3<T>, train: bool) -> Array3<T> {
        let (outputs, channels, kernel) = self.dims();
        let (batch, x_channels, t_in) = x.dim();
        assert_eq!(x_channels, channels, "Conv1d input channels: expected {channels}, got {x_channels}");
        let (t_out, stride) = (self.out_len(t_in), self.stride);
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        let bias = self.bias.value.as_slice().expect("bias is contiguous");
        let ck = channels * kernel;
        let windows = windows_before_zero_tail(x_flat, batch, channels, t_in, kernel, stride);
        let groups = groups(batch, t_out);

        let mut y = Array3::zeros((batch, outputs, t_out));
        let y_blocks = y.as_slice_mut().expect("fresh array").par_chunks_mut(clips_per_gemm(batch, t_out) * outputs * t_out);
        y_blocks.zip(&groups).for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, rows): &mut (Vec<T>, Vec<T>), (y_block, clips)| {
                let offsets = column_offsets(&windows[clips.clone()]);
                let n = offsets[offsets.len() - 1];
                col.resize(ck * n, T::zero());
                rows.resize(outputs * n, T::zero());
                for (j, b) in clips.clone().enumerate() {
                    let x_b = &x_flat[b * channels * t_in..][..channels * t_in];
                    im2col(x_b, channels, t_in, kernel, stride, windows[b], &mut col[offsets[j]..], n);
                }
                gemm(T::one(), Mat::new(w, outputs, ck), Mat::new(col, ck, n), T::zero(), rows, n);
                // rows is (O, n); clip j's block of columns becomes the start of y[b] (O, T').
                for (j, y_b) in y_block.chunks_exact_mut(outputs * t_out).enumerate() {
                    for (o, (y_row, &b)) in y_b.chunks_exact_mut(t_out).zip(bias).enumerate() {
                        let (computed, tail) = y_row.split_at_mut(offsets[j + 1] - offsets[j]);
                        for (y_t, &v) in computed.iter_mut().zip(&rows[o * n + offsets[j]..]) {
                            *y_t = v + b;
                        }
                        tail.fill(b);
                    }
                }
            },
        );
        self.cache = train.then(|| (x.into_owned(), windows));
        y
    }

    /// dy: (B, O, T') -> dx: (B, C, T) when `input_grad`; adds into weight.grad and bias.grad.
    /// The first layer passes `input_grad = false` and skips the dx GEMM and col2im.
    pub fn backward(&mut self, dy: ArrayView3<T>, input_grad: bool) -> Option<Array3<T>> {
        let (outputs, channels, kernel) = self.dims();
        let (x, windows_before_tail) = self.cache.as_ref().expect("Conv1d::backward needs a forward with train = true first");
        let (batch, _, t_in) = x.dim();
        let (t_out, stride) = (conv_out_len(t_in, kernel, self.stride), self.stride);
        assert_eq!(dy.dim(), (batch, outputs, t_out), "Conv1d dy shape");
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        let x_flat = x.as_slice().expect("cached input is contiguous");
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        let ck = channels * kernel;
        // dx of the padding needs every window; dW needs only those that reach the data.
        let windows = if input_grad { vec![t_out; batch] } else { windows_before_tail.clone() };

        // Per group: its dW (O, C*K), dbias (O) and, when asked, dx (clips, C, T).
        let group_grads = |clips: &Range<usize>| {
            let offsets = column_offsets(&windows[clips.clone()]);
            let n = offsets[offsets.len() - 1];
            // dy of the group's windows side by side, (O, n), in the same columns as the forward's.
            let mut dy_group = vec![T::zero(); outputs * n];
            let mut dbias = vec![T::zero(); outputs];
            for (j, b) in clips.clone().enumerate() {
                let dy_b = &dy_flat[b * outputs * t_out..][..outputs * t_out];
                for (o, dy_row) in dy_b.chunks_exact(t_out).enumerate() {
                    // The bias reaches every output, skipped windows included.
                    dbias[o] += dy_row.iter().copied().sum();
                    dy_group[o * n + offsets[j]..][..windows[b]].copy_from_slice(&dy_row[..windows[b]]);
                }
            }
            let mut col = vec![T::zero(); ck * n];
            for (j, b) in clips.clone().enumerate() {
                let x_b = &x_flat[b * channels * t_in..][..channels * t_in];
                im2col(x_b, channels, t_in, kernel, stride, windows[b], &mut col[offsets[j]..], n);
            }
            let mut dw = vec![T::zero(); outputs * ck];
            gemm(T::one(), Mat::new(&dy_group, outputs, n), Mat::new(&col, ck, n).t(), T::zero(), &mut dw, ck);
            let dx = input_grad.then(|| {
                // The columns are spent; their buffer now takes dcol (C*K, n).
                gemm(T::one(), Mat::new(w, outputs, ck).t(), Mat::new(&dy_group, outputs, n), T::zero(), &mut col, n);
                let mut dx = vec![T::zero(); clips.len() * channels * t_in];
                for (j, dx_b) in dx.chunks_exact_mut(channels * t_in).enumerate() {
                    col2im(&col[offsets[j]..], channels, t_in, kernel, stride, n, dx_b);
                }
                dx
            });
            (dw, dbias, dx)
        };
        let per_group: Vec<_> = groups(batch, t_out).par_iter().map(group_grads).collect();

        let dw_sum = self.weight.grad.as_slice_mut().expect("weight grad is contiguous");
        let dbias_sum = self.bias.grad.as_slice_mut().expect("bias grad is contiguous");
        let mut dx_all = input_grad.then(|| Vec::with_capacity(batch * channels * t_in));
        for (dw, dbias, dx) in per_group {
            for (sum, part) in dw_sum.iter_mut().zip(&dw) {
                *sum += *part;
            }
            for (sum, part) in dbias_sum.iter_mut().zip(&dbias) {
                *sum += *part;
            }
            if let (Some(all), Some(dx)) = (dx_all.as_mut(), dx) {
                all.extend_from_slice(&dx);
            }
        }
        dx_all.map(|dx| Array3::from_shape_vec((batch, channels, t_in), dx).expect("the groups cover the batch"))
    }

    /// ("weight", (O, C, K)), ("bias", (O)).
    pub fn params(&mut self) -> Vec<(&'static str, ParamRef<'_, T>)> {
        vec![("weight", self.weight.as_ref()), ("bias", self.bias.as_ref())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use ser_kernels::conv1d_ref;

    #[test]
    fn forward_matches_a_direct_convolution_in_f32_and_f64() {
        // T' = 5 puts all clips in one GEMM; T' = 300 makes groups of 3 clips, the last one short.
        for (t_in, t_out) in [(13, 5), (603, 300)] {
            check_against_direct_convolution(5, t_in, t_out);
        }
    }

    fn check_against_direct_convolution(batch: usize, t_in: usize, t_out: usize) {
        let mut rng = StdRng::seed_from_u64(7);
        let (channels, outputs, kernel, stride) = (4, 5, 5, 2);
        let mut conv = Conv1d::<f64>::new(channels, outputs, kernel, stride, &mut rng);
        let x = Array3::from_shape_simple_fn((batch, channels, t_in), || rng.gen_range(-1.0..1.0));
        let y = conv.forward(x.view(), false);
        assert_eq!(conv.out_len(t_in), t_out);
        assert_eq!(y.dim(), (batch, outputs, t_out));

        let w = conv.weight.value.as_slice().unwrap();
        let bias = conv.bias.value.as_slice().unwrap();
        for b in 0..batch {
            let x_b = x.index_axis(ndarray::Axis(0), b).to_owned();
            let mut expected = vec![0.0; outputs * t_out];
            conv1d_ref(x_b.as_slice().unwrap(), w, bias, channels, t_in, kernel, stride, &mut expected);
            for (a, e) in y.index_axis(ndarray::Axis(0), b).iter().zip(&expected) {
                assert!((a - e).abs() < 1e-12, "{a} vs {e}");
            }
        }

        let mut conv32 = Conv1d::<f32>::new(channels, outputs, kernel, stride, &mut rng);
        conv32.weight.value = conv.weight.value.mapv(|v| v as f32);
        conv32.bias.value = conv.bias.value.mapv(|v| v as f32);
        let y32 = conv32.forward(x.mapv(|v| v as f32).view(), false);
        for (a, e) in y32.iter().zip(y.iter()) {
            assert!((*a as f64 - e).abs() < 1e-5, "f32 {a} vs f64 {e}");
        }
    }

    #[test]
    fn init_is_bounded_by_one_over_sqrt_fan_in() {
        let mut rng = StdRng::seed_from_u64(1);
        let conv = Conv1d::<f64>::new(162, 60, 5, 2, &mut rng);
        let bound = 1.0 / (162.0f64 * 5.0).sqrt();
        let max = conv.weight.value.iter().chain(conv.bias.value.iter()).fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max < bound && max > 0.9 * bound, "max |w| {max}, bound {bound}");
    }
}
