//! `ser listen`: the emotions of long recordings, phone calls and live streams, one line per
//! utterance as it closes.

use crate::audio::segment::SegmenterConfig;
use crate::audio::stream::{PcmEncoding, PcmStream};
use crate::audio::{write_wav, Audio};
use crate::checkpoint::Checkpoint;
use crate::data::pipeline::SAMPLE_RATE;
use crate::listen::output::{self, LineFormat, Summary};
use crate::listen::{listen as listen_to, Answer, ChannelMode, Classifier, Heard, ListenConfig};
use crate::report::timeline::timeline_svg;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Raw PCM sample formats accepted on standard input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RawFormat {
    /// Signed 16-bit little-endian.
    S16le,
    /// 32-bit float little-endian.
    F32le,
}

/// A `--channels` value: an input channel count (raw PCM) or how channels are heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelsArg {
    Count(usize),
    Mode(ChannelMode),
}

fn parse_channels(text: &str) -> Result<ChannelsArg, String> {
    match text {
        "mix" => Ok(ChannelsArg::Mode(ChannelMode::Mix)),
        "split" => Ok(ChannelsArg::Mode(ChannelMode::Split)),
        n => match n.parse::<usize>() {
            Ok(count @ 1..=64) => Ok(ChannelsArg::Count(count)),
            _ => Err(format!("'{n}' is neither mix, split nor a channel count from 1 to 64")),
        },
    }
}

#[derive(Args)]
pub struct ListenArgs {
    /// Checkpoint; several (repeat the flag) are an ensemble: their probabilities are averaged.
    #[arg(long, required = true)]
    pub weights: Vec<PathBuf>,
    /// WAV files of any length, or `-` for standard input (a WAV stream, or raw PCM with --raw).
    #[arg(required_unless_present = "mic")]
    pub inputs: Vec<String>,
    /// Listen to the default input device (a microphone) until Ctrl-C, instead of INPUTS; needs
    /// ser built with `--features mic`.
    #[arg(long, conflicts_with_all = ["inputs", "raw", "rate"])]
    pub mic: bool,
    /// Standard input is headerless PCM in this format (with --rate and --channels N).
    #[arg(long, value_enum)]
    pub raw: Option<RawFormat>,
    /// Sample rate of raw PCM, 8000 to 48000 Hz.
    #[arg(long)]
    pub rate: Option<u32>,
    /// `mix` (default: one timeline of the channels' mean) or `split` (one timeline per channel);
    /// a number is raw PCM's channel count (default 1). Give the flag twice for both, e.g.
    /// `--channels 2 --channels split`.
    #[arg(long, value_parser = parse_channels)]
    pub channels: Vec<ChannelsArg>,
    /// Print one JSON object per line (and the summary on standard error).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV rows under a header (and the summary on standard error).
    #[arg(long)]
    pub csv: bool,
    /// Write a timeline of every input (SVG); with several inputs, one file per input named
    /// after this one and the input's index.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Write each utterance's 16 kHz samples as a WAV here (SOURCE-chC-START_MS.wav), so any
    /// answer can be checked with `ser predict`.
    #[arg(long)]
    pub save_segments: Option<PathBuf>,
    /// WebRTC VAD aggressiveness, 0 (keeps most as speech) to 3 (keeps least); 1 found the most
    /// utterances on speech under 20 dB SNR noise (docs/listen.md).
    #[arg(long, default_value_t = 1)]
    pub vad_mode: u8,
    /// Speech (VAD-voiced) in a row that opens an utterance, in ms (20 ms frames).
    #[arg(long, default_value_t = 60)]
    pub start_ms: u32,
    /// Silence in a row that closes an utterance, in ms.
    #[arg(long, default_value_t = 300)]
    pub pause_ms: u32,
    /// Signal kept before an utterance's first voiced frame and after its last, in ms.
    #[arg(long, default_value_t = 100)]
    pub pad_ms: u32,
    /// Edge refinement: an utterance ends --edge-pad-ms after its last 20 ms frame at least this
    /// many dB above the running noise floor, which trims the VAD's hangover (0: the VAD's end,
    /// plus --pad-ms).
    #[arg(long, default_value_t = crate::audio::segment::DEFAULT_EDGE_DB)]
    pub edge_db: f32,
    /// Signal kept after an utterance's last frame above the noise floor, in ms (with --edge-db).
    #[arg(long, default_value_t = crate::audio::segment::DEFAULT_EDGE_PAD_MS)]
    pub edge_pad_ms: u32,
    /// Most the refinement takes off the VAD's end, in ms (its hangover; a longer quiet stretch is
    /// a soft ending under the noise).
    #[arg(long, default_value_t = crate::audio::segment::DEFAULT_EDGE_MAX_TRIM_MS)]
    pub edge_max_trim_ms: u32,
    /// Most the refinement adds past the VAD's padded end, in ms, for a sound the VAD calls
    /// silence (a 20 ms frame --edge-db above the noise floor: a breath, a last fricative); the
    /// utterance then ends --edge-pad-ms after the last such frame (0: off).
    #[arg(long, default_value_t = crate::audio::segment::DEFAULT_EDGE_MAX_EXTEND_MS)]
    pub edge_max_extend_ms: u32,
    /// Signal classified beyond each utterance's reported start and end, in ms (never reaching
    /// into the previous utterance); the lines report the span without it.
    #[arg(long, default_value_t = crate::audio::segment::DEFAULT_CONTEXT_MS)]
    pub context_ms: u32,
    /// Shortest utterance kept (first to last voiced frame), in ms; shorter ones are dropped.
    #[arg(long, default_value_t = 300)]
    pub min_ms: u32,
    /// Longest utterance, in ms: a longer turn is cut at its quietest point of the last second.
    #[arg(long, default_value_t = 8000)]
    pub max_ms: u32,
    /// Most utterances of a file scored together (standard input: each as soon as it closes).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Print, on standard error at the end, how long each answer took from the moment its
    /// utterance closed to its line being written (median, 90th and 99th percentile, max).
    #[arg(long)]
    pub timing: bool,
}

