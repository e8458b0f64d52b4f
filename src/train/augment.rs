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
//! - Vocal-tract length perturbation (VTLP, Jaitly & Hinton 2013) in the feature domain: the
//!   spectrum's frequency axis is scaled by a random α in [1 - `vtlp`, 1 + `vtlp`], new(f) =
//!   old(f / α), which moves formants as a longer or shorter vocal tract would. On the dB mel
//!   rows, band m (centre f_m) takes the value at f_m / α, interpolated linearly between the two
//!   bands whose centres (evenly spaced on the Slaney mel scale) surround it, clamped at the
//!   edges; the MFCC rows are then recomputed from the warped dB bands as librosa computes them
//!   (orthonormal DCT-II of the dB mel rows). ZCR, chroma and RMS are left as they are.
//!
//! - Mixup (Zhang et al. 2018): each batch draws λ ~ Beta(α, α) and a partner for every clip,
//!   and trains on λ x_i + (1 - λ) x_j towards λ y_i + (1 - λ) y_j.
//!
//! Nothing here has parameters, so nothing needs a backward pass.

use crate::data::InputScaling;
use crate::features::mel::{hz_to_mel, mel_frequencies};
use crate::features::{shared_extractor, FeatureConfig, MEL, MFCC, RMS};
use crate::nn::loss::smoothed_targets;
use ndarray::{s, Array2, Array3, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Beta, Distribution};
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
    /// Largest VTLP warp |α - 1|; 0 is off. Needs dB mel rows (`scaling.log_mel`).
    pub vtlp: f32,
    /// The map the features went through, for the gain's affine form.
    pub scaling: InputScaling,
}

