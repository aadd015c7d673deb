//! Tests that fail if the steady-state model (MODEL.md section 7) departs from its documented
//! sweep order, its fixed points, the settled full simulation, or its plasticity step.
// The reference transcriptions below index like the equations on purpose.
#![allow(clippy::needless_range_loop)]

use pyralnet::microcircuit::backend::{Backend, Batch, Chunk, PatternKind};
use pyralnet::microcircuit::full::cpu::Instance;
use pyralnet::microcircuit::steady::cpu::{SteadyBackend, SteadyInstance, SteadyKernel};
use pyralnet::microcircuit::{init, InitMode, InstanceParams, Mat, Shape, Transfer, Weights};

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `W·x` over the first `cols` entries of x.
fn mv(m: &Mat<f64>, x: &[f64]) -> Vec<f64> {
    (0..m.rows)
        .map(|i| (0..m.cols).map(|j| m.at(i, j) * x[j]).sum())
        .collect()
}

/// `x` with the bias unit appended when the shape has one.
fn with_bias(shape: &Shape, p: &InstanceParams, x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    if shape.bias {
        v.push(p.bias);
    }
    v
}

/// Somas of a hand transcription of the sweeps in the `steady` module docs:
/// `(u^P per layer, u^I per hidden layer)`.
type Somas = (Vec<Vec<f64>>, Vec<Vec<f64>>);

fn reference_relax(
    shape: &Shape,
    p: &InstanceParams,
    w: &Weights<f64>,
    x: &[f64],
    tgt: Option<&[f64]>,
    passes: usize,
) -> Somas {
    let n = shape.n_layers();
    let (gl, gb, ga, gd, gs) = (p.gl, p.gb, p.ga, p.gd, p.gsom);
    let mut up: Vec<Vec<f64>> = (0..n).map(|l| vec![0.0; shape.n_pyr(l)]).collect();
    let mut ui: Vec<Vec<f64>> = (0..n - 1).map(|l| vec![0.0; shape.n_inter(l)]).collect();
    let mut vb: Vec<Vec<f64>> = up.clone();
    let mut vd: Vec<Vec<f64>> = ui.clone();
    let rate = |u: &[f64]| u.iter().map(|&v| sig(v)).collect::<Vec<_>>();
    for pass in 0..passes {
        // up sweep
        for l in 0..n {
            let below = if l == 0 { x.to_vec() } else { rate(&up[l - 1]) };
            vb[l] = mv(&w.layers[l].up, &with_bias(shape, p, &below));
            if l == n - 1 {
                for i in 0..up[l].len() {
                    up[l][i] = match tgt {
                        Some(t) => (gb * vb[l][i] + gs * t[i]) / (gl + gb + gs),
                        None => gb * vb[l][i] / (gl + gb),
                    };
                }
                continue;
            }
            let lw = &w.layers[l];
            let va = if pass == 0 {
                vec![0.0; up[l].len()]
            } else {
                let d = mv(lw.down.as_ref().unwrap(), &rate(&up[l + 1]));
                let q = mv(lw.pi.as_ref().unwrap(), &rate(&ui[l]));
                d.iter().zip(&q).map(|(a, b)| a + b).collect()
            };
            for i in 0..up[l].len() {
                up[l][i] = (gb * vb[l][i] + ga * va[i]) / (gl + gb + ga);
            }
            vd[l] = mv(lw.ip.as_ref().unwrap(), &with_bias(shape, p, &rate(&up[l])));
            for j in 0..ui[l].len() {
                ui[l][j] = if pass == 0 {
                    gd * vd[l][j] / (gl + gd)
                } else {
                    (gd * vd[l][j] + gs * up[l + 1][j]) / (gl + gd + gs)
                };
            }
        }
        // down sweep through every hidden layer, in every pass
        for l in (0..n - 1).rev() {
            let lw = &w.layers[l];
            for j in 0..ui[l].len() {
                ui[l][j] = (gd * vd[l][j] + gs * up[l + 1][j]) / (gl + gd + gs);
            }
            let d = mv(lw.down.as_ref().unwrap(), &rate(&up[l + 1]));
            let q = mv(lw.pi.as_ref().unwrap(), &rate(&ui[l]));
            for i in 0..up[l].len() {
                up[l][i] = (gb * vb[l][i] + ga * (d[i] + q[i])) / (gl + gb + ga);
            }
        }
    }
    (up, ui)
}

