//! The training workloads at the study's shapes, f32: BiLSTM forward and forward+backward
//! (batch 256, I = 40, H = 80), Conv1d(162 -> 60, k 5, s 2) forward+backward (batch 256,
//! K = 120), one whole training step (batch 256, clips of 60..150 frames), and feature extraction
//! of one 3 s clip, beside the Wiener filter of the same clip. The workloads but the filter are
//! `ser::bench`'s, the ones `ser bench` times.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ser::audio::enhance::wiener;
use ser::bench::{feature_clip, lstm_workload, study_model_and_trainer, training_batch, BATCH};
use ser::features::{extract, FeatureConfig};
use ser::nn::{Conv1d, InputGrad, Mode};

fn bench_bilstm(c: &mut Criterion) {
    let mut group = c.benchmark_group("bilstm_b256_i40_h80");
    for steps in [13, 30] {
        let (mut lstm, x, dy) = lstm_workload(steps, 1);
        group.bench_with_input(BenchmarkId::new("forward", steps), &steps, |b, _| b.iter(|| lstm.forward(x.view(), None, Mode::Eval)));
        group.bench_with_input(BenchmarkId::new("forward_backward", steps), &steps, |b, _| {
            b.iter(|| {
                lstm.forward(x.view(), None, Mode::Train);
                lstm.backward(dy.view())
            })
        });
    }
    group.finish();
}

fn bench_conv1(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut conv = Conv1d::<f32>::new(162, 60, 5, 2, &mut rng);
    let x = Array3::from_shape_simple_fn((BATCH, 162, 120), || rng.gen_range(-1.0f32..1.0));
    let dy = Array3::from_shape_simple_fn((BATCH, 60, conv.out_len(120)), || rng.gen_range(-1.0f32..1.0));
    c.bench_function("conv1d_162_60_k5_s2_b256_k120/forward_backward", |b| {
        b.iter(|| {
            conv.forward(x.view(), Mode::Train);
            conv.backward(dy.view(), InputGrad::Skip)
        })
    });
}

fn bench_training_step(c: &mut Criterion) {
    let batch = training_batch(0);
    let (mut model, mut trainer) = study_model_and_trainer();
    c.bench_function("training_step_b256_frames_60_150", |b| {
        b.iter(|| trainer.train_step(&mut model, batch.x.view(), &batch.lengths, &batch.labels))
    });
}

fn bench_features(c: &mut Criterion) {
    let clip = feature_clip(2);
    let config = FeatureConfig::default();
    c.bench_function("features_extract_3s_clip", |b| b.iter(|| extract(&clip, &config)));
    // What `--enhance wiener` adds before each clip's features.
    c.bench_function("wiener_filter_3s_clip", |b| b.iter(|| wiener(&clip)));
}

criterion_group!(benches, bench_bilstm, bench_conv1, bench_training_step, bench_features);
criterion_main!(benches);
