"""``RReLU(lower=1/8, upper=1/3, inplace=False)``: randomized leaky ReLU.

In eval mode (the default) it is exactly ``LeakyReLU((lower + upper) / 2)``.

>>> from onnxlayers.builder import Input
>>> RReLU(0.1, 0.3)(Input("x", (2, 3))).shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import LayerArgumentError
from ..graph import GraphBuilder, LowerCall
from ..layer import Layer, check_number, elementwise
from ..registry import register_layer
from ..tensor import TensorSpec
from .activations import lower_leaky


@register_layer
class RReLU(Layer):
    """``RReLU(lower=1/8, upper=1/3, inplace=False, *, seed=None)``."""

    def __init__(
        self,
        lower: float = 1.0 / 8,
        upper: float = 1.0 / 3,
        inplace: bool = False,
        *,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.lower = float(check_number("RReLU", "lower", lower, allowed="a real number"))
        self.upper = float(check_number("RReLU", "upper", upper, allowed="a real number"))
        if self.lower > self.upper:
            raise LayerArgumentError(
                f"RReLU: lower={lower!r} is greater than upper={upper!r}; expected lower <= upper"
            )
        self.inplace = bool(inplace)
        self.seed = seed

    def torch_args(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper, "seed": self.seed}

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        return elementwise(inputs, self)

    def emit_eval(self, g: GraphBuilder, c: LowerCall) -> None:
        lower_leaky(g, c, (self.lower + self.upper) / 2)

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        if c.training:
            raise NotImplementedError("RReLU training mode lowers to the ai.onnxlayers domain")
        self.emit_eval(g, c)
