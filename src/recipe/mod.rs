//! Training recipes: the study's, and an improved one that stays inside the same model family
//! (Conv1d front end, BiLSTM, pooled MLP head) and changes only how the model is fed and
//! optimised. Each piece is a switch so that its contribution can be measured on its own
//! ([`Recipe::ladder`]: one row per piece added).
//!
//! A recipe is configuration only: data that the runners in `experiments` read through one
//! [`Recipe::plan`]. Its input map ([`InputScaling`]) is fitted on the training split and travels
//! in the checkpoint's metadata, so `ser predict` and `ser eval` apply it without being told.

pub mod ladder;

use crate::audio::augment::speed_rates;
use crate::data::channels::{BabbleTalkers, ChannelMix};
use crate::data::pipeline::{Band, DataConfig, Enhancement};
use crate::data::{CacheReadError, Example, InputScaling};
use crate::nn::model::{ModelConfig, Padding, LSTM_HIDDEN};
use crate::train::augment::{FeatureAugment, SpecAugment};
use crate::train::{ConsistencyTarget, LrSchedule, TrainConfig};
use serde::{Deserialize, Serialize};

/// Every switch of a recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub name: String,
    pub padding: Padding,
    /// The authors' two Dropout(0.25) layers.
    pub dropout: bool,
    /// Mel rows in dB (power_to_db) before the model.
    pub log_mel: bool,
    /// Rows standardised with training-split statistics.
    pub standardize: bool,
    /// Random gain of up to ± this many dB per clip and epoch (0: off).
    pub gain_db: f32,
    pub spec_augment: Option<SpecAugment>,
    /// Speed factors of the extra copies of each training clip (empty: none). Absent from the
    /// settings of runs made before it existed.
    #[serde(default)]
    pub speed_perturb: Vec<f64>,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    pub schedule: LrSchedule,
    /// Early stopping on validation accuracy, best epoch kept.
    pub patience: Option<usize>,
    /// Mixup's Beta(α, α) parameter (0: off). Absent from runs made before it existed.
    #[serde(default)]
    pub mixup_alpha: f64,
    /// Largest VTLP frequency warp |α - 1| (0: off; needs `log_mel`). Absent from runs made before
    /// it existed.
    #[serde(default)]
    pub vtlp: f32,
    /// Models trained per seed (member seeds derived from it) whose probabilities are averaged
    /// at evaluation and prediction. Absent (1) from runs made before it existed.
    #[serde(default = "one")]
    pub ensemble: usize,
    /// Largest gradient-reversal strength of a speaker-adversarial head (0: off). Absent from runs
    /// made before it existed.
    #[serde(default)]
    pub speaker_adversary: f64,
    /// Score the per-epoch training accuracy (the curves) on the original training clips only,
    /// not their augmented copies: a quarter of that work, which is a fifth of an epoch's. The
    /// final training figures still cover every example. Absent (false) from older runs.
    #[serde(default)]
    pub curve_on_originals: bool,
    /// Corrupted copies of each training clip, each through a channel drawn with training-only
    /// seeds (noise, telephone, a room, a level; `data::pipeline::training_channel`), cached
    /// like the other copies. Absent (0) from older runs.
    #[serde(default)]
    pub channel_copies: usize,
    /// Of those copies, how many each clip trains on per epoch, drawn afresh per clip and epoch
    /// (`train::epoch_examples`; 0: all of them every epoch). Absent (0) from older runs.
    #[serde(default)]
    pub channel_draws: usize,
    /// How often each kind of channel is drawn for those copies (`data::channels::ChannelMix`).
    /// Absent (every kind as likely) from older runs.
    #[serde(default)]
    pub channel_mix: ChannelMix,
    /// How many talkers each babble of those copies mixes (`data::channels::BabbleTalkers`).
    /// Absent (four, as tested) from older runs.
    #[serde(default)]
    pub babble_talkers: BabbleTalkers,
    /// The band every clip is brought to before its features (training, evaluation and
    /// prediction alike). Absent (wideband) from older runs.
    #[serde(default)]
    pub band: Band,
    /// What every clip goes through after its band (training, evaluation and prediction alike).
    /// Absent (none) from older runs.
    #[serde(default)]
    pub enhancement: Enhancement,
    /// Class balance by loss weights (`TrainConfig::balance`). Absent (false) from older runs.
    #[serde(default)]
    pub balance: bool,
    /// Each clip's own mean taken from its dB mel and MFCC rows (`InputScaling::utterance_mean`).
    /// Absent (false) from older runs.
    #[serde(default)]
    pub utterance_mean: bool,
    /// Weight of the consistency term across each clip's views (`TrainConfig::consistency`; 0:
    /// off). Absent (0) from older runs.
    #[serde(default)]
    pub consistency: f64,
    /// What the consistency term pulls each view towards (`TrainConfig::consistency_target`).
    /// Absent (the mean of the views) from older runs.
    #[serde(default)]
    pub consistency_target: ConsistencyTarget,
    /// Hidden units of each direction of the BiLSTM (`SerModel::with_width`). Absent (the
    /// authors' 80) from older runs.
    #[serde(default = "authors_lstm_hidden")]
    pub lstm_hidden: usize,
}

