//! Bidirectional single-layer LSTM, numerically PyTorch's
//! `nn.LSTM(I, H, batch_first=True, bidirectional=True)`.
//!
//! # Forward
//! Each direction is an ordinary LSTM; the reverse one reads the sequence from the end. Per
//! direction, for every step t in the direction's order (σ = sigmoid, B = batch, H = hidden):
//! ```text
//! a_t = x_t W_ih^T + b_ih + h_prev W_hh^T + b_hh        (B, 4H), blocks [i | f | g | o]
//! i, f, o = σ(a_i, a_f, a_o)    g = tanh(a_g)
//! c_t = f c_prev + i g          h_t = o tanh(c_t)
//! y_t = [h_t of forward | h_t of reverse]                (B, 2H)
//! ```
//! where "prev" is t-1 for the forward direction and t+1 for the reverse one, and the state before
//! the first step is zero.
//!
//! Lengths: with `lengths`, row b is valid at t < `lengths[b]`; at invalid steps both directions
//! hold h = c = 0 and pass no gradient. The forward direction's outputs past the end are therefore
//! zero, and the reverse direction starts from a zero state at the clip's own last step, as with
//! PyTorch's `pack_padded_sequence`; a length of 0 gives an all-zero row. Without `lengths` every
//! row runs all T steps, padding included (the study's model).
//!
//! # Backward (backprop through time)
//! The loss reaches h_t by two paths: through y_t, and through step "next" (the one after t in the
//! direction's order), which reads h_t as its h_prev; c_t likewise reaches step next's c. So
//! backward walks each direction in the opposite order, carrying dh and dc, starting from zero:
//! ```text
//! dh_t  = dy_t[this direction's half] + da_next W_hh            (recurrent path)
//! dc_t  = dc_prev handed back by step next + dh_t o (1 - tanh² c_t)
//! da_i  = dc_t g i (1 - i)        da_f = dc_t c_prev f (1 - f)
//! da_g  = dc_t i (1 - g²)         da_o = dh_t tanh(c_t) o (1 - o)
//! dc_prev = dc_t f                (handed to the step before)
//! ```
//! and the parameter and input gradients are sums over every step and row:
//! ```text
//! dW_ih = Σ_t da_t^T x_t      dW_hh = Σ_t da_t^T h_prev(t)      db_ih = db_hh = Σ_t Σ_b da_t
//! dx_t  = da_t W_ih + da_t' W_ih_reverse       (the two directions' da at the same t)
//! ```
//!
//! Reference: [`reference`](mod@reference), these formulas one clip, step and element at a time.
//!
//! # Fast path
//! The cell's element-wise forward and backward are `ser_kernels::lstm`; everything else is GEMMs.
//! Once every da_t is known, each parameter gradient above is a single GEMM over all steps:
//! (4H, T·B) x (T·B, I) for dW_ih, (4H, T·B) x (T·B, H) for dW_hh; the input projection
//! x W_ih^T + b of all steps is one GEMM before the recurrence, so each step adds only
//! h_prev W_hh^T.
//!
//! Layout and threads: the batch is cut into shards of `SHARD_CLIPS` clips; each clip's
//! recurrence is independent, so rayon runs the shards, and within a shard the two directions, in
//! parallel, each with its own GEMMs. Inside a shard everything is time-major, row index t·Bs + b,
//! so the all-steps GEMMs read contiguous (T·Bs, ·) matrices. States live in buffers of T+1 slots
//! of (Bs, H): the forward direction's zero initial state is slot 0 and h_t is slot t+1; the
//! reverse direction's h_t is slot t and its zero initial state slot T. Either way the T h_prev
//! slots are contiguous, and so are the T output slots. Each shard sums its own parameter
//! gradients; they are added to the layer's in shard order. Shards have a fixed size, not one per
//! thread, so every number is the same whatever the thread count.
//!
//! Lengths: the clips run sorted longest first, so the rows valid at a step are a prefix of each
//! shard and each step's GEMM and gate pass cover only them (as PyTorch's packed sequences do);
//! the outputs go back to the caller's order at the end.
//!
//! Tests: fast = reference in tests/nn_reference.rs (`bilstm_*`); gradient check of dx and all
//! eight parameters in tests/gradcheck_bilstm.rs.

