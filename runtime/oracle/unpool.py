"""NumPy oracle of MaxUnpool2d, from torch's ``max_unpool2d`` (functional.py and ATen).

torch's output size: ``default = (in - 1) * stride + kernel - 2 * padding`` per spatial dim;
an ``output_size`` of 4 values keeps its last two; a given size must lie strictly between
``default - stride`` and ``default + stride``. Each input plane's value ``j`` lands at
``indices[j]`` of a zero output plane; an index outside the plane is an error.

>>> import numpy as np
>>> call = OracleCall({"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}, {},
...                   [np.array([[[7.0]]]), np.array([[[2]]])], {}, False)
>>> max_unpool2d(call)[0]
array([[[0., 0.],
        [7., 0.]]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from ._registry import OracleCall, implements


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def output_size(
    in_hw: Sequence[int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    given: Sequence[int] | None,
) -> tuple[int, int]:
    """torch's ``_unpool_output_size`` (and the kernel's ``>= 1``), raising :class:`DataError`.

    >>> output_size((3, 4), (2, 2), (2, 2), (0, 0), (1, 1, 7, 9))
    (7, 9)
    """
    default = [
        (i - 1) * s + k - 2 * p for i, k, s, p in zip(in_hw, kernel, stride, padding, strict=True)
    ]
    sizes = default
    if given is not None:
        sizes = list(given)[2:] if len(given) == 4 else list(given)
        if len(sizes) != 2:
            raise DataError(
                f"output_size {tuple(given)!r} has {len(given)} elements; torch takes 2 or 4"
            )
        for d in range(2):
            low, high = default[d] - stride[d], default[d] + stride[d]
            if not low < sizes[d] < high:
                raise DataError(
                    f"output_size {tuple(given)!r}: dim {d} must be strictly "
                    f"between {low} and {high} (torch's rule)"
                )
    if min(sizes) < 1:
        raise DataError(f"output size {tuple(sizes)!r} has a dim < 1")
    return sizes[0], sizes[1]


@implements("MaxUnpool2d")
def max_unpool2d(c: OracleCall) -> list[np.ndarray]:
    x, indices = c.inputs
    assert x is not None and indices is not None
    kernel = _pair(c.args["kernel_size"])
    stride = kernel if c.args.get("stride") is None else _pair(c.args["stride"])
    padding = _pair(c.args.get("padding", 0))
    if indices.shape != x.shape or 0 in x.shape[1:]:
        raise DataError(
            f"{c.node}: indices shape {indices.shape} / input shape {x.shape}: "
            "torch wants equal shapes with non-empty non-batch dims"
        )
    h_out, w_out = output_size(
        x.shape[-2:], kernel, stride, padding, c.call_args.get("output_size")
    )
    plane = h_out * w_out
    bad = (indices < 0) | (indices >= plane)
    if bad.any():
        raise DataError(
            f"{c.node}: found an invalid max index {int(indices[bad][0])} (output "
            f"planes are {h_out}x{w_out})"
        )
    planes = int(np.prod(x.shape[:-2]))
    out = np.zeros(planes * plane, dtype=x.dtype)
    offsets = (np.arange(planes, dtype=np.int64) * plane).reshape((*x.shape[:-2], 1, 1))
    out[(indices + offsets).reshape(-1)] = x.reshape(-1)
    return [out.reshape(*x.shape[:-2], h_out, w_out)]
