"""``Upsample``: torch's ``nn.Upsample`` / ``F.interpolate``, index for index.

Modes ``nearest`` and ``nearest-exact`` (3-D, 4-D and 5-D inputs), ``linear`` (3-D),
``bilinear`` and ``bicubic`` (4-D), ``trilinear`` (5-D) and ``area`` (torch's adaptive average
pooling, 3-D to 5-D), by ``size`` or ``scale_factor`` (with or without
``recompute_scale_factor``); torch's fixed-mode subclasses ``UpsamplingNearest2d`` and
``UpsamplingBilinear2d`` too. Inputs are (N, C, *spatial), float32, float64 or float16; any
dim may be dynamic.

>>> from onnxlayers.builder import Input
>>> Upsample(scale_factor=2.3)(Input("x", ("N", 3, 7, 9))).shape
('N', 3, 16, 20)
>>> Upsample(size=(5, 4), mode="bilinear", align_corners=True)(Input("x", (1, 3, 7, 9))).shape
(1, 3, 5, 4)

What torch computes (``aten/src/ATen/native/UpSample.h``, ``cpu/UpSampleKernel.cpp``), per
spatial axis of input size ``n`` and output size ``o``:

* ``o`` is ``size``, or ``floor(n * scale_factor)`` in double precision. The source scale is
  ``1 / scale_factor`` when a scale factor is given and not recomputed, else ``n / o``.
* torch has two CPU kernels and picks one per call: the vectorized one when
  ``OH + OW <= 128`` (4-D) or C > 3 with a channels-last input (a contiguous one is that only
  with a 1x1 plane), the generic one otherwise (always for 3-D). Both are reproduced:
* ``nearest``: ``floor(d * scale)`` capped at ``n - 1``; the vectorized kernel computes in
  float32 and maps ``o == n`` to the identity and ``o == 2n`` to ``d >> 1`` whatever the scale
  factor; the generic one computes in the accumulation type (float64 for float64).
  ``nearest-exact``: ``floor((d + 0.5) * scale)`` (vectorized) or
  ``floor(max(scale * (d + 0.5) - 0.5, 0) + 0.5)`` (generic).
* ``linear`` modes: source ``scale * (d + 0.5) - 0.5`` clamped at 0 (``align_corners``:
  ``d * (n - 1) / (o - 1)``), taps ``floor`` and the next one (capped), weights ``1 - l`` and
  ``l``; ``o == n`` copies with weights (1, 0), so an infinity there still meets a weight 0
  and gives NaN. ``bicubic``: four clamped taps, cubic convolution weights (A = -0.75).
  torch's compiler fuses ``scale * (d + 0.5) - 0.5`` and the cubic polynomials into
  multiply-adds (one rounding): reproduced (a 1-pixel axis scaled by 3 gives -inf, not NaN,
  because of it). For float16 the generic kernel keeps its weights in half, ``l0`` computed
  as ``1 - l1`` in half: reproduced.

How it is lowered (onnxruntime 1.32 CPU, 2 threads, 8x64x56x56 float32; torch in brackets):

* **Tables** per axis are computed while building (numpy, in torch's dtypes) or, for dynamic
  sizes, in the graph by the same formulas (:class:`~.adaptive.Num`); torch's kernel choice
  is a ``Where`` between the two kernels' tables when it depends on dynamic sizes.
* **nearest / nearest-exact**: ``Resize`` (``asymmetric`` + ``floor``, or ``half_pixel`` +
  ``round_prefer_ceil``) where onnxruntime's index formula, evaluated while building, gives
  exactly torch's table and output size on every axis (by ``sizes``, or by ``scales``, an
  axis torch copies at scale 1): x2 in 2.6 ms [5.3], x2.3 in 19.5 ms [24.2]. Else one
  ``Gather`` per axis with torch's table (always for float64, which onnxruntime's CPU
  ``Resize`` lacks, for dynamic sizes and for ``target="cuda"``).
* **linear modes, bicubic**: the exact form is one ``Gather`` per tap and axis, weighted and
  summed innermost axis first (float16 in float32), which gives torch's NaN where a weight 0
  meets an infinity. Static float32/float16 inputs (not CUDA) get a ``ReduceSum`` check and an
  ``If``: a finite input runs ``Resize`` (``linear``, ``half_pixel`` or ``align_corners``)
  where onnxruntime's weights, evaluated while building, are torch's within 2**-24 (x2:
  9.5 ms [8.9]), else, up to 128 input pixels per axis, one ``MatMul`` per axis with torch's
  (o, n) weight matrices (56 -> 100x90: 7.7 ms [6.5]); a non-finite input runs the taps.
* **area**: :func:`~.adaptive.average` (separable windows; finite inputs by ``MatMul``).
* torch's run-time checks on dynamic sizes (non-empty C and spatial dims, output >= 1; for
  ``area`` only the spatial dims) become a guard that fails naming this layer's node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from onnx import helper

from ..errors import LayerArgumentError, LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer
from ..registry import register_layer
from ..tensor import DTYPES, Dim, TensorSpec
from .adaptive import I64, AxisPlan, Num, average, contract, dim_of, guard, nonfinite

F32, F64 = "float32", "float64"
MODES = (
    "nearest",
    "linear",
    "bilinear",
    "bicubic",
    "trilinear",
    "area",
    "nearest-exact",
    "lanczos",
)
"""torch's interpolation modes."""
SUPPORTED = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
INTERPOLATING = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
"""Modes that take ``align_corners``, with the input rank torch requires."""
A_CUBIC = -0.75
"""torch's cubic convolution coefficient."""
VECTORIZED_MAX_OUT = 128
"""torch's vectorized 2-D kernel runs when ``OH + OW`` is at most this."""
LIMIT = 2**62


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _scale_factor(label: str, scale_factor: Any) -> float | tuple[float, ...] | None:
    """``nn.Upsample``'s own normalisation: a tuple becomes floats, anything else
    ``float(scale_factor) if scale_factor else None``."""
    try:
        if isinstance(scale_factor, tuple):
            return tuple(float(f) for f in scale_factor)
        return float(scale_factor) if scale_factor else None
    except (TypeError, ValueError) as e:
        raise LayerTypeError(
            f"{label}: scale_factor={scale_factor!r} is invalid; expected a "
            f"number or a tuple of numbers ({e})"
        ) from None


