//! Short-time Fourier transform, as librosa's `stft` computes it.
//!
//! Frame t covers samples `[t*hop, t*hop + n_fft)` of the (optionally centre-padded) signal,
//! multiplied by the window; the output keeps the `n_fft/2 + 1` non-negative frequencies.
//! `istft` inverts it by windowed overlap-add, as `torch.istft` does.

use ndarray::Array2;
use realfft::RealFftPlanner;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;
use std::borrow::Cow;

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
                if n == 0 {
                    0.0
                } else {
                    y[i.clamp(0, n as isize - 1) as usize]
                }
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
    out.extend((-(left as isize)..0).map(at));
    out.extend_from_slice(y);
    out.extend((n as isize..(n + right) as isize).map(at));
    out
}

/// The signal frames are cut from, and how many frames of `frame_length` every `hop` samples it
/// holds: with `center`, `y` padded by frame_length/2 on both sides (librosa's `center=True`,
/// 1 + len/hop frames); without, `y` itself (1 + (len - frame_length)/hop frames, none if shorter).
pub fn framed_signal(y: &[f64], frame_length: usize, hop: usize, center: bool, pad: PadMode) -> (Cow<'_, [f64]>, usize) {
    assert!(hop > 0 && frame_length > 0, "frame_length and hop must be positive");
    let signal = if center { Cow::Owned(pad_signal(y, frame_length / 2, frame_length / 2, pad)) } else { Cow::Borrowed(y) };
    let frames = if signal.len() >= frame_length { 1 + (signal.len() - frame_length) / hop } else { 0 };
    (signal, frames)
}

/// The FFT of one windowed frame at a time, with its plan and buffers made once: `stft` and the
/// feature pass (which handles each frame's spectrum as soon as it is computed) share it.
pub struct FrameFft {
    fft: std::sync::Arc<dyn realfft::RealToComplex<f64>>,
    frame: Vec<f64>,
    spectrum: Vec<Complex64>,
    scratch: Vec<Complex64>,
}

impl FrameFft {
    /// A real-input FFT of size n_fft (half the work of a complex one); plans are cached per thread.
    pub fn new(n_fft: usize) -> Self {
        thread_local! {
            static PLANNER: std::cell::RefCell<RealFftPlanner<f64>> = std::cell::RefCell::new(RealFftPlanner::new());
        }
        let fft = PLANNER.with(|p| p.borrow_mut().plan_fft_forward(n_fft));
        FrameFft { frame: fft.make_input_vec(), spectrum: fft.make_output_vec(), scratch: fft.make_scratch_vec(), fft }
    }

    /// The non-negative frequencies of FFT(frame * window). frame, window: (n_fft) -> (1 + n_fft/2)
    pub fn transform(&mut self, frame: &[f64], window: &[f64]) -> &[Complex64] {
        assert_eq!((frame.len(), window.len()), (self.frame.len(), self.frame.len()), "frame and window must have n_fft samples");
        for ((b, &x), &w) in self.frame.iter_mut().zip(frame).zip(window) {
            *b = x * w;
        }
        self.fft.process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch).expect("buffers come from the plan");
        &self.spectrum
    }
}

/// Complex STFT, shape (1 + n_fft/2, frames).
///
/// With `center`, the signal is padded by n_fft/2 on both sides first (librosa's `center=True`),
/// giving `1 + len/hop` frames; without it, `1 + (len - n_fft)/hop` frames (none if shorter).
pub fn stft(y: &[f64], n_fft: usize, hop: usize, window: &[f64], center: bool, pad: PadMode) -> Array2<Complex64> {
    assert_eq!(window.len(), n_fft, "window length must equal n_fft");
    assert!(hop > 0, "hop must be positive");
    let (signal, frames) = framed_signal(y, n_fft, hop, center, pad);
    let mut out = Array2::zeros((n_fft / 2 + 1, frames));
    let mut fft = FrameFft::new(n_fft);
    for (t, mut column) in out.columns_mut().into_iter().enumerate() {
        let spectrum = fft.transform(&signal[t * hop..t * hop + n_fft], window);
        column.iter_mut().zip(spectrum).for_each(|(o, &v)| *o = v);
    }
    out
}