fn one() -> usize {
    1
}

fn authors_lstm_hidden() -> usize {
    LSTM_HIDDEN
}

/// The widest BiLSTM a recipe may ask for: 16x the authors', far beyond what the data feeds.
pub const MAX_LSTM_HIDDEN: usize = 1280;

/// Recipe names the command line accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecipeName {
    /// The study's: raw features, Adam 1e-3 for 80 epochs, last epoch kept.
    Study,
    /// Log-mel + standardised rows, SpecAugment and gain, AdamW (decay 0.1) with warm-up + cosine,
    /// label smoothing, mixup, an ensemble of 2 per seed; masked padding.
    Improved,
    /// The improved recipe trained also on corrupted copies of each clip (noise, telephone,
    /// rooms, levels) and each clip centred on its own mel and MFCC means, for real channels.
    Robust,
}

impl Recipe {
    /// The study as it ran.
    pub fn study() -> Self {
        Recipe {
            name: "study".into(),
            padding: Padding::Study,
            dropout: true,
            log_mel: false,
            standardize: false,
            gain_db: 0.0,
            spec_augment: None,
            speed_perturb: Vec::new(),
            epochs: 80,
            lr: 1e-3,
            weight_decay: 0.0,
            label_smoothing: 0.0,
            schedule: LrSchedule::Constant,
            patience: None,
            mixup_alpha: 0.0,
            vtlp: 0.0,
            ensemble: 1,
            speaker_adversary: 0.0,
            curve_on_originals: false,
            channel_copies: 0,
            channel_draws: 0,
            channel_mix: ChannelMix::default(),
            babble_talkers: BabbleTalkers::default(),
            band: Band::Wideband,
            enhancement: Enhancement::None,
            balance: false,
            utterance_mean: false,
            consistency: 0.0,
            consistency_target: ConsistencyTarget::Views,
            lstm_hidden: LSTM_HIDDEN,
        }
    }

    /// Every improvement switched on.
    pub fn improved() -> Self {
        Recipe::ladder().pop().expect("the ladder has rows").1
    }

    /// The improved recipe with [`ROBUST_CHANNEL_COPIES`] corrupted copies of each training clip,
    /// their channels drawn by [`ROBUST_CHANNEL_MIX`], and each clip's mel and MFCC rows centred
    /// on their own means (`utterance_mean`).
    pub fn robust() -> Self {
        Recipe {
            name: "robust".into(),
            channel_copies: ROBUST_CHANNEL_COPIES,
            channel_mix: ROBUST_CHANNEL_MIX,
            utterance_mean: true,
            ..Recipe::improved()
        }
    }

    pub fn named(name: RecipeName) -> Self {
        match name {
            RecipeName::Study => Recipe::study(),
            RecipeName::Improved => Recipe::improved(),
            RecipeName::Robust => Recipe::robust(),
        }
    }

    /// The study's recipe with one improvement added per row ([`ladder::rows`]); the last row is
    /// [`Recipe::improved`]. Each row: (what was added, recipe).
    pub fn ladder() -> Vec<(&'static str, Recipe)> {
        ladder::rows()
    }

    /// Models trained per seed (at least one, whatever a saved recipe says).
    pub fn members(&self) -> usize {
        self.ensemble.max(1)
    }

