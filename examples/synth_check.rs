//! Listening check for the synthetic corpus, without a spectrogram: writes a few clips to a folder
//! (default /tmp/ser_synth_check) and prints, per clip and then over the whole corpus, duration,
//! median autocorrelation F0 and RMS, plus how long the corpus took to synthesize; a text
//! envelope of one clip (RMS and zero-crossing rate per 20 ms: fricatives show as high ZCR); and
//! how learnable the emotions are from six clip-level numbers, with a nearest-centroid classifier
//! trained on actors 1-18 and tested on actors 19-24.
//!
//! `cargo run --release --example synth_check [-- OUT_DIR]`

use std::path::PathBuf;
use std::time::Instant;

use ser::synth::measure::{median_f0, rms, voiced_f0};
use ser::synth::{synthesize_clip, synthesize_corpus, SynthClip, EMOTION_NAMES, SAMPLE_RATE};

const SEED: u64 = 2024;

fn describe(clip: &SynthClip) -> (f32, f32, f32) {
    let seconds = clip.samples.len() as f32 / SAMPLE_RATE as f32;
    (seconds, median_f0(&clip.samples).unwrap_or(f32::NAN), rms(&clip.samples))
}

fn mean(xs: &[f32]) -> f32 {
    xs.iter().sum::<f32>() / xs.len().max(1) as f32
}

/// Fraction of adjacent samples that change sign.
fn zero_crossing_rate(samples: &[f32]) -> f32 {
    samples.windows(2).filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0)).count() as f32 / samples.len().max(2) as f32
}

/// Prints RMS (dB) and zero-crossing rate of every 20 ms frame as a coarse text envelope.
fn print_envelope(clip: &SynthClip) {
    println!("\nenvelope of {} (20 ms frames: RMS dB as a bar, ZCR):", clip.file_name);
    for (t, frame) in clip.samples.chunks(320).enumerate() {
        let db = 20.0 * rms(frame).max(1e-5).log10();
        let bar = "#".repeat(((db + 60.0) / 2.0).max(0.0) as usize);
        println!("{:>5.2} s {db:>6.1} dB {:>5.2}  {bar}", t as f32 * 0.02, zero_crossing_rate(frame));
    }
}

/// Clip-level numbers a crude classifier might use: log median F0, F0 spread (semitones),
/// log RMS, duration, voiced share of frames, zero-crossing rate.
fn clip_features(clip: &SynthClip) -> [f32; 6] {
    let f0 = voiced_f0(&clip.samples);
    let semitones: Vec<f32> = f0.iter().map(|f| 12.0 * f.log2()).collect();
    let centre = mean(&semitones);
    let spread = (semitones.iter().map(|s| (s - centre).powi(2)).sum::<f32>() / semitones.len().max(1) as f32).sqrt();
    let frames = clip.samples.len() / 160;
    [
        centre,
        spread,
        rms(&clip.samples).ln(),
        clip.samples.len() as f32 / SAMPLE_RATE as f32,
        f0.len() as f32 / frames.max(1) as f32,
        zero_crossing_rate(&clip.samples),
    ]
}

