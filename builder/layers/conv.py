"""``Conv2d`` and ``ConvTranspose2d``: torch's 2-D convolutions, lowered to ONNX ``Conv`` /
``ConvTranspose`` with explicit pads.

Constructor arguments are torch's (an int or a tuple of two ints; ``padding`` of ``Conv2d`` may
also be ``"same"`` or ``"valid"``); inputs are (N, C, H, W) or unbatched (C, H, W), float32,
float64 or float16; the batch and the spatial dims may be dynamic.

>>> from onnxlayers.builder import Input
>>> x = Input("x", ("N", 3, 32, 32))
>>> Conv2d(3, 16, 3, stride=2, padding=1, seed=0)(x).shape
('N', 16, 16, 16)
>>> Conv2d(3, 8, 4, padding="same", padding_mode="reflect", seed=0)(x).shape
('N', 8, 32, 32)
>>> up = ConvTranspose2d(16, 8, 3, stride=2, padding=1, seed=0)
>>> up(Input("y", ("N", 16, 16, 16)), output_size=(32, 32)).shape
('N', 8, 32, 32)

How each case is lowered (measured on onnxruntime 1.32, CPU):

* **Conv2d, float32 / float16**: one ``Conv`` node with explicit ``pads`` (never ``auto_pad``),
  bias as its third input, so onnxruntime's graph optimiser folds a following
  ``BatchNormalization`` into it and fuses a following ``Relu``. ``padding="same"`` with an even
  dilated kernel pads asymmetrically like torch (``total // 2`` before, the rest after).
  ``padding_mode`` reflect / replicate / circular is torch's ``F.pad`` then a convolution with
  zero padding: ``Pad(mode="reflect" / "edge" / "wrap")`` then ``Conv``; below opset 19
  (no ``wrap``) and for target="cuda" circular padding is two ``Slice`` + ``Concat`` per axis.
* **ConvTranspose2d, float32 / float16**: one ``ConvTranspose`` with explicit pads. torch's
  ``output_padding`` is written as a smaller end pad (``pads_end = padding - output_padding``)
  where the padding allows it, as ``output_padding`` where it is below the stride, and
  otherwise (onnxruntime refuses ``output_padding >= stride``, which torch accepts when it is
  below the dilation) as zero rows added by ``Pad`` after a bias-free ``ConvTranspose``, the
  bias added last.
* **float64**: onnxruntime's CPU provider has no double ``Conv`` / ``ConvTranspose``. Both
  become an im2col product, channels-last so that every ``Reshape`` only splits or merges
  static trailing dims (no ``-1``: N = 0 and dynamic H/W work): one strided ``Slice`` per
  kernel tap, ``Concat`` to (N, OH, OW, groups, C/groups * kh * kw) and one ``Einsum`` with
  the reshaped weight (all groups at once). The transposed convolution is the same product on
  the stride-dilated input (zeros inserted by ``Gather`` + ``Where``, NaN-safe) padded by the
  dilated kernel minus ``padding`` (a ``Slice`` where that is negative), with the flipped,
  transposed weight; the weight transforms are ops on the initializer that onnxruntime folds
  once. Zeros padding is an explicit ``Pad``.
* **target="cuda"**: the same graphs (every op has a CUDA kernel for every dtype used), but
  circular padding as ``Slice`` + ``Concat`` (onnxruntime's CUDA ``Pad`` has had no ``wrap``
  mode, and its NCHW fast path still has none). The float64 lowering runs on any provider.
* **Rank 3** (unbatched) inputs are ``Unsqueeze``-d to rank 4 and ``Squeeze``-d back.
* **Dynamic C / H / W**: torch's size checks cannot run while building, so the graph checks
  them (``C == in_channels``, H and W at least the smallest size torch accepts) in a ``Range``
  node whose name states the rule; onnxruntime's error names it and nothing downstream runs.

Rejected like torch, at construction (where torch itself fails only in ``forward``, for
every input): channels or groups < 1, channels not divisible by
groups, kernel/stride/dilation < 1, negative padding, an unknown ``padding`` string or
``padding_mode``, ``padding="same"`` with a stride > 1, ``ConvTranspose2d`` with a padding mode
other than zeros. At build time (``infer``): rank other than 3 or 4, wrong channel count, a
zero-sized C/H/W dim, an input smaller than the dilated kernel, reflect / circular padding
wider than torch's ``F.pad`` allows, a transposed output with a dim < 1, ``output_padding``
not below the stride or the dilation, and an ``output_size`` outside torch's range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import onnx

from ..args import Pair, pair
from ..errors import LayerArgumentError, LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..program import ShapeRef
from ..registry import register_layer
from ..tensor import FLOAT_DTYPES, Dim, Shape, TensorSpec, normalize_dtype

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
"""torch's ``padding_mode`` values."""

ONNX_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""torch's ``padding_mode`` -> ONNX ``Pad``'s ``mode`` (bit-exact, see ONNXRUNTIME-FACTS)."""

I64_MAX = 2**63 - 1
Pads = tuple[int, int, int, int]
"""Spatial pads as ONNX writes them: (top, left, bottom, right)."""


# --------------------------------------------------------------------------- arguments
def kernel_pair(layer: str, value: Any) -> Pair:
    """``kernel_size``: an int or a tuple of exactly two ints >= 1 (torch makes a 1-tuple a
    3-D weight that its 2-D convolution then refuses).

    >>> kernel_pair("Conv2d", 3), kernel_pair("Conv2d", [3, 1])
    ((3, 3), (3, 1))
    """
    if isinstance(value, (list, tuple)) and len(value) != 2:
        raise LayerArgumentError(
            f"{layer}: kernel_size={value!r} is invalid; expected a single int or a tuple of "
            "two ints"
        )
    return pair(layer, "kernel_size", value, minimum=1)


def int_pair(layer: str, name: str, value: Any) -> Pair:
    """An int or a 1- or 2-tuple of ints of any sign (checked where torch checks them)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(items) not in (1, 2):
        raise LayerArgumentError(
            f"{layer}: {name}={value!r} is invalid; expected a single int or a tuple of two ints"
        )
    ints = [int(check_number(layer, name, v, kind=int, allowed="an int")) for v in items]
    return ints[0], ints[-1]