def _check_factors(
    label: str, given: Any, value: float | tuple[float, ...] | None, area: bool
) -> None:
    """Every factor finite and > 0 (>= 0 for ``area``, whose adaptive pooling accepts an
    empty output); torch fails later, on every input, otherwise."""
    factors = value if isinstance(value, tuple) else () if value is None else (value,)
    for f in factors:
        if not (math.isfinite(f) and (f >= 0 if area else f > 0)):
            raise LayerArgumentError(
                f"{label}: scale_factor={given!r} is invalid; expected finite factors "
                + (">= 0 (mode 'area')" if area else "> 0 (the output size must be > 0)")
            )


def _size(label: str, size: Any, minimum: int) -> int | tuple[int, ...] | None:
    """torch's ``size``: an int or a sequence of ints (numpy ints too), each >= ``minimum``
    (0 for mode ``area``, whose adaptive pooling accepts an empty output, else 1)."""
    if size is None:
        return None
    items = list(size) if isinstance(size, (list, tuple)) else [size]
    if not all(_is_int(v) for v in items):
        raise LayerTypeError(
            f"{label}: size={size!r} is invalid; expected an int or a tuple of ints"
        )
    if any(int(v) < minimum for v in items):
        raise LayerArgumentError(
            f"{label}: size={size!r} is invalid; expected sizes >= "
            f"{minimum}" + (" (mode 'area')" if minimum == 0 else "")
        )
    return tuple(int(v) for v in items) if isinstance(size, (list, tuple)) else int(size)


