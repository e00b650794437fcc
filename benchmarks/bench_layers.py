"""The issues' speed targets, as ratios to torch eager measured in one process.

    python benchmarks/bench_layers.py            # every case, a table
    python benchmarks/bench_layers.py --only Pool --json
    python benchmarks/bench_layers.py --rounds 5  # medians of 5 rounds, for noisy hosts

Each row times onnxlayers' ``Session.run`` and torch eager on the same feeds, one library at a
time (blocks after a warm-up, medians), and prints ``ours / torch`` against the target.
Rows marked ``floor`` time onnxruntime's own kernel alone, fed inputs already in its format and
with none of the parity work (NaN, per-plane indices, range checks): no graph built on that
kernel can beat it, so a floor above its target says the target needs a faster kernel.
Rows marked ``vs bare`` time our layer against onnxruntime's bare node in a plain session
(default options), same process: the price of torch's semantics (NaN, -inf windows).
Never run as a unit test: the machines are noisy, and timing belongs here, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import torch
from onnx import helper

from onnxlayers.builder import (
    AvgPool2d,
    Conv2d,
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
    Tensor,
)
from onnxlayers.runtime import Session
from onnxlayers.runtime.timing import time_blocks
from onnxlayers.runtime.torch_eager import torch_runner

PROVIDERS = ["cuda", "cpu"] if os.environ.get("ONNXLAYERS_PROVIDER") == "cuda" else ["cpu"]
"""Our sessions' providers: ``ONNXLAYERS_PROVIDER=cuda`` runs them on CUDA (the GPU check);
torch eager and the floor rows stay on the CPU."""

BIG = (32, 64, 56, 56)


Built = tuple[Model, dict[str, np.ndarray]]


@dataclass
class Case:
    name: str
    target: float
    build: Callable[[], Built]


def _single(
    layer: Callable[..., Tensor | tuple[Tensor, ...]], shape: tuple[int, ...]
) -> Callable[[], Built]:
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
    Case(
        "MaxPool2d(3,2,1,return_indices)",
        0.6,
        _single(MaxPool2d(3, 2, 1, return_indices=True), BIG),
    ),
    Case("AvgPool2d(2,2)", 0.6, _single(AvgPool2d(2, 2), BIG)),
    Case(
        "AvgPool2d(3,2,1,ceil,divisor=7)",
        1.0,
        _single(AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=7), BIG),
    ),
    Case("MaxUnpool2d(2) 28->56", 1.3, _unpool),
]


@dataclass
class Floor:
    """onnxruntime's ``nodes`` alone on ``feeds`` against torch's ``baseline`` on the same data.

    ``consts`` become initializers; the graph's outputs are the last node's, float32 except
    ``i`` (int64 indices).
    """

    name: str
    target: float
    nodes: list[onnx.NodeProto]
    feeds: dict[str, np.ndarray]
    baseline: Callable[[], object]
    consts: dict[str, np.ndarray] = field(default_factory=dict)


def _floors() -> list[Floor]:
    big = torch.randn(*BIG)
    values, indices = torch.nn.functional.max_pool2d(big, 2, return_indices=True)
    n, c, h, w = BIG
    offsets = np.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * h * w
    node = helper.make_node
    pool = node(
        "MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
    )
    unpool = node("MaxUnpool", ["x", "i", "shape"], ["y"], kernel_shape=[1, 1])

    def unpool_torch() -> object:
        return torch.nn.functional.max_unpool2d(values, indices, (2, 2), output_size=(h, w))

    shape = {"shape": np.array(BIG, np.int64)}
    return [
        Floor(
            "floor: ORT MaxPool+Indices alone",
            0.6,
            [pool],
            {"x": big.numpy()},
            lambda: torch.nn.functional.max_pool2d(big, 3, 2, 1, return_indices=True),
        ),
        Floor(
            "floor: ORT MaxUnpool alone",
            1.3,
            [unpool],
            {"x": values.numpy(), "i": indices.numpy() + offsets},
            unpool_torch,
            shape,
        ),
        Floor(
            "floor: ORT plane offsets+MaxUnpool",
            1.3,
            [node("Add", ["per_plane", "offsets"], ["i"]), unpool],
            {"x": values.numpy(), "per_plane": indices.numpy()},
            unpool_torch,
            {**shape, "offsets": offsets},
        ),
    ]


def _versus_bare() -> list[tuple[str, float, Callable[[], Built], onnx.NodeProto]]:
    """(name, target, our model, the bare onnxruntime node on the same input ``x``)."""
    node = helper.make_node
    return [
        (
            "vs bare: MaxPool2d(2,2) / ORT MaxPool",
            1.2,
            _single(MaxPool2d(2, 2), BIG),
            node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
        ),
        (
            "vs bare: MaxPool2d(3,2,1) / ORT MaxPool",
            1.2,
            _single(MaxPool2d(3, 2, 1), BIG),
            node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        ),
    ]


CHAIN = (8, 64, 56, 56)


def run_chain_versus_bare(relu: bool, rounds: int = 1) -> dict[str, object]:
    """Conv2d -> [ReLU] -> MaxPool2d(3, 2, 1) -> Conv2d: our whole graph against the same
    network with onnxruntime's bare ``MaxPool`` (what torch's exporter writes). Inside a
    network the pool's exactness must not break onnxruntime's blocked layout."""
    rng = np.random.default_rng(0)
    x = Input("x", CHAIN)
    conv1, conv2 = Conv2d(64, 64, 3, padding=1), Conv2d(64, 64, 3, padding=1)
    for conv in (conv1, conv2):
        conv.weight = rng.standard_normal((64, 64, 3, 3)).astype(np.float32) * 0.05
        conv.bias = rng.standard_normal(64).astype(np.float32)
    h = conv1(x)
    model = Model([x], [conv2(MaxPool2d(3, 2, 1)(ReLU()(h) if relu else h))])
    feeds = {"x": rng.standard_normal(CHAIN).astype(np.float32)}
    node = helper.make_node
    nodes = [node("Conv", ["x", "w1", "b1"], ["h"], pads=[1, 1, 1, 1])]
    nodes += [node("Relu", ["h"], ["r"])] if relu else [node("Identity", ["h"], ["r"])]
    nodes += [
        node("MaxPool", ["r"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Conv", ["p", "w2", "b2"], ["y"], pads=[1, 1, 1, 1]),
    ]
    consts = {"w1": conv1.weight, "b1": conv1.bias, "w2": conv2.weight, "b2": conv2.bias}
    raw = floor_session(Floor("", 0.0, nodes, feeds, lambda: None, consts=consts))
    ours = Session(model.to_onnx(), providers=PROVIDERS)
    return _row(
        f"vs bare: conv{'-relu' if relu else ''}-MaxPool2d(3,2,1)-conv",
        1.05,
        lambda: ours.run(feeds),
        lambda: raw.run(None, feeds),
        rounds,
        baseline="the network with a bare MaxPool",
    )


def run_versus_bare(
    name: str, target: float, build: Callable[[], Built], bare: onnx.NodeProto, rounds: int = 1
) -> dict[str, object]:
    model, feeds = build()
    ours = Session(model.to_onnx(), providers=PROVIDERS)
    raw = floor_session(Floor(name, target, [bare], feeds, lambda: None))
    return _row(
        name,
        target,
        lambda: ours.run(feeds),
        lambda: raw.run(None, feeds),
        rounds,
        baseline="bare onnxruntime node",
    )


def floor_session(floor: Floor) -> ort.InferenceSession:
    """A plain onnxruntime CPU session of ``floor``'s nodes."""

    def info(name: str, dtype: int, shape: tuple[int, ...] | None) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, dtype, shape)

    graph = helper.make_graph(
        floor.nodes,
        "floor",
        [
            info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for k, v in floor.feeds.items()
        ],
        [
            info(o, onnx.TensorProto.INT64 if o == "i" else onnx.TensorProto.FLOAT, None)
            for o in floor.nodes[-1].output
        ],
        [onnx.numpy_helper.from_array(v, k) for k, v in floor.consts.items()],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run_floor(floor: Floor, rounds: int = 1) -> dict[str, object]:
    raw = floor_session(floor)
    return _row(
        floor.name, floor.target, lambda: raw.run(None, floor.feeds), floor.baseline, rounds
    )


def wrapper_overhead(rounds: int = 1) -> dict[str, object]:
    """Session.run vs raw InferenceSession.run on a 1x3 ReLU (target: within 1.3x)."""
    x = Input("x", (1, 3))
    proto = Model([x], [ReLU()(x)]).to_onnx()
    feeds = {"x": np.array([[-1.0, 0.0, 1.0]], np.float32)}
    ours = Session(proto, providers=PROVIDERS)
    raw = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return _row(
        "Session.run overhead, 1x3 ReLU",
        1.3,
        lambda: ours.run(feeds),
        lambda: raw.run(None, feeds),
        rounds,
        baseline="raw InferenceSession.run",
    )


def run_case(case: Case, rounds: int = 1) -> dict[str, object]:
    model, feeds = case.build()
    session = Session(model.to_onnx(), providers=PROVIDERS)
    return _row(
        case.name,
        case.target,
        lambda: session.run(feeds),
        torch_runner(model.program(), feeds),
        rounds,
    )


def _row(
    name: str,
    target: float,
    ours_fn: Callable[[], object],
    base_fn: Callable[[], object],
    rounds: int,
    baseline: str = "torch eager",
) -> dict[str, object]:
    """Time ``ours_fn`` then ``base_fn`` (never interleaved) ``rounds`` times; medians."""
    ms = [(time_blocks(ours_fn).ms, time_blocks(base_fn).ms) for _ in range(rounds)]
    return {
        "case": name,
        "ours_ms": statistics.median(o for o, _ in ms),
        "torch_ms": statistics.median(b for _, b in ms),
        "ratio": statistics.median(o / b for o, b in ms),
        "target": target,
        "baseline": baseline,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="run the cases whose name contains this text")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="time each row this many times and report medians (noisy hosts)",
    )
    args = p.parse_args(argv)
    rounds, wanted = max(1, args.rounds), args.only.lower()
    rows = [run_case(c, rounds) for c in CASES if wanted in c.name.lower()]
    rows += [run_floor(f, rounds) for f in _floors() if wanted in f.name.lower()]
    rows += [run_versus_bare(*v, rounds=rounds) for v in _versus_bare() if wanted in v[0].lower()]
    if not wanted or wanted in "vs bare: conv-maxpool2d":
        rows += [run_chain_versus_bare(relu, rounds) for relu in (True, False)]
    if "overhead".startswith(wanted) or not wanted:
        rows.append(wrapper_overhead(rounds))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
        f"{ort.__version__}, float32, CPU; ratio = ours / baseline (lower is better)"
    )
    print(f"{'case':<40} {'ours ms':>9} {'base ms':>9} {'ratio':>6} {'target':>7}  met")
    for r in rows:
        met = "yes" if r["ratio"] <= r["target"] else "NO"  # type: ignore[operator]
        print(
            f"{r['case']:<40} {r['ours_ms']:>9.3f} {r['torch_ms']:>9.3f} "
            f"{r['ratio']:>6.2f} {r['target']:>6.2f}x  {met}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