def float_dtype(layer: str, dtype: Any) -> str:
    """A parameter dtype: None (float32), a numpy dtype or name, or a ``torch.dtype``.

    >>> float_dtype("Conv2d", None), float_dtype("Conv2d", "float64")
    ('float32', 'float64')
    """
    if dtype is None:
        return "float32"
    if type(dtype).__module__ == "torch":  # torch.float64 -> "float64", without importing torch
        dtype = str(dtype).removeprefix("torch.")
    name = normalize_dtype(dtype, where=layer)
    if name not in FLOAT_DTYPES:
        raise LayerArgumentError(
            f"{layer}: dtype={dtype!r} is invalid; expected one of {list(FLOAT_DTYPES)!r}"
        )
    return name


def kaiming_uniform(
    shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: str
) -> np.ndarray:
    """torch's ``kaiming_uniform_(a=sqrt(5))`` and its bias init: U(-1/sqrt(fan_in), +...)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _static(d: Dim) -> int | None:
    return d if isinstance(d, int) else None


# --------------------------------------------------------------------------- shared base
class _ConvNd(Layer):
    """What both convolutions share: channels, groups, weights and the input checks."""

    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair
    dilation: Pair
    groups: int
    has_bias: bool
    transposed: bool = False

    def _common(
        self,
        in_channels: Any,
        out_channels: Any,
        kernel_size: Any,
        stride: Any,
        dilation: Any,
        groups: Any,
        bias: Any,
    ) -> None:
        label = self.label
        self.in_channels = check_number(
            label, "in_channels", in_channels, kind=int, ok=lambda v: v >= 1, allowed="an int >= 1"
        )
        self.out_channels = check_number(
            label,
            "out_channels",
            out_channels,
            kind=int,
            ok=lambda v: v >= 1,
            allowed="an int >= 1",
        )
        self.groups = check_number(
            label, "groups", groups, kind=int, ok=lambda v: v >= 1, allowed="a positive int"
        )
        for what, n in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise LayerArgumentError(
                    f"{label}: {what}={n!r} is invalid; expected a multiple of "
                    f"groups={self.groups!r} ({what} must be divisible by groups)"
                )
        self.kernel_size = kernel_pair(label, kernel_size)
        self.stride = pair(label, "stride", stride, minimum=1)
        self.dilation = pair(label, "dilation", dilation, minimum=1)
        self.has_bias = bool(bias)

    def _init_params(self, dtype: Any, seed: int | None) -> None:
        pdtype = float_dtype(self.label, dtype)
        rng = np.random.default_rng(seed)
        shape = self.param_shapes()["weight"]
        fan_in = int(np.prod(shape[1:]))  # torch: size(1) * kh * kw, transposed or not
        self.weight = kaiming_uniform(shape, fan_in, rng, pdtype)
        if self.has_bias:
            self.bias = kaiming_uniform((self.out_channels,), fan_in, rng, pdtype)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        kh, kw = self.kernel_size
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, kh, kw)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        shapes: dict[str, tuple[int, ...]] = {"weight": shape}
        if self.has_bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def span(self, i: int) -> int:
        """The dilated kernel's extent along spatial axis ``i``."""
        return self.dilation[i] * (self.kernel_size[i] - 1) + 1

    def _check_input(self, inputs: Sequence[TensorSpec]) -> TensorSpec:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x, ranks=(3, 4))
        names = "(C, H, W)" if x.ndim == 3 else "(N, C, H, W)"
        for i, d in enumerate(x.shape):
            if d == 0 and not (x.ndim == 4 and i == 0):
                raise ShapeError(
                    f"{self.label}: input {names} {x.shape!r} has a zero-sized dim {i}; only "
                    "the batch dim of a rank-4 input may be 0 (torch refuses it)"
                )
        c = x.shape[-3]
        if isinstance(c, int) and c != self.in_channels:
            raise ShapeError(
                f"{self.label}: input {names} {x.shape!r} has {c} channels; expected "
                f"in_channels={self.in_channels}"
            )
        return x

    def torch_args(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
        }


