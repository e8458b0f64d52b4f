//! Root-mean-square energy per frame, as `librosa.feature.rms(y=y)` (frame_length 2048, hop 512,
//! center=True): y is padded by frame_length/2 ZEROS on each side (pad_mode "constant"; unlike
//! `zero_crossing_rate`, which repeats the edge samples), and
//!
//! ```text
//! rms[t] = sqrt(mean(x[t*hop .. t*hop + frame_length]^2))
//! ```

use ser_kernels::dot;

use crate::dsp::{framed_signal, PadMode};

/// y: (N,) -> (frames,), frames = 1 + N/hop with `center`.
pub fn rms(y: &[f64], frame_length: usize, hop: usize, center: bool) -> Vec<f64> {
    let (x, frames) = framed_signal(y, frame_length, hop, center, PadMode::Constant);
    if frames == 0 {
        return Vec::new();
    }
    (0..frames)
        .map(|t| {
            let frame = &x[t * hop..t * hop + frame_length];
            (dot(frame, frame) / frame_length as f64).sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_of_ones_is_one_inside_and_drops_at_the_zero_padded_edges() {
        let y = vec![1.0; 8192];
        let r = rms(&y, 2048, 512, true);
        assert_eq!(r.len(), 1 + 8192 / 512);
        // Frames 2..=14 lie fully inside the signal.
        for &v in &r[2..r.len() - 2] {
            assert!((v - 1.0).abs() < 1e-15, "{v}");
        }
        // Frame 0 covers 1024 zeros then 1024 ones: sqrt(1/2).
        assert!((r[0] - 0.5f64.sqrt()).abs() < 1e-15);
        // librosa's own known answer: one sample of 1 in a frame of zeros gives 1/sqrt(frame_length).
        let mut imp = vec![0.0; 4096];
        imp[100] = 1.0;
        let r = rms(&imp, 2048, 512, false);
        assert!((r[0] - 1.0 / 2048f64.sqrt()).abs() < 1e-15);
    }
}
