"""``Parameter``: a module's own tensor used as a value (``self.layer_scale * x``).

``from_torch`` turns every ``get_attr`` tensor that a forward uses as an operand (not as a
weight of a known function) into one of these: no inputs, one output, its value a weight.

>>> import numpy as np
>>> p = Parameter((3, 1, 1))
>>> p.weight = np.ones((3, 1, 1), np.float32)
>>> p().shape
(3, 1, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import LayerArgumentError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..registry import register_layer
from ..tensor import TensorSpec


@register_layer
class Parameter(Layer):
    """``Parameter(shape)``: outputs its weight, a tensor of ``shape`` (zeros until set)."""

    examples = (Example({"shape": [3, 1, 1]}, inputs=()), Example({"shape": [4]}, inputs=()))

    def __init__(self, shape: Sequence[int], *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(shape, (list, tuple)):
            raise LayerArgumentError(
                f"{self.label}: shape={shape!r} is invalid; expected a sequence of ints >= 0"
            )
        self.shape = tuple(
            check_number(
                self.label, f"shape[{i}]", d, kind=int, ok=lambda v: v >= 0, allowed="an int >= 0"
            )
            for i, d in enumerate(shape)
        )
        self.weight = np.zeros(self.shape, np.float32)

    def torch_args(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weight": self.shape}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        """A torch module holding one parameter ``weight`` and returning it."""
        import torch

        class _Parameter(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.zeros(tuple(args["shape"])))

            def forward(self) -> Any:
                return self.weight

        return _Parameter()

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 0)
        return [TensorSpec(self.shape, self.weight.dtype.name)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        g.op("Identity", c.weights["weight"], outputs=c.outputs, name=c.node)
