//! Each fast layer against its plain reference (`ser::nn::<layer>::reference`, the loops written
//! from the math at the top of each layer file): forward output, dx, and every parameter
//! gradient, on random inputs with odd sizes (batch 1, 3, 5; odd T; T at the layer's minimum) and
//! masked lengths (0 and 1 where the layer accepts them). f64 to 1e-10 relative, f32 to 1e-5;
//! the error measure is `ser::nn::gradcheck::rel_error` (worst element over the tensor's scale).
//!
//! Layers with parameters run backward twice on one forward: the gradients must be twice the
//! reference's, since backward adds into them.

mod common;

use common::{random, rel_error};
use ndarray::{s, Array, Array1, Dimension, ShapeBuilder};
use rand::rngs::StdRng;
use rand::SeedableRng;
use ser::nn::{batchnorm1d, bilstm, conv1d, linear, maxpool1d, temporal_pool};
use ser::nn::{BatchNorm1d, BiLstm, Conv1d, InputGrad, Linear, MaxPool1d, Mode, TemporalPool};
use ser::Real;

/// The bar for T: f64 leaves only the rounding of a different summation order; f32's GEMMs and
/// vectorised sigmoid and tanh add more.
fn tolerance<T: Real>() -> f64 {
    if std::mem::size_of::<T>() == 8 {
        1e-10
    } else {
        1e-5
    }
}

fn type_name<T: Real>() -> &'static str {
    if std::mem::size_of::<T>() == 8 {
        "f64"
    } else {
        "f32"
    }
}

/// A uniform(-1, 1) array of T.
fn random_t<T: Real, D: Dimension, Sh: ShapeBuilder<Dim = D>>(shape: Sh, seed: u64) -> Array<T, D> {
    random(shape, seed).mapv(T::c)
}

fn to_f64<T: Real, D: Dimension>(a: &Array<T, D>) -> Vec<f64> {
    a.iter().map(|v| v.to_f64().expect("a float")).collect()
}

/// Prints the relative error of `fast` against `reference` under `name`; fails above the
/// tolerance, on different shapes, or on an all-zero reference (the comparison would prove
/// nothing).
fn assert_close<T: Real, D: Dimension>(name: &str, fast: &Array<T, D>, reference: &Array<T, D>) -> f64 {
    assert_eq!(fast.shape(), reference.shape(), "{name}: shapes differ");
    let (fast, reference) = (to_f64(fast), to_f64(reference));
    assert!(reference.iter().any(|&v| v != 0.0), "{name}: the reference is all zero");
    let err = rel_error(&fast, &reference);
    println!("{:<60} rel error {err:.3e}", format!("{name} {}", type_name::<T>()));
    assert!(err <= tolerance::<T>(), "{name} {}: rel error {err:.3e} > {:e}", type_name::<T>(), tolerance::<T>());
    err
}

fn twice<T: Real, D: Dimension>(a: &Array<T, D>) -> Array<T, D> {
    a.mapv(|v| v + v)
}

/// (B, C, O, K, stride, T, zero tail per clip index): clip b's last b * tail frames are zero, the
/// batch padding whose windows the fast forward skips.
fn conv1d_case<T: Real>(
    (batch, channels, outputs, kernel, stride, t_in, tail): (usize, usize, usize, usize, usize, usize, usize),
    seed: u64,
) {
    let name = format!("conv1d B{batch} C{channels} O{outputs} K{kernel} s{stride} T{t_in} tail{tail}");
    let mut conv = Conv1d::<T>::new(channels, outputs, kernel, stride, &mut StdRng::seed_from_u64(seed));
    let mut x = random_t::<T, _, _>((batch, channels, t_in), seed + 1);
    for b in 0..batch {
        let zeros = (b * tail).min(t_in);
        x.slice_mut(s![b, .., t_in - zeros..]).fill(T::zero());
    }
    let dy = random_t::<T, _, _>((batch, outputs, conv.out_len(t_in)), seed + 2);
    let y = conv.forward(x.view(), Mode::Train);
    assert_close(&format!("{name} y"), &y, &conv1d::reference::forward(x.view(), conv.weight.value.view(), conv.bias.value.view(), stride));
    let dx = conv.backward(dy.view(), InputGrad::Needed).expect("InputGrad::Needed returns dx");
    assert!(conv.backward(dy.view(), InputGrad::Skip).is_none(), "InputGrad::Skip returns no dx");
    let (dx_ref, dweight_ref, dbias_ref) = conv1d::reference::backward(x.view(), conv.weight.value.view(), stride, dy.view());
    assert_close(&format!("{name} dx"), &dx, &dx_ref);
    assert_close(&format!("{name} dweight"), &conv.weight.grad, &twice(&dweight_ref));
    assert_close(&format!("{name} dbias"), &conv.bias.grad, &twice(&dbias_ref));
}

