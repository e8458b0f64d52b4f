//! Training-set augmentation: additive Gaussian noise, pitch shifting and speed perturbation.
//!
//! `pitch_shift` is a port of `torchaudio.functional.pitch_shift` with its defaults
//! (12 bins per octave, n_fft = 512, hop = 128, periodic Hann window):
//!
//! 1. rate = 2^(-n_steps / 12); a shift up by n_steps means playing back 1/rate times faster.
//! 2. Time-stretch by `rate` without changing pitch: STFT (centred, reflect padding), the
//!    phase vocoder below, inverse STFT to round(len / rate) samples.
//! 3. Resample the stretched clip from int(sample_rate / rate) Hz to sample_rate Hz: it gets
//!    back (about) its original length, and every frequency is scaled by 1/rate.
//! 4. Cut or zero-pad to the original length.
//!
//! A faithful port keeps torchaudio's quirks. The vocoder's phases start from frame 0 and
//! accumulate advances measured between frames; the first two frames overlap the reflect
//! padding, so their phase advances are not a sinusoid's, and when stretching (rate < 1) the
//! 0 -> 1 advance is counted twice. The bins of a pure tone then leave the first frames out of
//! phase with each other and interfere for the whole clip: +3 semitones on a 440 Hz tone keeps its
//! frequency but loses about 40% of its RMS (dropping the first two frames would keep it all).
//!
//! `speed_perturb` is Kaldi's speed perturbation (Ko et al. 2015, sox `speed`): the clip is taken
//! as recorded at `factor` x its rate and resampled back with the same torchaudio resampler, so
//! tempo and pitch change together, with no vocoder in between.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rustfft::num_complex::Complex64;

use super::resample::resample_torchaudio;
use crate::dsp::{hann_periodic, istft, stft, PadMode};

/// torchaudio's `pitch_shift` defaults.
const BINS_PER_OCTAVE: f64 = 12.0;
const N_FFT: usize = 512;
const HOP: usize = N_FFT / 4;

/// Speed factors are whole thousandths: a factor is the ratio of rates (1000 x factor) : 1000,
/// which the resampler reduces (0.9 = 9 : 10).
const SPEED_RATE_DENOMINATOR: u32 = 1000;
/// Speed factors accepted. Speed perturbation means factors near 1 (Kaldi's are 0.9 and 1.1);
/// past an octave either way a copy is no longer a plausible voice.
pub const SPEED_FACTOR_RANGE: std::ops::RangeInclusive<f64> = 0.5..=2.0;

/// Adds independent N(0, sigma^2) noise to every sample. Panics if `sigma` is negative or not
/// finite (a configuration bug).
pub fn add_noise(samples: &[f32], sigma: f32, rng: &mut impl Rng) -> Vec<f32> {
    let normal = Normal::new(0.0, sigma).unwrap_or_else(|e| panic!("noise sigma {sigma} is invalid: {e}"));
    samples.iter().map(|&x| x + normal.sample(rng)).collect()
}

/// Shifts the pitch by `n_steps` semitones keeping the duration: `torchaudio.functional.pitch_shift`
/// with its defaults (see the module docs). The output has the input's length.
pub fn pitch_shift(samples: &[f32], sample_rate: u32, n_steps: f64) -> Vec<f32> {
    if samples.is_empty() {
        return Vec::new();
    }
    let rate = 2f64.powf(-n_steps / BINS_PER_OCTAVE);
    let y: Vec<f64> = samples.iter().map(|&x| x as f64).collect();
    let window = hann_periodic(N_FFT);
    let spec = stft(&y, N_FFT, HOP, &window, true, PadMode::Reflect);
    // torch.linspace(0, pi * hop, bins): the phase a bin-centred sinusoid advances per hop.
    let bins = spec.nrows();
    let phase_advance: Vec<f64> = (0..bins).map(|k| std::f64::consts::PI * HOP as f64 * k as f64 / (bins - 1) as f64).collect();
    let stretched_spec = phase_vocoder(&spec, rate, &phase_advance);
    // Python's round() rounds halves to even.
    let stretched_len = (y.len() as f64 / rate).round_ties_even() as usize;
    let stretched = istft(&stretched_spec, N_FFT, HOP, &window, true, Some(stretched_len));
    // Python's int() truncates.
    let stretched_rate = (sample_rate as f64 / rate) as u32;
    let mut shifted = resample_torchaudio(&stretched, stretched_rate, sample_rate);
    shifted.resize(y.len(), 0.0);
    shifted.into_iter().map(|x| x as f32).collect()
}

/// The rates (orig, new) that turn a clip into itself played `factor` times as fast: the clip is
/// taken as sampled at orig and resampled to new, with orig / new = factor. Refuses (with the
/// reason) a factor outside [`SPEED_FACTOR_RANGE`] or not a whole number of thousandths.
pub fn speed_rates(factor: f64) -> Result<(u32, u32), String> {
    if !SPEED_FACTOR_RANGE.contains(&factor) {
        return Err(format!("speed factor {factor} is outside {} to {}", SPEED_FACTOR_RANGE.start(), SPEED_FACTOR_RANGE.end()));
    }
    let orig = (factor * SPEED_RATE_DENOMINATOR as f64).round();
    if (orig / SPEED_RATE_DENOMINATOR as f64 - factor).abs() > 1e-9 {
        return Err(format!("speed factor {factor} is not a whole number of thousandths"));
    }
    Ok((orig as u32, SPEED_RATE_DENOMINATOR))
}

