//! Experiment configs (JSON): schema, validation with errors that name the key, and sweep
//! expansion into instances. Nothing runs before a config has passed [`Config::load`] and
//! [`Config::plan`].

mod params;
mod sweep;
mod task;

pub use sweep::{number_text, param_text, InstanceSpec, Plan};
pub use task::{FileTargets, NpyPair, TargetsConfig, TaskConfig};

use crate::microcircuit::{FilterStart, Transfer};
use crate::num::Precision;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which model the instances integrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Forward-Euler integration of the full dynamics (MODEL.md sections 2–4).
    Full,
    /// The steady-state approximation "SteadNet" (MODEL.md section 7): per pattern, relax with
    /// `params.n_passes` sweeps of fixed points, then one plasticity step, `params.n_exposures`
    /// times.
    Steady,
    /// The gradient clusteron (GCLUSTERON.md): `params` is a [`crate::gclusteron::GcParams`]
    /// block, the `gclusteron` block sets the readout, `protocol.iterations` the minibatch steps.
    Gclusteron,
}

/// The network shared by all instances of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Layer sizes `[n0, n1, ..., nN]`.
    pub dims: Vec<usize>,
    /// Transfer function φ, e.g. `{"name": "sigmoid"}` (the default).
    #[serde(default = "sigmoid")]
    pub phi: Transfer,
    /// Append a bias unit (constant rate `params.bias`) to every W_up and W_ip input.
    #[serde(default)]
    pub bias: bool,
}

fn sigmoid() -> Transfer {
    Transfer::Sigmoid
}

/// Training and evaluation schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Passes over the training set (microcircuit models).
    #[serde(default)]
    pub epochs: usize,
    /// Minibatch steps (G-clusteron; the authors' "epochs").
    #[serde(default)]
    pub iterations: Option<usize>,
    /// Training patterns (G-clusteron: iterations) between evaluations on the validation set
    /// (default: one epoch; G-clusteron: only at the end).
    #[serde(default)]
    pub eval_every: Option<usize>,
    /// G-clusteron: stop an instance once its last N validation tests (one after every
    /// iteration) were all correct (the XOR criterion, N = 10).
    #[serde(default)]
    pub converge_window: Option<usize>,
    /// Shuffle the training set every epoch with the instance's seed (false keeps file order).
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Evaluate on the validation set before any training (curve point at 0 patterns).
    #[serde(default = "yes")]
    pub eval_at_start: bool,
    /// Where the stimulus filter starts: `"first"` (the first training pattern, as the seed
    /// code; the default) or `"zero"`. The steady-state model has no filter and ignores it.
    #[serde(default, deserialize_with = "filter_start")]
    pub filter_start: FilterStart,
}

/// `protocol.filter_start` as `"first"` or `"zero"`, with an error that names the key.
fn filter_start<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FilterStart, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    match v.as_str() {
        Some("first") => Ok(FilterStart::First),
        Some("zero") => Ok(FilterStart::Zero),
        _ => Err(D::Error::custom(format!(
            "protocol.filter_start: must be \"first\" or \"zero\", got {v}"
        ))),
    }
}

fn yes() -> bool {
    true
}

/// A whole experiment config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name used in outputs (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "full")]
    pub model: ModelKind,
    #[serde(default)]
    pub precision: Precision,
    pub network: NetworkConfig,
    /// Parameters of every instance (MODEL.md sections 2–5); sweeps override them.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    pub task: TaskConfig,
    #[serde(default)]
    pub targets: TargetsConfig,
    pub protocol: ProtocolConfig,
    /// Lists of values per parameter, combined as a cartesian product.
    #[serde(default, deserialize_with = "unique_sweep_keys")]
    pub sweep: BTreeMap<String, Vec<serde_json::Value>>,
    /// One instance per seed and sweep point: a list, or `{"from": a, "count": n}` for the
    /// seeds a, a+1, …, a+n−1 (kept as the list in the resolved config).
    #[serde(default = "default_seeds", deserialize_with = "seeds_list_or_range")]
    pub seeds: Vec<u64>,
    /// Batch-wide settings of `"model": "gclusteron"` (readout, z-scoring, baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclusteron: Option<crate::gclusteron::GcConfig>,
}

