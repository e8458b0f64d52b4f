//! Input scaling: the study feeds raw mel power (spanning ten orders of magnitude) and unscaled
//! rows into the first convolution, so a handful of loud mel bands dominate its dot products.
//! The recipe takes the mel rows to decibels (librosa's `power_to_db`, ref 1, amin 1e-10,
//! top_db 80 over the clip) and then standardises every row with the mean and standard deviation
//! of the training split, stored in the checkpoint so that `predict` applies the same map.
//! The statistics come from one streaming pass over the training split, and the map is applied to
//! each batch as it is made (training, curves, evaluation): no scaled copy of the data is held.
//!
//! Per row r: z = (x' - mean_r) / std_r, where x' is x in dB for the mel rows and x otherwise.
//!
//! Optionally each clip's own mean over its frames is then taken from its dB mel and MFCC rows
//! (cepstral mean normalisation, per utterance): a fixed channel (a microphone, a phone line's
//! filter, a steady noise floor's lift of each band) adds about the same dB to every frame of a
//! band, and the model then sees only how each band moves within the clip. The clip's level
//! stays in the RMS row. Per row r of those: z_t -= (1/K) sum_t' z_t'.

use crate::data::{CacheReadError, Example};
use crate::features::spectrum::{power_to_db, AMIN, TOP_DB};
use crate::features::{MEL, MFCC, ROWS};
use ndarray::{Array2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Standard deviations below this are treated as this (a constant row stays finite).
const MIN_STD: f64 = 1e-6;

/// Clips read at a time while fitting (as many as a batch of the study's).
const FIT_CHUNK: usize = 256;

/// The map from the 162 feature rows to the model's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputScaling {
    /// Mel rows in decibels before standardising.
    pub log_mel: bool,
    /// Per-row mean and standard deviation (of the dB values for mel rows when `log_mel`);
    /// empty when rows are not standardised.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Each clip's own mean over its frames taken from its mel and MFCC rows, last. Absent
    /// (false) from checkpoints made before it existed.
    #[serde(default)]
    pub utterance_mean: bool,
}

impl InputScaling {
    /// The identity (the study's input).
    pub fn identity() -> Self {
        InputScaling { log_mel: false, mean: Vec::new(), std: Vec::new(), utterance_mean: false }
    }

    /// Fits the map on `train` in one streaming pass: a chunk of clips at a time is read (from
    /// memory or the feature cache) and its mel rows taken to dB, then the per-row statistics
    /// are summed over every frame of every clip, in order (f64 sums). Nothing read is kept: the
    /// map is applied later, to each batch as it is made ([`InputScaling::input`]).
    /// The statistics do not depend on centring, which is off in the fitted map (set
    /// `utterance_mean` on it to centre).
    pub fn fit(train: &[Example], log_mel: bool, standardize: bool) -> Result<Self, CacheReadError> {
        let mut scaling = InputScaling { log_mel, mean: Vec::new(), std: Vec::new(), utterance_mean: false };
        if !standardize {
            return Ok(scaling);
        }
        let mut sum = vec![0.0f64; ROWS];
        let mut sum_sq = vec![0.0f64; ROWS];
        let mut frames = 0usize;
        for chunk in train.chunks(FIT_CHUNK) {
            let logged = chunk.par_iter().map(|e| Ok(scaling.log_rows(e.features.load()?))).collect::<Result<Vec<_>, CacheReadError>>()?;
            for x in &logged {
                for (r, row) in x.axis_iter(Axis(0)).enumerate() {
                    for &v in row {
                        sum[r] += v as f64;
                        sum_sq[r] += (v as f64) * (v as f64);
                    }
                }
                frames += x.ncols();
            }
        }
        let n = frames.max(1) as f64;
        for r in 0..ROWS {
            let mean = sum[r] / n;
            let var = (sum_sq[r] / n - mean * mean).max(0.0);
            scaling.mean.push(mean as f32);
            scaling.std.push(var.sqrt().max(MIN_STD) as f32);
        }
        Ok(scaling)
    }

    /// True when the map changes nothing.
    pub fn is_identity(&self) -> bool {
        !self.log_mel && self.mean.is_empty() && !self.utterance_mean
    }

    /// x: (162, K) -> the mel rows in dB (when `log_mel`), others unchanged.
    fn log_rows(&self, mut x: Array2<f32>) -> Array2<f32> {
        if self.log_mel {
            let mel = x.slice(ndarray::s![MEL, ..]).mapv(f64::from);
            let db = power_to_db(mel.view(), 1.0, AMIN, Some(TOP_DB));
            x.slice_mut(ndarray::s![MEL, ..]).zip_mut_with(&db, |d, &v| *d = v as f32);
        }
        x
    }

    /// x: (162, K) -> the model's input (162, K).
    pub fn apply(&self, x: Array2<f32>) -> Array2<f32> {
        let mut x = self.log_rows(x);
        self.standardize(x.view_mut());
        self.center_utterance(x.view_mut());
        x
    }

    /// x: (162, K) mapped features of one clip (K of its own frames, no padding) -> its mel and
    /// MFCC rows centred on their own means when `utterance_mean`, in place. Centring twice is
    /// centring once, so augmentation that shifts rows can centre again after it.
    pub fn center_utterance(&self, mut x: ArrayViewMut2<f32>) {
        if !self.utterance_mean || x.ncols() == 0 {
            return;
        }
        for r in MFCC.chain(MEL) {
            let mut row = x.row_mut(r);
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / row.len() as f64;
            row.mapv_inplace(|v| v - mean as f32);
        }
    }

