//! 1-D convolution without padding (PyTorch's `nn.Conv1d(C, O, K, stride)`).
//!
//! Forward, output step t reading input steps `t*s` .. `t*s` + K (s = stride, T' = (T - K) / s + 1):
//! ```text
//! y[b, o, t] = bias[o] + Σ_{c, k} w[o, c, k] x[b, c, t*s + k]
//! ```
//! Backward:
//! ```text
//! dw[o, c, k] = Σ_{b, t} dy[b, o, t] x[b, c, t*s + k]
//! dbias[o]    = Σ_{b, t} dy[b, o, t]
//! dx[b, c, t*s + k] += Σ_o dy[b, o, t] w[o, c, k]      for every t and k: an input step read
//!                                                      by several windows collects from each
//! ```
//!
//! Reference: [`reference`](mod@reference), those sums as loops.
//!
//! # Fast path
//! One GEMM over window rows read in place from a time-major copy of the input (see
//! `ser_kernels::conv`). With the clips' frames laid end to end time-major (`xt`, frame-major
//! rows of C values), window t of clip b is `K*C` consecutive values, so all windows of a group of
//! clips form a matrix A (M, `K*C`) read in place at a row stride of `s*C`, and, with
//! `W'[o, k*C + c]` = `w[o, c, k]`:
//! ```text
//! forward    Y^T (M, O)  = A @ W'^T                       (W'^T packed once per call)
//! backward   dW' (O, K*C) += dY (O, M) @ A                 summed over the batch's windows
//!            dbias[o]     += Σ_{b,t} dy[b, o, t]
//!            dA (M, K*C)   = dY^T (M, O) @ W',   dx = each window row's gradient added back
//!                           onto the K frames it read (overlapping windows add up)
//! ```
//! where dY holds dy on each clip's own window rows and zero on the rows that straddle two clips.
//!
//! Skipped work: a window that lies wholly in a clip's all-zero tail (the batch padding) outputs
//! exactly the bias and adds nothing to dW, so forward finds each clip's last nonzero frame and
//! copies and multiplies only the windows before it, filling the rest with the bias; backward
//! does the same for dW when the input gradient is skipped ([`InputGrad::Skip`], the first
//! layer's case), since dx of the padding needs every window. The numbers are those of the full
//! computation: the skipped products are all zero.
//!
//! Threads: groups of clips (each one GEMM) run in parallel on rayon. The groups depend on the
//! batch and lengths only, and their weight gradients are added in group order, so the result is
//! the same whatever the thread count.
//!
//! Tests: fast = reference in tests/nn_reference.rs (`conv1d_*`); gradient check in
//! tests/gradcheck_layers.rs (`conv1d`).

use crate::nn::{InputGrad, Mode, Param, ParamRef};
use crate::Real;
use ndarray::{Array3, ArrayView3, Ix1, Ix3};
use rand::Rng;
use rayon::prelude::*;
use ser_kernels::gemm::{gemm, Mat};
use ser_kernels::{add_from_time_major, add_window_rows, conv_out_len, to_time_major, window_rows, PackedB};
use std::ops::Range;

/// The formulas as loops, one output element at a time.
pub mod reference {
    use crate::Real;
    use ndarray::{Array1, Array3, ArrayView1, ArrayView3};

    /// x: (B, C, T), weight: (O, C, K), bias: (O) -> y: (B, O, T').
    pub fn forward<T: Real>(x: ArrayView3<T>, weight: ArrayView3<T>, bias: ArrayView1<T>, stride: usize) -> Array3<T> {
        let ((batch, channels, t_in), (outputs, _, kernel)) = (x.dim(), weight.dim());
        let t_out = (t_in - kernel) / stride + 1;
        let mut y = Array3::zeros((batch, outputs, t_out));
        for b in 0..batch {
            for o in 0..outputs {
                for t in 0..t_out {
                    let mut sum = bias[o];
                    for c in 0..channels {
                        for k in 0..kernel {
                            sum += weight[[o, c, k]] * x[[b, c, t * stride + k]];
                        }
                    }
                    y[[b, o, t]] = sum;
                }
            }
        }
        y
    }

