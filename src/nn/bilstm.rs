//! Bidirectional single-layer LSTM, numerically PyTorch's
//! `nn.LSTM(I, H, batch_first=True, bidirectional=True)`.
//!
//! # Backward pass (backprop through time)
//!
//! Each direction is an ordinary LSTM; the reverse one reads the sequence from the end. Forward, per
//! direction, for every step t in the direction's order (σ = sigmoid, B = batch, H = hidden):
//! ```text
//! a_t = x_t W_ih^T + b_ih + h_prev W_hh^T + b_hh        (B, 4H), blocks [i | f | g | o]
//! i, f, o = σ(a_i, a_f, a_o)    g = tanh(a_g)
//! c_t = f c_prev + i g          h_t = o tanh(c_t)
//! y_t = [h_t of forward | h_t of reverse]                (B, 2H)
//! ```
//! where "prev" is t-1 for the forward direction and t+1 for the reverse one, and the state before
//! the first step is zero. The loss reaches h_t by two paths: through y_t, and through step "next"
//! (the one after t in the direction's order), which reads h_t as its h_prev. So backward walks
//! each direction in the opposite order, carrying dh and dc:
//! ```text
//! dh_t     = dy_t[this direction's half] + da_next W_hh                  (recurrent path)
//! dc_t     = dc from step next (zero at the direction's last step)
//! da_t     = cell'(dh_t, dc_t) -> also gives dc_prev = (dc_t + dh_t o (1 - tanh²c_t)) f
//! ```
//! (the element-wise cell derivative is written out in `ser_kernels::lstm`). Once every da_t is
//! known, the parameter gradients are sums over all steps and rows, so each is a single GEMM:
//! ```text
//! dW_hh += Σ_t da_t^T h_prev(t)      (4H, T·B) x (T·B, H)
//! dW_ih += Σ_t da_t^T x_t            (4H, T·B) x (T·B, I)
//! db_ih += Σ_t Σ_b da_t   (db_hh gets the same: both biases enter a_t alike)
//! dx_t   = da_t W_ih + da_t' W_ih_reverse    (the two directions' da at the same t)
//! ```
//!
//! # Layout
//! Inside the layer everything is time-major, row index t·B + b, so the all-steps GEMMs above and
//! the input projection read contiguous (T·B, ·) matrices. States live in buffers of T+1 slots of
//! (B, H): the forward direction's zero initial state is slot 0 and h_t is slot t+1; the reverse
//! direction's h_t is slot t and its zero initial state slot T. Either way the T h_prev slots are
//! contiguous, and so are the T output slots.
//!
//! # Lengths
//! With `lengths`, row b is valid at t < lengths[b]; at invalid steps both directions hold h = c = 0
//! and pass no gradient. The forward direction's outputs past the end are therefore zero, and the
//! reverse direction starts from a zero state at the clip's own last step, as with PyTorch's
//! `pack_padded_sequence`; a length of 0 gives an all-zero row. Without `lengths` every row runs all
//! T steps, padding included.

use super::{Param, ParamRef};
use crate::Real;
use ndarray::{s, Array, Array3, ArrayView2, ArrayView3, Axis, Dimension, Ix1, Ix2, ShapeBuilder};
use rand::Rng;
use ser_kernels::gemm::{gemm, Mat};
use ser_kernels::{lstm_step_backward, lstm_step_forward};
use std::ops::Range;

/// Bidirectional LSTM layer; field names are PyTorch's state-dict keys.
#[derive(Clone, Debug)]
pub struct BiLstm<T> {
    /// (4H, I)
    pub weight_ih_l0: Param<T, Ix2>,
    /// (4H, H)
    pub weight_hh_l0: Param<T, Ix2>,
    /// (4H)
    pub bias_ih_l0: Param<T, Ix1>,
    /// (4H)
    pub bias_hh_l0: Param<T, Ix1>,
    /// (4H, I)
    pub weight_ih_l0_reverse: Param<T, Ix2>,
    /// (4H, H)
    pub weight_hh_l0_reverse: Param<T, Ix2>,
    /// (4H)
    pub bias_ih_l0_reverse: Param<T, Ix1>,
    /// (4H)
    pub bias_hh_l0_reverse: Param<T, Ix1>,
    /// H
    pub hidden: usize,
    cache: Option<Cache<T>>,
}

/// What backward needs from the last training forward.
#[derive(Clone, Debug)]
struct Cache<T> {
    /// (T, B, I) the input, time-major
    x: Vec<T>,
    /// (B) valid steps per row
    lengths: Vec<usize>,
    steps: usize,
    forward: DirectionState<T>,
    reverse: DirectionState<T>,
}

