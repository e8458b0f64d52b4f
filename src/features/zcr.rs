//! Zero-crossing rate, as `librosa.feature.zero_crossing_rate(y)` (frame_length 2048, hop 512,
//! center=True, threshold 1e-10, ref_magnitude None, zero_pos True, pad False).
//!
//! With `center`, y is padded by frame_length/2 on each side by REPEATING the end samples
//! (np.pad mode "edge"; unlike `rms` and `stft`, which pad with zeros). Samples with
//! |x| <= threshold count as 0, and 0 counts as positive. In frame t (samples
//! [`t*hop`, `t*hop` + frame_length) of the padded signal) a crossing at i means
//! sign(`x[i]`) != sign(`x[i-1]`); the frame's first sample never counts (pad=False), and
//!
//! ```text
//! zcr[t] = (crossings in the frame) / frame_length
//! ```

use crate::dsp::{framed_signal, pad_signal, PadMode};

/// librosa's `zero_crossings` threshold.
pub const THRESHOLD: f64 = 1e-10;

/// y: (N,) -> (frames,), frames = 1 + N/hop with `center`.
pub fn zero_crossing_rate(y: &[f64], frame_length: usize, hop: usize, center: bool) -> Vec<f64> {
    let (x, frames) = framed_signal(y, frame_length, hop, center, PadMode::Edge);
    if frames == 0 {
        return Vec::new();
    }
    // negative[i]: the sample is below -threshold (values within the threshold become +0).
    // crossings_before[i] = number of i' < i with a crossing between i'-1 and i'.
    let mut crossings_before = Vec::with_capacity(x.len() + 1);
    crossings_before.push(0u32);
    crossings_before.push(0u32);
    let mut count = 0u32;
    crossings_before.extend(x.windows(2).map(|pair| {
        count += ((pair[0] < -THRESHOLD) != (pair[1] < -THRESHOLD)) as u32;
        count
    }));
    (0..frames)
        .map(|t| {
            let start = t * hop;
            // Crossings at positions start+1 .. start+frame_length-1.
            let n = crossings_before[start + frame_length] - crossings_before[start + 1];
            n as f64 / frame_length as f64
        })
        .collect()
}

/// Reference: frame by frame, straight from the definition; for tests.
pub fn zero_crossing_rate_ref(y: &[f64], frame_length: usize, hop: usize) -> Vec<f64> {
    let x = pad_signal(y, frame_length / 2, frame_length / 2, PadMode::Edge);
    let q = |v: f64| if v.abs() <= THRESHOLD { 0.0 } else { v };
    let frames = 1 + (x.len() - frame_length) / hop;
    (0..frames)
        .map(|t| {
            let f = &x[t * hop..t * hop + frame_length];
            let n = (1..frame_length).filter(|&i| q(f[i]).is_sign_negative() != q(f[i - 1]).is_sign_negative()).count();
            n as f64 / frame_length as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_wave_crosses_twice_per_period() {
        // Period 64 (32 samples +1, 32 samples -1): a frame of 2048 sees 2048/32 - 1 = 63
        // crossings away from the edges (its first sample cannot count), i.e. ~2/period.
        let period = 64;
        let y: Vec<f64> = (0..16384).map(|i| if (i / (period / 2)) % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let z = zero_crossing_rate(&y, 2048, 512, true);
        assert_eq!(z.len(), 1 + 16384 / 512);
        for &v in &z[4..z.len() - 4] {
            assert!((v - 63.0 / 2048.0).abs() < 1e-15, "{v}");
            assert!((v - 2.0 / period as f64).abs() <= 1.0 / 2048.0);
        }
        assert_eq!(z, zero_crossing_rate_ref(&y, 2048, 512));
    }

    #[test]
    fn tiny_values_count_as_positive_zero() {
        // +1, -1e-12 (-> 0, positive), -1: one crossing, between the 0 and the -1.
        let y = [1.0, -1e-12, -1.0, -1.0];
        let z = zero_crossing_rate(&y, 4, 4, false);
        assert_eq!(z, vec![0.25]);
    }

    #[test]
    fn fast_matches_reference_on_noise_like_signal() {
        let y: Vec<f64> = (0..5000).map(|i| ((i as f64 * 12.9898).sin() * 43758.5453).fract() - 0.5).collect();
        assert_eq!(zero_crossing_rate(&y, 2048, 512, true), zero_crossing_rate_ref(&y, 2048, 512));
    }
}
