//! The gradient clusteron (G-clusteron; Moldwin, Kalmenson & Segev 2021), the second model of
//! the simulator: `"model": "gclusteron"` in configs. See GCLUSTERON.md.
//!
//! One unit has N synapses with inputs `x_i`, weights `w_i` and locations `l_i` on an unbounded
//! line: `s = w∘x`, `F_ij = exp(−(l_i − l_j)²/r)`, `y = sᵀ F s`, `o = y − b`.
//!
//! * [`params`]: the config's `params` block and its resolution per instance.
//! * [`backend`]: the boundary between the host protocol and the CPU / GPU arithmetic.

pub mod backend;
pub mod params;

pub use backend::{
    ErrorMode, GcBackend, GcBatch, GcData, GcHyper, GcState, KernelAt, Moments, Readout,
};
pub use params::{ErrorKind, GcParams, InitKind, Optimiser, Rule};
