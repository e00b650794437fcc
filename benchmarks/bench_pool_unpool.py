"""Pool -> unpool (SegNet) and the pooling oracle: times, never unit-test assertions.

    python benchmarks/bench_pool_unpool.py             # a table
    python benchmarks/bench_pool_unpool.py --rounds 5 --json

* ``SegNet pair``: ``MaxPool2d(2, return_indices=True)`` then ``MaxUnpool2d(2)`` back to the
  input's size, on (8, 64, 56, 56) float32. ``ours`` is the lowering, where the unpool reads
  the pool's whole-tensor indices (one ONNX ``MaxUnpool``); ``general`` is the same program
  lowered with the op's general path (plane offsets added, range checked), i.e. as when the
  indices come from elsewhere. Both against torch eager.
* ``oracle``: the NumPy oracle's ``MaxPool2d`` / ``AvgPool2d`` (3, 2, 1, ceil_mode, with indices
  or divisor 7) on (8, 64, 56, 56), and ``MaxPool2d`` on (32, 64, 56, 56); the limits are the
  wall-clock bounds the unit tests used to assert (0.5 s and 1 s).

Each time is the median of blocks after a warm-up (``onnxlayers.runtime.timing``), one library
at a time; ``--rounds`` repeats everything and reports medians (noisy hosts).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np

from onnxlayers.builder import Input, MaxPool2d, MaxUnpool2d, Model
from onnxlayers.builder.layers.unpool import MaxUnpool2d as UnpoolLayer
from onnxlayers.runtime import Session
from onnxlayers.runtime.oracle import OracleCall
from onnxlayers.runtime.oracle.pooling import avg_pool2d, max_pool2d
from onnxlayers.runtime.timing import time_blocks
from onnxlayers.runtime.torch_eager import torch_runner

SEGNET = (8, 64, 56, 56)
ORACLE_ARGS: dict[str, Any] = {
    "kernel_size": 3,
    "stride": 2,
    "padding": 1,
    "dilation": 1,
    "ceil_mode": True,
    "return_indices": True,
    "count_include_pad": True,
    "divisor_override": 7,
}


def segnet_pair() -> tuple[Model, dict[str, np.ndarray]]:
    """``x -> MaxPool2d(2, return_indices=True) -> MaxUnpool2d(2, output_size=x.shape)``."""
    x = Input("x", SEGNET)
    pooled, indices = MaxPool2d(2, return_indices=True)(x)
    model = Model([x], [MaxUnpool2d(2)(pooled, indices, output_size=x.shape)])
    return model, {"x": np.random.default_rng(0).standard_normal(SEGNET).astype(np.float32)}


def general_lowering(model: Model) -> Any:
    """``model`` lowered as if the unpool's indices came from elsewhere (the op's offsets and
    range check)."""
    with mock.patch.object(UnpoolLayer, "_undoes", return_value=False):
        return model.to_onnx()


def _ms(fn: Callable[[], object], rounds: int) -> float:
    return statistics.median(time_blocks(fn).ms for _ in range(rounds))


def segnet_rows(rounds: int) -> list[dict[str, object]]:
    model, feeds = segnet_pair()
    ours, general = Session(model.to_onnx()), Session(general_lowering(model))
    times = {
        "ours": _ms(lambda: ours.run(feeds), rounds),
        "general": _ms(lambda: general.run(feeds), rounds),
        "torch": _ms(torch_runner(model.program(), feeds), rounds),
    }
    return [
        {
            "case": f"SegNet pair {SEGNET}: {name}",
            "ms": ms,
            "vs": f"{ms / times['torch']:.2f}x torch, {ms / times['general']:.2f}x general",
        }
        for name, ms in times.items()
        if name != "torch"
    ] + [{"case": f"SegNet pair {SEGNET}: torch eager", "ms": times["torch"], "vs": ""}]


def oracle_rows(rounds: int) -> list[dict[str, object]]:
    rows = []
    for name, fn, shape, limit in [
        ("max", max_pool2d, (8, 64, 56, 56), 500.0),
        ("avg", avg_pool2d, (8, 64, 56, 56), 500.0),
        ("max", max_pool2d, (32, 64, 56, 56), 1000.0),
    ]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        call = OracleCall(ORACLE_ARGS, {}, [x], {}, False)
        ms = _ms(functools.partial(fn, call), rounds)
        rows.append(
            {
                "case": f"oracle {name}_pool2d(3,2,1,ceil) {shape}",
                "ms": ms,
                "vs": f"limit {limit:.0f} ms: {'met' if ms <= limit else 'NOT MET'}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--rounds", type=int, default=1, help="repeat and report medians")
    args = p.parse_args(argv)
    rounds = max(1, args.rounds)
    rows = segnet_rows(rounds) + oracle_rows(rounds)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['case']:<58} {r['ms']:>9.3f} ms  {r['vs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
