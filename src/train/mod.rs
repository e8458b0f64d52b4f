//! Training and evaluation loops for the study: softmax cross-entropy, Adam, gradient-norm
//! clipping, shuffled mini-batches zero-padded to their longest clip.
//!
//! Every batch, in training and in scoring, is made as it is needed: its examples' features read
//! (from memory or the feature cache) and mapped by the input map, so that memory holds one batch
//! of inputs however many examples there are.

pub mod augment;
pub mod metrics;
pub mod state;

pub use metrics::Metrics;

use crate::checkpoint::LoadedModel;
use crate::data::pipeline::name_hash;
use crate::data::{CacheReadError, Example, InputScaling, Variant};
use crate::nn::loss::{
    anchored_consistency, label_targets, softmax, softmax_cross_entropy_soft, softmax_cross_entropy_weighted, view_consistency,
};
use crate::nn::model::{pad_batch, SerModel, NUM_CLASSES};
use crate::nn::speaker_adversary::{reversal_ramp, SpeakerAdversary};
use crate::optim::{clip_grad_norm, Adam};
use augment::{draw_mixup, mixed_targets, mixup, FeatureAugment};
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// The training settings of the study (its defaults) and their overrides.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub clip_norm: f64,
    pub seed: u64,
    /// AdamW's decoupled weight decay (0: Adam, as the study).
    #[serde(default)]
    pub weight_decay: f64,
    /// Cross-entropy label smoothing (0: none, as the study).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Learning-rate schedule (constant, as the study).
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Early stopping: stop after this many epochs without a better validation accuracy and keep
    /// the best epoch's weights (None: train every epoch and keep the last, as the study).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Mixup's Beta(α, α) parameter (0: off, as the study).
    #[serde(default)]
    pub mixup_alpha: f64,
    /// Largest gradient-reversal strength λ of a speaker-adversarial head on the pooled vector
    /// (0: none, as the study).
    #[serde(default)]
    pub speaker_adversary: f64,
    /// Class balance by loss weights: each example's loss is weighted by N / (C n_c) (N training
    /// examples, C classes, n_c examples of its class), so that every class weighs the same in
    /// an epoch; batches and their order are unchanged (false: plain mean, as the study).
    #[serde(default)]
    pub balance: bool,
    /// Corrupted copies each clip trains on per epoch, drawn afresh per clip and epoch from the
    /// ones it has (0: every copy every epoch); see [`epoch_examples`].
    #[serde(default)]
    pub channel_draws: usize,
    /// Weight of the consistency term across the views of each clip (`nn::loss::view_consistency`,
    /// AugMix's Jensen-Shannon term): batches then hold whole clips ([`clip_batches`]) and mixup
    /// mixes whole clips with whole clips (0: none, batches of examples as the study).
    #[serde(default)]
    pub consistency: f64,
    /// What each view is pulled towards by the consistency term.
    #[serde(default)]
    pub consistency_target: ConsistencyTarget,
}

/// What the consistency term pulls each view of a clip towards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsistencyTarget {
    /// The mean of the clip's predicted distributions, every view moved towards the others
    /// (AugMix's Jensen-Shannon term, `nn::loss::view_consistency`).
    #[default]
    Views,
    /// The clip's original's distribution, held fixed: the other views are pulled towards what
    /// the model says of the clean clip, which the term leaves alone
    /// (`nn::loss::anchored_consistency`); each clip's original leads its views, so whole-clip
    /// mixup mixes originals with originals.
    Original,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 80,
            batch_size: 256,
            lr: 1e-3,
            clip_norm: 1.0,
            seed: 0,
            weight_decay: 0.0,
            label_smoothing: 0.0,
            schedule: LrSchedule::Constant,
            patience: None,
            mixup_alpha: 0.0,
            speaker_adversary: 0.0,
            balance: false,
            channel_draws: 0,
            consistency: 0.0,
            consistency_target: ConsistencyTarget::Views,
        }
    }
}

/// How the learning rate moves over training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    #[default]
    Constant,
    /// Linear warm-up from 0 over `warmup_epochs`, then a cosine decay to 0 at the last epoch
    /// (Loshchilov & Hutter's SGDR without restarts), updated every step.
    WarmupCosine { warmup_epochs: f64 },
}

