//! Data: RAVDESS names and folders, splits, and the feature pipeline that turns clips into examples.

pub mod pipeline;
pub mod ravdess;
pub mod split;

pub use ravdess::{parse_name, ClipInfo, NameKind, EMOTIONS};
pub use split::{split_files, split_speakers, Split};