/// Accuracy of nearest-centroid on standardised features, training on actors 1-18.
fn nearest_centroid_accuracy(corpus: &[SynthClip]) -> f32 {
    let rows: Vec<([f32; 6], u8, bool)> = corpus.iter().map(|c| (clip_features(c), c.emotion, c.actor <= 18)).collect();
    let train: Vec<&([f32; 6], u8, bool)> = rows.iter().filter(|r| r.2).collect();
    let mut mu = [0.0f32; 6];
    let mut sd = [0.0f32; 6];
    for j in 0..6 {
        mu[j] = mean(&train.iter().map(|r| r.0[j]).collect::<Vec<_>>());
        sd[j] = mean(&train.iter().map(|r| (r.0[j] - mu[j]).powi(2)).collect::<Vec<_>>()).sqrt().max(1e-6);
    }
    let standardise = |x: &[f32; 6]| -> [f32; 6] { std::array::from_fn(|j| (x[j] - mu[j]) / sd[j]) };
    let centroids: Vec<[f32; 6]> = (0..8u8)
        .map(|e| {
            let members: Vec<[f32; 6]> = train.iter().filter(|r| r.1 == e).map(|r| standardise(&r.0)).collect();
            std::array::from_fn(|j| mean(&members.iter().map(|m| m[j]).collect::<Vec<_>>()))
        })
        .collect();
    let test: Vec<&([f32; 6], u8, bool)> = rows.iter().filter(|r| !r.2).collect();
    let correct = test
        .iter()
        .filter(|r| {
            let z = standardise(&r.0);
            let distance = |c: &[f32; 6]| c.iter().zip(&z).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
            let guess = (0..8).min_by(|&a, &b| distance(&centroids[a]).total_cmp(&distance(&centroids[b]))).unwrap();
            guess == r.1 as usize
        })
        .count();
    correct as f32 / test.len() as f32
}

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/ser_synth_check".into()));
    std::fs::create_dir_all(&out)?;
    println!("a few clips, written to {}:", out.display());
    println!("{:<28} {:<10} {:>6} {:>8} {:>7} {:>6}", "file", "emotion", "dur s", "F0 Hz", "RMS", "peak");
    for actor in [1u8, 2] {
        for emotion in 0..8u8 {
            let clip = synthesize_clip(SEED, actor, emotion, if emotion == 0 { 1 } else { 2 }, 1, 1);
            let (seconds, f0, loudness) = describe(&clip);
            let peak = clip.samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            println!("{:<28} {:<10} {seconds:>6.2} {f0:>8.1} {loudness:>7.4} {peak:>6.3}", clip.file_name, EMOTION_NAMES[emotion as usize]);
            let spec =
                hound::WavSpec { channels: 1, sample_rate: SAMPLE_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
            let mut writer = hound::WavWriter::create(out.join(&clip.file_name), spec).map_err(std::io::Error::other)?;
            for &x in &clip.samples {
                writer.write_sample((x * i16::MAX as f32).round() as i16).map_err(std::io::Error::other)?;
            }
            writer.finalize().map_err(std::io::Error::other)?;
        }
    }

    print_envelope(&synthesize_clip(SEED, 1, 0, 1, 2, 1));

    let start = Instant::now();
    let corpus = synthesize_corpus(SEED);
    let elapsed = start.elapsed();
    let measured: Vec<(u8, u8, f32, f32, f32)> = corpus
        .iter()
        .map(|c| {
            let (seconds, f0, loudness) = describe(c);
            (c.actor, c.emotion, seconds, f0, loudness)
        })
        .collect();
    let seconds: Vec<f32> = measured.iter().map(|m| m.2).collect();
    println!(
        "\ncorpus: {} clips in {:.2} s; duration min {:.2} mean {:.2} max {:.2} s",
        corpus.len(),
        elapsed.as_secs_f64(),
        seconds.iter().cloned().fold(f32::MAX, f32::min),
        mean(&seconds),
        seconds.iter().cloned().fold(0.0, f32::max)
    );
    for (group, parity) in [("male (odd actors)", 1), ("female (even actors)", 0)] {
        let f0: Vec<f32> = measured.iter().filter(|m| m.0 % 2 == parity && m.3.is_finite()).map(|m| m.3).collect();
        println!("median F0, {group}: mean {:.1} Hz over {} clips", mean(&f0), f0.len());
    }
    println!("\n{:<10} {:>7} {:>8} {:>8} {:>8}", "emotion", "dur s", "RMS", "F0 M Hz", "F0 F Hz");
    for emotion in 0..8u8 {
        let of = |parity: Option<u8>, field: fn(&(u8, u8, f32, f32, f32)) -> f32| {
            let xs: Vec<f32> = measured
                .iter()
                .filter(|m| m.1 == emotion && parity.is_none_or(|p| m.0 % 2 == p))
                .map(field)
                .filter(|x| x.is_finite())
                .collect();
            mean(&xs)
        };
        println!(
            "{:<10} {:>7.2} {:>8.4} {:>8.1} {:>8.1}",
            EMOTION_NAMES[emotion as usize],
            of(None, |m| m.2),
            of(None, |m| m.4),
            of(Some(1), |m| m.3),
            of(Some(0), |m| m.3)
        );
    }
    println!(
        "\nnearest-centroid on 6 clip-level numbers, actors 19-24 held out: {:.1} % (chance 12.5 %)",
        100.0 * nearest_centroid_accuracy(&corpus)
    );
    Ok(())
}
