//! The `task` and `targets` blocks: which data every instance learns, and how class labels become
//! target potentials.

use crate::microcircuit::{InstanceParams, Shape, Transfer};
use crate::seed::{purpose, sub_seed};
use crate::tasks::{bars, files, idx, mimic, yinyang, Dataset, TaskData};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Target soma potentials of classification tasks (MODEL.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsConfig {
    /// Target of the true class.
    pub u_high: f64,
    /// Target of every other class.
    pub u_low: f64,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        TargetsConfig {
            u_high: 1.0,
            u_low: 0.1,
        }
    }
}

impl TargetsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.u_high.is_finite() && self.u_low.is_finite()) {
            bail!("targets.u_high and targets.u_low must be finite numbers");
        }
        Ok(())
    }
}

/// How file data sets encode their targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileTargets {
    /// One integer class label per row (classification).
    Labels,
    /// The last `n_out` columns are regression targets.
    Regression,
}

/// A pair of `.npy` files: features (2-D) and labels (1-D integers) or targets (2-D floats).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpyPair {
    pub x: PathBuf,
    pub y: PathBuf,
}

/// The data every instance learns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskConfig {
    /// Yin-Yang (Kriener et al. 2021), generated bit-exactly like the official generator.
    /// Defaults are the standard sets: train 5000 seed 42, validation 1000 seed 41, test 1000 seed 40.
    Yinyang {
        #[serde(default = "d5000")]
        train_size: usize,
        #[serde(default = "d1000")]
        val_size: usize,
        #[serde(default = "d1000")]
        test_size: usize,
        #[serde(default = "d42")]
        train_seed: u32,
        #[serde(default = "d41")]
        val_seed: u32,
        #[serde(default = "d40")]
        test_seed: u32,
    },
    /// Teacher–student regression: a random teacher of the network's own shape (no bias).
    /// The teacher and the inputs come from `seed` if given, else from each instance's seed.
    Mimic {
        train_size: usize,
        val_size: usize,
        #[serde(default)]
        test_size: usize,
        #[serde(default)]
        seed: Option<u64>,
        /// Teacher weights are U(-teacher_scale, teacher_scale).
        #[serde(default = "one")]
        teacher_scale: f64,
    },
    /// Bars: 3×3 images, horizontal / vertical / diagonal.
    Bars {
        train_size: usize,
        val_size: usize,
        test_size: usize,
        #[serde(default)]
        noise: f64,
        #[serde(default)]
        seed: u64,
    },
    /// XOR: the four patterns (0,0), (1,0), (0,1), (1,1) with classes 0, 1, 1, 0, as the
    /// training, validation and test set alike.
    Xor,
    /// CSV files: feature columns, then an integer label (or `n_out` regression targets).
    Csv {
        train: PathBuf,
        #[serde(default)]
        validation: Option<PathBuf>,
        #[serde(default)]
        test: Option<PathBuf>,
        #[serde(default = "labels")]
        targets: FileTargets,
    },
    /// MNIST from IDX files in `data_dir` (raw or `.gz`; relative to the config file).
    /// Validation is the last `val_size` items of the training file, training the first
    /// `train_size` items before them (default all), test the first `test_size` of the test file.
    Mnist {
        data_dir: PathBuf,
        #[serde(default)]
        train_size: Option<usize>,
        #[serde(default = "d10000")]
        val_size: usize,
        #[serde(default)]
        test_size: Option<usize>,
    },
    /// Fashion-MNIST, like `mnist`; `data_dir` defaults to where Debian's
    /// `dataset-fashion-mnist` package puts the files.
    FashionMnist {
        #[serde(default = "fashion_dir")]
        data_dir: PathBuf,
        #[serde(default)]
        train_size: Option<usize>,
        #[serde(default = "d10000")]
        val_size: usize,
        #[serde(default)]
        test_size: Option<usize>,
    },
    /// `.npy` files.
    Npy {
        train: NpyPair,
        #[serde(default)]
        validation: Option<NpyPair>,
        #[serde(default)]
        test: Option<NpyPair>,
        #[serde(default = "labels")]
        targets: FileTargets,
    },
}

fn d5000() -> usize {
    5000
}
fn d1000() -> usize {
    1000
}
fn d10000() -> usize {
    10000
}
/// Where Debian's `dataset-fashion-mnist` package installs the IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist/";
fn fashion_dir() -> PathBuf {
    PathBuf::from(FASHION_MNIST_DIR)
}
fn d42() -> u32 {
    42
}
fn d41() -> u32 {
    41
}
fn d40() -> u32 {
    40
}
fn one() -> f64 {
    1.0
}
fn labels() -> FileTargets {
    FileTargets::Labels
}