fn params(n_layers: usize, passes: usize) -> InstanceParams {
    let mut p = InstanceParams::reference(n_layers);
    p.n_passes = passes;
    p
}

fn steady(shape: &Shape, p: &InstanceParams, w: &Weights<f64>) -> SteadyInstance<f64> {
    SteadyInstance::new(shape.clone(), Transfer::Sigmoid, p.clone(), w)
}

fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>], tol: f64, what: &str) {
    for (l, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len());
        for (i, (u, v)) in x.iter().zip(y).enumerate() {
            assert!(
                (u - v).abs() <= tol,
                "{what} layer {l} cell {i}: {u} vs {v}"
            );
        }
    }
}

/// One pass of a [2,3,2] network, computed by hand from explicit weights. Up sweep: hidden
/// somas `g_B v_B/(g_l+g_B+g_A)` (no apical input), interneurons `g_D v_D/(g_l+g_D)` (no
/// nudging), the output `(g_B v_B + g_som u_tgt)/(g_l+g_B+g_som)` when nudged, `g_B v_B/(g_l+g_B)`
/// not. Down sweep: interneurons nudged by the output, `(g_D v_D + g_som u_out)/(g_l+g_D+g_som)`,
/// then `v_A = W_down φ(u_out) + W_pi φ(u^I)` and the hidden somas `(g_B v_B + g_A v_A)/(g_l+g_B+g_A)`.
#[test]
fn one_pass_of_a_small_network_is_the_hand_computed_fixed_point() {
    let shape = Shape::new(vec![2, 3, 2], false);
    let p = params(2, 1);
    let mut w = Weights::<f64>::zeros(&shape);
    w.layers[0].up.data = vec![0.5, -1.0, 2.0, 0.25, -0.75, 1.5];
    w.layers[0].ip.as_mut().unwrap().data = vec![1.0, -0.5, 0.3, 0.2, 0.4, -1.2];
    w.layers[0].down.as_mut().unwrap().data = vec![0.9, -0.4, 0.3, 0.6, -0.2, 0.5];
    w.layers[0].pi.as_mut().unwrap().data = vec![-0.7, 0.1, 0.2, -0.5, 0.4, -0.3];
    w.layers[1].up.data = vec![0.8, -0.6, 1.1, -0.3, 0.9, 0.7];
    let x = [0.2, 0.9];
    let y = [1.0, 0.1];
    // up sweep, hidden: v_B = W_up x; u = 1/(0.1+1+0.8) v_B
    let vb1 = [
        0.5 * 0.2 - 1.0 * 0.9,
        2.0 * 0.2 + 0.25 * 0.9,
        -0.75 * 0.2 + 1.5 * 0.9,
    ];
    let r1: Vec<f64> = vb1.iter().map(|v| sig(v / 1.9)).collect();
    let vd = [
        r1[0] - 0.5 * r1[1] + 0.3 * r1[2],
        0.2 * r1[0] + 0.4 * r1[1] - 1.2 * r1[2],
    ];
    let vb2 = [
        0.8 * r1[0] - 0.6 * r1[1] + 1.1 * r1[2],
        -0.3 * r1[0] + 0.9 * r1[1] + 0.7 * r1[2],
    ];
    for nudge in [false, true] {
        let mut s = steady(&shape, &p, &w);
        s.set_stimulus(&x, &y);
        s.relax(nudge);
        let out: Vec<f64> = (0..2)
            .map(|i| match nudge {
                true => (vb2[i] + 0.8 * y[i]) / (0.1 + 1.0 + 0.8),
                false => vb2[i] / 1.1,
            })
            .collect();
        // down sweep: interneurons nudged by the output, then apical input and hidden somas
        let ui: Vec<f64> = (0..2).map(|j| (vd[j] + 0.8 * out[j]) / 1.9).collect();
        let (ro, ri) = (out.iter().map(|&u| sig(u)), ui.iter().map(|&u| sig(u)));
        let (ro, ri): (Vec<f64>, Vec<f64>) = (ro.collect(), ri.collect());
        let wd = &w.layers[0].down.as_ref().unwrap().data;
        let wp = &w.layers[0].pi.as_ref().unwrap().data;
        let va: Vec<f64> = (0..3)
            .map(|i| {
                wd[2 * i] * ro[0]
                    + wd[2 * i + 1] * ro[1]
                    + wp[2 * i] * ri[0]
                    + wp[2 * i + 1] * ri[1]
            })
            .collect();
        let u1: Vec<f64> = (0..3).map(|i| (vb1[i] + 0.8 * va[i]) / 1.9).collect();
        assert_close(&s.u_p, &[u1, out], 1e-14, "u^P");
        assert_close(&s.u_i, std::slice::from_ref(&ui), 1e-14, "u^I");
        assert_close(&s.v_a, std::slice::from_ref(&va), 1e-14, "v_A");
    }
}

