//! Voice activity detection: keep the 20 ms frames WebRTC's VAD calls speech.
//!
//! As the study's authors did: the clip (already at 16 kHz) is cut into 320-sample frames, the last
//! partial frame is zero-padded to full length, each frame is converted to 16-bit PCM and judged by
//! one WebRTC VAD instance in aggressiveness mode 2, and the speech frames are concatenated. The
//! VAD adapts its noise estimate as it goes, so frames are judged in order by the same instance.

use webrtc_vad::{SampleRate, Vad, VadMode};

use super::wav::to_pcm16;
use super::AudioError;

/// The only rate the trimmer runs at (WebRTC's VAD supports 8/16/32/48 kHz; the study used 16).
pub const VAD_SAMPLE_RATE: u32 = 16_000;
/// 20 ms at 16 kHz.
pub const VAD_FRAME_LEN: usize = 320;

/// Keeps the speech frames of a 16 kHz clip; the result's length is a multiple of
/// [`VAD_FRAME_LEN`]. A clip with no speech frame is [`AudioError::NoSpeech`], naming `name`.
///
/// Panics if `sample_rate` is not [`VAD_SAMPLE_RATE`]: resampling first is the caller's job.
pub fn vad_trim(samples: &[f32], sample_rate: u32, name: &str) -> Result<Vec<f32>, AudioError> {
    assert_eq!(sample_rate, VAD_SAMPLE_RATE, "vad_trim needs 16 kHz audio (expected {VAD_SAMPLE_RATE}, actual {sample_rate})");
    // `VadMode::Aggressive` is WebRTC mode 2 (the crate's enum is Quality = 0 .. VeryAggressive = 3).
    let mut vad = Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, VadMode::Aggressive);
    let mut kept = Vec::new();
    let mut frames = 0;
    let mut pcm = [0i16; VAD_FRAME_LEN];
    for chunk in samples.chunks(VAD_FRAME_LEN) {
        frames += 1;
        let mut frame = [0f32; VAD_FRAME_LEN];
        frame[..chunk.len()].copy_from_slice(chunk);
        for (p, &x) in pcm.iter_mut().zip(&frame) {
            *p = to_pcm16(x);
        }
        let is_speech = vad.is_voice_segment(&pcm).expect("320 samples is a valid 20 ms frame at 16 kHz");
        if is_speech {
            kept.extend_from_slice(&frame);
        }
    }
    if kept.is_empty() {
        return Err(AudioError::NoSpeech { name: name.to_string(), frames });
    }
    Ok(kept)
}