impl LrSchedule {
    /// The learning-rate factor at `progress` epochs done (fractional) out of `epochs`.
    pub fn factor(self, progress: f64, epochs: usize) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::WarmupCosine { warmup_epochs } => {
                let warm = if warmup_epochs > 0.0 { (progress / warmup_epochs).min(1.0) } else { 1.0 };
                let span = (epochs as f64 - warmup_epochs).max(1e-9);
                let t = ((progress - warmup_epochs) / span).clamp(0.0, 1.0);
                warm * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (train mode).
    pub loss: f64,
    /// Per-sample accuracy on the training split (or the clips `Trainer::curve_clips` names),
    /// eval mode, batched.
    pub train_accuracy: f64,
    /// Per-sample accuracy on the validation split, eval mode, batched (NaN without one, which
    /// JSON writes as null).
    #[serde(deserialize_with = "nan_from_null")]
    pub val_accuracy: f64,
    pub seconds: f64,
}

/// A number, or NaN where JSON has null (serde_json writes NaN as null and would not read it back).
fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// How clips are grouped when scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    /// Consecutive batches of the given size, zero-padded together (as training and the study do).
    Batched(usize),
    /// Each clip alone: the answer a user predicting one file gets.
    SingleClip,
}

/// Logits (N, C) for `examples` (their features mapped by `scaling`) in eval mode.
pub fn logits(
    model: &mut SerModel<f32>,
    examples: &[Example],
    scaling: &InputScaling,
    scoring: Scoring,
) -> Result<Array2<f32>, CacheReadError> {
    let size = match scoring {
        Scoring::Batched(b) => b.max(1),
        Scoring::SingleClip => 1,
    };
    let mut out = Array2::zeros((examples.len(), model.classes()));
    for (chunk, mut rows) in examples.chunks(size).zip(out.axis_chunks_iter_mut(Axis(0), size)) {
        let inputs = chunk.par_iter().map(|e| scaling.input(e)).collect::<Result<Vec<_>, _>>()?;
        let (x, lengths) = pad_batch(&inputs.iter().map(|x| x.view()).collect::<Vec<_>>());
        rows.assign(&model.forward(x.view(), &lengths, false));
    }
    Ok(out)
}

/// Index of the largest logit of each row (the first on ties).
pub fn argmax_rows(logits: &Array2<f32>) -> Vec<usize> {
    logits
        .rows()
        .into_iter()
        .map(|r| r.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0)
        .collect()
}

/// Class probabilities (N, C) of `examples` (their features mapped by `scaling`) averaged over
/// `models` (an ensemble of models with the same classes; one model gives its own softmax),
/// eval mode.
pub fn mean_probabilities(
    models: &mut [SerModel<f32>],
    examples: &[Example],
    scaling: &InputScaling,
    scoring: Scoring,
) -> Result<Array2<f32>, CacheReadError> {
    let classes = models.first().map_or(NUM_CLASSES, SerModel::classes);
    let mut sum = Array2::<f32>::zeros((examples.len(), classes));
    for model in models.iter_mut() {
        sum += &softmax(logits(model, examples, scaling, scoring)?.view());
    }
    Ok(sum / models.len().max(1) as f32)
}

/// Class probabilities (N, C) of `examples` (raw features) averaged over loaded checkpoints
/// (`Checkpoint::load_ensemble` makes them agree on the classes), each applying its own input map.
pub fn ensemble_probabilities(models: &mut [LoadedModel], examples: &[Example], scoring: Scoring) -> Result<Array2<f32>, CacheReadError> {
    let classes = models.first().map_or(NUM_CLASSES, |m| m.model.classes());
    let mut sum = Array2::<f32>::zeros((examples.len(), classes));
    for m in models.iter_mut() {
        sum += &mean_probabilities(std::slice::from_mut(&mut m.model), examples, &m.scaling, scoring)?;
    }
    Ok(sum / models.len().max(1) as f32)
}

/// Metrics of the model on `examples` (their features mapped by `scaling`), eval mode.
pub fn evaluate(
    model: &mut SerModel<f32>,
    examples: &[Example],
    scaling: &InputScaling,
    scoring: Scoring,
) -> Result<Metrics, CacheReadError> {
    evaluate_ensemble(std::slice::from_mut(model), examples, scaling, scoring)
}

/// Metrics of the mean probabilities of `models` on `examples` (their features mapped by
/// `scaling`), eval mode.
pub fn evaluate_ensemble(
    models: &mut [SerModel<f32>],
    examples: &[Example],
    scaling: &InputScaling,
    scoring: Scoring,
) -> Result<Metrics, CacheReadError> {
    let probabilities = mean_probabilities(models, examples, scaling, scoring)?;
    let truth: Vec<usize> = examples.iter().map(|e| e.label).collect();
    Ok(Metrics::compute(&truth, &argmax_rows(&probabilities), probabilities.ncols()))
}

/// What a training step fits on one batch of B rows.
struct Objective<'a> {
    /// Target rows (B, C) that sum to 1.
    targets: ArrayView2<'a, f32>,
    /// Each row's loss weight (None: 1).
    weights: Option<&'a [f32]>,
    /// The clip each row is a view of and whether the row is its clip's original, for the
    /// consistency term (None: no term).
    clips: Option<(&'a [usize], &'a [bool])>,
    /// The adversary's target rows (B, S) and the reversal strength λ (None: no adversary step).
    speakers: Option<(ArrayView2<'a, f32>, f64)>,
}

