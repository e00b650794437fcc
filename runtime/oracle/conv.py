"""NumPy oracles of ``Conv2d`` and ``ConvTranspose2d``, written from torch's definitions.

* Conv2d: torch's ``F.pad`` for a non-zero ``padding_mode`` (``np.pad`` modes ``reflect``,
  ``edge``, ``wrap``; torch's limits on the pad widths are checked here too), zero padding
  otherwise (``"same"``: ``total // 2`` before, the rest after), then the valid
  cross-correlation ``out[n, o] = bias[o] + sum_{c in o's group, i, j} w[o, c, i, j] *
  x[n, c, s*y + d*i, s*x + d*j]``: the kernel taps come from ``sliding_window_view`` (strided
  by the stride and the dilation), are copied once into an (N, groups, C/groups * kh * kw,
  OH * OW) im2col array and multiplied with the weight in one batched ``matmul`` over all
  groups (no Python loop over channels, groups or pixels).
* ConvTranspose2d: the adjoint. Every input pixel times the weight gives a (kh, kw) patch for
  all taps at once (one batched ``matmul``); patches are accumulated into the full output by
  one strided slice per kernel tap (``full[s*y + d*i, s*x + d*j] += ...``), which is then
  cropped by ``padding`` at both ends and extended by ``output_padding`` zeros at the end
  (``output_size`` picks that padding as torch's ``_output_padding`` does).

Products are computed in float64 and rounded once to the input's dtype.

>>> import numpy as np
>>> args = {"kernel_size": [1, 2], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1],
...         "groups": 1, "bias": False, "padding_mode": "zeros"}
>>> x = np.array([[[1.0, 2.0, 3.0]]])
>>> conv2d(OracleCall(args, {"weight": np.array([[[[1.0, 10.0]]]])}, [x], {}, False))[0]
array([[[21., 32.]]])
>>> targs = {**args, "output_padding": [0, 0]}
>>> w = np.array([[[[1.0, 10.0]]]])
>>> conv_transpose2d(OracleCall(targs, {"weight": w}, [np.array([[[1.0, 2.0]]])], {}, False))[0]
array([[[ 1., 12., 20.]]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import DataError
from ._registry import OracleCall, implements

_NP_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _batched(x: np.ndarray, node: str, kind: str) -> np.ndarray:
    if x.ndim not in (3, 4):
        raise DataError(f"{node}: {kind} expects a 3-D or 4-D input; got shape {x.shape}")
    return x[None] if x.ndim == 3 else x


def conv_pads(args: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) padding of a ``Conv2d``, torch's ``"same"`` rule included.

    >>> conv_pads({"padding": "same", "kernel_size": [4, 3], "dilation": [1, 2]})
    (1, 2, 2, 2)
    """
    padding = args.get("padding", 0)
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        k, d = _pair(args["kernel_size"]), _pair(args.get("dilation", 1))
        total = [d[i] * (k[i] - 1) for i in (0, 1)]
        return (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    ph, pw = _pair(padding)
    return (ph, pw, ph, pw)


def _torch_pad(x: np.ndarray, pads: tuple[int, int, int, int], mode: str, node: str) -> np.ndarray:
    """torch's ``F.pad`` of the last two dims (zeros / reflect / replicate / circular)."""
    top, left, bottom, right = pads
    for size, before, after in ((x.shape[2], top, bottom), (x.shape[3], left, right)):
        if mode == "reflect" and max(before, after) >= size:
            raise DataError(
                f"{node}: reflect padding {(before, after)} needs each side < the "
                f"input size {size} (torch's F.pad)"
            )
        if mode == "circular" and max(before, after) > size:
            raise DataError(
                f"{node}: circular padding {(before, after)} wraps around more "
                f"than once (input size {size})"
            )
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    if mode == "zeros":
        return np.pad(x, widths)
    return np.pad(x, widths, mode=_NP_PAD_MODE[mode])  # type: ignore[call-overload]


def correlate(
    x: np.ndarray, w: np.ndarray, stride: tuple[int, int], dilation: tuple[int, int], groups: int
) -> np.ndarray:
    """The valid grouped cross-correlation of a padded (N, C, H, W) ``x`` with an
    (O, C / groups, kh, kw) ``w``, in ``x``'s dtype (call it with float64 arrays).

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> correlate(x, np.ones((1, 1, 2, 2)), (2, 2), (1, 1), 1)[0, 0]
    array([[10., 18.],
           [42., 50.]])
    """
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    oh, ow = (h - span[0]) // stride[0] + 1, (wd - span[1]) // stride[1] + 1
    win = sliding_window_view(x, span, axis=(2, 3))[
        :, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]
    ]  # N C OH OW kh kw
    # im2col as (N, G, Cg * kh * kw, OH * OW): the copy reads rows of the input contiguously
    cols = np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(
        n, groups, cg * kh * kw, oh * ow
    )
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf propagate as in torch
        y = w.reshape(groups, og, cg * kh * kw) @ cols  # (N, G, Og, OH * OW)
    return y.reshape(n, o, oh, ow)


