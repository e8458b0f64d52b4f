//! Utterances from a 16 kHz stream: WebRTC VAD frames with hysteresis.
//!
//! The stream is judged in 20 ms frames by one VAD instance (it adapts its noise estimate as it
//! goes, so frames are judged in order). An utterance opens after `start` voiced frames in a row
//! and closes after `pause` unvoiced frames in a row; it keeps `pad` of signal before its first
//! voiced frame and after its last (never reaching back into the previous utterance). One whose
//! voiced span (first to last voiced frame) is shorter than `min` is dropped as a click or a
//! cough. One that reaches `max` is cut at the quietest frame of its last second (or of its last
//! quarter, if shorter), so a stream that never pauses still gives answers; the rest goes on as
//! the next utterance.
//!
//! Under background noise the VAD's hangover runs on past a fading ending, so a closed
//! utterance's end is refined: it ends `edge_pad` after its last frame whose energy is at least
//! `edge_db` above a running noise-floor estimate (minimum tracking: down quickly on a quieter
//! frame, up slowly on frames the VAD calls unvoiced), taking at most `edge_max_trim` off the
//! VAD's end (a longer quiet stretch is a soft ending under the noise). The other way, a sound
//! the VAD calls silence within `edge_max_extend` after its padded end (a breath, or a last
//! fricative: the VAD judges only 0-4 kHz) extends the utterance to `edge_pad` after it. Both
//! happen when the utterance closes, from samples it holds already (the pause that closed it), so
//! they add neither latency nor memory (tested in tests/listen.rs, on synthetic sentences under
//! noise). The refined end is the one reported (`Utterance::speech_end`); the samples classified
//! run to the VAD's end or the extended one, since the model was trained on clips that fade out
//! past their last sound.
//!
//! What is classified may reach `context` further on each side than what is reported (never
//! into the previous utterance, nor past the pause that closed it): models score utterances
//! better with that margin of background around them (docs/listen.md).
//!
//! Memory is bounded: while silent the segmenter keeps only the frames padding and context may
//! need, and an open utterance holds at most `max` of samples (plus its context).

use std::collections::VecDeque;

use webrtc_vad::{SampleRate, Vad, VadMode};

use super::vad::{VAD_FRAME_LEN, VAD_SAMPLE_RATE};
use super::wav::to_pcm16;

/// Milliseconds per VAD frame.
pub const FRAME_MS: u32 = 1000 * VAD_FRAME_LEN as u32 / VAD_SAMPLE_RATE;

/// Default of [`SegmenterConfig::edge_db`].
pub const DEFAULT_EDGE_DB: f32 = 6.0;

/// Default of [`SegmenterConfig::edge_pad_frames`], in ms.
pub const DEFAULT_EDGE_PAD_MS: u32 = 140;

/// Default of [`SegmenterConfig::edge_max_trim_frames`], in ms.
pub const DEFAULT_EDGE_MAX_TRIM_MS: u32 = 80;

/// Default of [`SegmenterConfig::edge_max_extend_frames`], in ms.
pub const DEFAULT_EDGE_MAX_EXTEND_MS: u32 = 200;

/// Default of [`SegmenterConfig::context_frames`], in ms.
pub const DEFAULT_CONTEXT_MS: u32 = 100;

/// Milliseconds as whole 20 ms frames, rounded to the nearest.
fn frames(ms: u32) -> usize {
    ((ms + FRAME_MS / 2) / FRAME_MS) as usize
}

/// The noise floor never goes below the energy of a 20 ms frame at -70 dBFS RMS, so digital
/// silence does not make every faint sample count as sound.
const MIN_NOISE_ENERGY: f32 = VAD_FRAME_LEN as f32 * 1e-7;

