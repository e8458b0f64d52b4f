//! BiLSTM forward and forward+backward at the training shape: batch 256, I = 40, H = 80, f32.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ser::nn::{BiLstm, Mode};

const BATCH: usize = 256;
const INPUT: usize = 40;
const HIDDEN: usize = 80;

fn bench_bilstm(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut lstm = BiLstm::<f32>::new(INPUT, HIDDEN, &mut rng);
    let mut group = c.benchmark_group("bilstm_b256_i40_h80_f32");
    for steps in [13, 30] {
        let x = Array3::from_shape_fn((BATCH, steps, INPUT), |_| rng.gen_range(-1.0f32..1.0));
        let dy = Array3::from_shape_fn((BATCH, steps, 2 * HIDDEN), |_| rng.gen_range(-1.0f32..1.0));
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

criterion_group!(benches, bench_bilstm);
criterion_main!(benches);