/// The state that carries a training run from one epoch to the next: the optimizer and the
/// history. Every random draw of an epoch (batch order, dropout masks) is seeded from
/// (seed, epoch), so a run resumed from a checkpoint of epoch e continues exactly as it would have.
pub struct Trainer {
    pub config: TrainConfig,
    pub adam: Adam<f32>,
    pub history: Vec<EpochLog>,
    /// The map from the examples' features to the model's input (fitted on the training split),
    /// applied to every batch as it is made; the identity feeds the study's raw features.
    pub scaling: InputScaling,
    /// Input augmentation drawn per clip and epoch (None: the study's fixed inputs).
    pub augment: Option<FeatureAugment>,
    /// The speaker-adversarial head and its optimizer, made on the first epoch when the config
    /// asks for one.
    pub adversary: Option<(SpeakerAdversary<f32>, Adam<f32>)>,
    /// The clips each epoch's training accuracy is scored on (None: the whole training set);
    /// shared, as an ensemble's members score the same ones.
    pub curve_clips: Option<Arc<Vec<Example>>>,
}

/// Each distinct actor of `train`, in increasing order: the adversary's classes.
pub fn speakers(train: &[Example]) -> Vec<u32> {
    let mut actors: Vec<u32> = train.iter().map(|e| e.actor).collect();
    actors.sort_unstable();
    actors.dedup();
    actors
}

/// Each class's loss weight under [`TrainConfig::balance`]: N / (C n_c) over `labels` (N of
/// them) and `classes` (C); a class without examples weighs 0.
pub fn balance_weights(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    counts.iter().map(|&n| if n == 0 { 0.0 } else { labels.len() as f32 / (classes as f32 * n as f32) }).collect()
}

/// The indices of the `train` examples an epoch with seed `seed` trains on, in order. Every
/// example, except that with `draws` = M > 0 each clip keeps only M of its K corrupted copies
/// (`Variant::Channel(0..K)`): copies start, start + 1, ... (mod K) from a start drawn per clip
/// and epoch. K copies made and cached once thus give a clip K channels over training at the cost
/// of M per epoch, nearer to corruptions drawn afresh each epoch. Examples of one clip share the
/// name before their `#`.
pub fn epoch_examples(train: &[Example], draws: usize, seed: u64) -> Vec<usize> {
    let copies = train.iter().filter_map(|e| if let Variant::Channel(k) = e.variant { Some(k + 1) } else { None }).max().unwrap_or(0);
    let kept = |e: &Example| match e.variant {
        Variant::Channel(k) if draws > 0 && draws < copies => {
            let clip = clip_of(e).1;
            let start = (name_hash(Path::new(clip)) ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
            (k + copies - (start % copies as u64) as usize) % copies < draws
        }
        _ => true,
    };
    (0..train.len()).filter(|&i| kept(&train[i])).collect()
}

/// The clip an example is a view of: its corpus and its name before the `#` of its copy.
fn clip_of(e: &Example) -> (usize, &str) {
    (e.corpus, e.name.split('#').next().unwrap_or_default())
}

/// Whether an example is its clip's original (the anchor of `ConsistencyTarget::Original`).
fn is_original(e: &Example) -> bool {
    matches!(e.variant, Variant::Original)
}

/// How an epoch's examples are cut into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Consecutive runs of the batch size, as the study.
    Examples,
    /// Each clip's examples together, batches cut between clips.
    Clips,
    /// As `Clips`, each clip's original first.
    ClipsOriginalFirst,
}

/// An epoch's batches of indices into `train` from its examples `order` (already shuffled):
/// consecutive runs of `batch_size` examples, or grouped by clip each clip's examples kept
/// together (in the order `order` first meets the clips, each clip's examples in `order`'s
/// order, or with its original moved to the front) and batches cut between clips, each up to
/// `batch_size` examples (more only for a clip with more views than that, alone in its batch).
pub fn clip_batches(train: &[Example], order: &[usize], batch_size: usize, grouping: Grouping) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    if grouping == Grouping::Examples {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    }
    let mut clips: Vec<Vec<usize>> = Vec::new();
    let mut slot_of: std::collections::HashMap<(usize, &str), usize> = std::collections::HashMap::new();
    for &i in order {
        let slot = *slot_of.entry(clip_of(&train[i])).or_insert_with(|| {
            clips.push(Vec::new());
            clips.len() - 1
        });
        clips[slot].push(i);
    }
    if grouping == Grouping::ClipsOriginalFirst {
        for clip in &mut clips {
            // A stable sort: the other views keep `order`'s order.
            clip.sort_by_key(|&i| !is_original(&train[i]));
        }
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for clip in clips {
        match batches.last_mut() {
            Some(batch) if batch.len() + clip.len() <= batch_size => batch.extend(clip),
            _ => batches.push(clip),
        }
    }
    batches
}

