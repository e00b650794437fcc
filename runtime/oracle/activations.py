"""NumPy oracles of the element-wise activations, from torch's definitions.

>>> import numpy as np
>>> relu(OracleCall({}, {}, [np.array([-1.0, 2.0])], {}, False))[0]
array([0., 2.])
"""

from __future__ import annotations

import numpy as np

from ._registry import OracleCall, implements


def _where_positive(x: np.ndarray, slope: np.ndarray | float) -> np.ndarray:
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
    with np.errstate(over="ignore"):
        y = np.where(wide >= 0, 1.0 / (1.0 + np.exp(-wide)), np.exp(wide) / (1.0 + np.exp(wide)))
    return [y.astype(x.dtype)]


@implements("Tanh")
def tanh(c: OracleCall) -> list[np.ndarray]:
    return [np.tanh(c.x.astype(np.float64)).astype(c.x.dtype)]


@implements("LeakyReLU")
def leaky_relu(c: OracleCall) -> list[np.ndarray]:
    return [_where_positive(c.x, c.args["negative_slope"])]


@implements("PReLU")
def prelu(c: OracleCall) -> list[np.ndarray]:
    x, w = c.x, c.weights["weight"]
    if w.size > 1:  # per channel: dim 1
        w = w.reshape((1, w.size) + (1,) * (x.ndim - 2))
    else:
        w = w.reshape(())
    return [_where_positive(x, w)]


@implements("RReLU")
def rrelu(c: OracleCall) -> list[np.ndarray]:
    lower, upper = c.args["lower"], c.args["upper"]
    if not c.training:
        return [_where_positive(c.x, (lower + upper) / 2)]
    slopes = c.extras.get("slopes")
    if slopes is None:
        rng = c.extras.get("rng") or np.random.default_rng()
        slopes = rng.uniform(lower, upper, size=c.x.shape)
    return [_where_positive(c.x, np.asarray(slopes))]
