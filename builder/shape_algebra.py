"""int64 arithmetic that folds while building and becomes graph ops only where it must.

A :class:`Val` is an int64 (or bool) scalar or array: a NumPy value when it is known while
building, else the name of a graph tensor (a dim read with ``Shape``, a map computed from it).
Its operators compute known values at once and emit ONNX ops (``Add``, ``Mul``, ...) otherwise,
and plain ints mix in freely. A formula written over :data:`Int` therefore runs on Python ints
(static shapes, ``infer``) and on :class:`Val` (the lowering, static or dynamic dims) alike:
:func:`onnxlayers.builder.args.pooling_output_shape` is torch's output size for both.

``//`` is Python's floor division everywhere (in the graph ``Div`` truncates, so a
negative dividend is corrected with ``Mod``), and ``>=`` gives a bool :class:`Val`.

>>> from onnxlayers.builder.graph import GraphBuilder
>>> g = GraphBuilder()
>>> seven = Val(g, np.asarray(7), "n")
>>> int(((seven * 2 - 1) // 4).v), int(((seven - 10) // 2).v), int(indicator(seven >= 7).v)
(3, -2, 1)
>>> g.nodes  # all known: nothing written
[]
>>> h = Val(g, "H", "n")             # a dim known only at run time
>>> (h // 2 + 1).known, [n.op_type for n in g.nodes]
(False, ['Mod', 'Sub', 'Div', 'Add'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, overload

import numpy as np
import onnx

if TYPE_CHECKING:
    from .graph import GraphBuilder

I64 = "int64"


@dataclass(frozen=True)
class Val:
    """An int64 (or bool) value, scalar or array: known while building, or a graph tensor.

    ``hint`` prefixes the names of the nodes and constants it creates (the layer's node).
    """

    g: GraphBuilder
    v: np.ndarray | str
    hint: str

    @property
    def known(self) -> bool:
        return isinstance(self.v, np.ndarray)

    def name(self) -> str:
        """The graph tensor (an int64 or bool constant when the value is known)."""
        if isinstance(self.v, np.ndarray):
            return self.g.const(self.v, "bool" if self.v.dtype == bool else I64, self.hint)
        return self.v

    def lift(self, other: Val | int) -> Val:
        return other if isinstance(other, Val) else Val(self.g, np.asarray(other, I64), self.hint)

    def _apply(self, other: Val | int, fn: Callable[..., np.ndarray], op: str) -> Val:
        o = self.lift(other)
        if isinstance(self.v, np.ndarray) and isinstance(o.v, np.ndarray):
            return Val(self.g, np.asarray(fn(self.v, o.v)), self.hint)
        return self._node(op, self.name(), o.name())

    def _node(self, op: str, *inputs: str) -> Val:
        return Val(self.g, str(self.g.op(op, *inputs, name=f"{self.hint}/{op}")), self.hint)

    def __add__(self, other: Val | int) -> Val:
        return self._apply(other, np.add, "Add")

    def __sub__(self, other: Val | int) -> Val:
        return self._apply(other, np.subtract, "Sub")

    def __mul__(self, other: Val | int) -> Val:
        return self._apply(other, np.multiply, "Mul")

    def __floordiv__(self, other: Val | int) -> Val:
        """Floor division, as Python's: ``(a - a mod b) / b`` in the graph (``Div`` truncates)."""
        o = self.lift(other)
        if self.known and o.known:
            return self._apply(o, np.floor_divide, "Div")
        multiple = self - self._node("Mod", self.name(), o.name())  # Mod takes b's sign
        return multiple._node("Div", multiple.name(), o.name())

    def __ge__(self, other: Val | int) -> Val:
        return self._apply(other, np.greater_equal, "GreaterOrEqual")

    def max(self, other: Val | int) -> Val:
        return self._apply(other, np.maximum, "Max")

    def min(self, other: Val | int) -> Val:
        return self._apply(other, np.minimum, "Min")

    def and_(self, other: Val) -> Val:
        return self._apply(other, np.logical_and, "And")

    def or_(self, other: Val) -> Val:
        return self._apply(other, np.logical_or, "Or")

    def as_int(self) -> Val:
        """A bool value as 0/1."""
        if isinstance(self.v, np.ndarray):
            return Val(self.g, self.v.astype(I64), self.hint)
        return Val(
            self.g,
            str(self.g.op("Cast", self.v, to=onnx.TensorProto.INT64, name=f"{self.hint}/as_int")),
            self.hint,
        )

    def column(self) -> Val:
        """A vector as a column (``v[:, None]``), to build (OH, OW) maps by broadcasting."""
        if isinstance(self.v, np.ndarray):
            return Val(self.g, self.v[:, None], self.hint)
        return self._node("Unsqueeze", self.v, self.g.ints([1], self.hint))

    def vector(self) -> str:
        """A scalar as a 1-element int64 tensor (for shapes, pads and slice bounds)."""
        if isinstance(self.v, np.ndarray):
            return self.g.ints([int(self.v)], self.hint)
        return self._node("Unsqueeze", self.v, self.g.ints([0], self.hint)).name()

    def arange(self) -> Val:
        """``0, 1, ..., self - 1`` (self a scalar)."""
        if isinstance(self.v, np.ndarray):
            return Val(self.g, np.arange(int(self.v), dtype=I64), self.hint)
        zero, one = self.g.const(0, I64, self.hint), self.g.const(1, I64, self.hint)
        return self._node("Range", zero, self.v, one)

    def any(self) -> bool:
        """For a known bool value: whether any element is true (unknown: assume so)."""
        return not isinstance(self.v, np.ndarray) or bool(self.v.any())


Int = TypeVar("Int", int, Val)
"""A formula's integer type: Python ints (static shapes) or :class:`Val` (the lowering)."""


@overload
def indicator(cond: bool) -> int: ...
@overload
def indicator(cond: Val) -> Val: ...
def indicator(cond: bool | Val) -> int | Val:
    """A condition as 0 or 1: ``int(cond)`` for a bool, :meth:`Val.as_int` for a value.

    >>> indicator(3 >= 2)
    1
    """
    return cond.as_int() if isinstance(cond, Val) else int(cond)


def concat(g: GraphBuilder, parts: Sequence[Val | int], hint: str) -> str:
    """A 1-D int64 tensor of scalar parts (a constant when all are known).

    >>> from onnxlayers.builder.graph import GraphBuilder
    >>> g = GraphBuilder()
    >>> concat(g, [0, Val(g, np.asarray(3), "n")], "pads"), g.nodes
    ('pads_0', [])
    """
    vals = [Val(g, np.asarray(p, I64), hint) if isinstance(p, int) else p for p in parts]
    if all(v.known for v in vals):
        return g.ints([int(np.asarray(v.v)) for v in vals], hint)
    return str(g.op("Concat", *[v.vector() for v in vals], axis=0, name=f"{hint}/concat"))
