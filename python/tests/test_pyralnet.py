"""The Python package against the CLI: the same outputs, the same errors, the same data."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pyralnet

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "mimic_smoke.json"


def cli():
    """The pyralnet binary the Rust tests built (PYRALNET_BIN overrides)."""
    path = os.environ.get("PYRALNET_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "pyralnet"
    )
    if not os.path.exists(path):
        pytest.skip(f"no pyralnet binary at {path}: build it with cargo build")
    return path


def smoke_dict(**protocol):
    cfg = json.loads(SMOKE.read_text())
    cfg["protocol"].update(protocol)
    return cfg


def test_run_equals_cli(tmp_path):
    subprocess.run(
        [cli(), "run", str(SMOKE), "--out", str(tmp_path / "cli"), "--backend", "cpu", "--quiet"],
        check=True,
        capture_output=True,
    )
    r = pyralnet.run(SMOKE, out=tmp_path / "py", backend="cpu")
    for name in ["instances.csv", "curves.csv", "config.json", "summary.csv"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    with np.load(tmp_path / "cli" / "weights" / "instance_0.npz") as npz:
        w = r.weights(0)
        assert sorted(w) == sorted(npz.files)
        for name in npz.files:
            np.testing.assert_array_equal(w[name], npz[name])
    cli_summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert r.summary["points"] == cli_summary["points"]
    assert r.instances["val_mse"].dtype == np.float64 and np.isfinite(r.instances["val_mse"]).all()
    assert list(r.curves["patterns"]) == [0, 100, 200, 300, 400]


def test_simulator_train_equals_run():
    cfg = smoke_dict()
    r = pyralnet.run(cfg, backend="cpu")
    n = cfg["protocol"]["epochs"] * cfg["task"]["train_size"]
    x, y = pyralnet.training_patterns(cfg, n)
    assert x.shape == (1, n, 2) and y.shape == (1, n, 2)
    sim = pyralnet.Simulator(cfg, backend="cpu", precision="f64")
    readouts = sim.train(x, y)
    assert readouts.shape == (1, n, 2) and np.isfinite(readouts).all()
    [w] = sim.weights()
    want = r.weights(0)
    assert sorted(w) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(w[name], want[name])


def test_state_restore_and_set_weights():
    cfg = smoke_dict()
    x, y = pyralnet.training_patterns(cfg, 50)
    sim = pyralnet.Simulator(cfg)
    start = sim.state()
    first = sim.train(x, y)
    after = sim.weights()
    sim.restore(start)
    np.testing.assert_array_equal(sim.train(x, y), first)
    sim.restore(start)
    sim.set_weights(after)
    for name, a in sim.weights()[0].items():
        np.testing.assert_array_equal(a, after[0][name])
    e1 = sim.evaluate(x)
    np.testing.assert_array_equal(sim.evaluate(x), e1)  # evaluation leaves the state alone
    bad = {k: v[:1] for k, v in after[0].items()}
    with pytest.raises(ValueError, match="has shape"):
        sim.set_weights([bad])


def test_errors_are_exceptions_with_the_cli_message(tmp_path):
    bad = smoke_dict(epochs=0)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    p = subprocess.run([cli(), "run", str(path), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 2
    with pytest.raises(ValueError) as e:
        pyralnet.run(path, out=tmp_path / "o")
    assert "error: " + str(e.value) == p.stderr.strip()
    with pytest.raises(ValueError, match="protocol.epochs: must be at least 1"):
        pyralnet.run(bad)
    with pytest.raises(ValueError, match="backend"):
        pyralnet.run(SMOKE, backend="tpu")
    with pytest.raises(ValueError, match="x must have shape"):
        pyralnet.Simulator(SMOKE).train(np.zeros((1, 3, 5)), np.zeros((1, 3, 2)))
    with pytest.raises(TypeError):
        pyralnet.run(42)


def test_dict_config_round_trips():
    r = pyralnet.run(SMOKE, backend="cpu")
    again = pyralnet.run(r.config, backend="cpu")
    assert again.config == r.config
    for col, values in r.instances.items():
        np.testing.assert_array_equal(again.instances[col], values)
    for col, values in r.curves.items():
        np.testing.assert_array_equal(again.curves[col], values)


def test_datasets_equal_the_cli_export(tmp_path):
    for which, arrays in [
        ("yinyang", pyralnet.datasets.yinyang(seed=41, size=300)),
        ("bars", pyralnet.datasets.bars(seed=3, size=300, noise=0.2)),
    ]:
        out = tmp_path / f"{which}.csv"
        extra = ["--noise", "0.2", "--seed", "3"] if which == "bars" else ["--seed", "41"]
        subprocess.run([cli(), "dataset", which, "--size", "300", "--out", str(out), *extra], check=True, capture_output=True)
        table = np.loadtxt(out, delimiter=",", skiprows=1)
        x, y = arrays
        assert x.dtype == np.float64 and y.dtype == np.int64
        assert np.array_equal(x, table[:, :-1]) and np.array_equal(y, table[:, -1].astype(np.int64))


def rel_rms(a, b):
    return np.sqrt(np.sum((a - b) ** 2) / np.sum(b**2))


def test_gpu_simulator_agrees_with_cpu():
    cfg = smoke_dict()
    x, y = pyralnet.training_patterns(cfg, 20)
    try:
        gpu = pyralnet.Simulator(cfg, backend="gpu")
    except ValueError as e:
        if os.environ.get("PYRALNET_REQUIRE_GPU") == "1":
            raise
        pytest.skip(f"no GPU adapter: {e}")
    c32 = pyralnet.Simulator(cfg, backend="cpu", precision="f32")
    c64 = pyralnet.Simulator(cfg, backend="cpu", precision="f64")
    outs = [s.train(x, y) for s in (gpu, c32, c64)]
    [wg], [w32], [w64] = gpu.weights(), c32.weights(), c64.weights()
    # the tolerances of `pyralnet check`: 1e-4 from CPU f32, 1e-3 from CPU f64
    assert rel_rms(outs[0], outs[1]) <= 1e-4 and rel_rms(outs[0], outs[2]) <= 1e-3
    for name in w64:
        assert rel_rms(wg[name], w32[name]) <= 1e-4, name
        assert rel_rms(wg[name], w64[name]) <= 1e-3, name


def test_ctrl_c_stops_with_a_checkpoint(tmp_path):
    import signal
    import threading

    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        pyralnet.run(ROOT / "configs" / "mimic.json", out=tmp_path / "o", backend="cpu")
    assert (tmp_path / "o" / "checkpoint").exists()
    assert not (tmp_path / "o" / "summary.json").exists()


def test_record_equals_the_cli_traces(tmp_path):
    cfg = smoke_dict()
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps(cfg))
    subprocess.run(
        [cli(), "run", str(path), "--out", str(tmp_path / "cli"), "--backend", "cpu", "--quiet",
         "--record", "--record-stride", "10", "--record-all"],
        check=True,
        capture_output=True,
    )
    n = cfg["protocol"]["epochs"] * cfg["task"]["train_size"]
    x, y = pyralnet.training_patterns(cfg, n)
    sim = pyralnet.Simulator(cfg, backend="cpu", precision="f64")
    sim.record(10, all_compartments=True)
    sim.train(x, y)
    [t] = sim.traces()
    with np.load(tmp_path / "cli" / "traces" / "instance_0.npz") as npz:
        assert sorted(t) == sorted(npz.files)
        for name in npz.files:
            assert t[name].dtype == npz[name].dtype and t[name].shape == npz[name].shape, name
            np.testing.assert_array_equal(t[name], npz[name], err_msg=name)
    # every stride-th Euler step of the stream: steps / stride samples
    steps = n * round(cfg["params"]["t_pattern"] / cfg["params"]["dt"])
    assert len(t["step"]) == steps // 10 and t["u_out"].shape == (steps // 10, 2)
    np.testing.assert_array_equal(t["step"], np.arange(0, steps, 10))
    # traces() takes the samples; record(None) stops recording
    assert sim.traces()[0]["step"].size == 0
    sim.record(None)
    sim.train(x[:, :5], y[:, :5])
    assert list(sim.traces()[0]) == ["step"]
    with pytest.raises(ValueError, match="stride must be at least 1"):
        sim.record(0)


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_record_from_mid_stream_keeps_the_bits(backend):
    cfg = smoke_dict()
    x, y = pyralnet.training_patterns(cfg, 20)
    try:
        whole = pyralnet.Simulator(cfg, backend=backend)
    except ValueError as e:
        if os.environ.get("PYRALNET_REQUIRE_GPU") == "1":
            raise
        pytest.skip(f"no GPU adapter: {e}")
    whole.record(7)
    first = whole.train(x, y)
    [all_steps] = whole.traces()
    # recording switched on after 8 patterns: the backend is opened again from the state
    sim = pyralnet.Simulator(cfg, backend=backend)
    head = sim.train(x[:, :8], y[:, :8])
    sim.record(7)
    tail = sim.train(x[:, 8:], y[:, 8:])
    np.testing.assert_array_equal(np.concatenate([head, tail], axis=1), first)
    [t] = sim.traces()
    keep = all_steps["step"] >= 8 * round(cfg["params"]["t_pattern"] / cfg["params"]["dt"])
    assert sorted(t) == ["r0", "step", "u_out", "u_tgt"]
    for name in t:
        np.testing.assert_array_equal(t[name], all_steps[name][keep], err_msg=name)
    for name, w in whole.weights()[0].items():
        np.testing.assert_array_equal(sim.weights()[0][name], w, err_msg=name)
