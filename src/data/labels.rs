//! A labels CSV: how a corpus of any file names says what each clip is.
//!
//! ```text
//! file,emotion,speaker,split
//! calls/0001.wav,angry,agent7,train
//! calls/0002.wav,neutral,agent7,test
//! ```
//!
//! A header row names the columns, in any order: `file` (relative to the corpus folder) and
//! `emotion` (or `label`) are required, `speaker` (any text) and `split` (`train`, `val`, `test`;
//! `training`, `validation`, `testing` too) are optional, and other columns are ignored. Labels are
//! trimmed and lower-cased. Every problem is an error naming the CSV and its line; the checks that
//! need every corpus at once (classes, splits) are in [`super::corpus`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A part of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Train,
    Val,
    Test,
}

impl Part {
    /// `train`, `val` or `test` (and the folder names `training`, `validation`, `testing`).
    pub fn parse(text: &str) -> Option<Part> {
        match text.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Part::Train),
            "val" | "valid" | "validation" => Some(Part::Val),
            "test" | "testing" => Some(Part::Test),
            _ => None,
        }
    }
}

/// One row of a labels CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelRow {
    /// 1-based line of the CSV (the header is line 1).
    pub line: usize,
    /// The clip, the corpus folder joined with the row's `file`.
    pub path: PathBuf,
    /// The label as written, trimmed and lower-cased.
    pub label: String,
    pub speaker: Option<String>,
    pub part: Option<Part>,
}

/// A labels-CSV problem: the file, the line and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}, line {line}: {reason}", csv.display())]
pub struct LabelError {
    pub csv: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// The rows of `csv`, whose files are relative to `dir`. Refuses a missing header, a row without
/// a file or a label, a file listed twice or absent, an unknown split, and a CSV without rows.
pub fn read_labels(csv: &Path, dir: &Path) -> Result<Vec<LabelRow>, LabelError> {
    let error = |line: usize, reason: String| LabelError { csv: csv.to_path_buf(), line, reason };
    let bytes = std::fs::read(csv).map_err(|e| error(0, e.to_string()))?;
    // Lines counted from byte offsets (past the blank lines a record's offset may point at):
    // the reader's own count skips blank lines.
    let newlines: Vec<usize> = bytes.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i).collect();
    let line_at = |byte: u64| {
        let start = (byte as usize).min(bytes.len());
        let start = start + bytes[start..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        1 + newlines.partition_point(|&n| n < start)
    };
    let line_of = |e: &csv::Error| e.position().map_or(1, |p| line_at(p.byte()));
    let mut reader = csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).from_reader(bytes.as_slice());
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(error(1, "empty: expected a header row such as 'file,emotion'".into())),
        Some(record) => record.map_err(|e| error(line_of(&e), csv_reason(&e)))?,
    };
    let column = |names: &[&str]| header.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)));
    let (Some(file_col), Some(label_col)) = (column(&["file"]), column(&["emotion", "label"])) else {
        let first = header.iter().collect::<Vec<_>>().join(",");
        return Err(error(1, format!("no header row naming the columns 'file' and 'emotion' (the first row is '{first}')")));
    };
    let (speaker_col, split_col) = (column(&["speaker"]), column(&["split"]));
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in records {
        let record = record.map_err(|e| error(line_of(&e), csv_reason(&e)))?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let field = |col: usize| record.get(col).unwrap_or("");
        let file = field(file_col);
        if file.is_empty() {
            return Err(error(line, "empty file".into()));
        }
        let label = field(label_col).to_lowercase();
        if label.is_empty() {
            return Err(error(line, format!("'{file}' has an empty emotion")));
        }
        if let Some(first) = seen.insert(file.to_string(), line) {
            return Err(error(line, format!("'{file}' is listed twice (first on line {first})")));
        }
        let path = dir.join(file);
        if !path.is_file() {
            return Err(error(line, format!("'{file}' does not exist in {}", dir.display())));
        }
        let speaker = speaker_col.map(field).filter(|s| !s.is_empty()).map(str::to_string);
        let part = match split_col.map(field) {
            None => None,
            Some(text) => Some(Part::parse(text).ok_or_else(|| error(line, format!("split '{text}' is not one of train, val, test")))?),
        };
        rows.push(LabelRow { line, path, label, speaker, part });
    }
    if rows.is_empty() {
        return Err(error(2, "no rows after the header".into()));
    }
    Ok(rows)
}

/// A CSV error without the position the message already gives.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".into(),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str, csv: &str, files: &[&str]) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("ser-labels-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let path = dir.join("labels.csv");
        std::fs::write(&path, csv).unwrap();
        (dir, path)
    }

    #[test]
    fn columns_are_read_by_name_in_any_order() {
        let (dir, csv) =
            corpus("order", "Split,Speaker,notes,Emotion,File\ntest,s1,x,Angry ,a.wav\n\n train,s2,,calm,b.wav\n", &["a.wav", "b.wav"]);
        let rows = read_labels(&csv, &dir).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].line, rows[0].label.as_str(), rows[0].speaker.as_deref(), rows[0].part),
            (2, "angry", Some("s1"), Some(Part::Test))
        );
        assert_eq!((rows[1].line, rows[1].path.clone(), rows[1].part), (4, dir.join("b.wav"), Some(Part::Train)));
    }

    #[test]
    fn each_problem_names_its_line() {
        let cases: [(&str, &str, &str); 7] = [
            ("noheader", "a.wav,angry\n", "line 1: no header"),
            ("missing", "file,emotion\na.wav,angry\nc.wav,sad\n", "line 3: 'c.wav' does not exist"),
            ("duplicate", "file,emotion\na.wav,angry\nb.wav,sad\na.wav,sad\n", "line 4: 'a.wav' is listed twice (first on line 2)"),
            ("empty", "file,emotion\na.wav, \n", "line 2: 'a.wav' has an empty emotion"),
            ("split", "file,emotion,split\na.wav,sad,dev\n", "line 2: split 'dev' is not one of train, val, test"),
            ("ragged", "file,emotion\na.wav,sad,extra\n", "line 2: 3 fields where the header has 2"),
            ("norows", "file,emotion\n", "line 2: no rows"),
        ];
        for (name, text, expected) in cases {
            let (dir, csv) = corpus(name, text, &["a.wav", "b.wav"]);
            let e = read_labels(&csv, &dir).unwrap_err().to_string();
            assert!(e.contains("labels.csv") && e.contains(expected), "{name}: {e}");
        }
    }
}
