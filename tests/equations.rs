//! Tests that fail if an equation of MODEL.md sections 2–5 is wrong in the CPU integrator.
// The reference transcription below indexes like the equations on purpose.
#![allow(
    clippy::needless_range_loop,
    clippy::type_complexity,
    clippy::too_many_arguments
)]

use pyralnet::microcircuit::backend::{Backend, Batch, Chunk, PatternKind, RecordSpec};
use pyralnet::microcircuit::full::cpu::{CpuBackend, Instance, Layout};
use pyralnet::microcircuit::{
    fixed_point as fp, init, InitMode, InstanceParams, Shape, Transfer, Weights,
};

/// Parameters with every pathway plastic (η > 0) so each rule is exercised.
fn plastic_params(n_layers: usize, seed: u64) -> InstanceParams {
    let mut p = InstanceParams::reference(n_layers);
    p.seed = seed;
    p.t_pattern = 5.0;
    p.out_lag = 2.0;
    p.eta_up = (0..n_layers).map(|l| 0.05 / (l + 1) as f64).collect();
    p.eta_pi = vec![0.03; n_layers - 1];
    p.eta_ip = vec![0.02; n_layers - 1];
    p.eta_down = vec![0.01; n_layers - 1];
    p
}

fn instance(shape: &Shape, phi: Transfer, p: &InstanceParams) -> Instance<f64> {
    Instance::new(shape.clone(), phi, p.clone(), &init::init_weights(shape, p))
}

/// Both storage orders of the CPU instance: the reference kernel's and the vector kernel's.
const LAYOUTS: [Layout; 2] = [Layout::RowMajor, Layout::LongAxis];

fn instance_in(shape: &Shape, phi: Transfer, p: &InstanceParams, layout: Layout) -> Instance<f64> {
    let w = init::init_weights(shape, p);
    Instance::with_layout(shape.clone(), phi, p.clone(), &w, layout)
}

/// Plasticity off and a constant stimulus: every soma settles to its section 7 fixed point
/// given its dendritic inputs (f64, 1e-6), with and without output nudging.
#[test]
fn somas_converge_to_analytic_fixed_points() {
    let shape = Shape::new(vec![4, 10, 5, 3], true);
    for nudge in [false, true] {
        let mut p = InstanceParams::reference(3);
        p.t_pattern = 400.0;
        p.out_lag = 399.0;
        let mut inst = instance(&shape, Transfer::Sigmoid, &p);
        let (x, y) = ([0.3, 0.9, 0.7, 0.1], [1.0, 0.1, 0.1]);
        let kind = if nudge {
            PatternKind::Train
        } else {
            PatternKind::Eval
        };
        let mut out = [0.0; 3];
        inst.run_pattern(&x, &y, kind, &mut out, |_, _| {});
        let (vb, va, vd) = inst.dendrites();
        let st = &inst.state;
        let mut checked = 0;
        for l in 0..2 {
            for i in 0..shape.n_pyr(l) {
                let want = fp::hidden_pyramidal(&p, vb[l][i], va[l][i]);
                assert!(
                    (st.u_p[l][i] - want).abs() < 1e-6,
                    "hidden layer {l} cell {i}"
                );
                checked += 1;
            }
            for j in 0..shape.n_inter(l) {
                let want = fp::interneuron(&p, vd[l][j], st.u_p[l + 1][j]);
                assert!((st.u_i[l][j] - want).abs() < 1e-6, "interneuron {l}/{j}");
                checked += 1;
            }
        }
        for i in 0..3 {
            let want = fp::output(&p, vb[2][i], nudge.then_some(y[i]));
            assert!(
                (st.u_p[2][i] - want).abs() < 1e-6,
                "output {i} nudge {nudge}"
            );
            // the readout is the mean over the last step only here
            assert!((out[i] - st.u_p[2][i]).abs() < 1e-12);
        }
        assert_eq!(checked, 10 + 5 + 5 + 3);
        // the filtered input reached the pattern
        assert!((st.r0[1] - 0.9).abs() < 1e-12);
    }
}

