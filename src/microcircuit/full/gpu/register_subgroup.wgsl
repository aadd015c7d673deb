// The register kernel's column sums with subgroup operations (appended to register.wgsl; the
// device needs Features::SUBGROUP): each subgroup adds its lanes' products W_ip0[k,i] r_i and
// W_up1[k,i] r_i with subgroupAdd, its first lane writes the 2 RO partials to slot
// `subgroup_id` of the rows of `red`, one barrier; row k's sum adds the num_subgroups partials
// in subgroup order (fixed for a device, so independent of the batch).

// The invocation's subgroup, the workgroup's subgroups and the lane within the subgroup.
var<private> sg_id: u32;
var<private> n_sg: u32;
var<private> sg_lane: u32;

fn column_sums(rc: f32) {
    for (var k = 0u; k < RO; k++) {
        let a = subgroupAdd(w_ip[k] * rc);
        let c = subgroupAdd(w_out[k] * rc);
        if sg_lane == 0u {
            red[k * RT + sg_id] = a;
            red[(RO + k) * RT + sg_id] = c;
        }
    }
    workgroupBarrier();
}

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
) {
    sg_id = sid;
    n_sg = ns;
    sg_lane = lane;
    run(wg.y, lid);
}
