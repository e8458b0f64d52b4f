//! WAV in and out, with the decoding conventions of soundfile (and so librosa).
//!
//! Reading accepts 8/16/24/32-bit integer PCM and 32-bit IEEE float (finite, within
//! [`FLOAT_SAMPLE_LIMIT`]), any channel count and any sample rate in [`SAMPLE_RATE_RANGE`]. Integer samples are divided by 2^(bits-1), so 16-bit
//! values land on k/32768 exactly as `soundfile.read(..., dtype="float32")` gives them; channels
//! are averaged into mono like `librosa.to_mono` (a float32 sum, then a divide).
//!
//! Writing always produces 16-bit PCM mono, through a temporary file renamed into place, so a
//! crash never leaves a half-written WAV where a finished one is expected.

use std::io::Cursor;
use std::path::Path;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use super::{Audio, AudioError, FLOAT_SAMPLE_LIMIT, SAMPLE_RATE_RANGE};

/// Reads a WAV file into mono samples in [-1, 1]. Errors name the file by its path.
pub fn read_wav(path: &Path) -> Result<Audio, AudioError> {
    let bytes = std::fs::read(path).map_err(|error| AudioError::Io { path: path.to_path_buf(), error })?;
    read_wav_bytes(&bytes, &path.display().to_string())
}

/// The sample rate a WAV file's header declares, without decoding its samples; None when the
/// file cannot be read as a WAV (reading it in full then says why).
pub fn wav_sample_rate(path: &Path) -> Option<u32> {
    WavReader::open(path).ok().map(|reader| reader.spec().sample_rate)
}

/// Decodes WAV bytes already in memory; `name` is what error messages call the clip.
pub fn read_wav_bytes(bytes: &[u8], name: &str) -> Result<Audio, AudioError> {
    let named = || name.to_string();
    check_riff_wave_magic(bytes, name)?;
    let mut reader = WavReader::new(Cursor::new(bytes)).map_err(|e| header_error(e, bytes, name))?;
    let spec = reader.spec();
    if !SAMPLE_RATE_RANGE.contains(&spec.sample_rate) {
        return Err(AudioError::SampleRateOutOfRange { name: named(), rate: spec.sample_rate });
    }
    let interleaved = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let full_scale = (1u64 << (bits - 1)) as f64;
            decode_samples(&mut reader, bytes.len(), name, |s: i32| (s as f64 / full_scale) as f32)?
        }
        (SampleFormat::Float, 32) => decode_samples(&mut reader, bytes.len(), name, |s: f32| s)?,
        (format, bits) => {
            let encoding = if format == SampleFormat::Int { "PCM" } else { "float" };
            return Err(AudioError::UnsupportedEncoding { name: named(), bits, encoding: encoding.into() });
        }
    };
    Ok(Audio { samples: mix_to_mono(&interleaved, spec.channels as usize), sample_rate: spec.sample_rate })
}

/// Writes `audio` as 16-bit PCM mono, atomically (see [`crate::fsio::write_atomic`]).
///
/// Samples are clipped to [-1, 1] and scaled by 32768 (the inverse of reading), so a clip read from
/// a 16-bit file is written back bit for bit; only +1.0 itself clips to 32767.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<(), AudioError> {
    let spec = WavSpec { channels: 1, sample_rate: audio.sample_rate, bits_per_sample: 16, sample_format: SampleFormat::Int };
    let mut bytes = Cursor::new(Vec::with_capacity(44 + 2 * audio.samples.len()));
    // Encoding into memory fails only on a header hound cannot express (e.g. a sample rate of 0).
    let encoded = (|| {
        let mut writer = WavWriter::new(&mut bytes, spec)?;
        for &x in &audio.samples {
            writer.write_sample(to_pcm16(x))?;
        }
        writer.finalize()
    })();
    let io_error = |error| AudioError::Io { path: path.to_path_buf(), error };
    encoded.map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
    crate::fsio::write_atomic(path, bytes.get_ref()).map_err(io_error)
}

/// Rounds samples to the values a 16-bit WAV written by [`write_wav`] reads back as, so audio
/// scored in memory and the same audio saved and read again give the same features.
pub fn quantize_to_pcm16(samples: &mut [f32]) {
    for x in samples {
        *x = to_pcm16(*x) as f32 / 32768.0;
    }
}

/// A sample in [-1, 1] as 16-bit PCM: the inverse of reading (x * 32768), rounded, clipped.
pub fn to_pcm16(x: f32) -> i16 {
    (x.clamp(-1.0, 1.0) * 32768.0).round().min(i16::MAX as f32) as i16
}

/// Rejects anything that is not RIFF/WAVE before hound sees it, for a clearer message.
pub(super) fn check_riff_wave_magic(bytes: &[u8], name: &str) -> Result<(), AudioError> {
    let looks_like_riff = bytes.len() >= 4 && &bytes[..4] == b"RIFF";
    if !looks_like_riff {
        return Err(AudioError::NotWav { name: name.to_string() });
    }
    if bytes.len() < 12 {
        return Err(AudioError::TruncatedHeader { name: name.to_string() });
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(AudioError::NotWav { name: name.to_string() });
    }
    Ok(())
}

/// Translates hound's header errors: the reader is an in-memory cursor, so an I/O error can only
/// mean the bytes ran out; a format it refuses is reported by its encoding when we can name it.
fn header_error(error: hound::Error, bytes: &[u8], name: &str) -> AudioError {
    let name = name.to_string();
    if let hound::Error::IoError(_) = error {
        return AudioError::TruncatedHeader { name };
    }
    if let Some((encoding, bits)) = fmt_encoding(bytes) {
        let supported = matches!((encoding.as_str(), bits), ("PCM", 8 | 16 | 24 | 32) | ("float", 32));
        if !supported {
            return AudioError::UnsupportedEncoding { name, bits, encoding };
        }
    }
    let reason = match error {
        hound::Error::FormatError(reason) => reason,
        hound::Error::Unsupported => "unsupported format",
        _ => "unreadable header",
    };
    AudioError::Malformed { name, reason }
}

