"""NumPy oracle of RReLU, from torch's ``rrelu_with_noise``.

Eval mode: ``x > 0 ? x : x * (lower + upper) / 2`` (torch's ``leaky_relu``). Training mode:
``x <= 0 ? x * r : x`` with ``r ~ U(lower, upper)`` per element, and the noise buffer ``r``
where ``x <= 0``, else 1. A random run is checked exactly when its noise is a model output:
the oracle takes the slopes from ``extras["observed"]`` (the run's outputs), computes ``y``
from them, and expects the noise torch's semantics allow -- the observed slope where it lies in
``[lower, upper]`` and ``x <= 0``, 1 where ``x > 0``, NaN (a certain mismatch) elsewhere.
Without observed noise it draws its own slopes from ``extras["rng"]``.

>>> import numpy as np
>>> x = np.array([-2.0, 3.0])
>>> call = OracleCall({"lower": 0.1, "upper": 0.3}, {}, [x], {}, True,
...                   extras={"observed": {"n": np.array([0.2, 1.0])}, "outputs": ["y", "n"]})
>>> rrelu(call)
[array([-0.4,  3. ]), array([0.2, 1. ])]
"""

from __future__ import annotations

import numpy as np

from ._registry import OracleCall, implements
from .activations import where_positive


def _slopes(c: OracleCall, lower: float, upper: float) -> np.ndarray:
    """The slopes a training run used (observed), or fresh ones from the rng."""
    names = c.extras.get("outputs", [])
    observed = c.extras.get("observed", {})
    if len(names) == 2 and names[1] in observed:
        return np.asarray(observed[names[1]], dtype=c.x.dtype)
    rng = c.extras.get("rng") or np.random.default_rng()
    return rng.uniform(lower, upper, size=c.x.shape).astype(c.x.dtype)


def _in_range(r: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """``lower <= r <= upper`` with one unit of slack for rounding the bounds to r's dtype."""
    lo = np.nextafter(np.asarray(lower, r.dtype), np.asarray(-np.inf, r.dtype))
    hi = np.nextafter(np.asarray(upper, r.dtype), np.asarray(np.inf, r.dtype))
    return (r >= lo) & (r <= hi)


@implements("RReLU")
def rrelu(c: OracleCall) -> list[np.ndarray]:
    x, lower, upper = c.x, float(c.args["lower"]), float(c.args["upper"])
    nonpositive = x <= 0
    one = np.ones((), x.dtype)
    if not c.training:
        slope = (lower + upper) / 2
        outs = [where_positive(x, slope), np.where(nonpositive, np.asarray(slope, x.dtype), one)]
    else:
        r = _slopes(c, lower, upper)
        with np.errstate(invalid="ignore", over="ignore"):
            y = np.where(nonpositive, x * r, x)
        valid = np.where(_in_range(r, lower, upper), r, np.asarray(np.nan, x.dtype))
        outs = [y, np.where(nonpositive, valid, one)]
    return outs[: len(c.extras.get("outputs", [None]))]