/// Set by SIGINT: the input ends where it is, the open utterance is closed and answered.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
fn stop_on_ctrl_c() {
    extern "C" fn on_sigint(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::Relaxed);
    }
    // Without SA_RESTART a read blocked on a quiet stream returns (EINTR) and sees the flag;
    // SA_RESETHAND lets a second Ctrl-C end the process at once.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

#[cfg(not(unix))]
fn stop_on_ctrl_c() {}

/// Sets whether SIGINT reaches the calling thread.
#[cfg(unix)]
fn receive_sigint(on: bool) {
    // SAFETY: plain calls on a local signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(if on { libc::SIG_UNBLOCK } else { libc::SIG_BLOCK }, &set, std::ptr::null_mut());
    }
}

#[cfg(not(unix))]
fn receive_sigint(_: bool) {}

/// The input, read on the thread that should be woken by Ctrl-C: a signal interrupts a blocked
/// read only on the thread it is delivered to, so while listening the other threads block SIGINT
/// and the reading thread (any but the one that opened the input) takes it on its first read.
struct InterruptibleInput {
    inner: Box<dyn std::io::Read + Send>,
    opened_on: std::thread::ThreadId,
    receiving: bool,
}

impl std::io::Read for InterruptibleInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.receiving && std::thread::current().id() != self.opened_on {
            receive_sigint(true);
            self.receiving = true;
        }
        self.inner.read(buf)
    }
}

/// The command's settings, checked: the raw layout of standard input and how to listen.
struct Plan {
    raw: Option<(PcmEncoding, u32, usize)>,
    config: ListenConfig,
    format: LineFormat,
}

