"""NumPy oracles of ``Softmax`` and ``LogSoftmax``, from torch's definitions.

torch subtracts the maximum along ``dim`` first, so a NaN, a +inf or a row of only -inf makes the
whole row NaN; ``dim=None`` is torch's legacy implicit dim (0 for rank 0, 1 or 3, else 1).

>>> import numpy as np
>>> softmax(OracleCall({"dim": 0}, {}, [np.array([0.0, np.log(3.0)])], {}, False))[0]
array([0.25, 0.75])
"""

from __future__ import annotations

import numpy as np

from ._registry import OracleCall, implements


def _axis(dim: int | None, ndim: int) -> int:
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
    return int(dim) % max(ndim, 1)


def _compute(c: OracleCall, log: bool) -> np.ndarray:
    x = c.x
    if x.size == 0:
        return x.copy()
    v = x.astype(np.float64).reshape(x.shape or (1,))
    axis = _axis(c.args.get("dim"), x.ndim)
    with np.errstate(all="ignore"):
        d = v - np.max(v, axis=axis, keepdims=True)
        total = np.sum(np.exp(d), axis=axis, keepdims=True)
        y = d - np.log(total) if log else np.exp(d) / total
    return y.reshape(x.shape).astype(x.dtype)


@implements("Softmax")
def softmax(c: OracleCall) -> list[np.ndarray]:
    return [_compute(c, log=False)]


@implements("LogSoftmax")
def log_softmax(c: OracleCall) -> list[np.ndarray]:
    return [_compute(c, log=True)]
