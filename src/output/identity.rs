//! The identity of a run: the options given on the command line that change its results,
//! stored in `run.json` in the run folder when the run starts, so that `--resume` continues
//! with them when they are left out and refuses different ones (the config itself is compared
//! through `config.json`).

use crate::atomic::write_text;
use crate::microcircuit::full::cpu::CpuKernel;
use crate::num::Precision;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FILE: &str = "run.json";

/// The resolved options a run was started with. A field that is absent (folders written before
/// it existed, or a CPU kernel where none applies: the GPU, the steady model) is unknown and
/// accepts any value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// `cpu` or `gpu` (what `--backend auto` resolved to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The working precision (`f32` on the GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// The CPU kernel of the full model on the CPU as asked for (`auto` unless `--cpu-kernel`
    /// named one). A resume may take another: every CPU kernel computes the same bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_kernel: Option<CpuKernel>,
    /// `none`, or the content hash of the `--init-weights` file ([`content_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_weights: Option<String>,
    /// Where the `--init-weights` file was (absolute), for a resume that leaves the flag out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_weights_path: Option<PathBuf>,
}

impl RunIdentity {
    /// Refuses `now` (the options a `--resume` resolved to) where it differs from the stored
    /// identity `self` in a field both know, naming the flag and both values.
    pub fn check(&self, now: &RunIdentity) -> anyhow::Result<()> {
        fn same<T: PartialEq + std::fmt::Display>(
            flag: &str,
            was: &Option<T>,
            now: &Option<T>,
        ) -> anyhow::Result<()> {
            if let (Some(w), Some(n)) = (was, now) {
                if w != n {
                    bail!("{flag}: this run was started with {w}, --resume gave {n}; leave {flag} out to continue as started, or start a new run in another --out");
                }
            }
            Ok(())
        }
        let name = |p: &Option<Precision>| p.map(precision_name);
        same("--backend", &self.backend, &now.backend)?;
        same("--precision", &name(&self.precision), &name(&now.precision))?;
        same("--init-weights", &self.init_weights, &now.init_weights)?;
        Ok(())
    }

    /// `self` with its unknown fields taken from `other`.
    pub fn or(self, other: RunIdentity) -> RunIdentity {
        RunIdentity {
            backend: self.backend.or(other.backend),
            precision: self.precision.or(other.precision),
            cpu_kernel: self.cpu_kernel.or(other.cpu_kernel),
            init_weights: self.init_weights.or(other.init_weights),
            init_weights_path: self.init_weights_path.or(other.init_weights_path),
        }
    }
}

/// `f32` / `f64`, as on the command line.
pub fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    }
}

/// Writes the identity of the run in `dir`.
pub fn write_identity(dir: &Path, id: &RunIdentity) -> anyhow::Result<()> {
    write_text(&dir.join(FILE), &(serde_json::to_string_pretty(id)? + "\n"))
}

/// The identity stored in `dir` (`None` for a folder without one).
pub fn read_identity(dir: &Path) -> anyhow::Result<Option<RunIdentity>> {
    let path = dir.join(FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(Some(serde_json::from_str(&text).with_context(|| {
        format!("{} is damaged", path.display())
    })?))
}

/// The content hash of a file as stored in [`RunIdentity::init_weights`]: 64-bit FNV-1a of its
/// bytes, `fnv1a64:<16 hex digits>` (a check against changed files, not against forgery).
pub fn content_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(format!("fnv1a64:{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_of_known_strings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(content_hash(&p).unwrap(), "fnv1a64:cbf29ce484222325");
        std::fs::write(&p, b"a").unwrap();
        assert_eq!(content_hash(&p).unwrap(), "fnv1a64:af63dc4c8601ec8c");
    }

    #[test]
    fn unknown_fields_accept_and_known_ones_must_match() {
        let was = RunIdentity {
            precision: Some(Precision::F64),
            ..Default::default()
        };
        let now = RunIdentity {
            backend: Some("cpu".into()),
            precision: Some(Precision::F32),
            ..Default::default()
        };
        let e = was.check(&now).unwrap_err().to_string();
        assert!(
            e.starts_with("--precision: this run was started with f64, --resume gave f32"),
            "{e}"
        );
        assert!(RunIdentity::default().check(&now).is_ok());
    }
}
