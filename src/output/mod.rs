//! Output files of a run. Every file is written to a temporary name in its folder and renamed
//! into place ([`crate::atomic`]), so a file is either complete or absent, never half-written.

mod identity;
mod lock;
mod npz;
mod shard;
mod sweep;
mod tables;

pub use identity::{content_hash, precision_name, read_identity, write_identity, RunIdentity};
pub use lock::{lock_run_dir, RunLock, LOCK_FILE};
pub use npz::{read_weights, write_trace, write_weights};
pub use shard::{merge_tables, read_shard, write_merged_summary, write_shard, Merged, Shard};
pub use sweep::{has_batches, BatchRecord, BatchRows, SweepWriter, Tables};
pub use tables::{
    column, curve_rows, diverged_list, instance_rows, metric, outcomes_of, summarise, summary_csv,
    write_instance_files, write_summary, Outcome, Stat, Summary, CURVES_HEADER, DIVERGED,
    INSTANCES_HEADER,
};
