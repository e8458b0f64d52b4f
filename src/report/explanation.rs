//! The picture of one explanation (`ser explain --svg`): on the left, time running across, the
//! clip's mel spectrogram, the attribution of every input row, and the attribution and occlusion
//! curves per frame; on the right, each feature group's share of the attribution and the eight
//! class probabilities.
//!
//! Heat maps are drawn in bands (mel bins and frames pooled into cells) so the SVG stays a few
//! hundred kilobytes: the spectrogram in 32 bands of 4 mel bins, the attribution with every row
//! of the small groups and the mel rows in 16 bands of 8, and at most [`MAX_COLUMNS`] columns.

use std::io;
use std::ops::Range;
use std::path::Path;

use ndarray::{s, Array2, ArrayView2};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::plot::{blend_from_white, drawing_error, FONT, PALETTE};
use crate::explain::{Explanation, GROUPS};
use crate::features::spectrum::{power_to_db, AMIN, TOP_DB};
use crate::features::MEL;
use crate::fsio::write_atomic;

/// Most heat-map columns drawn; longer clips pool neighbouring frames.
pub const MAX_COLUMNS: usize = 64;
/// Positive attribution (for the class) and negative (against it).
const FOR: RGBColor = RGBColor(178, 24, 43);
const AGAINST: RGBColor = RGBColor(33, 102, 172);
const LOUD: RGBColor = RGBColor(20, 20, 40);

/// Writes the picture of `e` for the clip whose raw features (162, K) are `features`.
pub fn plot_explanation(path: &Path, title: &str, e: &Explanation, features: ArrayView2<f32>, classes: &[String]) -> io::Result<()> {
    write_atomic(path, explanation_svg(title, e, features, classes)?.as_bytes())
}

/// The SVG text of [`plot_explanation`]'s picture.
pub fn explanation_svg(title: &str, e: &Explanation, features: ArrayView2<f32>, classes: &[String]) -> io::Result<String> {
    let frames = e.frames();
    // The spectrogram in dB (the clip's raw mel power; zero past the clip's end when it was
    // padded to the model's minimum).
    let mut mel = Array2::<f64>::zeros((MEL.len(), frames));
    let clip_frames = features.ncols().min(frames);
    mel.slice_mut(s![.., ..clip_frames]).assign(&features.slice(s![MEL, ..clip_frames]).mapv(f64::from));
    let mel_db = power_to_db(mel.view(), 1.0, AMIN, Some(TOP_DB));
    let attribution = e.attribution.mapv(f64::from);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1300, 980)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let body = root.titled(title, (FONT, 22)).map_err(drawing_error)?;
        let (left, right) = body.split_horizontally(900);
        let panels = left.split_by_breakpoints([] as [i32; 0], [300, 620]);

        let mel_bands: Vec<(String, Range<usize>)> = (0..32).map(|b| (String::new(), b * 4..b * 4 + 4)).collect();
        let db_floor = mel_db.iter().copied().fold(f64::INFINITY, f64::min);
        let db_top = mel_db.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shade = |v: f64| blend_from_white(LOUD, (v - db_floor) / (db_top - db_floor).max(1e-9));
        draw_heat_map(&panels[0], "mel spectrogram (dB; low bins at the bottom)", mel_db.view(), &mel_bands, &shade)?;

        // One band per row, the mel rows in bands of 8; each group named at its middle band.
        let mut rows: Vec<(String, Range<usize>)> = Vec::new();
        for (name, range) in GROUPS {
            let bands: Vec<Range<usize>> = if name == "mel" {
                range.clone().step_by(8).map(|r| r..r + 8).collect()
            } else {
                range.clone().map(|r| r..r + 1).collect()
            };
            let middle = bands.len() / 2;
            rows.extend(bands.into_iter().enumerate().map(|(i, band)| (if i == middle { name.to_string() } else { String::new() }, band)));
        }
        let scale = attribution.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        let diverging = |v: f64| if v >= 0.0 { blend_from_white(FOR, v / scale) } else { blend_from_white(AGAINST, -v / scale) };
        let caption =
            format!("attribution to the model's input ({}; red for {}, blue against)", e.settings.method.name(), classes[e.class]);
        draw_heat_map(&panels[1], &caption, attribution.view(), &rows, &diverging)?;

        draw_frame_curves(&panels[2], e)?;
        let (shares_area, probabilities_area) = right.split_vertically(450);
        let shares: Vec<(String, f64)> = GROUPS.iter().zip(e.group_shares()).map(|((n, _), v)| (n.to_string(), f64::from(v))).collect();
        draw_bars(&shares_area, "share of |attribution| by feature group", &shares, None)?;
        let probabilities: Vec<(String, f64)> = classes.iter().zip(&e.probabilities).map(|(n, &p)| (n.clone(), f64::from(p))).collect();
        draw_bars(&probabilities_area, "class probabilities", &probabilities, Some(e.class))?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

