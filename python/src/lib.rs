//! `pyralnet._pyralnet`: the Python face of the pyralnet library (PyO3). Nothing is simulated
//! here: the package stands on the library's entry point [`pyralnet::session`]: `run` is
//! [`pyralnet::session::run`], the code behind `pyralnet run`, `Simulator` a
//! [`pyralnet::session::Simulator`]; the data sets are the generators of `pyralnet dataset`. The Python layer (`pyralnet/__init__.py`) reads the run's output
//! folder back into numpy arrays.

use numpy::ndarray::{Array2, Array3, ArrayView3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray3};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyralnet::config::Config;
use pyralnet::microcircuit::backend::{Chunk, RecordSpec, Trace};
use pyralnet::microcircuit::full::cpu::{CpuKernel, State};
use pyralnet::microcircuit::Weights;
use pyralnet::num::Precision;
use pyralnet::session::{
    self, AllDiverged, BackendChoice, Hooks, Interrupted, RunSettings, SimulatorSettings,
};
use pyralnet::tasks::{bars, yinyang};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Inputs and targets, each (instances, patterns, width).
type Patterns<'py> = (Bound<'py, PyArray3<f64>>, Bound<'py, PyArray3<f64>>);

/// Features (samples × features) and integer labels of a data set.
type Labelled<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<i64>>);

/// Training patterns per backend call of `Simulator.train` (as in `pyralnet run`); Ctrl-C is
/// looked at between two calls.
const PIECE: usize = 200;

/// A library error as the Python exception a script can catch: a stop is `KeyboardInterrupt`,
/// a failed file operation `OSError`, everything else (bad config or arguments) `ValueError`,
/// each with the message the CLI prints after `error: `.
fn to_py(e: anyhow::Error) -> PyErr {
    let text = format!("{e:#}");
    if e.is::<Interrupted>() {
        PyKeyboardInterrupt::new_err(text)
    } else if e.chain().any(|c| c.is::<std::io::Error>()) {
        PyOSError::new_err(text)
    } else {
        PyValueError::new_err(text)
    }
}

/// A config from a file (`path`, named after it as in the CLI) or from JSON text (relative data
/// paths resolved in the working directory), with the folder its relative paths start from.
fn load_config(path: Option<&str>, json: Option<&str>) -> anyhow::Result<(Config, PathBuf)> {
    match (path, json) {
        (Some(p), None) => {
            let p = Path::new(p);
            Ok((Config::load(p)?, Config::base_dir(p)))
        }
        (None, Some(text)) => Ok((Config::from_json(text)?, PathBuf::new())),
        _ => anyhow::bail!("give the config as a path or as JSON text, not both"),
    }
}

