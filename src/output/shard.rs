//! Shards of an experiment (`--shard I/N`) and `pyralnet merge`, which combines the output
//! folders of all N shards into the result set of the unsharded run.

use super::tables::{diverged_list, final_metrics, RowMetrics};
use super::{summarise, summary_csv, Outcome};
use crate::atomic::write_text;
use crate::config::{Config, Plan};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Slice `index` of `count` of an experiment's instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Records which shard a run folder holds (removes the record for an unsharded run).
pub fn write_shard(dir: &Path, shard: Option<Shard>) -> anyhow::Result<()> {
    let path = dir.join("shard.json");
    match shard {
        Some(s) => write_text(&path, &(serde_json::to_string(&s)? + "\n")),
        None if path.exists() => Ok(std::fs::remove_file(path)?),
        None => Ok(()),
    }
}

/// The shard a run folder holds, if it is one.
pub fn read_shard(dir: &Path) -> anyhow::Result<Option<Shard>> {
    let path = dir.join("shard.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(Some(serde_json::from_str(&text).with_context(|| {
        format!("{} is damaged", path.display())
    })?))
}

/// One shard folder's parsed tables.
struct ShardDir {
    path: PathBuf,
    shard: Shard,
    header: String,
    /// Per instance index: its row and final validation and test metrics.
    rows: BTreeMap<usize, (String, RowMetrics)>,
    curves_header: String,
    curves: Vec<(usize, usize, String)>,
    summary: Value,
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn load_shard(dir: &Path, config: &Value) -> anyhow::Result<ShardDir> {
    let cfg: Value = serde_json::from_str(&read(&dir.join("config.json"))?)
        .with_context(|| format!("{}/config.json is damaged", dir.display()))?;
    if &cfg != config {
        bail!(
            "{} holds a run of a different config than the first shard",
            dir.display()
        );
    }
    let shard = read_shard(dir)?
        .with_context(|| format!("{} is not a shard (no shard.json)", dir.display()))?;
    if !dir.join("summary.json").is_file() {
        bail!(
            "{} is not complete (no summary.json); finish it with --resume first",
            dir.display()
        );
    }
    let text = read(&dir.join("instances.csv"))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().to_string();
    let mut rows = BTreeMap::new();
    for line in lines {
        let m = final_metrics(&header, line)
            .with_context(|| format!("{}/instances.csv is damaged", dir.display()))?;
        rows.insert(m.index, (line.to_string(), m));
    }
    let text = read(&dir.join("curves.csv"))?;
    let mut lines = text.lines();
    let curves_header = lines.next().unwrap_or_default().to_string();
    let mut curves = Vec::new();
    for line in lines {
        let mut f = line.split(',');
        let (i, p) = (
            f.next().and_then(|v| v.parse().ok()),
            f.next().and_then(|v| v.parse().ok()),
        );
        match (i, p) {
            (Some(i), Some(p)) => curves.push((i, p, line.to_string())),
            _ => bail!("{}/curves.csv is damaged", dir.display()),
        }
    }
    let summary = serde_json::from_str(&read(&dir.join("summary.json"))?)?;
    Ok(ShardDir {
        path: dir.to_path_buf(),
        shard,
        header,
        rows,
        curves_header,
        curves,
        summary,
    })
}

/// The tables of merged shards (see [`merge_tables`]), for the model's summary.
pub struct Merged {
    pub cfg: Config,
    pub plan: Plan,
    pub count: usize,
    /// Final metrics of every instance of `plan`, in order.
    pub outcomes: Vec<Outcome>,
    /// The rows of `instances.csv` (without the header), in order.
    pub rows: Vec<String>,
    /// Every shard's `summary.json`, in shard order.
    pub summaries: Vec<Value>,
}

impl Merged {
    /// The sum of the number `key` over the shards' summaries.
    pub fn sum(&self, key: &str) -> f64 {
        self.summaries.iter().filter_map(|s| s[key].as_f64()).sum()
    }