fn plan(a: &ListenArgs) -> Result<Plan> {
    let mut count = None;
    let mut mode = None;
    for c in &a.channels {
        match *c {
            ChannelsArg::Count(n) if count.is_none() => count = Some(n),
            ChannelsArg::Mode(m) if mode.is_none() => mode = Some(m),
            _ => bail!("--channels takes at most one count and one of mix/split"),
        }
    }
    let raw = match (a.raw, a.rate) {
        (Some(format), Some(rate)) => {
            if !(8_000..=48_000).contains(&rate) {
                bail!("--rate {rate}: raw PCM must be 8000 to 48000 Hz");
            }
            let encoding = match format {
                RawFormat::S16le => PcmEncoding::S16Le,
                RawFormat::F32le => PcmEncoding::F32Le,
            };
            Some((encoding, rate, count.unwrap_or(1)))
        }
        (Some(_), None) => bail!("--raw needs --rate (the sample rate of the PCM on standard input)"),
        (None, Some(_)) => bail!("--rate describes raw PCM; give --raw s16le or --raw f32le with it"),
        (None, None) if count.is_some() => bail!("a channel count describes raw PCM; give --raw and --rate with it"),
        (None, None) => None,
    };
    if raw.is_some() && !a.inputs.iter().any(|i| i == "-") {
        bail!("--raw describes standard input; give `-` as an input");
    }
    if a.mic && !cfg!(feature = "mic") {
        bail!(
            "--mic needs ser built with the `mic` feature: `cargo build --release --features mic` (on Linux with the \
             ALSA headers and pkg-config, e.g. `apt-get install libasound2-dev pkg-config`); without it, pipe the \
             microphone in: `arecord -q -f S16_LE -r 16000 -c 1 - | ser listen --weights W --raw s16le --rate 16000 -`"
        );
    }
    if a.inputs.iter().filter(|i| *i == "-").count() > 1 {
        bail!("standard input (`-`) can be read only once");
    }
    let segmenter = SegmenterConfig::from_millis(a.vad_mode, a.start_ms, a.pause_ms, a.pad_ms, a.min_ms, a.max_ms)
        .map_err(|e| anyhow::anyhow!("segmentation settings: {e}"))?
        .with_edge(a.edge_db, a.edge_pad_ms, a.edge_max_trim_ms)
        .with_edge_extension(a.edge_max_extend_ms)
        .with_context(a.context_ms);
    let format = if a.json {
        LineFormat::Json
    } else if a.csv {
        LineFormat::Csv
    } else {
        LineFormat::Text
    };
    Ok(Plan { raw, config: ListenConfig { segmenter, channels: mode.unwrap_or(ChannelMode::Mix), batch: a.batch.max(1) }, format })
}

/// An opened input: its bytes, their raw layout (None: a WAV stream), its name for messages,
/// and what must live while it is read (a microphone's capture).
type Source = (Box<dyn std::io::Read + Send>, Option<(PcmEncoding, u32, usize)>, String, Option<Box<dyn std::any::Any>>);

/// The default input device, capturing until the returned capture is dropped; its samples come
/// as f32le bytes at the device's own rate and channel count.
#[cfg(feature = "mic")]
fn open_mic() -> Result<Source> {
    let crate::audio::mic::Microphone { capture, reader, sample_rate, channels, name } = crate::audio::mic::Microphone::open_default()?;
    eprintln!("listening to {name} ({sample_rate} Hz, {channels} channels); Ctrl-C ends");
    Ok((Box::new(reader), Some((PcmEncoding::F32Le, sample_rate, channels)), name, Some(Box::new(capture))))
}

#[cfg(not(feature = "mic"))]
fn open_mic() -> Result<Source> {
    bail!("--mic needs ser built with `--features mic`")
}

