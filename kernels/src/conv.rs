//! im2col and col2im for a 1-D convolution without padding, so that convolution becomes one GEMM.
//!
//! Shape key: C = input channels, K = kernel size, T = input length, T' = (T - K) / stride + 1.
//!
//! A convolution `y[o, t] = sum_{c,k} w[o, c, k] x[c, t*stride + k]` is the matrix product
//! `y (O, T') = w (O, C*K) @ col (C*K, T')` once the windows are laid out as columns:
//! `col[c*K + k, t] = x[c, t*stride + k]` (im2col).
//!
//! col2im is the transpose (adjoint) of im2col: each input element appears in several windows, so
//! the gradient of the input is the sum over all places it was copied to,
//! `dx[c, t*stride + k] += dcol[c*K + k, t]`.

use crate::Real;

/// Output length of a convolution or pooling window without padding: (T - K) / stride + 1.
pub fn conv_out_len(t_in: usize, kernel: usize, stride: usize) -> usize {
    assert!(kernel >= 1 && stride >= 1, "kernel {kernel} and stride {stride} must be >= 1");
    assert!(t_in >= kernel, "input length {t_in} is shorter than the kernel {kernel}");
    (t_in - kernel) / stride + 1
}

/// Lays the first `windows` (<= T') windows of `x` out as columns. x: (C, T) -> col: (C*K, windows)
/// with row stride `ld` >= windows, so that several clips can sit side by side in one wide matrix
/// (clip j at its own column offset). Fewer than T' windows skip a clip's all-zero tail.
#[allow(clippy::too_many_arguments)]
pub fn im2col<T: Real>(
    x: &[T], channels: usize, t_in: usize, kernel: usize, stride: usize, windows: usize, col: &mut [T], ld: usize,
) {
    let all_windows = conv_out_len(t_in, kernel, stride);
    assert!(windows <= all_windows, "im2col: {windows} windows asked for, the input has {all_windows}");
    let t_out = windows;
    assert_eq!(x.len(), channels * t_in, "im2col input length");
    check_col(col.len(), channels * kernel, t_out, ld);
    for (c, x_row) in x.chunks_exact(t_in).enumerate() {
        for k in 0..kernel {
            let col_row = &mut col[(c * kernel + k) * ld..][..t_out];
            if stride == 1 {
                col_row.copy_from_slice(&x_row[k..k + t_out]);
            } else {
                for (t, v) in col_row.iter_mut().enumerate() {
                    *v = x_row[t * stride + k];
                }
            }
        }
    }
}

/// Adds the columns back onto the positions they were copied from (the adjoint of [`im2col`]).
/// col: (C*K, T') with row stride `ld`, added into dx: (C, T).
pub fn col2im<T: Real>(col: &[T], channels: usize, t_in: usize, kernel: usize, stride: usize, ld: usize, dx: &mut [T]) {
    let t_out = conv_out_len(t_in, kernel, stride);
    assert_eq!(dx.len(), channels * t_in, "col2im output length");
    check_col(col.len(), channels * kernel, t_out, ld);
    for (c, dx_row) in dx.chunks_exact_mut(t_in).enumerate() {
        for k in 0..kernel {
            let col_row = &col[(c * kernel + k) * ld..][..t_out];
            for (t, &v) in col_row.iter().enumerate() {
                dx_row[t * stride + k] += v;
            }
        }
    }
}

/// A (rows, cols) matrix with row stride `ld` must fit in `len` elements.
fn check_col(len: usize, rows: usize, cols: usize, ld: usize) {
    assert!(ld >= cols, "column matrix row stride {ld} is less than its width {cols}");
    assert!(rows == 0 || (rows - 1) * ld + cols <= len, "column matrix ({rows}, {cols}) with row stride {ld} does not fit in {len}");
}

