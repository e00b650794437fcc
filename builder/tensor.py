"""Symbolic tensors: what layers are called on while a model is being built.

A :class:`Tensor` knows its name, shape and dtype, and which layer call produced it, so a
:class:`~onnxlayers.builder.Model` can walk back from its outputs to the calls that make them.

>>> x = Input("x", ("N", 3, 8, 8))
>>> x.shape
('N', 3, 8, 8)
>>> x.ndim, x.dtype
(4, 'float32')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from onnx import TensorProto

from .errors import LayerArgumentError, LayerTypeError

if TYPE_CHECKING:
    from .layer import Call

Dim = int | str | None
"""A dimension: an int (static), a str (a named dynamic dim such as ``"N"``) or None (unknown)."""

DTYPES: dict[str, int] = {
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
    "float16": TensorProto.FLOAT16,
    "int64": TensorProto.INT64,
}
"""Element types a tensor may have, with their ONNX codes."""

FLOAT_DTYPES = ("float32", "float64", "float16")


def normalize_dtype(dtype: object, *, where: str = "Input") -> str:
    """Return the canonical dtype name for ``dtype`` (a str, numpy dtype or numpy scalar type).

    >>> normalize_dtype(np.float64)
    'float64'
    """
    try:
        name = np.dtype(cast(Any, dtype)).name
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise LayerArgumentError(
            f"{where}: dtype={dtype!r} is not supported; expected one of {sorted(DTYPES)}"
        )
    return name


class Shape(tuple[Dim, ...]):
    """A tensor's shape that remembers the tensor it came from.

    It behaves like a tuple of dims; layers that accept a size (``MaxUnpool2d``'s
    ``output_size``) can read the dims at run time from ``shape.of`` when some are dynamic.

    >>> x = Input("x", ("N", 3, 8, 8))
    >>> s = x.shape
    >>> s[1:], s.of.name
    ((3, 8, 8), 'x')
    """

    of: Tensor

    def __new__(cls, dims: Iterable[Dim], of: Tensor) -> Shape:
        obj = super().__new__(cls, tuple(dims))
        obj.of = of
        return obj

    def __getnewargs__(self) -> tuple[tuple[Dim, ...], Tensor]:
        return (tuple(self), self.of)

    @property
    def is_static(self) -> bool:
        """True when every dim is an int."""
        return all(isinstance(d, int) for d in self)


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of a tensor, without identity (what layers validate and infer)."""

    shape: tuple[Dim, ...]
    dtype: str

    @property
    def ndim(self) -> int:
        return len(self.shape)


class Tensor:
    """A symbolic tensor; produced by :func:`Input` or by calling a layer.

    >>> x = Input("x", (2, 3))
    >>> x
    Tensor('x', shape=(2, 3), dtype='float32')
    """

    __slots__ = ("_dims", "dtype", "index", "name", "producer")

    def __init__(
        self,
        name: str,
        shape: Iterable[Dim],
        dtype: str,
        producer: Call | None = None,
        index: int = 0,
    ) -> None:
        self.name = name
        self._dims = tuple(shape)
        self.dtype = dtype
        self.producer = producer
        self.index = index

    @property
    def shape(self) -> Shape:
        """The dims, as a :class:`Shape` that can be passed where torch takes ``x.size()``."""
        return Shape(self._dims, self)

    def size(self, dim: int | None = None) -> Shape | Dim:
        """torch's ``Tensor.size()``: the whole :class:`Shape`, or one dim."""
        return self.shape if dim is None else self._dims[dim]

    @property
    def ndim(self) -> int:
        return len(self._dims)

    def dim(self) -> int:
        """torch's ``Tensor.dim()``: the rank."""
        return len(self._dims)

    @property
    def spec(self) -> TensorSpec:
        return TensorSpec(self._dims, self.dtype)

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, shape={self._dims!r}, dtype={self.dtype!r})"


def _check_dim(name: str, i: int, d: object) -> Dim:
    if d is None or isinstance(d, str):
        return d
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and int(d) >= 0:
        return int(d)
    raise LayerArgumentError(
        f"Input {name!r}: dim {i} is {d!r}; expected an int >= 0, a str (a named dynamic dim) "
        "or None"
    )


def Input(name: str, shape: Iterable[Dim], dtype: object = "float32") -> Tensor:
    """A model input: a name, a shape (ints are static, strs are named dynamic dims), a dtype.

    >>> Input("image", ("N", 3, 224, 224), dtype="float16").dtype
    'float16'
    """
    if not isinstance(name, str) or not name:
        raise LayerTypeError(f"Input: name={name!r} is invalid; expected a non-empty str")
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise LayerTypeError(f"Input {name!r}: shape={shape!r} is invalid; expected a sequence")
    dims = tuple(_check_dim(name, i, d) for i, d in enumerate(shape))
    return Tensor(name, dims, normalize_dtype(dtype, where=f"Input {name!r}"))
