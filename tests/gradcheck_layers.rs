//! Gradient checks of every layer's backward against central differences in f64.
//!
//! Each check builds a layer, runs a training forward on a random input, backpropagates a random
//! dL/dy = w (so L = <y, w>), then perturbs every element of the input and of each parameter and
//! compares (method and error measure: `ser::nn::gradcheck`).

mod common;

use common::{assert_grad, numeric_wrt, random, rel_error, uniform};
use ndarray::{Array, Array2, Array3, Dimension, ShapeBuilder};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use ser::nn::{
    anchored_consistency, smoothed_targets, softmax_cross_entropy, softmax_cross_entropy_soft, softmax_cross_entropy_weighted,
    view_consistency, BatchNorm1d, Conv1d, Dropout, InputGrad, Linear, MaxPool1d, Mode, Relu, SpeakerAdversary, TemporalPool,
};

/// L = <y, w>.
fn dot<D: Dimension>(y: Array<f64, D>, w: &[f64]) -> f64 {
    assert_eq!(y.len(), w.len(), "loss weights and output differ in length");
    y.iter().zip(w).map(|(a, b)| a * b).sum()
}

/// Distinct values 0.01 apart in random order, so that no perturbation of 1e-5 changes an arg-max.
fn distinct<D: Dimension, Sh: ShapeBuilder<Dim = D>>(shape: Sh, seed: u64) -> Array<f64, D> {
    let shape = shape.into_shape_with_order();
    let mut values: Vec<f64> = (0..shape.size()).map(|i| i as f64 * 0.01 - 1.0).collect();
    values.shuffle(&mut StdRng::seed_from_u64(seed));
    Array::from_shape_vec(shape, values).expect("one value per element")
}

fn slice<D: Dimension>(a: &Array<f64, D>) -> &[f64] {
    a.as_slice().expect("contiguous")
}

#[test]
fn conv1d() {
    // (B, C, O, K, stride, T): odd and even lengths, stride 1 and 2, a 1-wide kernel, a stride
    // that leaves the last input step out of every window, and T' = 400, long enough that the
    // clips are split over several GEMMs (2 clips, then 1).
    for (case, &(batch, channels, outputs, kernel, stride, t_in)) in
        [(2, 3, 4, 5, 2, 13), (3, 2, 3, 3, 1, 8), (2, 1, 2, 1, 1, 5), (2, 4, 3, 5, 2, 12), (2, 2, 2, 3, 3, 11), (3, 1, 2, 3, 1, 402)]
            .iter()
            .enumerate()
    {
        let seed = 100 * case as u64;
        let mut conv = Conv1d::<f64>::new(channels, outputs, kernel, stride, &mut StdRng::seed_from_u64(seed));
        let x = random((batch, channels, t_in), seed + 1);
        let y = conv.forward(x.view(), Mode::Train);
        let w = uniform(y.len(), seed + 2);
        let dy = Array3::from_shape_vec(y.raw_dim(), w.clone()).unwrap();
        let dx = conv.backward(dy.view(), InputGrad::Needed).expect("InputGrad::Needed returns dx");
        let (dw, db) = (conv.weight.grad.clone(), conv.bias.grad.clone());

        // Skipping the input gradient: no dx, and the same parameter gradients added again (up
        // to the rounding of a different summation order).
        conv.forward(x.view(), Mode::Train);
        assert!(conv.backward(dy.view(), InputGrad::Skip).is_none());
        assert!(rel_error(slice(&conv.weight.grad), slice(&(&dw * 2.0))) < 1e-12, "weight grad without input_grad");
        assert!(rel_error(slice(&conv.bias.grad), slice(&(&db * 2.0))) < 1e-12, "bias grad without input_grad");

        let name = format!("conv1d B{batch} C{channels} O{outputs} K{kernel} s{stride} T{t_in}");
        let mut state = (conv, x);
        let loss = |s: &mut (Conv1d<f64>, Array3<f64>)| dot(s.0.forward(s.1.view(), Mode::Eval), &w);
        assert_grad(&format!("{name} dx"), slice(&dx), &numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), loss));
        assert_grad(&format!("{name} dweight"), slice(&dw), &numeric_wrt(&mut state, |s| s.0.weight.value.as_slice_mut().unwrap(), loss));
        assert_grad(&format!("{name} dbias"), slice(&db), &numeric_wrt(&mut state, |s| s.0.bias.value.as_slice_mut().unwrap(), loss));
    }
}

