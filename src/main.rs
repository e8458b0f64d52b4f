//! The `ser` command line.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ser::data::pipeline::{DataConfig, Layout, SplitKind, VadMode};
use ser::nn::model::Padding;
use ser::study::{resolve_data, run_study, DataSource, StudyConfig, RUN_SETTINGS};
use ser::recipe::{ladder, parse_speed_factors, Recipe, RecipeName, SpecAugment};
use ser::train::{EpochLog, TrainConfig};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ser", version, about = "Speech emotion recognition from scratch: the dropout ablation study of a CNN + BiLSTM + MLP on RAVDESS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reproduce the study: train the model with and without dropout, evaluate, write a report.
    Ablation(AblationArgs),
    /// Train one model with a recipe (one or more seeds) and save its checkpoint.
    Train(TrainArgs),
    /// Measure each piece of the improved recipe: one row per piece added, several seeds each.
    RecipeAblation(RecipeAblationArgs),
    /// Evaluate a checkpoint on a data folder.
    Eval(EvalArgs),
    /// Predict the emotion of WAV files with a checkpoint.
    Predict(PredictArgs),
    /// Write the 162 x K feature matrix of a WAV file (float32 .npy, rows ZCR, chroma, MFCC, RMS, mel).
    Features(FeaturesArgs),
    /// Write the built-in synthetic emotional-speech corpus as WAV files.
    Synth(SynthArgs),
    /// Download the RAVDESS speech archive (Zenodo 1188976, CC BY-NC-SA 4.0), check it, unpack it.
    FetchRavdess(FetchArgs),
    /// Measure training, BiLSTM and feature-extraction speed.
    Bench(BenchArgs),
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data folder (else $SER_DATA, else ./data/ravdess, else the built-in synthetic corpus).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    layout: Layout,
    #[arg(long, value_enum, default_value = "auto")]
    vad: VadMode,
    /// How a pool is split: by file (the study) or by speaker.
    #[arg(long, value_enum, default_value = "files")]
    split: SplitKind,
    /// Reproduce the notebook's input: clips resampled to 22 050 Hz, features told 16 000 Hz.
    #[arg(long)]
    resample_like_notebook: bool,
    /// Feature cache folder.
    #[arg(long, default_value = "runs/cache")]
    cache: PathBuf,
    /// Compute every feature afresh and cache nothing.
    #[arg(long)]
    no_cache: bool,
}

/// Settings shared by every training command.
#[derive(Args, Clone)]
struct TrainingArgs {
    /// Training recipe: the study's, or the improved one (log-mel + standardised rows,
    /// SpecAugment and gain, AdamW with warm-up + cosine, label smoothing, mixup, an ensemble of 2
    /// per seed, masked padding).
    #[arg(long, value_enum, default_value = "study")]
    recipe: RecipeName,
    /// Padding semantics (default: the recipe's; study for the study recipe, masked for improved).
    #[arg(long, value_enum)]
    padding: Option<Padding>,
    /// Epochs (default: the recipe's, 80).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Peak learning rate (default: the recipe's).
    #[arg(long)]
    lr: Option<f64>,
    /// Early-stopping patience in epochs, 0 for none (default: the recipe's).
    #[arg(long)]
    patience: Option<usize>,
    /// AdamW's decoupled weight decay (default: the recipe's).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// SpecAugment as FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_WIDTH (mel rows, frames); 0,0,0,0 turns it off
    /// (default: the recipe's).
    #[arg(long, value_delimiter = ',')]
    spec_augment: Option<Vec<usize>>,
    /// Speed perturbation: one more copy of each training clip per factor, played that many times
    /// as fast (tempo and pitch together), e.g. 0.9,1.1; `off` for none (default: the recipe's).
    #[arg(long)]
    speed_perturb: Option<String>,
    /// Mixup with λ ~ Beta(ALPHA, ALPHA) per batch, 0 for none (default: the recipe's).
    #[arg(long)]
    mixup: Option<f64>,
    /// Vocal-tract length perturbation: the mel axis scaled by a random factor in [1 - X, 1 + X]
    /// per clip and epoch, MFCCs recomputed; 0 for none (default: the recipe's).
    #[arg(long)]
    vtlp: Option<f32>,
    /// Models per seed whose probabilities are averaged (member seeds derived from the seed; the
    /// first checkpoint lists the others, so eval and predict load them all) (default: the recipe's).
    #[arg(long)]
    ensemble: Option<usize>,
    /// Speaker-adversarial training: a speaker classifier on the pooled vector behind a gradient
    /// reversal whose strength ramps up to this λ; 0 for none (default: the recipe's).
    #[arg(long)]
    speaker_adversary: Option<f64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Train without the augmented copies.
    #[arg(long)]
    no_augment: bool,
}