use super::{Mode, Param, ParamRef};
use crate::Real;
use ndarray::{s, Array, Array3, ArrayView3, Dimension, Ix1, Ix2};
use rand::Rng;
use rayon::prelude::*;
use ser_kernels::gemm::{gemm, Mat};
use ser_kernels::{lstm_step_backward, lstm_step_forward, PackedB};
use std::ops::Range;

/// The formulas as loops, one clip, step and element at a time.
pub mod reference {
    // Index loops, so that each line reads as its formula.
    #![allow(clippy::needless_range_loop)]

    use super::BiLstm;
    use crate::Real;
    use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3};

    /// One direction's gradients: (4H, I), (4H, H), and (4H) for b_ih and b_hh alike.
    pub struct DirectionGrads<T> {
        pub weight_ih: Array2<T>,
        pub weight_hh: Array2<T>,
        pub bias: Array1<T>,
    }

    /// One direction's parameters.
    struct Weights<'a, T> {
        /// (4H, I)
        weight_ih: ArrayView2<'a, T>,
        /// (4H, H)
        weight_hh: ArrayView2<'a, T>,
        /// (4H) each
        bias_ih: ArrayView1<'a, T>,
        bias_hh: ArrayView1<'a, T>,
    }

    /// The forward direction's weights, then the reverse direction's.
    fn directions<T: Real>(lstm: &BiLstm<T>) -> [Weights<'_, T>; 2] {
        [
            Weights {
                weight_ih: lstm.weight_ih_l0.value.view(),
                weight_hh: lstm.weight_hh_l0.value.view(),
                bias_ih: lstm.bias_ih_l0.value.view(),
                bias_hh: lstm.bias_hh_l0.value.view(),
            },
            Weights {
                weight_ih: lstm.weight_ih_l0_reverse.value.view(),
                weight_hh: lstm.weight_hh_l0_reverse.value.view(),
                bias_ih: lstm.bias_ih_l0_reverse.value.view(),
                bias_hh: lstm.bias_hh_l0_reverse.value.view(),
            },
        ]
    }

    /// What one step computed, kept for backward: its time index, the gates [i | f | g | o]
    /// after their activations (4H), and the states it read and wrote (H each).
    struct Step<T> {
        t: usize,
        gates: Vec<T>,
        h_prev: Vec<T>,
        c_prev: Vec<T>,
        c: Vec<T>,
        h: Vec<T>,
    }

    fn sigmoid<T: Real>(v: T) -> T {
        T::one() / (T::one() + (-v).exp())
    }

    /// The valid steps of clip b in direction d's order (d = 0 forward, 1 reverse).
    fn order(d: usize, len: usize) -> Vec<usize> {
        if d == 0 {
            (0..len).collect()
        } else {
            (0..len).rev().collect()
        }
    }

    /// Runs one direction over clip b of x (B, T, I) at the steps `order`, from a zero state.
    fn run<T: Real>(w: &Weights<T>, x: &ArrayView3<T>, b: usize, order: Vec<usize>) -> Vec<Step<T>> {
        let (gates_len, input) = w.weight_ih.dim();
        let hidden = gates_len / 4;
        let (mut h, mut c) = (vec![T::zero(); hidden], vec![T::zero(); hidden]);
        let mut steps = Vec::with_capacity(order.len());
        for t in order {
            let mut a = vec![T::zero(); 4 * hidden];
            for (r, a_r) in a.iter_mut().enumerate() {
                *a_r = w.bias_ih[r] + w.bias_hh[r];
                for k in 0..input {
                    *a_r += w.weight_ih[[r, k]] * x[[b, t, k]];
                }
                for k in 0..hidden {
                    *a_r += w.weight_hh[[r, k]] * h[k];
                }
            }
            let mut gates = vec![T::zero(); 4 * hidden];
            let (mut c_new, mut h_new) = (vec![T::zero(); hidden], vec![T::zero(); hidden]);
            for j in 0..hidden {
                let (i, f, g, o) = (sigmoid(a[j]), sigmoid(a[hidden + j]), a[2 * hidden + j].tanh(), sigmoid(a[3 * hidden + j]));
                (gates[j], gates[hidden + j], gates[2 * hidden + j], gates[3 * hidden + j]) = (i, f, g, o);
                c_new[j] = f * c[j] + i * g;
                h_new[j] = o * c_new[j].tanh();
            }
            steps.push(Step { t, gates, h_prev: h, c_prev: c, c: c_new.clone(), h: h_new.clone() });
            (h, c) = (h_new, c_new);
        }
        steps
    }

    /// L_b: `lengths[b]`, or T without lengths.
    fn len_of(lengths: Option<&[usize]>, b: usize, steps: usize) -> usize {
        lengths.map_or(steps, |lengths| lengths[b])
    }

    /// x: (B, T, I), lengths: (B) or None for all T -> y: (B, T, 2H), zero past each length.
    pub fn forward<T: Real>(lstm: &BiLstm<T>, x: ArrayView3<T>, lengths: Option<&[usize]>) -> Array3<T> {
        let (batch, steps, _) = x.dim();
        let hidden = lstm.hidden;
        let mut y = Array3::zeros((batch, steps, 2 * hidden));
        for (d, w) in directions(lstm).iter().enumerate() {
            for b in 0..batch {
                for step in run(w, &x, b, order(d, len_of(lengths, b, steps))) {
                    for j in 0..hidden {
                        y[[b, step.t, d * hidden + j]] = step.h[j];
                    }
                }
            }
        }
        y
    }

    /// x: (B, T, I), lengths as in forward, dy: (B, T, 2H) -> (dx (B, T, I), the forward and
    /// reverse directions' gradients).
    pub fn backward<T: Real>(
        lstm: &BiLstm<T>,
        x: ArrayView3<T>,
        lengths: Option<&[usize]>,
        dy: ArrayView3<T>,
    ) -> (Array3<T>, [DirectionGrads<T>; 2]) {
        let (batch, steps, input) = x.dim();
        let hidden = lstm.hidden;
        let one = T::one();
        let mut dx = Array3::zeros(x.dim());
        let weights = directions(lstm);
        let grads = [0, 1].map(|d| {
            let w = &weights[d];
            let mut grads = DirectionGrads {
                weight_ih: Array2::zeros((4 * hidden, input)),
                weight_hh: Array2::zeros((4 * hidden, hidden)),
                bias: Array1::zeros(4 * hidden),
            };
            for b in 0..batch {
                // dh and dc handed back by the step after, in the direction's order.
                let (mut dh_next, mut dc_next) = (vec![T::zero(); hidden], vec![T::zero(); hidden]);
                for step in run(w, &x, b, order(d, len_of(lengths, b, steps))).iter().rev() {
                    let mut da = vec![T::zero(); 4 * hidden];
                    for j in 0..hidden {
                        let (i, f, g, o) = (step.gates[j], step.gates[hidden + j], step.gates[2 * hidden + j], step.gates[3 * hidden + j]);
                        let tanh_c = step.c[j].tanh();
                        let dh = dy[[b, step.t, d * hidden + j]] + dh_next[j];
                        let dc = dc_next[j] + dh * o * (one - tanh_c * tanh_c);
                        da[j] = dc * g * i * (one - i);
                        da[hidden + j] = dc * step.c_prev[j] * f * (one - f);
                        da[2 * hidden + j] = dc * i * (one - g * g);
                        da[3 * hidden + j] = dh * tanh_c * o * (one - o);
                        dc_next[j] = dc * f;
                    }
                    dh_next = vec![T::zero(); hidden];
                    for (r, &da_r) in da.iter().enumerate() {
                        grads.bias[r] += da_r;
                        for k in 0..input {
                            grads.weight_ih[[r, k]] += da_r * x[[b, step.t, k]];
                            dx[[b, step.t, k]] += da_r * w.weight_ih[[r, k]];
                        }
                        for k in 0..hidden {
                            grads.weight_hh[[r, k]] += da_r * step.h_prev[k];
                            dh_next[k] += da_r * w.weight_hh[[r, k]];
                        }
                    }
                }
            }
            grads
        });
        (dx, grads)
    }
}

