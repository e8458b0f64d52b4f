//! Layers, each one file: a struct with parameters and gradients, `forward` caching what `backward`
//! needs, `backward` adding into parameter gradients and returning the input gradient.
//!
//! Shape key: B = batch, C = channels, T = time steps, I = input size, H = hidden size, O = outputs.

pub mod bilstm;
pub mod param;

pub use bilstm::BiLstm;
pub use param::{Param, ParamRef};