    /// What this recipe trains one model with under `run` and `data`, with training seed `seed`
    /// (the split stays `data.seed`'s; the augmentation noise follows the training seed). Every
    /// runner unpacks a recipe here and nowhere else.
    pub fn plan(&self, run: &RunSettings, data: &DataConfig, seed: u64) -> Plan {
        Plan {
            model: ModelConfig { dropout: self.dropout, padding: self.padding },
            lstm_hidden: self.lstm_hidden,
            train: TrainConfig {
                epochs: self.epochs,
                batch_size: run.batch_size,
                lr: self.lr,
                clip_norm: run.clip_norm,
                seed,
                weight_decay: self.weight_decay,
                label_smoothing: self.label_smoothing,
                schedule: self.schedule,
                patience: self.patience,
                mixup_alpha: self.mixup_alpha,
                speaker_adversary: self.speaker_adversary,
                balance: self.balance,
                channel_draws: self.channel_draws,
                consistency: self.consistency,
                consistency_target: self.consistency_target,
            },
            data: DataConfig {
                speed_factors: self.speed_perturb.clone(),
                channel_copies: self.channel_copies,
                channel_mix: self.channel_mix,
                babble_talkers: self.babble_talkers,
                band: self.band,
                enhancement: self.enhancement,
                noise_seed: seed,
                ..data.clone()
            },
        }
    }

