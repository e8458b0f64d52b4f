//! From a folder of WAVs to feature matrices: find the RAVDESS clips, split them, bring each to
//! 16 kHz speech (resample + VAD when needed), augment the training split, extract the 162 rows,
//! and cache each result on disk keyed by the file's content and every setting that shapes it.
//! With a cache, an example holds where its matrix is, not the matrix, so that a data set costs
//! memory by its number of clips, not their size.

use super::channels::{training_channel, BabbleTalkers, ChannelMix};
use super::corpus::{class_counts, csv_clips, number_clips, ClassCount, Clip, Corpus, CorpusError, LabelSettings, RawClip};
use super::example::{read_cached, Example, Features, Variant};
use super::labels::Part;
use super::ravdess::{find_wavs, parse_name, ClipInfo, NameKind};
use super::split::{split_files, split_speakers, Split};
use crate::audio::corrupt::{self, babble_talkers, corruption_seed, Corruption, NoiseKind, SeedUse};
use crate::audio::{self, AudioError};
use crate::features::{self, FeatureConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The study's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;
/// librosa.load's default rate, which the notebook's features were computed from.
pub const NOTEBOOK_LOAD_RATE: u32 = 22_050;
/// Bump when feature or augmentation code changes what a cache entry holds.
const CACHE_VERSION: &str = "ser-features-v3";

/// How a data folder is organised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Any tree of RAVDESS-named WAVs, split here with the seed.
    Pool,
    /// `training/`, `validation/` and optionally `testing/` subfolders, used as they are.
    Split,
    /// `split` when `training/` and `validation/` exist, else `pool`.
    Auto,
}

/// When voice-activity trimming is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VadMode {
    /// Only to clips not already at 16 kHz (raw downloads); 16 kHz clips are taken as prepared.
    Auto,
    Always,
    Never,
}

/// The band a model hears: what its audio went through before the features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// 16 kHz audio as recorded (up to 8 kHz).
    #[default]
    Wideband,
    /// Every clip first through the telephone channel: 8 kHz, 300-3400 Hz (no mu-law), back to
    /// 16 kHz, so that a model trained on it hears telephone and wideband calls alike.
    Telephone,
}

impl Band {
    /// The highest frequency the band carries, Hz.
    pub fn top_hz(self) -> f64 {
        match self {
            Band::Wideband => SAMPLE_RATE as f64 / 2.0,
            Band::Telephone => corrupt::TELEPHONE_BAND_HZ.1,
        }
    }

    /// True when audio sampled at `sample_rate` carries less than the band: nothing above its
    /// Nyquist frequency, `sample_rate / 2`, below [`Band::top_hz`].
    pub fn wider_than(self, sample_rate: u32) -> bool {
        (sample_rate as f64) / 2.0 < self.top_hz()
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Band::Wideband => "wideband",
            Band::Telephone => "telephone",
        }
    }
}

/// What every clip goes through after its band, before its features: the receiver's side of the
/// channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enhancement {
    /// The audio as it arrives.
    #[default]
    None,
    /// A Wiener filter lowers the noise floor ([`audio::enhance::wiener`]).
    Wiener,
}

impl Enhancement {
    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Enhancement::None => "none",
            Enhancement::Wiener => "wiener",
        }
    }
}

/// How a pool is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// Seeded 60/15/25 by file, as the study did.
    Files,
    /// No actor in two parts (14/4/6 actors).
    Speakers,
}

