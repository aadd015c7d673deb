//! Result tables: rows of `instances.csv` and `curves.csv`, `summary.json`, and the
//! per-instance weights and traces.

use super::{write_trace, write_weights};
use crate::atomic::write_text;
use crate::config::{Config, InstanceSpec};
use crate::experiment::{CurvePoint, InstanceResult};
use crate::microcircuit::backend::Trace;
use crate::microcircuit::full::cpu::CpuKernel;
use crate::tasks::metrics::Metrics;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Mean and sample standard deviation of one metric over the seeds of a sweep point.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Stat {
    fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Stat {
            mean,
            std: var.sqrt(),
            n,
        })
    }
}

/// One sweep point of `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub point: usize,
    pub params: serde_json::Map<String, Value>,
    pub seeds: Vec<u64>,
    /// Seeds of this point whose instance diverged: left out of the statistics (whose `n`
    /// counts the others).
    pub diverged: usize,
    pub val_acc: Option<Stat>,
    pub val_mse: Option<Stat>,
    pub test_acc: Option<Stat>,
    pub test_mse: Option<Stat>,
}

/// Writes `summary.json` and `summary.csv` of a run into `dir`; `cpu_kernel` is the resolved
/// CPU kernel of the full model (`null` on the GPU and for the steady model).
pub fn write_summary(
    dir: &Path,
    cfg: &Config,
    backend: &str,
    cpu_kernel: Option<CpuKernel>,
    seconds: f64,
    instance_steps: f64,
    outcomes: &[Outcome],
) -> anyhow::Result<()> {
    let points = summarise(outcomes);
    let summary = json!({
        "name": cfg.name,
        "backend": backend,
        "cpu_kernel": cpu_kernel,
        "wall_seconds": seconds,
        "instance_steps": instance_steps,
        "instance_steps_per_second": instance_steps / seconds.max(1e-9),
        "diverged": diverged_list(outcomes),
        "points": points,
    });
    write_text(
        &dir.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    write_text(&dir.join("summary.csv"), &summary_csv(&points))
}

/// Threads that write per-instance files at once: each spends most of its time waiting for
/// its file's sync, and the file system commits concurrent syncs together (on the ext4 dev box
/// 8 writers take 1.3 ms per file instead of 5.4 ms).
const WRITERS: usize = 8;

/// Calls `write` for every item, on [`WRITERS`] threads.
fn write_all<T: Sync>(
    items: &[T],
    write: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let per_thread = items.len().div_ceil(WRITERS).max(1);
    std::thread::scope(|s| {
        let writers: Vec<_> = items
            .chunks(per_thread)
            .map(|part| s.spawn(|| part.iter().try_for_each(&write)))
            .collect();
        writers
            .into_iter()
            .try_for_each(|w| w.join().expect("a file writer panicked"))
    })
}

/// Writes the weights (and traces, when recorded) of `rows` into `dir/weights` (`dir/traces`),
/// one file per instance.
pub fn write_instance_files(
    dir: &Path,
    rows: &[InstanceResult],
    traces: &[Trace],
) -> anyhow::Result<()> {
    let path = |sub: &str, res: &InstanceResult| {
        dir.join(sub)
            .join(format!("instance_{}.npz", res.spec.index))
    };
    std::fs::create_dir_all(dir.join("weights"))?;
    write_all(rows, |res| {
        write_weights(&path("weights", res), &res.weights)
    })?;
    if traces.iter().any(|t| !t.step.is_empty()) {
        std::fs::create_dir_all(dir.join("traces"))?;
        let pairs: Vec<_> = rows.iter().zip(traces).collect();
        write_all(&pairs, |(res, t)| write_trace(&path("traces", res), t))?;
    }
    Ok(())
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

/// What a metric column of a diverged instance holds instead of a number.
pub const DIVERGED: &str = "diverged";

/// A metric's cell: the number, empty where the set has no such metric, [`DIVERGED`] where the
/// instance had diverged.
pub fn metric(v: Option<f64>, diverged: bool) -> String {
    match (v, diverged) {
        (Some(_), true) => DIVERGED.into(),
        (v, _) => num(v),
    }
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(";")
}

/// Header of `instances.csv`.
pub const INSTANCES_HEADER: &str = "instance,point,seed,gl,gb,ga,gd,gsom,dt,tau_w,tau0,t_pattern,learning_lag,out_lag,noise,bias,\
         eta_up,eta_pi,eta_ip,eta_down,init,init_up,init_down,init_pi,init_ip,reset_deltas,n_passes,n_exposures,\
         val_acc,val_mse,test_acc,test_mse,diverged_at\n";

/// Rows of `instances.csv`, one per instance with every parameter, the seed, the final
/// metrics ([`DIVERGED`] for an instance that diverged) and the training patterns it had seen
/// when it diverged (empty: it did not).
pub fn instance_rows(rows: &[InstanceResult]) -> String {
    let mut s = String::new();
    for r in rows {
        let p = &r.spec.params;
        let init = serde_json::to_value(p.init)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        let d = r.diverged_at.is_some();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.spec.index,
            r.spec.point,
            p.seed,
            p.gl,
            p.gb,
            p.ga,
            p.gd,
            p.gsom,
            p.dt,
            p.tau_w,
            p.tau0,
            p.t_pattern,
            p.learning_lag,
            p.out_lag,
            p.noise,
            p.bias,
            list(&p.eta_up),
            list(&p.eta_pi),
            list(&p.eta_ip),
            list(&p.eta_down),
            init.unwrap_or_default(),
            p.init_up,
            p.init_down,
            p.init_pi,
            p.init_ip,
            p.reset_deltas,
            p.n_passes,
            p.n_exposures,
            metric(r.val.acc, d),
            metric(r.val.mse, d),
            metric(r.test.acc, d),
            metric(r.test.mse, d),
            r.diverged_at.map_or(String::new(), |n| n.to_string()),
        );
    }
    s
}

/// Header of `curves.csv`.
pub const CURVES_HEADER: &str =
    "instance,patterns,epoch,val_acc,val_mse,sp_ip,sp_pi,sp_ip_data,sp_pi_data\n";

/// Rows of `curves.csv`, one per instance and evaluation point, grouped by instance; the
/// metrics of a point where the instance had diverged are [`DIVERGED`].
pub fn curve_rows(points: &[CurvePoint]) -> String {
    let mut s = String::new();
    let mut curves: Vec<_> = points.iter().collect();
    curves.sort_by_key(|c| (c.instance, c.patterns));
    for c in curves {
        let d = c.diverged;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{}",
            c.instance,
            c.patterns,
            c.epoch,
            metric(c.val.acc, d),
            metric(c.val.mse, d),
            metric(Some(c.sp_ip), d),
            metric(Some(c.sp_pi), d),
            metric(Some(c.sp_ip_data).filter(|v| !v.is_nan() || d), d),
            metric(Some(c.sp_pi_data).filter(|v| !v.is_nan() || d), d)
        );
    }
    s
}

