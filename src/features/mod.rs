//! The study's feature rows, computed as librosa 0.11.0 computes them.
//!
//! For a clip y at sample rate sr the notebook stacks, per frame (K = 1 + len/hop frames):
//!
//! | rows      | group  | librosa call                                       | module      |
//! |-----------|--------|----------------------------------------------------|-------------|
//! | 0..1      | ZCR    | `feature.zero_crossing_rate(y)`                     | [`zcr`]     |
//! | 1..13     | chroma | `feature.chroma_stft(S=np.abs(stft(y)), sr=sr)`     | [`chroma`]  |
//! | 13..33    | MFCC   | `feature.mfcc(y=y, sr=sr)`                          | [`mfcc`]    |
//! | 33..34    | RMS    | `feature.rms(y=y)`                                  | [`rms`]     |
//! | 34..162   | mel    | `feature.melspectrogram(y=y, sr=sr)` (power)        | [`mel`]     |
//!
//! (row ranges for the default config). The STFT is computed once: n_fft 2048, hop 512, periodic
//! Hann, centred with zero padding; mel and MFCC use the power |S|^2, chroma the magnitude |S|
//! (the notebook passes `S=np.abs(stft)`), ZCR and RMS work on the samples. Everything is f64
//! inside; the result is f32 like librosa's. Inside, spectrograms hold one frame per row (the
//! transpose of librosa's layout): one pass over the frames computes each frame's FFT, magnitude,
//! mel power and pitch peaks while the frame is in cache, tasks of frames in parallel.

pub mod chroma;
pub mod mel;
pub mod mfcc;
pub mod npy;
pub mod rms;
pub mod spectrum;
pub mod zcr;

use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, Axis};

use rayon::prelude::*;

use ser_kernels::{Mat, PackedB};

use crate::dsp::{framed_signal, hann_periodic, FrameFft, PadMode};

pub use npy::{read_npy_f32, write_npy_f32};

/// Rows of the feature matrix with the default config.
pub const ROWS: usize = 162;
pub const ZCR: Range<usize> = 0..1;
pub const CHROMA: Range<usize> = 1..13;
pub const MFCC: Range<usize> = 13..33;
pub const RMS: Range<usize> = 33..34;
pub const MEL: Range<usize> = 34..162;

/// Feature settings; `Default` is the study's at 16 kHz (librosa's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureConfig {
    pub sample_rate: f64,
    /// STFT size, also the ZCR/RMS frame length.
    pub n_fft: usize,
    pub hop: usize,
    pub n_mels: usize,
    pub n_mfcc: usize,
    pub n_chroma: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig { sample_rate: 16000.0, n_fft: 2048, hop: 512, n_mels: 128, n_mfcc: 20, n_chroma: 12 }
    }
}

/// Row ranges of each group for a config, in the notebook's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowGroups {
    pub zcr: Range<usize>,
    pub chroma: Range<usize>,
    pub mfcc: Range<usize>,
    pub rms: Range<usize>,
    pub mel: Range<usize>,
}

impl FeatureConfig {
    pub fn groups(&self) -> RowGroups {
        let chroma = 1..1 + self.n_chroma;
        let mfcc = chroma.end..chroma.end + self.n_mfcc;
        let rms = mfcc.end..mfcc.end + 1;
        let mel = rms.end..rms.end + self.n_mels;
        RowGroups { zcr: 0..1, chroma, mfcc, rms, mel }
    }

    /// Total rows: 1 + n_chroma + n_mfcc + 1 + n_mels.
    pub fn rows(&self) -> usize {
        self.groups().mel.end
    }

    /// Frames for `n` samples: 1 + n / hop.
    pub fn frames(&self, n: usize) -> usize {
        1 + n / self.hop
    }
}

/// Everything that depends only on the config, built once: window, mel bank, DCT matrix, the
/// tuning piptrack's bin range, and the chroma banks (one per tuning value met, built on first use).
pub struct FeatureExtractor {
    cfg: FeatureConfig,
    window: Vec<f64>,
    mel_bank: mel::SparseBank, // (n_mels, 1 + n_fft/2) by nonzero span
    dct: Array2<f64>,          // (n_mfcc, n_mels)
    piptrack: chroma::Piptrack,
    tuning_histogram: chroma::TuningHistogram,
    /// The chroma banks of the tunings met last, least recently used first: (tuning bits, bank^T
    /// (1 + n_fft/2, n_chroma)), at most [`CHROMA_BANKS_KEPT`].
    chroma_banks: Mutex<Vec<(u64, Arc<PackedB<f32>>)>>,
}