/// Runs `work` on its own thread while this one, without the GIL, looks for signals every
/// 50 ms; on Ctrl-C it sets `stop`, waits for the work to stop cleanly and raises the
/// `KeyboardInterrupt`.
fn poll<T: Send + 'static>(
    py: Python<'_>,
    stop: Arc<AtomicBool>,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> PyResult<T> {
    let (done, mut result) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = done.send(work());
    });
    loop {
        // returns as soon as the work ends, so a short run pays no polling delay
        // the receiver goes to the GIL-free closure and back (it is `Send`, not `Sync`)
        let (got, back) = py.allow_threads(move || {
            let got = result.recv_timeout(Duration::from_millis(50));
            (got, result)
        });
        result = back;
        match got {
            Ok(r) => {
                let _ = py.allow_threads(|| handle.join());
                return r.map_err(to_py);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err("the run panicked"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(interrupt) = py.check_signals() {
            stop.store(true, Ordering::SeqCst);
            let _ = py.allow_threads(|| handle.join());
            return Err(interrupt);
        }
    }
}

fn backend_arg(name: &str) -> PyResult<BackendChoice> {
    match name {
        "auto" => Ok(BackendChoice::Auto),
        "cpu" => Ok(BackendChoice::Cpu),
        "gpu" => Ok(BackendChoice::Gpu),
        _ => Err(PyValueError::new_err(format!(
            "backend must be \"auto\", \"cpu\" or \"gpu\", got {name:?}"
        ))),
    }
}

fn cpu_kernel_arg(name: &str) -> PyResult<CpuKernel> {
    name.parse()
        .map_err(|e| PyValueError::new_err(format!("cpu_kernel: {e}")))
}

fn precision_arg(name: Option<&str>) -> PyResult<Option<Precision>> {
    match name {
        None => Ok(None),
        Some("f32") => Ok(Some(Precision::F32)),
        Some("f64") => Ok(Some(Precision::F64)),
        Some(p) => Err(PyValueError::new_err(format!(
            "precision must be \"f32\" or \"f64\", got {p:?}"
        ))),
    }
}

/// `pyralnet run CONFIG --out OUT --backend B [--precision P] --cpu-kernel K [--quiet]`, the
/// same code path: writes the outputs to `out`; the run's report lines go to stderr unless
/// `quiet`.
#[pyfunction]
#[pyo3(signature = (out, backend, precision, quiet, path=None, json=None, cpu_kernel="auto"))]
#[allow(clippy::too_many_arguments)]
fn run_to_folder(
    py: Python<'_>,
    out: String,
    backend: &str,
    precision: Option<&str>,
    quiet: bool,
    path: Option<String>,
    json: Option<String>,
    cpu_kernel: &str,
) -> PyResult<()> {
    let (cfg, base_dir) = load_config(path.as_deref(), json.as_deref()).map_err(to_py)?;
    let settings = RunSettings {
        out: Some(PathBuf::from(out)),
        precision: precision_arg(precision)?,
        backend: Some(backend_arg(backend)?),
        cpu_kernel: Some(cpu_kernel_arg(cpu_kernel)?),
        quiet,
        ..Default::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    poll(py, stop, move || {
        let hooks = Hooks {
            stop: flag,
            catch_signals: false,
            say: &mut |line| {
                if !quiet {
                    eprintln!("{line}");
                }
            },
        };
        // every instance diverged: the outputs are complete and mark it, the Result says so
        match session::run(&cfg, &base_dir, &settings, hooks) {
            Err(e) if e.is::<AllDiverged>() => Ok(()),
            other => other,
        }
    })
}

/// The config's first `n` training patterns of every instance, in the order `run` trains them:
/// `(x, y)` of shapes (instances, n, n_in) and (instances, n, n_out).
#[pyfunction]
#[pyo3(signature = (n, path=None, json=None))]
fn training_patterns<'py>(
    py: Python<'py>,
    n: usize,
    path: Option<String>,
    json: Option<String>,
) -> PyResult<Patterns<'py>> {
    let (cfg, base_dir) = load_config(path.as_deref(), json.as_deref()).map_err(to_py)?;
    let plan = cfg.plan().map_err(to_py)?;
    let chunk = session::training_patterns(&cfg, &base_dir, n).map_err(to_py)?;
    let (n_in, n_out) = (plan.shape.dims[0], *plan.shape.dims.last().unwrap_or(&0));
    Ok((stack(py, &chunk.x, n_in)?, stack(py, &chunk.y, n_out)?))
}

/// Per-instance row-major (patterns × width) values as an (instances, patterns, width) array.
fn stack<'py>(
    py: Python<'py>,
    rows: &[Vec<f64>],
    width: usize,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let patterns = rows.first().map_or(0, |r| r.len() / width.max(1));
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Array3::from_shape_vec((rows.len(), patterns, width), flat)
        .map(|a| a.into_pyarray(py))
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// `(x, labels)` of a generated data set as `pyralnet dataset` writes it.
fn dataset_arrays<'py>(py: Python<'py>, ds: pyralnet::tasks::Dataset) -> PyResult<Labelled<'py>> {
    let labels: Vec<i64> = ds
        .labels
        .as_ref()
        .map(|l| l.iter().map(|&c| c as i64).collect())
        .unwrap_or_default();
    let x = Array2::from_shape_vec((ds.len(), ds.n_in), ds.x)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((x.into_pyarray(py), labels.into_pyarray(py)))
}

