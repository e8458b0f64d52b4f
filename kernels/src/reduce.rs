//! Dot products for the feature front end, summed in [`LANES`] interleaved partial sums.
//!
//! A plain `Σ a_i b_i` is one chain of dependent additions, so each waits for the previous one's
//! latency and the compiler may not reorder them (floating-point addition is not associative).
//! Eight independent partial sums let it keep a whole SIMD register of them, and are added
//! together at the end; the result differs from the sequential sum only by rounding (numpy's
//! pairwise summation reorders the terms too).

use crate::Real;

/// Independent partial sums: one AVX-512 register of f64.
pub const LANES: usize = 8;

/// Σ a_i b_i. a, b: (n)
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    assert_eq!(a.len(), b.len(), "dot: lengths {} and {} differ", a.len(), b.len());
    let mut lanes = [T::zero(); LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ac.remainder().iter().zip(bc.remainder()).fold(T::zero(), |s, (&x, &y)| s + x * y);
    for (x, y) in ac.zip(bc) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().fold(T::zero(), |s, &v| s + v) + tail
}

/// Plain sequential reference for [`dot`].
pub fn dot_ref<T: Real>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::zero(), |s, (&x, &y)| s + x * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_sequential_sum_for_every_length_around_the_lane_count() {
        for n in 0..40 {
            let a: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0).collect();
            let b: Vec<f64> = (0..n).map(|i| ((i * 13 % 7) as f64 - 3.0) / 7.0).collect();
            let (fast, slow) = (dot(&a, &b), dot_ref(&a, &b));
            assert!((fast - slow).abs() <= 1e-12 * (1.0 + slow.abs()), "n {n}: {fast} vs {slow}");
        }
    }
}
