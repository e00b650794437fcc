"""onnxlayers.custom_ops: our ONNX domain ``ai.onnxlayers`` (version 1).

Two ops, each with an ``onnx.defs.OpSchema`` (registered on import, so ``onnx.checker`` and
shape inference accept our models), ``FunctionProto`` bodies of standard ops that every model
using the op carries (plain onnxruntime runs the file without this package), and a NumPy
``OpRun`` for ``onnx.reference``:

- ``MaxUnpool2d`` (:mod:`.max_unpool`): torch's ``max_unpool2d`` with per-plane indices;
- ``RReLU`` (:mod:`.rrelu`): torch's RReLU in training mode, with its slopes as an output.

A lowering picks each op's body for its target (``max_unpool.choose_variant``); a session on
another provider lowers a proven file's program again rather than editing bodies in place.

>>> import onnx
>>> DOMAIN, VERSION, [op.__name__ for op in NEW_OPS]
('ai.onnxlayers', 1, ['MaxUnpool2d', 'RReLU'])
>>> onnx.defs.has("MaxUnpool2d", DOMAIN)
True
"""

from __future__ import annotations

from typing import Any

import onnx
from onnx.reference import ReferenceEvaluator

from . import max_unpool, rrelu
from ._domain import DOMAIN, VERSION, CustomOpError, body_variant

NEW_OPS = (max_unpool.MaxUnpool2d, rrelu.RReLU)
"""The ``OpRun`` classes: ``ReferenceEvaluator(model, new_ops=NEW_OPS)`` runs our models."""

GUARDS = dict(max_unpool.GUARDS)
"""Names of the nodes our bodies fail on purpose, and what each failure means."""


def explain_failure(message: str) -> str | None:
    """What a run failure means when one of our guard nodes raised it, else None.

    >>> explain_failure("... running Reshape node. Name:'_inlfunc_MaxUnpool2d_indices_out_"
    ...                 "of_range' Status Message: ...")
    'MaxUnpool2d: an index is outside [0, H_out * W_out) of its plane'
    >>> explain_failure("something else") is None
    True
    """
    for name, meaning in GUARDS.items():
        if name in message:
            return f"{max_unpool.OP}: {meaning}"
    return None


def reference_evaluator(model: onnx.ModelProto | str | bytes, **kwargs: Any) -> ReferenceEvaluator:
    """``onnx.reference.ReferenceEvaluator`` with our ops' NumPy implementations."""
    return ReferenceEvaluator(model, new_ops=list(NEW_OPS), **kwargs)


__all__ = [
    "DOMAIN",
    "GUARDS",
    "NEW_OPS",
    "VERSION",
    "CustomOpError",
    "body_variant",
    "explain_failure",
    "max_unpool",
    "reference_evaluator",
    "rrelu",
]