/// One direction's activations over the whole sequence, time-major.
#[derive(Clone, Debug)]
struct DirectionState<T> {
    /// (T, B, 4H) gate activations [i | f | g | o]
    gates: Vec<T>,
    /// (T+1, B, H) hidden states, slots as in the module docs
    h: Vec<T>,
    /// (T+1, B, H) cell states, same slots as `h`
    c: Vec<T>,
    /// (T, B, H) tanh(c_t), kept so backward needs no tanh
    tanh_c: Vec<T>,
}

#[derive(Clone, Copy, Debug)]
enum Direction {
    Forward,
    Reverse,
}

impl Direction {
    /// The time step processed k-th.
    fn step(self, k: usize, steps: usize) -> usize {
        match self {
            Direction::Forward => k,
            Direction::Reverse => steps - 1 - k,
        }
    }
    /// State slot written by step t.
    fn out_slot(self, t: usize) -> usize {
        match self {
            Direction::Forward => t + 1,
            Direction::Reverse => t,
        }
    }
    /// State slot read as h_prev, c_prev by step t.
    fn prev_slot(self, t: usize) -> usize {
        match self {
            Direction::Forward => t,
            Direction::Reverse => t + 1,
        }
    }
    /// This direction's half of the output's last axis.
    fn columns(self, hidden: usize) -> Range<usize> {
        match self {
            Direction::Forward => 0..hidden,
            Direction::Reverse => hidden..2 * hidden,
        }
    }
}

/// The four parameters of one direction.
struct DirectionParams<'a, T> {
    weight_ih: &'a mut Param<T, Ix2>,
    weight_hh: &'a mut Param<T, Ix2>,
    bias_ih: &'a mut Param<T, Ix1>,
    bias_hh: &'a mut Param<T, Ix1>,
}

