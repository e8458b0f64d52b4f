//! SVG pictures of a run: training curves (loss and accuracy per epoch), a confusion matrix, and
//! accuracy against the severity of channel corruptions.
//!
//! Each picture is rendered into a String and then written atomically (`fsio::write_atomic`), so
//! a reader never sees half a picture. The SVG backend emits `<text>` elements, so no fonts are
//! needed to make the file; the viewer picks the font when it draws it.

use std::io;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::fsio::write_atomic;

/// One line on a training-curve panel: `values[i]` belongs to epoch `i + 1`. NaN and infinite
/// values are left out of the line.
#[derive(Debug, Clone, Copy)]
pub struct Curve<'a> {
    pub label: &'a str,
    pub values: &'a [f64],
}

/// Colours for curves, cycled when there are more models than colours (d3's Category10).
pub(super) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The darkest confusion-matrix cell (a row's whole share); an empty cell is white.
const FULL_ROW_COLOUR: RGBColor = RGBColor(8, 48, 107);

pub(super) const FONT: &str = "sans-serif";

/// Writes one SVG with two panels side by side: `loss` per epoch on the left and `accuracy` per
/// epoch on the right, each with a legend.
///
/// Curves are coloured by the model they belong to, so one model keeps its colour on both
/// panels: a label ending in " train", " val" or " validation" belongs to the model named by the
/// rest of it ("dropout val" -> "dropout"), any other label names its model whole. Validation
/// curves are dashed, the others solid. Lines get thinner when there are many (one per seed).
pub fn plot_training_curves(path: &Path, title: &str, loss: &[Curve], accuracy: &[Curve]) -> io::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let body = root.titled(title, (FONT, 26)).map_err(drawing_error)?;
        let (left, right) = body.split_horizontally(600);

        let models = models_in_order(loss.iter().chain(accuracy));
        draw_curve_panel(&left, "training loss", "loss", loss, &models, SeriesLabelPosition::UpperRight)?;
        draw_curve_panel(&right, "accuracy", "accuracy", accuracy, &models, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(drawing_error)?;
    }
    write_atomic(path, svg.as_bytes())
}

/// Writes an SVG heat map of `matrix[true_class][predicted_class]` with the count in each cell.
/// A cell's colour is its share of its row (of the clips of that true class), so rare classes
/// read as clearly as common ones. An all-zero row stays white.
///
/// Errors with `InvalidInput` unless `matrix` is square with one row per class name.
pub fn plot_confusion(path: &Path, title: &str, matrix: &[Vec<usize>], class_names: &[&str]) -> io::Result<()> {
    let classes = class_names.len();
    if matrix.len() != classes || matrix.iter().any(|row| row.len() != classes) {
        let shape: Vec<usize> = matrix.iter().map(Vec::len).collect();
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("confusion matrix must be {classes}x{classes} (one row and column per class name), got row lengths {shape:?}"),
        ));
    }

    let cell_px = 80;
    let side = (classes as u32 * cell_px + 220).max(420);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (side, side + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let body = root.titled(title, (FONT, 26)).map_err(drawing_error)?;

        // Cell (row, col) spans [col, col + 1] x [rows - row - 1, rows - row], so the first class
        // is the top row; axis labels sit at the cell centres.
        let rows = classes as f64;
        let class_axis = || ClassAxis { classes };
        let name_at = |centre: f64| class_names.get(centre.max(0.0) as usize).copied().unwrap_or("").to_string();
        let mut chart = ChartBuilder::on(&body)
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(120)
            .build_cartesian_2d(class_axis(), class_axis())
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("true class")
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 18))
            .x_label_formatter(&|&x| name_at(x))
            .y_label_formatter(&|&y| name_at(rows - y))
            .draw()
            .map_err(drawing_error)?;

        for (row, counts) in matrix.iter().enumerate() {
            let row_total: usize = counts.iter().sum();
            let top = rows - row as f64;
            for (col, &count) in counts.iter().enumerate() {
                let share = if row_total == 0 { 0.0 } else { count as f64 / row_total as f64 };
                let left = col as f64;
                let corners = [(left, top), (left + 1.0, top - 1.0)];
                // The faint outline keeps empty (white) cells visible as cells.
                let fill = blend_from_white(FULL_ROW_COLOUR, share).filled();
                let outline = BLACK.mix(0.12).stroke_width(1);
                chart.draw_series([Rectangle::new(corners, fill), Rectangle::new(corners, outline)]).map_err(drawing_error)?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let label_style = TextStyle::from((FONT, 20).into_font()).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series([Text::new(count.to_string(), (left + 0.5, top - 0.5), label_style)]).map_err(drawing_error)?;
            }
        }
        root.present().map_err(drawing_error)?;
    }
    write_atomic(path, svg.as_bytes())
}

