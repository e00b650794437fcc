"""Feed checks: every input and ``out=`` buffer checked against the model before onnxruntime.

`TensorSpec` describes a model input or output (name, NumPy dtype, shape with dynamic dims);
`FeedChecker` holds a model's specs and turns a caller's feeds into what onnxruntime takes. The
common case (C-contiguous arrays of the right dtype and shape, in a dict) costs a few attribute
reads per input; anything else goes through the slow path, which converts what it can without
changing a value and raises `InputError` naming the input, what was given and what the model
expects.

>>> x = TensorSpec("x", np.dtype("float32"), ("N", 3), "tensor(float)")
>>> checker = FeedChecker([x])
>>> prepared, has_ortvalues = checker.prepare({"x": [[1, 2, 3]]})
>>> prepared["x"].dtype, has_ortvalues
(dtype('float32'), False)
>>> checker.prepare({"x": np.zeros((1, 4), np.float32)})
Traceback (most recent call last):
...
onnxlayers.runtime.errors.InputError: input 'x': dim 1 is 4, the model expects 3 (float32[N, 3])
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import onnxruntime as ort

from .errors import InputError

__all__ = ["Feed", "FeedChecker", "TensorSpec", "describe", "to_numpy", "zeros"]

Feed: TypeAlias = "np.ndarray | ort.OrtValue"

_NUMPY_DTYPES = {
    f"tensor({name})": np.dtype(dtype)
    for name, dtype in {
        "float": "float32",
        "double": "float64",
        "float16": "float16",
        "bool": "bool",
        "int8": "int8",
        "int16": "int16",
        "int32": "int32",
        "int64": "int64",
        "uint8": "uint8",
        "uint16": "uint16",
        "uint32": "uint32",
        "uint64": "uint64",
    }.items()
}
_NUMERIC = "biuf"


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, NumPy dtype (None where NumPy has none), shape.

    ``shape`` holds ints for static dims and strings or None for dynamic ones; it is None when
    the rank is unknown.

    >>> spec = TensorSpec("x", np.dtype("float32"), ("N", 3), "tensor(float)")
    >>> spec.rank, spec.static_dims, str(spec)
    (2, ((1, 3),), 'float32[N, 3]')
    """

    name: str
    dtype: np.dtype[Any] | None
    shape: tuple[int | str | None, ...] | None
    onnx_type: str
    static_dims: tuple[tuple[int, int], ...] = field(init=False, repr=False)
    probe: tuple[str, Any, int, Any, object] = field(init=False, repr=False)
    """``(name, dtype, rank or -1, static-dim getter or None, static dims)`` for the hot path."""

    def __post_init__(self) -> None:
        static = tuple((a, d) for a, d in enumerate(self.shape or ()) if isinstance(d, int))
        object.__setattr__(self, "static_dims", static)
        # itemgetter picks the static dims of a shape in C: the cheapest check in the hot path
        pick = operator.itemgetter(*(a for a, _ in static)) if static else None
        want = static[0][1] if len(static) == 1 else tuple(d for _, d in static)
        rank = -1 if self.shape is None else len(self.shape)
        object.__setattr__(self, "probe", (self.name, self.dtype, rank, pick, want))

    @property
    def rank(self) -> int | None:
        """Number of dims, or None when the model does not say."""
        return None if self.shape is None else len(self.shape)

    def fits(self, shape: Sequence[int]) -> bool:
        """Whether a concrete shape has this rank and these static dims.

        >>> TensorSpec("x", None, ("N", 3), "tensor(float)").fits((0, 3))
        True
        """
        _, _, rank, pick, want = self.probe
        return rank < 0 or (len(shape) == rank and (pick is None or pick(shape) == want))

    def __str__(self) -> str:
        dtype = self.dtype.name if self.dtype is not None else self.onnx_type
        dims = (
            "?"
            if self.shape is None
            else ", ".join("?" if d is None else str(d) for d in self.shape)
        )
        return f"{dtype}[{dims}]"

    @classmethod
    def from_node_arg(cls, arg: Any) -> TensorSpec:
        """The spec of an onnxruntime ``NodeArg`` (``sess.get_inputs()[i]``)."""
        shape = None if arg.shape is None else tuple(arg.shape)
        return cls(arg.name, _NUMPY_DTYPES.get(arg.type), shape, arg.type)


