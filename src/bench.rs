//! `ser bench`: training, BiLSTM, feature-extraction and `ser listen` speed, and the workloads
//! that the criterion benchmarks (`benches/training.rs`) time too, so both measure the same thing.
//!
//! Workloads (f32, fixed seeds): a training batch of 256 clips of 60..150 frames (uniform, as
//! the real data's lengths), zero-padded to the longest; a BiLSTM of I = 40, H = 80 at batch 256
//! over T = 13 and T = 30 steps; a 3 s clip at 16 kHz for feature extraction; one explanation
//! of that clip's features (integrated gradients, 128 steps, and occlusion in windows of 8
//! frames) by a model of the improved recipe's configuration (masked padding, dropout); for
//! listening, [`LISTEN_SECONDS`] of synthetic sentences joined by pauses, as 48 kHz stereo 16-bit
//! PCM, read, resampled, segmented and classified by a masked model of random weights (the speed
//! does not depend on the weights).

use crate::audio::segment::SegmenterConfig;
use crate::audio::stream::{PcmEncoding, PcmStream};
use crate::checkpoint::LoadedModel;
use crate::data::scaling::InputScaling;
use crate::explain::{explain, Settings};
use crate::features::{extract, FeatureConfig};
use crate::listen::{listen, ChannelMode, Classifier, ListenConfig};
use crate::nn::model::{pad_batch, ModelConfig, Padding, SerModel, INPUT_ROWS, NUM_CLASSES};
use crate::nn::BiLstm;
use crate::train::{TrainConfig, Trainer};
use ndarray::{Array2, Array3, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// The study's batch size.
pub const BATCH: usize = 256;
/// BiLSTM input and hidden sizes of the study's model.
pub const LSTM_INPUT: usize = 40;
pub const LSTM_HIDDEN: usize = 80;
/// Length of the feature-extraction clip, in samples (3 s at 16 kHz).
pub const CLIP_SAMPLES: usize = 48_000;

/// A padded training batch: x (B, 162, K), each clip's frames, and labels.
pub struct TrainingBatch {
    pub x: Array3<f32>,
    pub lengths: Vec<usize>,
    pub labels: Vec<usize>,
}

/// `BATCH` clips of uniform(60, 150) frames of uniform(-1, 1) features, padded together.
pub fn training_batch(seed: u64) -> TrainingBatch {
    let mut rng = StdRng::seed_from_u64(seed);
    let clips: Vec<Array2<f32>> = (0..BATCH)
        .map(|_| {
            let frames = rng.gen_range(60..=150);
            Array2::from_shape_simple_fn((INPUT_ROWS, frames), || rng.gen_range(-1.0f32..1.0))
        })
        .collect();
    let views: Vec<ArrayView2<f32>> = clips.iter().map(|c| c.view()).collect();
    let (x, lengths) = pad_batch(&views);
    let labels = (0..BATCH).map(|_| rng.gen_range(0..NUM_CLASSES)).collect();
    TrainingBatch { x, lengths, labels }
}

/// The study's model (dropout, study padding) and a trainer with its defaults.
pub fn study_model_and_trainer() -> (SerModel<f32>, Trainer) {
    (SerModel::new(ModelConfig { dropout: true, padding: Padding::Study }, 0), Trainer::new(TrainConfig::default()))
}

/// A BiLSTM of the study's sizes with an input x (B, T, 40) and output gradient dy (B, T, 160).
pub fn lstm_workload(steps: usize, seed: u64) -> (BiLstm<f32>, Array3<f32>, Array3<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let lstm = BiLstm::new(LSTM_INPUT, LSTM_HIDDEN, &mut rng);
    let x = Array3::from_shape_simple_fn((BATCH, steps, LSTM_INPUT), || rng.gen_range(-1.0f32..1.0));
    let dy = Array3::from_shape_simple_fn((BATCH, steps, 2 * LSTM_HIDDEN), || rng.gen_range(-1.0f32..1.0));
    (lstm, x, dy)
}

/// Seconds of audio in the listening workload.
pub const LISTEN_SECONDS: usize = 120;
/// The listening workload's input rate and channels (the phone-call and studio worst case).
const LISTEN_RATE: u32 = 48_000;
const LISTEN_CHANNELS: usize = 2;

/// [`LISTEN_SECONDS`] of synthetic sentences, each followed by a pause of 0.4 to 2 s, as 48 kHz
/// stereo s16le bytes.
pub fn listen_stream_bytes(seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = LISTEN_SECONDS * crate::synth::SAMPLE_RATE as usize;
    let mut signal = Vec::with_capacity(total);
    let mut k = 0u64;
    while signal.len() < total {
        let clip = crate::synth::synthesize_clip(seed, 1 + (k % 4) as u8, (k % 8) as u8, 1, 1 + (k % 2) as u8, 1);
        signal.extend(clip.samples);
        signal.extend(std::iter::repeat_n(0.0, rng.gen_range(6_400..32_000)));
        k += 1;
    }
    signal.truncate(total);
    let at_rate = crate::audio::resample(&signal, crate::synth::SAMPLE_RATE, LISTEN_RATE).expect("16 kHz -> 48 kHz");
    at_rate.iter().flat_map(|&x| crate::audio::wav::to_pcm16(x).to_le_bytes().repeat(LISTEN_CHANNELS)).collect()
}

/// A masked model of random weights, as `ser listen` loads a checkpoint.
fn random_listen_model() -> LoadedModel {
    LoadedModel {
        path: "random".into(),
        description: "random weights".into(),
        model: SerModel::new(ModelConfig { dropout: true, padding: Padding::Masked }, 0),
        scaling: InputScaling::identity(),
        resample_like_notebook: false,
        band: Default::default(),
        enhancement: Default::default(),
        classes: crate::data::ravdess_classes(),
    }
}

/// Wall seconds `ser listen` takes over `bytes` (from the first byte to the last answer) with
/// its default settings, batched as for a file; and the number of utterances.
pub fn listen_seconds(bytes: &[u8]) -> (f64, usize) {
    let segmenter = SegmenterConfig::from_millis(1, 60, 300, 100, 300, 8000).expect("the defaults are consistent");
    let config = ListenConfig { segmenter, channels: ChannelMode::Mix, batch: 16 };
    let mut classifier = Classifier::new(vec![random_listen_model()], config.batch);
    let start = Instant::now();
    let stream = PcmStream::raw(bytes, "bench", PcmEncoding::S16Le, LISTEN_RATE, LISTEN_CHANNELS).expect("a valid layout");
    let mut utterances = 0;
    listen(stream, &config, &mut classifier, |_| {
        utterances += 1;
        Ok(())
    })
    .expect("in-memory input cannot fail");
    (start.elapsed().as_secs_f64(), utterances)
}

/// A 3 s speech-like clip: a 120 Hz harmonic voice with a slow vibrato, plus noise.
pub fn feature_clip(seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..CLIP_SAMPLES)
        .map(|n| {
            let t = n as f32 / 16_000.0;
            let f0 = 120.0 * (1.0 + 0.05 * (2.0 * std::f32::consts::PI * 5.0 * t).sin());
            let voice: f32 = (1..=8).map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32).sum();
            0.2 * voice + 0.01 * rng.gen_range(-1.0f32..1.0)
        })
        .collect()
}

