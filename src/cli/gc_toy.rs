//! `pyralnet gc-toy`: the G-clusteron's toy demonstrations of synapse movement (GCLUSTERON.md
//! §3.4), one figure of the locations over training per demo, and the share of the kernel within
//! groups at the start and the end.

use crate::gclusteron::toy;
use crate::plot::{save, Figure, Panel, Series};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GcToyArgs {
    /// Folder for the figures (gc_toy_<demo>.png and .svg).
    #[arg(long, default_value = "docs/figures")]
    pub out: PathBuf,
    /// Seed of the data, the starts and the minibatch draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn gc_toy(a: GcToyArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create output folder {}", a.out.display()))?;
    for demo in toy::demos(a.seed) {
        let every = (demo.iterations / 200).max(1);
        let traj = toy::run(&demo, a.seed, every)?;
        let series = (0..demo.data.n)
            .map(|i| Series {
                points: traj.iter().map(|(it, l)| (*it as f64, l[i])).collect(),
                color: Some(demo.group[i]),
                ..Series::default()
            })
            .collect();
        let fig = Figure::Panels(vec![Panel {
            title: format!("G-clusteron toy: {} (colour = group)", demo.title),
            x_label: "iteration".into(),
            y_label: "synapse location".into(),
            series,
        }]);
        let stem = a.out.join(format!("gc_toy_{}", demo.name));
        save(&fig, &stem)?;
        let (first, last) = (&traj[0].1, &traj[traj.len() - 1].1);
        println!(
            "{:<22} share of the kernel within groups {:.3} -> {:.3}; wrote {}.png",
            demo.name,
            toy::clustering(first, &demo.group, demo.r),
            toy::clustering(last, &demo.group, demo.r),
            stem.display()
        );
    }
    Ok(())
}