/// The Yin-Yang set of `pyralnet dataset yinyang --seed SEED --size SIZE`.
#[pyfunction]
#[pyo3(signature = (seed=42, size=5000))]
fn yinyang_set(py: Python<'_>, seed: u32, size: usize) -> PyResult<Labelled<'_>> {
    if size == 0 {
        return Err(PyValueError::new_err("size must be at least 1"));
    }
    let ds = yinyang::generate(seed, size, yinyang::R_SMALL, yinyang::R_BIG, 1.0, 0.1);
    dataset_arrays(py, ds)
}

/// The Bars set of `pyralnet dataset bars --seed SEED --size SIZE --noise NOISE`.
#[pyfunction]
#[pyo3(signature = (seed=42, size=5000, noise=0.0))]
fn bars_set(py: Python<'_>, seed: u32, size: usize, noise: f64) -> PyResult<Labelled<'_>> {
    if size == 0 {
        return Err(PyValueError::new_err("size must be at least 1"));
    }
    if !(0.0..=1.0).contains(&noise) {
        return Err(PyValueError::new_err(format!(
            "noise must be in [0, 1], got {noise}"
        )));
    }
    dataset_arrays(py, bars::generate(u64::from(seed), size, noise, 1.0, 0.1))
}

/// The dynamic state of every instance of a `Simulator` (opaque; give it to `restore`).
#[pyclass(module = "pyralnet")]
struct SimState(Vec<State<f64>>);

/// The batch of a config's instances on one backend, driven pattern by pattern from numpy.
#[pyclass(module = "pyralnet")]
struct Simulator {
    /// In a mutex only because Python objects must be `Sync`; `&mut self` reaches it unlocked.
    sim: std::sync::Mutex<session::Simulator>,
}

impl Simulator {
    fn sim(&mut self) -> &mut session::Simulator {
        // a panic inside a backend call poisons the mutex; its state is then still the one
        // the backend left, as with any error
        match self.sim.get_mut() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn plan(&mut self) -> &pyralnet::config::Plan {
        self.sim().plan()
    }

    fn n_in(&mut self) -> usize {
        self.plan().shape.dims[0]
    }
    fn n_out(&mut self) -> usize {
        *self.plan().shape.dims.last().unwrap_or(&0)
    }

    /// `a` (instances, patterns, width) as per-instance rows, after checking its shape.
    fn rows(&mut self, a: ArrayView3<f64>, width: usize, what: &str) -> PyResult<Vec<Vec<f64>>> {
        let (i, _, w) = a.dim();
        let instances = self.plan().instances.len();
        if i != instances || w != width {
            return Err(PyValueError::new_err(format!(
                "{what} must have shape (instances={instances}, patterns, {width}), got {:?}",
                a.shape()
            )));
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "{what} holds non-finite values"
            )));
        }
        Ok(a.outer_iter()
            .map(|m| m.iter().copied().collect())
            .collect())
    }

    /// Feeds `chunk` to the backend in pieces of [`PIECE`] patterns without the GIL, looking
    /// for Ctrl-C between pieces, and returns the readouts as an (instances, patterns, n_out)
    /// array.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: Chunk,
        train: bool,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let (n_in, n_out) = (self.n_in(), self.n_out());
        let patterns = chunk.patterns(n_in);
        let mut out: Vec<Vec<f64>> = vec![Vec::new(); chunk.x.len()];
        let mut start = 0;
        while start < patterns {
            let end = (start + PIECE).min(patterns);
            let piece = Chunk {
                x: chunk
                    .x
                    .iter()
                    .map(|x| x[start * n_in..end * n_in].to_vec())
                    .collect(),
                y: chunk
                    .y
                    .iter()
                    .map(|y| y[start * n_out..end * n_out].to_vec())
                    .collect(),
            };
            let sim = self.sim();
            let r = py
                .allow_threads(|| match train {
                    true => sim.train(&piece),
                    false => sim.backend().evaluate(&piece),
                })
                .map_err(to_py)?;
            for (o, r) in out.iter_mut().zip(r) {
                o.extend(r);
            }
            start = end;
            if end < patterns {
                py.check_signals()?;
            }
        }
        stack(py, &out, n_out)
    }
}

