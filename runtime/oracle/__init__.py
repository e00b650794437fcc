"""The NumPy oracle: evaluates a layer program with torch's semantics, independently of ONNX.

It is written from PyTorch's definitions, never derived from the lowering, so a shared
misunderstanding shows up as a mismatch.

>>> import numpy as np
>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", (3,))
>>> run(Model([x], [ReLU()(x)]), {"x": np.array([-1.0, 0.5, 2.0], np.float32)})["output"]
array([0. , 0.5, 2. ], dtype=float32)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx

from onnxlayers.builder import Model, Program, ShapeRef

from ..errors import InputError, ModelLoadError
from . import activations, add, linear, pooling, rrelu, unpool  # noqa: F401  (registers implementations)
from ._registry import IMPLS, OracleCall, implements

__all__ = ["IMPLS", "OracleCall", "implements", "program_of", "run"]

ModelLike = Model | Program | onnx.ModelProto | str | os.PathLike[str] | bytes


def program_of(model: ModelLike) -> Program:
    """The layer program of a Model, a Program, a ModelProto, serialized bytes or a path."""
    if isinstance(model, Program):
        return model
    if isinstance(model, Model):
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
        call_args = {
            k: tuple(env[v.tensor].shape) if isinstance(v, ShapeRef) else v
            for k, v in rec.call_args.items()
        }
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