/// Clips per shard. With the two directions run side by side, the study's batch of 256 makes 4
/// tasks. The recurrent GEMMs read W_hh packed once per pass ([`PackedB`]), whatever the shard size.
const SHARD_CLIPS: usize = 128;

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
    /// Train: backward adds into the parameters' grads; EvalInputGrad: it returns dx only.
    mode: Mode,
    steps: usize,
    shards: Vec<Shard<T>>,
    /// the batch order the shards hold (longest first), when it is not the caller's
    order: Option<Vec<usize>>,
}

/// One shard's input and activations, time-major.
#[derive(Clone, Debug)]
struct Shard<T> {
    /// (T, Bs, I) the shard's input
    x: Vec<T>,
    /// (Bs) valid steps per row
    lengths: Vec<usize>,
    forward: DirectionState<T>,
    reverse: DirectionState<T>,
}

/// One direction's activations over the whole sequence, time-major.
#[derive(Clone, Debug)]
struct DirectionState<T> {
    /// (T, Bs, 4H) gate activations [i | f | g | o]
    gates: Vec<T>,
    /// (T+1, Bs, H) hidden states, slots as in the module docs
    h: Vec<T>,
    /// (T+1, Bs, H) cell states, same slots as `h`
    c: Vec<T>,
    /// (T, Bs, H) tanh(c_t), kept so backward needs no tanh
    tanh_c: Vec<T>,
}

