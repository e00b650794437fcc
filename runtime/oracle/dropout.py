"""NumPy oracles of ``Dropout``, ``Dropout2d`` and ``Identity``: each returns its input.

Dropout is the identity in eval mode and, with ``p = 0``, in training mode (torch returns the
input unchanged). Training-mode dropout with ``p > 0`` is random; the builder refuses to build
it, and a program that holds one anyway is refused here too.

>>> import numpy as np
>>> dropout(OracleCall({"p": 0.5}, {}, [np.array([1.0, np.nan])], {}, False))[0]
array([ 1., nan])
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelLoadError
from ._registry import OracleCall, implements


@implements("Identity")
def identity(c: OracleCall) -> list[np.ndarray]:
    return [c.x.copy()]


@implements("Dropout")
@implements("Dropout2d")
def dropout(c: OracleCall) -> list[np.ndarray]:
    p = float(c.args.get("p", 0.5))
    if c.training and p != 0:
        raise ModelLoadError(
            f"oracle: dropout node {c.node!r} is in training mode with p={p!r}; training-mode "
            "dropout is random and has no reference (build the model in eval mode)"
        )
    return [c.x.copy()]