/// [4,10,10,3]: after 1, 2 and 3 passes every soma equals the hand transcription of the sweeps,
/// and the down sweep reached every hidden layer: each hidden layer's somas are the fixed points
/// of the final somas above (the seed code skipped the middle layers).
#[test]
fn deep_network_down_sweep_reaches_every_hidden_layer() {
    let shape = Shape::new(vec![4, 10, 10, 3], true);
    for init_mode in [InitMode::Random, InitMode::SelfPredicting] {
        for passes in [1, 2, 3] {
            let mut p = params(3, passes);
            p.seed = 5;
            p.init = init_mode;
            let w = init::init_weights(&shape, &p);
            let (x, y) = ([0.1, 0.8, 0.9, 0.2], [0.1, 1.0, 0.1]);
            for nudge in [false, true] {
                let mut s = steady(&shape, &p, &w);
                s.set_stimulus(&x, &y);
                s.relax(nudge);
                let (up, ui) = reference_relax(&shape, &p, &w, &x, nudge.then_some(&y[..]), passes);
                assert_close(&s.u_p, &up, 1e-12, "u^P");
                assert_close(&s.u_i, &ui, 1e-12, "u^I");
                // consistency left by the down sweep in both hidden layers
                for l in 0..2 {
                    let lw = &s.w.layers[l];
                    let r_above: Vec<f64> = s.u_p[l + 1].iter().map(|&u| sig(u)).collect();
                    let r_i: Vec<f64> = s.u_i[l].iter().map(|&u| sig(u)).collect();
                    let d = mv(lw.down.as_ref().unwrap(), &r_above);
                    let q = mv(lw.pi.as_ref().unwrap(), &r_i);
                    for j in 0..s.u_i[l].len() {
                        let want = (s.v_d[l][j] + 0.8 * s.u_p[l + 1][j]) / 1.9;
                        assert!((s.u_i[l][j] - want).abs() < 1e-12, "u^I[{l}][{j}]");
                    }
                    for i in 0..s.u_p[l].len() {
                        let va = d[i] + q[i];
                        assert!((s.v_a[l][i] - va).abs() < 1e-12, "v_A[{l}][{i}]");
                        let want = (s.v_b[l][i] + 0.8 * va) / 1.9;
                        assert!((s.u_p[l][i] - want).abs() < 1e-12, "u^P[{l}][{i}]");
                    }
                }
            }
        }
    }
    // Already after 1 pass (its down sweep) the first hidden layer's somas depend on the top
    // layer's weights through the apical input: n_passes 1 gives every hidden layer an error.
    for passes in [1, 2] {
        let p = params(3, passes);
        let w = init::init_weights(&shape, &p);
        let mut w2 = w.clone();
        w2.layers[2].up.data.iter_mut().for_each(|v| *v *= -1.5);
        let first_hidden = |w: &Weights<f64>| {
            let mut s = steady(&shape, &p, w);
            s.set_stimulus(&[0.1, 0.8, 0.9, 0.2], &[0.0; 3]);
            s.relax(false);
            s.u_p[0].clone()
        };
        assert_ne!(first_hidden(&w), first_hidden(&w2), "{passes} passes");
    }
}