/// A heat map of `values` (rows, K): each of `bands` (label, rows) is one row of cells, the first
/// at the bottom, with up to [`MAX_COLUMNS`] columns of pooled frames, each cell the mean.
fn draw_heat_map<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    values: ArrayView2<f64>,
    bands: &[(String, Range<usize>)],
    colour: &dyn Fn(f64) -> RGBColor,
) -> io::Result<()> {
    let frames = values.ncols();
    let pool = frames.div_ceil(MAX_COLUMNS).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..frames as f64, 0.0..bands.len() as f64)
        .map_err(drawing_error)?;
    // A tick at every band's lower edge, so each named band's name sits beside it.
    let label_at =
        |y: &f64| bands.get(y.round().max(0.0) as usize).filter(|_| (y - y.round()).abs() < 1e-6).map_or(String::new(), |(l, _)| l.clone());
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style((FONT, 13))
        .y_labels(bands.len() + 1)
        .y_label_formatter(&label_at)
        .x_desc("frame")
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(drawing_error)?;
    let cells = bands.iter().enumerate().flat_map(|(row, (_, rows))| {
        (0..frames).step_by(pool).map(move |start| {
            let end = (start + pool).min(frames);
            let block = values.slice(s![rows.clone(), start..end]);
            let mean = block.sum() / block.len() as f64;
            Rectangle::new([(start as f64, row as f64), (end as f64, row as f64 + 1.0)], colour(mean).filled())
        })
    });
    chart.draw_series(cells).map_err(drawing_error)?;
    Ok(())
}

/// The attribution per frame (left axis) and occlusion's drop in the class probability per
/// frame (right axis), over the same frames as the heat maps.
fn draw_frame_curves<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, e: &Explanation) -> io::Result<()> {
    let per_frame: Vec<f64> = e.per_frame().into_iter().map(f64::from).collect();
    let occlusion: Vec<f64> = e.occlusion_per_frame().into_iter().map(f64::from).collect();
    let span = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((0.0f64, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let pad = ((hi - lo) * 0.1).max(1e-6);
        lo - pad..hi + pad
    };
    let frames = e.frames() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("per frame: attribution (sum over rows) and occlusion's probability drop", (FONT, 17))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..frames, span(&per_frame))
        .map_err(drawing_error)?
        .set_secondary_coord(0.0..frames, span(&occlusion));
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .label_style((FONT, 13))
        .x_desc("frame")
        .y_desc("attribution")
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(drawing_error)?;
    chart
        .configure_secondary_axes()
        .label_style((FONT, 13))
        .y_desc("probability drop")
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(drawing_error)?;
    let (attribution_style, occlusion_style) = (PALETTE[0].stroke_width(2), PALETTE[1].stroke_width(2));
    chart
        .draw_series(LineSeries::new(per_frame.iter().enumerate().map(|(t, &v)| (t as f64 + 0.5, v)), attribution_style))
        .map_err(drawing_error)?
        .label("attribution")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], attribution_style));
    chart
        .draw_secondary_series(LineSeries::new(occlusion.iter().enumerate().map(|(t, &v)| (t as f64 + 0.5, v)), occlusion_style))
        .map_err(drawing_error)?
        .label(format!("occlusion, windows of {} frames", e.settings.window))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], occlusion_style));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

/// Horizontal bars of (label, value in 0..=1), the first at the top, `highlight` in a second colour.
fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    bars: &[(String, f64)],
    highlight: Option<usize>,
) -> io::Result<()> {
    let n = bars.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(75)
        .build_cartesian_2d(0.0..1.0, 0.0..n)
        .map_err(drawing_error)?;
    let label_at = |y: &f64| bars.get((n - y - 0.5).round().max(0.0) as usize).map_or(String::new(), |(l, _)| l.clone());
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .label_style((FONT, 13))
        .y_labels(bars.len() * 2 + 1)
        .y_label_formatter(&|y| if (y.fract() - 0.5).abs() < 1e-6 { label_at(y) } else { String::new() })
        .draw()
        .map_err(drawing_error)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let top = n - i as f64;
            let colour = if highlight == Some(i) { PALETTE[3] } else { PALETTE[0] };
            Rectangle::new([(0.0, top - 0.8), (v.clamp(0.0, 1.0), top - 0.2)], colour.filled())
        }))
        .map_err(drawing_error)?;
    Ok(())
}