#[pymethods]
impl Simulator {
    #[new]
    #[pyo3(signature = (backend="cpu", precision=None, path=None, json=None))]
    fn new(
        py: Python<'_>,
        backend: &str,
        precision: Option<&str>,
        path: Option<String>,
        json: Option<String>,
    ) -> PyResult<Self> {
        let (cfg, base_dir) = load_config(path.as_deref(), json.as_deref()).map_err(to_py)?;
        let settings = SimulatorSettings {
            backend: match backend {
                "cpu" => BackendChoice::Cpu,
                "gpu" => BackendChoice::Gpu,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "backend must be \"cpu\" or \"gpu\", got {backend:?}"
                    )))
                }
            },
            precision: precision_arg(precision)?,
            ..Default::default()
        };
        let sim = py
            .allow_threads(|| session::Simulator::open(&cfg, &base_dir, &settings))
            .map_err(to_py)?;
        Ok(Simulator {
            sim: std::sync::Mutex::new(sim),
        })
    }

    /// Records the training stream of every later `train` call: every `stride`-th Euler step
    /// (of the global step count, as `pyralnet run --record --record-stride STRIDE` does), the
    /// arrays `u_out`, `u_tgt`, `r0` and, with `all_compartments`, `layer<l>.u_p` and
    /// `layer<l>.u_i`; `traces()` gives them. `None` stops recording. The backend is opened
    /// again with the recording and given the current state (the same bits as going on without
    /// the call); the samples not yet taken by `traces()` are dropped. Only the full model
    /// records (ValueError for the steady model).
    #[pyo3(signature = (stride, all_compartments=false))]
    fn record(
        &mut self,
        py: Python<'_>,
        stride: Option<usize>,
        all_compartments: bool,
    ) -> PyResult<()> {
        let spec = match stride {
            None => RecordSpec::default(),
            Some(0) => {
                return Err(PyValueError::new_err(
                    "stride must be at least 1 (None stops recording)",
                ))
            }
            Some(stride) => RecordSpec {
                stride,
                all_compartments,
            },
        };
        let sim = self.sim();
        py.allow_threads(|| sim.record(spec)).map_err(to_py)
    }

    /// The samples recorded by `train` since `record()` or the last `traces()` call (which
    /// they are taken from): one dict per instance with the arrays `pyralnet run --record`
    /// writes to `traces/instance_<i>.npz`: `step` (uint64, the global Euler step of each
    /// sample) and (samples, width) float64 arrays `u_out`, `u_tgt`, `r0` (and `layer<l>.u_p`,
    /// `layer<l>.u_i` with `all_compartments`); only `step`, empty, before the first sample.
    fn traces<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let all = self.sim().take_traces();
        all.iter().map(|t| trace_dict(py, t)).collect()
    }

    /// The backend's name, e.g. `cpu-f64 reference (2 threads)`.
    #[getter]
    fn backend_name(&mut self) -> String {
        self.sim().backend().name()
    }

    /// Number of instances in the batch.
    #[getter]
    fn instances(&mut self) -> usize {
        self.plan().instances.len()
    }

    /// Trains every instance on its patterns `x` (instances, patterns, n_in) with targets `y`
    /// (instances, patterns, n_out) and returns the (nudged) readouts.
    fn train<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArray3<'py, f64>,
        y: PyReadonlyArray3<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let (xs, ys) = (x.as_array(), y.as_array());
        if xs.dim().1 != ys.dim().1 {
            return Err(PyValueError::new_err(format!(
                "x has {} patterns per instance, y {}",
                xs.dim().1,
                ys.dim().1
            )));
        }
        let (n_in, n_out) = (self.n_in(), self.n_out());
        let chunk = Chunk {
            x: self.rows(xs, n_in, "x")?,
            y: self.rows(ys, n_out, "y")?,
        };
        self.feed(py, chunk, true)
    }

    /// Readouts of the patterns `x` (instances, patterns, n_in) without nudging, plasticity or
    /// noise; the state is left unchanged.
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArray3<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let xs = x.as_array();
        let (n_in, n_out) = (self.n_in(), self.n_out());
        let x = self.rows(xs, n_in, "x")?;
        let y = vec![vec![0.0; xs.dim().1 * n_out]; x.len()];
        self.feed(py, Chunk { x, y }, false)
    }

    /// The weights of every instance: one dict per instance, array names as in the .npz files
    /// (`layer0.W_up`, ...).
    fn weights<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let all = self.sim().backend().weights().map_err(to_py)?;
        all.iter().map(|w| weights_dict(py, w)).collect()
    }

    /// Replaces the weights of every instance (one dict per instance, every array of
    /// `weights()` present with its shape); the rest of the state is kept.
    fn set_weights(&mut self, weights: Vec<Bound<'_, PyDict>>) -> PyResult<()> {
        let mut states = self.sim().backend().snapshot().map_err(to_py)?;
        if weights.len() != states.len() {
            return Err(PyValueError::new_err(format!(
                "give one dict per instance ({}), got {}",
                states.len(),
                weights.len()
            )));
        }
        for (s, d) in states.iter_mut().zip(&weights) {
            set_from_dict(&mut s.w, d)?;
        }
        self.sim().backend().restore(&states).map_err(to_py)
    }

    /// The full dynamic state of every instance.
    fn state(&mut self) -> PyResult<SimState> {
        Ok(SimState(self.sim().backend().snapshot().map_err(to_py)?))
    }

    /// Puts every instance back into a state taken by `state()`.
    fn restore(&mut self, state: &SimState) -> PyResult<()> {
        self.sim().backend().restore(&state.0).map_err(to_py)
    }
}

