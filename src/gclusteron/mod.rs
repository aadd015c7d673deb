//! The gradient clusteron (G-clusteron; Moldwin, Kalmenson & Segev 2021), the second model of
//! the simulator: `"model": "gclusteron"` in configs. See GCLUSTERON.md.
//!
//! One unit has N synapses with inputs `x_i`, weights `w_i` and locations `l_i` on an unbounded
//! line: `s = w∘x`, `F_ij = exp(−(l_i − l_j)²/r)`, `y = sᵀ F s`, `o = y − b`.
//!
//! * [`params`]: the config's `params` block and its resolution per instance.
//! * [`backend`]: the boundary between the host protocol and the CPU / GPU arithmetic.
//! * [`rules`], [`adam`]: the equations of spec §1–2 (with the CPU's `cpu::kernel` and
//!   `cpu::forward`).
//! * [`init`]: initial states from the instance seed.
//! * [`cpu`]: the CPU backend ([`cpu::GcCpu`]: `kernel`, `forward`, `instance`, `batch`);
//!   [`gpu`]: the GPU backend ([`gpu::GcGpuBackend`]) with its shaders beside it.
//! * [`setup`]: the config's `gclusteron` block and the data sets it prepares.
//! * [`protocol`]: minibatch draws, the iteration loop, evaluation and convergence.
//! * [`logreg`]: the logistic-regression baseline.
//! * A whole run, its checkpoints and output files: `crate::run::gclusteron`, on the runner
//!   every model shares.
//! * Backends compared on the same stream (`pyralnet check`): `crate::check::gclusteron`.
//! * [`toy`]: the toy demonstrations of synapse movement (spec §3.4).

pub mod adam;
pub mod backend;
pub mod cpu;
pub mod gpu;
pub mod init;
pub mod logreg;
pub mod params;
pub mod protocol;
pub mod rules;
pub mod setup;
pub mod toy;

pub use backend::{
    ErrorMode, GcBackend, GcBatch, GcData, GcHyper, GcState, KernelAt, Moments, Readout,
};
pub use params::{ErrorKind, GcParams, InitKind, Optimiser, Rule};
pub use setup::{GcConfig, ReadoutKind};