/// Numbers the clips of a batch whose clips are contiguous (as [`clip_batches`] makes them): row
/// b -> the index of its clip in the batch.
fn clip_ids(train: &[Example], batch: &[usize]) -> Vec<usize> {
    let mut ids = Vec::with_capacity(batch.len());
    for (b, &i) in batch.iter().enumerate() {
        let same = b > 0 && clip_of(&train[batch[b - 1]]) == clip_of(&train[i]);
        ids.push(match ids.last() {
            Some(&last) if same => last,
            Some(&last) => last + 1,
            None => 0,
        });
    }
    ids
}

/// Mixup partners that mix whole clips: the clips of a batch (`clips`, contiguous ids from 0)
/// permuted by `clip_partner`, view v of clip c mixed with view v (mod its count) of clip
/// `clip_partner[c]`, so that every view of a clip is the same mixture of the same two clips.
fn clip_mixup_partners(clips: &[usize], clip_partner: &[usize]) -> Vec<usize> {
    let mut starts = Vec::new();
    for (b, &c) in clips.iter().enumerate() {
        if starts.len() == c {
            starts.push(b);
        }
    }
    let count = |c: usize| starts.get(c + 1).copied().unwrap_or(clips.len()) - starts[c];
    clips.iter().enumerate().map(|(b, &c)| starts[clip_partner[c]] + (b - starts[c]) % count(clip_partner[c])).collect()
}

/// The seed of one epoch's random draws.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(epoch as u64).rotate_left(17) ^ 0x5EED_0F5A_FF1E
}

impl Trainer {
    pub fn new(config: TrainConfig) -> Self {
        let mut adam = Adam::new(config.lr);
        adam.weight_decay = config.weight_decay;
        Trainer { adam, config, history: Vec::new(), scaling: InputScaling::identity(), augment: None, adversary: None, curve_clips: None }
    }

    /// Makes the speaker adversary for `speakers` training speakers, reading a pooled vector
    /// `pooled` wide ([`SerModel::pooled`]), when the config asks for one and there is none yet
    /// (before loading a saved state, which then fills it in).
    pub fn attach_adversary(&mut self, speakers: usize, pooled: usize) {
        if self.config.speaker_adversary > 0.0 && self.adversary.is_none() {
            let mut rng = StdRng::seed_from_u64(self.config.seed ^ 0xAD7E_25A2);
            self.adversary = Some((SpeakerAdversary::new(pooled, speakers, &mut rng), Adam::new(self.config.lr)));
        }
    }

    /// The epoch (1-based) with the best validation accuracy so far (the first of ties).
    pub fn best_epoch(&self) -> Option<usize> {
        self.history
            .iter()
            .filter(|l| !l.val_accuracy.is_nan())
            .fold(None, |best: Option<&EpochLog>, l| match best {
                Some(b) if b.val_accuracy >= l.val_accuracy => Some(b),
                _ => Some(l),
            })
            .map(|l| l.epoch)
    }

    /// True once early stopping's patience has run out.
    pub fn should_stop(&self) -> bool {
        match (self.config.patience, self.best_epoch(), self.history.last()) {
            (Some(patience), Some(best), Some(last)) => last.epoch - best >= patience,
            _ => false,
        }
    }

