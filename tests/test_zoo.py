"""The model zoo: in sync with its script, verified, portable to CUDA, and the demo runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnxlayers.builder.zoo import LINEAR_EXAMPLE_INPUT, LINEAR_EXAMPLE_OUTPUT, ZOO
from onnxlayers.runtime import Session, verify
from onnxlayers.runtime.cli import main
from onnxlayers.runtime.cuda_kernels import cuda_caveats, cuda_fallbacks
from onnxlayers.runtime.session import prepare_for

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def test_models_are_in_sync_with_the_script() -> None:
    done = subprocess.run(
        [sys.executable, str(MODELS / "make_models.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_verifies(name: str) -> None:
    report = verify(MODELS / f"{name}.onnx")
    assert report.ok, str(report)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_has_no_cuda_fallback(name: str) -> None:
    """Statically, with the bodies the session picks for CUDA: zero CPU fallbacks."""
    proto = prepare_for(onnx.load(MODELS / f"{name}.onnx"), ["CUDAExecutionProvider"])
    assert cuda_fallbacks(proto) == []
    assert cuda_caveats(proto) == []  # no pooling path the CUDA provider has had bugs in


def test_zoo_files_are_small() -> None:
    sizes = {p.name: p.stat().st_size for p in MODELS.glob("*.onnx")}
    assert sorted(sizes) == sorted(f"{n}.onnx" for n in ZOO)
    assert max(sizes.values()) < 64 * 1024, sizes


def test_linear_worked_example_is_exact() -> None:
    out = Session(MODELS / "linear_example.onnx").run({"x": LINEAR_EXAMPLE_INPUT})["output"]
    np.testing.assert_array_equal(out, LINEAR_EXAMPLE_OUTPUT)
    weight = onnx.numpy_helper.to_array(
        onnx.load(MODELS / "linear_example.onnx").graph.initializer[0]
    )
    np.testing.assert_array_equal(weight.T, np.tile([1.0, 2.0, 3.0, 4.0], (3, 1)))


def test_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"all {len(ZOO)} models verified" in out
    assert "[6.0, 12.0, 18.0, 24.0] (exact)" in out
    for name in ZOO:
        assert (tmp_path / f"{name}.onnx").read_bytes() == (MODELS / f"{name}.onnx").read_bytes()