/// A trace as the arrays `write_trace` puts into `traces/instance_<i>.npz`.
fn trace_dict<'py>(py: Python<'py>, t: &Trace) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("step", t.step.clone().into_pyarray(py))?;
    for (name, width, values) in &t.arrays {
        let a = Array2::from_shape_vec((values.len() / (*width).max(1), *width), values.clone())
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        d.set_item(name, a.into_pyarray(py))?;
    }
    Ok(d)
}

fn weights_dict<'py>(py: Python<'py>, w: &Weights<f64>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, m) in w.named() {
        let a = Array2::from_shape_vec((m.rows, m.cols), m.data.clone())
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        d.set_item(name, a.into_pyarray(py))?;
    }
    Ok(d)
}

/// Copies the arrays of `d` into `w`: the same names, shapes and finite values only.
fn set_from_dict(w: &mut Weights<f64>, d: &Bound<'_, PyDict>) -> PyResult<()> {
    let names: Vec<String> = w.named().into_iter().map(|(n, _)| n).collect();
    if d.len() != names.len() {
        return Err(PyValueError::new_err(format!(
            "a weights dict holds the arrays {}",
            names.join(", ")
        )));
    }
    for name in &names {
        let item = d
            .get_item(name)?
            .ok_or_else(|| PyValueError::new_err(format!("array `{name}` is missing")))?;
        let a: numpy::PyReadonlyArray2<f64> = item.extract()?;
        let a = a.as_array();
        let m = w.get_mut(name).expect("named matrix exists");
        if a.dim() != (m.rows, m.cols) {
            return Err(PyValueError::new_err(format!(
                "array `{name}` has shape {:?}, expected ({}, {})",
                a.dim(),
                m.rows,
                m.cols
            )));
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "array `{name}` holds non-finite values"
            )));
        }
        m.data = a.iter().copied().collect();
    }
    Ok(())
}

#[pymodule]
fn _pyralnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // see `quiet_device_select` in the CLI's main: Mesa's device-select layer is not needed
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    m.add_function(wrap_pyfunction!(run_to_folder, m)?)?;
    m.add_function(wrap_pyfunction!(training_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(yinyang_set, m)?)?;
    m.add_function(wrap_pyfunction!(bars_set, m)?)?;
    m.add_class::<Simulator>()?;
    m.add_class::<SimState>()?;
    Ok(())
}
