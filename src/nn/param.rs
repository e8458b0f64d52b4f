//! A learnable tensor and its gradient.

use crate::Real;
use ndarray::{Array, ArrayViewMutD, Dimension};

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