/// With enough passes the steady somas equal the somas of the full simulation after it has
/// settled (plasticity off, 100 ms ≫ τ0 and the somatic time constants), to 1e-4, for an
/// evaluation pattern and for a nudged one, from random and self-predicting weights.
#[test]
fn steady_state_matches_the_settled_full_simulation() {
    let shape = Shape::new(vec![4, 10, 10, 3], true);
    for init_mode in [InitMode::Random, InitMode::SelfPredicting] {
        let mut p = params(3, 30);
        p.seed = 11;
        p.init = init_mode;
        p.t_pattern = 100.0;
        p.out_lag = 99.0;
        let w = init::init_weights(&shape, &p);
        let (x, y) = ([0.7, 0.3, 0.3, 0.7], [1.0, 0.1, 0.1]);
        for kind in [PatternKind::Eval, PatternKind::Train] {
            let mut full = Instance::<f64>::new(shape.clone(), Transfer::Sigmoid, p.clone(), &w);
            let mut out = [0.0; 3];
            full.run_pattern(&x, &y, kind, &mut out, |_, _| {});
            let mut s = steady(&shape, &p, &w);
            let mut readout = [0.0; 3];
            s.run_pattern(&x, &y, kind, &mut readout);
            assert_close(&s.u_p, &full.state.u_p, 1e-4, "u^P");
            assert_close(&s.u_i, &full.state.u_i, 1e-4, "u^I");
            assert_close(&[readout.to_vec()], &[out.to_vec()], 1e-4, "readout");
        }
    }
}

/// One plasticity step by hand: dendrites from the relaxed somas, `a = dT/(τ_w+dT)`,
/// `Δ = (1−a)Δ + a e r_preᵀ`, `W += dT η Δ` with the new Δ, `dT = (t_pattern − lag)/n_exposures`.
#[test]
fn plasticity_step_matches_the_hand_computation() {
    let shape = Shape::new(vec![2, 3, 2], true);
    let mut p = params(2, 2);
    p.seed = 3;
    p.t_pattern = 100.0;
    p.learning_lag = 20.0;
    p.n_exposures = 4;
    p.tau_w = 30.0;
    p.eta_up = vec![0.05, 0.02];
    p.eta_pi = vec![0.03];
    p.eta_ip = vec![0.04];
    p.eta_down = vec![0.01];
    let w0 = init::init_weights(&shape, &p);
    let mut s = steady(&shape, &p, &w0);
    // a non-zero old Δ so that the (1−a) Δ term is exercised
    let names: Vec<String> = w0.named().into_iter().map(|(n, _)| n).collect();
    for (k, name) in names.iter().enumerate() {
        let d = s.delta.get_mut(name).unwrap();
        for (i, v) in d.data.iter_mut().enumerate() {
            *v = 0.01 * ((i + k) as f64).sin();
        }
    }
    let d0 = s.delta.clone();
    s.set_stimulus(&[0.3, 0.6], &[1.0, 0.1]);
    s.relax(true);
    let (up, ui) = (s.u_p.clone(), s.u_i.clone());
    s.plasticity_step();

    let d_t = (100.0 - 20.0) / 4.0;
    let a = d_t / (30.0 + d_t);
    let r = |u: &[f64]| u.iter().map(|&v| sig(v)).collect::<Vec<f64>>();
    let b = |v: Vec<f64>| with_bias(&shape, &p, &v);
    let pre0 = b(vec![0.3, 0.6]);
    let pre1 = b(r(&up[0]));
    let r_i = r(&ui[0]);
    let r_out = r(&up[1]);
    let l0 = &w0.layers[0];
    // e of every pathway from the relaxed somas, dendrites recomputed from them
    let vb0 = mv(&l0.up, &pre0);
    let vb1 = mv(&w0.layers[1].up, &pre1);
    let vdown = mv(l0.down.as_ref().unwrap(), &r_out);
    let va: Vec<f64> = vdown
        .iter()
        .zip(mv(l0.pi.as_ref().unwrap(), &r_i))
        .map(|(d, q)| d + q)
        .collect();
    let vd = mv(l0.ip.as_ref().unwrap(), &pre1);
    let e_up0: Vec<f64> = (0..3).map(|i| sig(up[0][i]) - sig(vb0[i] / 1.9)).collect();
    let e_up1: Vec<f64> = (0..2).map(|i| sig(up[1][i]) - sig(vb1[i] / 1.1)).collect();
    let e_ip: Vec<f64> = (0..2).map(|j| r_i[j] - sig(vd[j] / 1.1)).collect();
    let e_pi: Vec<f64> = va.iter().map(|v| -v).collect();
    let e_down: Vec<f64> = (0..3).map(|i| sig(up[0][i]) - sig(vdown[i])).collect();
    let check = |name: &str, e: &[f64], pre: &[f64], eta: f64| {
        let (w_old, d_old) = (get(&w0, name), get(&d0, name));
        let (w_new, d_new) = (get(&s.w, name), get(&s.delta, name));
        for i in 0..w_old.rows {
            for j in 0..w_old.cols {
                let d = (1.0 - a) * d_old.at(i, j) + a * e[i] * pre[j];
                let wv = w_old.at(i, j) + d_t * eta * d;
                assert!((d_new.at(i, j) - d).abs() < 1e-14, "{name} Δ[{i},{j}]");
                assert!((w_new.at(i, j) - wv).abs() < 1e-14, "{name} W[{i},{j}]");
            }
        }
    };
    check("layer0.W_up", &e_up0, &pre0, 0.05);
    check("layer1.W_up", &e_up1, &pre1, 0.02);
    check("layer0.W_ip", &e_ip, &pre1, 0.04);
    check("layer0.W_pi", &e_pi, &r_i, 0.03);
    check("layer0.W_down", &e_down, &r_out, 0.01);
}