#[test]
fn conv1d_matches_reference() {
    let cases = [
        (1, 3, 4, 5, 2, 5, 0),     // T at the minimum, one window
        (3, 2, 3, 3, 1, 8, 2),     // stride 1
        (5, 4, 3, 5, 2, 13, 3),    // odd T, clip 4 all but one frame zero
        (3, 2, 2, 3, 3, 11, 4),    // a stride that leaves the last frame out of every window
        (3, 1, 2, 3, 1, 402, 150), // several GEMM groups, long zero tails
        (2, 162, 60, 5, 2, 41, 7), // the study's first layer
    ];
    for (k, &case) in cases.iter().enumerate() {
        conv1d_case::<f64>(case, 10 * k as u64);
        conv1d_case::<f32>(case, 10 * k as u64);
    }
}

fn maxpool1d_case<T: Real>((batch, channels, kernel, stride, t_in): (usize, usize, usize, usize, usize), seed: u64) {
    let name = format!("maxpool1d B{batch} C{channels} K{kernel} s{stride} T{t_in}");
    let mut pool = MaxPool1d::new(kernel, stride);
    let x = random_t::<T, _, _>((batch, channels, t_in), seed);
    let y = pool.forward(x.view(), Mode::Train);
    assert_close(&format!("{name} y"), &y, &maxpool1d::reference::forward(x.view(), kernel, stride));
    let dy = random_t::<T, _, _>(y.raw_dim(), seed + 1);
    assert_close(&format!("{name} dx"), &pool.backward(dy.view()), &maxpool1d::reference::backward(x.view(), kernel, stride, dy.view()));
}

#[test]
fn maxpool1d_matches_reference() {
    let cases = [(1, 2, 5, 1, 5), (3, 3, 5, 1, 12), (5, 2, 3, 2, 11), (3, 1, 3, 2, 10), (2, 40, 5, 1, 17)];
    for (k, &case) in cases.iter().enumerate() {
        maxpool1d_case::<f64>(case, 100 + 10 * k as u64);
        maxpool1d_case::<f32>(case, 100 + 10 * k as u64);
    }
}

fn bilstm_case<T: Real>(batch: usize, steps: usize, input: usize, hidden: usize, lengths: Option<&[usize]>, seed: u64) {
    let name = format!(
        "bilstm B{batch} T{steps} I{input} H{hidden} lengths {}",
        lengths.map_or("none".into(), |l| format!("{:?}", &l[..l.len().min(6)]))
    );
    let mut lstm = BiLstm::<T>::new(input, hidden, &mut StdRng::seed_from_u64(seed));
    let x = random_t::<T, _, _>((batch, steps, input), seed + 1);
    let dy = random_t::<T, _, _>((batch, steps, 2 * hidden), seed + 2);
    let y = lstm.forward(x.view(), lengths, Mode::Train);
    assert_close(&format!("{name} y"), &y, &bilstm::reference::forward(&lstm, x.view(), lengths));
    let dx = lstm.backward(dy.view());
    lstm.backward(dy.view());
    let (dx_ref, [forward, reverse]) = bilstm::reference::backward(&lstm, x.view(), lengths, dy.view());
    assert_close(&format!("{name} dx"), &dx, &dx_ref);
    let expected = [
        twice(&forward.weight_ih).into_dyn(),
        twice(&forward.weight_hh).into_dyn(),
        twice(&forward.bias).into_dyn(),
        twice(&forward.bias).into_dyn(),
        twice(&reverse.weight_ih).into_dyn(),
        twice(&reverse.weight_hh).into_dyn(),
        twice(&reverse.bias).into_dyn(),
        twice(&reverse.bias).into_dyn(),
    ];
    for ((param, p), expected) in lstm.params().into_iter().zip(&expected) {
        if steps == 1 && param.starts_with("weight_hh") {
            // One step only ever reads the zero initial state: dW_hh is exactly zero.
            assert!(p.grad.iter().all(|&g| g == T::zero()) && expected.iter().all(|&g| g == T::zero()), "{name} {param}: not zero");
            continue;
        }
        assert_close(&format!("{name} d{param}"), &p.grad.to_owned(), expected);
    }
}

