"""NumPy oracle of ``Upsample`` (``F.interpolate``), from torch's CPU kernels.

Written from ``aten/src/ATen/native/UpSample.h`` and ``cpu/UpSampleKernel.cpp``: per spatial
axis an index table (and weights) is computed in the precision torch uses, then applied axis by
axis from the innermost one, as torch's generic kernel nests its loops.

* Output size: ``size``, or ``floor(n * scale_factor)`` (double). The kernel's scale is
  ``1 / scale_factor`` (not recomputed) or ``n / o``.
* ``nearest``: ``floor(d * scale)`` capped at ``n - 1``. torch's vectorized kernel (used when
  ``OH + OW <= 128`` for 4-D, or C > 3 with a channels-last input) computes in float32 and
  maps ``o == n`` to the identity and ``o == 2n`` to ``d >> 1``; its generic kernel computes
  in the accumulation type without those cases. ``nearest-exact``: ``floor((d + 0.5) * scale)``
  (vectorized) or ``floor(max(scale * (d + 0.5) - 0.5, 0) + 0.5)`` (generic).
* linear modes: ``src = scale * (d + 0.5) - 0.5`` clamped at 0 (or ``scale * d`` with
  ``align_corners``, scale ``(n - 1) / (o - 1)``), taps ``floor(src)`` and the next one
  (capped), weights ``1 - l``, ``l``; ``o == n`` copies with weights (1, 0); then
  ``t0 * w0 + t1 * w1`` per axis. ``bicubic``: four clamped taps, cubic convolution weights
  (A = -0.75). ``area``: the adaptive average (see :mod:`.adaptive`).
* ``scale * (d + 0.5) - 0.5`` is one fused multiply-add in torch's compiled kernels: so here.

>>> import numpy as np
>>> x = np.arange(3.0).reshape(1, 1, 3)
>>> args = {"size": None, "scale_factor": 2.0, "mode": "linear", "align_corners": False,
...         "recompute_scale_factor": None}
>>> upsample(OracleCall(args, {}, [x], {}, False))[0].tolist()
[[[0.0, 0.25, 0.75, 1.25, 1.75, 2.0]]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._registry import OracleCall, implements
from .adaptive import windows

A_CUBIC = -0.75


def _per_axis(value: Any, dims: int) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * dims


def _scale(n: int, o: int, factor: float | None, dtype: type) -> Any:
    """``compute_scales_value<dtype>``."""
    if factor is not None and factor > 0:
        return dtype(1.0 / factor)
    return dtype(n) / dtype(o)


def _area_scale(n: int, o: int, factor: float | None, align: bool, dtype: type) -> Any:
    """``area_pixel_compute_scale<dtype>``."""
    if align:
        return dtype(n - 1) / dtype(o - 1) if o > 1 else dtype(0)
    return _scale(n, o, factor, dtype)


def _source(s: Any, d: np.ndarray, opmath: type) -> np.ndarray:
    """``s * (d + 0.5) - 0.5`` fused into one multiply-add, as torch's compiled kernels do
    (float32: exact product in float64, one rounding; float64: long double)."""
    half = d.astype(opmath) + opmath(0.5)
    if opmath is np.float32:
        return (np.float64(s) * half.astype(np.float64) - 0.5).astype(np.float32)
    wide = np.longdouble(s) * half.astype(np.longdouble) - np.longdouble(0.5)
    return wide.astype(np.float64)


def nearest_index(
    n: int, o: int, factor: float | None, exact: bool, vectorized: bool, opmath: type
) -> np.ndarray:
    """torch's nearest (or nearest-exact) source index of each output position."""
    d = np.arange(o)
    if vectorized:
        s = _scale(n, o, factor, np.float32)
        if exact:  # floorf((d + 0.5) * scale): the product in double, rounded to float
            i = np.floor(((d + 0.5) * np.float64(s)).astype(np.float32))
        elif o == n:
            i = d
        elif o == 2 * n:
            i = d >> 1
        else:
            i = np.floor(d.astype(np.float32) * s)
    else:
        s = _scale(n, o, factor, opmath)
        if exact:
            real = _source(s, d, opmath)
            real = np.where(real < 0, opmath(0), real)
            i = np.floor((real.astype(np.float64) + 0.5).astype(np.float32))
        else:
            i = np.floor((d.astype(opmath) * s).astype(np.float32))
    return np.minimum(i.astype(np.int64), n - 1)