@register_layer
class Upsample(Layer):
    """``Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None,
    recompute_scale_factor=None)``: torch's ``nn.Upsample``.

    >>> from onnxlayers.builder import Input
    >>> Upsample(scale_factor=(0.6, 2), mode="nearest-exact")(Input("x", (1, 2, 5, 5))).shape
    (1, 2, 3, 10)
    """

    examples: ClassVar[tuple[Example, ...]] = (
        Example({"scale_factor": 2}, ((2, 3, 5, 7),)),
        Example({"size": (9, 4), "mode": "bilinear"}, ((2, 3, 5, 7),)),
        Example({"scale_factor": 2.3, "mode": "bilinear", "align_corners": True}, ((2, 3, 5, 7),)),
        Example({"scale_factor": (0.6, 1.5), "mode": "nearest-exact"}, ((2, 3, 6, 7),)),
        Example({"size": 11, "mode": "linear"}, ((2, 3, 7),)),
        Example(
            {"scale_factor": 1.7, "mode": "bicubic", "recompute_scale_factor": True},
            ((2, 3, 5, 6),),
        ),
        Example({"size": (3, 4), "mode": "area"}, ((2, 3, 7, 9),)),
        Example({"scale_factor": (2, 1.5, 0.7), "mode": "trilinear"}, ((2, 2, 3, 4, 5),)),
    )
    torch_functions: ClassVar[tuple[str, ...]] = ("F.interpolate", "F.upsample")

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        label = self.label
        self.scale_factor = _scale_factor(label, scale_factor)
        if mode not in MODES:
            raise LayerArgumentError(
                f"{label}: mode={mode!r} is invalid; expected one of {list(MODES)!r}"
            )
        if mode == "lanczos":
            raise LayerArgumentError(
                f"{label}: mode='lanczos' is invalid here; torch requires "
                "antialias=True, which nn.Upsample never passes"
            )
        if mode not in SUPPORTED:  # pragma: no cover - every other torch mode is supported
            raise LayerArgumentError(f"{label}: mode={mode!r} is not supported")
        self.mode = mode
        if mode in INTERPOLATING:
            if align_corners is not None and not isinstance(align_corners, bool):
                raise LayerTypeError(
                    f"{label}: align_corners={align_corners!r} is invalid; "
                    "expected None, True or False"
                )
        elif align_corners is not None:
            raise LayerArgumentError(
                f"{label}: align_corners={align_corners!r} is invalid with mode={mode!r}; "
                "it can only be set with the interpolating modes: linear | bilinear | "
                "bicubic | trilinear"
            )
        self.align_corners = align_corners
        if size is not None and self.scale_factor is not None:
            raise LayerArgumentError(
                f"{label}: size={size!r} and scale_factor="
                f"{scale_factor!r}: only one of them should be defined"
            )
        if size is None and self.scale_factor is None:
            raise LayerArgumentError(
                f"{label}: either size or scale_factor should be defined "
                f"(got size={size!r}, scale_factor={scale_factor!r})"
            )
        area = mode == "area"
        _check_factors(label, scale_factor, self.scale_factor, area)
        self.size = _size(label, size, 0 if area else 1)
        if recompute_scale_factor and size is not None:
            raise LayerArgumentError(
                f"{label}: recompute_scale_factor="
                f"{recompute_scale_factor!r} is not meaningful with an "
                "explicit size"
            )
        self.recompute_scale_factor = recompute_scale_factor

    # ----------------------------------------------------------------- description
    def torch_args(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "scale_factor": self.scale_factor,
            "mode": self.mode,
            "align_corners": self.align_corners,
            "recompute_scale_factor": self.recompute_scale_factor,
        }

    @classmethod
    def from_torch_args(cls, args: Any) -> Layer:
        """Rebuild from :meth:`torch_args` after JSON (lists back to tuples)."""
        fixed: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in dict(args).items()
        }
        return cls(**fixed)

    @classmethod
    def torch_module(cls, args: Any) -> Any:
        import torch

        fixed: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in dict(args).items()
        }
        return getattr(torch.nn, cls.__name__)(**fixed)

    # ----------------------------------------------------------------- geometry
    @property
    def recompute(self) -> bool:
        """Whether the kernel sees no scale factor (recomputed from the sizes, as torch does
        for ``recompute_scale_factor`` and for mode ``area``)."""
        return bool(self.recompute_scale_factor) or self.mode == "area"

    def per_axis(self, dims: int) -> list[tuple[int | None, float | None]]:
        """``(size, scale factor)`` of each of ``dims`` spatial axes (one of them None)."""
        sizes = self.size if isinstance(self.size, tuple) else (self.size,) * dims
        scales = (
            self.scale_factor
            if isinstance(self.scale_factor, tuple)
            else (self.scale_factor,) * dims
        )
        return list(zip(sizes, scales, strict=True))

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x, ranks=(3, 4, 5))
        need = INTERPOLATING.get(self.mode)
        if need is not None and x.ndim != need:
            raise ShapeError(
                f"{self.label}: mode={self.mode!r} needs a {need}-D input; got "
                f"rank {x.ndim} (shape {x.shape!r})"
            )
        if (
            self.mode == "area"
            and self.size is None
            and not all(isinstance(d, int) for d in x.shape[2:])
        ):
            raise ShapeError(
                f"{self.label}: mode='area' with a scale_factor needs static "
                f"spatial dims (the windows depend on them); got {x.shape!r}"
            )
        dims = x.ndim - 2
        for what, value in (("size", self.size), ("scale_factor", self.scale_factor)):
            if isinstance(value, tuple) and len(value) != dims:
                raise ShapeError(
                    f"{self.label}: {what}={value!r} has {len(value)} entries; the input "
                    f"{tuple(x.shape)!r} has {dims} spatial dims (N, C, d1, ..., dK)"
                )
        area = self.mode == "area"  # adaptive pooling: only the spatial dims must be > 0
        for i in range(2 if area else 1, x.ndim):
            if x.shape[i] == 0:
                raise ShapeError(
                    f"{self.label}: input {tuple(x.shape)!r} has a zero-sized dim "
                    f"{i}; torch expects non-empty "
                    + ("spatial dims" if area else "C and spatial dims")
                )
        out: list[Dim] = []
        for n, (size, scale) in zip(x.shape[2:], self.per_axis(dims), strict=True):
            if size is not None:
                out.append(size)
            elif isinstance(n, int):
                assert scale is not None
                product = float(n) * scale
                if not product < LIMIT:
                    raise ShapeError(
                        f"{self.label}: scale_factor={self.scale_factor!r} gives "
                        f"an output size beyond int64 for input {x.shape!r}"
                    )
                if math.floor(product) < (0 if area else 1):
                    raise ShapeError(
                        f"{self.label}: input {tuple(x.shape)!r} with scale_factor="
                        f"{self.scale_factor!r} gives an output size of {math.floor(product)}"
                        "; input and output sizes should be greater than 0"
                    )
                out.append(math.floor(product))
            else:
                out.append(None)
        return [TensorSpec((*x.shape[:2], *out), x.dtype)]

    # ----------------------------------------------------------------- lowering
    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        _Lowering(self, g, c).run()


