//! The whole model end to end: gradient check of every parameter tensor and the input in f64,
//! batch invariance of the masked variant, and proof that the pieces learn.

mod common;

use common::{assert_grad, uniform};
use ndarray::{Array2, Array3, ArrayView2};
use ser::checkpoint::{self, Checkpoint};
use ser::data::{Example, InputScaling};
use ser::nn::loss::softmax_cross_entropy;
use ser::nn::model::{pad_batch, ModelConfig, Padding, SerModel, LSTM_HIDDEN, NUM_CLASSES};
use ser::train::{evaluate, Scoring, TrainConfig, Trainer};
use std::collections::HashMap;

/// Elements checked per tensor (all of a tensor would take minutes for the 48 600 conv weights).
const SAMPLES_PER_TENSOR: usize = 24;

fn input(b: usize, k: usize, seed: u64) -> Array3<f64> {
    Array3::from_shape_vec((b, 162, k), uniform(b * 162 * k, seed)).unwrap()
}

fn loss(model: &mut SerModel<f64>, x: &Array3<f64>, lengths: &[usize], labels: &[usize]) -> f64 {
    model.reseed_dropout(99); // the same masks at every evaluation
    let out = model.forward(x.view(), lengths, true);
    softmax_cross_entropy(out.view(), labels, 0.0).0
}

fn check_model(config: ModelConfig) {
    check_model_of_width(config, LSTM_HIDDEN);
}

/// The gradient check of a model whose BiLSTM has `lstm_hidden` units each way.
fn check_model_of_width(config: ModelConfig, lstm_hidden: usize) {
    let mut model = SerModel::<f64>::with_width(config, NUM_CLASSES, lstm_hidden, 7);
    // Two clips of different lengths padded together; long enough for several LSTM steps.
    let x = input(3, 45, 1);
    let lengths = [45, 38, 41];
    let labels = [3, 0, 6];
    model.reseed_dropout(99);
    let out = model.forward(x.view(), &lengths, true);
    let (_, dlogits) = softmax_cross_entropy(out.view(), &labels, 0.0);
    model.zero_grad();
    let dx = model.backward(dlogits.view(), true).expect("input gradient requested");

    let names: Vec<String> = model.params().into_iter().map(|(n, _)| n).collect();
    let tag = format!(
        "{}{}/H{lstm_hidden}",
        if config.dropout { "dropout" } else { "no_dropout" },
        if config.padding == Padding::Masked { "/masked" } else { "" }
    );
    for (i, name) in names.iter().enumerate() {
        let (analytic_all, len) = {
            let ps = model.params();
            (ps[i].1.grad.iter().copied().collect::<Vec<f64>>(), ps[i].1.value.len())
        };
        let picks: Vec<usize> = (0..SAMPLES_PER_TENSOR.min(len)).map(|j| (j * 7919 + 13) % len).collect();
        let mut numeric = Vec::new();
        for &j in &picks {
            let mut at = |delta: f64| {
                *model.params()[i].1.value.iter_mut().nth(j).unwrap() += delta;
                let l = loss(&mut model, &x, &lengths, &labels);
                *model.params()[i].1.value.iter_mut().nth(j).unwrap() -= delta;
                l
            };
            numeric.push((at(common::H) - at(-common::H)) / (2.0 * common::H));
        }
        let analytic: Vec<f64> = picks.iter().map(|&j| analytic_all[j]).collect();
        assert_grad(&format!("model[{tag}] {name}"), &analytic, &numeric);
    }
    common::assert_input_grad(&format!("model[{tag}] input"), &x, &dx, |xp| loss(&mut model, xp, &lengths, &labels));
}

#[test]
fn gradcheck_whole_model_with_dropout() {
    check_model(ModelConfig { dropout: true, padding: Padding::Study });
}

#[test]
fn gradcheck_whole_model_without_dropout() {
    check_model(ModelConfig { dropout: false, padding: Padding::Study });
}

#[test]
fn gradcheck_whole_model_masked() {
    check_model(ModelConfig { dropout: true, padding: Padding::Masked });
}

/// A narrower BiLSTM (`--lstm-hidden`): the pooled vector, the BatchNorm and the first Linear
/// follow its width, and every gradient still checks.
#[test]
fn gradcheck_whole_model_of_another_bilstm_width() {
    check_model_of_width(ModelConfig { dropout: true, padding: Padding::Masked }, 6);
}

