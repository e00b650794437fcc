"""``AdaptiveAvgPool2d`` and ``AdaptiveMaxPool2d``: torch's adaptive pooling, exactly.

torch's windows (``aten/src/ATen/native/AdaptivePooling.h``): along an axis of input size ``n``
and output size ``o``, output cell ``i`` covers ``[floor(i*n/o), ceil((i+1)*n/o))``. When ``o``
does not divide ``n`` the windows overlap and vary in length, which no single ONNX op expresses.
``output_size`` is an int or a pair whose ``None`` entries keep the input's size. Inputs are
(N, C, H, W) or (C, H, W), float32, float64 or float16.

>>> from onnxlayers.builder import Input
>>> AdaptiveAvgPool2d((None, 3))(Input("x", ("N", 8, 7, 9))).shape
('N', 8, 7, 3)
>>> y, i = AdaptiveMaxPool2d(5, return_indices=True)(Input("x", (8, 7, "W")))
>>> y.shape, i.dtype
((8, 5, 5), 'int64')

How each case is lowered (measured on onnxruntime 1.32, CPU, 2 threads, 8x64x56x56 float32):

* **1x1**: ``ReduceMean`` (4x faster than ``GlobalAveragePool``) on a graph input; a float32
  layer output gets ``GlobalAveragePool``, which onnxruntime runs in the blocked layout of the
  convolutions before it (SqueezeNet 1.1: 1.5% faster); **divisible** static sizes
  (``n % o == 0`` on both axes): ``AveragePool`` with ``kernel = stride = n / o`` (0.3 ms for
  7x7, torch 0.8 ms). float16 is averaged in float32, as torch accumulates; float64 (no CPU
  ``AveragePool``) takes the general path.
* **Separable windows** otherwise. Each pooled axis turns into (o, K) window taps: a free
  ``Reshape`` where ``o`` divides a static ``n``, ``Unsqueeze`` where ``o`` is 1, else a
  ``Gather`` with torch's (o, K) index table (short windows repeat their last element); an
  axis that keeps its size is skipped. The axes run cheapest first: ``Gather`` along the last
  axis copies element by element (~7x an outer axis), so H usually goes first and shrinks
  the data.
* **Averages** sum each axis (``ReduceSum``; repeated taps masked to 0 by ``Where``) and
  divide once by the window areas, so NaN and infinities propagate as in torch's sums. With
  static sizes (at most ``MATMUL_MAX_OUT`` windows per axis, not CUDA) a ``ReduceSum`` checks
  the input and an ``If`` sums a finite one with ``MatMul`` by 0/1 window matrices instead
  (0.8 ms for 56 -> 9, torch 1.1 ms; the taps took 6.9 ms).
* **Maxima** reduce each axis with ``ReduceMax``; onnxruntime's reductions (and ``MaxPool``)
  skip NaN depending on its position, so an ``If`` on the same input check runs the plain
  reductions (``MaxPool`` for divisible sizes: 0.6 ms for 7x7, torch 2.2 ms) on a finite
  input and, otherwise, reductions that rewrite every window holding a NaN to NaN.
* **Indices**: every tap gets a code, ``BIG - p`` where it equals its window's maximum,
  ``BIG + 1 + p`` where it is NaN, 0 elsewhere (``p`` its flat index ``h * W + w`` in the
  plane, ``BIG = H * W``); the largest code is torch's choice, the last NaN or else the first
  maximum in row-major order, whatever the order of the axes (the second stage carries the
  first one's ``p``). Repeated taps change neither. Codes are floats (``Cast`` times a
  constant is ~4x faster than an int64 ``Where``; float32 holds them exactly below 2**24)
  and a finite input (the same ``If``) skips the NaN codes: 8.9 ms for 56 -> 9 with
  indices, torch 3.0 ms, the slowest case here (two element-wise ``Gather`` of the last axis).
* **Dynamic H or W**: the tables, the longest window and the areas are computed in the graph
  from ``Shape`` by the same formulas (:class:`Num`); torch's "non-zero size for non-batch
  dimensions" becomes a guard (a ``Range`` whose step is 0, named after the check).
* **output_size 0** (torch accepts it): an empty ``ConstantOfShape``.
* **target="cuda"**: no ``MatMul`` (the CUDA provider may run it in TF32) and no ``MaxPool``;
  every op used has a CUDA kernel for its dtypes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..errors import LayerArgumentError, LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer
from ..registry import register_layer
from ..tensor import DTYPES, Dim, TensorSpec

I64 = "int64"
F32_EXACT_INTS = 2**24
"""float32 holds every integer below this exactly."""


# --------------------------------------------------------------------------- values
class Num:
    """A value (scalar or array) known while building, or a tensor computed in the graph.

    One formula serves static shapes (numpy, folded into constants) and dynamic ones (ONNX ops
    on ``Shape`` values). numpy computes in ``dtype`` exactly as the ONNX op would (float32
    stays float32), so index tables built either way agree bit for bit. Integer division is
    only applied to non-negative values, where ONNX's truncating ``Div`` is a floor.

    >>> g = GraphBuilder()
    >>> n = Num(g, np.asarray(7), "int64", "h")
    >>> (Num.arange(g, 3, "h") * n).floordiv(3).v
    array([0, 2, 4])
    >>> dyn = Num(g, "H", "int64", "h")
    >>> (dyn + 1).known, [node.op_type for node in g.nodes]
    (False, ['Add'])
    """

    def __init__(self, g: GraphBuilder, v: np.ndarray | str, dtype: str, hint: str) -> None:
        self.g, self.v, self.dtype, self.hint = g, v, dtype, hint

    @staticmethod
    def const(g: GraphBuilder, value: Any, dtype: str, hint: str) -> Num:
        return Num(g, np.asarray(value, dtype=np.dtype(dtype)), dtype, hint)

    @staticmethod
    def arange(g: GraphBuilder, n: int | Num, hint: str) -> Num:
        """``0, 1, ..., n - 1`` as int64."""
        if isinstance(n, int):
            return Num.const(g, np.arange(n), I64, hint)
        if n.known:
            return Num.const(g, np.arange(int(np.asarray(n.v))), I64, hint)
        zero, one = g.const(0, I64, hint), g.const(1, I64, hint)
        return Num(g, g.op("Range", zero, n.name(), one, name=f"{hint}/range"), I64, hint)

    @property
    def known(self) -> bool:
        return isinstance(self.v, np.ndarray)

    def on(self, g: GraphBuilder) -> Num:
        """This value emitting its further ops into ``g`` (an ``If`` branch reads the
        outer graph's tensors)."""
        return Num(g, self.v, self.dtype, self.hint)

    @property
    def array(self) -> np.ndarray:
        assert isinstance(self.v, np.ndarray), "value is only known in the graph"
        return self.v

    def name(self) -> str:
        """The graph tensor (a constant when the value is known)."""
        if isinstance(self.v, np.ndarray):
            return self.g.const(self.v, self.dtype, self.hint)
        return self.v

    def lift(self, other: Num | float) -> Num:
        return other if isinstance(other, Num) else Num.const(self.g, other, self.dtype, self.hint)

    def _op(
        self, other: Num | float, fn: Callable[..., Any], op: str, out: str | None = None
    ) -> Num:
        o = self.lift(other)
        dtype = out or self.dtype
        if isinstance(self.v, np.ndarray) and isinstance(o.v, np.ndarray):
            return Num(
                self.g, np.asarray(fn(self.v, o.v)).astype(np.dtype(dtype)), dtype, self.hint
            )
        return Num(
            self.g, self.g.op(op, self.name(), o.name(), name=f"{self.hint}/{op}"), dtype, self.hint
        )

    def __add__(self, other: Num | float) -> Num:
        return self._op(other, np.add, "Add")

    def __sub__(self, other: Num | float) -> Num:
        return self._op(other, np.subtract, "Sub")

    def __mul__(self, other: Num | float) -> Num:
        return self._op(other, np.multiply, "Mul")

    def __truediv__(self, other: Num | float) -> Num:
        return self._op(other, np.divide, "Div")

    def floordiv(self, other: Num | int) -> Num:
        """Integer division of a non-negative value."""
        return self._op(other, np.floor_divide, "Div")

    def minimum(self, other: Num | float) -> Num:
        return self._op(other, np.minimum, "Min")

    def maximum(self, other: Num | float) -> Num:
        return self._op(other, np.maximum, "Max")

    def eq(self, other: Num | float) -> Num:
        return self._op(other, np.equal, "Equal", "bool")

    def lt(self, other: Num | float) -> Num:
        return self._op(other, np.less, "Less", "bool")

    def ge(self, other: Num | float) -> Num:
        return self._op(other, np.greater_equal, "GreaterOrEqual", "bool")

    def and_(self, other: Num) -> Num:
        return self._op(other, np.logical_and, "And", "bool")

    def or_(self, other: Num) -> Num:
        return self._op(other, np.logical_or, "Or", "bool")

    def floor(self) -> Num:
        if isinstance(self.v, np.ndarray):
            return Num(self.g, np.floor(self.v), self.dtype, self.hint)
        return Num(
            self.g, self.g.op("Floor", self.v, name=f"{self.hint}/floor"), self.dtype, self.hint
        )

    def cast(self, dtype: str) -> Num:
        if dtype == self.dtype:
            return self
        if isinstance(self.v, np.ndarray):
            return Num(self.g, self.v.astype(np.dtype(dtype)), dtype, self.hint)
        code = onnx.TensorProto.BOOL if dtype == "bool" else DTYPES[dtype]
        return Num(
            self.g, self.g.op("Cast", self.v, to=code, name=f"{self.hint}/cast"), dtype, self.hint
        )

    def where(self, a: Num | float, b: Num | float) -> Num:
        """``a`` where this bool value is true, else ``b``."""
        x = a if isinstance(a, Num) else b
        assert isinstance(x, Num)
        a, b = x.lift(a), x.lift(b)
        if isinstance(self.v, np.ndarray) and self.v.ndim == 0:
            return a if bool(self.v) else b
        if isinstance(self.v, np.ndarray) and a.known and b.known:
            return Num(
                self.g,
                np.where(self.v, a.array, b.array).astype(np.dtype(x.dtype)),
                x.dtype,
                self.hint,
            )
        return Num(
            self.g,
            self.g.op("Where", self.name(), a.name(), b.name(), name=f"{self.hint}/where"),
            x.dtype,
            self.hint,
        )

    def unsqueeze(self, axes: Sequence[int]) -> Num:
        if isinstance(self.v, np.ndarray):
            return Num(self.g, np.expand_dims(self.v, tuple(axes)), self.dtype, self.hint)
        return Num(
            self.g,
            self.g.op(
                "Unsqueeze",
                self.v,
                self.g.ints(list(axes), self.hint),
                name=f"{self.hint}/unsqueeze",
            ),
            self.dtype,
            self.hint,
        )

    def reduce_max(self) -> Num:
        """The largest element, as a scalar."""
        if isinstance(self.v, np.ndarray):
            return Num(self.g, np.asarray(self.v.max()), self.dtype, self.hint)
        return Num(
            self.g,
            reduce(self.g, "ReduceMax", self.v, None, keepdims=0, name=f"{self.hint}/max"),
            self.dtype,
            self.hint,
        )


def reduce(
    g: GraphBuilder, op: str, x: str, axes: Sequence[int] | None, *, keepdims: int, name: str
) -> str:
    """A ``Reduce*`` node with ``axes`` as an input or, for ``ReduceMax``/``ReduceMean``
    before opset 18, an attribute (``ReduceSum`` takes an input since opset 13)."""
    if axes is None:
        return str(g.op(op, x, keepdims=keepdims, name=name))
    if op == "ReduceSum" or g.opset >= 18:
        return str(g.op(op, x, g.ints(list(axes), f"{name}/axes"), keepdims=keepdims, name=name))
    return str(g.op(op, x, axes=list(axes), keepdims=keepdims, name=name))


def dim_of(g: GraphBuilder, x: str, d: Dim, axis: int, hint: str) -> Num:
    """Dim ``axis`` of ``x``: a known int64 scalar when static, else read with ``Shape``."""
    if isinstance(d, int):
        return Num.const(g, d, I64, hint)
    one = g.op("Shape", x, start=axis, end=axis + 1, name=f"{hint}/dim{axis}")
    return Num(
        g,
        str(g.op("Squeeze", one, g.ints([0], f"{hint}/axes"), name=f"{hint}/dim{axis}")),
        I64,
        hint,
    )


def guard(g: GraphBuilder, x: str, checks: Sequence[Num], message: str, hint: str) -> str:
    """``x`` routed through a run-time check: when any of the bool scalars ``checks`` is false
    a ``Range`` with step 0 fails, and onnxruntime's error names it (``message``)."""
    unknown = [c for c in checks if not c.known]
    if not unknown:
        return x
    ok = unknown[0]
    for c in unknown[1:]:
        ok = ok.and_(c)
    passed = g.fresh(f"{hint}/guard")
    g.nodes.append(
        helper.make_node(
            "Range",
            [
                g.const(0, I64, f"{hint}/guard"),
                g.const(1, I64, f"{hint}/guard"),
                ok.cast(I64).name(),
            ],
            [passed],
            name=message,
        )
    )
    shape = g.op("Add", g.op("Shape", x, name=f"{hint}/guard"), passed, name=f"{hint}/guard")
    return str(g.op("Reshape", x, shape, name=f"{hint}/guarded"))


# --------------------------------------------------------------------------- arguments
OutputSize = tuple[int | None, int | None]


def output_size_pair(label: str, output_size: Any) -> OutputSize:
    """torch's ``output_size``: an int, or a sequence of two ints or None (keep the input's
    size), each >= 0; numpy ints are accepted inside a sequence, as torch does.

    >>> output_size_pair("AdaptiveAvgPool2d", 3), output_size_pair("AdaptiveAvgPool2d", [None, 0])
    ((3, 3), (None, 0))
    >>> try:
    ...     output_size_pair("AdaptiveMaxPool2d", (3,))
    ... except LayerArgumentError as e:
    ...     print(e)
    AdaptiveMaxPool2d: output_size=(3,) is invalid; expected an int or a pair of ints or None
    """
    allowed = "an int or a pair of ints or None"
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        items: list[Any] = [output_size, output_size]
    elif isinstance(output_size, (list, tuple)):
        if len(output_size) != 2:
            raise LayerArgumentError(
                f"{label}: output_size={output_size!r} is invalid; expected {allowed}"
            )
        items = list(output_size)
    else:
        raise LayerTypeError(
            f"{label}: output_size={output_size!r} is invalid; expected "
            f"{allowed} (a Python int when it is a single number)"
        )
    out: list[int | None] = []
    for i, v in enumerate(items):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise LayerTypeError(
                f"{label}: output_size={output_size!r} is invalid; entry {i} "
                f"is {v!r}; expected {allowed}"
            )
        if int(v) < 0:
            raise LayerArgumentError(
                f"{label}: output_size={output_size!r} is invalid; expected sizes >= 0"
            )
        out.append(int(v))
    return out[0], out[1]


# --------------------------------------------------------------------------- windows
@dataclass
class AxisPlan:
    """How one spatial axis of an (N, C, *spatial) tensor is pooled.

    ``kind``: ``"keep"`` (output size = input size), ``"full"`` (one window, the whole axis:
    ``Unsqueeze``), ``"split"`` (static ``n``, ``o`` dividing it: windows of ``k`` taps by a
    free ``Reshape``) or ``"gather"`` (an (o, K) table ``index`` of window taps, short windows
    repeating their last element, ``valid`` marking the real taps or None when all are).
    """

    axis: int
    n: Num
    o: int | None
    kind: str
    index: Num | None = None
    valid: Num | None = None
    length: Num | None = None
    k: int = 0
    shape: str | None = None
    """The ``Reshape`` target of a split axis (set by :meth:`prepare`)."""

    @staticmethod
    def make(g: GraphBuilder, axis: int, n: Num, o: int | None, hint: str) -> AxisPlan:
        if o is None or (n.known and int(n.array) == o):
            return AxisPlan(axis, n, o, "keep", length=Num.const(g, [1], I64, hint))
        if o == 1:
            return AxisPlan(axis, n, o, "full", length=n.unsqueeze([0]))
        if n.known and int(n.array) % o == 0:
            k = int(n.array) // o
            return AxisPlan(axis, n, o, "split", length=Num.const(g, [k] * o, I64, hint), k=k)
        i = Num.arange(g, o, hint)
        start = (i * n).floordiv(o)  # torch's start_index: floor(i * n / o)
        end = ((i + 1) * n + (o - 1)).floordiv(o)  # end_index: ceil((i + 1) * n / o)
        length = end - start
        taps = Num.arange(g, length.reduce_max(), hint)
        index = (start.unsqueeze([1]) + taps.unsqueeze([0])).minimum((end - 1).unsqueeze([1]))
        valid: Num | None = taps.unsqueeze([0]).lt(length.unsqueeze([1]))
        if valid is not None and valid.known and bool(valid.array.all()):
            valid = None
        return AxisPlan(axis, n, o, "gather", index, valid, length)

    def taps(self) -> int | None:
        """Taps per window (None: known only in the graph)."""
        if self.kind == "split":
            return self.k
        if self.kind == "full":
            return int(self.n.array) if self.n.known else None
        if self.kind == "gather" and self.index is not None and self.index.known:
            return int(self.index.array.shape[1])
        return None

    def prepare(self, g: GraphBuilder, trailing: Sequence[Num], hint: str) -> None:
        """Build a split axis' ``Reshape`` target; ``trailing`` are the sizes of the dims
        after this axis when its stage runs ("0" copies the leading ones)."""
        if self.kind != "split":
            return
        assert self.o is not None
        head = [0] * self.axis + [self.o, self.k]
        if all(t.known for t in trailing):
            self.shape = g.ints(head + [int(t.array) for t in trailing], f"{hint}/windows")
            return
        parts = [g.ints(head, f"{hint}/windows")] + [t.unsqueeze([0]).name() for t in trailing]
        self.shape = str(g.op("Concat", *parts, axis=0, name=f"{hint}/windows"))

    def windows(self, b: GraphBuilder, x: str, hint: str) -> str:
        """``x`` with this axis replaced by (o, K): every window's taps."""
        if self.kind == "full":
            return str(
                b.op("Unsqueeze", x, b.ints([self.axis], f"{hint}/axes"), name=f"{hint}/window")
            )
        if self.kind == "split":
            assert self.shape is not None
            return str(b.op("Reshape", x, self.shape, name=f"{hint}/window"))
        assert self.index is not None
        return str(b.op("Gather", x, self.index.name(), axis=self.axis, name=f"{hint}/window"))

    def positions(self, pos: Num, hint: str) -> Num:
        """:meth:`windows` of a map of plane indices (numpy while it is known)."""
        if not pos.known:
            return Num(pos.g, self.windows(pos.g, pos.name(), hint), pos.dtype, hint)
        a = pos.array
        if self.kind == "full":
            return Num(pos.g, np.expand_dims(a, self.axis), pos.dtype, hint)
        if self.kind == "split":
            assert self.o is not None
            shape = (*a.shape[: self.axis], self.o, self.k, *a.shape[self.axis + 1 :])
            return Num(pos.g, a.reshape(shape), pos.dtype, hint)
        assert self.index is not None
        return Num(pos.g, np.take(a, self.index.array, axis=self.axis), pos.dtype, hint)

    def mask(self, rank: int) -> Num | None:
        """``valid`` shaped to broadcast against :meth:`windows` of a rank-``rank`` tensor
        (None: every tap is real)."""
        if self.valid is None:
            return None
        trailing = rank - 1 - self.axis
        return self.valid.unsqueeze(list(range(2, 2 + trailing))) if trailing else self.valid


GATHER_LAST_AXIS_COST = 7
"""``Gather`` along the last axis copies element by element: ~7x the time of one along an
outer axis for the same output (onnxruntime 1.32, 2 threads, 32x64x56x56 float32)."""


def order_stages(
    g: GraphBuilder, plans: Sequence[AxisPlan], rank: int, hint: str
) -> list[AxisPlan]:
    """The axes to pool, cheapest order first (static sizes) or outermost first, each
    :meth:`~AxisPlan.prepare`-d for the sizes it will see."""
    active = [p for p in plans if p.kind != "keep"]
    if len(active) > 1 and all(p.n.known and p.taps() is not None for p in plans):

        def cost(order: Iterable[AxisPlan]) -> float:
            dims = {p.axis: int(p.n.array) for p in plans}
            total = 0.0
            for p in order:
                assert p.o is not None
                size = math.prod(dims.values()) // dims[p.axis] * p.o * (p.taps() or 1)
                weight = GATHER_LAST_AXIS_COST if p.kind == "gather" and p.axis == rank - 1 else 1
                total += size * weight
                dims[p.axis] = p.o
            return total

        active = list(min(itertools.permutations(active), key=cost))
    sizes = {p.axis: p.n for p in plans}
    for p in active:
        p.prepare(g, [sizes[a] for a in sorted(sizes) if a > p.axis], f"{hint}/{p.axis}")
        assert p.o is not None
        sizes[p.axis] = Num.const(g, p.o, I64, hint)
    return active


def areas(plans: Sequence[AxisPlan], work: str) -> Num:
    """Every output cell's window area, shaped (o1, o2, ...) in ``work`` dtype."""
    total: Num | None = None
    for j, p in enumerate(plans):
        assert p.length is not None
        after = len(plans) - 1 - j
        length = p.length.unsqueeze(list(range(1, 1 + after))) if after else p.length
        total = length if total is None else total * length
    assert total is not None
    return total.cast(work)


MATMUL_MAX_OUT = 64
"""Finite averages use one ``MatMul`` per axis (0/1 window matrices) when every pooled axis
has at most this many windows: a dense product costs ``o`` multiply-adds per input element,
still faster than the element-wise ``Gather`` of the windows up to here."""


def average(
    g: GraphBuilder,
    x: str,
    plans: Sequence[AxisPlan],
    rank: int,
    work: str,
    hint: str,
    target: str = "any",
) -> str:
    """torch's adaptive average of ``x`` (in ``work`` dtype) over every plan's windows: the
    taps summed axis by axis, divided once by the window areas.

    With static sizes (not for CUDA, whose ``MatMul`` may run in TF32) a finite input is
    summed by ``MatMul`` with 0/1 window matrices instead; a NaN or an infinity (which a
    product with 0 would spread) takes the gathered taps.
    """
    stages = order_stages(g, plans, rank, hint)
    area = areas(plans, work)

    def exact(b: GraphBuilder) -> list[str]:
        y = x
        for plan in stages:
            h = f"{hint}/{plan.axis}"
            win = plan.windows(b, y, h)
            mask = plan.mask(rank)
            if mask is not None:
                zero = b.const(0, work, f"{h}/zero")
                win = str(b.op("Where", mask.name(), win, zero, name=f"{h}/taps"))
            y = reduce(b, "ReduceSum", win, [plan.axis + 1], keepdims=0, name=f"{h}/sum")
        return [str(b.op("Div", y, area.name(), name=f"{hint}/mean"))]

    mats = window_matrices(plans) if target != "cuda" else None
    if mats is None:
        return exact(g)[0]
    dims = [int(p.n.array) for p in plans]

    def fast(b: GraphBuilder) -> list[str]:
        y = contract(b, x, mats, dims, work, hint)
        return [str(b.op("Div", y, area.name(), name=f"{hint}/mean"))]

    cond = nonfinite(g, x, f"{hint}/check")
    (y,) = g.if_(cond, exact, fast, [(work, rank)], f"{hint}/nan_or_inf")
    return y


def window_matrices(plans: Sequence[AxisPlan]) -> list[np.ndarray | None] | None:
    """Each axis' (o, n) 0/1 matrix of its windows (None: the axis is kept), when every size
    is static and no axis has more than ``MATMUL_MAX_OUT`` windows; else None."""
    mats: list[np.ndarray | None] = []
    for p in plans:
        if p.kind == "keep":
            mats.append(None)
            continue
        if not p.n.known or p.o is None or p.o > MATMUL_MAX_OUT:
            return None
        n = int(p.n.array)
        m = np.zeros((p.o, n))
        if p.kind == "full":
            m[:] = 1
        elif p.kind == "split":
            m[np.repeat(np.arange(p.o), p.k), np.arange(n)] = 1
        else:
            assert p.index is not None and p.index.known
            rows = np.broadcast_to(np.arange(p.o)[:, None], p.index.array.shape)
            m[rows, p.index.array] = 1  # repeated taps set the same element
        mats.append(m)
    return mats


def contract(
    b: GraphBuilder,
    x: str,
    mats: Sequence[np.ndarray | None],
    dims: Sequence[int],
    work: str,
    hint: str,
) -> str:
    """``x`` (N, C, *spatial) times an (o, n) matrix along each spatial axis (None: kept),
    one ``MatMul`` per axis, the cheapest order first."""
    rank = 2 + len(dims)
    outs = [d if m is None else m.shape[0] for m, d in zip(mats, dims, strict=True)]
    axes = [k for k, m in enumerate(mats) if m is not None]
    order = min(itertools.permutations(axes), key=lambda p: matmul_cost(dims, outs, p))
    cur = list(dims)
    y = x
    for k in order:
        m = mats[k]
        assert m is not None
        axis, h = 2 + k, f"{hint}/{2 + k}"
        weights = b.const(m if axis < rank - 1 else m.T, work, f"{h}/weights")
        if axis == rank - 1:  # (..., n) @ (n, o)
            y = str(b.op("MatMul", y, weights, name=f"{h}/matmul"))
        elif axis == rank - 2:  # (o, n) @ (..., n, W)
            y = str(b.op("MatMul", weights, y, name=f"{h}/matmul"))
        else:  # fold the trailing axes, contract, unfold
            rest = cur[k + 1 :]
            fold = b.ints([0] * (axis + 1) + [math.prod(rest)], f"{h}/fold")
            flat = b.op("Reshape", y, fold, name=f"{h}/fold")
            out = b.op("MatMul", weights, flat, name=f"{h}/matmul")
            unfold = b.ints([0] * (axis + 1) + rest, f"{h}/unfold")
            y = str(b.op("Reshape", out, unfold, name=f"{h}/unfold"))
        cur[k] = outs[k]
    return y


def matmul_cost(dims: Sequence[int], outs: Sequence[int], order: Iterable[int]) -> int:
    """Multiply-adds of contracting axis by axis in ``order`` with dense matrices."""
    cur, total = list(dims), 0
    for k in order:
        total += math.prod(cur) * outs[k]
        cur[k] = outs[k]
    return total


def nonfinite(g: GraphBuilder, x: str, hint: str) -> str:
    """A bool scalar: does ``x`` hold a NaN or an infinity (or overflow its sum)?"""
    total = reduce(g, "ReduceSum", x, None, keepdims=0, name=f"{hint}/sum")
    return str(
        g.op(
            "IsNaN",
            g.op("Sub", total, total, name=f"{hint}/sum_minus_sum"),
            name=f"{hint}/nonfinite",
        )
    )


# --------------------------------------------------------------------------- lowering
class _Site:
    """One adaptive pooling call: the 4-D input, its sizes and both axes' plans."""

    def __init__(self, layer: _AdaptivePool2d, g: GraphBuilder, c: LowerCall) -> None:
        self.g, self.c, self.layer = g, c, layer
        spec = c.specs[0]
        self.rank, self.dtype = spec.ndim, spec.dtype
        self.dims: tuple[Dim, ...] = ((1,) if spec.ndim == 3 else ()) + tuple(spec.shape)
        node = c.node
        x = c.inputs[0]
        self.x = (
            x
            if spec.ndim == 4
            else str(g.op("Unsqueeze", x, g.ints([0], f"{node}/axes"), name=f"{node}/batched"))
        )
        self.size = (
            dim_of(g, self.x, self.dims[2], 2, node),
            dim_of(g, self.x, self.dims[3], 3, node),
        )
        self.outs = layer.output_size
        checks = [s.ge(1) for s in self.size]
        if layer.checks_channels and spec.ndim == 4:
            checks.append(dim_of(g, self.x, self.dims[1], 1, node).ge(1))
        self.x = guard(
            g,
            self.x,
            checks,
            f"{type(layer).__name__} {node!r}: expected an input "
            "with non-zero size for non-batch dimensions (torch rejects it)",
            node,
        )

    def out_size(self, i: int) -> int | None:
        o = self.outs[i]
        if o is None and self.size[i].known:
            return int(self.size[i].array)
        return o

    def divisible_kernel(self) -> tuple[int, int] | None:
        """``n / o`` per axis when both are static and divide exactly (plain pooling)."""
        if not (self.size[0].known and self.size[1].known):
            return None
        sizes = int(self.size[0].array), int(self.size[1].array)
        outs = (self.out_size(0), self.out_size(1))
        if not all(
            isinstance(o, int) and o > 0 and n % o == 0 for n, o in zip(sizes, outs, strict=True)
        ):
            return None
        return sizes[0] // outs[0], sizes[1] // outs[1]  # type: ignore[operator]

    def plans(self) -> list[AxisPlan]:
        node = self.c.node
        return [
            AxisPlan.make(self.g, 2 + i, self.size[i], self.outs[i], f"{node}/{'hw'[i]}")
            for i in (0, 1)
        ]

    def to_work(self, x: str, work: str) -> str:
        if work == self.dtype:
            return x
        return str(self.g.op("Cast", x, to=DTYPES[work], name=f"{self.c.node}/to_{work}"))

    def from_work(self, y: str, work: str, b: GraphBuilder | None = None) -> str:
        if work == self.dtype:
            return y
        return str(
            (b or self.g).op(
                "Cast", y, to=DTYPES[self.dtype], name=f"{self.c.node}/to_{self.dtype}"
            )
        )

    def empty(self) -> list[str]:
        """Outputs with a 0-sized H or W (torch accepts output_size 0)."""
        g, node = self.g, self.c.node
        lead = g.op("Shape", self.x, start=0, end=2, name=f"{node}/lead")
        outs = [
            self.size[i] if o is None else Num.const(g, o, I64, node)
            for i, o in enumerate(self.outs)
        ]
        shape = g.op(
            "Concat", lead, *[o.unsqueeze([0]).name() for o in outs], axis=0, name=f"{node}/shape"
        )
        results = [
            str(
                g.op(
                    "ConstantOfShape",
                    shape,
                    name=f"{node}/empty",
                    value=helper.make_tensor("v", DTYPES[self.dtype], [1], [0]),
                )
            )
        ]
        if self.layer.n_outputs == 2:
            results.append(
                str(
                    g.op(
                        "ConstantOfShape",
                        shape,
                        name=f"{node}/empty",
                        value=helper.make_tensor("v", DTYPES[I64], [1], [0]),
                    )
                )
            )
        return results

    def finish(self, results: Sequence[str]) -> None:
        """Give the results the call's output names (dropping the batch dim for rank 3)."""
        g, node = self.g, self.c.node
        for got, want in zip(results, self.c.outputs, strict=True):
            if self.rank == 3:
                g.op(
                    "Squeeze",
                    got,
                    g.ints([0], f"{node}/axes"),
                    outputs=[want],
                    name=f"{node}/unbatched",
                )
            elif any(got in n.output for n in g.nodes):
                g.rename(got, want)
            else:
                g.op("Identity", got, outputs=[want], name=f"{node}/out")


class _AdaptivePool2d(Layer):
    """Shared argument handling and shape inference of the adaptive 2-D pools."""

    output_size: OutputSize
    checks_channels = False
    """Whether torch also rejects a 0-sized C (max pooling of a 4-D input)."""

    @property
    def n_outputs(self) -> int:
        return 1

    def _set_output_size(self, output_size: Any) -> None:
        self.output_size = output_size_pair(self.label, output_size)
        self._given = output_size if isinstance(output_size, int) else self.output_size

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x, ranks=(3, 4))
        first = 1 if self.checks_channels else x.ndim - 2
        for i in range(first, x.ndim):
            if x.shape[i] == 0:
                raise ShapeError(
                    f"{self.label}: input {tuple(x.shape)!r} has a zero-sized dim {i}; torch "
                    "expects non-zero sizes for non-batch dimensions"
                    + ("" if self.checks_channels else " H and W")
                )
        out = tuple(x.shape[-2 + i] if o is None else o for i, o in enumerate(self.output_size))
        spec = TensorSpec((*x.shape[:-2], *out), x.dtype)
        return [spec, TensorSpec(spec.shape, I64)][: self.n_outputs]

    def torch_args(self) -> dict[str, Any]:
        return {"output_size": self._given}

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        site = _Site(self, g, c)
        if 0 in site.outs:
            site.finish(site.empty())
            return
        site.finish(self.lower(site))

    def lower(self, site: _Site) -> list[str]:
        raise NotImplementedError


