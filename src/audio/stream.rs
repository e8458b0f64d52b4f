//! Audio as a stream: WAV or raw PCM decoded block by block from any reader, and sample-rate
//! conversion chunk by chunk, so a recording of any length passes through in bounded memory.
//!
//! Samples are scaled as [`read_wav`](super::read_wav) scales them (integer PCM divided by
//! 2^(bits-1), 8-bit PCM unsigned around 128, float as is, finite and within
//! [`FLOAT_SAMPLE_LIMIT`](super::FLOAT_SAMPLE_LIMIT)), so a file read either way gives the same
//! numbers.
//!
//! A WAV stream written into a pipe cannot know its length; `arecord` and `ffmpeg` write a
//! placeholder there (0, or about 2^31 or 2^32 bytes). A declared data size of 0 or of at least
//! [`OPEN_ENDED_DATA_BYTES`] is read as "until the stream ends"; any other size is a promise, and
//! a stream that ends before keeping it is truncated.

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::wav::{check_riff_wave_magic, checked_sample, mix_to_mono, parse_fmt_body};
use super::{AudioError, SAMPLE_RATE_RANGE};

/// Bytes read from the source per block (rounded down to whole frames when decoded).
const BLOCK_BYTES: usize = 64 * 1024;
/// A declared data size from this many bytes up is a streaming placeholder, not a length.
pub const OPEN_ENDED_DATA_BYTES: u64 = 0x7fff_0000;
/// The most header bytes (chunks before `data`) a WAV stream may carry.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// How one sample is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcmEncoding {
    /// Unsigned 8-bit, silence at 128 (WAV's 8-bit PCM).
    U8,
    S16Le,
    S24Le,
    S32Le,
    /// IEEE float, little-endian.
    F32Le,
}

