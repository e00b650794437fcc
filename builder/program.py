"""The layer program: one record per layer call, the heart of a model.

The lowering writes ONNX from it, the NumPy oracle computes from it, and a saved ``.onnx`` file
carries it as JSON in ``metadata_props["onnxlayers.program"]`` (weights stay ONNX initializers),
so a file alone can be verified.

>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", (2, 3))
>>> prog = Model([x], [ReLU()(x)]).program()
>>> [(c.type, c.inputs, c.outputs) for c in prog.calls]
[('ReLU', ['x'], ['output'])]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import ModelFormatError
from .graph import ShapeRef
from .tensor import Dim, TensorSpec

METADATA_KEY = "onnxlayers.program"
FORMAT = "onnxlayers.program/1"


@dataclass
class TensorInfo:
    """A named graph input: name, dims and dtype."""

    name: str
    shape: list[Dim]
    dtype: str

    @property
    def spec(self) -> TensorSpec:
        return TensorSpec(tuple(self.shape), self.dtype)


@dataclass
class CallRecord:
    """One layer call: the layer's type, name and torch arguments, and its tensors by name."""

    type: str
    layer: str
    node: str
    args: dict[str, Any]
    training: bool
    inputs: list[str]
    outputs: list[str]
    call_args: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)


@dataclass
class Program:
    """A whole model as a layer program plus its weights (initializer name -> array)."""

    inputs: list[TensorInfo]
    outputs: list[str]
    calls: list[CallRecord]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    output_specs: dict[str, TensorSpec] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "inputs": [asdict(i) for i in self.inputs],
                "outputs": self.outputs,
                "output_specs": {
                    k: {"shape": list(v.shape), "dtype": v.dtype}
                    for k, v in self.output_specs.items()
                },
                "calls": [
                    {**asdict(c), "call_args": encode_call_args(c.call_args)} for c in self.calls
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, weights: dict[str, np.ndarray]) -> Program:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ModelFormatError(
                f"layer program format {data.get('format')!r} is not supported; expected {FORMAT!r}"
            )
        calls = [CallRecord(**{**c, "call_args": decode_call_args(c["call_args"])})
                 for c in data["calls"]]
        return cls(
            inputs=[TensorInfo(**i) for i in data["inputs"]],
            outputs=list(data["outputs"]),
            calls=calls,
            weights=weights,
            output_specs={k: TensorSpec(tuple(v["shape"]), v["dtype"])
                          for k, v in data.get("output_specs", {}).items()},
        )

    @classmethod
    def from_onnx(cls, model: onnx.ModelProto, *, source: str = "model") -> Program:
        """Read the program a model carries; raise :class:`ModelFormatError` if it has none."""
        meta = {p.key: p.value for p in model.metadata_props}
        if METADATA_KEY not in meta:
            raise ModelFormatError(
                f"{source}: has no onnxlayers layer program (metadata_props[{METADATA_KEY!r}]); "
                "only models built by onnxlayers can be checked against the NumPy oracle"
            )
        weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        try:
            return cls.from_json(meta[METADATA_KEY], weights)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ModelFormatError):
                raise
            raise ModelFormatError(f"{source}: its layer program is malformed: {e}") from e


def encode_call_args(call_args: dict[str, Any]) -> dict[str, Any]:
    """JSON form of call arguments: a :class:`ShapeRef` becomes ``{"shape_of": name, ...}``."""
    out: dict[str, Any] = {}
    for k, v in call_args.items():
        if isinstance(v, ShapeRef):
            out[k] = {"shape_of": v.tensor, "dims": list(v.dims)}
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def decode_call_args(call_args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in call_args.items():
        if isinstance(v, dict) and "shape_of" in v:
            out[k] = ShapeRef(v["shape_of"], tuple(v["dims"]))
        elif isinstance(v, list):
            out[k] = tuple(v)
        else:
            out[k] = v
    return out
