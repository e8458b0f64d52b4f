//! The study's model, as the authors' code builds it (their code is the truth where the paper's
//! text differs):
//!
//! ```text
//! x (B, 162, K)
//!  -> Conv1d(162 -> 60, k 5, stride 2) -> MaxPool1d(k 5, stride 1)      "MFCC_feature_extraction.0/.1"
//!  -> Conv1d(60 -> 40, k 3, stride 2)  -> MaxPool1d(k 5, stride 1)      "MFCC_feature_extraction.2/.3"
//!  -> transpose to (B, T, 40) -> BiLSTM(40 -> 80 each way) (B, T, 160)   "lstm"
//!  -> concat(max over time, mean over time) (B, 320)
//!  -> BatchNorm1d(320) -> Linear(320, 60) -> Dropout(0.25) -> ReLU       "classify.0/.1/.2/.3"
//!  -> Linear(60, 50) -> Dropout(0.25) -> ReLU -> Linear(50, C)           "classify.4/.5/.6/.7"
//!  (C = 8 classes for the study; a model trained on other labels has its corpus's C)
//! ```
//! A recipe may widen the BiLSTM to H units each way (`--lstm-hidden`); the pooled vector,
//! the BatchNorm and the first Linear's input are then 4H wide, written 320 below.
//! No activation between the convolutions. The ablation twin has no Dropout layers; its
//! `classify` indices are those PyTorch's `nn.Sequential` gives without them (0, 1, 3, 5).
//!
//! Backward runs the same list in reverse, like llm.c's `gpt2_backward`. The first convolution
//! needs no input gradient, so none is computed during training.
//!
//! The model's methods take `train: bool` (the layers' [`Mode`]: true is `Mode::Train`) and
//! `input_grad: bool` (the first convolution's [`InputGrad`]: true is `Needed`).
//! [`SerModel::input_gradient`] is the one use of `Mode::EvalInputGrad`: the gradient of the
//! evaluated model's logits with respect to its input, for explanations.
//!
//! Tests: gradient check of every parameter tensor and the input in tests/model.rs
//! (`gradcheck_whole_model_*`); the walk through one clip in docs/tour.md and examples/tour.rs.

use super::{BatchNorm1d, BiLstm, Conv1d, Dropout, InputGrad, Linear, MaxPool1d, Mode, ParamRef, Relu, TemporalPool};
use crate::Real;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMutD, Axis};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Feature rows the model reads: the feature extractor's 162.
pub const INPUT_ROWS: usize = crate::features::ROWS;
/// Classes of the study's model (RAVDESS's eight emotions); a model trained on other labels has
/// as many as its corpus ([`SerModel::with_classes`], [`SerModel::classes`]).
pub const NUM_CLASSES: usize = 8;
/// Hidden units of each direction of the authors' BiLSTM. A recipe may widen it
/// (`Recipe::lstm_hidden`); the rest of the model keeps its sizes but the pooled width.
pub const LSTM_HIDDEN: usize = 80;
/// Dropout probability of the authors' model.
pub const DROPOUT_P: f64 = 0.25;

/// How padded time steps are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// The study: the BiLSTM and the temporal pooling run over the zero padding, so a clip's
    /// answer depends on the other clips in its batch.
    Study,
    /// Each clip's valid length is carried through; the LSTM and pooling see only valid steps.
    Masked,
}

impl Padding {
    pub fn name(self) -> &'static str {
        match self {
            Padding::Study => "study",
            Padding::Masked => "masked",
        }
    }
}

/// The two switches of the study's model family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub dropout: bool,
    pub padding: Padding,
}

/// The fewest input frames the conv/pool stack accepts (it leaves one LSTM step).
pub const MIN_FRAMES: usize = 33;