/// Writes an SVG of accuracy against severity: one line per corruption, each starting at the
/// clean accuracy (x = 0, "clean") and going through its severities in order (x = 1, 2, ...,
/// mildest first). A curve's label should name its severities (the x axis counts steps, whose
/// units differ between corruptions). `accuracy` values are fractions; the y axis spans 0-1.
pub fn plot_accuracy_by_severity(path: &Path, title: &str, curves: &[Curve]) -> io::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let steps = curves.iter().map(|c| c.values.len()).max().unwrap_or(0).max(2);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(-0.2..(steps - 1) as f64 + 0.2, 0.0..1.0)
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .x_labels(steps)
            .x_label_formatter(&|&x| {
                if x.abs() < 1e-9 {
                    "clean".into()
                } else if (x - x.round()).abs() < 1e-9 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .x_desc("severity (steps, mildest first)")
            .y_desc("accuracy, one clip at a time")
            .axis_desc_style((FONT, 19))
            .label_style((FONT, 16))
            .draw()
            .map_err(drawing_error)?;
        for (i, curve) in curves.iter().enumerate() {
            let style = PALETTE[i % PALETTE.len()].stroke_width(2);
            let points: Vec<(f64, f64)> =
                curve.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(x, &v)| (x as f64, v)).collect();
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled()))).map_err(drawing_error)?;
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(drawing_error)?
                .label(curve.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        if !curves.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 15))
                .draw()
                .map_err(drawing_error)?;
        }
        root.present().map_err(drawing_error)?;
    }
    write_atomic(path, svg.as_bytes())
}

