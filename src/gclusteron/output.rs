//! Output files of a G-clusteron run, in the same folder layout as the microcircuit's:
//! `instances.csv`, `curves.csv` (read by `pyralnet plot`), `summary.json`, `summary.csv`, and
//! the final state of every instance in `states/instance_<i>.npz` (arrays `l`, `w`: K × N, `b`).

use super::run::GcResults;
use crate::atomic::{write_atomic, write_text};
use crate::config::Config;
use crate::output::{diverged_list, metric, outcomes_of, summarise, summary_csv, Outcome};
use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// The final metrics of every instance as the shared summary code takes them.
pub fn outcomes(r: &GcResults) -> Vec<Outcome> {
    outcomes_of(
        r.instances
            .iter()
            .map(|i| (&i.spec, i.val, i.test, i.diverged_at)),
    )
}

/// Writes every result of a G-clusteron run into `dir`.
pub fn write_results(dir: &Path, cfg: &Config, r: &GcResults) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("states"))?;
    write_text(&dir.join("instances.csv"), &instances_csv(r))?;
    write_text(&dir.join("curves.csv"), &curves_csv(r))?;
    let outcomes = outcomes(r);
    let points = summarise(&outcomes);
    let baseline = r.baseline.as_ref().map(|b| {
        json!({"model": "logistic regression (L-BFGS)", "val_acc": b.val.acc, "test_acc": b.test.acc, "seconds": b.seconds})
    });
    let summary = json!({
        "name": cfg.name,
        "model": "gclusteron",
        "backend": r.backend,
        "wall_seconds": r.seconds,
        "unit_patterns": r.unit_patterns,
        "unit_patterns_per_second": r.unit_patterns / r.seconds.max(1e-9),
        "diverged": diverged_list(&outcomes),
        "points": points,
        "convergence": convergence(r, cfg),
        "logreg": baseline,
    });
    write_text(
        &dir.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    write_text(&dir.join("summary.csv"), &summary_csv(&points))?;
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

/// Per sweep point with a convergence window: how many instances converged, and the mean and
/// median of their iteration counts (spec §3.3).
pub fn convergence(r: &GcResults, cfg: &Config) -> Value {
    if cfg.protocol.converge_window.is_none() {
        return Value::Null;
    }
    let mut points: Vec<usize> = r.instances.iter().map(|i| i.spec.point).collect();
    points.dedup();
    Value::Array(
        points
            .into_iter()
            .map(|p| {
                let group: Vec<_> = r.instances.iter().filter(|i| i.spec.point == p).collect();
                let mut its: Vec<usize> = group.iter().filter_map(|i| i.converged_at).collect();
                its.sort_unstable();
                let mean = its.iter().sum::<usize>() as f64 / its.len().max(1) as f64;
                let median = match its.len() {
                    0 => None,
                    m if m % 2 == 1 => Some(its[m / 2] as f64),
                    m => Some((its[m / 2 - 1] + its[m / 2]) as f64 / 2.0),
                };
                json!({
                    "point": p,
                    "params": group[0].spec.swept.iter().cloned().collect::<serde_json::Map<_, _>>(),
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

/// `instances.csv`: one row per instance with its parameters, seed and final metrics
/// ([`crate::output::DIVERGED`] for an instance that diverged) and the training patterns it had
/// seen when it diverged (`diverged_at`, empty: it did not).
fn instances_csv(r: &GcResults) -> String {
    let mut s = String::from(
        "instance,point,seed,r,eta_l,eta_w,eta_b,batch_size,rule,error,optimiser,init,init_scale,\
         converged_at,val_acc,val_mse,test_acc,test_mse,diverged_at\n",
    );
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

/// `curves.csv`: one row per instance and evaluation point (epoch = patterns seen / training
/// set size), grouped by instance; the metrics of a point where the instance had diverged are
/// [`crate::output::DIVERGED`].
fn curves_csv(r: &GcResults) -> String {
    let mut s = String::from("instance,iteration,patterns,epoch,val_acc,val_mse\n");
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
