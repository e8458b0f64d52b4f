//! ser: speech emotion recognition from scratch.
//!
//! The tree reads as the pipeline, each floor using only the floors below it (checked by
//! `tests/architecture.rs`):
//!
//! 1. [`audio`] (WAV, resampling, VAD, augmentation) and [`dsp`] (framing, FFT);
//! 2. [`features`]: the 162 librosa-compatible rows (ZCR, chroma, MFCC, RMS, mel);
//! 3. [`nn`]: the layers, each with its math, a plain reference and a hand-written backward pass;
//!    [`optim`]: Adam and gradient clipping;
//! 4. [`data`]: where clips come from, their labels and splits, the feature pipeline, the input map;
//! 5. [`checkpoint`]: model files with PyTorch's parameter names;
//! 6. [`train`]: the trainer, its augmentation, metrics and resumable state;
//! 7. [`recipe`]: training recipes as data; [`explain`]: why a checkpoint gave its answer
//!    (integrated gradients and occlusion over the model's input);
//! 8. [`experiments`]: runs that train models from recipes (the dropout ablation, recipe ladders);
//!    [`listen`]: long recordings and streams cut into utterances and classified as they close;
//! 9. [`report`]: the reports those runs write; [`cli`]: the `ser` commands.
//!
//! Where to start reading: `docs/tour.md` follows one clip through the engine, forward and back,
//! and `cargo run --release --example tour` runs the same lesson.

pub use ser_kernels::Real;

pub mod audio;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod dsp;
pub mod experiments;
pub mod explain;
pub mod features;
pub mod fetch;
pub mod fsio;
pub mod listen;
pub mod nn;
pub mod optim;
pub mod recipe;
pub mod report;
pub mod stats;
pub mod synth;
pub mod train;