/// Naive transcription of one Euler step of MODEL.md section 3 (softplus, no bias, nudged,
/// plastic), written independently of the integrator's buffers.
fn reference_step(
    p: &InstanceParams,
    w: &Weights<f64>,
    d: &Weights<f64>,
    u1: &[f64],
    ui: &[f64],
    u2: &[f64],
    r0: &[f64],
    ut: &[f64],
    x: &[f64],
    y: &[f64],
) -> (Weights<f64>, Weights<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let phi = |v: f64| (1.0 + v.exp()).ln();
    let dt = p.dt;
    let r0: Vec<f64> = (0..2)
        .map(|j| r0[j] + dt / p.tau0 * (x[j] - r0[j]))
        .collect();
    let ut: Vec<f64> = (0..2)
        .map(|j| ut[j] + dt / p.tau0 * (y[j] - ut[j]))
        .collect();
    let (wu1, wd, wpi, wip, wu2) = (
        &w.layers[0].up,
        w.layers[0].down.as_ref().unwrap(),
        w.layers[0].pi.as_ref().unwrap(),
        w.layers[0].ip.as_ref().unwrap(),
        &w.layers[1].up,
    );
    let r1: Vec<f64> = u1.iter().map(|&u| phi(u)).collect();
    let r2: Vec<f64> = u2.iter().map(|&u| phi(u)).collect();
    let ri: Vec<f64> = ui.iter().map(|&u| phi(u)).collect();
    let mut nw = w.clone();
    let mut nd = d.clone();
    let (mut n1, mut ni, mut n2) = (u1.to_vec(), ui.to_vec(), u2.to_vec());
    let kw = dt / p.tau_w;
    let mut upd = |name: &str, i: usize, j: usize, e: f64, r: f64, eta: f64| {
        let old = d.layers[if name == "up2" { 1 } else { 0 }].clone();
        let (wm, dm, od) = match name {
            "up1" => (&mut nw.layers[0].up, &mut nd.layers[0].up, old.up.at(i, j)),
            "ip" => (
                nw.layers[0].ip.as_mut().unwrap(),
                nd.layers[0].ip.as_mut().unwrap(),
                old.ip.as_ref().unwrap().at(i, j),
            ),
            "pi" => (
                nw.layers[0].pi.as_mut().unwrap(),
                nd.layers[0].pi.as_mut().unwrap(),
                old.pi.as_ref().unwrap().at(i, j),
            ),
            "down" => (
                nw.layers[0].down.as_mut().unwrap(),
                nd.layers[0].down.as_mut().unwrap(),
                old.down.as_ref().unwrap().at(i, j),
            ),
            _ => (&mut nw.layers[1].up, &mut nd.layers[1].up, old.up.at(i, j)),
        };
        let k = i * wm.cols + j;
        wm.data[k] += dt * eta * od;
        dm.data[k] = od + kw * (-od + e * r);
    };
    for i in 0..3 {
        let vb: f64 = (0..2).map(|j| wu1.at(i, j) * r0[j]).sum();
        let va: f64 = (0..2)
            .map(|j| wd.at(i, j) * r2[j] + wpi.at(i, j) * ri[j])
            .sum();
        let vdown: f64 = (0..2).map(|j| wd.at(i, j) * r2[j]).sum();
        n1[i] += dt * (-p.gl * u1[i] + p.gb * (vb - u1[i]) + p.ga * (va - u1[i]));
        let e_up = r1[i] - phi(p.gb / (p.gl + p.gb + p.ga) * vb);
        for j in 0..2 {
            upd("up1", i, j, e_up, r0[j], p.eta_up[0]);
            upd("pi", i, j, -va, ri[j], p.eta_pi[0]);
            upd("down", i, j, r1[i] - phi(vdown), r2[j], p.eta_down[0]);
        }
    }
    for j in 0..2 {
        let vd: f64 = (0..3).map(|i| wip.at(j, i) * r1[i]).sum();
        ni[j] += dt * (-p.gl * ui[j] + p.gd * (vd - ui[j]) + p.gsom * (u2[j] - ui[j]));
        let vb: f64 = (0..3).map(|i| wu2.at(j, i) * r1[i]).sum();
        n2[j] += dt * (-p.gl * u2[j] + p.gb * (vb - u2[j]) + p.gsom * (ut[j] - u2[j]));
        let e_ip = ri[j] - phi(p.gd / (p.gl + p.gd) * vd);
        let e_out = r2[j] - phi(p.gb / (p.gl + p.gb) * vb);
        for i in 0..3 {
            upd("ip", j, i, e_ip, r1[i], p.eta_ip[0]);
            upd("up2", j, i, e_out, r1[i], p.eta_up[1]);
        }
    }
    (nw, nd, n1, ni, n2)
}

