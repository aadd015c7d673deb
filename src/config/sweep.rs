//! Sweep expansion: the cartesian product of the `sweep` lists, times the seeds, gives the
//! instances of an experiment.

use super::{params, Config, ModelKind};
use crate::gclusteron::GcParams;
use crate::microcircuit::{InstanceParams, Shape, Transfer};
use anyhow::bail;
use serde_json::Value;

/// One instance of an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSpec {
    /// Position in the experiment (0-based).
    pub index: usize,
    /// Index of the sweep point (parameter combination) it belongs to.
    pub point: usize,
    /// The swept values of its point, in key order.
    pub swept: Vec<(String, Value)>,
    pub params: InstanceParams,
    /// The G-clusteron parameters (`"model": "gclusteron"`; `params` then holds only the seed).
    pub gc: Option<GcParams>,
}

/// The instances of an experiment, in order: sweep points (last key varying fastest), and for
/// each point every seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub shape: Shape,
    pub phi: Transfer,
    pub sweep_keys: Vec<String>,
    pub points: usize,
    pub instances: Vec<InstanceSpec>,
}

impl Plan {
    /// The deterministic slice `i` of `n` (0-based): a contiguous block of instances, the first
    /// `len % n` shards one instance longer. Instances keep their experiment-wide index.
    pub fn shard(&self, i: usize, n: usize) -> Plan {
        let len = self.instances.len();
        let (base, extra) = (len / n, len % n);
        let start = i * base + i.min(extra);
        let end = start + base + usize::from(i < extra);
        Plan {
            instances: self.instances[start..end].to_vec(),
            ..self.clone()
        }
    }
}

/// Names the key of a `params` block that serde refused (its own message does not, for values
/// of the wrong type).
fn params_error<P: serde::de::DeserializeOwned>(
    map: &serde_json::Map<String, Value>,
    e: &serde_json::Error,
) -> String {
    for (k, v) in map {
        let one = serde_json::Map::from_iter([(k.clone(), v.clone())]);
        if let Err(e1) = serde_json::from_value::<P>(Value::Object(one)) {
            return format!("params.{k}: {e1}");
        }
    }
    format!("params: {e}")
}

/// Expands `cfg` into its instances, validating each one's parameters.
pub fn expand(cfg: &Config) -> anyhow::Result<Plan> {
    let shape = cfg.shape();
    // A key may name several parameters joined by commas ("t_pattern,out_lag"): its values
    // are then lists with one value per name, varied together (zipped).
    let gc = cfg.model == ModelKind::Gclusteron;
    let keys = if gc { GcParams::keys() } else { params::keys() };
    let mut groups: Vec<(Vec<String>, &Vec<Value>)> = Vec::new();
    let mut swept_by: std::collections::BTreeMap<String, &str> = Default::default();
    for (key, values) in &cfg.sweep {
        let names: Vec<String> = key.split(',').map(|n| n.trim().to_string()).collect();
        for name in &names {
            if !keys.contains(name) {
                bail!(
                    "sweep.{key}: `{name}` is not a sweepable parameter; allowed: {}",
                    keys.join(", ")
                );
            }
            if let Some(other) = swept_by.insert(name.clone(), key) {
                bail!(
                    "sweep.{key}: `{name}` is swept by `{other}` already; sweep each parameter under one key"
                );
            }
        }
        if values.is_empty() {
            bail!("sweep.{key}: give at least one value");
        }
        if names.len() > 1 {
            for (i, v) in values.iter().enumerate() {
                if v.as_array().map(Vec::len) != Some(names.len()) {
                    bail!(
                        "sweep.{key}[{i}]: give a list of {} values, one for each of {}",
                        names.len(),
                        names.join(", ")
                    );
                }
            }
        }
        groups.push((names, values));
    }
    let keys: Vec<String> = groups.iter().flat_map(|(n, _)| n.clone()).collect();
    let sizes: Vec<usize> = groups.iter().map(|(_, v)| v.len()).collect();
    let points: usize = sizes.iter().product();
    let mut instances = Vec::with_capacity(points * cfg.seeds.len());
    for point in 0..points {
        let mut rest = point;
        let mut choice = vec![0; groups.len()];
        for k in (0..groups.len()).rev() {
            choice[k] = rest % sizes[k];
            rest /= sizes[k];
        }
        let mut map = cfg.params.clone();
        let mut swept = Vec::new();
        for ((names, values), &c) in groups.iter().zip(&choice) {
            let v = &values[c];
            let parts: Vec<Value> = match names.len() {
                1 => vec![v.clone()],
                _ => v.as_array().cloned().unwrap_or_default(),
            };
            for (name, part) in names.iter().zip(parts) {
                map.insert(name.clone(), part.clone());
                swept.push((name.clone(), part));
            }
        }
        let at = if swept.is_empty() {
            String::new()
        } else {
            let desc: Vec<String> = swept
                .iter()
                .map(|(k, v)| format!("{k}={}", param_text(v)))
                .collect();
            format!("sweep point {}: ", desc.join(", "))
        };
        for &seed in &cfg.seeds {
            let (params, gc) = if gc {
                let g: GcParams = serde_json::from_value(Value::Object(map.clone()))
                    .map_err(|e| anyhow::anyhow!("{at}{}", params_error::<GcParams>(&map, &e)))?;
                let params = InstanceParams {
                    seed,
                    ..Default::default()
                };
                (params, Some(g.resolve(seed, &at)?))
            } else {
                let pc: InstanceParams = serde_json::from_value(Value::Object(map.clone()))
                    .map_err(|e| {
                        anyhow::anyhow!("{at}{}", params_error::<InstanceParams>(&map, &e))
                    })?;
                let mut params = params::resolve(&pc, &shape, seed, &at)?;
                params.filter_start = cfg.protocol.filter_start;
                (params, None)
            };
            instances.push(InstanceSpec {
                index: instances.len(),
                point,
                swept: swept.clone(),
                params,
                gc,
            });
        }
    }
    Ok(Plan {
        shape,
        phi: cfg.network.phi,
        sweep_keys: keys,
        points,
        instances,
    })
}

/// A parameter value as printed to users (progress lines, warnings, errors, plot labels), in
/// one number format: whole numbers without a decimal point (`20`, `0`), others in their
/// shortest form (`0.0025`), in scientific notation below 1e-3 or from 1e6 on (`7.32e-4`,
/// `1e-5`); strings without quotes (`rule=B`), lists as `[a, b]`.
pub fn param_text(v: &Value) -> String {
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(x)) => number_text(x),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(param_text).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// `x` in the format of [`param_text`].
pub fn number_text(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 {
        "0".into()
    } else if x.is_finite() && (1e-3..1e6).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}
