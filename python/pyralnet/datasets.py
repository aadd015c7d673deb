"""The generated data sets of ``pyralnet dataset``, as numpy arrays: ``x`` (samples ×
features, float64) and ``y`` (integer labels), the same numbers as the CSV files."""

from ._pyralnet import bars_set as _bars
from ._pyralnet import yinyang_set as _yinyang

__all__ = ["yinyang", "bars"]


def yinyang(seed=42, size=5000):
    """Yin-Yang (Kriener et al. 2021): x = (x, y, 1-x, 1-y), y in {0, 1, 2}; the standard
    sets are train 42, validation 41, test 40."""
    return _yinyang(seed, size)


def bars(seed=42, size=5000, noise=0.0):
    """3×3 bars (horizontal, vertical, diagonal) with pixel noise of amplitude ``noise``."""
    return _bars(seed, size, noise)
