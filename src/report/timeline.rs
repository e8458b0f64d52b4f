//! The `ser listen --svg` timeline: a time axis, one band per channel with each utterance
//! coloured by its emotion (its probabilities in a tooltip, its emotion as a label where it
//! fits), and the signal's envelope beneath each band.
//!
//! Written as SVG text rather than through plotters, which has no tooltips (`<title>`).

use crate::listen::Answer;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BAND: f64 = 36.0;
const ENVELOPE: f64 = 28.0;
const GAP: f64 = 14.0;
/// One colour per class, in output order (RAVDESS's eight emotions for the study's model); a
/// model with more classes takes them again from the start, with its legend to tell them apart.
const COLOURS: [&str; 8] = ["#9e9e9e", "#64b5f6", "#ffd54f", "#5c6bc0", "#e53935", "#8e24aa", "#43a047", "#fb8c00"];

/// Class `k`'s colour.
fn colour(k: usize) -> &'static str {
    COLOURS[k % COLOURS.len()]
}

/// `text` safe inside SVG text and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A tick step of 1, 2 or 5 times a power of ten giving at most about ten ticks.
fn tick_step(seconds: f64) -> f64 {
    let raw = (seconds / 10.0).max(1e-3);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= raw).unwrap_or(10.0 * power)
}

/// The timeline of `answers` over `seconds` of input; `envelopes[c]` is channel c's envelope bins
/// and seconds per bin; `classes`: the model's class names.
pub fn timeline_svg(title: &str, seconds: f64, answers: &[Answer], envelopes: &[(Vec<f32>, f64)], classes: &[String]) -> String {
    let channels = envelopes.len().max(answers.iter().map(|a| a.channel + 1).max().unwrap_or(1));
    let row = BAND + ENVELOPE + GAP;
    let height = TOP + channels as f64 * row + 50.0;
    let span = seconds.max(1e-3);
    let x = |t: f64| LEFT + (WIDTH - LEFT - RIGHT) * t / span;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"14\">{}</text>\n",
        escape(title)
    );
    for c in 0..channels {
        let band_top = TOP + c as f64 * row;
        svg += &format!("<text x=\"4\" y=\"{:.1}\">ch{c}</text>\n", band_top + BAND / 2.0 + 4.0);
        svg += &format!(
            "<rect x=\"{LEFT}\" y=\"{band_top:.1}\" width=\"{:.1}\" height=\"{BAND}\" fill=\"#f5f5f5\" stroke=\"#ccc\"/>\n",
            WIDTH - LEFT - RIGHT
        );
        for a in answers.iter().filter(|a| a.channel == c) {
            let (x0, x1) = (x(a.start), x(a.end));
            let emotion = escape(&classes[a.emotion]);
            let tooltip: Vec<String> = classes.iter().zip(&a.probabilities).map(|(n, p)| escape(&format!("{n} {p:.3}"))).collect();
            svg += &format!(
                "<g><title>{:.2}-{:.2} s: {emotion} {:.2}&#10;{}</title><rect x=\"{x0:.2}\" y=\"{band_top:.1}\" width=\"{:.2}\" height=\"{BAND}\" fill=\"{}\"/>",
                a.start,
                a.end,
                a.confidence(),
                tooltip.join("&#10;"),
                (x1 - x0).max(0.5),
                colour(a.emotion)
            );
            // A label where it fits: about 6 px per character.
            if x1 - x0 > 6.0 * emotion.len() as f64 + 4.0 {
                svg += &format!("<text x=\"{:.2}\" y=\"{:.1}\">{emotion}</text>", x0 + 2.0, band_top + BAND / 2.0 + 4.0);
            }
            svg += "</g>\n";
        }
        if let Some((bins, bin_seconds)) = envelopes.get(c) {
            let base = band_top + BAND + ENVELOPE;
            let peak = bins.iter().copied().fold(1e-6, f32::max) as f64;
            let mut path = format!("M{:.2},{base:.1}", x(0.0));
            for (i, &v) in bins.iter().enumerate() {
                let t = (i as f64 * bin_seconds).min(span);
                path += &format!(" L{:.2},{:.1}", x(t), base - ENVELOPE * v as f64 / peak);
            }
            path += &format!(" L{:.2},{base:.1} Z", x((bins.len() as f64 * bin_seconds).min(span)));
            svg += &format!("<path d=\"{path}\" fill=\"#90a4ae\" stroke=\"none\"><title>ch{c} envelope (peak per bin)</title></path>\n");
        }
    }
    let axis = TOP + channels as f64 * row;
    svg += &format!("<line x1=\"{LEFT}\" y1=\"{axis:.1}\" x2=\"{:.1}\" y2=\"{axis:.1}\" stroke=\"black\"/>\n", WIDTH - RIGHT);
    let step = tick_step(span);
    let mut t = 0.0;
    while t <= span + 1e-9 {
        svg += &format!(
            "<line x1=\"{0:.2}\" y1=\"{axis:.1}\" x2=\"{0:.2}\" y2=\"{1:.1}\" stroke=\"black\"/><text x=\"{0:.2}\" y=\"{2:.1}\" text-anchor=\"middle\">{t}</text>\n",
            x(t),
            axis + 4.0,
            axis + 16.0
        );
        t = ((t + step) / step).round() * step;
    }
    svg += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">seconds</text>\n", WIDTH - RIGHT, axis + 30.0);
    for (k, name) in classes.iter().enumerate() {
        let (lx, colour, name) = (LEFT + k as f64 * 100.0, colour(k), escape(name));
        svg += &format!(
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            axis + 36.0,
            lx + 14.0,
            axis + 45.0
        );
    }
    svg += "</svg>\n";
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(60.0), 10.0);
        assert_eq!(tick_step(3600.0), 500.0);
        assert_eq!(tick_step(3.0), 0.5);
    }

    #[test]
    fn every_utterance_is_a_titled_rect_and_markup_is_escaped() {
        let mut probabilities = vec![0.0; 8];
        probabilities[2] = 1.0;
        let answers = vec![
            Answer { channel: 0, start: 1.0, end: 4.0, emotion: 2, probabilities: probabilities.clone() },
            Answer { channel: 1, start: 2.0, end: 3.0, emotion: 2, probabilities: probabilities.clone() },
        ];
        let svg = timeline_svg("a<b>&c", 10.0, &answers, &[(vec![0.1, 0.5], 5.0), (vec![0.2], 10.0)], &crate::data::ravdess_classes());
        assert!(svg.contains("a&lt;b&gt;&amp;c"));
        assert_eq!(svg.matches("<title>").count(), 2 + 2, "two utterances and two envelopes");
        assert_eq!(svg.matches("<g>").count(), svg.matches("</g>").count());
    }
}
