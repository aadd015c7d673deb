//! pyralnet: a batched simulator of dendritic cortical microcircuits (Sacramento et al. 2018).
//!
//! `model` holds the pure model (shapes, parameters, φ, weights, initialisation), `cpu` the
//! reference integrator of the full dynamics, `steady` the steady-state approximation, `gpu` the
//! wgpu backend.

pub mod backend;
pub mod bench;
pub mod check;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod experiment;
pub mod gclusteron;
pub mod gpu;
pub mod model;
pub mod output;
pub mod plot;
pub mod steady;
pub mod tasks;
pub mod validity;
