// The register kernel's column sums with subgroup operations (appended to register.wgsl after
// `column_sums`, which `register.rs` generates for the shape's 2 RO rows; the device needs
// Features::SUBGROUP): each subgroup reduces its lanes' products W_ip0[k,i] r_i and
// W_up1[k,i] r_i, all 2 RO rows at once, with a transpose-reduce butterfly of
// subgroupShuffleXor; lane l < L holds one row's partial and writes it to slot `subgroup_id`
// of that row of `red`, one barrier; row k's sum adds the num_subgroups partials in subgroup
// order (fixed for a device, so independent of the batch).

// The invocation's subgroup, the workgroup's subgroups, the lane within the subgroup and the
// subgroup's size.
var<private> sg_id: u32;
var<private> n_sg: u32;
var<private> sg_lane: u32;
var<private> sg_size: u32;

// Row k's sum (k < RO: W_ip0, else W_up1), after `column_sums`.
fn column_sum(k: u32) -> f32 {
    var sum = 0.0;
    for (var w = 0u; w < n_sg; w++) {
        sum += red[k * RT + w];
    }
    return sum;
}

@compute @workgroup_size(RT)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) sid: u32,
    @builtin(num_subgroups) ns: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
) {
    sg_id = sid;
    n_sg = ns;
    sg_lane = lane;
    sg_size = size;
    run(wg.y, lid);
}
