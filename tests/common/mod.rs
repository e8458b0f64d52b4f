//! Shared helpers for the gradient-check suite: the checks themselves live in the library
//! (`ser::nn::gradcheck`, method and error measure in its docs); here, random inputs and the
//! assertion that prints each tensor's error.
#![allow(dead_code, unused_imports)]

use ndarray::{Array, Dimension, ShapeBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
pub use ser::nn::gradcheck::{numeric_grad, numeric_wrt, rel_error, H, TOLERANCE};

/// Deterministic uniform(-1, 1) values.
pub fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// A uniform(-1, 1) array of the given shape.
pub fn random<D: Dimension, Sh: ShapeBuilder<Dim = D>>(shape: Sh, seed: u64) -> Array<f64, D> {
    let shape = shape.into_shape_with_order();
    let n = shape.size();
    Array::from_shape_vec(shape, uniform(n, seed)).expect("uniform gives the right count")
}

/// Compares, prints the worst error under the tensor's name, and fails as `gradcheck::check` does.
pub fn assert_grad(name: &str, analytic: &[f64], numeric: &[f64]) -> f64 {
    let result = ser::nn::gradcheck::check(analytic, numeric);
    println!("gradcheck {name:<40} max rel error {:.3e}", rel_error(analytic, numeric));
    result.unwrap_or_else(|why| panic!("{name}: {why}"))
}

/// Checks `dx` (the analytic gradient of `loss` at x, a model's input) against central
/// differences at 64 elements spread over x (checking all would take minutes).
pub fn assert_input_grad(
    name: &str,
    x: &ndarray::Array3<f64>,
    dx: &ndarray::Array3<f64>,
    mut loss: impl FnMut(&ndarray::Array3<f64>) -> f64,
) {
    let picks: Vec<usize> = (0..64).map(|j| (j * 104_729 + 5) % x.len()).collect();
    let mut xp = x.clone();
    let numeric: Vec<f64> = picks
        .iter()
        .map(|&j| {
            let mut at = |delta: f64| {
                xp.as_slice_mut().unwrap()[j] += delta;
                let l = loss(&xp);
                xp.as_slice_mut().unwrap()[j] -= delta;
                l
            };
            (at(H) - at(-H)) / (2.0 * H)
        })
        .collect();
    let analytic: Vec<f64> = picks.iter().map(|&j| dx.as_slice().unwrap()[j]).collect();
    assert_grad(name, &analytic, &numeric);
}

/// A fresh folder for one test: `ser-<test file>-<name>-<pid>` in the system's temp folder.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let suite = env!("CARGO_CRATE_NAME").replace('_', "-");
    let dir = std::env::temp_dir().join(format!("ser-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the `ser` binary: (success, stdout, stderr).
pub fn ser(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ser")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}
