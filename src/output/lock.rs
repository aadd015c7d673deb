//! The exclusive lock a run (`pyralnet run`, and `pyralnet validity`) holds on its output
//! folder, so that a second one (or `--resume`) into the folder of one that is still going is
//! refused instead of writing into the same result set.
//!
//! It is an OS lock (`flock`) on [`LOCK_FILE`] inside the folder: the OS releases it when its
//! process ends, however it ends (`kill -9` too), so a lock left by a killed run never blocks
//! `--resume`. The file itself stays; only the lock on it counts.

use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The file in a run folder that a running run holds locked (it names the process).
pub const LOCK_FILE: &str = ".pyralnet.lock";

/// An exclusive lock on a run folder, held as long as this value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the exclusive lock on the run folder `dir` (which must exist) without waiting;
/// refuses when another run, in this process or another, holds it.
pub fn lock_run_dir(dir: &Path) -> anyhow::Result<RunLock> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    // called as the trait's function: `File::try_lock` of std (1.89) would shadow it
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            bail!(
                "{} is in use: another run or validity{holder} holds it and is still writing there; wait for it to end (or stop a run and continue it with --resume) or choose another --out",
                dir.display()
            );
        }
        Err(fs4::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    // which process holds it, for the message above (best effort)
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(RunLock { _file: file })
}