/// `summary.csv`: one row per sweep point with its swept values and mean, std of every metric.
pub fn summary_csv(points: &[Summary]) -> String {
    let keys: Vec<&String> = points
        .first()
        .map(|p| p.params.keys().collect())
        .unwrap_or_default();
    let mut s = String::from("point");
    for k in &keys {
        s += &format!(",{k}");
    }
    s += ",n_seeds,n_diverged,val_acc_mean,val_acc_std,val_mse_mean,val_mse_std,test_acc_mean,test_acc_std,test_mse_mean,test_mse_std\n";
    for p in points {
        s += &p.point.to_string();
        for k in &keys {
            // list values (e.g. eta_up) are written with ';' so the CSV stays rectangular
            s += &format!(",{}", p.params[k.as_str()].to_string().replace(',', ";"));
        }
        s += &format!(",{},{}", p.seeds.len(), p.diverged);
        for st in [&p.val_acc, &p.val_mse, &p.test_acc, &p.test_mse] {
            s += &match st {
                Some(st) => format!(",{},{}", st.mean, st.std),
                None => ",,".into(),
            };
        }
        s += "\n";
    }
    s
}

/// The number in column `name` (by `header`) of a CSV row, if there is one.
pub fn column(header: &str, row: &str, name: &str) -> Option<f64> {
    let k = header.trim_end().split(',').position(|h| h == name)?;
    row.split(',').nth(k)?.parse().ok()
}