    /// One pass over the training set, shuffled for `epoch` (1-based); returns the mean batch loss.
    /// Each batch's inputs are read and mapped as the batch comes (a cache entry that cannot be
    /// read back stops the epoch).
    pub fn train_epoch(&mut self, model: &mut SerModel<f32>, train: &[Example], epoch: usize) -> Result<f64, CacheReadError> {
        let seed = epoch_seed(self.config.seed, epoch);
        model.reseed_dropout(seed);
        let speakers = speakers(train);
        self.attach_adversary(speakers.len(), model.pooled());
        let speaker_of = |i: usize| speakers.binary_search(&train[i].actor).expect("a training actor");
        let classes = model.classes();
        let class_weights = self.config.balance.then(|| balance_weights(&train.iter().map(|e| e.label).collect::<Vec<_>>(), classes));
        let mut order = epoch_examples(train, self.config.channel_draws, seed);
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let consistency = self.config.consistency > 0.0;
        let grouping = match (consistency, self.config.consistency_target) {
            (false, _) => Grouping::Examples,
            (true, ConsistencyTarget::Views) => Grouping::Clips,
            (true, ConsistencyTarget::Original) => Grouping::ClipsOriginalFirst,
        };
        let batches = clip_batches(train, &order, self.config.batch_size, grouping);
        let mut total = 0.0;
        let steps = batches.len().max(1);
        for (step, chunk) in batches.iter().enumerate() {
            let progress = (epoch - 1) as f64 + step as f64 / steps as f64;
            self.adam.lr = self.config.lr * self.config.schedule.factor(progress, self.config.epochs);
            let labels: Vec<usize> = chunk.iter().map(|&i| train[i].label).collect();
            let (scaling, augment) = (&self.scaling, &self.augment);
            let clips: Vec<Array2<f32>> = chunk
                .par_iter()
                .map(|&i| {
                    let mut x = scaling.input(&train[i])?;
                    if let Some(augment) = augment {
                        let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
                        let valid = x.ncols();
                        augment.apply(&mut x, valid, &mut rng);
                    }
                    Ok(x)
                })
                .collect::<Result<_, CacheReadError>>()?;
            let (mut x, mut lengths) = pad_batch(&clips.iter().map(|c| c.view()).collect::<Vec<_>>());
            let clip_of_row = consistency.then(|| clip_ids(train, chunk));
            let originals_of_row = consistency.then(|| chunk.iter().map(|&i| is_original(&train[i])).collect::<Vec<bool>>());
            let mix = (self.config.mixup_alpha > 0.0).then(|| {
                let mut rng = StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
                match &clip_of_row {
                    Some(rows) => {
                        let (lambda, clip_partner) = draw_mixup(rows.last().map_or(0, |&c| c + 1), self.config.mixup_alpha, &mut rng);
                        (lambda, clip_mixup_partners(rows, &clip_partner))
                    }
                    None => draw_mixup(labels.len(), self.config.mixup_alpha, &mut rng),
                }
            });
            let targets = match &mix {
                Some((lambda, partner)) => mixup(&mut x, &mut lengths, &labels, *lambda, partner, classes, self.config.label_smoothing),
                None => label_targets(&labels, classes, self.config.label_smoothing),
            };
            // A mixed clip weighs as its two classes do, in its mix's proportions.
            let row_weights = class_weights.as_ref().map(|w| match &mix {
                Some((lambda, partner)) => {
                    labels.iter().zip(partner).map(|(&l, &j)| lambda * w[l] + (1.0 - lambda) * w[labels[j]]).collect::<Vec<f32>>()
                }
                None => labels.iter().map(|&l| w[l]).collect(),
            });
            // The adversary's targets are the clips' speakers, mixed as the clips were.
            let speaker_targets = self.adversary.is_some().then(|| {
                let speaker_labels: Vec<usize> = chunk.iter().map(|&i| speaker_of(i)).collect();
                match &mix {
                    Some((lambda, partner)) => mixed_targets(&speaker_labels, *lambda, partner, speakers.len(), 0.0),
                    None => label_targets(&speaker_labels, speakers.len(), 0.0),
                }
            });
            let reversal = reversal_ramp(self.config.speaker_adversary, progress / self.config.epochs.max(1) as f64);
            let objective = Objective {
                targets: targets.view(),
                weights: row_weights.as_deref(),
                clips: clip_of_row.as_deref().zip(originals_of_row.as_deref()),
                speakers: speaker_targets.as_ref().map(|t| (t.view(), reversal)),
            };
            let loss = self.step(model, x.view(), &lengths, objective);
            total += loss as f64;
        }
        Ok(total / steps as f64)
    }

    /// One optimisation step on a padded batch x: (B, 162, K) with each clip's valid frames and
    /// label; returns the batch's loss.
    pub fn train_step(&mut self, model: &mut SerModel<f32>, x: ArrayView3<f32>, lengths: &[usize], labels: &[usize]) -> f32 {
        let targets = label_targets(labels, model.classes(), self.config.label_smoothing);
        self.step(model, x, lengths, Objective { targets: targets.view(), weights: None, clips: None, speakers: None })
    }