    /// The first shard's `key` that is not null (an empty shard has no backend).
    pub fn first(&self, key: &str) -> Value {
        self.summaries
            .iter()
            .map(|s| s[key].clone())
            .find(|v| !v.is_null() && v != "")
            .unwrap_or(Value::Null)
    }
}

/// Writes the summary of merged microcircuit shards `m` into `out` (after [`merge_tables`]).
pub fn write_merged_summary(out: &Path, m: &Merged) -> anyhow::Result<()> {
    std::fs::create_dir_all(out.join("weights"))?;
    let summary = json!({
        "name": m.cfg.name,
        "backend": m.first("backend"),
        "cpu_kernel": m.first("cpu_kernel"),
        "shards": m.count,
        "wall_seconds": m.sum("wall_seconds"),
        "instance_steps": m.sum("instance_steps"),
        "instance_steps_per_second": m.sum("instance_steps") / m.sum("wall_seconds").max(1e-9),
        "diverged": diverged_list(&m.outcomes),
        "points": summarise(&m.outcomes),
    });
    write_text(
        &out.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    write_text(
        &out.join("summary.csv"),
        &summary_csv(&summarise(&m.outcomes)),
    )
}

/// Merges the folders of all shards of one experiment into `out`: `config.json`,
/// `instances.csv` and `curves.csv` in the unsharded run's order, and the per-instance files
/// (`weights/`, `traces/`, `states/`); refuses shards of different configs, missing or
/// repeated slices, and incomplete shards. The summary is the model's to write.
pub fn merge_tables(out: &Path, dirs: &[PathBuf]) -> anyhow::Result<Merged> {
    let Some(first) = dirs.first() else {
        bail!("give at least one shard folder");
    };
    let config: Value = serde_json::from_str(&read(&first.join("config.json"))?)
        .with_context(|| format!("{}/config.json is damaged", first.display()))?;
    let shards = dirs
        .iter()
        .map(|d| load_shard(d, &config))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let count = shards[0].shard.count;
    let mut seen = vec![None; count];
    for s in &shards {
        if s.shard.count != count {
            bail!(
                "{} is shard {}/{}, but {} is one of {count}",
                s.path.display(),
                s.shard.index,
                s.shard.count,
                shards[0].path.display()
            );
        }
        if let Some(p) = seen[s.shard.index].replace(&s.path) {
            bail!(
                "shard {}/{count} is given twice: {} and {}",
                s.shard.index,
                p.display(),
                s.path.display()
            );
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| seen[*i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!("shards missing: {}", missing.join(", "));
    }
    let cfg: Config = serde_json::from_value(config.clone())?;
    let plan = cfg.plan()?;
    for s in &shards {
        let want: Vec<usize> = plan
            .shard(s.shard.index, count)
            .instances
            .iter()
            .map(|i| i.index)
            .collect();
        let have: Vec<usize> = s.rows.keys().copied().collect();
        if want != have {
            bail!(
                "{} does not hold the instances of shard {}/{count}",
                s.path.display(),
                s.shard.index
            );
        }
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    write_text(
        &out.join("config.json"),
        &(serde_json::to_string_pretty(&cfg)? + "\n"),
    )?;
    let header = &shards[0].header;
    let mut instances = header.clone() + "\n";
    let mut rows = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for spec in &plan.instances {
        let s = shards
            .iter()
            .find(|s| s.rows.contains_key(&spec.index))
            .expect("checked above");
        let (row, m) = &s.rows[&spec.index];
        instances += &format!("{row}\n");
        rows.push(row.clone());
        outcomes.push(Outcome {
            spec: spec.clone(),
            val: m.val,
            test: m.test,
            diverged_at: m.diverged_at,
        });
        for sub in ["weights", "traces", "states"] {
            let src = s
                .path
                .join(sub)
                .join(format!("instance_{}.npz", spec.index));
            if src.is_file() {
                std::fs::create_dir_all(out.join(sub))?;
                std::fs::copy(
                    &src,
                    out.join(sub).join(format!("instance_{}.npz", spec.index)),
                )?;
            }
        }
    }
    write_text(&out.join("instances.csv"), &instances)?;
    let mut curves: Vec<&(usize, usize, String)> = shards.iter().flat_map(|s| &s.curves).collect();
    curves.sort_by_key(|c| (c.0, c.1));
    let mut text = shards[0].curves_header.clone() + "\n";
    for c in curves {
        text += &format!("{}\n", c.2);
    }
    write_text(&out.join("curves.csv"), &text)?;
    Ok(Merged {
        count,
        outcomes,
        rows,
        summaries: shards.into_iter().map(|s| s.summary).collect(),
        plan,
        cfg,
    })
}
