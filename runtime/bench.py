"""``onnxlayers bench``: latency percentiles, throughput, and the ratio to torch eager.

Any ONNX file can be timed on onnxruntime: random feeds are made from the session's input specs
(:func:`bench_feeds`). The ratio to torch eager needs our layer program (torch runs it).

>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", ("N", 8))
>>> result = bench(Model([x], [ReLU()(x)]).to_onnx(), batch=4, seconds=0.05, torch=False)
>>> result.batch, result.p50_ms > 0, result.inputs
(4, True, {'x': [4, 8]})
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx

from onnxlayers.builder import BuildError, Program

from .errors import InputError, ModelLoadError, RuntimeFault
from .feeds import TensorSpec
from .loading import ModelSource, load_model
from .oracle import program_of
from .providers import ProviderRequest
from .session import Session
from .timing import time_blocks

__all__ = ["BenchResult", "bench", "bench_feeds", "plot", "torch_program"]


@dataclass
class BenchResult:
    """One benchmark: latency percentiles (ms), throughput (samples/s), torch ratio.

    ``provider`` is the provider the session really ran on (``Session.providers[0]``).
    """

    model: str
    provider: str
    batch: int
    runs: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput: float
    torch_ms: float | None = None
    ratio: float | None = None
    creation_s: float | None = None
    inputs: dict[str, list[int]] = field(default_factory=dict)
    """The shape of each random feed (batch and ``dims`` applied)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        torch_part = (
            f", torch eager {self.torch_ms:.3f} ms, ratio {self.ratio:.2f}x"
            if self.ratio is not None and self.torch_ms is not None
            else ""
        )
        feeds = (
            "; feeds " + ", ".join(f"{k}[{', '.join(map(str, v))}]" for k, v in self.inputs.items())
            if self.inputs
            else ""
        )
        return (
            f"{self.model} [{self.provider}] batch {self.batch}: p50 {self.p50_ms:.3f} ms, "
            f"p90 {self.p90_ms:.3f} ms, p99 {self.p99_ms:.3f} ms, {self.throughput:,.0f} "
            f"samples/s over {self.runs} runs{torch_part}{feeds}"
        )


class Progress:
    """A one-line progress bar on a terminal's stderr, shown once a run passes ``after_s``."""

    def __init__(self, total_s: float, label: str, *, after_s: float = 2.0) -> None:
        self.total_s, self.label, self.after_s = total_s, label, after_s
        self.start = time.perf_counter()
        self.shown = False

    def update(self) -> None:
        elapsed = time.perf_counter() - self.start
        if elapsed < self.after_s or not sys.stderr.isatty():
            return
        self.shown = True
        frac = min(elapsed / self.total_s, 1.0)
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {frac:4.0%}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _latencies(fn: Callable[[], object], seconds: float, label: str) -> np.ndarray:
    time_blocks(fn, blocks=1, min_block_s=0.0)  # warm-up
    out: list[float] = []
    progress = Progress(seconds, label)
    end = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        out.append(t1 - t0)
        if len(out) % 64 == 0:
            progress.update()
        if t1 >= end and len(out) >= 10:
            break
    progress.close()
    return np.asarray(out)


