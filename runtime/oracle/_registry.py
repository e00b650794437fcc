"""The oracle's registry: ``layer type -> NumPy implementation``.

>>> "ReLU" in IMPLS
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np


@dataclass
class OracleCall:
    """What an implementation gets: torch arguments, weights, input arrays, call arguments.

    ``call_args`` holds plain values; a shape passed as a call argument arrives as a tuple of
    ints (the referenced tensor's actual shape). ``extras`` carries per-run context such as a
    ``numpy.random.Generator`` for training-mode randomness or sampled values to replay.
    """

    args: Mapping[str, Any]
    weights: Mapping[str, np.ndarray]
    inputs: Sequence[np.ndarray]
    call_args: Mapping[str, Any]
    training: bool
    node: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        return self.inputs[0]


OracleFn = Callable[[OracleCall], list[np.ndarray]]
IMPLS: dict[str, OracleFn] = {}
F = TypeVar("F", bound=OracleFn)


def implements(layer_type: str) -> Callable[[F], F]:
    """Decorator registering the NumPy implementation of ``layer_type``; duplicates raise."""

    def deco(fn: F) -> F:
        if layer_type in IMPLS:
            raise RuntimeError(f"oracle for {layer_type!r} is registered twice")
        IMPLS[layer_type] = fn
        return fn

    return deco