/// One panel of `plot_training_curves`: epochs on x, `y_desc` on y, one line per curve.
fn draw_curve_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    curves: &[Curve],
    models: &[&str],
    legend_position: SeriesLabelPosition,
) -> io::Result<()> {
    let epochs = curves.iter().map(|c| c.values.len()).max().unwrap_or(0);
    // Two epochs at least, so a single-epoch run still gets an x axis with some width.
    let epoch_axis = 1..epochs.max(2) as i32;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(epoch_axis, value_range(curves))
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .x_desc("epoch")
        .y_desc(y_desc)
        .axis_desc_style((FONT, 19))
        .label_style((FONT, 16))
        .draw()
        .map_err(drawing_error)?;

    let stroke_width = if curves.len() > 6 { 1 } else { 2 };
    for curve in curves {
        let (model, is_validation) = model_and_is_validation(curve.label);
        let model_index = models.iter().position(|m| *m == model).unwrap_or(0);
        let style = PALETTE[model_index % PALETTE.len()].stroke_width(stroke_width);
        let points: Vec<(i32, f64)> =
            curve.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, &v)| (i as i32 + 1, v)).collect();
        // A lone point draws no line, so mark it.
        if points.len() == 1 {
            chart.draw_series([Circle::new(points[0], 3, style.filled())]).map_err(drawing_error)?;
        }
        let legend_sample = |(x, y): (i32, i32)| vec![(x, y), (x + 24, y)];
        if is_validation {
            chart
                .draw_series(DashedLineSeries::new(points, 6, 4, style))
                .map_err(drawing_error)?
                .label(curve.label)
                .legend(move |xy| DashedPathElement::new(legend_sample(xy), 6, 4, style));
        } else {
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(drawing_error)?
                .label(curve.label)
                .legend(move |xy| PathElement::new(legend_sample(xy), style));
        }
    }

    if !curves.is_empty() {
        chart
            .configure_series_labels()
            .position(legend_position)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// Splits "dropout val" into the model it belongs to ("dropout") and whether it is a
/// validation curve; see `plot_training_curves`.
fn model_and_is_validation(label: &str) -> (&str, bool) {
    match label.strip_suffix(" val").or_else(|| label.strip_suffix(" validation")) {
        Some(model) => (model, true),
        None => (label.strip_suffix(" train").unwrap_or(label), false),
    }
}

/// The distinct models of `curves` in order of first appearance; a model's colour is its index.
fn models_in_order<'a>(curves: impl Iterator<Item = &'a Curve<'a>>) -> Vec<&'a str> {
    let mut models = Vec::new();
    for curve in curves {
        let (model, _) = model_and_is_validation(curve.label);
        if !models.contains(&model) {
            models.push(model);
        }
    }
    models
}

/// A y range holding every finite value with 5% headroom, starting at 0 unless some value is
/// negative; 0..1 when there are no finite values.
fn value_range(curves: &[Curve]) -> Range<f64> {
    let finite = curves.iter().flat_map(|c| c.values.iter().copied()).filter(|v| v.is_finite());
    let (low, high) = finite.fold((0.0f64, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // also true when high is NaN or -inf (no finite value)
    if !(high > low) {
        return low..low + 1.0;
    }
    low..high + 0.05 * (high - low)
}

/// A confusion-matrix axis: one unit per class over 0..classes (0..1 when there are none),
/// labelled at the unit centres rather than at round numbers.
struct ClassAxis {
    classes: usize,
}

impl ClassAxis {
    fn linear(&self) -> RangedCoordf64 {
        (0.0..self.classes.max(1) as f64).into()
    }
}

impl Ranged for ClassAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear().map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.classes).map(|class| class as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        self.linear().range()
    }
}

/// `colour` mixed into white: 0 gives white, 1 gives `colour`.
pub(super) fn blend_from_white(colour: RGBColor, amount: f64) -> RGBColor {
    let channel = |c: u8| (255.0 - (255.0 - c as f64) * amount.clamp(0.0, 1.0)).round() as u8;
    RGBColor(channel(colour.0), channel(colour.1), channel(colour.2))
}

pub(super) fn drawing_error<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> io::Error {
    io::Error::other(format!("drawing the plot: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh directory per test, so the no-temporary-file check sees only that test's files.
    fn test_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ser-plot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The trimmed contents of the SVG's `<text>` elements (the backend puts them on their own line).
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .map(|element| {
                let content = &element[element.find('>').unwrap() + 1..];
                content[..content.find("</text>").unwrap()].trim()
            })
            .collect()
    }

    /// Reads the SVG at `path`, checks it is the only file in its directory, and removes the directory.
    fn read_only_file(dir: &Path, path: &Path) -> String {
        let files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files, vec![path.to_path_buf()], "expected only the picture, no temporaries");
        let svg = std::fs::read_to_string(path).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        svg
    }

    #[test]
    fn training_curves_have_title_legend_and_axis_labels() {
        let dir = test_dir("curves");
        let path = dir.join("curves.svg");
        let loss_a = [1.9, 1.5, 1.2, 1.0];
        let loss_b = [2.0, 1.4, f64::NAN, 0.8];
        let acc = [[0.3, 0.45, 0.55, 0.6], [0.28, 0.4, 0.47, 0.5], [0.3, 0.5, 0.65, 0.75], [0.27, 0.38, 0.42, 0.44]];
        let loss = [Curve { label: "dropout", values: &loss_a }, Curve { label: "no dropout", values: &loss_b }];
        let accuracy = [
            Curve { label: "dropout train", values: &acc[0] },
            Curve { label: "dropout val", values: &acc[1] },
            Curve { label: "no dropout train", values: &acc[2] },
            Curve { label: "no dropout val", values: &acc[3] },
        ];
        plot_training_curves(&path, "Dropout & friends", &loss, &accuracy).unwrap();

        let svg = read_only_file(&dir, &path);
        assert!(svg.starts_with("<svg"));
        let texts = texts(&svg);
        for text in ["Dropout &amp; friends", "epoch", "loss", "accuracy", "dropout", "no dropout val", "dropout train"] {
            assert!(texts.contains(&text), "missing {text} in {texts:?}");
        }
    }

    #[test]
    fn model_is_the_label_without_its_split() {
        assert_eq!(model_and_is_validation("dropout val"), ("dropout", true));
        assert_eq!(model_and_is_validation("dropout validation"), ("dropout", true));
        assert_eq!(model_and_is_validation("no dropout train"), ("no dropout", false));
        assert_eq!(model_and_is_validation("no dropout"), ("no dropout", false));
    }

    #[test]
    fn degenerate_curves_still_draw() {
        let dir = test_dir("degenerate-curves");
        let path = dir.join("c.svg");
        let one_epoch = [0.5];
        let all_nan = [f64::NAN, f64::NAN];
        let constant = [0.0, 0.0, 0.0];
        plot_training_curves(&path, "empty", &[], &[]).unwrap();
        plot_training_curves(&path, "empty values", &[Curve { label: "a", values: &[] }], &[]).unwrap();
        plot_training_curves(&path, "one epoch", &[Curve { label: "a", values: &one_epoch }], &[]).unwrap();
        plot_training_curves(&path, "nan", &[], &[Curve { label: "a val", values: &all_nan }]).unwrap();
        plot_training_curves(&path, "flat", &[Curve { label: "a", values: &constant }], &[]).unwrap();
        assert!(texts(&read_only_file(&dir, &path)).contains(&"flat"));
    }

    #[test]
    fn many_seeds_draw_one_line_each() {
        let dir = test_dir("seeds");
        let path = dir.join("seeds.svg");
        let values: Vec<Vec<f64>> = (0..10).map(|s| (1..=30).map(|e| 2.0 / e as f64 + 0.01 * s as f64).collect()).collect();
        let labels: Vec<String> = (0..10).map(|s| format!("model {} seed {}", s % 2, s / 2)).collect();
        let loss: Vec<Curve> = labels.iter().zip(&values).map(|(l, v)| Curve { label: l, values: v }).collect();
        plot_training_curves(&path, "seeds", &loss, &[]).unwrap();
        let svg = read_only_file(&dir, &path);
        assert!(texts(&svg).contains(&"model 1 seed 4"));
    }

    #[test]
    fn confusion_has_title_class_names_and_counts() {
        let dir = test_dir("confusion");
        let path = dir.join("confusion.svg");
        let matrix = vec![vec![7, 1, 0], vec![2, 5, 3], vec![0, 0, 11]];
        plot_confusion(&path, "Confusion (val)", &matrix, &["angry", "calm", "sad"]).unwrap();

        let svg = read_only_file(&dir, &path);
        assert!(svg.starts_with("<svg"));
        let texts = texts(&svg);
        for text in ["Confusion (val)", "angry", "calm", "sad", "11", "predicted class", "true class"] {
            assert!(texts.contains(&text), "missing {text} in {texts:?}");
        }
    }

    #[test]
    fn degenerate_confusion_draws_or_errors_without_panicking() {
        let dir = test_dir("degenerate-confusion");
        let path = dir.join("m.svg");
        plot_confusion(&path, "zeros", &[vec![0, 0], vec![0, 0]], &["a", "b"]).unwrap();
        plot_confusion(&path, "one", &[vec![3]], &["a"]).unwrap();
        plot_confusion(&path, "none", &[], &[]).unwrap();
        let ragged = plot_confusion(&path, "ragged", &[vec![1, 2], vec![3]], &["a", "b"]);
        assert_eq!(ragged.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let unnamed = plot_confusion(&path, "names", &[vec![1]], &["a", "b"]);
        assert_eq!(unnamed.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(texts(&read_only_file(&dir, &path)).contains(&"none"));
    }
}
