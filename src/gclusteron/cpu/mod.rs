//! The G-clusteron's CPU backend ([`GcCpu`]), generic over f32 and f64 ([`GcReal`]): the kernel
//! complement `G = 1 − F` ([`kernel`]), the forward pass ([`forward`]), one instance's step
//! ([`instance`]) and the batch over a thread pool ([`batch`]).

pub mod batch;
pub mod forward;
pub mod instance;
pub mod kernel;

pub use batch::GcCpu;
pub use kernel::GcReal;
