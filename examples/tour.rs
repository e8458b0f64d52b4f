//! One batch through ser, forward and back: the live companion of docs/tour.md.
//!
//! 1. Four synthetic clips (`ser::synth`) become 162 feature rows each (`ser::features`).
//! 2. The study's model runs forward layer by layer, printing each layer's input and output shapes.
//! 3. Softmax cross-entropy, then backward in reverse, printing each gradient's shape.
//! 4. Every layer's gradient check in f64 at small sizes, and a sampled check of the whole model;
//!    the run exits with status 1 if any tensor misses the bar (`ser::nn::gradcheck::TOLERANCE`).
//! 5. A few Adam steps on the batch, printing the loss.
//!
//! `cargo run --release --example tour`

use std::process::ExitCode;
use std::time::Instant;

use ndarray::{Array, Array2, Array3, ArrayView2, Dimension, Ix2, Ix3, IxDyn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ser::features::{extract, FeatureConfig};
use ser::nn::gradcheck::{check, numeric_grad, TOLERANCE};
use ser::nn::model::{pad_batch, ModelConfig, Padding, SerModel};
use ser::nn::{
    softmax_cross_entropy, BatchNorm1d, BiLstm, Conv1d, Dropout, InputGrad, Linear, MaxPool1d, Mode, ParamRef, Relu, TemporalPool,
};
use ser::optim::adam::Adam;
use ser::synth::{synthesize_clip, EMOTION_NAMES};

const SEED: u64 = 7;

fn shape(a: &[usize]) -> String {
    format!("({})", a.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// Prints one forward step: the layer, its input shape and its output shape.
fn show(layer: &str, file: &str, input: &[usize], output: &[usize]) {
    println!("  {layer:<34} {:>16} -> {:<16} {file}", shape(input), shape(output));
}

fn main() -> ExitCode {
    let start = Instant::now();
    // 1. Clips and features.
    println!("1. Four synthetic clips, 162 feature rows each (src/synth, src/features)");
    let emotions = [0u8, 3, 4, 6];
    let cfg = FeatureConfig::default();
    let feats: Vec<Array2<f32>> = emotions
        .iter()
        .enumerate()
        .map(|(k, &emotion)| {
            let clip = synthesize_clip(SEED, 1 + k as u8, emotion, 1, 1, 1);
            let feats = extract(&clip.samples, &cfg);
            let groups = cfg.groups();
            println!(
                "  {} ({:<9}) {} samples at {} Hz -> {} rows x {} frames: ZCR {:?}, chroma {:?}, MFCC {:?}, RMS {:?}, mel {:?}",
                clip.file_name,
                EMOTION_NAMES[emotion as usize],
                clip.samples.len(),
                clip.sample_rate,
                feats.nrows(),
                feats.ncols(),
                groups.zcr,
                groups.chroma,
                groups.mfcc,
                groups.rms,
                groups.mel
            );
            feats
        })
        .collect();
    let views: Vec<ArrayView2<f32>> = feats.iter().map(|f| f.view()).collect();
    let (x, lengths) = pad_batch(&views);
    let labels: Vec<usize> = emotions.iter().map(|&e| e as usize).collect();
    println!("  padded batch x {}, lengths {lengths:?}, labels {labels:?}", shape(x.shape()));

    // 2. Forward, layer by layer, in training mode (what src/nn/model.rs's encode and classify do).
    println!("\n2. Forward (training mode)");
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Study }, SEED);
    let mode = Mode::Train;
    let h1 = model.conv1.forward(x.view(), mode);
    show("Conv1d(162->60, k5, s2)", "src/nn/conv1d.rs", x.shape(), h1.shape());
    let h2 = model.pool1.forward(h1.view(), mode);
    show("MaxPool1d(5, 1)", "src/nn/maxpool1d.rs", h1.shape(), h2.shape());
    let h3 = model.conv2.forward(h2.view(), mode);
    show("Conv1d(60->40, k3, s2)", "src/nn/conv1d.rs", h2.shape(), h3.shape());
    let h4 = model.pool2.forward(h3.view(), mode);
    show("MaxPool1d(5, 1)", "src/nn/maxpool1d.rs", h3.shape(), h4.shape());
    let seq = h4.view().permuted_axes([0, 2, 1]).as_standard_layout().into_owned();
    show("transpose to (B, T, C)", "src/nn/model.rs", h4.shape(), seq.shape());
    let h5 = model.lstm.forward(seq.view(), None, mode);
    show("BiLSTM(40 -> 80 each way)", "src/nn/bilstm.rs", seq.shape(), h5.shape());
    let pooled = model.temporal.forward(h5.view(), None, mode);
    show("concat(max, mean over time)", "src/nn/temporal_pool.rs", h5.shape(), pooled.shape());
    let mut h = pooled.clone();
    let head: [(&str, &str); 8] = [
        ("BatchNorm1d(320)", "src/nn/batchnorm1d.rs"),
        ("Linear(320, 60)", "src/nn/linear.rs"),
        ("Dropout(0.25)", "src/nn/dropout.rs"),
        ("ReLU", "src/nn/relu.rs"),
        ("Linear(60, 50)", "src/nn/linear.rs"),
        ("Dropout(0.25)", "src/nn/dropout.rs"),
        ("ReLU", "src/nn/relu.rs"),
        ("Linear(50, 8)", "src/nn/linear.rs"),
    ];
    for (k, (layer, file)) in head.iter().enumerate() {
        let next = match k {
            0 => model.bn.forward(h.view(), mode),
            1 => model.fc1.forward(h.view(), mode),
            2 => model.drop1.as_mut().expect("dropout model").forward(h.view(), mode),
            3 => model.relu1.forward(h.view(), mode),
            4 => model.fc2.forward(h.view(), mode),
            5 => model.drop2.as_mut().expect("dropout model").forward(h.view(), mode),
            6 => model.relu2.forward(h.view(), mode),
            _ => model.fc3.forward(h.view(), mode),
        };
        show(layer, file, h.shape(), next.shape());
        h = next;
    }
    let logits = h;

    // 3. Loss and backward, in reverse.
    let (loss, dlogits) = softmax_cross_entropy(logits.view(), &labels, 0.0);
    println!("\n3. Softmax cross-entropy (src/nn/loss.rs): loss {loss:.4}, dlogits = (softmax - onehot) / B {}", shape(dlogits.shape()));
    println!("   Backward (each backward adds into its parameters' grad and returns dx)");
    model.zero_grad();
    let mut d = dlogits;
    for k in (0..8).rev() {
        let next = match k {
            7 => model.fc3.backward(d.view()),
            6 => model.relu2.backward(d.view()),
            5 => model.drop2.as_mut().expect("dropout model").backward(d.view()),
            4 => model.fc2.backward(d.view()),
            3 => model.relu1.backward(d.view()),
            2 => model.drop1.as_mut().expect("dropout model").backward(d.view()),
            1 => model.fc1.backward(d.view()),
            _ => model.bn.backward(d.view()),
        };
        show(&format!("d {}", head[k].0), head[k].1, d.shape(), next.shape());
        d = next;
    }
    let d5 = model.temporal.backward(d.view());
    show("d concat(max, mean)", "src/nn/temporal_pool.rs", d.shape(), d5.shape());
    let d4 = model.lstm.backward(d5.view());
    show("d BiLSTM (backprop through time)", "src/nn/bilstm.rs", d5.shape(), d4.shape());
    let d4 = d4.permuted_axes([0, 2, 1]).as_standard_layout().into_owned();
    let d3 = model.pool2.backward(d4.view());
    show("d MaxPool1d", "src/nn/maxpool1d.rs", d4.shape(), d3.shape());
    let d2 = model.conv2.backward(d3.view(), InputGrad::Needed).expect("InputGrad::Needed returns dx");
    show("d Conv1d(60->40)", "src/nn/conv1d.rs", d3.shape(), d2.shape());
    let d1 = model.pool1.backward(d2.view());
    show("d MaxPool1d", "src/nn/maxpool1d.rs", d2.shape(), d1.shape());
    // The first layer's input is data: only its weight and bias gradients are wanted.
    assert!(model.conv1.backward(d1.view(), InputGrad::Skip).is_none(), "InputGrad::Skip returns no dx");
    println!("  {:<34} {:>16} -> {:<16} src/nn/conv1d.rs", "d Conv1d(162->60)", shape(d1.shape()), "dw, dbias only");
    let grad_norm: f32 = model.params().iter().map(|(_, p)| p.grad.iter().map(|g| g * g).sum::<f32>()).sum::<f32>().sqrt();
    println!("  gradient norm over all {} tensors: {grad_norm:.4}", model.params().len());

    // 4. Gradient checks in f64.
    println!("\n4. Gradient checks in f64 against central differences (src/nn/gradcheck.rs, bar {TOLERANCE:e})");
    let failures = gradient_checks();

    // 5. Adam.
    println!("\n5. Adam (src/optim/adam.rs), lr 1e-3, on this batch");
    let mut adam = Adam::<f32>::new(1e-3);
    for step in 1..=8 {
        model.zero_grad();
        let logits = model.forward(x.view(), &lengths, true);
        let (loss, dlogits) = softmax_cross_entropy(logits.view(), &labels, 0.0);
        model.backward(dlogits.view(), false);
        let mut params: Vec<ParamRef<f32>> = model.params().into_iter().map(|(_, p)| p).collect();
        adam.update(&mut params);
        println!("  step {step}: loss {loss:.4}");
    }
    println!("\ntour finished in {:.1} s", start.elapsed().as_secs_f64());
    if failures > 0 {
        println!("{failures} gradient check(s) failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// A uniform(-1, 1) f64 array.
fn random<D: Dimension>(shape: D, rng: &mut StdRng) -> Array<f64, D> {
    Array::from_shape_simple_fn(shape, || rng.gen_range(-1.0..1.0))
}

/// A layer under check: forward in the given mode, backward of dy, and its parameters.
trait Checked {
    fn forward(&mut self, x: &Array<f64, IxDyn>, mode: Mode) -> Array<f64, IxDyn>;
    fn backward(&mut self, dy: &Array<f64, IxDyn>) -> Array<f64, IxDyn>;
    fn params(&mut self) -> Vec<ParamRef<'_, f64>> {
        Vec::new()
    }
}

/// Implements [`Checked`] for a layer from its forward and backward calls; `params` names the
/// method returning its (name, ParamRef) list when it has parameters.
macro_rules! checked {
    ($layer:ty, $dim:ty, |$s:ident, $x:ident, $mode:ident| $fwd:expr, |$sb:ident, $dy:ident| $bwd:expr $(, $params:ident)?) => {
        impl Checked for $layer {
            fn forward(&mut self, x: &Array<f64, IxDyn>, $mode: Mode) -> Array<f64, IxDyn> {
                let ($s, $x) = (self, x.view().into_dimensionality::<$dim>().expect("input rank"));
                $fwd.into_dyn()
            }
            fn backward(&mut self, dy: &Array<f64, IxDyn>) -> Array<f64, IxDyn> {
                let $sb = self;
                let $dy = dy.view();
                $bwd.into_dyn()
            }
            $(fn params(&mut self) -> Vec<ParamRef<'_, f64>> {
                self.$params().into_iter().map(|(_, p)| p).collect()
            })?
        }
    };
}

checked!(
    Conv1d<f64>,
    Ix3,
    |s, x, mode| s.forward(x, mode),
    |s, dy| s.backward(dy.into_dimensionality::<Ix3>().unwrap(), InputGrad::Needed).unwrap(),
    params
);
checked!(MaxPool1d, Ix3, |s, x, mode| s.forward(x, mode), |s, dy| s.backward(dy.into_dimensionality::<Ix3>().unwrap()));
checked!(Linear<f64>, Ix2, |s, x, mode| s.forward(x, mode), |s, dy| s.backward(dy.into_dimensionality::<Ix2>().unwrap()), params);
checked!(BatchNorm1d<f64>, Ix2, |s, x, mode| s.forward(x, mode), |s, dy| s.backward(dy.into_dimensionality::<Ix2>().unwrap()), params);
checked!(Relu, Ix2, |s, x, mode| s.forward(x, mode), |s, dy| s.backward(dy.into_dimensionality::<Ix2>().unwrap()));

/// The BiLSTM with the masked lengths it runs with.
struct MaskedLstm(BiLstm<f64>, Vec<usize>);
checked!(
    MaskedLstm,
    Ix3,
    |s, x, mode| s.0.forward(x, Some(&s.1), mode),
    |s, dy| s.0.backward(dy.into_dimensionality::<Ix3>().unwrap()),
    named_params
);
impl MaskedLstm {
    fn named_params(&mut self) -> Vec<(&'static str, ParamRef<'_, f64>)> {
        self.0.params()
    }
}

/// Temporal pooling over all steps (the study's padding).
struct Pool(TemporalPool);
checked!(Pool, Ix3, |s, x, mode| s.0.forward(x, None, mode), |s, dy| s.0.backward(dy.into_dimensionality::<Ix2>().unwrap()));

/// Dropout that repeats one mask: reseeded before every training forward.
struct FixedMaskDropout(Dropout<f64>);
checked!(
    FixedMaskDropout,
    Ix2,
    |s, x, mode| {
        s.0.reseed(SEED);
        s.0.forward(x, mode)
    },
    |s, dy| s.0.backward(dy.into_dimensionality::<Ix2>().unwrap())
);

/// L = <forward(x), w> for a fixed random w; checks dx and every parameter gradient and prints
/// the worst error. Returns whether every tensor passed.
fn check_layer(name: &str, layer: &mut dyn Checked, mut x: Array<f64, IxDyn>, rng: &mut StdRng) -> bool {
    let y = layer.forward(&x, Mode::Train);
    let w = random(y.raw_dim(), rng);
    let dx = layer.backward(&w);
    let analytic: Vec<Vec<f64>> = layer.params().iter().map(|p| p.grad.iter().copied().collect()).collect();
    let loss = |layer: &mut dyn Checked, x: &Array<f64, IxDyn>| (layer.forward(x, Mode::Train) * &w).sum();

    let mut results = vec![check(
        dx.as_slice().expect("fresh dx"),
        &numeric_grad(x.len(), |i, delta| {
            let original = x.as_slice().unwrap()[i];
            x.as_slice_mut().unwrap()[i] = original + delta;
            let l = loss(layer, &x);
            x.as_slice_mut().unwrap()[i] = original;
            l
        }),
    )];
    for (k, analytic) in analytic.iter().enumerate() {
        let numeric = numeric_grad(analytic.len(), |i, delta| {
            let original = layer.params()[k].value.as_slice().unwrap()[i];
            layer.params()[k].value.as_slice_mut().unwrap()[i] = original + delta;
            let l = loss(layer, &x);
            layer.params()[k].value.as_slice_mut().unwrap()[i] = original;
            l
        });
        results.push(check(analytic, &numeric));
    }
    report(name, &results)
}

/// Prints the worst error of a layer's tensors (or why one failed); true when all passed.
fn report(name: &str, results: &[Result<f64, String>]) -> bool {
    let worst = results.iter().filter_map(|r| r.as_ref().ok()).fold(0.0f64, |m, &e| m.max(e));
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if failed.is_empty() {
        println!("  {name:<58} {} tensors, worst rel error {worst:.2e}  ok", results.len());
    } else {
        println!("  {name:<58} FAILED: {failed:?}");
    }
    failed.is_empty()
}

/// Every layer's check, then the whole model's; returns the number of layers that failed.
fn gradient_checks() -> usize {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut passed = Vec::new();
    let x3 = |shape: (usize, usize, usize), rng: &mut StdRng| random(IxDyn(&[shape.0, shape.1, shape.2]), rng);
    let x2 = |shape: (usize, usize), rng: &mut StdRng| random(IxDyn(&[shape.0, shape.1]), rng);

    let mut conv = Conv1d::<f64>::new(6, 4, 5, 2, &mut rng);
    let x = x3((3, 6, 17), &mut rng);
    passed.push(check_layer("Conv1d(6->4, k5, s2)  x (3, 6, 17)", &mut conv, x, &mut rng));
    // Distinct values far apart, so that no perturbation moves a window's maximum.
    let mut distinct: Vec<f64> = (0..2 * 3 * 13).map(|i| i as f64 * 0.01).collect();
    rand::seq::SliceRandom::shuffle(&mut distinct[..], &mut rng);
    let x = Array::from_shape_vec(IxDyn(&[2, 3, 13]), distinct).expect("2*3*13 values");
    passed.push(check_layer("MaxPool1d(5, 1)  x (2, 3, 13)", &mut MaxPool1d::new(5, 1), x, &mut rng));
    let mut lstm = MaskedLstm(BiLstm::new(4, 3, &mut rng), vec![5, 2, 4]);
    let x = x3((3, 5, 4), &mut rng);
    passed.push(check_layer_named("BiLSTM(4 -> 3 each way)  x (3, 5, 4), lengths 5, 2, 4", &mut lstm, x, &mut rng));
    let mut distinct: Vec<f64> = (0..3 * 5 * 4).map(|i| i as f64 * 0.01).collect();
    rand::seq::SliceRandom::shuffle(&mut distinct[..], &mut rng);
    let x = Array::from_shape_vec(IxDyn(&[3, 5, 4]), distinct).expect("3*5*4 values");
    passed.push(check_layer("concat(max, mean over time)  x (3, 5, 4)", &mut Pool(TemporalPool::new()), x, &mut rng));
    let mut bn = BatchNorm1d::<f64>::new(6);
    bn.weight.value = random(ndarray::Ix1(6), &mut rng);
    let x = x2((5, 6), &mut rng);
    passed.push(check_layer("BatchNorm1d(6)  x (5, 6)", &mut bn, x, &mut rng));
    let x = x2((3, 7), &mut rng);
    passed.push(check_layer("Linear(7, 5)  x (3, 7)", &mut Linear::<f64>::new(7, 5, &mut rng), x, &mut rng));
    let x = x2((4, 6), &mut rng);
    passed.push(check_layer("Dropout(0.25)  x (4, 6)", &mut FixedMaskDropout(Dropout::new(0.25, SEED)), x, &mut rng));
    // At least 0.1 away from the kink at 0.
    let x = x2((4, 6), &mut rng).mapv(|v| v + 0.1 * v.signum());
    passed.push(check_layer("ReLU  x (4, 6)", &mut Relu::new(), x, &mut rng));
    let mut logits = random(Ix2(4, 8), &mut rng) * 3.0;
    let labels = [3, 0, 7, 3];
    let (_, dlogits) = softmax_cross_entropy(logits.view(), &labels, 0.0);
    let numeric = numeric_grad(logits.len(), |i, delta| {
        let original = logits.as_slice().unwrap()[i];
        logits.as_slice_mut().unwrap()[i] = original + delta;
        let l = softmax_cross_entropy(logits.view(), &labels, 0.0).0;
        logits.as_slice_mut().unwrap()[i] = original;
        l
    });
    passed.push(report("softmax cross-entropy  logits (4, 8)", &[check(dlogits.as_slice().unwrap(), &numeric)]));
    passed.push(check_model(&mut rng));
    passed.iter().filter(|&&ok| !ok).count()
}

/// As [`check_layer`], for the BiLSTM, printing each of its eight tensors' errors too.
fn check_layer_named(name: &str, lstm: &mut MaskedLstm, x: Array<f64, IxDyn>, rng: &mut StdRng) -> bool {
    let names: Vec<&str> = lstm.named_params().iter().map(|(n, _)| *n).collect();
    let ok = check_layer(name, lstm, x, rng);
    println!("  {:<58} (dx, {})", "", names.join(", "));
    ok
}

/// The whole model in f64 (dropout on, masks repeated), two clips of 40 and 36 frames: 8 elements
/// of every parameter tensor, the 4 with the largest gradients (behind a dropped or dead unit a
/// gradient is exactly zero, and a sample of zeros proves nothing) and 4 at random.
fn check_model(rng: &mut StdRng) -> bool {
    let mut model = SerModel::<f64>::new(ModelConfig { dropout: true, padding: Padding::Masked }, SEED);
    let x: Array3<f64> = random(Ix3(2, 162, 40), rng);
    let (lengths, labels) = ([40, 36], [2, 5]);
    let loss = |model: &mut SerModel<f64>, x: &Array3<f64>| {
        model.reseed_dropout(SEED);
        softmax_cross_entropy(model.forward(x.view(), &lengths, true).view(), &labels, 0.0)
    };
    let (_, dlogits) = loss(&mut model, &x);
    model.zero_grad();
    model.backward(dlogits.view(), false);
    let tensors = model.params().len();
    let mut results = Vec::new();
    for k in 0..tensors {
        let grad: Vec<f64> = model.params()[k].1.grad.iter().copied().collect();
        let mut by_size: Vec<usize> = (0..grad.len()).collect();
        by_size.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
        let mut picks: Vec<usize> = by_size[..4.min(grad.len())].to_vec();
        picks.extend((0..4).map(|_| rng.gen_range(0..grad.len())));
        let analytic: Vec<f64> = picks.iter().map(|&i| grad[i]).collect();
        let numeric = numeric_grad(picks.len(), |j, delta| {
            let original = model.params()[k].1.value.as_slice().unwrap()[picks[j]];
            model.params()[k].1.value.as_slice_mut().unwrap()[picks[j]] = original + delta;
            let l = loss(&mut model, &x).0;
            model.params()[k].1.value.as_slice_mut().unwrap()[picks[j]] = original;
            l
        });
        results.push(check(&analytic, &numeric));
    }
    report(&format!("whole model (masked)  x (2, 162, 40), 8 elements of each of {tensors} tensors"), &results)
}
