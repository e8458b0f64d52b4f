//! Model files: safetensors with the PyTorch parameter names of the authors' model, so weights move
//! between PyTorch (`model.load_state_dict(safetensors.torch.load_file(f))`) and ser both ways.
//!
//! Tensors are stored as F32 (BatchNorm's `num_batches_tracked` as an I64 scalar, as PyTorch keeps
//! it). ser's own settings (dropout, padding, feature input) go in the string metadata.

use crate::data::pipeline::{Band, DataConfig, Enhancement};
use crate::data::InputScaling;
use crate::nn::model::{ModelConfig, Padding, SerModel};
use crate::Real;
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The OS error is in the message, not chained, so `{:#}` prints it once.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: not a safetensors file ({reason})")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: tensor '{name}' is missing")]
    Missing { path: PathBuf, name: String },
    #[error("{path}: tensor '{name}' has shape {actual:?}, expected {expected:?}")]
    Shape { path: PathBuf, name: String, expected: Vec<usize>, actual: Vec<usize> },
    #[error("{path}: tensor '{name}' has shape {actual:?}; a BiLSTM's recurrent weights are (4H, H) for H units each way")]
    Recurrent { path: PathBuf, name: String, actual: Vec<usize> },
    #[error("{path}: tensor '{name}' is {actual}, expected F32")]
    Dtype { path: PathBuf, name: String, actual: String },
    #[error("{path}: metadata '{key}' = '{value}' is not understood")]
    Metadata { path: PathBuf, key: String, value: String },
    #[error("{path}: metadata '{key}' is not usable: {reason}")]
    BadMetadata { path: PathBuf, key: String, reason: String },
    #[error("{path}: trained on notebook-resampled features and {first} not, or the other way round; an ensemble needs one input")]
    MixedInput { path: PathBuf, first: PathBuf },
    #[error("{path}: its classes differ from those of {first}; an ensemble needs one class list")]
    MixedClasses { path: PathBuf, first: PathBuf },
    #[error("{path}: trained for the {band} band and {first} for the {first_band} band; an ensemble needs one band")]
    MixedBand { path: PathBuf, band: &'static str, first: PathBuf, first_band: &'static str },
    #[error("{path}: trained with enhancement {enhancement} and {first} with {first_enhancement}; an ensemble needs one")]
    MixedEnhancement { path: PathBuf, enhancement: &'static str, first: PathBuf, first_enhancement: &'static str },
}

/// Metadata key for the dropout switch ("true"/"false").
pub const META_DROPOUT: &str = "ser.dropout";
/// Metadata key for the padding mode ("study"/"masked").
pub const META_PADDING: &str = "ser.padding";

/// Metadata key for the training recipe (JSON of the `Recipe` it was trained with).
pub const META_RECIPE: &str = "ser.recipe";
/// Metadata key of an ensemble's first member: JSON list of the other members' files, in the
/// same folder; `eval` and `predict` load them too and average the probabilities.
pub const META_ENSEMBLE: &str = "ser.ensemble_members";
/// Metadata key for the input map the model expects (JSON of [`InputScaling`]); absent: raw features.
pub const META_INPUT_SCALING: &str = "ser.input_scaling";
/// Metadata key: the features came from audio resampled like the notebook's ("true"/"false"),
/// so `predict` prepares new audio the same way.
pub const META_RESAMPLE_LIKE_NOTEBOOK: &str = "ser.resample_like_notebook";
/// Metadata key: the band the model was trained for ("wideband": 16 kHz audio as recorded,
/// "telephone": 8 kHz audio band-passed to 300-3400 Hz); absent: wideband. `eval` and `predict`
/// bring their clips to it, and warn about clips whose band is narrower.
pub const META_BAND: &str = "ser.band";
/// Metadata key: what every clip went through after its band ("none", or "wiener": a Wiener
/// filter); absent: none. Audio scored with the model goes through the same.
pub const META_ENHANCEMENT: &str = "ser.enhancement";
/// Metadata key: the class names in output order (JSON list); absent: RAVDESS's eight emotions.
pub const META_CLASSES: &str = "ser.classes";
/// Metadata key: the epochs the model was trained for.
pub const META_EPOCHS: &str = "ser.epochs";
/// Metadata key: the model's training seed.
pub const META_SEED: &str = "ser.seed";

