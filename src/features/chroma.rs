//! Chromagram from a magnitude spectrogram, as `librosa.feature.chroma_stft(S=S, sr=sr)` with
//! `tuning=None`, and the pieces it calls: `estimate_tuning` -> `piptrack` + `pitch_tuning`,
//! and `filters.chroma`.
//!
//! 1. piptrack (fmin 150, fmax 4000, threshold 0.1, ref = per-frame max): in each frame, bins
//!    that exceed 0.1 * the frame's max and are local maxima (`x[i]` > `x[i-1]`, `x[i]` >= `x[i+1]`),
//!    within fmin <= f < fmax, become peaks with parabolic-interpolated frequency
//!    (i + shift) * sr / n_fft and magnitude `S[i]` + 0.5 * `gradient[i]` * shift.
//! 2. estimate_tuning: keep the peaks whose magnitude >= the median peak magnitude;
//!    pitch_tuning: residual = 12 * log2(f / 27.5) mod 1, moved to [-0.5, 0.5); histogram on
//!    np.linspace(-0.5, 0.5, 101); tuning = left edge of the FIRST fullest bin (numpy argmax).
//! 3. filters.chroma(tuning) (n_chroma, 1 + n_fft/2): Gaussian bumps around each pitch class,
//!    columns L2-normalised, weighted by a Gaussian over octaves centred on octave 5 (width 2),
//!    rolled to start at C.
//! 4. chroma = bank @ S, each frame divided by its max (norm=inf); frames whose max is below
//!    float32's smallest normal (librosa's `tiny` for its float32 S) are left as they are.
//!
//! S is whatever the caller passes: the study passes the MAGNITUDE |STFT|, and so does `extract`.
//! Spectrograms here hold one frame per row, (T, F), the transpose of librosa's layout, so that
//! each frame's spectrum is contiguous and can be handled as soon as its FFT is done.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::spectrum::{fft_frequencies, linspace};

/// piptrack's defaults inside estimate_tuning.
pub const PIPTRACK_FMIN: f64 = 150.0;
pub const PIPTRACK_FMAX: f64 = 4000.0;
pub const PIPTRACK_THRESHOLD: f64 = 0.1;
/// estimate_tuning's histogram resolution, in fractions of a bin.
pub const TUNING_RESOLUTION: f64 = 0.01;

/// `librosa.hz_to_octs(f, tuning=tuning, bins_per_octave=bpo)`: octaves above A440/16 (C0 - 1/4).
pub fn hz_to_octs(f: f64, tuning: f64, bins_per_octave: usize) -> f64 {
    (f / octave_zero_hz(tuning, bins_per_octave)).log2()
}

/// hz_to_octs' reference, octave 0: A440 / 16 with A440 moved by `tuning` bins (27.5 Hz at 0).
fn octave_zero_hz(tuning: f64, bins_per_octave: usize) -> f64 {
    let a440 = 440.0 * 2.0f64.powf(tuning / bins_per_octave as f64);
    a440 / 16.0
}

