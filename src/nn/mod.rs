//! Layers, each one file: a struct with parameters and gradients, `forward` caching what `backward`
//! needs, `backward` adding into parameter gradients and returning the input gradient.
//!
//! Shape key: B = batch, C = channels, T = time steps, I = input size, H = hidden size, O = outputs.

pub mod batchnorm1d;
pub mod bilstm;
pub mod conv1d;
pub mod dropout;
pub mod linear;
pub mod loss;
pub mod maxpool1d;
pub mod model;
pub mod param;
pub mod relu;
pub mod speaker_adversary;
pub mod temporal_pool;

pub use batchnorm1d::BatchNorm1d;
pub use bilstm::BiLstm;
pub use conv1d::Conv1d;
pub use dropout::Dropout;
pub use linear::Linear;
pub use loss::{smoothed_targets, softmax, softmax_cross_entropy, softmax_cross_entropy_soft};
pub use maxpool1d::MaxPool1d;
pub use param::{Param, ParamRef};
pub use relu::Relu;
pub use speaker_adversary::SpeakerAdversary;
pub use temporal_pool::TemporalPool;
