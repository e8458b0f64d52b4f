//! Argument types shared by several commands, and what they become.

use crate::data::corpus::{parse_class_map, LabelSettings};
use crate::data::pipeline::{Band, DataConfig, Enhancement, Layout, SplitKind, VadMode};
use crate::nn::model::Padding;
use crate::recipe::{Overrides, Recipe, RecipeName, RunSettings};
use crate::train::ConsistencyTarget;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct DataArgs {
    /// Data folder (else $SER_DATA, else ./data/ravdess, else the built-in synthetic corpus);
    /// repeat for several corpora (`--data A --labels a.csv --data B --labels b.csv`).
    #[arg(long)]
    pub data: Vec<PathBuf>,
    /// A labels CSV for each --data folder, in the same order: a header row, then
    /// `file,emotion` with optional `speaker` and `split` (train/val/test) columns, by name, in
    /// any order; files relative to the folder, any names, rates and lengths. Without it, the
    /// folders hold RAVDESS-named WAVs.
    #[arg(long)]
    pub labels: Vec<PathBuf>,
    /// The classes, in the model's output order (e.g. `angry,happy,neutral,sad`); a label
    /// outside them is an error (default: every label found).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Rename labels before anything else, every corpus alike: `fear=fearful,ps=surprised`.
    #[arg(long)]
    pub map: Option<String>,
    /// A regex whose first group captures the speaker from a file's path, for CSVs without a
    /// speaker column (e.g. `^(\w+)_` for `spk03_happy.wav`).
    #[arg(long)]
    pub speaker_pattern: Option<String>,
    /// Leave one corpus out: every clip of this corpus (its folder's name) is tested on, none
    /// trained on.
    #[arg(long)]
    pub test_corpus: Option<String>,
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: Layout,
    #[arg(long, value_enum, default_value = "auto")]
    pub vad: VadMode,
    /// How a pool is split: by file (the study) or by speaker.
    #[arg(long, value_enum, default_value = "files")]
    pub split: SplitKind,
    /// Reproduce the notebook's input: clips resampled to 22 050 Hz, features told 16 000 Hz.
    #[arg(long)]
    pub resample_like_notebook: bool,
    /// Feature cache folder.
    #[arg(long, default_value = "runs/cache")]
    pub cache: PathBuf,
    /// Compute every feature afresh and cache nothing.
    #[arg(long)]
    pub no_cache: bool,
}

/// The recipe and its overrides, and the run settings, shared by `ablation` and `train`.
#[derive(Args, Clone)]
pub struct RecipeArgs {
    /// Training recipe: the study's, the improved one (log-mel + standardised rows,
    /// SpecAugment and gain, AdamW with warm-up + cosine, label smoothing, mixup, an ensemble of 2
    /// per seed, masked padding), or robust (improved, plus corrupted copies of each clip and
    /// each clip centred on its own mel and MFCC means).
    #[arg(long, value_enum, default_value = "study")]
    pub recipe: RecipeName,
    /// Padding semantics (default: the recipe's; study for the study recipe, masked for improved).
    #[arg(long, value_enum)]
    pub padding: Option<Padding>,
    /// Epochs (default: the recipe's, 80).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Peak learning rate (default: the recipe's).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Early-stopping patience in epochs, 0 for none (default: the recipe's).
    #[arg(long)]
    pub patience: Option<usize>,
    /// AdamW's decoupled weight decay (default: the recipe's).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// SpecAugment as FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_WIDTH (mel rows, frames); 0,0,0,0 turns it off
    /// (default: the recipe's).
    #[arg(long, value_delimiter = ',')]
    pub spec_augment: Option<Vec<usize>>,
    /// Speed perturbation: one more copy of each training clip per factor, played that many times
    /// as fast (tempo and pitch together), e.g. 0.9,1.1; `off` for none (default: the recipe's).
    #[arg(long)]
    pub speed_perturb: Option<String>,
    /// Mixup with λ ~ Beta(ALPHA, ALPHA) per batch, 0 for none (default: the recipe's).
    #[arg(long)]
    pub mixup: Option<f64>,
    /// Vocal-tract length perturbation: the mel axis scaled by a random factor in [1 - X, 1 + X]
    /// per clip and epoch, MFCCs recomputed; 0 for none (default: the recipe's).
    #[arg(long)]
    pub vtlp: Option<f32>,
    /// Models per seed whose probabilities are averaged (member seeds derived from the seed; the
    /// first checkpoint lists the others, so eval and predict load them all) (default: the recipe's).
    #[arg(long)]
    pub ensemble: Option<usize>,
    /// Speaker-adversarial training: a speaker classifier on the pooled vector behind a gradient
    /// reversal whose strength ramps up to this λ; 0 for none (default: the recipe's).
    #[arg(long)]
    pub speaker_adversary: Option<f64>,
    /// Corrupted copies of each training clip, each through a channel drawn with training-only
    /// seeds (white, pink or babble noise at 0-30 dB SNR, telephone with or without mu-law, a room
    /// of RT60 0.2-1.2 s, a gain within ±24 dB); 0 for none (default: the recipe's, 4 for robust).
    #[arg(long)]
    pub channel_copies: Option<usize>,
    /// Of the corrupted copies, how many each clip trains on per epoch, drawn afresh per clip and
    /// epoch, fewer than --channel-copies; 0 for all of them (default: the recipe's, 0).
    #[arg(long)]
    pub channel_draws: Option<usize>,
    /// How often each kind of channel is drawn for the corrupted copies, as kind=weight pairs
    /// (kinds white, pink, babble, telephone, reverb, gain; those not named weigh 1), such as
    /// babble=3,telephone=3 (default: the recipe's: babble=2,telephone=2 for robust, every kind as
    /// likely otherwise).
    #[arg(long)]
    pub channel_mix: Option<String>,
    /// Talkers mixed into each babble of the corrupted copies: N, or MIN-MAX for a number drawn
    /// per copy, each from 1 to 16 (default: 4, as `ser robustness` tests with).
    #[arg(long, value_name = "N|MIN-MAX")]
    pub babble_talkers: Option<String>,
    /// The band every clip is brought to before its features: wideband (16 kHz as recorded) or
    /// telephone (8 kHz, 300-3400 Hz); recorded in the checkpoint, which eval and predict follow
    /// (default: the recipe's, wideband).
    #[arg(long, value_enum)]
    pub band: Option<Band>,
    /// What every clip goes through after its band: none, or wiener (a Wiener filter lowers the
    /// noise floor); recorded in the checkpoint, which eval, predict, listen and robustness follow
    /// (default: the recipe's, none).
    #[arg(long, value_enum)]
    pub enhance: Option<Enhancement>,
    /// Random gain of up to ± this many dB per clip and epoch, applied in the feature domain; 0
    /// for none (default: the recipe's, 6 for improved and robust).
    #[arg(long)]
    pub gain_db: Option<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train without the augmented copies.
    #[arg(long)]
    pub no_augment: bool,
    /// Balance the classes by loss weights: each example weighs N / (C n_c), so that every
    /// class counts the same in an epoch (batches unchanged).
    #[arg(long)]
    pub balance: bool,
    /// Take each clip's own mean over its frames from its dB mel and MFCC rows (cepstral mean
    /// normalisation per clip), so that a fixed channel's tilt is gone; the level stays in the
    /// RMS row. Recorded in the checkpoint, which eval, predict and listen follow. `--utterance-mean
    /// false` turns it off (default: the recipe's, on for robust).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub utterance_mean: Option<bool>,
    /// Consistency across the views of each clip (its original, its augmented and corrupted
    /// copies), AugMix's Jensen-Shannon term with this weight: each batch holds whole clips, and
    /// each view's answer is pulled towards the mean of its clip's; 0 for none (default: the
    /// recipe's, 0).
    #[arg(long)]
    pub consistency: Option<f64>,
    /// What the consistency term pulls each view towards: views (the mean of the clip's views,
    /// every view moved) or original (the clip's original's answer, held fixed, so the clean
    /// clip is not pulled towards its corrupted copies); needs --consistency (default: views).
    #[arg(long, value_enum)]
    pub consistency_target: Option<ConsistencyTarget>,
    /// Hidden units of each direction of the BiLSTM: the pooled vector, the BatchNorm and the
    /// first Linear's input grow with it, 4 per unit (default: the authors' 80).
    #[arg(long, value_name = "UNITS")]
    pub lstm_hidden: Option<usize>,
}