    /// One optimisation step towards `objective`; returns the batch's emotion loss (with the
    /// consistency term's weighted share when there is one). With an adversary, the adversary
    /// steps towards the speakers and the encoder gets -λ times its gradient at the pooled
    /// vector on top of the emotion head's.
    fn step(&mut self, model: &mut SerModel<f32>, x: ArrayView3<f32>, lengths: &[usize], objective: Objective) -> f32 {
        let Objective { targets, weights, clips, speakers } = objective;
        let pooled = model.encode(x, lengths, true);
        let out = model.classify(pooled.view(), true);
        let (mut loss, mut dlogits) = match weights {
            None => softmax_cross_entropy_soft(out.view(), targets),
            Some(w) => softmax_cross_entropy_weighted(out.view(), targets, w),
        };
        if let Some((clips, originals)) = clips {
            let weight = self.config.consistency as f32;
            let (term, dterm) = match self.config.consistency_target {
                ConsistencyTarget::Views => view_consistency(out.view(), clips),
                ConsistencyTarget::Original => anchored_consistency(out.view(), clips, originals),
            };
            loss += weight * term;
            dlogits.scaled_add(weight, &dterm);
        }
        model.zero_grad();
        let mut dpooled = model.classify_backward(dlogits.view());
        if let (Some((adversary, adam)), Some((speaker_targets, reversal))) = (&mut self.adversary, speakers) {
            adversary.reversal = reversal;
            let guesses = adversary.forward(pooled.view());
            let (_, dguesses) = softmax_cross_entropy_soft(guesses.view(), speaker_targets);
            adversary.zero_grad();
            dpooled += &adversary.backward(dguesses.view());
            let mut params: Vec<_> = adversary.params().into_iter().map(|(_, p)| p).collect();
            clip_grad_norm(&mut params, self.config.clip_norm);
            adam.lr = self.adam.lr;
            adam.update(&mut params);
        }
        model.encode_backward(dpooled.view(), false);
        let mut params: Vec<_> = model.params().into_iter().map(|(_, p)| p).collect();
        clip_grad_norm(&mut params, self.config.clip_norm);
        self.adam.update(&mut params);
        loss
    }

