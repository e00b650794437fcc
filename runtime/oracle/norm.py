"""NumPy oracles of ``BatchNorm2d`` and ``LayerNorm``, from torch's definitions.

Both compute ``(x - mean) / sqrt(var + eps) * weight + bias`` in float64 and cast back to the
input's dtype. ``BatchNorm2d`` takes the running statistics in eval mode and the batch's (mean
and biased variance over N, H, W) in training mode or when it keeps none
(``track_running_stats=False``); ``LayerNorm`` takes the mean and biased variance over the
trailing ``normalized_shape`` dims.

>>> import numpy as np
>>> x = np.array([[1.0, 3.0]])
>>> layer_norm(OracleCall({"normalized_shape": [2], "eps": 0.0}, {}, [x], {}, False))[0]
array([[-1.,  1.]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._registry import OracleCall, implements


def normalize(
    x: np.ndarray,
    axes: Sequence[int],
    eps: float,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    mean: np.ndarray | None = None,
    var: np.ndarray | None = None,
) -> np.ndarray:
    """torch's normalisation in float64, cast back to ``x.dtype``.

    ``mean`` and ``var`` (broadcastable to ``x``) are the statistics to use; when None they are
    the mean and biased variance of ``x`` over ``axes``. ``weight`` and ``bias`` broadcast too.
    """
    if x.size == 0:
        return x.copy()
    wide = x.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if mean is None or var is None:
            mean = wide.mean(axis=tuple(axes), keepdims=True)
            var = np.square(wide - mean).mean(axis=tuple(axes), keepdims=True)
        y = (wide - mean) / np.sqrt(var + eps)
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
    return y.astype(x.dtype)


def _wide(weights: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    w = weights.get(key)
    return None if w is None else np.asarray(w, np.float64).reshape(shape)


@implements("BatchNorm2d")
def batch_norm2d(c: OracleCall) -> list[np.ndarray]:
    x, w = c.x, c.weights
    channel = (1, -1, 1, 1)
    batch_stats = c.training or not c.args.get("track_running_stats", True)
    mean = None if batch_stats else _wide(w, "running_mean", channel)
    var = None if batch_stats else _wide(w, "running_var", channel)
    return [
        normalize(
            x,
            (0, 2, 3),
            float(c.args.get("eps", 1e-5)),
            _wide(w, "weight", channel),
            _wide(w, "bias", channel),
            mean,
            var,
        )
    ]


@implements("LayerNorm")
def layer_norm(c: OracleCall) -> list[np.ndarray]:
    x, w = c.x, c.weights
    shape = tuple(int(d) for d in c.args["normalized_shape"])
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return [
        normalize(
            x,
            axes,
            float(c.args.get("eps", 1e-5)),
            _wide(w, "weight", shape),
            _wide(w, "bias", shape),
        )
    ]
