//! Augmentation of the model's input, drawn afresh for every clip of every epoch (seeded):
//!
//! - Random gain of ±`gain_db` decibels, applied exactly in the feature domain instead of
//!   recomputing the features: a gain g = 10^(d/20) on the audio multiplies mel power by g^2
//!   (+d dB on log-mel rows), RMS by g, and adds d * sqrt(128) to MFCC 0 (the ortho DCT's first
//!   row is the mean of the dB bands times sqrt(128); every other DCT row sums to zero); ZCR and
//!   chroma (normalised per frame) do not change. Exact up to librosa's 1e-10 power floor.
//!   After standardisation z = (x - m)/s, the affine map x' = a x + b becomes
//!   z' = a z + ((a - 1) m + b) / s.
//! - SpecAugment (Park et al. 2019) without time warping: `freq_masks` bands of up to
//!   `freq_width` adjacent mel rows and `time_masks` spans of up to `time_width` frames (all rows)
//!   are set to 0, the training mean once rows are standardised.
//!
//! Nothing here has parameters, so nothing needs a backward pass.

use super::scaling::InputScaling;
use crate::features::{MEL, MFCC, RMS};
use ndarray::{s, Array2};
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// SpecAugment's mask counts and widths.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpecAugment {
    pub freq_masks: usize,
    /// Widest band, in mel rows.
    pub freq_width: usize,
    pub time_masks: usize,
    /// Widest span, in frames.
    pub time_width: usize,
}

/// Everything drawn per clip and epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureAugment {
    /// Uniform gain in [-gain_db, gain_db] dB; 0 is off.
    pub gain_db: f32,
    pub spec_augment: Option<SpecAugment>,
    /// The map the features went through, for the gain's affine form.
    pub scaling: InputScaling,
}

impl FeatureAugment {
    /// x: (162, K) scaled features of a clip with `valid` real frames -> augmented in place.
    pub fn apply(&self, x: &mut Array2<f32>, valid: usize, rng: &mut StdRng) {
        if self.gain_db > 0.0 {
            let db = rng.gen_range(-self.gain_db..=self.gain_db);
            self.gain(x, db);
        }
        if let Some(sa) = self.spec_augment {
            let valid = valid.min(x.ncols());
            for _ in 0..sa.freq_masks {
                let (start, width) = span(rng, MEL.len(), sa.freq_width);
                x.slice_mut(s![MEL.start + start..MEL.start + start + width, ..]).fill(0.0);
            }
            for _ in 0..sa.time_masks {
                let (start, width) = span(rng, valid, sa.time_width);
                x.slice_mut(s![.., start..start + width]).fill(0.0);
            }
        }
    }

    /// Applies a gain of `db` decibels (see the module text).
    pub fn gain(&self, x: &mut Array2<f32>, db: f32) {
        let g = 10f32.powf(db / 20.0);
        let mel = if self.scaling.log_mel { (1.0, db) } else { (g * g, 0.0) };
        let rows = [(MEL, mel), (RMS, (g, 0.0)), (MFCC.start..MFCC.start + 1, (1.0, db * (MEL.len() as f32).sqrt()))];
        for (range, (a, b)) in rows {
            for r in range {
                let (m, sd) = self.scaling.row_stats(r);
                let offset = ((a - 1.0) * m + b) / sd;
                x.row_mut(r).mapv_inplace(|z| a * z + offset);
            }
        }
    }
}

/// A random span of width 0..=max_width inside 0..len: (start, width).
fn span(rng: &mut StdRng, len: usize, max_width: usize) -> (usize, usize) {
    let width = rng.gen_range(0..=max_width.min(len));
    (rng.gen_range(0..=len - width), width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{extract, FeatureConfig, ROWS};
    use crate::train::Example;
    use rand::SeedableRng;

    /// A voiced-like test signal: harmonics of 150 Hz with a slow amplitude contour.
    fn signal(gain: f32) -> Vec<f32> {
        (0..16000)
            .map(|i| {
                let t = i as f32 / 16000.0;
                let env = 0.2 + 0.15 * (2.0 * std::f32::consts::PI * 2.0 * t).sin();
                gain * env * (1..8).map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32).sum::<f32>()
            })
            .collect()
    }

    #[test]
    fn feature_domain_gain_equals_features_of_the_amplified_audio() {
        let cfg = FeatureConfig::default();
        let quiet = extract(&signal(0.5), &cfg);
        let db = 6.0f32;
        let loud = extract(&signal(0.5 * 10f32.powf(db / 20.0)), &cfg);
        let train = vec![Example { features: quiet.clone(), label: 0, name: String::new(), actor: 1 }];
        for (log_mel, standardize) in [(false, false), (true, true), (true, false)] {
            let scaling = InputScaling::fit_and_apply(&mut train.clone(), log_mel, standardize);
            let aug = FeatureAugment { gain_db: 0.0, spec_augment: None, scaling: scaling.clone() };
            let mut x = scaling.apply(quiet.clone());
            aug.gain(&mut x, db);
            let expected = scaling.apply(loud.clone());
            for r in 0..ROWS {
                let scale = expected.row(r).iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                let err = x.row(r).iter().zip(expected.row(r)).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
                assert!(err < 2e-3, "log_mel {log_mel}, standardize {standardize}: row {r} differs by {err} of its scale");
            }
        }
    }

    #[test]
    fn spec_augment_masks_stay_inside_the_valid_frames_and_mel_rows() {
        let aug = FeatureAugment {
            gain_db: 0.0,
            spec_augment: Some(SpecAugment { freq_masks: 2, freq_width: 10, time_masks: 2, time_width: 6 }),
            scaling: InputScaling::identity(),
        };
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let mut x = Array2::from_elem((ROWS, 60), 1.0f32);
            aug.apply(&mut x, 40, &mut rng);
            assert!(x.slice(s![..MEL.start, 40..]).iter().all(|&v| v == 1.0), "a time mask reached the padding");
            let zeroed_cols = (0..40).filter(|&c| x.column(c).iter().all(|&v| v == 0.0)).count();
            assert!(zeroed_cols <= 12);
            // Rows outside the mel band are zeroed only where a time mask covers the whole column.
            for c in 0..40 {
                let whole = x.column(c).iter().all(|&v| v == 0.0);
                assert!(whole || x.slice(s![..MEL.start, c]).iter().all(|&v| v == 1.0));
            }
        }
    }
}
