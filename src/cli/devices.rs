//! `pyralnet devices`: the GPU adapters this machine offers, and which one each `--backend`
//! would use.

use crate::gpu::{self, device::INSTALL_HINT};
use clap::Args;

#[derive(Args, Debug)]
pub struct DevicesArgs {}

pub fn devices(_: DevicesArgs) -> anyhow::Result<()> {
    let list = gpu::list_adapters();
    if list.is_empty() {
        println!("{INSTALL_HINT}");
        println!("--backend auto and cpu run on the CPU; --backend gpu fails");
        return Ok(());
    }
    for (i, a) in list.iter().enumerate() {
        let kind = if gpu::is_cpu_driver(&a.info) {
            "CPU driver: used by --backend gpu only"
        } else {
            "GPU: used by --backend auto and gpu"
        };
        println!("{i}: {a}\n   {kind}");
    }
    if list.iter().all(|a| gpu::is_cpu_driver(&a.info)) {
        println!("no GPU besides CPU drivers: --backend auto runs on the CPU");
    }
    Ok(())
}
