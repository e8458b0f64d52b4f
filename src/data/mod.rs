//! Data: where it comes from, RAVDESS names and folders, splits, the feature pipeline that turns
//! clips into examples, and the input map fitted on the training split.

pub mod channels;
pub mod corpus;
pub mod example;
pub mod labels;
pub mod pipeline;
pub mod ravdess;
pub mod scaling;
pub mod source;
pub mod split;

pub use corpus::{Clip, Corpus, LabelSettings};
pub use example::{CacheReadError, Example, Features, Variant};
pub use ravdess::{parse_name, ravdess_classes, ClipInfo, NameKind, EMOTIONS};
pub use scaling::InputScaling;
pub use source::{resolve_data, DataSource};
pub use split::{split_files, split_speakers, Split};