/// Everything that decides which examples come out.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct DataConfig {
    pub layout: Layout,
    pub vad: VadMode,
    pub split: SplitKind,
    /// Reproduce the notebook's input: 16 kHz clips resampled to 22 050 Hz, features told 16 000.
    pub resample_like_notebook: bool,
    /// Add the three augmented copies of each training clip (and the speed-perturbed ones).
    pub augment: bool,
    /// One more copy of each training clip per factor, played that many times as fast (with
    /// `augment`); training commands take them from the recipe (its `plan`).
    #[serde(default)]
    pub speed_factors: Vec<f64>,
    /// Corrupted copies of each training clip (with `augment`), each through a channel drawn
    /// with seeds that `ser robustness` never uses ([`training_channel`], its kind by
    /// `channel_mix`); training commands take them from the recipe (its `plan`). Absent (0) from
    /// older settings.
    #[serde(default)]
    pub channel_copies: usize,
    /// How often each kind of channel is drawn for those copies. Absent (even) from older settings.
    #[serde(default)]
    pub channel_mix: ChannelMix,
    /// How many talkers each babble of those copies mixes. Absent (four) from older settings.
    #[serde(default)]
    pub babble_talkers: BabbleTalkers,
    /// What every clip goes through before its features. Absent (wideband) from older settings.
    #[serde(default)]
    pub band: Band,
    /// What every clip goes through after its band. Absent (none) from older settings.
    #[serde(default)]
    pub enhancement: Enhancement,
    /// Classes, label renames, speakers and the test corpus of labelled corpora. Absent (none)
    /// from older settings.
    #[serde(default)]
    pub labels: LabelSettings,
    /// Seed of the pool split.
    pub seed: u64,
    /// Seed of the augmentation noise (a new one per training seed in `ablation --seeds`).
    pub noise_seed: u64,
    /// Where feature matrices are cached; None disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for DataConfig {
    /// The command line's defaults, without a cache: layout and VAD `auto`, split by file, seed 0,
    /// the study's augmented copies and nothing more, wideband.
    fn default() -> Self {
        DataConfig {
            layout: Layout::Auto,
            vad: VadMode::Auto,
            split: SplitKind::Files,
            resample_like_notebook: false,
            augment: true,
            speed_factors: Vec::new(),
            channel_copies: 0,
            channel_mix: ChannelMix::default(),
            babble_talkers: BabbleTalkers::default(),
            band: Band::Wideband,
            enhancement: Enhancement::None,
            labels: LabelSettings::default(),
            seed: 0,
            noise_seed: 0,
            cache_dir: None,
        }
    }
}

/// Counts of what was read and what was skipped, with the reasons.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DataCounts {
    pub files_found: usize,
    pub not_speech_skipped: usize,
    /// (file, reason) for each clip that could not be used.
    pub unusable: Vec<(String, String)>,
    pub train_clips: usize,
    pub val_clips: usize,
    pub test_clips: usize,
    pub train_examples: usize,
    /// Clips of each class in each part.
    pub per_class: Vec<ClassCount>,
    pub cache_hits: usize,
    pub cache_misses: usize,
}

/// The examples of each split, and how they were made. With a feature cache every example's
/// features are [`Features::Cached`] (read back batch by batch), else in memory.
#[derive(Clone)]
pub struct DataSet {
    pub layout: Layout,
    /// The class names, in the model's output order (an example's label indexes them).
    pub classes: Vec<String>,
    /// The corpora's names (an example's `corpus` indexes them).
    pub corpora: Vec<String>,
    pub train: Vec<Example>,
    pub val: Vec<Example>,
    /// None when a pre-split folder has no `testing/`.
    pub test: Option<Vec<Example>>,
    pub counts: DataCounts,
}

/// A data-level failure (a single bad clip is skipped and counted instead).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The OS error is in the message, not chained, so `{:#}` prints it once.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{0}: the data folder does not exist")]
    Missing(PathBuf),
    #[error("{0}: no WAV files found")]
    Empty(PathBuf),
    #[error("{path}: {reason}")]
    BadName { path: PathBuf, reason: String },
    #[error("{0}: none of its WAV files are RAVDESS speech clips (03-01-EE-II-SS-RR-AA.wav)")]
    NoSpeech(PathBuf),
    #[error("{0}: every clip was unusable (first: {1})")]
    AllUnusable(PathBuf, String),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |error| DataError::Io { path: path.to_path_buf(), error }
}