impl TaskConfig {
    /// Checks sizes and that the network's input and output widths fit the task; the data
    /// files of a csv or npy task are read relative to `files` (not at all without it).
    pub fn validate(&self, shape: &Shape, files: Option<&Path>) -> anyhow::Result<()> {
        let (n_in, n_out) = (shape.n_in(), shape.n_out());
        let fixed = |name: &str, want_in: usize, want_out: usize| {
            if n_in != want_in || n_out != want_out {
                bail!(
                    "network.dims {:?} do not fit task {name}: it needs {want_in} inputs and {want_out} outputs",
                    shape.dims
                );
            }
            Ok(())
        };
        match self {
            TaskConfig::Yinyang { train_size, .. } => {
                positive("task.train_size", *train_size)?;
                fixed("yinyang", 4, 3)
            }
            TaskConfig::Bars {
                train_size, noise, ..
            } => {
                positive("task.train_size", *train_size)?;
                if !(noise.is_finite() && (0.0..=1.0).contains(noise)) {
                    bail!("task.noise must be in [0, 1], got {noise}");
                }
                fixed("bars", 9, 3)
            }
            TaskConfig::Xor => fixed("xor", 2, 2),
            TaskConfig::Mimic {
                train_size,
                teacher_scale,
                ..
            } => {
                positive("task.train_size", *train_size)?;
                if !(teacher_scale.is_finite() && *teacher_scale > 0.0) {
                    bail!("task.teacher_scale must be a finite number > 0, got {teacher_scale}");
                }
                Ok(())
            }
            TaskConfig::Mnist {
                train_size,
                test_size,
                ..
            }
            | TaskConfig::FashionMnist {
                train_size,
                test_size,
                ..
            } => {
                // The files are read (and checked) when the experiment runs.
                if let Some(n) = train_size {
                    positive("task.train_size", *n)?;
                }
                if let Some(n) = test_size {
                    positive("task.test_size", *n)?;
                }
                fixed(self.name(), 784, idx::N_CLASSES)
            }
            TaskConfig::Csv { .. } | TaskConfig::Npy { .. } => {
                // Loading checks the files and the widths, from the folder the run reads them.
                let Some(base) = files else {
                    return Ok(());
                };
                let data = self.load_files(shape, &TargetsConfig::default(), base)?;
                check_width(&data.train, shape, "task.train")
            }
        }
    }

    /// Whether the data depend on the instance (mimic without a fixed seed), so must be built per instance.
    pub fn per_instance(&self) -> bool {
        matches!(self, TaskConfig::Mimic { seed: None, .. })
    }

    /// Builds the data sets of one instance. Relative file paths are taken from `base`.
    pub fn load(
        &self,
        shape: &Shape,
        phi: Transfer,
        p: &InstanceParams,
        targets: &TargetsConfig,
        base: &Path,
    ) -> anyhow::Result<TaskData> {
        let (hi, lo) = (targets.u_high, targets.u_low);
        Ok(match self {
            TaskConfig::Yinyang {
                train_size,
                val_size,
                test_size,
                train_seed,
                val_seed,
                test_seed,
            } => {
                let gen = |seed, size| yinyang::generate(seed, size, 0.1, 0.5, hi, lo);
                TaskData {
                    train: gen(*train_seed, *train_size),
                    val: gen(*val_seed, *val_size),
                    test: gen(*test_seed, *test_size),
                }
            }
            TaskConfig::Bars {
                train_size,
                val_size,
                test_size,
                noise,
                seed,
            } => TaskData {
                train: bars::generate(sub_seed(*seed, 1), *train_size, *noise, hi, lo),
                val: bars::generate(sub_seed(*seed, 2), *val_size, *noise, hi, lo),
                test: bars::generate(sub_seed(*seed, 3), *test_size, *noise, hi, lo),
            },
            TaskConfig::Xor => {
                let x = vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
                let set = Dataset::classification(2, x, vec![0, 1, 1, 0], 2, hi, lo);
                TaskData {
                    train: set.clone(),
                    val: set.clone(),
                    test: set,
                }
            }
            TaskConfig::Mimic {
                train_size,
                val_size,
                test_size,
                seed,
                teacher_scale,
            } => {
                let s = sub_seed(seed.unwrap_or(p.seed), purpose::TASK);
                let teacher = mimic::Teacher::random(&shape.dims, s, *teacher_scale);
                let f = |x: f64| phi.apply(x);
                let gen = |k: u64, size| {
                    mimic::generate(&teacher, sub_seed(s, k), size, &f, p.gl, p.gb, p.ga)
                };
                TaskData {
                    train: gen(1, *train_size),
                    val: gen(2, *val_size),
                    test: gen(3, *test_size),
                }
            }
            TaskConfig::Mnist {
                data_dir,
                train_size,
                val_size,
                test_size,
            }
            | TaskConfig::FashionMnist {
                data_dir,
                train_size,
                val_size,
                test_size,
            } => {
                let set = match self {
                    TaskConfig::Mnist { .. } => idx::IdxSet::Mnist,
                    _ => idx::IdxSet::FashionMnist,
                };
                let split = idx::Split {
                    train: *train_size,
                    val: *val_size,
                    test: *test_size,
                };
                let (train, val, test) = idx::load(&base.join(data_dir), set, split, hi, lo)
                    .with_context(|| format!("task {}", self.name()))?;
                let data = TaskData { train, val, test };
                check_width(&data.train, shape, "task.data_dir")?;
                data
            }
            TaskConfig::Csv { .. } | TaskConfig::Npy { .. } => {
                self.load_files(shape, targets, base)?
            }
        })
    }

