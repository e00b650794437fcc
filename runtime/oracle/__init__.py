"""The NumPy oracle: evaluates a layer program with torch's semantics, independently of ONNX.

It is written from PyTorch's definitions, never derived from the lowering, so a shared
misunderstanding shows up as a mismatch. It reads only the program format
(``onnxlayers.builder.program``): importing it loads neither onnxruntime, torch, nor the
builder's layers and lowering. Every module in this package is imported here, so a layer's
oracle is one module with an ``@implements("LayerType")`` function.

>>> import numpy as np
>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", (3,))
>>> run(Model([x], [ReLU()(x)]), {"x": np.array([-1.0, 0.5, 2.0], np.float32)})["output"]
array([0. , 0.5, 2. ], dtype=float32)
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import onnx

from onnxlayers.builder.program import Program, resolve_shapes

from ..errors import InputError, ModelLoadError
from ._registry import IMPLS, OracleCall, implements

if TYPE_CHECKING:
    from onnxlayers.builder.model import Model

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["IMPLS", "OracleCall", "implements", "program_of", "run"]

ModelLike: TypeAlias = "Model | Program | onnx.ModelProto | str | os.PathLike[str] | bytes"


def program_of(model: ModelLike) -> Program:
    """The layer program of a Model, a Program, a ModelProto, serialized bytes or a path."""
    if isinstance(model, Program):
        return model
    if hasattr(model, "program"):  # a builder Model (not imported here: see the module doc)
        return model.program()
    source = "model"
    if isinstance(model, bytes):
        model = onnx.load_from_string(model)
    elif not isinstance(model, onnx.ModelProto):
        source = os.fspath(model)
        try:
            model = onnx.load(source)
        except FileNotFoundError as e:
            raise ModelLoadError(f"{source}: no such file") from e
        except Exception as e:  # onnx raises DecodeError and friends for corrupt files
            raise ModelLoadError(f"{source}: is not a readable ONNX model ({e})") from e
    return Program.from_onnx(model, source=source)


def run(
    model: ModelLike,
    feeds: Mapping[str, Any],
    *,
    observed: Mapping[str, np.ndarray] | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Compute the model's outputs with NumPy; returns ``{output name: array}`` in order.

    ``observed`` (outputs of a real run) lets randomized layers in training mode replay the
    values that run sampled, where the model exposes them; ``rng`` draws fresh ones otherwise.
    """
    prog = program_of(model)
    env: dict[str, np.ndarray] = {}
    for spec in prog.inputs:
        if spec.name not in feeds:
            raise InputError(
                f"oracle: missing input {spec.name!r}; the model takes "
                f"{[i.name for i in prog.inputs]!r}"
            )
        env[spec.name] = np.asarray(feeds[spec.name], dtype=np.dtype(spec.dtype))
    for rec in prog.calls:
        impl = IMPLS.get(rec.type)
        if impl is None:
            raise ModelLoadError(f"oracle: no NumPy implementation for layer type {rec.type!r}")
        call_args = resolve_shapes(rec.call_args, lambda n: tuple(env[n].shape))
        outs = impl(
            OracleCall(
                args=rec.args,
                weights={k: prog.weights[v] for k, v in rec.weights.items()},
                inputs=[env[n] for n in rec.inputs],
                call_args=call_args,
                training=rec.training,
                node=rec.node,
                extras={"observed": dict(observed or {}), "rng": rng, "outputs": rec.outputs},
            )
        )
        env.update(zip(rec.outputs, outs, strict=True))
    return {name: env[name] for name in prog.outputs}
