//! RAVDESS file names: `MM-VV-EE-II-SS-RR-AA.wav`
//! (modality, vocal channel, emotion, intensity, statement, repetition, actor; two digits each).
//! Modality 03 is audio-only and vocal channel 01 is speech; the emotion label is EE - 1.

use std::path::{Path, PathBuf};

/// The eight RAVDESS emotions, in label order (label = third field of the file name minus 1).
pub const EMOTIONS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// [`EMOTIONS`] as owned names: the classes of the study's model.
pub fn ravdess_classes() -> Vec<String> {
    EMOTIONS.iter().map(|e| e.to_string()).collect()
}

/// What a RAVDESS file name says about its clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipInfo {
    pub path: PathBuf,
    /// 0..8, an index into [`EMOTIONS`].
    pub emotion: usize,
    /// 1..=24.
    pub actor: u8,
    pub intensity: u8,
    pub statement: u8,
    pub repetition: u8,
}

/// How a file name was judged.
#[derive(Debug, PartialEq, Eq)]
pub enum NameKind {
    /// RAVDESS speech (modality 03, vocal channel 01).
    Speech(ClipInfo),
    /// A valid RAVDESS name that is not audio-only speech (song, video): skipped and counted.
    NotSpeech,
}

/// Parses a RAVDESS name; the error says what is wrong with it.
pub fn parse_name(path: &Path) -> Result<NameKind, String> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".wav").or_else(|| n.strip_suffix(".WAV")))
        .ok_or_else(|| "not a .wav file name".to_string())?;
    let fields: Vec<&str> = stem.split('-').collect();
    if fields.len() != 7 || fields.iter().any(|f| f.len() != 2 || !f.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("'{stem}' is not a RAVDESS name (expected 7 two-digit fields like 03-01-05-01-02-01-12)"));
    }
    let num: Vec<u8> = fields.iter().map(|f| f.parse().unwrap()).collect();
    let in_range = |v: u8, lo: u8, hi: u8, what: &str| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("'{stem}': {what} {v:02} is outside {lo:02}..{hi:02}"))
        }
    };
    in_range(num[0], 1, 3, "modality")?;
    in_range(num[1], 1, 2, "vocal channel")?;
    let emotion = in_range(num[2], 1, 8, "emotion")? as usize - 1;
    let intensity = in_range(num[3], 1, 2, "intensity")?;
    let statement = in_range(num[4], 1, 2, "statement")?;
    let repetition = in_range(num[5], 1, 2, "repetition")?;
    let actor = in_range(num[6], 1, 24, "actor")?;
    if num[0] != 3 || num[1] != 1 {
        return Ok(NameKind::NotSpeech);
    }
    Ok(NameKind::Speech(ClipInfo { path: path.to_path_buf(), emotion, actor, intensity, statement, repetition }))
}

/// Every `.wav` under `dir`, recursively, sorted by path so that runs are reproducible.
pub fn find_wavs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_speech_names_and_labels() {
        let NameKind::Speech(c) = parse_name(Path::new("Actor_12/03-01-05-02-01-02-12.wav")).unwrap() else { panic!("speech expected") };
        assert_eq!((c.emotion, c.actor, c.intensity, c.statement, c.repetition), (4, 12, 2, 1, 2));
        assert_eq!(EMOTIONS[c.emotion], "angry");
    }

    #[test]
    fn song_and_video_are_not_speech() {
        assert_eq!(parse_name(Path::new("03-02-05-02-01-02-12.wav")).unwrap(), NameKind::NotSpeech);
        assert_eq!(parse_name(Path::new("01-01-05-02-01-02-12.wav")).unwrap(), NameKind::NotSpeech);
    }

    #[test]
    fn malformed_names_say_why() {
        assert!(parse_name(Path::new("hello.wav")).unwrap_err().contains("not a RAVDESS name"));
        assert!(parse_name(Path::new("03-01-09-01-01-01-01.wav")).unwrap_err().contains("emotion 09"));
        assert!(parse_name(Path::new("03-01-01-01-01-01-25.wav")).unwrap_err().contains("actor 25"));
        assert!(parse_name(Path::new("03-01-01-01-01-01-01.mp3")).is_err());
    }
}