/// The authors' model with parameters, gradients and the caches of the last forward pass.
pub struct SerModel<T: Real> {
    pub config: ModelConfig,
    pub conv1: Conv1d<T>,
    pub pool1: MaxPool1d,
    pub conv2: Conv1d<T>,
    pub pool2: MaxPool1d,
    pub lstm: BiLstm<T>,
    pub temporal: TemporalPool,
    pub bn: BatchNorm1d<T>,
    pub fc1: Linear<T>,
    pub drop1: Option<Dropout<T>>,
    pub relu1: Relu,
    pub fc2: Linear<T>,
    pub drop2: Option<Dropout<T>>,
    pub relu2: Relu,
    pub fc3: Linear<T>,
}

impl<T: Real> SerModel<T> {
    /// The study's model (eight classes) with PyTorch's default initialisation, drawn from a
    /// seeded generator in the layers' order.
    pub fn new(config: ModelConfig, seed: u64) -> Self {
        Self::with_classes(config, NUM_CLASSES, seed)
    }

    /// [`SerModel::new`] with `classes` outputs (the last layer is Linear(50, classes)).
    pub fn with_classes(config: ModelConfig, classes: usize, seed: u64) -> Self {
        Self::with_width(config, classes, LSTM_HIDDEN, seed)
    }

    /// [`SerModel::with_classes`] with `lstm_hidden` units each way in the BiLSTM, so that the
    /// pooled vector, the BatchNorm and the first Linear's input are `4 * lstm_hidden` wide.
    /// The authors' width (80) draws the same parameters as [`SerModel::with_classes`].
    pub fn with_width(config: ModelConfig, classes: usize, lstm_hidden: usize, seed: u64) -> Self {
        let pooled = 4 * lstm_hidden;
        let mut rng = StdRng::seed_from_u64(seed);
        let conv1 = Conv1d::new(INPUT_ROWS, 60, 5, 2, &mut rng);
        let conv2 = Conv1d::new(60, 40, 3, 2, &mut rng);
        let lstm = BiLstm::new(40, lstm_hidden, &mut rng);
        let fc1 = Linear::new(pooled, 60, &mut rng);
        let fc2 = Linear::new(60, 50, &mut rng);
        let fc3 = Linear::new(50, classes, &mut rng);
        let dropout = |k: u64| config.dropout.then(|| Dropout::new(DROPOUT_P, seed.wrapping_mul(0x9E37_79B9).wrapping_add(k)));
        SerModel {
            config,
            conv1,
            pool1: MaxPool1d::new(5, 1),
            conv2,
            pool2: MaxPool1d::new(5, 1),
            lstm,
            temporal: TemporalPool::default(),
            bn: BatchNorm1d::new(pooled),
            fc1,
            drop1: dropout(1),
            relu1: Relu::default(),
            fc2,
            drop2: dropout(2),
            relu2: Relu::default(),
            fc3,
        }
    }

    /// The number of classes: the last layer's outputs.
    pub fn classes(&self) -> usize {
        self.fc3.weight.value.nrows()
    }

    /// Hidden units of each direction of the BiLSTM (the authors': [`LSTM_HIDDEN`]).
    pub fn lstm_hidden(&self) -> usize {
        self.lstm.weight_hh_l0.value.ncols()
    }

    /// Width of the pooled utterance vector: max and mean over time of both directions.
    pub fn pooled(&self) -> usize {
        4 * self.lstm_hidden()
    }

    /// Time steps left after the conv/pool stack for an input of `frames` frames (0 if too short).
    pub fn steps_after_frontend(&self, frames: usize) -> usize {
        // The layers' own kernels and strides; a stage with fewer frames than its kernel leaves none.
        let windows = |len: usize, kernel: usize, stride: usize| if len >= kernel { (len - kernel) / stride + 1 } else { 0 };
        let conv = |c: &Conv1d<T>, len| windows(len, c.weight.value.dim().2, c.stride);
        let pool = |p: &MaxPool1d, len| windows(len, p.kernel, p.stride);
        pool(&self.pool2, conv(&self.conv2, pool(&self.pool1, conv(&self.conv1, frames))))
    }

    /// x: (B, 162, K), lengths: each clip's valid frames (used when masked) -> logits (B, C).
    pub fn forward(&mut self, x: ArrayView3<T>, lengths: &[usize], train: bool) -> Array2<T> {
        let pooled = self.encode(x, lengths, train);
        self.classify(pooled.view(), train)
    }

