//! `pyralnet plot DIR`: figures of a run folder (PNG and SVG in `DIR/plots/`): learning curves
//! with mean ± std bands over seeds, final metric against every swept parameter, self-prediction
//! errors, the mimic output somas against their targets (from traces), and the Yin-Yang decision
//! map of a trained instance.

mod figure;

pub use figure::{save, ClassMap, Figure, Panel, Series};

use crate::config::{Config, Plan, TaskConfig};
use crate::microcircuit::backend::{Batch, Chunk, RecordSpec};
use crate::microcircuit::full::cpu::{open_cpu, CpuKernel};
use crate::num::Precision;
use crate::tasks::metrics::argmax;
use anyhow::Context;
use ndarray::Array2;
use ndarray_npy::NpzReader;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One row of `curves.csv`.
#[derive(Clone, Debug)]
struct CurveRow {
    instance: usize,
    epoch: f64,
    val_acc: Option<f64>,
    val_mse: Option<f64>,
    sp_ip: f64,
    sp_pi: f64,
    sp_ip_data: f64,
    sp_pi_data: f64,
}

/// Reads a CSV file of our own into (header, rows of fields).
fn read_csv(path: &Path) -> anyhow::Result<(Vec<String>, Vec<Vec<String>>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    Ok((
        header,
        lines
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect(),
    ))
}

fn field(header: &[String], row: &[String], name: &str) -> Option<f64> {
    let k = header.iter().position(|h| h == name)?;
    row.get(k)?.parse().ok()
}

fn read_curves(dir: &Path) -> anyhow::Result<Vec<CurveRow>> {
    let (h, rows) = read_csv(&dir.join("curves.csv"))?;
    rows.iter()
        .map(|r| {
            Ok(CurveRow {
                instance: field(&h, r, "instance").context("curves.csv: instance")? as usize,
                epoch: field(&h, r, "epoch").context("curves.csv: epoch")?,
                val_acc: field(&h, r, "val_acc"),
                val_mse: field(&h, r, "val_mse"),
                sp_ip: field(&h, r, "sp_ip").unwrap_or(f64::NAN),
                sp_pi: field(&h, r, "sp_pi").unwrap_or(f64::NAN),
                sp_ip_data: field(&h, r, "sp_ip_data").unwrap_or(f64::NAN),
                sp_pi_data: field(&h, r, "sp_pi_data").unwrap_or(f64::NAN),
            })
        })
        .collect()
}

