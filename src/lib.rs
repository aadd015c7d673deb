//! pyralnet: a batched simulator of dendritic cortical microcircuits (Sacramento et al. 2018).
//!
//! One room per model, each with all its backends: `microcircuit` holds the microcircuit (the
//! pure model: shapes, parameters, φ, weights, initialisation, the backend contract;
//! `microcircuit::full::{cpu, gpu}` the full dynamics, `microcircuit::steady::{cpu, gpu}` the
//! steady-state approximation) and `gclusteron` the G-clusteron (`gclusteron::{cpu, gpu}`);
//! every GPU backend sits beside its `.wgsl` shaders. Below them: `gpu` holds only what the
//! models share on a device (adapter choice, device creation, pipelines, buffers, read-back),
//! `tasks` the data sets and metrics, and `num`, `seed`, `pool`, `atomic` the small shared
//! utilities. Imports run down only (`scripts/check_layers.py`).

pub mod atomic;
pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod experiment;
pub mod gclusteron;
pub mod gpu;
pub mod microcircuit;
pub mod num;
pub mod output;
pub mod plot;
pub mod pool;
pub mod run;
pub mod seed;
pub mod session;
pub mod tasks;
pub mod validity;