/// Chroma filter bank, `librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma,
/// tuning=tuning)` with ctroct 5.0, octwidth 2, norm 2, base_c True. Entries are rounded to f32
/// (librosa's dtype).
///
/// -> (n_chroma, 1 + n_fft/2)
pub fn chroma_filter(sr: f64, n_fft: usize, n_chroma: usize, tuning: f64) -> Array2<f64> {
    const CTROCT: f64 = 5.0;
    const OCTWIDTH: f64 = 2.0;
    let nc = n_chroma as f64;
    // FFT bin frequencies without DC: np.linspace(0, sr, n_fft, endpoint=False)[1:].
    let freqs = linspace(0.0, sr, n_fft, false);
    let mut frqbins = Vec::with_capacity(n_fft);
    frqbins.push(0.0); // placeholder for the 0 Hz bin
    frqbins.extend(freqs[1..].iter().map(|&f| nc * hz_to_octs(f, tuning, n_chroma)));
    // The 0 Hz bin: 1.5 octaves below bin 1.
    frqbins[0] = frqbins[1] - 1.5 * nc;
    let mut binwidth: Vec<f64> = frqbins.windows(2).map(|w| (w[1] - w[0]).max(1.0)).collect();
    binwidth.push(1.0);

    // librosa builds all n_fft columns and drops the aliased ones at the end; every step below
    // works column by column (the roll moves rows), so building only the kept ones is the same.
    let bins = 1 + n_fft / 2;
    let half = (nc / 2.0).round_ties_even();
    let mut wts = Array2::<f64>::zeros((n_chroma, bins));
    for (c, mut row) in wts.rows_mut().into_iter().enumerate() {
        for ((w, &fb), &bw) in row.iter_mut().zip(&frqbins).zip(&binwidth) {
            // Distance to pitch class c, wrapped into [-n_chroma/2, n_chroma/2).
            let d = (fb - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
            *w = (-0.5 * (2.0 * d / bw).powi(2)).exp();
        }
    }
    // Normalise each column to unit L2 norm (librosa.util.normalize, norm=2, axis=0), then
    // weight by octave.
    for (mut col, &fb) in wts.columns_mut().into_iter().zip(&frqbins) {
        let len = col.iter().map(|v| v * v).sum::<f64>().sqrt();
        let len = if len < f64::MIN_POSITIVE { 1.0 } else { len };
        let oct = (-0.5 * ((fb / nc - CTROCT) / OCTWIDTH).powi(2)).exp();
        col.mapv_inplace(|v| v / len * oct);
    }
    // base_c: np.roll(wts, -3 * (n_chroma // 12), axis=0).
    let shift = 3 * (n_chroma / 12);
    Array2::from_shape_fn((n_chroma, bins), |(c, f)| wts[[(c + shift) % n_chroma, f]] as f32 as f64)
}

/// Parabolic-interpolation pitch tracking, `librosa.piptrack(S=s, sr=sr, fmin, fmax, threshold)`
/// with ref = per-frame max, one frame at a time: what it needs of the config, computed once.
#[derive(Clone, Debug)]
pub struct Piptrack {
    /// bins with fmin <= f < fmax (the frequencies ascend, so they are one range)
    in_range: std::ops::Range<usize>,
    threshold: f64,
    /// Hz per bin, sr / n_fft
    bin_hz: f64,
}

impl Piptrack {
    /// For spectra of `bins` = 1 + n_fft/2 frequencies at sample rate `sr`.
    pub fn new(bins: usize, sr: f64, fmin: f64, fmax: f64, threshold: f64) -> Self {
        assert!(bins >= 3, "piptrack needs at least 3 frequency bins, got {bins}");
        let n_fft = 2 * (bins - 1);
        let (fmin, fmax) = (fmin.max(0.0), fmax.min(sr / 2.0));
        let freqs = fft_frequencies(sr, n_fft);
        let first = freqs.iter().position(|&f| fmin <= f).unwrap_or(bins);
        let in_range = first..first.max(freqs.iter().rposition(|&f| f < fmax).map_or(0, |i| i + 1));
        Piptrack { in_range, threshold, bin_hz: sr / n_fft as f64 }
    }

    /// estimate_tuning's piptrack: fmin 150, fmax 4000, threshold 0.1.
    pub fn for_tuning(bins: usize, sr: f64) -> Self {
        Piptrack::new(bins, sr, PIPTRACK_FMIN, PIPTRACK_FMAX, PIPTRACK_THRESHOLD)
    }

    /// Calls `peak(bin, pitch, magnitude)` for each peak of one frame, bins ascending.
    /// x: (F) the frame's magnitudes
    pub fn frame_peaks(&self, x: &[f64], mut peak: impl FnMut(usize, f64, f64)) {
        let bins = x.len();
        // ref = threshold * the frame's max; 8 running maxima so that the scan vectorises.
        let mut lanes = [f64::NEG_INFINITY; 8];
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder().iter().fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        for c in chunks {
            for (m, &v) in lanes.iter_mut().zip(c) {
                *m = if v > *m { v } else { *m };
            }
        }
        let ref_value = self.threshold * lanes.iter().fold(rest, |m, &v| if v > m { v } else { m });
        // Bins at or below ref count as 0 in the local-maximum test.
        let xt = |i: usize| if x[i] > ref_value { x[i] } else { 0.0 };
        // Only a bin above ref can be a maximum (one at or below it counts as 0): blocks of 8
        // bins with none above ref, most of a frame, are passed over by a test that vectorises.
        const BLOCK: usize = 8;
        let candidates = self.in_range.clone().step_by(BLOCK).flat_map(|start| {
            let block = start..(start + BLOCK).min(self.in_range.end);
            let any = x[block.clone()].iter().fold(false, |any, &v| any | (v > ref_value));
            if any {
                block
            } else {
                start..start
            }
        });
        for i in candidates {
            // util.localmax: index 0 is never a max; the last bin only needs to beat its neighbour.
            let is_max = if i == 0 {
                false
            } else if i == bins - 1 {
                xt(i) > xt(i - 1)
            } else {
                xt(i) > xt(i - 1) && xt(i) >= xt(i + 1)
            };
            if !is_max {
                continue;
            }
            // _parabolic_interpolation (0 at the edges, and where the vertex is over a bin away)
            // and np.gradient (one-sided at the edges).
            let (shift, avg) = if i == bins - 1 {
                (0.0, x[i] - x[i - 1])
            } else {
                let a = x[i + 1] + x[i - 1] - 2.0 * x[i];
                let b = (x[i + 1] - x[i - 1]) / 2.0;
                (if b.abs() >= a.abs() { 0.0 } else { -b / a }, b)
            };
            peak(i, (i as f64 + shift) * self.bin_hz, x[i] + 0.5 * avg * shift);
        }
    }
}

/// The histogram `librosa.pitch_tuning` counts in: each frequency's deviation from the
/// equal-tempered grid, residual = bpo * log2(f / 27.5) mod 1 moved to [-0.5, 0.5), binned on
/// np.linspace(-0.5, 0.5, 1/resolution + 1).
#[derive(Clone, Debug)]
pub struct TuningHistogram {
    edges: Vec<f64>,
    bins_per_octave: usize,
    /// hz_to_octs' reference at tuning 0 (27.5 Hz), computed once rather than per frequency
    octave_zero_hz: f64,
}

impl TuningHistogram {
    pub fn new(resolution: f64, bins_per_octave: usize) -> Self {
        let n_bins = (1.0 / resolution).ceil() as usize;
        TuningHistogram {
            edges: linspace(-0.5, 0.5, n_bins + 1, true),
            bins_per_octave,
            octave_zero_hz: octave_zero_hz(0.0, bins_per_octave),
        }
    }

    /// estimate_tuning's histogram: resolution 0.01.
    pub fn for_tuning(bins_per_octave: usize) -> Self {
        TuningHistogram::new(TUNING_RESOLUTION, bins_per_octave)
    }

    pub fn bins(&self) -> usize {
        self.edges.len() - 1
    }

    /// The bin of frequency f; None for f <= 0, which librosa ignores.
    pub fn bin(&self, f: f64) -> Option<usize> {
        if f <= 0.0 {
            return None;
        }
        // bpo * hz_to_octs(f, tuning = 0), as pitch_tuning computes it.
        let mut r = (self.bins_per_octave as f64 * (f / self.octave_zero_hz).log2()).rem_euclid(1.0);
        if r >= 0.5 {
            r -= 1.0;
        }
        // np.histogram with explicit edges: edges[j] <= r < edges[j+1], last bin closed.
        let n_bins = self.bins();
        if !(self.edges[0]..=self.edges[n_bins]).contains(&r) {
            return None;
        }
        // The last edge <= r (a binary search's answer), found from the bin width and then
        // corrected against the edges themselves, which linspace's rounding places.
        let mut j = (((r - self.edges[0]) * n_bins as f64) as usize).min(n_bins - 1);
        while j > 0 && self.edges[j] > r {
            j -= 1;
        }
        while j + 1 < n_bins && self.edges[j + 1] <= r {
            j += 1;
        }
        Some(j)
    }

    /// The tuning the counts say: the left edge of the FIRST fullest bin (numpy's argmax; a
    /// `max_by_key` would take the last), 0.0 when nothing was counted (librosa warns).
    pub fn tuning(&self, counts: &[usize]) -> f64 {
        assert_eq!(counts.len(), self.bins(), "one count per bin");
        if counts.iter().all(|&c| c == 0) {
            return 0.0;
        }
        let mut best = 0;
        for (j, &c) in counts.iter().enumerate() {
            if c > counts[best] {
                best = j;
            }
        }
        self.edges[best]
    }
}

/// `librosa.pitch_tuning(frequencies, resolution, bins_per_octave)`: the most common deviation
/// from the equal-tempered grid, in fractions of a bin, in [-0.5, 0.5). Frequencies <= 0 are
/// ignored; none left gives 0.0 (librosa warns).
pub fn pitch_tuning(frequencies: &[f64], resolution: f64, bins_per_octave: usize) -> f64 {
    let histogram = TuningHistogram::new(resolution, bins_per_octave);
    let mut counts = vec![0usize; histogram.bins()];
    for j in frequencies.iter().filter_map(|&f| histogram.bin(f)) {
        counts[j] += 1;
    }
    histogram.tuning(&counts)
}

/// One piptrack peak as estimate_tuning uses it: its magnitude and its tuning-histogram bin
/// (None where its pitch is not positive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TuningPeak {
    pub magnitude: f64,
    pub bin: Option<usize>,
}