fn full() -> ModelKind {
    ModelKind::Full
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// Most instances (sweep points × seeds) one config may have: its plan holds every instance's
/// parameters (a few hundred bytes each) in memory.
pub const MAX_INSTANCES: usize = 1_000_000;

/// Most weights one instance may have (~56 bytes of host memory each while it runs, so about
/// 56 GiB at the limit; [784,500,10] has 0.4 M).
pub const MAX_WEIGHTS: usize = 1 << 30;

/// `seeds` as a list of integers or as a range `{"from": a, "count": n}` (at most
/// [`MAX_INSTANCES`] seeds).
fn seeds_list_or_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Range {
        from: u64,
        count: u64,
    }
    let allowed = "seeds must be a list of non-negative integers such as [0, 1, 2], or a \
                   range such as {\"from\": 0, \"count\": 1000}";
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| D::Error::custom(format!("seeds: {v} is not a seed; {allowed}")))
            })
            .collect(),
        v @ serde_json::Value::Object(_) => {
            let r = Range::deserialize(v)
                .map_err(|e| D::Error::custom(format!("seeds: {e}; {allowed}")))?;
            if r.count > MAX_INSTANCES as u64 {
                return Err(D::Error::custom(format!(
                    "seeds: count {} is more than the limit of {MAX_INSTANCES} instances per config; split the seeds over several configs",
                    r.count
                )));
            }
            let end = r.from.checked_add(r.count).ok_or_else(|| {
                D::Error::custom(format!("seeds: from + count overflows; {allowed}"))
            })?;
            Ok((r.from..end).collect())
        }
        v => Err(D::Error::custom(format!("seeds: got {v}; {allowed}"))),
    }
}

