//! GEMM against a matrix packed once: the LSTM's recurrent step, the convolution's windows, the
//! chroma projection.
//!
//! Every LSTM time step multiplies a small state (Bs, H) by the same weights (H, 4H) forward, and
//! the gate gradient (Bs, 4H) by the same (4H, H) backward; a convolution multiplies every group
//! of windows by the same weights; chroma every frame by the same bank. A general GEMM repacks
//! both operands on every call; here B is packed once into column panels of [`NR`]
//! columns, each panel `k` rows of NR contiguous values (zero-padded past the last column), and
//! A is read in place. The micro-kernel keeps an [`MR`] x NR block of C in registers and, for
//! each of the k terms, broadcasts one value of A per row and multiplies it into the panel's row:
//! with f32 and AVX-512 one NR-wide row is one register and one fused multiply-add per A value.
//!
//! ```text
//! C[i, j] += Σ_p A[i, p] B[p, j]      i < m, j < n, p < k   (the terms summed in order of p)
//! ```

use crate::gemm::Mat;
use crate::Real;

/// Columns per panel: one 512-bit register of f32.
pub const NR: usize = 16;
/// Rows of C per micro-kernel call: MR accumulator registers, enough independent fused
/// multiply-adds in flight to cover their latency on two FMA units.
pub const MR: usize = 12;

/// B (k, n) in column panels of [`NR`].
#[derive(Clone, Debug)]
pub struct PackedB<T> {
    /// (ceil(n / NR), k, NR)
    panels: Vec<T>,
    k: usize,
    n: usize,
}

impl<T: Real> PackedB<T> {
    /// b: (k, n), any strides.
    pub fn pack(b: Mat<T>) -> Self {
        let (k, n) = (b.rows, b.cols);
        // With k = 0 there is nothing to pack, and the product adds nothing.
        let panels = if k == 0 { 0 } else { n.div_ceil(NR) };
        let mut data = vec![T::zero(); panels * k * NR];
        for (p, panel) in data.chunks_mut(k.max(1) * NR).enumerate() {
            for (row, out) in panel.chunks_exact_mut(NR).enumerate() {
                for (j, o) in out.iter_mut().enumerate().take(n.saturating_sub(p * NR)) {
                    *o = b.data[row * b.rs + (p * NR + j) * b.cs];
                }
            }
        }
        PackedB { panels: data, k, n }
    }

    /// C += A B. a: (m, k) row-major with row stride `lda` (rows may overlap); c: (m, n) row-major
    /// with row stride `ldc`.
    pub fn gemm_acc(&self, a: &[T], m: usize, lda: usize, c: &mut [T], ldc: usize) {
        let (k, n) = (self.k, self.n);
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        // lda < k is allowed: rows may overlap (a convolution's windows read in place).
        assert!((m - 1) * lda + k <= a.len(), "packed gemm: A out of bounds");
        assert!(ldc >= n && (m - 1) * ldc + n <= c.len(), "packed gemm: C out of bounds");
        for (p, panel) in self.panels.chunks_exact(k * NR).enumerate() {
            let cols = (n - p * NR).min(NR);
            for i0 in (0..m).step_by(MR) {
                let rows = (m - i0).min(MR);
                T::packed_block(panel, &a[i0 * lda..], lda, rows, k, &mut c[i0 * ldc + p * NR..], ldc, cols);
            }
        }
    }
}

/// C[i, j] += Σ_p A[i, p] panel[p, j] for i < rows <= MR, j < cols <= NR, the terms summed in
/// order of p with fused multiply-adds, then added to C. [`Real::packed_block`] calls it, or (f32
/// on AVX-512) [`avx512::micro_kernel`], which computes the very same numbers.
/// panel: (k, NR); a: rows of stride lda; c: rows of stride ldc.
#[allow(clippy::too_many_arguments)]
pub fn micro_kernel<T: Real>(panel: &[T], a: &[T], lda: usize, rows: usize, k: usize, c: &mut [T], ldc: usize, cols: usize) {
    for i in 0..rows {
        let mut acc = [T::zero(); NR];
        for (b, &x) in panel[..k * NR].chunks_exact(NR).zip(&a[i * lda..][..k]) {
            for (s, &bv) in acc.iter_mut().zip(b) {
                *s = x.mul_add(bv, *s);
            }
        }
        for (o, &s) in c[i * ldc..][..cols].iter_mut().zip(&acc) {
            *o += s;
        }
    }
}

