"""Quickstart: train a small Yin-Yang batch from Python, plot its learning curves and the
decision map of one instance.

    pip install ./python matplotlib
    python examples/quickstart.py            # writes quickstart.png
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pyralnet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
config = json.loads((ROOT / "configs" / "yinyang_steady_smoke.json").read_text())
config["seeds"] = [0, 1, 2]

# 1. A whole run, like `pyralnet run`: curves and final metrics as numpy arrays.
result = pyralnet.run(config, backend="cpu", quiet=False)
curves = result.curves
print("final validation accuracy per instance:", result.instances["val_acc"])

# 2. The same batch driven from numpy: train on the run's patterns, then classify a grid.
sim = pyralnet.Simulator(config, backend="cpu")
n = config["protocol"]["epochs"] * config["task"]["train_size"]
x, y = pyralnet.training_patterns(config, n)
sim.train(x, y)
g = np.linspace(0.0, 1.0, 60)
gx, gy = np.meshgrid(g, g)
grid = np.stack([gx.ravel(), gy.ravel(), 1 - gx.ravel(), 1 - gy.ravel()], axis=1)
# the inputs in the task's encoding: the same affine map as the training patterns
x_raw, _ = pyralnet.datasets.yinyang(seed=42, size=config["task"].get("train_size", 5000))
scale = (x[0].max(0) - x[0].min(0)) / (x_raw.max(0) - x_raw.min(0))
grid = x[0].min(0) + (grid - x_raw.min(0)) * scale
readout = sim.evaluate(np.repeat(grid[None], sim.instances, axis=0))
classes = readout[0].argmax(axis=1).reshape(gx.shape)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for i in np.unique(curves["instance"]):
    mine = curves["instance"] == i
    ax1.plot(curves["epoch"][mine], 100 * curves["val_acc"][mine], label=f"instance {i}")
ax1.set(xlabel="epoch", ylabel="validation accuracy (%)", title="learning curves")
ax1.legend()
ax2.imshow(classes, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
xs, labels = pyralnet.datasets.yinyang(seed=40, size=500)
ax2.scatter(xs[:, 0], xs[:, 1], c=labels, s=4, cmap="viridis", edgecolors="white", linewidths=0.2)
ax2.set(xlabel="x", ylabel="y", title="decision map (instance 0)")
fig.tight_layout()
fig.savefig("quickstart.png", dpi=120)
print("wrote quickstart.png")