/// `librosa.estimate_tuning(S=s, sr=sr, bins_per_octave=bpo)`: piptrack over every frame, then
/// [`tuning_from_peaks`].
///
/// s: (T, 1 + n_fft/2) magnitudes, one frame per row
pub fn estimate_tuning(s: ArrayView2<f64>, sr: f64, bins_per_octave: usize) -> f64 {
    let piptrack = Piptrack::for_tuning(s.ncols(), sr);
    let histogram = TuningHistogram::for_tuning(bins_per_octave);
    let mut peaks = Vec::new();
    for frame in s.rows() {
        piptrack.frame_peaks(&frame.to_vec(), |_, pitch, magnitude| peaks.push(TuningPeak { magnitude, bin: histogram.bin(pitch) }));
    }
    tuning_from_peaks(&mut peaks, &histogram)
}

/// The second half of estimate_tuning: of the peaks with a positive pitch, count those at or
/// above the median magnitude in the histogram, and read the tuning off it. Reorders `peaks`.
pub fn tuning_from_peaks(peaks: &mut [TuningPeak], histogram: &TuningHistogram) -> f64 {
    let mut magnitudes: Vec<f64> = peaks.iter().filter(|p| p.bin.is_some()).map(|p| p.magnitude).collect();
    let threshold = if magnitudes.is_empty() { 0.0 } else { median(&mut magnitudes) };
    let mut counts = vec![0usize; histogram.bins()];
    for peak in peaks.iter().filter(|p| p.magnitude >= threshold) {
        if let Some(j) = peak.bin {
            counts[j] += 1;
        }
    }
    histogram.tuning(&counts)
}

