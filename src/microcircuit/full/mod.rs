//! The full dynamics of the microcircuit (MODEL.md sections 2–4): the CPU integrators ([`cpu`])
//! and the GPU backend ([`gpu`]).

pub mod cpu;
pub mod gpu;
