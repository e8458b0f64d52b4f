//! Emotions through long recordings and live streams: decode, resample, segment, classify.
//!
//! ```text
//! reader thread:  PcmStream ──> (mix) ──> StreamResampler (to 16 kHz) ──> Segmenter per channel ──┐
//!                                                                              closed utterances │
//! scoring thread: ◀──────────────────────────────────────────────────────────────────────────────┘
//!                 16-bit grid ──> features (in parallel) ──> checkpoints ──> one answer each
//! ```
//!
//! The reader runs ahead on its own thread while the scoring thread classifies what has closed;
//! a bounded channel between them keeps memory flat when scoring falls behind. The scoring
//! thread takes every utterance already waiting, up to the batch size, so a file is scored in
//! batches while a live stream (batch 1) gets each answer as soon as its utterance closes.
//!
//! Each utterance is scored as `ser predict` scores a 16 kHz WAV of the same samples: they are
//! first rounded to the 16-bit grid (what [`crate::audio::write_wav`] stores), then featurised
//! alone. A masked-padding checkpoint gives each clip the same answer in any batch, so those are
//! batched; a study-padding checkpoint lets the padding of a batch into its answer, so with one
//! in the ensemble every utterance is scored alone.

pub mod output;

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::time::Instant;

use ndarray::Array2;
use rayon::prelude::*;

use crate::audio::envelope::Envelope;
use crate::audio::segment::{Segmenter, SegmenterConfig, Utterance};
use crate::audio::stream::{PcmStream, StreamResampler};
use crate::audio::{self, AudioError};
use crate::checkpoint::LoadedModel;
use crate::data::pipeline::{channel_to_features, Band, DataConfig, SAMPLE_RATE};
use crate::data::Example;
use crate::features::{self, FeatureConfig};
use crate::nn::model::Padding;
use crate::train::{argmax_rows, ensemble_probabilities, Scoring};

/// Closed utterances waiting for the scoring thread, at most (each at most the longest length):
/// enough to fill a batch for two cores, few enough that a reader far ahead of the scorer (a
/// file read faster than real time) holds only a few MB.
const QUEUE: usize = 16;
/// Envelope bins kept per channel, at most; they start 10 ms wide.
const ENVELOPE_BINS: usize = 4096;
const ENVELOPE_BIN_SAMPLES: u64 = SAMPLE_RATE as u64 / 100;

/// How the channels of a multichannel input are heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelMode {
    /// One timeline of the channels' mean.
    Mix,
    /// One timeline per channel (e.g. the two sides of a call).
    Split,
}

/// How to listen.
#[derive(Clone, Copy, Debug)]
pub struct ListenConfig {
    pub segmenter: SegmenterConfig,
    pub channels: ChannelMode,
    /// Most utterances scored together (1: each as soon as it closes).
    pub batch: usize,
}

/// One utterance's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// Channel index (0 when mixed).
    pub channel: usize,
    /// Seconds from the start of the input.
    pub start: f64,
    pub end: f64,
    /// Index into the model's classes (`LoadedModel::classes`).
    pub emotion: usize,
    /// One per class.
    pub probabilities: Vec<f32>,
}

impl Answer {
    /// The winning class's probability.
    pub fn confidence(&self) -> f32 {
        self.probabilities[self.emotion]
    }
}

/// An answer with what it was made from, handed to the caller as soon as it is ready.
pub struct Heard<'a> {
    pub answer: Answer,
    /// The 16 kHz samples scored (on the 16-bit grid).
    pub samples: &'a [f32],
    /// When the segmenter closed the utterance.
    pub closed_at: Instant,
}

/// What the whole input gave besides the answers.
pub struct Outcome {
    /// Per channel timeline: the envelope's bins and seconds per bin.
    pub envelopes: Vec<(Vec<f32>, f64)>,
    /// Seconds of input heard (at 16 kHz).
    pub seconds: f64,
    /// Why the input ended early, if it did (the answers before it were all delivered).
    pub stream_error: Option<AudioError>,
}

/// Checkpoints ready to score utterances as `ser predict` scores clips.
pub struct Classifier {
    models: Vec<LoadedModel>,
    scoring_batch: Option<usize>,
    /// The band and input the models were trained on (one for all: `load_ensemble` checks).
    channel: DataConfig,
}

impl Classifier {
    /// Scores in batches of up to `batch` when every model masks its padding, else one by one.
    pub fn new(models: Vec<LoadedModel>, batch: usize) -> Self {
        let masked = models.iter().all(|m| m.model.config.padding == Padding::Masked);
        let channel = models.first().map_or_else(DataConfig::default, |m| m.data_config(DataConfig::default()));
        Classifier { models, scoring_batch: masked.then_some(batch.max(1)), channel }
    }

    /// The band the models were trained for.
    pub fn band(&self) -> Band {
        self.channel.band
    }

    /// The models' class names, in output order.
    pub fn classes(&self) -> &[String] {
        self.models.first().map_or(&[], |m| &m.classes)
    }

    /// Whether utterances are batched (masked padding) or scored alone (study padding).
    pub fn batches(&self) -> bool {
        self.scoring_batch.is_some()
    }

    /// Class probabilities (N, C) of 16 kHz utterances, averaged over the checkpoints.
    pub fn probabilities(&mut self, utterances: &[&[f32]]) -> anyhow::Result<Array2<f32>> {
        let channel = &self.channel;
        let examples = utterances
            .par_iter()
            .map(|samples| {
                // As `ser predict` prepares a clip: the model's band, then its input resampling.
                let samples = channel_to_features(Path::new("utterance"), samples.to_vec(), channel)?;
                Ok(Example::original(features::extract(&samples, &FeatureConfig::default()), 0, 0))
            })
            .collect::<Result<Vec<_>, AudioError>>()?;
        let scoring = self.scoring_batch.map_or(Scoring::SingleClip, Scoring::Batched);
        Ok(ensemble_probabilities(&mut self.models, &examples, scoring)?)
    }
}

