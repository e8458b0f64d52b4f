//! Whole-clip sample-rate conversion with rubato's synchronous FFT resampler.
//!
//! The FFT resampler is rubato's highest-quality mode for a fixed ratio (its anti-aliasing filter
//! is a Blackman-Harris window in the frequency domain). `process_all` feeds the clip through in
//! chunks and drops the resampler's startup delay, so output sample j sits at input time
//! j * from/to: the result is time-aligned with the input, not shifted by the filter.
//!
//! `resample_torchaudio` is a second, exact port of `torchaudio.functional.resample` (windowed
//! sinc, Hann window, its default settings); `pitch_shift` uses it so the augmentation matches
//! torchaudio's numbers, not only its intent.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, Sample, WindowFunction};

use super::AudioError;

/// Frames per internal chunk: a hint to rubato, which rounds it to fit the ratio. It sets the
/// FFT length and so the filter's sharpness; 1024 is rubato's suggested starting point.
const CHUNK_FRAMES: usize = 1024;

/// The one FFT resampler for `from_hz -> to_hz` that whole clips and streams share, so a stream
/// gives the samples a whole-file read gives.
///
/// One FFT block per chunk (`sub_chunks` 1): rubato's plain constructor splits a chunk into
/// blocks of about 256 frames when the input size is fixed, and the shorter filter that comes with
/// them rolls off from about 6 kHz when going to 16 kHz (-19 dB at 7-7.5 kHz against this one),
/// which moved the top mel bands of every utterance `ser listen` heard at 48 kHz away from what a
/// model trained on 16 kHz clips knows. With one block the FFT holds about `CHUNK_FRAMES` input
/// frames (1026 from 48 kHz, 1323 from 44.1 kHz) whichever side is fixed.
pub(crate) fn fft_resampler<T: Sample>(from_hz: u32, to_hz: u32, channels: usize, fixed: FixedSync) -> Result<Fft<T>, AudioError> {
    Fft::<T>::new_custom(from_hz as usize, to_hz as usize, CHUNK_FRAMES, 1, channels, WindowFunction::BlackmanHarris2, fixed)
        .map_err(|e| AudioError::Resample { from_hz, to_hz, reason: e.to_string() })
}

/// Resamples a mono clip from `from_hz` to `to_hz`.
///
/// Returns `round(len * to_hz / from_hz)` samples (the same clip if the rates are equal). Fails
/// for a rate of 0, or if rubato cannot build a resampler for the pair.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    if from_hz == to_hz {
        return Ok(samples.to_vec());
    }
    let rubato_error = |reason: String| AudioError::Resample { from_hz, to_hz, reason };
    if from_hz == 0 || to_hz == 0 {
        return Err(rubato_error("sample rates must be positive".into()));
    }
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let output_len = resampled_len(samples.len(), from_hz, to_hz);
    let mut resampler = fft_resampler::<f64>(from_hz, to_hz, 1, FixedSync::Both)?;
    let input: Vec<f64> = samples.iter().map(|&x| x as f64).collect();
    let adapter = InterleavedSlice::new(&input, 1, input.len()).expect("a mono buffer holds len frames");
    let output = resampler.process_all(&adapter, input.len(), None).map_err(|e| rubato_error(e.to_string()))?;
    // rubato returns ceil(len * ratio) frames; keep the rounded count.
    Ok(output.take_data().into_iter().take(output_len).map(|x| x as f32).collect())
}