impl PcmEncoding {
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            PcmEncoding::U8 => 1,
            PcmEncoding::S16Le => 2,
            PcmEncoding::S24Le => 3,
            PcmEncoding::S32Le | PcmEncoding::F32Le => 4,
        }
    }

    /// One sample, scaled like [`read_wav`](super::read_wav); `b` holds exactly [`Self::bytes`] bytes.
    fn decode(self, b: &[u8]) -> f32 {
        let scaled = |s: i32, bits: u32| (s as f64 / (1u64 << (bits - 1)) as f64) as f32;
        match self {
            PcmEncoding::U8 => scaled(b[0] as i32 - 128, 8),
            PcmEncoding::S16Le => scaled(i16::from_le_bytes([b[0], b[1]]) as i32, 16),
            // Shift the three bytes into the top of an i32 and back down to sign-extend them.
            PcmEncoding::S24Le => scaled(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8, 24),
            PcmEncoding::S32Le => scaled(i32::from_le_bytes([b[0], b[1], b[2], b[3]]), 32),
            PcmEncoding::F32Le => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

/// Interleaved PCM read block by block from `reader`: raw, or the data chunk of a WAV stream.
pub struct PcmStream<R> {
    reader: R,
    /// What error messages call the source.
    name: String,
    pub encoding: PcmEncoding,
    pub channels: usize,
    pub sample_rate: u32,
    /// Data bytes the header declared (None: until the stream ends).
    declared: Option<u64>,
    /// Data bytes read so far.
    consumed: u64,
    /// Interleaved samples decoded so far (indexes error messages).
    samples_decoded: usize,
    /// Bytes read but not yet decoded (less than a frame between calls).
    buffer: Vec<u8>,
    filled: usize,
    /// When set (by a signal handler), the stream ends at the next read as if the input had.
    stop: Option<&'static AtomicBool>,
}

impl<R: Read> PcmStream<R> {
    /// Headerless PCM of the given layout.
    pub fn raw(reader: R, name: &str, encoding: PcmEncoding, sample_rate: u32, channels: usize) -> Result<Self, AudioError> {
        if !SAMPLE_RATE_RANGE.contains(&sample_rate) {
            return Err(AudioError::SampleRateOutOfRange { name: name.to_string(), rate: sample_rate });
        }
        if channels == 0 || channels > u16::MAX as usize {
            return Err(AudioError::Malformed { name: name.to_string(), reason: "the channel count must be 1 to 65535" });
        }
        Ok(Self::new(reader, name, encoding, sample_rate, channels, None))
    }

    /// A WAV stream: reads its header up to the `data` chunk, leaving the samples unread.
    pub fn wav(mut reader: R, name: &str) -> Result<Self, AudioError> {
        let named = || name.to_string();
        let mut header = vec![0u8; 12];
        let got = read_full(&mut reader, &mut header, name)?;
        if got == 0 {
            return Err(AudioError::Empty { name: named() });
        }
        check_riff_wave_magic(&header[..got], name)?;
        // Walk the chunks up to `data`, keeping the `fmt ` chunk.
        let mut fmt = None;
        let data_bytes = loop {
            let mut chunk_header = [0u8; 8];
            if read_full(&mut reader, &mut chunk_header, name)? < 8 {
                return Err(AudioError::TruncatedHeader { name: named() });
            }
            let size = u32::from_le_bytes(chunk_header[4..8].try_into().expect("four bytes"));
            if &chunk_header[..4] == b"data" {
                break size as u64;
            }
            // Chunks are padded to an even length.
            let padded = size as usize + (size as usize & 1);
            if header.len() + 8 + padded > MAX_HEADER_BYTES {
                return Err(AudioError::Malformed { name: named(), reason: "more than 1 MiB of chunks before the data" });
            }
            let mut body = vec![0u8; padded];
            if read_full(&mut reader, &mut body, name)? < padded {
                return Err(AudioError::TruncatedHeader { name: named() });
            }
            if &chunk_header[..4] == b"fmt " && fmt.is_none() {
                fmt = Some(
                    parse_fmt_body(&body[..size as usize]).ok_or(AudioError::Malformed { name: named(), reason: "fmt chunk too short" })?,
                );
            }
            header.extend_from_slice(&chunk_header);
            header.extend_from_slice(&body);
        };
        let fmt = fmt.ok_or(AudioError::Malformed { name: named(), reason: "no fmt chunk before the data chunk" })?;
        let encoding = match (fmt.encoding.as_str(), fmt.bits) {
            ("PCM", 8) => PcmEncoding::U8,
            ("PCM", 16) => PcmEncoding::S16Le,
            ("PCM", 24) => PcmEncoding::S24Le,
            ("PCM", 32) => PcmEncoding::S32Le,
            ("float", 32) => PcmEncoding::F32Le,
            _ => return Err(AudioError::UnsupportedEncoding { name: named(), bits: fmt.bits, encoding: fmt.encoding }),
        };
        if !SAMPLE_RATE_RANGE.contains(&fmt.sample_rate) {
            return Err(AudioError::SampleRateOutOfRange { name: named(), rate: fmt.sample_rate });
        }
        if fmt.channels == 0 {
            return Err(AudioError::Malformed { name: named(), reason: "zero channels" });
        }
        if fmt.block_align as usize != fmt.channels as usize * encoding.bytes() {
            return Err(AudioError::Malformed { name: named(), reason: "block align is not channels x bytes per sample" });
        }
        let declared = (data_bytes != 0 && data_bytes < OPEN_ENDED_DATA_BYTES).then_some(data_bytes);
        Ok(Self::new(reader, name, encoding, fmt.sample_rate, fmt.channels as usize, declared))
    }

    fn new(reader: R, name: &str, encoding: PcmEncoding, sample_rate: u32, channels: usize, declared: Option<u64>) -> Self {
        let frame = encoding.bytes() * channels;
        let capacity = (BLOCK_BYTES / frame).max(1) * frame;
        PcmStream {
            reader,
            name: name.to_string(),
            encoding,
            channels,
            sample_rate,
            declared,
            consumed: 0,
            samples_decoded: 0,
            buffer: vec![0; capacity],
            filled: 0,
            stop: None,
        }
    }

    /// Ends the stream, as if the input had ended, once `flag` is set (e.g. by Ctrl-C).
    pub fn stop_when(mut self, flag: &'static AtomicBool) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Bytes per frame (one sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        self.encoding.bytes() * self.channels
    }

    /// Appends the next block's frames to `out`, interleaved; returns how many frames it added,
    /// 0 at the end of the stream. A stream that ends inside a frame, or before the data size its
    /// header declared, is an error naming the source.
    pub fn read_frames(&mut self, out: &mut Vec<f32>) -> Result<usize, AudioError> {
        let frame = self.frame_bytes();
        loop {
            let stopped = self.stop.is_some_and(|f| f.load(Ordering::Relaxed));
            let room = match self.declared {
                Some(d) => (d - self.consumed).min((self.buffer.len() - self.filled) as u64) as usize,
                None => self.buffer.len() - self.filled,
            };
            let read = if stopped || room == 0 {
                0
            } else {
                match self.reader.read(&mut self.buffer[self.filled..self.filled + room]) {
                    Ok(n) => n,
                    // A signal (Ctrl-C) interrupted the read: end if it asked to stop, else retry.
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(error) => return Err(AudioError::Io { path: self.name.clone().into(), error }),
                }
            };
            if read == 0 {
                if stopped {
                    return Ok(0);
                }
                if self.filled > 0 {
                    return Err(AudioError::EndsMidFrame { name: self.name.clone(), bytes: self.filled, frame_bytes: frame });
                }
                if let Some(d) = self.declared.filter(|&d| self.consumed < d) {
                    let per_sample = self.encoding.bytes() as u64;
                    return Err(AudioError::TruncatedData {
                        name: self.name.clone(),
                        expected: (d / per_sample) as usize,
                        actual: (self.consumed / per_sample) as usize,
                    });
                }
                return Ok(0);
            }
            self.filled += read;
            self.consumed += read as u64;
            let whole = self.filled / frame * frame;
            if whole == 0 {
                continue;
            }
            let start = out.len();
            out.reserve(whole / self.encoding.bytes());
            for bytes in self.buffer[..whole].chunks_exact(self.encoding.bytes()) {
                let value = self.encoding.decode(bytes);
                out.push(checked_sample(value, self.samples_decoded + out.len() - start, &self.name)?);
            }
            self.samples_decoded += out.len() - start;
            self.buffer.copy_within(whole..self.filled, 0);
            self.filled -= whole;
            return Ok(whole / frame);
        }
    }

    /// Appends the next block as one mono channel (the mean of the channels, as `read_wav` mixes).
    pub fn read_mono(&mut self, scratch: &mut Vec<f32>, out: &mut Vec<f32>) -> Result<usize, AudioError> {
        scratch.clear();
        let frames = self.read_frames(scratch)?;
        if self.channels == 1 {
            out.extend_from_slice(scratch);
        } else {
            out.extend(mix_to_mono(scratch, self.channels));
        }
        Ok(frames)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8], name: &str) -> Result<usize, AudioError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(AudioError::Io { path: name.into(), error }),
        }
    }
    Ok(got)
}