impl TrainingArgs {
    /// The recipe with the command line's overrides.
    fn recipe(&self) -> Result<Recipe> {
        let mut r = Recipe::named(self.recipe);
        if let Some(p) = self.padding {
            r.padding = p;
        }
        if let Some(e) = self.epochs {
            r.epochs = e;
        }
        if let Some(lr) = self.lr {
            r.lr = lr;
        }
        if let Some(p) = self.patience {
            r.patience = (p > 0).then_some(p);
        }
        if let Some(wd) = self.weight_decay {
            r.weight_decay = wd;
        }
        if let Some(sa) = &self.spec_augment {
            if sa.len() != 4 {
                bail!("--spec-augment takes four numbers, FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_WIDTH; got {}", sa.len());
            }
            let sa = SpecAugment { freq_masks: sa[0], freq_width: sa[1], time_masks: sa[2], time_width: sa[3] };
            r.spec_augment = (sa.freq_masks + sa.time_masks > 0).then_some(sa);
        }
        if let Some(text) = &self.speed_perturb {
            r.speed_perturb = parse_speed_factors(text).map_err(|reason| anyhow!("--speed-perturb: {reason}"))?;
        }
        if let Some(alpha) = self.mixup {
            if !(alpha.is_finite() && alpha >= 0.0) {
                bail!("--mixup takes Beta's alpha, a number >= 0 (0: off); got {alpha}");
            }
            r.mixup_alpha = alpha;
        }
        if let Some(vtlp) = self.vtlp {
            if !((0.0..0.5).contains(&vtlp)) {
                bail!("--vtlp takes the largest warp |α - 1|, a number in [0, 0.5) such as 0.1; got {vtlp}");
            }
            if vtlp > 0.0 && !r.log_mel {
                bail!("--vtlp warps dB mel rows; recipe {} feeds raw mel power (use --recipe improved)", r.name);
            }
            r.vtlp = vtlp;
        }
        if let Some(lambda) = self.speaker_adversary {
            if !(lambda.is_finite() && lambda >= 0.0) {
                bail!("--speaker-adversary takes the largest reversal strength λ, a number >= 0 (0: off); got {lambda}");
            }
            r.speaker_adversary = lambda;
        }
        if let Some(members) = self.ensemble {
            if members == 0 {
                bail!("--ensemble takes the number of models per seed, at least 1");
            }
            r.ensemble = members;
        }
        Ok(r)
    }

    fn base(&self) -> TrainConfig {
        TrainConfig { batch_size: self.batch_size, seed: self.seed, ..TrainConfig::default() }
    }
}

