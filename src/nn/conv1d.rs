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

use crate::nn::{Param, ParamRef};
use crate::Real;
use ndarray::{Array3, ArrayView3, Ix1, Ix3};
use rand::Rng;
use ser_kernels::gemm::{gemm, Mat};
use ser_kernels::{col2im, conv_out_len, im2col};

/// A 1-D convolution layer with its cached input.
pub struct Conv1d<T> {
    /// (O, C, K)
    pub weight: Param<T, Ix3>,
    /// (O)
    pub bias: Param<T, Ix1>,
    pub stride: usize,
    /// The training-mode input (B, C, T), kept for backward.
    input: Option<Array3<T>>,
    /// Scratch for a group of clips' im2col, (C*K, clips*T'), reused across groups and calls.
    col: Vec<T>,
    /// Scratch for the same group's output or output gradient, (O, clips*T').
    rows: Vec<T>,
}

/// How many clips share one GEMM: enough for about 1024 columns, since one wide GEMM runs about
/// twice as fast as a GEMM per clip of ~60 columns, while the column buffer stays a few MB.
fn clips_per_gemm(batch: usize, t_out: usize) -> usize {
    (1024 / t_out).clamp(1, batch.max(1))
}

impl<T: Real> Conv1d<T> {
    /// PyTorch's default init: weight, then bias, from uniform(-1/sqrt(C*K), 1/sqrt(C*K)).
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize, rng: &mut impl Rng) -> Self {
        assert!(stride >= 1, "stride must be >= 1");
        let fan_in = in_channels * kernel;
        let weight = Param::uniform_fan_in((out_channels, in_channels, kernel), fan_in, rng);
        let bias = Param::uniform_fan_in(out_channels, fan_in, rng);
        Conv1d { weight, bias, stride, input: None, col: Vec::new(), rows: Vec::new() }
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
        let t_out = self.out_len(t_in);
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        let bias = self.bias.value.as_slice().expect("bias is contiguous");
        let ck = channels * kernel;
        let group = clips_per_gemm(batch, t_out);
        self.col.resize(ck * group * t_out, T::zero());
        self.rows.resize(outputs * group * t_out, T::zero());

        let mut y = Array3::zeros((batch, outputs, t_out));
        let y_flat = y.as_slice_mut().expect("fresh array");
        for first in (0..batch).step_by(group) {
            let clips = group.min(batch - first);
            let n = clips * t_out;
            for j in 0..clips {
                let x_b = &x_flat[(first + j) * channels * t_in..][..channels * t_in];
                im2col(x_b, channels, t_in, kernel, self.stride, &mut self.col[j * t_out..], n);
            }
            gemm(T::one(), Mat::new(w, outputs, ck), Mat::new(&self.col[..ck * n], ck, n), T::zero(), &mut self.rows, n);
            // rows is (O, clips*T'); clip j's block of columns becomes y[first + j] (O, T').
            for j in 0..clips {
                let y_b = &mut y_flat[(first + j) * outputs * t_out..][..outputs * t_out];
                for (o, (y_row, &b)) in y_b.chunks_exact_mut(t_out).zip(bias).enumerate() {
                    for (y_t, &v) in y_row.iter_mut().zip(&self.rows[o * n + j * t_out..][..t_out]) {
                        *y_t = v + b;
                    }
                }
            }
        }
        self.input = train.then(|| x.into_owned());
        y
    }

    /// dy: (B, O, T') -> dx: (B, C, T) when `input_grad`; adds into weight.grad and bias.grad.
    /// The first layer passes `input_grad = false` and skips the dx GEMM and col2im.
    pub fn backward(&mut self, dy: ArrayView3<T>, input_grad: bool) -> Option<Array3<T>> {
        let (outputs, channels, kernel) = self.dims();
        let x = self.input.as_ref().expect("Conv1d::backward needs a forward with train = true first");
        let (batch, _, t_in) = x.dim();
        let t_out = conv_out_len(t_in, kernel, self.stride);
        assert_eq!(dy.dim(), (batch, outputs, t_out), "Conv1d dy shape");
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        let x_flat = x.as_slice().expect("cached input is contiguous");
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        let dw = self.weight.grad.as_slice_mut().expect("weight grad is contiguous");
        let dbias = self.bias.grad.as_slice_mut().expect("bias grad is contiguous");
        let ck = channels * kernel;
        let group = clips_per_gemm(batch, t_out);
        self.col.resize(ck * group * t_out, T::zero());
        self.rows.resize(outputs * group * t_out, T::zero());

        let mut dx = input_grad.then(|| Array3::zeros((batch, channels, t_in)));
        for first in (0..batch).step_by(group) {
            let clips = group.min(batch - first);
            let n = clips * t_out;
            // Gather dy of these clips side by side: rows is (O, clips*T'), as in forward.
            for j in 0..clips {
                let dy_b = &dy_flat[(first + j) * outputs * t_out..][..outputs * t_out];
                for (o, dy_row) in dy_b.chunks_exact(t_out).enumerate() {
                    self.rows[o * n + j * t_out..][..t_out].copy_from_slice(dy_row);
                }
            }
            let dy_group = &self.rows[..outputs * n];
            for (db, dy_row) in dbias.iter_mut().zip(dy_group.chunks_exact(n)) {
                *db += dy_row.iter().copied().sum();
            }
            for j in 0..clips {
                let x_b = &x_flat[(first + j) * channels * t_in..][..channels * t_in];
                im2col(x_b, channels, t_in, kernel, self.stride, &mut self.col[j * t_out..], n);
            }
            gemm(T::one(), Mat::new(dy_group, outputs, n), Mat::new(&self.col[..ck * n], ck, n).t(), T::one(), dw, ck);
            if let Some(dx) = dx.as_mut() {
                // The columns are spent; their buffer now takes dcol (C*K, clips*T').
                gemm(T::one(), Mat::new(w, outputs, ck).t(), Mat::new(dy_group, outputs, n), T::zero(), &mut self.col, n);
                let dx_flat = dx.as_slice_mut().expect("fresh array");
                for j in 0..clips {
                    let dx_b = &mut dx_flat[(first + j) * channels * t_in..][..channels * t_in];
                    col2im(&self.col[j * t_out..], channels, t_in, kernel, self.stride, n, dx_b);
                }
            }
        }
        dx
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
