//! `ser listen`'s lines: one per utterance as text, a JSON object or a CSV row, and the summary
//! of speech time per emotion per channel.

use super::Answer;

/// How each answer is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// `SOURCE ch0 1.20-3.45 s: angry 0.81 (neutral 0.010, ...)`
    Text,
    /// One JSON object per line: source, channel, start, end, emotion, confidence, probabilities.
    Json,
    /// A header row, then source,channel,start,end,emotion,confidence and one column per emotion.
    Csv,
}

/// Seconds rounded to the millisecond, for output.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The CSV header row (None for the other formats); `classes`: the model's class names.
pub fn header(format: LineFormat, classes: &[String]) -> Option<String> {
    let columns: Vec<String> = classes.iter().map(|c| csv_field(c)).collect();
    (format == LineFormat::Csv).then(|| format!("source,channel,start,end,emotion,confidence,{}", columns.join(",")))
}

/// One answer as a line (without the newline); `classes`: the model's class names.
pub fn line(format: LineFormat, source: &str, a: &Answer, classes: &[String]) -> String {
    let emotion = &classes[a.emotion];
    match format {
        LineFormat::Text => {
            let probabilities: Vec<String> = classes.iter().zip(&a.probabilities).map(|(n, p)| format!("{n} {p:.3}")).collect();
            format!(
                "{source} ch{} {:.2}-{:.2} s: {emotion} {:.2} ({})",
                a.channel,
                a.start,
                a.end,
                a.confidence(),
                probabilities.join(", ")
            )
        }
        LineFormat::Json => {
            let probabilities: serde_json::Map<String, serde_json::Value> =
                classes.iter().zip(&a.probabilities).map(|(n, &p)| (n.clone(), serde_json::json!(p))).collect();
            serde_json::json!({
                "source": source,
                "channel": a.channel,
                "start": millis(a.start),
                "end": millis(a.end),
                "emotion": emotion,
                "confidence": a.confidence(),
                "probabilities": probabilities,
            })
            .to_string()
        }
        LineFormat::Csv => {
            let probabilities: Vec<String> = a.probabilities.iter().map(|p| p.to_string()).collect();
            format!(
                "{},{},{},{},{},{},{}",
                csv_field(source),
                a.channel,
                millis(a.start),
                millis(a.end),
                csv_field(emotion),
                a.confidence(),
                probabilities.join(",")
            )
        }
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Speech time per emotion per channel, and the number of utterances.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The model's class names.
    pub classes: Vec<String>,
    /// Per channel: seconds per class.
    pub seconds: Vec<Vec<f64>>,
    pub utterances: usize,
}

impl Summary {
    pub fn new(classes: &[String]) -> Self {
        Summary { classes: classes.to_vec(), seconds: Vec::new(), utterances: 0 }
    }

    pub fn add(&mut self, a: &Answer) {
        if self.seconds.len() <= a.channel {
            self.seconds.resize(a.channel + 1, vec![0.0; self.classes.len()]);
        }
        self.seconds[a.channel][a.emotion] += a.end - a.start;
        self.utterances += 1;
    }

    /// One line per channel: `source ch0: 42.1 s of speech in 17 utterances: angry 12.0 s (28 %), ...`
    /// (emotions with no time left out), after a line with the input's length.
    pub fn render(&self, source: &str, input_seconds: f64) -> String {
        let mut out = format!("{source}: {input_seconds:.1} s heard, {} utterances\n", self.utterances);
        for (channel, per_emotion) in self.seconds.iter().enumerate() {
            let total: f64 = per_emotion.iter().sum();
            let parts: Vec<String> = self
                .classes
                .iter()
                .zip(per_emotion)
                .filter(|(_, &s)| s > 0.0)
                .map(|(n, s)| format!("{n} {s:.1} s ({:.0} %)", 100.0 * s / total))
                .collect();
            out += &format!("{source} ch{channel}: {total:.1} s of speech: {}\n", parts.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::data::{ravdess_classes, EMOTIONS};

    fn answer() -> Answer {
        let mut probabilities = vec![0.0; EMOTIONS.len()];
        probabilities[4] = 0.75;
        probabilities[0] = 0.25;
        Answer { channel: 1, start: 1.23456, end: 2.5, emotion: 4, probabilities }
    }

    #[test]
    fn each_format_carries_the_answer() {
        let a = answer();
        let json: serde_json::Value = serde_json::from_str(&line(LineFormat::Json, "a \"b\".wav", &a, &ravdess_classes())).unwrap();
        assert_eq!(json["source"], "a \"b\".wav");
        assert_eq!(json["start"], 1.235);
        assert_eq!(json["emotion"], EMOTIONS[4]);
        assert_eq!(json["probabilities"][EMOTIONS[0]], 0.25);
        let csv = line(LineFormat::Csv, "x,y.wav", &a, &ravdess_classes());
        assert!(csv.starts_with("\"x,y.wav\",1,1.235,2.5,"), "{csv}");
        assert_eq!(
            csv.split(',').count(),
            header(LineFormat::Csv, &ravdess_classes()).unwrap().split(',').count() + 1,
            "the quoted comma adds one split"
        );
        assert!(
            line(LineFormat::Text, "f.wav", &a, &ravdess_classes()).starts_with(&format!("f.wav ch1 1.23-2.50 s: {} 0.75", EMOTIONS[4]))
        );
    }

    #[test]
    fn summary_adds_time_per_channel_and_emotion() {
        let mut s = Summary::new(&ravdess_classes());
        s.add(&answer());
        s.add(&Answer { channel: 0, ..answer() });
        assert_eq!(s.seconds.len(), 2);
        assert!((s.seconds[1][4] - 1.26544).abs() < 1e-9);
        assert_eq!(s.utterances, 2);
    }
}