fn get<'a>(w: &'a Weights<f64>, name: &str) -> &'a Mat<f64> {
    w.named()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, m)| m)
        .unwrap()
}

/// A training pattern: `n_exposures` relax+update rounds (the readout is the nudged output of
/// the last relaxation), and with `reset_deltas` every Δ of every layer is zero afterwards while
/// every layer's weights have learned.
#[test]
fn training_pattern_learns_every_layer_and_reset_deltas_clears_all() {
    let shape = Shape::new(vec![4, 10, 10, 3], true);
    let mut p = params(3, 2);
    p.seed = 9;
    p.n_exposures = 3;
    p.eta_up = vec![0.05, 0.03, 0.02];
    p.eta_pi = vec![0.01, 0.01];
    p.eta_ip = vec![0.02, 0.02];
    let w = init::init_weights(&shape, &p);
    let (x, y) = ([0.1, 0.8, 0.9, 0.2], [0.1, 1.0, 0.1]);
    for reset in [false, true] {
        p.reset_deltas = reset;
        let mut s = steady(&shape, &p, &w);
        let mut out = [0.0; 3];
        s.run_pattern(&x, &y, PatternKind::Train, &mut out);
        // by hand: three rounds of relax + update on a second instance
        let mut h = steady(&shape, &p, &w);
        h.set_stimulus(&x, &y);
        for _ in 0..3 {
            h.relax(true);
            h.plasticity_step();
        }
        assert_eq!(h.w, s.w);
        for (l, (lw, l0)) in s.w.layers.iter().zip(&w.layers).enumerate() {
            assert_ne!(lw.up, l0.up, "layer {l} W_up did not learn");
        }
        for (name, d) in s.delta.named() {
            let zero = d.data.iter().all(|&v| v == 0.0);
            let down = name.ends_with("W_down");
            assert_eq!(zero, reset || down, "{name} reset {reset}");
        }
    }
}

/// Evaluation neither nudges nor learns nor changes the instance; an instance in a batch
/// computes exactly what it computes alone.
#[test]
fn batch_equals_instances_alone_and_evaluation_changes_nothing() {
    let shape = Shape::new(vec![4, 6, 3], true);
    let ps: Vec<InstanceParams> = (0..3)
        .map(|i| {
            let mut p = params(2, 1 + i);
            p.seed = i as u64;
            p.eta_up = vec![0.1, 0.05];
            p.eta_ip = vec![0.02];
            p.eta_pi = vec![0.01 * i as f64];
            p.n_exposures = 1 + i % 2;
            p.reset_deltas = i == 1;
            p
        })
        .collect();
    let init: Vec<Weights<f64>> = ps.iter().map(|p| init::init_weights(&shape, p)).collect();
    let batch = Batch {
        shape: shape.clone(),
        phi: Transfer::Sigmoid,
        params: ps.clone(),
        init: init.clone(),
    };
    let pat = |i: usize| -> (Vec<f64>, Vec<f64>) {
        let x = (0..5 * 4)
            .map(|k| ((k * 7 + i) % 10) as f64 / 10.0)
            .collect();
        let y = (0..5 * 3)
            .map(|k| if (k + i).is_multiple_of(3) { 1.0 } else { 0.1 })
            .collect();
        (x, y)
    };
    let mut chunk = Chunk::default();
    for i in 0..3 {
        let (x, y) = pat(i);
        chunk.x.push(x);
        chunk.y.push(y);
    }
    let mut backend = SteadyBackend::<f64>::new(&batch, Some(2)).unwrap();
    let before = backend.weights().unwrap();
    let eval1 = backend.evaluate(&chunk).unwrap();
    assert_eq!(backend.weights().unwrap(), before);
    assert_eq!(backend.evaluate(&chunk).unwrap(), eval1);
    let trained = backend.train(&chunk).unwrap();
    let after = backend.weights().unwrap();
    for i in 0..3 {
        let mut alone = steady(&shape, &ps[i], &init[i]);
        let (x, y) = pat(i);
        let mut got = vec![0.0; 15];
        for k in 0..5 {
            alone.run_pattern(
                &x[k * 4..(k + 1) * 4],
                &y[k * 3..(k + 1) * 3],
                PatternKind::Train,
                &mut got[k * 3..(k + 1) * 3],
            );
        }
        assert_eq!(got, trained[i], "instance {i} readouts");
        assert_eq!(alone.w, after[i], "instance {i} weights");
        assert_ne!(after[i], before[i]);
        // evaluation output = un-nudged output somas of a relaxation
        let mut e = steady(&shape, &ps[i], &init[i]);
        e.set_stimulus(&x[..4], &y[..3]);
        e.relax(false);
        assert_eq!(&eval1[i][..3], &e.u_p[1][..]);
    }
}