/// Floating-point operations of one training step of the study's model on a padded batch
/// (B clips of K frames), counted as dense work over the padding, as a framework would run it.
/// A GEMM (m, k) x (k, n) is 2mkn. With T1 = (K-5)/2+1, P1 = T1-4, T2 = (P1-3)/2+1, T = T2-4:
/// ```text
/// conv1  2 B 60 (162*5) T1  x 2   forward and dW (no input gradient)
/// conv2  2 B 40 (60*3) T2   x 3   forward, dW and dx
/// lstm   2 directions x 3 x 2 B T 4H (I + H)
///        forward: x W_ih^T and h W_hh^T; backward: dW_ih, dW_hh (same size) and dx, dh (same size)
/// head   2 B (320*60 + 60*50 + 50*8) x 3   forward, dW and dx
/// ```
/// Element-wise work (gates, pooling, BatchNorm, Adam) is left out; it is a few percent.
pub fn training_step_flops(batch: usize, frames: usize) -> f64 {
    let b = batch as f64;
    let t1 = (frames - 5) / 2 + 1;
    let t2 = (t1 - 4 - 3) / 2 + 1;
    let (t1, t2, t) = (t1 as f64, t2 as f64, (t2 - 4) as f64);
    let (i, h) = (LSTM_INPUT as f64, LSTM_HIDDEN as f64);
    let conv1 = 2.0 * b * 60.0 * (162.0 * 5.0) * t1 * 2.0;
    let conv2 = 2.0 * b * 40.0 * (60.0 * 3.0) * t2 * 3.0;
    let lstm = 2.0 * 3.0 * 2.0 * b * t * 4.0 * h * (i + h);
    let head = 2.0 * b * (320.0 * 60.0 + 60.0 * 50.0 + 50.0 * 8.0) * 3.0;
    conv1 + conv2 + lstm + head
}

/// The machine's estimated f32 peak: cores x clock x SIMD lanes x 2 FMA units x 2 (an FMA is two
/// operations), with the clock from /proc/cpuinfo and the widest SIMD the CPU reports.
pub struct Peak {
    pub gflops: f64,
    pub how: String,
}

pub fn estimated_peak(threads: usize) -> Peak {
    let mhz = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find(|l| l.starts_with("cpu MHz")).and_then(|l| l.split(':').nth(1)).and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(2000.0);
    let (lanes, isa) = simd_f32_lanes();
    let gflops = threads as f64 * mhz / 1000.0 * lanes as f64 * 2.0 * 2.0;
    Peak { gflops, how: format!("{threads} cores x {:.2} GHz (/proc/cpuinfo) x {lanes} f32 lanes ({isa}) x 2 FMA units x 2", mhz / 1000.0) }
}