/// np.median: the middle value, or the mean of the two middle values. Reorders `v`; linear time.
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    assert!(n > 0, "median of nothing");
    let (below, &mut upper, _) = v.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    if n % 2 == 1 {
        upper
    } else {
        let lower = below.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
        (lower + upper) / 2.0
    }
}

/// Normalise each frame (row) by its max |value| (librosa.util.normalize, norm=inf, over the
/// chroma axis); frames whose max is below float32's tiny are left as they are.
pub fn normalize_frames_inf(mut x: ArrayViewMut2<f64>) {
    for mut frame in x.rows_mut() {
        let len = frame.iter().fold(0.0f64, |m, &v| m.max(v.abs()));
        if len >= f32::MIN_POSITIVE as f64 {
            frame.mapv_inplace(|v| v / len);
        }
    }
}

/// `librosa.feature.chroma_stft(S=s, sr=sr, n_chroma=n_chroma, tuning=tuning)`; `tuning: None`
/// estimates it with [`estimate_tuning`]. Builds the filter bank each call; [`chroma_with_bank`]
/// takes a prebuilt one. Frames are rows, the transpose of librosa's layout.
///
/// s: (T, 1 + n_fft/2) -> (T, n_chroma)
pub fn chroma_stft(s: ArrayView2<f64>, sr: f64, n_chroma: usize, tuning: Option<f64>) -> Array2<f64> {
    let tuning = tuning.unwrap_or_else(|| estimate_tuning(s, sr, n_chroma));
    let n_fft = 2 * (s.ncols() - 1);
    chroma_with_bank(s, chroma_filter(sr, n_fft, n_chroma, tuning).view())
}

