//! A small figure description (lines with optional ±std bands, error bars, class maps) drawn
//! with plotters to PNG and SVG.

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One line of a chart: points `(x, y)` and an optional band `(x, low, high)`.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
    /// Draw markers with vertical error bars (from `band`) instead of a shaded band.
    pub error_bars: bool,
    /// Draw as a dashed reference (e.g. a target) rather than a solid line.
    pub dashed: bool,
    /// Palette colour index (default: the series' position), so that series can share colours.
    pub color: Option<usize>,
}

/// One panel: axes labels and its series.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// A grid of class labels over `[x0,x1]×[y0,y1]` (row-major, `n×n`).
#[derive(Clone, Debug)]
pub struct ClassMap {
    pub title: String,
    pub n: usize,
    pub extent: (f64, f64, f64, f64),
    pub classes: Vec<usize>,
    /// Points drawn on top: (x, y, class).
    pub points: Vec<(f64, f64, usize)>,
}

/// A figure: panels side by side, or a class map.
#[derive(Clone, Debug)]
pub enum Figure {
    Panels(Vec<Panel>),
    Map(ClassMap),
}

const FONT: &str = "sans-serif";

/// Makes the DejaVu Sans font (Debian's fonts-dejavu-core) available to plotters.
pub fn register_font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let candidates = [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/Library/Fonts/DejaVuSans.ttf",
        ];
        let path = std::env::var("PYRALNET_FONT")
            .ok()
            .into_iter()
            .chain(candidates.iter().map(|s| s.to_string()))
            .find(|p| Path::new(p).is_file())
            .ok_or_else(|| {
                "no font for the figures: install DejaVu Sans (Debian: apt-get install fonts-dejavu-core) \
                 or point PYRALNET_FONT at a .ttf file"
                    .to_string()
            })?;
        let bytes: &'static [u8] = Box::leak(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?.into_boxed_slice());
        plotters::style::register_font(FONT, FontStyle::Normal, bytes).map_err(|_| format!("{path} is not a usable TrueType font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Writes `fig` as `<stem>.png` and `<stem>.svg`.
pub fn save(fig: &Figure, stem: &Path) -> anyhow::Result<()> {
    register_font()?;
    let panels = match fig {
        Figure::Panels(p) => p.len().max(1) as u32,
        Figure::Map(_) => 1,
    };
    let size = (560 * panels, 420);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw(&root, fig).with_context(|| format!("drawing {}", png.display()))?;
        root.present()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("writing {}", png.display()))?;
    }
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    draw(&root, fig).with_context(|| format!("drawing {}", svg.display()))?;
    root.present()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("writing {}", svg.display()))?;
    Ok(())
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    match fig {
        Figure::Panels(panels) => {
            let areas = root.split_evenly((1, panels.len().max(1)));
            for (area, panel) in areas.iter().zip(panels) {
                draw_panel(area, panel)?;
            }
        }
        Figure::Map(map) => draw_map(root, map)?,
    }
    Ok(())
}

/// The data range of a panel, padded by 5 %.
fn range(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &panel.series {
        for &(x, y) in &s.points {
            xs.push(x);
            ys.push(y);
        }
        for &(x, lo, hi) in &s.band {
            xs.push(x);
            ys.push(lo);
            ys.push(hi);
        }
    }
    let span = |v: &[f64]| {
        let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad, hi + pad)
    };
    (span(&xs), span(&ys))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> anyhow::Result<()> {
    let ((x0, x1), (y0, y1)) = range(panel);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (k, s) in panel.series.iter().enumerate() {
        let color = Palette99::pick(s.color.unwrap_or(k)).to_rgba();
        if !s.band.is_empty() && !s.error_bars {
            let mut poly: Vec<(f64, f64)> = s.band.iter().map(|&(x, _, hi)| (x, hi)).collect();
            poly.extend(s.band.iter().rev().map(|&(x, lo, _)| (x, lo)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled())))
                .map_err(err)?;
        }
        if s.error_bars {
            chart
                .draw_series(s.band.iter().map(|&(x, lo, hi)| {
                    ErrorBar::new_vertical(x, lo, (lo + hi) / 2.0, hi, color.filled(), 8)
                }))
                .map_err(err)?;
        }
        let style = ShapeStyle::from(&color).stroke_width(2);
        let line = s.points.iter().copied();
        let drawn = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(line, 6, 4, style))
                .map_err(err)?
        } else {
            chart
                .draw_series(LineSeries::new(line, style))
                .map_err(err)?
        };
        if !s.label.is_empty() {
            drawn.label(s.label.as_str()).legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 16, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            });
        }
        if s.error_bars {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(err)?;
        }
    }
    if panel.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn draw_map<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: &ClassMap,
) -> anyhow::Result<()> {
    let (x0, x1, y0, y1) = map.extent;
    let mut chart = ChartBuilder::on(area)
        .caption(&map.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .label_style((FONT, 13))
        .disable_mesh()
        .draw()
        .map_err(err)?;
    let colors = [
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
    ];
    let (dx, dy) = ((x1 - x0) / map.n as f64, (y1 - y0) / map.n as f64);
    chart
        .draw_series(map.classes.iter().enumerate().map(|(k, &c)| {
            let (i, j) = (k % map.n, k / map.n);
            let (x, y) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
            Rectangle::new(
                [(x, y), (x + dx, y + dy)],
                colors[c % colors.len()].mix(0.45).filled(),
            )
        }))
        .map_err(err)?;
    chart
        .draw_series(
            map.points
                .iter()
                .map(|&(x, y, c)| Circle::new((x, y), 2, colors[c % colors.len()].filled())),
        )
        .map_err(err)?;
    Ok(())
}
