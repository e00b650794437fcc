"""``verify``: run a model on onnxruntime and on the NumPy oracle, and compare every output.

With ``against=`` a torch module, torch runs on the same feeds too and one report holds three
pairs: onnxruntime vs oracle, oracle vs torch and onnxruntime vs torch.

Any ONNX file, with no layer program (torch's exporters, other tools), is verified against a
torch module with :func:`verify_against` (which ``verify(file, against=module)`` calls): the
file on onnxruntime and the module in torch eager on seeded random feeds and on adversarial
ones (:mod:`.adversarial`: NaN, infinities, ties, constant planes, large, negative, zeros),
compared per feed kind; where ``from_torch`` imports the module, our own export and the oracle
run beside it ("your file vs torch" next to "onnxlayers vs torch").

>>> from onnxlayers.builder import Input, Model, Tanh
>>> x = Input("x", ("N", 4))
>>> verify(Model([x], [Tanh()(x)])).ok
True
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from onnxlayers.builder import Model, Program
from onnxlayers.builder.program import METADATA_KEY
from onnxlayers.builder.torch_import import from_torch, run_torch

from . import oracle
from .adversarial import (
    DEFAULT_DYNAMIC_DIMS,
    LabelledFeeds,
    adversarial_feeds,
    feed_specs,
)
from .compare import DEFAULT_TOLERANCES, OutputComparison, Report, Tolerance, compare_outputs
from .errors import InputError
from .loading import ModelSource, describe_source, load_model
from .session import Session

__all__ = [
    "DEFAULT_DYNAMIC_DIMS",
    "match_inputs",
    "random_feeds",
    "torch_outputs",
    "verify",
    "verify_against",
]


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
            d
            if isinstance(d, int)
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
    input_shapes: Sequence[Sequence[int]] | None = None,
    kinds: Iterable[str] | None = None,
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

    A file without our layer program, given ``against``, goes to :func:`verify_against` (so
    does any file given ``input_shapes`` or ``kinds``), with these arguments.
    """
    if against is not None and (
        input_shapes is not None or kinds is not None or not _carries_program(model)
    ):
        return verify_against(
            model.to_onnx() if isinstance(model, Model) else model,
            against,
            feeds,
            providers,
            rtol,
            atol,
            seed=seed,
            dims=dims,
            input_shapes=input_shapes,
            kinds=kinds,
        )
    if input_shapes is not None or kinds is not None:
        raise InputError(
            f"verify: input_shapes={input_shapes!r} and kinds={kinds!r} choose the feeds of a "
            "comparison with torch; pass against=<the torch module> with them"
        )
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
        report = compare_outputs(
            actual, expected, rtol=rtol, atol=atol, title=f"{where} vs NumPy oracle ({shapes})"
        )
        report.providers = list(session.providers)
        return report
    runs = {"onnxruntime": actual, "oracle": expected, "torch": torch_outputs(against, prog, feeds)}
    report = Report(
        [], title=f"{where} vs NumPy oracle vs torch ({shapes})", providers=list(session.providers)
    )
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


# ----------------------------------------------------------------------------- any ONNX file
YOURS, OURS, ORACLE = "your file", "onnxlayers", "oracle"


def _carries_program(model: Model | ModelSource) -> bool:
    if isinstance(model, Model):
        return True
    proto = model if isinstance(model, onnx.ModelProto) else load_model(model)
    return any(p.key == METADATA_KEY for p in proto.metadata_props)


def match_inputs(names: Sequence[str], module: Any) -> list[str]:
    """The file's input names in the order ``module.forward`` takes them.

    By name when every file input names a parameter of ``forward`` (the parameters before the
    last matched one must all be matched), else by order when the count fits.

    >>> import torch
    >>> class Two(torch.nn.Module):
    ...     def forward(self, a, b):
    ...         return a - b
    >>> match_inputs(["b", "a"], Two()), match_inputs(["input.1", "input.2"], Two())
    (['a', 'b'], ['input.1', 'input.2'])
    >>> match_inputs(["x"], Two())
    Traceback (most recent call last):
    ...
    onnxlayers.runtime.errors.InputError: verify --against: the file's inputs ['x'] match \
Two.forward(a, b) neither by name nor by order (1 input for 2 required parameters)
    """
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):  # builtins and C extensions may not say
        return list(names)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [p for p in signature.parameters.values() if p.kind in kinds]
    variadic = any(
        p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values()
    )
    required = [p.name for p in params if p.default is inspect.Parameter.empty]
    by_name = [p.name for p in params if p.name in names]
    if (
        len(by_name) == len(names)
        and [p.name for p in params[: len(names)]] == by_name
        and all(r in names for r in required)
    ):
        return by_name
    if len(required) <= len(names) and (variadic or len(names) <= len(params)):
        return list(names)
    listed = ", ".join(p.name for p in params) + (", *args" if variadic else "")
    raise InputError(
        f"verify --against: the file's inputs {list(names)!r} match "
        f"{type(module).__name__}.forward({listed}) neither by name nor by order "
        f"({len(names)} input{'s' if len(names) != 1 else ''} for {len(required)} required "
        "parameters)"
    )


