//! The path the `wav_to_prediction` fuzz target drives, shared with `tests/fuzz_regressions.rs`
//! (which replays the inputs kept under `fixtures/fuzz/`): bytes -> `read_wav_bytes` -> resample to
//! 16 kHz -> the 162 feature rows -> the model's forward pass. Bad bytes must be an error; whatever
//! decodes must give finite features and finite probabilities that sum to one.

use ser::audio::{read_wav_bytes, resample};
use ser::features::{self, FeatureConfig};
use ser::nn::loss::softmax;
use ser::nn::model::{pad_batch, ModelConfig, Padding, SerModel};

/// Inputs past this many bytes are skipped, so that each run stays fast.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// Clips longer than this once at 16 kHz (2 s) are skipped for the same reason.
pub const MAX_SAMPLES_16K: usize = 32_000;

/// The study's model with dropout, fixed weights.
pub fn model() -> SerModel<f32> {
    SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Study }, 0)
}

/// Runs `bytes` through the pipeline; panics (the fuzzer's crash) if a stage misbehaves.
pub fn wav_to_prediction(model: &mut SerModel<f32>, bytes: &[u8]) {
    if bytes.len() > MAX_INPUT_BYTES {
        return;
    }
    let Ok(audio) = read_wav_bytes(bytes, "fuzz.wav") else { return };
    assert!(audio.samples.iter().all(|x| x.is_finite()), "the reader let a non-finite sample through");
    if audio.samples.len() as u64 * 16_000 > MAX_SAMPLES_16K as u64 * audio.sample_rate as u64 {
        return;
    }
    let samples = resample(&audio.samples, audio.sample_rate, 16_000).expect("every accepted rate resamples to 16 kHz");
    let features = features::extract(&samples, &FeatureConfig::default());
    assert_eq!(features.nrows(), features::ROWS);
    assert!(features.iter().all(|v| v.is_finite()), "non-finite features from {} samples", samples.len());
    let (x, lengths) = pad_batch(&[features.view()]);
    let probabilities = softmax(model.forward(x.view(), &lengths, false).view());
    let total: f32 = probabilities.iter().sum();
    assert!(probabilities.iter().all(|p| p.is_finite()) && (total - 1.0).abs() < 1e-4, "probabilities {probabilities:?}");
}