/// f32 follows f64 closely.
#[test]
fn f32_follows_f64() {
    let shape = Shape::new(vec![4, 10, 3], true);
    let mut p = params(2, 3);
    p.eta_up = vec![0.1, 0.05];
    p.eta_ip = vec![0.02];
    let w = init::init_weights(&shape, &p);
    let mut a = SteadyInstance::<f64>::new(shape.clone(), Transfer::Sigmoid, p.clone(), &w);
    let mut b = SteadyInstance::<f32>::new(shape.clone(), Transfer::Sigmoid, p.clone(), &w);
    let (mut oa, mut ob) = ([0.0; 3], [0.0; 3]);
    for k in 0..20 {
        let x = [0.1 * (k % 10) as f64, 0.5, 0.3, 0.9];
        let y = [1.0, 0.1, 0.1];
        a.run_pattern(&x, &y, PatternKind::Train, &mut oa);
        b.run_pattern(&x, &y, PatternKind::Train, &mut ob);
    }
    for (u, v) in oa.iter().zip(&ob) {
        assert!((u - v).abs() < 1e-4, "{u} vs {v}");
    }
}

/// A snapshot restored into a fresh backend continues exactly like the original (checkpoints).
#[test]
fn snapshot_and_restore_continue_identically() {
    let shape = Shape::new(vec![4, 6, 3], true);
    let mut p = params(2, 2);
    p.eta_up = vec![0.1, 0.05];
    p.eta_ip = vec![0.02];
    p.n_exposures = 2;
    let init = vec![init::init_weights(&shape, &p)];
    let batch = Batch {
        shape: shape.clone(),
        phi: Transfer::Sigmoid,
        params: vec![p],
        init,
    };
    let chunk = |k: usize| Chunk {
        x: vec![(0..3 * 4).map(|i| ((i * 5 + k) % 9) as f64 / 9.0).collect()],
        y: vec![(0..3 * 3)
            .map(|i| if (i + k).is_multiple_of(3) { 1.0 } else { 0.1 })
            .collect()],
    };
    let mut a = SteadyBackend::<f32>::new(&batch, Some(1)).unwrap();
    a.train(&chunk(0)).unwrap();
    let snap = a.snapshot().unwrap();
    let mut b = SteadyBackend::<f32>::new(&batch, Some(1)).unwrap();
    b.restore(&snap).unwrap();
    assert_eq!(b.snapshot().unwrap(), snap);
    assert_eq!(a.train(&chunk(1)).unwrap(), b.train(&chunk(1)).unwrap());
    assert_eq!(a.weights().unwrap(), b.weights().unwrap());
    assert!(b.restore(&[snap[0].clone(), snap[0].clone()]).is_err());
}

/// A mid-size batch for the kernel comparison: `dims`, every pathway plastic, 2 passes,
/// 1 or 2 exposures, reset_deltas on one instance; rows (37, 9) and columns (51, 38, 10) that
/// are not multiples of the kernels' blocks, so every tail runs.
fn kernel_batch(dims: Vec<usize>, n: usize) -> Batch {
    let shape = Shape::new(dims, true);
    let layers = shape.n_layers();
    let params: Vec<InstanceParams> = (0..n)
        .map(|i| {
            let mut p = params(layers, 2);
            p.seed = 10 + i as u64;
            p.init = InitMode::Random;
            p.eta_up = (0..layers).map(|l| 0.2 / (l + 1) as f64).collect();
            p.eta_ip = vec![0.02; layers - 1];
            p.eta_pi = vec![0.01; layers - 1];
            p.eta_down = vec![0.005; layers - 1];
            p.n_exposures = 1 + i % 2;
            p.reset_deltas = i == 2;
            p
        })
        .collect();
    Batch::from_params(shape, Transfer::Sigmoid, params)
}