/// `torchaudio.functional.resample(x, orig_freq, new_freq)` with its defaults
/// (`lowpass_filter_width=6, rolloff=0.99, resampling_method="sinc_interp_hann"`).
///
/// With the rates divided by their gcd and `base = min(orig, new) * rolloff`, output sample j is
///
/// ```text
/// y[j] = sum_i x[i] * (base/orig) * sinc(t) * cos^2(pi t / (2 * 6)),   t = base * (i/orig - j/new)
/// ```
///
/// over the inputs with |t| < 6 (torchaudio's kernel is zero beyond, up to float rounding), with
/// x = 0 outside the clip, and there are ceil(len * new / orig) outputs. torchaudio builds the
/// whole (new, 1, `2*width` + orig) kernel and runs a strided conv1d; summing only the taps inside the
/// window gives the same sums without a kernel that can reach gigabytes for coprime rates.
pub fn resample_torchaudio(x: &[f64], orig_freq: u32, new_freq: u32) -> Vec<f64> {
    assert!(orig_freq > 0 && new_freq > 0, "rates must be positive (got {orig_freq} -> {new_freq})");
    if orig_freq == new_freq {
        return x.to_vec();
    }
    let kernel = SincKernel::cached(orig_freq, new_freq);
    let (orig, new) = (kernel.orig, kernel.new);
    let out_len = (x.len() * new).div_ceil(orig);
    (0..out_len)
        .map(|j| {
            // Output j = q * new + p sits at input q * orig + p * orig / new: its taps are those of
            // phase p, shifted by q * orig.
            let (q, p) = (j / new, j % new);
            let (first, weights) = (&kernel.first[p], &kernel.weights[p]);
            let start = (q * orig) as isize + first;
            weights.iter().enumerate().filter_map(|(m, &w)| x.get(usize::try_from(start + m as isize).ok()?).map(|&v| v * w)).sum()
        })
        .collect()
}

/// torchaudio's windowed-sinc taps for one rate pair, one set per output phase p < new: phase p's
/// taps start `first[p]` input samples after q * orig. Built once per rate pair (every pitch
/// shift uses the same two pairs), which saves a sine and a cosine per tap and output sample.
struct SincKernel {
    orig: usize,
    new: usize,
    first: Vec<isize>,
    weights: Vec<Vec<f64>>,
}

impl SincKernel {
    fn new(orig_freq: u32, new_freq: u32) -> Self {
        const LOWPASS_FILTER_WIDTH: f64 = 6.0;
        const ROLLOFF: f64 = 0.99;
        let gcd = greatest_common_divisor(orig_freq, new_freq);
        let (orig, new) = ((orig_freq / gcd) as usize, (new_freq / gcd) as usize);
        let base = orig.min(new) as f64 * ROLLOFF;
        let scale = base / orig as f64;
        // Input samples within this distance of an output's position carry weight.
        let reach = LOWPASS_FILTER_WIDTH * orig as f64 / base;
        let (first, weights) = (0..new)
            .map(|p| {
                let position = p as f64 * orig as f64 / new as f64;
                let (lo, hi) = ((position - reach).ceil() as isize, (position + reach).floor() as isize);
                let taps = (lo..=hi)
                    .map(|i| {
                        let t = base * (i as f64 / orig as f64 - p as f64 / new as f64);
                        let t = t.clamp(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH);
                        let window = (t * std::f64::consts::PI / LOWPASS_FILTER_WIDTH / 2.0).cos().powi(2);
                        let pi_t = t * std::f64::consts::PI;
                        let sinc = if pi_t == 0.0 { 1.0 } else { pi_t.sin() / pi_t };
                        sinc * window * scale
                    })
                    .collect();
                (lo, taps)
            })
            .unzip();
        SincKernel { orig, new, first, weights }
    }

    fn cached(orig_freq: u32, new_freq: u32) -> std::sync::Arc<SincKernel> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        /// Kernels by (original rate, new rate), made once per pair.
        type Kernels = Mutex<HashMap<(u32, u32), Arc<SincKernel>>>;
        static CACHE: OnceLock<Kernels> = OnceLock::new();
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        cache.entry((orig_freq, new_freq)).or_insert_with(|| Arc::new(SincKernel::new(orig_freq, new_freq))).clone()
    }
}

