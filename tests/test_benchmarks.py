"""The benchmark script runs, and its onnxruntime floors compute what torch computes.

No timing is asserted here: timing belongs to ``benchmarks/bench_layers.py``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from onnxlayers.runtime import Session
from onnxlayers.runtime.torch_eager import to_torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_layers.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_layers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_each_floor_computes_torchs_result(bench: ModuleType) -> None:
    floors = bench._floors()
    assert {f.name for f in floors} >= {
        "floor: ORT MaxPool+Indices alone",
        "floor: ORT plane offsets+MaxUnpool",
    }
    for floor in floors:
        got = bench.floor_session(floor).run(None, floor.feeds)
        expected = floor.baseline()
        expected = expected if isinstance(expected, tuple) else (expected,)
        np.testing.assert_array_equal(got[0], expected[0].numpy(), err_msg=floor.name)
        if len(got) == 2:  # whole-tensor indices: torch's per-plane ones plus plane offsets
            n, c, h, w = floor.feeds["x"].shape
            planes = np.arange(n * c).reshape(n, c, 1, 1) * h * w
            np.testing.assert_array_equal(got[1] - planes, expected[1].numpy())


def test_each_case_times_the_same_computation_on_both_sides(bench: ModuleType) -> None:
    for case in bench.CASES:
        model, feeds = case.build()
        ours = Session(model.to_onnx()).run(feeds)
        theirs = to_torch(model.program())(feeds)
        assert ours.keys() == theirs.keys(), case.name
        for name, value in theirs.items():
            np.testing.assert_allclose(
                ours[name], value, rtol=1e-5, atol=1e-5, err_msg=f"{case.name}: {name}"
            )


def test_script_prints_json_rows(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--only", "overhead", "--json", "--rounds", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in rows] == ["Session.run overhead, 1x3 ReLU"]
    assert rows[0]["ratio"] > 0 and rows[0]["rounds"] == 1
