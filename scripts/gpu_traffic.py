#!/usr/bin/env python3
"""Traffic model of the GPU kernels (docs/gpu.md, issue 14): prints the tables of docs/gpu.md
from the shapes, the formulas below and the device figures in DEVICES.

Nothing here is measured. Counts follow the code (file references in docs/gpu.md); the cycle
figures in LAT are assumptions, named as such, for a device session to replace by measurements.
Usage: python3 scripts/gpu_traffic.py            (all tables, markdown)
"""
import math

# ---- devices: vendor peak figures (docs/gpu.md "Devices" cites the sources) ----
DEVICES = {
    # name: SMs, boost clock (Hz), FP32 lanes/SM, DRAM B/s, L2 bytes, shared B/SM, regs/SM,
    #       max threads/SM, max workgroups/SM
    "H100 SXM": dict(sm=132, clk=1.98e9, lanes=128, dram=3.35e12, l2=50e6, smem=228 * 1024,
                     regs=65536, threads=2048, blocks=32),
    "H200": dict(sm=132, clk=1.98e9, lanes=128, dram=4.8e12, l2=50e6, smem=228 * 1024,
                 regs=65536, threads=2048, blocks=32),
    "RTX 4090": dict(sm=128, clk=2.52e9, lanes=128, dram=1.008e12, l2=72e6, smem=100 * 1024,
                     regs=65536, threads=1536, blocks=24),
}
for d in DEVICES.values():
    d["flops"] = 2 * d["sm"] * d["lanes"] * d["clk"]  # FMA = 2 FLOP
    d["warp_issue"] = 4 * d["sm"] * d["clk"]  # 4 schedulers/SM, 1 warp-instruction/cycle each

# ---- assumptions (not vendor specs; a device session measures them) ----
L2_BW = {"H100 SXM": 5.5e12, "H200": 5.5e12, "RTX 4090": 5.0e12}  # achievable L2 B/s, assumed
DISPATCH_S = (5e-6, 10e-6)  # per dependent dispatch (launch + barrier), the brief's range
LAT = dict(l1=35, l2=260, dram=600, smem=30, shfl=25, bar=40, membar_gpu=300, fma=4, mufu=20)

# ---- counting constants of src/bench.rs ----
PHI_FLOPS = 4.0  # bench.rs PHI_FLOPS
PLASTIC_FLOPS_PER_ENTRY = 5.0  # bench.rs PLASTIC_FLOPS_PER_ENTRY


class Shape:
    def __init__(self, dims, bias=True):
        self.dims, self.bias = list(dims), bias

    def label(self):
        return "[" + ",".join(map(str, self.dims)) + "]"

    n_layers = property(lambda s: len(s.dims) - 1)
    n_in = property(lambda s: s.dims[0])
    n_out = property(lambda s: s.dims[-1])

    def n_pyr(self, l):
        return self.dims[l + 1]

    def hidden(self, l):
        return l + 1 < self.n_layers

    def n_inter(self, l):
        return self.dims[l + 2] if self.hidden(l) else 0

    def wb(self, n):
        return n + int(self.bias)

    def n_somas(self):
        return sum(self.n_pyr(l) + self.n_inter(l) for l in range(self.n_layers))

    def matrices(self):
        """(name, kind, rows, cols): kinds 'up', 'down', 'pi', 'ip' (Weights::named order)."""
        out = []
        for l in range(self.n_layers):
            m = self.n_pyr(l)
            out.append((f"W_up{l}", "up", m, self.wb(self.dims[l])))
            if self.hidden(l):
                mi = self.n_inter(l)
                out.append((f"W_down{l}", "down", m, mi))
                out.append((f"W_pi{l}", "pi", m, mi))
                out.append((f"W_ip{l}", "ip", mi, self.wb(m)))
        return out


BENCH_PLASTIC = {"up", "pi", "ip"}  # bench::plastic_batch: eta_down stays 0 (params.rs)
STEADY_PLASTIC = {"up", "ip"}  # bench::steady_batch


def flops_per_step(s, plastic=BENCH_PLASTIC, noise=False):
    """bench::flops_per_step (src/bench.rs), line for line."""
    error = 2.0 + PHI_FLOPS
    f = 3.0 * (s.n_in + s.n_out)
    for l in range(s.n_layers):
        m, pre = s.n_pyr(l), s.wb(s.dims[l])
        up = m * pre
        f += 2.0 * up + PHI_FLOPS * m
        if "up" in plastic:
            f += PLASTIC_FLOPS_PER_ENTRY * up + error * m
        if not s.hidden(l):
            f += 9.0 * m
            continue
        mi = s.n_inter(l)
        down, pi, ip = m * mi, m * mi, mi * s.wb(m)
        f += 2.0 * (down + pi + ip) + PHI_FLOPS * mi
        f += 10.0 * m + 9.0 * mi
        if "down" in plastic:
            f += PLASTIC_FLOPS_PER_ENTRY * down + error * m
        if "pi" in plastic:
            f += PLASTIC_FLOPS_PER_ENTRY * pi
        if "ip" in plastic:
            f += PLASTIC_FLOPS_PER_ENTRY * ip + error * mi
    if noise:
        f += 2.0 * s.n_somas()
    return f


def w_total(s):
    return sum(r * c for _, _, r, c in s.matrices())


def w_plastic(s, plastic=BENCH_PLASTIC):
    return sum(r * c for _, k, r, c in s.matrices() if k in plastic)


def state_len(s):
    """Layout::new for the workgroup/phased kernels (alignment 1): W, Δ, somas, r_0, u_tgt."""
    return 2 * w_total(s) + s.n_somas() + s.n_in + s.n_out


def scratch_len(s):
    n = s.n_layers
    sc = sum(s.wb(s.dims[l]) for l in range(n + 1))
    for l in range(n):
        sc += 4 * s.n_pyr(l) + 3 * s.n_inter(l)
    return sc + 2 * s.n_out


# ---- layout.rs loop-trip bounds: kernel selection and window on a GPU ----
LOOP_BUDGET, FUSED_TRIPS_GPU, PHASED_TRIPS_GPU, WG_GPU = 60_000, 4096, 1024, 64


