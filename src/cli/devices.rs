//! `pyralnet devices`: the GPU adapters this machine offers, which one each `--backend`
//! would use, how the G-clusteron forms its per-pattern sums there, and with `--dims` which
//! full-model and steady-model kernels `--backend gpu` would run there.

use crate::bench::plastic_batch;
use crate::gclusteron::gpu::Reduction;
use crate::gpu::{self, device::INSTALL_HINT};
use crate::microcircuit::full::gpu::default_kernel;
use crate::microcircuit::steady::gpu::default_steady_kernel;
use crate::microcircuit::Shape;
use clap::Args;

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Layer sizes, comma separated: also say which full-model and steady-model GPU kernels
    /// each adapter would run by default for this shape (bias on, W_up, W_pi and W_ip plastic
    /// as in `pyralnet bench`), and why.
    #[arg(long, value_delimiter = ',')]
    pub dims: Option<Vec<usize>>,
}

pub fn devices(a: DevicesArgs) -> anyhow::Result<()> {
    let batch = match &a.dims {
        Some(dims) => {
            Shape::new(dims.clone(), true)
                .validate()
                .map_err(|e| anyhow::anyhow!("--dims: {e}"))?;
            Some(plastic_batch(dims, 1, 100.0))
        }
        None => None,
    };
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
        let reduction = Reduction::auto(&a.info);
        let why = match reduction {
            Reduction::Serial => "one thread per pattern, as a CPU driver's few threads want",
            Reduction::Workgroup => "one workgroup per pattern, coalesced, with a reduction tree",
        };
        println!(
            "   G-clusteron: {} per-pattern sums ({why})",
            reduction.name()
        );
        if let Some(b) = &batch {
            println!(
                "   full model {}: kernel {}",
                b.shape.label(),
                default_kernel(b, a)
            );
            let (steady, why) = default_steady_kernel(&b.shape, a);
            println!(
                "   steady model {}: kernel {} ({why})",
                b.shape.label(),
                steady.name()
            );
        }
    }
    if list.iter().all(|a| gpu::is_cpu_driver(&a.info)) {
        println!("no GPU besides CPU drivers: --backend auto runs on the CPU");
    }
    Ok(())
}
