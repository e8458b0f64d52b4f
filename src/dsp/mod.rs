//! Signal-processing building blocks shared by the audio front end and the features.

pub mod stft;

pub use stft::{framed_signal, hann_periodic, istft, pad_signal, stft, FrameFft, PadMode};
