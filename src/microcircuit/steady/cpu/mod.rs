//! The steady-state model on the CPU, generic over f32 and f64, one instance at a time
//! ([`SteadyInstance`]); [`SteadyBackend`] runs a batch of them in parallel with rayon.

mod batch;
mod instance;
mod kernels;

pub use batch::SteadyBackend;
pub(crate) use instance::Coef;
pub use instance::{SteadyInstance, SteadyKernel};
