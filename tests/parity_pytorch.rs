//! Parity with PyTorch: the study authors' trained model (`../shared/reference/`), loaded from its
//! safetensors file, gives the logits PyTorch 2.15 gave on the notebook's features, both for each
//! clip alone and for the 20 clips zero-padded into one batch (where the study's model runs its
//! LSTM and pooling over the padding).

use ndarray::{Array2, ArrayView2};
use ndarray_npy::NpzReader;
use ser::checkpoint::Checkpoint;
use ser::nn::model::{pad_batch, SerModel};
use std::path::{Path, PathBuf};

fn reference_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference");
    if dir.join("authors_model.safetensors").exists() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{} is missing in CI", dir.display());
    eprintln!("skipping: {} not found", dir.display());
    None
}

struct Reference {
    features: Vec<Array2<f32>>,
    alone: Vec<Vec<f64>>,
    batched: Vec<Vec<f64>>,
}

fn load_reference(dir: &Path) -> Reference {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("validation_logits.json")).unwrap()).unwrap();
    let mut npz = NpzReader::new(std::fs::File::open(dir.join("validation_features_nb22050.npz")).unwrap()).unwrap();
    let mut r = Reference { features: vec![], alone: vec![], batched: vec![] };
    let to_vec = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<f64>>();
    for clip in json["clips"].as_array().unwrap() {
        let name = clip["file"].as_str().unwrap();
        let f: Array2<f32> = npz.by_name(&format!("{name}.npy")).unwrap();
        assert_eq!(f.ncols() as u64, clip["K"].as_u64().unwrap());
        r.features.push(f);
        r.alone.push(to_vec(&clip["logits"]));
        r.batched.push(to_vec(&clip["logits_in_padded_batch_of_20"]));
    }
    r
}

fn worst(got: ArrayView2<f32>, want: &[Vec<f64>]) -> f64 {
    let mut worst = 0.0f64;
    for (row, w) in got.rows().into_iter().zip(want) {
        let scale = w.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for (g, w) in row.iter().zip(w) {
            worst = worst.max((*g as f64 - w).abs() / scale);
        }
    }
    worst
}

fn authors_model<T: ser::Real>(dir: &Path) -> SerModel<T> {
    let ckpt = Checkpoint::open(&dir.join("authors_model.safetensors")).unwrap();
    let model: SerModel<T> = ckpt.load().unwrap();
    assert!(model.config.dropout, "the authors' file is the dropout model");
    model
}

#[test]
fn authors_model_matches_pytorch_logits_alone_and_in_a_padded_batch() {
    let Some(dir) = reference_dir() else { return };
    let r = load_reference(&dir);
    let mut model = authors_model::<f32>(&dir);

    let mut alone = Array2::zeros((r.features.len(), 8));
    for (i, f) in r.features.iter().enumerate() {
        let (x, lengths) = pad_batch(&[f.view()]);
        alone.row_mut(i).assign(&model.forward(x.view(), &lengths, false).row(0));
    }
    let err_alone = worst(alone.view(), &r.alone);

    let views: Vec<ArrayView2<f32>> = r.features.iter().map(|f| f.view()).collect();
    let (x, lengths) = pad_batch(&views);
    let batched = model.forward(x.view(), &lengths, false);
    let err_batched = worst(batched.view(), &r.batched);
    println!("worst logit error relative to each clip's largest logit: alone {err_alone:.2e}, padded batch {err_batched:.2e}");
    assert!(err_alone < 1e-4, "alone: {err_alone:.3e}");
    assert!(err_batched < 1e-4, "padded batch: {err_batched:.3e}");
}

#[test]
fn f32_and_f64_models_agree() {
    let Some(dir) = reference_dir() else { return };
    let r = load_reference(&dir);
    let mut m32 = authors_model::<f32>(&dir);
    let mut m64 = authors_model::<f64>(&dir);
    let views: Vec<ArrayView2<f32>> = r.features.iter().map(|f| f.view()).collect();
    let (x, lengths) = pad_batch(&views);
    let y32 = m32.forward(x.view(), &lengths, false);
    let y64 = m64.forward(x.mapv(|v| v as f64).view(), &lengths, false);
    let worst = y32.iter().zip(&y64).fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs() / b.abs().max(1.0)));
    println!("f32 vs f64 logits: worst {worst:.2e}");
    assert!(worst < 1e-4, "{worst:.3e}");
}