impl<T: Real> BiLstm<T> {
    /// Every parameter uniform(-1/sqrt(H), 1/sqrt(H)), drawn in PyTorch's parameter order.
    pub fn new(input: usize, hidden: usize, rng: &mut impl Rng) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let gates = 4 * hidden;
        // Struct fields are evaluated in the order written, which is PyTorch's.
        BiLstm {
            weight_ih_l0: uniform((gates, input), bound, rng),
            weight_hh_l0: uniform((gates, hidden), bound, rng),
            bias_ih_l0: uniform(gates, bound, rng),
            bias_hh_l0: uniform(gates, bound, rng),
            weight_ih_l0_reverse: uniform((gates, input), bound, rng),
            weight_hh_l0_reverse: uniform((gates, hidden), bound, rng),
            bias_ih_l0_reverse: uniform(gates, bound, rng),
            bias_hh_l0_reverse: uniform(gates, bound, rng),
            hidden,
            cache: None,
        }
    }

    /// x: (B, T, I), lengths: (B) or None for all T -> y: (B, T, 2H); caches for backward when `train`.
    pub fn forward(&mut self, x: ArrayView3<T>, lengths: Option<&[usize]>, train: bool) -> Array3<T> {
        let (batch, steps, input) = x.dim();
        let hidden = self.hidden;
        let expected_input = self.weight_ih_l0.value.ncols();
        assert_eq!(input, expected_input, "BiLstm input size: expected {expected_input}, got {input}");
        let lengths = match lengths {
            Some(lengths) => {
                assert_eq!(lengths.len(), batch, "BiLstm lengths: expected one per clip ({batch}), got {}", lengths.len());
                assert!(lengths.iter().all(|&l| l <= steps), "BiLstm lengths {lengths:?} exceed T = {steps}");
                lengths.to_vec()
            }
            None => vec![steps; batch],
        };
        let x: Vec<T> = x.permuted_axes([1, 0, 2]).iter().copied().collect();
        let forward = direction_forward(&self.direction(Direction::Forward), Direction::Forward, &x, &lengths, steps, hidden);
        let reverse = direction_forward(&self.direction(Direction::Reverse), Direction::Reverse, &x, &lengths, steps, hidden);

        let mut y = Array3::zeros((batch, steps, 2 * hidden));
        let slot = batch * hidden;
        for (dir, state) in [(Direction::Forward, &forward), (Direction::Reverse, &reverse)] {
            let outputs = &state.h[dir.out_slot(0) * slot..][..steps * slot];
            let h = ArrayView3::from_shape((steps, batch, hidden), outputs).expect("state slots are (B, H)");
            y.slice_mut(s![.., .., dir.columns(hidden)]).assign(&h.permuted_axes([1, 0, 2]));
        }
        self.cache = train.then_some(Cache { x, lengths, steps, forward, reverse });
        y
    }

    /// dy: (B, T, 2H) -> dx: (B, T, I); adds into every parameter's grad.
    pub fn backward(&mut self, dy: ArrayView3<T>) -> Array3<T> {
        let cache = self.cache.take().expect("BiLstm::backward needs a forward with train = true first");
        let (steps, hidden) = (cache.steps, self.hidden);
        let (batch, input) = (cache.lengths.len(), self.weight_ih_l0.value.ncols());
        assert_eq!(dy.dim(), (batch, steps, 2 * hidden), "BiLstm dy shape: expected (B, T, 2H), got {:?}", dy.dim());

        let mut dx = vec![T::zero(); steps * batch * input];
        for (dir, state) in [(Direction::Forward, &cache.forward), (Direction::Reverse, &cache.reverse)] {
            let dh: Vec<T> = dy.slice(s![.., .., dir.columns(hidden)]).permuted_axes([1, 0, 2]).iter().copied().collect();
            let mut params = self.direction(dir);
            direction_backward(&mut params, dir, state, &cache.x, &cache.lengths, steps, hidden, dh, &mut dx);
        }
        self.cache = Some(cache);
        ArrayView3::from_shape((steps, batch, input), &dx)
            .expect("dx is (T, B, I)")
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned()
    }

    /// The eight parameters under their PyTorch names, in PyTorch's order.
    pub fn params(&mut self) -> Vec<(&'static str, ParamRef<'_, T>)> {
        vec![
            ("weight_ih_l0", self.weight_ih_l0.as_ref()),
            ("weight_hh_l0", self.weight_hh_l0.as_ref()),
            ("bias_ih_l0", self.bias_ih_l0.as_ref()),
            ("bias_hh_l0", self.bias_hh_l0.as_ref()),
            ("weight_ih_l0_reverse", self.weight_ih_l0_reverse.as_ref()),
            ("weight_hh_l0_reverse", self.weight_hh_l0_reverse.as_ref()),
            ("bias_ih_l0_reverse", self.bias_ih_l0_reverse.as_ref()),
            ("bias_hh_l0_reverse", self.bias_hh_l0_reverse.as_ref()),
        ]
    }

    fn direction(&mut self, dir: Direction) -> DirectionParams<'_, T> {
        match dir {
            Direction::Forward => DirectionParams {
                weight_ih: &mut self.weight_ih_l0,
                weight_hh: &mut self.weight_hh_l0,
                bias_ih: &mut self.bias_ih_l0,
                bias_hh: &mut self.bias_hh_l0,
            },
            Direction::Reverse => DirectionParams {
                weight_ih: &mut self.weight_ih_l0_reverse,
                weight_hh: &mut self.weight_hh_l0_reverse,
                bias_ih: &mut self.bias_ih_l0_reverse,
                bias_hh: &mut self.bias_hh_l0_reverse,
            },
        }
    }
}

/// A parameter of the given shape, uniform(-bound, bound), filled in row-major order.
fn uniform<T: Real, D: Dimension>(shape: impl ShapeBuilder<Dim = D>, bound: f64, rng: &mut impl Rng) -> Param<T, D> {
    Param::new(Array::from_shape_fn(shape, |_| T::c(rng.gen_range(-bound..bound))))
}

/// A parameter array as a row-major slice.
fn contiguous<T, D: Dimension>(a: &Array<T, D>) -> &[T] {
    a.as_slice().expect("BiLstm parameters are kept in standard layout")
}

/// A parameter gradient as a mutable row-major slice.
fn contiguous_mut<T, D: Dimension>(a: &mut Array<T, D>) -> &mut [T] {
    a.as_slice_mut().expect("BiLstm gradients are kept in standard layout")
}

/// Slot `write` (mutable) and slot `read` of a buffer of `len`-element slots.
fn two_slots<T>(buf: &mut [T], write: usize, read: usize, len: usize) -> (&mut [T], &[T]) {
    assert_ne!(write, read, "a step cannot read the slot it writes");
    if write < read {
        let (head, tail) = buf.split_at_mut(read * len);
        (&mut head[write * len..][..len], &tail[..len])
    } else {
        let (head, tail) = buf.split_at_mut(write * len);
        (&mut tail[..len], &head[read * len..][..len])
    }
}

