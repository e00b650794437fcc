"""torch's point-wise activations: ``ReLU6``, ``Hardtanh``, ``ELU``, ``SELU``, ``CELU``, ``GELU``,
``SiLU``, ``Mish``, ``Hardswish``, ``Hardsigmoid`` and ``Softplus``, exactly, lowered for speed.

Arguments are validated like torch does (torch checks some only when the module runs; we check
them when the layer is built). torch converts each scalar argument to the type it computes in,
and refuses a finite value that overflows it: float32 for float32 and float16 inputs (float16 is
computed in float32 and rounded once, and so is it here), the input's own type for
``Hardtanh``'s bounds. Those checks need the input dtype, so they run when the layer is called.

>>> from onnxlayers.builder import Input
>>> x = Input("x", ("N", 16))
>>> [layer(x).shape for layer in (ReLU6(), GELU("tanh"), Softplus(beta=2.0))]
[('N', 16), ('N', 16), ('N', 16)]

How each layer is lowered (measured on onnxruntime 1.32, CPU, 1.6M floats: its ``Where`` costs
~35 ns per element, ~40x an ``Exp``; its ``Softplus`` and ``Mish`` kernels are scalar loops ~30x
slower than ``Exp``; ``Elu``/``Selu`` ~5x, and they compute ``exp(x) - 1``):

* ``ReLU6``/``Hardtanh``: ``Clip`` with both bounds given in the input's dtype: it keeps NaN and
  -0.0 as torch's clamp does (with a bound missing, onnxruntime turns +-inf into +-FLT_MAX), and
  onnxruntime fuses it into a preceding ``Conv``. A NaN bound makes torch's clamp all NaN.
* ELU, SELU and CELU are torch's ``elu``, ``x < 0 ? alpha * scale * expm1(x * input_scale) :
  x * scale``, as ``Clip(x, 0, inf) * scale + 2 * alpha * scale * t / (1 - t)``, ``t =
  tanh(Clip(x, -inf, 0) * input_scale / 2)`` (``expm1 = 2t / (1 - t)``: relative error ~3e-7
  where ``exp(x) - 1`` loses every digit near 0, as onnxruntime's ``Elu`` does: 6e-4 relative
  at x = -1e-4): -0.0, NaN and +-inf come out as torch's, and every op has a CUDA kernel that
  keeps them (the CUDA ``Elu`` and ``Selu`` kernels turn -0.0 into +0.0). Eight cheap passes
  cost about 1.5x one ``Elu`` on CPU. An ``alpha`` that is not finite and > 0 uses ``Where``
  (which drops the sign of a -0.0 taken from its second input).
* ``GELU('none')``: ``x * (1 + Erf(x / sqrt 2)) * 0.5`` in the form onnxruntime fuses into its
  ``Gelu`` kernel (as fast as ai.onnx ``Gelu``, and there before opset 20 too). onnxruntime has no
  float64 ``Erf``: float64 evaluates ``erfc(a) = exp(-a^2) * P(t)``, ``t = 1/(1 + a/2)``,
  ``a = |x|/sqrt 2`` clamped to 6, with a degree-20 polynomial (error of erf < 1e-15).
  ``GELU('tanh')``: ai.onnx ``Gelu(approximate='tanh')`` from opset 20 in float32, else torch's
  formula. torch's float32 kernel returns +0.0 where the result underflows for x <= -0.0 (an
  FMA artefact; its float64 kernel gives -0.0): those zeros may differ in sign here.
* ``SiLU``: torch's ``x / (1 + exp(-x))`` (onnxruntime's ``Sigmoid`` kernel loses all relative
  precision below x = -16; ``x * Sigmoid(x)`` is 3e-6 off there). ``Mish``: ``x * n / (n + 2)``,
  ``n = u * (u + 2)``, ``u = exp(min(x, 20))``, which is ``x * tanh(softplus(x))`` without a
  logarithm (ai.onnx ``Mish`` runs a ``Softplus`` 30x slower than this; no CUDA kernel).
* ``Hardswish``/``Hardsigmoid``: the ai.onnx ops in float32 (``HardSigmoid`` fuses into
  ``Conv``); float64, which has no CPU kernel, uses torch's formula
  ``x * clamp(x + 3, 0, 6) / 6``.
* ``Softplus``: ``log1p(exp(z))`` with ``z = beta * x`` as ``log(w) - ((w - 1) - u) / w``,
  ``u = exp(z)``, ``w = 1 + u`` (compensated, overflowing to inf as torch's does), then
  ``min(s / beta, max(x, threshold / beta))``, which is torch's ``z > threshold ? x : s / beta``
  whenever ``17 <= threshold < 88`` (37 and 709 in float64) and ``beta`` > 0 is finite. Other
  finite betas select with ``max(min(x, h), min(s, -h))``, ``h = +-inf`` (exact, -0.0 too, and
  no ``Where``); a non-finite beta uses ``Where``.
* float16 inputs are cast to float32, computed, and cast back (as torch does on CPU), except for
  ``Clip``, which is exact in any type.

``target="cuda"`` uses the same graphs: every op they use has a CUDA kernel (ai.onnx ``Mish``
and ``Celu`` have none), and none relies on onnxruntime's CPU-only NaN or -0.0 behaviour.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import LayerArgumentError, LayerTypeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, elementwise
from ..registry import register_layer
from ..tensor import DTYPES, TensorSpec

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Mish",
    "ReLU6",
    "SiLU",
    "Softplus",
    "Work",
    "opmath",
    "real_arg",
]

INT64_RANGE = (-(2**63), 2**63 - 1)


# --------------------------------------------------------------------------- arguments
def real_arg(layer: str, name: str, value: Any) -> float:
    """torch's ``Number`` argument (a bool, an int that fits int64, or a float) as a float.

    >>> real_arg("ELU", "alpha", True), real_arg("ELU", "alpha", 2)
    (1.0, 2.0)
    >>> try:
    ...     real_arg("ELU", "alpha", "1")
    ... except LayerTypeError as e:
    ...     print(e)
    ELU: alpha='1' is invalid; expected a real number (a float, an int or a bool)
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        if not INT64_RANGE[0] <= value <= INT64_RANGE[1]:
            raise LayerArgumentError(
                f"{layer}: {name}={value!r} is invalid; expected an int that fits int64 "
                "(torch: int too big to convert)"
            )
        return float(value)
    if isinstance(value, float):
        return value
    raise LayerTypeError(
        f"{layer}: {name}={value!r} is invalid; expected a real number (a float, an int or a bool)"
    )