/// Resolves `Auto` for a folder.
pub fn detect_layout(dir: &Path, layout: Layout) -> Layout {
    match layout {
        Layout::Auto if dir.join("training").is_dir() && dir.join("validation").is_dir() => Layout::Split,
        Layout::Auto => Layout::Pool,
        other => other,
    }
}

/// The RAVDESS speech clips under `dir`, sorted; non-speech files are counted, malformed names
/// are an error naming the file.
pub fn list_clips(dir: &Path, counts: &mut DataCounts) -> Result<Vec<ClipInfo>, DataError> {
    let files = find_wavs(dir).map_err(io_err(dir))?;
    counts.files_found += files.len();
    let mut clips = Vec::new();
    for path in files {
        match parse_name(&path).map_err(|reason| DataError::BadName { path: path.clone(), reason })? {
            NameKind::Speech(info) => clips.push(info),
            NameKind::NotSpeech => counts.not_speech_skipped += 1,
        }
    }
    Ok(clips)
}

/// The corpora's clips, numbered and split as training will split them.
pub struct ClipSplit {
    /// The first corpus's layout.
    pub layout: Layout,
    pub classes: Vec<String>,
    pub corpora: Vec<String>,
    /// Every clip's speaker is known (RAVDESS names, a speaker column or `--speaker-pattern`).
    pub speakers_known: bool,
    pub train: Vec<Clip>,
    pub val: Vec<Clip>,
    /// None when there is no test part (a pre-split folder without `testing/`).
    pub test: Option<Vec<Clip>>,
    pub counts: DataCounts,
}

impl ClipSplit {
    /// Every clip of every part, each corpus's sorted by path (what `eval --part all` scores).
    pub fn all(&self) -> Vec<Clip> {
        let mut all: Vec<Clip> = self.train.iter().chain(&self.val).chain(self.test.iter().flatten()).cloned().collect();
        all.sort_by(|a, b| (a.corpus, &a.path).cmp(&(b.corpus, &b.path)));
        all
    }
}

/// A RAVDESS folder's clips with their parts: its `training/`, `validation/`, `testing/` folders,
/// or its pool split by file or by actor with `cfg.seed`.
fn ravdess_clips(dir: &Path, cfg: &DataConfig, counts: &mut DataCounts) -> Result<(Layout, Vec<RawClip>), DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing(dir.to_path_buf()));
    }
    let layout = detect_layout(dir, cfg.layout);
    let found_before = counts.files_found;
    let parts: Vec<(Vec<ClipInfo>, Part)> = match layout {
        Layout::Split => {
            let mut parts =
                vec![(list_clips(&dir.join("training"), counts)?, Part::Train), (list_clips(&dir.join("validation"), counts)?, Part::Val)];
            let test_dir = dir.join("testing");
            if test_dir.is_dir() {
                parts.push((list_clips(&test_dir, counts)?, Part::Test));
            }
            parts
        }
        _ => {
            let clips = list_clips(dir, counts)?;
            let split = match cfg.split {
                SplitKind::Files => split_files(clips.len(), cfg.seed),
                SplitKind::Speakers => split_speakers(&clips.iter().map(|c| u32::from(c.actor)).collect::<Vec<_>>(), cfg.seed),
            };
            let pick = |idx: &[usize]| idx.iter().map(|&i| clips[i].clone()).collect::<Vec<_>>();
            let Split { train, val, test } = split;
            vec![(pick(&train), Part::Train), (pick(&val), Part::Val), (pick(&test), Part::Test)]
        }
    };
    if counts.files_found == found_before {
        return Err(DataError::Empty(dir.to_path_buf()));
    }
    let clips: Vec<RawClip> = parts
        .into_iter()
        .flat_map(|(clips, part)| clips.into_iter().map(move |c| RawClip::ravdess(c.path, c.emotion, c.actor, part)))
        .collect();
    if clips.is_empty() {
        return Err(DataError::NoSpeech(dir.to_path_buf()));
    }
    Ok((layout, clips))
}

