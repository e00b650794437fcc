"""``Flatten(start_dim=1, end_dim=-1)``: torch's flatten, lowered to one ``Reshape``.

>>> from onnxlayers.builder import Input
>>> Flatten()(Input("x", ("N", 3, 4, 5))).shape
('N', 60)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..registry import register_layer
from ..tensor import Dim, TensorSpec


@register_layer
class Flatten(Layer):
    """``Flatten(start_dim=1, end_dim=-1)``: merge dims start_dim..end_dim into one."""

    copies = True

    examples = (
        Example(inputs=((2, 3, 4, 5),)),
        Example({"start_dim": 0, "end_dim": 2}, ((2, 3, 4, 5),)),
    )
    torch_functions = ("torch.flatten", "Tensor.flatten")

    def __init__(self, start_dim: int = 1, end_dim: int = -1, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.start_dim = check_number("Flatten", "start_dim", start_dim, kind=int, allowed="an int")
        self.end_dim = check_number("Flatten", "end_dim", end_dim, kind=int, allowed="an int")

    def torch_args(self) -> dict[str, Any]:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def span(self, rank: int) -> tuple[int, int]:
        """Normalised (start, end) for an input of ``rank``, validated as torch does."""
        wrap = max(rank, 1)
        bounds = []
        for arg, v in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if not -wrap <= v < wrap:
                raise ShapeError(
                    f"{self.label}: {arg}={v!r} is out of range for an input of rank {rank}; "
                    f"expected {-wrap} to {wrap - 1}"
                )
            bounds.append(v % wrap)
        start, end = bounds
        if start > end:
            raise ShapeError(
                f"{self.label}: start_dim={self.start_dim!r} comes after end_dim="
                f"{self.end_dim!r} for an input of rank {rank}"
            )
        return start, end

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        start, end = self.span(x.ndim)
        if x.ndim == 0:
            return [TensorSpec((1,), x.dtype)]
        merged = x.shape[start : end + 1]
        dim: Dim = math.prod(merged) if all(isinstance(d, int) for d in merged) else None  # type: ignore[arg-type]
        return [TensorSpec((*x.shape[:start], dim, *x.shape[end + 1 :]), x.dtype)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        x, out = c.inputs[0], c.outputs[0]
        target = c.out_specs[0].shape
        start, end = self.span(c.specs[0].ndim)
        tail = target[start:]
        if all(isinstance(d, int) for d in tail):
            # Leading dims are copied with 0 (Reshape's default allowzero=0).
            shape = g.ints([0] * start + list(tail), f"{c.node}/shape")  # type: ignore[arg-type]
        else:
            shape = self._dynamic_shape(g, c, start, end)
        g.op("Reshape", x, shape, outputs=[out], name=c.node)

    def _dynamic_shape(self, g: GraphBuilder, c: LowerCall, start: int, end: int) -> str:
        rank = c.specs[0].ndim
        parts = []
        if start > 0:
            parts.append(g.op("Shape", c.inputs[0], name=f"{c.node}/lead", end=start))
        middle = g.op("Shape", c.inputs[0], name=f"{c.node}/merged", start=start, end=end + 1)
        parts.append(g.op("ReduceProd", middle, name=f"{c.node}/prod", keepdims=1))
        if end + 1 < rank:
            parts.append(g.op("Shape", c.inputs[0], name=f"{c.node}/trail", start=end + 1))
        return str(g.op("Concat", *parts, name=f"{c.node}/dims", axis=0))