#[derive(Clone, Copy, Debug)]
enum Direction {
    Forward,
    Reverse,
}

const DIRECTIONS: [Direction; 2] = [Direction::Forward, Direction::Reverse];

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

/// The parameters of one direction, read-only so that every shard can share them.
struct DirectionWeights<'a, T> {
    /// (4H, I)
    weight_ih: &'a [T],
    /// W_hh^T (H, 4H) packed once for the forward steps' h_prev W_hh^T
    recurrent: PackedB<T>,
    /// W_hh (4H, H) packed once for the backward steps' da W_hh
    recurrent_grad: PackedB<T>,
    /// (4H) b_ih + b_hh: both biases enter the pre-activation alike
    bias: Vec<T>,
    /// I
    input: usize,
}

/// One shard's parameter gradients, forward then reverse direction (`None` after an
/// `EvalInputGrad` forward).
type ShardGrads<T> = [Option<DirectionGrads<T>>; 2];

/// One shard's gradients of one direction's parameters.
struct DirectionGrads<T> {
    /// (4H, I)
    weight_ih: Vec<T>,
    /// (4H, H)
    weight_hh: Vec<T>,
    /// (4H) the gradient of b_ih and of b_hh alike
    bias: Vec<T>,
}

impl<T: Real> BiLstm<T> {
    /// Every parameter uniform(-1/sqrt(H), 1/sqrt(H)), drawn in PyTorch's parameter order (H is
    /// the fan-in of W_hh's rows, the bound PyTorch uses for every LSTM tensor).
    pub fn new(input: usize, hidden: usize, rng: &mut impl Rng) -> Self {
        let gates = 4 * hidden;
        // Struct fields are evaluated in the order written, which is PyTorch's.
        BiLstm {
            weight_ih_l0: Param::uniform_fan_in((gates, input), hidden, rng),
            weight_hh_l0: Param::uniform_fan_in((gates, hidden), hidden, rng),
            bias_ih_l0: Param::uniform_fan_in(gates, hidden, rng),
            bias_hh_l0: Param::uniform_fan_in(gates, hidden, rng),
            weight_ih_l0_reverse: Param::uniform_fan_in((gates, input), hidden, rng),
            weight_hh_l0_reverse: Param::uniform_fan_in((gates, hidden), hidden, rng),
            bias_ih_l0_reverse: Param::uniform_fan_in(gates, hidden, rng),
            bias_hh_l0_reverse: Param::uniform_fan_in(gates, hidden, rng),
            hidden,
            cache: None,
        }
    }

