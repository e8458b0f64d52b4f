//! Fused per-time-step passes of an LSTM cell: everything in a step except the two GEMMs.
//!
//! B = batch, H = hidden size. A step's gate buffer is (B, 4H), each row the four gate blocks in
//! PyTorch's order [i | f | g | o]. The caller has already put the pre-activations
//! `x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh` there (GEMMs); the forward pass applies the
//! nonlinearities and the cell update, the backward pass turns dL/dh_t and dL/dc_t into the
//! gradient of the pre-activations, which the caller feeds to the GEMMs again.
//!
//! Masking: row b is *valid* at step t when `t < lengths[b]`. An invalid row has state h = c = 0
//! and, in backward, a zero gate gradient, so nothing flows through it in either direction of time.
//!
//! Forward, per valid element (σ = sigmoid):
//! ```text
//! i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//! c = f c_prev + i g        h = o tanh(c)
//! ```
//! Backward, given dh = dL/dh_t (output and recurrence) and dc = dL/dc_t from step t+1:
//! ```text
//! dc    += dh o (1 - tanh(c)^2)            h = o tanh(c), through tanh(c)
//! da_o   = dh tanh(c) o (1 - o)            h = o tanh(c), through o;   σ' = σ(1-σ)
//! da_i   = dc g i (1 - i)                  c = f c_prev + i g
//! da_g   = dc i (1 - g^2)                  tanh' = 1 - tanh^2
//! da_f   = dc c_prev f (1 - f)
//! dc_prev = dc f
//! ```

//!
//! The nonlinearities are [`Real::sigmoid`] and [`Real::tanh_activation`]: in f32 plain arithmetic
//! that the compiler vectorises across a row, in f64 libm. The `_ref` twins compute them in f64
//! libm whatever T is, so the tests bound the f32 approximation too.

use crate::Real;

fn sigmoid_ref<T: Real>(x: T) -> T {
    let x = x.to_f64().expect("a Real converts to f64");
    T::c(1.0 / (1.0 + (-x).exp()))
}

fn tanh_ref<T: Real>(x: T) -> T {
    T::c(x.to_f64().expect("a Real converts to f64").tanh())
}

/// Gate activations, cell and hidden state of one step; invalid rows get zeros.
/// h, c, tanh_c: (B, H) out; gates: (B, 4H) pre-activations in, activations out; c_prev: (B, H);
/// lengths: (B).
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward<T: Real>(
    h: &mut [T],
    c: &mut [T],
    tanh_c: &mut [T],
    gates: &mut [T],
    c_prev: &[T],
    lengths: &[usize],
    t: usize,
    hidden: usize,
) {
    let (b, hh) = (lengths.len(), hidden);
    for (name, len, want) in [
        ("h", h.len(), b * hh),
        ("c", c.len(), b * hh),
        ("tanh_c", tanh_c.len(), b * hh),
        ("gates", gates.len(), 4 * b * hh),
        ("c_prev", c_prev.len(), b * hh),
    ] {
        assert_eq!(len, want, "lstm_step_forward: {name} has {len} elements, expected {want}");
    }
    let rows = h
        .chunks_exact_mut(hh)
        .zip(c.chunks_exact_mut(hh))
        .zip(tanh_c.chunks_exact_mut(hh))
        .zip(gates.chunks_exact_mut(4 * hh))
        .zip(c_prev.chunks_exact(hh))
        .zip(lengths);
    for (((((h, c), tanh_c), gates), c_prev), &len) in rows {
        if t >= len {
            h.fill(T::zero());
            c.fill(T::zero());
            tanh_c.fill(T::zero());
            gates.fill(T::zero());
            continue;
        }
        let (gi, rest) = gates.split_at_mut(hh);
        let (gf, rest) = rest.split_at_mut(hh);
        let (gg, go) = rest.split_at_mut(hh);
        cell_forward(gi, gf, gg, go, c_prev, c, tanh_c, h);
    }
}

/// One row of [`lstm_step_forward`]. Each gate block arrives as its own argument: Rust tells LLVM
/// that distinct `&mut` arguments never overlap, which it cannot prove for pieces split off one
/// slice inside a function, and without that the loop stays scalar.
/// gi, gf, gg, go: (H) pre-activations in, activations out; c_prev: (H); c, tanh_c, h: (H) out.
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_forward<T: Real>(gi: &mut [T], gf: &mut [T], gg: &mut [T], go: &mut [T], c_prev: &[T], c: &mut [T], tanh_c: &mut [T], h: &mut [T]) {
    let hh = gi.len();
    // Every slice cut to exactly H elements, so no bounds check is left in the loop.
    let (gf, gg, go, c_prev, c, tanh_c, h) =
        (&mut gf[..hh], &mut gg[..hh], &mut go[..hh], &c_prev[..hh], &mut c[..hh], &mut tanh_c[..hh], &mut h[..hh]);
    for j in 0..hh {
        let (i, f, g, o) = (gi[j].sigmoid(), gf[j].sigmoid(), gg[j].tanh_activation(), go[j].sigmoid());
        (gi[j], gf[j], gg[j], go[j]) = (i, f, g, o);
        c[j] = f * c_prev[j] + i * g;
        tanh_c[j] = c[j].tanh_activation();
        h[j] = o * tanh_c[j];
    }
}