/// Plays a clip `factor` times as fast, tempo and pitch together (Kaldi's speed perturbation):
/// every frequency is scaled by `factor` and the clip has ceil(len / factor) samples. Panics on a
/// factor [`speed_rates`] refuses (a configuration bug: user input is checked before).
pub fn speed_perturb(samples: &[f32], factor: f64) -> Vec<f32> {
    let (orig, new) = speed_rates(factor).unwrap_or_else(|reason| panic!("{reason}"));
    let x: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
    resample_torchaudio(&x, orig, new).into_iter().map(|v| v as f32).collect()
}

/// `torchaudio.functional.phase_vocoder`: speeds a (bins, frames) STFT up by `rate` (rate < 1
/// slows it down), giving (bins, ceil(frames / rate)) frames.
///
/// Output frame s reads the input at time s * rate, between frames i = floor(s * rate) and i + 1:
/// magnitude = linear interpolation at alpha = frac(s * rate); phase = the phase of frame 0 plus,
/// for each earlier output frame, the measured phase advance from its i to i + 1 (wrapped around
/// `phase_advance`, the advance expected per hop of each bin's centre frequency). Frames past
/// the end read as zero.
pub fn phase_vocoder(spec: &Array2<Complex64>, rate: f64, phase_advance: &[f64]) -> Array2<Complex64> {
    let (bins, frames) = spec.dim();
    assert_eq!(phase_advance.len(), bins, "phase_advance needs one entry per bin (expected {bins}, actual {})", phase_advance.len());
    if rate == 1.0 {
        return spec.clone();
    }
    // (magnitude, phase) of each input bin, computed once: every one is read about twice.
    let polar = spec.mapv(|c| (c.norm_sqr().sqrt(), c.arg()));
    let at = |k: usize, t: usize| if t < frames { polar[[k, t]] } else { (0.0, 0.0) };
    // torch.arange(0, frames, rate) in the spectrogram's real dtype (float32 for the usual
    // complex64 input): the rounding to f32 decides which frame pair a step reads.
    let out_frames = (frames as f64 / rate).ceil() as usize;
    let time_steps: Vec<f32> = (0..out_frames).map(|s| (s as f64 * rate) as f32).collect();
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut out = Array2::zeros((bins, out_frames));
    for k in 0..bins {
        let mut phase = at(k, 0).1;
        for (s, &step) in time_steps.iter().enumerate() {
            let i = step.floor() as usize;
            let alpha = (step - step.floor()) as f64;
            let ((m0, p0), (m1, p1)) = (at(k, i), at(k, i + 1));
            let magnitude = alpha * m1 + (1.0 - alpha) * m0;
            out[[k, s]] = Complex64::from_polar(magnitude, phase);
            // The phase for the next output frame: deviation from the expected advance, wrapped
            // to [-pi, pi] (torch.round rounds halves to even), plus the expected advance.
            let deviation = p1 - p0 - phase_advance[k];
            phase += deviation - two_pi * (deviation / two_pi).round_ties_even() + phase_advance[k];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_vocoder_keeps_a_steady_bin_centred_tone() {
        // A stationary spectrum whose phase advances exactly as expected: stretching must keep the
        // magnitude and keep advancing the phase at the same rate per output frame.
        let (bins, frames, advance) = (3, 10, 0.7);
        let spec = Array2::from_shape_fn((bins, frames), |(k, t)| Complex64::from_polar(1.0 + k as f64, advance * t as f64));
        let advances = vec![advance; bins];
        let out = phase_vocoder(&spec, 0.5, &advances);
        assert_eq!(out.dim(), (bins, 20));
        // Until the last input frame, whose successor is the zero padding.
        for s in 0..18 {
            for k in 0..bins {
                let expected = Complex64::from_polar(1.0 + k as f64, advance * s as f64);
                assert!((out[[k, s]] - expected).norm() < 1e-9, "bin {k} frame {s}: {} vs {expected}", out[[k, s]]);
            }
        }
        assert_eq!(phase_vocoder(&spec, 1.0, &advances), spec);
    }

    #[test]
    fn phase_vocoder_interpolates_magnitudes_between_frames() {
        let spec = Array2::from_shape_vec((1, 2), vec![Complex64::new(1.0, 0.0), Complex64::new(3.0, 0.0)]).unwrap();
        let out = phase_vocoder(&spec, 0.5, &[0.0]);
        let magnitudes: Vec<f64> = out.iter().map(|c| c.norm()).collect();
        // Steps 0, 0.5, 1, 1.5: frame 2 (past the end) is zero.
        assert_eq!(magnitudes, vec![1.0, 2.0, 3.0, 1.5]);
    }
}