/// An utterance on its way from the reader to the scoring thread.
struct Closed {
    channel: usize,
    utterance: Utterance,
    closed_at: Instant,
}

/// Listens to `stream` to its end: every utterance is classified and handed to `on_answer` in
/// the order it closed (per channel). An error of the stream ends it after the utterances heard
/// so far (the open one closed) were answered, and comes back in [`Outcome::stream_error`]; an
/// error of `on_answer` or of scoring stops listening and is returned.
pub fn listen<R: Read + Send>(
    stream: PcmStream<R>,
    config: &ListenConfig,
    classifier: &mut Classifier,
    mut on_answer: impl FnMut(Heard<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let (sender, receiver) = sync_channel::<Closed>(QUEUE);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_and_segment(stream, config, sender));
        let scored = score_as_they_close(&receiver, config.batch, classifier, &mut on_answer);
        // Unblock the reader if scoring stopped early, then collect what it heard.
        drop(receiver);
        let outcome = reader.join().expect("the reader thread does not panic");
        scored.map(|()| outcome)
    })
}

fn score_as_they_close(
    receiver: &Receiver<Closed>,
    batch: usize,
    classifier: &mut Classifier,
    on_answer: &mut impl FnMut(Heard<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    while let Ok(first) = receiver.recv() {
        let mut closed = vec![first];
        while closed.len() < batch.max(1) {
            match receiver.try_recv() {
                Ok(next) => closed.push(next),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        for c in &mut closed {
            audio::quantize_to_pcm16(&mut c.utterance.samples);
        }
        let samples: Vec<&[f32]> = closed.iter().map(|c| c.utterance.samples.as_slice()).collect();
        let probabilities = classifier.probabilities(&samples)?;
        let winners = argmax_rows(&probabilities);
        for ((c, row), emotion) in closed.iter().zip(probabilities.rows()).zip(winners) {
            let seconds = |sample: u64| sample as f64 / SAMPLE_RATE as f64;
            let answer = Answer {
                channel: c.channel,
                start: seconds(c.utterance.speech_start),
                end: seconds(c.utterance.speech_end),
                emotion,
                probabilities: row.to_vec(),
            };
            on_answer(Heard { answer, samples: &c.utterance.samples, closed_at: c.closed_at })?;
        }
    }
    Ok(())
}

/// The reader thread: decode, resample to 16 kHz, segment each channel, send what closes.
fn read_and_segment<R: Read>(mut stream: PcmStream<R>, config: &ListenConfig, sender: SyncSender<Closed>) -> Outcome {
    let timelines = match config.channels {
        ChannelMode::Mix => 1,
        ChannelMode::Split => stream.channels,
    };
    let mut segmenters: Vec<Segmenter> = (0..timelines).map(|_| Segmenter::new(config.segmenter)).collect();
    let mut envelopes: Vec<Envelope> = (0..timelines).map(|_| Envelope::new(SAMPLE_RATE, ENVELOPE_BIN_SAMPLES, ENVELOPE_BINS)).collect();
    let mut resampler = match StreamResampler::new(stream.sample_rate, SAMPLE_RATE, timelines) {
        Ok(r) => r,
        Err(e) => return Outcome { envelopes: Vec::new(), seconds: 0.0, stream_error: Some(e) },
    };
    let (mut block, mut scratch, mut resampled, mut channel, mut closed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut heard = 0u64;
    let mut stream_error = None;
    // Hands 16 kHz audio to the segmenters; false once the scoring thread has gone.
    let mut deliver = |resampled: &mut Vec<f32>, segmenters: &mut [Segmenter], finish: bool| -> bool {
        for (c, (segmenter, envelope)) in segmenters.iter_mut().zip(&mut envelopes).enumerate() {
            let samples: &[f32] = if timelines == 1 {
                resampled
            } else {
                channel.clear();
                channel.extend(resampled.iter().skip(c).step_by(timelines));
                &channel
            };
            envelope.push(samples);
            segmenter.push(samples, &mut closed);
            if finish {
                segmenter.finish(&mut closed);
            }
            let now = Instant::now();
            for utterance in closed.drain(..) {
                if sender.send(Closed { channel: c, utterance, closed_at: now }).is_err() {
                    return false;
                }
            }
        }
        heard += (resampled.len() / timelines) as u64;
        resampled.clear();
        true
    };
    loop {
        block.clear();
        let read = match config.channels {
            ChannelMode::Mix => stream.read_mono(&mut scratch, &mut block),
            ChannelMode::Split => stream.read_frames(&mut block),
        };
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                stream_error = Some(e);
                break;
            }
        }
        if let Err(e) = resampler.push(&block, &mut resampled) {
            stream_error = Some(e);
            break;
        }
        if !deliver(&mut resampled, &mut segmenters, false) {
            break;
        }
    }
    // What was heard before the end (or the error) still counts: flush it and close the open utterances.
    if let Err(e) = resampler.finish(&mut resampled) {
        stream_error.get_or_insert(e);
    }
    deliver(&mut resampled, &mut segmenters, true);
    Outcome { envelopes: envelopes.into_iter().map(Envelope::finish).collect(), seconds: heard as f64 / SAMPLE_RATE as f64, stream_error }
}