def bench_feeds(
    specs: Sequence[TensorSpec],
    batch: int = 1,
    dims: Mapping[str, int] | None = None,
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Seeded random feeds for inputs described by ``specs`` (``Session.input_specs``).

    Floating inputs are standard normal, the others 0 or 1 (as `verify`'s feeds). Static dims
    keep their size. A dynamic first dim is the batch: it gets ``batch``, and so does every dim
    sharing its name. Any other dynamic dim takes its size from ``dims``, by the dim's name
    (``{"L": 128}``) or, for an unnamed one, by ``"INPUT:AXIS"`` (``{"x:2": 128}``); there is no
    default size for them (a benchmark at a guessed length would time the wrong model), so one
    that ``dims`` does not give raises `InputError` naming it. Names in ``dims`` that match no
    dynamic dim raise too (a typo would otherwise be ignored).

    >>> from onnxlayers.runtime.feeds import TensorSpec
    >>> x = TensorSpec("x", np.dtype("float32"), ("N", "L", 3), "tensor(float)")
    >>> {k: v.shape for k, v in bench_feeds([x], 4, {"L": 7}).items()}
    {'x': (4, 7, 3)}
    >>> bench_feeds([x], 4)
    Traceback (most recent call last):
    ...
    onnxlayers.runtime.errors.InputError: bench: input 'x' dim 1 ('L') is dynamic with no ...
    """
    _check_count("batch", batch)
    given = dict(dims or {})
    for key, size in given.items():
        _check_count(f"dims[{key!r}]", size)
    first = {str(s.shape[0]) for s in specs if s.shape and isinstance(s.shape[0], str)}
    clash = sorted(first & set(given))
    if clash:
        raise InputError(
            f"bench: dims {clash!r} are first (batch) dims, sized by batch={batch!r}; "
            "set batch instead (CLI: --batch N)"
        )
    sizes = {name: batch for name in first} | given
    used: set[str] = set()
    missing: list[tuple[str, str]] = []  # (where, how to name it)
    shapes: dict[str, list[int]] = {}
    for spec in specs:
        if spec.dtype is None or spec.dtype.kind not in "biuf" or spec.shape is None:
            what = f"type {spec.onnx_type}" if spec.shape is not None else "an unknown rank"
            raise InputError(
                f"bench: input {spec.name!r} has {what}; bench makes random feeds only for "
                "numeric and bool tensors of known rank"
            )
        shape = []
        for axis, dim in enumerate(spec.shape):
            keys = [f"{spec.name}:{axis}"] + ([dim] if isinstance(dim, str) else [])
            if isinstance(dim, int):
                shape.append(dim)
            elif axis == 0 and dim is None:
                shape.append(batch)
            elif any(k in sizes for k in keys):
                key = next(k for k in keys if k in sizes)
                used.add(key)
                shape.append(sizes[key])
            else:
                missing.append(
                    (
                        f"input {spec.name!r} dim {axis}"
                        + (f" ({dim!r})" if dim else " (unnamed)"),
                        keys[-1],
                    )
                )
                shape.append(0)
        shapes[spec.name] = shape
    unused = sorted(set(given) - used)
    if unused:
        dynamic = sorted(
            {
                k
                for s in specs
                for a, d in enumerate(s.shape or ())
                if not isinstance(d, int) and str(d) not in first
                for k in ([d] if d else [f"{s.name}:{a}"])
            }
        )
        raise InputError(
            f"bench: dims {unused!r} name no dynamic dim of the model; its non-batch dynamic "
            f"dims are {dynamic!r} (a dim's name, or INPUT:AXIS for an unnamed one)"
        )
    if missing:
        names = list(dict.fromkeys(key for _, key in missing))
        one = len(missing) == 1
        raise InputError(
            f"bench: {', '.join(w for w, _ in missing)} {'is' if one else 'are'} dynamic with "
            f"no size; give {'it one' if one else 'them sizes'} with "
            f"dims={{{', '.join(f'{k!r}: SIZE' for k in names)}}} "
            f"(CLI: {' '.join(f'--dims {k}=SIZE' for k in names)})"
        )
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        assert spec.dtype is not None
        shape = shapes[spec.name]
        if spec.dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(spec.dtype)
    return feeds


def torch_program(model: onnx.ModelProto, label: str = "the model") -> Program:
    """The layer program torch eager runs for ``model``, or `ModelLoadError` saying why not.

    >>> import onnx.helper as h
    >>> torch_program(h.make_model(h.make_graph([], "g", [], [])), "plain.onnx")
    Traceback (most recent call last):
    ...
    onnxlayers.runtime.errors.ModelLoadError: bench: plain.onnx carries no onnxlayers layer ...
    """
    try:
        return program_of(model)
    except BuildError as err:
        raise ModelLoadError(
            f"bench: {label} carries no onnxlayers layer program, and torch eager runs that "
            "program (ours only); pass --no-torch (torch=False) to time onnxruntime alone"
        ) from err


def bench(
    model: ModelSource,
    *,
    providers: Sequence[ProviderRequest] = ("cpu",),
    batch: int = 1,
    seconds: float = 2.0,
    torch: bool = True,
    label: str | None = None,
    dims: Mapping[str, int] | None = None,
) -> BenchResult:
    """Time ``model`` on onnxruntime (and torch eager when installed and asked for).

    Any ONNX file works with ``torch=False``: feeds come from the session's input specs
    (:func:`bench_feeds`: dynamic first dims are ``batch``, other dynamic dims come from
    ``dims``). torch eager runs our layer program, so ``torch=True`` needs a file that carries
    one (`ModelLoadError` otherwise, before anything is timed). ``batch`` must be >= 1 and
    ``seconds`` > 0 (`RuntimeFault` naming the value otherwise).
    """
    _check_count("batch", batch)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise RuntimeFault(f"bench: seconds={seconds!r} is invalid; expected a number > 0")
    proto = load_model(model)
    name = label or (
        os.fspath(model) if isinstance(model, (str, os.PathLike)) else proto.graph.name
    )
    prog = torch_program(proto, repr(str(name))) if torch else None
    session = Session(proto, providers=providers)
    has_batch = any(s.shape and not isinstance(s.shape[0], int) for s in session.input_specs)
    if batch != 1 and not has_batch:
        specs = ", ".join(f"{s.name}: {s}" for s in session.input_specs)
        raise InputError(
            f"bench: batch={batch!r} cannot apply: no input of {name!r} has a dynamic first dim "
            f"({specs}); leave batch at 1"
        )
    feeds = bench_feeds(session.input_specs, batch, dims)
    lat = _latencies(lambda: session.run(feeds), seconds, f"bench {name}")
    p50, p90, p99 = (float(np.percentile(lat, q)) * 1e3 for q in (50, 90, 99))
    result = BenchResult(
        model=str(name),
        provider=session.providers[0],
        batch=batch,
        runs=len(lat),
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        throughput=batch / (p50 / 1e3),
        creation_s=session.creation_seconds,
        inputs={k: list(v.shape) for k, v in feeds.items()},
    )
    if prog is not None:
        try:
            from .torch_eager import torch_runner
        except ImportError:
            return result
        ours = time_blocks(lambda: session.run(feeds))
        theirs = time_blocks(torch_runner(prog, feeds))
        result.torch_ms, result.ratio = theirs.ms, ours.median / theirs.median
    return result


def _check_count(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RuntimeFault(f"bench: {what}={value!r} is invalid; expected an integer >= 1")


def plot(results: Sequence[BenchResult], path: str) -> None:
    """Latency (p50, p99) and throughput against batch size, to a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - optional extra
        raise ImportError("--plot needs matplotlib: pip install 'onnxlayers[plot]'") from e
    batches = [r.batch for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(batches, [r.p50_ms for r in results], "o-", label="p50")
    ax1.plot(batches, [r.p99_ms for r in results], "s--", label="p99")
    ax1.set(xscale="log", xlabel="batch size", ylabel="latency (ms)", title="Latency")
    ax1.legend()
    ax2.plot(batches, [r.throughput for r in results], "o-")
    ax2.set(xscale="log", xlabel="batch size", ylabel="samples / s", title="Throughput")
    fig.suptitle(f"{results[0].model} on {results[0].provider}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
