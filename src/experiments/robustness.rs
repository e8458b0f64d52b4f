//! `ser robustness`: a checkpoint's accuracy, each clip scored alone, on clean clips and under
//! each channel corruption of a grid ([`test_grid`]: noise white, pink and babble at SNR 20, 10
//! and 5 dB; telephone with and without mu-law; rooms of RT60 0.3, 0.6 and 1.0 s; gain -20 and
//! +20 dB).
//!
//! Every clip is read once (clean 16 kHz speech, as `eval` prepares it), then corrupted per
//! condition with a seed of [`SeedUse::Test`] (per run seed, clip and condition: training copies
//! draw theirs from [`SeedUse::Training`], so no test noise or room is ever trained on), brought
//! to the model's band and featurised afresh. Babble for a clip mixes up to four other clips of
//! the scored set whose speaker (RAVDESS actor) is not the clip's (another number if asked).

use crate::audio::corrupt::{babble_talkers, corrupt, corruption_seed, Corruption, NoiseKind, SeedUse};
use crate::checkpoint::LoadedModel;
use crate::data::pipeline::{channel_to_features, name_hash, speech_audio, DataConfig, SAMPLE_RATE};
use crate::data::Clip;
use crate::data::Example;
use crate::features::{self, FeatureConfig};
use crate::train::ensemble_probabilities;
use crate::train::{argmax_rows, Metrics, Scoring};
use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// The corruptions `ser robustness` scores, in report order.
pub fn test_grid() -> Vec<Corruption> {
    let mut grid = Vec::new();
    for kind in [NoiseKind::White, NoiseKind::Pink, NoiseKind::Babble] {
        grid.extend([20.0, 10.0, 5.0].map(|snr_db| Corruption::Noise { kind, snr_db }));
    }
    grid.extend([false, true].map(|mu_law| Corruption::Telephone { mu_law }));
    grid.extend([0.3, 0.6, 1.0].map(|rt60_s| Corruption::Reverb { rt60_s }));
    grid.extend([-20.0, 20.0].map(|db| Corruption::Gain { db }));
    grid
}

/// One corruption's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionResult {
    /// `noise-white`, `noise-pink`, `noise-babble`, `telephone`, `telephone-mulaw`, `reverb`, `gain`.
    pub corruption: String,
    /// Its severity in words (`SNR 10 dB`, `RT60 0.6 s`, `+20 dB`, `8 kHz, mu-law`).
    pub severity: String,
    pub setting: Corruption,
    /// Accuracy with each clip scored alone.
    pub accuracy: f64,
    /// Accuracy minus the clean accuracy, in percentage points.
    pub change_points: f64,
    pub macro_f1: f64,
}

/// What `robustness.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct RobustnessReport {
    pub checkpoints: Vec<PathBuf>,
    /// The band the model was trained for.
    pub band: &'static str,
    /// What clips went through after their band (`none`, `wiener`).
    pub enhancement: &'static str,
    /// Which clips were scored (`all`, `test`, ...) and from where.
    pub data: PathBuf,
    pub part: String,
    /// Clips scored under every condition.
    pub clips: usize,
    /// (file, reason) of the clips that could not be read.
    pub skipped: Vec<(String, String)>,
    /// Seed of the test corruptions.
    pub seed: u64,
    /// Talkers mixed into each babble (fewer where the scored set has fewer other clips).
    pub babble_talkers: usize,
    /// Accuracy on the clean clips, each scored alone.
    pub clean_accuracy: f64,
    pub clean_macro_f1: f64,
    pub conditions: Vec<ConditionResult>,
    pub seconds: f64,
}

/// Which clips a robustness run scores, and with which test seed.
pub struct RobustnessClips<'a> {
    /// The folder they came from and the part of it (`all`, `test`, ...), for the report.
    pub data: PathBuf,
    pub part: String,
    pub clips: &'a [Clip],
    /// How clips are read (VAD) and the band they are brought to (the model's).
    pub cfg: &'a DataConfig,
    pub seed: u64,
    /// Talkers mixed into each babble ([`crate::audio::corrupt::BABBLE_TALKERS`] unless asked otherwise).
    pub babble_talkers: usize,
}