    /// The recipe with the command line's overrides, each checked: the error names the flag and
    /// says what it takes.
    pub fn with_overrides(mut self, o: &Overrides) -> Result<Recipe, String> {
        if let Some(p) = o.padding {
            self.padding = p;
        }
        if let Some(e) = o.epochs {
            if e == 0 {
                return Err("--epochs must be at least 1".into());
            }
            self.epochs = e;
        }
        if let Some(lr) = o.lr {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(format!("--lr takes a learning rate > 0; got {lr}"));
            }
            self.lr = lr;
        }
        if let Some(p) = o.patience {
            self.patience = (p > 0).then_some(p);
        }
        if let Some(wd) = o.weight_decay {
            self.weight_decay = wd;
        }
        if let Some(sa) = &o.spec_augment {
            let &[freq_masks, freq_width, time_masks, time_width] = sa.as_slice() else {
                return Err(format!("--spec-augment takes four numbers, FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_WIDTH; got {}", sa.len()));
            };
            let sa = SpecAugment { freq_masks, freq_width, time_masks, time_width };
            self.spec_augment = (sa.freq_masks + sa.time_masks > 0).then_some(sa);
        }
        if let Some(text) = &o.speed_perturb {
            self.speed_perturb = parse_speed_factors(text).map_err(|reason| format!("--speed-perturb: {reason}"))?;
        }
        if let Some(alpha) = o.mixup {
            if !(alpha.is_finite() && alpha >= 0.0) {
                return Err(format!("--mixup takes Beta's alpha, a number >= 0 (0: off); got {alpha}"));
            }
            self.mixup_alpha = alpha;
        }
        if let Some(vtlp) = o.vtlp {
            if !((0.0..0.5).contains(&vtlp)) {
                return Err(format!("--vtlp takes the largest warp |α - 1|, a number in [0, 0.5) such as 0.1; got {vtlp}"));
            }
            if vtlp > 0.0 && !self.log_mel {
                return Err(format!("--vtlp warps dB mel rows; recipe {} feeds raw mel power (use --recipe improved)", self.name));
            }
            self.vtlp = vtlp;
        }
        if let Some(lambda) = o.speaker_adversary {
            if !(lambda.is_finite() && lambda >= 0.0) {
                return Err(format!("--speaker-adversary takes the largest reversal strength λ, a number >= 0 (0: off); got {lambda}"));
            }
            self.speaker_adversary = lambda;
        }
        if let Some(copies) = o.channel_copies {
            if copies > MAX_CHANNEL_COPIES {
                return Err(format!("--channel-copies takes at most {MAX_CHANNEL_COPIES} copies per clip (each costs an epoch a quarter more); got {copies}"));
            }
            self.channel_copies = copies;
        }
        if let Some(draws) = o.channel_draws {
            self.channel_draws = draws;
        }
        if self.channel_draws > 0 && self.channel_draws >= self.channel_copies {
            return Err(format!(
                "--channel-draws takes fewer copies per epoch than --channel-copies makes ({}); got {} (0: all of them)",
                self.channel_copies, self.channel_draws
            ));
        }
        if let Some(text) = &o.channel_mix {
            self.channel_mix = ChannelMix::parse(text).map_err(|reason| format!("--channel-mix: {reason}"))?;
            self.needs_channel_copies("--channel-mix weighs the channels")?;
        }
        if let Some(text) = &o.babble_talkers {
            self.babble_talkers = BabbleTalkers::parse(text).map_err(|reason| format!("--babble-talkers: {reason}"))?;
            self.needs_channel_copies("--babble-talkers sets the babble")?;
        }
        if let Some(db) = o.gain_db {
            if !(0.0..=MAX_GAIN_DB).contains(&db) {
                return Err(format!("--gain-db takes the largest random gain in dB, a number in [0, {MAX_GAIN_DB}] (0: off); got {db}"));
            }
            self.gain_db = db;
        }
        if let Some(band) = o.band {
            self.band = band;
        }
        if let Some(enhancement) = o.enhancement {
            self.enhancement = enhancement;
        }
        if let Some(balance) = o.balance {
            self.balance = balance;
        }
        if let Some(centre) = o.utterance_mean {
            if centre && !self.log_mel {
                return Err(format!(
                    "--utterance-mean centres dB mel rows; recipe {} feeds raw mel power (use --recipe improved)",
                    self.name
                ));
            }
            self.utterance_mean = centre;
        }
        if let Some(weight) = o.consistency {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(format!("--consistency takes the weight of the consistency term, a number >= 0 (0: off); got {weight}"));
            }
            self.consistency = weight;
        }
        if let Some(target) = o.consistency_target {
            if self.consistency == 0.0 {
                return Err("--consistency-target sets what the consistency term pulls towards; give the term a weight with --consistency W (W > 0)".into());
            }
            self.consistency_target = target;
        }
        if let Some(hidden) = o.lstm_hidden {
            if !(1..=MAX_LSTM_HIDDEN).contains(&hidden) {
                return Err(format!("--lstm-hidden takes the BiLSTM's units each way, 1 to {MAX_LSTM_HIDDEN}; got {hidden}"));
            }
            self.lstm_hidden = hidden;
        }
        if let Some(members) = o.ensemble {
            if members == 0 {
                return Err("--ensemble takes the number of models per seed, at least 1".into());
            }
            self.ensemble = members;
        }
        Ok(self)
    }

    /// Refuses a flag that sets `what` of corrupted copies when the recipe makes none.
    fn needs_channel_copies(&self, what: &str) -> Result<(), String> {
        if self.channel_copies == 0 {
            return Err(format!("{what} of corrupted copies; recipe {} makes none (add --channel-copies)", self.name));
        }
        Ok(())
    }

    /// Fits the input map on the training split (one streaming pass; see [`InputScaling::fit`]).
    pub fn fit_scaling(&self, train: &[Example]) -> Result<InputScaling, CacheReadError> {
        Ok(InputScaling { utterance_mean: self.utterance_mean, ..InputScaling::fit(train, self.log_mel, self.standardize)? })
    }

    /// The per-epoch augmentation (None when the recipe has none).
    pub fn feature_augment(&self, scaling: &InputScaling) -> Option<FeatureAugment> {
        (self.gain_db > 0.0 || self.spec_augment.is_some() || self.vtlp > 0.0).then(|| FeatureAugment {
            gain_db: self.gain_db,
            spec_augment: self.spec_augment,
            vtlp: self.vtlp,
            scaling: scaling.clone(),
        })
    }
}

/// Corrupted copies per training clip in [`Recipe::robust`].
pub const ROBUST_CHANNEL_COPIES: usize = 4;
/// How [`Recipe::robust`] draws its copies' channels: babble and the telephone, the channels of
/// call centres and the hardest to hold up under, twice as often as each other kind (a copy is
/// babble or the telephone with probability 1/4 each, white, pink, a room or a gain 1/8 each).
pub const ROBUST_CHANNEL_MIX: ChannelMix = ChannelMix { white: 1, pink: 1, babble: 2, telephone: 2, reverb: 1, gain: 1 };
/// The most corrupted copies per clip a recipe may ask for: each adds a quarter of the study's
/// four examples per clip to every epoch.
pub const MAX_CHANNEL_COPIES: usize = 8;