/// Plain-index reference for [`lstm_step_forward`], same arguments and shapes.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward_ref<T: Real>(
    h: &mut [T],
    c: &mut [T],
    tanh_c: &mut [T],
    gates: &mut [T],
    c_prev: &[T],
    lengths: &[usize],
    t: usize,
    hidden: usize,
) {
    let hh = hidden;
    for (b, &len) in lengths.iter().enumerate() {
        for j in 0..hh {
            let at = |k: usize| b * 4 * hh + k * hh + j;
            let s = b * hh + j;
            if t >= len {
                for k in 0..4 {
                    gates[at(k)] = T::zero();
                }
                (h[s], c[s], tanh_c[s]) = (T::zero(), T::zero(), T::zero());
                continue;
            }
            gates[at(0)] = sigmoid_ref(gates[at(0)]);
            gates[at(1)] = sigmoid_ref(gates[at(1)]);
            gates[at(2)] = tanh_ref(gates[at(2)]);
            gates[at(3)] = sigmoid_ref(gates[at(3)]);
            c[s] = gates[at(1)] * c_prev[s] + gates[at(0)] * gates[at(2)];
            tanh_c[s] = tanh_ref(c[s]);
            h[s] = gates[at(3)] * tanh_c[s];
        }
    }
}

/// Gate pre-activation gradient of one step, and the cell gradient handed to the step before.
/// dgates: (B, 4H) out; dc: (B, H) dL/dc_t from the step after (zeros at the last step) in,
/// dL/dc_prev out; dh: (B, H) total dL/dh_t; gates: (B, 4H) activations from the forward pass;
/// c_prev, tanh_c: (B, H); lengths: (B).
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_backward<T: Real>(
    dgates: &mut [T],
    dc: &mut [T],
    dh: &[T],
    gates: &[T],
    c_prev: &[T],
    tanh_c: &[T],
    lengths: &[usize],
    t: usize,
    hidden: usize,
) {
    let (b, hh) = (lengths.len(), hidden);
    for (name, len, want) in [
        ("dgates", dgates.len(), 4 * b * hh),
        ("dc", dc.len(), b * hh),
        ("dh", dh.len(), b * hh),
        ("gates", gates.len(), 4 * b * hh),
        ("c_prev", c_prev.len(), b * hh),
        ("tanh_c", tanh_c.len(), b * hh),
    ] {
        assert_eq!(len, want, "lstm_step_backward: {name} has {len} elements, expected {want}");
    }
    let rows = dgates
        .chunks_exact_mut(4 * hh)
        .zip(dc.chunks_exact_mut(hh))
        .zip(dh.chunks_exact(hh))
        .zip(gates.chunks_exact(4 * hh))
        .zip(c_prev.chunks_exact(hh))
        .zip(tanh_c.chunks_exact(hh))
        .zip(lengths);
    for ((((((dgates, dc), dh), gates), c_prev), tanh_c), &len) in rows {
        if t >= len {
            dgates.fill(T::zero());
            dc.fill(T::zero());
            continue;
        }
        let (di, rest) = dgates.split_at_mut(hh);
        let (df, rest) = rest.split_at_mut(hh);
        let (dg, d_o) = rest.split_at_mut(hh);
        let (gi, rest) = gates.split_at(hh);
        let (gf, rest) = rest.split_at(hh);
        let (gg, go) = rest.split_at(hh);
        cell_backward(di, df, dg, d_o, dc, dh, gi, gf, gg, go, c_prev, tanh_c);
    }
}

/// One row of [`lstm_step_backward`], each block its own argument as in [`cell_forward`].
/// di, df, dg, d_o: (H) out; dc: (H) in and out; dh, gate activations, c_prev, tanh_c: (H).
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_backward<T: Real>(
    di: &mut [T],
    df: &mut [T],
    dg: &mut [T],
    d_o: &mut [T],
    dc: &mut [T],
    dh: &[T],
    gi: &[T],
    gf: &[T],
    gg: &[T],
    go: &[T],
    c_prev: &[T],
    tanh_c: &[T],
) {
    let hh = di.len();
    let (df, dg, d_o, dc, dh) = (&mut df[..hh], &mut dg[..hh], &mut d_o[..hh], &mut dc[..hh], &dh[..hh]);
    let (gi, gf, gg, go, c_prev, tanh_c) = (&gi[..hh], &gf[..hh], &gg[..hh], &go[..hh], &c_prev[..hh], &tanh_c[..hh]);
    let one = T::one();
    for j in 0..hh {
        let (i, f, g, o, tc) = (gi[j], gf[j], gg[j], go[j], tanh_c[j]);
        let dcell = dc[j] + dh[j] * o * (one - tc * tc);
        d_o[j] = dh[j] * tc * o * (one - o);
        di[j] = dcell * g * i * (one - i);
        dg[j] = dcell * i * (one - g * g);
        df[j] = dcell * c_prev[j] * f * (one - f);
        dc[j] = dcell * f;
    }
}

