"""``Dropout``, ``Dropout2d`` and ``Identity``: layers that return their input in a graph.

In eval mode (the default) dropout is the identity, as in torch: each lowers to one ONNX
``Identity`` (onnxruntime removes it). Training-mode dropout with ``p > 0`` is random, and a
model cannot be built with it: calling such a layer raises at build time (``p = 0`` is the
identity in both modes).

>>> from onnxlayers.builder import Input
>>> x = Input("x", ("N", 3, 8, 8))
>>> Dropout2d(0.2)(Dropout(0.5)(Identity(54, unused=True)(x))).shape
('N', 3, 8, 8)
>>> try:
...     Dropout(0.5).train()(x)
... except LayerArgumentError as e:
...     print(e)
Dropout: training-mode dropout is random; call .eval() (got p=0.5 in training mode; ...)
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import LayerArgumentError, LayerTypeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer
from ..registry import register_layer
from ..tensor import DTYPES, TensorSpec

ANY_DTYPE = tuple(DTYPES)


class _PassThrough(Layer):
    """A one-input layer whose output is its input (one ``Identity`` node)."""

    copies = True

    dtypes = ANY_DTYPE

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        self.check_input(inputs[0])
        return [inputs[0]]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        g.op("Identity", c.inputs[0], outputs=c.outputs, name=c.node)


@register_layer
class Identity(_PassThrough):
    """``Identity(*args, **kwargs)``: returns its input; like torch's, ignores every argument.

    >>> Identity(3, hidden=4).torch_args()
    {}
    """

    examples = (Example({}, ((2, 3),)), Example({"unused": 54}, ((2, 3, 4, 4),)))
    torch_functions = ()

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name)


class _Dropout(_PassThrough):
    """Shared by ``Dropout`` and ``Dropout2d``: torch's argument check and the mode rule."""

    p: float
    inplace: bool

    def __init__(self, p: float = 0.5, inplace: bool = False, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(p, bool):
            p = int(p)  # torch compares it with 0 and 1: True is p=1
        if not isinstance(p, numbers.Real):
            raise LayerTypeError(
                f"{self.label}: p={p!r} is invalid; expected a real number between 0 and 1"
            )
        if p < 0 or p > 1:
            raise LayerArgumentError(
                f"{self.label}: dropout probability has to be between 0 and 1, but got {p!r}"
            )
        self.p = float(p)
        self.inplace = bool(inplace)

    def torch_args(self) -> dict[str, Any]:
        return {"p": self.p, "inplace": self.inplace}

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self._check_mode(self.training)
        return super().infer(inputs, **call_args)

    def _check_mode(self, training: bool) -> None:
        if training and self.p != 0:
            raise LayerArgumentError(
                f"{self.label}: training-mode dropout is random; call .eval() (got "
                f"p={self.p!r} in training mode; only p=0 is deterministic)"
            )

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        self._check_mode(c.training)
        super().emit(g, c)


@register_layer
class Dropout(_Dropout):
    """``Dropout(p=0.5, inplace=False)``: the identity in eval mode (any input).

    >>> Dropout(0.25).torch_args()
    {'p': 0.25, 'inplace': False}
    """

    examples = (Example({"p": 0.3}, ((2, 3),)), Example({}, ((2, 3, 4, 4),)))
    torch_functions = ("F.dropout",)


@register_layer
class Dropout2d(_Dropout):
    """``Dropout2d(p=0.5, inplace=False)``: the identity in eval mode.

    torch means it for (N, C, H, W) or (C, H, W) inputs and warns (then returns the input in
    eval mode) for other ranks; so do we, at build time.

    >>> from onnxlayers.builder import Input
    >>> Dropout2d()(Input("x", (3, 4, 4))).shape
    (3, 4, 4)
    """

    examples = (Example({"p": 0.2}, ((2, 3, 4, 4),)), Example({"inplace": True}, ((2, 3, 4, 5),)))
    torch_functions = ("F.dropout2d",)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        specs = super().infer(inputs, **call_args)
        rank = specs[0].ndim
        if rank not in (3, 4):
            warnings.warn(
                f"{self.label}: received a {rank}-D input; dropout2d is meant for 3-D or 4-D "
                "inputs (torch warns too, and returns the input in eval mode)",
                UserWarning,
                stacklevel=3,
            )
        return specs
