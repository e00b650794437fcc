"""Element-wise activations: ``Sigmoid``, ``Tanh``, ``ReLU``, ``LeakyReLU``, ``PReLU``.

>>> from onnxlayers.builder import Input
>>> LeakyReLU(0.2)(Input("x", (2, 3))).shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number, elementwise
from ..registry import register_layer
from ..tensor import TensorSpec, normalize_dtype


class _Unary(Layer):
    """A parameter-free element-wise layer lowered to one ONNX op."""

    onnx_op: ClassVar[str]

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        return elementwise(inputs, self)

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        g.op(self.onnx_op, c.inputs[0], outputs=c.outputs, name=c.node)


@register_layer
class Sigmoid(_Unary):
    """``Sigmoid()``: 1 / (1 + exp(-x))."""

    onnx_op = "Sigmoid"
    floor = 0.0
    examples = (Example(inputs=((2, 3),)),)
    torch_functions = ("torch.sigmoid", "F.sigmoid", "Tensor.sigmoid")


@register_layer
class Tanh(_Unary):
    """``Tanh()``."""

    onnx_op = "Tanh"
    floor = -1.0
    examples = (Example(inputs=((2, 3),)),)
    torch_functions = ("torch.tanh", "F.tanh", "Tensor.tanh")


@register_layer
class ReLU(_Unary):
    """``ReLU(inplace=False)``; ``inplace`` is accepted and has no meaning in a graph."""

    onnx_op = "Relu"
    floor = 0.0
    examples = (Example(inputs=((2, 3),)), Example({"inplace": True}, ((2, 3, 4, 4),)))
    torch_functions = ("F.relu", "torch.relu", "Tensor.relu")

    def __init__(self, inplace: bool = False, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.inplace = bool(inplace)


def lower_slope(g: GraphBuilder, c: LowerCall, slope: np.ndarray, slope_name: str | None) -> None:
    """Emit ``x > 0 ? x : slope * x`` (torch's formula) exactly, as fast as the slopes allow.

    ``slope`` holds the values (already shaped to broadcast against the input); ``slope_name``
    is an initializer holding them in the input's dtype, or None to store them as a constant.
    ``Max(x, s*x)`` equals the formula when every slope is in (-inf, 0) or (0, 1] and
    ``Min(x, s*x)`` when every slope is >= 1 (NaN propagates through both); a slope of 0 or a
    non-finite slope would turn ``+inf`` into NaN there, so those get the ``Where`` form.
    ``PRelu`` itself is avoided: onnxruntime's kernel is ~13x slower than torch.
    """
    x, out = c.inputs[0], c.outputs[0]
    s = slope_name or g.const(slope, c.dtype, f"{c.node}/slope")
    finite = bool(np.all(np.isfinite(slope)))
    scaled = g.op("Mul", x, s, name=f"{c.node}/scaled")
    if finite and np.all((slope != 0) & (slope <= 1)):
        g.op("Max", x, scaled, outputs=[out], name=c.node)
    elif finite and np.all(slope >= 1):
        g.op("Min", x, scaled, outputs=[out], name=c.node)
    else:
        zero = g.const(0, c.dtype, f"{c.node}/zero")
        positive = g.op("Greater", x, zero, name=f"{c.node}/positive")
        g.op("Where", positive, x, scaled, outputs=[out], name=c.node)


def lower_leaky(g: GraphBuilder, c: LowerCall, slope: float) -> None:
    """``LeakyRelu(alpha=slope)``, or :func:`lower_slope` where onnxruntime has no kernel."""
    if c.dtype == "float64":  # onnxruntime's CPU LeakyRelu has float and float16 kernels only
        lower_slope(g, c, np.asarray(slope, dtype=np.float64), None)
    else:
        g.op("LeakyRelu", c.inputs[0], outputs=c.outputs, alpha=float(slope), name=c.node)


@register_layer
class LeakyReLU(Layer):
    """``LeakyReLU(negative_slope=0.01, inplace=False)``."""

    examples = (Example({"negative_slope": 0.2}, ((2, 3),)),)
    torch_functions = ("F.leaky_relu",)

    def __init__(
        self, negative_slope: float = 0.01, inplace: bool = False, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.negative_slope = float(
            check_number("LeakyReLU", "negative_slope", negative_slope, allowed="a real number")
        )
        self.inplace = bool(inplace)

    def torch_args(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        return elementwise(inputs, self)

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        lower_leaky(g, c, self.negative_slope)


@register_layer
class PReLU(Layer):
    """``PReLU(num_parameters=1, init=0.25, device=None, dtype=None)``.

    With ``num_parameters=C > 1`` the slope applies per channel (dim 1) of an input of rank
    >= 2, as in torch; one parameter applies everywhere, on any rank.
    """

    examples = (
        Example({"num_parameters": 3, "init": 0.3}, ((2, 3, 4),)),
        Example({}, ((2, 3, 4, 4),)),
    )
    torch_functions = ("F.prelu", "torch.prelu")

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        device: Any = None,
        dtype: Any = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.num_parameters = check_number(
            "PReLU",
            "num_parameters",
            num_parameters,
            kind=int,
            ok=lambda v: v >= 1,
            allowed="an int >= 1",
        )
        self.init = float(check_number("PReLU", "init", init, allowed="a real number"))
        pdtype = "float32" if dtype is None else normalize_dtype(dtype, where="PReLU")
        self.weight = np.full((self.num_parameters,), self.init, dtype=pdtype)

    def torch_args(self) -> dict[str, Any]:
        return {"num_parameters": self.num_parameters, "init": self.init}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.num_parameters,)}

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        if self.num_parameters > 1:
            channels = x.shape[1] if x.ndim >= 2 else 1
            if x.ndim < 2 or (isinstance(channels, int) and channels != self.num_parameters):
                raise ShapeError(
                    f"{self.label}: num_parameters={self.num_parameters} needs an input of rank "
                    f">= 2 with {self.num_parameters} channels (dim 1); got shape {x.shape!r}"
                )
        return [x]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        weight = np.asarray(self.weight, dtype=c.dtype)
        rank = c.specs[0].ndim
        # One slope: a scalar broadcasts against any rank, 0-d included. C slopes: (C,) would
        # broadcast against the last axis in ONNX, so shape them (C, 1, ..., 1).
        one = self.num_parameters == 1
        shaped = weight.reshape(() if one else (self.num_parameters,) + (1,) * (rank - 2))
        name = g.op(
            "Reshape",
            c.weights["weight"],
            g.ints(shaped.shape, f"{c.node}/shape"),
            name=f"{c.node}/slope",
        )
        lower_slope(g, c, shaped, name)
