"""NumPy oracle of RReLU: eval mode exactly; training mode from sampled or replayed slopes."""

from __future__ import annotations

import numpy as np

from ._registry import OracleCall, implements
from .activations import where_positive


@implements("RReLU")
def rrelu(c: OracleCall) -> list[np.ndarray]:
    lower, upper = c.args["lower"], c.args["upper"]
    if not c.training:
        return [where_positive(c.x, (lower + upper) / 2)]
    slopes = c.extras.get("slopes")
    if slopes is None:
        rng = c.extras.get("rng") or np.random.default_rng()
        slopes = rng.uniform(lower, upper, size=c.x.shape)
    return [where_positive(c.x, np.asarray(slopes))]
