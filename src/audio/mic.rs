//! A capture device as a stream (`ser listen --mic`): the device's callback hands each block of
//! samples, in whatever format, rate and channel count the device gives, to a channel; the
//! listening thread reads them back as 32-bit float little-endian bytes, so the device enters
//! the same path as raw PCM on standard input ([`PcmStream::raw`](super::stream::PcmStream::raw)
//! with [`PcmEncoding::F32Le`](super::stream::PcmEncoding::F32Le)), which resamples and segments
//! any rate and channel count.
//!
//! The sample conversion and the reader need no device and are always built (and tested); the
//! capture itself uses cpal and is built only with the cargo feature `mic`.

use std::io::{ErrorKind, Read};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// How long a read waits for the device before returning [`ErrorKind::Interrupted`], so the
/// stream above it looks at its stop flag (Ctrl-C) at least this often even when the device
/// sends nothing.
pub const POLL: Duration = Duration::from_millis(50);

/// A sample a capture device may deliver, scaled as [`read_wav`](super::read_wav) scales WAV
/// samples: signed integers divided by 2^(bits-1), unsigned ones centred on their midpoint
/// first, floats as they are.
pub trait DeviceSample: Copy {
    fn to_f32(self) -> f32;
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl DeviceSample for $t {
            fn to_f32(self) -> f32 {
                (self as f64 / (1u64 << (<$t>::BITS - 1)) as f64) as f32
            }
        }
    )*};
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl DeviceSample for $t {
            fn to_f32(self) -> f32 {
                let half = 1u64 << (<$t>::BITS - 1);
                ((self as f64 - half as f64) / half as f64) as f32
            }
        }
    )*};
}

signed!(i8, i16, i32, i64);
unsigned!(u8, u16, u32, u64);

impl DeviceSample for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}

impl DeviceSample for f64 {
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// A 24-bit signed sample held in the low bits of an `i32` (sign-extended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int24(pub i32);

impl DeviceSample for Int24 {
    fn to_f32(self) -> f32 {
        (self.0 as f64 / (1u64 << 23) as f64) as f32
    }
}

/// Interleaved device samples as 32-bit float little-endian bytes, appended to `out`.
pub fn push_f32le<T: DeviceSample>(samples: &[T], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 4);
    for s in samples {
        out.extend_from_slice(&s.to_f32().to_le_bytes());
    }
}

/// What the device's callback sends: a block of f32le bytes, or why capture failed.
pub type Block = Result<Vec<u8>, String>;

/// The listening side of a capture: the blocks the callback sent, read back as a byte stream.
///
/// A read that finds no block within [`POLL`] returns [`ErrorKind::Interrupted`] (the stream
/// above retries after looking at its stop flag); an error sent by the callback is returned as
/// an error; once every sender is gone and the blocks are read, the stream ends.
pub struct BlockReader {
    receiver: Receiver<Block>,
    pending: Vec<u8>,
    at: usize,
    poll: Duration,
}