/// One Euler step of a [2,3,2] softplus network from a non-trivial state equals the naive
/// transcription of the equations.
#[test]
fn one_euler_step_matches_hand_transcription() {
    for layout in LAYOUTS {
        one_euler_step_matches_hand_transcription_in(layout);
    }
}

/// [`one_euler_step_matches_hand_transcription`] for one storage order (the vector kernel's
/// stores the tall W_up, W_down and W_pi of this [2,3,2] network transposed).
fn one_euler_step_matches_hand_transcription_in(layout: Layout) {
    let shape = Shape::new(vec![2, 3, 2], false);
    let p = plastic_params(2, 3);
    let mut inst = instance_in(&shape, Transfer::Softplus, &p, layout);
    // a non-trivial state: somas, filtered stimulus and Δ away from zero
    let mut q = p.clone();
    q.seed = 99;
    let noise_w = init::init_weights(&shape, &q);
    let mut start = inst.snapshot();
    start.delta = noise_w.clone();
    start.u_p = vec![vec![0.3, -0.2, 0.5], vec![0.1, -0.4]];
    start.u_i = vec![vec![0.2, 0.6]];
    start.r0 = vec![0.4, 0.1];
    start.u_tgt = vec![0.7, 0.2];
    inst.restore(start);
    let before = inst.snapshot();
    let (x, y) = ([0.9, 0.2], [1.0, 0.1]);
    inst.set_stimulus(&x, &y);
    inst.step(true, true, true);
    let after = inst.snapshot();
    let (w, d, u1, ui, u2) = reference_step(
        &p,
        &before.w,
        &before.delta,
        &before.u_p[0],
        &before.u_i[0],
        &before.u_p[1],
        &before.r0,
        &before.u_tgt,
        &x,
        &y,
    );
    let close = |a: &[f64], b: &[f64], what: &str| {
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-14, "{what}[{k}]: {x} vs {y}");
        }
    };
    close(&after.u_p[0], &u1, "u_p hidden");
    close(&after.u_i[0], &ui, "u_i");
    close(&after.u_p[1], &u2, "u_p output");
    for ((name, a), (_, b)) in after.w.named().into_iter().zip(w.named()) {
        close(&a.data, &b.data, &name);
    }
    for ((name, a), (_, b)) in after.delta.named().into_iter().zip(d.named()) {
        close(&a.data, &b.data, &format!("delta {name}"));
    }
    // and the step really changed everything it should
    assert_ne!(after.w, before.w);
    assert_ne!(after.delta, before.delta);
}

/// A [1,1,1] network stepped once by hand with concrete numbers (sigmoid, no bias).
#[test]
fn one_step_of_a_tiny_network_by_hand() {
    let shape = Shape::new(vec![1, 1, 1], false);
    let mut p = InstanceParams::reference(2);
    p.eta_up = vec![0.5, 0.25];
    p.eta_ip = vec![0.0];
    let mut w = Weights::<f64>::zeros(&shape);
    w.layers[0].up.data = vec![2.0];
    w.layers[0].down.as_mut().unwrap().data = vec![1.0];
    w.layers[0].pi.as_mut().unwrap().data = vec![-0.5];
    w.layers[0].ip.as_mut().unwrap().data = vec![1.5];
    w.layers[1].up.data = vec![3.0];
    let mut inst = Instance::<f64>::new(shape, Transfer::Sigmoid, p, &w);
    inst.set_stimulus(&[1.5], &[1.0]);
    inst.step(true, true, false);
    // r0 = 0 + 0.1/3 * 1.5 = 0.05; u_tgt = 0.1/3 = 1/30; all somas 0 → rates 0.5.
    // hidden: v_B = 2·0.05 = 0.1, v_A = 1·0.5 − 0.5·0.5 = 0.25,
    //   du = 0.1·(1·0.1 + 0.8·0.25) = 0.03
    // interneuron: v_D = 1.5·0.5 = 0.75, du = 0.1·(1·0.75 + 0.8·0) = 0.075
    // output: v_B = 3·0.5 = 1.5, du = 0.1·(1·1.5 + 0.8/30) = 0.15 + 0.008/3
    let st = &inst.state;
    assert!((st.r0[0] - 0.05).abs() < 1e-15);
    assert!((st.u_p[0][0] - 0.03).abs() < 1e-15);
    assert!((st.u_i[0][0] - 0.075).abs() < 1e-15);
    assert!((st.u_p[1][0] - (0.15 + 0.008 / 3.0)).abs() < 1e-15);
    // W unchanged (old Δ = 0); Δ_up hidden = 0.1/30 · (0.5 − σ(0.1/1.9)) · 0.05
    assert_eq!(st.w.layers[0].up.data[0], 2.0);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let want = 0.1 / 30.0 * (0.5 - sig(0.1 / 1.9)) * 0.05;
    assert!((st.delta.layers[0].up.data[0] - want).abs() < 1e-18);
    let want_out = 0.1 / 30.0 * (0.5 - sig(1.5 / 1.1)) * 0.5;
    assert!((st.delta.layers[1].up.data[0] - want_out).abs() < 1e-18);
    // η_ip = η_pi = 0: not plastic, Δ stays 0
    assert_eq!(st.delta.layers[0].ip.as_ref().unwrap().data[0], 0.0);
    assert_eq!(st.delta.layers[0].pi.as_ref().unwrap().data[0], 0.0);
    // second step: W moves by dt·η·(old Δ)
    let d_old = st.delta.layers[0].up.data[0];
    inst.step(true, true, false);
    assert!((inst.state.w.layers[0].up.data[0] - (2.0 + 0.1 * 0.5 * d_old)).abs() < 1e-18);
}