# --------------------------------------------------------------------------- Conv2d
@register_layer
class Conv2d(_ConvNd):
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode='zeros', device=None, dtype=None)``.

    Weights start as torch initialises them (kaiming-uniform with a=sqrt(5): weight and bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kh * kw); pass
    ``seed=`` for reproducible values. ``device`` is accepted and ignored.

    >>> from onnxlayers.builder import Input
    >>> conv = Conv2d(4, 4, (3, 2), dilation=(1, 2), groups=4, bias=False, seed=0)
    >>> conv.weight.shape, conv(Input("x", (4, 9, 9))).shape
    ((4, 1, 3, 2), (4, 7, 7))
    """

    examples = (
        Example(
            {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
            ((2, 2, 7, 6),),
        ),
        Example(
            {
                "in_channels": 4,
                "out_channels": 2,
                "kernel_size": (2, 3),
                "padding": "same",
                "dilation": (2, 1),
                "groups": 2,
                "padding_mode": "reflect",
            },
            ((2, 4, 5, 6),),
        ),
        Example(
            {
                "in_channels": 2,
                "out_channels": 2,
                "kernel_size": 2,
                "groups": 2,
                "bias": False,
                "padding": (1, 2),
                "padding_mode": "circular",
            },
            ((2, 2, 4, 5),),
        ),
        Example(
            {
                "in_channels": 2,
                "out_channels": 3,
                "kernel_size": 3,
                "padding": 2,
                "padding_mode": "replicate",
                "stride": (1, 2),
            },
            ((1, 2, 4, 5),),
        ),
    )
    torch_functions = ("F.conv2d", "torch.conv2d")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._common(in_channels, out_channels, kernel_size, stride, dilation, groups, bias)
        label = self.label
        if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
            raise LayerArgumentError(
                f"{label}: padding_mode={padding_mode!r} is invalid; expected one of "
                f"{list(PADDING_MODES)!r}"
            )
        self.padding_mode = padding_mode
        self.padding: str | Pair
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise LayerArgumentError(
                    f"{label}: padding={padding!r} is invalid; expected 'same', 'valid', an int "
                    "or a tuple of two ints"
                )
            if padding == "same" and self.stride != (1, 1):
                raise LayerArgumentError(
                    f"{label}: padding='same' is invalid with stride={self.stride!r}; torch "
                    "supports it only for stride 1"
                )
            self.padding = padding
        else:
            if padding_mode != "zeros" and isinstance(padding, (list, tuple)) and len(padding) == 1:
                raise LayerArgumentError(
                    f"{label}: padding={padding!r} is invalid with padding_mode="
                    f"{padding_mode!r}; expected an int or a tuple of two ints (torch's F.pad "
                    "refuses a 1-tuple)"
                )
            self.padding = pair(label, "padding", padding, minimum=0)
        self._init_params(dtype, seed)

    @classmethod
    def from_weights(
        cls, weight: np.ndarray, bias: np.ndarray | None = None, **torch_args: Any
    ) -> Conv2d:
        """The layer ``F.conv2d(input, weight, bias, **torch_args)`` applies: channels and
        kernel size from ``weight`` (out_channels, in_channels / groups, kh, kw), weights set.

        >>> import numpy as np
        >>> conv = Conv2d.from_weights(np.ones((6, 2, 3, 3), np.float32), None, groups=2)
        >>> conv.in_channels, conv.out_channels, conv.kernel_size, conv.has_bias
        (4, 6, (3, 3), False)
        """
        w, groups = _grouped_weight(
            "Conv2d", weight, torch_args, "(out_channels, in_channels / groups, kh, kw)"
        )
        layer = cls(
            int(w.shape[1]) * groups,
            int(w.shape[0]),
            (int(w.shape[2]), int(w.shape[3])),
            **_weight_args(w, bias, groups, torch_args),
        )
        return _with_weights(layer, w, bias)

    def torch_args(self) -> dict[str, Any]:
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {
            **super().torch_args(),
            "padding": padding,
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.has_bias,
            "padding_mode": self.padding_mode,
        }

    @property
    def pads(self) -> Pads:
        """(top, left, bottom, right) padding, torch's rule for ``"same"`` included."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            total = [self.dilation[i] * (self.kernel_size[i] - 1) for i in (0, 1)]
            return (
                total[0] // 2,
                total[1] // 2,
                total[0] - total[0] // 2,
                total[1] - total[1] // 2,
            )
        assert not isinstance(self.padding, str)
        ph, pw = self.padding
        return (ph, pw, ph, pw)

    def min_input(self, i: int) -> int:
        """The smallest input size torch accepts along spatial axis ``i``."""
        before, after = self.pads[i], self.pads[i + 2]
        least = max(1, self.span(i) - before - after)
        if self.padding_mode == "reflect":
            least = max(least, before + 1, after + 1)
        if self.padding_mode == "circular":
            least = max(least, before, after)
        return least

    # ----------------------------------------------------------------- building
    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        if call_args:
            raise LayerTypeError(f"{self.label}: unexpected call arguments {sorted(call_args)!r}")
        x = self._check_input(inputs)
        pads = self.pads
        sizes = [_static(d) for d in x.shape[-2:]]
        out: list[Dim] = [None, None]
        for i, size in enumerate(sizes):
            if size is None:
                continue
            before, after = pads[i], pads[i + 2]
            if self.padding_mode == "reflect" and max(before, after) >= size:
                raise ShapeError(
                    f"{self.label}: padding {(before, after)!r} of spatial dim {i} (size "
                    f"{size}) is invalid with padding_mode='reflect'; expected each side < the "
                    "input size (torch's F.pad)"
                )
            if self.padding_mode == "circular" and max(before, after) > size:
                raise ShapeError(
                    f"{self.label}: padding {(before, after)!r} of spatial dim {i} (size "
                    f"{size}) is invalid with padding_mode='circular'; expected each side <= "
                    "the input size (torch's F.pad wraps around at most once)"
                )
        padded = [None if s is None else s + pads[i] + pads[i + 2] for i, s in enumerate(sizes)]
        if any(p is not None and p < self.span(i) for i, p in enumerate(padded)):
            shown = " x ".join("?" if p is None else str(p) for p in padded)
            raise ShapeError(
                f"{self.label}: input {x.shape!r}: calculated padded input size per channel: "
                f"({shown}); kernel size (dilated): ({self.span(0)} x {self.span(1)}); the "
                "kernel size can't be greater than the actual input size"
            )
        for i, p in enumerate(padded):
            if p is not None:
                out[i] = (p - self.span(i)) // self.stride[i] + 1
        return [TensorSpec((*x.shape[:-3], self.out_channels, out[0], out[1]), x.dtype)]

    # ----------------------------------------------------------------- lowering
    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        spec, node = c.specs[0], c.node
        x = _guard(g, c, _batched(g, c), self, (self.min_input(0), self.min_input(1)))
        pads = self.pads
        if self.padding_mode != "zeros" and any(pads):
            x = _pad_mode(g, x, pads, self.padding_mode, node, c.target)
            pads = (0, 0, 0, 0)
        out = c.outputs[0] if spec.ndim == 4 else g.fresh(f"{node}/batched_out")
        bias = c.weights.get("bias")
        if spec.dtype == "float64":
            if any(pads):
                x = _pad_or_crop(g, x, pads, node)
            _einsum_conv(
                g,
                x,
                c.weights["weight"],
                bias,
                out,
                kernel=self.kernel_size,
                stride=self.stride,
                dilation=self.dilation,
                groups=self.groups,
                out_channels=self.out_channels,
                in_channels=self.in_channels,
                node=node,
            )
        else:
            inputs = [x, c.weights["weight"]] + ([bias] if bias else [])
            g.op(
                "Conv",
                *inputs,
                outputs=[out],
                name=node,
                kernel_shape=list(self.kernel_size),
                pads=list(pads),
                strides=list(self.stride),
                dilations=list(self.dilation),
                group=self.groups,
            )
        _unbatched(g, c, out)


