//! Time `features::extract` on a synthetic 3 s, 16 kHz clip:
//!
//!     cargo run --release --example feature_timing

use std::time::Instant;

use ser::features::{extract, FeatureConfig};

fn main() {
    let cfg = FeatureConfig::default();
    let n = (3.0 * cfg.sample_rate) as usize;
    // A voiced-speech-like mixture: harmonics of 150 Hz plus a little deterministic noise.
    let y: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / cfg.sample_rate;
            let h: f64 = (1..=10).map(|k| (2.0 * std::f64::consts::PI * 150.0 * k as f64 * t).sin() / k as f64).sum();
            let noise = ((i as f64 * 12.9898).sin() * 43758.5453).fract() - 0.5;
            (0.2 * h + 0.02 * noise) as f32
        })
        .collect();
    let first = Instant::now();
    let f = extract(&y, &cfg);
    let first = first.elapsed();
    let reps: u32 = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(extract(std::hint::black_box(&y), &cfg));
    }
    let per = start.elapsed() / reps;
    println!("features::extract on 3 s @ 16 kHz -> {:?}: first call {:.2} ms (builds filter banks), then {:.3} ms per clip (mean of {reps})", f.dim(), first.as_secs_f64() * 1e3, per.as_secs_f64() * 1e3);
}
