//! BiLstm: gradient checks of dx and all eight parameters, and forward checks against clips run
//! alone and between f32 and f64 (fast = the plain reference loops: tests/nn_reference.rs).

mod common;

use common::{assert_grad, numeric_grad, random};
use ndarray::{s, Array3};
use rand::rngs::StdRng;
use rand::SeedableRng;
use ser::nn::{BiLstm, Mode};

const INPUT: usize = 4;
const HIDDEN: usize = 3;
const BATCH: usize = 3;

fn bilstm(input: usize, hidden: usize, seed: u64) -> BiLstm<f64> {
    BiLstm::new(input, hidden, &mut StdRng::seed_from_u64(seed))
}

/// L = sum(y * w), evaluated without caching.
fn loss(lstm: &mut BiLstm<f64>, x: &Array3<f64>, lengths: Option<&[usize]>, w: &Array3<f64>) -> f64 {
    (lstm.forward(x.view(), lengths, Mode::Eval) * w).sum()
}

/// Checks dx and every parameter gradient of L = sum(y * w) by central differences.
fn gradcheck(steps: usize, lengths: Option<&[usize]>) {
    let case = format!("T={steps} lengths={lengths:?}");
    let mut lstm = bilstm(INPUT, HIDDEN, 1);
    let mut x = random((BATCH, steps, INPUT), 2);
    let w = random((BATCH, steps, 2 * HIDDEN), 3);
    lstm.forward(x.view(), lengths, Mode::Train);
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

fn max_abs_diff<'a>(a: impl IntoIterator<Item = &'a f64>, b: impl IntoIterator<Item = &'a f64>) -> f64 {
    a.into_iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn padded_clip_matches_clip_run_alone() {
    let lengths = [6, 3, 4, 1];
    let steps = 6;
    let mut lstm = bilstm(INPUT, HIDDEN, 6);
    // The padding is random, not zero, so any leak of it into valid outputs shows.
    let x = random((lengths.len(), steps, INPUT), 7);
    let y = lstm.forward(x.view(), Some(&lengths), Mode::Eval);
    for (b, &len) in lengths.iter().enumerate() {
        let alone = lstm.forward(x.slice(s![b..b + 1, ..len, ..]), None, Mode::Eval);
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
    let y64 = lstm64.forward(x64.view(), Some(&lengths), Mode::Train);
    let y32 = lstm32.forward(x64.mapv(|v| v as f32).view(), Some(&lengths), Mode::Train);
    let dx64 = lstm64.backward(dy64.view());
    let dx32 = lstm32.backward(dy64.mapv(|v| v as f32).view());

    let y_err = max_abs_diff(&y64, &y32.mapv(f64::from));
    let dx_err = max_abs_diff(&dx64, &dx32.mapv(f64::from));
    println!("f32 vs f64: y max abs diff {y_err:.3e}, dx max abs diff {dx_err:.3e}");
    assert!(y_err < 1e-5, "y: f32 vs f64 max abs diff {y_err:.3e}");
    assert!(dx_err < 1e-4, "dx: f32 vs f64 max abs diff {dx_err:.3e}");
}