/// The latency distribution line of `--timing`.
fn latency_line(mut latencies: Vec<Duration>) -> String {
    if latencies.is_empty() {
        return "latency: no utterances".into();
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!(
        "latency from utterance closed to line written, {} utterances: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// `ser listen`.
pub fn listen(a: ListenArgs) -> Result<()> {
    let plan = plan(&a)?;
    let models = Checkpoint::load_ensemble(&a.weights)?;
    let mut classifier = Classifier::new(models, a.batch);
    let classes = classifier.classes().to_vec();
    if let Some(dir) = &a.save_segments {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the segments folder", dir.display()))?;
    }
    stop_on_ctrl_c();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(h) = output::header(plan.format, &classes) {
        writeln!(out, "{h}")?;
    }
    let mut latencies = Vec::new();
    // With --mic the one input is the device, called `mic` in the lines.
    let mic_input = [String::from("mic")];
    let inputs: &[String] = if a.mic { &mic_input } else { &a.inputs };
    for (index, input) in inputs.iter().enumerate() {
        if INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        let stdin = input == "-" && !a.mic;
        // `_capture` keeps a microphone capturing (on this thread) until the input is done.
        let (reader, raw, name, _capture): Source = if a.mic {
            open_mic()?
        } else if stdin {
            (Box::new(std::io::stdin()), plan.raw, "standard input".to_string(), None)
        } else {
            (Box::new(std::fs::File::open(input).with_context(|| format!("{input}: cannot open"))?), None, input.clone(), None)
        };
        let live = stdin || a.mic;
        let reader = InterruptibleInput { inner: reader, opened_on: std::thread::current().id(), receiving: false };
        let stream = match raw {
            Some((encoding, rate, channels)) => PcmStream::raw(reader, &name, encoding, rate, channels)?,
            None => PcmStream::wav(reader, &name)?,
        }
        .stop_when(&INTERRUPTED);
        let band = classifier.band();
        if band.wider_than(stream.sample_rate) {
            eprintln!(
                "warning: {name}, sampled at {} Hz, carries nothing above {} Hz, {}",
                stream.sample_rate,
                stream.sample_rate / 2,
                super::score::narrower_than(band)
            );
        }
        let config = ListenConfig { batch: if live { 1 } else { plan.config.batch }, ..plan.config };
        let stem = if a.mic {
            "mic".to_string()
        } else if stdin {
            "stdin".to_string()
        } else {
            std::path::Path::new(input).file_stem().map_or("input".into(), |s| s.to_string_lossy().into_owned())
        };
        let mut summary = Summary::new(&classes);
        let mut answers: Vec<Answer> = Vec::new();
        // Only the reading thread takes SIGINT while listening (see `InterruptibleInput`); the
        // threads started meanwhile inherit the block.
        receive_sigint(false);
        let outcome = listen_to(stream, &config, &mut classifier, |heard: Heard<'_>| {
            let a_line = output::line(plan.format, input, &heard.answer, &classes);
            writeln!(out, "{a_line}")?;
            out.flush()?;
            latencies.push(heard.closed_at.elapsed());
            if let Some(dir) = &a.save_segments {
                let file = dir.join(format!("{stem}-ch{}-{:09}.wav", heard.answer.channel, (heard.answer.start * 1000.0).round() as u64));
                write_wav(&file, &Audio { samples: heard.samples.to_vec(), sample_rate: SAMPLE_RATE })?;
            }
            summary.add(&heard.answer);
            if a.svg.is_some() {
                answers.push(heard.answer);
            }
            Ok(())
        });
        receive_sigint(true);
        let outcome = outcome?;
        let text = summary.render(input, outcome.seconds);
        if plan.format == LineFormat::Text {
            write!(out, "{text}")?;
            out.flush()?;
        } else {
            eprint!("{text}");
        }
        if let Some(svg) = &a.svg {
            let path = if inputs.len() == 1 { svg.clone() } else { svg.with_extension(format!("{index}.svg")) };
            let title = format!("{input}: {} utterances", answers.len());
            crate::fsio::write_atomic(&path, timeline_svg(&title, outcome.seconds, &answers, &outcome.envelopes, &classes).as_bytes())
                .with_context(|| format!("{}: cannot write the timeline", path.display()))?;
        }
        if let Some(e) = outcome.stream_error {
            return Err(e.into());
        }
    }
    if a.timing {
        eprintln!("{}", latency_line(latencies));
    }
    Ok(())
}