    /// x: (B, 162, K), lengths -> the pooled utterance vector (B, 320) that the head classifies.
    pub fn encode(&mut self, x: ArrayView3<T>, lengths: &[usize], train: bool) -> Array2<T> {
        self.encode_in(x, lengths, Mode::from_train(train))
    }

    /// x: (B, 162, K), lengths -> the gradient of `sum[b, c] dlogits[b, c] * logits[b, c]` with
    /// respect to x, (B, 162, K), and the logits (B, C), of the model as `Mode::Eval` scores it
    /// (running statistics, no dropout). No parameter gradient is computed or changed.
    pub fn input_gradient(&mut self, x: ArrayView3<T>, lengths: &[usize], dlogits: ArrayView2<T>) -> (Array3<T>, Array2<T>) {
        let pooled = self.encode_in(x, lengths, Mode::EvalInputGrad);
        let logits = self.classify_in(pooled.view(), Mode::EvalInputGrad);
        let dx = self.backward(dlogits, true).expect("the input gradient was requested");
        (dx, logits)
    }

    /// As [`SerModel::encode`], in any [`Mode`].
    fn encode_in(&mut self, x: ArrayView3<T>, lengths: &[usize], mode: Mode) -> Array2<T> {
        assert_eq!(x.shape()[1], INPUT_ROWS, "model input must have {INPUT_ROWS} feature rows");
        assert_eq!(lengths.len(), x.shape()[0], "one length per clip");
        let h = self.conv1.forward(x, mode);
        let h = self.pool1.forward(h.view(), mode);
        let h = self.conv2.forward(h.view(), mode);
        let h = self.pool2.forward(h.view(), mode);
        // (B, 40, T) -> (B, T, 40), contiguous for the LSTM's input GEMM.
        let seq = h.permuted_axes([0, 2, 1]).as_standard_layout().into_owned();
        let steps: Vec<usize> = lengths.iter().map(|&l| self.steps_after_frontend(l).max(1)).collect();
        let mask = (self.config.padding == Padding::Masked).then_some(steps.as_slice());
        let h = self.lstm.forward(seq.view(), mask, mode);
        self.temporal.forward(h.view(), mask, mode)
    }

    /// pooled: (B, 320) -> logits (B, C).
    pub fn classify(&mut self, pooled: ArrayView2<T>, train: bool) -> Array2<T> {
        self.classify_in(pooled, Mode::from_train(train))
    }

    /// As [`SerModel::classify`], in any [`Mode`].
    fn classify_in(&mut self, pooled: ArrayView2<T>, mode: Mode) -> Array2<T> {
        let h = self.bn.forward(pooled, mode);
        let h = self.fc1.forward(h.view(), mode);
        let h = match &mut self.drop1 {
            Some(d) => d.forward(h.view(), mode),
            None => h,
        };
        let h = self.relu1.forward(h.view(), mode);
        let h = self.fc2.forward(h.view(), mode);
        let h = match &mut self.drop2 {
            Some(d) => d.forward(h.view(), mode),
            None => h,
        };
        let h = self.relu2.forward(h.view(), mode);
        self.fc3.forward(h.view(), mode)
    }

    /// dlogits: (B, C) -> dx (B, 162, K) when `input_grad`. Adds into every parameter's gradient
    /// after a training forward.
    pub fn backward(&mut self, dlogits: ArrayView2<T>, input_grad: bool) -> Option<Array3<T>> {
        let dpooled = self.classify_backward(dlogits);
        self.encode_backward(dpooled.view(), input_grad)
    }

    /// dlogits: (B, C) -> dpooled (B, 320). Adds into the head's gradients.
    pub fn classify_backward(&mut self, dlogits: ArrayView2<T>) -> Array2<T> {
        let d = self.fc3.backward(dlogits);
        let d = self.relu2.backward(d.view());
        let d = match &mut self.drop2 {
            Some(dr) => dr.backward(d.view()),
            None => d,
        };
        let d = self.fc2.backward(d.view());
        let d = self.relu1.backward(d.view());
        let d = match &mut self.drop1 {
            Some(dr) => dr.backward(d.view()),
            None => d,
        };
        let d = self.fc1.backward(d.view());
        self.bn.backward(d.view())
    }