/// Chroma with a given filter bank: each frame projected onto the bank, then max-normalised.
///
/// s: (T, F), bank: (n_chroma, F) -> (T, n_chroma)
pub fn chroma_with_bank(s: ArrayView2<f64>, bank: ArrayView2<f64>) -> Array2<f64> {
    assert_eq!(bank.ncols(), s.ncols(), "chroma bank has {} bins, spectrogram {}", bank.ncols(), s.ncols());
    let mut raw = s.dot(&bank.t());
    normalize_frames_inf(raw.view_mut());
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_ties_go_to_the_first_bin_like_numpy_argmax() {
        // Two frequencies a semitone apart at +0.105 and two at -0.195: a 2-2 tie, numpy's argmax
        // takes the lower bin, whose left edge is -0.20.
        let at = |semis: f64| 27.5 * 2f64.powf(semis / 12.0);
        let f = [at(48.105), at(49.105), at(50.805), at(51.805)];
        let t = pitch_tuning(&f, 0.01, 12);
        assert!((t + 0.2).abs() < 1e-9, "{t}");
    }

    #[test]
    fn histogram_bins_are_those_of_a_search_of_the_edges() {
        let h = TuningHistogram::for_tuning(12);
        for step in 0..20_000 {
            let f = 30.0 * 1.0001f64.powi(step);
            let mut r = (12.0 * (f / 27.5).log2()).rem_euclid(1.0);
            if r >= 0.5 {
                r -= 1.0;
            }
            let searched = h.edges.partition_point(|&e| e <= r).saturating_sub(1).min(h.bins() - 1);
            assert_eq!(h.bin(f), Some(searched), "f {f}, residual {r}");
        }
    }

    #[test]
    fn tuning_of_nothing_is_zero() {
        assert_eq!(pitch_tuning(&[0.0, -3.0], 0.01, 12), 0.0);
    }

    #[test]
    fn chroma_bank_peaks_at_the_right_pitch_class() {
        // With base_c, row 0 is C and row 9 is A: bin of 440 Hz (sr 16000, n_fft 2048: 56.3).
        let b = chroma_filter(16000.0, 2048, 12, 0.0);
        assert_eq!(b.dim(), (12, 1025));
        let col = b.column(56);
        let best = (0..12).max_by(|&i, &j| col[i].total_cmp(&col[j])).unwrap();
        assert_eq!(best, 9);
    }

    #[test]
    fn median_matches_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut [5.0, 5.0, 1.0, 9.0, 7.0, 2.0]), 5.0);
    }
}
