//! Where the data comes from: `--data`, `$SER_DATA`, `./data/ravdess`, or, with none of them,
//! the built-in synthetic corpus written once into the cache.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the data came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataSource {
    pub dir: PathBuf,
    /// True for the built-in synthetic corpus.
    pub synthetic: bool,
    /// How the folder was chosen (`--data`, `$SER_DATA`, `./data/ravdess`, or the built-in default).
    pub chosen_by: String,
}

/// Picks the data folder: `--data`, then `$SER_DATA`, then `./data/ravdess`; with none present,
/// the built-in synthetic corpus (written once under `cache_root`).
pub fn resolve_data(arg: Option<&Path>, cache_root: &Path, seed: u64) -> anyhow::Result<DataSource> {
    if let Some(dir) = arg {
        return Ok(DataSource { dir: dir.into(), synthetic: false, chosen_by: "--data".into() });
    }
    if let Some(dir) = std::env::var_os("SER_DATA") {
        return Ok(DataSource { dir: dir.into(), synthetic: false, chosen_by: "$SER_DATA".into() });
    }
    let default = PathBuf::from("data/ravdess");
    if default.is_dir() {
        return Ok(DataSource { dir: default, synthetic: false, chosen_by: "./data/ravdess".into() });
    }
    let dir = cache_root.join(format!("synthetic-corpus-seed{seed}"));
    if !dir.join(".complete").exists() {
        eprintln!("No RAVDESS data found (--data, $SER_DATA, ./data/ravdess): synthesising the built-in corpus in {}", dir.display());
        crate::synth::write_corpus(&dir, seed).with_context(|| format!("writing the synthetic corpus to {}", dir.display()))?;
        std::fs::write(dir.join(".complete"), b"")?;
    }
    Ok(DataSource { dir, synthetic: true, chosen_by: "built-in synthetic corpus (no RAVDESS found)".into() })
}
