// Known-answer probe of common.wgsl: for every index i, the hash of i, a noise sample keyed by
// (seed, step, i) and phi(x_i), written as raw bits so the host can compare exactly.
// Needs the prelude and common.wgsl.

struct Probe {
    phi: u32,
    gamma: f32,
    beta: f32,
    theta: f32,
    seed: vec2<u32>,
    step: vec2<u32>,
}

@group(0) @binding(0) var<uniform> probe: Probe;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= arrayLength(&xs) {
        return;
    }
    phi_kind = probe.phi;
    phi_gamma = probe.gamma;
    phi_beta = probe.beta;
    phi_theta = probe.theta;
    out[3u * i] = hash32(i);
    out[3u * i + 1u] = bitcast<u32>(normal(probe.seed, probe.step, i));
    out[3u * i + 2u] = bitcast<u32>(phi(xs[i]));
}