/// During the learning lag W and Δ stay exactly as they were; after it they change.
#[test]
fn learning_lag_freezes_weights_and_deltas() {
    for layout in LAYOUTS {
        learning_lag_freezes_weights_and_deltas_in(layout);
    }
}

fn learning_lag_freezes_weights_and_deltas_in(layout: Layout) {
    let shape = Shape::new(vec![2, 4, 2], true);
    let mut p = plastic_params(2, 5);
    let mut inst = instance_in(&shape, Transfer::Sigmoid, &p, layout);
    let mut out = [0.0; 2];
    inst.run_pattern(
        &[0.2, 0.8],
        &[1.0, 0.1],
        PatternKind::Train,
        &mut out,
        |_, _| {},
    );
    assert!(inst.state.delta.layers[0].up.data.iter().any(|&d| d != 0.0));
    p.learning_lag = 3.0;
    inst.params = p.clone();
    let (w0, d0) = (inst.state.w.clone(), inst.state.delta.clone());
    let mut frozen = 0;
    let mut moved = 0;
    inst.run_pattern(
        &[0.9, 0.1],
        &[0.1, 1.0],
        PatternKind::Train,
        &mut out,
        |s, st| {
            if s < 30 {
                assert_eq!(st.w, w0, "W changed at step {s} inside the lag");
                assert_eq!(st.delta, d0, "Δ changed at step {s} inside the lag");
                frozen += 1;
            } else if st.w != w0 && st.delta != d0 {
                moved += 1;
            }
        },
    );
    assert_eq!(frozen, 30);
    assert_eq!(moved, 20);
}

/// With reset_deltas every Δ is zero after each training pattern, but W learned.
#[test]
fn reset_deltas_zeroes_every_delta() {
    for layout in LAYOUTS {
        reset_deltas_zeroes_every_delta_in(layout);
    }
}

fn reset_deltas_zeroes_every_delta_in(layout: Layout) {
    let shape = Shape::new(vec![2, 4, 3, 2], true);
    let mut p = plastic_params(3, 6);
    p.reset_deltas = true;
    let mut inst = instance_in(&shape, Transfer::Sigmoid, &p, layout);
    let w0 = inst.state.w.clone();
    let mut out = [0.0; 2];
    let mut nonzero_during = false;
    inst.run_pattern(
        &[0.2, 0.8],
        &[1.0, 0.1],
        PatternKind::Train,
        &mut out,
        |_, st| {
            nonzero_during |= st.delta.layers[1]
                .ip
                .as_ref()
                .unwrap()
                .data
                .iter()
                .any(|&d| d != 0.0);
        },
    );
    assert!(nonzero_during);
    for (name, m) in inst.state.delta.named() {
        assert!(m.data.iter().all(|&d| d == 0.0), "{name} not reset");
    }
    assert_ne!(inst.state.w, w0);
}