def workgroup_trips_per_step(s, threads):
    n = s.n_layers
    pt = lambda k: -(-k // threads) + 2
    dot = lambda k: k // 4 + k % 4 + 4
    trips = 2 + pt(s.n_in) + pt(s.n_out) + 3 * (n + 2)
    for l in range(n):
        np_, ni, ncol = s.n_pyr(l), s.n_inter(l), s.wb(s.dims[l])
        trips += 2 * (pt(np_) + pt(ni))
        if s.hidden(l):
            nip = s.wb(np_)
            trips += pt(np_) * (dot(ncol) + 2 * dot(ni)) + pt(ni) * dot(nip)
            trips += pt(np_ * ncol) + pt(ni * nip) + 2 * pt(np_ * ni)
        else:
            trips += pt(np_) * dot(ncol) + pt(np_ * ncol)
        trips += n + 2
    return trips


def loop_trips_per_pattern(s, threads):
    pt = lambda k: -(-k // threads) + 2
    return pt(2 * s.n_out) + pt(w_total(s)) + 8 * s.n_layers


def resident_io_trips(s, threads):
    """resident.rs io_trips: copying state and scratch in and out once per window."""
    pt = lambda k: -(-k // threads) + 2
    return 2 * (pt(state_len(s)) + pt(scratch_len(s)))


def steps_per_dispatch(s, min_steps, step, threads, io=0):
    """Layout::steps_per_dispatch: the window llvmpipe's loop budget allows (io: the resident
    kernel's copies)."""
    pattern = loop_trips_per_pattern(s, threads)
    room = max(LOOP_BUDGET - 2 * pattern - io, 0)
    return max((room * min_steps) // (step * min_steps + pattern), 1)


# layout.rs window_steps: the resident kernel's window on a GPU
GPU_WINDOW_PATTERNS, GPU_WINDOW_WEIGHT_STEPS = 16, 1 << 36
# max_compute_workgroup_storage_size that Vulkan on NVIDIA reports (assumed for every table row)
WG_STORAGE_NVIDIA = 49152


def resident_bytes(s):
    """resident::workgroup_bytes: state and scratch words of one instance in workgroup memory."""
    return 4 * (state_len(s) + scratch_len(s))


def window_steps(s, kind, steps, batch, cpu_driver=False, threads=WG_GPU):
    """layout.rs window_steps, all instances with `steps` steps per pattern, one sub-batch."""
    if kind == "phased":
        return 1
    io = resident_io_trips(s, threads) if kind == "resident" else 0
    budget = steps_per_dispatch(s, steps, workgroup_trips_per_step(s, threads), threads, io)
    if cpu_driver or kind != "resident":
        return budget
    cap = GPU_WINDOW_WEIGHT_STEPS // (batch * w_total(s))
    return max(min(GPU_WINDOW_PATTERNS * steps, cap), budget)


def gpu_kernel(s, storage=WG_STORAGE_NVIDIA):
    """backend.rs auto_program, GPU adapter: ('resident', 1), ('fused', 1) or ('phased', tiles)."""
    if resident_bytes(s) <= storage:
        return "resident", 1
    if workgroup_trips_per_step(s, WG_GPU) <= FUSED_TRIPS_GPU:
        return "fused", 1
    need = lambda t: workgroup_trips_per_step(s, WG_GPU * t) + 2 * loop_trips_per_pattern(s, WG_GPU * t)
    tiles = 1
    while need(tiles) > PHASED_TRIPS_GPU and need(2 * tiles) < need(tiles):
        tiles *= 2
    return "phased", tiles


def fused_words(s, plastic=BENCH_PLASTIC):
    """Global words per instance-step of step.wgsl (fused and phased alike), split into the
    state buffer `st` (W, Δ, somas, filters) and the scratch buffer `sc`."""
    W, P, S = w_total(s), w_plastic(s, plastic), s.n_somas()
    io = s.n_in + s.n_out
    ninter = sum(s.n_inter(l) for l in range(s.n_layers))
    err_rows = sum(s.n_pyr(l) for l in range(s.n_layers)) + ninter + \
        sum(s.n_pyr(l) for l in range(s.n_layers) if s.hidden(l))  # e_up, e_ip, e_pi
    st = (2 * io + io  # A: r_0/u_tgt read+write, pattern row read
          + S  # A: somas read for the rates
          + W  # B: every weight once
          + S + ninter  # B: own soma, interneurons also u^P above
          + 4 * P  # C: W read+write, Δ read+write per plastic entry
          + 2 * S)  # C: u read + write
    sc = (S + s.n_in  # A: rates, pre_0
          + W  # B: presynaptic value per weight
          + S + 2 * err_rows  # B: du written, errors written (+ rate read)
          + 2 * P  # C: e_i and r_j per plastic entry
          + S + 2 * s.n_out)  # C: du read, readout sums
    return st, sc


def serial_words(s, plastic=BENCH_PLASTIC):
    """serial.rs: blocked (≤ 16 columns, rows padded to 4) plastic 4 words/entry (64-bit chunk
    get + set), frozen 1; row-major (columns padded to 4) plastic 1 + 4, frozen 1."""
    words = 0
    for _, k, r, c in s.matrices():
        if c <= 16:
            n = -(-r // 4) * 4 * c
            words += n * (4 if k in plastic else 1)
        else:
            n = r * (-(-c // 4) * 4)
            words += n * (5 if k in plastic else 1)
    return words + 4 * s.n_somas() + 3 * (s.n_in + s.n_out)


def fmt(x, d=2):
    if x == 0:
        return "0"
    e = int(math.floor(math.log10(abs(x))))
    if -2 <= e <= 4:
        return f"{x:,.{max(0, d - e)}f}" if e < d else f"{x:,.0f}"
    return f"{x / 10 ** e:.{d}f}e{e}"


def kb(words):
    return f"{words * 4 / 1e3:,.1f} KB"


SHAPES = [Shape([4, 120, 3]), Shape([784, 20, 10]), Shape([784, 500, 10])]


def table_shapes():
    print("| shape | weights | plastic entries (bench) | W+Δ f32 | state/instance | scratch/instance |"
          " resident workgroup B | FLOP/step (`flops_per_step`) | GPU kernel (default, 48 KB workgroup storage) |"
          " steps per dispatch (1000-step patterns, batch 2048) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in SHAPES:
        k, t = gpu_kernel(s)
        win = window_steps(s, k, 1000, 2048, threads=WG_GPU * t)
        kname = {"resident": "resident (1 workgroup of 64)", "fused": "fused (1 workgroup of 64)"}.get(
            k, f"phased ({t} workgroups of 64)")
        per = f"{fmt(1000 / win)} dispatches/pattern" if win <= 1000 else f"{win / 1000:g} patterns/dispatch"
        print(f"| {s.label()} | {w_total(s):,} | {w_plastic(s):,} | {kb(2 * w_total(s))} | "
              f"{kb(state_len(s))} | {kb(scratch_len(s))} | {resident_bytes(s):,} | {flops_per_step(s):,.0f} | {kname} | "
              f"{win:,} ({per}{', ×3 phases' if k == 'phased' else ''}) |")


# ---- the resident kernel as built (slice 1, resident.wgsl), [4,120,3] ----
INSTR_PER_TRIP = (10, 20)  # assumed instructions per loop trip of step.wgsl's loops (see docs)
REGS_SLICE1 = 64  # assumed registers per thread of resident.wgsl (a device session reads them)


def resident_slice1_bytes(s, batch, steps=1000):
    """Global bytes per instance-step of resident.wgsl in training: the pattern row every step,
    the readout once per pattern, state + scratch copied in and out once per window."""
    win = window_steps(s, "resident", steps, batch)
    row = 4 * (s.n_in + s.n_out)
    readout = 4 * s.n_out / steps
    window = 2 * resident_bytes(s) / win
    return win, row, readout, window


def table_resident_slice1(dev="H100 SXM"):
    s = SHAPES[0]
    d = DEVICES[dev]
    trips = workgroup_trips_per_step(s, WG_GPU)
    warps = WG_GPU // 32
    smem = resident_bytes(s)
    per_warp = math.ceil(REGS_SLICE1 * 32 / 256) * 256
    occ = min(d["smem"] // (smem + 1024), d["threads"] // WG_GPU, d["blocks"],
              (d["regs"] // per_warp) // warps)
    res_n = occ * d["sm"]
    lat = trips * LAT["smem"] + 3 * LAT["bar"] + 4 * LAT["mufu"]
    lat_b = res_n * d["clk"] / lat
    print(f"{s.label()} on {dev}: {trips} loop trips per thread and step (64 threads, "
          f"`workgroup_trips_per_step`), {warps} warps; {smem:,} B of workgroup memory → "
          f"{occ} workgroups/SM (workgroup memory + 1 KB reserved; {REGS_SLICE1} registers assumed), "
          f"{res_n:,} resident instances; critical path ≈ {trips} × {LAT['smem']} + 3 barriers + 4 φ "
          f"= {lat:,} cycles/step → latency bound {fmt(lat_b)}")
    print()
    issue = [d["warp_issue"] / (warps * trips * i) for i in INSTR_PER_TRIP]
    print(f"Issue bound (all SMs full): {fmt(d['warp_issue'])} / ({warps} warps × {trips} trips × "
          f"{INSTR_PER_TRIP[0]}–{INSTR_PER_TRIP[1]} instructions) = {fmt(issue[1])}–{fmt(issue[0])} "
          f"instance-steps/s.")
    print()
    print("| batch | window (steps) | pattern row B | readout B | W/Δ/state in+out B | global B/instance-step | "
          "HBM bound | waves (instances/SM) | predicted (20 / 10 instr per trip) |")
    print("|---|---|---|---|---|---|---|---|---|")

    def wave_cycles(k, ipt):
        """Cycles per step of a wave with k instances per SM: issue (4 schedulers at 75 %) or the
        critical path, whichever is longer."""
        return max(k * warps * trips * ipt / (4 * 0.75), lat)

    for batch in (132, 1024, 2048, 8192, 16384):
        win, row, readout, window = resident_slice1_bytes(s, batch)
        b = row + readout + window
        sizes = [min(res_n, batch - w * res_n) for w in range(math.ceil(batch / res_n))]
        ks = [math.ceil(n / d["sm"]) for n in sizes]
        pred = [batch * d["clk"] / sum(wave_cycles(k, ipt) for k in ks) for ipt in INSTR_PER_TRIP[::-1]]
        print(f"| {batch:,} | {win:,} | {row} | {readout:.3f} | {window:.2f} | {b:.1f} | {fmt(d['dram'] / b)} | "
              f"{len(ks)} ({', '.join(map(str, ks))}) | {fmt(pred[0])}–{fmt(pred[1])} |")


def table_fused():
    print("| shape | kernel | st words/step | sc words/step | B/step (st+sc) | FLOP/B | "
          "H100 L2-bound | H100 HBM-bound | H200 HBM-bound | 4090 L2 / DRAM-bound | batch whose state fills 50 MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in SHAPES:
        st, sc = fused_words(s)
        f = flops_per_step(s)
        b = 4 * (st + sc)
        bst = 4 * st
        fits = int(50e6 / (4 * (state_len(s) + scratch_len(s))))
        k, t = gpu_kernel(s, storage=0)  # what runs where the resident kernel does not
        print(f"| {s.label()} | {k} | {st:,} | {sc:,} | {fmt(b)} | {f / b:.2f} (st only {f / bst:.2f}) | "
              f"{fmt(L2_BW['H100 SXM'] / bst)} | {fmt(3.35e12 / bst)} | {fmt(4.8e12 / bst)} | "
              f"{fmt(L2_BW['RTX 4090'] / bst)} / {fmt(1.008e12 / bst)} | {fits:,} |")
    print()
    print("Serial kernel (forced on a GPU; one lane per instance):")
    print()
    print("| shape | words/step | B/step | FLOP/B | H100 L2-bound | H100 HBM-bound |")
    print("|---|---|---|---|---|---|")
    for s in SHAPES:
        w = serial_words(s)
        print(f"| {s.label()} | {w:,} | {fmt(4 * w)} | {flops_per_step(s) / (4 * w):.2f} | "
              f"{fmt(L2_BW['H100 SXM'] / (4 * w))} | {fmt(3.35e12 / (4 * w))} |")


def fused_latency():
    """Critical path of one step of the fused kernel for [4,120,3] on 64 threads (cycles):
    the longest dot (121 columns, 30 vec4 iterations + 1 tail), the plasticity loop
    (ceil(1686/64) entries), 2 φ, 3 device-scope barriers; per iteration one L1 hit (best)
    or one L2 round trip (worst)."""
    s = SHAPES[0]
    iters = (121 // 4 + 121 % 4) + -(-w_plastic(s) // 64) + 6
    best = iters * LAT["l1"] + 3 * (LAT["bar"] + LAT["membar_gpu"] // 3) + 2 * LAT["mufu"] * 2
    worst = iters * LAT["l2"] + 3 * (LAT["bar"] + LAT["membar_gpu"]) + 2 * LAT["mufu"] * 2
    return iters, best, worst


# ---- resident kernel design for [4,120,3] (docs/gpu.md section 3) ----
def resident():
    s = SHAPES[0]
    nt = 128
    # per thread i < 120: its W_up0, W_down0, W_pi0 rows (5 + 3 + 3) and column i of W_ip0 and
    # W_up1 (3 + 3); thread 120 the bias column; threads 120..126 the 6 somas of width 3
    w_thread = 5 + 3 + 3 + 3 + 3
    regs_wd = 2 * w_thread
    regs_other = 2 + 1 + 8 + 3 + 3 + 2 + 10 + 8  # u,du; r_i; r0+x; r_I; r_out; e_up,e_pi; consts; loop/temp
    regs = regs_wd + regs_other
    # instructions per thread per step (critical lanes, i < 120)
    ph1 = 4 + 10 + 6  # filter r_0 (redundant per thread), φ(u_i), 6 products W[k,i]·r_i
    red_naive = 6 * (5 + 5)  # 6 × subgroupAdd over 32 lanes: 5 shuffles + 5 adds
    red_multi = 2 * (3 + 2 + 1 + 1 + 1) + 2  # 6 rows reduced together (transpose-reduce)
    ph2 = 6 + 11 + 6 + 11 + 10  # 6 rate loads, 11 FMA dendrites, du, e_up φ, misc
    ph3 = 6 + 3 * 8 + 3 * 6 + 1 + 10  # 6 error loads, 8 own-row + 6 column entries × 3 FMA, u += du, loop
    bars = 2
    instr_naive = ph1 + red_naive + 1 + ph2 + ph3 + bars
    instr_multi = ph1 + red_multi + 1 + ph2 + ph3 + bars
    warps = nt // 32
    lat = (LAT["mufu"] * 2 + 5 * (LAT["shfl"] + LAT["fma"]) + 6 * 2 + LAT["smem"] + LAT["bar"]
           + LAT["smem"] + 11 * LAT["fma"] + 2 * LAT["mufu"] + 5 * LAT["fma"] + LAT["smem"] + LAT["bar"]
           + LAT["smem"] + 3 * LAT["fma"] + 42 + 20)
    smem_words = 2 * (s.n_in + s.n_out) + 6 + 4 * 6 + 6 + 2 * s.n_out + 8
    return dict(nt=nt, w_thread=w_thread, regs_wd=regs_wd, regs=regs, instr_naive=instr_naive,
                instr_multi=instr_multi, warps=warps, lat=lat, smem=4 * smem_words,
                ph=(ph1, red_naive, red_multi, ph2, ph3))


def occupancy(dev, regs, nt, smem):
    d = DEVICES[dev]
    per_warp = math.ceil(regs * 32 / 256) * 256
    by_regs = (d["regs"] // per_warp) // (nt // 32)
    by_threads = d["threads"] // nt
    by_smem = d["smem"] // max(smem + 1024, 1)
    return min(by_regs, by_threads, d["blocks"], by_smem)


def table_resident():
    r = resident()
    s = SHAPES[0]
    print(f"W per instance {w_total(s):,} words = {4 * w_total(s):,} B; Δ the same; W+Δ "
          f"{8 * w_total(s):,} B; W+Δ+somas+filters (state) {4 * state_len(s):,} B.")
    print(f"Threads {r['nt']}, W entries per thread {r['w_thread']} (+ as many Δ) = {r['regs_wd']} "
          f"registers, ≈ {r['regs']} registers per thread in all; workgroup memory ≈ {r['smem']} B.")
    ph1, rn, rm, ph2, ph3 = r["ph"]
    print(f"Instructions per thread and step: phase 1 {ph1} + reduction {rn} (6 × subgroupAdd) or "
          f"{rm} (6 rows at once) + phase 2 {ph2} + phase 3 {ph3} + barriers → {r['instr_naive']} "
          f"or {r['instr_multi']}; × {r['warps']} warps = {r['warps'] * r['instr_naive']} or "
          f"{r['warps'] * r['instr_multi']} warp-instructions per instance-step.")
    print(f"Critical path per step ≈ {r['lat']} cycles.")
    print()
    print("| device | WG/SM (regs) | resident instances | issue bound (naive / multi-row) | "
          "latency bound | batch 2048 waves → efficiency | predicted at 2048 (naive / multi-row, 75 % issue) | "
          "predicted at 16384 (same) |")
    print("|---|---|---|---|---|---|---|---|")
    variants = [(dev, r["regs"]) for dev in DEVICES] + [("H100 SXM", 64)]
    for dev, regs in variants:
        d = DEVICES[dev]
        occ = occupancy(dev, regs, r["nt"], r["smem"])
        resident_n = occ * d["sm"]
        issue_n = d["warp_issue"] / (r["warps"] * r["instr_naive"])
        issue_m = d["warp_issue"] / (r["warps"] * r["instr_multi"])
        lat_b = resident_n * d["clk"] / r["lat"]
        out = []
        for batch in (2048, 16384):
            waves = math.ceil(batch / resident_n)
            eff = batch / (waves * resident_n)
            out.append((waves, eff, [0.75 * eff * min(x, lat_b) for x in (issue_n, issue_m)]))
        (w1, e1, p1), (_, e2, p2) = out
        print(f"| {dev}{'' if regs == r['regs'] else f' ({regs} registers)'} | {occ} | {resident_n:,} | {fmt(issue_n)} / {fmt(issue_m)} | {fmt(lat_b)} | "
              f"{w1} → {100 * e1:.0f} % | {fmt(p1[0])} / {fmt(p1[1])} | {fmt(p2[0])} / {fmt(p2[1])} |")
    print()
    print("Occupancy and batch-2048 efficiency on an H100 by registers per thread:")
    print()
    print("| registers/thread | WG/SM | resident | waves at 2048 | efficiency at 2048 | at 8192 |")
    print("|---|---|---|---|---|---|")
    for regs in (56, 64, 72, 80, 88, 96):
        occ = occupancy("H100 SXM", regs, r["nt"], r["smem"])
        n = occ * 132
        e = [b / (math.ceil(b / n) * n) for b in (2048, 8192)]
        print(f"| {regs} | {occ} | {n:,} | {math.ceil(2048 / n)} | {100 * e[0]:.0f} % | {100 * e[1]:.0f} % |")
    # global traffic per instance-step of the resident kernel
    print()
    print("| patterns per window | global B per instance-step | FLOP/B |")
    print("|---|---|---|")
    for p in (1, 16, 64):
        b = (2 * 4 * state_len(s) + p * 4 * (s.n_in + s.n_out + s.n_out)) / (p * 1000)
        print(f"| {p} | {b:.2f} | {fmt(flops_per_step(s) / b)} |")


# ---- the register kernel as built (register.wgsl + register_subgroup.wgsl / register_tree.wgsl) ----
# Instructions per thread and step counted by hand from the WGSL that register.rs generates for
# [4,120,3] (training, plastic step, no noise, no recording), one instruction per WGSL load,
# store, arithmetic operation, compare, select or branch, constant-trip loops unrolled, the
# per-instance constants read from the table at every step (address + load), sigmoid φ = 7
# (the phi_kind tests, negate, scale, ex2, add, reciprocal), the column sums' butterfly as
# `butterfly_sums` counts it for 32-lane subgroups. Not measured: a device session reads the
# SASS and the registers.
PHI_I = 7


def butterfly_sums(rows, warp=32, nt=128):
    """Instructions per thread of register.rs `butterfly` (the column sums with subgroups):
    the products, per transpose level a lane-bit test (and, compare) and per pair of rows kept
    (2 selects, a shuffle, an add; a pair with a padding row costs the same), then the plain
    levels up to min(subgroup, workgroup) as a loop (compare, branch, shuffle, add, shift;
    the min and the exit test), then the write (lane test and branch, bit reverse, shift, row
    test and branch, address, store)."""
    lanes = 1 << (rows - 1).bit_length()
    levels = lanes.bit_length() - 1
    pairs = 0
    held = rows
    for _ in range(levels):
        half = (lanes >> 1) >> _
        pairs += min(held, half)  # pairs whose lower row is real
        held = min(held, half)
    plain = max(0, (min(warp, nt).bit_length() - 1) - levels)
    return rows + 2 * levels + 4 * pairs + (5 * plain + 3) + 8


def register_built(s=None, sub=True, frozen_down=False, cells=4):
    """The register kernel as built (register.wgsl, register.rs), counted per thread and step by
    hand from the WGSL: one instruction per load, store, operation, compare, select or branch,
    constant loops unrolled, fma() one instruction. `cells`: hidden cells per thread (P)."""
    s = s or SHAPES[0]
    p = cells
    n0, o, h = s.n_in + 1, s.n_out, s.dims[1]
    columns = math.ceil((h + 1) / p)  # hidden cells and bias column, P to a thread
    # at least the 2·n_out owners (threads 0 … 2·n_out − 1 run them beside their columns), next
    # power of two (register.rs threads)
    nt = 1 << (max(columns, 2 * o) - 1).bit_length()
    entries = n0 + 2 * o + 2 * o  # per cell: rows of W_up0, W_down0, W_pi0; columns of W_ip0, W_up1
    step_loop = 15  # t++, bound, sample test, s == 0, plastic, next_step, s += 1 and wrap
    # the butterfly (register.rs), its products P per row (column_product: a product, then an
    # fma per further slot)
    sums_sub = butterfly_sums(2 * o, nt=nt) - 2 * o + 2 * o * p
    sums_tree_own = o * (2 * p + 4)  # the products, 2 stores to the thread's slots per row pair
    # The per-instance constants (k0, b; dt, g_l, g_b, σ, g_a, c_hidden; dt/τ_w and the five
    # dt·η) are read once per window into registers (register.wgsl `begin`).
    # phase 1: row, r_0 filter, column branch, per slot φ(u) and the select of its rate
    # (slot_rate: b or 0 where the slot is no hidden cell), owner test, barrier
    ph1 = 1 + 4 * s.n_in + 1 + p * (PHI_I + 1) + 2 + 1
    # phase 2: column branch, the 2·n_out rate loads, per slot v_B, v_A, du (6), noise test,
    # e_up (2 + φ), e_pi, e_down (φ + 1; only where W_down0 learns: LEARN_DOWN0) and the rest
    per_slot2 = n0 + 2 * o + 1 + 6 + 1 + (2 + PHI_I) + 1 + 2 + 1
    if not frozen_down:
        per_slot2 += PHI_I + 1
    ph2 = 1 + 2 * o + p * per_slot2
    # phase 3: flags, per matrix η (test, branch), 3 per entry (learn: fma(ηdt, Δ, W),
    # fma(kw, fma(e, r, −Δ), Δ)), error loads, the reset test, per slot u += du and the trace test
    ph3 = 2 + 1 + 2 + 1 + 2 * 5 + 3 * p * entries + 2 * o + 2 + 3 * p
    if frozen_down:
        # W_down0 frozen in the whole batch (register.rs `learns`): its η test and branch are
        # compiled out (−2), and its n_out entries per cell are not updated (the uniform branch
        # skipped them before as well); its n_out Δ per cell are no registers
        ph3 -= 2 + 3 * o * p
    hidden = step_loop + ph1 + ph2 + ph3
    warps = max(1, nt // 32)
    # owners' path on threads 0 … 2·n_out − 1 (warp 0; divergent from the columns' work; the
    # 2·n_out owners run one path, their roles' branches both): phase 1 22 (owner and role
    # tests, the output cells' u_tgt filter and u_top store, φ, the rate's store), phase 2
    # 25 + column_sum over the warps' partials (2 + 6 per warp), phase 4 22 (the output cells'
    # u += du and readout sums 17, the interneurons' 5)
    owner = 22 + 25 + 2 + 6 * warps + 22
    levels = int(math.log2(nt))
    if sub:
        per_thread = hidden + sums_sub
        warp_instr = warps * per_thread + owner
    else:
        per_thread = hidden + sums_tree_own + 1
        # per level: every warp tests tid < h and waits (3), the active warps add 2·n_out rows
        active = sum(max(1, (nt >> (l + 1)) // 32) for l in range(levels))
        per_level = 2 * o * 6 + 2
        warp_instr = warps * per_thread + owner + active * per_level + warps * levels * 3
    # private words of a column thread (register.rs private_words): W + Δ, r_0, rate copies;
    # registers beside them: per slot u, its rate, du, e_up, e_pi (and e_down where W_down0
    # learns) and slot_rate; ~25 invocation constants, the owners' 4 role constants and 5 values
    # (u_o, du_o, u_tgt, the readout sums; registers in every thread), the 14 per-step constants
    # held for the window (in per-thread registers unless the compiler puts these
    # workgroup-uniform values in uniform registers) and ~10 temporaries
    private = 2 * p * (n0 + 4 * o) + s.n_in + 2 * o - (p * o if frozen_down else 0)
    regs = private + p * (6 if frozen_down else 7) + 25 + 4 + 5 + 14 + 10
    return dict(nt=nt, entries=entries, hidden=hidden, per_thread=per_thread, owner=owner,
                warps=warps, warp_instr=warp_instr, private=private, regs=regs, cells=p,
                ph=(step_loop, ph1, sums_sub if sub else sums_tree_own, ph2, ph3),
                barriers=2 if sub else 2 + levels, smem=4 * (2 * o * nt + 5 * o))


def register_prediction(dev, r, regs=None):
    """Occupancy, issue bound and the predictions at batch 2048 and 16384 (75 % of the issue
    bound, times the last wave's fill) of a register_built count."""
    d = DEVICES[dev]
    regs = regs or r["regs"]
    occ = occupancy(dev, regs, max(r["nt"], 32), r["smem"])
    n = occ * d["sm"]
    issue = d["warp_issue"] / r["warp_instr"]
    eff = [b / (math.ceil(b / n) * n) for b in (2048, 16384)]
    return occ, n, issue, eff, [0.75 * e * issue for e in eff]


def table_register_built():
    s = SHAPES[0]
    print("| cells per thread | threads | private words | instructions per column thread "
          "(loop + phase 1 + sums + phase 2 + phase 3) | owners | warp-instructions per "
          "instance-step (subgroups / tree) | W_down0 frozen: per thread, per instance-step |")
    print("|---|---|---|---|---|---|---|")
    for p in (1, 2, 4):
        r, t = register_built(s, True, cells=p), register_built(s, False, cells=p)
        f = register_built(s, True, frozen_down=True, cells=p)
        loop, ph1, sums, ph2, ph3 = r["ph"]
        print(f"| {p} | {r['nt']} | {r['private']} | {loop} + {ph1} + {sums} + {ph2} + {ph3} = "
              f"{r['per_thread']} | {r['owner']} | {r['warp_instr']:,} / {t['warp_instr']:,} | "
              f"{f['per_thread']}, {f['warp_instr']:,} |")
    print()
    print("| cells | W_down0 | registers (est.) | H100: WG/SM | resident | issue bound | "
          "efficiency 2048 / 16384 | predicted at 2048 | predicted at 16384 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in (1, 2, 4):
        for frozen in (True, False):
            r = register_built(s, True, frozen_down=frozen, cells=p)
            for regs in (r["regs"], r["regs"] - 14):
                occ, n, issue, eff, pred = register_prediction("H100 SXM", r, regs)
                print(f"| {p} | {'frozen' if frozen else 'plastic'} | {regs} | {occ} | {n:,} | "
                      f"{fmt(issue)} | {100 * eff[0]:.0f} % / {100 * eff[1]:.0f} % | "
                      f"{fmt(pred[0])} | {fmt(pred[1])} |")
    print()
    print("| device (4 cells per thread, every pathway plastic) | registers (est.) | WG/SM | "
          "resident instances | issue bound (subgroup / tree) | efficiency at 2048 / 16384 | "
          "predicted at 2048 (75 % issue) | predicted at 16384 |")
    print("|---|---|---|---|---|---|---|---|")
    r, t = register_built(s, True), register_built(s, False)
    for dev in DEVICES:
        occ, n, issue, eff, pred = register_prediction(dev, r)
        tree = DEVICES[dev]["warp_issue"] / t["warp_instr"]
        print(f"| {dev} | {r['regs']} | {occ} | {n:,} | {fmt(issue)} / {fmt(tree)} | "
              f"{100 * eff[0]:.0f} % / {100 * eff[1]:.0f} % | {fmt(pred[0])} | {fmt(pred[1])} |")


# ---- steady kernel (steady.wgsl) on [784,500,10] and the others ----
def steady(s, passes=2, exposures=1, plastic=STEADY_PLASTIC):
    """Words and FLOPs per training pattern of steady.wgsl; dispatches per pattern."""
    n = s.n_layers
    dispatches = exposures * (passes * (n + n - 1) + n)
    mats = {name: (k, r, c) for name, k, r, c in s.matrices()}
    words = flops = 0
    dots = {}  # how often each matrix's dot product is computed per pattern

    def dot(name, times=1):
        nonlocal words, flops
        _, r, c = mats[name]
        words += times * r * c
        flops += times * 2 * r * c
        dots[name] = dots.get(name, 0) + times

    for _ in range(exposures):
        for p in range(passes):
            for l in range(n):  # up sweep
                dot(f"W_up{l}")
                if s.hidden(l):
                    if p > 0:
                        dot(f"W_down{l}"); dot(f"W_pi{l}")
                    dot(f"W_ip{l}")
            for l in reversed(range(n - 1)):  # down sweep
                dot(f"W_down{l}"); dot(f"W_pi{l}")
        for l in range(n):  # learn: every row recomputes its dendrite, then updates
            dot(f"W_up{l}")
            if s.hidden(l):
                dot(f"W_pi{l}"); dot(f"W_down{l}"); dot(f"W_ip{l}")
            for name, (k, r, c) in mats.items():
                if name.endswith(str(l)) and k in plastic:
                    words += 4 * r * c  # Δ read+write, W read+write (update_row)
                    flops += PLASTIC_FLOPS_PER_ENTRY * r * c
    return dispatches, words, flops, dots


def table_steady():
    print("| shape | dispatches/pattern | W_up0·r_0 per pattern | W+Δ words/pattern | B/pattern | "
          "FLOP/pattern | FLOP/B | H100 HBM bound (patterns/s, all instances) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in SHAPES:
        d, w, f, dots = steady(s)
        print(f"| {s.label()} | {d} | {dots['W_up0']} | {w:,} | {fmt(4 * w)} | {fmt(f)} | "
              f"{f / (4 * w):.2f} | {fmt(3.35e12 / (4 * w))} |")


def steady_latency(s=Shape([784, 500, 10]), batch=64):
    """Latency-bound estimate of steady.wgsl, 64 threads per instance, one instance per SM:
    each thread walks rows; a dot iteration loads 8 W words (one 32-B sector, a miss) and the
    update loop 1 entry per iteration (a miss every 8). k = sector misses in flight per thread."""
    d, w, f, dots = steady(s)
    rows = -(-500 // 64)
    dot_iters = rows * (785 // 8 + 785 % 8)
    upd_iters = rows * 785
    out = []
    # L1 throughput: a warp's uncoalesced scalar load touches 32 sectors; assume 4 sectors/cycle
    # (128 B/clk); every W word of the pattern is one lane-load (dots) or 2 loads + 2 stores (update)
    lane_ops = sum(dots[m] for m in ("W_up0",)) * 500 * 785 + 4 * 500 * 785
    t_l1 = lane_ops / 32 * 8 / 1.98e9
    out.append(("L1", 8, t_l1))
    for k, lat in ((1, LAT["dram"]), (4, LAT["dram"]), (4, LAT["l2"])):
        cyc = dots["W_up0"] * dot_iters * lat / k + upd_iters * (lat / 8 / k + 8 * LAT["fma"] / 2)
        t = cyc / 1.98e9
        out.append((k, lat, t))
    return d, out


# ---- steady blocks kernel (blocks.wgsl, steady/gpu/blocks.rs) ----
SEG_CAP = 14  # blocks.rs SEG_CAP: segments per dispatch record


def steady_blocks(s, passes=2, exposures=1, plastic=STEADY_PLASTIC):
    """W/Δ words and FLOPs per training pattern of blocks.wgsl; dispatches per pattern.
    v_B[0] = W_up0·x once per exposure, computed by the previous plasticity step from the W_up0
    words it has just updated (no extra words; every pattern but the first of an upload); learn
    reuses v_B[0], v_A and v_down and recomputes v_B (l ≥ 1) and v_D. Vectors (rates, x) are not
    counted: every row of a block reads the same one, so after the first team they are L1/L2
    hits."""
    n = s.n_layers
    segs = n + sum(1 for l in range(n) if s.hidden(l))  # learn segments
    dispatches = exposures * (passes * (n + n - 1) + -(-segs // SEG_CAP))
    mats = {name: (k, r, c) for name, k, r, c in s.matrices()}
    words = flops = 0
    dots = {}

    def dot(name, fused=False):
        nonlocal words, flops
        _, r, c = mats[name]
        words += 0 if fused else r * c
        flops += 2 * r * c
        dots[name] = dots.get(name, 0) + (0 if fused else 1)

    for _ in range(exposures):
        for p in range(passes):
            for l in range(n):  # K_UP: interneurons of l-1, then pyramidal cells of l
                if l > 0:
                    dot(f"W_ip{l - 1}")
                if l > 0:
                    dot(f"W_up{l}")
                elif p == 0:  # W_up0 fused into the previous update (plastic W_up0)
                    dot("W_up0", fused="up" in plastic)
                if s.hidden(l) and p > 0:
                    dot(f"W_down{l}"); dot(f"W_pi{l}")
            for l in reversed(range(n - 1)):  # K_DOWN
                dot(f"W_down{l}"); dot(f"W_pi{l}")
        for l in range(n):  # learn: v_B (l ≥ 1) and v_D recomputed, then the updates
            if l > 0:
                dot(f"W_up{l}")
            if s.hidden(l):
                dot(f"W_ip{l}")
            for name, (k, r, c) in mats.items():
                if name.endswith(str(l)) and k in plastic:
                    words += 4 * r * c  # Δ read+write, W read+write (update_share)
                    flops += PLASTIC_FLOPS_PER_ENTRY * r * c
    return dispatches, words, flops, dots


def blocks_team(s, wg=WG_GPU):
    """Lanes per row (Blocks::new): a power of two near a quarter of the widest row, 4..32."""
    widest = max(c for _, _, _, c in s.matrices())
    t = 1
    while t < -(-widest // 4):
        t *= 2
    return min(max(t, 4), 32, wg)


def table_steady_blocks():
    print("| shape | lanes/row | workgroup B | dispatches/pattern | W_up0 passes per pattern | "
          "W+Δ words/pattern | B/pattern | FLOP/pattern | FLOP/B | H100 HBM bound (patterns/s, "
          "all instances) | vs rows kernel (B) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in SHAPES:
        d, w, f, dots = steady_blocks(s)
        _, w_rows, _, _ = steady(s)
        wv = max([s.n_inter(l) for l in range(s.n_layers)] + [1])
        wg_bytes = 4 * (WG_GPU + wv + 4)
        w0 = dots.get("W_up0", 0) + 4  # unfused dots + read/write of W and Δ in the update
        print(f"| {s.label()} | {blocks_team(s)} | {wg_bytes} | {d} | {w0} | {w:,} | {fmt(4 * w)} | "
              f"{fmt(f)} | {f / (4 * w):.2f} | {fmt(3.35e12 / (4 * w))} | "
              f"{w / w_rows:.2f}× |")


def blocks_row_chunks(o, c):
    """(chunks, whole chunks) of a row of c words at word o of an instance (blocks.wgsl `in_row`:
    aligned vec4 chunks; only the first and the last can be partial). Instances and Δ start on a
    multiple of 4 words (Layout::new), so o mod 4 is the same in every instance and for Δ."""
    chunks = (o + c + 3) // 4 - o // 4
    whole = max((o + c) // 4 - (o + 3) // 4, 0)  # chunks k with o ≤ 4k and 4k + 4 ≤ o + c
    return chunks, whole


def steady_blocks_mem_ops(s, passes=2, exposures=1, plastic=STEADY_PLASTIC):
    """Lane-level W/Δ memory instructions per training pattern of blocks.wgsl, scalar (one load
    or store per word, before vec4) and vec4 (one load per chunk; an update stores a whole chunk
    once, a partial chunk word by word), for the dots and updates counted by steady_blocks.
    Presynaptic vector loads are not counted (one per column either way)."""
    _, _, _, dots = steady_blocks(s, passes, exposures, plastic)
    scalar = vec = 0
    at = 0
    for name, kind, r, c in s.matrices():
        ch = whole = 0
        for i in range(r):
            n, w = blocks_row_chunks(at + i * c, c)
            ch, whole = ch + n, whole + w
        at += r * c
        scalar += dots.get(name, 0) * r * c
        vec += dots.get(name, 0) * ch
        if kind in plastic:
            scalar += exposures * 4 * r * c  # W, Δ loaded and stored per word
            vec += exposures * 2 * (ch + whole + (r * c - 4 * whole))
    return scalar, vec


def table_steady_blocks_ops():
    print("| shape | widest row (words) | loads per lane per row, scalar → vec4 | "
          "W+Δ load/store instructions per pattern, scalar → vec4 | ratio |")
    print("|---|---|---|---|---|")
    for s in SHAPES:
        t = blocks_team(s)
        widest = max(c for _, _, _, c in s.matrices())
        sc, v = steady_blocks_mem_ops(s)
        print(f"| {s.label()} | {widest} | {-(-widest // t)} → {-(-((widest + 3) // 4) // t)} | "
              f"{sc:,} → {v:,} | {sc / v:.2f}× |")


def steady_blocks_batch(s=Shape([784, 500, 10]), dev="H100 SXM"):
    """Patterns/s of the whole batch: HBM time of the batch's words plus the dispatches."""
    d, w, f, dots = steady_blocks(s)
    out = []
    for batch in (6, 64):
        t_mem = batch * 4 * w / DEVICES[dev]["dram"]
        lo, hi = (batch / (t_mem + d * x) for x in (DISPATCH_S[1], DISPATCH_S[0]))
        out.append((batch, t_mem, lo, hi))
    return d, out


# ---- G-clusteron, Fashion-MNIST softmax, rule L, B = 3, Adam (benches/RESULTS.md) ----
def gclusteron(M=100, N=784, K=10, B=3, WG=64, RI=4):
    nx = -(-N // (RI * WG))
    pg = 4 if B <= 4 else 8
    pairs = K * N * N  # per instance-step, for PG patterns at once
    # lane-instructions per pair (forward_train, with_z, 4 patterns in a vec4, 3 used):
    # d, d²·nr (2), expm1 Taylor branch (14 instructions: 1 + 6 × (mul, fma) + 1; 21 FLOP),
    # −g, h += g·s (4 lanes), 1−g, lj−li, fd, z += fd·s (4 lanes) → counted per pair
    instr_pair = 1 + 2 + 14 + 1 + 4 + 1 + 1 + 1 + 4
    useful_flop_pair = 3 + 21 + 1 + 2 * B + 3 + 2 * B  # what the B patterns need
    # global words per instance-step
    u_z = K * B * N  # U and Z rows
    words = (2 * K * B * N  # sums_train: w and x per (unit, p)
             + nx * K * N * (1 + 1 + B)  # forward_train tiles: l_j, w_j, x_pj per i-workgroup
             + 2 * u_z  # U, Z written
             + 3 * u_z  # dot_train: w, x, U
             + 3 * u_z  # update: x, U, Z (gbuf) per p
             + K * N * (2 + 2 + 2 + 1 + 1))  # update: l r/w, m_l r/w, v_l r/w, l_kernel w, w r
    flops = pairs * useful_flop_pair + 2 * 3 * u_z + 6 * K * N
    return dict(nx=nx, pg=pg, pairs=pairs, instr_pair=instr_pair, words=words, flops=flops,
                dispatches=6, M=M)


def table_gclusteron():
    print("| instances M | pairs/step/instance | FLOP/step/instance | B/step/instance | FLOP/B | "
          "H100 FP32-issue bound (steps/s, all instances) | dispatch bound (steps/s) | forward_train workgroups |")
    print("|---|---|---|---|---|---|---|---|")
    for M in (10, 100):
        g = gclusteron(M=M)
        d = DEVICES["H100 SXM"]
        lane_instr = M * g["pairs"] * g["instr_pair"]
        issue = d["sm"] * d["lanes"] * d["clk"] / lane_instr  # steps/s of the whole batch
        disp = [1 / (g["dispatches"] * t) for t in DISPATCH_S]
        print(f"| {M} | {fmt(g['pairs'])} | {fmt(g['flops'])} | {fmt(4 * g['words'])} | "
              f"{g['flops'] / (4 * g['words']):.0f} | {fmt(issue)} | {fmt(disp[1])}–{fmt(disp[0])} | "
              f"{g['nx'] * M * 10:,} |")
    return


if __name__ == "__main__":
    print("## shapes\n"); table_shapes()
    print("\n## fused/phased/serial traffic\n"); table_fused()
    it, b, w = fused_latency()
    print(f"\nfused [4,120,3] critical path: {it} dependent iterations → {b}–{w} cycles per step")
    print("\n## resident kernel as built (slice 1) [4,120,3]\n"); table_resident_slice1()
    print("\n## resident kernel [4,120,3]\n"); table_resident()
    print("\n## register kernel as built [4,120,3]\n"); table_register_built()
    print("\n## steady\n"); table_steady()
    d, out = steady_latency()
    for k, lat, t in out:
        what = ("L1-throughput-bound (32 sectors per warp load, 4 per cycle)" if k == "L1"
                else f"latency-bound, {k} sector misses in flight per thread × {lat} cycles")
        print(f"steady [784,500,10] {what}: {t * 1e6:,.0f} µs"
              f"/pattern + {d} dispatches → batch 64: {fmt(64 / (t + d * 7.5e-6))} patterns/s")
    print("\n## steady blocks kernel\n"); table_steady_blocks()
    print("\n## steady blocks kernel: vec4 chunks\n"); table_steady_blocks_ops()
    d, out = steady_blocks_batch()
    for batch, t_mem, lo, hi in out:
        print(f"steady blocks [784,500,10] batch {batch}: HBM {t_mem * 1e6:,.1f} µs/pattern + {d} "
              f"dispatches × 5–10 µs → {fmt(lo)}–{fmt(hi)} patterns/s")
    print("\n## G-clusteron\n"); table_gclusteron()
    for dev, d in DEVICES.items():
        print(f"\n{dev}: FP32 peak {fmt(d['flops'])} FLOP/s, ridge {d['flops'] / d['dram']:.0f} FLOP/B (DRAM), "
              f"warp-instruction issue {fmt(d['warp_issue'])}/s")
