//! Time `features::extract` on `ser bench`'s 3 s, 16 kHz clip, from a worker of the rayon pool
//! as the data pipeline calls it (REPS calls, default 50; RAYON_NUM_THREADS sets the threads):
//!
//!     cargo run --release --example feature_timing

use std::time::Instant;

use ser::features::{extract, FeatureConfig};

fn main() {
    let cfg = FeatureConfig::default();
    let y = ser::bench::feature_clip(2);
    let reps: u32 = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    rayon::scope(|_| {
        let first = Instant::now();
        let f = extract(&y, &cfg);
        let first = first.elapsed();
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(extract(std::hint::black_box(&y), &cfg));
        }
        let per = start.elapsed() / reps;
        println!(
            "features::extract on 3 s @ 16 kHz -> {:?}: first call {:.2} ms (builds filter banks), then {:.3} ms per clip (mean of {reps})",
            f.dim(),
            first.as_secs_f64() * 1e3,
            per.as_secs_f64() * 1e3
        );
    });
}
