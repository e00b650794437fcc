"""Labelled feeds that expose semantic faults seeded random data hides.

The generator knows nothing of the model: given each input's name, dtype and concrete shape it
returns one set of feeds per *kind*. Float inputs get the kind's pattern; integer and bool
inputs get the same seeded random values in every kind (they are indices or masks, not data).

========== =================================================================================
kind       float inputs
========== =================================================================================
random     standard normal: the baseline
nan        random, with NaN first, second, last or second-to-last in every other row (so a
           pooling window holds it in each position) and at a few random places
inf        random, with +inf/-inf placed like ``nan`` and sample 0, channel 0 all -inf (a
           window with no finite value)
ties       integers in [-2, 2]: windows with equal maxima (index tie-breaking)
constant   one value per (sample, channel) plane: pooling divisors, normalisation of constants
large      standard normal times 10**(0.75 * log10(dtype max)) (1e28 in float32): overflow
           and precision; its ``scale`` widens the absolute tolerance to match
negative   -(|standard normal| + 1e-3): the negative side of every activation
zeros      all zeros: activations and pooling at 0, ties everywhere
========== =================================================================================

>>> specs = [FeedSpec("x", np.dtype("float32"), (1, 1, 2, 4))]
>>> sets = adversarial_feeds(specs, seed=0)
>>> [s.kind for s in sets] == list(FEED_KINDS)
True
>>> x = sets[1].feeds["x"]  # "nan": row 0 has it first; some other places at random
>>> bool(np.isnan(x[0, 0, 0, 0])), int(np.isnan(x).sum()) <= 4
(True, True)
>>> float(sets[-1].feeds["x"].max()), sets[5].scale
(0.0, 1e+28)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import InputError

__all__ = [
    "DEFAULT_DYNAMIC_DIMS",
    "FEED_KINDS",
    "FeedSpec",
    "LabelledFeeds",
    "adversarial_feeds",
    "feed_specs",
]

DEFAULT_DYNAMIC_DIMS = {"batch": 2, "other": 16}
"""Sizes given to unnamed dynamic dims: 2 on the first axis, 16 elsewhere."""


@dataclass(frozen=True)
class FeedSpec:
    """One input with a concrete shape: what the generator needs to know."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


@dataclass
class LabelledFeeds:
    """The feeds of one kind, ``{input name: array}``; ``scale`` is the float inputs' magnitude.

    A comparison should multiply its absolute tolerance by ``scale``: outputs of large inputs
    are large, and their rounding errors with them.
    """

    kind: str
    feeds: dict[str, np.ndarray] = field(default_factory=dict)
    scale: float = 1.0