def opmath(dtype: str) -> str:
    """The type torch computes ``dtype`` activations in on CPU (float16 in float32).

    >>> opmath("float16"), opmath("float64")
    ('float32', 'float64')
    """
    return "float64" if dtype == "float64" else "float32"


def check_fits(layer: str, name: str, value: float, dtype: str, input_dtype: str) -> None:
    """Raise like torch when a finite scalar overflows the type it is converted to."""
    limit = float(np.finfo(np.dtype(dtype)).max)
    if math.isfinite(value) and abs(value) > limit:
        raise LayerArgumentError(
            f"{layer}: {name}={value!r} cannot be converted to {dtype} without overflow "
            f"(torch converts it so for a {input_dtype} input); expected |{name}| <= {limit:.8g}"
        )


# --------------------------------------------------------------------------- graph helper
class Work:
    """Writes one layer's nodes in a working dtype, with scalar constants made once each.

    ``op`` names every node after the layer's node name; :meth:`finish` makes the last value
    the layer's output (renaming the last node's output when it produced it).
    """

    def __init__(self, g: GraphBuilder, c: LowerCall, dtype: str) -> None:
        self.g, self.c, self.dtype = g, c, dtype
        self._consts: dict[str, str] = {}

    def k(self, value: float) -> str:
        """A 0-d constant holding ``value`` in the working dtype."""
        arr = np.asarray(value, dtype=self.dtype)
        key = arr.tobytes().hex()
        if key not in self._consts:
            self._consts[key] = self.g.const(arr, self.dtype, f"{self.c.node}/k")
        return self._consts[key]

    def ints(self, values: Sequence[int]) -> str:
        return self.g.ints(values, f"{self.c.node}/axes")

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        out: str = self.g.op(op_type, *inputs, name=f"{self.c.node}/{op_type}", **attrs)
        return out

    def cast(self, x: str, dtype: str) -> str:
        return self.op("Cast", x, to=DTYPES[dtype])

    def finish(self, y: str, out: str) -> None:
        last = self.g.nodes[-1] if self.g.nodes else None
        if last is not None and len(last.output) == 1 and last.output[0] == y and y != out:
            last.output[0] = out
        else:
            self.g.op("Identity", y, outputs=[out], name=f"{self.c.node}/Identity")

    # ------------------------------------------------------------------ shared formulas
    def clip(self, x: str, lo: float, hi: float) -> str:
        """``Clip`` with both bounds given (keeps NaN and -0.0)."""
        return self.op("Clip", x, self.k(lo), self.k(hi))

    def expm1(self, y: str) -> str:
        """``expm1(y) = tanh(y / 2) * (exp(y) + 1)``: relative error ~3e-7 in float32, sign of
        zero kept, -1 at -inf, inf where exp overflows, NaN for NaN."""
        t = self.op("Tanh", self.op("Mul", y, self.k(0.5)))
        return self.op("Mul", t, self.op("Add", self.op("Exp", y), self.k(1.0)))

    def select(self, cond: str, a: str, b: str) -> str:
        """``cond ? a : b`` without ``Where``: ``max(min(a, h), min(b, -h))`` with ``h = +inf``
        where ``cond`` and ``-inf`` elsewhere. Exact (inf and -0.0 included) provided ``b`` is
        not NaN where ``cond`` holds, nor ``a`` where it does not (a NaN there leaks through)."""
        h = self.op(
            "Mul", self.op("Sub", self.cast(cond, self.dtype), self.k(0.5)), self.k(math.inf)
        )
        return self.op("Max", self.op("Min", a, h), self.op("Min", b, self.op("Neg", h)))