    fn standardize(&self, mut x: ArrayViewMut2<f32>) {
        if self.mean.is_empty() {
            return;
        }
        for ((mut row, &m), &s) in x.axis_iter_mut(Axis(0)).zip(&self.mean).zip(&self.std) {
            row.mapv_inplace(|v| (v - m) / s);
        }
    }

    /// The model's input for one example: its features read (from memory or the feature cache)
    /// and mapped.
    pub fn input(&self, example: &Example) -> Result<Array2<f32>, CacheReadError> {
        Ok(self.apply(example.features.load()?))
    }

    /// (mean, std) of row r, or (0, 1) when rows are not standardised.
    pub fn row_stats(&self, r: usize) -> (f32, f32) {
        if self.mean.is_empty() {
            (0.0, 1.0)
        } else {
            (self.mean[r], self.std[r])
        }
    }

    /// Checks the statistics have one finite entry per row (a checkpoint may hold anything).
    pub fn validate(&self) -> Result<(), String> {
        if self.mean.is_empty() && self.std.is_empty() {
            return Ok(());
        }
        if self.mean.len() != ROWS || self.std.len() != ROWS {
            return Err(format!("{} means and {} standard deviations, expected {ROWS} of each", self.mean.len(), self.std.len()));
        }
        if self.mean.iter().chain(&self.std).any(|v| !v.is_finite()) || self.std.iter().any(|&s| s <= 0.0) {
            return Err("a mean or standard deviation is not finite, or a deviation is not positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn example(seed: u64, frames: usize) -> Example {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let features = Array2::from_shape_fn((ROWS, frames), |(r, _)| (rng.gen::<f32>() + 0.1) * (r as f32 + 1.0));
        Example::original(features, 0, 1)
    }

    #[test]
    fn standardised_training_rows_have_zero_mean_and_unit_variance() {
        let train: Vec<Example> = (0..5).map(|s| example(s, 40 + s as usize)).collect();
        let scaling = InputScaling::fit(&train, true, true).unwrap();
        let inputs: Vec<Array2<f32>> = train.iter().map(|e| scaling.input(e).unwrap()).collect();
        for r in [0, 20, 33, 34, 100, 161] {
            let values: Vec<f64> = inputs.iter().flat_map(|x| x.row(r).to_vec()).map(f64::from).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "row {r}: mean {mean}, variance {var}");
        }
    }

    #[test]
    fn log_mel_rows_are_librosa_decibels_and_other_rows_untouched() {
        let e = example(7, 30);
        let scaling = InputScaling::fit(std::slice::from_ref(&e), true, false).unwrap();
        let (raw, out) = (e.features.load().unwrap(), scaling.input(&e).unwrap());
        assert_eq!(out.slice(ndarray::s![..MEL.start, ..]), raw.slice(ndarray::s![..MEL.start, ..]));
        let (x, y) = (raw[[40, 3]] as f64, out[[40, 3]] as f64);
        assert!((y - 10.0 * x.log10()).abs() < 1e-4, "{y} vs {}", 10.0 * x.log10());
    }

    #[test]
    fn utterance_mean_centres_mel_and_mfcc_rows_per_clip_and_removes_a_fixed_tilt() {
        let e = example(3, 25);
        // Fitted on other clips too, so that the training means are not this clip's.
        let plain = InputScaling::fit(&[example(4, 30), e.clone(), example(5, 20)], true, true).unwrap();
        let centred = InputScaling { utterance_mean: true, ..plain.clone() };
        let (x, z) = (plain.input(&e).unwrap(), centred.input(&e).unwrap());
        for r in 0..ROWS {
            let mean = z.row(r).iter().map(|&v| v as f64).sum::<f64>() / z.ncols() as f64;
            if MFCC.contains(&r) || MEL.contains(&r) {
                assert!(mean.abs() < 1e-5, "row {r} keeps mean {mean}");
                let shift = z[[r, 4]] - x[[r, 4]];
                assert!(z.row(r).iter().zip(x.row(r)).all(|(a, b)| (a - b - shift).abs() < 1e-4), "row {r}: not a constant shift");
            } else {
                assert_eq!(z.row(r), x.row(r), "row {r} must be left alone");
            }
        }
        // A fixed filter scales each band's power by its own factor: after centring nothing of it is left.
        let mut tilted = e.features.load().unwrap();
        for (k, r) in MEL.enumerate() {
            tilted.row_mut(r).mapv_inplace(|v| v * 10f32.powf(0.02 * k as f32 - 1.0));
        }
        let z_tilted = centred.apply(tilted);
        let worst =
            MEL.flat_map(|r| (0..z.ncols()).map(move |t| (r, t))).map(|(r, t)| (z_tilted[[r, t]] - z[[r, t]]).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-3, "a fixed tilt changed a centred mel value by {worst}");
        let mut again = z.clone();
        centred.center_utterance(again.view_mut());
        assert!(again.iter().zip(&z).all(|(a, b)| (a - b).abs() < 1e-5), "centring twice differs from once");
    }
}