    /// x: (B, C, T), weight: (O, C, K), dy: (B, O, T') ->
    /// (dx (B, C, T), dweight (O, C, K), dbias (O)).
    pub fn backward<T: Real>(
        x: ArrayView3<T>,
        weight: ArrayView3<T>,
        stride: usize,
        dy: ArrayView3<T>,
    ) -> (Array3<T>, Array3<T>, Array1<T>) {
        let ((batch, channels, _), (outputs, _, kernel), t_out) = (x.dim(), weight.dim(), dy.dim().2);
        let mut dx = Array3::zeros(x.dim());
        let mut dweight = Array3::zeros(weight.dim());
        let mut dbias = Array1::zeros(outputs);
        for b in 0..batch {
            for o in 0..outputs {
                for t in 0..t_out {
                    let g = dy[[b, o, t]];
                    dbias[o] += g;
                    for c in 0..channels {
                        for k in 0..kernel {
                            dweight[[o, c, k]] += g * x[[b, c, t * stride + k]];
                            dx[[b, c, t * stride + k]] += g * weight[[o, c, k]];
                        }
                    }
                }
            }
        }
        (dx, dweight, dbias)
    }
}

/// A 1-D convolution layer with its cached input.
pub struct Conv1d<T> {
    /// (O, C, K)
    pub weight: Param<T, Ix3>,
    /// (O)
    pub bias: Param<T, Ix1>,
    pub stride: usize,
    /// The training-mode input and its window rows, kept for backward.
    cache: Option<Cache<T>>,
}

/// What backward needs from a caching forward.
struct Cache<T> {
    /// Train: backward adds dW and dbias; EvalInputGrad: it returns dx only.
    mode: Mode,
    /// (B, C, T)
    x: Array3<T>,
    /// The time-major window rows forward multiplied.
    rows: WindowRows<T>,
}

/// A batch laid out time-major for the GEMMs: clip b's first `windows[b]` windows are rows
/// `first_row[b] ..` of `xt` read at a row stride of `s*C`.
struct WindowRows<T> {
    /// (B) windows used per clip
    windows: Vec<usize>,
    /// (B + 1) each clip's first row, then the total
    first_row: Vec<usize>,
    /// (rows * s + K, C) the clips' frames end to end, then K frames of zeros for the last rows
    xt: Vec<T>,
}

impl<T: Real> WindowRows<T> {
    /// x: (B, C, T) standard layout; windows: (B), each <= T'.
    fn new(x: &[T], channels: usize, t_in: usize, kernel: usize, stride: usize, windows: Vec<usize>) -> Self {
        let first_row: Vec<usize> = std::iter::once(0)
            .chain(windows.iter().scan(0, |end, &w| {
                *end += window_rows(w, kernel, stride);
                Some(*end)
            }))
            .collect();
        let total = first_row[windows.len()];
        let mut xt = vec![T::zero(); (total * stride + kernel) * channels];
        let segments = split_at_offsets(&mut xt, &first_row, stride * channels);
        segments.into_par_iter().enumerate().for_each(|(b, segment)| {
            let clip = &x[b * channels * t_in..][..channels * t_in];
            to_time_major(clip, channels, t_in, segment.len() / channels, segment);
        });
        WindowRows { windows, first_row, xt }
    }

    /// Rows of a group of clips, and the part of `xt` they read from (their frames and K more).
    fn group(&self, clips: &Range<usize>, kernel: usize, stride: usize, channels: usize) -> (Range<usize>, &[T]) {
        let rows = self.first_row[clips.start]..self.first_row[clips.end];
        let read = rows.start * stride * channels..(rows.end * stride + kernel) * channels;
        (rows, &self.xt[read])
    }
}

/// `buf` cut into consecutive pieces of (`offsets[i+1]` - `offsets[i]`) * unit elements (the tail past
/// the last offset left out).
fn split_at_offsets<'a, T>(mut buf: &'a mut [T], offsets: &[usize], unit: usize) -> Vec<&'a mut [T]> {
    let mut pieces = Vec::with_capacity(offsets.len().saturating_sub(1));
    for pair in offsets.windows(2) {
        let (piece, rest) = buf.split_at_mut((pair[1] - pair[0]) * unit);
        pieces.push(piece);
        buf = rest;
    }
    pieces
}

/// How many clips share one GEMM: about 1024 window rows, enough for a GEMM to run at speed
/// while a group's buffers stay a few MB.
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

