//! General matrix multiply over slices with strides, checked, on top of matrixmultiply.
//!
//! A matrix is a slice plus (rows, cols, row stride, col stride): a transpose is just swapped
//! strides, so no kernel ever copies to transpose.

use crate::Real;

/// A read-only strided matrix view over a slice.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// Row-major `rows x cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat { data, rows, cols, rs: cols, cs: 1 }
    }
    /// The transpose: same data, swapped strides.
    pub fn t(self) -> Self {
        Mat { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view out of bounds: last index {last}, len {}", self.data.len());
        }
    }
}

/// `C <- alpha * A B + beta * C`; C is row-major `m x n` with row stride `ldc`.
/// A: (m, k), B: (k, n), C: (m, n).
pub fn gemm<T: Real>(alpha: T, a: Mat<T>, b: Mat<T>, beta: T, c: &mut [T], ldc: usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm inner dimensions: A is {}x{}, B is {}x{}", a.rows, a.cols, b.rows, b.cols);
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && (m - 1) * ldc + n <= c.len(), "gemm output out of bounds");
    if k == 0 {
        // matrixmultiply handles k == 0 too, but be explicit: C <- beta C.
        for i in 0..m {
            for x in &mut c[i * ldc..i * ldc + n] {
                *x = if beta == T::zero() { T::zero() } else { *x * beta };
            }
        }
        return;
    }
    // SAFETY: bounds of A, B and C were checked above.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            ldc as isize,
            1,
        )
    }
}

/// Simple, slow, correct reference for [`gemm`].
pub fn gemm_ref<T: Real>(alpha: T, a: Mat<T>, b: Mat<T>, beta: T, c: &mut [T], ldc: usize) {
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut acc = T::zero();
            for p in 0..a.cols {
                acc += a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs];
            }
            let out = &mut c[i * ldc + j];
            *out = alpha * acc + if beta == T::zero() { T::zero() } else { beta * *out };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_reference_on_all_small_shapes_and_transposes() {
        let mut seed = 1u64;
        let mut next = || crate::test_values::<f64>(1, &mut seed, 0.5)[0];
        for m in 0..7 {
            for k in 0..7 {
                for n in 0..7 {
                    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                        let a: Vec<f64> = (0..m * k).map(|_| next()).collect();
                        let b: Vec<f64> = (0..k * n).map(|_| next()).collect();
                        let av = if ta { Mat::new(&a, k, m).t() } else { Mat::new(&a, m, k) };
                        let bv = if tb { Mat::new(&b, n, k).t() } else { Mat::new(&b, k, n) };
                        let c0: Vec<f64> = (0..m * n).map(|_| next()).collect();
                        let (mut c1, mut c2) = (c0.clone(), c0.clone());
                        gemm(0.7, av, bv, 0.3, &mut c1, n);
                        gemm_ref(0.7, av, bv, 0.3, &mut c2, n);
                        for (x, y) in c1.iter().zip(&c2) {
                            assert!((x - y).abs() < 1e-12, "m{m} k{k} n{n} ta{ta} tb{tb}: {x} vs {y}");
                        }
                    }
                }
            }
        }
    }
}