# --------------------------------------------------------------------------- ConvTranspose2d
@register_layer
class ConvTranspose2d(_ConvNd):
    """``ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros', device=None,
    dtype=None)``, called as ``layer(x, output_size=None)`` like torch's ``forward``.

    ``output_size`` is 2 spatial sizes, or a whole size (4 values for a batched input, 3 for an
    unbatched one, e.g. ``t.shape`` of another tensor): torch then picks the output padding
    (``output_size - minimum size``, in ``[0, stride)``) and ignores ``output_padding``. Where
    the input's H / W and the requested sizes are static it is resolved while building (one
    ``ConvTranspose``); otherwise (a ``Shape`` with dynamic dims, or a dynamic input) the graph
    computes the widest allowed output (output padding ``stride - 1``), checks torch's range at
    run time and ``Slice``-s it to the requested size.
    Weights (in_channels, out_channels / groups, kh, kw) start as torch's (fan_in =
    out_channels / groups * kh * kw); pass ``seed=`` for reproducible values.

    >>> from onnxlayers.builder import Input
    >>> up = ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, seed=0)
    >>> up.weight.shape, up(Input("x", ("N", 4, 5, 5))).shape
    ((4, 2, 3, 3), ('N', 2, 10, 10))
    """

    transposed = True
    examples = (
        Example(
            {
                "in_channels": 2,
                "out_channels": 4,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
            },
            ((2, 2, 4, 5),),
        ),
        Example(
            {
                "in_channels": 4,
                "out_channels": 2,
                "kernel_size": (2, 3),
                "stride": (1, 2),
                "padding": (0, 2),
                "output_padding": (2, 0),
                "groups": 2,
                "dilation": (3, 1),
                "bias": False,
            },
            ((2, 4, 3, 4),),
        ),
        Example(
            {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "stride": 3, "padding": 1},
            ((1, 2, 3, 3),),
            call={"output_size": (9, 8)},
        ),
    )
    torch_functions = ("F.conv_transpose2d", "torch.conv_transpose2d")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if padding_mode != "zeros":
            raise LayerArgumentError(
                f"{self.label}: padding_mode={padding_mode!r} is invalid; expected 'zeros' "
                "(the only mode torch supports for ConvTranspose2d)"
            )
        self._common(in_channels, out_channels, kernel_size, stride, dilation, groups, bias)
        if isinstance(padding, str):
            raise LayerTypeError(
                f"{self.label}: padding={padding!r} is invalid; expected an int or a tuple of "
                "two ints (ConvTranspose2d has no padding strings)"
            )
        self.padding: Pair = pair(self.label, "padding", padding, minimum=0)
        self.output_padding = int_pair(self.label, "output_padding", output_padding)
        self.padding_mode = padding_mode
        self._init_params(dtype, seed)

    @classmethod
    def from_weights(
        cls, weight: np.ndarray, bias: np.ndarray | None = None, **torch_args: Any
    ) -> ConvTranspose2d:
        """The layer ``F.conv_transpose2d(input, weight, bias, **torch_args)`` applies: channels
        and kernel size from ``weight`` (in_channels, out_channels / groups, kh, kw).

        >>> import numpy as np
        >>> ConvTranspose2d.from_weights(np.ones((4, 3, 2, 2)), np.zeros(6), groups=2,
        ...                              stride=2).out_channels
        6
        """
        w, groups = _grouped_weight(
            "ConvTranspose2d", weight, torch_args, "(in_channels, out_channels / groups, kh, kw)"
        )
        layer = cls(
            int(w.shape[0]),
            int(w.shape[1]) * groups,
            (int(w.shape[2]), int(w.shape[3])),
            **_weight_args(w, bias, groups, torch_args),
        )
        return _with_weights(layer, w, bias)

    def torch_args(self) -> dict[str, Any]:
        return {
            **super().torch_args(),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "groups": self.groups,
            "bias": self.has_bias,
            "dilation": list(self.dilation),
            "padding_mode": self.padding_mode,
        }

    # ----------------------------------------------------------------- building
    def __call__(self, *inputs: Any, **call_args: Any) -> Any:
        """``layer(x, output_size=None)``; ``output_size`` may be positional, as in torch."""
        if len(inputs) == 2:
            if "output_size" in call_args:
                raise LayerTypeError(f"{self.label}: output_size given twice")
            call_args["output_size"] = inputs[1]
            inputs = inputs[:1]
        size = call_args.get("output_size")
        if size is not None and not isinstance(size, Shape) and isinstance(size, (list, tuple)):
            call_args["output_size"] = tuple(
                int(v) if isinstance(v, np.integer) else v for v in size
            )
        if size is None:
            call_args.pop("output_size", None)
        return super().__call__(*inputs, **call_args)

    def min_input(self, i: int, output_padding: int) -> int:
        """The smallest input size giving an output of at least 1 along spatial axis ``i``."""
        short = 1 + 2 * self.padding[i] - self.span(i) - output_padding  # (n - 1) * s >= short
        return 1 + max(0, -(-short // self.stride[i]))

    def min_size(self, i: int, size: int) -> int:
        """torch's output size along spatial axis ``i`` before output padding."""
        return (size - 1) * self.stride[i] - 2 * self.padding[i] + self.span(i)

    def _requested(self, x: TensorSpec, value: Any) -> tuple[Dim, Dim]:
        """The spatial sizes ``output_size`` asks for, validated as torch's ``_output_padding``
        where they and the input's H / W are static (a whole ``Shape`` may carry dynamic dims:
        the graph then checks the range at run time)."""
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise LayerTypeError(
                f"{self.label}: output_size={value!r} is invalid; expected 2 ints, a whole size "
                "(t.shape / t.size()) or None"
            )
        lead = x.ndim - 2
        dims = tuple(value)
        if len(dims) not in (2, lead + 2):
            raise LayerArgumentError(
                f"{self.label}: output_size={dims!r} is invalid: for a {x.ndim}-D input it must "
                f"have 2 or {lead + 2} elements (got {len(dims)})"
            )
        spatial = dims[-2:]
        for d in spatial:
            dynamic = isinstance(value, Shape) and (d is None or isinstance(d, str))
            if not dynamic and (isinstance(d, bool) or not isinstance(d, int)):
                raise LayerTypeError(
                    f"{self.label}: output_size={dims!r} is invalid; expected ints (a tensor's "
                    "shape, t.shape or t.size(), for sizes known only at run time)"
                )
        for i, (d, size) in enumerate(zip(spatial, x.shape[-2:], strict=True)):
            if isinstance(d, int) and isinstance(size, int):
                lo = self.min_size(i, size)
                if not lo <= d <= lo + self.stride[i] - 1:
                    raise LayerArgumentError(
                        f"{self.label}: requested an output size of {dims!r}, but valid sizes "
                        f"along spatial dim {i} range from {lo} to {lo + self.stride[i] - 1} "
                        f"(for an input of {tuple(x.shape[-2:])!r})"
                    )
        return spatial[0], spatial[1]

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        unknown = set(call_args) - {"output_size"}
        if unknown:
            raise LayerTypeError(
                f"{self.label}: unexpected call arguments {sorted(unknown)!r}; expected output_size"
            )
        x = self._check_input(inputs)
        requested = call_args.get("output_size")
        out: list[Dim] = [None, None]
        if requested is not None:
            out = list(self._requested(x, requested))
        else:
            op = self.output_padding
            if any(v < 0 for v in op):
                raise LayerArgumentError(
                    f"{self.label}: output_padding={op!r} is invalid; expected ints >= 0"
                )
            for i in (0, 1):
                if op[i] >= max(self.stride[i], self.dilation[i]):
                    raise LayerArgumentError(
                        f"{self.label}: output_padding={op!r} is invalid; it must be smaller "
                        f"than either stride={self.stride!r} or dilation={self.dilation!r} "
                        "(per axis)"
                    )
            for i, d in enumerate(x.shape[-2:]):
                if isinstance(d, int):
                    out[i] = self.min_size(i, d) + op[i]
        if any(isinstance(o, int) and o < 1 for o in out):
            shown = tuple("?" if o is None else o for o in out)
            raise ShapeError(
                f"{self.label}: given input size per channel {tuple(x.shape[-2:])!r}, the "
                f"calculated output size per channel is {shown!r}: output size is too small "
                "(every output dim must be >= 1)"
            )
        return [TensorSpec((*x.shape[:-3], self.out_channels, out[0], out[1]), x.dtype)]

    # ----------------------------------------------------------------- lowering
    def _output_padding(self, c: LowerCall) -> Pair:
        """The output padding of this call: from the output size where H/W are static."""
        ins, outs = c.specs[0].shape[-2:], c.out_specs[0].shape[-2:]
        op = list(self.output_padding)
        for i in (0, 1):
            size, o = ins[i], outs[i]
            if isinstance(size, int) and isinstance(o, int):
                op[i] = o - self.min_size(i, size)
        return op[0], op[1]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        spec, node = c.specs[0], c.node
        requested = c.call_args.get("output_size")
        ins, outs = spec.shape[-2:], c.out_specs[0].shape[-2:]
        late = requested is not None and not all(isinstance(d, int) for d in (*ins, *outs))
        x = _batched(g, c)
        extra: list[str] = []
        if late:  # output_size known at run time: compute the widest output, then slice
            op = (self.stride[0] - 1, self.stride[1] - 1)
            size = self._requested_size(g, c, requested)
            extra.append(self._size_in_range(g, x, size, node))
        else:
            op = self._output_padding(c)
        mins = (self.min_input(0, op[0]), self.min_input(1, op[1]))
        x = _guard(g, c, x, self, mins, extra)
        out = c.outputs[0] if spec.ndim == 4 else g.fresh(f"{node}/batched_out")
        y = g.fresh(f"{node}/widest") if late else out
        bias = c.weights.get("bias")
        if spec.dtype == "float64":
            self._emit_einsum(g, c, x, op, y)
        else:
            self._emit_native(g, x, c.weights["weight"], bias, op, y, node)
        if late:
            g.op(
                "Slice",
                y,
                g.ints([0, 0], f"{node}/starts"),
                size,
                g.ints([2, 3], f"{node}/axes"),
                outputs=[out],
                name=f"{node}/output_size",
            )
        _unbatched(g, c, out)

    def _requested_size(self, g: GraphBuilder, c: LowerCall, requested: Any) -> str:
        """The requested (H_out, W_out) as a 1-D int64 tensor (read from the referenced
        tensor's shape at run time when it is one)."""
        if isinstance(requested, ShapeRef):
            return str(g.op("Shape", requested.tensor, start=-2, name=f"{c.node}/output_size"))
        return g.ints([int(v) for v in tuple(requested)[-2:]], f"{c.node}/output_size")

    def _size_in_range(self, g: GraphBuilder, x: str, size: str, node: str) -> str:
        """A 1-element bool: torch's ``_output_padding`` range check of ``size`` (1-D H, W)
        against the rank-4 input ``x``: ``lo <= size <= lo + stride - 1`` and ``size >= 1``,
        ``lo = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1``."""
        hint = f"{node}/guard"
        hw = g.op("Shape", x, start=2, end=4, name=hint)
        s = list(self.stride)
        shift = [self.span(i) - 2 * self.padding[i] - s[i] for i in (0, 1)]
        lo = g.op(
            "Add", g.op("Mul", hw, g.ints(s, hint), name=hint), g.ints(shift, hint), name=hint
        )
        ok = g.op(
            "And",
            g.op(
                "GreaterOrEqual", size, g.op("Max", lo, g.ints([1, 1], hint), name=hint), name=hint
            ),
            g.op(
                "LessOrEqual",
                size,
                g.op("Add", lo, g.ints([v - 1 for v in s], hint), name=hint),
                name=hint,
            ),
            name=hint,
        )
        as_int = g.op("Cast", ok, to=onnx.TensorProto.INT64, name=hint)
        least = g.op("ReduceMin", as_int, keepdims=1, name=hint)
        return str(g.op("Equal", least, g.ints([1], hint), name=hint))

    def _emit_native(
        self, g: GraphBuilder, x: str, w: str, bias: str | None, op: Pair, out: str, node: str
    ) -> None:
        """``ConvTranspose`` with torch's output padding as a smaller end pad where it can."""
        p = self.padding
        end = [p[i] - op[i] for i in (0, 1)]
        attr_op = [max(-e, 0) for e in end]
        end = [max(e, 0) for e in end]
        pad_after = any(attr_op[i] >= self.stride[i] for i in (0, 1))
        attrs: dict[str, Any] = {
            "kernel_shape": list(self.kernel_size),
            "strides": list(self.stride),
            "dilations": list(self.dilation),
            "group": self.groups,
            "pads": [p[0], p[1], end[0], end[1]],
        }
        if not pad_after:
            if any(attr_op):
                attrs["output_padding"] = attr_op
            inputs = [x, w] + ([bias] if bias else [])
            g.op("ConvTranspose", *inputs, outputs=[out], name=node, **attrs)
            return
        # onnxruntime refuses output_padding >= stride: zero rows by Pad, then the bias
        y = g.op("ConvTranspose", x, w, name=node, **attrs)
        pads = g.ints([0, 0, 0, 0, 0, 0, attr_op[0], attr_op[1]], f"{node}/output_padding")
        if not bias:
            g.op("Pad", y, pads, outputs=[out], name=f"{node}/output_padding")
            return
        y = g.op("Pad", y, pads, name=f"{node}/output_padding")
        b = g.op("Unsqueeze", bias, g.ints([1, 2], f"{node}/axes"), name=f"{node}/bias_chw")
        g.op("Add", y, b, outputs=[out], name=f"{node}/bias")

    def _emit_einsum(self, g: GraphBuilder, c: LowerCall, x: str, op: Pair, out: str) -> None:
        """The adjoint as a convolution: stride-dilate the input, pad by the dilated kernel
        minus the padding, convolve with the flipped, transposed weight."""
        node = c.node
        dims = c.specs[0].shape[-2:]
        for axis, size, s in ((2, dims[0], self.stride[0]), (3, dims[1], self.stride[1])):
            if s > 1:
                x = _dilate(g, x, size, axis, s, c.dtype, node)
        k = [self.span(i) - 1 for i in (0, 1)]
        p = self.padding
        pads = (k[0] - p[0], k[1] - p[1], k[0] - p[0] + op[0], k[1] - p[1] + op[1])
        x = _pad_or_crop(g, x, pads, node)
        # weight (Cin, Og, kh, kw) -> (G * Og, Cin / G, kh, kw), flipped in both spatial axes
        G, og, kh, kw = self.groups, self.out_channels // self.groups, *self.kernel_size
        cg = self.in_channels // G
        w = g.op(
            "Reshape",
            c.weights["weight"],
            g.ints([G, cg, og, kh, kw], f"{node}/w_shape"),
            name=f"{node}/weight",
        )
        w = g.op("Transpose", w, perm=[0, 2, 1, 3, 4], name=f"{node}/weight")
        w = g.op(
            "Reshape", w, g.ints([G * og, cg, kh, kw], f"{node}/w_shape"), name=f"{node}/weight"
        )
        w = g.op(
            "Slice",
            w,
            g.ints([-1, -1], f"{node}/flip"),
            g.ints([-I64_MAX, -I64_MAX], f"{node}/flip"),
            g.ints([2, 3], f"{node}/axes"),
            g.ints([-1, -1], f"{node}/flip"),
            name=f"{node}/weight_flipped",
        )
        _einsum_conv(
            g,
            x,
            w,
            c.weights.get("bias"),
            out,
            kernel=self.kernel_size,
            stride=(1, 1),
            dilation=self.dilation,
            groups=G,
            out_channels=self.out_channels,
            in_channels=self.in_channels,
            node=node,
        )


# --------------------------------------------------------------------------- graph helpers
def _batched(g: GraphBuilder, c: LowerCall) -> str:
    """The input as rank 4 (an unbatched (C, H, W) input gets a batch dim of 1)."""
    if c.specs[0].ndim == 4:
        return c.inputs[0]
    return str(
        g.op("Unsqueeze", c.inputs[0], g.ints([0], f"{c.node}/axes"), name=f"{c.node}/batched")
    )


def _guard(
    g: GraphBuilder,
    c: LowerCall,
    x: str,
    layer: _ConvNd,
    mins: Pair,
    extra: Sequence[str] = (),
) -> str:
    """Where the input's C, H or W are dynamic: fail at run time, in a node named after the
    layer, unless C == in_channels and H, W >= ``mins`` (torch's checks; onnxruntime would
    otherwise fail with its own words, or the float64 lowering return an empty tensor).

    The check is a ``Range`` whose step is 0 (an error) unless every condition holds; its
    empty output is added to the input's shape, so nothing downstream runs without it.
    ``extra`` are more 1-element bool checks (a run-time ``output_size``'s range).
    """
    spec = c.specs[0]
    dims = spec.shape[-3:]
    checks: list[str] = list(extra)
    for axis, d, want in ((1, dims[0], None), (2, dims[1], mins[0]), (3, dims[2], mins[1])):
        if isinstance(d, int):
            continue
        n = g.op("Shape", x, start=axis, end=axis + 1, name=f"{c.node}/guard")
        if want is None:
            ok = g.op(
                "Equal", n, g.ints([layer.in_channels], f"{c.node}/guard"), name=f"{c.node}/guard"
            )
        else:
            ok = g.op(
                "GreaterOrEqual", n, g.ints([want], f"{c.node}/guard"), name=f"{c.node}/guard"
            )
        checks.append(ok)
    if not checks:
        return x
    ok = checks[0]
    for other in checks[1:]:
        ok = g.op("And", ok, other, name=f"{c.node}/guard")
    step = g.op(
        "Cast",
        g.op("Squeeze", ok, g.ints([0], f"{c.node}/axes"), name=f"{c.node}/guard"),
        to=7,
        name=f"{c.node}/guard",
    )
    passed = g.fresh(f"{c.node}/guard")
    g.nodes.append(
        onnx.helper.make_node(
            "Range",
            [g.const(0, "int64", f"{c.node}/guard"), g.const(1, "int64", f"{c.node}/guard"), step],
            [passed],
            name=f"{type(layer).__name__} {c.node!r}: the input (C, H, W) must have "
            f"C = {layer.in_channels} and H, W >= {mins} (a smaller input does not fit the "
            "dilated kernel, or makes an empty output; torch rejects it)"
            + (
                "; output_size must lie in torch's range [lo, lo + stride - 1], lo = (in - 1) "
                "* stride - 2 * padding + dilation * (kernel - 1) + 1"
                if extra
                else ""
            ),
        )
    )
    shape = g.op("Add", g.op("Shape", x, name=f"{c.node}/guard"), passed, name=f"{c.node}/guard")
    return str(g.op("Reshape", x, shape, name=f"{c.node}/guarded"))


def _unbatched(g: GraphBuilder, c: LowerCall, y: str) -> None:
    if c.specs[0].ndim == 3:
        g.op(
            "Squeeze",
            y,
            g.ints([0], f"{c.node}/axes"),
            outputs=[c.outputs[0]],
            name=f"{c.node}/unbatched",
        )


def _pad_or_crop(g: GraphBuilder, x: str, pads: Pads, node: str) -> str:
    """Zero-pad the spatial dims by ``pads`` (top, left, bottom, right); negative values crop
    (a ``Slice``, so no provider has to support negative ``Pad`` amounts)."""
    top, left, bottom, right = pads
    if min(pads) < 0:
        starts = [max(-top, 0), max(-left, 0)]
        ends = [bottom if bottom < 0 else I64_MAX, right if right < 0 else I64_MAX]
        x = g.op(
            "Slice",
            x,
            g.ints(starts, f"{node}/crop"),
            g.ints(ends, f"{node}/crop"),
            g.ints([2, 3], f"{node}/axes"),
            name=f"{node}/crop",
        )
    grow = [max(v, 0) for v in pads]
    if any(grow):
        x = g.op(
            "Pad",
            x,
            g.ints([0, 0, grow[0], grow[1], 0, 0, grow[2], grow[3]], f"{node}/pads"),
            name=f"{node}/pad",
        )
    return x


def _pad_mode(g: GraphBuilder, x: str, pads: Pads, mode: str, node: str, target: str) -> str:
    """torch's ``F.pad(x, ..., mode)`` for reflect / replicate / circular.

    Circular padding is ``Slice`` + ``Concat`` below opset 19 (no ``wrap`` mode) and for the
    CUDA provider (whose ``Pad`` has had no ``wrap``, and whose NCHW fast path lacks it).
    """
    if mode == "circular" and (g.opset < 19 or target == "cuda"):
        for axis, (before, after) in ((2, (pads[0], pads[2])), (3, (pads[1], pads[3]))):
            parts = []
            if before:
                parts.append(
                    g.op(
                        "Slice",
                        x,
                        g.ints([-before], f"{node}/wrap"),
                        g.ints([I64_MAX], f"{node}/wrap"),
                        g.ints([axis], f"{node}/axes"),
                        name=f"{node}/wrap",
                    )
                )
            parts.append(x)
            if after:
                parts.append(
                    g.op(
                        "Slice",
                        x,
                        g.ints([0], f"{node}/wrap"),
                        g.ints([after], f"{node}/wrap"),
                        g.ints([axis], f"{node}/axes"),
                        name=f"{node}/wrap",
                    )
                )
            if len(parts) > 1:
                x = g.op("Concat", *parts, axis=axis, name=f"{node}/wrap")
        return x
    onnx_pads = g.ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]], f"{node}/pads")
    return str(g.op("Pad", x, onnx_pads, mode=ONNX_PAD_MODE[mode], name=f"{node}/{mode}_pad"))


