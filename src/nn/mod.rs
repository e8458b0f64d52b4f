//! Layers, each one file, and the study's model built from them.
//!
//! # Reading a layer
//! Every layer file reads in the same order:
//! 1. the math: the forward formula and, under it, each derivative backward needs;
//! 2. `pub mod reference`: forward and backward as the plain loops one writes from that math,
//!    generic over [`Real`](crate::Real) like the layer, slow and obviously right;
//! 3. the fast path: the layer struct whose numbers equal the reference's (within rounding) and
//!    whose bookkeeping (GEMM layouts, shards, skipped padding) is there for speed only;
//! 4. a line naming the tests: tests/nn_reference.rs checks fast = reference, forward and backward;
//!    tests/gradcheck_layers.rs and tests/gradcheck_bilstm.rs check each backward against central
//!    differences in f64 ([`gradcheck`]); tests/model.rs checks the whole model the same way.
//!
//! ReLU and Dropout are one line of math each, so their fast path is already the plain loop.
//!
//! # One interface
//! ```text
//! forward(x, mode) -> y      Mode::Train caches what backward needs; Mode::Eval caches nothing;
//!                            Mode::EvalInputGrad computes as Eval and caches for backward
//! backward(dy)     -> dx     needs a Mode::Train or Mode::EvalInputGrad forward first; after
//!                            Train it ADDS into each parameter's grad, after EvalInputGrad it
//!                            only returns dx
//! params()                   (name, value and grad) of every learnable tensor, PyTorch's names
//! ```
//! Backward only adds, so a step is `zero_grad`, forward, backward (as in llm.c and PyTorch).
//!
//! `Mode::EvalInputGrad` is for the gradient of the deployed model's output with respect to its
//! input (explanations): BatchNorm normalises with its running statistics and leaves them alone,
//! Dropout is the identity (its backward too), and backward skips every parameter gradient, so
//! the model being explained is the one `Mode::Eval` scores and its gradients stay untouched. The
//! training path is unchanged: `Mode::Train` takes the same branches as before.
//! Layers whose input has a valid length per clip (BiLSTM, temporal pooling) take
//! `forward(x, lengths, mode)`: `None` runs every step, the study's padding included.
//!
//! Two behaviours beyond the mode are constructor-level or argument-level options that say what
//! they are, rather than extra entry points:
//! - [`Conv1d::backward`] takes an [`InputGrad`]: `Skip` for the model's first layer, whose input
//!   is data, since dx of the padding is the costliest part and nobody reads it.
//! - [`BatchNorm1d::without_running_stats`] (PyTorch's `track_running_stats=False`) always
//!   normalises with the batch's statistics: the speaker adversary's, which only ever trains.
//!
//! A gradient check evaluates the training-mode function many times on one batch. That needs no
//! mode of its own: BatchNorm's training output does not read the running statistics (updating
//! them is harmless), and Dropout repeats its masks after [`Dropout::reseed`] with the same seed.
//!
//! Shape key: B = batch, C = channels, T = time steps, K = kernel, I = input size, H = hidden
//! size, N = features, O = outputs.

pub mod batchnorm1d;
pub mod bilstm;
pub mod conv1d;
pub mod dropout;
pub mod gradcheck;
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
pub use loss::{
    anchored_consistency, smoothed_targets, softmax, softmax_cross_entropy, softmax_cross_entropy_soft, softmax_cross_entropy_weighted,
    view_consistency,
};
pub use maxpool1d::MaxPool1d;
pub use param::{Param, ParamRef};
pub use relu::Relu;
pub use speaker_adversary::SpeakerAdversary;
pub use temporal_pool::TemporalPool;

/// What a forward pass is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: batch statistics, fresh dropout masks, and the cache backward reads.
    Train,
    /// Evaluation: running statistics, no dropout, nothing cached.
    Eval,
    /// Evaluation's numbers, plus the cache backward reads; that backward returns the input
    /// gradient only (no parameter gradient is computed or added).
    EvalInputGrad,
}

impl Mode {
    /// `Train` when `train`, else `Eval`.
    pub fn from_train(train: bool) -> Self {
        if train {
            Mode::Train
        } else {
            Mode::Eval
        }
    }

    /// Batch statistics and dropout masks (training semantics).
    pub fn is_train(self) -> bool {
        self == Mode::Train
    }

    /// Whether the forward keeps what backward reads.
    pub fn caches(self) -> bool {
        self != Mode::Eval
    }
}

/// Whether a backward pass computes the gradient of the layer's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputGrad {
    Needed,
    /// The parameter gradients only: the input is data, not the output of another layer.
    Skip,
}
