//! Where the data comes from: `--data`, `$SER_DATA`, `./data/ravdess`, or, with none of them,
//! the built-in synthetic corpus written once into the cache.

use super::corpus::Corpus;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the data came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "SavedSource")]
pub struct DataSource {
    /// The corpora, in the order given (one folder unless several `--data` were given).
    pub corpora: Vec<Corpus>,
    /// True for the built-in synthetic corpus.
    pub synthetic: bool,
    /// How the folder was chosen (`--data`, `$SER_DATA`, `./data/ravdess`, or the built-in default).
    pub chosen_by: String,
}

/// The settings of runs saved before several corpora: one `dir`.
#[derive(Deserialize)]
#[serde(untagged)]
enum SavedSource {
    Corpora { corpora: Vec<Corpus>, synthetic: bool, chosen_by: String },
    Folder { dir: PathBuf, synthetic: bool, chosen_by: String },
}

impl From<SavedSource> for DataSource {
    fn from(saved: SavedSource) -> Self {
        match saved {
            SavedSource::Corpora { corpora, synthetic, chosen_by } => DataSource { corpora, synthetic, chosen_by },
            SavedSource::Folder { dir, synthetic, chosen_by } => DataSource { corpora: vec![Corpus::ravdess(&dir)], synthetic, chosen_by },
        }
    }
}

impl DataSource {
    /// The folders, comma-separated, for messages and reports.
    pub fn folders(&self) -> String {
        self.corpora.iter().map(|c| c.dir.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// Picks the corpora: `--data` folders (each with its labels CSV when `labels` has one per
/// folder), then `$SER_DATA`, then `./data/ravdess`; with none present, the built-in synthetic
/// corpus (written once under `cache_root`). One labels CSV without `--data` labels the folder
/// found.
pub fn resolve_data(dirs: &[PathBuf], labels: &[PathBuf], cache_root: &Path, seed: u64) -> anyhow::Result<DataSource> {
    let pair = |dirs: Vec<PathBuf>| -> anyhow::Result<Vec<Corpus>> {
        match labels.len() {
            0 => Ok(dirs.iter().map(|d| Corpus::ravdess(d)).collect()),
            n if n == dirs.len() => Ok(dirs.into_iter().zip(labels).map(|(dir, csv)| Corpus { dir, labels: Some(csv.clone()) }).collect()),
            n => {
                anyhow::bail!("{n} --labels for {} --data folders: give one labels CSV per folder, in the same order, or none", dirs.len())
            }
        }
    };
    if !dirs.is_empty() {
        return Ok(DataSource { corpora: pair(dirs.to_vec())?, synthetic: false, chosen_by: "--data".into() });
    }
    if let Some(dir) = std::env::var_os("SER_DATA") {
        return Ok(DataSource { corpora: pair(vec![dir.into()])?, synthetic: false, chosen_by: "$SER_DATA".into() });
    }
    let default = PathBuf::from("data/ravdess");
    if default.is_dir() {
        return Ok(DataSource { corpora: pair(vec![default])?, synthetic: false, chosen_by: "./data/ravdess".into() });
    }
    if !labels.is_empty() {
        anyhow::bail!("--labels needs the folder its files are in (--data)");
    }
    let dir = cache_root.join(format!("synthetic-corpus-seed{seed}"));
    if !dir.join(".complete").exists() {
        eprintln!("No RAVDESS data found (--data, $SER_DATA, ./data/ravdess): synthesising the built-in corpus in {}", dir.display());
        crate::synth::write_corpus(&dir, seed).with_context(|| format!("writing the synthetic corpus to {}", dir.display()))?;
        std::fs::write(dir.join(".complete"), b"")?;
    }
    Ok(DataSource {
        corpora: vec![Corpus::ravdess(&dir)],
        synthetic: true,
        chosen_by: "built-in synthetic corpus (no RAVDESS found)".into(),
    })
}