type LstmCase<'a> = (usize, usize, usize, usize, Option<&'a [usize]>);

#[test]
fn bilstm_matches_reference() {
    // 130 clips make two shards; their lengths 0..=3 repeat, so the sort interleaves them.
    let many: Vec<usize> = (0..130).map(|b| (b * 7 + 1) % 4).collect();
    // (B, T, I, H, lengths)
    let cases: [LstmCase; 7] = [
        (1, 1, 4, 3, None),
        (1, 1, 4, 3, Some(&[1])),
        (3, 5, 4, 3, Some(&[5, 0, 1])),
        (5, 7, 3, 2, Some(&[7, 3, 5, 1, 7])),
        (3, 6, 4, 5, None),
        (3, 4, 40, 80, Some(&[4, 2, 3])),
        (130, 3, 2, 2, Some(&many)),
    ];
    for (k, &(batch, steps, input, hidden, lengths)) in cases.iter().enumerate() {
        bilstm_case::<f64>(batch, steps, input, hidden, lengths, 200 + 10 * k as u64);
        bilstm_case::<f32>(batch, steps, input, hidden, lengths, 200 + 10 * k as u64);
    }
}

fn batchnorm1d_case<T: Real>(batch: usize, features: usize, seed: u64) {
    let name = format!("batchnorm1d B{batch} N{features}");
    let mut bn = BatchNorm1d::<T>::new(features);
    bn.weight.value = random_t(features, seed);
    bn.bias.value = random_t(features, seed + 1);
    bn.running_mean = random_t(features, seed + 2);
    bn.running_var = random_t::<T, _, _>(features, seed + 3).mapv(|v| v + T::c(1.5));
    let x = random_t::<T, _, _>((batch, features), seed + 4).mapv(|v| v * T::c(3.0) + T::c(0.5));
    let dy = random_t::<T, _, _>((batch, features), seed + 5);
    let (gamma, beta, eps) = (bn.weight.value.clone(), bn.bias.value.clone(), bn.eps);

    // Evaluation: the running statistics.
    let y_eval_ref =
        batchnorm1d::reference::forward(x.view(), bn.running_mean.view(), bn.running_var.view(), gamma.view(), beta.view(), eps);
    assert_close(&format!("{name} eval y"), &bn.forward(x.view(), Mode::Eval), &y_eval_ref);

    // Training: the batch's statistics, and the running ones updated.
    let (mean_ref, var_ref) =
        batchnorm1d::reference::updated_running_stats(bn.running_mean.view(), bn.running_var.view(), x.view(), bn.momentum);
    let (batch_mean, batch_var) = batchnorm1d::reference::batch_stats(x.view());
    let y_ref = batchnorm1d::reference::forward(x.view(), batch_mean.view(), batch_var.view(), gamma.view(), beta.view(), eps);
    assert_close(&format!("{name} train y"), &bn.forward(x.view(), Mode::Train), &y_ref);
    assert_close(&format!("{name} running_mean"), &bn.running_mean, &mean_ref);
    assert_close(&format!("{name} running_var"), &bn.running_var, &var_ref);
    let dx = bn.backward(dy.view());
    bn.backward(dy.view());
    let (dx_ref, dgamma_ref, dbeta_ref) = batchnorm1d::reference::backward(x.view(), gamma.view(), eps, dy.view());
    assert_close(&format!("{name} dx"), &dx, &dx_ref);
    assert_close(&format!("{name} dweight"), &bn.weight.grad, &twice(&dgamma_ref));
    assert_close(&format!("{name} dbias"), &bn.bias.grad, &twice(&dbeta_ref));

    // Without running statistics: the batch's in both modes, the running ones untouched.
    let mut untracked = BatchNorm1d::<T>::without_running_stats(features);
    (untracked.weight.value, untracked.bias.value) = (gamma.clone(), beta.clone());
    assert_close(&format!("{name} untracked eval y"), &untracked.forward(x.view(), Mode::Eval), &y_ref);
    assert_eq!(untracked.running_mean, Array1::zeros(features));
}

