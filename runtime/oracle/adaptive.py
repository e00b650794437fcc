"""NumPy oracles of ``AdaptiveAvgPool2d`` and ``AdaptiveMaxPool2d``, from torch's CPU kernels.

Windows are torch's (``aten/src/ATen/native/AdaptivePooling.h``): output cell ``i`` of an axis
of input size ``n`` and output size ``o`` covers ``[start_index(i), end_index(i))`` with
``start_index = (i // o) * n + ((i % o) * n) // o`` and ``end_index = 1 + ((i + 1) * n - 1) // o``.
Every window is gathered whole, (OH, KH, OW, KW) taps per plane with ``K`` the longest window,
taps past a window's end masked, so each step is one array operation over all windows:

* average: the sum of the valid taps (float64) divided by the window's area, as torch's
  ``sum / kh / kw``; NaN and infinities propagate through the sum as in torch;
* max: torch's scan (rows, then columns; ``value > best or isnan(value)`` replaces the best,
  starting from -inf at the window's first element): the last NaN of a window when it holds
  one, else the first occurrence of the maximum; the index is ``h * W + w`` in the plane.

>>> import numpy as np
>>> x = np.array([[[1.0, 5.0, np.nan], [4.0, 2.0, 0.0]]])
>>> adaptive_max_pool2d(OracleCall({"output_size": [1, 2], "return_indices": True}, {}, [x], {},
...                                False))
[array([[[ 5., nan]]]), array([[[1, 2]]])]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._registry import OracleCall, implements


def windows(n: int, o: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(taps, valid, length)`` of one axis: an (o, K) table of input positions (past a
    window's end: its first element, masked by ``valid``) and each window's length.

    >>> taps, valid, length = windows(5, 3)
    >>> taps.tolist(), length.tolist()
    ([[0, 1, 0], [1, 2, 3], [3, 4, 3]], [2, 3, 2])
    """
    i = np.arange(o)
    start = (i // o) * n + ((i % o) * n) // o
    end = 1 + ((i + 1) * n - 1) // o
    length = end - start
    k = np.arange(max(int(length.max(initial=1)), 1))
    valid = k[None, :] < length[:, None]
    taps = np.where(valid, start[:, None] + k[None, :], start[:, None])
    return taps, valid, length


def _sizes(args: Any, x4: np.ndarray) -> tuple[int, int]:
    out = args["output_size"]
    pair = [out, out] if isinstance(out, int) else list(out)
    return tuple(
        x4.shape[2 + i] if v is None else int(v)  # type: ignore[return-value]
        for i, v in enumerate(pair)
    )


def _prepare(c: OracleCall, *, channels: bool) -> tuple[np.ndarray, int, int]:
    x = c.x
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive pooling: input of rank {x.ndim}; expected 3 or 4")
    first = 1 if channels else x.ndim - 2
    if any(x.shape[i] == 0 for i in range(first, x.ndim)):
        raise ValueError(f"adaptive pooling: input {x.shape} has an empty non-batch dim")
    x4 = x[None] if x.ndim == 3 else x
    oh, ow = _sizes(c.args, x4)
    return x4, oh, ow


def _gather(x4: np.ndarray, oh: int, ow: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window's taps (N, C, OH, OW, KH*KW), their validity and plane indices
    (OH, OW, KH*KW), rows then columns (torch's scan order)."""
    h, w = x4.shape[2:]
    th, vh, _ = windows(h, oh)
    tw, vw, _ = windows(w, ow)
    win = x4[:, :, th[:, :, None, None], tw[None, None, :, :]]  # N, C, OH, KH, OW, KW
    win = win.transpose(0, 1, 2, 4, 3, 5).reshape(*x4.shape[:2], oh, ow, th.shape[1] * tw.shape[1])
    valid = (vh[:, None, :, None] & vw[None, :, None, :]).reshape(oh, ow, -1)
    index = (th[:, None, :, None] * w + tw[None, :, None, :]).reshape(oh, ow, -1)
    return win, valid, index


def _unbatched(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return y[0] if x.ndim == 3 else y


@implements("AdaptiveAvgPool2d")
def adaptive_avg_pool2d(c: OracleCall) -> list[np.ndarray]:
    """torch's ``adaptive_avg_pool2d``: the mean of each window."""
    x4, oh, ow = _prepare(c, channels=False)
    if oh == 0 or ow == 0:
        return [_unbatched(np.zeros((*x4.shape[:2], oh, ow), c.x.dtype), c.x)]
    win, valid, _ = _gather(x4, oh, ow)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
        total = np.where(valid, win.astype(np.float64), 0.0).sum(axis=-1)
        y = total / valid.sum(axis=-1)
    return [_unbatched(y.astype(c.x.dtype), c.x)]


@implements("AdaptiveMaxPool2d")
def adaptive_max_pool2d(c: OracleCall) -> list[np.ndarray]:
    """torch's ``adaptive_max_pool2d``: each window's maximum (NaN propagating) and, with
    ``return_indices``, its plane index."""
    x4, oh, ow = _prepare(c, channels=True)
    with_indices = bool(c.args.get("return_indices", False))
    if oh == 0 or ow == 0:
        shape = (*x4.shape[:2], oh, ow)
        outs = [np.zeros(shape, c.x.dtype), np.zeros(shape, np.int64)]
        return [_unbatched(o, c.x) for o in outs[: 1 + with_indices]]
    win, valid, index = _gather(x4, oh, ow)
    win = np.where(valid, win, -np.inf)
    isnan = np.isnan(win)
    k = win.shape[-1]
    last_nan = k - 1 - np.argmax(isnan[..., ::-1], axis=-1)
    first_max = np.argmax(np.where(isnan, -np.inf, win), axis=-1)
    pick = np.where(isnan.any(axis=-1), last_nan, first_max)[..., None]
    y = np.take_along_axis(win, pick, axis=-1)[..., 0].astype(c.x.dtype)
    outs = [_unbatched(y, c.x)]
    if with_indices:
        i = np.take_along_axis(np.broadcast_to(index, win.shape), pick, axis=-1)[..., 0]
        outs.append(_unbatched(i.astype(np.int64), c.x))
    return outs
