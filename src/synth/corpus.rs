//! The corpus: RAVDESS's 1440 speech-clip identities, their names and folders, and generation.
//!
//! RAVDESS names a file `MM-VV-EE-II-SS-RR-AA.wav`: modality (03 audio-only), vocal channel
//! (01 speech), emotion (01..08), intensity (01 normal, 02 strong; neutral has only 01),
//! statement (01, 02), repetition (01, 02), actor (01..24; odd male, even female), and keeps each
//! actor's files in `Actor_AA/`. Per actor: neutral 1 x 2 x 2 = 4 clips, the other seven emotions
//! 2 x 2 x 2 = 8 each, 60 in all.
//!
//! Every clip's randomness comes from (corpus seed, clip identity), and every actor's voice from
//! (corpus seed, actor), so any subset can be made alone, in any order, in parallel.

use std::fs;
use std::io;
use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;

use super::phonetics::sentence;
use super::render::{render, SAMPLE_RATE};
use super::style::{Speaker, Style, STRONG_INTENSITY};
use crate::audio::{write_wav, Audio};

pub const ACTORS: u8 = 24;
pub const EMOTIONS: u8 = 8;
/// Clips per actor and in the whole corpus.
pub const CLIPS_PER_ACTOR: usize = 60;
pub const CORPUS_CLIPS: usize = CLIPS_PER_ACTOR * ACTORS as usize;

/// Identity of one clip. `emotion` is the class index (RAVDESS code - 1); the other fields are
/// RAVDESS codes as they appear in the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClipSpec {
    /// 1..=24; odd actors male, even female.
    pub actor: u8,
    /// 0..8: neutral, calm, happy, sad, angry, fearful, disgust, surprised.
    pub emotion: u8,
    /// 1 normal, 2 strong (neutral: 1 only).
    pub intensity: u8,
    /// 1 "Kids are talking by the door", 2 "Dogs are sitting by the door".
    pub statement: u8,
    /// 1 or 2.
    pub repetition: u8,
}

impl ClipSpec {
    /// Panics on a code outside RAVDESS (a programmer's error: identities come from code).
    pub fn new(actor: u8, emotion: u8, intensity: u8, statement: u8, repetition: u8) -> Self {
        assert!((1..=ACTORS).contains(&actor), "actor must be 1..=24, got {actor}");
        assert!(emotion < EMOTIONS, "emotion class must be 0..8, got {emotion}");
        assert!((1..=2).contains(&intensity), "intensity must be 1 or 2, got {intensity}");
        assert!(!(emotion == 0 && intensity == 2), "neutral has no strong intensity in RAVDESS");
        assert!((1..=2).contains(&statement), "statement must be 1 or 2, got {statement}");
        assert!((1..=2).contains(&repetition), "repetition must be 1 or 2, got {repetition}");
        ClipSpec { actor, emotion, intensity, statement, repetition }
    }

    /// `03-01-EE-II-SS-RR-AA.wav`.
    pub fn file_name(&self) -> String {
        format!("03-01-{:02}-{:02}-{:02}-{:02}-{:02}.wav", self.emotion + 1, self.intensity, self.statement, self.repetition, self.actor)
    }

    /// `Actor_AA`.
    pub fn folder(&self) -> String {
        format!("Actor_{:02}", self.actor)
    }
}

/// One synthesized clip: 16 kHz mono samples in [-1, 1] and the identity they were made for.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthClip {
    /// `03-01-EE-II-SS-RR-AA.wav`.
    pub file_name: String,
    pub actor: u8,
    /// Class index 0..8.
    pub emotion: u8,
    pub intensity: u8,
    pub statement: u8,
    pub repetition: u8,
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

/// The 1440 identities, actor by actor, then emotion, intensity, statement, repetition.
pub fn corpus_specs() -> Vec<ClipSpec> {
    let mut specs = Vec::with_capacity(CORPUS_CLIPS);
    for actor in 1..=ACTORS {
        for emotion in 0..EMOTIONS {
            let intensities: &[u8] = if emotion == 0 { &[1] } else { &[1, 2] };
            for &intensity in intensities {
                for statement in 1..=2 {
                    for repetition in 1..=2 {
                        specs.push(ClipSpec::new(actor, emotion, intensity, statement, repetition));
                    }
                }
            }
        }
    }
    specs
}

