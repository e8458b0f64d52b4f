//! Resumable training: after every epoch the model, Adam's moments, the speaker adversary (when
//! there is one, with its own Adam's) and the history so far go into one safetensors file,
//! written atomically, so a run killed at any moment resumes from its last
//! finished epoch. Because each epoch's random draws are seeded from (seed, epoch), the resumed run
//! gives the same numbers as an uninterrupted one.

use super::{EpochLog, Trainer};
use crate::checkpoint::{container, f32_bytes, model_tensors, Checkpoint, CheckpointError, RawTensor, META_DROPOUT, META_PADDING};
use crate::nn::model::SerModel;
use crate::nn::ParamRef;
use crate::optim::Adam;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use std::path::Path;

const META_ADAM_STEP: &str = "ser.adam_step";
const META_HISTORY: &str = "ser.history";
const META_ADVERSARY_ADAM_STEP: &str = "ser.adversary_adam_step";
/// Name prefix of the speaker adversary's tensors.
const ADVERSARY: &str = "adversary";

/// Adam's moments of the parameters `names`, as `<prefix>adam.m.<name>` and `<prefix>adam.v.<name>`.
fn insert_moments(tensors: &mut BTreeMap<String, RawTensor>, prefix: &str, names: &[String], adam: &Adam<f32>) {
    for ((name, m), v) in names.iter().zip(&adam.m).zip(&adam.v) {
        tensors.insert(format!("{prefix}adam.m.{name}"), ("F32", m.shape().to_vec(), f32_bytes(m.iter().copied())));
        tensors.insert(format!("{prefix}adam.v.{name}"), ("F32", v.shape().to_vec(), f32_bytes(v.iter().copied())));
    }
}

/// Restores the moments `insert_moments` wrote for `params`, and the step count.
fn load_moments(
    ckpt: &Checkpoint,
    prefix: &str,
    params: Vec<(String, ParamRef<'_, f32>)>,
    adam: &mut Adam<f32>,
    step: u64,
) -> Result<(), CheckpointError> {
    let mut m = Vec::new();
    let mut v = Vec::new();
    for (name, p) in params {
        for (kind, out) in [("m", &mut m), ("v", &mut v)] {
            let values = ckpt.f32_tensor(&format!("{prefix}adam.{kind}.{name}"), p.value.shape())?;
            out.push(ArrayD::from_shape_vec(p.value.shape(), values).expect("shape was checked"));
        }
    }
    adam.m = m;
    adam.v = v;
    adam.step = step;
    Ok(())
}

/// Writes the training state after the trainer's last epoch.
pub fn save_state(path: &Path, model: &mut SerModel<f32>, trainer: &mut Trainer) -> Result<(), CheckpointError> {
    let mut tensors = model_tensors(model);
    let names: Vec<String> = model.params().into_iter().map(|(n, _)| n).collect();
    insert_moments(&mut tensors, "", &names, &trainer.adam);
    let mut metadata = BTreeMap::from([
        (META_DROPOUT.to_string(), model.config.dropout.to_string()),
        (META_PADDING.to_string(), model.config.padding.name().to_string()),
        (META_ADAM_STEP.to_string(), trainer.adam.step.to_string()),
        (META_HISTORY.to_string(), serde_json::to_string(&trainer.history).expect("history serialises")),
    ]);
    if let Some((adversary, adam)) = &mut trainer.adversary {
        let mut names = Vec::new();
        for (name, p) in adversary.params() {
            tensors.insert(format!("{ADVERSARY}.{name}"), ("F32", p.value.shape().to_vec(), f32_bytes(p.value.iter().copied())));
            names.push(name);
        }
        insert_moments(&mut tensors, &format!("{ADVERSARY}."), &names, adam);
        metadata.insert(META_ADVERSARY_ADAM_STEP.to_string(), adam.step.to_string());
    }
    crate::fsio::write_atomic(path, &container(&tensors, &metadata))
        .map_err(|source| CheckpointError::Io { path: path.into(), error: source })
}

/// Restores model, optimizer and history from a state file; the model must have the file's
/// configuration, and a trainer with a speaker adversary (`Trainer::attach_adversary`) finds it
/// there too.
pub fn load_state(path: &Path, model: &mut SerModel<f32>, trainer: &mut Trainer) -> Result<(), CheckpointError> {
    let ckpt = Checkpoint::open(path)?;
    let bad = |key: &str| CheckpointError::Metadata {
        path: path.into(),
        key: key.into(),
        value: ckpt.metadata.get(key).cloned().unwrap_or_default(),
    };
    if ckpt.config()? != model.config {
        return Err(bad(META_PADDING));
    }
    ckpt.load_into(model)?;
    let history: Vec<EpochLog> =
        ckpt.metadata.get(META_HISTORY).and_then(|h| serde_json::from_str(h).ok()).ok_or_else(|| bad(META_HISTORY))?;
    let step: u64 = ckpt.metadata.get(META_ADAM_STEP).and_then(|s| s.parse().ok()).ok_or_else(|| bad(META_ADAM_STEP))?;
    load_moments(&ckpt, "", model.params(), &mut trainer.adam, step)?;
    if let Some((adversary, adam)) = &mut trainer.adversary {
        for (name, mut p) in adversary.params() {
            let values = ckpt.f32_tensor(&format!("{ADVERSARY}.{name}"), p.value.shape())?;
            p.value.iter_mut().zip(values).for_each(|(d, s)| *d = s);
        }
        let step: u64 =
            ckpt.metadata.get(META_ADVERSARY_ADAM_STEP).and_then(|s| s.parse().ok()).ok_or_else(|| bad(META_ADVERSARY_ADAM_STEP))?;
        load_moments(&ckpt, &format!("{ADVERSARY}."), adversary.params(), adam, step)?;
    }
    trainer.history = history;
    Ok(())
}