def verify_against(
    model: ModelSource,
    module: Any,
    feeds: Mapping[str, Any] | None = None,
    providers: Sequence[str] = ("cpu",),
    rtol: Tolerance = None,
    atol: Tolerance = None,
    *,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
    kinds: Iterable[str] | None = None,
    ours: bool = True,
) -> Report:
    """Run any ONNX file on onnxruntime and ``module`` in torch eager; compare per feed kind.

    ``module`` runs as it is (its current mode, no grad). Inputs are matched to ``forward``'s
    parameters by name, else by order (:func:`match_inputs`); outputs by order. The feeds are
    ``feeds`` (one set, labelled ``given``) or, by default, one set per kind of
    :mod:`.adversarial` (``kinds`` picks some), with dynamic dims from ``input_shapes`` (one
    shape per input, in order) or ``dims`` (by dim name). Rows are labelled
    ``"your file vs torch [nan]"``; with ``ours`` and where ``from_torch`` imports the module,
    ``"onnxlayers vs torch [nan]"`` and ``"oracle vs torch [nan]"`` come beside them. Each
    row has the worst element and the atol that would have passed; for ``large`` feeds the
    absolute tolerance is multiplied by their magnitude.

    >>> import torch
    >>> from onnxlayers.builder import Input, MaxPool2d, Model
    >>> x = Input("x", (1, 1, 4, 4))
    >>> mine = Model([x], [MaxPool2d(2)(x)]).to_onnx()
    >>> report = verify_against(mine, torch.nn.MaxPool2d(2), kinds=["random", "nan"])
    >>> report.ok, sorted({row.pair for row in report.rows})[:2]
    (True, ['onnxlayers vs torch [nan]', 'onnxlayers vs torch [random]'])
    """
    label = os.fspath(model) if isinstance(model, (str, os.PathLike)) else describe_source(model)
    session = Session(load_model(model), providers=providers)
    names = [spec.name for spec in session.input_specs]
    order = match_inputs(names, module)
    sets = _feed_sets(session, feeds, seed=seed, dims=dims, input_shapes=input_shapes, kinds=kinds)
    outputs = list(session.output_names)
    example = [sets[0].feeds[n] for n in order]
    mine = _our_export(module, example, providers) if ours else None
    shapes = ", ".join(f"{k}={tuple(np.shape(v))}" for k, v in sets[0].feeds.items())
    report = Report(
        [],
        title=(
            f"{label} on {', '.join(session.providers)} vs torch {type(module).__name__} "
            f"({shapes}; feeds: {', '.join(s.kind for s in sets)})"
        ),
        providers=list(session.providers),
    )
    hidden = []
    for labelled in sets:
        expected = _torch_run(module, labelled.feeds, order, outputs)
        if labelled.kind != "random" and _no_finite_value(expected):
            hidden.append(labelled.kind)
        tol = _scaled(atol, labelled.scale, expected)
        actual = session.run({k: labelled.feeds[k] for k in names})
        report.rows += _pair(f"{YOURS} vs torch [{labelled.kind}]", actual, expected, rtol, tol)
        if isinstance(mine, _Ours):
            report.rows += mine.compare(labelled, order, outputs, expected, rtol, tol, report)
    report.notes += _summary(report.rows, [s.kind for s in sets])
    if isinstance(mine, str):
        report.notes.append(mine)
    if hidden:
        report.notes.append(
            f"note: on {', '.join(hidden)} feeds torch's outputs hold no finite value, so a "
            "node inside the network that mishandles them cannot show at the outputs; "
            "`onnxlayers audit FILE` flags such nodes statically"
        )
    if any(getattr(m, "training", False) for m in _modules(module)) and not report.ok:
        report.notes.append(
            f"note: {type(module).__name__} is in training mode (dropout, batch statistics); "
            "torch's exporters export eval mode by default: call module.eval() first"
        )
    return report


def _feed_sets(
    session: Session,
    feeds: Mapping[str, Any] | None,
    *,
    seed: int,
    dims: Mapping[str, int] | None,
    input_shapes: Sequence[Sequence[int]] | None,
    kinds: Iterable[str] | None,
) -> list[LabelledFeeds]:
    if feeds is not None:
        missing = [s.name for s in session.input_specs if s.name not in feeds]
        if missing:
            raise InputError(
                f"verify --against: feeds lack inputs {missing!r}; the file "
                f"expects {[s.name for s in session.input_specs]!r}"
            )
        given = {s.name: np.asarray(feeds[s.name], dtype=s.dtype) for s in session.input_specs}
        return [LabelledFeeds("given", given)]
    specs = feed_specs(session.input_specs, dims=dims, shapes=input_shapes)
    return adversarial_feeds(specs, seed=seed, kinds=kinds)


def _torch_run(
    module: Any, feeds: Mapping[str, np.ndarray], order: Sequence[str], outputs: Sequence[str]
) -> dict[str, np.ndarray]:
    outs = run_torch(module, [feeds[name] for name in order])
    if len(outs) != len(outputs):
        raise InputError(
            f"verify --against: {type(module).__name__} returned {len(outs)} outputs; the file "
            f"has {len(outputs)} ({list(outputs)!r}); expected the module the file came from"
        )
    return dict(zip(outputs, outs, strict=True))