class FeedChecker:
    """A model's inputs (and overridable initializers), checked on every run.

    ``inputs`` must all be fed; ``optional`` (initializers the model lets a caller override)
    may be; ``outputs`` are what ``out=`` buffers are checked against.
    """

    def __init__(
        self,
        inputs: Iterable[TensorSpec],
        optional: Iterable[TensorSpec] = (),
        outputs: Iterable[TensorSpec] = (),
    ) -> None:
        self.inputs = tuple(inputs)
        self.optional = tuple(optional)
        self.outputs = tuple(outputs)
        self._names = frozenset(spec.name for spec in self.inputs)
        self._probes = tuple(spec.probe for spec in self.inputs)

    def prepare(self, feeds: Mapping[str, Any]) -> tuple[dict[str, Feed], bool]:
        """``(checked feeds, whether any is an OrtValue)``.

        The common case (C-contiguous arrays of the right dtype and shape in a dict) costs a
        few attribute reads per input and hands the caller's dict on as it is.
        """
        try:
            names_ok = feeds.keys() == self._names
        except AttributeError:
            raise InputError(
                f"feeds must be a mapping of input name to array, got {type(feeds).__name__}; "
                f"the model expects {{{self.expected()}}}"
            ) from None
        if not names_ok:
            return self._prepare_slowly(feeds)
        for name, dtype, rank, pick, want in self._probes:
            value = feeds[name]
            if (
                type(value) is not np.ndarray
                or value.dtype is not dtype
                or value.ndim != rank
                or (pick is not None and pick(value.shape) != want)
                or not value.flags.c_contiguous
            ):
                return self._prepare_slowly(feeds)
        return (feeds if type(feeds) is dict else dict(feeds)), False

    def check_out(self, out: Mapping[str, np.ndarray], prepared: dict[str, Feed]) -> None:
        """Raise `InputError` unless every ``out`` buffer can receive its output as fed."""
        specs = {spec.name: spec for spec in self.outputs}
        sizes = _symbol_sizes(self.inputs, prepared)
        for name, target in out.items():
            spec = specs.get(name)
            if spec is None:
                raise InputError(
                    f"out has {name!r}, which is not an output; outputs are {list(specs)}"
                )
            problem = _out_problem(spec, target, sizes)
            if problem:
                raise InputError(f"out[{name!r}]: {problem}")

    def expected(self) -> str:
        """Each input as ``'name': dtype[dims]``, optional ones marked."""
        optional = [f"{s.name!r}: {s} (optional)" for s in self.optional]
        return ", ".join([*(f"{s.name!r}: {s}" for s in self.inputs), *optional])

    def _prepare_slowly(self, feeds: Mapping[str, Any]) -> tuple[dict[str, Feed], bool]:
        """Every feed through `_coerce`; overridable initializers may be fed too."""
        specs = [s for s in (*self.inputs, *self.optional) if s.name in feeds]
        if len(specs) != len(feeds) or any(s.name not in feeds for s in self.inputs):
            raise self._names_error(feeds)
        prepared = {spec.name: _coerce(spec, feeds[spec.name]) for spec in specs}
        return prepared, any(isinstance(v, ort.OrtValue) for v in prepared.values())

    def _names_error(self, feeds: Mapping[str, Any]) -> InputError:
        given = list(feeds.keys())
        missing = [s.name for s in self.inputs if s.name not in feeds]
        known = self._names | {s.name for s in self.optional}
        extra = [name for name in given if name not in known]
        hints = [
            f"{name!r} (did you mean {close!r}?)" if close else repr(name)
            for name in extra
            for close in [_closest(str(name), missing)]
        ]
        parts = [
            f"missing {missing}" if missing else "",
            f"unknown {', '.join(hints)}" if hints else "",
        ]
        return InputError(
            f"feeds {given!r} do not match the model's inputs: "
            f"{'; '.join(p for p in parts if p)}; the model expects {{{self.expected()}}}"
        )


def describe(value: Feed) -> str:
    """``'float32[2, 3]'``, or the OrtValue's type, shape and device (for error messages)."""
    if isinstance(value, ort.OrtValue):
        return f"OrtValue({value.data_type()}, {value.shape()}, {value.device_name()})"
    return f"{value.dtype.name}{list(value.shape)}"


def to_numpy(value: Any) -> np.ndarray:
    """A feed or an output as a NumPy array (OrtValues copied to the host)."""
    return value.numpy() if isinstance(value, ort.OrtValue) else np.asarray(value)


def zeros(spec: TensorSpec) -> np.ndarray:
    """A zero feed for ``spec``, dynamic dims set to 1.

    >>> zeros(TensorSpec("x", np.dtype("int64"), ("N", 2), "tensor(int64)")).shape
    (1, 2)
    """
    if spec.dtype is None:
        raise InputError(f"input {spec.name!r}: cannot make zero feeds for {spec.onnx_type}")
    return np.zeros([d if isinstance(d, int) else 1 for d in spec.shape or ()], spec.dtype)


# -------------------------------------------------------------------- the slow path
def _coerce(spec: TensorSpec, value: Any) -> Feed:
    """OrtValues, byte order, layout, Python values, and every error."""
    if isinstance(value, ort.OrtValue):
        _check_ortvalue(spec, value)
        return value
    if isinstance(value, np.ndarray):
        array = _native(spec, np.asarray(value))
    else:
        array = _from_python(spec, value)
    if not spec.fits(array.shape):
        raise InputError(_shape_problem(spec, array.shape))
    return array if array.flags.c_contiguous else array.copy(order="C")


