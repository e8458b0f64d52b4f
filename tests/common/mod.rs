//! Shared helpers for the gradient-check suite.
//!
//! Method: pick a scalar loss L = sum(y * w) with a fixed random `w` (so every output element
//! matters), run backward with dL/dy = w, and compare each analytic gradient with the central
//! difference (L(x + h) - L(x - h)) / 2h in f64.
//!
//! Error measure, per tensor: max_i |analytic_i - numeric_i| / max(max_i |numeric_i|, 1e-12), the
//! worst element error relative to the tensor's gradient scale (an element-wise ratio is
//! meaningless where a true gradient is exactly zero, as behind a ReLU or a max).
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Step for central differences in f64: truncation error ~h^2, rounding ~1e-16/h.
pub const H: f64 = 1e-5;
/// The suite's bar for every tensor.
pub const TOLERANCE: f64 = 1e-6;

/// Deterministic uniform(-1, 1) values.
pub fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Central-difference gradient. `eval(i, delta)` must add `delta` to element i, evaluate the loss,
/// restore element i, and return the loss.
pub fn numeric_grad(n: usize, mut eval: impl FnMut(usize, f64) -> f64) -> Vec<f64> {
    (0..n).map(|i| (eval(i, H) - eval(i, -H)) / (2.0 * H)).collect()
}

/// The per-tensor relative error described in the module docs.
pub fn rel_error(analytic: &[f64], numeric: &[f64]) -> f64 {
    assert_eq!(analytic.len(), numeric.len(), "gradient lengths differ");
    let scale = numeric.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
    analytic.iter().zip(numeric).fold(0.0f64, |m, (a, n)| m.max((a - n).abs())) / scale
}

/// Compares, prints the worst error under the tensor's name, and fails above [`TOLERANCE`].
pub fn assert_grad(name: &str, analytic: &[f64], numeric: &[f64]) -> f64 {
    let err = rel_error(analytic, numeric);
    println!("gradcheck {name:<40} max rel error {err:.3e}");
    assert!(
        numeric.iter().any(|x| x.abs() > 1e-9),
        "{name}: numeric gradient is all zero, the check would prove nothing"
    );
    assert!(err < TOLERANCE, "{name}: max rel error {err:.3e} >= {TOLERANCE:e}");
    err
}
