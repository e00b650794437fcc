"""NumPy oracles of ``Linear`` and ``Flatten``.

>>> import numpy as np
>>> w = np.array([[1.0, 2.0]])
>>> linear(OracleCall({"bias": False}, {"weight": w}, [np.array([3.0, 4.0])], {}, False))[0]
array([11.])
"""

from __future__ import annotations

import math

import numpy as np

from ._registry import OracleCall, implements


@implements("Linear")
def linear(c: OracleCall) -> list[np.ndarray]:
    """``x @ weight.T + bias``, accumulated in float64 and rounded to x's dtype."""
    x = c.x
    w = c.weights["weight"].astype(np.float64)
    y = x.astype(np.float64) @ w.T
    if "bias" in c.weights:
        y = y + c.weights["bias"].astype(np.float64)
    return [y.astype(x.dtype)]


@implements("Flatten")
def flatten(c: OracleCall) -> list[np.ndarray]:
    x = c.x
    if x.ndim == 0:
        return [x.reshape(1)]
    start, end = c.args["start_dim"] % x.ndim, c.args["end_dim"] % x.ndim
    shape = (*x.shape[:start], math.prod(x.shape[start : end + 1]), *x.shape[end + 1 :])
    return [x.reshape(shape)]
