//! 1-D convolution without padding (PyTorch's `nn.Conv1d(C, O, K, stride)`), as im2col + GEMM.
//!
//! Forward, per clip b, with `col_b = im2col(x_b)` of shape (C*K, T'):
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
    /// Scratch for one clip's im2col (C*K, T'), reused across clips and calls.
    col: Vec<T>,
}

impl<T: Real> Conv1d<T> {
    /// PyTorch's default init: weight, then bias, from uniform(-1/sqrt(C*K), 1/sqrt(C*K)).
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize, rng: &mut impl Rng) -> Self {
        assert!(stride >= 1, "stride must be >= 1");
        let fan_in = in_channels * kernel;
        let weight = Param::uniform_fan_in((out_channels, in_channels, kernel), fan_in, rng);
        let bias = Param::uniform_fan_in(out_channels, fan_in, rng);
        Conv1d { weight, bias, stride, input: None, col: Vec::new() }
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
        self.col.resize(ck * t_out, T::zero());

        let mut y = Array3::zeros((batch, outputs, t_out));
        let y_flat = y.as_slice_mut().expect("fresh array");
        for (x_b, y_b) in x_flat.chunks_exact(channels * t_in).zip(y_flat.chunks_exact_mut(outputs * t_out)) {
            for (y_row, &b) in y_b.chunks_exact_mut(t_out).zip(bias) {
                y_row.fill(b);
            }
            im2col(x_b, channels, t_in, kernel, self.stride, &mut self.col);
            gemm(T::one(), Mat::new(w, outputs, ck), Mat::new(&self.col, ck, t_out), T::one(), y_b, t_out);
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

        let mut dx = input_grad.then(|| Array3::zeros((batch, channels, t_in)));
        // Scratch for one clip's dcol (C*K, T'), only needed for dx.
        let mut dcol = if input_grad { vec![T::zero(); ck * t_out] } else { Vec::new() };
        for b in 0..batch {
            let x_b = &x_flat[b * channels * t_in..][..channels * t_in];
            let dy_b = &dy_flat[b * outputs * t_out..][..outputs * t_out];
            for (db, dy_row) in dbias.iter_mut().zip(dy_b.chunks_exact(t_out)) {
                *db += dy_row.iter().copied().sum();
            }
            im2col(x_b, channels, t_in, kernel, self.stride, &mut self.col);
            gemm(T::one(), Mat::new(dy_b, outputs, t_out), Mat::new(&self.col, ck, t_out).t(), T::one(), dw, ck);
            if let Some(dx) = dx.as_mut() {
                gemm(T::one(), Mat::new(w, outputs, ck).t(), Mat::new(dy_b, outputs, t_out), T::zero(), &mut dcol, t_out);
                let dx_b = &mut dx.as_slice_mut().expect("fresh array")[b * channels * t_in..][..channels * t_in];
                col2im(&dcol, channels, t_in, kernel, self.stride, dx_b);
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
        let mut rng = StdRng::seed_from_u64(7);
        let (batch, channels, t_in, outputs, kernel, stride) = (3, 4, 13, 5, 5, 2);
        let mut conv = Conv1d::<f64>::new(channels, outputs, kernel, stride, &mut rng);
        let x = Array3::from_shape_simple_fn((batch, channels, t_in), || rng.gen_range(-1.0..1.0));
        let y = conv.forward(x.view(), false);
        assert_eq!(y.dim(), (batch, outputs, conv.out_len(t_in)));
        assert_eq!(conv.out_len(t_in), 5);

        let t_out = conv.out_len(t_in);
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