/// Chunk-by-chunk sample-rate conversion of interleaved audio with rubato's FFT resampler, the
/// same filter as [`resample`](fn@super::resample) (its FFT block of about 1024 input frames
/// bounds the delay to a few tens of milliseconds).
///
/// The resampler's startup delay is dropped, so output frame j sits at input time
/// `j * from / to`, and [`StreamResampler::finish`] makes the total `round(frames * to / from)`,
/// as [`resample`](fn@super::resample) does for a whole clip.
pub struct StreamResampler {
    /// None when the rates are equal (frames pass through).
    resampler: Option<Fft<f32>>,
    from_hz: u32,
    to_hz: u32,
    channels: usize,
    /// Interleaved input not yet resampled (less than a chunk between calls).
    pending: Vec<f32>,
    /// One chunk of interleaved output.
    chunk_out: Vec<f32>,
    /// Output frames of startup delay still to drop.
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    pub fn new(from_hz: u32, to_hz: u32, channels: usize) -> Result<Self, AudioError> {
        let rubato_error = |reason: String| AudioError::Resample { from_hz, to_hz, reason };
        if from_hz == 0 || to_hz == 0 {
            return Err(rubato_error("sample rates must be positive".into()));
        }
        let resampler =
            if from_hz == to_hz { None } else { Some(super::resample::fft_resampler::<f32>(from_hz, to_hz, channels, FixedSync::Input)?) };
        let delay_left = resampler.as_ref().map_or(0, |r| r.output_delay());
        let chunk_out = vec![0.0; resampler.as_ref().map_or(0, |r| r.output_frames_max()) * channels];
        Ok(StreamResampler { resampler, from_hz, to_hz, channels, pending: Vec::new(), chunk_out, delay_left, frames_in: 0, frames_out: 0 })
    }