/// What a `fmt ` chunk declares.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct FmtChunk {
    /// "PCM", "float", or the name of another format tag.
    pub encoding: String,
    pub bits: u16,
    pub channels: u16,
    pub sample_rate: u32,
    /// Bytes per frame (all channels of one sample instant).
    pub block_align: u16,
}

/// The encoding and bits per sample declared by the `fmt ` chunk, found by walking the RIFF
/// chunks; `None` if there is no complete `fmt ` chunk.
fn fmt_encoding(bytes: &[u8]) -> Option<(String, u16)> {
    fmt_chunk(bytes).map(|f| (f.encoding, f.bits))
}

/// The first complete `fmt ` chunk of a RIFF/WAVE byte string (header included), parsed.
pub(super) fn fmt_chunk(bytes: &[u8]) -> Option<FmtChunk> {
    let mut offset = 12;
    while offset + 8 <= bytes.len() {
        let id = &bytes[offset..offset + 4];
        let size = u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().ok()?) as usize;
        let body = bytes.get(offset + 8..(offset + 8).checked_add(size)?)?;
        if id == b"fmt " {
            return parse_fmt_body(body);
        }
        // Chunks are padded to an even length.
        offset += 8 + size + (size & 1);
    }
    None
}

/// The fields of a `fmt ` chunk's body; `None` if it is too short for them.
pub(super) fn parse_fmt_body(body: &[u8]) -> Option<FmtChunk> {
    let u16_at = |i: usize| body.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    const EXTENSIBLE: u16 = 0xfffe;
    let mut tag = u16_at(0)?;
    let channels = u16_at(2)?;
    let sample_rate = u32::from_le_bytes(body.get(4..8)?.try_into().ok()?);
    let block_align = u16_at(12)?;
    let bits = u16_at(14)?;
    if tag == EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: the real tag is the first two bytes of the SubFormat GUID.
        tag = u16_at(24)?;
    }
    let encoding = match tag {
        0x0001 => "PCM".to_string(),
        0x0002 => "MS ADPCM".to_string(),
        0x0003 => "float".to_string(),
        0x0006 => "A-law".to_string(),
        0x0007 => "mu-law".to_string(),
        0x0011 => "IMA ADPCM".to_string(),
        other => format!("format 0x{other:04x}"),
    };
    Some(FmtChunk { encoding, bits, channels, sample_rate, block_align })
}

/// Reads every interleaved sample through `to_f32`, checking that the data is all there, finite
/// and within [`FLOAT_SAMPLE_LIMIT`]. `file_len` (bytes) bounds the allocation: the header's sample count is only a claim.
fn decode_samples<S: hound::Sample>(
    reader: &mut WavReader<Cursor<&[u8]>>,
    file_len: usize,
    name: &str,
    to_f32: impl Fn(S) -> f32,
) -> Result<Vec<f32>, AudioError> {
    let expected = reader.len() as usize;
    if expected == 0 {
        return Err(AudioError::Empty { name: name.to_string() });
    }
    let mut samples = Vec::with_capacity(expected.min(file_len));
    for (index, sample) in reader.samples::<S>().enumerate() {
        let value = match sample {
            Ok(s) => to_f32(s),
            Err(_) => return Err(AudioError::TruncatedData { name: name.to_string(), expected, actual: index }),
        };
        samples.push(checked_sample(value, index, name)?);
    }
    Ok(samples)
}

/// A decoded sample if it is finite and within [`FLOAT_SAMPLE_LIMIT`]; `index` counts interleaved
/// samples from the start of the data, for the error message.
pub(super) fn checked_sample(value: f32, index: usize, name: &str) -> Result<f32, AudioError> {
    if !value.is_finite() {
        return Err(AudioError::NonFinite { name: name.to_string(), index, value });
    }
    if value.abs() > FLOAT_SAMPLE_LIMIT {
        return Err(AudioError::SampleOutOfRange { name: name.to_string(), index, value });
    }
    Ok(value)
}

/// Averages interleaved channels: (channels * frames) -> (frames).
pub(super) fn mix_to_mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_averages_each_frame() {
        assert_eq!(mix_to_mono(&[1.0, 0.0, -0.5, 0.5, 0.25, 0.75], 2), vec![0.5, 0.0, 0.5]);
        assert_eq!(mix_to_mono(&[0.3, 0.6, 0.9], 3), vec![(0.3f32 + 0.6 + 0.9) / 3.0]);
    }

    #[test]
    fn fmt_walk_skips_other_chunks_and_reads_extensible_subformat() {
        let mut bytes = b"RIFF\0\0\0\0WAVE".to_vec();
        bytes.extend(b"LIST\x03\0\0\0abc\0"); // odd-sized chunk plus its pad byte
        let mut fmt = vec![0u8; 40];
        fmt[..2].copy_from_slice(&0xfffeu16.to_le_bytes());
        fmt[14..16].copy_from_slice(&24u16.to_le_bytes());
        fmt[24..26].copy_from_slice(&3u16.to_le_bytes());
        bytes.extend(b"fmt \x28\0\0\0");
        bytes.extend(fmt);
        assert_eq!(fmt_encoding(&bytes), Some(("float".to_string(), 24)));
    }
}
