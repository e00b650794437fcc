"""``onnxlayers bench``: latency percentiles, throughput, and the ratio to torch eager.

>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", ("N", 8))
>>> result = bench(Model([x], [ReLU()(x)]).to_onnx(), batch=4, seconds=0.05, torch=False)
>>> result.batch, result.p50_ms > 0
(4, True)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx

from onnxlayers.builder import Program

from .loading import load_model
from .oracle import program_of
from .session import Session
from .timing import time_blocks
from .verification import random_feeds


@dataclass
class BenchResult:
    """One benchmark: latency percentiles (ms), throughput (samples/s), torch ratio."""

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        torch_part = (
            f", torch eager {self.torch_ms:.3f} ms, ratio {self.ratio:.2f}x"
            if self.ratio is not None and self.torch_ms is not None
            else ""
        )
        return (
            f"{self.model} [{self.provider}] batch {self.batch}: p50 {self.p50_ms:.3f} ms, "
            f"p90 {self.p90_ms:.3f} ms, p99 {self.p99_ms:.3f} ms, {self.throughput:,.0f} "
            f"samples/s over {self.runs} runs{torch_part}"
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


def bench_feeds(prog: Program, batch: int) -> dict[str, np.ndarray]:
    """Random feeds with every dynamic first dim set to ``batch``."""
    dims = {str(i.shape[0]): batch for i in prog.inputs
            if i.shape and not isinstance(i.shape[0], int)}
    return random_feeds(prog, seed=0, dims=dims)


def bench(
    model: onnx.ModelProto | str,
    *,
    providers: Sequence[str] = ("cpu",),
    batch: int = 1,
    seconds: float = 2.0,
    torch: bool = True,
    label: str | None = None,
) -> BenchResult:
    """Time ``model`` on onnxruntime (and torch eager when installed and asked for)."""
    proto = load_model(model)
    prog = program_of(proto)
    feeds = bench_feeds(prog, batch)
    session = Session(proto, providers=providers)
    name = label or (model if isinstance(model, str) else proto.graph.name)
    lat = _latencies(lambda: session.run(feeds), seconds, f"bench {name}")
    p50, p90, p99 = (float(np.percentile(lat, q)) * 1e3 for q in (50, 90, 99))
    result = BenchResult(
        model=str(name), provider=session.providers[0], batch=batch, runs=len(lat),
        p50_ms=p50, p90_ms=p90, p99_ms=p99, throughput=batch / (p50 / 1e3),
        creation_s=session.creation_seconds,
    )
    if torch:
        try:
            from .torch_eager import torch_runner
        except ImportError:
            return result
        ours = time_blocks(lambda: session.run(feeds))
        theirs = time_blocks(torch_runner(prog, feeds))
        result.torch_ms, result.ratio = theirs.ms, ours.median / theirs.median
    return result


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
