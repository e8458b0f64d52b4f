//! Quick acoustic measurements for checking the synthesizer's output: RMS, and F0 by normalised
//! autocorrelation. Deliberately simple (no spectrogram): enough to confirm that a clip says what
//! its style asked for, not a feature extractor for the models.

use super::render::SAMPLE_RATE;

/// F0 search range, Hz.
const F0_MIN: f32 = 60.0;
const F0_MAX: f32 = 450.0;
/// Analysis frame and hop, samples (32 ms and 10 ms at 16 kHz): a frame holds two periods of F0_MIN.
const FRAME: usize = 512;
const HOP: usize = 160;
/// A frame is voiced when its best normalised autocorrelation reaches this.
const VOICING_THRESHOLD: f32 = 0.6;
/// ... and its energy is within this factor (-26 dB) of the loudest frame's.
const ENERGY_FLOOR: f32 = 0.05;
/// Octave-error guard: the shortest lag whose correlation is this close to the best one wins.
const OCTAVE_TOLERANCE: f32 = 0.9;

/// Root mean square of the samples (0 for none).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / samples.len() as f64).sqrt() as f32
}

/// Normalised autocorrelation of `frame` at `lag`:
/// `sum x[n] x[n+lag] / sqrt(sum x[n]^2 * sum x[n+lag]^2)` over the overlap.
fn normalised_autocorrelation(frame: &[f32], lag: usize) -> f32 {
    let (head, tail) = (&frame[..frame.len() - lag], &frame[lag..]);
    let (mut xy, mut xx, mut yy) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in head.iter().zip(tail) {
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    xy / (xx * yy).sqrt().max(1e-12)
}

/// F0 (Hz) of every voiced 32 ms frame (hop 10 ms), in order; unvoiced frames are skipped.
pub fn voiced_f0(samples: &[f32]) -> Vec<f32> {
    if samples.len() < FRAME {
        return Vec::new();
    }
    let frames: Vec<&[f32]> = (0..=(samples.len() - FRAME) / HOP).map(|t| &samples[t * HOP..t * HOP + FRAME]).collect();
    let loudest = frames.iter().map(|f| rms(f)).fold(0.0f32, f32::max);
    let min_lag = (SAMPLE_RATE as f32 / F0_MAX) as usize;
    let max_lag = (SAMPLE_RATE as f32 / F0_MIN) as usize;
    frames
        .iter()
        .filter(|f| rms(f) > ENERGY_FLOOR * loudest)
        .filter_map(|frame| {
            let r: Vec<f32> = (min_lag..=max_lag).map(|lag| normalised_autocorrelation(frame, lag)).collect();
            let best = r.iter().cloned().fold(f32::MIN, f32::max);
            if best < VOICING_THRESHOLD {
                return None;
            }
            // The first local maximum near the best: picking 2T or 3T would halve F0.
            let i = (1..r.len() - 1).find(|&i| r[i] >= OCTAVE_TOLERANCE * best && r[i] >= r[i - 1] && r[i] >= r[i + 1])?;
            Some(SAMPLE_RATE as f32 / (min_lag + i) as f32)
        })
        .collect()
}

/// Median of the voiced frames' F0, or None if no frame is voiced.
pub fn median_f0(samples: &[f32]) -> Option<f32> {
    let mut f0 = voiced_f0(samples);
    if f0.is_empty() {
        return None;
    }
    f0.sort_by(|a, b| a.total_cmp(b));
    Some(f0[f0.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_of_a_unit_sine_is_one_over_root_two() {
        let x: Vec<f32> = (0..16_000).map(|n| (std::f32::consts::TAU * 100.0 * n as f32 / 16_000.0).sin()).collect();
        assert!((rms(&x) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-4);
    }

    #[test]
    fn f0_of_a_harmonic_tone_is_its_fundamental() {
        for f0 in [90.0f32, 150.0, 220.0, 330.0] {
            // Three harmonics, the second strongest: a classic octave-error trap.
            let x: Vec<f32> = (0..8_000)
                .map(|n| {
                    let w = std::f32::consts::TAU * f0 * n as f32 / 16_000.0;
                    0.5 * w.sin() + (2.0 * w).sin() + 0.3 * (3.0 * w).sin()
                })
                .collect();
            let est = median_f0(&x).unwrap();
            assert!((est / f0 - 1.0).abs() < 0.02, "true {f0} Hz, estimated {est}");
        }
    }

    #[test]
    fn noise_is_unvoiced() {
        let mut state = 12345u32;
        let x: Vec<f32> = (0..8_000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        assert!(voiced_f0(&x).len() < 5);
    }
}
