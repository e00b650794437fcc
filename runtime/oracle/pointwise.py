"""NumPy oracles of torch's point-wise activations, written from torch's definitions.

Each computes in float64 (torch computes float32 and float16 in float32; the scalar arguments are
rounded to that type first, as torch rounds them) and rounds once to the input's dtype. Softplus
computes in torch's own type, because its float32 ``exp`` overflow is part of its result.

>>> import numpy as np
>>> x = np.array([-1.0, 0.0, 2.0, 7.0])
>>> relu6(OracleCall({}, {}, [x], {}, False))[0]
array([0., 0., 2., 6.])
>>> [round(float(v), 12) for v in erf(np.array([0.5, -3.0, np.inf]))]
[0.520499877813, -0.999977909503, 1.0]
"""

from __future__ import annotations

import math

import numpy as np

from ._registry import OracleCall, implements

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def opmath(dtype: np.dtype) -> type[np.floating]:
    """The type torch computes activations of ``dtype`` in on CPU."""
    return np.float64 if dtype == np.float64 else np.float32


def rounded(value: float, dtype: np.dtype) -> float:
    """A scalar argument as torch holds it for an input of ``dtype``."""
    return float(opmath(dtype)(value))


def wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64)


# --------------------------------------------------------------------------- erf
def erf(z: np.ndarray) -> np.ndarray:
    """The error function in float64, vectorised (NumPy has none): the positive series
    ``2/sqrt(pi) * exp(-z^2) * sum(2^n z^(2n+1) / (1*3*...*(2n+1)))`` for ``|z| < 3`` and a
    continued fraction of ``erfc`` past it; both accurate to a few ulp."""
    z = np.asarray(z, dtype=np.float64)
    a = np.abs(z)
    with np.errstate(all="ignore"):
        small = np.minimum(a, 3.0)
        term = small.copy()
        total = small.copy()
        for n in range(1, 90):  # terms shrink below 1e-17 of the sum by n ~ 80 at a = 3
            term = term * 2.0 * small * small / (2 * n + 1)
            total = total + term
        series = 2.0 / math.sqrt(math.pi) * np.exp(-small * small) * total
        big = np.maximum(a, 3.0)
        frac = np.zeros_like(big)
        for k in range(120, 0, -1):  # erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + ...)))
            frac = (k / 2.0) / (big + frac)
        tail = 1.0 - np.exp(-big * big) / math.sqrt(math.pi) / (big + frac)
        out = np.where(a < 3.0, series, tail)
    return np.where(np.isnan(z), np.nan, np.copysign(out, z))


# --------------------------------------------------------------------------- clamps
def clamp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """torch's ``clamp``: bounds in x's dtype; NaN stays NaN; a NaN bound gives all NaN."""
    if math.isnan(lo) or math.isnan(hi):
        return np.full_like(x, np.nan)
    lo_x, hi_x = x.dtype.type(lo), x.dtype.type(hi)
    return np.where(x < lo_x, lo_x, np.where(x > hi_x, hi_x, x))


@implements("ReLU6")
def relu6(c: OracleCall) -> list[np.ndarray]:
    return [clamp(c.x, 0.0, 6.0)]


@implements("Hardtanh")
def hardtanh(c: OracleCall) -> list[np.ndarray]:
    return [clamp(c.x, float(c.args.get("min_val", -1.0)), float(c.args.get("max_val", 1.0)))]


# --------------------------------------------------------------------------- exponential units
def elu(x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """torch's ``elu``: ``x < 0 ? alpha * scale * expm1(x * input_scale) : x * scale``."""
    v = wide(x)
    with np.errstate(all="ignore"):
        neg = np.expm1(v * input_scale) * alpha * scale
        return np.where(v < 0, neg, v * scale).astype(x.dtype)


@implements("ELU")
def elu_(c: OracleCall) -> list[np.ndarray]:
    return [elu(c.x, rounded(c.args.get("alpha", 1.0), c.x.dtype))]


@implements("SELU")
def selu(c: OracleCall) -> list[np.ndarray]:
    return [elu(c.x, SELU_ALPHA, SELU_SCALE)]


@implements("CELU")
def celu(c: OracleCall) -> list[np.ndarray]:
    alpha = float(c.args.get("alpha", 1.0))
    return [elu(c.x, rounded(alpha, c.x.dtype), 1.0, rounded(1.0 / alpha, c.x.dtype))]


# --------------------------------------------------------------------------- GELU, SiLU, Mish
@implements("GELU")
def gelu(c: OracleCall) -> list[np.ndarray]:
    v = wide(c.x)
    with np.errstate(all="ignore"):
        if c.args.get("approximate", "none") == "tanh":
            inner = math.sqrt(2.0 / math.pi) * (v + 0.044715 * v * v * v)
            y = 0.5 * v * (1.0 + np.tanh(inner))
        else:
            y = v * 0.5 * (1.0 + erf(v * math.sqrt(0.5)))
    return [y.astype(c.x.dtype)]


@implements("SiLU")
def silu(c: OracleCall) -> list[np.ndarray]:
    v = wide(c.x)
    with np.errstate(all="ignore"):
        return [(v / (1.0 + np.exp(-v))).astype(c.x.dtype)]


@implements("Mish")
def mish(c: OracleCall) -> list[np.ndarray]:
    v = wide(c.x)
    with np.errstate(all="ignore"):
        return [(v * np.tanh(np.log1p(np.exp(v)))).astype(c.x.dtype)]


@implements("Hardswish")
def hardswish(c: OracleCall) -> list[np.ndarray]:
    v = wide(c.x)
    with np.errstate(all="ignore"):
        return [(v * np.minimum(np.maximum(v + 3.0, 0.0), 6.0) / 6.0).astype(c.x.dtype)]


@implements("Hardsigmoid")
def hardsigmoid(c: OracleCall) -> list[np.ndarray]:
    v = wide(c.x)
    return [(np.minimum(np.maximum(v + 3.0, 0.0), 6.0) / 6.0).astype(c.x.dtype)]


@implements("Softplus")
def softplus(c: OracleCall) -> list[np.ndarray]:
    """``x * beta > threshold ? x : log1p(exp(x * beta)) / beta`` in torch's compute type."""
    t = opmath(c.x.dtype)
    v = c.x.astype(t)
    beta, threshold = t(c.args.get("beta", 1.0)), t(c.args.get("threshold", 20.0))
    with np.errstate(all="ignore"):
        z = v * beta
        y = np.where(z > threshold, v, np.log1p(np.exp(z)) / beta)
    return [y.astype(c.x.dtype)]
