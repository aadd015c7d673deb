"""pyralnet from Python: the Rust simulator of dendritic cortical microcircuits
(Sacramento et al. 2018) that the ``pyralnet`` command runs, driven from numpy.

``run`` is ``pyralnet run`` (the same code, the same output files, read back into numpy);
``Simulator`` holds a batch of a config's instances on the CPU or GPU backend and trains it
on numpy arrays; ``datasets`` are the generators of ``pyralnet dataset``.
"""

import csv
import json
import os
import tempfile

import numpy as np

from . import datasets
from ._pyralnet import SimState
from ._pyralnet import Simulator as _Simulator
from ._pyralnet import run_to_folder as _run_to_folder
from ._pyralnet import training_patterns as _training_patterns

__all__ = ["run", "Result", "Simulator", "SimState", "training_patterns", "datasets"]


def _config_args(config):
    """The config as the keyword the extension takes: ``path`` for a file, ``json`` for a dict."""
    if isinstance(config, dict):
        return {"json": json.dumps(config)}
    if isinstance(config, (str, os.PathLike)):
        return {"path": os.fspath(config)}
    raise TypeError(f"config must be a dict or a path, got {type(config).__name__}")


def _column(values):
    """One CSV column as a numpy array: int64 or float64 (empty cells and the metrics of a
    diverged instance, ``"diverged"``, NaN) where every cell is a number, else an array of
    strings."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.array(
            [float(v) if v not in ("", "diverged") else np.nan for v in values], dtype=np.float64
        )
    except ValueError:
        return np.array(values, dtype=object)


def _read_table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: _column([r[k] for r in body]) for k, name in enumerate(header)}


class Result:
    """The outputs of a run, read from its folder ``out``.

    ``instances`` and ``curves`` map each column of ``instances.csv`` and ``curves.csv`` to a
    numpy array; ``summary`` is ``summary.json``; ``config`` the resolved config
    (``config.json``, which ``run`` takes back as a dict); ``weights(i)`` the arrays of
    ``weights/instance_<i>.npz``.
    """

    def __init__(self, out, keep=None):
        self.out = os.fspath(out)
        self._keep = keep  # the temporary folder, removed with the Result
        self.instances = _read_table(os.path.join(self.out, "instances.csv"))
        self.curves = _read_table(os.path.join(self.out, "curves.csv"))
        with open(os.path.join(self.out, "summary.json")) as f:
            self.summary = json.load(f)
        with open(os.path.join(self.out, "config.json")) as f:
            self.config = json.load(f)

    def weights(self, i):
        """The weights of instance ``i`` (its index in the experiment): name → array, the
        names of the .npz files (``layer0.W_up``, ...)."""
        path = os.path.join(self.out, "weights", f"instance_{i}.npz")
        if not os.path.exists(path):
            raise IndexError(f"no weights of instance {i} in {self.out}")
        with np.load(path) as npz:
            return {name: npz[name] for name in npz.files}

    def to_pandas(self):
        """``(instances, curves)`` as pandas DataFrames (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.instances), pd.DataFrame(self.curves)

    def __repr__(self):
        n = len(next(iter(self.instances.values()), []))
        return f"<pyralnet.Result: {n} instances in {self.out}>"


def run(config, out=None, backend="auto", precision=None, quiet=True, cpu_kernel="auto"):
    """Runs ``config`` (a dict or a path to a JSON file) like ``pyralnet run CONFIG --out OUT
    --backend BACKEND [--precision PRECISION] --cpu-kernel CPU_KERNEL [--quiet]`` and returns
    its ``Result``.

    Without ``out`` the outputs go to a temporary folder that lives as long as the Result.
    Bad configs and arguments raise ``ValueError`` with the CLI's message. Ctrl-C stops the run
    after the current chunk (with a checkpoint in ``out``) and raises ``KeyboardInterrupt``.
    Unless ``quiet``, the run's report and progress bar go to stderr.
    """
    keep = None
    if out is None:
        keep = tempfile.TemporaryDirectory(prefix="pyralnet-")
        out = keep.name
    _run_to_folder(
        os.fspath(out), backend, precision, quiet, cpu_kernel=cpu_kernel, **_config_args(config)
    )
    return Result(out, keep)


def training_patterns(config, n):
    """The first ``n`` training patterns of every instance of ``config``, in the order ``run``
    trains them: ``(x, y)`` of shapes (instances, n, n_in) and (instances, n, n_out)."""
    return _training_patterns(n, **_config_args(config))


def Simulator(config, backend="cpu", precision=None):
    """The batch of ``config``'s instances (dict or path) on ``backend`` ("cpu" or "gpu") in
    ``precision`` ("f64" or "f32"; the GPU computes in f32; default: the config's).

    ``.train(x, y)`` with x (instances, patterns, n_in) and y (instances, patterns, n_out)
    returns the readouts; ``.evaluate(x)``; ``.weights()`` / ``.set_weights(list_of_dicts)``;
    ``.state()`` / ``.restore(state)``; ``.record(stride, all_compartments=False)`` records
    every ``stride``-th Euler step of later ``.train`` calls and ``.traces()`` takes the
    samples: one dict per instance with the arrays ``pyralnet run --record`` writes (``step``,
    ``u_out``, ``u_tgt``, ``r0``; ``layer<l>.u_p``, ``layer<l>.u_i`` with
    ``all_compartments``); ``.record(None)`` stops.
    """
    return _Simulator(backend, precision, **_config_args(config))