/// Scores `models` on the clips clean and under each corruption of `grid`. Clips that cannot
/// be read are skipped and listed; a corruption that fails on a clip is an error naming it.
pub fn run_robustness(models: &mut [LoadedModel], run: RobustnessClips<'_>, grid: &[Corruption]) -> anyhow::Result<RobustnessReport> {
    let start = Instant::now();
    let RobustnessClips { data, part, clips, cfg, seed, babble_talkers: talker_count } = run;
    let read: Vec<Result<Vec<f32>, String>> = clips.par_iter().map(|c| speech_audio(&c.path, cfg).map_err(|e| e.to_string())).collect();
    let mut usable: Vec<(&Clip, Vec<f32>)> = Vec::new();
    let mut skipped = Vec::new();
    for (clip, audio) in clips.iter().zip(read) {
        match audio {
            Ok(samples) => usable.push((clip, samples)),
            Err(reason) => skipped.push((clip.path.display().to_string(), reason)),
        }
    }
    if usable.is_empty() {
        anyhow::bail!("none of the {} clips could be read (first: {})", clips.len(), skipped.first().map_or("", |s| s.1.as_str()));
    }
    let actors: Vec<u32> = usable.iter().map(|(c, _)| c.speaker).collect();
    let truth: Vec<usize> = usable.iter().map(|(c, _)| c.label).collect();
    let mut score = |corruption: Option<(usize, &Corruption)>| -> anyhow::Result<Metrics> {
        let examples = usable
            .par_iter()
            .map(|(clip, speech)| {
                let samples = match corruption {
                    None => speech.clone(),
                    Some((index, c)) => {
                        let clip_seed = corruption_seed(SeedUse::Test, seed, name_hash(&clip.path), index as u64);
                        let talkers = match c {
                            // Talkers from a stream of their own, apart from the noise's.
                            Corruption::Noise { kind: NoiseKind::Babble, .. } => {
                                babble_talkers(&actors, clip.speaker, talker_count, &mut StdRng::seed_from_u64(clip_seed ^ 1))?
                            }
                            _ => Vec::new(),
                        };
                        let talkers: Vec<&[f32]> = talkers.iter().map(|&i| usable[i].1.as_slice()).collect();
                        corrupt(speech, SAMPLE_RATE, c, clip_seed, &talkers)?
                    }
                };
                let samples = channel_to_features(&clip.path, samples, cfg)?;
                Ok(Example::original(features::extract(&samples, &FeatureConfig::default()), clip.label, clip.speaker))
            })
            .collect::<anyhow::Result<Vec<Example>>>()
            .with_context(|| {
                format!("under {}", corruption.map_or("no corruption".into(), |(_, c)| format!("{} {}", c.kind_key(), c.severity())))
            })?;
        let predicted = argmax_rows(&ensemble_probabilities(models, &examples, Scoring::SingleClip)?);
        Ok(Metrics::compute(&truth, &predicted, models[0].classes.len()))
    };
    let clean = score(None)?;
    let mut results = Vec::new();
    for (index, c) in grid.iter().enumerate() {
        let m = score(Some((index, c)))?;
        results.push(ConditionResult {
            corruption: c.kind_key(),
            severity: c.severity(),
            setting: *c,
            accuracy: m.accuracy,
            change_points: 100.0 * (m.accuracy - clean.accuracy),
            macro_f1: m.macro_f1,
        });
    }
    Ok(RobustnessReport {
        checkpoints: models.iter().map(|m| m.path.clone()).collect(),
        band: models[0].band.name(),
        enhancement: models[0].enhancement.name(),
        data,
        part,
        clips: usable.len(),
        skipped,
        seed,
        babble_talkers: talker_count,
        clean_accuracy: clean.accuracy,
        clean_macro_f1: clean.macro_f1,
        conditions: results,
        seconds: start.elapsed().as_secs_f64(),
    })
}