/// Finds, labels and splits the clips of every corpus (no audio read yet). `for_training`:
/// refuse a class without a training clip.
pub fn split_corpora(corpora: &[Corpus], cfg: &DataConfig, for_training: bool) -> Result<ClipSplit, DataError> {
    let mut counts = DataCounts::default();
    let pattern = match &cfg.labels.speaker_pattern {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| CorpusError::Other(format!("--speaker-pattern: {e}")))?),
        None => None,
    };
    let mut layout = None;
    let mut raw = Vec::with_capacity(corpora.len());
    // Whether some corpus that is not left out for testing is a pool, that a speaker split splits
    // (a pooled RAVDESS folder's clips come back with parts already, drawn by `cfg.split`).
    let mut pooled = false;
    for corpus in corpora {
        let (corpus_layout, clips) = match &corpus.labels {
            None => ravdess_clips(&corpus.dir, cfg, &mut counts)?,
            Some(csv) => {
                if !corpus.dir.is_dir() {
                    return Err(DataError::Missing(corpus.dir.clone()));
                }
                let clips = csv_clips(corpus, csv, pattern.as_ref())?;
                counts.files_found += clips.len();
                (if clips.iter().all(|c| c.part.is_some()) { Layout::Split } else { Layout::Pool }, clips)
            }
        };
        layout.get_or_insert(corpus_layout);
        pooled |= corpus_layout == Layout::Pool && !cfg.labels.leaves_out(corpus);
        raw.push(clips);
    }
    let split_by_speaker = cfg.split == SplitKind::Speakers;
    if split_by_speaker && !pooled {
        // Every clip already has its part, so a speaker split would change nothing: say so
        // rather than report a split that was not made.
        let names: Vec<String> = corpora.iter().map(|c| c.dir.display().to_string()).collect();
        return Err(CorpusError::Other(format!(
            "--split speakers splits a pool, but {} comes split already (training/ and validation/ folders, or a \
             split column); add --layout pool to pool a RAVDESS folder's parts and split them by speaker",
            names.join(", ")
        ))
        .into());
    }
    let numbered = number_clips(corpora, raw, &cfg.labels, split_by_speaker, cfg.seed, for_training)?;
    counts.train_clips = numbered.train.len();
    counts.val_clips = numbered.val.len();
    counts.test_clips = numbered.test.len();
    counts.per_class = class_counts(&numbered.classes, &numbered.train, &numbered.val, &numbered.test);
    Ok(ClipSplit {
        layout: layout.unwrap_or(Layout::Pool),
        classes: numbered.classes,
        corpora: corpora.iter().map(Corpus::name).collect(),
        speakers_known: numbered.speakers_known,
        train: numbered.train,
        val: numbered.val,
        test: (!numbered.test.is_empty()).then_some(numbered.test),
        counts,
    })
}

/// [`split_corpora`] of one RAVDESS folder.
pub fn split_clips(dir: &Path, cfg: &DataConfig) -> Result<ClipSplit, DataError> {
    split_corpora(&[Corpus::ravdess(dir)], cfg, false)
}

/// Reads, splits, augments and featurises a RAVDESS folder.
pub fn load_dataset(dir: &Path, cfg: &DataConfig) -> Result<DataSet, DataError> {
    load_corpora(&[Corpus::ravdess(dir)], cfg)
}

/// Reads, labels, splits, augments and featurises the corpora.
pub fn load_corpora(corpora: &[Corpus], cfg: &DataConfig) -> Result<DataSet, DataError> {
    let ClipSplit { layout, classes, corpora: names, train, val, test, mut counts, .. } = split_corpora(corpora, cfg, true)?;
    let babble = BabblePool::new(&train);
    let train = featurise(&train, &Variant::for_training(cfg), cfg, Some(&babble), &mut counts);
    let val = featurise(&val, &[Variant::Original], cfg, None, &mut counts);
    let test = test.map(|t| featurise(&t, &[Variant::Original], cfg, None, &mut counts));
    counts.train_examples = train.len();
    if train.is_empty() && val.is_empty() && test.as_ref().is_none_or(|t| t.is_empty()) {
        let first = counts.unusable.first().map(|(f, r)| format!("{f}: {r}")).unwrap_or_default();
        return Err(DataError::AllUnusable(corpora[0].dir.clone(), first));
    }
    Ok(DataSet { layout, classes, corpora: names, train, val, test, counts })
}

