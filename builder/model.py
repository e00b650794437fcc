"""``Model``: a graph of layer calls from inputs to outputs, lowered to ONNX.

>>> import numpy as np
>>> from onnxlayers.builder import Input, Linear, ReLU
>>> x = Input("x", ("N", 4))
>>> model = Model([x], [ReLU()(Linear(4, 2, seed=0)(x))])
>>> proto = model.to_onnx()
>>> [n.op_type for n in proto.graph.node]
['Gemm', 'Relu']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from .errors import LayerArgumentError, LayerTypeError
from .files import save_model
from .layer import Call, Layer, load_params
from .lowering import lower, replay
from .program import DEFAULT_OPSET, CallRecord, Program, ShapeRef, TensorInfo
from .tensor import Shape, Tensor


class Model:
    """Inputs and outputs of a graph of layer calls.

    ``output_names`` default to ``"output"`` (one output) or ``"output_0"``, ``"output_1"``...
    """

    def __init__(
        self,
        inputs: Sequence[Tensor],
        outputs: Sequence[Tensor] | Tensor,
        *,
        output_names: Sequence[str] | None = None,
        name: str = "onnxlayers",
    ) -> None:
        outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        self.inputs = list(inputs)
        self.outputs = outs
        self.name = name
        for t in [*self.inputs, *outs]:
            if not isinstance(t, Tensor):
                raise LayerTypeError(f"Model: {t!r} is not a symbolic Tensor")
        for t in self.inputs:
            if t.producer is not None:
                raise LayerArgumentError(
                    f"Model: input {t!r} is produced by a layer; inputs must come from Input(...)"
                )
        if len({t.name for t in self.inputs}) != len(self.inputs):
            raise LayerArgumentError(
                f"Model: input names {[t.name for t in self.inputs]!r} must be unique"
            )
        if not outs:
            raise LayerArgumentError("Model: needs at least one output")
        if output_names is None:
            output_names = (
                ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
            )
        self.output_names = list(output_names)
        if len(self.output_names) != len(outs) or len(set(self.output_names)) != len(outs):
            raise LayerArgumentError(
                f"Model: output_names={output_names!r} must be {len(outs)} unique names"
            )
        if len({id(t) for t in outs}) != len(outs) or any(t.producer is None for t in outs):
            raise LayerArgumentError(
                f"Model: outputs {outs!r} must be distinct tensors produced by layers (an input "
                "cannot be an output as it is)"
            )
        clash = set(self.output_names) & {t.name for t in self.inputs}
        if clash:
            raise LayerArgumentError(f"Model: output names {sorted(clash)!r} clash with inputs")
        self.calls = self._toposort()
        self.layer_names = self._name_layers()
        self._tensor_names = self._name_tensors()

    # ----------------------------------------------------------------- structure
    def _toposort(self) -> list[Call]:
        order: list[Call] = []
        state: dict[int, int] = {}  # id(call) -> 1 visiting, 2 done
        input_ids = {id(t) for t in self.inputs}

        stack: list[tuple[Call, bool]] = []
        for t in self.outputs:
            self._check_source(t, input_ids)
            if t.producer is not None:
                stack.append((t.producer, False))
        while stack:
            call, expanded = stack.pop()
            if expanded:
                if state.get(id(call)) != 2:
                    state[id(call)] = 2
                    order.append(call)
                continue
            if state.get(id(call)) == 2:
                continue
            state[id(call)] = 1
            stack.append((call, True))
            for dep in reversed(call.dependencies()):
                self._check_source(dep, input_ids)
                if dep.producer is not None and state.get(id(dep.producer)) != 2:
                    stack.append((dep.producer, False))
        return order

    def _check_source(self, t: Tensor, input_ids: set[int]) -> None:
        if t.producer is None and id(t) not in input_ids:
            raise LayerArgumentError(
                f"Model: the outputs depend on input {t.name!r}, which is not in inputs "
                f"{[i.name for i in self.inputs]!r}"
            )

    def _name_layers(self) -> dict[int, str]:
        names: dict[int, str] = {}
        taken: set[str] = set()
        counts: dict[str, int] = {}
        for call in self.calls:
            layer = call.layer
            if id(layer) in names:
                continue
            base = _layer_path(layer)
            if base is None:
                kind = type(layer).__name__.lower()
                base = f"{kind}_{counts.get(kind, 0)}"
                counts[kind] = counts.get(kind, 0) + 1
            name, k = base, 1
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            names[id(layer)] = name
        return names

    def _name_tensors(self) -> dict[int, str]:
        names = {id(t): t.name for t in self.inputs}
        out_ids = {id(t): n for t, n in zip(self.outputs, self.output_names, strict=True)}
        seen_nodes: dict[str, int] = {}
        self._node_names: dict[int, str] = {}
        for call in self.calls:
            lname = self.layer_names[id(call.layer)]
            k = seen_nodes.get(lname, 0)
            seen_nodes[lname] = k + 1
            node = lname if k == 0 else f"{lname}#{k}"
            self._node_names[id(call)] = node
            for i, t in enumerate(call.outputs):
                suffix = "" if len(call.outputs) == 1 else f"_{i}"
                names[id(t)] = out_ids.get(id(t), f"{node}:out{suffix}")
        return names

    @property
    def layers(self) -> dict[str, Layer]:
        """Every distinct layer by its name in this model, in call order."""
        by_id = {id(c.layer): c.layer for c in self.calls}
        return {name: by_id[i] for i, name in self.layer_names.items()}

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """All parameters, keyed ``"<layer name>.<param>"`` (torch's keys for Sequential)."""
        out: dict[str, np.ndarray] = {}
        for name, layer in self.layers.items():
            out.update({f"{name}.{k}": v.copy() for k, v in layer.parameters().items()})
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Load parameters by the keys of :meth:`state_dict`; validated before any is set."""
        slots = {
            f"{name}.{p}": (layer, p)
            for name, layer in self.layers.items()
            for p in layer.parameters()
        }
        load_params("Model", slots, state, strict)

    def train(self, mode: bool = True) -> Model:
        for layer in self.layers.values():
            layer.train(mode)
        return self

    def eval(self) -> Model:
        return self.train(False)

    # ----------------------------------------------------------------- program and ONNX
    def program(self) -> Program:
        """The layer program with current weights (cast to each layer's input dtype)."""
        names = self._tensor_names
        weights: dict[str, np.ndarray] = {}
        records = []
        for call in self.calls:
            lname = self.layer_names[id(call.layer)]
            dtype = call.inputs[0].dtype if call.inputs else "float32"
            wnames = {}
            for pname, arr in call.layer.parameters().items():
                key = f"{lname}.{pname}"
                weights.setdefault(key, arr.astype(dtype))
                wnames[pname] = key
            records.append(
                CallRecord(
                    type=type(call.layer).__name__,
                    layer=lname,
                    node=self._node_names[id(call)],
                    args=call.layer.torch_args(),
                    training=call.layer.training,
                    inputs=[names[id(t)] for t in call.inputs],
                    outputs=[names[id(t)] for t in call.outputs],
                    call_args={
                        k: ShapeRef(names[id(v.of)], tuple(v)) if isinstance(v, Shape) else v
                        for k, v in call.call_args.items()
                    },
                    weights=wnames,
                )
            )
        return Program(
            inputs=[TensorInfo(t.name, list(t.shape), t.dtype) for t in self.inputs],
            outputs=list(self.output_names),
            calls=records,
            weights=weights,
            output_specs={n: t.spec for t, n in zip(self.outputs, self.output_names, strict=True)},
        )

    def to_onnx(
        self, opset: int = DEFAULT_OPSET, *, target: str = "any", check: bool = True
    ) -> onnx.ModelProto:
        """Lower to an ``onnx.ModelProto`` carrying the layer program in its metadata: exactly
        :func:`~onnxlayers.builder.lowering.lower` of :meth:`program`.

        ``target`` ("any" or "cuda") lets layers prefer lowerings that are right and fast on
        one provider; every target gives the same values. With ``check`` the result passes
        ``onnx.checker.check_model(full_check=True)``.
        """
        return lower(self.program(), target=target, opset=opset, check=check, name=self.name)

    def save(
        self, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET, *, target: str = "any"
    ) -> Path:
        """Write the ONNX file atomically (temp file + rename): a failure leaves the old file.

        Weights past protobuf's 2 GB limit go to one external data file beside it
        (:func:`~onnxlayers.builder.files.save_model`).
        """
        return save_model(self.to_onnx(opset, target=target), path)

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(cls, source: str | os.PathLike[str] | onnx.ModelProto) -> Model:
        """Rebuild a Model (layers, weights, training flags) from a saved file's layer program."""
        proto = source if isinstance(source, onnx.ModelProto) else onnx.load(os.fspath(source))
        label = "model" if isinstance(source, onnx.ModelProto) else os.fspath(source)
        return cls.from_program(Program.from_onnx(proto, source=label), name=proto.graph.name)

    @classmethod
    def from_program(cls, prog: Program, *, name: str = "onnxlayers") -> Model:
        """The Model a layer program describes (layers rebuilt, weights and modes set)."""
        env, _ = replay(prog)
        return cls(
            [env[i.name] for i in prog.inputs],
            [env[n] for n in prog.outputs],
            output_names=prog.outputs,
            name=name,
        )


def _layer_path(layer: Layer) -> str | None:
    """torch-style dotted name from the Sequential containers a layer sits in."""
    if layer.name:
        return layer.name
    parent = layer.__dict__.get("_parent")
    if parent is None:
        return None
    container, index = parent
    prefix = _layer_path(container)
    return f"{prefix}.{index}" if prefix else str(index)