/// Where entry i of W' (O, `K*C`), i = `o*K*C` + `k*C` + c, sits in w (O, C, K): at (`o*C` + c)*K + k.
fn weight_index(i: usize, channels: usize, kernel: usize) -> usize {
    let (o, p) = (i / (kernel * channels), i % (kernel * channels));
    (o * channels + p % channels) * kernel + p / channels
}

/// Clip ranges of the groups that share one GEMM, in order.
fn groups(batch: usize, t_out: usize) -> Vec<Range<usize>> {
    let size = clips_per_gemm(batch, t_out);
    (0..batch).step_by(size).map(|first| first..(first + size).min(batch)).collect()
}

impl<T: Real> Conv1d<T> {
    /// PyTorch's default init: weight, then bias, from uniform(-1/sqrt(`C*K`), 1/sqrt(`C*K`)).
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

    /// W' (O, `K*C`) with `W'[o, k*C + c]` = `w[o, c, k]`: the weights in the window rows' order.
    fn weight_by_frame(&self) -> Vec<T> {
        let (outputs, channels, kernel) = self.dims();
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        (0..outputs * kernel * channels).map(|i| w[weight_index(i, channels, kernel)]).collect()
    }

    /// x: (B, C, T) -> (B, O, T'). Caches the input and its window rows in Train and EvalInputGrad mode.
    pub fn forward(&mut self, x: ArrayView3<T>, mode: Mode) -> Array3<T> {
        let (outputs, channels, kernel) = self.dims();
        let (batch, x_channels, t_in) = x.dim();
        assert_eq!(x_channels, channels, "Conv1d input channels: expected {channels}, got {x_channels}");
        let (t_out, stride) = (self.out_len(t_in), self.stride);
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let bias = self.bias.value.as_slice().expect("bias is contiguous");
        let width = channels * kernel;
        let windows = windows_before_zero_tail(x_flat, batch, channels, t_in, kernel, stride);
        let rows = WindowRows::new(x_flat, channels, t_in, kernel, stride, windows);
        // W'^T (K*C, O), packed once for every group's rows.
        let weight_by_frame = self.weight_by_frame();
        let packed = PackedB::pack(Mat::new(&weight_by_frame, outputs, width).t());
        let groups = groups(batch, t_out);

        let mut y = Array3::zeros((batch, outputs, t_out));
        let y_blocks = y.as_slice_mut().expect("fresh array").par_chunks_mut(clips_per_gemm(batch, t_out) * outputs * t_out);
        y_blocks.zip(&groups).for_each(|(y_block, clips)| {
            let (group_rows, a) = rows.group(clips, kernel, stride, channels);
            let mut yt = vec![T::zero(); group_rows.len() * outputs]; // (rows, O)
            packed.gemm_acc(a, group_rows.len(), stride * channels, &mut yt, outputs);
            // Clip b's window rows become the start of y[b] (O, T'); the rest is the bias.
            for (y_b, b) in y_block.chunks_exact_mut(outputs * t_out).zip(clips.clone()) {
                let first = rows.first_row[b] - group_rows.start;
                for (o, (y_row, &bias_o)) in y_b.chunks_exact_mut(t_out).zip(bias).enumerate() {
                    let (computed, tail) = y_row.split_at_mut(rows.windows[b]);
                    for (t, y_t) in computed.iter_mut().enumerate() {
                        *y_t = yt[(first + t) * outputs + o] + bias_o;
                    }
                    tail.fill(bias_o);
                }
            }
        });
        self.cache = mode.caches().then(|| Cache { mode, x: x.into_owned(), rows });
        y
    }

