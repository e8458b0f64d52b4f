//! Gradient checking: an analytic gradient against central differences, in f64.
//!
//! Method: pick a scalar loss (for a layer, L = <y, w> with a fixed random w, so every output
//! element matters; for the model, the cross-entropy), run backward, and compare each analytic
//! gradient with the central difference
//!   dL/dp_i ~ (L(p + h e_i) - L(p - h e_i)) / 2h,   h = [`H`],
//! whose truncation error is ~h^2 and rounding error ~1e-16 / h in f64: ~1e-10 relative here.
//!
//! Error measure, per tensor: max_i |analytic_i - numeric_i| / max(max_i |numeric_i|, 1e-12),
//! the worst element's error relative to the tensor's gradient scale (an element-wise ratio is
//! meaningless where a true gradient is exactly zero, as behind a ReLU or a max). The bar is
//! [`TOLERANCE`].
//!
//! Used by tests/gradcheck_layers.rs, tests/gradcheck_bilstm.rs, tests/model.rs and
//! examples/tour.rs.

/// Step for central differences in f64.
pub const H: f64 = 1e-5;
/// The bar every tensor's error must stay under.
pub const TOLERANCE: f64 = 1e-6;

/// Central-difference gradient of n elements. `eval(i, delta)` must add `delta` to element i,
/// evaluate the loss, restore element i, and return the loss.
pub fn numeric_grad(n: usize, mut eval: impl FnMut(usize, f64) -> f64) -> Vec<f64> {
    (0..n).map(|i| (eval(i, H) - eval(i, -H)) / (2.0 * H)).collect()
}

/// Central-difference gradient of `loss(state)` with respect to the tensor that `tensor` picks
/// out of `state`; each element is restored exactly after its two evaluations.
pub fn numeric_wrt<S>(state: &mut S, tensor: fn(&mut S) -> &mut [f64], mut loss: impl FnMut(&mut S) -> f64) -> Vec<f64> {
    let n = tensor(state).len();
    numeric_grad(n, |i, delta| {
        let original = tensor(state)[i];
        tensor(state)[i] = original + delta;
        let l = loss(state);
        tensor(state)[i] = original;
        l
    })
}

/// The per-tensor relative error described in the module docs.
pub fn rel_error(analytic: &[f64], numeric: &[f64]) -> f64 {
    assert_eq!(analytic.len(), numeric.len(), "gradient lengths differ");
    let scale = numeric.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
    analytic.iter().zip(numeric).fold(0.0f64, |m, (a, n)| m.max((a - n).abs())) / scale
}

/// The error of `analytic` against `numeric`, or why the check fails: an error at or above
/// [`TOLERANCE`], or a numeric gradient that is all zero (the check would prove nothing).
pub fn check(analytic: &[f64], numeric: &[f64]) -> Result<f64, String> {
    let err = rel_error(analytic, numeric);
    if !numeric.iter().any(|x| x.abs() > 1e-9) {
        return Err("numeric gradient is all zero, the check would prove nothing".into());
    }
    if err.is_nan() || err >= TOLERANCE {
        return Err(format!("max rel error {err:.3e} >= {TOLERANCE:e}"));
    }
    Ok(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_gradient_fails_and_a_right_one_passes() {
        // L(p) = p0^2 + 3 p1: dL/dp = (2 p0, 3).
        let mut p = vec![0.7, -1.2];
        let numeric = numeric_wrt(&mut p, |p| p.as_mut_slice(), |p| p[0] * p[0] + 3.0 * p[1]);
        assert!(check(&[1.4, 3.0], &numeric).unwrap() < 1e-9);
        assert!(check(&[1.4, 3.01], &numeric).is_err());
        assert!(check(&[0.0, 0.0], &[0.0, 0.0]).is_err());
    }
}