/// A channel from a capture callback (the [`Sender`]) to a [`BlockReader`].
pub fn block_channel(poll: Duration) -> (Sender<Block>, BlockReader) {
    let (sender, receiver) = channel();
    (sender, BlockReader { receiver, pending: Vec::new(), at: 0, poll })
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            match self.receiver.recv_timeout(self.poll) {
                Ok(Ok(block)) => {
                    self.pending = block;
                    self.at = 0;
                }
                Ok(Err(reason)) => return Err(std::io::Error::other(reason)),
                Err(RecvTimeoutError::Timeout) => return Err(ErrorKind::Interrupted.into()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The default input device, capturing into a [`BlockReader`] while this value lives.
#[cfg(feature = "mic")]
pub struct Microphone {
    /// Dropping it stops the capture (it stays on the thread that opened it).
    pub capture: cpal::Stream,
    pub reader: BlockReader,
    /// The device's rate and channel count, as it delivers them.
    pub sample_rate: u32,
    pub channels: usize,
    /// The device's name, for messages.
    pub name: String,
}

#[cfg(feature = "mic")]
impl Microphone {
    /// Opens the default input device of the default host in its default configuration and
    /// starts capturing. No device, or one that cannot be opened, is one error saying so (what
    /// the audio library itself prints on standard error meanwhile, e.g. ALSA's lines about a
    /// missing card, is silenced).
    pub fn open_default() -> anyhow::Result<Microphone> {
        without_stderr(Self::open)
    }

    fn open() -> anyhow::Result<Microphone> {
        use anyhow::{anyhow, Context};
        use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
        use cpal::SampleFormat;

        let host = cpal::default_host();
        let host_name = host.id().name();
        let device =
            host.default_input_device().ok_or_else(|| anyhow!("--mic: no audio input device ({host_name} has no default input device)"))?;
        let name = device.description().map_or_else(|_| "the default input device".to_string(), |d| d.name().to_string());
        let supported = device.default_input_config().with_context(|| {
            format!("--mic: no usable audio input device ({host_name}'s default, {name}, gives no input configuration)")
        })?;
        let format = supported.sample_format();
        let config = supported.config();
        let (sender, reader) = block_channel(POLL);
        let on_error = {
            let sender = sender.clone();
            move |e: cpal::Error| {
                let _ = sender.send(Err(format!("the input device failed: {e}")));
            }
        };
        // One callback per sample format; each converts its block and sends it on (an unbounded
        // channel: the callback never waits, and the listener keeps far ahead of real time).
        macro_rules! build {
            ($($format:ident => $t:ty),* ; $(24 $format24:ident => $t24:ty),*) => {
                match format {
                    $(SampleFormat::$format => {
                        let sender = sender.clone();
                        device.build_input_stream::<$t, _, _>(
                            config,
                            move |data: &[$t], _: &cpal::InputCallbackInfo| {
                                let mut bytes = Vec::new();
                                push_f32le(data, &mut bytes);
                                let _ = sender.send(Ok(bytes));
                            },
                            on_error,
                            None,
                        )
                    })*
                    $(SampleFormat::$format24 => {
                        let sender = sender.clone();
                        device.build_input_stream::<$t24, _, _>(
                            config,
                            move |data: &[$t24], _: &cpal::InputCallbackInfo| {
                                let mut bytes = Vec::new();
                                let samples: Vec<Int24> = data.iter().map(|s| Int24(s.inner())).collect();
                                push_f32le(&samples, &mut bytes);
                                let _ = sender.send(Ok(bytes));
                            },
                            on_error,
                            None,
                        )
                    })*
                    other => return Err(anyhow!("--mic: {name} delivers {other} samples, which ser does not read")),
                }
            };
        }
        let stream = build!(
            I8 => i8, I16 => i16, I32 => i32, I64 => i64, U8 => u8, U16 => u16, U32 => u32, U64 => u64, F32 => f32, F64 => f64;
            24 I24 => cpal::I24
        )
        .with_context(|| format!("--mic: {name}: cannot open it for capture"))?;
        drop(sender);
        stream.play().with_context(|| format!("--mic: {name}: cannot start capturing"))?;
        Ok(Microphone { capture: stream, reader, sample_rate: config.sample_rate, channels: config.channels as usize, name })
    }
}

/// Runs `f` with standard error (file descriptor 2) pointed at /dev/null.
#[cfg(all(feature = "mic", unix))]
fn without_stderr<T>(f: impl FnOnce() -> T) -> T {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    // SAFETY: plain descriptor calls; descriptor 2 is restored (and the copies closed) after `f`.
    unsafe {
        let saved = libc::dup(2);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if saved >= 0 && null >= 0 {
            libc::dup2(null, 2);
        }
        let result = f();
        if saved >= 0 && null >= 0 {
            libc::dup2(saved, 2);
        }
        for fd in [saved, null] {
            if fd >= 0 {
                libc::close(fd);
            }
        }
        result
    }
}

#[cfg(all(feature = "mic", not(unix)))]
fn without_stderr<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(bytes: &[u8]) -> Vec<f32> {
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }

    #[test]
    fn every_format_is_scaled_as_wav_samples_are() {
        let mut out = Vec::new();
        push_f32le(&[i16::MIN, -16384, 0, 16384, i16::MAX], &mut out);
        assert_eq!(floats(&out), [-1.0, -0.5, 0.0, 0.5, 32767.0 / 32768.0]);
        out.clear();
        push_f32le(&[0u8, 64, 128, 192, 255], &mut out);
        assert_eq!(floats(&out), [-1.0, -0.5, 0.0, 0.5, 127.0 / 128.0]);
        out.clear();
        push_f32le(&[0u16, 32768, 49152], &mut out);
        assert_eq!(floats(&out), [-1.0, 0.0, 0.5]);
        out.clear();
        push_f32le(&[i32::MIN, 1 << 30, 0], &mut out);
        assert_eq!(floats(&out), [-1.0, 0.5, 0.0]);
        out.clear();
        push_f32le(&[i8::MIN, 64], &mut out);
        assert_eq!(floats(&out), [-1.0, 0.5]);
        out.clear();
        push_f32le(&[Int24(-(1 << 23)), Int24(1 << 22), Int24((1 << 23) - 1)], &mut out);
        assert_eq!(floats(&out), [-1.0, 0.5, ((1 << 23) - 1) as f32 / (1 << 23) as f32]);
        out.clear();
        push_f32le(&[0.25f64, -0.75], &mut out);
        push_f32le(&[0.125f32], &mut out);
        assert_eq!(floats(&out), [0.25, -0.75, 0.125]);
        out.clear();
        push_f32le(&[i64::MIN, 0u64 as i64], &mut out);
        push_f32le(&[u32::MAX / 2 + 1, 0], &mut out);
        push_f32le(&[u64::MAX / 2 + 1], &mut out);
        assert_eq!(floats(&out), [-1.0, 0.0, 0.0, -1.0, 0.0]);
    }

    #[test]
    fn the_reader_joins_blocks_and_polls_when_the_device_is_quiet() {
        let (sender, mut reader) = block_channel(Duration::from_millis(5));
        // Nothing yet: the read returns Interrupted (the stream above looks at its stop flag).
        let mut buf = [0u8; 6];
        assert_eq!(reader.read(&mut buf).unwrap_err().kind(), ErrorKind::Interrupted);
        sender.send(Ok(vec![1, 2, 3, 4])).unwrap();
        sender.send(Ok(vec![])).unwrap();
        sender.send(Ok(vec![5, 6, 7, 8, 9, 10, 11, 12])).unwrap();
        let mut got = Vec::new();
        while got.len() < 12 {
            let n = reader.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, (1..=12).collect::<Vec<u8>>());
        sender.send(Err("the input device failed: unplugged".into())).unwrap();
        let error = reader.read(&mut buf).unwrap_err();
        assert!(error.to_string().contains("unplugged"), "{error}");
        drop(sender);
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn a_device_stream_decodes_through_pcm_stream_like_raw_input() {
        use crate::audio::stream::{PcmEncoding, PcmStream};
        let (sender, reader) = block_channel(Duration::from_millis(5));
        // Stereo s16 blocks that split frames anywhere.
        let samples: Vec<i16> = (0..1000).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
        for part in samples.chunks(333) {
            let mut bytes = Vec::new();
            push_f32le(part, &mut bytes);
            sender.send(Ok(bytes)).unwrap();
        }
        drop(sender);
        let mut stream = PcmStream::raw(reader, "microphone", PcmEncoding::F32Le, 44_100, 2).unwrap();
        let mut out = Vec::new();
        loop {
            match stream.read_frames(&mut out) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let expected: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
        assert_eq!(out, expected);
    }
}