def lower_elu(w: Work, x: str, alpha: float, input_scale: float = 1.0, scale: float = 1.0) -> str:
    """torch's ``elu``: ``x < 0 ? alpha * scale * expm1(x * input_scale) : x * scale`` (ELU;
    SELU with torch's ``scale``; CELU with ``input_scale = 1 / alpha``), all three already in
    working precision.

    With finite ``alpha`` > 0 and finite ``input_scale`` > 0 (every SELU, and ELU/CELU as
    usually used): ``Clip(x, 0, inf) * scale + (2 * alpha * scale) * t / (1 - t)`` with
    ``t = tanh(Clip(x, -inf, 0) * input_scale / 2)``, since ``expm1(y) = 2t / (1 - t)``:
    relative error ~3e-7 (``exp(y) - 1`` loses every digit near 0), 1 - t in [1, 2) never
    cancels, -0.0 gives -0.0, NaN stays NaN, +-inf give inf and -alpha * scale. Otherwise
    (torch accepts any alpha) the literal formula with ``Where``; ``alpha == 0`` gives
    ``Clip(x, -0.0, inf)`` (torch's ``0 * expm1(x)`` is -0.0 for x < 0).
    """
    fast = math.isfinite(alpha) and alpha > 0 and math.isfinite(input_scale) and input_scale > 0
    if alpha == 0 and scale == 1.0:
        return w.clip(x, -0.0, math.inf)
    if not fast:
        inner = x if input_scale == 1.0 else w.op("Mul", x, w.k(input_scale))
        neg = w.op("Mul", w.expm1(inner), w.k(alpha * scale))
        pos = x if scale == 1.0 else w.op("Mul", x, w.k(scale))
        return w.op("Where", w.op("Less", x, w.k(0.0)), neg, pos)
    t = w.op("Tanh", w.op("Mul", w.clip(x, -math.inf, 0.0), w.k(0.5 * input_scale)))
    ratio = w.op("Div", t, w.op("Sub", w.k(1.0), t))
    coef = in_precision(2.0 * alpha * scale, w.dtype)
    if not math.isfinite(coef):  # 2 * alpha overflows: double first, then scale
        ratio, coef = w.op("Add", ratio, ratio), alpha * scale
    pos = w.clip(x, 0.0, math.inf)
    if scale != 1.0:
        pos = w.op("Mul", pos, w.k(scale))
    return w.op("Add", pos, w.op("Mul", ratio, w.k(coef)))


