"""NumPy oracles of the tensor functions ``Mul``, ``Cat``, ``Mean``, ``Reshape``, ``Permute``,
``Transpose``, ``Chunk`` and ``Split``, written from torch's definitions.

Dims wrap as in torch's ``maybe_wrap_dim``; ``Reshape`` restates ``infer_size`` (one ``-1``,
the element count) and ``Chunk`` / ``Split`` torch's piece sizes.

>>> import numpy as np
>>> [a.shape for a in chunk(OracleCall({"chunks": 4, "dim": 0}, {}, [np.zeros(5)], {}, False))]
[(2,), (2,), (1,)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._registry import OracleCall, implements


def _wrap(dim: int, rank: int) -> int:
    """torch's ``maybe_wrap_dim`` (a 0-d tensor takes dims 0 and -1)."""
    wrap = max(rank, 1)
    if not -wrap <= dim < wrap:
        raise IndexError(f"Dimension out of range (expected [{-wrap}, {wrap - 1}], got {dim})")
    return dim % wrap


@implements("Mul")
def mul(c: OracleCall) -> list[np.ndarray]:
    """The exact product rounded once to the inputs' dtype: float64 holds every product of
    two float32 (or float16) values exactly; int64 wraps around as torch's does."""
    a, b = c.inputs
    if a.dtype.kind != "f":
        with np.errstate(over="ignore"):
            return [np.multiply(a, b)]
    with np.errstate(invalid="ignore", over="ignore"):
        return [(a.astype(np.float64) * b.astype(np.float64)).astype(a.dtype)]


@implements("Cat")
def cat(c: OracleCall) -> list[np.ndarray]:
    """torch.cat: 1-D tensors of size 0 are skipped (torch's legacy rule)."""
    kept = [x for x in c.inputs if x.shape != (0,)]
    if not kept:
        return [np.array(c.inputs[0], copy=True)]
    axis = _wrap(int(c.args.get("dim", 0)), kept[0].ndim)
    return [np.concatenate(kept, axis=axis)]


@implements("Mean")
def mean(c: OracleCall) -> list[np.ndarray]:
    """torch.mean: the input cast to ``dtype`` first when given, averaged in float64 and
    rounded once; no dims (None or empty) means every dim; no elements give NaN."""
    x = c.x
    out_dtype = np.dtype(c.args["dtype"]) if c.args.get("dtype") else x.dtype
    x = x.astype(out_dtype)
    dim = c.args.get("dim")
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        axes: tuple[int, ...] = tuple(range(x.ndim))
    else:
        dims = dim if isinstance(dim, (list, tuple)) else [dim]
        axes = tuple(sorted(_wrap(int(d), x.ndim) for d in dims))
        if x.ndim == 0:
            axes = ()
    keepdim = bool(c.args.get("keepdim", False))
    with np.errstate(invalid="ignore", divide="ignore"):
        wide = x.astype(np.float64)
        total = np.sum(wide, axis=axes, keepdims=keepdim)
        count = int(np.prod([x.shape[a] for a in axes]))
        y = total / count if count else total * np.nan
    return [np.asarray(y).astype(out_dtype)]


def _infer_size(shape: Sequence[int], numel: int) -> list[int]:
    """torch's ``infer_size``: resolve the one ``-1``, check the element count."""
    shape = list(shape)
    if shape.count(-1) > 1:
        raise ValueError("only one dimension can be inferred")
    newsize = int(np.prod([d for d in shape if d != -1]))
    if -1 in shape:
        if newsize == 0 or numel % newsize:
            raise ValueError(f"shape '{shape}' is invalid for input of size {numel}")
        shape[shape.index(-1)] = numel // newsize
    elif newsize != numel:
        raise ValueError(f"shape '{shape}' is invalid for input of size {numel}")
    return shape


@implements("Reshape")
def reshape(c: OracleCall) -> list[np.ndarray]:
    """torch.reshape of a contiguous tensor; a str entry takes the size of the input dim the
    call's ``axes`` names for it."""
    x = c.x
    named = iter(c.call_args.get("axes") or ())
    target = [x.shape[next(named)] if isinstance(e, str) else int(e) for e in c.args["shape"]]
    return [x.reshape(_infer_size(target, x.size))]


@implements("Permute")
def permute(c: OracleCall) -> list[np.ndarray]:
    x = c.x
    return [np.transpose(x, [_wrap(int(d), x.ndim) for d in c.args["dims"]])]


@implements("Transpose")
def transpose(c: OracleCall) -> list[np.ndarray]:
    x = c.x
    a, b = (_wrap(int(c.args[k]), x.ndim) for k in ("dim0", "dim1"))
    return [np.swapaxes(x, a, b) if x.ndim else x]


def _split(x: np.ndarray, sizes: Sequence[int], axis: int) -> list[np.ndarray]:
    if not sizes:  # torch.split(empty, []) gives no tensors
        return []
    return np.split(x, np.cumsum(sizes)[:-1].tolist(), axis=axis)


def _split_size_pieces(size: int, split: int) -> list[int]:
    """torch.split with an int: ``max(ceil(size / split), 1)`` pieces, the last smaller."""
    n = 1 if split == 0 else max(-(-size // split), 1)
    return [split] * (n - 1) + [size - split * (n - 1)]


@implements("Chunk")
def chunk(c: OracleCall) -> list[np.ndarray]:
    """torch.chunk: ``split(ceil(size / chunks))``, except that an empty dim keeps ``chunks``
    empty pieces."""
    x, chunks = c.x, int(c.args["chunks"])
    axis = _wrap(int(c.args.get("dim", 0)), x.ndim)
    size = x.shape[axis]
    step = -(-size // chunks)
    sizes = [0] * chunks if size == 0 else _split_size_pieces(size, step)
    return _split(x, sizes, axis)


@implements("Split")
def split(c: OracleCall) -> list[np.ndarray]:
    x = c.x
    axis = _wrap(int(c.args.get("dim", 0)), x.ndim)
    s: Any = c.args["split_size_or_sections"]
    sizes = (
        [int(v) for v in s]
        if isinstance(s, (list, tuple))
        else _split_size_pieces(x.shape[axis], int(s))
    )
    if sum(sizes) != x.shape[axis]:
        raise ValueError(f"split sizes {sizes} do not add up to {x.shape[axis]}")
    return _split(x, sizes, axis)