/// The clips that babble in corrupted training copies is mixed from: the training split's, so
/// that no clip validated or tested on is ever heard in training, even as noise.
pub struct BabblePool {
    /// Each clip and its speaker.
    clips: Vec<(PathBuf, u32)>,
    /// A hash of the clips' names: a copy's cache key, as its babble depends on them.
    key: u64,
}

impl BabblePool {
    pub fn new(clips: &[Clip]) -> Self {
        let mut h = Sha256::new();
        for c in clips {
            h.update(c.path.file_name().unwrap_or_default().as_encoded_bytes());
            h.update(b"|");
        }
        let key = u64::from_le_bytes(h.finalize()[..8].try_into().expect("a SHA-256 digest has 8 bytes"));
        BabblePool { clips: clips.iter().map(|c| (c.path.clone(), c.speaker)).collect(), key }
    }

    /// The speech of pool clips of other speakers than `path`'s, as many as `cfg.babble_talkers`
    /// draws (up to the pool's), chosen with `rng`.
    fn talkers(&self, path: &Path, cfg: &DataConfig, rng: &mut StdRng) -> Result<Vec<Vec<f32>>, AudioError> {
        let corrupt_err = |error| corrupt_error(path, error);
        let own = self.clips.iter().find(|(p, _)| p == path).map(|&(_, actor)| actor);
        let own = own.ok_or_else(|| corrupt_err(corrupt::CorruptError::NoBabbleClips))?;
        let actors: Vec<u32> = self.clips.iter().map(|&(_, actor)| actor).collect();
        let count = cfg.babble_talkers.draw(rng);
        let chosen = babble_talkers(&actors, own, count, rng).map_err(corrupt_err)?;
        chosen.into_iter().map(|i| speech_audio(&self.clips[i].0, cfg)).collect()
    }
}

/// Features of each clip and variant, in clip order; unusable clips are skipped and counted.
/// `babble`: what corrupted copies mix babble from (the training split; None elsewhere).
fn featurise(clips: &[Clip], variants: &[Variant], cfg: &DataConfig, babble: Option<&BabblePool>, counts: &mut DataCounts) -> Vec<Example> {
    /// A clip's examples and how many came from the cache, or (file, reason) when it is unusable.
    type ClipExamples = Result<(Vec<Example>, usize), (String, String)>;
    let results: Vec<ClipExamples> = clips
        .par_iter()
        .map(|clip| {
            let mut hits = 0;
            let examples = variants
                .iter()
                .map(|&v| {
                    let (features, hit) = clip_features(&clip.path, v, cfg, babble)?;
                    hits += usize::from(hit);
                    Ok(Example {
                        features,
                        label: clip.label,
                        name: format!("{}#{}", clip.path.file_name().unwrap().to_string_lossy(), v.tag()),
                        actor: clip.speaker,
                        corpus: clip.corpus,
                        variant: v,
                    })
                })
                .collect::<Result<Vec<_>, AudioError>>()
                .map_err(|e| (clip.path.display().to_string(), e.to_string()))?;
            Ok((examples, hits))
        })
        .collect();
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok((examples, hits)) => {
                counts.cache_hits += hits;
                counts.cache_misses += examples.len() - hits;
                out.extend(examples);
            }
            Err(bad) => counts.unusable.push(bad),
        }
    }
    out
}