/// Plain-index reference for [`lstm_step_backward`], same arguments and shapes.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_backward_ref<T: Real>(
    dgates: &mut [T],
    dc: &mut [T],
    dh: &[T],
    gates: &[T],
    c_prev: &[T],
    tanh_c: &[T],
    lengths: &[usize],
    t: usize,
    hidden: usize,
) {
    let hh = hidden;
    let one = T::one();
    for (b, &len) in lengths.iter().enumerate() {
        for j in 0..hh {
            let at = |k: usize| b * 4 * hh + k * hh + j;
            let s = b * hh + j;
            if t >= len {
                for k in 0..4 {
                    dgates[at(k)] = T::zero();
                }
                dc[s] = T::zero();
                continue;
            }
            let (i, f, g, o) = (gates[at(0)], gates[at(1)], gates[at(2)], gates[at(3)]);
            let dcell = dc[s] + dh[s] * o * (one - tanh_c[s].powi(2));
            dgates[at(0)] = dcell * g * i * (one - i);
            dgates[at(1)] = dcell * c_prev[s] * f * (one - f);
            dgates[at(2)] = dcell * i * (one - g.powi(2));
            dgates[at(3)] = dh[s] * tanh_c[s] * o * (one - o);
            dc[s] = dcell * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in (-2, 2), wide enough to reach the saturating parts of σ and tanh.
    fn values<T: Real>(n: usize, seed: &mut u64) -> Vec<T> {
        crate::test_values(n, seed, 2.0)
    }

    fn assert_close<T: Real>(name: &str, fast: &[T], reference: &[T], tolerance: f64) {
        for (k, (x, y)) in fast.iter().zip(reference).enumerate() {
            let err = (*x - *y).abs().to_f64().unwrap();
            assert!(err < tolerance, "{name}[{k}]: fast {x} vs reference {y}");
        }
    }

    /// Sweeps batch and hidden sizes (past 16, to reach the vector loops' leftover elements),
    /// including rows past their length.
    fn check_step_kernels<T: Real>(tolerance: f64) {
        let mut seed = 7u64;
        for b in 1..5 {
            for hh in (1..6).chain([16, 17, 23]) {
                let lengths: Vec<usize> = (0..b).map(|r| r % 3).collect();
                for t in 0..3 {
                    let n = b * hh;
                    let pre = values::<T>(4 * n, &mut seed);
                    let c_prev = values::<T>(n, &mut seed);
                    let (zero, nine) = (T::zero(), T::c(9.0));

                    let (mut h1, mut c1, mut tc1, mut g1) = (vec![zero; n], vec![zero; n], vec![zero; n], pre.clone());
                    let (mut h2, mut c2, mut tc2, mut g2) = (vec![nine; n], vec![nine; n], vec![nine; n], pre.clone());
                    lstm_step_forward(&mut h1, &mut c1, &mut tc1, &mut g1, &c_prev, &lengths, t, hh);
                    lstm_step_forward_ref(&mut h2, &mut c2, &mut tc2, &mut g2, &c_prev, &lengths, t, hh);
                    assert_close("h", &h1, &h2, tolerance);
                    assert_close("c", &c1, &c2, tolerance);
                    assert_close("tanh_c", &tc1, &tc2, tolerance);
                    assert_close("gates", &g1, &g2, tolerance);

                    let dh = values::<T>(n, &mut seed);
                    let dc_next = values::<T>(n, &mut seed);
                    let (mut dg1, mut dc1) = (vec![zero; 4 * n], dc_next.clone());
                    let (mut dg2, mut dc2) = (vec![nine; 4 * n], dc_next.clone());
                    lstm_step_backward(&mut dg1, &mut dc1, &dh, &g1, &c_prev, &tc1, &lengths, t, hh);
                    lstm_step_backward_ref(&mut dg2, &mut dc2, &dh, &g1, &c_prev, &tc1, &lengths, t, hh);
                    assert_close("dgates", &dg1, &dg2, tolerance);
                    assert_close("dc", &dc1, &dc2, tolerance);
                }
            }
        }
    }

    #[test]
    fn step_kernels_match_references_in_f64() {
        check_step_kernels::<f64>(1e-14);
    }

    /// The f32 kernels use the approximate nonlinearities; values are O(1), so a few ulp.
    #[test]
    fn step_kernels_match_references_in_f32() {
        check_step_kernels::<f32>(1e-6);
    }
}
