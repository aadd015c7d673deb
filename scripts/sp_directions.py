#!/usr/bin/env python3
"""Where the self-prediction error of a mimic run lies (experiment A, MODEL.md section 9).

Usage: scripts/sp_directions.py RUN_DIR [START_DIR] [N_SAMPLES]

For every instance of a finished `pyralnet run` of a [n0, n1, n2] mimic config, reads the
final weights (weights/instance_<i>.npz) and the parameters (config.json), and splits the two
self-prediction errors along the eigenvectors of the second-moment matrix of the rates that
drive them, sampled at the student's self-predicting steady state (no nudging, v_A = 0) on
x ~ U(0,1)^n0:
  E_ip = W_ip - c W_up[1]   driven by r_hid = phi(g_B/(g_l+g_B+g_A) W_up[0] x),
  E_pi = W_pi + W_down      driven by r_out = phi(g_B/(g_l+g_B) W_up[1] r_hid) (r_I = r_out).
Prints per instance ||E||^2, the share of it along the least-driven direction, and the
functional error E[||E r||^2] relative to E[||W r||^2] of the matching weights. START_DIR: a
run of the same config with every learning rate 0 (its weights are the initial ones); then the
falls of ||E||^2 and of the functional error from start to end are printed as well. Pure Python.
"""
import io
import json
import math
import random
import struct
import sys
import zipfile


def read_npz(path):
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            b = z.read(name)
            assert b[:6] == b"\x93NUMPY", name
            major = b[6]
            hlen_size = 2 if major == 1 else 4
            hlen = int.from_bytes(b[8 : 8 + hlen_size], "little")
            header = b[8 + hlen_size : 8 + hlen_size + hlen].decode()
            h = eval(header)  # the dict literal numpy writes
            data = b[8 + hlen_size + hlen :]
            fmt = {"<f8": "d", "<f4": "f"}[h["descr"]]
            n = len(data) // struct.calcsize(fmt)
            vals = struct.unpack("<%d%s" % (n, fmt), data)
            rows, cols = h["shape"]
            assert not h["fortran_order"]
            out[name[:-4] if name.endswith(".npy") else name] = [
                list(vals[r * cols : (r + 1) * cols]) for r in range(rows)
            ]
    return out


def matvec(m, v):
    return [sum(a * b for a, b in zip(row, v)) for row in m]


def softplus(x):
    return math.log1p(math.exp(x)) if x < 30 else x


def jacobi_eig(a):
    """Eigenvalues and eigenvectors (columns) of a small symmetric matrix."""
    n = len(a)
    a = [row[:] for row in a]
    v = [[float(i == j) for j in range(n)] for i in range(n)]
    for _ in range(100):
        off = max(abs(a[i][j]) for i in range(n) for j in range(n) if i != j)
        if off < 1e-15:
            break
        for p in range(n):
            for q in range(p + 1, n):
                if abs(a[p][q]) < 1e-300:
                    continue
                th = 0.5 * math.atan2(2 * a[p][q], a[q][q] - a[p][p])
                c, s = math.cos(th), math.sin(th)
                for k in range(n):
                    akp, akq = a[k][p], a[k][q]
                    a[k][p], a[k][q] = c * akp - s * akq, s * akp + c * akq
                for k in range(n):
                    apk, aqk = a[p][k], a[q][k]
                    a[p][k], a[q][k] = c * apk - s * aqk, s * apk + c * aqk
                for k in range(n):
                    vkp, vkq = v[k][p], v[k][q]
                    v[k][p], v[k][q] = c * vkp - s * vkq, s * vkp + c * vkq
    return [a[i][i] for i in range(n)], v


def second_moment(samples):
    n = len(samples[0])
    return [[sum(s[i] * s[j] for s in samples) / len(samples) for j in range(n)] for i in range(n)]


def split(e, samples, ref):
    """||E||^2, the share of it along the least-driven direction, the drive ratio of the
    least to the most driven direction, and E||E r||^2 / E||ref r||^2."""
    m = second_moment(samples)
    vals, vecs = jacobi_eig(m)
    k = min(range(len(vals)), key=lambda i: vals[i])
    vmin = [vecs[i][k] for i in range(len(vals))]
    norm2 = sum(x * x for row in e for x in row)
    along = sum(x * x for x in matvec(e, vmin))
    func = sum(sum(x * x for x in matvec(e, s)) for s in samples)
    base = sum(sum(x * x for x in matvec(ref, s)) for s in samples)
    return norm2, along / norm2, min(vals) / max(vals), func / base


def analyse(run, i, p, n_samples):
    gl, gb, ga, gd = p["gl"], p["gb"], p["ga"], p["gd"]
    c_hid = gb / (gl + gb + ga)
    c_out = gb / (gl + gb)
    c_ip = gb / (gl + gb) * (gl + gd) / gd  # reflect factor, g_A of the output is 0
    w = read_npz(f"{run}/weights/instance_{i}.npz")
    rng = random.Random(i)
    n0 = len(w["layer0.W_up"][0])
    xs = [[rng.random() for _ in range(n0)] for _ in range(n_samples)]
    r_hid = [[softplus(c_hid * u) for u in matvec(w["layer0.W_up"], x)] for x in xs]
    r_out = [[softplus(c_out * u) for u in matvec(w["layer1.W_up"], r)] for r in r_hid]
    cw = [[c_ip * x for x in row] for row in w["layer1.W_up"]]
    e_ip = [[a - b for a, b in zip(ra, rb)] for ra, rb in zip(w["layer0.W_ip"], cw)]
    e_pi = [[a + b for a, b in zip(ra, rb)] for ra, rb in zip(w["layer0.W_pi"], w["layer0.W_down"])]
    return split(e_ip, r_hid, cw), split(e_pi, r_out, w["layer0.W_down"])


def main():
    run = sys.argv[1]
    start = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].isdigit() else None
    n_samples = int(sys.argv[-1]) if sys.argv[-1].isdigit() else 2000
    p = json.load(open(f"{run}/config.json"))["params"]
    n_inst = len(open(f"{run}/instances.csv").read().strip().splitlines()) - 1
    cols = "||E||^2 share_min drive_min/max functional"
    if start:
        cols += " fall_norm fall_func"
    print("instance | E_ip = W_ip - c W_up: %s | E_pi = W_pi + W_down: %s" % (cols, cols))
    falls = {"ip": [], "pi": []}
    for i in range(n_inst):
        end = analyse(run, i, p, n_samples)
        line = "%8d" % i
        for k, (name, e) in enumerate(zip(("ip", "pi"), end)):
            line += " | %9.3g %9.3f %13.2g %10.2g" % e
            if start:
                s0 = analyse(start, i, p, n_samples)[k]
                f = (s0[0] / e[0], s0[3] / e[3])
                falls[name].append(f)
                line += " %9.1f %9.1f" % f
        print(line)
    for name, fs in falls.items():
        if fs:
            for j, what in enumerate(("||E||^2", "functional error")):
                v = sorted(f[j] for f in fs)
                print("E_%s %s: fell >= 10x in %d/%d instances, smallest fall %.1fx, median %.1fx"
                      % (name, what, sum(x >= 10 for x in v), len(v), v[0], v[len(v) // 2]))


main()