/// Self-predicting initialisation: with plasticity off the apical potentials vanish at steady
/// state (v_A → 0) and every interneuron copies the pyramidal soma above it.
#[test]
fn self_predicting_init_silences_apical_dendrites() {
    let shape = Shape::new(vec![3, 8, 6, 2], true);
    let mut p = InstanceParams::reference(3);
    p.init = InitMode::SelfPredicting;
    p.t_pattern = 200.0;
    p.out_lag = 199.0;
    for phi in [Transfer::Sigmoid, Transfer::Softplus] {
        let mut inst = instance(&shape, phi, &p);
        let mut out = [0.0; 2];
        inst.run_pattern(
            &[0.5, 0.1, 0.9],
            &[1.0, 0.1],
            PatternKind::Eval,
            &mut out,
            |_, _| {},
        );
        let (_, va, _) = inst.dendrites();
        for (l, v) in va.iter().enumerate() {
            for (i, &a) in v.iter().enumerate() {
                assert!(a.abs() < 1e-6, "v_A[{l}][{i}] = {a}");
            }
            for (j, &ui) in inst.state.u_i[l].iter().enumerate() {
                assert!((ui - inst.state.u_p[l + 1][j]).abs() < 1e-6);
            }
        }
        // and with a random start it does not
        let mut q = p.clone();
        q.init = InitMode::Random;
        let mut rnd = instance(&shape, phi, &q);
        rnd.run_pattern(
            &[0.5, 0.1, 0.9],
            &[1.0, 0.1],
            PatternKind::Eval,
            &mut out,
            |_, _| {},
        );
        assert!(rnd.dendrites().1[0].iter().any(|a| a.abs() > 1e-3));
    }
}

fn batch(shape: &Shape, phi: Transfer, params: Vec<InstanceParams>) -> Batch {
    let init = params
        .iter()
        .map(|p| init::init_weights(shape, p))
        .collect();
    Batch {
        shape: shape.clone(),
        phi,
        params,
        init,
    }
}

fn chunk(n_instances: usize, patterns: usize, n_in: usize, n_out: usize, salt: usize) -> Chunk {
    let val = |i: usize, k: usize| ((i * 7 + k * 13 + salt * 3) % 10) as f64 / 10.0;
    Chunk {
        x: (0..n_instances)
            .map(|i| (0..patterns * n_in).map(|k| val(i, k)).collect())
            .collect(),
        y: (0..n_instances)
            .map(|i| {
                (0..patterns * n_out)
                    .map(|k| 0.1 + 0.9 * ((i + k) % 2) as f64)
                    .collect()
            })
            .collect(),
    }
}

/// Instance k run alone computes bit for bit what it computes inside a batch of 7 with other
/// parameters, seeds, lags and pattern lengths.
#[test]
fn instance_alone_equals_instance_in_batch_of_seven() {
    let shape = Shape::new(vec![4, 12, 3], true);
    let params: Vec<InstanceParams> = (0..7)
        .map(|i| {
            let mut p = plastic_params(2, 100 + i as u64);
            p.learning_lag = [0.0, 1.0, 2.5][i % 3];
            p.t_pattern = 4.0 + i as f64;
            p.ga = 0.2 + 0.1 * i as f64;
            p.noise = if i % 2 == 0 { 0.05 } else { 0.0 };
            p.reset_deltas = i == 3;
            p
        })
        .collect();
    let ch = chunk(7, 3, 4, 3, 0);
    let mut all = CpuBackend::<f64>::new(
        &batch(&shape, Transfer::Sigmoid, params.clone()),
        Some(2),
        RecordSpec::default(),
    )
    .unwrap();
    let out_all = all.train(&ch).unwrap();
    let eval_all = all.evaluate(&ch).unwrap();
    let w_all = all.weights().unwrap();
    for k in [0, 3, 6] {
        let mut one = CpuBackend::<f64>::new(
            &batch(&shape, Transfer::Sigmoid, vec![params[k].clone()]),
            Some(1),
            RecordSpec::default(),
        )
        .unwrap();
        let single = Chunk {
            x: vec![ch.x[k].clone()],
            y: vec![ch.y[k].clone()],
        };
        assert_eq!(one.train(&single).unwrap()[0], out_all[k]);
        assert_eq!(one.evaluate(&single).unwrap()[0], eval_all[k]);
        assert_eq!(one.weights().unwrap()[0], w_all[k]);
    }
}