    /// Trains from the epoch after the history's last up to the configured epochs, scoring train
    /// and validation accuracy after each one and handing the model and trainer to `on_epoch`
    /// (which may save them; its error stops training, as does a cache entry that cannot be read).
    pub fn fit<E: From<CacheReadError>>(
        &mut self,
        model: &mut SerModel<f32>,
        train: &[Example],
        val: &[Example],
        mut on_epoch: impl FnMut(&mut SerModel<f32>, &mut Trainer) -> Result<(), E>,
    ) -> Result<(), E> {
        let scoring = Scoring::Batched(self.config.batch_size);
        for epoch in self.history.len() + 1..=self.config.epochs {
            if self.should_stop() {
                break;
            }
            let start = std::time::Instant::now();
            let loss = self.train_epoch(model, train, epoch)?;
            let curve = self.curve_clips.as_ref().map_or(train, |c| c.as_slice());
            let train_accuracy = evaluate(model, curve, &self.scaling, scoring)?.accuracy;
            let val_accuracy = if val.is_empty() { f64::NAN } else { evaluate(model, val, &self.scaling, scoring)?.accuracy };
            let log = EpochLog { epoch, loss, train_accuracy, val_accuracy, seconds: start.elapsed().as_secs_f64() };
            self.history.push(log);
            on_epoch(model, self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under `channel_draws` each clip keeps its other examples and exactly M of its K corrupted
    /// copies, M in a row (mod K) from a start that changes with the epoch, so that over epochs
    /// every copy is trained on; 0, or M >= K, keeps every example.
    #[test]
    fn an_epoch_trains_each_clip_on_m_of_its_k_corrupted_copies() {
        let (clips, copies, draws) = (20, 5, 2);
        let variants: Vec<Variant> = [Variant::Original, Variant::Noise].into_iter().chain((0..copies).map(Variant::Channel)).collect();
        let train: Vec<Example> = (0..clips)
            .flat_map(|c| {
                variants.iter().map(move |&v| Example {
                    name: format!("clip{c}.wav#{}", v.tag()),
                    variant: v,
                    ..Example::original(Array2::zeros((1, 1)), c % 8, 1)
                })
            })
            .collect();
        let mut starts_seen = std::collections::HashSet::new();
        for epoch in 1..=10 {
            let kept = epoch_examples(&train, draws, epoch_seed(3, epoch));
            assert_eq!(kept.len(), clips * (2 + draws));
            for c in 0..clips {
                let of_clip: Vec<usize> = kept.iter().copied().filter(|&i| i / variants.len() == c).collect();
                let channels: Vec<usize> =
                    of_clip.iter().filter_map(|&i| if let Variant::Channel(k) = train[i].variant { Some(k) } else { None }).collect();
                assert_eq!(of_clip.len() - channels.len(), 2, "the original and the noise copy stay");
                let start = *channels.iter().find(|&&k| !channels.contains(&((k + copies - 1) % copies))).unwrap();
                assert_eq!(channels.len(), draws);
                assert!(channels.contains(&((start + 1) % copies)));
                starts_seen.insert((c, start));
            }
        }
        // 20 clips x 10 epochs: each clip met more than one start, and every start came up.
        assert!((0..clips).all(|c| starts_seen.iter().filter(|s| s.0 == c).count() > 1));
        assert!((0..copies).all(|k| starts_seen.iter().any(|s| s.1 == k)));
        assert_eq!(epoch_examples(&train, 0, 7).len(), train.len());
        assert_eq!(epoch_examples(&train, copies, 7).len(), train.len());
    }

    /// At λ = 0 the adversary learns but leaves the model's step exactly as without it; at λ > 0
    /// the reversed gradient changes the step.
    #[test]
    fn the_speaker_adversary_moves_the_model_only_through_its_reversed_gradient() {
        use crate::nn::model::{ModelConfig, Padding};
        let (b, k) = (6, 40);
        let x = ndarray::Array3::from_shape_fn((b, crate::nn::model::INPUT_ROWS, k), |(i, r, t)| {
            ((i * 31 + r * 7 + t * 3) % 17) as f32 / 8.0 - 1.0
        });
        let lengths = vec![40, 35, 40, 33, 38, 40];
        let targets = label_targets::<f32>(&[0, 1, 2, 3, 4, 5], NUM_CLASSES, 0.1);
        let speaker_targets = label_targets::<f32>(&[0, 1, 2, 0, 1, 2], 3, 0.0);
        let config = TrainConfig { speaker_adversary: 1.0, ..TrainConfig::default() };
        let weights = |reversal: Option<f64>| {
            let mut model = SerModel::<f32>::new(ModelConfig { dropout: false, padding: Padding::Masked }, 4);
            let mut trainer = Trainer::new(config.clone());
            if reversal.is_some() {
                trainer.attach_adversary(3, model.pooled());
            }
            let objective =
                Objective { targets: targets.view(), weights: None, clips: None, speakers: reversal.map(|r| (speaker_targets.view(), r)) };
            trainer.step(&mut model, x.view(), &lengths, objective);
            let adversary_moved = trainer
                .adversary
                .as_mut()
                .map(|(a, adam)| adam.step == 1 && a.params().iter().all(|(_, p)| p.grad.iter().any(|&g| g != 0.0)));
            let values: Vec<Vec<f32>> = model.params().into_iter().map(|(_, p)| p.value.iter().copied().collect()).collect();
            (values, adversary_moved)
        };
        let (alone, none) = weights(None);
        let (at_zero, learnt) = weights(Some(0.0));
        let (reversed, _) = weights(Some(1.0));
        assert_eq!(none, None);
        assert_eq!(learnt, Some(true), "the adversary stepped on gradients of every tensor");
        assert_eq!(alone, at_zero, "λ = 0: the same model step");
        assert_ne!(alone, reversed, "λ = 1: the reversed gradient reaches the model");
        let e = |actor| Example::original(Array2::zeros((1, 1)), 0, actor);
        assert_eq!(speakers(&[e(7), e(2), e(7), e(11)]), [2, 7, 11]);
    }

    /// Whole-clip batches hold every example once, each clip's together and in one batch, no
    /// batch over its size but for a clip bigger than a batch; whole-clip mixup mixes every view
    /// of a clip with views of one other clip.
    #[test]
    fn whole_clip_batches_keep_each_clips_views_together_and_mix_clips_with_clips() {
        let views = [3, 8, 5, 1, 8, 8, 12, 2, 8];
        let mut train = Vec::new();
        for (c, &n) in views.iter().enumerate() {
            for v in 0..n {
                let variant = if v == n / 2 { Variant::Original } else { Variant::Channel(v) };
                train.push(Example {
                    name: format!("clip{c}.wav#{v}"),
                    corpus: c % 2,
                    variant,
                    ..Example::original(Array2::zeros((1, 1)), 0, 1)
                });
            }
        }
        // The same file name in another corpus is another clip.
        train.push(Example { name: "clip0.wav#orig".into(), corpus: 1, ..Example::original(Array2::zeros((1, 1)), 0, 1) });
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(5));
        let batches = clip_batches(&train, &order, 10, Grouping::Clips);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..train.len()).collect::<Vec<_>>());
        for batch in &batches {
            let clips = clip_ids(&train, batch);
            let count = clips.last().unwrap() + 1;
            assert!(batch.len() <= 10 || count == 1, "{batch:?}");
            for c in 0..count {
                let rows: Vec<usize> = (0..batch.len()).filter(|&b| clips[b] == c).collect();
                assert!(rows.windows(2).all(|w| w[1] == w[0] + 1), "a clip's rows are contiguous");
                let whole = rows.iter().map(|&b| clip_of(&train[batch[b]])).collect::<std::collections::HashSet<_>>();
                assert_eq!(whole.len(), 1);
                let (corpus, name) = *whole.iter().next().unwrap();
                let all = train.iter().filter(|e| clip_of(e) == (corpus, name)).count();
                assert_eq!(rows.len(), all, "every view of {name} in one batch");
            }
            let clip_partner: Vec<usize> = (0..count).rev().collect();
            let partners = clip_mixup_partners(&clips, &clip_partner);
            for (b, &j) in partners.iter().enumerate() {
                assert_eq!(clips[j], clip_partner[clips[b]], "row {b} mixes with its clip's partner clip");
            }
        }
        assert!(batches.iter().any(|b| clip_ids(&train, b).last() > Some(&0)), "batches hold several clips");
        assert_eq!(clip_batches(&train, &order, 10, Grouping::Examples), order.chunks(10).map(<[usize]>::to_vec).collect::<Vec<_>>());
        // Originals first: the same batches, each clip's original moved to its front.
        let led = clip_batches(&train, &order, 10, Grouping::ClipsOriginalFirst);
        assert_eq!(led.len(), batches.len());
        for (led, batch) in led.iter().zip(&batches) {
            let clips = clip_ids(&train, batch);
            assert_eq!(clip_ids(&train, led), clips);
            for c in 0..=*clips.last().unwrap() {
                let rows = |batch: &[usize]| batch.iter().zip(&clips).filter(|(_, &k)| k == c).map(|(&i, _)| i).collect::<Vec<usize>>();
                let (led, was) = (rows(led), rows(batch));
                assert!(is_original(&train[led[0]]), "the original leads clip {c}");
                let rest: Vec<usize> = was.iter().copied().filter(|&i| i != led[0]).collect();
                assert_eq!(led[1..], rest[..], "the other views keep their order");
            }
        }
    }

