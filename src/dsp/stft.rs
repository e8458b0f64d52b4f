//! Short-time Fourier transform, as librosa's `stft` computes it.
//!
//! Frame t covers samples `[t*hop, t*hop + n_fft)` of the (optionally centre-padded) signal,
//! multiplied by the window; the output keeps the `n_fft/2 + 1` non-negative frequencies.

use ndarray::Array2;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

/// How a signal is extended past its ends (numpy's `np.pad` modes that librosa uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// Zeros: librosa's `stft` default since 0.10, and `rms`.
    Constant,
    /// Repeat the end samples: `zero_crossing_rate`.
    Edge,
    /// Mirror without repeating the end sample: numpy's `reflect`.
    Reflect,
}

/// Periodic Hann window of length n (`scipy.signal.get_window("hann", n, fftbins=True)`).
pub fn hann_periodic(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()).collect()
}

/// Pads `y` by `left` and `right` samples with the given mode.
pub fn pad_signal(y: &[f64], left: usize, right: usize, mode: PadMode) -> Vec<f64> {
    let n = y.len();
    let mut out = Vec::with_capacity(n + left + right);
    let at = |i: isize| -> f64 {
        if (0..n as isize).contains(&i) {
            return y[i as usize];
        }
        match mode {
            PadMode::Constant => 0.0,
            PadMode::Edge => {
                if n == 0 { 0.0 } else { y[i.clamp(0, n as isize - 1) as usize] }
            }
            PadMode::Reflect => {
                if n < 2 {
                    return if n == 1 { y[0] } else { 0.0 };
                }
                // Reflection has period 2(n-1).
                let period = 2 * (n as isize - 1);
                let mut j = i.rem_euclid(period);
                if j >= n as isize {
                    j = period - j;
                }
                y[j as usize]
            }
        }
    };
    for i in -(left as isize)..(n + right) as isize {
        out.push(at(i));
    }
    out
}

/// Complex STFT, shape (1 + n_fft/2, frames).
///
/// With `center`, the signal is padded by n_fft/2 on both sides first (librosa's `center=True`),
/// giving `1 + len/hop` frames; without it, `1 + (len - n_fft)/hop` frames (none if shorter).
pub fn stft(y: &[f64], n_fft: usize, hop: usize, window: &[f64], center: bool, pad: PadMode) -> Array2<Complex64> {
    assert_eq!(window.len(), n_fft, "window length must equal n_fft");
    assert!(hop > 0, "hop must be positive");
    let padded;
    let signal: &[f64] = if center {
        padded = pad_signal(y, n_fft / 2, n_fft / 2, pad);
        &padded
    } else {
        y
    };
    let frames = if signal.len() >= n_fft { 1 + (signal.len() - n_fft) / hop } else { 0 };
    let bins = n_fft / 2 + 1;
    let mut out = Array2::zeros((bins, frames));
    let fft = FftPlanner::<f64>::new().plan_fft_forward(n_fft);
    let mut buf = vec![Complex64::new(0.0, 0.0); n_fft];
    let mut scratch = vec![Complex64::new(0.0, 0.0); fft.get_inplace_scratch_len()];
    for t in 0..frames {
        let frame = &signal[t * hop..t * hop + n_fft];
        for ((b, &x), &w) in buf.iter_mut().zip(frame).zip(window) {
            *b = Complex64::new(x * w, 0.0);
        }
        fft.process_with_scratch(&mut buf, &mut scratch);
        for (f, v) in buf[..bins].iter().enumerate() {
            out[[f, t]] = *v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_modes_match_numpy() {
        let y = [1.0, 2.0, 3.0];
        assert_eq!(pad_signal(&y, 2, 2, PadMode::Constant), vec![0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        assert_eq!(pad_signal(&y, 2, 2, PadMode::Edge), vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0]);
        // np.pad([1, 2, 3], 2, mode="reflect") == [3, 2, 1, 2, 3, 2, 1]
        assert_eq!(pad_signal(&y, 2, 2, PadMode::Reflect), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
    }

    #[test]
    fn stft_of_a_bin_centred_cosine_peaks_at_its_bin() {
        let n_fft = 64;
        let y: Vec<f64> = (0..640).map(|i| (2.0 * std::f64::consts::PI * 5.0 * i as f64 / 64.0).cos()).collect();
        let s = stft(&y, n_fft, 16, &hann_periodic(n_fft), true, PadMode::Constant);
        assert_eq!(s.dim(), (33, 1 + 640 / 16));
        let mid = s.column(20);
        let peak = (0..33).max_by(|&a, &b| mid[a].norm().partial_cmp(&mid[b].norm()).unwrap()).unwrap();
        assert_eq!(peak, 5);
        // Hann-windowed cosine: |X[k]| = n_fft/4 at its bin.
        assert!((mid[5].norm() - 16.0).abs() < 1e-9);
    }
}