/// Simple, slow, correct direct convolution, the reference for im2col + GEMM.
/// x: (C, T), w: (O, C, K), b: (O) -> y: (O, T').
pub fn conv1d_ref<T: Real>(
    x: &[T], w: &[T], b: &[T], channels: usize, t_in: usize, kernel: usize, stride: usize, y: &mut [T],
) {
    let t_out = conv_out_len(t_in, kernel, stride);
    for (o, &bias) in b.iter().enumerate() {
        for t in 0..t_out {
            let mut acc = bias;
            for c in 0..channels {
                for k in 0..kernel {
                    acc += w[(o * channels + c) * kernel + k] * x[c * t_in + t * stride + k];
                }
            }
            y[o * t_out + t] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{gemm, Mat};

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(2862933555777941757).wrapping_add(3037000493);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
            })
            .collect()
    }

    #[test]
    fn im2col_then_gemm_matches_direct_convolution() {
        for channels in 1..4 {
            for kernel in 1..5 {
                for stride in 1..4 {
                    for t_in in kernel..kernel + 7 {
                        let outputs = 3;
                        let t_out = conv_out_len(t_in, kernel, stride);
                        let x = values(channels * t_in, 1);
                        let w = values(outputs * channels * kernel, 2);
                        let b = values(outputs, 3);
                        let mut expected = vec![0.0; outputs * t_out];
                        conv1d_ref(&x, &w, &b, channels, t_in, kernel, stride, &mut expected);

                        let mut col = vec![0.0; channels * kernel * t_out];
                        im2col(&x, channels, t_in, kernel, stride, t_out, &mut col, t_out);
                        let mut y: Vec<f64> = b.iter().flat_map(|&bo| std::iter::repeat(bo).take(t_out)).collect();
                        let ck = channels * kernel;
                        gemm(1.0, Mat::new(&w, outputs, ck), Mat::new(&col, ck, t_out), 1.0, &mut y, t_out);
                        for (a, e) in y.iter().zip(&expected) {
                            assert!((a - e).abs() < 1e-12, "C{channels} K{kernel} s{stride} T{t_in}: {a} vs {e}");
                        }
                    }
                }
            }
        }
    }

    /// col2im is the adjoint of im2col: <im2col(x), g> = <x, col2im(g)> for every x and g.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for (channels, t_in, kernel, stride) in [(1, 5, 5, 1), (2, 9, 3, 2), (3, 11, 5, 1), (2, 12, 2, 3), (4, 8, 1, 1)] {
            let t_out = conv_out_len(t_in, kernel, stride);
            let x = values(channels * t_in, 4);
            let g = values(channels * kernel * t_out, 5);
            let mut col = vec![0.0; g.len()];
            im2col(&x, channels, t_in, kernel, stride, t_out, &mut col, t_out);
            // Start dx from ones: col2im must add, not overwrite.
            let mut dx = vec![1.0; x.len()];
            col2im(&g, channels, t_in, kernel, stride, t_out, &mut dx);
            let lhs: f64 = col.iter().zip(&g).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| a * (b - 1.0)).sum();
            assert!((lhs - rhs).abs() < 1e-12, "C{channels} T{t_in} K{kernel} s{stride}: {lhs} vs {rhs}");
        }
    }

    /// With a row stride wider than T', a clip fills only its own block of columns.
    #[test]
    fn strided_columns_fill_their_block_and_read_back() {
        let (channels, t_in, kernel, stride) = (2, 9, 3, 2);
        let t_out = conv_out_len(t_in, kernel, stride);
        let (offset, ld) = (t_out, 3 * t_out);
        let x = values(channels * t_in, 6);
        let mut dense = vec![0.0; channels * kernel * t_out];
        im2col(&x, channels, t_in, kernel, stride, t_out, &mut dense, t_out);
        let mut wide = vec![f64::NAN; channels * kernel * ld];
        im2col(&x, channels, t_in, kernel, stride, t_out, &mut wide[offset..], ld);
        for (r, dense_row) in dense.chunks_exact(t_out).enumerate() {
            assert_eq!(&wide[r * ld + offset..][..t_out], dense_row);
            assert!(wide[r * ld..][..offset].iter().all(|v| v.is_nan()), "columns left of the block untouched");
        }
        let (mut from_dense, mut from_wide) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        col2im(&dense, channels, t_in, kernel, stride, t_out, &mut from_dense);
        col2im(&wide[offset..], channels, t_in, kernel, stride, ld, &mut from_wide);
        assert_eq!(from_dense, from_wide);
    }

    /// Asking for the first w windows gives the first w columns of the full im2col.
    #[test]
    fn fewer_windows_give_the_leading_columns() {
        let (channels, t_in, kernel, stride) = (3, 14, 5, 2);
        let t_out = conv_out_len(t_in, kernel, stride);
        let x = values(channels * t_in, 8);
        let mut full = vec![0.0; channels * kernel * t_out];
        im2col(&x, channels, t_in, kernel, stride, t_out, &mut full, t_out);
        for windows in 0..=t_out {
            let mut part = vec![f64::NAN; channels * kernel * t_out];
            im2col(&x, channels, t_in, kernel, stride, windows, &mut part, t_out);
            for (full_row, part_row) in full.chunks_exact(t_out).zip(part.chunks_exact(t_out)) {
                assert_eq!(&full_row[..windows], &part_row[..windows]);
                assert!(part_row[windows..].iter().all(|v| v.is_nan()), "columns past the windows untouched");
            }
        }
    }
}