def _einsum_conv(
    g: GraphBuilder,
    x: str,
    w: str,
    bias: str | None,
    out: str,
    *,
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    groups: int,
    out_channels: int,
    in_channels: int,
    node: str,
) -> None:
    """A zero-padding-free convolution of a rank-4 ``x`` as im2col + one ``Einsum`` (any
    dtype, any provider, any N including 0, static or dynamic H/W).

    Channels-last, so every ``Reshape`` splits or merges only static trailing dims (``0``
    copies the leading ones, never ``-1``): (N, H, W, G, Cg) taps by strided ``Slice``,
    concatenated to (N, OH, OW, G, Cg * kh * kw), contracted with the (G, Og, Cg * kh * kw)
    weight for all groups at once, bias added on the channel axis, transposed back.
    """
    kh, kw = kernel
    cg, og = in_channels // groups, out_channels // groups
    spans = [dilation[i] * (kernel[i] - 1) + 1 for i in (0, 1)]
    xt = g.op("Transpose", x, perm=[0, 2, 3, 1], name=f"{node}/nhwc")
    xt = g.op(
        "Reshape", xt, g.ints([0, 0, 0, groups, cg, 1], f"{node}/groups"), name=f"{node}/groups"
    )
    taps = []
    for i in range(kh):
        for j in range(kw):
            rest = (spans[0] - 1 - i * dilation[0], spans[1] - 1 - j * dilation[1])
            ends = [-rest[0] if rest[0] else I64_MAX, -rest[1] if rest[1] else I64_MAX]
            taps.append(
                g.op(
                    "Slice",
                    xt,
                    g.ints([i * dilation[0], j * dilation[1]], f"{node}/tap"),
                    g.ints(ends, f"{node}/tap"),
                    g.ints([1, 2], f"{node}/axes"),
                    g.ints(list(stride), f"{node}/tap"),
                    name=f"{node}/tap",
                )
            )
    cols = taps[0] if len(taps) == 1 else g.op("Concat", *taps, axis=5, name=f"{node}/im2col")
    cols = g.op(
        "Reshape",
        cols,
        g.ints([0, 0, 0, 0, cg * kh * kw], f"{node}/cols_shape"),
        name=f"{node}/cols",
    )
    wm = g.op(
        "Reshape",
        w,
        g.ints([groups, og, cg * kh * kw], f"{node}/w_shape"),
        name=f"{node}/weight_matrix",
    )
    y = g.op("Einsum", cols, wm, equation="nhwgk,gok->nhwgo", name=node)
    y = g.op("Reshape", y, g.ints([0, 0, 0, out_channels], f"{node}/y_shape"), name=f"{node}/y")
    if bias is not None:
        y = g.op("Add", y, bias, name=f"{node}/bias")
    g.op("Transpose", y, perm=[0, 3, 1, 2], outputs=[out], name=f"{node}/nchw")