/// Training in several chunks equals training in one, and evaluation leaves the state alone.
#[test]
fn split_run_equals_whole_run_and_evaluation_changes_nothing() {
    let shape = Shape::new(vec![4, 12, 3], true);
    let mut params = vec![plastic_params(2, 1), plastic_params(2, 2)];
    params[1].noise = 0.1;
    let b = batch(&shape, Transfer::Sigmoid, params);
    let whole = chunk(2, 4, 4, 3, 1);
    let mut a = CpuBackend::<f64>::new(&b, None, RecordSpec::default()).unwrap();
    let out_whole = a.train(&whole).unwrap();
    let mut s = CpuBackend::<f64>::new(&b, None, RecordSpec::default()).unwrap();
    // the first or the second 2 of the 4 patterns of every instance
    let side = |v: &[Vec<f64>], at: usize, first: bool| -> Vec<Vec<f64>> {
        v.iter()
            .map(|p| {
                if first {
                    p[..at].to_vec()
                } else {
                    p[at..].to_vec()
                }
            })
            .collect()
    };
    let half = |c: &Chunk, first: bool| Chunk {
        x: side(&c.x, 8, first),
        y: side(&c.y, 6, first),
    };
    let mut out_split = s.train(&half(&whole, true)).unwrap();
    let before = s.weights().unwrap();
    s.evaluate(&whole).unwrap();
    assert_eq!(s.weights().unwrap(), before);
    for (o, extra) in out_split
        .iter_mut()
        .zip(s.train(&half(&whole, false)).unwrap())
    {
        o.extend(extra);
    }
    assert_eq!(out_split, out_whole);
    assert_eq!(s.weights().unwrap(), a.weights().unwrap());
}

/// f32 and f64 agree to 1e-4 (relative to each quantity's scale) over one pattern of the
/// Yin-Yang network with every pathway plastic.
#[test]
fn f32_and_f64_agree_over_one_pattern() {
    let shape = Shape::new(vec![4, 120, 3], true);
    let mut p = plastic_params(2, 11);
    p.t_pattern = 100.0;
    p.out_lag = 80.0;
    p.init_up = 0.5;
    let w = init::init_weights(&shape, &p);
    let mut a = Instance::<f32>::new(shape.clone(), Transfer::Sigmoid, p.clone(), &w);
    let mut b = Instance::<f64>::new(shape, Transfer::Sigmoid, p, &w);
    let (x, y) = ([0.3, 0.6, 0.7, 0.4], [1.0, 0.1, 0.1]);
    let (mut ra, mut rb) = ([0.0; 3], [0.0; 3]);
    a.run_pattern(&x, &y, PatternKind::Train, &mut ra, |_, _| {});
    b.run_pattern(&x, &y, PatternKind::Train, &mut rb, |_, _| {});
    let rel = |xa: &[f32], xb: &[f64]| {
        let scale = xb.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        xa.iter()
            .zip(xb)
            .map(|(u, v)| (f64::from(*u) - v).abs())
            .fold(0.0, f64::max)
            / scale
    };
    assert!(rel(&a.state.u_p[0], &b.state.u_p[0]) < 1e-4);
    assert!(rel(&a.state.u_i[0], &b.state.u_i[0]) < 1e-4);
    let ra32: Vec<f32> = ra.iter().map(|&v| v as f32).collect();
    assert!(rel(&ra32, &rb) < 1e-4);
    for ((name, ma), (_, mb)) in a.state.w.named().into_iter().zip(b.state.w.named()) {
        let change: Vec<f64> = mb
            .data
            .iter()
            .zip(
                &w.named()
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .unwrap()
                    .1
                    .data,
            )
            .map(|(v, w0)| v - w0)
            .collect();
        let change_a: Vec<f32> = ma
            .data
            .iter()
            .zip(
                &w.named()
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .unwrap()
                    .1
                    .data,
            )
            .map(|(v, w0)| (f64::from(*v) - w0) as f32)
            .collect();
        assert!(rel(&ma.data, &mb.data) < 1e-4, "{name}");
        // the learned change itself agrees to 1e-2 of its size (f32 cancellation in W − W0)
        assert!(rel(&change_a, &change) < 1e-2, "{name} change");
    }
}