/// The segmenter's settings, in 20 ms frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmenterConfig {
    /// WebRTC aggressiveness, 0 (keeps most) to 3 (keeps least).
    pub vad_mode: u8,
    /// Voiced frames in a row that open an utterance.
    pub start_frames: usize,
    /// Unvoiced frames in a row that close one.
    pub pause_frames: usize,
    /// Frames kept before the first voiced frame and after the last.
    pub pad_frames: usize,
    /// Shortest voiced span kept.
    pub min_frames: usize,
    /// Longest utterance, padding included, before it is cut.
    pub max_frames: usize,
    /// Edge refinement: a closed utterance ends `edge_pad_frames` after its last frame whose
    /// energy is at least this many dB above the noise floor (never later than the VAD's end plus
    /// `pad_frames`); 0 turns it off.
    pub edge_db: f32,
    /// Frames kept after the last frame above the noise floor when `edge_db` is on.
    pub edge_pad_frames: usize,
    /// Most frames the refinement takes off the VAD's end (its hangover is bounded; a longer
    /// quiet stretch is a soft ending under the noise, not hangover).
    pub edge_max_trim_frames: usize,
    /// Most frames the refinement adds past the VAD's padded end for a sound the VAD calls
    /// silence, a frame `edge_db` above the noise floor (a breath, a last fricative); 0 turns it
    /// off.
    pub edge_max_extend_frames: usize,
    /// Frames of signal classified beyond the reported edges, before the start and after the
    /// end (never reaching into the previous utterance, nor past what the closing pause holds);
    /// 0: the utterance's samples are its reported span (padding included).
    pub context_frames: usize,
}

impl SegmenterConfig {
    /// Settings given in milliseconds, rounded to whole frames; an inconsistent set is an error
    /// that says which setting is wrong.
    pub fn from_millis(vad_mode: u8, start_ms: u32, pause_ms: u32, pad_ms: u32, min_ms: u32, max_ms: u32) -> Result<Self, String> {
        let config = SegmenterConfig {
            vad_mode,
            start_frames: frames(start_ms).max(1),
            pause_frames: frames(pause_ms).max(1),
            pad_frames: frames(pad_ms),
            min_frames: frames(min_ms),
            max_frames: frames(max_ms),
            edge_db: DEFAULT_EDGE_DB,
            edge_pad_frames: frames(DEFAULT_EDGE_PAD_MS),
            edge_max_trim_frames: frames(DEFAULT_EDGE_MAX_TRIM_MS),
            edge_max_extend_frames: frames(DEFAULT_EDGE_MAX_EXTEND_MS),
            context_frames: frames(DEFAULT_CONTEXT_MS),
        };
        if vad_mode > 3 {
            return Err(format!("VAD mode {vad_mode} is not 0, 1, 2 or 3"));
        }
        if config.max_frames < 2 * config.pad_frames + config.start_frames.max(config.min_frames) + 4 {
            return Err(format!("the longest utterance ({max_ms} ms) must exceed the shortest ({min_ms} ms) and both paddings ({pad_ms} ms each) by more than 80 ms"));
        }
        Ok(config)
    }

    /// The same settings with edge refinement at `db` above the noise floor (0: off), keeping
    /// `pad_ms` after the last frame above it and taking at most `max_trim_ms` off the VAD's end
    /// (rounded to whole frames).
    pub fn with_edge(self, db: f32, pad_ms: u32, max_trim_ms: u32) -> Self {
        SegmenterConfig { edge_db: db, edge_pad_frames: frames(pad_ms), edge_max_trim_frames: frames(max_trim_ms), ..self }
    }

    /// The same settings letting the refinement add at most `max_extend_ms` past the VAD's padded
    /// end (rounded to whole frames; 0: off).
    pub fn with_edge_extension(self, max_extend_ms: u32) -> Self {
        SegmenterConfig { edge_max_extend_frames: frames(max_extend_ms), ..self }
    }

    /// The same settings classifying `context_ms` more signal before and after each utterance
    /// than is reported (rounded to whole frames; 0: none).
    pub fn with_context(self, context_ms: u32) -> Self {
        SegmenterConfig { context_frames: frames(context_ms), ..self }
    }

    fn vad(&self) -> Vad {
        let mode = match self.vad_mode {
            0 => VadMode::Quality,
            1 => VadMode::LowBitrate,
            2 => VadMode::Aggressive,
            _ => VadMode::VeryAggressive,
        };
        Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, mode)
    }
}