def in_precision(value: float, dtype: str) -> float:
    """``value`` rounded to ``dtype`` (how torch holds a scalar while computing)."""
    with np.errstate(over="ignore"):
        return float(np.asarray(value, dtype=np.dtype(dtype)))


# --------------------------------------------------------------------------- base classes
class _Pointwise(Layer):
    """An element-wise layer: output spec = input spec; float16 computed in float32."""

    upcast_half: ClassVar[bool] = True
    """Cast float16 inputs to float32 around :meth:`lower` (torch's CPU kernels compute so)."""

    def __init__(self, inplace: bool = False, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.inplace = bool(inplace)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        specs = elementwise(inputs, self)
        self.check_scalars(inputs[0].dtype)
        return specs

    def check_scalars(self, dtype: str) -> None:
        """Raise where torch would refuse a scalar argument for an input of ``dtype``."""

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        dtype = c.dtype
        work = opmath(dtype) if self.upcast_half else dtype
        w = Work(g, c, work)
        x = c.inputs[0] if work == dtype else w.cast(c.inputs[0], work)
        y = self.lower(w, x)
        if work != dtype:
            y = w.cast(y, dtype)
        w.finish(y, c.outputs[0])

    def lower(self, w: Work, x: str) -> str:
        """Nodes computing the layer on ``x`` (in ``w.dtype``); returns the result's name."""
        raise NotImplementedError


# --------------------------------------------------------------------------- clamps
@register_layer
class Hardtanh(_Pointwise):
    """``Hardtanh(min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None)``:
    torch's ``clamp(x, min_val, max_val)``; ``min_value``/``max_value`` are torch's deprecated
    spellings (a FutureWarning, as in torch). torch requires ``max_val > min_val``; a NaN bound
    passes that check and makes every output NaN, as in torch.

    >>> from onnxlayers.builder import Input
    >>> Hardtanh(-2.0, 2.0)(Input("x", (3,))).shape
    (3,)
    """

    upcast_half = False  # Clip is exact in any type; torch clamps float16 in float16
    examples: ClassVar[tuple[Example, ...]] = (
        Example({"min_val": -2.0, "max_val": 3.0}, ((2, 3, 8, 8),)),
        Example({}, ((2, 3),)),
        Example({"min_val": 0, "max_val": math.inf}, ((2, 5, 3),)),
    )
    torch_functions: ClassVar[tuple[str, ...]] = ("F.hardtanh", "F.hardtanh_")

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(inplace, name=name)
        kind = type(self).__name__
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`",
                FutureWarning,
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`",
                FutureWarning,
                stacklevel=2,
            )
            max_val = max_value
        self.min_val = real_arg(kind, "min_val", min_val)
        self.max_val = real_arg(kind, "max_val", max_val)
        if self.max_val <= self.min_val:
            raise LayerArgumentError(
                f"{kind}: max_val={self.max_val!r} must be greater than min_val="
                f"{self.min_val!r} (torch asserts it)"
            )

    def output_floor(self, inputs: Sequence[float] = ()) -> float:
        return -math.inf if math.isnan(self.min_val) else self.min_val

    def torch_args(self) -> dict[str, Any]:
        return {"min_val": self.min_val, "max_val": self.max_val}

    def check_scalars(self, dtype: str) -> None:
        for arg in ("min_val", "max_val"):
            check_fits(self.label, arg, getattr(self, arg), dtype, dtype)

    def lower(self, w: Work, x: str) -> str:
        lo, hi = self.min_val, self.max_val
        if math.isnan(lo) or math.isnan(hi):  # torch's clamp with a NaN bound: all NaN
            return w.op("Add", x, w.k(math.nan))
        return w.clip(x, lo, hi)