    /// dy: (B, O, T') -> dx: (B, C, T), `None` when `input_grad` is `Skip`; after a Train
    /// forward adds into weight.grad and bias.grad.
    pub fn backward(&mut self, dy: ArrayView3<T>, input_grad: InputGrad) -> Option<Array3<T>> {
        let input_grad = input_grad == InputGrad::Needed;
        let (outputs, channels, kernel) = self.dims();
        let cache = self.cache.as_ref().expect("Conv1d::backward needs a Train or EvalInputGrad forward first");
        let param_grads = cache.mode.is_train();
        let (batch, _, t_in) = cache.x.dim();
        let (t_out, stride) = (conv_out_len(t_in, kernel, self.stride), self.stride);
        assert_eq!(dy.dim(), (batch, outputs, t_out), "Conv1d dy shape");
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        let width = channels * kernel;
        // dx of the padding needs every window; dW needs only those that reach the data, which
        // are the ones forward laid out.
        let all_windows;
        let rows = if input_grad && cache.rows.windows.iter().any(|&w| w < t_out) {
            let x_flat = cache.x.as_slice().expect("cached input is contiguous");
            all_windows = WindowRows::new(x_flat, channels, t_in, kernel, stride, vec![t_out; batch]);
            &all_windows
        } else {
            &cache.rows
        };
        let weight_by_frame = self.weight_by_frame();
        let packed = input_grad.then(|| PackedB::pack(Mat::new(&weight_by_frame, outputs, width))); // W' (O, K*C)

        // Per group: its dW' (O, K*C), dbias (O) and, when asked, dx (clips, C, T).
        let group_grads = |clips: &Range<usize>| {
            let (group_rows, a) = rows.group(clips, kernel, stride, channels);
            let m = group_rows.len();
            // dY^T (rows, O): dy on each clip's own window rows, zero on the straddling ones.
            let mut dyt = vec![T::zero(); m * outputs];
            let mut dbias = vec![T::zero(); outputs];
            for b in clips.clone() {
                let (dy_b, first) = (&dy_flat[b * outputs * t_out..][..outputs * t_out], rows.first_row[b] - group_rows.start);
                for (o, dy_row) in dy_b.chunks_exact(t_out).enumerate() {
                    // The bias reaches every output, skipped windows included.
                    dbias[o] += dy_row.iter().copied().sum();
                    for (t, &g) in dy_row[..rows.windows[b]].iter().enumerate() {
                        dyt[(first + t) * outputs + o] = g;
                    }
                }
            }
            let dw = param_grads.then(|| {
                let mut dw = vec![T::zero(); outputs * width];
                let a_mat = Mat { data: a, rows: m, cols: width, rs: stride * channels, cs: 1 };
                gemm(T::one(), Mat::new(&dyt, m, outputs).t(), a_mat, T::zero(), &mut dw, width);
                dw
            });
            let dx = packed.as_ref().map(|packed| {
                let mut drows = vec![T::zero(); m * width]; // dA (rows, K*C)
                packed.gemm_acc(&dyt, m, outputs, &mut drows, width);
                let mut dx = vec![T::zero(); clips.len() * channels * t_in];
                for (dx_b, b) in dx.chunks_exact_mut(channels * t_in).zip(clips.clone()) {
                    let (first, clip_rows) = (rows.first_row[b] - group_rows.start, rows.first_row[b + 1] - rows.first_row[b]);
                    let mut dxt = vec![T::zero(); (clip_rows * stride + kernel) * channels];
                    add_window_rows(&drows[first * width..], rows.windows[b], kernel, stride, channels, &mut dxt);
                    add_from_time_major(&dxt, channels, t_in, dx_b);
                }
                dx
            });
            (dw, dbias, dx)
        };
        let per_group: Vec<_> = groups(batch, t_out).par_iter().map(group_grads).collect();

        // dW' is in the window rows' order: dW[o, c, k] += dW'[o, k*C + c].
        let dw_sum = self.weight.grad.as_slice_mut().expect("weight grad is contiguous");
        let dbias_sum = self.bias.grad.as_slice_mut().expect("bias grad is contiguous");
        let mut dx_all = input_grad.then(|| Vec::with_capacity(batch * channels * t_in));
        for (dw, dbias, dx) in per_group {
            if let Some(dw) = dw {
                for (i, &g) in dw.iter().enumerate() {
                    dw_sum[weight_index(i, channels, kernel)] += g;
                }
                for (sum, part) in dbias_sum.iter_mut().zip(&dbias) {
                    *sum += *part;
                }
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

    #[test]
    fn init_is_bounded_by_one_over_sqrt_fan_in() {
        let mut rng = StdRng::seed_from_u64(1);
        let conv = Conv1d::<f64>::new(162, 60, 5, 2, &mut rng);
        let bound = 1.0 / (162.0f64 * 5.0).sqrt();
        let max = conv.weight.value.iter().chain(conv.bias.value.iter()).fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max < bound && max > 0.9 * bound, "max |w| {max}, bound {bound}");
    }
}
