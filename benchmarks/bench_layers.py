"""The issues' speed targets, as ratios to torch eager measured in one process.

    python benchmarks/bench_layers.py            # every case, a table
    python benchmarks/bench_layers.py --only Pool --json

Each row times onnxlayers' ``Session.run`` and torch eager on the same feeds, one library at a
time (blocks after a warm-up, medians), and prints ``ours / torch`` against the target.
Never run as a unit test: the machines are noisy, and timing belongs here, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import torch

from onnxlayers.builder import (
    AvgPool2d,
    Input,
    LeakyReLU,
    Linear,
    MaxPool2d,
    MaxUnpool2d,
    Model,
    PReLU,
    ReLU,
    RReLU,
    Sigmoid,
    Tanh,
)
from onnxlayers.runtime import Session
from onnxlayers.runtime.timing import time_blocks
from onnxlayers.runtime.torch_eager import torch_runner

BIG = (32, 64, 56, 56)


Built = tuple[Model, dict[str, np.ndarray]]


@dataclass
class Case:
    name: str
    target: float
    build: Callable[[], Built]


def _single(layer: Callable[..., object], shape: tuple[int, ...]) -> Callable[[], Built]:
    def build() -> Built:
        x = Input("x", shape)
        out = layer(x)
        outs = list(out) if isinstance(out, tuple) else [out]
        feeds = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        return Model([x], outs), feeds

    return build


def _unpool() -> Built:
    big = torch.randn(32, 64, 56, 56)
    values, indices = torch.nn.functional.max_pool2d(big, 2, return_indices=True)
    x, idx = Input("x", values.shape), Input("indices", indices.shape, "int64")
    model = Model([x, idx], [MaxUnpool2d(2)(x, idx, output_size=(56, 56))])
    return model, {"x": values.numpy(), "indices": indices.numpy()}


CASES = [
    Case("ReLU (32,64,56,56)", 1.1, _single(ReLU(), BIG)),
    Case("Sigmoid (32,64,56,56)", 1.1, _single(Sigmoid(), BIG)),
    Case("Tanh (32,64,56,56)", 1.1, _single(Tanh(), BIG)),
    Case("LeakyReLU (32,64,56,56)", 1.1, _single(LeakyReLU(), BIG)),
    Case("PReLU(64) (32,64,56,56)", 2.5, _single(PReLU(64), BIG)),
    Case("RReLU eval (32,64,56,56)", 1.1, _single(RReLU(), BIG)),
    Case("Linear 256x1024->1024", 1.1, _single(Linear(1024, 1024, seed=0), (256, 1024))),
    Case("MaxPool2d(3,2,1)", 0.5, _single(MaxPool2d(3, 2, 1), BIG)),
    Case("MaxPool2d(3,2,1,return_indices)", 0.6,
         _single(MaxPool2d(3, 2, 1, return_indices=True), BIG)),
    Case("AvgPool2d(2,2)", 0.6, _single(AvgPool2d(2, 2), BIG)),
    Case("AvgPool2d(3,2,1,ceil,divisor=7)", 1.0,
         _single(AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=7), BIG)),
    Case("MaxUnpool2d(2) 28->56", 1.3, _unpool),
]


def wrapper_overhead() -> dict[str, object]:
    """Session.run vs raw InferenceSession.run on a 1x3 ReLU (target: within 1.3x)."""
    x = Input("x", (1, 3))
    proto = Model([x], [ReLU()(x)]).to_onnx()
    feeds = {"x": np.array([[-1.0, 0.0, 1.0]], np.float32)}
    ours = Session(proto)
    raw = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    t_raw = time_blocks(lambda: raw.run(None, feeds))
    t_ours = time_blocks(lambda: ours.run(feeds))
    return {"case": "Session.run overhead, 1x3 ReLU", "ours_ms": t_ours.ms,
            "torch_ms": t_raw.ms, "ratio": t_ours.median / t_raw.median, "target": 1.3,
            "baseline": "raw InferenceSession.run"}


def run_case(case: Case) -> dict[str, object]:
    model, feeds = case.build()
    session = Session(model.to_onnx())
    ours = time_blocks(lambda: session.run(feeds))
    theirs = time_blocks(torch_runner(model.program(), feeds))
    return {"case": case.name, "ours_ms": ours.ms, "torch_ms": theirs.ms,
            "ratio": ours.median / theirs.median, "target": case.target,
            "baseline": "torch eager"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="run the cases whose name contains this text")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = [run_case(c) for c in CASES if args.only.lower() in c.name.lower()]
    if "overhead".startswith(args.only.lower()) or not args.only:
        rows.append(wrapper_overhead())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
          f"{ort.__version__}, float32, CPU; ratio = ours / baseline (lower is better)")
    print(f"{'case':<36} {'ours ms':>9} {'base ms':>9} {'ratio':>6} {'target':>7}  met")
    for r in rows:
        met = "yes" if r["ratio"] <= r["target"] else "NO"  # type: ignore[operator]
        print(f"{r['case']:<36} {r['ours_ms']:>9.3f} {r['torch_ms']:>9.3f} "
              f"{r['ratio']:>6.2f} {r['target']:>6.1f}x  {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
