//! Fully connected layer (PyTorch's `nn.Linear(I, O)`).
//!
//! Forward:  `y[b, o]` = `bias[o]` + Σ_i `W[o, i]` `x[b, i]`        y (B, O) = x (B, I) @ W^T (I, O) + b
//! Backward: `dW[o, i]` = Σ_b `dy[b, o]` `x[b, i]`                 dW (O, I) = dy^T (O, B) @ x (B, I)
//!           `dbias[o]` = Σ_b `dy[b, o]`
//!           `dx[b, i]` = Σ_o `dy[b, o]` `W[o, i]`                 dx (B, I) = dy (B, O) @ W (O, I)
//!
//! Reference: [`reference`](mod@reference), the sums above as loops. Fast path: the same three products as GEMMs.
//! Tests: fast = reference in tests/nn_reference.rs (`linear_*`); gradient check in
//! tests/gradcheck_layers.rs (`linear`).

use crate::nn::{Mode, Param, ParamRef};
use crate::Real;
use ndarray::{Array2, ArrayView2, Axis, Ix1, Ix2};
use rand::Rng;
use ser_kernels::gemm::{gemm, Mat};

/// The formulas as loops, one output element at a time.
pub mod reference {
    use crate::Real;
    use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

    /// x: (B, I), weight: (O, I), bias: (O) -> y: (B, O).
    pub fn forward<T: Real>(x: ArrayView2<T>, weight: ArrayView2<T>, bias: ArrayView1<T>) -> Array2<T> {
        let ((batch, inputs), outputs) = (x.dim(), weight.nrows());
        let mut y = Array2::zeros((batch, outputs));
        for b in 0..batch {
            for o in 0..outputs {
                let mut sum = bias[o];
                for i in 0..inputs {
                    sum += weight[[o, i]] * x[[b, i]];
                }
                y[[b, o]] = sum;
            }
        }
        y
    }

    /// x: (B, I), weight: (O, I), dy: (B, O) -> (dx (B, I), dweight (O, I), dbias (O)).
    pub fn backward<T: Real>(x: ArrayView2<T>, weight: ArrayView2<T>, dy: ArrayView2<T>) -> (Array2<T>, Array2<T>, Array1<T>) {
        let ((batch, inputs), outputs) = (x.dim(), weight.nrows());
        let mut dx = Array2::zeros((batch, inputs));
        let mut dweight = Array2::zeros((outputs, inputs));
        let mut dbias = Array1::zeros(outputs);
        for b in 0..batch {
            for o in 0..outputs {
                dbias[o] += dy[[b, o]];
                for i in 0..inputs {
                    dweight[[o, i]] += dy[[b, o]] * x[[b, i]];
                    dx[[b, i]] += dy[[b, o]] * weight[[o, i]];
                }
            }
        }
        (dx, dweight, dbias)
    }
}

/// A linear layer with its cached input.
pub struct Linear<T> {
    /// (O, I)
    pub weight: Param<T, Ix2>,
    /// (O)
    pub bias: Param<T, Ix1>,
    /// The input (B, I) and the mode of the forward that cached it (EvalInputGrad: no dW).
    input: Option<(Array2<T>, Mode)>,
}

impl<T: Real> Linear<T> {
    /// PyTorch's default init: weight, then bias, from uniform(-1/sqrt(I), 1/sqrt(I)).
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        let weight = Param::uniform_fan_in((out_features, in_features), in_features, rng);
        let bias = Param::uniform_fan_in(out_features, in_features, rng);
        Linear { weight, bias, input: None }
    }

    /// x: (B, I) -> (B, O). Caches the input in Train and EvalInputGrad mode.
    pub fn forward(&mut self, x: ArrayView2<T>, mode: Mode) -> Array2<T> {
        let (outputs, inputs) = self.weight.value.dim();
        let (batch, x_inputs) = x.dim();
        assert_eq!(x_inputs, inputs, "Linear input features: expected {inputs}, got {x_inputs}");
        let x = x.as_standard_layout();
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        let mut y = self.bias.value.broadcast((batch, outputs)).expect("bias is (O)").to_owned();
        let x_flat = x.as_slice().expect("standard layout");
        gemm(
            T::one(),
            Mat::new(x_flat, batch, inputs),
            Mat::new(w, outputs, inputs).t(),
            T::one(),
            y.as_slice_mut().expect("fresh array"),
            outputs,
        );
        self.input = mode.caches().then(|| (x.into_owned(), mode));
        y
    }

    /// dy: (B, O) -> dx: (B, I); after a Train forward adds into weight.grad and bias.grad.
    pub fn backward(&mut self, dy: ArrayView2<T>) -> Array2<T> {
        let (outputs, inputs) = self.weight.value.dim();
        let (x, mode) = self.input.as_ref().expect("Linear::backward needs a Train or EvalInputGrad forward first");
        let batch = x.nrows();
        assert_eq!(dy.dim(), (batch, outputs), "Linear dy shape");
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        if mode.is_train() {
            let x_flat = x.as_slice().expect("cached input is contiguous");
            let dw = self.weight.grad.as_slice_mut().expect("weight grad is contiguous");
            gemm(T::one(), Mat::new(dy_flat, batch, outputs).t(), Mat::new(x_flat, batch, inputs), T::one(), dw, inputs);
            self.bias.grad += &dy.sum_axis(Axis(0));
        }
        let mut dx = Array2::zeros((batch, inputs));
        let w = self.weight.value.as_slice().expect("weight is contiguous");
        gemm(
            T::one(),
            Mat::new(dy_flat, batch, outputs),
            Mat::new(w, outputs, inputs),
            T::zero(),
            dx.as_slice_mut().expect("fresh array"),
            inputs,
        );
        dx
    }

    /// ("weight", (O, I)), ("bias", (O)).
    pub fn params(&mut self) -> Vec<(&'static str, ParamRef<'_, T>)> {
        vec![("weight", self.weight.as_ref()), ("bias", self.bias.as_ref())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn forward_is_x_times_w_transposed_plus_b() {
        let mut linear = Linear::<f64>::new(3, 2, &mut StdRng::seed_from_u64(0));
        linear.weight.value = array![[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]];
        linear.bias.value = array![0.25, -2.0];
        let y = linear.forward(array![[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]].view(), Mode::Eval);
        assert_eq!(y, array![[6.25, -2.5], [-0.75, -4.0]]);
    }
}
