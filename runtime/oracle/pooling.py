"""NumPy oracles of ``MaxPool2d`` and ``AvgPool2d``, written from torch's CPU kernels.

Both walk each window's taps in torch's scan order (row by row), one shifted strided slice of
the padded input per tap, so every step is one array operation over all windows at once. The
output size is recomputed here from torch's formula (``aten/src/ATen/native/Pool.h``),
independently of the builder.

* max: start at -inf with torch's initial index (each axis' first tap at or past 0); a tap
  inside the input replaces the best when ``value > best or isnan(value)``, so NaN propagates
  and the last NaN of a window gives the index; ties keep the first.
* average: sum the taps inside the input in torch's accumulation type (float32 for float32 and
  float16, float64 for float64), in scan order, then divide by ``divisor_override``, by the
  window clipped to the padded input (``count_include_pad``) or by its count of valid taps.

>>> import numpy as np
>>> x = np.array([[[1.0, np.nan, 5.0, 2.0, 7.0]]])
>>> args = {"kernel_size": [1, 2], "stride": [1, 2], "padding": [0, 0], "dilation": [1, 1],
...         "return_indices": True, "ceil_mode": True}
>>> max_pool2d(OracleCall(args, {}, [x], {}, False))
[array([[[nan,  5.,  7.]]]), array([[[1, 2, 4]]])]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._registry import OracleCall, implements


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def output_size(
    size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool
) -> int:
    """torch's ``pooling_output_shape``: floor (or ceil) division, ceil's last window dropped
    when it would start in the right padding.

    >>> output_size(5, 2, 1, 2, 1, True), output_size(6, 2, 1, 2, 1, True)
    (3, 4)
    """
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * pad - span + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


@dataclass
class Axis:
    """One spatial axis of a window grid: the input size and torch's window arguments."""

    size: int
    kernel: int
    stride: int
    pad: int
    dilation: int
    out: int

    def starts(self) -> np.ndarray:
        return np.arange(self.out) * self.stride - self.pad

    def taps(self, i: int) -> np.ndarray:
        """Input coordinate of tap ``i`` of every window (may be outside the input)."""
        return self.starts() + i * self.dilation

    def first_tap(self) -> np.ndarray:
        """torch's initial max index per window: its first tap at or past 0."""
        start = self.starts()
        return start + (np.maximum(-start, 0) + self.dilation - 1) // self.dilation * self.dilation

    def end_pad(self) -> int:
        return max(
            0,
            (self.out - 1) * self.stride
            + (self.kernel - 1) * self.dilation
            + 1
            - self.size
            - self.pad,
        )


@dataclass
class Tap:
    """One tap of every window: its values (a strided view), validity and plane positions."""

    values: np.ndarray
    valid: np.ndarray | None
    rows: np.ndarray
    cols: np.ndarray


def grid(x4: np.ndarray, args: Mapping[str, Any]) -> tuple[Axis, Axis]:
    """Both axes of the window grid of a (N, C, H, W) input under torch's arguments."""
    kernel, padding = _pair(args["kernel_size"]), _pair(args["padding"])
    stride = _pair(args["stride"]) if args.get("stride") not in (None, [], ()) else kernel
    dilation = _pair(args.get("dilation", 1))
    ceil = bool(args.get("ceil_mode", False))
    axes = []
    for i in (0, 1):
        size = x4.shape[2 + i]
        out = output_size(size, kernel[i], padding[i], stride[i], dilation[i], ceil)
        if out < 1 or size < 1:
            raise ValueError(f"pooling: output size is too small ({out}) for input size {size}")
        axes.append(Axis(size, kernel[i], stride[i], padding[i], dilation[i], out))
    return axes[0], axes[1]


def taps(x4: np.ndarray, h: Axis, w: Axis) -> Iterator[Tap]:
    """Every tap of the windows, in torch's scan order (rows, then columns in a row)."""
    pads = ((0, 0), (0, 0), (h.pad, h.end_pad()), (w.pad, w.end_pad()))
    padded = np.pad(x4, pads)
    for i in range(h.kernel):
        rows = h.taps(i)
        row_ok = (rows >= 0) & (rows < h.size)
        r0 = i * h.dilation
        for j in range(w.kernel):
            cols = w.taps(j)
            col_ok = (cols >= 0) & (cols < w.size)
            c0 = j * w.dilation
            view = padded[
                :,
                :,
                r0 : r0 + (h.out - 1) * h.stride + 1 : h.stride,
                c0 : c0 + (w.out - 1) * w.stride + 1 : w.stride,
            ]
            valid = None if row_ok.all() and col_ok.all() else row_ok[:, None] & col_ok[None, :]
            yield Tap(view, valid, rows, cols)


def _batched(x: np.ndarray) -> np.ndarray:
    if x.ndim not in (3, 4):
        raise ValueError(f"pooling: input of rank {x.ndim}; expected 3 or 4")
    return x[None] if x.ndim == 3 else x


def _unbatched(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return y[0] if x.ndim == 3 else y


@implements("MaxPool2d")
def max_pool2d(c: OracleCall) -> list[np.ndarray]:
    """torch's ``max_pool2d_with_indices`` CPU loop, vectorised over windows."""
    x = c.x
    x4 = _batched(x)
    h, w = grid(x4, c.args)
    shape = (*x4.shape[:2], h.out, w.out)
    best = np.full(shape, -np.inf, dtype=x4.dtype)
    index = np.broadcast_to(h.first_tap()[:, None] * w.size + w.first_tap()[None, :], shape).astype(
        np.int64
    )
    update = np.empty(shape, dtype=bool)
    for tap in taps(x4, h, w):
        np.greater(tap.values, best, out=update)
        update |= np.isnan(tap.values)
        if tap.valid is not None:
            update &= tap.valid
        np.copyto(best, tap.values, where=update)
        np.copyto(index, tap.rows[:, None] * w.size + tap.cols[None, :], where=update)
    out = [_unbatched(best, x)]
    if c.args.get("return_indices", False):
        out.append(_unbatched(index, x))
    return out


@implements("AvgPool2d")
def avg_pool2d(c: OracleCall) -> list[np.ndarray]:
    """torch's ``avg_pool2d`` CPU loop: a scan-order sum in the accumulation type, divided."""
    x = c.x
    x4 = _batched(x)
    h, w = grid(x4, c.args)
    acc = np.float64 if x4.dtype == np.float64 else np.float32
    total = np.zeros((*x4.shape[:2], h.out, w.out), dtype=acc)
    with np.errstate(invalid="ignore", over="ignore"):
        for tap in taps(x4.astype(acc, copy=False), h, w):
            total += tap.values  # padding taps read the zero padding: torch skips them
        divisor = _divisor(h, w, c.args)
        y = total / divisor.astype(acc)
    return [_unbatched(y.astype(x4.dtype), x)]


def _divisor(h: Axis, w: Axis, args: Mapping[str, Any]) -> np.ndarray:
    override = args.get("divisor_override")
    if override is not None:
        return np.asarray(override)
    counts = []
    for axis in (h, w):
        start = axis.starts()
        if args.get("count_include_pad", True):
            counts.append(np.minimum(start + axis.kernel, axis.size + axis.pad) - start)
        else:
            counts.append(np.minimum(start + axis.kernel, axis.size) - np.maximum(start, 0))
    return counts[0][:, None] * counts[1][None, :]