/// A checkpoint of another BiLSTM width loads as that width (read from its recurrent weights'
/// shape) and answers as the model saved (a file whose recurrent weights are not (4H, H):
/// tests/bad_input.rs).
#[test]
fn a_checkpoint_of_another_bilstm_width_loads_as_that_width() {
    let dir = common::temp_dir("width");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("wide.safetensors");
    let mut saved = SerModel::<f32>::with_width(ModelConfig { dropout: true, padding: Padding::Masked }, NUM_CLASSES, 12, 4);
    assert_eq!((saved.lstm_hidden(), saved.pooled(), saved.bn.weight.value.len()), (12, 48, 48));
    checkpoint::save(&mut saved, &path, HashMap::new()).unwrap();
    let file = Checkpoint::open(&path).unwrap();
    assert_eq!(file.lstm_hidden().unwrap(), 12);
    let mut loaded = file.load::<f32>().unwrap();
    let (x, lengths) = pad_batch(&[clip(50, 1).view(), clip(44, 2).view()]);
    assert_eq!(saved.forward(x.view(), &lengths, false), loaded.forward(x.view(), &lengths, false));
}

fn clip(k: usize, seed: u64) -> Array2<f32> {
    Array2::from_shape_vec((162, k), uniform(162 * k, seed).into_iter().map(|v| v as f32).collect()).unwrap()
}

#[test]
fn masked_logits_do_not_depend_on_the_batch() {
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Masked }, 3);
    let clips = [clip(40, 1), clip(90, 2), clip(20, 3), clip(61, 4)];
    let views: Vec<ArrayView2<f32>> = clips.iter().map(|c| c.view()).collect();
    let (x, lengths) = pad_batch(&views);
    let together = model.forward(x.view(), &lengths, false);
    for (i, c) in clips.iter().enumerate() {
        let (x1, l1) = pad_batch(&[c.view()]);
        let alone = model.forward(x1.view(), &l1, false);
        for (a, b) in alone.row(0).iter().zip(together.row(i)) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "clip {i}: alone {a} vs batched {b}");
        }
    }
    // The study's padding does depend on the batch: the control that makes the test meaningful.
    let mut study = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Study }, 3);
    let together = study.forward(x.view(), &lengths, false);
    let (x1, l1) = pad_batch(&[clips[0].view()]);
    let alone = study.forward(x1.view(), &l1, false);
    assert!(alone.row(0).iter().zip(together.row(0)).any(|(a, b)| (a - b).abs() > 1e-3));
}

/// Eight classes, each marked by a bump in its own band of feature rows, plus noise: a model whose
/// pieces work fits it perfectly.
fn separable(n_per_class: usize) -> Vec<Example> {
    let mut out = Vec::new();
    for label in 0..8 {
        for i in 0..n_per_class {
            let k = 40 + (i * 13 + label * 7) % 30;
            let mut f = clip(k, (label * 1000 + i) as u64) * 0.3;
            f.slice_mut(ndarray::s![label * 20..label * 20 + 20, ..]).mapv_inplace(|v| v + 1.5);
            out.push(Example { name: format!("{label}-{i}"), ..Example::original(f, label, 1) });
        }
    }
    out
}

#[test]
fn learns_a_small_separable_task_to_100_percent() {
    let data = separable(6);
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: false, padding: Padding::Study }, 5);
    let mut trainer = Trainer::new(TrainConfig { epochs: 40, batch_size: 16, lr: 3e-3, seed: 5, ..TrainConfig::default() });
    trainer.fit(&mut model, &data, &[], |_, _| Ok::<(), anyhow::Error>(())).unwrap();
    let first = trainer.history.first().unwrap().loss;
    let last = trainer.history.last().unwrap().loss;
    let acc = evaluate(&mut model, &data, &InputScaling::identity(), Scoring::Batched(16)).unwrap().accuracy;
    println!("loss {first:.3} -> {last:.3}, train accuracy {acc}");
    assert!(last < first * 0.2, "loss fell only from {first} to {last}");
    assert_eq!(acc, 1.0);
}