def _native(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """The array in native byte order; a dtype other than the model's is an error."""
    if spec.dtype is None or array.dtype == spec.dtype:
        return array
    if array.dtype.newbyteorder("=") == spec.dtype:
        return array.astype(spec.dtype)
    raise InputError(
        f"input {spec.name!r}: got dtype {array.dtype.name!r}, the model expects "
        f"{spec.dtype.name!r} ({spec}); convert it with .astype({spec.dtype.name})"
    )


def _from_python(spec: TensorSpec, value: Any) -> np.ndarray:
    """Python scalars and lists: converted to the input's dtype if no value changes."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"input {spec.name!r}: cannot make an array of {value!r} ({err}); "
            f"the model expects {spec}"
        ) from err
    if spec.dtype is None or raw.dtype == spec.dtype:
        return raw
    if raw.dtype.kind not in _NUMERIC or spec.dtype.kind not in _NUMERIC:
        raise InputError(
            f"input {spec.name!r}: got {value!r} ({raw.dtype.name}), the model expects {spec}"
        )
    with np.errstate(all="ignore"):
        converted = raw.astype(spec.dtype)
    if not _lossless(raw, converted):
        raise InputError(
            f"input {spec.name!r}: {value!r} does not fit {spec.dtype.name} without "
            f"changing a value; the model expects {spec}"
        )
    return converted


def _lossless(raw: np.ndarray, converted: np.ndarray) -> bool:
    """Equal after a round trip; float to float only needs to stay finite (rounding is fine)."""
    if raw.dtype.kind == "f" and converted.dtype.kind == "f":
        return bool(np.array_equal(np.isfinite(raw), np.isfinite(converted)))
    with np.errstate(all="ignore"):
        return bool(
            np.array_equal(converted.astype(raw.dtype), raw, equal_nan=raw.dtype.kind == "f")
        )


def _shape_problem(spec: TensorSpec, shape: Sequence[int]) -> str:
    if spec.shape is not None and len(shape) != len(spec.shape):
        return (
            f"input {spec.name!r}: got rank {len(shape)} (shape {tuple(shape)}), the model "
            f"expects rank {len(spec.shape)} ({spec})"
        )
    axis, want = next((a, d) for a, d in spec.static_dims if shape[a] != d)
    return f"input {spec.name!r}: dim {axis} is {shape[axis]}, the model expects {want} ({spec})"


def _check_ortvalue(spec: TensorSpec, value: ort.OrtValue) -> None:
    if value.data_type() != spec.onnx_type:
        raise InputError(
            f"input {spec.name!r}: got an OrtValue of {value.data_type()}, the model "
            f"expects {spec.onnx_type} ({spec})"
        )
    if not spec.fits(value.shape()):
        raise InputError(_shape_problem(spec, value.shape()))


def _closest(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``name``, ignoring case (for "did you mean" hints)."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


# -------------------------------------------------------------------- out= buffers
def _symbol_sizes(specs: Sequence[TensorSpec], prepared: dict[str, Feed]) -> dict[str, int]:
    """Sizes of named dynamic dims (``'N'``) as the feeds fix them."""
    sizes: dict[str, int] = {}
    for spec in specs:
        shape = _shape_of(prepared[spec.name])
        for axis, dim in enumerate(spec.shape or ()):
            if isinstance(dim, str):
                sizes.setdefault(dim, shape[axis])
    return sizes


def _out_problem(spec: TensorSpec, target: Any, sizes: dict[str, int]) -> str:
    """Why ``target`` cannot receive output ``spec`` ('' when it can)."""
    if not isinstance(target, np.ndarray):
        return f"got {type(target).__name__}, expected a numpy array ({spec})"
    if target.dtype != spec.dtype or not target.dtype.isnative:
        return f"dtype is {target.dtype.str!r}, the model's output is {spec} (native order)"
    if not (target.flags.c_contiguous and target.flags.writeable):
        return "must be a writeable C-contiguous array"
    expected = [sizes.get(d, d) if isinstance(d, str) else d for d in spec.shape or ()]
    wrong = [
        (axis, want)
        for axis, want in enumerate(expected)
        if isinstance(want, int) and axis < target.ndim and target.shape[axis] != want
    ]
    if spec.shape is not None and (target.ndim != len(spec.shape) or wrong):
        return (
            f"shape {target.shape} does not fit the output {spec}"
            f"{' with these feeds: expected ' + str(tuple(expected)) if sizes else ''}"
        )
    return ""


def _shape_of(value: Feed) -> list[int]:
    return value.shape() if isinstance(value, ort.OrtValue) else list(value.shape)