/// One tensor to write: dtype name ("F32"/"I64"), shape, little-endian bytes.
pub type RawTensor = (&'static str, Vec<usize>, Vec<u8>);

/// The model's tensors (as f32) under their PyTorch names.
pub fn model_tensors<T: Real>(model: &mut SerModel<T>) -> BTreeMap<String, RawTensor> {
    let mut tensors = BTreeMap::new();
    for (name, p) in model.params() {
        tensors.insert(name, ("F32", p.value.shape().to_vec(), f32_bytes(p.value.iter().copied())));
    }
    for (name, b) in model.buffers() {
        tensors.insert(name, ("F32", b.shape().to_vec(), f32_bytes(b.iter().copied())));
    }
    let tracked = (model.bn.num_batches_tracked as i64).to_le_bytes().to_vec();
    tensors.insert("classify.0.num_batches_tracked".into(), ("I64", vec![], tracked));
    tensors
}

/// Little-endian f32 bytes of a sequence of values.
pub fn f32_bytes<T: Real>(values: impl Iterator<Item = T>) -> Vec<u8> {
    values.flat_map(|v| v.to_f32().unwrap().to_le_bytes()).collect()
}

/// A safetensors container of `tensors` and `metadata`.
///
/// Written here rather than by the safetensors crate so that the bytes are deterministic
/// (keys sorted): the same weights always give the same file.
pub fn container(tensors: &BTreeMap<String, RawTensor>, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offset = 0;
    for (name, (dtype, shape, bytes)) in tensors {
        header.insert(name.clone(), serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()] }));
        offset += bytes.len();
    }
    let mut header = serde_json::to_vec(&header).expect("a JSON map always serialises");
    // The format pads the header with spaces to a multiple of 8 bytes.
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for (_, _, bytes) in tensors.values() {
        out.extend_from_slice(bytes);
    }
    out
}

/// Serialises the model (as f32) with `metadata` plus the model's own switches.
pub fn to_bytes<T: Real>(model: &mut SerModel<T>, metadata: HashMap<String, String>) -> Vec<u8> {
    let mut metadata: BTreeMap<String, String> = metadata.into_iter().collect();
    metadata.insert(META_DROPOUT.into(), model.config.dropout.to_string());
    metadata.insert(META_PADDING.into(), model.config.padding.name().into());
    container(&model_tensors(model), &metadata)
}

/// Writes the model to `path` atomically.
pub fn save<T: Real>(model: &mut SerModel<T>, path: &Path, metadata: HashMap<String, String>) -> Result<(), CheckpointError> {
    crate::fsio::write_atomic(path, &to_bytes(model, metadata)).map_err(|error| CheckpointError::Io { path: path.into(), error })
}

/// A checkpoint's model and the input it expects, ready to score raw features.
pub struct LoadedModel {
    pub path: PathBuf,
    /// "checkpoint F (recipe R, dropout D, padding P)".
    pub description: String,
    pub model: SerModel<f32>,
    /// The map from raw features to the model's input.
    pub scaling: InputScaling,
    /// The features must come from audio resampled like the notebook's.
    pub resample_like_notebook: bool,
    /// The band the model was trained for: clips are brought to it before their features.
    pub band: Band,
    /// What clips went through after their band before the model's features.
    pub enhancement: Enhancement,
    /// The class names, in output order.
    pub classes: Vec<String>,
}

impl LoadedModel {
    /// `base` with this model's band, enhancement and input resampling: new audio prepared as the
    /// model's training audio was (`Checkpoint::load_ensemble` makes every member agree on them).
    pub fn data_config(&self, base: DataConfig) -> DataConfig {
        DataConfig {
            band: self.band,
            enhancement: self.enhancement,
            resample_like_notebook: base.resample_like_notebook || self.resample_like_notebook,
            ..base
        }
    }
}

/// A parsed checkpoint file: its bytes and metadata.
pub struct Checkpoint {
    pub path: PathBuf,
    bytes: Vec<u8>,
    pub metadata: HashMap<String, String>,
}