#[derive(Args)]
struct AblationArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    training: TrainingArgs,
    /// Train each model with this many seeds (seed, seed + 1, ...) and compare them statistically.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Report folder (default runs/<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the interrupted run in this folder from its last finished epoch, with its settings.
    #[arg(long, conflicts_with = "out")]
    resume: Option<PathBuf>,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    training: TrainingArgs,
    /// Train this many seeds (seed, seed + 1, ...) and report mean and standard deviation.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Output folder (default runs/<timestamp>); the first seed's checkpoint is `model.safetensors`.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct RecipeAblationArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 5)]
    seeds: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Epochs of every row (default: each recipe's, 80).
    #[arg(long)]
    epochs: Option<usize>,
    /// Only these rows of the ladder (0 = the study recipe, masked).
    #[arg(long, value_delimiter = ',')]
    rows: Option<Vec<usize>>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Output folder (default runs/<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    weights: Vec<PathBuf>,
    /// A CSV of `file,emotion` (files relative to --data, any names and sample rates): cross-corpus evaluation.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Which clips to score: all, or the train/val/test part of the split made with --layout, --split and --seed.
    #[arg(long, value_enum, default_value = "all")]
    part: ser::cli::EvalPart,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct PredictArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    weights: Vec<PathBuf>,
    /// WAV files.
    #[arg(required = true)]
    clips: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FeaturesArgs {
    wav: PathBuf,
    /// Output .npy file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print a JSON summary (shape and the matrix) to stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FetchArgs {
    /// Folder to unpack into (created; left alone when it already exists).
    #[arg(long, default_value = "data/ravdess")]
    dir: PathBuf,
    /// Where to download from.
    #[arg(long, default_value = ser::fetch::RAVDESS_SPEECH_URL)]
    url: String,
    /// Expected MD5 of the archive (hex).
    #[arg(long, default_value = ser::fetch::RAVDESS_SPEECH_MD5)]
    md5: String,
    /// Expected size of the archive in bytes.
    #[arg(long, default_value_t = ser::fetch::RAVDESS_SPEECH_SIZE)]
    size: u64,
}

#[derive(Args)]
struct BenchArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ablation(a) => ablation(a),
        Command::Eval(a) => ser::cli::eval(&a.weights, a.data.data.as_deref(), a.labels.as_deref(), a.part, &data_config(&a.data, a.seed, false), a.batch_size),
        Command::Predict(a) => ser::cli::predict(&a.weights, &a.clips, a.json),
        Command::Features(a) => ser::cli::features(&a.wav, a.out.as_deref(), a.json),
        Command::Synth(a) => ser::synth::write_corpus(&a.out, a.seed)
            .map(|n| println!("wrote {n} clips to {}", a.out.display()))
            .with_context(|| format!("writing {}", a.out.display())),
        Command::FetchRavdess(a) => fetch_ravdess(a),
        Command::Bench(a) => bench(a),
        Command::Train(a) => train(a),
        Command::RecipeAblation(a) => recipe_ablation(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn data_config(d: &DataArgs, seed: u64, augment: bool) -> DataConfig {
    DataConfig {
        layout: d.layout,
        vad: d.vad,
        split: d.split,
        resample_like_notebook: d.resample_like_notebook,
        augment,
        // The recipe's, set where it is known (Recipe::data_config).
        speed_factors: Vec::new(),
        seed,
        noise_seed: seed,
        cache_dir: (!d.no_cache).then(|| d.cache.join("features")),
    }
}

fn fetch_ravdess(a: FetchArgs) -> Result<()> {
    let archive = ser::fetch::Archive { url: a.url, size: a.size, md5: a.md5 };
    match ser::fetch::fetch(&archive, &a.dir)? {
        ser::fetch::Fetched::AlreadyPresent => println!("{} already exists; nothing fetched", a.dir.display()),
        ser::fetch::Fetched::Unpacked { files } => println!("unpacked {files} files into {}", a.dir.display()),
    }
    Ok(())
}

/// Builds the global rayon pool with `--threads` (default: all cores); returns the thread count.
fn init_threads(threads: Option<usize>) -> Result<usize> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    Ok(threads)
}

fn bench(a: BenchArgs) -> Result<()> {
    let report = ser::bench::run(init_threads(a.threads)?);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

fn check_counts(seeds: usize, epochs: usize, batch_size: usize) -> Result<()> {
    if seeds == 0 || epochs == 0 || batch_size == 0 {
        bail!("--seeds, --epochs and --batch-size must be at least 1");
    }
    Ok(())
}

fn epoch_bar(epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(epochs as u64);
    bar.set_style(ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg}").unwrap().progress_chars("=> "));
    bar
}

fn show_epoch(bar: &ProgressBar, current: &mut String, prefix: String, log: &EpochLog) {
    if *current != prefix {
        bar.reset();
        bar.set_prefix(prefix.clone());
        *current = prefix;
    }
    bar.set_position(log.epoch as u64);
    bar.set_message(format!("loss {:.3} train {:.3} val {:.3}", log.loss, log.train_accuracy, log.val_accuracy));
}

/// Runs recipe rows and writes their report; prints the headline figures.
fn run_recipe_rows(data: &DataArgs, rows: Vec<(String, Recipe)>, base: TrainConfig, augment: bool, seeds: usize, out: Option<PathBuf>) -> Result<()> {
    let source = resolve_data(data.data.as_deref(), &data.cache, base.seed)?;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(ser::report::timestamp()));
    eprintln!("data: {} ({})", source.dir.display(), source.chosen_by);
    let bar = epoch_bar(rows.iter().map(|(_, r)| r.epochs).max().unwrap_or(1));
    let mut current = String::new();
    let several = rows.len() > 1;
    let report = ladder::run_recipes(source, &data_config(data, base.seed, augment), &rows, &base, seeds, &out, |row, _, seed, log| {
        let prefix = if several { format!("row {row} seed {seed}") } else { format!("seed {seed}") };
        show_epoch(&bar, &mut current, prefix, log);
    })?;
    bar.finish_and_clear();
    let md = ladder::write_report(&out, &report)?;
    for (i, row) in report.rows.iter().enumerate() {
        let s = row.summary.get("test").or(row.summary.get("val")).and_then(|m| m.get("accuracy_single_clip"));
        if let Some(s) = s {
            println!("{i}: {:<48} one clip at a time {:.1} % ± {:.1}", row.added, 100.0 * s.mean, 100.0 * s.std);
        }
    }
    // The last row's first seed: the recipe with every piece.
    let last = if report.rows.len() == 1 { out.clone() } else { out.join(format!("row-{}", report.rows.len() - 1)) };
    println!("checkpoint: {}", last.join(format!("{}.safetensors", ladder::MODEL_NAME)).display());
    println!("report: {}", md.display());
    Ok(())
}

fn train(a: TrainArgs) -> Result<()> {
    let t = &a.training;
    init_threads(t.threads)?;
    let recipe = t.recipe()?;
    check_counts(a.seeds, recipe.epochs, t.batch_size)?;
    run_recipe_rows(&a.data, vec![(format!("recipe {}", recipe.name), recipe)], t.base(), !t.no_augment, a.seeds, a.out)
}

fn recipe_ablation(a: RecipeAblationArgs) -> Result<()> {
    init_threads(a.threads)?;
    let chosen: Vec<usize> = a.rows.clone().unwrap_or_else(|| (0..Recipe::ladder().len()).collect());
    let mut rows = ladder::chosen_rows(&chosen).map_err(|reason| anyhow!("--rows: {reason}"))?;
    if let Some(e) = a.epochs {
        for (_, recipe) in &mut rows {
            recipe.epochs = e;
        }
    }
    check_counts(a.seeds, rows.iter().map(|(_, r)| r.epochs).min().unwrap_or(1), a.batch_size)?;
    let base = TrainConfig { batch_size: a.batch_size, seed: a.seed, ..TrainConfig::default() };
    run_recipe_rows(&a.data, rows, base, true, a.seeds, a.out)
}

fn ablation(a: AblationArgs) -> Result<()> {
    let (source, cfg, out) = match &a.resume {
        Some(dir) => {
            let saved = dir.join(RUN_SETTINGS);
            let text = std::fs::read(&saved).with_context(|| format!("{}: cannot resume (no settings of a run)", saved.display()))?;
            let (source, cfg): (DataSource, StudyConfig) =
                serde_json::from_slice(&text).with_context(|| format!("{}: not the settings of a run", saved.display()))?;
            eprintln!("resuming {} with its saved settings", dir.display());
            (source, cfg, dir.clone())
        }
        None => {
            let t = &a.training;
            let threads = init_threads(t.threads)?;
            let recipe = t.recipe()?;
            check_counts(a.seeds, recipe.epochs, t.batch_size)?;
            let source = resolve_data(a.data.data.as_deref(), &a.data.cache, t.seed)?;
            let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(ser::report::timestamp()));
            let cfg = StudyConfig {
                data: data_config(&a.data, t.seed, !t.no_augment),
                train: recipe.train_config(&t.base()),
                padding: recipe.padding,
                threads,
                seeds: a.seeds,
                recipe,
            };
            (source, cfg, out)
        }
    };
    if a.resume.is_some() {
        init_threads(Some(cfg.threads))?;
    }
    eprintln!("data: {} ({})", source.dir.display(), source.chosen_by);
    let bar = epoch_bar(cfg.train.epochs);
    let mut current = String::new();
    let report = run_study(source, cfg, &out, |name, seed, log| show_epoch(&bar, &mut current, format!("{name} seed {seed}"), log))?;
    bar.finish_and_clear();
    ser::report::summary::write_report(&out, &report).with_context(|| format!("writing the report in {}", out.display()))?;
    for (name, m) in &report.models {
        let test = m.test.as_ref().map_or("n/a".to_string(), |t| format!("{:.1} %", 100.0 * t.metrics.accuracy));
        println!("{name:>10}: train {:.1} %, test {test}", 100.0 * m.train.metrics.accuracy);
    }
    if report.seed_runs.len() > 1 {
        println!("{}", report.seeds.conclusion);
    }
    println!("report: {}", out.join("report.md").display());
    Ok(())
}
