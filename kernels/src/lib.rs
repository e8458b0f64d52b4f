//! Hot loops of ser as plain functions over slices: no ndarray types, no allocation in inner loops.
//!
//! Every kernel is generic over [`Real`] (f32 for training, f64 for gradient checks) and
//! has a slow `_ref` twin that the tests compare it with.

pub mod activation;
pub mod conv;
pub mod gemm;
pub mod log;
pub mod lstm;
pub mod packed;
pub mod reduce;

pub use conv::{add_from_time_major, add_window_rows, conv_out_len, to_time_major, window_rows};
pub use gemm::{gemm, gemm_ref, Mat};
pub use log::log10_positive;
pub use lstm::{lstm_step_backward, lstm_step_backward_ref, lstm_step_forward, lstm_step_forward_ref};
pub use packed::PackedB;
pub use reduce::{dot, dot_ref};

/// The float types ser computes in. f32 is the speed path; f64 makes finite differences exact enough
/// for gradient checks.
pub trait Real:
    num_traits::Float
    + num_traits::FromPrimitive
    + num_traits::NumAssign
    + std::iter::Sum
    + std::fmt::Debug
    + std::fmt::Display
    + Default
    + Send
    + Sync
    + 'static
{
    /// `C <- alpha * A B + beta * C` with explicit row/column strides (matrixmultiply's convention).
    ///
    /// # Safety
    /// The strides must keep every touched element inside the pointed-to buffers.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );

    /// 1 / (1 + e^-x). f32: the vectorisable [`activation::sigmoid_f32`]; f64: libm, exact enough
    /// for finite-difference gradient checks.
    fn sigmoid(self) -> Self;

    /// tanh(x) as the LSTM cell uses it. f32: the vectorisable [`activation::tanh_f32`]; f64: libm.
    fn tanh_activation(self) -> Self;

    /// One micro-kernel block of [`packed::PackedB::gemm_acc`] ([`packed::micro_kernel`]'s
    /// arguments); f32 runs it in AVX-512 where the CPU has it, with the same numbers.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn packed_block(panel: &[Self], a: &[Self], lda: usize, rows: usize, k: usize, c: &mut [Self], ldc: usize, cols: usize) {
        packed::micro_kernel(panel, a, lda, rows, k, c, ldc, cols)
    }

    /// Converts from f64; used for constants.
    fn c(x: f64) -> Self {
        Self::from_f64(x).expect("every f64 constant is representable")
    }
}

impl Real for f32 {
    #[inline]
    fn packed_block(panel: &[f32], a: &[f32], lda: usize, rows: usize, k: usize, c: &mut [f32], ldc: usize, cols: usize) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the kernel checks the block's bounds.
            return unsafe { packed::avx512::micro_kernel(panel, a, lda, rows, k, c, ldc, cols) };
        }
        packed::micro_kernel(panel, a, lda, rows, k, c, ldc, cols)
    }
    #[inline(always)]
    fn sigmoid(self) -> f32 {
        activation::sigmoid_f32(self)
    }
    #[inline(always)]
    fn tanh_activation(self) -> f32 {
        activation::tanh_f32(self)
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

impl Real for f64 {
    fn sigmoid(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    fn tanh_activation(self) -> f64 {
        self.tanh()
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

/// Deterministic test values, uniform in (-half_width, half_width), from a 64-bit LCG whose state
/// the caller keeps (so successive calls continue the sequence).
#[cfg(test)]
pub(crate) fn test_values<T: Real>(n: usize, seed: &mut u64, half_width: f64) -> Vec<T> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            T::c((((*seed >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0) * half_width)
        })
        .collect()
}