    /// x: (B, T, I), lengths: (B) or None for all T -> y: (B, T, 2H); caches for backward in
    /// training mode.
    pub fn forward(&mut self, x: ArrayView3<T>, lengths: Option<&[usize]>, mode: Mode) -> Array3<T> {
        let (batch, steps, input) = x.dim();
        let hidden = self.hidden;
        let expected_input = self.weight_ih_l0.value.ncols();
        assert_eq!(input, expected_input, "BiLstm input size: expected {expected_input}, got {input}");
        // With lengths, the clips run longest first (see "Fast path" in the module docs).
        let (lengths, order) = match lengths {
            Some(lengths) => {
                assert_eq!(lengths.len(), batch, "BiLstm lengths: expected one per clip ({batch}), got {}", lengths.len());
                assert!(lengths.iter().all(|&l| l <= steps), "BiLstm lengths {lengths:?} exceed T = {steps}");
                let order = longest_first(lengths);
                let sorted = order.as_ref().map_or_else(|| lengths.to_vec(), |order| order.iter().map(|&b| lengths[b]).collect());
                (sorted, order)
            }
            None => (vec![steps; batch], None),
        };
        let weights = DIRECTIONS.map(|dir| self.weights(dir));
        let x_sorted;
        let x = match &order {
            Some(order) => {
                x_sorted = gather_rows(x, order);
                x_sorted.view()
            }
            None => x,
        };
        let x = x.as_standard_layout();
        let x_flat = x.as_slice().expect("standard layout");
        let run_shard = |rows: Range<usize>| {
            let x_shard = time_major(&x_flat[rows.start * steps * input..rows.end * steps * input], steps, input, 0..input);
            let lengths = lengths[rows].to_vec();
            let (forward, reverse) = rayon::join(
                || direction_forward(&weights[0], Direction::Forward, &x_shard, &lengths, steps, hidden),
                || direction_forward(&weights[1], Direction::Reverse, &x_shard, &lengths, steps, hidden),
            );
            // y rows of this shard, (Bs, T, 2H): each direction's T output slots into its half.
            let clips = lengths.len();
            let mut y = Array3::zeros((clips, steps, 2 * hidden));
            for (dir, state) in [(Direction::Forward, &forward), (Direction::Reverse, &reverse)] {
                let outputs = &state.h[dir.out_slot(0) * clips * hidden..][..steps * clips * hidden];
                let h = ArrayView3::from_shape((steps, clips, hidden), outputs).expect("state slots are (Bs, H)");
                y.slice_mut(s![.., .., dir.columns(hidden)]).assign(&h.permuted_axes([1, 0, 2]));
            }
            (y, Shard { x: x_shard, lengths, forward, reverse })
        };
        let (ys, shards): (Vec<Array3<T>>, Vec<Shard<T>>) = shard_rows(batch).into_par_iter().map(run_shard).unzip();
        let y = concatenate_clips(&ys, (batch, steps, 2 * hidden));
        let y = match &order {
            Some(order) => scatter_rows(y.view(), order),
            None => y,
        };
        self.cache = mode.caches().then_some(Cache { mode, steps, shards, order });
        y
    }

