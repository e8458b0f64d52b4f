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
//! inside; the result is f32 like librosa's.

pub mod chroma;
pub mod mel;
pub mod mfcc;
pub mod npy;
pub mod rms;
pub mod spectrum;
pub mod zcr;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{s, Array2, ArrayView2, Axis};

use crate::dsp::{hann_periodic, stft, PadMode};

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

/// Everything that depends only on the config, built once: window, mel bank, DCT matrix, and
/// the chroma banks (one per tuning value met, built on first use).
pub struct FeatureExtractor {
    cfg: FeatureConfig,
    window: Vec<f64>,
    mel_basis: Array2<f64>,                              // (n_mels, 1 + n_fft/2)
    dct: Array2<f64>,                                    // (n_mfcc, n_mels)
    chroma_banks: Mutex<HashMap<u64, Arc<Array2<f64>>>>, // tuning bits -> (n_chroma, 1 + n_fft/2)
}

impl FeatureExtractor {
    pub fn new(cfg: &FeatureConfig) -> Self {
        assert!(cfg.n_fft >= 4 && cfg.hop > 0, "bad STFT config {cfg:?}");
        assert!(cfg.n_chroma > 0 && cfg.n_mels > 0 && cfg.n_mfcc <= cfg.n_mels, "bad feature config {cfg:?}");
        FeatureExtractor {
            window: hann_periodic(cfg.n_fft),
            mel_basis: mel::mel_filter(cfg.sample_rate, cfg.n_fft, cfg.n_mels, 0.0, cfg.sample_rate / 2.0),
            dct: mfcc::dct2_ortho(cfg.n_mfcc, cfg.n_mels),
            chroma_banks: Mutex::new(HashMap::new()),
            cfg: cfg.clone(),
        }
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    fn chroma_bank(&self, tuning: f64) -> Arc<Array2<f64>> {
        let mut banks = self.chroma_banks.lock().unwrap_or_else(|e| e.into_inner());
        banks
            .entry(tuning.to_bits())
            .or_insert_with(|| Arc::new(chroma::chroma_filter(self.cfg.sample_rate, self.cfg.n_fft, self.cfg.n_chroma, tuning)))
            .clone()
    }

    /// The feature matrix of one clip, rows as in the module table.
    ///
    /// samples: (N,) -> (rows, 1 + N/hop)
    pub fn extract(&self, samples: &[f32]) -> Array2<f32> {
        let cfg = &self.cfg;
        let y: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
        // |S| as sqrt(re^2 + im^2) rather than hypot: a quarter of the extraction time went to libm's
        // overflow-safe hypot, and STFT values are far from overflow (the results differ by an ulp).
        let power = stft(&y, cfg.n_fft, cfg.hop, &self.window, true, PadMode::Constant).mapv(|c| c.norm_sqr()); // (F, K)
        let mag = power.mapv(f64::sqrt); // (F, K)
        let k = mag.ncols();

        let mel_power = mel::melspectrogram(power.view(), self.mel_basis.view()); // (n_mels, K)
        let mel_db = spectrum::power_to_db(mel_power.view(), 1.0, spectrum::AMIN, Some(spectrum::TOP_DB));
        let mfcc = mfcc::mfcc(mel_db.view(), self.dct.view()); // (n_mfcc, K)
        let tuning = chroma::estimate_tuning(mag.view(), cfg.sample_rate, cfg.n_chroma);
        let chroma = chroma::chroma_with_bank(mag.view(), self.chroma_bank(tuning).view()); // (n_chroma, K)
        let zcr = zcr::zero_crossing_rate(&y, cfg.n_fft, cfg.hop, true); // (K,)
        let rms = rms::rms(&y, cfg.n_fft, cfg.hop, true); // (K,)
        assert_eq!((zcr.len(), rms.len()), (k, k), "frame counts disagree: STFT {k}, ZCR {}, RMS {}", zcr.len(), rms.len());

        let g = cfg.groups();
        let mut out = Array2::<f32>::zeros((g.mel.end, k));
        let mut put = |rows: Range<usize>, src: ArrayView2<f64>| {
            out.slice_mut(s![rows, ..]).zip_mut_with(&src, |o, &v| *o = v as f32);
        };
        put(g.zcr, ArrayView2::from_shape((1, k), &zcr).unwrap());
        put(g.chroma, chroma.view());
        put(g.mfcc, mfcc.view());
        put(g.rms, ArrayView2::from_shape((1, k), &rms).unwrap());
        put(g.mel, mel_power.view());
        out
    }
}

/// The feature matrix of one clip with `cfg`; reuses a process-wide [`FeatureExtractor`] per
/// config, so the filter banks are built once.
///
/// samples: (N,) -> (cfg.rows(), 1 + N/hop); (162, K) with the default config.
pub fn extract(samples: &[f32], cfg: &FeatureConfig) -> Array2<f32> {
    static CACHE: OnceLock<Mutex<Vec<Arc<FeatureExtractor>>>> = OnceLock::new();
    let ex = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        match cache.iter().find(|e| e.cfg == *cfg) {
            Some(e) => e.clone(),
            None => {
                let e = Arc::new(FeatureExtractor::new(cfg));
                cache.push(e.clone());
                e
            }
        }
    };
    ex.extract(samples)
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
}