@register_layer
class UpsamplingNearest2d(Upsample):
    """``UpsamplingNearest2d(size=None, scale_factor=None)``: ``Upsample`` with
    ``mode='nearest'`` (torch's subclass).

    >>> from onnxlayers.builder import Input
    >>> UpsamplingNearest2d(scale_factor=2)(Input("x", ("N", 3, 4, 5))).shape
    ('N', 3, 8, 10)
    """

    examples = (
        Example({"scale_factor": 2}, ((2, 3, 5, 7),)),
        Example({"size": (9, 4)}, ((2, 3, 5, 7),)),
    )
    torch_functions = ("F.upsample_nearest",)

    def __init__(
        self, size: Any = None, scale_factor: Any = None, *, name: str | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest", name=name)

    def torch_args(self) -> dict[str, Any]:
        return {"size": self.size, "scale_factor": self.scale_factor}


@register_layer
class UpsamplingBilinear2d(Upsample):
    """``UpsamplingBilinear2d(size=None, scale_factor=None)``: ``Upsample`` with
    ``mode='bilinear', align_corners=True`` (torch's subclass).

    >>> from onnxlayers.builder import Input
    >>> UpsamplingBilinear2d(size=(6, 3))(Input("x", ("N", 3, 4, 5))).shape
    ('N', 3, 6, 3)
    """

    examples = (
        Example({"scale_factor": 2}, ((2, 3, 5, 7),)),
        Example({"scale_factor": (1.5, 0.6)}, ((2, 3, 5, 7),)),
    )
    torch_functions = ("F.upsample_bilinear",)

    def __init__(
        self, size: Any = None, scale_factor: Any = None, *, name: str | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True, name=name)

    def torch_args(self) -> dict[str, Any]:
        return {"size": self.size, "scale_factor": self.scale_factor}


@dataclass
class _Axis:
    """One spatial axis of a call: where it is, input and output sizes, the kernel's scale."""

    axis: int
    n: Num
    o: Num
    scale: float | None
    """The scale factor torch's kernel receives (None: it uses ``n / o``)."""

    @property
    def static(self) -> bool:
        return self.n.known and self.o.known


def _opmath(dtype: str) -> str:
    return F64 if dtype == F64 else F32


def _compute_scale(ax: _Axis, opmath: str) -> Num:
    """torch's ``compute_scales_value<opmath>``: ``1 / scale_factor`` or ``n / o``."""
    g = ax.n.g
    if ax.scale is not None and ax.scale > 0:
        return Num.const(g, np.float64(1.0 / ax.scale).astype(opmath), opmath, ax.n.hint)
    return ax.n.cast(opmath) / ax.o.cast(opmath)


def _area_scale(ax: _Axis, opmath: str, align: bool) -> Num:
    """torch's ``area_pixel_compute_scale<opmath>``."""
    if not align:
        return _compute_scale(ax, opmath)
    ratio = (ax.n - 1).cast(opmath) / (ax.o - 1).maximum(1).cast(opmath)
    return ax.o.ge(2).where(ratio, 0.0)


def _positions(ax: _Axis) -> Num:
    return Num.arange(ax.n.g, ax.o, ax.n.hint)


def _source(scale: Num, d: Num, opmath: str) -> Num:
    """``scale * (d + 0.5) - 0.5`` as torch's CPU kernels compute it: the compiler contracts
    it into one fused multiply-add (one rounding; measured: 1-pixel inputs scaled by 3 give
    -inf, not NaN, where the weight would otherwise round to 0). float32: the product is
    exact in float64, rounded once to float32; float64: long double while building, plain
    float64 in the graph."""
    half = d.cast(opmath) + 0.5
    if opmath == F32:
        return (scale.cast(F64) * half.cast(F64) - 0.5).cast(F32)
    if scale.known and half.known:
        wide = np.longdouble(scale.array) * half.array.astype(np.longdouble) - np.longdouble(0.5)
        return Num(d.g, wide.astype(np.float64), F64, d.hint)
    return scale * half - 0.5


def _floorf(v: Num) -> Num:
    """C's ``floorf`` of a float or double value (a double is rounded to float first)."""
    return v.cast(F32).floor()


def nearest_table(ax: _Axis, exact: bool, dtype: str, vectorized: Num) -> Num:
    """torch's source index of every output position along ``ax`` (nearest modes)."""
    d = _positions(ax)
    last = ax.n - 1
    scale32 = _compute_scale(ax, F32)  # nearest_idx / nearest_exact_idx: always float
    opmath = _opmath(dtype)
    scale = _compute_scale(ax, opmath)
    if exact:
        fast = _floorf((d.cast(F64) + 0.5) * scale32.cast(F64))
        real = _source(scale, d, opmath)
        real = real.lt(0.0).where(0.0, real)
        generic = _floorf(real.cast(F64) + 0.5)
        v = fast.cast(I64).minimum(last)
    else:
        general = _floorf(d.cast(F32) * scale32).cast(I64).minimum(last)
        v = ax.o.eq(ax.n).where(d, ax.o.eq(ax.n * 2).where(d.floordiv(2), general))
        generic = _floorf(d.cast(opmath) * scale)
    return vectorized.where(v, generic.cast(I64).minimum(last))


def linear_taps(ax: _Axis, align: bool, opmath: str) -> list[tuple[Num, Num]]:
    """torch's ``compute_source_index_and_lambda``: ``[(i0, l0), (i1, l1)]`` per position."""
    d = _positions(ax)
    scale = _area_scale(ax, opmath, align)
    dd = d.cast(opmath)
    real = scale * dd if align else _source(scale, d, opmath)
    if not align:
        real = real.lt(0.0).where(0.0, real)
    last = ax.n - 1
    i0 = _floorf(real).cast(I64).minimum(last)
    l1 = (real - i0.cast(opmath)).maximum(0.0).minimum(1.0)
    i1 = i0 + i0.lt(last).cast(I64)
    same = ax.o.eq(ax.n)
    i0, i1 = same.where(d, i0), same.where(d, i1)
    l0 = same.where(1.0, Num.const(ax.n.g, 1.0, opmath, ax.n.hint) - l1)
    l1 = same.where(0.0, l1)
    return [(i0, l0), (i1, l1)]


def _half_weights(taps: list[tuple[Num, Num]], mode: str, vectorized: Num) -> list[tuple[Num, Num]]:
    """float16 weights as torch's generic kernel stores them (``scalar_t`` lambdas): cubic
    coefficients rounded to half; linear ``l1`` rounded and ``l0 = 1 - l1`` computed in half
    (measured: weights 0.29980469 and 0.70019531 where float32 has 0.3 and 0.7). The
    vectorized kernel keeps float32."""

    def half(v: Num) -> Num:
        return v.cast("float16").cast(F32)

    if mode == "bicubic":
        return [(i, half(w)) for i, w in taps]
    (i0, l0), (i1, l1) = taps
    one = Num.const(l1.g, 1.0, F32, l1.hint)
    generic = vectorized.eq(False)
    return [(i0, generic.where(half(one - half(l1)), l0)), (i1, generic.where(half(l1), l1))]


def cubic_taps(ax: _Axis, align: bool, opmath: str) -> list[tuple[Num, Num]]:
    """torch's ``HelperInterpCubic``: four clamped taps with cubic convolution weights."""
    g = ax.n.g
    d = _positions(ax)
    scale = _area_scale(ax, opmath, align)
    dd = d.cast(opmath)
    real = scale * dd if align else _source(scale, d, opmath)  # no clamp for cubic
    last = ax.n - 1
    i0 = _floorf(real).cast(I64).minimum(last)
    t = (real - i0.cast(opmath)).maximum(0.0).minimum(1.0)
    one = Num.const(g, 1.0, opmath, ax.n.hint)

    def fma(x: Num, y: Num | float, z: float) -> Num:
        """``x * y + z`` rounded once, as torch's compiled polynomials are (float32: the
        product is exact in float64)."""
        if opmath == F64:
            return x * y + z
        y64 = y.cast(F64) if isinstance(y, Num) else y
        return (x.cast(F64) * y64 + z).cast(F32)

    def conv1(x: Num) -> Num:  # ((A + 2) * x - (A + 3)) * x * x + 1
        return fma(fma(x, A_CUBIC + 2, -(A_CUBIC + 3)) * x, x, 1.0)

    def conv2(x: Num) -> Num:  # ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
        return fma(fma(fma(x, A_CUBIC, -5 * A_CUBIC), x, 8 * A_CUBIC), x, -4 * A_CUBIC)

    weights = [conv2(t + 1.0), conv1(t), conv1(one - t), conv2((one - t) + 1.0)]
    zero = Num.const(g, 0, I64, ax.n.hint)
    return [((i0 + (j - 1)).minimum(last).maximum(zero), w) for j, w in enumerate(weights)]


class _Lowering:
    """One ``Upsample`` call being lowered."""

    def __init__(self, layer: Upsample, g: GraphBuilder, c: LowerCall) -> None:
        self.layer, self.g, self.c = layer, g, c
        spec = c.specs[0]
        self.rank, self.dtype, self.node = spec.ndim, spec.dtype, c.node
        self.x = c.inputs[0]
        out_shape = c.out_specs[0].shape
        node = self.node
        self.axes: list[_Axis] = []
        for k, (_, scale) in enumerate(layer.per_axis(self.rank - 2)):
            axis = 2 + k
            n = dim_of(g, self.x, spec.shape[axis], axis, f"{node}/{axis}")
            o_dim = out_shape[axis]
            if isinstance(o_dim, int):
                o = Num.const(g, o_dim, I64, n.hint)
            else:  # floor(n * scale) in double, as torch
                assert scale is not None
                o = (n.cast(F64) * scale).floor().cast(I64)
            self.axes.append(_Axis(axis, n, o, None if layer.recompute else scale))
        checks = [a.n.ge(1) for a in self.axes]
        if layer.mode != "area":  # adaptive pooling accepts C = 0 and an empty output
            checks += [a.o.ge(1) for a in self.axes]
        if layer.mode != "area" and not isinstance(spec.shape[1], int):
            checks.append(dim_of(g, self.x, spec.shape[1], 1, node).ge(1))
        self.x = guard(
            g,
            self.x,
            checks,
            f"Upsample {node!r}: input and output sizes should "
            "be greater than 0 and C non-empty (torch rejects it)",
            node,
        )

    @property
    def static(self) -> bool:
        return all(a.static for a in self.axes)

    def vectorized(self) -> Num:
        """Whether torch runs its vectorized (channels-last) kernel rather than the generic
        one (nearest and linear modes; for bilinear, torch also takes it with 1 thread and
        C == 3, which a graph cannot know):
        ``(C > 3 and a channels-last contiguous input) or OH + OW <= 128`` (4-D), ``C > 3``
        and channels-last (5-D), never (3-D). A contiguous (N, C, *spatial) input of C > 3 is
        channels-last contiguous only when every spatial dim is 1."""
        g, node = self.g, self.node
        if self.rank == 3:
            return Num.const(g, False, "bool", node)
        channels = dim_of(g, self.x, self.c.specs[0].shape[1], 1, node)
        cond = channels.ge(4)
        for a in self.axes:
            cond = cond.and_(a.n.eq(1))
        if self.rank == 5:
            return cond
        small = (self.axes[0].o + self.axes[1].o).lt(VECTORIZED_MAX_OUT + 1)
        return cond.or_(small)

    # ---------------------------------------------------------------- dispatch
    def run(self) -> None:
        mode = self.layer.mode
        if mode == "area":
            y = self.area()
        elif mode in ("nearest", "nearest-exact"):
            y = self.nearest(mode == "nearest-exact")
        else:
            y = self.interpolate()
        if any(y in n.output for n in self.g.nodes):
            self.g.rename(y, self.c.outputs[0])
        else:
            self.g.op("Identity", y, outputs=[self.c.outputs[0]], name=f"{self.node}/out")

    def work(self) -> str:
        return F32 if self.dtype == "float16" else self.dtype

    def to(self, b: GraphBuilder, x: str, dtype: str) -> str:
        """``x`` (of the input's dtype) as ``dtype``."""
        if dtype == self.dtype:
            return x
        return str(b.op("Cast", x, to=DTYPES[dtype], name=f"{self.node}/to_{dtype}"))

    # ---------------------------------------------------------------- nearest
    def nearest(self, exact: bool) -> str:
        g, node = self.g, self.node
        vec = self.vectorized()
        tables = [nearest_table(a, exact, self.dtype, vec) for a in self.axes]
        if all(
            t.known and np.array_equal(t.array, np.arange(int(a.n.array)))
            for t, a in zip(tables, self.axes, strict=True)
        ):
            return str(g.op("Identity", self.x, name=f"{node}/same"))
        if self.c.target != "cuda" and self.dtype != F64 and all(t.known for t in tables):
            options = [
                _nearest_options(a, t, exact) for a, t in zip(self.axes, tables, strict=True)
            ]
            attrs = (
                {
                    "coordinate_transformation_mode": "half_pixel",
                    "nearest_mode": "round_prefer_ceil",
                }
                if exact
                else {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
            )
            if _resizable(options):
                return self.resize(g, options, mode="nearest", **attrs)
        y = self.x
        for a, t in reversed(list(zip(self.axes, tables, strict=True))):
            if t.known and a.n.known and np.array_equal(t.array, np.arange(int(a.n.array))):
                continue
            y = str(g.op("Gather", y, t.name(), axis=a.axis, name=f"{node}/gather{a.axis}"))
        return y

    # ---------------------------------------------------------------- linear, cubic
    def interpolate(self) -> str:
        g, node, mode = self.g, self.node, self.layer.mode
        align = bool(self.layer.align_corners)
        opmath = _opmath(self.dtype)
        make = cubic_taps if mode == "bicubic" else linear_taps
        taps = [make(a, align, opmath) for a in self.axes]
        if self.dtype == "float16":  # torch's generic kernel keeps its weights in half
            taps = [_half_weights(t, mode, self.vectorized()) for t in taps]
        work = self.work()
        shaped = [
            [(i, self._column(w, a.axis).cast(work)) for i, w in t]
            for a, t in zip(self.axes, taps, strict=True)
        ]

        def exact(b: GraphBuilder) -> list[str]:
            y = self.to(b, self.x, work)
            for a, t in reversed(list(zip(self.axes, shaped, strict=True))):
                y = _weighted_taps(b, y, a.axis, t, f"{node}/{a.axis}")
            return [
                y
                if work == self.dtype
                else str(b.op("Cast", y, to=DTYPES[self.dtype], name=f"{node}/to_{self.dtype}"))
            ]

        if not self.static or self.c.target == "cuda":  # CUDA's MatMul may run in TF32
            return exact(g)[0]
        dense = [_dense(a, t, opmath) for a, t in zip(self.axes, taps, strict=True)]
        options = self._linear_options(dense) if mode != "bicubic" else None
        if options is not None and _resizable(options):
            ctm = "align_corners" if align else "half_pixel"

            def fast(b: GraphBuilder) -> list[str]:
                return [self.resize(b, options, mode="linear", coordinate_transformation_mode=ctm)]
        elif max(int(a.n.array) for a in self.axes) <= MATMUL_MAX_INPUT:

            def fast(b: GraphBuilder) -> list[str]:
                return [self.matmuls(b, dense)]
        else:
            return exact(g)[0]
        # both fast forms blend every tap with its weight, 0 included: 0 * inf is NaN there
        cond = nonfinite(g, self.x, f"{node}/check")
        (y,) = g.if_(cond, exact, fast, [(self.dtype, self.rank)], f"{node}/nan_or_inf")
        return y

    def matmuls(self, b: GraphBuilder, dense: Sequence[np.ndarray]) -> str:
        """Interpolation as one ``MatMul`` per axis with torch's (o, n) weight matrices,
        cheapest order first (the weights are torch's, the sums rounded like any GEMM)."""
        work = self.work()
        dims = [int(a.n.array) for a in self.axes]
        y = contract(b, self.to(b, self.x, work), dense, dims, work, self.node)
        return self.to_input_dtype(b, y, work)

    def to_input_dtype(self, b: GraphBuilder, y: str, work: str) -> str:
        if work == self.dtype:
            return y
        return str(b.op("Cast", y, to=DTYPES[self.dtype], name=f"{self.node}/to_{self.dtype}"))

    def resize(self, b: GraphBuilder, options: Sequence[_Options], **attrs: Any) -> str:
        """A ``Resize`` node by ``sizes`` when every axis allows it, else by ``scales``
        (see :func:`_resizable`)."""
        by_sizes = all(o.sizes for o in options)
        node = self.node
        if by_sizes:
            sizes = [int(a.o.array) for a in self.axes]
            if b.opset >= 18:
                return str(
                    b.op(
                        "Resize",
                        self.x,
                        "",
                        "",
                        b.ints(sizes, f"{node}/sizes"),
                        axes=list(range(2, self.rank)),
                        name=node,
                        **attrs,
                    )
                )
            lead = b.op("Shape", self.x, start=0, end=2, name=f"{node}/lead")
            full = b.op(
                "Concat", lead, b.ints(sizes, f"{node}/sizes"), axis=0, name=f"{node}/sizes"
            )
            return str(b.op("Resize", self.x, "", "", full, name=node, **attrs))
        scales = b.const([1.0, 1.0, *[o.scale for o in options]], F32, f"{node}/scales")
        return str(b.op("Resize", self.x, "", scales, name=node, **attrs))

    def _column(self, w: Num, axis: int) -> Num:
        """A per-position vector shaped to broadcast along ``axis`` of the input."""
        trailing = self.rank - 1 - axis
        if not trailing or (w.known and w.array.ndim == 0):
            return w
        return w.unsqueeze(list(range(1, 1 + trailing)))

    def _linear_options(self, dense: Sequence[np.ndarray]) -> list[_Options] | None:
        """How ``Resize`` reproduces torch's weights (``dense``, per axis) on each axis
        (static float32/float16 4-D/5-D inputs), or None: onnxruntime's coordinates are
        evaluated here and must give torch's weights within ``RESIZE_WEIGHT_TOLERANCE``."""
        if self.dtype == F64 or self.rank == 3:
            return None
        options = []
        align = bool(self.layer.align_corners)
        for a, want in zip(self.axes, dense, strict=True):
            n, o = int(a.n.array), int(a.o.array)
            close = {
                c: _weights_close(_ort_linear_weights(n, o, c, align), want)
                for c in {
                    1.0,
                    float(np.float32(o) / np.float32(n)),
                    float(np.float32(a.scale or 1.0)),
                }
            }
            derived = float(np.float32(o) / np.float32(n))
            # onnxruntime copies when the output shape equals the input's, whatever the scales
            candidates = (
                [1.0]
                if n == o
                else ([float(np.float32(a.scale))] if a.scale is not None else []) + [derived]
            )
            scale = next((c for c in candidates if close[c] and _resize_size_ok(n, o, c)), None)
            options.append(_Options(close[derived] and (n != o or derived == 1.0), scale))
        return options

    # ---------------------------------------------------------------- area
    def area(self) -> str:
        """``adaptive_avg_pool{1,2}d`` to the output size, axis by axis (W first)."""
        g, node = self.g, self.node
        work = self.work()
        x = (
            self.x
            if work == self.dtype
            else str(g.op("Cast", self.x, to=DTYPES[work], name=f"{node}/to_{work}"))
        )
        if any(int(a.o.array) == 0 for a in self.axes):
            lead = g.op("Shape", self.x, start=0, end=2, name=f"{node}/lead")
            shape = g.op(
                "Concat",
                lead,
                g.ints([int(a.o.array) for a in self.axes], f"{node}/out"),
                axis=0,
                name=f"{node}/shape",
            )
            return str(
                g.op(
                    "ConstantOfShape",
                    shape,
                    name=f"{node}/empty",
                    value=helper.make_tensor("v", DTYPES[self.dtype], [1], [0]),
                )
            )
        plans = [
            AxisPlan.make(g, a.axis, a.n, int(a.o.array), f"{node}/{a.axis}") for a in self.axes
        ]
        if all(p.kind == "keep" for p in plans):
            return str(g.op("Identity", self.x, name=f"{node}/same"))
        y = average(g, x, plans, self.rank, work, node, self.c.target)
        return (
            y
            if work == self.dtype
            else str(g.op("Cast", y, to=DTYPES[self.dtype], name=f"{node}/to_{self.dtype}"))
        )


def _weighted_taps(
    b: GraphBuilder, x: str, axis: int, taps: Sequence[tuple[Num, Num]], hint: str
) -> str:
    """``sum_j Gather(x, i_j, axis) * w_j`` in torch's order (``t0 * w0 + t1 * w1 ...``)."""
    acc: str | None = None
    for j, (i, w) in enumerate(taps):
        tap = b.op("Gather", x, i.name(), axis=axis, name=f"{hint}/tap{j}")
        term = b.op("Mul", tap, w.name(), name=f"{hint}/weighted{j}")
        acc = term if acc is None else b.op("Add", acc, term, name=f"{hint}/sum")
    assert acc is not None
    return str(acc)


def _resize_size_ok(n: int, o: int, scale: float) -> bool:
    """Whether ``Resize`` with ``scale`` makes ``o`` from ``n``: onnxruntime computes
    ``floor(n * scale)`` in float32, ONNX's shape inference (``check_model``) differently
    (5 * 1.8f gives 9 in one, 8 in the other), so both formulas must agree."""
    s32 = np.float32(scale)
    return int(np.floor(np.float32(n) * s32)) == o and math.floor(n * float(s32)) == o


def _resizable(options: Sequence[_Options]) -> bool:
    """Whether one ``Resize`` node reproduces torch on every axis."""
    return all(o.sizes for o in options) or all(o.scale is not None for o in options)


@dataclass(frozen=True)
class _Options:
    """How a ``Resize`` node can reproduce torch on one axis: by ``sizes`` (onnxruntime then
    uses the scale ``o / n``) and/or by ``scales`` with this value (None: not at all)."""

    sizes: bool
    scale: float | None


def _nearest_options(ax: _Axis, table: Num, exact: bool) -> _Options:
    """Which ``Resize`` nearest scales give exactly torch's ``table`` on this axis.

    onnxruntime (``upsample.h``): ``asymmetric`` maps ``d`` to ``d / scale`` and ``floor``
    rounds down; ``half_pixel`` maps to ``(d + 0.5) / scale - 0.5`` and ``round_prefer_ceil``
    rounds halves up; then the index is clamped to ``[0, n - 1]``. All in float32; by
    ``sizes`` the scale is ``float(o) / float(n)``.
    """
    n, o = int(ax.n.array), int(ax.o.array)
    want = table.array
    d = np.arange(o, dtype=np.float32)

    def matches(scale: float) -> bool:
        s = np.float32(scale)
        if exact:
            x = (d + np.float32(0.5)) / s - np.float32(0.5)
            f = np.floor(x)
            idx = f + (x - f >= np.float32(0.5))
        else:
            idx = np.floor(d / s)
        return bool(np.array_equal(np.clip(idx, 0, n - 1).astype(np.int64), want))

    derived = float(np.float32(o) / np.float32(n))
    # onnxruntime copies when the output shape equals the input's, whatever the scales
    candidates = (
        [1.0]
        if n == o
        else ([float(np.float32(ax.scale))] if ax.scale is not None else []) + [derived]
    )
    scale = next((c for c in candidates if matches(c) and _resize_size_ok(n, o, c)), None)
    return _Options(matches(derived) and (n != o or derived == 1.0), scale)


MATMUL_MAX_INPUT = 128
"""Largest spatial input size interpolated by ``MatMul`` (its work grows with it; beyond,
the exact taps are cheaper than a dense product)."""
RESIZE_WEIGHT_TOLERANCE = 2.0**-24
"""``Resize`` is used only where its interpolation weights are torch's within this."""


def _dense(ax: _Axis, taps: Sequence[tuple[Num, Num]], opmath: str) -> np.ndarray:
    """torch's interpolation along ``ax`` as an (o, n) weight matrix (taps that clamp to the
    same input element add up)."""
    n, o = int(ax.n.array), int(ax.o.array)
    m = np.zeros((o, n), np.float64)
    rows = np.arange(o)
    for i, w in taps:
        np.add.at(
            m,
            (rows, np.broadcast_to(i.array, (o,))),
            np.broadcast_to(w.array.astype(np.float64), (o,)),
        )
    return m.astype(opmath)


def _weights_close(got: np.ndarray, want: np.ndarray) -> bool:
    return bool(np.abs(got - want).max(initial=0) <= RESIZE_WEIGHT_TOLERANCE)


def _ort_linear_weights(n: int, o: int, scale: float, align: bool) -> np.ndarray:
    """onnxruntime's ``Resize`` linear weights along one axis as an (o, n) matrix
    (``upsample.cc``: source ``(d + 0.5) / scale - 0.5`` or ``d * (n - 1) / (o - 1)``, clamped
    to the input, taps ``floor`` and the next one, weights ``1 - frac`` and ``frac``, 0.5 each
    when both taps are the last element; float32 throughout)."""
    d = np.arange(o, dtype=np.float32)
    f32 = np.float32
    if align:
        x = np.zeros(o, f32) if o == 1 else d * f32(n - 1) / f32(o - 1)
    else:
        x = (d + f32(0.5)) / f32(scale) - f32(0.5)
    x = np.maximum(f32(0), np.minimum(x, f32(n - 1)))
    x1 = np.minimum(x.astype(np.int64), n - 1)
    x2 = np.minimum(x1 + 1, n - 1)
    dx1, dx2 = np.abs(x - x1.astype(f32)), np.abs(x - x2.astype(f32))
    same = x1 == x2
    dx1, dx2 = np.where(same, f32(0.5), dx1), np.where(same, f32(0.5), dx2)
    m = np.zeros((o, n), np.float64)
    rows = np.arange(o)
    np.add.at(m, (rows, x1), dx2.astype(np.float64))
    np.add.at(m, (rows, x2), dx1.astype(np.float64))
    return m
