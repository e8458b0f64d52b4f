//! Corpora: one or more folders of labelled clips, each labelled by its RAVDESS file names or by
//! a labels CSV ([`super::labels`]), turned into one class set, one speaker numbering and one
//! train/validation/test split.
//!
//! - Classes: `--classes` fixes them and their order; otherwise they are the labels found (after
//!   `--map`), RAVDESS's eight names in RAVDESS order first, any others alphabetically after them.
//!   A folder of RAVDESS names brings all eight, so the study's model is unchanged.
//! - Speakers: a CSV's `speaker` column, else `--speaker-pattern` (a regex whose first group
//!   captures the speaker from the file's path), else each file is its own speaker; RAVDESS
//!   names give the actor. Speakers are numbered in each corpus's order (numbers by value), so
//!   RAVDESS actors keep their order and two corpora never share a speaker.
//! - Parts: a CSV's `split` column; else, seeded, by file stratified by class (60/15/25 of each
//!   class) or by speaker (`--split speakers`, 60/15/25 of the speakers); a RAVDESS folder
//!   splits as it always has. `--test-corpus` puts every clip of that corpus in test.

use super::labels::{read_labels, LabelError, LabelRow, Part};
use super::ravdess::EMOTIONS;
use super::split::{split_files, split_speakers};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One corpus: a folder, and the CSV that labels its clips (None: RAVDESS file names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Corpus {
    pub dir: PathBuf,
    #[serde(default)]
    pub labels: Option<PathBuf>,
}

impl Corpus {
    /// A folder of RAVDESS-named clips.
    pub fn ravdess(dir: &Path) -> Self {
        Corpus { dir: dir.to_path_buf(), labels: None }
    }

    /// The name reports and `--test-corpus` use: the folder's own name.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// True when `name` is this corpus: its name or its folder as given.
    pub fn is_named(&self, name: &str) -> bool {
        self.name() == name || self.dir == Path::new(name)
    }
}

/// How the labels of the corpora become classes, speakers and parts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelSettings {
    /// The classes, in the model's output order; any other label is refused. None: the labels found.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Label renames (from, to) applied to every corpus before anything else: `fear=fearful`.
    #[serde(default)]
    pub map: Vec<(String, String)>,
    /// A regex whose first group captures the speaker from a file's path, for CSVs without a
    /// `speaker` column.
    #[serde(default)]
    pub speaker_pattern: Option<String>,
    /// The corpus (by name) every clip of which is tested on and none trained on.
    #[serde(default)]
    pub test_corpus: Option<String>,
}

impl LabelSettings {
    /// True when `corpus` is the one left out for test (`test_corpus`).
    pub fn leaves_out(&self, corpus: &Corpus) -> bool {
        self.test_corpus.as_deref().is_some_and(|name| corpus.is_named(name))
    }
}

/// `--map`'s value: `from=to` pairs separated by commas.
pub fn parse_class_map(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (from, to) = pair.split_once('=').ok_or_else(|| format!("'{pair}' is not FROM=TO"))?;
            let (from, to) = (from.trim().to_lowercase(), to.trim().to_lowercase());
            if from.is_empty() || to.is_empty() {
                return Err(format!("'{pair}' has an empty side"));
            }
            Ok((from, to))
        })
        .collect()
}

/// One clip ready for the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub path: PathBuf,
    /// Index into the class list.
    pub label: usize,
    /// 1.. over every corpus; equal numbers, same speaker.
    pub speaker: u32,
    /// Index into the corpora.
    pub corpus: usize,
}

/// A clip as a corpus describes it, before classes and speakers are numbered.
#[derive(Clone, Debug)]
pub struct RawClip {
    pub path: PathBuf,
    pub label: String,
    /// None: not known (each such file is its own speaker).
    pub speaker: Option<String>,
    pub part: Option<Part>,
    /// Where it was described: a CSV and its line, for errors (None for RAVDESS names).
    pub source: Option<(PathBuf, usize)>,
}

