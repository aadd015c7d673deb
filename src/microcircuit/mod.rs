//! The microcircuit (Sacramento et al. 2018), one room with all its backends: the model itself
//! (shapes, parameters, transfer functions, weights and their initialisation, noise, and the
//! fixed-point formulas of MODEL.md section 7; pure, no I/O) in the files here, the full
//! dynamics in [`full`] (`full::cpu`, `full::gpu`) and the steady-state approximation in
//! [`steady`] (`steady::cpu`, `steady::gpu`), each GPU backend beside its shaders.

pub mod backend;
pub mod fixed_point;
pub mod full;
pub mod init;
pub mod noise;
pub mod params;
pub mod phi;
pub mod self_prediction;
pub mod shape;
pub mod steady;
pub mod weights;

pub use params::{FilterStart, InitMode, InstanceParams};
pub use phi::Transfer;
pub use shape::Shape;
pub use weights::{dot, LayerWeights, Mat, Weights};