@register_layer
class AdaptiveAvgPool2d(_AdaptivePool2d):
    """``AdaptiveAvgPool2d(output_size)``: the mean over torch's adaptive windows.

    >>> from onnxlayers.builder import Input, Model
    >>> x = Input("x", ("N", 3, 7, 7))
    >>> ops = [n.op_type for n in Model([x], [AdaptiveAvgPool2d(1)(x)]).to_onnx().graph.node]
    >>> "ReduceMean" in ops
    True
    """

    examples = (
        Example({"output_size": (3, 4)}, ((2, 3, 7, 9),)),
        Example({"output_size": (None, 5)}, ((2, 3, 6, 8),)),
        Example({"output_size": 1}, ((2, 3, 5, 5),)),
        Example({"output_size": 4}, ((2, 3, 8, 12),)),
    )
    torch_functions = ("F.adaptive_avg_pool2d",)

    def __init__(self, output_size: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._set_output_size(output_size)

    def lower(self, site: _Site) -> list[str]:
        g, node = site.g, site.c.node
        work = "float32" if site.dtype == "float16" else site.dtype
        plans = site.plans()
        if all(p.kind == "keep" for p in plans):
            return [str(g.op("Identity", site.x, name=f"{node}/same"))]
        x = site.to_work(site.x, work)
        if all(p.kind == "full" for p in plans):
            inside = x == site.c.inputs[0] and x not in g.inputs  # a layer's 4-D output
            if inside and site.dtype == "float32":
                # a layer's output, inside a network: onnxruntime runs this in its blocked
                # (NCHWc) layout, where ReduceMean would first reorder the whole input
                return [str(g.op("GlobalAveragePool", x, name=f"{node}/mean"))]
            y = reduce(g, "ReduceMean", x, [2, 3], keepdims=1, name=f"{node}/mean")
            return [site.from_work(y, work)]  # 4x faster than GlobalAveragePool on an input
        kernel = site.divisible_kernel()
        if kernel is not None and work == "float32":  # float64 has no CPU AveragePool
            y = g.op(
                "AveragePool",
                x,
                kernel_shape=list(kernel),
                strides=list(kernel),
                name=f"{node}/mean",
            )
            return [site.from_work(str(y), work)]
        return [site.from_work(average(g, x, plans, 4, work, node, site.c.target), work)]


@register_layer
class AdaptiveMaxPool2d(_AdaptivePool2d):
    """``AdaptiveMaxPool2d(output_size, return_indices=False)``: the maximum over torch's
    adaptive windows (NaN propagating) and, with ``return_indices``, torch's flat index
    ``h * W + w`` of it in each (n, c) plane.

    >>> from onnxlayers.builder import Input
    >>> [t.shape for t in AdaptiveMaxPool2d((2, None), True)(Input("x", (1, 2, 5, 6)))]
    [(1, 2, 2, 6), (1, 2, 2, 6)]
    """

    copies = True

    examples = (
        Example({"output_size": (3, 4), "return_indices": True}, ((2, 3, 7, 9),)),
        Example({"output_size": (None, 5)}, ((2, 3, 6, 8),)),
        Example({"output_size": 2, "return_indices": True}, ((2, 3, 8, 6),)),
        Example({"output_size": 1}, ((2, 3, 5, 7),)),
    )
    torch_functions = ("F.adaptive_max_pool2d", "F.adaptive_max_pool2d_with_indices")
    checks_channels = True

    def __init__(
        self, output_size: Any, return_indices: bool = False, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self._set_output_size(output_size)
        self.return_indices = bool(return_indices)

    @property
    def n_outputs(self) -> int:
        return 2 if self.return_indices else 1

    def torch_args(self) -> dict[str, Any]:
        return {**super().torch_args(), "return_indices": self.return_indices}

    def lower(self, site: _Site) -> list[str]:
        g, node = site.g, site.c.node
        work = "float32" if site.dtype == "float16" else site.dtype  # exact: values are copied
        plans = site.plans()
        h, w = site.size
        if all(p.kind == "keep" for p in plans):
            y = str(g.op("Identity", site.x, name=f"{node}/same"))
            if not self.return_indices:
                return [y]
            pos = _plane_indices(g, h, w, node)
            shape = g.op("Shape", site.x, name=f"{node}/shape")
            return [y, str(g.op("Expand", pos.name(), shape, name=f"{node}/indices"))]
        x = site.to_work(site.x, work)
        nan = Num.const(g, np.nan, work, f"{node}/nan")
        stages = order_stages(g, plans, 4, node)
        if self.return_indices:
            # codes in floats: Cast * Mul is ~4x faster than an int64 Where here; float32
            # holds every code exactly while 2 * H * W + 1 < 2**24
            big = h * w
            small = big.known and 2 * int(big.array) + 2 < F32_EXACT_INTS
            codes = "float32" if small and work != "float64" else "float64"
            plane = _plane_indices(g, h, w, node).cast(codes)
            big = big.cast(codes)

            def argmax(nan_aware: bool) -> Callable[[GraphBuilder], list[str]]:
                def build(b: GraphBuilder) -> list[str]:
                    y, pos = x, plane.on(b)
                    for plan in stages:
                        hint = f"{node}/{plan.axis}"
                        win = Num(b, plan.windows(b, y, hint), work, hint)
                        taps = plan.positions(pos, f"{hint}/index")
                        y, pos = _window_argmax(
                            b, plan, win, taps, big.on(b), nan.on(b) if nan_aware else None, hint
                        )
                    return [site.from_work(y, work, b), pos.cast(I64).name()]

                return build

            cond = nonfinite(g, x, f"{node}/check")
            outs = [(site.dtype, 4), (I64, 4)]
            return g.if_(cond, argmax(True), argmax(False), outs, f"{node}/nan_or_inf")
        kernel = site.divisible_kernel()

        def maxima(exact: bool) -> Callable[[GraphBuilder], list[str]]:
            def build(b: GraphBuilder) -> list[str]:
                if not exact and kernel is not None and site.c.target != "cuda":
                    y = str(
                        b.op(
                            "MaxPool",
                            x,
                            kernel_shape=list(kernel),
                            strides=list(kernel),
                            name=f"{node}/max",
                        )
                    )
                    return [site.from_work(y, work, b)]
                y = x
                for plan in stages:
                    y = _window_max(b, plan, y, nan if exact else None, work, f"{node}/{plan.axis}")
                return [site.from_work(y, work, b)]

            return build

        # onnxruntime's max reductions skip NaN (and its MaxPool turns all -inf windows into
        # the lowest float): a finite input takes the plain reductions.
        cond = nonfinite(g, x, f"{node}/check")
        (y,) = g.if_(cond, maxima(True), maxima(False), [(site.dtype, 4)], f"{node}/nan_or_inf")
        return [y]


def _plane_indices(g: GraphBuilder, h: Num, w: Num, hint: str) -> Num:
    """Each element's flat index ``h * W + w`` in its plane, shaped (1, 1, H, W)."""
    return (
        Num.arange(g, h, hint).unsqueeze([1]) * w + Num.arange(g, w, hint).unsqueeze([0])
    ).unsqueeze([0, 1])


def _window_max(
    b: GraphBuilder, plan: AxisPlan, x: str, nan: Num | None, work: str, hint: str
) -> str:
    """The maximum of each window along the plan's axis; with ``nan``, NaN where a window
    holds one."""
    k = plan.axis + 1
    win = plan.windows(b, x, hint)
    top = reduce(b, "ReduceMax", win, [k], keepdims=0, name=f"{hint}/max")
    if nan is None:
        return top
    isnan = b.op(
        "Cast", b.op("IsNaN", win, name=f"{hint}/isnan"), to=DTYPES[work], name=f"{hint}/isnan"
    )
    flag = reduce(b, "ReduceMax", isnan, [k], keepdims=0, name=f"{hint}/has_nan")
    flag = b.op("Cast", flag, to=onnx.TensorProto.BOOL, name=f"{hint}/has_nan")
    return str(b.op("Where", flag, nan.name(), top, name=f"{hint}/nan"))


def _window_argmax(
    b: GraphBuilder, plan: AxisPlan, win: Num, taps: Num, big: Num, nan: Num | None, hint: str
) -> tuple[str, Num]:
    """Maxima and torch's flat indices along the plan's tap axis.

    ``taps`` holds each tap's flat plane index ``p`` (in a float dtype holding every code
    exactly); codes ``big - p`` (taps equal to the maximum) and, with ``nan``, ``big + 1 + p``
    (NaN taps) make the largest code torch's choice: the last NaN, else the first maximum in
    row-major order, whichever axis is reduced first.
    """
    k = plan.axis + 1
    codes = taps.dtype
    top = Num(
        b, reduce(b, "ReduceMax", win.name(), [k], keepdims=1, name=f"{hint}/max"), win.dtype, hint
    )
    code = win.eq(top).cast(codes) * (big - taps)
    if nan is not None:  # a NaN tap never equals the maximum: the two codes never add up
        isnan = Num(b, str(b.op("IsNaN", win.name(), name=f"{hint}/isnan")), "bool", hint)
        code = code + isnan.cast(codes) * (taps + (big + 1))
    best = Num(
        b, reduce(b, "ReduceMax", code.name(), [k], keepdims=0, name=f"{hint}/best"), codes, hint
    )
    top0 = Num(
        b,
        str(b.op("Squeeze", top.name(), b.ints([k], f"{hint}/axes"), name=f"{hint}/max")),
        win.dtype,
        hint,
    )
    if nan is None:
        return top0.name(), big - best
    has_nan = Num(
        b, str(b.op("Greater", best.name(), big.name(), name=f"{hint}/has_nan")), "bool", hint
    )
    index = has_nan.where(best - (big + 1), big - best)
    return has_nan.where(nan, top0).name(), index