impl RawClip {
    /// A clip of a RAVDESS folder: the name's emotion and actor, and its part (already split).
    pub fn ravdess(path: PathBuf, emotion: usize, actor: u8, part: Part) -> Self {
        RawClip { path, label: EMOTIONS[emotion].into(), speaker: Some(actor.to_string()), part: Some(part), source: None }
    }

    fn error(&self, reason: String) -> CorpusError {
        match &self.source {
            Some((csv, line)) => CorpusError::Labels(LabelError { csv: csv.clone(), line: *line, reason }),
            None => CorpusError::Other(format!("{}: {reason}", self.path.display())),
        }
    }
}

/// A corpus-level problem: in a CSV (with its line) or in the settings.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error(transparent)]
    Labels(#[from] LabelError),
    #[error("{0}")]
    Other(String),
}

/// The clips of a CSV corpus, speakers from the column or `pattern`.
pub fn csv_clips(corpus: &Corpus, csv: &Path, pattern: Option<&regex::Regex>) -> Result<Vec<RawClip>, CorpusError> {
    let rows = read_labels(csv, &corpus.dir)?;
    rows.into_iter()
        .map(|LabelRow { line, path, label, speaker, part }| {
            let speaker = match (speaker, pattern) {
                (Some(s), _) => Some(s),
                (None, Some(re)) => {
                    let text = path.strip_prefix(&corpus.dir).unwrap_or(&path).to_string_lossy().into_owned();
                    let found = re.captures(&text).and_then(|c| c.get(1)).map(|m| m.as_str().to_string());
                    Some(found.ok_or_else(|| {
                        CorpusError::Labels(LabelError {
                            csv: csv.to_path_buf(),
                            line,
                            reason: format!("--speaker-pattern '{}' captures no speaker from '{text}'", re.as_str()),
                        })
                    })?)
                }
                (None, None) => None,
            };
            Ok(RawClip { path, label, speaker, part, source: Some((csv.to_path_buf(), line)) })
        })
        .collect()
}

/// The corpora's clips numbered and split: each part's clips in corpus order, each corpus's
/// sorted by path.
#[derive(Clone, Debug, Default)]
pub struct NumberedClips {
    pub classes: Vec<String>,
    /// Every clip's speaker is known (not each unknown one a speaker of its own).
    pub speakers_known: bool,
    pub train: Vec<Clip>,
    pub val: Vec<Clip>,
    pub test: Vec<Clip>,
}