#[test]
fn maxpool1d() {
    // Kernel 5 stride 1: overlapping windows, so one input collects several gradients.
    for (case, &(kernel, stride, t_in)) in [(5, 1, 12), (3, 2, 11), (3, 2, 10)].iter().enumerate() {
        let seed = 200 + 10 * case as u64;
        let mut pool = MaxPool1d::new(kernel, stride);
        let x = distinct((2, 3, t_in), seed);
        let y = pool.forward(x.view(), Mode::Train);
        let w = uniform(y.len(), seed + 1);
        let dx = pool.backward(Array3::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
        let mut state = (pool, x);
        let numeric = numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), |s| dot(s.0.forward(s.1.view(), Mode::Eval), &w));
        assert_grad(&format!("maxpool1d K{kernel} s{stride} T{t_in} dx"), slice(&dx), &numeric);
    }
}

#[test]
fn linear() {
    let mut linear = Linear::<f64>::new(5, 4, &mut StdRng::seed_from_u64(300));
    let x = random((3, 5), 301);
    let y = linear.forward(x.view(), Mode::Train);
    let w = uniform(y.len(), 302);
    let dx = linear.backward(Array2::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
    let (dw, db) = (linear.weight.grad.clone(), linear.bias.grad.clone());
    let mut state = (linear, x);
    let loss = |s: &mut (Linear<f64>, Array2<f64>)| dot(s.0.forward(s.1.view(), Mode::Eval), &w);
    assert_grad("linear dx", slice(&dx), &numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), loss));
    assert_grad("linear dweight", slice(&dw), &numeric_wrt(&mut state, |s| s.0.weight.value.as_slice_mut().unwrap(), loss));
    assert_grad("linear dbias", slice(&db), &numeric_wrt(&mut state, |s| s.0.bias.value.as_slice_mut().unwrap(), loss));
}

#[test]
fn relu() {
    let mut relu = Relu::new();
    // At least 0.1 away from the kink at 0, where the derivative jumps.
    let x = random((4, 6), 400).mapv(|v| v + 0.1 * v.signum());
    let y = relu.forward(x.view(), Mode::Train);
    let w = uniform(y.len(), 401);
    let dx = relu.backward(Array2::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
    let mut state = (relu, x);
    let numeric = numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), |s| dot(s.0.forward(s.1.view(), Mode::Eval), &w));
    assert_grad("relu dx", slice(&dx), &numeric);
}

#[test]
fn dropout_with_a_fixed_mask() {
    let mut dropout = Dropout::<f64>::new(0.25, 500);
    let x = random((6, 8), 501);
    // Every evaluation reseeds, so every training forward draws the same mask.
    let forward = |dropout: &mut Dropout<f64>, x: &Array2<f64>| {
        dropout.reseed(500);
        dropout.forward(x.view(), Mode::Train)
    };
    let y = forward(&mut dropout, &x);
    let dropped = y.iter().filter(|&&v| v == 0.0).count();
    assert!(dropped > 0 && dropped < y.len(), "the mask should both keep and drop, dropped {dropped} of {}", y.len());
    let w = uniform(y.len(), 502);
    let dx = dropout.backward(Array2::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
    let mut state = (dropout, x);
    let numeric = numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), |s| dot(forward(&mut s.0, &s.1), &w));
    assert_grad("dropout p0.25 dx", slice(&dx), &numeric);
}

#[test]
fn batchnorm1d_training_mode() {
    let mut bn = BatchNorm1d::<f64>::new(4);
    bn.weight.value = random(4, 600);
    bn.bias.value = random(4, 601);
    let x = random((5, 4), 602) * 3.0 + 0.5;
    let y = bn.forward(x.view(), Mode::Train);
    let w = uniform(y.len(), 603);
    let dx = bn.backward(Array2::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
    let (dw, db) = (bn.weight.grad.clone(), bn.bias.grad.clone());
    let mut state = (bn, x);
    // The training output reads the batch's statistics only, so updating the running ones at
    // every evaluation changes nothing here.
    let loss = |s: &mut (BatchNorm1d<f64>, Array2<f64>)| dot(s.0.forward(s.1.view(), Mode::Train), &w);
    assert_grad("batchnorm1d dx", slice(&dx), &numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), loss));
    assert_grad("batchnorm1d dweight", slice(&dw), &numeric_wrt(&mut state, |s| s.0.weight.value.as_slice_mut().unwrap(), loss));
    assert_grad("batchnorm1d dbias", slice(&db), &numeric_wrt(&mut state, |s| s.0.bias.value.as_slice_mut().unwrap(), loss));
}