    /// The task's name as written in configs.
    pub fn name(&self) -> &'static str {
        match self {
            TaskConfig::Yinyang { .. } => "yinyang",
            TaskConfig::Mimic { .. } => "mimic",
            TaskConfig::Bars { .. } => "bars",
            TaskConfig::Xor => "xor",
            TaskConfig::Csv { .. } => "csv",
            TaskConfig::Mnist { .. } => "mnist",
            TaskConfig::FashionMnist { .. } => "fashion_mnist",
            TaskConfig::Npy { .. } => "npy",
        }
    }

    fn load_files(
        &self,
        shape: &Shape,
        targets: &TargetsConfig,
        base: &Path,
    ) -> anyhow::Result<TaskData> {
        let (hi, lo) = (targets.u_high, targets.u_low);
        let kind = |t: &FileTargets| match t {
            FileTargets::Labels => files::TargetKind::Labels {
                n_classes: shape.n_out(),
            },
            FileTargets::Regression => files::TargetKind::Regression {
                n_out: shape.n_out(),
            },
        };
        let data = match self {
            TaskConfig::Csv {
                train,
                validation,
                test,
                targets: t,
            } => three_sets(train, validation, test, |p: &PathBuf| {
                files::load_csv(&base.join(p), kind(t), Some(shape.n_in()), hi, lo)
            })?,
            TaskConfig::Npy {
                train,
                validation,
                test,
                targets: t,
            } => three_sets(train, validation, test, |p: &NpyPair| {
                files::load_npy(&base.join(&p.x), &base.join(&p.y), kind(t), hi, lo)
            })?,
            _ => unreachable!("only file tasks are loaded from files"),
        };
        for (name, d) in [
            ("task.train", &data.train),
            ("task.validation", &data.val),
            ("task.test", &data.test),
        ] {
            if !d.is_empty() {
                check_width(d, shape, name).context("the data do not fit the network")?;
            }
        }
        Ok(data)
    }
}

/// Loads a training set and the optional validation and test sets (empty when not given).
fn three_sets<P>(
    train: &P,
    val: &Option<P>,
    test: &Option<P>,
    load: impl Fn(&P) -> anyhow::Result<Dataset>,
) -> anyhow::Result<TaskData> {
    let train = load(train)?;
    let empty = || Dataset {
        n_in: train.n_in,
        n_out: train.n_out,
        x: vec![],
        y: vec![],
        labels: train.labels.as_ref().map(|_| vec![]),
    };
    let val = val.as_ref().map(&load).transpose()?.unwrap_or_else(empty);
    let test = test.as_ref().map(&load).transpose()?.unwrap_or_else(empty);
    Ok(TaskData { train, val, test })
}

fn positive(key: &str, v: usize) -> anyhow::Result<()> {
    if v == 0 {
        bail!("{key} must be at least 1");
    }
    Ok(())
}

fn check_width(d: &Dataset, shape: &Shape, name: &str) -> anyhow::Result<()> {
    if d.n_in != shape.n_in() || d.n_out != shape.n_out() {
        bail!(
            "{name}: the data have {} inputs and {} outputs/classes but network.dims {:?} has {} inputs and {} outputs",
            d.n_in,
            d.n_out,
            shape.dims,
            shape.n_in(),
            shape.n_out()
        );
    }
    Ok(())
}
