"""NumPy oracles of the element-wise activations, from torch's definitions.

>>> import numpy as np
>>> relu(OracleCall({}, {}, [np.array([-1.0, 2.0])], {}, False))[0]
array([0., 2.])
"""

from __future__ import annotations

import numpy as np

from ._registry import OracleCall, implements


def where_positive(x: np.ndarray, slope: np.ndarray | float) -> np.ndarray:
    """torch's ``x > 0 ? x : slope * x`` in x's dtype (NaN stays NaN)."""
    s = np.asarray(slope, dtype=x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(x > 0, x, x * s)


@implements("ReLU")
def relu(c: OracleCall) -> list[np.ndarray]:
    x = c.x
    # torch.relu propagates NaN: max(x, 0) with NaN kept.
    return [np.where(np.isnan(x) | (x > 0), x, np.zeros((), x.dtype))]


@implements("Sigmoid")
def sigmoid(c: OracleCall) -> list[np.ndarray]:
    x = c.x
    wide = x.astype(np.float64)
    e = np.exp(-np.abs(wide))  # never overflows
    y = np.where(wide >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return [y.astype(x.dtype)]


@implements("Tanh")
def tanh(c: OracleCall) -> list[np.ndarray]:
    return [np.tanh(c.x.astype(np.float64)).astype(c.x.dtype)]


@implements("LeakyReLU")
def leaky_relu(c: OracleCall) -> list[np.ndarray]:
    return [where_positive(c.x, c.args["negative_slope"])]


@implements("PReLU")
def prelu(c: OracleCall) -> list[np.ndarray]:
    x, w = c.x, c.weights["weight"]
    # One slope applies everywhere; C slopes apply per channel (dim 1).
    w = w.reshape((1, w.size) + (1,) * (x.ndim - 2)) if w.size > 1 else w.reshape(())
    return [where_positive(x, w)]
