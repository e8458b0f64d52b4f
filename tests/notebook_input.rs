//! `--resample-like-notebook`: the study's notebook loaded each 16 kHz clip at librosa's default
//! 22 050 Hz and told every feature function 16 000. ser reproduces that input with rubato where
//! librosa used soxr, so the features are close to the notebook's, not bit-equal: same frame
//! count, and every row group highly correlated with `validation_features_nb22050.npz`.

use ndarray::Array2;
use ndarray_npy::NpzReader;
use ser::data::pipeline::{prepare_audio, DataConfig, Layout};
use ser::data::Variant;
use ser::features::{extract, FeatureConfig, CHROMA, MEL, MFCC, RMS, ZCR};
use std::path::PathBuf;

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn notebook_like_features_track_the_notebooks_input() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let npz_path = shared.join("reference/validation_features_nb22050.npz");
    if !npz_path.exists() {
        assert!(std::env::var_os("CI").is_none(), "{} is missing in CI", npz_path.display());
        eprintln!("skipping: {} not found", npz_path.display());
        return;
    }
    let cfg = DataConfig { layout: Layout::Pool, resample_like_notebook: true, augment: false, ..DataConfig::default() };
    let mut npz = NpzReader::new(std::fs::File::open(&npz_path).unwrap()).unwrap();
    let mut names = npz.names().unwrap();
    names.sort();
    let mut worst = [1.0f64; 5];
    for name in &names {
        let golden: Array2<f32> = npz.by_name(name).unwrap();
        let wav = shared.join("ravdess-vad16k/validation").join(name.trim_end_matches(".npy"));
        let ours = extract(&prepare_audio(&wav, Variant::Original, &cfg).unwrap(), &FeatureConfig::default());
        assert_eq!(ours.dim(), golden.dim(), "{name}: frame count");
        for (g, rows) in [ZCR, CHROMA, MFCC, RMS, MEL].into_iter().enumerate() {
            let a: Vec<f64> = ours.slice(ndarray::s![rows.clone(), ..]).iter().map(|&v| v as f64).collect();
            let b: Vec<f64> = golden.slice(ndarray::s![rows, ..]).iter().map(|&v| v as f64).collect();
            worst[g] = worst[g].min(correlation(&a, &b));
        }
    }
    println!(
        "worst correlation with the notebook's features: zcr {:.4} chroma {:.4} mfcc {:.4} rms {:.4} mel {:.4}",
        worst[0], worst[1], worst[2], worst[3], worst[4]
    );
    assert!(worst.iter().all(|&c| c > 0.95), "{worst:?}");
    // The native-16 kHz features (the default) are a different input: the option really changes it.
    let native = prepare_audio(
        &shared.join("ravdess-vad16k/validation").join(names[0].trim_end_matches(".npy")),
        Variant::Original,
        &DataConfig { resample_like_notebook: false, ..cfg },
    );
    let golden: Array2<f32> = npz.by_name(&names[0]).unwrap();
    assert_ne!(extract(&native.unwrap(), &FeatureConfig::default()).ncols(), golden.ncols());
}