    /// The consistency term moves a step only through views that share a clip: with every row
    /// its own clip (and its own original) the step is the one without it; two views of a clip
    /// change it, towards their mean or towards the clip's original.
    #[test]
    fn the_consistency_term_moves_the_step_only_through_views_of_one_clip() {
        use crate::nn::model::{ModelConfig, Padding};
        let (b, k) = (4, 40);
        let x = ndarray::Array3::from_shape_fn((b, crate::nn::model::INPUT_ROWS, k), |(i, r, t)| {
            ((i * 13 + r * 5 + t * 7) % 19) as f32 / 9.0 - 1.0
        });
        let lengths = vec![40, 36, 40, 34];
        let targets = label_targets::<f32>(&[0, 0, 3, 3], NUM_CLASSES, 0.1);
        for consistency_target in [ConsistencyTarget::Views, ConsistencyTarget::Original] {
            let weights = |clips: Option<(&[usize], &[bool])>| {
                let mut model = SerModel::<f32>::new(ModelConfig { dropout: false, padding: Padding::Masked }, 4);
                let mut trainer = Trainer::new(TrainConfig { consistency: 5.0, consistency_target, ..TrainConfig::default() });
                let objective = Objective { targets: targets.view(), weights: None, clips, speakers: None };
                let loss = trainer.step(&mut model, x.view(), &lengths, objective);
                (loss, model.params().into_iter().map(|(_, p)| p.value.iter().copied().collect::<Vec<f32>>()).collect::<Vec<_>>())
            };
            let (plain_loss, plain) = weights(None);
            let (alone_loss, alone) = weights(Some((&[0, 1, 2, 3], &[true; 4])));
            let (paired_loss, paired) = weights(Some((&[0, 0, 1, 1], &[true, false, false, true])));
            assert_eq!((plain_loss, &plain), (alone_loss, &alone), "{consistency_target:?}");
            assert!(paired_loss > plain_loss, "{consistency_target:?}: two differing views cost more");
            assert_ne!(plain, paired, "{consistency_target:?}");
        }
    }

    #[test]
    fn warmup_cosine_rises_linearly_then_decays_to_zero() {
        let s = LrSchedule::WarmupCosine { warmup_epochs: 4.0 };
        assert_eq!(s.factor(0.0, 20), 0.0);
        assert!((s.factor(2.0, 20) - 0.5).abs() < 1e-12);
        assert!((s.factor(4.0, 20) - 1.0).abs() < 1e-12);
        assert!((s.factor(12.0, 20) - 0.5).abs() < 1e-12, "half-way through the cosine");
        assert!(s.factor(20.0, 20).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.factor(7.3, 20), 1.0);
    }

    #[test]
    fn early_stopping_keeps_the_first_best_epoch_and_waits_for_patience() {
        let mut t = Trainer::new(TrainConfig { patience: Some(2), ..TrainConfig::default() });
        let log = |epoch, val_accuracy| EpochLog { epoch, loss: 0.0, train_accuracy: 0.0, val_accuracy, seconds: 0.0 };
        for (e, acc) in [(1, 0.5), (2, 0.7), (3, 0.7)] {
            t.history.push(log(e, acc));
            assert!(!t.should_stop(), "epoch {e}");
        }
        assert_eq!(t.best_epoch(), Some(2), "a tie does not replace the best");
        t.history.push(log(4, 0.69));
        assert!(t.should_stop(), "two epochs without a better validation accuracy");
        t.config.patience = None;
        assert!(!t.should_stop());
    }
}
