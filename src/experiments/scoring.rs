//! Scoring loaded checkpoints: the probabilities an ensemble of them gives, the one route `eval`,
//! `predict` and `robustness` all take from raw features to an answer.

use crate::checkpoint::LoadedModel;
use crate::data::Example;
use crate::nn::model::NUM_CLASSES;
use crate::train::{mean_probabilities, Scoring};
use ndarray::Array2;

/// Class probabilities (N, 8) of `examples` (raw features), averaged over the models, each
/// applying its own input map.
pub fn ensemble_probabilities(models: &mut [LoadedModel], examples: &[Example], scoring: Scoring) -> Array2<f32> {
    let mut sum = Array2::<f32>::zeros((examples.len(), NUM_CLASSES));
    for m in models.iter_mut() {
        let mut scaled = examples.to_vec();
        m.scaling.apply_all(&mut scaled);
        sum += &mean_probabilities(std::slice::from_mut(&mut m.model), &scaled, scoring);
    }
    sum / models.len() as f32
}