def _dilate(g: GraphBuilder, x: str, size: Dim, axis: int, s: int, dtype: str, node: str) -> str:
    """Insert ``s - 1`` zeros between the elements of ``x`` along ``axis`` (2 or 3): a
    ``Gather`` repeating each element ``s`` times and a ``Where`` keeping every s-th
    (NaN-safe; no reshape, so dynamic sizes and N = 0 work)."""
    hint = f"{node}/dilate{axis}"
    if isinstance(size, int):
        r = np.arange((size - 1) * s + 1, dtype=np.int64)
        idx = g.ints(list(r // s), hint)
        keep = g.const((r % s == 0).reshape((-1, 1) if axis == 2 else (-1,)), "bool", hint)
    else:
        n = g.op("Shape", x, start=axis, end=axis + 1, name=hint)
        n = g.op("Squeeze", n, g.ints([0], f"{hint}/axes"), name=hint)
        last = g.op(
            "Mul",
            g.op("Sub", n, g.const(1, "int64", hint), name=hint),
            g.const(s, "int64", hint),
            name=hint,
        )
        r = g.op(
            "Range",
            g.const(0, "int64", hint),
            g.op("Add", last, g.const(1, "int64", hint), name=hint),
            g.const(1, "int64", hint),
            name=hint,
        )
        idx = g.op("Div", r, g.const(s, "int64", hint), name=hint)
        keep = g.op(
            "Equal",
            g.op("Mod", r, g.const(s, "int64", hint), name=hint),
            g.const(0, "int64", hint),
            name=hint,
        )
        if axis == 2:
            keep = g.op("Unsqueeze", keep, g.ints([1], f"{hint}/axes"), name=hint)
    spread = g.op("Gather", x, idx, axis=axis, name=hint)
    return str(g.op("Where", keep, spread, g.const(0, dtype, hint), name=hint))


L = TypeVar("L", bound=Layer)


def _grouped_weight(
    layer: str, weight: Any, torch_args: dict[str, Any], layout: str
) -> tuple[np.ndarray, int]:
    """``from_weights``' weight as a 4-D array and its ``groups`` (popped from ``torch_args``)."""
    w = np.asarray(weight)
    if w.ndim != 4:
        raise LayerArgumentError(
            f"{layer}.from_weights: weight has shape {w.shape!r}; expected 4-D {layout}"
        )
    groups = check_number(
        f"{layer}.from_weights",
        "groups",
        torch_args.pop("groups", 1),
        kind=int,
        ok=lambda v: v >= 1,
        allowed="a positive int",
    )
    return w, int(groups)


def _weight_args(
    w: np.ndarray, bias: Any, groups: int, torch_args: dict[str, Any]
) -> dict[str, Any]:
    """Constructor keywords implied by the weights: groups, bias, dtype, and the rest."""
    return {
        "groups": groups,
        "bias": bias is not None,
        "dtype": w.dtype if w.dtype.kind == "f" else None,
        **torch_args,
    }


def _with_weights(layer: L, w: np.ndarray, bias: Any) -> L:
    layer.weight = w
    if bias is not None:
        layer.bias = bias
    return layer
