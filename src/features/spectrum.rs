//! Spectrogram helpers: librosa's `power_to_db`, and numpy's `linspace` that the filter banks use.

use ndarray::{Array2, ArrayView2};
use ser_kernels::log10_positive;

/// librosa's `power_to_db` defaults: ref 1.0, amin 1e-10, top_db 80.
pub const AMIN: f64 = 1e-10;
pub const TOP_DB: f64 = 80.0;

/// Power to decibels, as `librosa.power_to_db(S, ref=ref_value, amin=amin, top_db=top_db)`:
///
///   db = 10 log10(max(amin, S)) - 10 log10(max(amin, |ref|)),
///   then, with `top_db`, db = max(db, max(db) - top_db) where max(db) is over the WHOLE array
///   (every band of every frame), not per frame.
///
/// s: any 2-D layout -> the same shape
pub fn power_to_db(s: ArrayView2<f64>, ref_value: f64, amin: f64, top_db: Option<f64>) -> Array2<f64> {
    assert!(amin >= f64::MIN_POSITIVE, "amin must be a positive normal float, got {amin}");
    let offset = decibels(ref_value.abs(), amin);
    let mut db = s.mapv(|p| decibels(p, amin) - offset);
    if let Some(top) = top_db {
        clip_below_top(&mut db, top);
    }
    db
}

/// One value of [`power_to_db`] with ref 1, before the top_db clip: 10 log10(max(amin, p)), with a
/// log10 that vectorises in a loop over a slice ([`log10_positive`], within 1e-14 of libm's).
/// amin must be a positive normal float.
#[inline]
pub fn decibels(p: f64, amin: f64) -> f64 {
    debug_assert!(amin >= f64::MIN_POSITIVE, "amin must be a positive normal float, got {amin}");
    10.0 * log10_positive(amin.max(p))
}

/// [`power_to_db`]'s clip: db = max(db, max(db) - top_db), the max over the whole array.
pub fn clip_below_top(db: &mut Array2<f64>, top_db: f64) {
    assert!(top_db >= 0.0, "top_db must be non-negative, got {top_db}");
    let floor = db.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x)) - top_db;
    db.mapv_inplace(|x| x.max(floor));
}

/// numpy's `linspace(start, stop, num, endpoint)` with its exact arithmetic:
/// `i * step + start` with step = (stop - start) / div, and the last value set to `stop` when
/// `endpoint`. (Bit-for-bit agreement matters where values are compared against these edges.)
pub fn linspace(start: f64, stop: f64, num: usize, endpoint: bool) -> Vec<f64> {
    let div = if endpoint { num.saturating_sub(1) } else { num };
    let delta = stop - start;
    let mut y: Vec<f64> = if div > 0 {
        let step = delta / div as f64;
        (0..num).map(|i| i as f64 * step + start).collect()
    } else {
        (0..num).map(|i| i as f64 * delta + start).collect()
    };
    if endpoint && num > 1 {
        y[num - 1] = stop;
    }
    y
}

/// Centre frequency of each STFT bin, `np.fft.rfftfreq(n_fft, 1/sr)`: k / (n_fft * (1/sr)).
pub fn fft_frequencies(sr: f64, n_fft: usize) -> Vec<f64> {
    let val = 1.0 / (n_fft as f64 * (1.0 / sr));
    (0..=n_fft / 2).map(|k| k as f64 * val).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn power_to_db_clips_80_db_below_the_global_peak() {
        // librosa.power_to_db(np.array([[1.0, 1e-3], [1e-12, 100.0]]))
        //   -> [[0, -30], [-60, 20]]  (-100 clipped to 20 - 80 = -60)
        let db = power_to_db(array![[1.0, 1e-3], [1e-12, 100.0]].view(), 1.0, AMIN, Some(TOP_DB));
        let want = array![[0.0, -30.0], [-60.0, 20.0]];
        for (a, b) in db.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-12, "{db:?}");
        }
    }

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(linspace(0.0, 1.0, 5, true), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(linspace(0.0, 16000.0, 4, false), vec![0.0, 4000.0, 8000.0, 12000.0]);
        let e = linspace(-0.5, 0.5, 101, true);
        // np.linspace(-0.5, 0.5, 101)[37] is 37 * 0.01 - 0.5, evaluated the same way
        assert_eq!(e[37], 37.0 * 0.01 - 0.5);
        assert_eq!(e[100], 0.5);
    }
}