def linear_taps(
    n: int, o: int, factor: float | None, align: bool, opmath: type, store: Any = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``compute_source_index_and_lambda``: ``[(i0, l0), (i1, l1)]``; with ``store`` (the
    lambdas' type when it is not ``opmath``) ``l1`` is rounded to it and ``l0 = 1 - l1``
    computed in it, as torch's generic kernel does for float16."""
    d = np.arange(o)
    if o == n:
        return [(d, np.ones(o, opmath)), (d, np.zeros(o, opmath))]
    s = _area_scale(n, o, factor, align, opmath)
    dd: np.ndarray = d.astype(opmath)
    real = s * dd if align else _source(s, d, opmath)
    if not align:
        real = np.where(real < 0, opmath(0), real)
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n - 1)
    l1 = np.clip(real - i0.astype(opmath), 0, 1).astype(opmath)
    i1 = i0 + (i0 < n - 1)
    if store is not None:
        l1 = l1.astype(store)
        return [(i0, (store(1) - l1).astype(store).astype(opmath)), (i1, l1.astype(opmath))]
    return [(i0, (opmath(1) - l1).astype(opmath)), (i1, l1)]


def cubic_taps(
    n: int, o: int, factor: float | None, align: bool, opmath: type
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``HelperInterpCubic``: four taps clamped to the input, cubic convolution weights."""
    d = np.arange(o)
    s = _area_scale(n, o, factor, align, opmath)
    dd: np.ndarray = d.astype(opmath)
    real = s * dd if align else _source(s, d, opmath)
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n - 1)
    t = np.clip(real - i0.astype(opmath), 0, 1).astype(opmath)

    def fma(x: np.ndarray, y: Any, z: float) -> np.ndarray:  # one rounding, as compiled
        if opmath is np.float64:
            return x * y + z
        return (x.astype(np.float64) * np.asarray(y, np.float64) + z).astype(np.float32)

    def near(x: np.ndarray) -> np.ndarray:  # ((A + 2) * x - (A + 3)) * x * x + 1, |x| <= 1
        return fma(fma(x, A_CUBIC + 2, -(A_CUBIC + 3)) * x, x, 1.0)

    def far(x: np.ndarray) -> np.ndarray:  # ((A * x - 5A) * x + 8A) * x - 4A, 1 < |x| < 2
        return fma(fma(fma(x, A_CUBIC, -5 * A_CUBIC), x, 8 * A_CUBIC), x, -4 * A_CUBIC)

    one = opmath(1)
    weights = [far(t + one), near(t), near(one - t), far(one - t + one)]
    return [(np.clip(i0 + j - 1, 0, n - 1), w.astype(opmath)) for j, w in enumerate(weights)]


def _apply(
    y: np.ndarray, axis: int, taps: Sequence[tuple[np.ndarray, np.ndarray]], fused: bool = False
) -> np.ndarray:
    """``sum_j y[..., i_j, ...] * w_j`` along ``axis``. ``fused``: float32 as torch's generic
    kernel is compiled, with fused multiply-adds: ``fma(t0, w0, t1 * w1)`` for two taps (bit
    for bit, measured), ``t0 * w0`` then ``fma(tj, wj, out)`` for four."""
    shape = [1] * y.ndim
    shape[axis] = -1
    terms = [(np.take(y, i, axis=axis), w.astype(y.dtype).reshape(shape)) for i, w in taps]
    if fused and y.dtype == np.float32:

        def fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
            return (a.astype(np.float64) * b + c.astype(np.float64)).astype(np.float32)

        if len(terms) == 2:
            (t0, w0), (t1, w1) = terms
            return fma(t0, w0, t1 * w1)
        acc = terms[0][0] * terms[0][1]
        for t, w in terms[1:]:
            acc = fma(t, w, acc)
        return acc
    out: np.ndarray | None = None
    for t, w in terms:
        out = t * w if out is None else out + t * w
    assert out is not None
    return out


def _area(x: np.ndarray, outs: Sequence[int]) -> np.ndarray:
    """``adaptive_avg_pool{1,2}d``: every window gathered whole (N, C, o1, K1, o2, K2...),
    its valid taps summed (float64) and divided by its area."""
    spatial = x.ndim - 2
    index, masks = [], []
    count: Any = 1
    for k in range(spatial):
        taps, valid, length = windows(x.shape[2 + k], outs[k])
        shape = [1] * (2 * spatial)
        shape[2 * k], shape[2 * k + 1] = taps.shape
        index.append(taps.reshape(shape))
        masks.append(valid.reshape(shape))
        per_axis = [1] * spatial
        per_axis[k] = -1
        count = count * length.reshape(per_axis)
    where: tuple[Any, ...] = (slice(None), slice(None), *index)
    win = x.astype(np.float64)[where]
    mask = np.logical_and.reduce(np.broadcast_arrays(*masks))
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
        total = np.where(mask, win, 0.0).sum(axis=tuple(range(3, 2 + 2 * spatial, 2)))
        return (total / count).astype(x.dtype)


@implements("Upsample")
def upsample(c: OracleCall) -> list[np.ndarray]:
    """torch's ``F.interpolate`` for ``nn.Upsample``'s arguments."""
    x = c.x
    mode = c.args.get("mode", "nearest")
    align = bool(c.args.get("align_corners") or False)
    dims = x.ndim - 2
    first = 2 if mode == "area" else 1  # adaptive pooling accepts C = 0
    if dims < 1 or any(d == 0 for d in x.shape[first:]):
        raise ValueError(f"Upsample: input of shape {x.shape}; expected non-empty (N, C, ...)")
    sizes = _per_axis(c.args.get("size"), dims)
    factors = _per_axis(c.args.get("scale_factor"), dims)
    outs = [
        int(s) if s is not None else math.floor(float(n) * float(f))
        for n, s, f in zip(x.shape[2:], sizes, factors, strict=True)
    ]
    if mode == "area":  # adaptive average pooling: an empty output is fine
        if any(o < 0 for o in outs):
            raise ValueError(f"Upsample: output size {outs} should be >= 0")
        if 0 in outs:
            return [np.zeros((*x.shape[:2], *outs), x.dtype)]
        return [_area(x, outs)]
    if any(o <= 0 for o in outs):
        raise ValueError(f"Upsample: output size {outs} should be greater than 0")
    recompute = bool(c.args.get("recompute_scale_factor"))
    kernel = [None if recompute or f is None else float(f) for f in factors]
    opmath = np.float64 if x.dtype == np.float64 else np.float32
    y = x
    # torch's vectorized kernels: C > 3 with a channels-last input (a contiguous one is that
    # only with a 1x1 plane), or (2-D) OH + OW <= 128; 1-D always the generic one
    channels_last = x.shape[1] > 3 and all(d == 1 for d in x.shape[2:])
    vectorized = dims > 1 and (channels_last or (dims == 2 and outs[0] + outs[1] <= 128))
    if mode in ("nearest", "nearest-exact"):
        for k in reversed(range(dims)):
            i = nearest_index(
                x.shape[2 + k], outs[k], kernel[k], mode == "nearest-exact", vectorized, opmath
            )
            y = np.take(y, i, axis=2 + k)
        return [y]
    y = x.astype(opmath)
    half = x.dtype == np.float16 and (mode == "bicubic" or not vectorized)  # generic kernel
    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf is NaN, as in torch
        for k in reversed(range(dims)):  # innermost first, as torch's nested interpolation
            n = x.shape[2 + k]
            if mode == "bicubic":
                taps = [
                    (i, w.astype(x.dtype).astype(opmath) if half else w)
                    for i, w in cubic_taps(n, outs[k], kernel[k], align, opmath)
                ]
            else:
                taps = linear_taps(
                    n, outs[k], kernel[k], align, opmath, np.float16 if half else None
                )
            y = _apply(y, 2 + k, taps, fused=mode == "bicubic" or not vectorized)
    return [y.astype(x.dtype)]


@implements("UpsamplingNearest2d")
def upsampling_nearest2d(c: OracleCall) -> list[np.ndarray]:
    """``nn.UpsamplingNearest2d``: :func:`upsample` with ``mode='nearest'``."""
    args = {**c.args, "mode": "nearest", "align_corners": None, "recompute_scale_factor": None}
    return upsample(OracleCall(args, c.weights, c.inputs, c.call_args, c.training, c.node))


@implements("UpsamplingBilinear2d")
def upsampling_bilinear2d(c: OracleCall) -> list[np.ndarray]:
    """``nn.UpsamplingBilinear2d``: :func:`upsample` with ``mode='bilinear',
    align_corners=True``."""
    args = {**c.args, "mode": "bilinear", "align_corners": True, "recompute_scale_factor": None}
    return upsample(OracleCall(args, c.weights, c.inputs, c.call_args, c.training, c.node))