/// Chroma banks kept, one per tuning (librosa's 0.01-bin resolution gives up to 101, 66 KB each):
/// a stream of many voices would otherwise hold them all, 6-7 MB, while building one costs about
/// 0.4 ms against some 5 ms for an utterance's features.
const CHROMA_BANKS_KEPT: usize = 8;

/// Frames per task of the frame passes: a 3 s clip's 94 frames make 12 tasks, enough for rayon
/// to balance the threads, few enough that the hand-offs cost little (measured: 8 beat 6, 12, 16, 24 and 47).
const FRAMES_PER_TASK: usize = 8;

/// What the STFT pass keeps of each frame. K = frames, F = 1 + n_fft/2.
struct Spectra {
    /// (K, F) |S| (f32, as librosa's), for chroma once the tuning is known
    magnitude: Array2<f32>,
    /// (K, n_mels) mel power
    mel_power: Array2<f64>,
    /// (K, n_mels) the mel power in dB, before power_to_db's top_db clip (which needs every frame)
    mel_db: Array2<f64>,
    /// piptrack's peaks with their tuning-histogram bins
    peaks: Vec<chroma::TuningPeak>,
}

impl FeatureExtractor {
    pub fn new(cfg: &FeatureConfig) -> Self {
        assert!(cfg.n_fft >= 4 && cfg.hop > 0, "bad STFT config {cfg:?}");
        assert!(cfg.n_chroma > 0 && cfg.n_mels > 0 && cfg.n_mfcc <= cfg.n_mels, "bad feature config {cfg:?}");
        let mel_basis = mel::mel_filter(cfg.sample_rate, cfg.n_fft, cfg.n_mels, 0.0, cfg.sample_rate / 2.0);
        FeatureExtractor {
            window: hann_periodic(cfg.n_fft),
            mel_bank: mel::SparseBank::new(mel_basis.view()),
            dct: mfcc::dct2_ortho(cfg.n_mfcc, cfg.n_mels),
            piptrack: chroma::Piptrack::for_tuning(cfg.n_fft / 2 + 1, cfg.sample_rate),
            tuning_histogram: chroma::TuningHistogram::for_tuning(cfg.n_chroma),
            chroma_banks: Mutex::new(Vec::new()),
            cfg: cfg.clone(),
        }
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// The DCT the MFCC rows are computed with: (n_mfcc, n_mels).
    pub fn dct(&self) -> ArrayView2<'_, f64> {
        self.dct.view()
    }

    /// The chroma bank of a tuning, transposed and packed for the frames' projection. Its entries
    /// are f32 values (librosa's dtype), so the f32 copy is exact.
    fn chroma_bank(&self, tuning: f64) -> Arc<PackedB<f32>> {
        let key = tuning.to_bits();
        let mut banks = self.chroma_banks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = banks.iter().position(|(k, _)| *k == key) {
            let hit = banks.remove(i);
            banks.push(hit);
        } else {
            let cfg = &self.cfg;
            let bank = chroma::chroma_filter(cfg.sample_rate, cfg.n_fft, cfg.n_chroma, tuning).mapv(|w| w as f32); // (n_chroma, F)
            let (n_chroma, bins) = bank.dim();
            if banks.len() >= CHROMA_BANKS_KEPT {
                banks.remove(0);
            }
            banks.push((key, Arc::new(PackedB::pack(Mat::new(bank.as_slice().expect("fresh array"), n_chroma, bins).t()))));
        }
        banks.last().expect("just pushed").1.clone()
    }

