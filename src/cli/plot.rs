//! `pyralnet plot`: figures of a run folder.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A run folder (`pyralnet run --out DIR`, or a merged one).
    pub dir: PathBuf,
    /// Instance whose decision map / output traces are drawn.
    #[arg(long, default_value_t = 0)]
    pub instance: usize,
}

pub fn plot(a: PlotArgs) -> anyhow::Result<()> {
    if !a.dir.join("summary.json").is_file() {
        anyhow::bail!(
            "{} holds no finished run (no summary.json)",
            a.dir.display()
        );
    }
    for stem in crate::plot::plot_dir(&a.dir, a.instance)? {
        eprintln!("wrote {}.png and .svg", stem.display());
    }
    Ok(())
}
