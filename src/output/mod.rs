//! Output files of a run. Every file is written to a temporary name in its folder and renamed
//! into place ([`crate::atomic`]), so a file is either complete or absent, never half-written.

mod checkpoint;
mod identity;
mod lock;
mod npz;
mod shard;
mod sweep;
mod tables;

pub use checkpoint::{read_progress, read_states, remove_checkpoints, write_checkpoint};
pub use identity::{content_hash, precision_name, read_identity, write_identity, RunIdentity};
pub use lock::{lock_run_dir, RunLock, LOCK_FILE};
pub use npz::{read_weights, write_trace, write_weights};
pub use shard::{merge, read_shard, write_shard, Shard};
pub use sweep::{has_batches, SweepWriter};
pub use tables::{
    diverged_list, metric, outcomes_of, summarise, summary_csv, Outcome, Stat, Summary, DIVERGED,
};
