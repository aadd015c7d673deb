//! Output files of a G-clusteron run, in the same folder layout as the microcircuit's:
//! `instances.csv`, `curves.csv` (read by `pyralnet plot`), `summary.json`, `summary.csv`, and
//! the final state of every instance in `states/instance_<i>.npz` (arrays `l`, `w`: K × N, `b`);
//! also the states of a checkpoint (every array of [`GcState`], per instance).

use super::{Baseline, GcResults};
use crate::atomic::{write_atomic, write_text};
use crate::config::{Config, InstanceSpec, Plan};
use crate::gclusteron::{GcState, Moments};
use crate::output::{column, diverged_list, metric, summarise, summary_csv, Outcome};
use anyhow::{bail, Context};
use ndarray::{Array1, Array2};
use ndarray_npy::{NpzReader, NpzWriter};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// Header of the G-clusteron's `instances.csv`.
pub const INSTANCES_HEADER: &str =
    "instance,point,seed,r,eta_l,eta_w,eta_b,batch_size,rule,error,optimiser,init,init_scale,\
     converged_at,val_acc,val_mse,test_acc,test_mse,diverged_at\n";

/// Header of the G-clusteron's `curves.csv`.
pub const CURVES_HEADER: &str = "instance,iteration,patterns,epoch,val_acc,val_mse\n";

/// Writes the final state of every instance of `r` to `dir/states/instance_<i>.npz`.
pub fn write_state_files(dir: &Path, r: &GcResults) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("states"))?;
    for i in &r.instances {
        let path = dir
            .join("states")
            .join(format!("instance_{}.npz", i.spec.index));
        let k = i.state.b.len();
        let n = i.state.l.len() / k.max(1);
        write_atomic(&path, |f| {
            let mut npz = NpzWriter::new(f);
            npz.add_array("l", &Array2::from_shape_vec((k, n), i.state.l.clone())?)?;
            npz.add_array("w", &Array2::from_shape_vec((k, n), i.state.w.clone())?)?;
            npz.add_array("b", &Array1::from_vec(i.state.b.clone()))?;
            npz.finish()?;
            Ok(())
        })?;
    }
    Ok(())
}

/// The arrays of a [`GcState`] with their names in a checkpoint.
fn arrays(s: &GcState<f64>) -> [(&'static str, &Vec<f64>); 10] {
    [
        ("l", &s.l),
        ("w", &s.w),
        ("b", &s.b),
        ("adam_l.m", &s.adam_l.m),
        ("adam_l.v", &s.adam_l.v),
        ("adam_w.m", &s.adam_w.m),
        ("adam_w.v", &s.adam_w.v),
        ("adam_b.m", &s.adam_b.m),
        ("adam_b.v", &s.adam_b.v),
        ("l_kernel", &s.l_kernel),
    ]
}

/// Writes the full states of the instances `indices` (every array, f64) into the checkpoint
/// file `path`, instance i's under the prefix `instance_<i>/`.
pub fn write_states(path: &Path, indices: &[usize], states: &[GcState<f64>]) -> anyhow::Result<()> {
    write_atomic(path, |f| {
        let mut npz = NpzWriter::new(f);
        for (index, s) in indices.iter().zip(states) {
            for (name, a) in arrays(s) {
                npz.add_array(
                    format!("instance_{index}/{name}").as_str(),
                    &Array1::from_vec(a.clone()),
                )?;
            }
        }
        npz.finish()?;
        Ok(())
    })
}

/// The states of the instances `indices` (K units of N synapses) from the checkpoint file
/// `path` written by [`write_states`].
pub fn read_states(
    path: &Path,
    indices: &[usize],
    n: usize,
    k: usize,
) -> anyhow::Result<Vec<GcState<f64>>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("checkpoint file {} is missing", path.display()))?;
    let mut npz = NpzReader::new(file).with_context(|| format!("{} is damaged", path.display()))?;
    let mut read = |index: usize, name: &str, len: usize| -> anyhow::Result<Vec<f64>> {
        let key = format!("instance_{index}/{name}");
        let a: Array1<f64> = npz
            .by_name(&format!("{key}.npy"))
            .with_context(|| format!("{key} is missing in {}", path.display()))?;
        if a.len() != len {
            bail!("{key} in {} has the wrong length", path.display());
        }
        Ok(a.to_vec())
    };
    indices
        .iter()
        .map(|&i| {
            let moments = |read: &mut dyn FnMut(&str, usize) -> anyhow::Result<Vec<f64>>,
                           group: &str,
                           len: usize| {
                anyhow::Ok(Moments {
                    m: read(&format!("{group}.m"), len)?,
                    v: read(&format!("{group}.v"), len)?,
                })
            };
            let mut r = |name: &str, len: usize| read(i, name, len);
            Ok(GcState {
                l: r("l", k * n)?,
                w: r("w", k * n)?,
                b: r("b", k)?,
                adam_l: moments(&mut r, "adam_l", k * n)?,
                adam_w: moments(&mut r, "adam_w", k * n)?,
                adam_b: moments(&mut r, "adam_b", k)?,
                l_kernel: r("l_kernel", k * n)?,
            })
        })
        .collect()
}

