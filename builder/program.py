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

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import ModelFormatError
from .tensor import Dim, TensorSpec

METADATA_KEY = "onnxlayers.program"
"""``metadata_props`` key of the layer program (JSON)."""

DIGEST_KEY = "onnxlayers.lowering"
"""``metadata_props`` key of the lowering's record: target, opset and a digest binding the
program to the graph (see :func:`lowering_digest`)."""

FORMAT = "onnxlayers.program/1"

DEFAULT_OPSET = 21
"""Default ``ai.onnx`` opset: onnxruntime 1.32 has no RandomUniformLike kernel at opset 22."""

OPSETS = range(17, 23)
"""``ai.onnx`` opsets we write and load."""

TARGETS = ("any", "cuda")
"""Lowering targets: ``"any"`` (portable; what the CPU and every provider but CUDA run) and
``"cuda"`` (explicit pads where the CUDA provider's pooling kernels have had bugs, custom-op
bodies with CUDA kernels). A session maps its providers to one
(``runtime.providers.target_for``)."""


@dataclass(frozen=True)
class ShapeRef:
    """A call argument that is another tensor's shape: its graph name and its (known) dims.

    >>> ShapeRef("x", ("N", 3, 8, 8)).is_static
    False
    """

    tensor: str
    dims: tuple[Dim, ...]

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.dims)


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
        calls = [
            CallRecord(**{**c, "call_args": decode_call_args(c["call_args"])})
            for c in data["calls"]
        ]
        return cls(
            inputs=[TensorInfo(**i) for i in data["inputs"]],
            outputs=list(data["outputs"]),
            calls=calls,
            weights=weights,
            output_specs={
                k: TensorSpec(tuple(v["shape"]), v["dtype"])
                for k, v in data.get("output_specs", {}).items()
            },
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


@dataclass(frozen=True)
class LoweringRecord:
    """What a file says of its own lowering: the target, the opset and the digest."""

    target: str
    opset: int
    digest: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def of(cls, model: onnx.ModelProto) -> LoweringRecord | None:
        """The record a model carries, or None (no record, or not readable)."""
        text = {p.key: p.value for p in model.metadata_props}.get(DIGEST_KEY)
        try:
            return None if text is None else cls(**json.loads(text))
        except (TypeError, ValueError):
            return None


def lowering_digest(model: onnx.ModelProto, program_json: str) -> str:
    """SHA-256 of the layer program's JSON and everything that decides what the model computes
    (its graph, weights included, its functions and opset imports), not its metadata.

    Written at lowering time; a file whose digest still matches is the program's own lowering,
    so a session may lower the program again for its provider. Editing the graph or the
    program alone breaks the match.
    """
    h = hashlib.sha256(program_json.encode())
    for part in (model.graph, *model.functions, *model.opset_import):
        h.update(part.SerializeToString(deterministic=True))
    return h.hexdigest()


def own_lowering(model: onnx.ModelProto) -> LoweringRecord | None:
    """The model's lowering record when its graph provably is its layer program's own lowering
    (the digest recomputed now equals the one written); None otherwise.

    >>> from onnxlayers.builder import Input, Model, ReLU
    >>> x = Input("x", (2,))
    >>> proto = Model([x], [ReLU()(x)]).to_onnx()
    >>> own_lowering(proto).target
    'any'
    >>> proto.graph.node[0].op_type = "Sigmoid"
    >>> own_lowering(proto) is None
    True
    """
    record = LoweringRecord.of(model)
    program = {p.key: p.value for p in model.metadata_props}.get(METADATA_KEY)
    if record is None or program is None:
        return None
    return record if lowering_digest(model, program) == record.digest else None


def resolve_shapes(call_args: Mapping[str, Any], shape_of: Callable[[str], Any]) -> dict[str, Any]:
    """``call_args`` with each :class:`ShapeRef` replaced by ``shape_of(tensor name)``.

    The one place a shape reference becomes a shape: the oracle passes the array's shape,
    torch eager the tensor's, the model rebuilder the symbolic tensor's.

    >>> resolve_shapes({"output_size": ShapeRef("x", ("N", 2)), "k": 3}, lambda n: (5, 2))
    {'output_size': (5, 2), 'k': 3}
    """
    return {k: shape_of(v.tensor) if isinstance(v, ShapeRef) else v for k, v in call_args.items()}


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
