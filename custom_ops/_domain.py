"""Shared pieces of the ``ai.onnxlayers`` ops: the domain, schema registration, body writing.

Every op module builds its ``FunctionProto`` bodies with :class:`Body`, which names values
uniquely, writes constants as ``Constant`` nodes (function bodies have no initializers) and
references the calling node's attributes (``ref_attr_name``), so one function serves every
call of an op. :meth:`Body.guard` is how a body refuses bad data: a ``Reshape`` named after the
problem that fails, with that name in onnxruntime's message, unless a condition holds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import onnx
from onnx import AttributeProto, TensorProto, helper
from onnx.defs import OpSchema

AttributeType = AttributeProto.AttributeType

DOMAIN = "ai.onnxlayers"
"""Our ONNX domain."""

VERSION = 1
"""The version of :data:`DOMAIN` every op here belongs to."""

BODY_KEY = "onnxlayers.body"
"""``FunctionProto.metadata_props`` key naming the body variant (``"cpu"``, ``"portable"``...)."""

INT64_MAX = 2**63 - 1
"""An ``end`` for ``Slice`` meaning "to the end"."""

MAX_RANDOM_OPSET = 21
"""onnxruntime 1.32 has no Random* kernel at ``ai.onnx`` opset 22."""


class CustomOpError(ValueError):
    """A value outside what an ``ai.onnxlayers`` op accepts (callers add the layer's name)."""


class GraphLike(Protocol):
    """What the emit helpers need from ``onnxlayers.builder.GraphBuilder``."""

    opset: int
    functions: dict[tuple[str, str], onnx.FunctionProto]

    def op(
        self,
        op_type: str,
        *inputs: str,
        outputs: Any = 1,
        domain: str = "",
        name: str | None = None,
        **attrs: Any,
    ) -> Any: ...

    def add_function(self, fn: onnx.FunctionProto, domain_version: int = 1) -> None: ...

    def fresh(self, hint: str) -> str: ...


def register(schema: OpSchema) -> OpSchema:
    """Register ``schema`` with onnx unless an op of that name and version is already there.

    Idempotent: a second import (or a reload) keeps the first registration.

    >>> register(OpSchema("Doc", "ai.onnxlayers.doc", 1)).name
    'Doc'
    >>> register(OpSchema("Doc", "ai.onnxlayers.doc", 1)).name
    'Doc'
    """
    if not onnx.defs.has(schema.name, schema.since_version, schema.domain):
        onnx.defs.register_schema(schema)
    return schema


def body_variant(fn: onnx.FunctionProto) -> str:
    """The variant a body was written as (``""`` for a function we did not write)."""
    return next((p.value for p in fn.metadata_props if p.key == BODY_KEY), "")


def function_opset(model_opset: int) -> list[onnx.OperatorSetIdProto]:
    """A body's imports: the model's ``ai.onnx`` opset (onnx requires them to match)."""
    return [helper.make_opsetid("", model_opset)]


class Body:
    """The nodes of one ``FunctionProto``, with unique value names.

    >>> b = Body(opset=21)
    >>> y = b.op("Relu", "X")
    >>> fn = b.function("Demo", ["X"], [y], doc="relu", variant="any")
    >>> [n.op_type for n in fn.node], fn.opset_import[0].version
    (['Relu'], 21)
    """

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self._count = 0
        self._consts: dict[tuple[int, ...] | int, str] = {}

    def op(
        self,
        op_type: str,
        *inputs: str,
        name: str | None = None,
        refs: dict[str, tuple[str, AttributeType]] | None = None,
        **attrs: Any,
    ) -> str:
        """Append a one-output node; ``refs`` maps an attribute to ``(caller attr, type)``."""
        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        node = helper.make_node(op_type, list(inputs), [out], name=name, **attrs)
        for attr, (caller, kind) in (refs or {}).items():
            node.attribute.append(AttributeProto(name=attr, ref_attr_name=caller, type=kind))
        self.nodes.append(node)
        return out

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant."""
        key = tuple(int(v) for v in values)
        if key not in self._consts:
            value = helper.make_tensor("value", TensorProto.INT64, [len(key)], list(key))
            self._consts[key] = self.op("Constant", value=value)
        return self._consts[key]

    def scalar(self, value: int) -> str:
        """A 0-d int64 constant."""
        if int(value) not in self._consts:
            self._consts[int(value)] = self.op("Constant", value_int=int(value))
        return self._consts[int(value)]

    def attr_ints(self, attr: str) -> str:
        """The calling node's INTS attribute ``attr`` as a 1-D int64 tensor."""
        return self.op("Constant", refs={"value_ints": (attr, AttributeProto.INTS)})

    def like(self, value: float, x: str) -> str:
        """A 0-d constant ``value`` with ``x``'s element type."""
        return self.op("CastLike", self.op("Constant", value_float=float(value)), x)

    def reduce(self, op_type: str, x: str) -> str:
        """``op_type`` (ReduceMin, ReduceMax) over every axis, to a 0-d tensor."""
        return self.op(op_type, x, keepdims=0)

    def item(self, x: str, i: int) -> str:
        """Element ``i`` (>= 0) of the 1-D ``x``, as a 1-element tensor."""
        return self.op("Slice", x, self.ints([i]), self.ints([i + 1]))

    def product2(self, x: str) -> str:
        """``x[0] * x[1]`` of a 2-element int64 tensor, as a 1-element tensor."""
        return self.op("Mul", self.item(x, 0), self.item(x, 1))

    def to_scalar(self, x: str) -> str:
        """A 1-element tensor as a 0-d one."""
        return self.op("Reshape", x, self.ints([]))

    def all_of(self, *conditions: str) -> str:
        """A 0-d bool: every element of every bool tensor is true (true when empty).

        Through uint8 (cheap to write; ReduceMin has CPU and CUDA kernels for it).
        """
        each = [
            self.op(
                "Cast",
                self.reduce("ReduceMin", self.op("Cast", c, to=TensorProto.UINT8)),
                to=TensorProto.BOOL,
            )
            for c in conditions
        ]
        return functools.reduce(lambda a, b: self.op("And", a, b), each)

    def any_of(self, *conditions: str) -> str:
        """A 0-d bool: some element of some bool tensor is true."""
        return self.op("Not", self.all_of(*(self.op("Not", c) for c in conditions)))

    def guard(self, value: str, ok: str, problem: str) -> str:
        """``value`` (a 1-D int64 tensor of ``n`` elements) if the 0-d bool ``ok`` holds.

        Otherwise a ``Reshape`` named ``problem`` fails (``{n}`` cannot become ``{0}``) and
        onnxruntime's message carries that name. Pass the result on to where it is needed,
        so the guard runs before anything reads bad data.
        """
        n = self.op("Shape", value)
        wanted = self.op("Mul", n, self.op("Cast", ok, to=TensorProto.INT64))
        return self.op("Reshape", value, wanted, name=problem, allowzero=1)

    def function(
        self,
        name: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        *,
        doc: str,
        variant: str,
        attributes: Sequence[str] = (),
    ) -> onnx.FunctionProto:
        """The ``FunctionProto`` of these nodes, tagged with ``variant``."""
        fn = helper.make_function(
            DOMAIN,
            name,
            list(inputs),
            list(outputs),
            self.nodes,
            function_opset(self.opset),
            attributes=list(attributes),
            doc_string=doc,
        )
        fn.metadata_props.append(onnx.StringStringEntryProto(key=BODY_KEY, value=variant))
        return fn
