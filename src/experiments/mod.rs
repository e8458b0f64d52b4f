//! Experiments: the runs that train models from recipes and measure them. `run` trains one model
//! (with its ensemble members, checkpoints and resume); `ablation` is the study's dropout
//! ablation; `recipes` trains recipes over seeds, one ladder row each; `robustness` scores a
//! checkpoint under channel corruptions.

pub mod ablation;
pub mod recipes;
pub mod robustness;
pub mod run;
