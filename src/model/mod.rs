//! The microcircuit model itself: shapes, parameters, transfer functions, weights and their
//! initialisation, and the fixed-point formulas of MODEL.md section 7. Pure, no I/O.

pub mod fixed_point;
pub mod init;
pub mod noise;
pub mod params;
pub mod phi;
pub mod real;
pub mod self_prediction;
pub mod shape;
pub mod weights;

pub use params::{FilterStart, InitMode, InstanceParams};
pub use phi::Transfer;
pub use real::Real;
pub use shape::Shape;
pub use weights::{dot, LayerWeights, Mat, Weights};
