// The register kernel's column sums without subgroup operations (appended to register.wgsl):
// every thread writes its products W_ip0[k,i] r_i and W_up1[k,i] r_i summed over its column
// slots (`column_product`; 0 where it owns no column) to slot tid of row k of `red`; then a fixed-order tree, slot i += slot i + h for
// h = RT/2, ..., 1, one barrier per level, leaves row k's sum in slot 0.

fn column_sums() {
    for (var k = 0u; k < 2u * RO; k++) {
        red[k * RT + tid] = column_product(k);
    }
    workgroupBarrier();
    for (var h = RT / 2u; h > 0u; h >>= 1u) {
        if tid < h {
            for (var k = 0u; k < 2u * RO; k++) {
                red[k * RT + tid] += red[k * RT + tid + h];
            }
        }
        workgroupBarrier();
    }
}

// Row k's sum (k < RO: W_ip0, else W_up1), after `column_sums`.
fn column_sum(k: u32) -> f32 {
    return red[k * RT];
}

@compute @workgroup_size(RT)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(wg.y, lid);
}