/// Inverse STFT by weighted overlap-add, as `torch.istft(..., onesided=True, normalized=False)`.
///
/// `spec` is (1 + n_fft/2, frames). Each frame is inverse-transformed (the imaginary parts of the
/// DC and Nyquist bins are ignored, as a real inverse FFT does), multiplied by the window and
/// added in at `t*hop`; the sum is divided by the overlap-added squared window, which undoes the
/// analysis and synthesis windows together. With `center`, the first n_fft/2 samples (the
/// padding `stft` added) are dropped. The output has `length` samples if given (zero-padded past
/// the last frame, as torch does), else everything up to the end padding.
///
/// Panics where the squared windows sum to nearly zero inside the output (torch's NOLA check):
/// no signal can be recovered there.
pub fn istft(spec: &Array2<Complex64>, n_fft: usize, hop: usize, window: &[f64], center: bool, length: Option<usize>) -> Vec<f64> {
    let (bins, frames) = spec.dim();
    assert_eq!(bins, n_fft / 2 + 1, "spectrogram rows must be n_fft/2 + 1 (expected {}, actual {bins})", n_fft / 2 + 1);
    assert_eq!(window.len(), n_fft, "window length must equal n_fft");
    assert!(hop > 0, "hop must be positive");
    let total = if frames == 0 { 0 } else { n_fft + hop * (frames - 1) };
    let mut signal = vec![0.0; total];
    let mut envelope = vec![0.0; total];
    let ifft = FftPlanner::<f64>::new().plan_fft_inverse(n_fft);
    let mut buf = vec![Complex64::new(0.0, 0.0); n_fft];
    let mut scratch = vec![Complex64::new(0.0, 0.0); ifft.get_inplace_scratch_len()];
    for t in 0..frames {
        // Rebuild the full Hermitian spectrum X[n-k] = conj(X[k]) from the one-sided one.
        for (k, b) in buf.iter_mut().enumerate() {
            *b = if k < bins { spec[[k, t]] } else { spec[[n_fft - k, t]].conj() };
        }
        buf[0].im = 0.0;
        if n_fft.is_multiple_of(2) {
            buf[n_fft / 2].im = 0.0;
        }
        ifft.process_with_scratch(&mut buf, &mut scratch);
        let start = t * hop;
        for (i, (b, &w)) in buf.iter().zip(window).enumerate() {
            signal[start + i] += b.re / n_fft as f64 * w;
            envelope[start + i] += w * w;
        }
    }
    let start = if center { n_fft / 2 } else { 0 };
    let end = match length {
        Some(len) => start + len,
        None if center => total.saturating_sub(n_fft / 2),
        None => total,
    };
    let available = end.min(total);
    let mut out: Vec<f64> = (start..available)
        .map(|i| {
            assert!(envelope[i] > 1e-11, "window overlap-add is ~0 at sample {i}: this window and hop cannot be inverted");
            signal[i] / envelope[i]
        })
        .collect();
    out.resize(end - start, 0.0);
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

    #[test]
    fn istft_inverts_stft() {
        // Even and odd n_fft, hop n_fft/4 and a hop that does not divide n_fft.
        for &(n_fft, hop) in &[(512, 128), (64, 16), (15, 4), (32, 7)] {
            let y: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1013) as f64 / 1013.0 - 0.5).collect();
            let window = hann_periodic(n_fft);
            let s = stft(&y, n_fft, hop, &window, true, PadMode::Reflect);
            let back = istft(&s, n_fft, hop, &window, true, Some(y.len()));
            assert_eq!(back.len(), y.len());
            let worst = y.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-10, "n_fft {n_fft} hop {hop}: worst error {worst}");
        }
    }

    #[test]
    fn istft_pads_past_the_last_frame_and_defaults_to_the_unpadded_length() {
        let (n_fft, hop) = (64, 16);
        let y: Vec<f64> = (0..320).map(|i| (i as f64 * 0.1).sin()).collect();
        let window = hann_periodic(n_fft);
        let s = stft(&y, n_fft, hop, &window, true, PadMode::Reflect);
        assert_eq!(istft(&s, n_fft, hop, &window, true, None).len(), y.len());
        let long = istft(&s, n_fft, hop, &window, true, Some(y.len() + 100));
        assert_eq!(long.len(), y.len() + 100);
        assert!(long[y.len() + n_fft / 2..].iter().all(|&x| x == 0.0));
    }
}
