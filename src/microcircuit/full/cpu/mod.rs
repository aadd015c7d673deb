//! The CPU reference integrator of the full dynamics (MODEL.md sections 2–4), generic over f32 and
//! f64, one instance at a time; batches run instances in parallel ([`CpuBackend`]). Runs open
//! their CPU backend through [`open_cpu`], which picks the kernel ([`CpuKernel`]).

mod batch;
mod consts;
mod instance;
mod kernel;
pub mod lanes;
mod layout;
mod math;
mod plasticity;
mod state;

pub use batch::CpuBackend;
pub use consts::Consts;
pub use instance::Instance;
pub use kernel::{open_cpu, resolve, CpuKernel};
pub use lanes::LanesBackend;
pub use layout::Layout;
pub use math::{error_slice, phi, phi_slice, CpuReal};
pub use plasticity::low_pass_update;
pub use state::State;
