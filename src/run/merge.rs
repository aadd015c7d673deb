//! `merge` of shards for every model: the tables and per-instance files are merged the same way
//! ([`output::merge_tables`]), the summary is the model's.

use super::gclusteron::output as gc;
use crate::config::ModelKind;
use crate::output;
use std::path::{Path, PathBuf};

/// Merges the folders of all shards of one experiment into `out` (the result set of the
/// unsharded run, but for its wall time), refusing shards of different configs, missing or
/// repeated slices, and incomplete shards.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> anyhow::Result<()> {
    let m = output::merge_tables(out, dirs)?;
    match m.cfg.model {
        ModelKind::Full | ModelKind::Steady => output::write_merged_summary(out, &m),
        ModelKind::Gclusteron => {
            let converged = gc::converged_at(&m.rows);
            let baseline = m.first("logreg");
            gc::write_summary(
                out,
                &m.cfg,
                &gc::SummaryOf {
                    plan: &m.plan,
                    outcomes: &m.outcomes,
                    converged_at: &converged,
                    backend: m.first("backend").as_str().unwrap_or(""),
                    seconds: m.sum("wall_seconds"),
                    unit_patterns: m.sum("unit_patterns"),
                    baseline: (!baseline.is_null()).then_some(baseline),
                    shards: Some(m.count),
                },
            )
        }
    }
}