/// Runs one direction. x: (T, B, I) time-major, lengths: (B) -> the direction's states.
fn direction_forward<T: Real>(
    params: &DirectionParams<T>, dir: Direction, x: &[T], lengths: &[usize], steps: usize, hidden: usize,
) -> DirectionState<T> {
    let (batch, gate_cols) = (lengths.len(), 4 * hidden);
    let (rows, slot) = (steps * batch, batch * hidden);
    let input = params.weight_ih.value.ncols();
    let (weight_ih, weight_hh) = (contiguous(&params.weight_ih.value), contiguous(&params.weight_hh.value));

    // a = (b_ih + b_hh) + x W_ih^T for every step in one GEMM; the recurrent term is added per step.
    let bias: Vec<T> = params.bias_ih.value.iter().zip(&params.bias_hh.value).map(|(&i, &h)| i + h).collect();
    let mut gates: Vec<T> = bias.iter().copied().cycle().take(rows * gate_cols).collect();
    let one = T::one();
    gemm(one, Mat::new(x, rows, input), Mat::new(weight_ih, gate_cols, input).t(), one, &mut gates, gate_cols);

    let mut h = vec![T::zero(); (steps + 1) * slot];
    let mut c = vec![T::zero(); (steps + 1) * slot];
    let mut tanh_c = vec![T::zero(); steps * slot];
    for k in 0..steps {
        let t = dir.step(k, steps);
        let gates_t = &mut gates[t * batch * gate_cols..][..batch * gate_cols];
        let (h_t, h_prev) = two_slots(&mut h, dir.out_slot(t), dir.prev_slot(t), slot);
        gemm(one, Mat::new(h_prev, batch, hidden), Mat::new(weight_hh, gate_cols, hidden).t(), one, gates_t, gate_cols);
        let (c_t, c_prev) = two_slots(&mut c, dir.out_slot(t), dir.prev_slot(t), slot);
        let tanh_c_t = &mut tanh_c[t * slot..][..slot];
        lstm_step_forward(h_t, c_t, tanh_c_t, gates_t, c_prev, lengths, t, hidden);
    }
    DirectionState { gates, h, c, tanh_c }
}

/// Backprop through one direction, adding into its parameter grads and into dx.
/// dh: (T, B, H) this direction's half of dy, time-major (the recurrent gradient is added into it);
/// x, dx: (T, B, I) time-major; lengths: (B).
#[allow(clippy::too_many_arguments)]
fn direction_backward<T: Real>(
    params: &mut DirectionParams<T>, dir: Direction, state: &DirectionState<T>, x: &[T], lengths: &[usize],
    steps: usize, hidden: usize, mut dh: Vec<T>, dx: &mut [T],
) {
    let (batch, gate_cols) = (lengths.len(), 4 * hidden);
    let (rows, slot) = (steps * batch, batch * hidden);
    let input = params.weight_ih.value.ncols();
    let one = T::one();

    let mut dgates = vec![T::zero(); rows * gate_cols];
    let mut dc = vec![T::zero(); slot];
    let weight_hh = contiguous(&params.weight_hh.value);
    for k in (0..steps).rev() {
        let t = dir.step(k, steps);
        let gate_range = t * batch * gate_cols..(t + 1) * batch * gate_cols;
        let dgates_t = &mut dgates[gate_range.clone()];
        let c_prev = &state.c[dir.prev_slot(t) * slot..][..slot];
        let (dh_t, tanh_c_t) = (&dh[t * slot..][..slot], &state.tanh_c[t * slot..][..slot]);
        lstm_step_backward(dgates_t, &mut dc, dh_t, &state.gates[gate_range], c_prev, tanh_c_t, lengths, t, hidden);
        if k > 0 {
            // Step t read the state of the step processed before it as h_prev: dh_before += da_t W_hh.
            let before = dir.step(k - 1, steps);
            let dh_before = &mut dh[before * slot..][..slot];
            gemm(one, Mat::new(dgates_t, batch, gate_cols), Mat::new(weight_hh, gate_cols, hidden), one, dh_before, hidden);
        }
    }

    let dgates_all = Mat::new(&dgates, rows, gate_cols);
    let h_prev = &state.h[dir.prev_slot(0) * slot..][..steps * slot];
    gemm(one, dgates_all.t(), Mat::new(h_prev, rows, hidden), one, contiguous_mut(&mut params.weight_hh.grad), hidden);
    gemm(one, dgates_all.t(), Mat::new(x, rows, input), one, contiguous_mut(&mut params.weight_ih.grad), input);
    let dbias = ArrayView2::from_shape((rows, gate_cols), &dgates).expect("dgates is (T·B, 4H)").sum_axis(Axis(0));
    params.bias_ih.grad += &dbias;
    params.bias_hh.grad += &dbias;
    gemm(one, dgates_all, Mat::new(contiguous(&params.weight_ih.value), gate_cols, input), one, dx, input);
}