/// Stopped after its first epoch and resumed from the state file, a speaker-adversarial run (with
/// mixup and a schedule) gives the numbers of an uninterrupted one: the adversary and its Adam
/// moments travel in the state; and the adversary does change training.
#[test]
fn a_speaker_adversarial_run_resumed_from_its_state_file_matches_an_uninterrupted_one() {
    use ser::train::state::{load_state, save_state};
    let mut data = separable(4);
    for (i, e) in data.iter_mut().enumerate() {
        e.actor = [3, 8, 12][i % 3];
    }
    let config = TrainConfig { epochs: 3, batch_size: 16, seed: 6, speaker_adversary: 0.5, mixup_alpha: 0.4, ..TrainConfig::default() };
    let fresh = |config: &TrainConfig| {
        let mut trainer = Trainer::new(config.clone());
        let model = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Masked }, 6);
        trainer.attach_adversary(3, model.pooled());
        (model, trainer)
    };
    let weights = |model: &mut SerModel<f32>, trainer: &mut Trainer| {
        let mut all: Vec<Vec<f32>> = model.params().into_iter().map(|(_, p)| p.value.iter().copied().collect()).collect();
        let (adversary, _) = trainer.adversary.as_mut().expect("an adversary");
        all.extend(adversary.params().into_iter().map(|(_, p)| p.value.iter().copied().collect()));
        all
    };
    let losses = |t: &Trainer| t.history.iter().map(|l| l.loss).collect::<Vec<_>>();
    let (mut model, mut trainer) = fresh(&config);
    trainer.fit(&mut model, &data, &[], |_, _| Ok::<(), anyhow::Error>(())).unwrap();

    let state = std::env::temp_dir().join(format!("ser-adversary-state-{}.safetensors", std::process::id()));
    let (mut first, mut stopped) = fresh(&config);
    let stop = stopped.fit(&mut first, &data, &[], |m, t| {
        save_state(&state, m, t).unwrap();
        Err(anyhow::anyhow!("stopped"))
    });
    assert!(stop.is_err() && stopped.history.len() == 1, "stopped after epoch 1");
    let (mut resumed, mut trainer2) = fresh(&config);
    load_state(&state, &mut resumed, &mut trainer2).unwrap();
    std::fs::remove_file(&state).unwrap();
    trainer2.fit(&mut resumed, &data, &[], |_, _| Ok::<(), anyhow::Error>(())).unwrap();
    assert_eq!(losses(&trainer), losses(&trainer2));
    assert!(weights(&mut model, &mut trainer) == weights(&mut resumed, &mut trainer2), "the same weights after epoch 3");

    let without = TrainConfig { speaker_adversary: 0.0, ..config };
    let (mut plain, mut plain_trainer) = fresh(&without);
    plain_trainer.fit(&mut plain, &data, &[], |_, _| Ok::<(), anyhow::Error>(())).unwrap();
    assert!(plain_trainer.adversary.is_none());
    assert_ne!(losses(&trainer), losses(&plain_trainer), "the reversed gradient changes training");
}

/// One training step's logits and every gradient with `threads` rayon threads: a batch of 150
/// clips of 60..150 frames, enough for two BiLSTM shards and several convolution groups.
fn step_on_threads(threads: usize, padding: Padding) -> (Vec<f32>, Vec<Vec<f32>>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding }, 3);
        let clips: Vec<Array2<f32>> = (0..150).map(|i| clip(60 + (i * 37) % 91, i as u64)).collect();
        let views: Vec<ArrayView2<f32>> = clips.iter().map(|c| c.view()).collect();
        let (x, lengths) = pad_batch(&views);
        let labels: Vec<usize> = (0..150).map(|i| i % 8).collect();
        model.reseed_dropout(5);
        let out = model.forward(x.view(), &lengths, true);
        let (_, dlogits) = softmax_cross_entropy(out.view(), &labels, 0.0);
        model.zero_grad();
        model.backward(dlogits.view(), false);
        let grads = model.params().into_iter().map(|(_, p)| p.grad.iter().copied().collect()).collect();
        (out.iter().copied().collect(), grads)
    })
}

#[test]
fn one_and_two_threads_give_the_same_logits_and_gradients() {
    for padding in [Padding::Study, Padding::Masked] {
        let (logits_1, grads_1) = step_on_threads(1, padding);
        let (logits_2, grads_2) = step_on_threads(2, padding);
        let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst(&logits_1, &logits_2) <= 1e-5, "{padding:?} logits differ by {}", worst(&logits_1, &logits_2));
        for (k, (g1, g2)) in grads_1.iter().zip(&grads_2).enumerate() {
            assert!(worst(g1, g2) <= 1e-5, "{padding:?} gradient {k} differs by {}", worst(g1, g2));
        }
    }
}
