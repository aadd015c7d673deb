// e^x − 1 for x ≤ 0 in f32, accurate relative to its result also for x → 0 (WGSL has no
// expm1): the Taylor series to x⁸/8! in Horner form above −0.35 (first neglected term below
// 1e-9 of the result), e^x − 1 below (e^x ≤ 0.705, no cancellation). Only +, ×, exp: no log,
// whose absolute error bound (2^−21) would spoil Kahan's (u − 1)·x / log(u).
fn expm1_nonpositive(x: f32) -> f32 {
    if x > -0.35 {
        var p = 1.0 + x * 0.125;
        p = 1.0 + x * p * 0.14285715;
        p = 1.0 + x * p * 0.16666667;
        p = 1.0 + x * p * 0.2;
        p = 1.0 + x * p * 0.25;
        p = 1.0 + x * p * 0.33333334;
        p = 1.0 + x * p * 0.5;
        return x * p;
    }
    return exp(x) - 1.0;
}