/// The speaker adversary: its own parameters' gradients as any layer's, and the gradient it hands
/// the encoder, which must be the true dL/dpooled times -λ (the reversal).
#[test]
fn speaker_adversary_with_gradient_reversal() {
    let reversal = 0.7;
    let mut adversary = SpeakerAdversary::<f64>::new(6, 3, &mut StdRng::seed_from_u64(650));
    adversary.reversal = reversal;
    adversary.bn.weight.value = random(6, 651);
    adversary.bn.bias.value = random(6, 652);
    let x = random((5, 6), 653) * 2.0 + 0.3;
    let y = adversary.forward(x.view());
    let w = uniform(y.len(), 654);
    let reversed = adversary.backward(Array2::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
    let grads: Vec<Vec<f64>> = adversary.params().into_iter().map(|(_, p)| p.grad.iter().copied().collect()).collect();
    /// The adversary and its input, perturbed one element at a time.
    type State = (SpeakerAdversary<f64>, Array2<f64>);
    /// Picks one parameter tensor out of the state.
    type Tensor = fn(&mut State) -> &mut [f64];
    let mut state = (adversary, x);
    let loss = |s: &mut State| dot(s.0.forward(s.1.view()), &w);
    let numeric = numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), loss);
    let true_dx: Vec<f64> = reversed.iter().map(|v| v / -reversal).collect();
    assert_grad("speaker_adversary dpooled / -λ", &true_dx, &numeric);
    let tensors: [(&str, Tensor); 6] = [
        ("bn.weight", |s| s.0.bn.weight.value.as_slice_mut().unwrap()),
        ("bn.bias", |s| s.0.bn.bias.value.as_slice_mut().unwrap()),
        ("fc1.weight", |s| s.0.fc1.weight.value.as_slice_mut().unwrap()),
        ("fc1.bias", |s| s.0.fc1.bias.value.as_slice_mut().unwrap()),
        ("fc2.weight", |s| s.0.fc2.weight.value.as_slice_mut().unwrap()),
        ("fc2.bias", |s| s.0.fc2.bias.value.as_slice_mut().unwrap()),
    ];
    let names: Vec<String> = state.0.params().into_iter().map(|(n, _)| n).collect();
    for ((name, tensor), analytic) in tensors.into_iter().zip(&grads) {
        assert!(names.iter().any(|n| n == name), "{name} is one of the adversary's parameters");
        assert_grad(&format!("speaker_adversary d{name}"), analytic, &numeric_wrt(&mut state, tensor, loss));
    }
}

#[test]
fn temporal_pool() {
    let lengths = [5, 3, 1];
    for (name, lengths) in [("all steps", None), ("lengths 5,3,1", Some(&lengths[..]))] {
        let mut pool = TemporalPool::new();
        let x = distinct((3, 5, 4), 700);
        let y = pool.forward(x.view(), lengths, Mode::Train);
        let w = uniform(y.len(), 701);
        let dx = pool.backward(Array2::from_shape_vec(y.raw_dim(), w.clone()).unwrap().view());
        let mut state = (pool, x);
        let numeric = numeric_wrt(&mut state, |s| s.1.as_slice_mut().unwrap(), |s| dot(s.0.forward(s.1.view(), lengths, Mode::Eval), &w));
        assert_grad(&format!("temporal_pool {name} dx"), slice(&dx), &numeric);
    }
}

