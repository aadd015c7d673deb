//! `pyralnet merge`: combine the output folders of all shards into one result set.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Folder for the merged results.
    pub out: PathBuf,
    /// The output folders of every shard (`pyralnet run --shard I/N`).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

pub fn merge(a: MergeArgs) -> anyhow::Result<()> {
    if a.out.join("summary.json").exists() {
        anyhow::bail!(
            "{} already holds results; choose another folder",
            a.out.display()
        );
    }
    crate::run::merge::merge(&a.out, &a.shards)?;
    eprintln!("merged {} shards into {}", a.shards.len(), a.out.display());
    Ok(())
}