class _Spec(Protocol):
    """What `feed_specs` reads of an input spec (``runtime.session.TensorSpec`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> np.dtype[Any] | None: ...
    @property
    def shape(self) -> tuple[int | str | None, ...] | None: ...


Pattern = Callable[[np.random.Generator, tuple[int, ...], np.dtype[Any]], np.ndarray]


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _marked_rows(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Positions first, second, last and second-to-last in every other row (cycling)."""
    if not shape or math.prod(shape) == 0:
        return []
    width = shape[-1]
    rows = list(np.ndindex(*shape[:-1]))
    offsets = (0, width - 1, 1, width - 2)
    return [(*row, offsets[(r // 2) % 4] % width) for r, row in enumerate(rows) if r % 2 == 0]


def _scattered(
    rng: np.random.Generator, shape: tuple[int, ...], count: int = 3
) -> list[tuple[int, ...]]:
    size = math.prod(shape)
    if size == 0:
        return []
    flat = rng.choice(size, size=min(count, size), replace=False)
    return [tuple(int(i) for i in np.unravel_index(int(f), shape)) for f in flat]


def _nan(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    x = _random(rng, shape, dtype)
    for pos in _marked_rows(shape) + _scattered(rng, shape):
        x[pos] = np.nan
    return x


def _inf(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    x = _random(rng, shape, dtype)
    for i, pos in enumerate(_marked_rows(shape) + _scattered(rng, shape)):
        x[pos] = np.inf if i % 2 == 0 else -np.inf
    if x.size:
        x[(0,) * min(2, max(x.ndim - 1, 0))] = -np.inf  # sample 0, channel 0: no finite value
    return x


def _ties(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    return rng.integers(-2, 3, size=shape).astype(dtype)


def _constant(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    lead = shape[: min(2, max(len(shape) - 1, 0))]
    planes = rng.standard_normal(lead).reshape(lead + (1,) * (len(shape) - len(lead)))
    return np.broadcast_to(planes, shape).astype(dtype)


def large_scale(dtype: np.dtype[Any]) -> float:
    """The magnitude of ``large`` feeds: ``10 ** floor(0.75 * log10(finfo.max))``.

    >>> large_scale(np.dtype("float32")), large_scale(np.dtype("float16"))
    (1e+28, 1000.0)
    """
    return float(10.0 ** math.floor(0.75 * math.log10(float(np.finfo(dtype).max))))


def _large(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    return (rng.standard_normal(shape) * large_scale(dtype)).astype(dtype)


def _negative(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    return (-(np.abs(rng.standard_normal(shape)) + 1e-3)).astype(dtype)


def _zeros(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    return np.zeros(shape, dtype)


FEED_KINDS: dict[str, Pattern] = {
    "random": _random,
    "nan": _nan,
    "inf": _inf,
    "ties": _ties,
    "constant": _constant,
    "large": _large,
    "negative": _negative,
    "zeros": _zeros,
}
"""Every kind, in the order reports list them (see the module docstring)."""


def adversarial_feeds(
    specs: Sequence[FeedSpec], *, seed: int = 0, kinds: Iterable[str] | None = None
) -> list[LabelledFeeds]:
    """One :class:`LabelledFeeds` per kind (all of `FEED_KINDS` by default), seeded.

    Non-float inputs hold the same random values in every kind: 0 or 1 for bool and integer
    inputs (valid as indices and masks of any size).

    >>> sets = adversarial_feeds([FeedSpec("i", np.dtype("int64"), (3,))], kinds=["nan", "ties"])
    >>> [s.kind for s in sets], np.array_equal(sets[0].feeds["i"], sets[1].feeds["i"])
    (['nan', 'ties'], True)
    >>> adversarial_feeds([], kinds=["noise"])
    Traceback (most recent call last):
    ...
    onnxlayers.runtime.errors.InputError: feed kind 'noise' is unknown; expected some of \
['random', 'nan', 'inf', 'ties', 'constant', 'large', 'negative', 'zeros']
    """
    chosen = list(FEED_KINDS) if kinds is None else list(kinds)
    for kind in chosen:
        if kind not in FEED_KINDS:
            raise InputError(
                f"feed kind {kind!r} is unknown; expected some of {list(FEED_KINDS)!r}"
            )
    fixed = {
        s.name: np.random.default_rng([seed, i]).integers(0, 2, size=s.shape).astype(s.dtype)
        for i, s in enumerate(specs)
        if s.dtype.kind != "f"
    }
    sets = []
    for k, kind in enumerate(chosen):
        out = LabelledFeeds(kind)
        for i, spec in enumerate(specs):
            if spec.dtype.kind != "f":
                out.feeds[spec.name] = fixed[spec.name].copy()
                continue
            rng = np.random.default_rng([seed, i, k])
            out.feeds[spec.name] = np.ascontiguousarray(
                FEED_KINDS[kind](rng, spec.shape, spec.dtype)
            )
            if kind == "large":
                out.scale = max(out.scale, large_scale(spec.dtype))
        sets.append(out)
    return sets


def feed_specs(
    specs: Sequence[_Spec],
    *,
    dims: Mapping[str, int] | None = None,
    shapes: Sequence[Sequence[int]] | None = None,
) -> list[FeedSpec]:
    """Concrete shapes for a model's inputs.

    ``shapes[i]`` (``--input-shape``) gives input ``i``'s whole shape; it must keep the input's
    rank and static dims. Otherwise a dynamic dim takes ``dims[its name]``, else 2 on axis 0
    and 16 elsewhere.

    >>> from onnxlayers.runtime.session import TensorSpec
    >>> x = TensorSpec("x", np.dtype("float32"), ("N", 3, "H", "W"), "tensor(float)")
    >>> feed_specs([x], dims={"H": 8}), feed_specs([x], shapes=[(1, 3, 32, 32)])[0].shape
    ([FeedSpec(name='x', dtype=dtype('float32'), shape=(2, 3, 8, 16))], (1, 3, 32, 32))
    >>> feed_specs([x], shapes=[(1, 4, 32, 32)])
    Traceback (most recent call last):
    ...
    onnxlayers.runtime.errors.InputError: input 'x': --input-shape (1, 4, 32, 32) does not fit \
float32[N, 3, H, W]: dim 1 is 4, the model fixes it to 3
    """
    shapes = list(shapes or [])
    if len(shapes) > len(specs):
        raise InputError(
            f"{len(shapes)} input shapes given ({shapes!r}) but the model has {len(specs)} "
            f"inputs ({[s.name for s in specs]!r}); give at most one shape per input, in order"
        )
    out = []
    for i, spec in enumerate(specs):
        if spec.dtype is None:
            raise InputError(
                f"input {spec.name!r}: its type has no NumPy dtype, so no feeds can be made; "
                "allowed are float, integer and bool tensors"
            )
        declared = spec.shape
        if i < len(shapes):
            out.append(FeedSpec(spec.name, spec.dtype, _checked(spec, tuple(shapes[i]))))
            continue
        if declared is None:
            raise InputError(
                f"input {spec.name!r}: the model does not say its rank; give its shape with "
                "--input-shape (input_shapes=) in input order"
            )
        shape = tuple(
            d
            if isinstance(d, int)
            else int((dims or {}).get(str(d), DEFAULT_DYNAMIC_DIMS["batch" if a == 0 else "other"]))
            for a, d in enumerate(declared)
        )
        out.append(FeedSpec(spec.name, spec.dtype, shape))
    return out


def _checked(spec: _Spec, shape: tuple[int, ...]) -> tuple[int, ...]:
    declared = spec.shape
    if declared is None:
        return shape
    where = f"input {spec.name!r}: --input-shape {shape!r} does not fit {spec}"
    if len(shape) != len(declared):
        raise InputError(f"{where}: rank {len(shape)}, the model expects rank {len(declared)}")
    for axis, (got, want) in enumerate(zip(shape, declared, strict=True)):
        if isinstance(want, int) and got != want:
            raise InputError(f"{where}: dim {axis} is {got}, the model fixes it to {want}")
    return shape