#[test]
fn softmax_cross_entropy_with_and_without_label_smoothing() {
    let labels = [3, 0, 7, 3];
    for smoothing in [0.0, 0.1] {
        let mut logits = random((4, 8), 800) * 4.0;
        let (_, dlogits) = softmax_cross_entropy(logits.view(), &labels, smoothing);
        let numeric = numeric_wrt(&mut logits, |l| l.as_slice_mut().unwrap(), |l| softmax_cross_entropy(l.view(), &labels, smoothing).0);
        assert_grad(&format!("cross_entropy smoothing {smoothing} dlogits"), slice(&dlogits), &numeric);
    }
}

/// Mixup's targets: λ times one smoothed one-hot row plus 1 - λ times another.
#[test]
fn softmax_cross_entropy_with_mixed_soft_targets() {
    let lambda: [f64; 4] = [0.7, 0.3, 1.0, 0.55];
    let targets = smoothed_targets(&[3, 0, 7, 3], &lambda, 8, 0.1) + smoothed_targets(&[1, 0, 2, 5], &lambda.map(|l| 1.0 - l), 8, 0.1);
    for row in targets.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-12);
    }
    let mut logits = random((4, 8), 801) * 4.0;
    let (_, dlogits) = softmax_cross_entropy_soft(logits.view(), targets.view());
    let numeric = numeric_wrt(&mut logits, |l| l.as_slice_mut().unwrap(), |l| softmax_cross_entropy_soft(l.view(), targets.view()).0);
    assert_grad("cross_entropy mixed targets dlogits", slice(&dlogits), &numeric);
}

/// Class balance: each row's loss weighted (5 classes, as a corpus of any class count has).
#[test]
fn softmax_cross_entropy_with_row_weights() {
    let targets = smoothed_targets(&[3, 0, 4, 3], &[1.0; 4], 5, 0.1);
    let weights = [0.4, 2.5, 1.0, 0.8];
    let mut logits = random((4, 5), 802) * 4.0;
    let (_, dlogits) = softmax_cross_entropy_weighted(logits.view(), targets.view(), &weights);
    let numeric =
        numeric_wrt(&mut logits, |l| l.as_slice_mut().unwrap(), |l| softmax_cross_entropy_weighted(l.view(), targets.view(), &weights).0);
    assert_grad("cross_entropy weighted rows dlogits", slice(&dlogits), &numeric);
    let (plain, _) = softmax_cross_entropy_soft(logits.view(), targets.view());
    let (ones, _) = softmax_cross_entropy_weighted(logits.view(), targets.view(), &[1.0; 4]);
    assert_eq!(plain, ones, "weights of 1 are the unweighted loss");
}

/// Consistency across views: three clips, one alone in the batch and two of three and two
/// views, their rows interleaved.
#[test]
fn view_consistency_across_views_of_each_clip() {
    let clips = [7, 2, 7, 5, 2, 7];
    let mut logits = random((6, 8), 803) * 3.0;
    let (loss, dlogits) = view_consistency(logits.view(), &clips);
    assert!(loss > 0.0, "random views disagree");
    let numeric = numeric_wrt(&mut logits, |l| l.as_slice_mut().unwrap(), |l| view_consistency(l.view(), &clips).0);
    assert_grad("view_consistency dlogits", slice(&dlogits), &numeric);
}

/// Consistency towards each clip's anchor, which the term holds fixed: the finite differences
/// see the anchors' rows pinned, so they check the views' gradient and the anchors' zero. Clip 7
/// has three views anchored at its second row, clip 2 two, clip 5 no anchor.
#[test]
fn anchored_consistency_towards_each_clips_anchor() {
    let clips = [7, 2, 7, 5, 2, 7];
    let anchors = [false, true, true, false, false, false];
    let mut logits = random((6, 8), 805) * 3.0;
    let pinned = logits.clone();
    let (loss, dlogits) = anchored_consistency(logits.view(), &clips, &anchors);
    assert!(loss > 0.0, "random views stray from their anchors");
    let numeric = numeric_wrt(
        &mut logits,
        |l| l.as_slice_mut().unwrap(),
        |l| {
            let mut held = l.clone();
            for (b, _) in anchors.iter().enumerate().filter(|(_, &a)| a) {
                held.row_mut(b).assign(&pinned.row(b));
            }
            anchored_consistency(held.view(), &clips, &anchors).0
        },
    );
    assert_grad("anchored_consistency dlogits", slice(&dlogits), &numeric);
}