impl RecipeArgs {
    /// The named recipe with the command line's overrides.
    pub fn recipe(&self) -> Result<Recipe> {
        let overrides = Overrides {
            padding: self.padding,
            epochs: self.epochs,
            lr: self.lr,
            patience: self.patience,
            weight_decay: self.weight_decay,
            spec_augment: self.spec_augment.clone(),
            speed_perturb: self.speed_perturb.clone(),
            mixup: self.mixup,
            vtlp: self.vtlp,
            speaker_adversary: self.speaker_adversary,
            ensemble: self.ensemble,
            channel_copies: self.channel_copies,
            channel_draws: self.channel_draws,
            channel_mix: self.channel_mix.clone(),
            babble_talkers: self.babble_talkers.clone(),
            band: self.band,
            enhancement: self.enhance,
            gain_db: self.gain_db,
            balance: self.balance.then_some(true),
            utterance_mean: self.utterance_mean,
            consistency: self.consistency,
            consistency_target: self.consistency_target,
            lstm_hidden: self.lstm_hidden,
        };
        Recipe::named(self.recipe).with_overrides(&overrides).map_err(anyhow::Error::msg)
    }

    pub fn run(&self) -> RunSettings {
        RunSettings { batch_size: self.batch_size, seed: self.seed, ..RunSettings::default() }
    }
}

/// The data settings of the command line. The error names a bad `--map`.
pub fn data_config(d: &DataArgs, seed: u64, augment: bool) -> Result<DataConfig> {
    let map = match &d.map {
        Some(text) => parse_class_map(text).map_err(|reason| anyhow::anyhow!("--map: {reason}"))?,
        None => Vec::new(),
    };
    let labels =
        LabelSettings { classes: d.classes.clone(), map, speaker_pattern: d.speaker_pattern.clone(), test_corpus: d.test_corpus.clone() };
    Ok(DataConfig {
        layout: d.layout,
        vad: d.vad,
        split: d.split,
        resample_like_notebook: d.resample_like_notebook,
        augment,
        // The recipe's, set where it is known (Recipe::plan).
        speed_factors: Vec::new(),
        channel_copies: 0,
        channel_mix: Default::default(),
        babble_talkers: Default::default(),
        // The recipe's when training (Recipe::plan), the checkpoint's when scoring.
        band: Band::Wideband,
        enhancement: Enhancement::None,
        labels,
        seed,
        noise_seed: seed,
        cache_dir: (!d.no_cache).then(|| d.cache.join("features")),
    })
}

/// Builds the global rayon pool with `--threads` (default: all cores); returns the thread count.
pub fn init_threads(threads: Option<usize>) -> Result<usize> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    Ok(threads)
}

pub fn check_counts(seeds: usize, epochs: usize, batch_size: usize) -> Result<()> {
    if seeds == 0 || epochs == 0 || batch_size == 0 {
        bail!("--seeds, --epochs and --batch-size must be at least 1");
    }
    Ok(())
}
