//! A built-in synthetic emotional-speech corpus laid out like RAVDESS, so the study runs end to
//! end without the real data.
//!
//! Each clip is one of the two RAVDESS sentences, spoken by a source-filter synthesizer:
//!
//! ```text
//! phones + timing ──> formant targets ──┐
//!                                        v
//! F0 contour ──> Rosenberg pulses ──> tilt ──> + breath noise ──> F1..F4 cascade ──┐
//!                (jitter, shimmer)               + aspiration                      ├──> + ──> peak level
//!                        frication / burst noise ──> noise resonator ─────────────┘
//! ```
//!
//! - [`phonetics`]: the sentences as syllables of phones, each phone's formant targets and timing.
//! - [`style`]: actors' voices and emotions' prosody and voice quality, from the acoustic
//!   literature, and how intensity, speaker and clip vary them.
//! - [`voice`]: the glottal source and the formant resonator.
//! - [`render`]: timeline, F0 contour, the sample loop and the output level.
//! - [`corpus`]: RAVDESS identities, file names, seeding, parallel generation, WAV writing.
//! - [`measure`]: RMS and autocorrelation F0, for checking what came out.
//!
//! The numbers are meant to make the task learnable but not trivial: emotions differ in the
//! directions the literature reports, while speaker and per-clip variation make them overlap.

pub mod corpus;
pub mod measure;
pub mod phonetics;
pub mod render;
pub mod style;
pub mod voice;

pub use corpus::{corpus_specs, synthesize_clip, synthesize_corpus, write_corpus, ClipSpec, SynthClip, CORPUS_CLIPS};
pub use render::SAMPLE_RATE;
pub use style::EMOTION_NAMES;
