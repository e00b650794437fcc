"""``Add``: element-wise ``a + b`` of two tensors with torch's broadcasting (``+``, ``torch.add``).

It is what a residual connection lowers to: one ONNX ``Add``.

>>> from onnxlayers.builder import Input
>>> Add()(Input("a", ("N", 3, 4)), Input("b", (4,))).shape
('N', 3, 4)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ..errors import LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer
from ..registry import register_layer
from ..tensor import Dim, TensorSpec


def broadcast_dim(a: Dim, b: Dim) -> Dim | bool:
    """The broadcast of two dims; False when they can never broadcast (two static sizes).

    Static 1 gives way to the other dim; a static size other than 1 wins over a dynamic dim
    (the dynamic one must then be 1 or that size at run time); two different dynamic dims
    give an unknown dim (None).

    >>> broadcast_dim(1, "N"), broadcast_dim("N", 3), broadcast_dim("N", "M"), broadcast_dim(2, 3)
    ('N', 3, None, False)
    """
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int):
        return False
    if isinstance(a, int) or isinstance(b, int):
        return a if isinstance(a, int) else b
    return None


def broadcast_shapes(a: Sequence[Dim], b: Sequence[Dim], *, where: str) -> tuple[Dim, ...]:
    """torch's broadcasting of two shapes (aligned on the right); raise where static dims clash.

    >>> broadcast_shapes(("N", 1, 5), (3, 1), where="Add")
    ('N', 3, 5)
    """
    rank = max(len(a), len(b))
    pa = (1,) * (rank - len(a)) + tuple(a)
    pb = (1,) * (rank - len(b)) + tuple(b)
    out: list[Dim] = []
    for i, (da, db) in enumerate(zip(pa, pb, strict=True)):
        d = broadcast_dim(da, db)
        if d is False:
            raise ShapeError(
                f"{where}: shapes {tuple(a)!r} and {tuple(b)!r} do not broadcast (dim {i} of "
                f"the aligned shapes is {da!r} vs {db!r}); expected equal sizes or a 1"
            )
        out.append(d)
    return tuple(out)


class Broadcasting(Layer):
    """A layer of two inputs of one dtype combined element-wise with torch's broadcasting into
    one ONNX op (:attr:`onnx_op`); its torch twin is :attr:`torch_op`."""

    onnx_op: ClassVar[str]
    torch_op: ClassVar[Callable[[Any, Any], Any]]

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        return cls.torch_op

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 2)
        a, b = inputs
        self.check_input(a, what="input 0")
        self.check_input(b, what="input 1")
        if a.dtype != b.dtype:
            raise LayerTypeError(
                f"{self.label}: inputs have dtypes {a.dtype!r} and {b.dtype!r}; expected one "
                "dtype (cast one input first)"
            )
        return [TensorSpec(broadcast_shapes(a.shape, b.shape, where=self.label), a.dtype)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        g.op(self.onnx_op, c.inputs[0], c.inputs[1], outputs=c.outputs, name=c.node)


@register_layer
class Add(Broadcasting):
    """``Add()``: called on two tensors ``a`` and ``b`` of one float dtype, returns ``a + b``."""

    onnx_op = "Add"
    torch_op = operator.add
    examples = (Example(inputs=((2, 3, 4), (3, 1))),)
    torch_functions = ("operator.add", "operator.iadd", "torch.add", "Tensor.add")
