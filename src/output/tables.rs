//! Result tables: `instances.csv`, `curves.csv`, `summary.json`, and the
//! per-instance weights and traces.

use super::{write_text, write_trace, write_weights};
use crate::config::{Config, InstanceSpec};
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

/// Writes every result of a run into `dir` (created if needed). `config.json` is not among
/// them: `pyralnet run` writes it when the run starts, so `--resume` can check it.
pub fn write_results(dir: &Path, cfg: &Config, r: &Results) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("weights"))?;
    write_text(&dir.join("instances.csv"), &instances_csv(&r.instances))?;
    write_text(&dir.join("curves.csv"), &curves_csv(r))?;
    let summary = json!({
        "name": cfg.name,
        "backend": r.backend,
        "wall_seconds": r.seconds,
        "instance_steps": r.instance_steps,
        "instance_steps_per_second": r.instance_steps / r.seconds.max(1e-9),
        "points": summarise(&outcomes(&r.instances)),
    });
    write_text(
        &dir.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    write_text(
        &dir.join("summary.csv"),
        &summary_csv(&summarise(&outcomes(&r.instances))),
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
        for (res, t) in r.instances.iter().zip(&r.traces) {
            write_trace(
                &dir.join("traces")
                    .join(format!("instance_{}.npz", res.spec.index)),
                t,
            )?;
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

/// `curves.csv`: one row per instance and evaluation point, grouped by instance.
fn curves_csv(r: &Results) -> String {
    let mut s = String::from("instance,patterns,epoch,val_acc,val_mse,sp_ip,sp_pi\n");
    let mut curves: Vec<_> = r.curves.iter().collect();
    curves.sort_by_key(|c| (c.instance, c.patterns));
    for c in curves {
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
    s += ",n_seeds,val_acc_mean,val_acc_std,val_mse_mean,val_mse_std,test_acc_mean,test_acc_std,test_mse_mean,test_mse_std\n";
    for p in points {
        s += &p.point.to_string();
        for k in &keys {
            // list values (e.g. eta_up) are written with ';' so the CSV stays rectangular
            s += &format!(",{}", p.params[k.as_str()].to_string().replace(',', ";"));
        }
        s += &format!(",{}", p.seeds.len());
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

/// The final metrics of one instance: its spec, validation and test metrics.
pub type Outcome = (InstanceSpec, Metrics, Metrics);

/// The outcomes of a run's instances.
pub fn outcomes(rows: &[InstanceResult]) -> Vec<Outcome> {
    outcomes_of(rows.iter().map(|r| (&r.spec, r.val, r.test)))
}

/// Outcomes from (spec, validation, test) of each instance, whatever the model.
pub fn outcomes_of<'a>(
    rows: impl Iterator<Item = (&'a InstanceSpec, Metrics, Metrics)>,
) -> Vec<Outcome> {
    rows.map(|(s, v, t)| (s.clone(), v, t)).collect()
}

/// Mean ± std over seeds for each sweep point.
pub fn summarise(rows: &[Outcome]) -> Vec<Summary> {
    let mut points: Vec<usize> = rows.iter().map(|r| r.0.point).collect();
    points.sort_unstable();
    points.dedup();
    points
        .into_iter()
        .map(|point| {
            let group: Vec<&Outcome> = rows.iter().filter(|r| r.0.point == point).collect();
            let stat = |f: fn(&Outcome) -> Metrics, acc: bool| {
                let v: Vec<f64> = group
                    .iter()
                    .filter_map(|r| if acc { f(r).acc } else { f(r).mse })
                    .collect();
                Stat::of(&v)
            };
            Summary {
                point,
                params: group[0].0.swept.iter().cloned().collect(),
                seeds: group.iter().map(|r| r.0.params.seed).collect(),
                val_acc: stat(|r| r.1, true),
                val_mse: stat(|r| r.1, false),
                test_acc: stat(|r| r.2, true),
                test_mse: stat(|r| r.2, false),
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