/// Numbers classes and speakers and gives every clip a part. `corpora[k]` holds corpus k's clips
/// (those of a RAVDESS folder already with their parts); `ravdess[k]`: corpus k is a RAVDESS
/// folder (it brings all eight classes). `split_by_speaker`, `seed`: how clips without a part
/// are split. `for_training`: refuse a class without a training clip.
pub fn number_clips(
    corpora: &[Corpus],
    clips: Vec<Vec<RawClip>>,
    settings: &LabelSettings,
    split_by_speaker: bool,
    seed: u64,
    for_training: bool,
) -> Result<NumberedClips, CorpusError> {
    let mut clips = clips;
    let map: HashMap<&str, &str> = settings.map.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    for clip in clips.iter_mut().flatten() {
        if let Some(to) = map.get(clip.label.as_str()) {
            clip.label = to.to_string();
        }
    }
    let classes = class_list(corpora, &clips, settings)?;
    let speakers_known = clips.iter().flatten().all(|c| c.speaker.is_some());
    let class_of = |clip: &RawClip| -> Result<usize, CorpusError> {
        classes
            .iter()
            .position(|c| *c == clip.label)
            .ok_or_else(|| clip.error(format!("class '{}' is not one of the classes ({})", clip.label, classes.join(", "))))
    };
    if let Some(name) = &settings.test_corpus {
        if !corpora.iter().any(|c| c.is_named(name)) {
            let names: Vec<String> = corpora.iter().map(Corpus::name).collect();
            return Err(CorpusError::Other(format!("--test-corpus {name}: not one of the corpora ({})", names.join(", "))));
        }
    }
    let mut out = NumberedClips { classes: classes.clone(), speakers_known, ..NumberedClips::default() };
    let mut next_speaker = 1u32;
    // The first clip of each class in training, and where each class was first seen.
    let mut first_seen: BTreeMap<usize, RawClip> = BTreeMap::new();
    let mut trained: Vec<bool> = vec![false; classes.len()];
    for (k, (corpus, mut raw)) in corpora.iter().zip(clips).enumerate() {
        raw.sort_by(|a, b| a.path.cmp(&b.path));
        let labels = raw.iter().map(class_of).collect::<Result<Vec<usize>, _>>()?;
        let speakers = number_speakers(&raw, &mut next_speaker);
        let parts = corpus_parts(corpus, &raw, &labels, &speakers, settings, split_by_speaker, seed)?;
        for (((clip, label), speaker), part) in raw.into_iter().zip(labels).zip(speakers).zip(parts) {
            trained[label] |= part == Part::Train;
            let numbered = Clip { path: clip.path.clone(), label, speaker, corpus: k };
            first_seen.entry(label).or_insert(clip);
            match part {
                Part::Train => out.train.push(numbered),
                Part::Val => out.val.push(numbered),
                Part::Test => out.test.push(numbered),
            }
        }
    }
    let labelled = corpora.iter().any(|c| c.labels.is_some()) || settings.classes.is_some();
    if for_training && labelled {
        if let Some((c, name)) = classes.iter().enumerate().find(|&(c, _)| !trained[c]) {
            return Err(match first_seen.get(&c) {
                Some(clip) => clip.error(format!("class '{name}' has no training clip (each of its clips is in validation or test)")),
                None => CorpusError::Other(format!("class '{name}' has no clip in any corpus")),
            });
        }
    }
    Ok(out)
}

/// The classes: `--classes`, else every label found, RAVDESS's names in RAVDESS order first and
/// any others alphabetically (a RAVDESS folder brings all eight).
fn class_list(corpora: &[Corpus], clips: &[Vec<RawClip>], settings: &LabelSettings) -> Result<Vec<String>, CorpusError> {
    if let Some(classes) = &settings.classes {
        let classes: Vec<String> = classes.iter().map(|c| c.trim().to_lowercase()).collect();
        if classes.len() < 2 || classes.iter().any(String::is_empty) {
            return Err(CorpusError::Other(format!("--classes needs at least two non-empty names, got '{}'", classes.join(","))));
        }
        if let Some(twice) = classes.iter().enumerate().find(|(i, c)| classes[..*i].contains(c)) {
            return Err(CorpusError::Other(format!("--classes names '{}' twice", twice.1)));
        }
        return Ok(classes);
    }
    let mut found: Vec<String> = clips.iter().flatten().map(|c| c.label.clone()).collect();
    if corpora.iter().any(|c| c.labels.is_none()) {
        found.extend(EMOTIONS.iter().map(|e| e.to_string()));
    }
    found.sort_by_key(|label| (EMOTIONS.iter().position(|e| e == label).unwrap_or(EMOTIONS.len()), label.clone()));
    found.dedup();
    if found.len() < 2 {
        return Err(CorpusError::Other(format!("the corpora hold one class only ({}); a classifier needs two", found.join(""))));
    }
    Ok(found)
}

/// Each clip's speaker number: known speakers numbered in order (by value when every name is a
/// number), each unknown one a number of its own; `next` is the first free number.
fn number_speakers(clips: &[RawClip], next: &mut u32) -> Vec<u32> {
    let mut names: Vec<&str> = clips.iter().filter_map(|c| c.speaker.as_deref()).collect();
    let numeric = names.iter().all(|n| n.parse::<u64>().is_ok());
    names.sort_by_key(|n| (if numeric { n.parse::<u64>().unwrap_or(0) } else { 0 }, n.to_string()));
    names.dedup();
    let ids: HashMap<&str, u32> = names.iter().enumerate().map(|(i, n)| (*n, *next + i as u32)).collect();
    *next += names.len() as u32;
    clips
        .iter()
        .map(|c| match c.speaker.as_deref() {
            Some(name) => ids[name],
            None => {
                *next += 1;
                *next - 1
            }
        })
        .collect()
}

