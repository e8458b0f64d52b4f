//! BiLstm: gradient checks of dx and all eight parameters, and forward checks against a naive
//! element-by-element implementation, against clips run alone, and between f32 and f64.

mod common;

use common::{assert_grad, numeric_grad, uniform};
use ndarray::{s, Array3};
use rand::rngs::StdRng;
use rand::SeedableRng;
use ser::nn::BiLstm;

const INPUT: usize = 4;
const HIDDEN: usize = 3;
const BATCH: usize = 3;

/// Deterministic uniform(-1, 1) array of the given shape.
fn random(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    Array3::from_shape_vec(shape, uniform(shape.0 * shape.1 * shape.2, seed)).expect("length matches shape")
}

fn bilstm(input: usize, hidden: usize, seed: u64) -> BiLstm<f64> {
    BiLstm::new(input, hidden, &mut StdRng::seed_from_u64(seed))
}

/// L = sum(y * w), evaluated without caching.
fn loss(lstm: &mut BiLstm<f64>, x: &Array3<f64>, lengths: Option<&[usize]>, w: &Array3<f64>) -> f64 {
    (lstm.forward(x.view(), lengths, false) * w).sum()
}

/// Checks dx and every parameter gradient of L = sum(y * w) by central differences.
fn gradcheck(steps: usize, lengths: Option<&[usize]>) {
    let case = format!("T={steps} lengths={lengths:?}");
    let mut lstm = bilstm(INPUT, HIDDEN, 1);
    let mut x = random((BATCH, steps, INPUT), 2);
    let w = random((BATCH, steps, 2 * HIDDEN), 3);
    lstm.forward(x.view(), lengths, true);
    let dx = lstm.backward(w.view());

    let numeric = numeric_grad(x.len(), |i, delta| {
        let saved = x.as_slice().unwrap()[i];
        x.as_slice_mut().unwrap()[i] = saved + delta;
        let l = loss(&mut lstm, &x, lengths, &w);
        x.as_slice_mut().unwrap()[i] = saved;
        l
    });
    assert_grad(&format!("{case} dx"), dx.as_slice().unwrap(), &numeric);

    let names: Vec<&str> = lstm.params().iter().map(|(name, _)| *name).collect();
    for (k, name) in names.iter().enumerate() {
        let analytic: Vec<f64> = lstm.params()[k].1.grad.iter().copied().collect();
        let numeric = numeric_grad(analytic.len(), |i, delta| {
            let saved = set_param(&mut lstm, k, i, None);
            set_param(&mut lstm, k, i, Some(saved + delta));
            let l = loss(&mut lstm, &x, lengths, &w);
            set_param(&mut lstm, k, i, Some(saved));
            l
        });
        if steps == 1 && name.starts_with("weight_hh") {
            // A single step only ever sees the zero initial state as h_prev, so dW_hh is exactly zero.
            let worst = numeric.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            println!("gradcheck {:<40} zero as expected, numeric max {worst:.3e}", format!("{case} {name}"));
            assert!(analytic.iter().all(|&g| g == 0.0) && worst < 1e-9, "{case} {name}: expected a zero gradient");
        } else {
            assert_grad(&format!("{case} {name}"), &analytic, &numeric);
        }
    }
}

/// Element i of parameter k: returns its value, then overwrites it with `value` if given.
fn set_param(lstm: &mut BiLstm<f64>, k: usize, i: usize, value: Option<f64>) -> f64 {
    let mut params = lstm.params();
    let element = params[k].1.value.iter_mut().nth(i).expect("element index in range");
    let old = *element;
    if let Some(v) = value {
        *element = v;
    }
    old
}

#[test]
fn gradcheck_t5_full_length() {
    gradcheck(5, None);
}

#[test]
fn gradcheck_t5_mixed_lengths() {
    gradcheck(5, Some(&[5, 2, 3]));
}

#[test]
fn gradcheck_t1_full_length() {
    gradcheck(1, None);
}