fn kernel_chunk(batch: &Batch, patterns: usize, k: usize) -> Chunk {
    let (n_in, n_out) = (batch.shape.n_in(), batch.shape.n_out());
    Chunk {
        x: (0..batch.len())
            .map(|i| {
                (0..patterns * n_in)
                    .map(|j| ((j * 13 + i * 7 + k * 3) % 23) as f64 / 23.0)
                    .collect()
            })
            .collect(),
        y: (0..batch.len())
            .map(|i| {
                (0..patterns * n_out)
                    .map(|j| {
                        if (j + i + k).is_multiple_of(n_out) {
                            1.0
                        } else {
                            0.1
                        }
                    })
                    .collect()
            })
            .collect(),
    }
}

/// The blocked kernel (blocked products, v_B[0] reused, W_up[0]'s update fused with the next
/// pattern's product) computes exactly what the reference kernel computes: readouts, weights
/// and Δ bit for bit in f64 and f32 (the acceptance bound is 1e-12 relative in f64; the
/// kernels keep every sum's order, so they agree exactly), over three training chunks of 3
/// patterns and an evaluation, on a one- and a two-hidden-layer network.
#[test]
fn blocked_kernel_equals_the_reference_kernel_bit_for_bit() {
    fn run<F: pyralnet::num::Real>(batch: &Batch, kernel: SteadyKernel) -> Vec<String> {
        let mut b = SteadyBackend::<F>::with_kernel(batch, Some(2), kernel).unwrap();
        let mut log = Vec::new();
        for k in 0..3 {
            let out = b.train(&kernel_chunk(batch, 3, k)).unwrap();
            log.push(format!("{out:?}"));
        }
        log.push(format!(
            "{:?}",
            b.evaluate(&kernel_chunk(batch, 2, 9)).unwrap()
        ));
        log.push(format!("{:?}", b.snapshot().unwrap()));
        log
    }
    for dims in [vec![50, 37, 9], vec![38, 37, 9, 4]] {
        let batch = kernel_batch(dims.clone(), 3);
        let reference = run::<f64>(&batch, SteadyKernel::Reference);
        let blocked = run::<f64>(&batch, SteadyKernel::Blocked);
        assert_eq!(reference, blocked, "{dims:?} f64");
        let reference = run::<f32>(&batch, SteadyKernel::Reference);
        let blocked = run::<f32>(&batch, SteadyKernel::Blocked);
        assert_eq!(reference, blocked, "{dims:?} f32");
    }
}

/// With the blocked kernel, instance k in a batch of 5 (chunks of 4 patterns, fused updates)
/// equals instance k alone, pattern by pattern (no fusing across calls), bit for bit.
#[test]
fn blocked_kernel_alone_equals_in_a_batch() {
    let batch = kernel_batch(vec![50, 37, 9], 5);
    let chunk = kernel_chunk(&batch, 4, 1);
    let mut b = SteadyBackend::<f64>::with_kernel(&batch, Some(2), SteadyKernel::Blocked).unwrap();
    let trained = b.train(&chunk).unwrap();
    let after = b.snapshot().unwrap();
    let (n_in, n_out) = (batch.shape.n_in(), batch.shape.n_out());
    for i in 0..5 {
        let mut alone = steady(&batch.shape, &batch.params[i], &batch.init[i]);
        assert_eq!(alone.kernel(), SteadyKernel::Blocked);
        let mut got = vec![0.0; 4 * n_out];
        for p in 0..4 {
            alone.run_pattern(
                &chunk.x[i][p * n_in..(p + 1) * n_in],
                &chunk.y[i][p * n_out..(p + 1) * n_out],
                PatternKind::Train,
                &mut got[p * n_out..(p + 1) * n_out],
            );
        }
        assert_eq!(got, trained[i], "instance {i} readouts");
        assert_eq!(alone.snapshot(), after[i], "instance {i} state");
    }
}