/// Label of a sweep point, e.g. `learning_lag=20, t_pattern=100`.
fn point_label(plan: &Plan, point: usize) -> String {
    plan.instances
        .iter()
        .find(|i| i.point == point)
        .map(|i| {
            i.swept
                .iter()
                .map(|(k, v)| format!("{k}={}", crate::config::param_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Mean and sample std of `v`.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// Per sweep point, the mean ± std over seeds of `value(row)` at every epoch.
fn banded(
    plan: &Plan,
    curves: &[CurveRow],
    value: impl Fn(&CurveRow) -> Option<f64>,
) -> Vec<Series> {
    let point_of: BTreeMap<usize, usize> =
        plan.instances.iter().map(|i| (i.index, i.point)).collect();
    let mut by_point: BTreeMap<usize, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for c in curves {
        if let (Some(&p), Some(v)) = (point_of.get(&c.instance), value(c)) {
            if v.is_finite() {
                by_point
                    .entry(p)
                    .or_default()
                    .entry(c.epoch.to_bits())
                    .or_default()
                    .push(v);
            }
        }
    }
    by_point
        .into_iter()
        .map(|(p, epochs)| {
            let mut pts: Vec<(f64, f64, f64)> = epochs
                .into_iter()
                .map(|(e, v)| {
                    let (m, s) = mean_std(&v);
                    (f64::from_bits(e), m, s)
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: point_label(plan, p),
                points: pts.iter().map(|&(e, m, _)| (e, m)).collect(),
                band: pts.iter().map(|&(e, m, s)| (e, m - s, m + s)).collect(),
                ..Series::default()
            }
        })
        .collect()
}

/// Draws every figure of the run in `dir` into `dir/plots/`; returns the stems written.
pub fn plot_dir(dir: &Path, instance: usize) -> anyhow::Result<Vec<PathBuf>> {
    let cfg = Config::load_resolved(&dir.join("config.json"))?;
    let plan = cfg.plan()?;
    let curves = read_curves(dir)?;
    let out = dir.join("plots");
    std::fs::create_dir_all(&out)?;
    let mut written = Vec::new();
    let mut emit = |fig: Figure, name: &str| -> anyhow::Result<()> {
        let stem = out.join(name);
        save(&fig, &stem)?;
        written.push(stem);
        Ok(())
    };
    let classification = curves.iter().any(|c| c.val_acc.is_some());
    let metric = |c: &CurveRow| {
        if classification {
            c.val_acc.map(|a| 100.0 * a)
        } else {
            c.val_mse.map(f64::log10)
        }
    };
    let y_label = if classification {
        "validation accuracy (%)"
    } else {
        "log10 validation MSE"
    };
    emit(
        Figure::Panels(vec![Panel {
            title: format!(
                "{}: learning curves (mean ± std over seeds)",
                cfg.name.as_deref().unwrap_or("run")
            ),
            x_label: "epoch".into(),
            y_label: y_label.into(),
            series: banded(&plan, &curves, metric),
        }]),
        "learning_curves",
    )?;
    if plan.shape.n_layers() > 1 {
        let sp = |f: fn(&CurveRow) -> f64, title: &str| Panel {
            title: title.into(),
            x_label: "epoch".into(),
            y_label: "log10 error".into(),
            series: banded(&plan, &curves, |c| {
                let v = f(c);
                (!v.is_nan()).then(|| v.max(1e-30).log10())
            }),
        };
        let mut panels = vec![
            sp(|c| c.sp_ip, "‖W_ip − c·W_up‖²"),
            sp(|c| c.sp_pi, "‖W_pi + W_down‖²"),
        ];
        if curves.iter().any(|c| !c.sp_ip_data.is_nan()) {
            panels.push(sp(|c| c.sp_ip_data, "on the data: ‖(W_ip − c·W_up)·r‖²"));
            panels.push(sp(|c| c.sp_pi_data, "on the data: ‖(W_pi + W_down)·r‖²"));
        }
        emit(Figure::Panels(panels), "self_prediction")?;
    }
    for key in &plan.sweep_keys {
        if let Some(fig) = final_against(dir, &plan, key, classification)? {
            emit(fig, &format!("final_vs_{key}"))?;
        }
    }
    if matches!(cfg.task, TaskConfig::Mimic { .. }) {
        if let Some(fig) = mimic_outputs(dir, instance, &plan)? {
            emit(fig, "mimic_outputs")?;
        }
    }
    if matches!(cfg.task, TaskConfig::Yinyang { .. }) {
        emit(yinyang_map(dir, &cfg, &plan, instance)?, "yinyang_map")?;
    }
    Ok(written)
}

/// Final test metric (validation if there is no test set) against swept parameter `key`, one
/// line per combination of the other swept parameters, mean ± std over seeds.
fn final_against(
    dir: &Path,
    plan: &Plan,
    key: &str,
    classification: bool,
) -> anyhow::Result<Option<Figure>> {
    let (h, rows) = read_csv(&dir.join("instances.csv"))?;
    let metric = if classification { "acc" } else { "mse" };
    let mut groups: BTreeMap<String, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in &rows {
        let Some(idx) = field(&h, r, "instance") else {
            continue;
        };
        let Some(spec) = plan.instances.iter().find(|i| i.index == idx as usize) else {
            continue;
        };
        let Some(x) = spec
            .swept
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_f64())
        else {
            return Ok(None);
        };
        let v = field(&h, r, &format!("test_{metric}"))
            .or_else(|| field(&h, r, &format!("val_{metric}")));
        let Some(v) = v else { continue };
        let others: Vec<String> = spec
            .swept
            .iter()
            .filter(|(k, _)| k != key)
            .map(|(k, v)| format!("{k}={}", crate::config::param_text(v)))
            .collect();
        let v = if classification { 100.0 * v } else { v };
        groups
            .entry(others.join(", "))
            .or_default()
            .entry(x.to_bits())
            .or_default()
            .push(v);
    }
    let series = groups
        .into_iter()
        .map(|(label, xs)| {
            let mut pts: Vec<(f64, f64, f64)> = xs
                .into_iter()
                .map(|(x, v)| {
                    let (m, s) = mean_std(&v);
                    (f64::from_bits(x), m, s)
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label,
                points: pts.iter().map(|&(x, m, _)| (x, m)).collect(),
                band: pts.iter().map(|&(x, m, s)| (x, m - s, m + s)).collect(),
                error_bars: true,
                ..Series::default()
            }
        })
        .collect();
    let (series, x_label) = log_axis_if_wide(series, key);
    Ok(Some(Figure::Panels(vec![Panel {
        title: format!(
            "final {} against {key} (mean ± std over seeds)",
            if classification {
                "test accuracy"
            } else {
                "test MSE"
            }
        ),
        x_label,
        y_label: if classification {
            "test accuracy (%)".into()
        } else {
            "test MSE".into()
        },
        series,
    }])))
}

/// Swept values that are all positive and span more than two decades (e.g. a kernel width from
/// 0.001 to 10) are drawn against `log10(value)`; the x label says so.
fn log_axis_if_wide(series: Vec<Series>, key: &str) -> (Vec<Series>, String) {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    if !(lo > 0.0 && hi / lo > 100.0) {
        return (series, key.into());
    }
    let log = series
        .into_iter()
        .map(|s| Series {
            points: s.points.iter().map(|&(x, y)| (x.log10(), y)).collect(),
            band: s.band.iter().map(|&(x, a, b)| (x.log10(), a, b)).collect(),
            ..s
        })
        .collect();
    (log, format!("log10 {key}"))
}

/// Output somas and targets over the first and the last recorded patterns (needs `--record`).
fn mimic_outputs(dir: &Path, instance: usize, plan: &Plan) -> anyhow::Result<Option<Figure>> {
    let path = dir.join("traces").join(format!("instance_{instance}.npz"));
    if !path.is_file() {
        return Ok(None);
    }
    let mut npz = NpzReader::new(std::fs::File::open(&path)?)
        .with_context(|| format!("{} is damaged", path.display()))?;
    let u: Array2<f64> = npz.by_name("u_out.npy")?;
    let t: Array2<f64> = npz.by_name("u_tgt.npy")?;
    let step: ndarray::Array1<u64> = npz.by_name("step.npy")?;
    let Some(spec) = plan.instances.iter().find(|i| i.index == instance) else {
        return Ok(None);
    };
    let p = &spec.params;
    let window = (5 * p.steps_per_pattern()) as u64;
    let last = *step.last().unwrap_or(&0);
    let panel = |title: &str, keep: &dyn Fn(u64) -> bool| {
        let mut series = Vec::new();
        let first = step.iter().copied().find(|&s| keep(s)).unwrap_or(0);
        let title = format!("{title} (from t = {:.1} s)", first as f64 * p.dt / 1000.0);
        for k in 0..u.ncols() {
            let pick = |a: &Array2<f64>| -> Vec<(f64, f64)> {
                step.iter()
                    .zip(a.column(k))
                    .filter(|(s, _)| keep(**s))
                    .map(|(&s, &v)| ((s - first) as f64 * p.dt, v))
                    .collect()
            };
            series.push(Series {
                label: format!("u_out[{k}]"),
                points: pick(&u),
                ..Series::default()
            });
            series.push(Series {
                label: format!("target[{k}]"),
                points: pick(&t),
                dashed: true,
                ..Series::default()
            });
        }
        Panel {
            title,
            x_label: "time in window (ms)".into(),
            y_label: "soma potential".into(),
            series,
        }
    };
    Ok(Some(Figure::Panels(vec![
        panel("output somas, first 5 patterns", &|s| s < window),
        panel("output somas, last 5 patterns", &|s| s + window > last),
    ])))
}

/// Decision map of a trained Yin-Yang instance: the predicted class on a grid of inputs
/// `[x, y, 1-x, 1-y]` (evaluation patterns from the final weights), with the test set on top.
fn yinyang_map(dir: &Path, cfg: &Config, plan: &Plan, instance: usize) -> anyhow::Result<Figure> {
    let spec = plan
        .instances
        .iter()
        .find(|i| i.index == instance)
        .with_context(|| format!("the run has no instance {instance}"))?;
    let w = crate::output::read_weights(
        &dir.join("weights").join(format!("instance_{instance}.npz")),
        &plan.shape,
    )?;
    let batch = Batch {
        shape: plan.shape.clone(),
        phi: plan.phi,
        params: vec![spec.params.clone()],
        init: vec![w],
    };
    let mut backend = open_cpu(
        CpuKernel::Auto,
        Precision::F32,
        &batch,
        None,
        RecordSpec::default(),
    )?;
    let n = 40;
    let mut x = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let (a, b) = ((i as f64 + 0.5) / n as f64, (j as f64 + 0.5) / n as f64);
            x.extend([a, b, 1.0 - a, 1.0 - b]);
        }
    }
    let y = vec![0.0; n * n * plan.shape.n_out()];
    let r = backend.evaluate(&Chunk {
        x: vec![x],
        y: vec![y],
    })?;
    let classes = r[0].chunks(plan.shape.n_out()).map(argmax).collect();
    let data = cfg
        .task
        .load(&plan.shape, plan.phi, &spec.params, &cfg.targets, dir)?;
    let labels = data.test.labels.clone().unwrap_or_default();
    let points = (0..data.test.len())
        .map(|k| (data.test.x_row(k)[0], data.test.x_row(k)[1], labels[k]))
        .collect();
    Ok(Figure::Map(ClassMap {
        title: format!("Yin-Yang decision map, instance {instance} (test points on top)"),
        n,
        extent: (0.0, 1.0, 0.0, 1.0),
        classes,
        points,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_positive_sweeps_are_drawn_on_a_log_axis() {
        let s = |xs: &[f64]| Series {
            points: xs.iter().map(|&x| (x, 1.0)).collect(),
            band: xs.iter().map(|&x| (x, 0.5, 1.5)).collect(),
            ..Series::default()
        };
        let (log, label) = log_axis_if_wide(vec![s(&[0.001, 0.1, 10.0])], "r");
        assert_eq!(label, "log10 r");
        let xs: Vec<f64> = log[0].points.iter().map(|p| p.0).collect();
        for (a, b) in xs.iter().zip([-3.0, -1.0, 1.0]) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_eq!(log[0].band[2], (1.0, 0.5, 1.5));
        let (lin, label) = log_axis_if_wide(vec![s(&[0.0, 10.0, 20.0])], "learning_lag");
        assert_eq!((label.as_str(), lin[0].points[1].0), ("learning_lag", 10.0));
        let (_, label) = log_axis_if_wide(vec![s(&[1.0, 50.0])], "tau");
        assert_eq!(label, "tau");
    }
}