/// One utterance: its 16 kHz samples, where they start in the stream, and where its speech ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Utterance {
    /// Index of the first sample, counted from the start of the stream at 16 kHz.
    pub start: u64,
    /// The samples from the padded start up to the VAD's end and its padding (or the extended
    /// end), with `context_frames` more on each side: what is classified (the model was trained
    /// on clips whose ends fade out past where their sound drops away).
    pub samples: Vec<f32>,
    /// Where the speech starts, its padding included (at least [`Utterance::start`]): the start
    /// that is reported.
    pub speech_start: u64,
    /// Where the speech ends by the edge refinement (at most [`Utterance::end`]): the end that is
    /// reported.
    pub speech_end: u64,
}

impl Utterance {
    /// Index one past the last sample.
    pub fn end(&self) -> u64 {
        self.start + self.samples.len() as u64
    }
}

/// The utterance being collected.
struct Open {
    start: u64,
    /// The start reported: `start` less the context.
    speech_start: u64,
    samples: Vec<f32>,
    /// Energy of each frame of `samples` (the last may be partial at the end of the stream).
    energy: Vec<f32>,
    /// Sample index where the first voiced frame starts and where the last voiced one ends.
    voiced_start: u64,
    voiced_end: u64,
    silent_run: usize,
}

/// Cuts a 16 kHz stream into utterances; see the module text.
pub struct Segmenter {
    config: SegmenterConfig,
    vad: Vad,
    /// Samples of the frame being filled (fewer than a frame).
    partial: Vec<f32>,
    /// Samples judged so far.
    judged: u64,
    /// The latest frames while no utterance is open, as many as the padding and the start need.
    preroll: VecDeque<f32>,
    voiced_run: usize,
    open: Option<Open>,
    /// End of the last utterance: the next one's padding does not reach before it.
    floor: u64,
    /// Running estimate of the background's energy per frame (None before the first frame).
    noise: Option<f32>,
}

fn energy(frame: &[f32]) -> f32 {
    frame.iter().map(|x| x * x).sum()
}

/// The energy of a whole frame at the level of `frame`, which may be a partial one.
fn frame_energy(frame: &[f32]) -> f32 {
    energy(frame) * (VAD_FRAME_LEN as f32 / frame.len() as f32)
}