    /// dpooled: (B, 320) -> dx (B, 162, K) when `input_grad`. Adds into the front end's and the
    /// BiLSTM's gradients.
    pub fn encode_backward(&mut self, dpooled: ArrayView2<T>, input_grad: bool) -> Option<Array3<T>> {
        let d = self.temporal.backward(dpooled);
        let d = self.lstm.backward(d.view());
        // (B, T, 40) -> (B, 40, T)
        let d = d.permuted_axes([0, 2, 1]).as_standard_layout().into_owned();
        let d = self.pool2.backward(d.view());
        let d = self.conv2.backward(d.view(), InputGrad::Needed).expect("conv2 input gradient was requested");
        let d = self.pool1.backward(d.view());
        self.conv1.backward(d.view(), if input_grad { InputGrad::Needed } else { InputGrad::Skip })
    }

    /// The `classify` index of each head layer, as PyTorch's `nn.Sequential` numbers them.
    fn head_names(&self) -> [&'static str; 4] {
        if self.config.dropout {
            ["classify.0", "classify.1", "classify.4", "classify.7"]
        } else {
            ["classify.0", "classify.1", "classify.3", "classify.5"]
        }
    }

    /// Every learnable tensor with its PyTorch name, in a fixed order.
    pub fn params(&mut self) -> Vec<(String, ParamRef<'_, T>)> {
        let [bn, fc1, fc2, fc3] = self.head_names();
        let groups = [
            ("MFCC_feature_extraction.0", self.conv1.params()),
            ("MFCC_feature_extraction.2", self.conv2.params()),
            ("lstm", self.lstm.params()),
            (bn, self.bn.params()),
            (fc1, self.fc1.params()),
            (fc2, self.fc2.params()),
            (fc3, self.fc3.params()),
        ];
        groups.into_iter().flat_map(|(prefix, list)| list.into_iter().map(move |(name, p)| (format!("{prefix}.{name}"), p))).collect()
    }

    /// Non-learned state saved with the weights (BatchNorm's running statistics).
    pub fn buffers(&mut self) -> Vec<(String, ArrayViewMutD<'_, T>)> {
        let bn = self.head_names()[0];
        self.bn.buffers().into_iter().map(|(n, b)| (format!("{bn}.{n}"), b)).collect()
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for (_, mut p) in self.params() {
            p.grad.fill(T::zero());
        }
    }

    /// Reseeds the dropout masks (a new seed per run, or the same to replay one).
    pub fn reseed_dropout(&mut self, seed: u64) {
        for (k, d) in [&mut self.drop1, &mut self.drop2].into_iter().enumerate() {
            if let Some(d) = d {
                d.reseed(seed.wrapping_mul(0x9E37_79B9).wrapping_add(k as u64 + 1));
            }
        }
    }
}

/// Stacks clips (162, K_i) into a zero-padded batch (B, 162, max(K_i, MIN_FRAMES)) and returns
/// each clip's valid length (at least MIN_FRAMES: a shorter clip's padding to the minimum counts
/// as part of it, so it gets the same answer alone or in any batch).
pub fn pad_batch<T: Real>(clips: &[ArrayView2<'_, T>]) -> (Array3<T>, Vec<usize>) {
    let k = clips.iter().map(|c| c.shape()[1]).max().unwrap_or(0).max(MIN_FRAMES);
    let mut batch = Array3::zeros((clips.len(), INPUT_ROWS, k));
    for (mut slot, clip) in batch.axis_iter_mut(Axis(0)).zip(clips) {
        assert_eq!(clip.shape()[0], INPUT_ROWS, "a clip must have {INPUT_ROWS} feature rows");
        slot.slice_mut(ndarray::s![.., ..clip.shape()[1]]).assign(clip);
    }
    let lengths = clips.iter().map(|c| c.shape()[1].max(MIN_FRAMES)).collect();
    (batch, lengths)
}