#[test]
fn batchnorm1d_matches_reference() {
    for (k, &(batch, features)) in [(2, 3), (3, 4), (5, 7), (256, 320)].iter().enumerate() {
        batchnorm1d_case::<f64>(batch, features, 300 + 10 * k as u64);
        batchnorm1d_case::<f32>(batch, features, 300 + 10 * k as u64);
    }
}

fn temporal_pool_case<T: Real>(batch: usize, steps: usize, hidden: usize, lengths: Option<&[usize]>, seed: u64) {
    let name = format!("temporal_pool B{batch} T{steps} H{hidden} lengths {lengths:?}");
    let mut pool = TemporalPool::new();
    let x = random_t::<T, _, _>((batch, steps, hidden), seed);
    let y = pool.forward(x.view(), lengths, Mode::Train);
    assert_close(&format!("{name} y"), &y, &temporal_pool::reference::forward(x.view(), lengths));
    let dy = random_t::<T, _, _>(y.raw_dim(), seed + 1);
    assert_close(&format!("{name} dx"), &pool.backward(dy.view()), &temporal_pool::reference::backward(x.view(), lengths, dy.view()));
}

#[test]
fn temporal_pool_matches_reference() {
    let cases: [(usize, usize, usize, Option<&[usize]>); 5] =
        [(1, 1, 3, None), (1, 4, 2, Some(&[1])), (3, 5, 4, Some(&[5, 1, 3])), (5, 7, 2, None), (4, 6, 160, Some(&[6, 2, 1, 4]))];
    for (k, &(batch, steps, hidden, lengths)) in cases.iter().enumerate() {
        temporal_pool_case::<f64>(batch, steps, hidden, lengths, 400 + 10 * k as u64);
        temporal_pool_case::<f32>(batch, steps, hidden, lengths, 400 + 10 * k as u64);
    }
}

fn linear_case<T: Real>(batch: usize, inputs: usize, outputs: usize, seed: u64) {
    let name = format!("linear B{batch} I{inputs} O{outputs}");
    let mut layer = Linear::<T>::new(inputs, outputs, &mut StdRng::seed_from_u64(seed));
    let x = random_t::<T, _, _>((batch, inputs), seed + 1);
    let dy = random_t::<T, _, _>((batch, outputs), seed + 2);
    let y = layer.forward(x.view(), Mode::Train);
    assert_close(&format!("{name} y"), &y, &linear::reference::forward(x.view(), layer.weight.value.view(), layer.bias.value.view()));
    let dx = layer.backward(dy.view());
    layer.backward(dy.view());
    let (dx_ref, dweight_ref, dbias_ref) = linear::reference::backward(x.view(), layer.weight.value.view(), dy.view());
    assert_close(&format!("{name} dx"), &dx, &dx_ref);
    assert_close(&format!("{name} dweight"), &layer.weight.grad, &twice(&dweight_ref));
    assert_close(&format!("{name} dbias"), &layer.bias.grad, &twice(&dbias_ref));
}

#[test]
fn linear_matches_reference() {
    for (k, &(batch, inputs, outputs)) in [(1, 5, 4), (3, 7, 2), (5, 1, 1), (4, 320, 60)].iter().enumerate() {
        linear_case::<f64>(batch, inputs, outputs, 500 + 10 * k as u64);
        linear_case::<f32>(batch, inputs, outputs, 500 + 10 * k as u64);
    }
}
