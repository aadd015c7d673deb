//! The outputs of a sweep, written batch by batch so that memory holds one batch at a time,
//! whatever the model: the model writes its per-instance files and renders its table rows, this
//! module keeps the batches apart and puts them together.
//!
//! When batch k finishes, its per-instance files (the microcircuit's weights and traces, the
//! G-clusteron's states) go straight to their folders, its rows of `instances.csv` and `curves.csv` to `batches/batch_<k>.instances.csv` and
//! `batches/batch_<k>.curves.csv`, and last `batches/batch_<k>.json` (backend, CPU kernel, seconds,
//! instance-steps), which marks the batch done: a resumed
//! run skips it. `batches/schedule.json` fixes the batches when the run starts, so a resumed run
//! cuts the same batches whatever memory it finds. [`SweepWriter::finish`] streams the rows of
//! all batches, in order, into `instances.csv` and `curves.csv`, writes the summary and removes
//! `batches/`.

use super::tables::final_metrics;
use super::Outcome;
use crate::atomic::{write_atomic, write_text};
use crate::config::Plan;
use crate::experiment::Schedule;
use crate::microcircuit::full::cpu::CpuKernel;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const FOLDER: &str = "batches";
const SCHEDULE: &str = "schedule.json";

/// What a finished batch leaves besides its rows and files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchRecord {
    pub backend: String,
    /// The CPU kernel of the full model (absent on the GPU, for the steady model, the
    /// G-clusteron, and in the records of runs before kernels had names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_kernel: Option<CpuKernel>,
    pub seconds: f64,
    /// The batch's work: instance-steps (microcircuit) or unit-pattern updates (G-clusteron).
    pub instance_steps: f64,
}

/// A model's tables: the headers of `instances.csv` and `curves.csv` (each ending in a
/// newline). The first column of both is the instance index, and `instances.csv` has the
/// columns `val_acc`, `val_mse`, `test_acc`, `test_mse` and `diverged_at` that
/// [`final_metrics`] reads.
#[derive(Clone, Copy, Debug)]
pub struct Tables {
    pub instances: &'static str,
    pub curves: &'static str,
}

/// The rows of one batch for `instances.csv` and `curves.csv` (each row ending in a newline).
#[derive(Clone, Debug, Default)]
pub struct BatchRows {
    pub instances: String,
    pub curves: String,
}

/// Writes a sweep's outputs batch by batch (see the module docs).
pub struct SweepWriter {
    dir: PathBuf,
    tables: Tables,
    schedule: Schedule,
    /// Records of the finished batches, which are always the first ones.
    done: Vec<BatchRecord>,
}