/// The f32 micro-kernel in AVX-512 intrinsics: each row's NR accumulators are one register.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// [`super::micro_kernel`] for f32, same arguments.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; panel must hold k x NR values, a `rows` rows of k values at
    /// stride lda, c `rows` rows of `cols` values at stride ldc.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn micro_kernel(panel: &[f32], a: &[f32], lda: usize, rows: usize, k: usize, c: &mut [f32], ldc: usize, cols: usize) {
        assert!(rows <= MR && cols <= NR && panel.len() >= k * NR, "avx512 micro-kernel: block too large");
        assert!(rows == 0 || ((rows - 1) * lda + k <= a.len() && (rows - 1) * ldc + cols <= c.len()), "avx512 micro-kernel: out of bounds");
        // One monomorphised kernel per row count keeps the accumulators in registers.
        macro_rules! rows_dispatch {
            ($($n:literal)*) => {
                match rows {
                    $($n => block::<$n>(panel.as_ptr(), a.as_ptr(), lda, k, c.as_mut_ptr(), ldc, cols),)*
                    _ => {}
                }
            };
        }
        rows_dispatch!(1 2 3 4 5 6 7 8 9 10 11 12);
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const ROWS: usize>(panel: *const f32, a: *const f32, lda: usize, k: usize, c: *mut f32, ldc: usize, cols: usize) {
        let mut acc = [_mm512_setzero_ps(); ROWS];
        for p in 0..k {
            let b = _mm512_loadu_ps(panel.add(p * NR));
            for (i, s) in acc.iter_mut().enumerate() {
                *s = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(i * lda + p)), b, *s);
            }
        }
        let mask: __mmask16 = if cols >= NR { !0 } else { (1u16 << cols) - 1 };
        for (i, s) in acc.iter().enumerate() {
            let row = c.add(i * ldc);
            _mm512_mask_storeu_ps(row, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, row), *s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::gemm_ref;

    #[test]
    fn packed_gemm_matches_the_reference_on_ragged_shapes_and_strides() {
        let mut seed = 7u64;
        let mut next = || crate::test_values::<f64>(1, &mut seed, 0.5)[0];
        for &(m, k, n) in &[(1, 1, 1), (7, 5, 3), (8, 80, 320), (13, 80, 33), (20, 320, 80), (9, 3, 17), (0, 4, 4), (3, 0, 5)] {
            for transposed in [false, true] {
                let b: Vec<f64> = (0..k * n).map(|_| next()).collect();
                let bv = if transposed { Mat::new(&b, n, k).t() } else { Mat::new(&b, k, n) };
                let lda = k + 2;
                let a: Vec<f64> = (0..m * lda).map(|_| next()).collect();
                let c0: Vec<f64> = (0..m * (n + 1)).map(|_| next()).collect();
                let (mut fast, mut slow) = (c0.clone(), c0.clone());
                PackedB::pack(bv).gemm_acc(&a, m, lda, &mut fast, n + 1);
                // f32, through the AVX-512 kernel where the CPU has one, against the generic one.
                let (a32, c32): (Vec<f32>, Vec<f32>) = (a.iter().map(|&v| v as f32).collect(), c0.iter().map(|&v| v as f32).collect());
                let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
                let bv32 = if transposed { Mat::new(&b32, n, k).t() } else { Mat::new(&b32, k, n) };
                let packed32 = PackedB::pack(bv32);
                let mut dispatched = c32.clone();
                packed32.gemm_acc(&a32, m, lda, &mut dispatched, n + 1);
                let mut generic = c32.clone();
                for (p, panel) in packed32.panels.chunks(k.max(1) * NR).enumerate() {
                    for i0 in (0..m).step_by(MR) {
                        let (rows, cols) = ((m - i0).min(MR), (n - p * NR).min(NR));
                        micro_kernel(panel, &a32[i0 * lda..], lda, rows, k, &mut generic[i0 * (n + 1) + p * NR..], n + 1, cols);
                    }
                }
                assert_eq!(dispatched, generic, "m{m} k{k} n{n}: the f32 kernels must agree exactly");
                let av = Mat { data: &a, rows: m, cols: k, rs: lda, cs: 1 };
                gemm_ref(1.0, av, bv, 1.0, &mut slow, n + 1);
                for (x, y) in fast.iter().zip(&slow) {
                    assert!((x - y).abs() < 1e-12, "m{m} k{k} n{n} transposed {transposed}: {x} vs {y}");
                }
            }
        }
    }
}
