"""``Linear``: torch's ``nn.Linear`` (y = x @ weight.T + bias) on inputs of any rank >= 1.

>>> import numpy as np
>>> from onnxlayers.builder import Input
>>> lin = Linear(3, 4, bias=False)
>>> lin.weight = np.repeat(np.arange(1.0, 5.0)[:, None], 3, axis=1)
>>> lin(Input("x", (3,))).shape
(4,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..registry import register_layer
from ..tensor import TensorSpec, normalize_dtype


def uniform_init(
    shape: tuple[int, ...], bound: float, rng: np.random.Generator, dtype: str
) -> np.ndarray:
    """torch's ``uniform_(-bound, bound)`` (a different random stream, same distribution)."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


@register_layer
class Linear(Layer):
    """``Linear(in_features, out_features, bias=True, device=None, dtype=None)``.

    Weights start as torch initialises them (U(-1/sqrt(in), 1/sqrt(in)) for weight and bias);
    pass ``seed=`` for reproducible values. ``device`` is accepted for torch compatibility and
    ignored: weights live in the ONNX file.
    """

    examples = (
        Example({"in_features": 5, "out_features": 4}, ((2, 3, 5),)),
        Example({"in_features": 5, "out_features": 4, "bias": False}, ((2, 5),)),
    )
    torch_functions = ("F.linear",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.in_features = check_number(
            "Linear",
            "in_features",
            in_features,
            kind=int,
            ok=lambda v: v >= 0,
            allowed="an int >= 0",
        )
        self.out_features = check_number(
            "Linear",
            "out_features",
            out_features,
            kind=int,
            ok=lambda v: v >= 0,
            allowed="an int >= 0",
        )
        self.has_bias = bool(bias)
        pdtype = "float32" if dtype is None else normalize_dtype(dtype, where="Linear")
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.in_features) if self.in_features > 0 else 0.0
        self.weight = uniform_init((self.out_features, self.in_features), bound, rng, pdtype)
        if self.has_bias:
            self.bias = uniform_init((self.out_features,), bound, rng, pdtype)

    def torch_args(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.has_bias,
        }

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {"weight": (self.out_features, self.in_features)}
        if self.has_bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        if x.ndim == 0:
            raise ShapeError(f"{self.label}: input is 0-d; expected rank >= 1 (torch rejects it)")
        last = x.shape[-1]
        if isinstance(last, int) and last != self.in_features:
            raise ShapeError(
                f"{self.label}: input's last dim is {last!r} (shape {x.shape!r}); expected "
                f"in_features={self.in_features}"
            )
        return [TensorSpec((*x.shape[:-1], self.out_features), x.dtype)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        x, w, out = c.inputs[0], c.weights["weight"], c.outputs[0]
        if c.specs[0].ndim == 2:  # Gemm is rank-2 only, and MLAS's fastest path
            args = [x, w, c.weights["bias"]] if self.has_bias else [x, w]
            g.op("Gemm", *args, outputs=[out], transB=1, name=c.node)
            return
        wt = g.op("Transpose", w, perm=[1, 0], name=f"{c.node}/weight_t")
        if not self.has_bias:
            g.op("MatMul", x, wt, outputs=[out], name=c.node)
            return
        y = g.op("MatMul", x, wt, name=c.node)
        g.op("Add", y, c.weights["bias"], outputs=[out], name=f"{c.node}/bias")