/// The `sweep` object, refusing a key given twice (a JSON map would keep only the last).
fn unique_sweep_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<serde_json::Value>>, D::Error> {
    use serde::de::{Error, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = BTreeMap<String, Vec<serde_json::Value>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("sweep: an object of parameter names and lists of values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = m.next_key::<String>()? {
                let values: Vec<serde_json::Value> = m.next_value()?;
                if out.insert(key.clone(), values).is_some() {
                    return Err(A::Error::custom(format!(
                        "sweep.{key}: the key is given twice; give each parameter once, with all its values in one list"
                    )));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(Keys)
}

impl Config {
    /// Reads and validates a config file; its data files (csv, npy) are read relative to the
    /// file's folder, as the run reads them ([`Config::base_dir`]). Errors name the file and
    /// the offending key.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        Config::read(path, Some(&Config::base_dir(path)))
    }

    /// Reads the resolved `config.json` of a run folder for what it describes (sweep, shape,
    /// task): its data files are not read, since their paths are relative to the folder of the
    /// config the run started from, not to the run folder.
    pub fn load_resolved(path: &Path) -> anyhow::Result<Config> {
        Config::read(path, None)
    }

    /// The folder relative data paths of the config file `path` are taken from: its own.
    pub fn base_dir(path: &Path) -> PathBuf {
        path.parent().map(PathBuf::from).unwrap_or_default()
    }

    fn read(path: &Path, files: Option<&Path>) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut cfg =
            Config::parse(&text, files).with_context(|| format!("config {}", path.display()))?;
        if cfg.name.is_none() {
            cfg.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(cfg)
    }

    /// Parses and validates config text; relative data paths are read from the current
    /// directory.
    pub fn from_json(text: &str) -> anyhow::Result<Config> {
        Config::from_json_in(text, Path::new(""))
    }

    /// Parses and validates config text; relative data paths are read from `base`.
    pub fn from_json_in(text: &str, base: &Path) -> anyhow::Result<Config> {
        Config::parse(text, Some(base))
    }

    /// Parses and validates config text, reading its data files from `files` when given.
    fn parse(text: &str, files: Option<&Path>) -> anyhow::Result<Config> {
        let cfg: Config = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.validate(files)?;
        cfg.plan()?;
        Ok(cfg)
    }

    /// Checks everything that does not depend on a single instance's parameters (data files
    /// read from the folder `files`, not at all without one).
    fn validate(&self, files: Option<&Path>) -> anyhow::Result<()> {
        let shape = self.shape();
        shape
            .validate()
            .map_err(|e| anyhow::anyhow!("network.dims: {e}"))?;
        match shape.n_weights() {
            Some(w) if w <= MAX_WEIGHTS => {}
            w => bail!(
                "network.dims {:?}: {} weights per instance, more than the limit of {MAX_WEIGHTS} \
                 (each needs about 56 bytes of host memory while it runs: weights, Δ, copies); \
                 use smaller layers",
                self.network.dims,
                w.map_or("more than 2^64".into(), |w| w.to_string())
            ),
        }
        if let Transfer::ScaledSoftplus { gamma, beta, theta } = self.network.phi {
            for (k, v) in [("gamma", gamma), ("beta", beta), ("theta", theta)] {
                if !v.is_finite() {
                    bail!("network.phi.{k}: must be a finite number, got {v}");
                }
            }
        }
        self.validate_model()?;
        if self.protocol.eval_every == Some(0) {
            bail!(
                "protocol.eval_every: must be at least 1 pattern (or left out for once per epoch)"
            );
        }
        if self.seeds.is_empty() {
            bail!("seeds: give at least one seed");
        }
        // seeds beyond the limit are refused while reading (seeds_list_or_range); the sweep
        // product is counted before anything is expanded
        let mut points: usize = 1;
        for (key, values) in &self.sweep {
            points = points.saturating_mul(values.len());
            if points.saturating_mul(self.seeds.len()) > MAX_INSTANCES {
                bail!(
                    "sweep: the sweep up to `{key}` has {points} points, which with {} seeds is more than the limit of {MAX_INSTANCES} instances per config; split the sweep over several configs",
                    self.seeds.len()
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            bail!("seeds: seed {s} is listed twice");
        }
        self.targets.validate()?;
        self.task.validate(&shape, files)?;
        Ok(())
    }

    /// The checks that differ between the microcircuit models and the G-clusteron.
    fn validate_model(&self) -> anyhow::Result<()> {
        let p = &self.protocol;
        if self.model != ModelKind::Gclusteron {
            if self.gclusteron.is_some() {
                bail!("gclusteron: this block is only read with \"model\": \"gclusteron\"");
            }
            if p.iterations.is_some() || p.converge_window.is_some() {
                bail!("protocol.iterations and protocol.converge_window are only read with \"model\": \"gclusteron\"; use protocol.epochs");
            }
            if p.epochs == 0 {
                bail!("protocol.epochs: must be at least 1");
            }
            return Ok(());
        }
        if p.epochs != 0 {
            bail!(
                "protocol.epochs: the G-clusteron counts minibatch steps; use protocol.iterations"
            );
        }
        match p.iterations {
            None | Some(0) => {
                bail!("protocol.iterations: give the number of minibatch steps (at least 1)")
            }
            Some(_) => {}
        }
        if p.converge_window == Some(0) {
            bail!("protocol.converge_window: must be at least 1 iteration");
        }
        if self.network.dims.len() != 2 {
            bail!(
                "network.dims: the G-clusteron takes [inputs, classes], got {:?}",
                self.network.dims
            );
        }
        if self.network.phi != Transfer::Sigmoid {
            bail!("network.phi: the G-clusteron's binary units use the sigmoid; leave phi out");
        }
        self.gc_config().validate(self.network.dims[1])
    }

    /// The `gclusteron` block (defaults when left out).
    pub fn gc_config(&self) -> crate::gclusteron::GcConfig {
        self.gclusteron.clone().unwrap_or_default()
    }

    /// The network shape.
    pub fn shape(&self) -> crate::microcircuit::Shape {
        crate::microcircuit::Shape::new(self.network.dims.clone(), self.network.bias)
    }

    /// Expands the sweep into instances and validates each one's parameters.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        sweep::expand(self)
    }
}
