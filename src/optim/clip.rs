//! Gradient clipping by global L2 norm, as `torch.nn.utils.clip_grad_norm_`:
//! norm = sqrt(sum of every squared gradient element); if norm > max_norm, every gradient is
//! scaled by max_norm / (norm + 1e-6).

use crate::nn::ParamRef;
use crate::Real;

/// Clips in place and returns the norm before clipping.
pub fn clip_grad_norm<T: Real>(params: &mut [ParamRef<'_, T>], max_norm: f64) -> f64 {
    let norm = params.iter().map(|p| p.grad.iter().map(|g| g.to_f64().unwrap().powi(2)).sum::<f64>()).sum::<f64>().sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let coef = T::c(coef);
        for p in params.iter_mut() {
            p.grad.mapv_inplace(|g| g * coef);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Param;
    use ndarray::array;

    #[test]
    fn clipping_equals_the_formula() {
        let mut a = Param::new(array![0.0f64, 0.0]);
        let mut b = Param::new(array![0.0f64]);
        a.grad.assign(&array![3.0, 0.0]);
        b.grad.assign(&array![4.0]);
        let norm = clip_grad_norm(&mut [a.as_ref(), b.as_ref()], 1.0);
        assert_eq!(norm, 5.0);
        let coef = 1.0 / (5.0 + 1e-6);
        assert!((a.grad[0] - 3.0 * coef).abs() < 1e-15);
        assert!((b.grad[0] - 4.0 * coef).abs() < 1e-15);
        // Under the bound nothing changes.
        let norm = clip_grad_norm(&mut [a.as_ref(), b.as_ref()], 10.0);
        assert!((norm - 5.0 * coef).abs() < 1e-12);
        assert!((a.grad[0] - 3.0 * coef).abs() < 1e-15);
    }
}
