//! One training or test example: a clip's feature matrix, its label, and which copy of the clip
//! it is (the original or an augmented one).

use ndarray::Array2;

/// One clip's features and label.
#[derive(Clone, Debug)]
pub struct Example {
    /// (162, K) feature rows.
    pub features: Array2<f32>,
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
    /// A clip as it is, not an augmented copy (`name` empty): what `predict` scores.
    pub fn original(features: Array2<f32>, label: usize, actor: u32) -> Self {
        Example { features, label, name: String::new(), actor, corpus: 0, variant: Variant::Original }
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