fn greatest_common_divisor(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// round(len * to / from), in integers so it cannot drift for long clips.
fn resampled_len(len: usize, from_hz: u32, to_hz: u32) -> usize {
    let (len, from, to) = (len as u128, from_hz as u128, to_hz as u128);
    ((len * to + from / 2) / from) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchaudio_port_keeps_a_tone_and_has_torchaudios_length() {
        // 19027 and 16000 are coprime: the case pitch_shift(+3 semitones) hits at 16 kHz.
        let (orig, new) = (19_027u32, 16_000u32);
        let x: Vec<f64> = (0..19_027).map(|i| (2.0 * std::f64::consts::PI * 500.0 * i as f64 / orig as f64).sin()).collect();
        let y = resample_torchaudio(&x, orig, new);
        assert_eq!(y.len(), (19_027usize * 16_000).div_ceil(19_027));
        // Away from the edges the output is the same tone sampled at the new rate.
        let worst = (200..y.len() - 200)
            .map(|j| (y[j] - (2.0 * std::f64::consts::PI * 500.0 * j as f64 / new as f64).sin()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-3, "worst deviation {worst}");
        assert_eq!(resample_torchaudio(&x[..10], 16_000, 16_000), x[..10].to_vec());
        assert_eq!(greatest_common_divisor(48_000, 16_000), 16_000);
    }

    /// torchaudio's formula evaluated tap by tap, as the module text writes it.
    fn resample_torchaudio_ref(x: &[f64], orig_freq: u32, new_freq: u32) -> Vec<f64> {
        let gcd = greatest_common_divisor(orig_freq, new_freq);
        let (orig, new) = ((orig_freq / gcd) as f64, (new_freq / gcd) as f64);
        let base = orig.min(new) * 0.99;
        let out_len = (x.len() * new as usize).div_ceil(orig as usize);
        (0..out_len)
            .map(|j| {
                (0..x.len())
                    .map(|i| base * (i as f64 / orig - j as f64 / new))
                    .zip(x)
                    .filter(|(t, _)| t.abs() < 6.0)
                    .map(|(t, &v)| {
                        let pi_t = t * std::f64::consts::PI;
                        let sinc = if pi_t == 0.0 { 1.0 } else { pi_t.sin() / pi_t };
                        v * sinc * (pi_t / 12.0).cos().powi(2) * base / orig
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn tabulated_taps_equal_the_formula() {
        let x: Vec<f64> = (0..700).map(|i| ((i * 7919) % 1013) as f64 / 1013.0 - 0.5).collect();
        for (orig, new) in [(19_027, 16_000), (13_454, 16_000), (48_000, 16_000), (16_000, 24_000)] {
            let (fast, slow) = (resample_torchaudio(&x, orig, new), resample_torchaudio_ref(&x, orig, new));
            assert_eq!(fast.len(), slow.len());
            let worst = fast.iter().zip(&slow).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst < 1e-12, "{orig} -> {new}: {worst}");
        }
    }

    #[test]
    fn output_length_is_rounded_ratio() {
        assert_eq!(resampled_len(48_000, 48_000, 16_000), 16_000);
        assert_eq!(resampled_len(10, 48_000, 16_000), 3); // 3.33
        assert_eq!(resampled_len(11, 48_000, 16_000), 4); // 3.67
        assert_eq!(resampled_len(3, 2, 1), 2); // 1.5 rounds half up
    }

    #[test]
    fn equal_rates_are_identity_and_zero_rate_is_an_error() {
        let x = [0.1, -0.2, 0.3];
        assert_eq!(resample(&x, 16_000, 16_000).unwrap(), x.to_vec());
        let err = resample(&x, 0, 16_000).unwrap_err();
        assert!(err.to_string().starts_with("resampling 0 Hz -> 16000 Hz"), "{err}");
    }

    #[test]
    fn short_clips_keep_their_rounded_length() {
        for len in [1, 5, 100, 1023, 1025, 5000] {
            let x = vec![0.25f32; len];
            assert_eq!(resample(&x, 44_100, 16_000).unwrap().len(), resampled_len(len, 44_100, 16_000), "len {len}");
        }
    }
}