impl FeatureAugment {
    /// x: (162, K) scaled features of a clip with `valid` real frames -> augmented in place.
    pub fn apply(&self, x: &mut Array2<f32>, valid: usize, rng: &mut StdRng) {
        if self.vtlp > 0.0 {
            let alpha = rng.gen_range(1.0 - self.vtlp..=1.0 + self.vtlp);
            self.warp(x, alpha as f64);
        }
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
        // Inputs the model is scored on are centred per clip when the map centres them; the
        // shifts above are centred away as they would be there.
        self.scaling.center_utterance(x.view_mut());
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

    /// Scales the frequency axis of x: (162, K) scaled features by `alpha` (see the module text).
    pub fn warp(&self, x: &mut Array2<f32>, alpha: f64) {
        assert!(self.scaling.log_mel, "VTLP warps dB mel rows; the recipe must take mel rows to dB");
        let cfg = FeatureConfig::default();
        let unscale = |x: &Array2<f32>, rows: std::ops::Range<usize>| {
            let mut v = x.slice(s![rows.clone(), ..]).mapv(f64::from);
            for (mut row, r) in v.axis_iter_mut(Axis(0)).zip(rows) {
                let (m, sd) = self.scaling.row_stats(r);
                row.mapv_inplace(|z| z * sd as f64 + m as f64);
            }
            v
        };
        let db = unscale(x, MEL);
        let mut warped = Array2::<f64>::zeros(db.raw_dim());
        for (band, (lower, frac)) in warp_sources(alpha, cfg.n_mels, cfg.sample_rate / 2.0).into_iter().enumerate() {
            let upper = (lower + 1).min(cfg.n_mels - 1);
            let mut out = warped.row_mut(band);
            out.assign(&db.row(lower).mapv(|v| (1.0 - frac) * v));
            out.scaled_add(frac, &db.row(upper));
        }
        let mfcc = shared_extractor(&cfg).dct().dot(&warped);
        for (rows, values) in [(MEL, &warped), (MFCC, &mfcc)] {
            for (r, v) in rows.zip(values.rows()) {
                let (m, sd) = self.scaling.row_stats(r);
                x.row_mut(r).zip_mut_with(&v, |z, &v| *z = ((v - m as f64) / sd as f64) as f32);
            }
        }
    }
}

/// For each of `n_mels` bands (centres evenly spaced on the Slaney mel scale from 0 to `fmax`,
/// as librosa's filter bank puts them), the band below the source frequency f_m / alpha and the
/// fraction of the way to the next one: (lower band, fraction), clamped to the first and last.
pub fn warp_sources(alpha: f64, n_mels: usize, fmax: f64) -> Vec<(usize, f64)> {
    let centres = &mel_frequencies(n_mels + 2, 0.0, fmax)[1..=n_mels];
    let (first, step) = (hz_to_mel(centres[0]), hz_to_mel(centres[1]) - hz_to_mel(centres[0]));
    centres
        .iter()
        .map(|&f| {
            let position = ((hz_to_mel(f / alpha) - first) / step).clamp(0.0, (n_mels - 1) as f64);
            let lower = (position.floor() as usize).min(n_mels - 2);
            (lower, position - lower as f64)
        })
        .collect()
}

/// A random span of width 0..=max_width inside 0..len: (start, width).
fn span(rng: &mut StdRng, len: usize, max_width: usize) -> (usize, usize) {
    let width = rng.gen_range(0..=max_width.min(len));
    (rng.gen_range(0..=len - width), width)
}

// ---- Mixup (Zhang et al. 2018): pairs of clips and their targets mixed by one λ per batch.

/// Mixup's draw for a batch of `n` clips (Zhang et al. 2018): λ ~ Beta(α, α), once for the
/// batch, and each clip's partner (a random permutation of the batch).
pub fn draw_mixup(n: usize, alpha: f64, rng: &mut StdRng) -> (f32, Vec<usize>) {
    let lambda = Beta::new(alpha, alpha).expect("mixup alpha is positive").sample(rng) as f32;
    let mut partner: Vec<usize> = (0..n).collect();
    partner.shuffle(rng);
    (lambda, partner)
}

/// Mixup of a padded batch x: (B, 162, K) in place: `x[b]` = λ `x[b]` + (1 - λ) `x[j(b)]` over
/// max(length b, length j(b)) frames (the shorter clip's zero padding is the training mean in
/// standardised rows); returns the targets λ q(label b) + (1 - λ) q(label j(b)) (B, classes).
pub fn mixup(
    x: &mut Array3<f32>,
    lengths: &mut [usize],
    labels: &[usize],
    lambda: f32,
    partner: &[usize],
    classes: usize,
    label_smoothing: f64,
) -> Array2<f32> {
    let original = x.clone();
    for (b, &j) in partner.iter().enumerate() {
        let mut slot = x.index_axis_mut(Axis(0), b);
        slot.zip_mut_with(&original.index_axis(Axis(0), j), |v, &w| *v = lambda * *v + (1.0 - lambda) * w);
    }
    let original_lengths = lengths.to_vec();
    for (length, &j) in lengths.iter_mut().zip(partner) {
        *length = (*length).max(original_lengths[j]);
    }
    mixed_targets(labels, lambda, partner, classes, label_smoothing)
}

/// Mixup's targets (B, classes): λ q(label b) + (1 - λ) q(label j(b)).
pub fn mixed_targets(labels: &[usize], lambda: f32, partner: &[usize], classes: usize, label_smoothing: f64) -> Array2<f32> {
    let partner_labels: Vec<usize> = partner.iter().map(|&j| labels[j]).collect();
    let n = labels.len();
    smoothed_targets(labels, &vec![lambda; n], classes, label_smoothing)
        + smoothed_targets(&partner_labels, &vec![1.0 - lambda; n], classes, label_smoothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use crate::features::{extract, FeatureConfig, ROWS};
    use crate::nn::model::NUM_CLASSES;
    use rand::SeedableRng;

    /// A voiced-like test signal: harmonics of 150 Hz with a slow amplitude contour.
    fn signal(gain: f32) -> Vec<f32> {
        voice(gain, 1.0)
    }

    /// `signal` with every frequency scaled by `alpha` (the spectrum a VTLP warp imitates).
    fn voice(gain: f32, alpha: f32) -> Vec<f32> {
        (0..16000)
            .map(|i| {
                let t = i as f32 / 16000.0;
                let env = 0.2 + 0.15 * (2.0 * std::f32::consts::PI * 2.0 * t).sin();
                gain * env * (1..8).map(|h| (2.0 * std::f32::consts::PI * 150.0 * alpha * h as f32 * t).sin() / h as f32).sum::<f32>()
            })
            .collect()
    }

    #[test]
    fn feature_domain_gain_equals_features_of_the_amplified_audio() {
        let cfg = FeatureConfig::default();
        let quiet = extract(&signal(0.5), &cfg);
        let db = 6.0f32;
        let loud = extract(&signal(0.5 * 10f32.powf(db / 20.0)), &cfg);
        let train = vec![Example::original(quiet.clone(), 0, 1)];
        for (log_mel, standardize) in [(false, false), (true, true), (true, false)] {
            let scaling = InputScaling::fit(&train, log_mel, standardize).unwrap();
            let aug = FeatureAugment { gain_db: 0.0, spec_augment: None, vtlp: 0.0, scaling: scaling.clone() };
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
    fn a_gain_leaves_centred_mel_and_mfcc_rows_as_they_were_and_moves_the_rms_row() {
        let quiet = extract(&signal(0.5), &FeatureConfig::default());
        let fitted = InputScaling::fit(&[Example::original(quiet.clone(), 0, 1)], true, true).unwrap();
        let scaling = InputScaling { utterance_mean: true, ..fitted };
        let aug = FeatureAugment { gain_db: 12.0, spec_augment: None, vtlp: 0.0, scaling: scaling.clone() };
        let before = scaling.apply(quiet);
        let mut x = before.clone();
        aug.apply(&mut x, before.ncols(), &mut StdRng::seed_from_u64(1));
        for r in MFCC.chain(MEL) {
            let err = x.row(r).iter().zip(before.row(r)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-4, "row {r} moved by {err} under a gain the centring removes");
        }
        assert!(x.row(RMS.start).iter().zip(before.row(RMS.start)).any(|(a, b)| (a - b).abs() > 1e-2), "the RMS row kept no level");
    }

    #[test]
    fn spec_augment_masks_stay_inside_the_valid_frames_and_mel_rows() {
        let aug = FeatureAugment {
            gain_db: 0.0,
            spec_augment: Some(SpecAugment { freq_masks: 2, freq_width: 10, time_masks: 2, time_width: 6 }),
            vtlp: 0.0,
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

    fn fitted(features: &Array2<f32>) -> InputScaling {
        InputScaling::fit(&[Example::original(features.clone(), 0, 1)], true, true).unwrap()
    }

    #[test]
    fn vtlp_without_a_warp_gives_back_the_mel_rows_and_librosas_mfccs() {
        let features = extract(&signal(0.5), &FeatureConfig::default());
        let scaling = fitted(&features);
        let aug = FeatureAugment { gain_db: 0.0, spec_augment: None, vtlp: 0.1, scaling: scaling.clone() };
        let before = scaling.apply(features);
        let mut x = before.clone();
        aug.warp(&mut x, 1.0);
        // MFCC rows recomputed from the dB mel rows match the extracted ones: the DCT is librosa's.
        let err = x.iter().zip(&before).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-3, "an identity warp changed the standardised rows by {err}");
    }

    #[test]
    fn vtlp_moves_the_mel_spectrum_as_scaling_the_voices_frequencies_does() {
        let cfg = FeatureConfig::default();
        let alpha = 1.1;
        let features = extract(&voice(0.5, 1.0), &cfg);
        let scaling = InputScaling::fit(&[Example::original(features.clone(), 0, 1)], true, false).unwrap();
        let aug = FeatureAugment { gain_db: 0.0, spec_augment: None, vtlp: 0.1, scaling: scaling.clone() };
        let original = scaling.apply(features);
        let mut warped = original.clone();
        aug.warp(&mut warped, alpha);
        let target = scaling.apply(extract(&voice(0.5, alpha as f32), &cfg));
        // Mean |dB| difference over the bands between 300 Hz and 3 kHz (where the harmonics are)
        // and the middle frames.
        let centres = mel_frequencies(cfg.n_mels + 2, 0.0, 8000.0);
        let bands: Vec<usize> = (0..cfg.n_mels).filter(|&m| (300.0..3000.0).contains(&centres[m + 1])).collect();
        let distance = |x: &Array2<f32>| {
            let mut total = 0.0;
            for &m in &bands {
                for t in 4..x.ncols() - 4 {
                    total += (x[[MEL.start + m, t]] - target[[MEL.start + m, t]]).abs() as f64;
                }
            }
            total / (bands.len() * (x.ncols() - 8)) as f64
        };
        let (unwarped, warped) = (distance(&original), distance(&warped));
        assert!(warped < 0.5 * unwarped, "warped {warped:.2} dB vs unwarped {unwarped:.2} dB from the scaled voice");
    }

    #[test]
    fn warp_sources_interpolate_between_the_bands_around_f_over_alpha() {
        let centres = mel_frequencies(130, 0.0, 8000.0);
        assert!(warp_sources(1.0, 128, 8000.0)
            .iter()
            .enumerate()
            .all(|(m, &(lo, f))| (lo == m && f.abs() < 1e-9) || (lo + 1 == m && (f - 1.0).abs() < 1e-9)));
        for alpha in [0.9, 1.1] {
            for (m, (lo, frac)) in warp_sources(alpha, 128, 8000.0).into_iter().enumerate() {
                let source = centres[m + 1] / alpha;
                assert!((0.0..=1.0).contains(&frac));
                if source > centres[1] && source < centres[128] {
                    assert!(
                        centres[lo + 1] <= source + 1e-9 && source <= centres[lo + 2] + 1e-9,
                        "band {m}: {source} Hz not in band {lo}'s interval"
                    );
                }
            }
        }
    }

    #[test]
    fn mixup_mixes_each_clip_with_its_partner_by_the_lambda_of_its_targets() {
        let (b, rows, k) = (4, 3, 5);
        let lengths0 = vec![2, 5, 3, 4];
        let x0 = Array3::from_shape_fn((b, rows, k), |(i, r, t)| if t < lengths0[i] { (100 * i + 10 * r + t) as f32 } else { 0.0 });
        let labels = [0, 1, 2, 1];
        let (lambda, partner) = (0.7f32, [2, 0, 2, 1]);
        let (mut x, mut lengths) = (x0.clone(), lengths0.clone());
        let targets = mixup(&mut x, &mut lengths, &labels, lambda, &partner, NUM_CLASSES, 0.1);
        for (i, &j) in partner.iter().enumerate() {
            let expected = x0.index_axis(Axis(0), i).mapv(|v| lambda * v) + x0.index_axis(Axis(0), j).mapv(|v| (1.0 - lambda) * v);
            assert!(x.index_axis(Axis(0), i).iter().zip(&expected).all(|(a, e)| (a - e).abs() < 1e-3), "clip {i}");
            assert_eq!(lengths[i], lengths0[i].max(lengths0[j]), "clip {i} covers its partner's frames");
            let mut q = [0.1f32 / 8.0; 8];
            q[labels[i]] += lambda * 0.9;
            q[labels[j]] += (1.0 - lambda) * 0.9;
            assert!(targets.row(i).iter().zip(q).all(|(a, e)| (a - e).abs() < 1e-6), "targets of clip {i}: {:?}", targets.row(i));
        }
        // The draw: one λ in (0, 1) and a permutation of the batch.
        let (lambda, mut partner) = draw_mixup(16, 0.4, &mut StdRng::seed_from_u64(3));
        assert!(lambda > 0.0 && lambda < 1.0);
        partner.sort();
        assert_eq!(partner, (0..16).collect::<Vec<_>>());
    }
}
