//! Optimisation: Adam (and AdamW) and global gradient-norm clipping, as PyTorch defines them.

pub mod adam;
pub mod clip;

pub use adam::Adam;
pub use clip::clip_grad_norm;