/// SplitMix64's finaliser: a bijection on u64 that scrambles every input bit into every output bit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for one purpose (`parts`) under the corpus seed: different parts, unrelated streams.
fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix64(seed), |h, &p| mix64(h ^ p.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// Tags keeping the speaker and clip seed streams apart.
const SPEAKER_STREAM: u64 = 1;
const CLIP_STREAM: u64 = 2;

/// Synthesizes one clip. Codes as in [`ClipSpec`]; the result depends only on the arguments.
pub fn synthesize_clip(seed: u64, actor: u8, emotion: u8, intensity: u8, statement: u8, repetition: u8) -> SynthClip {
    let spec = ClipSpec::new(actor, emotion, intensity, statement, repetition);
    let speaker = Speaker::of_actor(derive_seed(seed, &[SPEAKER_STREAM, actor as u64]), actor);
    let identity = [CLIP_STREAM, actor as u64, emotion as u64, intensity as u64, statement as u64, repetition as u64];
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, &identity));
    let intensity_factor = if intensity == 2 { STRONG_INTENSITY } else { 1.0 };
    let style = Style::of_emotion(emotion).exaggerated(intensity_factor * speaker.expressiveness).varied(&mut rng);
    let samples = render(sentence(statement), &style, &speaker, &mut rng);
    SynthClip { file_name: spec.file_name(), actor, emotion, intensity, statement, repetition, sample_rate: SAMPLE_RATE, samples }
}

fn synthesize_spec(seed: u64, spec: &ClipSpec) -> SynthClip {
    synthesize_clip(seed, spec.actor, spec.emotion, spec.intensity, spec.statement, spec.repetition)
}

/// All 1440 clips in [`corpus_specs`] order, synthesized in parallel.
pub fn synthesize_corpus(seed: u64) -> Vec<SynthClip> {
    corpus_specs().par_iter().map(|spec| synthesize_spec(seed, spec)).collect()
}

/// Synthesizes the corpus into `dir/Actor_AA/03-01-...wav` (in parallel, one clip in memory per
/// thread); returns the number of files written.
pub fn write_corpus(dir: &Path, seed: u64) -> io::Result<usize> {
    let specs = corpus_specs();
    for actor in 1..=ACTORS {
        fs::create_dir_all(dir.join(format!("Actor_{actor:02}")))?;
    }
    specs.par_iter().try_for_each(|spec| {
        let clip = synthesize_spec(seed, spec);
        let path = dir.join(spec.folder()).join(&clip.file_name);
        write_wav(&path, &Audio { samples: clip.samples, sample_rate: clip.sample_rate }).map_err(io::Error::other)
    })?;
    Ok(specs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_follows_ravdess() {
        let spec = ClipSpec::new(7, 4, 2, 1, 2);
        assert_eq!(spec.file_name(), "03-01-05-02-01-02-07.wav");
        assert_eq!(spec.folder(), "Actor_07");
    }

    #[test]
    #[should_panic(expected = "neutral has no strong intensity")]
    fn strong_neutral_does_not_exist() {
        ClipSpec::new(1, 0, 2, 1, 1);
    }

    #[test]
    fn derived_seeds_differ_per_part() {
        let a = derive_seed(1, &[CLIP_STREAM, 1, 0, 1, 1, 1]);
        assert_ne!(a, derive_seed(1, &[CLIP_STREAM, 1, 0, 1, 1, 2]));
        assert_ne!(a, derive_seed(2, &[CLIP_STREAM, 1, 0, 1, 1, 1]));
        assert_ne!(derive_seed(1, &[SPEAKER_STREAM, 3]), derive_seed(1, &[CLIP_STREAM, 3]));
    }
}