/// The end of the last 20 ms frame of `open` between stream samples `from` and `to` whose energy
/// is above `threshold` (frames counted from `from`; None: no such frame).
fn loud_end(open: &Open, from: u64, to: u64, threshold: f32) -> Option<u64> {
    let span = &open.samples[(from - open.start) as usize..(to - open.start) as usize];
    let last = span.chunks(VAD_FRAME_LEN).rposition(|f| frame_energy(f) > threshold)?;
    Some(from + ((last + 1) * VAD_FRAME_LEN).min(span.len()) as u64)
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        Segmenter {
            vad: config.vad(),
            config,
            partial: Vec::with_capacity(VAD_FRAME_LEN),
            judged: 0,
            preroll: VecDeque::new(),
            voiced_run: 0,
            open: None,
            floor: 0,
            noise: None,
        }
    }

    /// The running background-energy estimate per 20 ms frame (None before the first frame).
    pub fn noise_floor(&self) -> Option<f32> {
        self.noise
    }

    /// Samples held now (the frame being filled, the preroll, the open utterance): bounded by the
    /// settings whatever the length of the stream.
    pub fn buffered_samples(&self) -> usize {
        self.partial.len() + self.preroll.len() + self.open.as_ref().map_or(0, |o| o.samples.len())
    }

    /// Whether an utterance is open.
    pub fn in_utterance(&self) -> bool {
        self.open.is_some()
    }

    /// Judges the complete frames of `samples` (keeping the rest for the next call) and appends
    /// the utterances they close to `out`.
    pub fn push(&mut self, mut samples: &[f32], out: &mut Vec<Utterance>) {
        if !self.partial.is_empty() {
            let take = (VAD_FRAME_LEN - self.partial.len()).min(samples.len());
            self.partial.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.partial.len() < VAD_FRAME_LEN {
                return;
            }
            let frame = std::mem::take(&mut self.partial);
            self.frame(&frame, out);
            self.partial = frame;
            self.partial.clear();
        }
        let mut frames = samples.chunks_exact(VAD_FRAME_LEN);
        for frame in &mut frames {
            self.frame(frame, out);
        }
        self.partial.extend_from_slice(frames.remainder());
    }

    /// Ends the stream: judges the last partial frame and closes the open utterance.
    pub fn finish(&mut self, out: &mut Vec<Utterance>) {
        if !self.partial.is_empty() {
            let frame = std::mem::take(&mut self.partial);
            self.frame(&frame, out);
        }
        if let Some(open) = self.open.take() {
            let (end, speech_end) = self.closing_ends(&open);
            self.close(open, end, speech_end, out);
        }
    }

    fn pad_samples(&self) -> u64 {
        (self.config.pad_frames * VAD_FRAME_LEN) as u64
    }

    /// Where an utterance closing now ends: (end of the samples classified, its context
    /// included; end of the speech reported), from its last voiced frame, the padding and the
    /// edge refinement, never past the samples judged.
    fn closing_ends(&self, open: &Open) -> (u64, u64) {
        let (end, speech_end) = self.refine_end(open, (open.voiced_end + self.pad_samples()).min(self.judged));
        ((end + (self.config.context_frames * VAD_FRAME_LEN) as u64).min(self.judged), speech_end)
    }

    /// One frame (a partial one only at the end of the stream, judged zero-padded).
    fn frame(&mut self, frame: &[f32], out: &mut Vec<Utterance>) {
        let mut pcm = [0i16; VAD_FRAME_LEN];
        for (p, &x) in pcm.iter_mut().zip(frame) {
            *p = to_pcm16(x);
        }
        let voiced = self.vad.is_voice_segment(&pcm).expect("320 samples is a valid 20 ms frame at 16 kHz");
        self.judged += frame.len() as u64;
        self.track_noise(frame_energy(frame), voiced);
        let Some(open) = self.open.as_mut() else {
            self.preroll.extend(frame);
            let keep = (self.config.pad_frames + self.config.start_frames + self.config.context_frames) * VAD_FRAME_LEN;
            let excess = self.preroll.len().saturating_sub(keep);
            self.preroll.drain(..excess);
            self.voiced_run = if voiced { self.voiced_run + 1 } else { 0 };
            if self.voiced_run >= self.config.start_frames {
                self.open_utterance();
            }
            return;
        };
        open.samples.extend_from_slice(frame);
        open.energy.push(energy(frame));
        if voiced {
            open.silent_run = 0;
            open.voiced_end = self.judged;
        } else {
            open.silent_run += 1;
        }
        if open.silent_run >= self.config.pause_frames {
            let open = self.open.take().expect("matched above");
            let (end, speech_end) = self.closing_ends(&open);
            let after_end = (self.judged - end) as usize;
            self.preroll.extend(&open.samples[open.samples.len() - after_end..]);
            self.close(open, end, speech_end, out);
            self.voiced_run = 0;
        } else if open.samples.len() >= self.config.max_frames * VAD_FRAME_LEN {
            self.cut(out);
        }
    }

    /// Follows the background's energy: down quickly on any quieter frame, up slowly on frames
    /// the VAD calls unvoiced (a minimum-tracking estimate, so speech does not raise it).
    fn track_noise(&mut self, e: f32, voiced: bool) {
        let noise = match self.noise {
            None => e,
            Some(n) if e < n => n + 0.3 * (e - n),
            Some(n) if !voiced => n + 0.02 * (e - n),
            Some(n) => n,
        };
        self.noise = Some(noise);
    }

    /// Energy above which a frame counts as sound for the edge refinement: `edge_db` above the
    /// noise floor (None while the refinement is off or there is no floor yet).
    fn loud_threshold(&self) -> Option<f32> {
        let noise = self.noise?;
        (self.config.edge_db > 0.0).then(|| noise.max(MIN_NOISE_ENERGY) * 10f32.powf(self.config.edge_db / 10.0))
    }

    /// Where an utterance the VAD ends at `end` (its last voiced frame plus the padding) really
    /// ends: (end of the samples classified, end of the speech reported). A sound the VAD called
    /// silence after `end` (a soft ending, a breath, a last fricative), a frame above the threshold
    /// within `edge_max_extend_frames` of it, extends both to `edge_pad_frames` after the last
    /// such frame, at most `edge_max_extend_frames` past `end` and never past the samples held
    /// (the pause that closed the utterance). Otherwise the speech ends `edge_pad_frames` after
    /// its last frame above the threshold, which trims the VAD's hangover over a fading ending:
    /// never later than `end`, never more than `edge_max_trim_frames` before it, never before the
    /// first voiced frame.
    fn refine_end(&self, open: &Open, end: u64) -> (u64, u64) {
        let Some(threshold) = self.loud_threshold() else { return (end, end) };
        let edge_pad = (self.config.edge_pad_frames * VAD_FRAME_LEN) as u64;
        let extend = (self.config.edge_max_extend_frames * VAD_FRAME_LEN) as u64;
        if extend > 0 {
            let held_end = open.start + open.samples.len() as u64;
            if let Some(loud_end) = loud_end(open, end, (end + extend).min(held_end), threshold) {
                let extended = (loud_end + edge_pad).min(end + extend).min(held_end);
                return (extended, extended);
            }
        }
        let Some(loud_end) = loud_end(open, open.voiced_start.max(open.start), end, threshold) else {
            return (end, end);
        };
        let earliest = end.saturating_sub((self.config.edge_max_trim_frames * VAD_FRAME_LEN) as u64);
        (end, (loud_end + edge_pad).clamp(earliest.min(end), end))
    }

    /// Opens an utterance from the preroll: the voiced run that triggered it and the padding.
    fn open_utterance(&mut self) {
        let voiced_start = self.judged - (self.voiced_run * VAD_FRAME_LEN) as u64;
        let preroll_start = self.judged - self.preroll.len() as u64;
        let earliest = self.floor.max(preroll_start);
        let speech_start = voiced_start.saturating_sub(self.pad_samples()).max(earliest);
        let start = speech_start.saturating_sub((self.config.context_frames * VAD_FRAME_LEN) as u64).max(earliest);
        let samples: Vec<f32> = self.preroll.iter().skip((start - preroll_start) as usize).copied().collect();
        let energy = samples.chunks(VAD_FRAME_LEN).map(energy).collect();
        self.preroll.clear();
        self.open = Some(Open { start, speech_start, samples, energy, voiced_start, voiced_end: self.judged, silent_run: 0 });
    }

    /// Cuts the open utterance, which has reached the longest length, at the quietest frame of
    /// its last second (or quarter): the head is emitted, the rest stays open.
    fn cut(&mut self, out: &mut Vec<Utterance>) {
        let open = self.open.as_mut().expect("cut only an open utterance");
        let frames = open.energy.len();
        let window = (1000 / FRAME_MS as usize).min(frames / 4).max(1);
        let quietest = (frames - window..frames).min_by(|&a, &b| open.energy[a].total_cmp(&open.energy[b])).expect("a non-empty window");
        // Cut in the middle of the quietest frame (the energies of the rest are then half a frame
        // off the samples, which only blurs where the next cut finds silence).
        let cut = quietest * VAD_FRAME_LEN + VAD_FRAME_LEN / 2;
        let tail = open.samples.split_off(cut);
        let head = Open {
            start: open.start,
            speech_start: open.speech_start,
            samples: std::mem::replace(&mut open.samples, tail),
            energy: open.energy.drain(..quietest).collect(),
            voiced_start: open.voiced_start,
            voiced_end: open.voiced_end.min(open.start + cut as u64),
            silent_run: 0,
        };
        open.start += cut as u64;
        open.speech_start = open.start;
        open.voiced_start = open.voiced_start.max(open.start);
        open.voiced_end = open.voiced_end.max(open.start);
        let end = head.start + head.samples.len() as u64;
        self.close(head, end, end, out);
    }

    /// Emits `open` up to sample `end`, its speech ending at `speech_end`, if its voiced span is
    /// long enough.
    fn close(&mut self, mut open: Open, end: u64, speech_end: u64, out: &mut Vec<Utterance>) {
        open.samples.truncate((end - open.start) as usize);
        self.floor = end;
        let voiced = open.voiced_end.saturating_sub(open.voiced_start);
        if voiced >= (self.config.min_frames * VAD_FRAME_LEN) as u64 && !open.samples.is_empty() {
            let speech_start = open.speech_start.clamp(open.start, end - 1);
            out.push(Utterance {
                start: open.start,
                speech_start,
                samples: open.samples,
                speech_end: speech_end.clamp(speech_start + 1, end),
            });
        }
    }
}
