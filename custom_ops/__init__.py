"""onnxlayers.custom_ops: our ONNX domain ``ai.onnxlayers`` (version 1).

Two ops, each with an ``onnx.defs.OpSchema`` (registered on import, so ``onnx.checker`` and
shape inference accept our models), ``FunctionProto`` bodies of standard ops that every model
using the op carries (plain onnxruntime runs the file without this package), and a NumPy
``OpRun`` for ``onnx.reference``:

- ``MaxUnpool2d`` (:mod:`.max_unpool`): torch's ``max_unpool2d`` with per-plane indices;
- ``RReLU`` (:mod:`.rrelu`): torch's RReLU in training mode, with its slopes as an output.

A file keeps the body chosen when it was written; :func:`specialize_for` swaps in the best body
for the provider a session runs on (the runtime's ``Session`` calls it).

>>> import onnx
>>> DOMAIN, VERSION, [op.__name__ for op in NEW_OPS]
('ai.onnxlayers', 1, ['MaxUnpool2d', 'RReLU'])
>>> onnx.defs.has("MaxUnpool2d", DOMAIN)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx.reference import ReferenceEvaluator

from . import max_unpool, rrelu
from ._domain import DOMAIN, VERSION, CustomOpError, body_variant

NEW_OPS = (max_unpool.MaxUnpool2d, rrelu.RReLU)
"""The ``OpRun`` classes: ``ReferenceEvaluator(model, new_ops=NEW_OPS)`` runs our models."""

GUARDS = dict(max_unpool.GUARDS)
"""Names of the nodes our bodies fail on purpose, and what each failure means."""


def _provider_name(provider: Any) -> str:
    """``"CUDAExecutionProvider"`` from a name or a ``(name, options)`` pair."""
    return str(provider[0] if isinstance(provider, (tuple, list)) else provider)


def _unpool_variant(model: onnx.ModelProto, provider: str, present: str) -> str:
    """The MaxUnpool2d body best for ``provider``, given the file's ``present`` one."""
    if not provider.startswith("CPU"):
        return "portable"  # CUDA and the rest: ScatterElements has kernels nearly everywhere
    if present == "cpu":
        return present
    return "cpu" if _unpool_calls(model) <= {"cpu"} else present


def _unpool_calls(model: onnx.ModelProto) -> set[str]:
    """The body each MaxUnpool2d node of the main graph could use on the CPU."""
    nodes = [n for n in model.graph.node if (n.domain, n.op_type) == (DOMAIN, max_unpool.OP)]
    graph = onnx.shape_inference.infer_shapes(model).graph if nodes else model.graph
    types = {v.name: v.type.tensor_type for v in (*graph.input, *graph.value_info)}
    found = set()
    for node in nodes:
        attrs = {a.name: list(a.ints) for a in node.attribute}
        t = types.get(node.input[0])
        if t is None or not t.HasField("shape") or not t.elem_type:
            found.add("portable")
            continue
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
        found.add(max_unpool.choose_variant(dtype, len(t.shape.dim), "cpu",
                                            attrs.get("kernel_size", [0, 0]),
                                            attrs.get("padding", [0, 0])))
    return found


def specialize_for(model: onnx.ModelProto, providers: Sequence[Any]) -> onnx.ModelProto:
    """``model`` with our function bodies swapped for the first of ``providers``.

    On CUDA (and any provider but the CPU) the MaxUnpool2d body becomes the portable
    ``ScatterElements`` one: onnxruntime has no CUDA ``MaxUnpool``. On the CPU the
    ``MaxUnpool`` body comes back where every call can take it
    (:func:`.max_unpool.choose_variant`). Returns a copy when a body changes, else ``model``
    itself; the caller's proto (and the file) stay as they are.

    >>> from onnxlayers.builder import Input, Model
    >>> from onnxlayers.builder.layers.unpool import MaxUnpool2d
    >>> x, i = Input("x", (1, 1, 2, 2)), Input("i", (1, 1, 2, 2), "int64")
    >>> proto = Model([x, i], [MaxUnpool2d(2)(x, i)]).to_onnx()
    >>> cuda = specialize_for(proto, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    >>> [body_variant(f) for f in proto.functions], [body_variant(f) for f in cuda.functions]
    (['cpu'], ['portable'])
    >>> specialize_for(proto, ["CPUExecutionProvider"]) is proto
    True
    """
    where = [i for i, fn in enumerate(model.functions)
             if (fn.domain, fn.name) == (DOMAIN, max_unpool.OP)]
    if not providers or not where:
        return model
    present = body_variant(model.functions[where[0]])
    variant = _unpool_variant(model, _provider_name(providers[0]), present)
    if variant == present:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.functions[where[0]].CopyFrom(max_unpool.function(variant, _opset(model)))
    return out


def _opset(model: onnx.ModelProto) -> int:
    return next(imp.version for imp in model.opset_import if imp.domain in ("", "ai.onnx"))


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
    "explain_failure",
    "max_unpool",
    "reference_evaluator",
    "rrelu",
    "specialize_for",
]