@implements("Conv2d")
def conv2d(c: OracleCall) -> list[np.ndarray]:
    """torch's ``Conv2d.forward``: ``F.pad`` (non-zero modes), then ``F.conv2d``."""
    x = c.x
    xb = _batched(x, c.node, "Conv2d").astype(np.float64)
    w = c.weights["weight"].astype(np.float64)
    k, s, d = _pair(c.args["kernel_size"]), _pair(c.args["stride"]), _pair(c.args["dilation"])
    groups = int(c.args.get("groups", 1))
    if xb.shape[1] != w.shape[1] * groups:
        raise DataError(
            f"{c.node}: input has {xb.shape[1]} channels; expected {w.shape[1] * groups}"
        )
    if 0 in xb.shape[1:]:
        raise DataError(f"{c.node}: only zero batch inputs are supported (shape {x.shape})")
    xp = _torch_pad(xb, conv_pads(c.args), c.args.get("padding_mode", "zeros"), c.node)
    span = [d[i] * (k[i] - 1) + 1 for i in (0, 1)]
    if xp.shape[2] < span[0] or xp.shape[3] < span[1]:
        raise DataError(
            f"{c.node}: padded input size per channel {xp.shape[2:]} is smaller "
            f"than the dilated kernel {tuple(span)}"
        )
    y = correlate(xp, w, s, d, groups)
    if "bias" in c.weights:
        y = y + c.weights["bias"].astype(np.float64)[:, None, None]
    return [(y[0] if x.ndim == 3 else y).astype(x.dtype)]


def transposed_output_padding(
    args: Mapping[str, Any], in_hw: Sequence[int], lead: int, output_size: Any
) -> tuple[int, int]:
    """torch's ``_ConvTransposeNd._output_padding``: ``output_padding`` unless an
    ``output_size`` (2 values, or ``lead + 2`` with the batch / channel dims) is given.

    >>> a = {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1, "output_padding": 0}
    >>> transposed_output_padding(a, (5, 5), 2, (1, 4, 10, 9))
    (1, 0)
    """
    k, s, p = _pair(args["kernel_size"]), _pair(args["stride"]), _pair(args["padding"])
    d = _pair(args.get("dilation", 1))
    if output_size is None:
        op = _pair(args.get("output_padding", 0))
        for i in (0, 1):
            if op[i] < 0 or op[i] >= max(s[i], d[i]):
                raise DataError(
                    f"output_padding {op} must be >= 0 and smaller than either "
                    f"stride {s} or dilation {d}"
                )
        return op
    size = [int(v) for v in output_size]
    if len(size) == lead + 2:
        size = size[lead:]
    if len(size) != 2:
        raise DataError(f"output_size {tuple(output_size)} must have 2 or {lead + 2} elements")
    lows = [(in_hw[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in (0, 1)]
    for i in (0, 1):
        if not lows[i] <= size[i] <= lows[i] + s[i] - 1:
            raise DataError(
                f"requested an output size of {tuple(output_size)}, but valid sizes "
                f"range from {lows} to {[lo + s[j] - 1 for j, lo in enumerate(lows)]}"
            )
    return size[0] - lows[0], size[1] - lows[1]


def _scatter_taps(
    full: np.ndarray, patches: np.ndarray, s: tuple[int, int], d: tuple[int, int]
) -> None:
    """``full[..., s*y + d*i, s*x + d*j] += patches[..., y, x, :, i, j]``: one strided slice
    per kernel tap (``patches`` is (N, G, H, W, Og, kh, kw), ``full`` (N, G, Og, FH, FW))."""
    h, wd, kh, kw = patches.shape[2], patches.shape[3], patches.shape[5], patches.shape[6]
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * d[0], i * d[0] + (h - 1) * s[0] + 1, s[0])
            cols = slice(j * d[1], j * d[1] + (wd - 1) * s[1] + 1, s[1])
            full[:, :, :, rows, cols] += patches[..., i, j].transpose(0, 1, 4, 2, 3)


@implements("ConvTranspose2d")
def conv_transpose2d(c: OracleCall) -> list[np.ndarray]:
    """torch's ``ConvTranspose2d.forward(x, output_size)``: the adjoint of the convolution."""
    x = c.x
    xb = _batched(x, c.node, "ConvTranspose2d").astype(np.float64)
    w = c.weights["weight"].astype(np.float64)
    k, s, d = _pair(c.args["kernel_size"]), _pair(c.args["stride"]), _pair(c.args["dilation"])
    p = _pair(c.args["padding"])
    groups = int(c.args.get("groups", 1))
    n, cin, h, wd = xb.shape
    if cin != w.shape[0]:
        raise DataError(f"{c.node}: input has {cin} channels; expected {w.shape[0]}")
    if 0 in xb.shape[1:]:
        raise DataError(f"{c.node}: only zero batch inputs are supported (shape {x.shape})")
    op = transposed_output_padding(c.args, (h, wd), x.ndim - 2, c.call_args.get("output_size"))
    cg, og, kh, kw = cin // groups, w.shape[1], *k
    full_hw = [(size - 1) * s[i] + d[i] * (k[i] - 1) + 1 for i, size in enumerate((h, wd))]
    out_hw = [full_hw[i] - 2 * p[i] + op[i] for i in (0, 1)]
    if min(out_hw) < 1:
        raise DataError(f"{c.node}: calculated output size {tuple(out_hw)} is too small")
    # every pixel's patch for every tap: (N, G, H*W, Cg) @ (G, Cg, Og*kh*kw)
    xg = xb.reshape(n, groups, cg, h * wd).transpose(0, 1, 3, 2)
    full = np.zeros((n, groups, og, *full_hw))
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf propagate as in torch
        patches = xg @ w.reshape(groups, cg, og * kh * kw)
        _scatter_taps(full, patches.reshape(n, groups, h, wd, og, kh, kw), s, d)
    y = np.zeros((n, groups * og, *out_hw))
    rows = max(0, min(out_hw[0], full_hw[0] - p[0]))  # past the full output: zeros
    cols = max(0, min(out_hw[1], full_hw[1] - p[1]))
    y[:, :, :rows, :cols] = full.reshape(n, groups * og, *full_hw)[
        :, :, p[0] : p[0] + rows, p[1] : p[1] + cols
    ]
    if "bias" in c.weights:
        y = y + c.weights["bias"].astype(np.float64)[:, None, None]
    return [(y[0] if x.ndim == 3 else y).astype(x.dtype)]