@register_layer
class ReLU6(Hardtanh):
    """``ReLU6(inplace=False)``: ``clamp(x, 0, 6)`` (torch's ``Hardtanh(0.0, 6.0)``).

    >>> from onnxlayers.builder import Input
    >>> ReLU6()(Input("x", (2, 4))).shape
    (2, 4)
    """

    examples = (Example({}, ((2, 3),)), Example({"inplace": True}, ((2, 3, 8, 8),)))
    torch_functions = ("F.relu6",)

    def __init__(self, inplace: bool = False, *, name: str | None = None) -> None:
        super().__init__(0.0, 6.0, inplace, name=name)

    def torch_args(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------- exponential units
@register_layer
class ELU(_Pointwise):
    """``ELU(alpha=1.0, inplace=False)``: ``x < 0 ? alpha * expm1(x) : x`` (zeros pass through).

    >>> from onnxlayers.builder import Input
    >>> ELU(0.5)(Input("x", ("N", 3))).shape
    ('N', 3)
    """

    examples = (
        Example({"alpha": 0.7}, ((2, 3, 8, 8),)),
        Example({}, ((2, 5),)),
        Example({"alpha": -1.5}, ((2, 4),)),
    )
    torch_functions = ("F.elu", "F.elu_")

    def __init__(
        self, alpha: float = 1.0, inplace: bool = False, *, name: str | None = None
    ) -> None:
        super().__init__(inplace, name=name)
        self.alpha = real_arg(type(self).__name__, "alpha", alpha)

    def output_floor(self, inputs: Sequence[float] = ()) -> float:
        return -abs(self.alpha)  # alpha * expm1(x) for x < 0, else x

    def torch_args(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def check_scalars(self, dtype: str) -> None:
        check_fits(self.label, "alpha", self.alpha, opmath(dtype), dtype)

    def lower(self, w: Work, x: str) -> str:
        return lower_elu(w, x, in_precision(self.alpha, w.dtype))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@register_layer
class SELU(_Pointwise):
    """``SELU(inplace=False)``: ``scale * (x < 0 ? alpha * expm1(x) : x)`` with torch's
    constants (alpha = 1.6732632423543772, scale = 1.0507009873554805).

    >>> from onnxlayers.builder import Input
    >>> SELU()(Input("x", (4,))).shape
    (4,)
    """

    floor = -2.0  # scale * alpha * expm1(x) > -1.76
    examples = (Example({}, ((2, 3),)), Example({}, ((2, 3, 8, 8),)))
    torch_functions = ("F.selu", "F.selu_", "torch.selu")

    def lower(self, w: Work, x: str) -> str:
        alpha, scale = (in_precision(v, w.dtype) for v in (SELU_ALPHA, SELU_SCALE))
        return lower_elu(w, x, alpha, scale=scale)


@register_layer
class CELU(_Pointwise):
    """``CELU(alpha=1.0, inplace=False)``: ``x < 0 ? alpha * expm1(x * (1 / alpha)) : x``.

    torch rejects ``alpha == 0`` (when the module runs; here when it is built), and refuses an
    ``alpha`` whose reciprocal overflows float32 for float32 and float16 inputs.

    >>> from onnxlayers.builder import Input
    >>> CELU(2.0)(Input("x", (2, 3))).shape
    (2, 3)
    """

    examples = (
        Example({"alpha": 2.5}, ((2, 3, 8, 8),)),
        Example({}, ((2, 5),)),
        Example({"alpha": -0.5}, ((3, 4),)),
    )
    torch_functions = ("F.celu", "F.celu_", "torch.celu")

    def __init__(
        self, alpha: float = 1.0, inplace: bool = False, *, name: str | None = None
    ) -> None:
        super().__init__(inplace, name=name)
        kind = type(self).__name__
        self.alpha = real_arg(kind, "alpha", alpha)
        if self.alpha == 0:
            raise LayerArgumentError(
                f"{kind}: alpha={alpha!r} is invalid; expected a nonzero number "
                "(torch: ZeroDivisionError: alpha cannot be 0 for CELU)"
            )

    def output_floor(self, inputs: Sequence[float] = ()) -> float:
        return -abs(self.alpha)

    def torch_args(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def check_scalars(self, dtype: str) -> None:
        check_fits(self.label, "alpha", self.alpha, opmath(dtype), dtype)
        check_fits(self.label, "1/alpha", 1.0 / self.alpha, opmath(dtype), dtype)

    def lower(self, w: Work, x: str) -> str:
        alpha = in_precision(self.alpha, w.dtype)
        return lower_elu(w, x, alpha, in_precision(1.0 / self.alpha, w.dtype))


# --------------------------------------------------------------------------- GELU
ERFC_COEFFS = (
    0.37853741692924003,
    0.4221875836134463,
    0.16940759095447921,
    0.032993429477929666,
    -0.001670244403963833,
    -0.0016653643670651206,
    0.00013358426020224293,
    0.00010054189947291081,
    -2.2700103032521174e-05,
    -4.271117286234264e-06,
    2.8379495259894822e-06,
    -2.8234713709851764e-07,
    -1.9799122257732405e-07,
    8.649231715337128e-08,
    -7.00432870724791e-09,
    -7.383291688336474e-09,
    3.7301849878245304e-09,
    -2.5732728625820446e-10,
    -4.448629413100408e-10,
    8.867200519355543e-11,
    2.4046645476218427e-11,
)
"""``exp(a^2) * erfc(a) = sum(c[k] * u^k)`` on ``0 <= a <= 6``, ``t = 1 / (1 + a / 2)``,
``u = (8 t - 5) / 3`` (a least-squares Chebyshev fit in 40-digit arithmetic, converted to powers
of u; relative error < 5e-15). Past a = 6, erfc < 2e-17 and the clamped value is as good."""


def lower_erf_double(w: Work, z: str) -> tuple[str, str]:
    """``(sign(z), erfc(|z|))`` in float64 from standard ops (onnxruntime has no float64 Erf
    on CPU): ``erf(z) = sign(z) * (1 - erfc(|z|))``."""
    a = w.op("Abs", z)
    t = w.op("Reciprocal", w.op("Add", w.op("Mul", w.op("Min", a, w.k(6.0)), w.k(0.5)), w.k(1.0)))
    u = w.op("Sub", w.op("Mul", t, w.k(8.0 / 3.0)), w.k(5.0 / 3.0))
    poly = w.k(ERFC_COEFFS[-1])
    for coef in ERFC_COEFFS[-2::-1]:
        poly = w.op("Add", w.op("Mul", poly, u), w.k(coef))
    gauss = w.op("Exp", w.op("Neg", w.op("Mul", a, a)))
    return w.op("Sign", z), w.op("Mul", gauss, poly)


GELU_KAPPA = 0.044715
GELU_BETA = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5  # torch's kBeta, sqrt(2/pi)


@register_layer
class GELU(_Pointwise):
    """``GELU(approximate='none')``: ``x * Phi(x)``, or with ``approximate='tanh'`` torch's
    ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))``.

    >>> from onnxlayers.builder import Input
    >>> GELU("tanh")(Input("x", (2, 3))).shape
    (2, 3)
    """

    floor = -1.0  # about -0.17
    examples = (Example({}, ((2, 3, 8, 8),)), Example({"approximate": "tanh"}, ((2, 7),)))
    torch_functions = ("F.gelu",)

    def __init__(self, approximate: str = "none", *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(approximate, str):
            raise LayerTypeError(
                f"GELU: approximate={approximate!r} is invalid; expected the str 'none' or 'tanh'"
            )
        if approximate not in ("none", "tanh"):
            raise LayerArgumentError(
                f"GELU: approximate={approximate!r} is invalid; expected 'none' or 'tanh'"
            )
        self.approximate = approximate

    def torch_args(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def lower(self, w: Work, x: str) -> str:
        if self.approximate == "tanh":
            if w.dtype == "float32" and w.g.opset >= 20:
                return w.op("Gelu", x, approximate="tanh")
            cube = w.op("Mul", w.op("Mul", x, x), x)
            inner = w.op("Add", x, w.op("Mul", cube, w.k(GELU_KAPPA)))
            t = w.op("Tanh", w.op("Mul", inner, w.k(GELU_BETA)))
            return w.op("Mul", w.op("Mul", x, w.k(0.5)), w.op("Add", t, w.k(1.0)))
        if w.dtype == "float64":
            sign, erfc = lower_erf_double(w, w.op("Mul", x, w.k(math.sqrt(0.5))))
            erf = w.op("Mul", sign, w.op("Sub", w.k(1.0), erfc))
            return w.op("Mul", w.op("Mul", x, w.k(0.5)), w.op("Add", erf, w.k(1.0)))
        # The pattern onnxruntime's GeluFusion turns into one Gelu kernel.
        erf = w.op("Erf", w.op("Div", x, w.k(math.sqrt(2.0))))
        return w.op("Mul", w.op("Mul", x, w.op("Add", erf, w.k(1.0))), w.k(0.5))


# --------------------------------------------------------------------------- sigmoid family
@register_layer
class SiLU(_Pointwise):
    """``SiLU(inplace=False)``: ``x * sigmoid(x)``, as torch computes it: ``x / (1 + exp(-x))``
    (NaN at -inf, -0.0 where exp overflows). onnxruntime's ``Sigmoid`` kernel is off by up to
    6.5x in relative terms below x = -16 (3e-6 absolute in ``x * Sigmoid(x)``).

    >>> from onnxlayers.builder import Input
    >>> SiLU()(Input("x", (5,))).shape
    (5,)
    """

    floor = -1.0  # about -0.28
    examples = (Example({}, ((2, 3),)), Example({}, ((2, 3, 8, 8),)))
    torch_functions = ("F.silu",)

    def lower(self, w: Work, x: str) -> str:
        return w.op("Div", x, w.op("Add", w.op("Exp", w.op("Neg", x)), w.k(1.0)))


MISH_CLAMP = 20.0
"""Past this, tanh(softplus(x)) is 1.0 in float32 and float64, and exp stays finite."""


@register_layer
class Mish(_Pointwise):
    """``Mish(inplace=False)``: ``x * tanh(softplus(x))``, computed as ``x * n / (n + 2)`` with
    ``n = u * (u + 2)``, ``u = exp(min(x, 20))`` (the same function, no logarithm).

    >>> from onnxlayers.builder import Input
    >>> Mish()(Input("x", (2, 2))).shape
    (2, 2)
    """

    floor = -1.0  # about -0.31
    examples = (Example({}, ((2, 3),)), Example({}, ((2, 3, 8, 8),)))
    torch_functions = ("F.mish",)

    def lower(self, w: Work, x: str) -> str:
        u = w.op("Exp", w.op("Min", x, w.k(MISH_CLAMP)))
        n = w.op("Mul", u, w.op("Add", u, w.k(2.0)))
        return w.op("Mul", x, w.op("Div", n, w.op("Add", n, w.k(2.0))))


def _relu6_shifted(w: Work, x: str) -> str:
    return w.clip(w.op("Add", x, w.k(3.0)), 0.0, 6.0)


@register_layer
class Hardswish(_Pointwise):
    """``Hardswish(inplace=False)``: ``x * clamp(x + 3, 0, 6) / 6``.

    >>> from onnxlayers.builder import Input
    >>> Hardswish()(Input("x", (3,))).shape
    (3,)
    """

    floor = -1.0  # -0.375
    examples = (Example({}, ((2, 3),)), Example({}, ((2, 3, 8, 8),)))
    torch_functions = ("F.hardswish",)

    def lower(self, w: Work, x: str) -> str:
        if w.dtype == "float32":
            return w.op("HardSwish", x)
        return w.op("Div", w.op("Mul", x, _relu6_shifted(w, x)), w.k(6.0))


@register_layer
class Hardsigmoid(_Pointwise):
    """``Hardsigmoid(inplace=False)``: ``clamp(x + 3, 0, 6) / 6``.

    >>> from onnxlayers.builder import Input
    >>> Hardsigmoid()(Input("x", (3,))).shape
    (3,)
    """

    floor = 0.0
    examples = (Example({}, ((2, 3),)), Example({}, ((2, 3, 8, 8),)))
    torch_functions = ("F.hardsigmoid",)

    def lower(self, w: Work, x: str) -> str:
        if w.dtype == "float32":
            return w.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)
        return w.op("Div", _relu6_shifted(w, x), w.k(6.0))


# --------------------------------------------------------------------------- Softplus
SOFTPLUS_RANGE = {"float32": (17.0, 88.0), "float64": (37.0, 709.0)}
"""Thresholds ``t`` where the ``Min``/``Max`` form is torch's: ``log1p(exp(t)) == t`` in that
type (from below) and ``exp`` of every ``z <= t`` is finite (from above)."""


@register_layer
class Softplus(_Pointwise):
    """``Softplus(beta=1.0, threshold=20.0)``: ``beta * x > threshold ? x :
    log1p(exp(beta * x)) / beta``, as torch computes it (float32 overflow included).

    >>> from onnxlayers.builder import Input
    >>> Softplus(beta=2.0, threshold=10.0)(Input("x", (2, 3))).shape
    (2, 3)
    """

    examples = (
        Example({}, ((2, 3, 8, 8),)),
        Example({"beta": 2.0, "threshold": 25.0}, ((2, 6),)),
        Example({"beta": 0.5, "threshold": 1.0}, ((2, 6),)),
    )
    torch_functions = ("F.softplus",)

    def __init__(
        self, beta: float = 1.0, threshold: float = 20.0, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        kind = type(self).__name__
        self.beta = real_arg(kind, "beta", beta)
        self.threshold = real_arg(kind, "threshold", threshold)

    def output_floor(self, inputs: Sequence[float] = ()) -> float:
        # beta > 0: x where beta * x > threshold, else log1p(exp(beta * x)) / beta >= 0
        return min(0.0, self.threshold / self.beta) if self.beta > 0 else -math.inf

    def torch_args(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}

    def check_scalars(self, dtype: str) -> None:
        for arg in ("beta", "threshold"):
            check_fits(self.label, arg, getattr(self, arg), opmath(dtype), dtype)

    def log1p_exp(self, w: Work, z: str) -> str:
        """``log1p(exp(z))``: ``log(w) - ((wc - 1) - uc) / wc`` with ``u = exp(z)``,
        ``w = 1 + u`` and ``uc = min(u, 1)``, ``wc = 1 + uc`` (the rounding error of ``w``,
        kept finite when ``exp`` overflows and the result is inf, as torch's)."""
        u = w.op("Exp", z)
        big = w.op("Add", u, w.k(1.0))
        uc = w.op("Min", u, w.k(1.0))
        wc = w.op("Add", uc, w.k(1.0))
        err = w.op("Sub", w.op("Sub", wc, w.k(1.0)), uc)
        return w.op("Sub", w.op("Log", big), w.op("Div", err, wc))

    def lower(self, w: Work, x: str) -> str:
        beta = in_precision(self.beta, w.dtype)
        thr = in_precision(self.threshold, w.dtype)
        z = x if beta == 1.0 else w.op("Mul", x, w.k(beta))
        s = self.log1p_exp(w, z)
        if beta != 1.0:
            s = w.op("Div", s, w.k(beta))
        low, high = SOFTPLUS_RANGE[w.dtype]
        if math.isfinite(beta) and beta > 0 and low <= thr < high:
            # z > thr: s / beta >= x (and is x to rounding, or inf where exp overflows), and
            # max(x, thr / beta) = x; z <= thr: s / beta <= thr / beta = max(x, thr / beta).
            cap = w.op("Max", x, w.k(float(np.asarray(thr / beta, w.dtype))))
            return w.op("Min", s, cap)
        above = w.op("Greater", z, w.k(thr))
        if math.isfinite(beta):  # then s is never NaN where z > thr (inf at most)
            return w.select(above, x, s)
        return w.op("Where", above, x, s)