#[test]
fn gradcheck_t1_mixed_lengths() {
    gradcheck(1, Some(&[1, 0, 1]));
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// x: (B, T, I) -> y: (B, T, 2H), straight from the formulas, one clip, step and element at a time.
fn naive_forward(lstm: &BiLstm<f64>, x: &Array3<f64>, lengths: &[usize]) -> Array3<f64> {
    let (batch, steps, input) = x.dim();
    let hidden = lstm.hidden;
    let mut y = Array3::zeros((batch, steps, 2 * hidden));
    let directions = [
        (&lstm.weight_ih_l0, &lstm.weight_hh_l0, &lstm.bias_ih_l0, &lstm.bias_hh_l0, false),
        (&lstm.weight_ih_l0_reverse, &lstm.weight_hh_l0_reverse, &lstm.bias_ih_l0_reverse, &lstm.bias_hh_l0_reverse, true),
    ];
    for (d, (w_ih, w_hh, b_ih, b_hh, reverse)) in directions.into_iter().enumerate() {
        for b in 0..batch {
            let order: Vec<usize> = if reverse { (0..lengths[b]).rev().collect() } else { (0..lengths[b]).collect() };
            let (mut h, mut c) = (vec![0.0; hidden], vec![0.0; hidden]);
            for t in order {
                let mut a = vec![0.0; 4 * hidden];
                for (r, a) in a.iter_mut().enumerate() {
                    *a = b_ih.value[r] + b_hh.value[r];
                    for k in 0..input {
                        *a += w_ih.value[[r, k]] * x[[b, t, k]];
                    }
                    for k in 0..hidden {
                        *a += w_hh.value[[r, k]] * h[k];
                    }
                }
                for j in 0..hidden {
                    let i = sigmoid(a[j]);
                    let f = sigmoid(a[hidden + j]);
                    let g = a[2 * hidden + j].tanh();
                    let o = sigmoid(a[3 * hidden + j]);
                    c[j] = f * c[j] + i * g;
                    h[j] = o * c[j].tanh();
                    y[[b, t, d * hidden + j]] = h[j];
                }
            }
        }
    }
    y
}

fn max_abs_diff<'a>(a: impl IntoIterator<Item = &'a f64>, b: impl IntoIterator<Item = &'a f64>) -> f64 {
    a.into_iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn forward_matches_naive_formulas() {
    let (batch, steps, input, hidden) = (3, 7, 4, 5);
    let mut lstm = bilstm(input, hidden, 4);
    let x = random((batch, steps, input), 5);
    for lengths in [None, Some([7, 3, 5])] {
        let y = lstm.forward(x.view(), lengths.as_ref().map(|l| &l[..]), false);
        let expected = naive_forward(&lstm, &x, &lengths.unwrap_or([steps; 3]));
        let err = max_abs_diff(&y, &expected);
        println!("forward vs naive, lengths {lengths:?}: max abs diff {err:.3e}");
        assert!(err < 1e-12, "lengths {lengths:?}: max abs diff {err:.3e}");
    }
}

#[test]
fn padded_clip_matches_clip_run_alone() {
    let lengths = [6, 3, 4, 1];
    let steps = 6;
    let mut lstm = bilstm(INPUT, HIDDEN, 6);
    // The padding is random, not zero, so any leak of it into valid outputs shows.
    let x = random((lengths.len(), steps, INPUT), 7);
    let y = lstm.forward(x.view(), Some(&lengths), false);
    for (b, &len) in lengths.iter().enumerate() {
        let alone = lstm.forward(x.slice(s![b..b + 1, ..len, ..]), None, false);
        let err = max_abs_diff(y.slice(s![b, ..len, ..]), alone.slice(s![0, .., ..]));
        assert!(err < 1e-12, "clip {b} (length {len}): batched vs alone max abs diff {err:.3e}");
        assert!(y.slice(s![b, len.., ..]).iter().all(|&v| v == 0.0), "clip {b}: outputs past length {len} are not zero");
    }
}

#[test]
fn f32_and_f64_agree() {
    let (batch, steps, input, hidden) = (4, 13, 40, 80);
    let lengths = [13, 9, 13, 5];
    let mut rng = StdRng::seed_from_u64(8);
    let mut lstm64 = BiLstm::<f64>::new(input, hidden, &mut rng);
    let mut lstm32 = BiLstm::<f32>::new(input, hidden, &mut rng);
    for ((_, mut p32), (_, p64)) in lstm32.params().into_iter().zip(lstm64.params()) {
        p32.value.zip_mut_with(&p64.value, |a, &b| *a = b as f32);
    }
    let x64 = random((batch, steps, input), 9);
    let dy64 = random((batch, steps, 2 * hidden), 10);
    let y64 = lstm64.forward(x64.view(), Some(&lengths), true);
    let y32 = lstm32.forward(x64.mapv(|v| v as f32).view(), Some(&lengths), true);
    let dx64 = lstm64.backward(dy64.view());
    let dx32 = lstm32.backward(dy64.mapv(|v| v as f32).view());

    let y_err = max_abs_diff(&y64, &y32.mapv(f64::from));
    let dx_err = max_abs_diff(&dx64, &dx32.mapv(f64::from));
    println!("f32 vs f64: y max abs diff {y_err:.3e}, dx max abs diff {dx_err:.3e}");
    assert!(y_err < 1e-5, "y: f32 vs f64 max abs diff {y_err:.3e}");
    assert!(dx_err < 1e-4, "dx: f32 vs f64 max abs diff {dx_err:.3e}");
}
