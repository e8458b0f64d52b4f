//! ser: speech emotion recognition from scratch.
//!
//! The tree reads as the pipeline: `audio` (WAV, resampling, VAD, augmentation) -> `features`
//! (librosa-compatible rows) -> `nn` (layers with hand-written backward) -> `train` -> `report`;
//! `study` runs the paper's ablation, `recipe` the improved training recipe beyond it.

pub use ser_kernels::Real;

pub mod audio;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod dsp;
pub mod features;
pub mod fetch;
pub mod fsio;
pub mod nn;
pub mod optim;
pub mod recipe;
pub mod report;
pub mod stats;
pub mod study;
pub mod synth;
pub mod train;