    /// dy: (B, T, 2H) -> dx: (B, T, I); after a Train forward adds into every parameter's grad.
    pub fn backward(&mut self, dy: ArrayView3<T>) -> Array3<T> {
        let cache = self.cache.take().expect("BiLstm::backward needs a Train or EvalInputGrad forward first");
        let (steps, hidden, param_grads) = (cache.steps, self.hidden, cache.mode.is_train());
        let batch: usize = cache.shards.iter().map(|shard| shard.lengths.len()).sum();
        let input = self.weight_ih_l0.value.ncols();
        assert_eq!(dy.dim(), (batch, steps, 2 * hidden), "BiLstm dy shape: expected (B, T, 2H), got {:?}", dy.dim());

        let weights = DIRECTIONS.map(|dir| self.weights(dir));
        let dy_sorted;
        let dy = match &cache.order {
            Some(order) => {
                dy_sorted = gather_rows(dy, order);
                dy_sorted.view()
            }
            None => dy,
        };
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().expect("standard layout");
        let backward_shard = |(rows, shard): (Range<usize>, &Shard<T>)| {
            let clips = shard.lengths.len();
            let dy_shard = &dy_flat[rows.start * steps * 2 * hidden..rows.end * steps * 2 * hidden];
            let run = |dir: Direction, weights: &DirectionWeights<T>, state: &DirectionState<T>| {
                let dh = time_major(dy_shard, steps, 2 * hidden, dir.columns(hidden));
                direction_backward(weights, dir, state, &shard.x, &shard.lengths, steps, hidden, dh, param_grads)
            };
            let ((forward_grads, forward_dgates), (reverse_grads, reverse_dgates)) = rayon::join(
                || run(Direction::Forward, &weights[0], &shard.forward),
                || run(Direction::Reverse, &weights[1], &shard.reverse),
            );
            // dx_t = da_t W_ih + da_t' W_ih_reverse, both directions' (T·Bs, 4H) gradients at once.
            let (rows_all, gate_cols) = (steps * clips, 4 * hidden);
            let mut dx = vec![T::zero(); rows_all * input];
            for (dgates, w) in [(&forward_dgates, &weights[0]), (&reverse_dgates, &weights[1])] {
                let w_ih = Mat::new(w.weight_ih, gate_cols, input);
                gemm(T::one(), Mat::new(dgates, rows_all, gate_cols), w_ih, T::one(), &mut dx, input);
            }
            let grads = [forward_grads, reverse_grads];
            let dx = ArrayView3::from_shape((steps, clips, input), &dx)
                .expect("dx is (T, Bs, I)")
                .permuted_axes([1, 0, 2])
                .as_standard_layout()
                .into_owned();
            (dx, grads)
        };
        let rows = shard_rows(batch);
        let (dxs, grads): (Vec<Array3<T>>, Vec<ShardGrads<T>>) =
            rows.into_par_iter().zip(cache.shards.par_iter()).map(backward_shard).unzip();
        for shard_grads in &grads {
            for (dir, g) in DIRECTIONS.into_iter().zip(shard_grads).filter_map(|(dir, g)| Some((dir, g.as_ref()?))) {
                let (weight_ih, weight_hh, bias_ih, bias_hh) = self.params_of(dir);
                add_into(contiguous_mut(&mut weight_ih.grad), &g.weight_ih);
                add_into(contiguous_mut(&mut weight_hh.grad), &g.weight_hh);
                add_into(contiguous_mut(&mut bias_ih.grad), &g.bias);
                add_into(contiguous_mut(&mut bias_hh.grad), &g.bias);
            }
        }
        let dx = concatenate_clips(&dxs, (batch, steps, input));
        let dx = match &cache.order {
            Some(order) => scatter_rows(dx.view(), order),
            None => dx,
        };
        self.cache = Some(cache);
        dx
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

    /// weight_ih, weight_hh, bias_ih, bias_hh of one direction.
    #[allow(clippy::type_complexity)]
    fn params_of(&mut self, dir: Direction) -> (&mut Param<T, Ix2>, &mut Param<T, Ix2>, &mut Param<T, Ix1>, &mut Param<T, Ix1>) {
        match dir {
            Direction::Forward => (&mut self.weight_ih_l0, &mut self.weight_hh_l0, &mut self.bias_ih_l0, &mut self.bias_hh_l0),
            Direction::Reverse => {
                (&mut self.weight_ih_l0_reverse, &mut self.weight_hh_l0_reverse, &mut self.bias_ih_l0_reverse, &mut self.bias_hh_l0_reverse)
            }
        }
    }

    fn weights(&self, dir: Direction) -> DirectionWeights<'_, T> {
        let (weight_ih, weight_hh, bias_ih, bias_hh) = match dir {
            Direction::Forward => (&self.weight_ih_l0, &self.weight_hh_l0, &self.bias_ih_l0, &self.bias_hh_l0),
            Direction::Reverse => {
                (&self.weight_ih_l0_reverse, &self.weight_hh_l0_reverse, &self.bias_ih_l0_reverse, &self.bias_hh_l0_reverse)
            }
        };
        DirectionWeights {
            weight_ih: contiguous(&weight_ih.value),
            // PackedB reads any strides, so W_hh^T is W_hh's own slice with swapped strides.
            recurrent: PackedB::pack(Mat::new(contiguous(&weight_hh.value), 4 * self.hidden, self.hidden).t()),
            recurrent_grad: PackedB::pack(Mat::new(contiguous(&weight_hh.value), 4 * self.hidden, self.hidden)),
            bias: bias_ih.value.iter().zip(&bias_hh.value).map(|(&i, &h)| i + h).collect(),
            input: weight_ih.value.ncols(),
        }
    }
}

/// Columns `columns` of a batch-major (Bs, T, C) block, time-major: (T, Bs, columns.len()).
fn time_major<T: Real>(block: &[T], steps: usize, width: usize, columns: Range<usize>) -> Vec<T> {
    let clips = block.len() / (steps * width);
    let cols = columns.len();
    let mut out = vec![T::zero(); steps * clips * cols];
    for (b, clip) in block.chunks_exact(steps * width).enumerate() {
        for (t, row) in clip.chunks_exact(width).enumerate() {
            out[(t * clips + b) * cols..][..cols].copy_from_slice(&row[columns.clone()]);
        }
    }
    out
}

