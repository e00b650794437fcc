"""``Softmax`` and ``LogSoftmax``: torch's ``nn.Softmax(dim=None)`` and ``nn.LogSoftmax(dim=None)``.

``dim=None`` is torch's deprecated implicit choice (``torch.nn.functional._get_softmax_dim``):
dim 0 for inputs of rank 0, 1 or 3, else dim 1, with a UserWarning when the layer is called.
A dim outside ``[-rank, rank - 1]`` (``[-1, 0]`` for a 0-d input) is refused when the layer is
called, as torch refuses it when the module runs.

>>> from onnxlayers.builder import Input
>>> Softmax(dim=-1)(Input("x", ("N", 10))).shape
('N', 10)

Lowering (onnxruntime 1.32, CPU): ``Softmax``/``LogSoftmax`` along the last axis run MLAS's
fused kernel (1.7 ms for 1.6M floats), in float32 (and float16 via float32). onnxruntime's
float64 ``LogSoftmax`` gives -inf rather than NaN beside a +inf, so float64 uses the formula.
Along any other axis onnxruntime transposes around its kernel and takes 27-35 ms (one thread)
for the same tensor (dim 1 of NCHW), so there the graph computes torch's formula directly:
``d = x - ReduceMax(x)``, ``exp(d) / ReduceSum(exp(d))`` or ``d - log(ReduceSum(exp(d)))``
(3-3.5 ms). Both give torch's NaN rows: a NaN, +inf, or a row of -inf only, makes the whole row
NaN. A 0-d input is its own row: ``exp(x - x)`` (1, or NaN for a non-finite x) and ``x - x``.
float16 is computed in float32 and rounded once, as torch does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

from ..errors import ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number, elementwise
from ..registry import register_layer
from ..tensor import TensorSpec
from .pointwise import Work, opmath

__all__ = ["LogSoftmax", "Softmax", "softmax_dim"]


def softmax_dim(layer: str, dim: int | None, ndim: int, name: str = "softmax") -> int:
    """The axis (``0 <= axis < max(ndim, 1)``) torch's ``softmax(input, dim)`` works along.

    ``dim=None`` warns and picks torch's legacy implicit dim; an out-of-range dim raises.

    >>> softmax_dim("Softmax", -1, 4)
    3
    """
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. Change the call to "
            "include dim=X as an argument.",
            UserWarning,
            stacklevel=4,
        )
        dim = 0 if ndim in (0, 1, 3) else 1
    span = max(ndim, 1)
    if not -span <= dim < span:
        raise ShapeError(
            f"{layer}: dim={dim!r} is out of range for an input of rank {ndim}; expected a dim "
            f"in [{-span}, {span - 1}]"
        )
    return dim % span


class _SoftmaxBase(Layer):
    log: ClassVar[bool]
    onnx_op: ClassVar[str]

    def __init__(self, dim: int | None = None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        kind = type(self).__name__
        self.dim: int | None = (
            None
            if dim is None
            else check_number(kind, "dim", dim, kind=int, allowed="an int or None")
        )

    def torch_args(self) -> dict[str, Any]:
        return {"dim": self.dim}

    def axis(self, ndim: int) -> int:
        name = "log_softmax" if self.log else "softmax"
        return softmax_dim(self.label, self.dim, ndim, name)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        specs = elementwise(inputs, self)
        self.axis(inputs[0].ndim)
        return specs

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        spec = c.specs[0]
        w = Work(g, c, opmath(c.dtype))
        if 0 in spec.shape:  # nothing to compute, and no empty reductions
            w.finish(c.inputs[0], c.outputs[0])
            return
        x = c.inputs[0] if w.dtype == c.dtype else w.cast(c.inputs[0], w.dtype)
        y = self.lower(w, x, spec.ndim)
        if w.dtype != c.dtype:
            y = w.cast(y, c.dtype)
        w.finish(y, c.outputs[0])

    def lower(self, w: Work, x: str, ndim: int) -> str:
        with warnings.catch_warnings():  # infer warned already
            warnings.simplefilter("ignore")
            axis = self.axis(ndim)
        if ndim == 0:
            d = w.op("Sub", x, x)
            return d if self.log else w.op("Exp", d)
        if axis == ndim - 1 and w.dtype == "float32":
            return w.op(self.onnx_op, x, axis=axis)
        axes = w.ints([axis])
        if w.g.opset >= 18:
            top = w.op("ReduceMax", x, axes, keepdims=1)
        else:
            top = w.op("ReduceMax", x, axes=[axis], keepdims=1)
        d = w.op("Sub", x, top)
        e = w.op("Exp", d)
        total = w.op("ReduceSum", e, axes, keepdims=1)
        if self.log:
            return w.op("Sub", d, w.op("Log", total))
        return w.op("Div", e, total)


@register_layer
class Softmax(_SoftmaxBase):
    """``Softmax(dim=None)``: ``exp(x - max) / sum(exp(x - max))`` along ``dim``.

    >>> from onnxlayers.builder import Input
    >>> Softmax(1)(Input("x", (2, 3, 4))).shape
    (2, 3, 4)
    """

    log = False
    onnx_op = "Softmax"
    floor = 0.0
    examples = (
        Example({"dim": 1}, ((2, 3, 8, 8),)),
        Example({"dim": -1}, ((2, 5),)),
        Example({"dim": 0}, ((3, 4, 2),)),
    )
    torch_functions = ("F.softmax", "torch.softmax", "Tensor.softmax")


@register_layer
class LogSoftmax(_SoftmaxBase):
    """``LogSoftmax(dim=None)``: ``x - max - log(sum(exp(x - max)))`` along ``dim``.

    >>> from onnxlayers.builder import Input
    >>> LogSoftmax(-1)(Input("x", ("N", 10))).shape
    ('N', 10)
    """

    log = True
    onnx_op = "LogSoftmax"
    examples = (
        Example({"dim": 1}, ((2, 3, 8, 8),)),
        Example({"dim": -1}, ((2, 5),)),
        Example({"dim": 2}, ((2, 4, 3),)),
    )
    torch_functions = ("F.log_softmax", "torch.log_softmax", "Tensor.log_softmax")
