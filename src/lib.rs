//! ser: speech emotion recognition from scratch.
//!
//! The tree reads as the pipeline: `audio` (WAV, resampling, VAD, augmentation) -> `features`
//! (librosa-compatible rows) -> `nn` (layers with hand-written backward) -> `train` -> `report`.

pub use ser_kernels::Real;

pub mod data;
pub mod dsp;
pub mod nn;
pub mod optim;
pub mod report;

pub mod fsio;
