//! ser's features against librosa 0.11.0.
//!
//! Generated clips: `fixtures/audio/*.wav` with goldens `fixtures/features/*.npz`, both written by
//! `scripts/make_feature_goldens.py` (float64 arrays `zcr`, `chroma`, `mfcc`, `rms`, `mel`, and the
//! `tuning` chroma_stft estimated).
//! Real clips: the 20 clips of `shared/ravdess-vad16k/validation/` whose 162 x K float32 features
//! librosa wrote to `shared/reference/validation_features_native16k.npz` (keyed by file name).
//!
//! Error measures: mel, chroma, ZCR, RMS: per row, max_t |ours - golden| / max_t |golden|, the
//! worst row's error relative to that row's scale (bar 1e-4); MFCC: max |ours - golden| in dB
//! units (bar 1e-3 absolute).

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{s, Array2, ArrayView2};
use ndarray_npy::NpzReader;
use ser::features::{self, chroma, FeatureConfig, CHROMA, MEL, MFCC, RMS, ZCR};

const REL_BAR: f64 = 1e-4;
const MFCC_ABS_BAR: f64 = 1e-3;
const GROUPS: [&str; 5] = ["zcr", "chroma", "mfcc", "rms", "mel"];

/// The clip's samples (16-bit PCM / 32768, as soundfile and librosa.load give) and its rate,
/// read by ser's own reader: the path the pipeline takes.
fn read_wav_i16(path: &Path) -> (Vec<f32>, u32) {
    let audio = ser::audio::read_wav(path).unwrap_or_else(|e| panic!("{e}"));
    (audio.samples, audio.sample_rate)
}

/// Worst per-row relative error (see module docs). ours, golden: (R, K)
fn row_rel_error(ours: ArrayView2<f32>, golden: ArrayView2<f64>) -> f64 {
    assert_eq!(ours.dim(), golden.dim(), "shape mismatch");
    let mut worst = 0.0f64;
    for (o, g) in ours.rows().into_iter().zip(golden.rows()) {
        let scale = g.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        let diff = o.iter().zip(g.iter()).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()));
        worst = worst.max(diff / scale);
    }
    worst
}

fn abs_error(ours: ArrayView2<f32>, golden: ArrayView2<f64>) -> f64 {
    assert_eq!(ours.dim(), golden.dim(), "shape mismatch");
    ours.iter().zip(golden.iter()).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()))
}

/// Errors per group, in GROUPS order, for one clip. golden: (162, K)
fn compare(ours: &Array2<f32>, golden: ArrayView2<f64>) -> [f64; 5] {
    assert_eq!(ours.dim(), golden.dim(), "feature matrix shape");
    let g = |r: std::ops::Range<usize>| golden.slice(s![r, ..]);
    let o = |r: std::ops::Range<usize>| ours.slice(s![r, ..]);
    [
        row_rel_error(o(ZCR), g(ZCR)),
        row_rel_error(o(CHROMA), g(CHROMA)),
        abs_error(o(MFCC), g(MFCC)),
        row_rel_error(o(RMS), g(RMS)),
        row_rel_error(o(MEL), g(MEL)),
    ]
}

fn bar(group: usize) -> f64 {
    if GROUPS[group] == "mfcc" {
        MFCC_ABS_BAR
    } else {
        REL_BAR
    }
}

/// Prints per-clip errors and the worst per group; fails listing every clip/group over its bar.
fn report(title: &str, per_clip: &[(String, [f64; 5])]) {
    let mut worst = [0.0f64; 5];
    let mut failures = Vec::new();
    for (name, errs) in per_clip {
        println!(
            "{title} {name:<28} zcr {:.2e} chroma {:.2e} mfcc {:.2e} rms {:.2e} mel {:.2e}",
            errs[0], errs[1], errs[2], errs[3], errs[4]
        );
        for (i, &e) in errs.iter().enumerate() {
            worst[i] = worst[i].max(e);
            #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN error must fail too
            if !(e <= bar(i)) {
                failures.push(format!("{name}: {} error {e:.3e} > {:e}", GROUPS[i], bar(i)));
            }
        }
    }
    for (i, w) in worst.iter().enumerate() {
        let kind = if GROUPS[i] == "mfcc" { "max abs" } else { "max row-rel" };
        println!("{title} worst {:<6} {kind:<11} error {w:.3e} (bar {:e})", GROUPS[i], bar(i));
    }
    assert!(failures.is_empty(), "{title}: {} failures:\n{}", failures.len(), failures.join("\n"));
}

