"""Whole networks: our graph vs torch's own exporter's graph vs torch eager, in one process.

For each reference network of ``tests/networks.py`` (full size) at batch 1 and 8: our export
(``from_torch`` + ``Model.to_onnx``) run in our ``Session``, torch's exporter's graph
(``torch.onnx.export(..., dynamo=False)``) in a raw ``onnxruntime.InferenceSession`` with the
same options, and torch eager. Each round times the three in turn, in blocks after a warm-up
(never interleaved call by call); printed are the medians over rounds and the ratios ours /
torch-export and ours / eager as medians of the rounds' own ratios (a slow spell of a noisy
host then hits both sides of a ratio alike). The
issue's goals: ours <= 1.0x torch's exporter (exactness must cost nothing measurable) and
<= 0.5x torch eager on ResNet-18 and MobileNetV2.

    python benchmarks/bench_models.py [--only resnet18] [--batch 1 8] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onnxlayers.builder import from_torch
from onnxlayers.runtime import Session
from onnxlayers.runtime.timing import time_blocks
from tests import networks as nets

FULL: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...]]] = {
    "resnet18": (nets.resnet18, (3, 224, 224)),
    "mobilenet_v2": (nets.mobilenet_v2, (3, 224, 224)),
    "squeezenet1_1": (nets.squeezenet1_1, (3, 224, 224)),
    "vgg11_bn": (nets.vgg11_bn, (3, 224, 224)),
    "lenet5": (nets.lenet5, (1, 32, 32)),
    "segnet": (lambda: nets.SegNet(width=64), (3, 224, 224)),
    "unet": (lambda: nets.UNet(width=32), (3, 224, 224)),
    "bottleneck": (nets.bottleneck_block, (64, 56, 56)),
    "densenet_block": (lambda: nets.DenseBlock(6, 64, 32), (64, 56, 56)),
    "mobilenet_v3_block": (nets.MobileNetV3Block, (24, 56, 56)),
    "shufflenet_v2_unit": (lambda: nets.ShuffleUnit(116), (116, 28, 28)),
    "efficientnet_mbconv": (lambda: nets.MBConv(24, 6, 24), (24, 56, 56)),
    "convnext_block": (lambda: nets.ConvNeXtBlock(96), (96, 56, 56)),
}


def torch_export(net: torch.nn.Module, x: torch.Tensor) -> bytes:
    """torch's legacy exporter's graph (dynamic batch), as bytes."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (x,),
            buf,  # type: ignore[arg-type]  # the legacy exporter takes a file object too
            dynamo=False,
            opset_version=18,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
        )
    return buf.getvalue()


def interleaved_ms(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """``rounds`` :func:`time_blocks` medians of each function, in ms, each round timing every
    function in turn (so that a slow spell of the machine hits all of them alike)."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            samples[key].append(time_blocks(fn, blocks=5, min_block_s=0.1).ms)
    return samples


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median of round-by-round ratios: steadier than a ratio of medians on a noisy host."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def eager(net: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return net(x)

    return run


def bench(name: str, batch: int, rounds: int) -> dict[str, Any]:
    """One row: medians in ms, ratios, and our output's error relative to torch's scale.
    Where torch's exporter refuses the module (max_unpool2d with output_size), its columns are
    None and the reason is kept."""
    factory, shape = FULL[name]
    net = nets.seeded(factory())
    x = torch.from_numpy(
        np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    )
    ours = Session(from_torch(net, (1, *shape)).to_onnx())
    feeds = {ours.input_specs[0].name: x.numpy()}
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        theirs = ort.InferenceSession(
            torch_export(net, x), options, providers=["CPUExecutionProvider"]
        )
        refused = None
    except Exception as err:  # torch's exporter fails in many ways; keep its reason
        theirs, refused = None, f"{type(err).__name__}: {str(err).splitlines()[0][:80]}"
    with torch.no_grad():
        want = net(x).numpy()
    got = ours.run(feeds)[ours.output_names[0]]
    error = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
    fns: dict[str, Callable[[], object]] = {"eager": eager(net, x), "ours": lambda: ours.run(feeds)}
    if theirs is not None:
        session = theirs
        fns["export"] = lambda: session.run(None, {"x": x.numpy()})
    ms = interleaved_ms(fns, rounds)
    t_ours, t_eager = statistics.median(ms["ours"]), statistics.median(ms["eager"])
    t_export = statistics.median(ms["export"]) if "export" in ms else None
    return {
        "network": name,
        "batch": batch,
        "ours_ms": t_ours,
        "torch_export_ms": t_export,
        "eager_ms": t_eager,
        "vs_export": None if t_export is None else paired_ratio(ms["ours"], ms["export"]),
        "vs_eager": paired_ratio(ms["ours"], ms["eager"]),
        "rel_error": error,
        "torch_export_refused": refused,
    }


def _cell(v: float | None, width: int = 9) -> str:
    return f"{'n/a':>{width}}" if v is None else f"{v:{width}.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(FULL), choices=list(FULL))
    parser.add_argument("--batch", nargs="*", type=int, default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if not args.json:
        print(
            f"{'network':22} {'N':>2} {'ours ms':>9} {'export ms':>9} {'eager ms':>9} "
            f"{'/export':>7} {'/eager':>7} {'rel err':>8}"
        )
    rows = []
    for name in args.only:
        for b in args.batch:
            r = bench(name, b, args.rounds)
            rows.append(r)
            if not args.json:
                refused = (
                    f"  (torch's exporter: {r['torch_export_refused']})"
                    if r["torch_export_refused"]
                    else ""
                )
                print(
                    f"{r['network']:22} {r['batch']:>2} {_cell(r['ours_ms'])} "
                    f"{_cell(r['torch_export_ms'])} {_cell(r['eager_ms'])} "
                    f"{_cell(r['vs_export'], 7)} {_cell(r['vs_eager'], 7)} "
                    f"{r['rel_error']:8.1e}{refused}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