/// The largest random gain a recipe may draw, dB: beyond it a quiet clip's mel bands sink into
/// librosa's power floor, where the feature-domain gain is no longer exact.
pub const MAX_GAIN_DB: f32 = 40.0;

/// What a run sets beside its recipe: the batch, the gradient clipping and the first seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub batch_size: usize,
    /// Largest gradient norm (clipped above it).
    pub clip_norm: f64,
    /// The first training seed (and the split's seed).
    pub seed: u64,
}

impl Default for RunSettings {
    /// The study's: batches of 256, gradients clipped at norm 1, seed 0.
    fn default() -> Self {
        RunSettings { batch_size: 256, clip_norm: 1.0, seed: 0 }
    }
}

/// A recipe unpacked for one model: what the trainer, the model and the data loader take.
#[derive(Clone, Debug)]
pub struct Plan {
    pub model: ModelConfig,
    /// Hidden units of each direction of the BiLSTM.
    pub lstm_hidden: usize,
    pub train: TrainConfig,
    pub data: DataConfig,
}

/// The pieces of a recipe the command line can override (None: the recipe's own).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub padding: Option<Padding>,
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    /// 0: no early stopping.
    pub patience: Option<usize>,
    pub weight_decay: Option<f64>,
    /// FREQ_MASKS, FREQ_WIDTH, TIME_MASKS, TIME_WIDTH; all zero turns SpecAugment off.
    pub spec_augment: Option<Vec<usize>>,
    /// Factors such as `0.9,1.1`, or `off`.
    pub speed_perturb: Option<String>,
    pub mixup: Option<f64>,
    pub vtlp: Option<f32>,
    pub speaker_adversary: Option<f64>,
    pub ensemble: Option<usize>,
    pub channel_copies: Option<usize>,
    pub channel_draws: Option<usize>,
    /// `kind=weight` pairs such as `babble=3,telephone=3`.
    pub channel_mix: Option<String>,
    /// Talkers of each training babble: `N` or `MIN-MAX`.
    pub babble_talkers: Option<String>,
    pub band: Option<Band>,
    pub enhancement: Option<Enhancement>,
    pub gain_db: Option<f32>,
    /// Class balance by loss weights (Some(true): on).
    pub balance: Option<bool>,
    /// Each clip's own mean taken from its dB mel and MFCC rows (Some(true): on).
    pub utterance_mean: Option<bool>,
    /// Weight of the consistency term across each clip's views (Some(0.0): off).
    pub consistency: Option<f64>,
    /// What the consistency term pulls each view towards.
    pub consistency_target: Option<ConsistencyTarget>,
    /// Hidden units of each direction of the BiLSTM.
    pub lstm_hidden: Option<usize>,
}

