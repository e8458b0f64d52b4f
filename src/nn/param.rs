//! A learnable tensor and its gradient.

use crate::Real;
use ndarray::{Array, ArrayViewMutD, Dimension, ShapeBuilder};
use rand::Rng;

/// A parameter tensor with the gradient accumulated into it by `backward`.
#[derive(Clone, Debug)]
pub struct Param<T, D: Dimension> {
    pub value: Array<T, D>,
    pub grad: Array<T, D>,
}

impl<T: Real, D: Dimension> Param<T, D> {
    /// Wraps a value with a zero gradient of the same shape.
    pub fn new(value: Array<T, D>) -> Self {
        let grad = Array::zeros(value.raw_dim());
        Param { value, grad }
    }

    /// Values drawn from uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) in row-major order: PyTorch's default
    /// for Linear and Conv weights (kaiming_uniform with a = sqrt(5) reduces to this bound) and biases.
    pub fn uniform_fan_in<Sh: ShapeBuilder<Dim = D>>(shape: Sh, fan_in: usize, rng: &mut impl Rng) -> Self {
        assert!(fan_in > 0, "fan_in must be positive");
        let bound = 1.0 / (fan_in as f64).sqrt();
        Param::new(Array::from_shape_simple_fn(shape, || T::c(rng.gen_range(-bound..bound))))
    }

    /// Sets the gradient to zero (its own call, as in llm.c: backward only adds).
    pub fn zero_grad(&mut self) {
        self.grad.fill(T::zero());
    }

    /// Dynamic-dimension views, for code that walks every parameter (optimizer, checkpoints, checks).
    pub fn as_ref(&mut self) -> ParamRef<'_, T> {
        ParamRef { value: self.value.view_mut().into_dyn(), grad: self.grad.view_mut().into_dyn() }
    }
}

/// Mutable views of one parameter's value and gradient.
pub struct ParamRef<'a, T> {
    pub value: ArrayViewMutD<'a, T>,
    pub grad: ArrayViewMutD<'a, T>,
}