#[cfg(target_arch = "x86_64")]
fn simd_f32_lanes() -> (usize, &'static str) {
    if is_x86_feature_detected!("avx512f") {
        (16, "AVX-512")
    } else if is_x86_feature_detected!("avx2") {
        (8, "AVX2")
    } else {
        (4, "SSE2")
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn simd_f32_lanes() -> (usize, &'static str) {
    (4, "128-bit SIMD assumed")
}

/// What `ser bench` measured; the JSON keys are stable.
#[derive(Serialize, Debug)]
pub struct BenchReport {
    pub threads: usize,
    pub train_samples_per_s: f64,
    pub train_step_ms: f64,
    pub lstm_fwd_bwd_ms_t13: f64,
    pub lstm_fwd_bwd_ms_t30: f64,
    pub features_clips_per_s: f64,
    /// One `ser explain` of the 3 s clip from its features (the default settings: integrated
    /// gradients with 128 gradient evaluations, and occlusion), in ms.
    pub explain_ms: f64,
    /// Seconds of 48 kHz stereo audio `ser listen` gets through per second of wall time.
    pub listen_x_real_time: f64,
    pub listen_utterances: usize,
    pub train_step_gflops: f64,
    pub peak_gflops: f64,
    pub peak_estimate: String,
}

/// Calls of `f` before the timed ones: a training run makes thousands of steps, so the figures
/// are of the steady state (allocator and caches warm), not of the first calls.
const WARM_UP: usize = 3;

/// Median wall time in seconds of `runs` calls of `f`, after [`WARM_UP`] untimed calls.
fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..WARM_UP {
        f();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Runs every measurement on the current rayon pool (`threads` is what it was built with).
pub fn run(threads: usize) -> BenchReport {
    // Features first, as a run extracts them before it trains (and before training has grown
    // the heap); the PyTorch reference keeps the same order.
    let clip = feature_clip(2);
    let config = FeatureConfig::default();
    // From a worker of the pool, as the data pipeline calls it (one clip per task): a call from
    // outside would also time handing each of its frame tasks to the pool and waking up after.
    // A clip takes well under a millisecond, so each timed run extracts it 50 times.
    let mut feature_s = 0.0;
    rayon::scope(|_| {
        feature_s = median_seconds(9, || {
            for _ in 0..50 {
                extract(&clip, &config);
            }
        }) / 50.0
    });
    let mut explained = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Masked }, 0);
    let clip_features = extract(&clip, &config);
    let explain_s = median_seconds(9, || {
        explain(&mut [&mut explained], std::slice::from_ref(&clip_features), None, &Settings::default());
    });
    let batch = training_batch(0);
    let (mut model, mut trainer) = study_model_and_trainer();
    let step = median_seconds(15, || {
        trainer.train_step(&mut model, batch.x.view(), &batch.lengths, &batch.labels);
    });
    let lstm_ms = |steps: usize| {
        let (mut lstm, x, dy) = lstm_workload(steps, 1);
        1e3 * median_seconds(15, || {
            lstm.forward(x.view(), None, crate::nn::Mode::Train);
            lstm.backward(dy.view());
        })
    };
    let (t13, t30) = (lstm_ms(13), lstm_ms(30));
    let listen_bytes = listen_stream_bytes(3);
    listen_seconds(&listen_bytes); // warm-up: the first run also builds the FFT plans
    let (listen_s, listen_utterances) = listen_seconds(&listen_bytes);
    let peak = estimated_peak(threads);
    BenchReport {
        threads,
        train_samples_per_s: BATCH as f64 / step,
        train_step_ms: 1e3 * step,
        lstm_fwd_bwd_ms_t13: t13,
        lstm_fwd_bwd_ms_t30: t30,
        features_clips_per_s: 1.0 / feature_s,
        explain_ms: 1e3 * explain_s,
        listen_x_real_time: LISTEN_SECONDS as f64 / listen_s,
        listen_utterances,
        train_step_gflops: training_step_flops(BATCH, batch.x.dim().2) / step / 1e9,
        peak_gflops: peak.gflops,
        peak_estimate: peak.how,
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "threads: {}", self.threads)?;
        writeln!(
            f,
            "training: {:.0} samples/s ({:.1} ms per step of {BATCH} clips of 60..150 frames)",
            self.train_samples_per_s, self.train_step_ms
        )?;
        writeln!(
            f,
            "BiLSTM forward+backward, batch {BATCH}: {:.1} ms at T = 13, {:.1} ms at T = 30",
            self.lstm_fwd_bwd_ms_t13, self.lstm_fwd_bwd_ms_t30
        )?;
        writeln!(f, "feature extraction: {:.1} clips/s (3 s clips)", self.features_clips_per_s)?;
        writeln!(
            f,
            "explain: {:.1} ms per 3 s clip (integrated gradients, {} steps, and occlusion)",
            self.explain_ms,
            Settings::default().steps
        )?;
        writeln!(
            f,
            "listen: {:.0}x real time ({LISTEN_SECONDS} s of 48 kHz stereo s16le, {} utterances, read to last answer)",
            self.listen_x_real_time, self.listen_utterances
        )?;
        writeln!(f, "training step: {:.1} GFLOP/s of an estimated peak {:.0} GFLOP/s", self.train_step_gflops, self.peak_gflops)?;
        write!(f, "peak estimate: {}", self.peak_estimate)
    }
}
