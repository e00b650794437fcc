"""``lower``: the one function that turns a layer program into an ONNX model.

``Model.to_onnx`` is ``lower(model.program(), ...)``, and a session that wants another target's
lowering of a file calls it on the file's program. Each layer is rebuilt from its record (type,
torch arguments, weights, training flag), its output specs inferred again, and its ``emit``
writes its nodes. The model carries the program and a record of this lowering (target, opset,
and a digest binding the program to the graph: :func:`~onnxlayers.builder.program.lowering_digest`).

>>> from onnxlayers.builder import Input, MaxPool2d, Model
>>> x = Input("x", ("N", 3, 9, 9))
>>> prog = Model([x], [MaxPool2d(3, 2, 1, ceil_mode=True)(x)]).program()
>>> "Pad" in [n.op_type for n in lower(prog, target="cuda").graph.node]
True
"""

from __future__ import annotations

import math

import onnx
from onnx import helper

from . import layers as _layers  # noqa: F401  (registers every layer type)
from .errors import LayerArgumentError, ModelFormatError
from .graph import GraphBuilder, LowerCall
from .layer import Layer
from .program import (
    DEFAULT_OPSET,
    DIGEST_KEY,
    METADATA_KEY,
    OPSETS,
    TARGETS,
    LoweringRecord,
    Program,
    lowering_digest,
    resolve_shapes,
)
from .registry import LAYERS
from .tensor import Input, Tensor

IR_VERSION = 10
"""ONNX IR version written: 10 is read by every onnxruntime >= 1.20."""


def replay(prog: Program) -> tuple[dict[str, Tensor], dict[str, Layer]]:
    """Rebuild every layer of ``prog`` and call it on symbolic tensors, in program order.

    Returns the tensors by graph name (inputs and every call's outputs) and the layers by
    layer name; shape and argument errors surface here as they would while building.
    """
    env: dict[str, Tensor] = {i.name: Input(i.name, i.shape, i.dtype) for i in prog.inputs}
    layers: dict[str, Layer] = {}
    for rec in prog.calls:
        if rec.type not in LAYERS:
            raise ModelFormatError(
                f"layer type {rec.type!r} is not known; known types: {sorted(LAYERS)!r}"
            )
        layer = layers.get(rec.layer)
        if layer is None:
            layer = LAYERS[rec.type].from_torch_args(rec.args)
            layer.name = rec.layer
            for pname, wname in rec.weights.items():
                setattr(layer, pname, prog.weights[wname])
            layer.training = rec.training
            layers[rec.layer] = layer
        out = layer(
            *[env[n] for n in rec.inputs], **resolve_shapes(rec.call_args, lambda n: env[n].shape)
        )
        for t, n in zip(out if isinstance(out, tuple) else (out,), rec.outputs, strict=True):
            env[n] = t
    return env, layers


def lower(
    prog: Program,
    *,
    target: str = "any",
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    name: str = "onnxlayers",
) -> onnx.ModelProto:
    """Lower a layer program to an ``onnx.ModelProto`` carrying the program in its metadata.

    ``target`` ("any" or "cuda", see :data:`~onnxlayers.builder.program.TARGETS`) lets layers
    prefer lowerings that are right and fast on one provider; every target gives the same
    values. With ``check`` the result passes ``onnx.checker.check_model(full_check=True)``.
    """
    if opset not in OPSETS:
        raise LayerArgumentError(
            f"lower: opset={opset!r}; expected {OPSETS.start} to {OPSETS.stop - 1}"
        )
    if target not in TARGETS:
        raise LayerArgumentError(f"lower: target={target!r}; expected one of {list(TARGETS)!r}")
    env, layers = replay(prog)
    g = GraphBuilder(opset)
    for n in [*(i.name for i in prog.inputs), *prog.outputs]:
        g.reserve(n)
    g.inputs = {i.name for i in prog.inputs}
    for key, arr in prog.weights.items():
        g.initializer(key, arr)
    for rec in prog.calls:
        for n in rec.outputs:
            if n not in prog.outputs:
                g.reserve(n)
        layers[rec.layer].emit(
            g,
            LowerCall(
                node=rec.node,
                inputs=list(rec.inputs),
                specs=[env[n].spec for n in rec.inputs],
                outputs=list(rec.outputs),
                out_specs=[env[n].spec for n in rec.outputs],
                weights=rec.weights,
                call_args=rec.call_args,
                training=rec.training,
                target=target,
            ),
        )
        floors = [g.floors.get(n, -math.inf) for n in rec.inputs]
        if math.isfinite(floor := layers[rec.layer].output_floor(floors)):
            g.floors.update(dict.fromkeys(rec.outputs, floor))
    graph = helper.make_graph(
        g.nodes,
        name,
        [g.value_info(i.name, i.spec) for i in prog.inputs],
        [g.value_info(n, env[n].spec) for n in prog.outputs],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in g.opsets.items()],
        functions=list(g.functions.values()),
        producer_name="onnxlayers",
        ir_version=IR_VERSION,
    )
    text = prog.to_json()
    record = LoweringRecord(target, opset, lowering_digest(model, text))
    helper.set_model_props(model, {METADATA_KEY: text, DIGEST_KEY: record.to_json()})
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model
