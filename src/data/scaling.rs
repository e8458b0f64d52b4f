//! Input scaling: the study feeds raw mel power (spanning ten orders of magnitude) and unscaled
//! rows into the first convolution, so a handful of loud mel bands dominate its dot products.
//! The recipe takes the mel rows to decibels (librosa's `power_to_db`, ref 1, amin 1e-10,
//! top_db 80 over the clip) and then standardises every row with the mean and standard deviation
//! of the training split, stored in the checkpoint so that `predict` applies the same map.
//! The statistics come from one streaming pass over the training split, and the map is applied to
//! each batch as it is made (training, curves, evaluation): no scaled copy of the data is held.
//!
//! Per row r: z = (x' - mean_r) / std_r, where x' is x in dB for the mel rows and x otherwise.

use crate::data::{CacheReadError, Example};
use crate::features::spectrum::{power_to_db, AMIN, TOP_DB};
use crate::features::{MEL, ROWS};
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
}

impl InputScaling {
    /// The identity (the study's input).
    pub fn identity() -> Self {
        InputScaling { log_mel: false, mean: Vec::new(), std: Vec::new() }
    }

    /// Fits the map on `train` in one streaming pass: a chunk of clips at a time is read (from
    /// memory or the feature cache) and its mel rows taken to dB, then the per-row statistics
    /// are summed over every frame of every clip, in order (f64 sums). Nothing read is kept: the
    /// map is applied later, to each batch as it is made ([`InputScaling::input`]).
    pub fn fit(train: &[Example], log_mel: bool, standardize: bool) -> Result<Self, CacheReadError> {
        let mut scaling = InputScaling { log_mel, mean: Vec::new(), std: Vec::new() };
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
        !self.log_mel && self.mean.is_empty()
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
        x
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
}