impl SweepWriter {
    /// Opens the outputs in `dir`: the schedule and finished batches of the run there when
    /// `resume` is set and it has some, else a fresh start with the schedule `plan()` gives.
    pub fn open(
        dir: &Path,
        tables: Tables,
        resume: bool,
        plan: impl FnOnce() -> anyhow::Result<Schedule>,
    ) -> anyhow::Result<SweepWriter> {
        let folder = dir.join(FOLDER);
        let path = folder.join(SCHEDULE);
        if resume && path.is_file() {
            let schedule: Schedule = serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("{} is damaged", path.display()))?;
            let mut done = Vec::new();
            while let Some(r) = read_record(&folder, done.len())? {
                done.push(r);
            }
            return Ok(SweepWriter {
                dir: dir.to_path_buf(),
                tables,
                schedule,
                done,
            });
        }
        if folder.exists() {
            std::fs::remove_dir_all(&folder)?;
        }
        let schedule = plan()?;
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        write_text(&path, &(serde_json::to_string(&schedule)? + "\n"))?;
        Ok(SweepWriter {
            dir: dir.to_path_buf(),
            tables,
            schedule,
            done: Vec::new(),
        })
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Number of finished batches (the first ones of the schedule).
    pub fn finished(&self) -> usize {
        self.done.len()
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the rows of batch `k`, the next unfinished one (whose per-instance files the
    /// model has written), and last its record, which marks it done.
    pub fn write_batch(
        &mut self,
        k: usize,
        rows: &BatchRows,
        record: BatchRecord,
    ) -> anyhow::Result<()> {
        if k != self.done.len() {
            bail!("batch {k} finished before batch {}", self.done.len());
        }
        let folder = self.dir.join(FOLDER);
        write_text(
            &folder.join(format!("batch_{k}.instances.csv")),
            &rows.instances,
        )?;
        write_text(&folder.join(format!("batch_{k}.curves.csv")), &rows.curves)?;
        write_text(
            &folder.join(format!("batch_{k}.json")),
            &serde_json::to_string(&record)?,
        )?;
        self.done.push(record);
        Ok(())
    }

    /// The rows of `instances.csv` of batch `k` (as written) and the file's path.
    fn batch_instance_rows(&self, k: usize) -> anyhow::Result<(String, PathBuf)> {
        let path = self
            .dir
            .join(FOLDER)
            .join(format!("batch_{k}.instances.csv"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok((text, path))
    }

    /// The rows of `instances.csv` of the finished batches, in order.
    pub fn instance_rows(&self) -> anyhow::Result<Vec<String>> {
        let mut rows = Vec::new();
        for k in 0..self.done.len() {
            let (text, _) = self.batch_instance_rows(k)?;
            rows.extend(text.lines().map(str::to_owned));
        }
        Ok(rows)
    }

    /// The final metrics of every instance of the finished batches, read back from their
    /// rows (so a resumed run sums up exactly what an uninterrupted one does), with its spec
    /// from `plan`.
    pub fn outcomes(&self, plan: &Plan) -> anyhow::Result<Vec<Outcome>> {
        let mut out = Vec::new();
        for (k, range) in self.schedule.batches[..self.done.len()].iter().enumerate() {
            let (text, path) = self.batch_instance_rows(k)?;
            let specs = plan.instances.get(range.clone()).unwrap_or_default();
            if text.lines().count() != specs.len() {
                bail!("{} does not hold the rows of batch {k}", path.display());
            }
            for (row, spec) in text.lines().zip(specs) {
                let m = final_metrics(self.tables.instances, row)
                    .with_context(|| format!("{} is damaged", path.display()))?;
                if m.index != spec.index {
                    bail!("{} does not hold the rows of batch {k}", path.display());
                }
                out.push(Outcome {
                    spec: spec.clone(),
                    val: m.val,
                    test: m.test,
                    diverged_at: m.diverged_at,
                });
            }
        }
        Ok(out)
    }

    /// The backend that ran the first batch.
    pub fn backend(&self) -> &str {
        self.done.first().map_or("", |r| r.backend.as_str())
    }

    /// The CPU kernel that ran the first batch, if a CPU kernel of the full model ran it.
    pub fn cpu_kernel(&self) -> Option<CpuKernel> {
        self.done.first().and_then(|r| r.cpu_kernel)
    }

    /// Wall seconds and instance-steps over all finished batches.
    pub fn totals(&self) -> (f64, f64) {
        self.done.iter().fold((0.0, 0.0), |(s, n), r| {
            (s + r.seconds, n + r.instance_steps)
        })
    }

    /// The records of the finished batches.
    pub fn records(&self) -> &[BatchRecord] {
        &self.done
    }

    /// Writes `instances.csv` and `curves.csv` once every batch is done, then the summary
    /// (`summary(dir, writer)`, which reads the outcomes and records it needs), and removes
    /// `batches/`.
    pub fn finish(
        self,
        summary: impl FnOnce(&SweepWriter) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let n = self.schedule.batches.len();
        if self.done.len() != n {
            bail!("{} of {n} batches are done", self.done.len());
        }
        let folder = self.dir.join(FOLDER);
        for (name, header) in [
            ("instances", self.tables.instances),
            ("curves", self.tables.curves),
        ] {
            write_atomic(&self.dir.join(format!("{name}.csv")), |f| {
                let mut out = std::io::BufWriter::new(f);
                out.write_all(header.as_bytes())?;
                for k in 0..n {
                    let part = folder.join(format!("batch_{k}.{name}.csv"));
                    let mut src = std::fs::File::open(&part)
                        .with_context(|| format!("cannot read {}", part.display()))?;
                    std::io::copy(&mut src, &mut out)?;
                }
                out.flush()?;
                Ok(())
            })?;
        }
        summary(&self)?;
        std::fs::remove_dir_all(&folder)?;
        Ok(())
    }
}

/// The record of batch `k` if that batch is done.
fn read_record(folder: &Path, k: usize) -> anyhow::Result<Option<BatchRecord>> {
    let path = folder.join(format!("batch_{k}.json"));
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(Some(serde_json::from_str(&text).with_context(|| {
        format!("{} is damaged", path.display())
    })?))
}

/// Whether `dir` holds batches of an unfinished sweep.
pub fn has_batches(dir: &Path) -> bool {
    dir.join(FOLDER).exists()
}
