//! PNG plots drawn with plotters' bitmap backend. Text uses the public-domain 8×8 bitmap font of
//! the `font8x8` crate, drawn pixel by pixel, so no system font is needed.

use crate::model::InitMode;
use crate::validity::{Curve, Quantity};
use anyhow::Context;
use font8x8::legacy::BASIC_LEGACY;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 600;
/// Height of the legend strip at the bottom.
const LEGEND: i32 = 56;
/// Pixel size of one font pixel.
const SCALE: i32 = 2;

/// Draws `text` with its top-left corner at `(x, y)` (ASCII only; other characters as `?`).
fn text<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, x: i32, y: i32, s: &str, c: RGBColor) {
    for (k, ch) in s.chars().enumerate() {
        let glyph = BASIC_LEGACY[if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        }];
        let x0 = x + k as i32 * 8 * SCALE;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    let (px, py) = (x0 + col * SCALE, y + row as i32 * SCALE);
                    // Pixels outside the image are simply not drawn.
                    let _ = area.draw(&Rectangle::new(
                        [(px, py), (px + SCALE - 1, py + SCALE - 1)],
                        c.filled(),
                    ));
                }
            }
        }
    }
}

/// Width in pixels of `s` drawn by [`text`].
fn text_width(s: &str) -> i32 {
    s.chars().count() as i32 * 8 * SCALE
}

/// Line colour per `n_passes` (cycling) and a lighter shade for the self-predicting start.
fn colour(n_passes: usize, passes: &[usize], init: InitMode) -> RGBColor {
    const BASE: [(u8, u8, u8); 5] = [
        (214, 39, 40),
        (31, 119, 180),
        (44, 160, 44),
        (148, 103, 189),
        (255, 127, 14),
    ];
    let k = passes.iter().position(|&n| n == n_passes).unwrap_or(0) % BASE.len();
    let (r, g, b) = BASE[k];
    match init {
        InitMode::Random => RGBColor(r, g, b),
        InitMode::SelfPredicting => {
            let light = |v: u8| (u16::from(v) + 2 * 255) as f64 / 3.0;
            RGBColor(light(r) as u8, light(g) as u8, light(b) as u8)
        }
    }
}

