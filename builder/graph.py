"""A small ONNX graph writer used by every layer's ``emit``.

>>> g = GraphBuilder(opset=21)
>>> y = g.op("Relu", "x")
>>> [n.op_type for n in g.nodes], y
(['Relu'], 'Relu_0')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .program import DEFAULT_OPSET
from .program import ShapeRef as ShapeRef  # re-exported: layers read it with LowerCall
from .tensor import DTYPES, TensorSpec


@dataclass
class LowerCall:
    """What a layer's ``emit`` gets: graph names of its inputs, outputs and weights."""

    node: str
    inputs: list[str]
    specs: list[TensorSpec]
    outputs: list[str]
    out_specs: list[TensorSpec]
    weights: dict[str, str]
    call_args: dict[str, Any]
    training: bool
    target: str = "any"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> str:
        return self.specs[0].dtype


class GraphBuilder:
    """Collects nodes, initializers, functions and opset imports with unique names."""

    def __init__(self, opset: int = DEFAULT_OPSET) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.functions: dict[tuple[str, str], onnx.FunctionProto] = {}
        self.opsets: dict[str, int] = {"": opset}
        self._names: set[str] = set()
        self._counts: dict[str, int] = {}
        self.facts: dict[str, Any] = {}
        """What one call's lowering tells later ones, by tensor name (e.g. the whole-tensor
        indices behind a ``MaxPool2d``'s per-plane ones, for ``MaxUnpool2d``)."""
        self.inputs: set[str] = set()
        """The graph's inputs (no layer computed them)."""
        self.floors: dict[str, float] = {}
        """Tensors no element of which is below a finite bound, whatever the graph's inputs:
        the :meth:`~onnxlayers.builder.layer.Layer.output_floor` of the layer writing them."""

    def reserve(self, name: str) -> str:
        """Claim ``name`` exactly (graph inputs and outputs); it must be free."""
        if name in self._names:
            raise ValueError(f"tensor name {name!r} is used twice in one graph")
        self._names.add(name)
        return name

    def fresh(self, hint: str) -> str:
        """A new unique name starting with ``hint``."""
        n = self._counts.get(hint, 0)
        while f"{hint}_{n}" in self._names:
            n += 1
        self._counts[hint] = n + 1
        return self.reserve(f"{hint}_{n}")

    def op(
        self,
        op_type: str,
        *inputs: str,
        outputs: int | Sequence[str] = 1,
        domain: str = "",
        name: str | None = None,
        **attrs: Any,
    ) -> Any:
        """Append a node; return its output name (or list of names when ``outputs`` > 1)."""
        outs = (
            [self.fresh(f"{name or op_type}") for _ in range(outputs)]
            if isinstance(outputs, int)
            else list(outputs)
        )
        node_name = self.fresh(f"{name or op_type}/node") if name else None
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), outs, name=node_name, domain=domain or None, **attrs
            )
        )
        return outs[0] if isinstance(outputs, int) and outputs == 1 else outs

    def const(self, value: Any, dtype: str, hint: str = "const") -> str:
        """An initializer holding ``value`` as ``dtype``; returns its name."""
        arr = np.asarray(value, dtype=np.dtype(dtype))
        return self.initializer(self.fresh(hint), arr)

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        """An int64 1-D initializer (shapes, axes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64), "int64", hint)

    def initializer(self, name: str, arr: np.ndarray) -> str:
        if name not in self._names:
            self.reserve(name)
        self.initializers.append(numpy_helper.from_array(np.array(arr, order="C", copy=True), name))
        return name

    def add_function(self, fn: onnx.FunctionProto, domain_version: int = 1) -> None:
        """Carry a model-local function (and import its domain and the domains it uses)."""
        self.functions[(fn.domain, fn.name)] = fn
        self.opsets.setdefault(fn.domain, domain_version)
        for imp in fn.opset_import:
            if imp.domain not in ("", "ai.onnx"):
                self.opsets.setdefault(imp.domain, imp.version)

    def branch(self) -> GraphBuilder:
        """A builder for a subgraph (an ``If`` branch) sharing this graph's names, so inner and
        outer names never clash, and its initializers, which the subgraph reads from the outer
        scope."""
        sub = GraphBuilder(self.opset)
        sub._names, sub._counts, sub.initializers = self._names, self._counts, self.initializers
        return sub

    def if_(
        self,
        cond: str,
        then: Callable[[GraphBuilder], list[str]],
        orelse: Callable[[GraphBuilder], list[str]],
        outputs: Sequence[tuple[str, int]],
        hint: str,
    ) -> list[str]:
        """An ``If`` on the 0-d bool ``cond`` whose branches ``then`` / ``orelse`` build into a
        :meth:`branch` and return their output names; ``outputs`` gives each (dtype, rank)."""
        graphs = []
        for build, tag in ((then, "then"), (orelse, "else")):
            sub = self.branch()
            outs = build(sub)
            infos = [
                helper.make_tensor_value_info(o, DTYPES[dt], [None] * rank)
                for o, (dt, rank) in zip(outs, outputs, strict=True)
            ]
            graphs.append(helper.make_graph(sub.nodes, f"{hint}/{tag}", [], infos))
        res = self.op(
            "If",
            cond,
            outputs=len(outputs),
            then_branch=graphs[0],
            else_branch=graphs[1],
            name=hint,
        )
        return [res] if isinstance(res, str) else list(res)

    def rename(self, old: str, new: str) -> None:
        """Call the tensor ``old`` ``new`` in every node, inside ``If`` branches too."""
        for node in _walk(self.nodes):
            for names in (node.input, node.output):
                for k, n in enumerate(names):
                    if n == old:
                        names[k] = new

    def value_info(self, name: str, spec: TensorSpec) -> onnx.ValueInfoProto:
        dims = [d if isinstance(d, (int, str)) else None for d in spec.shape]
        return helper.make_tensor_value_info(name, DTYPES[spec.dtype], dims)


def _walk(nodes: Sequence[onnx.NodeProto]) -> Iterator[onnx.NodeProto]:
    for node in nodes:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g.node)
            for sub in attr.graphs:
                yield from _walk(sub.node)
