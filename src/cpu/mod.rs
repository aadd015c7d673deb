//! The CPU reference integrator of the full dynamics (MODEL.md sections 2–4), generic over f32 and
//! f64, one instance at a time; batches run instances in parallel ([`CpuBackend`]).

mod batch;
mod consts;
mod instance;
pub mod lanes;
mod plasticity;
mod pool;
mod state;

pub use batch::CpuBackend;
pub use consts::Consts;
pub use instance::{Instance, PatternKind};
pub use lanes::LanesBackend;
pub use plasticity::low_pass_update;
pub use pool::{per_pattern, Pool};
pub use state::State;