impl Checkpoint {
    /// Reads and validates the container (not yet the tensors).
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|error| CheckpointError::Io { path: path.into(), error })?;
        let (_, meta) =
            SafeTensors::read_metadata(&bytes).map_err(|e| CheckpointError::Format { path: path.into(), reason: e.to_string() })?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        Ok(Checkpoint { path: path.into(), bytes, metadata })
    }

    /// Opens each checkpoint and the other members of an ensemble whose first member it is (listed
    /// under [`META_ENSEMBLE`], in the same folder), and checks that they all read audio the same
    /// way (an ensemble averages models that see the same clips). A missing member is an error
    /// naming its file.
    pub fn load_ensemble(weights: &[PathBuf]) -> Result<Vec<LoadedModel>, CheckpointError> {
        let mut loaded: Vec<LoadedModel> = Vec::new();
        for path in weights {
            let ckpt = Checkpoint::open(path)?;
            let members = match ckpt.metadata.get(META_ENSEMBLE) {
                Some(list) => serde_json::from_str::<Vec<String>>(list).map_err(|e| CheckpointError::BadMetadata {
                    path: path.clone(),
                    key: META_ENSEMBLE.into(),
                    reason: format!("not a list of file names: {e}"),
                })?,
                None => Vec::new(),
            };
            let folder = path.parent().unwrap_or(Path::new("."));
            let mut add = |ckpt: Checkpoint| -> Result<(), CheckpointError> {
                let model = ckpt.into_loaded()?;
                if let Some(first) = loaded.first().filter(|f| f.resample_like_notebook != model.resample_like_notebook) {
                    return Err(CheckpointError::MixedInput { path: model.path, first: first.path.clone() });
                }
                if let Some(first) = loaded.first().filter(|f| f.classes != model.classes) {
                    return Err(CheckpointError::MixedClasses { path: model.path, first: first.path.clone() });
                }
                if let Some(first) = loaded.first().filter(|f| f.band != model.band) {
                    let (band, first_band) = (model.band.name(), first.band.name());
                    return Err(CheckpointError::MixedBand { path: model.path, band, first: first.path.clone(), first_band });
                }
                if let Some(first) = loaded.first().filter(|f| f.enhancement != model.enhancement) {
                    let (enhancement, first_enhancement) = (model.enhancement.name(), first.enhancement.name());
                    return Err(CheckpointError::MixedEnhancement {
                        path: model.path,
                        enhancement,
                        first: first.path.clone(),
                        first_enhancement,
                    });
                }
                loaded.push(model);
                Ok(())
            };
            add(ckpt)?;
            for member in members {
                add(Checkpoint::open(&folder.join(member))?)?;
            }
        }
        Ok(loaded)
    }

    /// The model with its input map and a line describing it.
    fn into_loaded(self) -> Result<LoadedModel, CheckpointError> {
        let model = self.load()?;
        let recipe = self.metadata.get(META_RECIPE).and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
        let name = recipe.as_ref().and_then(|r| r["name"].as_str().map(str::to_string)).unwrap_or_else(|| "study".into());
        let description = format!(
            "checkpoint {} (recipe {name}, dropout {}, padding {})",
            self.path.display(),
            model.config.dropout,
            model.config.padding.name()
        );
        let resample_like_notebook = self.metadata.get(META_RESAMPLE_LIKE_NOTEBOOK).is_some_and(|v| v == "true");
        let band = self.band()?;
        let description = if band == Band::Wideband { description } else { format!("{description}, {} band", band.name()) };
        let enhancement = self.enhancement()?;
        let description =
            if enhancement == Enhancement::None { description } else { format!("{description}, {} enhancement", enhancement.name()) };
        let classes = self.classes()?;
        let description = if classes[..] == crate::data::EMOTIONS[..] {
            description
        } else {
            format!("{description}, {} classes: {}", classes.len(), classes.join(", "))
        };
        Ok(LoadedModel {
            scaling: self.input_scaling()?,
            path: self.path,
            description,
            model,
            resample_like_notebook,
            band,
            enhancement,
            classes,
        })
    }

    /// The class names ([`META_CLASSES`]; RAVDESS's eight emotions when absent).
    pub fn classes(&self) -> Result<Vec<String>, CheckpointError> {
        let Some(text) = self.metadata.get(META_CLASSES) else {
            return Ok(crate::data::ravdess_classes());
        };
        let bad = |reason: String| CheckpointError::BadMetadata { path: self.path.clone(), key: META_CLASSES.into(), reason };
        let classes: Vec<String> = serde_json::from_str(text).map_err(|e| bad(format!("not a list of class names ({e})")))?;
        if classes.len() < 2 {
            return Err(bad(format!("{} class(es); a classifier has at least two", classes.len())));
        }
        Ok(classes)
    }

    /// The band the model was trained for ([`META_BAND`]; wideband when absent).
    pub fn band(&self) -> Result<Band, CheckpointError> {
        match self.metadata.get(META_BAND).map(String::as_str) {
            None | Some("wideband") => Ok(Band::Wideband),
            Some("telephone") => Ok(Band::Telephone),
            Some(v) => Err(CheckpointError::Metadata { path: self.path.clone(), key: META_BAND.into(), value: v.into() }),
        }
    }

    /// What clips went through after their band ([`META_ENHANCEMENT`]; none when absent).
    pub fn enhancement(&self) -> Result<Enhancement, CheckpointError> {
        match self.metadata.get(META_ENHANCEMENT).map(String::as_str) {
            None | Some("none") => Ok(Enhancement::None),
            Some("wiener") => Ok(Enhancement::Wiener),
            Some(v) => Err(CheckpointError::Metadata { path: self.path.clone(), key: META_ENHANCEMENT.into(), value: v.into() }),
        }
    }

    /// The model switches: from ser's metadata, else inferred (a file from PyTorch: dropout iff the
    /// head has `classify.7`; padding "study", the authors' behaviour).
    pub fn config(&self) -> Result<ModelConfig, CheckpointError> {
        let bad = |key: &str, value: &str| CheckpointError::Metadata { path: self.path.clone(), key: key.into(), value: value.into() };
        let dropout = match self.metadata.get(META_DROPOUT).map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            Some(v) => return Err(bad(META_DROPOUT, v)),
            None => self.tensors()?.tensor("classify.7.weight").is_ok(),
        };
        let padding = match self.metadata.get(META_PADDING).map(String::as_str) {
            Some("study") | None => Padding::Study,
            Some("masked") => Padding::Masked,
            Some(v) => return Err(bad(META_PADDING, v)),
        };
        Ok(ModelConfig { dropout, padding })
    }

    /// The input map the model was trained on: log-mel and per-row statistics from the metadata,
    /// the identity for files without it (the study's, or PyTorch's).
    pub fn input_scaling(&self) -> Result<InputScaling, CheckpointError> {
        let Some(text) = self.metadata.get(META_INPUT_SCALING) else {
            return Ok(InputScaling::identity());
        };
        let bad = |reason: String| CheckpointError::BadMetadata { path: self.path.clone(), key: META_INPUT_SCALING.into(), reason };
        let scaling: InputScaling = serde_json::from_str(text).map_err(|e| bad(format!("not JSON of an input map ({e})")))?;
        scaling.validate().map_err(bad)?;
        Ok(scaling)
    }

    fn tensors(&self) -> Result<SafeTensors<'_>, CheckpointError> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| CheckpointError::Format { path: self.path.clone(), reason: e.to_string() })
    }

    /// An F32 tensor by name, checked against the expected shape.
    pub fn f32_tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, CheckpointError> {
        let st = self.tensors()?;
        let path = &self.path;
        let t = st.tensor(name).map_err(|_| CheckpointError::Missing { path: path.clone(), name: name.into() })?;
        if t.shape() != expected {
            return Err(CheckpointError::Shape {
                path: path.clone(),
                name: name.into(),
                expected: expected.to_vec(),
                actual: t.shape().to_vec(),
            });
        }
        if t.dtype() != Dtype::F32 {
            return Err(CheckpointError::Dtype { path: path.clone(), name: name.into(), actual: format!("{:?}", t.dtype()) });
        }
        Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// Hidden units of each direction of the file's BiLSTM, read from the shape of its
    /// recurrent weights `lstm.weight_hh_l0` (4H, H): the authors' 80, or a recipe's width.
    pub fn lstm_hidden(&self) -> Result<usize, CheckpointError> {
        let st = self.tensors()?;
        let name = "lstm.weight_hh_l0";
        let t = st.tensor(name).map_err(|_| CheckpointError::Missing { path: self.path.clone(), name: name.into() })?;
        match *t.shape() {
            [rows, hidden] if hidden > 0 && rows == 4 * hidden => Ok(hidden),
            ref shape => Err(CheckpointError::Recurrent { path: self.path.clone(), name: name.into(), actual: shape.to_vec() }),
        }
    }

    /// Builds the model the file describes and loads every tensor into it.
    pub fn load<T: Real>(&self) -> Result<SerModel<T>, CheckpointError> {
        let mut model = SerModel::with_width(self.config()?, self.classes()?.len(), self.lstm_hidden()?, 0);
        self.load_into(&mut model)?;
        Ok(model)
    }

    /// Loads every tensor into `model`, checking names, shapes and dtypes.
    pub fn load_into<T: Real>(&self, model: &mut SerModel<T>) -> Result<(), CheckpointError> {
        let st = self.tensors()?;
        let fill = |dst: &mut ndarray::ArrayViewMutD<'_, T>, src: Vec<f32>| {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = T::c(s as f64);
            }
        };
        for (name, mut p) in model.params() {
            let values = self.f32_tensor(&name, p.value.shape())?;
            fill(&mut p.value, values);
        }
        for (name, mut b) in model.buffers() {
            let values = self.f32_tensor(&name, b.shape())?;
            fill(&mut b, values);
        }
        if let Ok(t) = st.tensor("classify.0.num_batches_tracked") {
            if t.dtype() == Dtype::I64 && t.data().len() == 8 {
                model.bn.num_batches_tracked = i64::from_le_bytes(t.data().try_into().unwrap()).max(0) as u64;
            }
        }
        Ok(())
    }
}