/// The audio a clip's features are computed from, at the rate they are told (always 16 kHz).
/// A corrupted copy that draws babble needs the pool of [`prepare_training_audio`].
pub fn prepare_audio(path: &Path, variant: Variant, cfg: &DataConfig) -> Result<Vec<f32>, AudioError> {
    prepare_training_audio(path, variant, cfg, None)
}

/// Corrupted copy `copy` of the clip at `path`: its seed, the generator its channel was drawn
/// from (babble draws its talkers from it next) and the channel.
fn copy_channel(path: &Path, copy: usize, cfg: &DataConfig) -> (u64, StdRng, Corruption) {
    let seed = corruption_seed(SeedUse::Training, cfg.noise_seed, name_hash(path), copy as u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let channel = training_channel(&cfg.channel_mix, &mut rng);
    (seed, rng, channel)
}

/// [`prepare_audio`] with the clips that corrupted copies mix babble from.
pub fn prepare_training_audio(
    path: &Path,
    variant: Variant,
    cfg: &DataConfig,
    babble: Option<&BabblePool>,
) -> Result<Vec<f32>, AudioError> {
    let samples = speech_audio(path, cfg)?;
    let samples = match variant {
        Variant::Original => samples,
        Variant::Noise => {
            let mut rng = StdRng::seed_from_u64(cfg.noise_seed ^ name_hash(path));
            audio::add_noise(&samples, 0.01, &mut rng)
        }
        Variant::Pitch(n) => audio::pitch_shift(&samples, SAMPLE_RATE, n as f64),
        Variant::Speed(factor) => audio::speed_perturb(&samples, factor),
        Variant::Channel(copy) => {
            let (seed, mut rng, channel) = copy_channel(path, copy, cfg);
            let talkers = match (channel, babble) {
                (Corruption::Noise { kind: NoiseKind::Babble, .. }, Some(pool)) => pool.talkers(path, cfg, &mut rng)?,
                (Corruption::Noise { kind: NoiseKind::Babble, .. }, None) => {
                    return Err(corrupt_error(path, corrupt::CorruptError::NoBabbleClips))
                }
                _ => Vec::new(),
            };
            let talkers: Vec<&[f32]> = talkers.iter().map(Vec::as_slice).collect();
            corrupt::corrupt(&samples, SAMPLE_RATE, &channel, seed, &talkers).map_err(|error| corrupt_error(path, error))?
        }
    };
    channel_to_features(path, samples, cfg)
}

/// A clip read, brought to 16 kHz and trimmed to its speech as `cfg` says: the clean audio that
/// augmentation and corruptions start from.
pub fn speech_audio(path: &Path, cfg: &DataConfig) -> Result<Vec<f32>, AudioError> {
    let clip = audio::read_wav(path)?;
    let vad = match cfg.vad {
        VadMode::Always => true,
        VadMode::Never => false,
        VadMode::Auto => clip.sample_rate != SAMPLE_RATE,
    };
    let samples = audio::resample(&clip.samples, clip.sample_rate, SAMPLE_RATE)?;
    if vad {
        return audio::vad_trim(&samples, SAMPLE_RATE, &path.display().to_string());
    }
    Ok(samples)
}

/// What 16 kHz audio of `path` goes through last, before its features: the band of `cfg`, its
/// enhancement and the notebook's resampling.
pub fn channel_to_features(path: &Path, mut samples: Vec<f32>, cfg: &DataConfig) -> Result<Vec<f32>, AudioError> {
    if cfg.band == Band::Telephone {
        samples = corrupt::telephone(&samples, SAMPLE_RATE, false).map_err(|error| corrupt_error(path, error))?;
    }
    if cfg.enhancement == Enhancement::Wiener {
        samples = audio::enhance::wiener(&samples);
    }
    if cfg.resample_like_notebook {
        samples = audio::resample(&samples, SAMPLE_RATE, NOTEBOOK_LOAD_RATE)?;
    }
    Ok(samples)
}

fn corrupt_error(path: &Path, error: corrupt::CorruptError) -> AudioError {
    AudioError::Corrupt { name: path.display().to_string(), error }
}

/// A stable 64-bit hash of a file's name (seeds its augmentation noise and corruptions).
pub fn name_hash(path: &Path) -> u64 {
    let digest = Sha256::digest(path.file_name().unwrap_or_default().as_encoded_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap())
}

/// Features of one clip variant, computed or found in the cache; the flag says they were found.
/// With a cache they stay there ([`Features::Cached`], read back when a batch needs them), else
/// (no cache, or one that cannot be written) they are held in memory.
fn clip_features(path: &Path, variant: Variant, cfg: &DataConfig, babble: Option<&BabblePool>) -> Result<(Features, bool), AudioError> {
    let bytes = std::fs::read(path).map_err(|error| AudioError::Io { path: path.into(), error })?;
    let key = {
        let mut h = Sha256::new();
        h.update(CACHE_VERSION);
        h.update(&bytes);
        let seed = match variant {
            Variant::Noise => cfg.noise_seed ^ name_hash(path),
            // A copy's babble comes from the training split, so the split is part of its key.
            Variant::Channel(_) => cfg.noise_seed ^ babble.map_or(0, |pool| pool.key),
            _ => 0,
        };
        let mut settings = format!("{:?}|vad={:?}|notebook={}|seed={}", variant, cfg.vad, cfg.resample_like_notebook, seed);
        // Wideband keys are those of the entries cached before bands existed.
        if cfg.band != Band::Wideband {
            settings += &format!("|band={}", cfg.band.name());
        }
        if cfg.enhancement != Enhancement::None {
            settings += &format!("|enhancement={}", cfg.enhancement.name());
        }
        // Likewise the keys of copies drawn with every kind as likely.
        if matches!(variant, Variant::Channel(_)) && !cfg.channel_mix.is_even() {
            settings += &format!("|mix={}", cfg.channel_mix.describe());
        }
        // And those of babble copies of four talkers; a copy that draws no babble does not
        // depend on the talkers, so its entry serves every count.
        if let Variant::Channel(copy) = variant {
            let babble_copy = matches!(copy_channel(path, copy, cfg).2, Corruption::Noise { kind: NoiseKind::Babble, .. });
            if babble_copy && cfg.babble_talkers != BabbleTalkers::default() {
                settings += &format!("|talkers={}", cfg.babble_talkers.describe());
            }
        }
        h.update(settings);
        format!("{:x}", h.finalize())
    };
    let cached = cfg.cache_dir.as_ref().map(|d| d.join(&key[..2]).join(format!("{key}.npy")));
    if let Some(file) = &cached {
        // An entry that is not a whole, finite matrix is computed and written again.
        if let Ok(m) = read_cached(file) {
            return Ok((Features::Cached { file: file.clone(), frames: m.ncols() }, true));
        }
    }
    let samples = prepare_training_audio(path, variant, cfg, babble)?;
    let m = features::extract(&samples, &FeatureConfig::default());
    if let Some(file) = cached {
        // A cache that cannot be written is only costlier: the features stay in memory.
        if std::fs::create_dir_all(file.parent().unwrap()).and_then(|_| features::write_npy_f32(&file, m.view())).is_ok() {
            return Ok((Features::Cached { file, frames: m.ncols() }, false));
        }
    }
    Ok((m.into(), false))
}

/// The features of `clips` as they are (no augmented copies); unusable clips are counted.
pub fn featurise_clips(
    dir: &Path,
    clips: &[Clip],
    cfg: &DataConfig,
    mut counts: DataCounts,
) -> Result<(Vec<Example>, DataCounts), DataError> {
    let examples = featurise(clips, &[Variant::Original], cfg, None, &mut counts);
    if examples.is_empty() {
        let first = counts.unusable.first().map(|(f, r)| format!("{f}: {r}")).unwrap_or_default();
        return Err(DataError::AllUnusable(dir.to_path_buf(), first));
    }
    Ok((examples, counts))
}
