//! A 1-D convolution without padding as one GEMM over windows read in place from a time-major
//! copy of the input, and the adjoint that takes the windows' gradients back to the input.
//!
//! Shape key: C = input channels, K = kernel size, s = stride, T = input length,
//! T' = (T - K) / s + 1 output windows.
//!
//! Time-major, frame f of a clip being its C values x[:, f], window t is the K frames
//! `t*s` .. `t*s` + K, i.e. `K*C` consecutive values starting at frame `t*s`. Read as rows of `K*C` values
//! at a row stride of `s*C` (consecutive rows overlap by K - s frames), the time-major buffer IS
//! the matrix of all windows, so `y^T (T', O) = rows (T', K*C) @ W'^T (K*C, O)` with
//! `W'[o, k*C + c] = w[o, c, k]` needs no im2col copy. Several clips can lie end to end: each
//! takes [`window_rows`] rows (its segment rounded up to whole strides); the rows past a clip's
//! own windows straddle into the next clip and are not used.
//!
//! The input gradient is the adjoint: each window row's gradient (`K*C` values) is added back onto
//! the K frames it read, `dxt[(t*s + k)*C + c] += drows[t, k*C + c]`, then transposed back.

use crate::Real;

/// Rows one clip takes in the time-major buffer for `windows` windows: its frames
/// (windows - 1) * s + K rounded up to whole strides (0 for no windows).
pub fn window_rows(windows: usize, kernel: usize, stride: usize) -> usize {
    if windows == 0 {
        0
    } else {
        ((windows - 1) * stride + kernel).div_ceil(stride)
    }
}

/// The first `frames` frames of x (C, T), time-major: out (frames, C), zero past T.
pub fn to_time_major<T: Real>(x: &[T], channels: usize, t_in: usize, frames: usize, out: &mut [T]) {
    assert_eq!(x.len(), channels * t_in, "to_time_major: x must be (C, T)");
    assert_eq!(out.len(), frames * channels, "to_time_major: out must be (frames, C)");
    let copied = frames.min(t_in);
    // In tiles of 16 frames, so that the tile being written (16 x C values) stays in cache
    // while every channel's row passes through it.
    const TILE: usize = 16;
    for first in (0..copied).step_by(TILE) {
        let tile = first..(first + TILE).min(copied);
        let out_tile = &mut out[first * channels..tile.end * channels];
        for (c, x_row) in x.chunks_exact(t_in).enumerate() {
            for (j, &v) in x_row[tile.clone()].iter().enumerate() {
                out_tile[j * channels + c] = v;
            }
        }
    }
    out[copied * channels..].fill(T::zero());
}

/// Adds a time-major (frames, C) gradient onto dx (C, T): dx[c, f] += xt[f, c] for f < min(frames, T).
pub fn add_from_time_major<T: Real>(xt: &[T], channels: usize, t_in: usize, dx: &mut [T]) {
    assert_eq!(dx.len(), channels * t_in, "add_from_time_major: dx must be (C, T)");
    let frames = (xt.len() / channels).min(t_in);
    for (c, dx_row) in dx.chunks_exact_mut(t_in).enumerate() {
        for (f, d) in dx_row[..frames].iter_mut().enumerate() {
            *d += xt[f * channels + c];
        }
    }
}

/// The adjoint of reading window rows: adds each of the first `windows` rows of drows
/// (rows, `K*C`) onto the K frames it read, dxt (frames, C).
pub fn add_window_rows<T: Real>(drows: &[T], windows: usize, kernel: usize, stride: usize, channels: usize, dxt: &mut [T]) {
    let width = kernel * channels;
    assert!(drows.len() >= windows * width, "add_window_rows: drows has fewer than {windows} rows");
    assert!(windows == 0 || ((windows - 1) * stride + kernel) * channels <= dxt.len(), "add_window_rows: dxt too short");
    for (t, row) in drows.chunks_exact(width).take(windows).enumerate() {
        for (d, &g) in dxt[t * stride * channels..][..width].iter_mut().zip(row) {
            *d += g;
        }
    }
}