/// |STFT| as librosa.stft's defaults give it, one frame per row as ser's chroma takes it. -> (K, 1 + n_fft/2)
fn stft_magnitude(samples: &[f32], cfg: &FeatureConfig) -> Array2<f64> {
    let y: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
    let spec = ser::dsp::stft(&y, cfg.n_fft, cfg.hop, &ser::dsp::hann_periodic(cfg.n_fft), true, ser::dsp::PadMode::Constant);
    spec.mapv(|c| c.norm()).reversed_axes()
}

fn tuning_of(samples: &[f32], cfg: &FeatureConfig) -> f64 {
    chroma::estimate_tuning(stft_magnitude(samples, cfg).view(), cfg.sample_rate, cfg.n_chroma)
}

#[test]
fn generated_clips_match_librosa() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let cfg = FeatureConfig::default();
    let mut per_clip = Vec::new();
    for name in ["tone440", "chirp", "noise", "tone_noise"] {
        let (y, sr) = read_wav_i16(&root.join(format!("audio/{name}.wav")));
        assert_eq!(sr as f64, cfg.sample_rate);
        let mut npz = NpzReader::new(File::open(root.join(format!("features/{name}.npz"))).unwrap()).unwrap();
        let parts: Vec<Array2<f64>> = GROUPS.iter().map(|g| npz.by_name(g).unwrap()).collect();
        let golden = ndarray::concatenate(ndarray::Axis(0), &parts.iter().map(|a| a.view()).collect::<Vec<_>>()).unwrap();
        let want_tuning: ndarray::Array0<f64> = npz.by_name("tuning").unwrap();
        let got_tuning = tuning_of(&y, &cfg);
        println!("generated {name:<28} tuning ours {got_tuning:+.2} librosa {:+.2}", want_tuning[()]);
        assert!((got_tuning - want_tuning[()]).abs() < 1e-9, "{name}: tuning {got_tuning} vs librosa {}", want_tuning[()]);

        let ours = features::extract(&y, &cfg);
        per_clip.push((name.to_string(), compare(&ours, golden.view())));

        // Teeth: a tuning one histogram step off (0.01 bin) must break the chroma bar.
        let mag = stft_magnitude(&y, &cfg);
        let off =
            chroma::chroma_stft(mag.view(), cfg.sample_rate, cfg.n_chroma, Some(got_tuning + 0.01)).mapv(|v| v as f32).reversed_axes();
        let off_err = row_rel_error(off.view(), golden.slice(s![CHROMA, ..]));
        assert!(off_err > 10.0 * REL_BAR, "{name}: chroma with tuning +0.01 still within {off_err:.1e}; the bar cannot see tuning errors");
    }
    report("generated", &per_clip);
}

/// `shared/` next to the checkout (or inside it, as on a device copy): the first ancestor of the
/// manifest directory holding `shared/reference/validation_features_native16k.npz`.
fn shared_dir() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared"))
        .find(|d| d.join("reference/validation_features_native16k.npz").is_file())
}

#[test]
fn real_clips_match_librosa() {
    let Some(shared) = shared_dir() else {
        let msg = format!(
            "real-clip goldens not found: no shared/reference/validation_features_native16k.npz above {}",
            env!("CARGO_MANIFEST_DIR")
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg} (CI is set, so this is a failure)");
        }
        println!("SKIPPED real_clips_match_librosa: {msg}");
        return;
    };
    let cfg = FeatureConfig::default();
    let mut npz = NpzReader::new(File::open(shared.join("reference/validation_features_native16k.npz")).unwrap()).unwrap();
    let mut names = npz.names().unwrap();
    names.sort();
    assert_eq!(names.len(), 20, "expected 20 reference clips");
    let mut per_clip = Vec::new();
    for name in &names {
        let golden: Array2<f32> = npz.by_name(name).unwrap();
        let (y, sr) = read_wav_i16(&shared.join("ravdess-vad16k/validation").join(name));
        assert_eq!(sr as f64, cfg.sample_rate, "{name}");
        let ours = features::extract(&y, &cfg);
        per_clip.push((name.clone(), compare(&ours, golden.mapv(|v| v as f64).view())));
    }
    report("real", &per_clip);
}
