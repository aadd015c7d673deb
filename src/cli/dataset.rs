//! `pyralnet dataset`: export generated data sets.

use crate::tasks::{bars, files, yinyang};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Generated {
    /// Yin-Yang (Kriener et al. 2021), bit-exact with the official generator.
    Yinyang,
    /// 3×3 bars: horizontal, vertical, diagonal.
    Bars,
}

#[derive(Args, Debug)]
pub struct DatasetArgs {
    /// Which data set.
    pub which: Generated,
    /// Generator seed (Yin-Yang standard sets: train 42, validation 41, test 40).
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
    /// Number of samples.
    #[arg(long, default_value_t = 5000)]
    pub size: usize,
    /// Pixel noise amplitude (Bars only).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Output CSV file (features, then the integer label).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn dataset(a: DatasetArgs) -> anyhow::Result<()> {
    if a.size == 0 {
        anyhow::bail!("--size must be at least 1");
    }
    let ds = match a.which {
        Generated::Yinyang => {
            let ds = yinyang::generate(a.seed, a.size, yinyang::R_SMALL, yinyang::R_BIG, 1.0, 0.1);
            yinyang::export_csv(&ds, &a.out)?;
            ds
        }
        Generated::Bars => {
            if !(0.0..=1.0).contains(&a.noise) {
                anyhow::bail!("--noise must be in [0, 1], got {}", a.noise);
            }
            let ds = bars::generate(u64::from(a.seed), a.size, a.noise, 1.0, 0.1);
            let names: Vec<String> = (0..9).map(|i| format!("p{i}")).collect();
            files::write_csv(
                &ds,
                &names.iter().map(String::as_str).collect::<Vec<_>>(),
                &a.out,
            )?;
            ds
        }
    };
    eprintln!("wrote {} samples to {}", ds.len(), a.out.display());
    Ok(())
}