/// Writes the validity figure: relative RMS deviation against patterns seen, soma potentials
/// (plasticity off) on the left, weights (plasticity on) on the right, log scale. Written to a
/// temporary `.png` name beside `path` and renamed, like every output.
pub fn validity_png(path: &Path, curves: &[Curve], title: &str) -> anyhow::Result<()> {
    let mut passes: Vec<usize> = curves.iter().map(|c| c.n_passes).collect();
    passes.sort_unstable();
    passes.dedup();
    let tmp = path.with_file_name(format!(".plot.tmp{}.png", std::process::id()));
    draw(&tmp, curves, title, &passes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .and_then(|()| Ok(std::fs::rename(&tmp, path)?))
        .with_context(|| format!("cannot write plot {}", path.display()))
}

fn draw(
    path: &Path,
    curves: &[Curve],
    title: &str,
    passes: &[usize],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    text(&root, 20, 10, title, BLACK);
    let body = root.margin(40, LEGEND, 0, 0);
    let panels = body.split_evenly((1, 2));
    for (area, quantity, label) in [
        (
            &panels[0],
            Quantity::Somas,
            "soma potentials, plasticity off",
        ),
        (&panels[1], Quantity::Weights, "weights, plasticity on"),
    ] {
        let mine: Vec<&Curve> = curves.iter().filter(|c| c.quantity == quantity).collect();
        panel(area, &mine, label, passes)?;
    }
    // legend: one column per n_passes, random above self-predicting
    let col_w = (WIDTH as i32 - 40) / passes.len().max(1) as i32;
    for (k, &np) in passes.iter().enumerate() {
        for (row, init) in [InitMode::Random, InitMode::SelfPredicting]
            .into_iter()
            .enumerate()
        {
            let name = match init {
                InitMode::Random => "random",
                InitMode::SelfPredicting => "self-pred.",
            };
            let (lx, ly) = (
                20 + k as i32 * col_w,
                HEIGHT as i32 - LEGEND + row as i32 * 24,
            );
            let col = colour(np, passes, init);
            root.draw(&Rectangle::new(
                [(lx, ly + 6), (lx + 24, ly + 9)],
                col.filled(),
            ))?;
            text(&root, lx + 30, ly, &format!("n_passes {np}, {name}"), BLACK);
        }
    }
    root.present()?;
    Ok(())
}

/// One panel: frame, decade grid with labels, one line per curve, legend.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    curves: &[&Curve],
    label: &str,
    passes: &[usize],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let n = curves
        .iter()
        .map(|c| c.rel_rms.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let positive = curves
        .iter()
        .flat_map(|c| c.rel_rms.iter().copied())
        .filter(|v| *v > 0.0 && v.is_finite());
    let (lo, hi) = positive.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo_dec, hi_dec) = if hi > 0.0 {
        (
            lo.log10().floor() as i32,
            hi.log10().ceil().max(lo.log10().floor() + 1.0) as i32,
        )
    } else {
        (-6, 0)
    };
    let (w, h) = area.dim_in_pixel();
    let (left, right, top, bottom) = (110, 36, 40, 70);
    text(area, left, 8, label, BLACK);
    let plot = area.margin(top, bottom, left, right);
    let mut chart = ChartBuilder::on(&plot).build_cartesian_2d(
        1.0..n as f64,
        (10f64.powi(lo_dec)..10f64.powi(hi_dec)).log_scale(),
    )?;
    let grey = RGBColor(220, 220, 220);
    // backend_coord is in image pixels; `area` draws relative to its own corner
    let base = area.get_base_pixel();
    let to_px = |x: f64, y: f64| {
        let (px, py) = chart.backend_coord(&(x, y));
        (px - base.0, py - base.1)
    };
    // decade grid and labels
    for d in lo_dec..=hi_dec {
        let y = 10f64.powi(d);
        let s = format!("1e{d}");
        let (px0, py) = to_px(1.0, y);
        let (px1, _) = to_px(n as f64, y);
        area.draw(&PathElement::new(vec![(px0, py), (px1, py)], grey))?;
        text(area, left - text_width(&s) - 8, py - 8, &s, BLACK);
    }
    // pattern ticks: 5 evenly spaced
    for k in 0..=4 {
        let x = 1.0 + (n as f64 - 1.0) * k as f64 / 4.0;
        let (px, py0) = to_px(x, 10f64.powi(lo_dec));
        let (_, py1) = to_px(x, 10f64.powi(hi_dec));
        area.draw(&PathElement::new(vec![(px, py0), (px, py1)], grey))?;
        let s = format!("{}", x.round() as usize);
        text(
            area,
            px - text_width(&s) / 2,
            h as i32 - bottom + 8,
            &s,
            BLACK,
        );
    }
    let xl = "patterns seen";
    text(
        area,
        left + (w as i32 - left - right - text_width(xl)) / 2,
        h as i32 - bottom + 32,
        xl,
        BLACK,
    );
    // frame
    let (x0, y0) = to_px(1.0, 10f64.powi(hi_dec));
    let (x1, y1) = to_px(n as f64, 10f64.powi(lo_dec));
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK))?;
    // curves (zeros cannot be shown on a log scale and are skipped)
    let floor = 10f64.powi(lo_dec);
    for c in curves {
        let col = colour(c.n_passes, passes, c.init);
        let pts = c
            .rel_rms
            .iter()
            .enumerate()
            .filter(|(_, v)| **v >= floor && v.is_finite())
            .map(|(k, &v)| ((k + 1) as f64, v));
        chart.draw_series(LineSeries::new(pts, col.stroke_width(2)))?;
    }
    Ok(())
}