/// The final metrics of a row of `instances.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowMetrics {
    pub index: usize,
    pub val: Metrics,
    pub test: Metrics,
    /// The `diverged_at` column (absent in rows written before it existed: `None`).
    pub diverged_at: Option<usize>,
}

/// Instance index, final validation and test metrics of a row of `instances.csv` (an empty
/// accuracy column, for regression, and a [`DIVERGED`] one are `None`) and when it diverged;
/// `None` for a row without an index.
pub fn final_metrics(header: &str, row: &str) -> Option<RowMetrics> {
    let index = row.split(',').next()?.parse().ok()?;
    let m = |set: &str| Metrics {
        acc: column(header, row, &format!("{set}_acc")),
        mse: column(header, row, &format!("{set}_mse")),
    };
    Some(RowMetrics {
        index,
        val: m("val"),
        test: m("test"),
        diverged_at: column(header, row, "diverged_at").map(|n| n as usize),
    })
}

/// The final metrics of one instance.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub spec: InstanceSpec,
    pub val: Metrics,
    pub test: Metrics,
    /// Training patterns seen when the instance diverged (`None`: it did not); its metrics are
    /// then left out of the statistics.
    pub diverged_at: Option<usize>,
}

/// Outcomes from (spec, validation, test, diverged_at) of each instance, whatever the model.
pub fn outcomes_of<'a>(
    rows: impl Iterator<Item = (&'a InstanceSpec, Metrics, Metrics, Option<usize>)>,
) -> Vec<Outcome> {
    rows.map(|(s, val, test, diverged_at)| Outcome {
        spec: s.clone(),
        val,
        test,
        diverged_at,
    })
    .collect()
}

/// The instances that diverged, for `summary.json`: index, sweep point, seed, the swept
/// parameters and the training patterns seen when it was first noticed.
pub fn diverged_list(rows: &[Outcome]) -> Value {
    Value::Array(
        rows.iter()
            .filter_map(|r| {
                let at = r.diverged_at?;
                let params: serde_json::Map<String, Value> = r.spec.swept.iter().cloned().collect();
                Some(json!({
                    "instance": r.spec.index,
                    "point": r.spec.point,
                    "seed": r.spec.params.seed,
                    "params": params,
                    "diverged_at": at,
                }))
            })
            .collect(),
    )
}

/// Mean ± std over seeds for each sweep point (in one pass over the rows, so a sweep of many
/// points is not quadratic).
pub fn summarise(rows: &[Outcome]) -> Vec<Summary> {
    let mut points: BTreeMap<usize, Vec<&Outcome>> = BTreeMap::new();
    for r in rows {
        points.entry(r.spec.point).or_default().push(r);
    }
    points
        .into_iter()
        .map(|(point, group)| {
            // diverged instances have no metrics to average
            let stat = |f: fn(&Outcome) -> Metrics, acc: bool| {
                let v: Vec<f64> = group
                    .iter()
                    .filter(|r| r.diverged_at.is_none())
                    .filter_map(|r| if acc { f(r).acc } else { f(r).mse })
                    .collect();
                Stat::of(&v)
            };
            Summary {
                point,
                params: group[0].spec.swept.iter().cloned().collect(),
                seeds: group.iter().map(|r| r.spec.params.seed).collect(),
                diverged: group.iter().filter(|r| r.diverged_at.is_some()).count(),
                val_acc: stat(|r| r.val, true),
                val_mse: stat(|r| r.val, false),
                test_acc: stat(|r| r.test, true),
                test_mse: stat(|r| r.test, false),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_uses_sample_std() {
        let s = Stat::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.mean, 2.0);
        assert_eq!(s.std, 1.0);
        assert_eq!(Stat::of(&[5.0]).unwrap().std, 0.0);
        assert!(Stat::of(&[]).is_none());
    }
}