def _scaled(atol: Tolerance, scale: float, expected: Mapping[str, np.ndarray]) -> Tolerance:
    """``atol`` (or each output's default) times ``scale``, for feeds of magnitude ``scale``."""
    if scale == 1.0:
        return atol
    out = {}
    for name, value in expected.items():
        default = DEFAULT_TOLERANCES.get(np.asarray(value).dtype.name, (0.0, 0.0))[1]
        base = (
            default
            if atol is None
            else (float(atol.get(name, default)) if isinstance(atol, Mapping) else float(atol))
        )
        out[name] = base * scale
    return out


def _pair(
    pair: str,
    actual: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    rtol: Tolerance,
    atol: Tolerance,
) -> list[OutputComparison]:
    rows = compare_outputs(actual, expected, rtol=rtol, atol=atol).rows
    for row in rows:
        row.pair = pair
    return rows


@dataclass
class _Ours:
    """Our export of the torch module, its session and its layer program."""

    model: Model
    session: Session
    program: Program

    def compare(
        self,
        labelled: LabelledFeeds,
        order: Sequence[str],
        outputs: Sequence[str],
        expected: Mapping[str, np.ndarray],
        rtol: Tolerance,
        atol: Tolerance,
        report: Report,
    ) -> list[OutputComparison]:
        """Rows for our export and the oracle on one feed set (a failure becomes a note)."""
        feeds = {
            spec.name: labelled.feeds[name]
            for spec, name in zip(self.model.inputs, order, strict=True)
        }
        try:
            got = self.session.run(feeds)
            with np.errstate(all="ignore"):  # NaN and inf feeds are the point here
                reference = oracle.run(self.program, feeds, observed=got)
        except Exception as e:  # our extra comparison must never hide the file's verdict
            report.notes.append(
                f"note: onnxlayers' own export failed on {labelled.kind} feeds "
                f"({type(e).__name__}: {e}); it is left out there"
            )
            return []
        ours, oracles = (dict(zip(outputs, run.values(), strict=False)) for run in (got, reference))
        return _pair(f"{OURS} vs torch [{labelled.kind}]", ours, expected, rtol, atol) + _pair(
            f"{ORACLE} vs torch [{labelled.kind}]", oracles, expected, rtol, atol
        )


def _our_export(
    module: Any, example: Sequence[np.ndarray], providers: Sequence[str]
) -> _Ours | str:
    """Our model of ``module`` (static shapes of ``example``), or a note saying why not."""
    try:
        model = from_torch(module, tuple(example), dynamic_batch=False)
        return _Ours(model, Session(model.to_onnx(), providers=providers), model.program())
    except Exception as e:  # any failure only drops the extra comparison
        why = " ".join(str(e).splitlines()[:2])
        why = why if len(why) <= 240 else why[:237] + "..."
        return (
            f"note: onnxlayers cannot export {type(module).__name__} itself "
            f"({type(e).__name__}: {why}); only your file was compared"
        )


def _summary(rows: Sequence[OutputComparison], kinds: Sequence[str]) -> list[str]:
    """One line per compared run: the feed kinds where it differs from torch, and how much."""
    lines = []
    for who in (YOURS, OURS, ORACLE):
        mine = [r for r in rows if r.pair.startswith(f"{who} vs torch [")]
        if not mine:
            continue
        bad: dict[str, list[str]] = {}
        for r in mine:
            if not r.ok:
                kind = r.pair.rsplit("[", 1)[1].rstrip("]")
                bad.setdefault(kind, []).append(
                    f"{r.name!r}: {r.problem or f'{r.mismatches} elements'}"
                )
        if not bad:
            lines.append(f"{who} vs torch: agrees on every feed kind ({', '.join(kinds)})")
            continue
        good = [k for k in kinds if k not in bad]
        lines.append(
            f"{who} vs torch: differs on "
            + "; ".join(f"{k} ({', '.join(v)})" for k, v in bad.items())
            + (f"; agrees on {', '.join(good)}" if good else "")
        )
    ours_ok = any(line.startswith(f"{OURS} vs torch: agrees") for line in lines)
    if ours_ok and any(line.startswith(f"{YOURS} vs torch: differs") for line in lines):
        lines.append(
            "fix: re-export with `onnxlayers export FILE.py:FACTORY --input-shape ...`"
            " (it agrees with torch above); `onnxlayers audit FILE` names the nodes"
        )
    return lines


def _no_finite_value(outputs: Mapping[str, np.ndarray]) -> bool:
    floats = [np.asarray(v) for v in outputs.values() if np.asarray(v).dtype.kind == "f"]
    return bool(floats) and not any(np.isfinite(v).any() for v in floats)


def _modules(module: Any) -> list[Any]:
    modules = getattr(module, "modules", None)
    return list(modules()) if callable(modules) else [module]


# ----------------------------------------------------------------------------- CLI