/// The batch rows of each shard, in order.
fn shard_rows(batch: usize) -> Vec<Range<usize>> {
    (0..batch).step_by(SHARD_CLIPS).map(|first| first..(first + SHARD_CLIPS).min(batch)).collect()
}

/// Stacks per-shard (Bs, T, C) blocks along the batch axis into (B, T, C).
fn concatenate_clips<T: Real>(blocks: &[Array3<T>], shape: (usize, usize, usize)) -> Array3<T> {
    let mut data = Vec::with_capacity(shape.0 * shape.1 * shape.2);
    for block in blocks {
        data.extend_from_slice(block.as_slice().expect("shard blocks are built in standard layout"));
    }
    Array3::from_shape_vec(shape, data).expect("the shards cover the batch")
}

/// sum += part, element-wise.
fn add_into<T: Real>(sum: &mut [T], part: &[T]) {
    assert_eq!(sum.len(), part.len(), "gradient lengths differ");
    for (s, &p) in sum.iter_mut().zip(part) {
        *s += p;
    }
}

/// A parameter array as a row-major slice.
fn contiguous<T, D: Dimension>(a: &Array<T, D>) -> &[T] {
    a.as_slice().expect("BiLstm parameters are kept in standard layout")
}

/// A parameter gradient as a mutable row-major slice.
fn contiguous_mut<T, D: Dimension>(a: &mut Array<T, D>) -> &mut [T] {
    a.as_slice_mut().expect("BiLstm gradients are kept in standard layout")
}

/// How many rows run at step t: those with length > t, a prefix of rows sorted by length,
/// longest first.
fn active_rows(lengths: &[usize], t: usize) -> usize {
    debug_assert!(lengths.windows(2).all(|w| w[0] >= w[1]), "BiLstm shards hold rows sorted by length, longest first");
    lengths.partition_point(|&len| len > t)
}

/// Clip order longest first (ties in batch order), or None when the batch is in that order already.
fn longest_first(lengths: &[usize]) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&b| std::cmp::Reverse(lengths[b]));
    (order.iter().enumerate().any(|(i, &b)| i != b)).then_some(order)
}

/// Rows of a (B, T, C) array in `order`: `out[i]` = `a[order[i]`].
fn gather_rows<T: Real>(a: ArrayView3<T>, order: &[usize]) -> Array3<T> {
    let mut out = Array3::zeros(a.dim());
    for (mut row, &b) in out.outer_iter_mut().zip(order) {
        row.assign(&a.index_axis(ndarray::Axis(0), b));
    }
    out
}

