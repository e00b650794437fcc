"""``verify``: run a model on onnxruntime and on the NumPy oracle, and compare every output.

With ``against=`` a torch module, torch runs on the same feeds too and one report holds three
pairs: onnxruntime vs oracle, oracle vs torch and onnxruntime vs torch.

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
from onnxlayers.builder.torch_import import run_torch

from . import oracle
from .compare import Report, Tolerance, compare_outputs
from .errors import InputError
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
    against: Any = None,
) -> Report:
    """Run ``model`` on onnxruntime and on the oracle with the same feeds; compare outputs.

    ``feeds`` default to seeded random ones (see :func:`random_feeds`). Tolerances default
    per dtype (exact for integer outputs); pass a number or ``{output name: value}``.
    Raises ``ModelFormatError`` when a file carries no onnxlayers layer program.

    ``against`` (a ``torch.nn.Module``, run as it is: its current mode, no grad) adds torch as
    a third run; its outputs map to the model's outputs in order, and the report holds one row
    per pair and output, each with its worst element.

    >>> import torch
    >>> from onnxlayers.builder.torch_import import from_torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Tanh())
    >>> report = verify(from_torch(net, (1, 4)), against=net)
    >>> report.ok, sorted({row.pair for row in report.rows})
    (True, ['onnxruntime vs oracle', 'onnxruntime vs torch', 'oracle vs torch'])
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
    where = f"{label} on {', '.join(session.providers)}"
    if against is None:
        report = compare_outputs(actual, expected, rtol=rtol, atol=atol,
                                 title=f"{where} vs NumPy oracle ({shapes})")
        report.providers = list(session.providers)
        return report
    runs = {"onnxruntime": actual, "oracle": expected, "torch": torch_outputs(against, prog, feeds)}
    report = Report([], title=f"{where} vs NumPy oracle vs torch ({shapes})",
                    providers=list(session.providers))
    for a, e in (("onnxruntime", "oracle"), ("oracle", "torch"), ("onnxruntime", "torch")):
        rows = compare_outputs(runs[a], runs[e], rtol=rtol, atol=atol).rows
        for row in rows:
            row.pair = f"{a} vs {e}"
        report.rows += rows
    training = sorted({c.node for c in prog.calls if c.training})
    if training and not report.ok:
        report.notes.append(
            f"note: layers {training!r} are in training mode; a layer random there (RReLU) "
            "draws its own samples in each run, so the runs cannot agree: compare in eval mode "
            "(module.eval() before from_torch)"
        )
    return report


def torch_outputs(module: Any, prog: Program, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Run a torch module on ``feeds`` (inputs in the program's order); outputs by our names."""
    arrays = [np.asarray(feeds[i.name], dtype=np.dtype(i.dtype)) for i in prog.inputs]
    outs = run_torch(module, arrays)
    if len(outs) != len(prog.outputs):
        raise InputError(
            f"verify: against={type(module).__name__} returned {len(outs)} outputs; the model "
            f"has {len(prog.outputs)} ({prog.outputs!r}); expected the module the model came from"
        )
    return dict(zip(prog.outputs, outs, strict=True))