/// Each clip's part: every clip in test for the test corpus, the part it came with, else
/// seeded by speaker or by file within each class.
fn corpus_parts(
    corpus: &Corpus,
    clips: &[RawClip],
    labels: &[usize],
    speakers: &[u32],
    settings: &LabelSettings,
    split_by_speaker: bool,
    seed: u64,
) -> Result<Vec<Part>, CorpusError> {
    if settings.leaves_out(corpus) {
        return Ok(vec![Part::Test; clips.len()]);
    }
    if clips.iter().all(|c| c.part.is_some()) {
        return Ok(clips.iter().map(|c| c.part.expect("checked")).collect());
    }
    let mut parts = vec![Part::Train; clips.len()];
    let mut assign = |idx: &[usize], split: super::split::Split| {
        for (list, part) in [(split.train, Part::Train), (split.val, Part::Val), (split.test, Part::Test)] {
            for i in list {
                parts[idx[i]] = part;
            }
        }
    };
    if split_by_speaker {
        if let Some(clip) = clips.iter().find(|c| c.speaker.is_none()) {
            return Err(clip.error("--split speakers needs every clip's speaker (a speaker column or --speaker-pattern)".into()));
        }
        let mut distinct = speakers.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 3 {
            return Err(CorpusError::Other(format!(
                "{}: {} speaker(s); a speaker split needs at least 3 (one each for train, validation and test)",
                corpus.name(),
                distinct.len()
            )));
        }
        assign(&(0..clips.len()).collect::<Vec<_>>(), split_speakers(speakers, seed));
    } else {
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        for class in 0..classes {
            let idx: Vec<usize> = (0..clips.len()).filter(|&i| labels[i] == class).collect();
            assign(&idx, split_files(idx.len(), seed.wrapping_add(class as u64)));
        }
    }
    Ok(parts)
}

/// Per-class clip counts of each part, for reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClassCount {
    pub class: String,
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