/// `--speed-perturb`'s value: distinct factors such as `0.9,1.1`, or `off` for none. The error
/// says which factor is wrong and why.
pub fn parse_speed_factors(text: &str) -> Result<Vec<f64>, String> {
    if text.trim() == "off" {
        return Ok(Vec::new());
    }
    let mut factors = Vec::new();
    for item in text.split(',').map(str::trim) {
        let factor: f64 = item.parse().map_err(|_| format!("'{item}' is not a number (expected factors like 0.9,1.1, or off)"))?;
        if factor == 1.0 {
            return Err("a factor of 1 is the original clip, which training already has".into());
        }
        speed_rates(factor)?;
        if factors.contains(&factor) {
            return Err(format!("factor {factor} is given twice"));
        }
        factors.push(factor);
    }
    Ok(factors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::pipeline::{Layout, SplitKind, VadMode};

    #[test]
    fn speed_factors_parse_and_off_turns_them_off() {
        assert_eq!(parse_speed_factors("0.9,1.1"), Ok(vec![0.9, 1.1]));
        assert_eq!(parse_speed_factors("0.85, 1.15"), Ok(vec![0.85, 1.15]));
        assert_eq!(parse_speed_factors("off"), Ok(Vec::new()));
    }

    #[test]
    fn malformed_speed_factors_are_refused_with_the_reason() {
        let refused = |text: &str| parse_speed_factors(text).unwrap_err();
        assert!(refused("0.9,fast").contains("'fast' is not a number"));
        assert!(refused("").contains("'' is not a number"));
        assert!(refused("0.9,").contains("'' is not a number"));
        assert!(refused("1").contains("the original clip"));
        assert!(refused("0.9,0.9").contains("given twice"));
        assert!(refused("3").contains("outside 0.5 to 2"));
        assert!(refused("0").contains("outside 0.5 to 2"));
        assert!(refused("NaN").contains("outside 0.5 to 2"));
        assert!(refused("0.9005").contains("not a whole number of thousandths"));
    }

    #[test]
    fn a_recipe_saved_before_speed_perturbation_still_loads_without_it() {
        // A recipe as the recipes.json and run.json files of earlier runs hold it.
        let saved = r#"{"name":"improved","padding":"masked","dropout":true,"log_mel":true,"standardize":true,"gain_db":6.0,
            "spec_augment":{"freq_masks":3,"freq_width":24,"time_masks":3,"time_width":20},"epochs":80,"lr":0.003,
            "weight_decay":0.1,"label_smoothing":0.1,"schedule":{"warmup_cosine":{"warmup_epochs":3.0}},"patience":null}"#;
        let recipe: Recipe = serde_json::from_str(saved).unwrap();
        assert!(recipe.speed_perturb.is_empty());
        assert_eq!(
            (recipe.mixup_alpha, recipe.vtlp, recipe.ensemble, recipe.speaker_adversary),
            (0.0, 0.0, 1, 0.0),
            "later pieces are off in older runs"
        );
        assert!(!recipe.curve_on_originals);
        assert_eq!(recipe, Recipe { mixup_alpha: 0.0, ensemble: 1, epochs: 80, curve_on_originals: false, ..Recipe::improved() });
    }

    #[test]
    fn the_recipe_hands_its_speed_factors_to_the_data_and_only_those() {
        let base = DataConfig {
            layout: Layout::Pool,
            vad: VadMode::Auto,
            split: SplitKind::Speakers,
            resample_like_notebook: false,
            augment: true,
            speed_factors: vec![1.2],
            channel_copies: 5,
            channel_mix: ChannelMix::default(),
            babble_talkers: BabbleTalkers::parse("2-6").unwrap(),
            band: Band::Wideband,
            enhancement: Enhancement::None,
            labels: Default::default(),
            seed: 3,
            noise_seed: 4,
            cache_dir: None,
        };
        let recipe = Recipe { speed_perturb: vec![0.9, 1.1], ..Recipe::improved() };
        let cfg = recipe.plan(&RunSettings::default(), &base, 4).data;
        assert_eq!(cfg.speed_factors, vec![0.9, 1.1]);
        assert_eq!((cfg.seed, cfg.noise_seed, cfg.augment, cfg.split), (3, 4, true, base.split));
        assert!(Recipe::study().plan(&RunSettings::default(), &base, 4).data.speed_factors.is_empty());
        assert_eq!(cfg.babble_talkers, BabbleTalkers::default(), "the recipe's talkers, not the base's");
    }

    #[test]
    fn the_robust_recipe_hands_its_channel_copies_and_band_to_the_data() {
        let robust = Recipe::robust();
        let expected = Recipe {
            name: "robust".into(),
            channel_copies: 4,
            channel_mix: ROBUST_CHANNEL_MIX,
            utterance_mean: true,
            ..Recipe::improved()
        };
        assert_eq!(robust, expected);
        assert_eq!(ROBUST_CHANNEL_MIX.weights(), [1, 1, 2, 2, 1, 1]);
        let data = DataConfig { channel_copies: 7, ..DataConfig::default() };
        let phone = robust.clone().with_overrides(&Overrides { band: Some(Band::Telephone), ..Overrides::default() }).unwrap();
        let cfg = phone.plan(&RunSettings::default(), &data, 1).data;
        assert_eq!((cfg.channel_copies, cfg.band), (ROBUST_CHANNEL_COPIES, Band::Telephone));
        let talkers = robust.with_overrides(&Overrides { babble_talkers: Some("2-8".into()), ..Overrides::default() }).unwrap();
        assert_eq!(talkers.plan(&RunSettings::default(), &data, 1).data.babble_talkers, BabbleTalkers { min: 2, max: 8 });
        let refused = Recipe::improved().with_overrides(&Overrides { babble_talkers: Some("8".into()), ..Overrides::default() });
        assert!(refused.unwrap_err().starts_with("--babble-talkers sets the babble of corrupted copies; recipe improved makes none"));
        assert_eq!(Recipe::improved().plan(&RunSettings::default(), &data, 1).data.channel_copies, 0);
        let refused =
            Recipe::improved().with_overrides(&Overrides { channel_copies: Some(MAX_CHANNEL_COPIES + 1), ..Overrides::default() });
        assert!(refused.unwrap_err().starts_with("--channel-copies takes at most 8"));
        let drawn = Overrides { channel_copies: Some(8), channel_draws: Some(2), ..Overrides::default() };
        let drawn = Recipe::robust().with_overrides(&drawn).unwrap().plan(&RunSettings::default(), &data, 1);
        assert_eq!((drawn.data.channel_copies, drawn.train.channel_draws), (8, 2));
        let refused = Recipe::robust().with_overrides(&Overrides { channel_draws: Some(4), ..Overrides::default() });
        assert!(refused.unwrap_err().starts_with("--channel-draws takes fewer copies per epoch than --channel-copies makes (4); got 4"));
        let mixed = Overrides { channel_mix: Some("babble=3,telephone=3".into()), ..Overrides::default() };
        let mixed = Recipe::robust().with_overrides(&mixed).unwrap().plan(&RunSettings::default(), &data, 1);
        assert_eq!(mixed.data.channel_mix.weights(), [1, 1, 3, 3, 1, 1]);
        assert_eq!(Recipe::robust().plan(&RunSettings::default(), &data, 1).data.channel_mix, ROBUST_CHANNEL_MIX);
        // Even weights again, and no copies at all, are both the robust recipe's to override.
        let even = Overrides { channel_mix: Some("babble=1,telephone=1".into()), ..Overrides::default() };
        assert_eq!(Recipe::robust().with_overrides(&even).unwrap().channel_mix, ChannelMix::default());
        let none = Recipe::robust().with_overrides(&Overrides { channel_copies: Some(0), ..Overrides::default() });
        assert_eq!(none.unwrap().channel_copies, 0);
        let refused = Recipe::robust().with_overrides(&Overrides { channel_mix: Some("babble=x".into()), ..Overrides::default() });
        assert!(refused.unwrap_err().starts_with("--channel-mix: babble's weight 'x' is not a whole number"));
        let refused = Recipe::improved().with_overrides(&Overrides { channel_mix: Some("babble=3".into()), ..Overrides::default() });
        assert!(refused.unwrap_err().starts_with("--channel-mix weighs the channels of corrupted copies; recipe improved makes none"));
        let louder = Recipe::robust().with_overrides(&Overrides { gain_db: Some(20.0), ..Overrides::default() }).unwrap();
        assert_eq!(louder.gain_db, 20.0);
        let refused = Recipe::robust().with_overrides(&Overrides { gain_db: Some(f32::NAN), ..Overrides::default() });
        assert!(refused.unwrap_err().starts_with("--gain-db takes the largest random gain in dB, a number in [0, 40]"));
    }

    #[test]
    fn utterance_mean_reaches_the_fitted_map_and_needs_db_mel_rows() {
        let on = Overrides { utterance_mean: Some(true), ..Overrides::default() };
        let improved = Recipe::improved().with_overrides(&on).unwrap();
        assert!(improved.utterance_mean && !Recipe::improved().utterance_mean && Recipe::robust().utterance_mean);
        let clip = Example::original(ndarray::Array2::from_elem((crate::features::ROWS, 6), 0.5f32), 0, 1);
        assert!(improved.fit_scaling(std::slice::from_ref(&clip)).unwrap().utterance_mean);
        let off = Overrides { utterance_mean: Some(false), ..Overrides::default() };
        assert!(!Recipe::robust().with_overrides(&off).unwrap().fit_scaling(std::slice::from_ref(&clip)).unwrap().utterance_mean);
        let refused = Recipe::study().with_overrides(&on).unwrap_err();
        assert!(refused.contains("--utterance-mean") && refused.contains("raw mel power"), "{refused}");
    }
}
