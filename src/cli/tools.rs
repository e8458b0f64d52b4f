//! The tools: `features` (one WAV's 162 x K matrix), `synth` (the synthetic corpus), `labels` (a
//! RAVDESS folder's labels CSV), `fetch-ravdess` and `bench`.

use super::args::init_threads;
use crate::data::pipeline;
use crate::features::{self, FeatureConfig};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct FeaturesArgs {
    pub wav: PathBuf,
    /// Output .npy file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print a JSON summary (shape and the matrix) to stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct FetchArgs {
    /// Folder to unpack into (created; left alone when it already exists).
    #[arg(long, default_value = "data/ravdess")]
    pub dir: PathBuf,
    /// Where to download from.
    #[arg(long, default_value = crate::fetch::RAVDESS_SPEECH_URL)]
    pub url: String,
    /// Expected MD5 of the archive (hex).
    #[arg(long, default_value = crate::fetch::RAVDESS_SPEECH_MD5)]
    md5: String,
    /// Expected size of the archive in bytes.
    #[arg(long, default_value_t = crate::fetch::RAVDESS_SPEECH_SIZE)]
    pub size: u64,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct LabelsArgs {
    /// A folder of RAVDESS-named WAVs (pre-split `training/`, `validation/`, `testing/`, or a pool).
    #[arg(long)]
    pub data: PathBuf,
    /// `auto`: the `training/`/`validation/`/`testing/` folders when there are some; `pool`: every
    /// clip split with --split and --seed.
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: crate::data::pipeline::Layout,
    /// How a pool is split (the split column), as training would split it.
    #[arg(long, value_enum, default_value = "files")]
    pub split: crate::data::pipeline::SplitKind,
    /// Seed of a pool's split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The CSV to write (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct SynthArgs {
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn fetch_ravdess(a: FetchArgs) -> Result<()> {
    let archive = crate::fetch::Archive { url: a.url, size: a.size, md5: a.md5 };
    match crate::fetch::fetch(&archive, &a.dir)? {
        crate::fetch::Fetched::AlreadyPresent => println!("{} already exists; nothing fetched", a.dir.display()),
        crate::fetch::Fetched::Unpacked { files } => println!("unpacked {files} files into {}", a.dir.display()),
    }
    Ok(())
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let report = crate::bench::run(init_threads(a.threads)?);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

/// `ser features`: the 162 x K matrix of one WAV file.
pub fn features(a: FeaturesArgs) -> Result<()> {
    let (wav, out, json) = (a.wav.as_path(), a.out.as_deref(), a.json);
    let audio = crate::audio::read_wav(wav)?;
    let samples = crate::audio::resample(&audio.samples, audio.sample_rate, pipeline::SAMPLE_RATE)?;
    let m = features::extract(&samples, &FeatureConfig::default());
    if let Some(out) = out {
        features::write_npy_f32(out, m.view()).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {} x {} float32 to {}", m.nrows(), m.ncols(), out.display());
    }
    if json {
        let rows: Vec<Vec<f32>> = m.rows().into_iter().map(|r| r.to_vec()).collect();
        println!(
            "{}",
            serde_json::json!({ "file": wav.display().to_string(), "rows": m.nrows(), "frames": m.ncols(),
            "row_groups": row_groups(), "features": rows })
        );
    } else if out.is_none() {
        println!("{} x {} (use --out FILE.npy or --json)", m.nrows(), m.ncols());
    }
    Ok(())
}

/// The feature row groups as `name: [first, end)`, from the one place they are defined.
fn row_groups() -> serde_json::Value {
    let groups =
        [("zcr", features::ZCR), ("chroma", features::CHROMA), ("mfcc", features::MFCC), ("rms", features::RMS), ("mel", features::MEL)];
    groups
        .into_iter()
        .map(|(name, rows)| (name.to_string(), serde_json::json!([rows.start, rows.end])))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `ser labels`: the labels CSV of a RAVDESS folder (`file,emotion,speaker,split`, files relative
/// to it, split as training splits it), to train it beside other corpora or to start a CSV from.
pub fn labels(a: LabelsArgs) -> Result<()> {
    let cfg = pipeline::DataConfig { layout: a.layout, split: a.split, seed: a.seed, augment: false, ..pipeline::DataConfig::default() };
    let split = pipeline::split_clips(&a.data, &cfg)?;
    let mut csv = String::from("file,emotion,speaker,split\n");
    for (part, clips) in [("train", Some(&split.train)), ("val", Some(&split.val)), ("test", split.test.as_ref())] {
        for clip in clips.into_iter().flatten() {
            let file = clip.path.strip_prefix(&a.data).unwrap_or(&clip.path);
            let file = file.to_str().with_context(|| format!("{}: not a UTF-8 path", clip.path.display()))?;
            // `split_clips` kept only names `parse_name` reads as speech.
            let Ok(crate::data::NameKind::Speech(info)) = crate::data::parse_name(&clip.path) else {
                anyhow::bail!("{}: not a RAVDESS speech name", clip.path.display());
            };
            let actor = info.actor;
            csv += &format!("{},{},{actor:02},{part}\n", file.replace('\\', "/"), split.classes[clip.label]);
        }
    }
    match &a.out {
        Some(path) => crate::fsio::write_atomic(path, csv.as_bytes()).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{csv}"),
    }
    Ok(())
}

/// `ser synth`: the synthetic corpus as WAV files.
pub fn synth(a: SynthArgs) -> Result<()> {
    let n = crate::synth::write_corpus(&a.out, a.seed).with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {n} clips to {}", a.out.display());
    Ok(())
}
