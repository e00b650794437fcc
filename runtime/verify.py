"""``verify``: run a model on onnxruntime and on the NumPy oracle, and compare every output.

>>> from onnxlayers.builder import Input, Model, Tanh
>>> x = Input("x", ("N", 4))
>>> verify(Model([x], [Tanh()(x)])).ok
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from onnxlayers.builder import Model, Program

from . import oracle
from .compare import Report, Tolerance, compare_outputs
from .session import Session

DEFAULT_DYNAMIC_DIMS = {"batch": 2, "other": 16}
"""Sizes given to dynamic dims in random feeds: the first axis gets 2, the others 16."""


def random_feeds(
    prog: Program,
    *,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Standard-normal feeds for every input (ties in max pooling are then improbable).

    Dynamic dims take their size from ``dims`` by name, else 2 on axis 0 and 16 elsewhere.
    """
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in prog.inputs:
        shape = [
            d if isinstance(d, int)
            else (dims or {}).get(str(d), DEFAULT_DYNAMIC_DIMS["batch" if i == 0 else "other"])
            for i, d in enumerate(spec.shape)
        ]
        if spec.dtype.startswith("float"):
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(spec.dtype)
    return feeds


def verify(
    model: Model | onnx.ModelProto | str | os.PathLike[str] | bytes,
    feeds: Mapping[str, Any] | None = None,
    providers: Sequence[str] = ("cpu",),
    rtol: Tolerance = None,
    atol: Tolerance = None,
    *,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
) -> Report:
    """Run ``model`` on onnxruntime and on the oracle with the same feeds; compare outputs.

    ``feeds`` default to seeded random ones (see :func:`random_feeds`). Tolerances default
    per dtype (exact for integer outputs); pass a number or ``{output name: value}``.
    Raises ``ModelFormatError`` when a file carries no onnxlayers layer program.
    """
    prog = oracle.program_of(model)
    proto = model.to_onnx() if isinstance(model, Model) else model
    session = Session(proto, providers=providers)
    if feeds is None:
        feeds = random_feeds(prog, seed=seed, dims=dims)
    actual = session.run(feeds)
    expected = oracle.run(prog, feeds, observed=actual)
    label = os.fspath(model) if isinstance(model, (str, os.PathLike)) else "model"
    shapes = ", ".join(f"{k}={tuple(np.shape(v))}" for k, v in feeds.items())
    return compare_outputs(
        actual, expected, rtol=rtol, atol=atol,
        title=f"{label} on {', '.join(session.providers)} vs NumPy oracle ({shapes})",
    )