    /// One pass over the STFT frames, tasks of [`FRAMES_PER_TASK`] frames on rayon: each frame's
    /// spectrum is turned into its magnitude, its mel power and its pitch peaks while it is
    /// still in cache. y: (N) -> K = 1 + N/hop frames.
    fn spectra(&self, y: &[f64]) -> Spectra {
        let (n_fft, hop, bins, n_mels) = (self.cfg.n_fft, self.cfg.hop, self.cfg.n_fft / 2 + 1, self.cfg.n_mels);
        let (signal, frames) = framed_signal(y, n_fft, hop, true, PadMode::Constant);
        let mut magnitude = Array2::<f32>::zeros((frames, bins));
        let mut mel_power = Array2::<f64>::zeros((frames, n_mels));
        let mut mel_db = Array2::<f64>::zeros((frames, n_mels));
        /// A task's first frame and its rows of |S|, mel power and mel dB.
        type FrameRows<'a> = (usize, ((&'a mut [f32], &'a mut [f64]), &'a mut [f64]));
        let task = |(first, ((magnitude, mel_power), mel_db)): FrameRows<'_>| {
            let mut fft = FrameFft::new(n_fft);
            let (mut power, mut mag64) = (vec![0.0; bins], vec![0.0; bins]);
            let mut peaks = Vec::new();
            let frames = magnitude.chunks_exact_mut(bins).zip(mel_power.chunks_exact_mut(n_mels)).zip(mel_db.chunks_exact_mut(n_mels));
            for (j, ((mag, mel), db)) in frames.enumerate() {
                let t = first * FRAMES_PER_TASK + j;
                let spectrum = fft.transform(&signal[t * hop..t * hop + n_fft], &self.window);
                for (p, v) in power.iter_mut().zip(spectrum) {
                    *p = v.norm_sqr();
                }
                // |S| as sqrt(re^2 + im^2) rather than hypot (libm's overflow-safe hypot cost a
                // quarter of the extraction time, and STFT values are far from overflow), and in
                // f32, as librosa's float32 |S| is: an f32 square root costs a third of an f64 one.
                for ((m, m64), &p) in mag.iter_mut().zip(&mut mag64).zip(&power) {
                    *m = (p as f32).sqrt();
                    *m64 = *m as f64;
                }
                self.mel_bank.apply(&power, mel);
                for (d, &p) in db.iter_mut().zip(mel.iter()) {
                    *d = spectrum::decibels(p, spectrum::AMIN);
                }
                self.piptrack.frame_peaks(&mag64, |_, pitch, magnitude| {
                    peaks.push(chroma::TuningPeak { magnitude, bin: self.tuning_histogram.bin(pitch) })
                });
            }
            peaks
        };
        let magnitude_tasks = magnitude.as_slice_mut().expect("fresh array").par_chunks_mut(FRAMES_PER_TASK * bins);
        let mel_tasks = mel_power.as_slice_mut().expect("fresh array").par_chunks_mut(FRAMES_PER_TASK * n_mels);
        let db_tasks = mel_db.as_slice_mut().expect("fresh array").par_chunks_mut(FRAMES_PER_TASK * n_mels);
        let per_task: Vec<Vec<chroma::TuningPeak>> = magnitude_tasks.zip(mel_tasks).zip(db_tasks).enumerate().map(task).collect();
        Spectra { magnitude, mel_power, mel_db, peaks: per_task.concat() }
    }

    /// The feature matrix of one clip, rows as in the module table.
    ///
    /// samples: (N,) -> (rows, 1 + N/hop)
    pub fn extract(&self, samples: &[f32]) -> Array2<f32> {
        let cfg = &self.cfg;
        let y: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
        let (spectra, (zcr, rms)) = rayon::join(
            || self.spectra(&y),
            || (zcr::zero_crossing_rate(&y, cfg.n_fft, cfg.hop, true), rms::rms(&y, cfg.n_fft, cfg.hop, true)), // (K,), (K,)
        );
        let Spectra { magnitude, mel_power, mut mel_db, mut peaks } = spectra;
        let k = magnitude.nrows();
        let (mfcc, chroma) = rayon::join(
            || {
                spectrum::clip_below_top(&mut mel_db, spectrum::TOP_DB); // power_to_db's (K, n_mels)
                mfcc::mfcc(mel_db.view(), self.dct.view()) // (K, n_mfcc)
            },
            || {
                let bank = self.chroma_bank(chroma::tuning_from_peaks(&mut peaks, &self.tuning_histogram));
                let mut chroma = Array2::<f64>::zeros((k, cfg.n_chroma)); // (K, n_chroma)
                let (bins, n_chroma) = (magnitude.ncols(), cfg.n_chroma);
                let outs = chroma.as_slice_mut().expect("fresh array").par_chunks_mut(FRAMES_PER_TASK * n_chroma);
                let mags = magnitude.as_slice().expect("fresh array").par_chunks(FRAMES_PER_TASK * bins);
                outs.zip(mags).for_each(|(out, mag)| {
                    // raw = |S| bank^T in f32, as librosa's float32 product, then max-normalised.
                    let frames = mag.len() / bins;
                    let mut raw = vec![0.0f32; frames * n_chroma];
                    bank.gemm_acc(mag, frames, bins, &mut raw, n_chroma);
                    out.iter_mut().zip(&raw).for_each(|(o, &v)| *o = v as f64);
                    chroma::normalize_frames_inf(ArrayViewMut2::from_shape((frames, n_chroma), out).expect("whole frames"));
                });
                chroma
            },
        );
        assert_eq!((zcr.len(), rms.len()), (k, k), "frame counts disagree: STFT {k}, ZCR {}, RMS {}", zcr.len(), rms.len());

        let g = cfg.groups();
        let mut out = Array2::<f32>::zeros((g.mel.end, k));
        // Each group arrives frame-major, (K, rows); the output is (rows, K) like librosa's.
        let mut put = |rows: Range<usize>, src: ArrayView2<f64>| {
            out.slice_mut(s![rows, ..]).zip_mut_with(&src.t(), |o, &v| *o = v as f32);
        };
        put(g.zcr, ArrayView2::from_shape((k, 1), &zcr).unwrap());
        put(g.chroma, chroma.view());
        put(g.mfcc, mfcc.view());
        put(g.rms, ArrayView2::from_shape((k, 1), &rms).unwrap());
        put(g.mel, mel_power.view());
        out
    }
}

