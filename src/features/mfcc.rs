//! MFCC: the orthonormal DCT-II of the log-power mel spectrogram, as
//! `librosa.feature.mfcc(y=y, sr=sr)` = `scipy.fft.dct(power_to_db(melspectrogram), type=2,
//! norm="ortho", axis=-2)[:n_mfcc]`.
//!
//! DCT-II, orthonormal, over N mel bands:
//!
//! ```text
//! c[k] = s_k * sum_n x[n] cos(pi k (2n + 1) / (2N)),   s_0 = sqrt(1/N), s_k = sqrt(2/N) (k > 0)
//! ```

use ndarray::{Array2, ArrayView2};

/// The first `n_out` rows of the N x N orthonormal DCT-II matrix, N = `n_in`.
///
/// -> (n_out, n_in)
pub fn dct2_ortho(n_out: usize, n_in: usize) -> Array2<f64> {
    let n = n_in as f64;
    Array2::from_shape_fn((n_out, n_in), |(k, i)| {
        let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
        scale * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n)).cos()
    })
}

/// Reference DCT-II (ortho) of one vector, straight from the formula; for tests.
pub fn dct2_ortho_ref(x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    (0..x.len())
        .map(|k| {
            let s: f64 =
                x.iter().enumerate().map(|(i, &v)| v * (std::f64::consts::PI * k as f64 * (2.0 * i as f64 + 1.0) / (2.0 * n)).cos()).sum();
            s * if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() }
        })
        .collect()
}

/// MFCCs from a dB mel spectrogram with a precomputed [`dct2_ortho`] matrix.
///
/// mel_db: (T, n_mels) one frame per row, dct: (n_mfcc, n_mels) -> (T, n_mfcc)
pub fn mfcc(mel_db: ArrayView2<f64>, dct: ArrayView2<f64>) -> Array2<f64> {
    assert_eq!(dct.ncols(), mel_db.ncols(), "DCT expects {} bands, got {}", dct.ncols(), mel_db.ncols());
    mel_db.dot(&dct.t())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_matrix_is_orthonormal() {
        for n in [1, 2, 7, 20, 128] {
            let d = dct2_ortho(n, n);
            let eye = d.dot(&d.t());
            for ((i, j), &v) in eye.indexed_iter() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-12, "n={n}: (D D^T)[{i},{j}] = {v}");
            }
        }
    }

    #[test]
    fn dct_matches_scipy() {
        // scipy.fft.dct(np.arange(8.0) ** 1.5, type=2, norm="ortho")
        let want = [21.71599775, -17.37003167, 2.78243425, -1.48886262, 0.71089197, -0.40812025, 0.2388902, -0.09895064];
        let x: Vec<f64> = (0..8).map(|i| (i as f64).powf(1.5)).collect();
        let got = dct2_ortho_ref(&x);
        let d = dct2_ortho(8, 8);
        for k in 0..8 {
            assert!((got[k] - want[k]).abs() < 1e-7, "k={k}: {} vs scipy {}", got[k], want[k]);
            let via_matrix: f64 = d.row(k).iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!((via_matrix - got[k]).abs() < 1e-12);
        }
    }
}
