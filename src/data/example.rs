//! One training or test example: a clip's feature matrix (in memory, or where the feature cache
//! holds it on disk), its label, and which copy of the clip it is (the original or an augmented
//! one).

use crate::features::{self, ROWS};
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an example's (162, K) feature matrix lives.
///
/// With a feature cache (the command line's default) a data set holds only where each matrix is,
/// and training reads a batch's matrices back when it needs them: memory stays that of one batch
/// however large the corpus. Without one (`--no-cache`, tests) the matrices are held in memory.
#[derive(Clone, Debug)]
pub enum Features {
    /// In memory; shared, so that copies of an example (the clips a training curve is scored on)
    /// share one matrix.
    Memory(Arc<Array2<f32>>),
    /// A `.npy` file of the feature cache, of `frames` columns: read back at each use.
    Cached { file: PathBuf, frames: usize },
}

impl Features {
    /// Its number of frames K, without reading it.
    pub fn frames(&self) -> usize {
        match self {
            Features::Memory(m) => m.ncols(),
            Features::Cached { frames, .. } => *frames,
        }
    }

    /// The matrix (162, K): a copy of the one in memory, or the cache file read back and checked
    /// to be what was cached (a file changed or deleted since is an error naming it).
    pub fn load(&self) -> Result<Array2<f32>, CacheReadError> {
        match self {
            Features::Memory(m) => Ok(m.as_ref().clone()),
            Features::Cached { file, frames } => {
                let m = read_cached(file).map_err(|reason| CacheReadError { file: file.clone(), reason })?;
                if m.ncols() != *frames {
                    let reason = format!("{} frames, {frames} when it was cached", m.ncols());
                    return Err(CacheReadError { file: file.clone(), reason });
                }
                Ok(m)
            }
        }
    }

    /// True when the matrix is in memory.
    pub fn in_memory(&self) -> bool {
        matches!(self, Features::Memory(_))
    }
}

impl From<Array2<f32>> for Features {
    fn from(m: Array2<f32>) -> Self {
        Features::Memory(Arc::new(m))
    }
}

/// A feature cache entry: a (162, K) matrix of finite values, K > 0; anything else (a missing,
/// truncated or foreign file) is the reason it is not one.
pub fn read_cached(file: &Path) -> Result<Array2<f32>, String> {
    let m = features::read_npy_f32(file).map_err(|e| e.to_string())?;
    if m.nrows() != ROWS || m.ncols() == 0 {
        return Err(format!("a {} x {} matrix, not {ROWS} x K", m.nrows(), m.ncols()));
    }
    // A fold rather than `all`: with no early exit it vectorises (training reads every entry
    // back at each epoch).
    if !m.iter().fold(true, |finite, v| finite & v.is_finite()) {
        return Err("a value is not finite".into());
    }
    Ok(m)
}

/// A cached feature matrix that could not be read back when a batch needed it.
#[derive(Debug, thiserror::Error)]
#[error("{}: cached features cannot be read back ({reason}); run again to recompute the entry, or with --no-cache", file.display())]
pub struct CacheReadError {
    pub file: PathBuf,
    pub reason: String,
}

/// One clip's features and label.
#[derive(Clone, Debug)]
pub struct Example {
    /// (162, K) feature rows, in memory or in the cache.
    pub features: Features,
    pub label: usize,
    /// The file (and augmentation) it came from.
    pub name: String,
    /// The speaker, numbered over every corpus.
    pub actor: u32,
    /// Index of the corpus it came from.
    pub corpus: usize,
    /// Which copy of the clip it is: the original or an augmented one.
    pub variant: Variant,
}

impl Example {
    /// A clip as it is, not an augmented copy (`name` empty), its features in memory: what
    /// `predict` scores.
    pub fn original(features: Array2<f32>, label: usize, actor: u32) -> Self {
        Example { features: features.into(), label, name: String::new(), actor, corpus: 0, variant: Variant::Original }
    }

    /// True for an example made from a clip as it is, not from one of its augmented copies.
    pub fn is_original(&self) -> bool {
        self.variant == Variant::Original
    }
}

/// The kinds of copies made of a training clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    Original,
    /// Gaussian noise, sigma 0.01.
    Noise,
    /// Pitch shifted by this many semitones, duration kept.
    Pitch(i32),
    /// Played this many times as fast: tempo and pitch together.
    Speed(f64),
    /// Corrupted copy k: through a channel drawn for the clip and k (noise, telephone, room, level).
    Channel(usize),
}

impl Variant {
    /// The study's training set: originals + 3 copies.
    pub const TRAINING: [Variant; 4] = [Variant::Original, Variant::Noise, Variant::Pitch(3), Variant::Pitch(-3)];

    /// What each training clip becomes: without `cfg.augment` the original alone, else the study's
    /// four followed by one speed copy per factor and the corrupted copies.
    pub fn for_training(cfg: &super::pipeline::DataConfig) -> Vec<Variant> {
        if !cfg.augment {
            return vec![Variant::Original];
        }
        let speed = cfg.speed_factors.iter().map(|&f| Variant::Speed(f));
        Variant::TRAINING.into_iter().chain(speed).chain((0..cfg.channel_copies).map(Variant::Channel)).collect()
    }

    /// The suffix of an example's name (`file.wav#pitch+3`).
    pub fn tag(self) -> String {
        match self {
            Variant::Original => "orig".into(),
            Variant::Noise => "noise0.01".into(),
            Variant::Pitch(n) => format!("pitch{n:+}"),
            Variant::Speed(f) => format!("speed{f}"),
            Variant::Channel(k) => format!("channel{k}"),
        }
    }
}
