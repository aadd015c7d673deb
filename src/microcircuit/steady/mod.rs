//! The steady-state approximation "SteadNet" (MODEL.md section 7): the CPU backend
//! ([`cpu::SteadyBackend`], generic over f32 and f64, one instance at a time, a batch in parallel
//! with rayon) and the GPU backend ([`gpu::SteadyGpuBackend`], with `steady.wgsl` beside it).
//!
//! Instead of integrating the dynamics for `t_pattern`, every compartment is set to its fixed
//! point given its inputs (section 7), sweeping through the layers. The stimulus filter is not
//! used: `r_0 = x` and `u_tgt = y` directly.
//!
//! # Sweep order
//! Layers with neurons are `l = 0..N` (`N-1` is the output layer); `pre[l]` is the presynaptic
//! vector of `W_up[l]` (rates of the layer below with the bias unit appended), so
//! `pre[l+1] = [φ(u^P[l]), b]`; `r_I[l] = φ(u^I[l])`. Whenever a soma is recomputed, its rate is
//! recomputed with it.
//!
//! **Every pass** is an up sweep followed by a down sweep (the seed's `SteadNet.update`).
//! - Up sweep, `l = 0, 1, …, N-1`, the upper layer's somas taken as they are (from the previous
//!   pass): hidden `l`: `v_B[l] = W_up[l]·pre[l]`;
//!   `v_A[l] = W_down[l]·φ(u^P[l+1]) + W_pi[l]·φ(u^I[l])`;
//!   `u^P[l] = (g_B v_B + g_A v_A)/(g_l+g_B+g_A)`; then `v_D[l] = W_ip[l]·pre[l+1]`;
//!   `u^I[l] = (g_D v_D + g_som u^P[l+1])/(g_l+g_D+g_som)`. Output: `v_B = W_up·pre[N-1]`;
//!   `u^P = (g_B v_B + g_som u_tgt)/(g_l+g_B+g_som)` on training patterns, `g_B v_B/(g_l+g_B)`
//!   otherwise.
//! - In the up sweep of **pass 1** nothing above is known yet (dendritic prediction): hidden
//!   cells get `v_A[l] = 0`, so `u^P[l] = g_B v_B / (g_l+g_B+g_A)`, and the interneurons are
//!   not nudged, `u^I[l] = g_D v_D / (g_l+g_D)`; the output is nudged as in every pass.
//! - Down sweep over **every** hidden layer, `l = N-2, N-3, …, 0`, in every pass including the
//!   first (so `n_passes = 1` already gives the hidden layers an error signal; the output soma
//!   depends only on its basal input, which the up sweep has just set): interneurons first,
//!   `u^I[l] = (g_D v_D[l] + g_som u^P[l+1])/(g_l+g_D+g_som)` with the new `u^P[l+1]` (`v_D[l]`
//!   is current: `u^P[l]` has not changed since the up sweep); then the pyramidal cells,
//!   `v_A[l] = W_down[l]·φ(u^P[l+1]) + W_pi[l]·φ(u^I[l])`,
//!   `u^P[l] = (g_B v_B[l] + g_A v_A[l])/(g_l+g_B+g_A)` (`v_B[l]` is current: the layers below
//!   are not revisited before this one in the down sweep). The seed code's down sweep skips
//!   the middle layers of networks with more than one hidden layer (an empty
//!   `range(len(layer) - 1, 1)`); we do not copy that bug.
//!
//! # Plasticity
//! After each relaxation of a training pattern, the dendrites are recomputed from the relaxed
//! somas as in section 2 (dendrites are instantaneous functions of the somas; the seed code
//! reuses `v_D` and the output's `v_B` from before the last down update, a departure of ~1e-5
//! relative in the weights, see the README), and for every
//! matrix with η ≠ 0, with `dT = (t_pattern − learning_lag)/n_exposures` and
//! `a = dT/(τ_w + dT)`: `Δ = (1−a)·Δ + a·e r_preᵀ`, then `W += dT·η·Δ` with the **new** Δ;
//! e and r_pre are those of section 2. Relaxation and update alternate `n_exposures` times.
//! With `reset_deltas`, Δ of every layer is zeroed after each training pattern (the seed code
//! zeroes only the first layer's, a bug we do not copy). Matrices with
//! η = 0 are not plastic and their Δ stays 0, as in the full model.
//!
//! # Readout
//! The output somas after the last relaxation of the pattern; for training patterns that is the
//! relaxation before the last plasticity update (nudged towards the target). Evaluation patterns
//! relax once, without output nudging (interneurons are nudged as always), on a copy of the
//! instance, and learn nothing.

pub mod cpu;
pub mod gpu;
