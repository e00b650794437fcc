"""``RReLU(lower=1/8, upper=1/3, inplace=False)``: randomized leaky ReLU.

In eval mode (the default) it is exactly ``LeakyReLU((lower + upper) / 2)``: one ``LeakyRelu``
node. In training mode (``.train()``) negatives are scaled by per-element slopes drawn from
``U(lower, upper)``, through our ``ai.onnxlayers::RReLU`` op
(:mod:`onnxlayers.custom_ops.rrelu`); ``seed=`` makes every new session repeat the same
sequence, while successive runs of one session differ, as a torch generator advances (each
call of a seeded layer starts from that seed: a layer called twice on equal shapes repeats its
slopes). Training mode needs ``ai.onnx`` opset <= 21: onnxruntime 1.32 has no random kernels at
22, so ``to_onnx(opset=22)`` refuses it while building.

``return_noise=True`` makes a call return ``(y, noise)``: ``noise`` is torch's noise buffer, the
slope of each element (``r`` where ``x <= 0``, else 1; in eval mode the fixed slope). Make it a
model output and ``verify()`` checks a random training run exactly: the oracle replays the
slopes the run drew.

>>> from onnxlayers.builder import Input
>>> RReLU(0.1, 0.3)(Input("x", (2, 3))).shape
(2, 3)
>>> y, noise = RReLU(return_noise=True, seed=0).train()(Input("x", (2, 3)))
>>> noise.shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from onnxlayers.custom_ops import rrelu as op
from onnxlayers.custom_ops._domain import CustomOpError

from ..errors import LayerArgumentError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number, elementwise
from ..registry import register_layer
from ..tensor import TensorSpec
from .activations import lower_leaky


@register_layer
class RReLU(Layer):
    """``RReLU(lower=1/8, upper=1/3, inplace=False, *, seed=None, return_noise=False)``."""

    examples = (Example({"lower": 0.1, "upper": 0.4}, ((2, 3),)),)
    torch_functions = ("F.rrelu", "torch.rrelu")

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        """torch's ``nn.RReLU`` (``seed`` and ``return_noise`` are ours alone)."""
        import torch

        kept = {k: v for k, v in args.items() if k not in ("seed", "return_noise")}
        return torch.nn.RReLU(**kept)

    def __init__(
        self,
        lower: float = 1.0 / 8,
        upper: float = 1.0 / 3,
        inplace: bool = False,
        *,
        seed: int | None = None,
        return_noise: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.lower = float(check_number(self.label, "lower", lower, allowed="a real number"))
        self.upper = float(check_number(self.label, "upper", upper, allowed="a real number"))
        if self.lower > self.upper:
            raise LayerArgumentError(
                f"{self.label}: lower={lower!r} is greater than upper={upper!r}; expected "
                "lower <= upper"
            )
        self.inplace = bool(inplace)
        if seed is not None:
            check_number(
                self.label,
                "seed",
                seed,
                kind=int,
                ok=lambda v: 0 <= v <= 2**24,
                allowed=f"None or an int in [0, {2**24}] (ONNX keeps seeds as float32)",
            )
        self.seed = seed
        self.return_noise = bool(return_noise)

    def torch_args(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "seed": self.seed,
            "return_noise": self.return_noise,
        }

    @property
    def slope(self) -> float:
        """The eval-mode slope, ``(lower + upper) / 2``."""
        return (self.lower + self.upper) / 2

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        specs = elementwise(inputs, self)
        return specs * 2 if self.return_noise else specs

    def emit_eval(self, g: GraphBuilder, c: LowerCall) -> None:
        """``LeakyRelu(slope)``, and the constant slopes where they are an output."""
        lower_leaky(g, replace(c, outputs=c.outputs[:1], out_specs=c.out_specs[:1]), self.slope)
        if self.return_noise:
            x = c.inputs[0]
            nonpositive = g.op(
                "LessOrEqual",
                x,
                g.const(0, c.dtype, f"{c.node}/zero"),
                name=f"{c.node}/nonpositive",
            )
            g.op(
                "Where",
                nonpositive,
                g.const(self.slope, c.dtype, f"{c.node}/slope"),
                g.const(1, c.dtype, f"{c.node}/one"),
                outputs=[c.outputs[1]],
                name=f"{c.node}/noise",
            )

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        if not c.training:
            self.emit_eval(g, c)
            return
        try:
            op.check_opset(g.opset, self.label)
        except CustomOpError as e:
            raise LayerArgumentError(str(e)) from e
        op.emit(
            g,
            c.inputs[0],
            c.outputs,
            lower=self.lower,
            upper=self.upper,
            seed=self.seed,
            name=c.node,
        )