/// How many clips of each class each part holds.
pub fn class_counts(classes: &[String], train: &[Clip], val: &[Clip], test: &[Clip]) -> Vec<ClassCount> {
    let count = |clips: &[Clip], c: usize| clips.iter().filter(|clip| clip.label == c).count();
    classes
        .iter()
        .enumerate()
        .map(|(c, name)| ClassCount { class: name.clone(), train: count(train, c), val: count(val, c), test: count(test, c) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path: &str, label: &str, speaker: Option<&str>, part: Option<Part>) -> RawClip {
        RawClip { path: path.into(), label: label.into(), speaker: speaker.map(str::to_string), part, source: Some(("l.csv".into(), 2)) }
    }

    fn csv_corpus(name: &str) -> Corpus {
        Corpus { dir: name.into(), labels: Some(format!("{name}.csv").into()) }
    }

    #[test]
    fn classes_follow_ravdess_order_then_alphabetical_and_the_map() {
        let clips = vec![vec![
            raw("a", "zebra", None, Some(Part::Train)),
            raw("b", "fear", None, Some(Part::Train)),
            raw("c", "calm", None, Some(Part::Train)),
        ]];
        let settings = LabelSettings { map: parse_class_map("fear=fearful").unwrap(), ..LabelSettings::default() };
        let n = number_clips(&[csv_corpus("x")], clips, &settings, false, 0, true).unwrap();
        assert_eq!(n.classes, ["calm", "fearful", "zebra"]);
    }

    #[test]
    fn numeric_speakers_keep_their_order_and_corpora_never_share_one() {
        let mut next = 1;
        let clips =
            [raw("a", "x", Some("10"), None), raw("b", "x", Some("2"), None), raw("c", "x", None, None), raw("d", "x", Some("2"), None)];
        assert_eq!(number_speakers(&clips, &mut next), [2, 1, 3, 1]);
        assert_eq!(number_speakers(&clips[..1], &mut next), [4]);
    }

    #[test]
    fn stratified_split_cuts_each_class_60_15_25() {
        let clips: Vec<RawClip> = (0..200).map(|i| raw(&format!("{i:03}"), if i < 40 { "a" } else { "b" }, None, None)).collect();
        let n = number_clips(&[csv_corpus("x")], vec![clips], &LabelSettings::default(), false, 3, true).unwrap();
        let count = |part: &[Clip], c| part.iter().filter(|clip| clip.label == c).count();
        assert_eq!((count(&n.train, 0), count(&n.val, 0), count(&n.test, 0)), (24, 6, 10));
        assert_eq!((count(&n.train, 1), count(&n.val, 1), count(&n.test, 1)), (96, 24, 40));
    }

    #[test]
    fn speaker_split_refuses_too_few_speakers_and_unknown_ones() {
        let two: Vec<RawClip> = (0..10)
            .map(|i| raw(&format!("{i}"), if i % 2 == 0 { "a" } else { "b" }, Some(if i < 5 { "s1" } else { "s2" }), None))
            .collect();
        let e = number_clips(&[csv_corpus("x")], vec![two], &LabelSettings::default(), true, 0, true).unwrap_err().to_string();
        assert!(e.contains("2 speaker(s)") && e.contains("at least 3"), "{e}");
        let unknown = vec![raw("a", "a", None, None), raw("b", "b", None, None)];
        let e = number_clips(&[csv_corpus("x")], vec![unknown], &LabelSettings::default(), true, 0, true).unwrap_err().to_string();
        assert!(e.contains("l.csv, line 2") && e.contains("needs every clip's speaker"), "{e}");
    }

    #[test]
    fn a_class_without_training_clips_and_an_unknown_class_are_refused() {
        let clips = vec![vec![raw("a", "a", None, Some(Part::Train)), raw("b", "b", None, Some(Part::Test))]];
        let e = number_clips(&[csv_corpus("x")], clips.clone(), &LabelSettings::default(), false, 0, true).unwrap_err().to_string();
        assert!(e.contains("class 'b' has no training clip"), "{e}");
        assert!(
            number_clips(&[csv_corpus("x")], clips.clone(), &LabelSettings::default(), false, 0, false).is_ok(),
            "scoring needs no training clip"
        );
        let fixed = LabelSettings { classes: Some(vec!["a".into(), "c".into()]), ..LabelSettings::default() };
        let e = number_clips(&[csv_corpus("x")], clips, &fixed, false, 0, true).unwrap_err().to_string();
        assert!(e.contains("l.csv, line 2: class 'b' is not one of the classes (a, c)"), "{e}");
    }

    #[test]
    fn the_test_corpus_is_all_test() {
        let a = vec![raw("a1", "a", None, Some(Part::Train)), raw("a2", "b", None, Some(Part::Train))];
        let b = vec![raw("b1", "a", None, Some(Part::Train)), raw("b2", "b", None, None)];
        let settings = LabelSettings { test_corpus: Some("B".into()), ..LabelSettings::default() };
        let n = number_clips(&[csv_corpus("A"), csv_corpus("B")], vec![a, b], &settings, false, 0, true).unwrap();
        assert_eq!((n.train.len(), n.test.len()), (2, 2));
        assert!(n.test.iter().all(|c| c.corpus == 1));
        let wrong = LabelSettings { test_corpus: Some("C".into()), ..LabelSettings::default() };
        let two = vec![raw("a1", "a", None, Some(Part::Train)), raw("a2", "b", None, Some(Part::Train))];
        assert!(number_clips(&[csv_corpus("A")], vec![two], &wrong, false, 0, true)
            .unwrap_err()
            .to_string()
            .contains("not one of the corpora (A)"));
    }
}