/// Output length of a convolution or pooling window without padding: (T - K) / stride + 1.
pub fn conv_out_len(t_in: usize, kernel: usize, stride: usize) -> usize {
    assert!(kernel >= 1 && stride >= 1, "kernel {kernel} and stride {stride} must be >= 1");
    assert!(t_in >= kernel, "input length {t_in} is shorter than the kernel {kernel}");
    (t_in - kernel) / stride + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{gemm, Mat};

    /// Uniform(-0.5, 0.5) test values, a fresh sequence per seed.
    fn values(n: usize, mut seed: u64) -> Vec<f64> {
        crate::test_values(n, &mut seed, 0.5)
    }

    /// Simple, slow, correct direct convolution, the reference for the window-row GEMM.
    /// x: (C, T), w: (O, C, K), b: (O) -> y: (O, T').
    #[allow(clippy::too_many_arguments)]
    fn conv1d_ref<T: Real>(x: &[T], w: &[T], b: &[T], channels: usize, t_in: usize, kernel: usize, stride: usize, y: &mut [T]) {
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

    /// The time-major buffer read as overlapping rows, times W', is the direct convolution.
    #[test]
    fn window_rows_times_reordered_weights_match_direct_convolution() {
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

                        let rows = window_rows(t_out, kernel, stride);
                        assert!(rows >= t_out);
                        // The segment plus K frames of zeros, as a last clip in a batch has.
                        let mut xt = vec![f64::NAN; (rows * stride + kernel) * channels];
                        to_time_major(&x, channels, t_in, rows * stride + kernel, &mut xt);
                        let ck = channels * kernel;
                        let w_reordered: Vec<f64> = (0..outputs * ck)
                            .map(|i| {
                                let (o, p) = (i / ck, i % ck);
                                w[(o * channels + p % channels) * kernel + p / channels]
                            })
                            .collect();
                        let a = Mat { data: &xt, rows: t_out, cols: ck, rs: stride * channels, cs: 1 };
                        let mut yt = vec![0.0; t_out * outputs];
                        gemm(1.0, a, Mat::new(&w_reordered, outputs, ck).t(), 0.0, &mut yt, outputs);
                        for t in 0..t_out {
                            for o in 0..outputs {
                                let (got, want) = (yt[t * outputs + o] + b[o], expected[o * t_out + t]);
                                assert!((got - want).abs() < 1e-12, "C{channels} K{kernel} s{stride} T{t_in}: {got} vs {want}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// add_window_rows then add_from_time_major is the adjoint of to_time_major then reading the
    /// rows: <rows(x), g> = <x, adjoint(g)> for every x and g.
    #[test]
    fn the_gradient_path_is_the_adjoint_of_reading_window_rows() {
        for (channels, t_in, kernel, stride) in [(1, 5, 5, 1), (2, 9, 3, 2), (3, 11, 5, 1), (2, 12, 2, 3), (4, 8, 1, 1), (3, 14, 5, 2)] {
            let t_out = conv_out_len(t_in, kernel, stride);
            let (ck, frames) = (channels * kernel, window_rows(t_out, kernel, stride) * stride + kernel);
            let x = values(channels * t_in, 4);
            let g = values(t_out * ck, 5);
            let mut xt = vec![0.0; frames * channels];
            to_time_major(&x, channels, t_in, frames, &mut xt);
            let lhs: f64 = (0..t_out).map(|t| (0..ck).map(|p| xt[t * stride * channels + p] * g[t * ck + p]).sum::<f64>()).sum();
            let mut dxt = vec![0.0; frames * channels];
            add_window_rows(&g, t_out, kernel, stride, channels, &mut dxt);
            // Start dx from ones: the path must add, not overwrite.
            let mut dx = vec![1.0; x.len()];
            add_from_time_major(&dxt, channels, t_in, &mut dx);
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| a * (b - 1.0)).sum();
            assert!((lhs - rhs).abs() < 1e-12, "C{channels} T{t_in} K{kernel} s{stride}: {lhs} vs {rhs}");
        }
    }
}
