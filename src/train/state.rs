//! Resumable training: after every epoch the model, Adam's moments and the history so far go into
//! one safetensors file, written atomically, so a run killed at any moment resumes from its last
//! finished epoch. Because each epoch's random draws are seeded from (seed, epoch), the resumed run
//! gives the same numbers as an uninterrupted one.

use super::{EpochLog, Trainer};
use crate::checkpoint::{container, f32_bytes, model_tensors, Checkpoint, CheckpointError, META_DROPOUT, META_PADDING};
use crate::nn::model::SerModel;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use std::path::Path;

const META_ADAM_STEP: &str = "ser.adam_step";
const META_HISTORY: &str = "ser.history";

/// Writes the training state after the trainer's last epoch.
pub fn save_state(path: &Path, model: &mut SerModel<f32>, trainer: &Trainer) -> Result<(), CheckpointError> {
    let mut tensors = model_tensors(model);
    let names: Vec<String> = model.params().into_iter().map(|(n, _)| n).collect();
    for ((name, m), v) in names.iter().zip(&trainer.adam.m).zip(&trainer.adam.v) {
        tensors.insert(format!("adam.m.{name}"), ("F32", m.shape().to_vec(), f32_bytes(m.iter().copied())));
        tensors.insert(format!("adam.v.{name}"), ("F32", v.shape().to_vec(), f32_bytes(v.iter().copied())));
    }
    let metadata = BTreeMap::from([
        (META_DROPOUT.to_string(), model.config.dropout.to_string()),
        (META_PADDING.to_string(), model.config.padding.name().to_string()),
        (META_ADAM_STEP.to_string(), trainer.adam.step.to_string()),
        (META_HISTORY.to_string(), serde_json::to_string(&trainer.history).expect("history serialises")),
    ]);
    crate::fsio::write_atomic(path, &container(&tensors, &metadata)).map_err(|source| CheckpointError::Io { path: path.into(), error: source })
}

/// Restores model, optimizer and history from a state file; the model must have the file's
/// configuration.
pub fn load_state(path: &Path, model: &mut SerModel<f32>, trainer: &mut Trainer) -> Result<(), CheckpointError> {
    let ckpt = Checkpoint::open(path)?;
    let bad = |key: &str| CheckpointError::Metadata { path: path.into(), key: key.into(), value: ckpt.metadata.get(key).cloned().unwrap_or_default() };
    if ckpt.config()? != model.config {
        return Err(bad(META_PADDING));
    }
    ckpt.load_into(model)?;
    let history: Vec<EpochLog> = ckpt.metadata.get(META_HISTORY).and_then(|h| serde_json::from_str(h).ok()).ok_or_else(|| bad(META_HISTORY))?;
    let step: u64 = ckpt.metadata.get(META_ADAM_STEP).and_then(|s| s.parse().ok()).ok_or_else(|| bad(META_ADAM_STEP))?;
    let mut m = Vec::new();
    let mut v = Vec::new();
    for (name, p) in model.params() {
        for (kind, out) in [("m", &mut m), ("v", &mut v)] {
            let values = ckpt.f32_tensor(&format!("adam.{kind}.{name}"), p.value.shape())?;
            out.push(ArrayD::from_shape_vec(p.value.shape(), values).expect("shape was checked"));
        }
    }
    trainer.adam.m = m;
    trainer.adam.v = v;
    trainer.adam.step = step;
    trainer.history = history;
    Ok(())
}