    /// Resamples whole chunks of `interleaved` (and what was left over before), appending the
    /// output frames to `out`; keeps the remainder for the next call.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.frames_in += (interleaved.len() / self.channels) as u64;
        if self.resampler.is_none() {
            self.frames_out += (interleaved.len() / self.channels) as u64;
            out.extend_from_slice(interleaved);
            return Ok(());
        }
        self.pending.extend_from_slice(interleaved);
        let mut offset = 0;
        loop {
            let need = self.resampler.as_ref().expect("checked above").input_frames_next();
            if (self.pending.len() - offset) / self.channels < need {
                break;
            }
            let used = self.process(offset, None, out)?;
            offset += used * self.channels;
        }
        self.pending.drain(..offset);
        Ok(())
    }

    /// Resamples what is left, padding with silence, and appends the frames that complete
    /// `round(frames_in * to / from)`.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        if self.resampler.is_none() {
            return Ok(());
        }
        let (from, to) = (self.from_hz as u128, self.to_hz as u128);
        let total = ((self.frames_in as u128 * to + from / 2) / from) as u64;
        let mut partial = self.pending.len() / self.channels;
        while self.frames_out < total {
            self.process(0, Some(partial), out)?;
            self.pending.clear();
            partial = 0;
        }
        // The last chunk can hold more than the total; drop the excess.
        let excess = (self.frames_out - total) as usize;
        out.truncate(out.len() - excess * self.channels);
        self.frames_out = total;
        Ok(())
    }

    /// One chunk from `pending[offset..]` (`partial`: that many real frames, silence after);
    /// returns the input frames it consumed.
    fn process(&mut self, offset: usize, partial: Option<usize>, out: &mut Vec<f32>) -> Result<usize, AudioError> {
        let (from_hz, to_hz, channels) = (self.from_hz, self.to_hz, self.channels);
        let rubato_error = |reason: String| AudioError::Resample { from_hz, to_hz, reason };
        let resampler = self.resampler.as_mut().expect("only called when resampling");
        let available = (self.pending.len() - offset) / channels;
        let input = InterleavedSlice::new(&self.pending[offset..], channels, available).map_err(|e| rubato_error(e.to_string()))?;
        let out_frames = self.chunk_out.len() / channels;
        let mut output = InterleavedSlice::new_mut(&mut self.chunk_out, channels, out_frames).map_err(|e| rubato_error(e.to_string()))?;
        let indexing = partial.map(|p| Indexing::new().partial_len(p));
        let (used, produced) =
            resampler.process_into_buffer(&input, &mut output, indexing.as_ref()).map_err(|e| rubato_error(e.to_string()))?;
        let dropped = self.delay_left.min(produced);
        self.delay_left -= dropped;
        out.extend_from_slice(&self.chunk_out[dropped * channels..produced * channels]);
        self.frames_out += (produced - dropped) as u64;
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_matches_the_wav_readers_scaling() {
        assert_eq!(PcmEncoding::U8.decode(&[0]), -1.0);
        assert_eq!(PcmEncoding::U8.decode(&[128]), 0.0);
        assert_eq!(PcmEncoding::S16Le.decode(&(-16384i16).to_le_bytes()), -0.5);
        assert_eq!(PcmEncoding::S24Le.decode(&[0, 0, 0xc0]), -0.5);
        assert_eq!(PcmEncoding::S24Le.decode(&[0, 0, 0x40]), 0.5);
        assert_eq!(PcmEncoding::S32Le.decode(&i32::MIN.to_le_bytes()), -1.0);
        assert_eq!(PcmEncoding::F32Le.decode(&0.25f32.to_le_bytes()), 0.25);
    }

    #[test]
    fn streamed_resampling_has_the_rounded_length_and_keeps_a_tone_in_place() {
        for (from, to) in [(48_000u32, 16_000u32), (44_100, 16_000), (8_000, 16_000), (16_000, 16_000)] {
            let len = 3 * from as usize / 2 + 7;
            let tone: Vec<f32> = (0..len).map(|i| (2.0 * std::f32::consts::PI * 300.0 * i as f32 / from as f32).sin()).collect();
            let mut resampler = StreamResampler::new(from, to, 1).unwrap();
            let mut out = Vec::new();
            // Irregular pushes: the result must not depend on how the input was cut.
            let mut rest = &tone[..];
            for size in [1usize, 999, 17, 4096, 3].iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (head, tail) = rest.split_at((*size).min(rest.len()));
                resampler.push(head, &mut out).unwrap();
                rest = tail;
            }
            resampler.finish(&mut out).unwrap();
            let expected_len = ((len as u64 * to as u64 + from as u64 / 2) / from as u64) as usize;
            assert_eq!(out.len(), expected_len, "{from} -> {to}");
            let worst = (200..out.len() - 200)
                .map(|j| (out[j] - (2.0 * std::f32::consts::PI * 300.0 * j as f32 / to as f32).sin()).abs())
                .fold(0.0, f32::max);
            // rubato states its delay in whole output frames; for a ratio like 441:160 the true
            // delay is fractional, so the tone may sit up to half a sample off: at 300 Hz and
            // 16 kHz that is a deviation of up to sin(pi * 300 / 16000) = 0.059.
            assert!(worst < 0.06, "{from} -> {to}: worst deviation {worst}");
        }
    }

    #[test]
    fn streamed_resampling_gives_the_whole_clip_resamplers_samples() {
        // Broadband input (every frequency up to the input's Nyquist), so a filter that rolls off
        // earlier than the whole-clip one shows up as a difference near 8 kHz.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for (from, to) in [(48_000u32, 16_000u32), (44_100, 16_000), (22_050, 16_000), (8_000, 16_000)] {
            let noise: Vec<f32> = (0..2 * from as usize + 123)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let whole = super::super::resample(&noise, from, to).unwrap();
            let mut resampler = StreamResampler::new(from, to, 1).unwrap();
            let mut streamed = Vec::new();
            for chunk in noise.chunks(777) {
                resampler.push(chunk, &mut streamed).unwrap();
            }
            resampler.finish(&mut streamed).unwrap();
            assert_eq!(streamed.len(), whole.len(), "{from} -> {to}");
            let worst = whole.iter().zip(&streamed).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            // The same filter in f32 against f64; the shorter filter of 256-frame blocks differs by 0.2.
            assert!(worst < 1e-4, "{from} -> {to}: worst difference {worst}");
        }
    }
}