/// The inverse of [`gather_rows`]: `out[order[i]`] = `a[i]`.
fn scatter_rows<T: Real>(a: ArrayView3<T>, order: &[usize]) -> Array3<T> {
    let mut out = Array3::zeros(a.dim());
    for (row, &b) in a.outer_iter().zip(order) {
        out.index_axis_mut(ndarray::Axis(0), b).assign(&row);
    }
    out
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

/// Runs one direction over a shard. x: (T, Bs, I) time-major, lengths: (Bs) -> the direction's states.
fn direction_forward<T: Real>(
    weights: &DirectionWeights<T>,
    dir: Direction,
    x: &[T],
    lengths: &[usize],
    steps: usize,
    hidden: usize,
) -> DirectionState<T> {
    let (batch, gate_cols, input) = (lengths.len(), 4 * hidden, weights.input);
    let (rows, slot) = (steps * batch, batch * hidden);

    // a = (b_ih + b_hh) + x W_ih^T for every step in one GEMM; the recurrent term is added per step.
    let mut gates = vec![T::zero(); rows * gate_cols];
    for row in gates.chunks_exact_mut(gate_cols) {
        row.copy_from_slice(&weights.bias);
    }
    let one = T::one();
    gemm(one, Mat::new(x, rows, input), Mat::new(weights.weight_ih, gate_cols, input).t(), one, &mut gates, gate_cols);

    let mut h = vec![T::zero(); (steps + 1) * slot];
    let mut c = vec![T::zero(); (steps + 1) * slot];
    let mut tanh_c = vec![T::zero(); steps * slot];
    for k in 0..steps {
        let t = dir.step(k, steps);
        let gates_t = &mut gates[t * batch * gate_cols..][..batch * gate_cols];
        let (h_t, h_prev) = two_slots(&mut h, dir.out_slot(t), dir.prev_slot(t), slot);
        let (c_t, c_prev) = two_slots(&mut c, dir.out_slot(t), dir.prev_slot(t), slot);
        let tanh_c_t = &mut tanh_c[t * slot..][..slot];
        // Only the rows still running at t (a prefix: rows are sorted by length); the others keep
        // their zero state, and their gates are never read.
        let active = active_rows(lengths, t);
        let state = active * hidden;
        weights.recurrent.gemm_acc(&h_prev[..state], active, hidden, &mut gates_t[..4 * state], gate_cols);
        lstm_step_forward(
            &mut h_t[..state],
            &mut c_t[..state],
            &mut tanh_c_t[..state],
            &mut gates_t[..4 * state],
            &c_prev[..state],
            &lengths[..active],
            t,
            hidden,
        );
    }
    DirectionState { gates, h, c, tanh_c }
}

/// Backprop through one direction of a shard: returns the shard's parameter gradients (when
/// `param_grads`) and the gate pre-activation gradients da (T, Bs, 4H), from which the caller
/// gets dx. dh: (T, Bs, H)
/// this direction's half of dy, time-major (the recurrent gradient is added into it);
/// x: (T, Bs, I) time-major; lengths: (Bs).
#[allow(clippy::too_many_arguments)]
fn direction_backward<T: Real>(
    weights: &DirectionWeights<T>,
    dir: Direction,
    state: &DirectionState<T>,
    x: &[T],
    lengths: &[usize],
    steps: usize,
    hidden: usize,
    mut dh: Vec<T>,
    param_grads: bool,
) -> (Option<DirectionGrads<T>>, Vec<T>) {
    let (batch, gate_cols, input) = (lengths.len(), 4 * hidden, weights.input);
    let (rows, slot) = (steps * batch, batch * hidden);
    let (zero, one) = (T::zero(), T::one());

    let mut dgates = vec![zero; rows * gate_cols];
    let mut dc = vec![zero; slot];
    for k in (0..steps).rev() {
        let t = dir.step(k, steps);
        let gate_range = t * batch * gate_cols..(t + 1) * batch * gate_cols;
        let dgates_t = &mut dgates[gate_range.clone()];
        let c_prev = &state.c[dir.prev_slot(t) * slot..][..slot];
        let (dh_t, tanh_c_t) = (&dh[t * slot..][..slot], &state.tanh_c[t * slot..][..slot]);
        // The rows running at t, as in forward; the others' da stays zero, and so does the dc of
        // a row until its own last step is reached.
        let active = active_rows(lengths, t);
        let rows_state = active * hidden;
        let gates_t = &state.gates[gate_range][..4 * rows_state];
        lstm_step_backward(
            &mut dgates_t[..4 * rows_state],
            &mut dc[..rows_state],
            &dh_t[..rows_state],
            gates_t,
            &c_prev[..rows_state],
            &tanh_c_t[..rows_state],
            &lengths[..active],
            t,
            hidden,
        );
        if k > 0 {
            // Step t read the state of the step processed before it as h_prev: dh_before += da_t W_hh.
            let before = dir.step(k - 1, steps);
            let dh_before = &mut dh[before * slot..][..slot];
            weights.recurrent_grad.gemm_acc(&dgates_t[..4 * rows_state], active, gate_cols, &mut dh_before[..rows_state], hidden);
        }
    }

    if !param_grads {
        return (None, dgates);
    }
    let dgates_all = Mat::new(&dgates, rows, gate_cols);
    let h_prev = &state.h[dir.prev_slot(0) * slot..][..steps * slot];
    let mut grads =
        DirectionGrads { weight_ih: vec![zero; gate_cols * input], weight_hh: vec![zero; gate_cols * hidden], bias: vec![zero; gate_cols] };
    gemm(one, dgates_all.t(), Mat::new(h_prev, rows, hidden), zero, &mut grads.weight_hh, hidden);
    gemm(one, dgates_all.t(), Mat::new(x, rows, input), zero, &mut grads.weight_ih, input);
    for dgates_row in dgates.chunks_exact(gate_cols) {
        add_into(&mut grads.bias, dgates_row);
    }
    (Some(grads), dgates)
}
