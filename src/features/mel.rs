//! Mel scale and mel filter bank (Slaney), as librosa's `hz_to_mel`, `mel_to_hz`,
//! `mel_frequencies`, `filters.mel` and `feature.melspectrogram` compute them.
//!
//! Slaney scale: linear below 1 kHz (mel = f / (200/3)), logarithmic above
//! (mel = 15 + ln(f / 1000) / (ln 6.4 / 27)). Filter i is a triangle from `mel_f[i]` through
//! `mel_f[i+1]` to `mel_f[i+2]` on the Hz axis, scaled by 2 / (`mel_f[i+2]` - `mel_f[i]`) ("slaney" norm,
//! roughly constant energy per band).

use ndarray::{Array2, ArrayView2};

use ser_kernels::dot;

use super::spectrum::{fft_frequencies, linspace};

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz to mel on the Slaney scale (`librosa.hz_to_mel(f, htk=False)`).
pub fn hz_to_mel(f: f64) -> f64 {
    if f >= MIN_LOG_HZ {
        MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() / logstep()
    } else {
        f / F_SP
    }
}

/// Mel to Hz on the Slaney scale (`librosa.mel_to_hz(m, htk=False)`).
pub fn mel_to_hz(m: f64) -> f64 {
    if m >= MIN_LOG_MEL {
        MIN_LOG_HZ * (logstep() * (m - MIN_LOG_MEL)).exp()
    } else {
        F_SP * m
    }
}

/// `n` frequencies evenly spaced on the mel scale from fmin to fmax (`librosa.mel_frequencies`).
pub fn mel_frequencies(n: usize, fmin: f64, fmax: f64) -> Vec<f64> {
    linspace(hz_to_mel(fmin), hz_to_mel(fmax), n, true).into_iter().map(mel_to_hz).collect()
}

/// Mel filter bank `librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)`
/// with htk=False and norm="slaney". Entries are rounded to f32, librosa's dtype, so that the
/// bank is the one librosa multiplies with.
///
/// -> (n_mels, 1 + n_fft/2)
pub fn mel_filter(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Array2<f64> {
    let fftfreqs = fft_frequencies(sr, n_fft);
    let mel_f = mel_frequencies(n_mels + 2, fmin, fmax);
    let bins = fftfreqs.len();
    let mut weights = Array2::zeros((n_mels, bins));
    for (i, mut row) in weights.rows_mut().into_iter().enumerate() {
        let (lo, mid, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let (fdiff_lo, fdiff_hi) = (mid - lo, hi - mid);
        let enorm = 2.0 / (hi - lo);
        for (w, &f) in row.iter_mut().zip(&fftfreqs) {
            // ramps[i] = mel_f[i] - f
            let lower = -(lo - f) / fdiff_lo;
            let upper = (hi - f) / fdiff_hi;
            // Stored as f32 in librosa, then scaled in place (and rounded to f32 again).
            let tri = 0.0f64.max(lower.min(upper)) as f32;
            *w = (tri as f64 * enorm) as f32 as f64;
        }
    }
    weights
}

/// A filter bank (n_filters, F) kept as each filter's span from its first to its last nonzero
/// weight: a triangular mel filter covers only a few bins (about 2 x F nonzero weights in all, of
/// n_mels x F), so projecting a frame onto the bank costs ~60x fewer multiplications than the
/// dense product.
#[derive(Clone, Debug)]
pub struct SparseBank {
    /// (first bin, weights from that bin on) per filter
    spans: Vec<(usize, Vec<f64>)>,
    bins: usize,
}

impl SparseBank {
    /// basis: (n_filters, F)
    pub fn new(basis: ArrayView2<f64>) -> Self {
        let spans = basis
            .rows()
            .into_iter()
            .map(|row| match (row.iter().position(|&w| w != 0.0), row.iter().rposition(|&w| w != 0.0)) {
                (Some(first), Some(last)) => (first, row.slice(ndarray::s![first..=last]).to_vec()),
                _ => (0, Vec::new()),
            })
            .collect();
        SparseBank { spans, bins: basis.ncols() }
    }

    pub fn filters(&self) -> usize {
        self.spans.len()
    }

    /// `out[m]` = Σ_f `basis[m, f]` `x[f]`. x: (F) -> out: (n_filters)
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        assert_eq!((x.len(), out.len()), (self.bins, self.spans.len()), "SparseBank::apply: x must have F, out n_filters entries");
        for (o, (first, weights)) in out.iter_mut().zip(&self.spans) {
            *o = dot(weights, &x[*first..][..weights.len()]);
        }
    }
}

/// Mel power spectrogram, `librosa.feature.melspectrogram(S=power)` frame by frame:
/// each frame's power spectrum projected onto the bank. Frames are rows (each frame's spectrum
/// contiguous), the transpose of librosa's layout.
///
/// power: (T, F) -> (T, n_mels)
pub fn melspectrogram(power: ArrayView2<f64>, bank: &SparseBank) -> Array2<f64> {
    let mut out = Array2::zeros((power.nrows(), bank.filters()));
    for (frame, mut mel) in power.rows().into_iter().zip(out.rows_mut()) {
        let frame = frame.to_vec();
        bank.apply(&frame, mel.as_slice_mut().expect("rows of a fresh array are contiguous"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_matches_librosa() {
        // librosa.hz_to_mel(1000.0) == 14.999999999999998, hz_to_mel(8000.0) == 45.245640471924965,
        // hz_to_mel(440.0) == 6.6, mel_to_hz(20.0) == 1410.2385678078886
        assert_eq!(hz_to_mel(1000.0), 14.999999999999998);
        assert!((hz_to_mel(8000.0) - 45.245640471924965).abs() < 1e-12);
        assert!((hz_to_mel(440.0) - 6.6).abs() < 1e-12);
        assert!((mel_to_hz(20.0) - 1410.2385678078886).abs() < 1e-9);
        for f in [0.0, 100.0, 999.0, 1000.0, 2500.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9 * (1.0 + f));
        }
    }

    #[test]
    fn sparse_melspectrogram_equals_the_dense_product() {
        let basis = mel_filter(16000.0, 512, 40, 0.0, 8000.0);
        let power = Array2::from_shape_fn((7, 257), |(t, f)| ((f * 31 + t * 17) % 23) as f64 + 0.5);
        let dense = power.dot(&basis.t());
        let sparse = melspectrogram(power.view(), &SparseBank::new(basis.view()));
        assert_eq!(sparse.dim(), (7, 40));
        let worst = dense.iter().zip(&sparse).fold(0f64, |m, (a, b)| m.max((a - b).abs() / a.abs().max(1e-12)));
        assert!(worst < 1e-13, "{worst}");
    }

    #[test]
    fn filter_bank_rows_sum_as_librosa() {
        // m = librosa.filters.mel(sr=16000, n_fft=2048); m.astype(np.float64).sum(axis=1)[[0, 1, 10, 50, 127]]
        let want = [
            (0, 0.12799929734319448),
            (1, 0.12799929668108234),
            (10, 0.12799929617904127),
            (50, 0.1285133888013661),
            (127, 0.12796597335545812),
        ];
        let m = mel_filter(16000.0, 2048, 128, 0.0, 8000.0);
        assert_eq!(m.dim(), (128, 1025));
        for (i, s) in want {
            let got: f64 = m.row(i).sum();
            assert!((got - s).abs() < 1e-9, "row {i}: sum {got}, librosa {s}");
        }
        assert!(m.iter().all(|&w| w >= 0.0));
    }
}