/// The feature matrix of one clip with `cfg`; reuses a process-wide [`FeatureExtractor`] per
/// config, so the filter banks are built once.
///
/// samples: (N,) -> (cfg.rows(), 1 + N/hop); (162, K) with the default config.
pub fn extract(samples: &[f32], cfg: &FeatureConfig) -> Array2<f32> {
    shared_extractor(cfg).extract(samples)
}

/// The process-wide [`FeatureExtractor`] of `cfg` (built on first use).
pub fn shared_extractor(cfg: &FeatureConfig) -> Arc<FeatureExtractor> {
    static CACHE: OnceLock<Mutex<Vec<Arc<FeatureExtractor>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    match cache.iter().find(|e| e.cfg == *cfg) {
        Some(e) => e.clone(),
        None => {
            let e = Arc::new(FeatureExtractor::new(cfg));
            cache.push(e.clone());
            e
        }
    }
}

/// Per-row view of a group, e.g. `group(&feats, MEL)`.
pub fn group(feats: &Array2<f32>, rows: Range<usize>) -> ArrayView2<'_, f32> {
    feats.slice_axis(Axis(0), rows.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_groups_match_the_constants() {
        let g = FeatureConfig::default().groups();
        assert_eq!(g, RowGroups { zcr: ZCR, chroma: CHROMA, mfcc: MFCC, rms: RMS, mel: MEL });
        assert_eq!(FeatureConfig::default().rows(), ROWS);
    }

    #[test]
    fn extract_has_the_right_shape_and_finite_values() {
        let y: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.07).sin() * 0.3).collect();
        let f = extract(&y, &FeatureConfig::default());
        assert_eq!(f.dim(), (ROWS, 1 + 16000 / 512));
        assert!(f.iter().all(|v| v.is_finite()));
        // Silence: chroma frames stay zero (not NaN), MFCC sits at the -80 dB floor's transform.
        let z = extract(&vec![0.0; 4000], &FeatureConfig::default());
        assert!(z.iter().all(|v| v.is_finite()));
        assert!(group(&z, CHROMA).iter().all(|&v| v == 0.0));
    }

    /// Tones a 0.07 semitone apart each estimate another tuning: the extractor keeps at most
    /// [`CHROMA_BANKS_KEPT`] banks, and a tuning met again after its bank was dropped gives the
    /// same features as the first time.
    #[test]
    fn chroma_banks_kept_are_bounded_and_rebuilt_alike() {
        let extractor = FeatureExtractor::new(&FeatureConfig::default());
        let tone = |k: usize| -> Vec<f32> {
            let hz = 440.0 * 2f64.powf(0.07 * k as f64 / 12.0);
            (0..8000).map(|i| (0.3 * (std::f64::consts::TAU * hz * i as f64 / 16000.0).sin()) as f32).collect()
        };
        let first = extractor.extract(&tone(0));
        let mut tunings = Vec::new();
        for k in 0..12 {
            extractor.extract(&tone(k));
            let banks = extractor.chroma_banks.lock().unwrap();
            assert!(banks.len() <= CHROMA_BANKS_KEPT);
            tunings.push(banks.last().unwrap().0);
        }
        tunings.dedup();
        assert!(tunings.len() > CHROMA_BANKS_KEPT, "the tones gave {} tunings", tunings.len());
        assert!(!extractor.chroma_banks.lock().unwrap().iter().any(|(k, _)| *k == tunings[0]), "the first tuning's bank was dropped");
        assert_eq!(extractor.extract(&tone(0)), first);
    }
}
