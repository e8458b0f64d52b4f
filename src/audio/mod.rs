//! The audio front end: read a clip, bring it to the model's rate, keep the speech, augment it.
//!
//! The pipeline per clip is
//! `read_wav` (any WAV -> mono f32 in [-1, 1]) -> `resample` (to 16 kHz) -> `vad_trim` (speech
//! frames only) -> optionally `add_noise` / `pitch_shift` / `speed_perturb` (training-set augmentation)
//! or a channel corruption from `corrupt` (noise at an SNR, telephone, reverberation, level).
//!
//! For long recordings and live input, `stream` decodes WAV or raw PCM block by block and
//! resamples chunk by chunk, `segment` cuts the 16 kHz stream into utterances with the same
//! WebRTC VAD, and `envelope` keeps a bounded outline of the signal for plots.
//!
//! Everything here works on mono `f32` samples; the DSP inside `pitch_shift` runs in `f64`.
//! Bad input (a file that is not a usable WAV, a clip with no speech) is an [`AudioError`] whose
//! message names the clip, so a data loader can report it and move on.

pub mod augment;
pub mod corrupt;
pub mod enhance;
pub mod envelope;
pub mod mic;
pub mod resample;
pub mod segment;
pub mod stream;
pub mod vad;
pub mod wav;

use std::path::PathBuf;

pub use augment::{add_noise, pitch_shift, speed_perturb};
pub use resample::resample;
pub use vad::vad_trim;
pub use wav::{quantize_to_pcm16, read_wav, read_wav_bytes, write_wav};

/// A mono clip.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Mono samples scaled to [-1, 1].
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

/// Sample rates `read_wav` accepts; anything outside is a corrupt header, not audio.
pub const SAMPLE_RATE_RANGE: std::ops::RangeInclusive<u32> = 1000..=384_000;

/// The largest magnitude `read_wav` accepts for a float sample. Float WAVs are nominally within
/// ±1 and may overshoot; 2^16 still admits files holding integer-scaled values as floats, while
/// far larger samples overflow the f32 features (a power spectrum grows with their square).
pub const FLOAT_SAMPLE_LIMIT: f32 = 65_536.0;

/// Why a clip could not be read, written or processed. Every message starts with the clip's name.
#[derive(thiserror::Error, Debug)]
pub enum AudioError {
    /// The operating system refused to read or write the file. The OS error is part of the
    /// message rather than a chained source, so `{:#}` does not print it twice.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// The bytes do not start with a RIFF/WAVE header.
    #[error("{name}: not a WAV file (no RIFF/WAVE header)")]
    NotWav { name: String },
    /// The file ends inside its header.
    #[error("{name}: truncated WAV header")]
    TruncatedHeader { name: String },
    /// A stream ends inside a frame: some but not all bytes of one sample of every channel.
    #[error("{name}: the stream ends mid-sample ({bytes} bytes of a {frame_bytes}-byte frame)")]
    EndsMidFrame { name: String, bytes: usize, frame_bytes: usize },
    /// The header promises more samples than the file holds.
    #[error("{name}: truncated: the header declares {expected} samples but the file holds {actual}")]
    TruncatedData { name: String, expected: usize, actual: usize },
    /// The header is inconsistent (hound's diagnosis).
    #[error("{name}: malformed WAV header: {reason}")]
    Malformed { name: String, reason: &'static str },
    /// A sample encoding other than 8/16/24/32-bit PCM or 32-bit float.
    #[error("{name}: {bits}-bit {encoding} is not a supported encoding")]
    UnsupportedEncoding { name: String, bits: u16, encoding: String },
    /// The data chunk is empty.
    #[error("{name}: contains no samples")]
    Empty { name: String },
    /// A float sample is NaN or infinite; `index` counts interleaved samples from the start.
    #[error("{name}: sample {index} is {value}")]
    NonFinite { name: String, index: usize, value: f32 },
    /// A float sample's magnitude exceeds [`FLOAT_SAMPLE_LIMIT`].
    #[error("{name}: sample {index} is {value:e}, beyond the ±{} a float WAV may hold (nominally ±1)", FLOAT_SAMPLE_LIMIT)]
    SampleOutOfRange { name: String, index: usize, value: f32 },
    /// The header's sample rate is outside [`SAMPLE_RATE_RANGE`].
    #[error("{name}: sample rate {rate} Hz is out of range (1000..=384000)")]
    SampleRateOutOfRange { name: String, rate: u32 },
    /// Voice activity detection judged no frame of the clip to be speech.
    #[error("{name}: no speech found in {frames} frames of 20 ms")]
    NoSpeech { name: String, frames: usize },
    /// The resampler could not be built or failed (rubato's message).
    #[error("resampling {from_hz} Hz -> {to_hz} Hz: {reason}")]
    Resample { from_hz: u32, to_hz: u32, reason: String },
    /// A channel corruption could not be applied to the clip.
    #[error("{name}: {error}")]
    Corrupt { name: String, error: corrupt::CorruptError },
}