/// Rows of `instances.csv` (see [`INSTANCES_HEADER`]): one per instance with its parameters,
/// seed and final metrics ([`crate::output::DIVERGED`] for an instance that diverged), the
/// iterations before it converged, and the training patterns it had seen when it diverged
/// (`diverged_at`, empty: it did not).
pub fn instance_rows(r: &GcResults) -> String {
    let mut s = String::new();
    let name = |v: Value| v.as_str().map(str::to_owned).unwrap_or_default();
    for i in &r.instances {
        let Some(p) = &i.spec.gc else { continue };
        let d = i.diverged_at.is_some();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            i.spec.index,
            i.spec.point,
            p.seed,
            p.kernel_width(),
            p.eta_l,
            p.eta_w,
            p.eta_b,
            p.batch_size,
            name(json!(p.rule)),
            name(json!(p.error)),
            name(json!(p.optimiser)),
            name(json!(p.init)),
            p.init_scale,
            i.converged_at.map_or(String::new(), |c| c.to_string()),
            metric(i.val.acc, d),
            metric(i.val.mse, d),
            metric(i.test.acc, d),
            metric(i.test.mse, d),
            i.diverged_at.map_or(String::new(), |n| n.to_string()),
        );
    }
    s
}

/// Rows of `curves.csv` (see [`CURVES_HEADER`]): one per instance and evaluation point (epoch
/// = patterns seen / training set size), grouped by instance; the metrics of a point where the
/// instance had diverged are [`crate::output::DIVERGED`].
pub fn curve_rows(r: &GcResults) -> String {
    let mut s = String::new();
    let mut curves: Vec<_> = r.curves.iter().collect();
    curves.sort_by_key(|c| (c.instance, c.iteration));
    for c in curves {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{}",
            c.instance,
            c.iteration,
            c.patterns,
            c.patterns as f64 / r.train_len as f64,
            metric(c.val.acc, c.diverged),
            metric(c.val.mse, c.diverged),
        );
    }
    s
}

/// The `converged_at` column of rows of `instances.csv`.
pub fn converged_at(rows: &[String]) -> Vec<Option<usize>> {
    rows.iter()
        .map(|row| column(INSTANCES_HEADER, row, "converged_at").map(|c| c as usize))
        .collect()
}

/// The baseline as `summary.json` holds it.
pub fn baseline_json(b: &Baseline) -> Value {
    json!({"model": "logistic regression (L-BFGS)", "val_acc": b.val.acc, "test_acc": b.test.acc, "seconds": b.seconds})
}

/// What `summary.json` of a G-clusteron run (or of its merged shards) is made of.
pub struct SummaryOf<'a> {
    pub plan: &'a Plan,
    /// Final metrics of every instance of `plan`, in order.
    pub outcomes: &'a [Outcome],
    /// Per instance of `plan`, the iterations before it converged.
    pub converged_at: &'a [Option<usize>],
    pub backend: &'a str,
    pub seconds: f64,
    pub unit_patterns: f64,
    /// The logistic-regression baseline ([`baseline_json`]) or null.
    pub baseline: Option<Value>,
    /// The number of shards merged (merged results only).
    pub shards: Option<usize>,
}

/// Writes `summary.json` and `summary.csv` into `dir`.
pub fn write_summary(dir: &Path, cfg: &Config, s: &SummaryOf) -> anyhow::Result<()> {
    let points = summarise(s.outcomes);
    let specs: Vec<&InstanceSpec> = s.plan.instances.iter().collect();
    let mut summary = json!({
        "name": cfg.name,
        "model": "gclusteron",
        "backend": s.backend,
        "wall_seconds": s.seconds,
        "unit_patterns": s.unit_patterns,
        "unit_patterns_per_second": s.unit_patterns / s.seconds.max(1e-9),
        "diverged": diverged_list(s.outcomes),
        "points": points,
        "convergence": convergence(cfg, &specs, s.converged_at),
        "logreg": s.baseline,
    });
    if let Some(n) = s.shards {
        summary["shards"] = json!(n);
    }
    write_text(
        &dir.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    write_text(&dir.join("summary.csv"), &summary_csv(&points))
}

/// Per sweep point with a convergence window: how many instances converged, and the mean and
/// median of their iteration counts (spec §3.3).
pub fn convergence(cfg: &Config, specs: &[&InstanceSpec], converged_at: &[Option<usize>]) -> Value {
    if cfg.protocol.converge_window.is_none() {
        return Value::Null;
    }
    let mut points: Vec<usize> = specs.iter().map(|s| s.point).collect();
    points.dedup();
    Value::Array(
        points
            .into_iter()
            .map(|p| {
                let group: Vec<usize> = (0..specs.len()).filter(|&i| specs[i].point == p).collect();
                let mut its: Vec<usize> = group.iter().filter_map(|&i| converged_at[i]).collect();
                its.sort_unstable();
                let mean = its.iter().sum::<usize>() as f64 / its.len().max(1) as f64;
                let median = match its.len() {
                    0 => None,
                    m if m % 2 == 1 => Some(its[m / 2] as f64),
                    m => Some((its[m / 2 - 1] + its[m / 2]) as f64 / 2.0),
                };
                json!({
                    "point": p,
                    "params": specs[group[0]].swept.iter().cloned().collect::<serde_json::Map<_, _>>(),
                    "instances": group.len(),
                    "converged": its.len(),
                    "fraction": its.len() as f64 / group.len() as f64,
                    "mean_iterations": (!its.is_empty()).then_some(mean),
                    "median_iterations": median,
                })
            })
            .collect(),
    )
}
