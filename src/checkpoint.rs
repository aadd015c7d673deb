//! Checkpoints of a run, whatever the model: the dynamic state of every instance (an npz the
//! model writes) and the progress of the protocol (JSON), written so that a crash at any moment
//! leaves a complete checkpoint behind.
//!
//! Layout in the run folder: `checkpoint/progress.json` and `checkpoint/states.npz`, which holds
//! instance i's arrays under the prefix `instance_<i>/` (one file, so a checkpoint of thousands
//! of instances costs one sync, not one per instance).
//! A new checkpoint is written to `checkpoint.new/` (progress.json last, which marks it
//! complete), then `checkpoint/` is renamed to `checkpoint.old/`, `checkpoint.new/` to
//! `checkpoint/`, and `checkpoint.old/` removed. Reading takes the first complete one of
//! `checkpoint/`, `checkpoint.new/`, `checkpoint.old/`.

use crate::atomic::write_text;
use anyhow::Context;
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

const PROGRESS: &str = "progress.json";

const STATES: &str = "states.npz";

/// Writes a checkpoint of `progress` into `dir`, whose states `write_states(path)` writes to
/// `path` (the checkpoint's `states.npz`; any model's arrays).
pub fn write_checkpoint_with<P: Serialize>(
    dir: &Path,
    progress: &P,
    write_states: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let new = dir.join("checkpoint.new");
    let cur = dir.join("checkpoint");
    let old = dir.join("checkpoint.old");
    if new.exists() {
        std::fs::remove_dir_all(&new)?;
    }
    std::fs::create_dir_all(&new)?;
    write_states(&new.join(STATES))?;
    write_text(&new.join(PROGRESS), &serde_json::to_string(progress)?)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if cur.exists() {
        std::fs::rename(&cur, &old)?;
    }
    std::fs::rename(&new, &cur)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// The newest complete checkpoint in `dir`, if any: its progress and its folder (for
/// [`read_states`]).
pub fn read_progress<P: DeserializeOwned>(dir: &Path) -> anyhow::Result<Option<(P, PathBuf)>> {
    let Some(ck) = ["checkpoint", "checkpoint.new", "checkpoint.old"]
        .iter()
        .map(|n| dir.join(n))
        .find(|d| d.join(PROGRESS).is_file())
    else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(ck.join(PROGRESS))?;
    let progress: P = serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged", ck.join(PROGRESS).display()))?;
    Ok(Some((progress, ck)))
}

/// The states file of the checkpoint folder `ck` found by [`read_progress`].
pub fn states_file(ck: &Path) -> PathBuf {
    ck.join(STATES)
}

/// Removes every checkpoint folder (after a run has finished and written its results).
pub fn remove_checkpoints(dir: &Path) -> anyhow::Result<()> {
    for n in ["checkpoint", "checkpoint.new", "checkpoint.old"] {
        let d: PathBuf = dir.join(n);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
    }
    Ok(())
}
