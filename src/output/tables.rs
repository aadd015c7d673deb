//! Result tables: `config.json`, `instances.csv`, `curves.csv`, `summary.json`, and the
//! per-instance weights and traces.

use super::{write_text, write_trace, write_weights};
use crate::config::Config;
use crate::experiment::{InstanceResult, Metrics, Results};
use serde::Serialize;
use serde_json::{json, Value};
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
    pub val_acc: Option<Stat>,
    pub val_mse: Option<Stat>,
    pub test_acc: Option<Stat>,
    pub test_mse: Option<Stat>,
}

/// Writes every output of a run into `dir` (created if needed).
pub fn write_results(dir: &Path, cfg: &Config, r: &Results) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("weights"))?;
    write_text(
        &dir.join("config.json"),
        &(serde_json::to_string_pretty(cfg)? + "\n"),
    )?;
    write_text(&dir.join("instances.csv"), &instances_csv(&r.instances))?;
    write_text(&dir.join("curves.csv"), &curves_csv(r))?;
    let summary = json!({
        "name": cfg.name,
        "backend": r.backend,
        "wall_seconds": r.seconds,
        "instance_steps": r.instance_steps,
        "instance_steps_per_second": r.instance_steps / r.seconds.max(1e-9),
        "points": summarise(&r.instances),
    });
    write_text(
        &dir.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    for res in &r.instances {
        write_weights(
            &dir.join("weights")
                .join(format!("instance_{}.npz", res.spec.index)),
            &res.weights,
        )?;
    }
    if r.traces.iter().any(|t| !t.step.is_empty()) {
        std::fs::create_dir_all(dir.join("traces"))?;
        for (i, t) in r.traces.iter().enumerate() {
            write_trace(&dir.join("traces").join(format!("instance_{i}.npz")), t)?;
        }
    }
    Ok(())
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(";")
}

/// `instances.csv`: one row per instance with every parameter, the seed and the final metrics.
fn instances_csv(rows: &[InstanceResult]) -> String {
    let mut s = String::from(
        "instance,point,seed,gl,gb,ga,gd,gsom,dt,tau_w,tau0,t_pattern,learning_lag,out_lag,noise,bias,\
         eta_up,eta_pi,eta_ip,eta_down,init,init_up,init_down,init_pi,init_ip,reset_deltas,n_passes,n_exposures,\
         val_acc,val_mse,test_acc,test_mse\n",
    );
    for r in rows {
        let p = &r.spec.params;
        let init = serde_json::to_value(p.init)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
            num(r.val.acc),
            num(r.val.mse),
            num(r.test.acc),
            num(r.test.mse),
        );
    }
    s
}

/// `curves.csv`: one row per instance and evaluation point.
fn curves_csv(r: &Results) -> String {
    let mut s = String::from("instance,patterns,epoch,val_acc,val_mse,sp_ip,sp_pi\n");
    for c in &r.curves {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{}",
            c.instance,
            c.patterns,
            c.epoch,
            num(c.val.acc),
            num(c.val.mse),
            c.sp_ip,
            c.sp_pi
        );
    }
    s
}

/// Mean ± std over seeds for each sweep point.
pub fn summarise(rows: &[InstanceResult]) -> Vec<Summary> {
    let mut points: Vec<usize> = rows.iter().map(|r| r.spec.point).collect();
    points.sort_unstable();
    points.dedup();
    points
        .into_iter()
        .map(|point| {
            let group: Vec<&InstanceResult> =
                rows.iter().filter(|r| r.spec.point == point).collect();
            let stat = |f: fn(&InstanceResult) -> Metrics, acc: bool| {
                let v: Vec<f64> = group
                    .iter()
                    .filter_map(|r| if acc { f(r).acc } else { f(r).mse })
                    .collect();
                Stat::of(&v)
            };
            Summary {
                point,
                params: group[0].spec.swept.iter().cloned().collect(),
                seeds: group.iter().map(|r| r.spec.params.seed).collect(),
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
