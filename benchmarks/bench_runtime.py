"""What a `Session` costs: creation, the checked-feed hot path, binding, the optimized-model cache.

    python benchmarks/bench_runtime.py           # a table
    python benchmarks/bench_runtime.py --json

Session.run is timed on a 1x3 ReLU, where onnxruntime's own work is smallest, so the numbers
are the wrapper's overhead (the fast path is meant to stay near 5 us per call on a laptop core).
Each function is timed on its own (blocks after a warm-up, medians: `time_blocks`). Never run as
a unit test: the machines are noisy, and timing belongs here, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as h
import onnxruntime as ort
from onnx import TensorProto as TP

from onnxlayers.runtime import Session
from onnxlayers.runtime.timing import time_blocks

X = np.array([[-1.0, 0.5, 2.0]], np.float32)


def relu() -> onnx.ModelProto:
    """y = Relu(x), x: float32[N, 3]."""
    graph = h.make_graph(
        [h.make_node("Relu", ["x"], ["y"], name="relu")],
        "g",
        [h.make_tensor_value_info("x", TP.FLOAT, ["N", 3])],
        [h.make_tensor_value_info("y", TP.FLOAT, ["N", 3])],
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])


def per_call_us() -> dict[str, float]:
    """Microseconds per call of each way to run the ReLU."""
    proto = relu()
    sess = Session(proto)
    raw = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds, out = {"x": X}, {"y": np.empty_like(X)}
    calls: dict[str, Callable[[], object]] = {
        "raw InferenceSession.run": lambda: raw.run(None, feeds),
        "Session.run (fast path)": lambda: sess.run(feeds),
        "Session.run, Python list feed": lambda: sess.run({"x": [[-1.0, 0.5, 2.0]]}),
        "Session.run, big-endian feed": lambda: sess.run({"x": X.astype(">f4")}),
        "Session.run, out= (IO binding)": lambda: sess.run(feeds, out=out),
        "Session.run, OrtValue feed": lambda: sess.run({"x": ort.OrtValue.ortvalue_from_numpy(X)}),
    }
    return {name: time_blocks(fn).median * 1e6 for name, fn in calls.items()}


def creation_ms(repeats: int = 20) -> dict[str, float]:
    """Median milliseconds to create a session: plain, and with the optimized-model cache."""
    proto = relu()
    plain = [Session(proto).creation_seconds for _ in range(repeats)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "relu.opt.onnx"
        started = time.perf_counter()
        Session(proto, optimized_model_path=cache)  # writes the cache
        first = time.perf_counter() - started
        reused = [
            Session(proto, optimized_model_path=cache).creation_seconds for _ in range(repeats)
        ]
    return {
        "Session(model)": statistics.median(plain) * 1e3,
        "Session(model, optimized_model_path=...) writing it": first * 1e3,
        "Session(model, optimized_model_path=...) reusing it": statistics.median(reused) * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    runs, creation = per_call_us(), creation_ms()
    if args.json:
        print(json.dumps({"run_us": runs, "creation_ms": creation}, indent=2))
        return 0
    print(f"onnxruntime {ort.__version__}, CPU, 1x3 float32 ReLU")
    for name, us in runs.items():
        print(f"{name:<56} {us:>9.2f} us/call")
    for name, ms in creation.items():
        print(f"{name:<56} {ms:>9.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
