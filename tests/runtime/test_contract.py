"""One contract between builder and runtime: a session runs exactly the file it is given.

A session may swap in another target's lowering (CUDA-safe pooling, other custom-op bodies)
only when the file proves that its graph is its layer program's own lowering; otherwise it runs
the file as it is, says so once, and ``verify`` compares what really ran. These tests run on
every install; in the CI environment with ``onnxruntime-gpu`` on a host without CUDA libraries
the CUDA-first plan is the real one (CUDA listed as available, CPU used).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnxlayers.builder import Input, MaxPool2d, Model, ReLU
from onnxlayers.builder.program import DIGEST_KEY, METADATA_KEY, own_lowering
from onnxlayers.runtime import Session, verify
from onnxlayers.runtime.cuda_kernels import cuda_caveats
from onnxlayers.runtime.session import LoweringNotAppliedWarning, prepare_for

pytestmark = pytest.mark.providers

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
PLANS = [pytest.param(["cpu"], id="cpu-plan"), pytest.param(["cuda", "cpu"], id="cuda-first")]
X = np.array([[-2.0, -0.5, 0.0, 1.5]], np.float32)


def relu_file(tmp_path: Path) -> Path:
    x = Input("x", ("N", 4))
    return Model([x], [ReLU()(x)]).save(tmp_path / "relu.onnx")


def tamper_graph(path: Path) -> None:
    """The issue's repro: the Relu node becomes Sigmoid, the metadata is kept."""
    proto = onnx.load(path)
    proto.graph.node[0].op_type = "Sigmoid"
    onnx.save(proto, path)


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("providers", PLANS)
def test_a_tampered_file_runs_as_it_is_and_fails_verify(
    tmp_path: Path, providers: list[str]
) -> None:
    path = relu_file(tmp_path)
    tamper_graph(path)
    out = Session(path, providers=providers).run({"x": X})["output"]
    np.testing.assert_allclose(out, sigmoid(X), rtol=1e-6)  # the file's graph ran, not ReLU
    report = verify(path, providers=providers)
    assert not report.ok, report


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("providers", PLANS)
def test_an_untouched_file_verifies_on_every_plan(tmp_path: Path, providers: list[str]) -> None:
    path = relu_file(tmp_path)
    np.testing.assert_array_equal(
        Session(path, providers=providers).run({"x": X})["output"], np.maximum(X, 0)
    )
    assert verify(path, providers=providers).ok


def test_the_digest_proves_the_lowering_and_breaks_on_any_edit(tmp_path: Path) -> None:
    path = relu_file(tmp_path)
    proto = onnx.load(path)
    record = own_lowering(proto)
    assert record is not None and record.target == "any" and record.opset == 21
    graph_edit = onnx.load(path)
    graph_edit.graph.node[0].op_type = "Sigmoid"
    program_edit = onnx.load(path)
    for prop in program_edit.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = prop.value.replace('"ReLU"', '"Sigmoid"')
    weightless = onnx.load(path)
    weightless.opset_import[0].version = 20
    for edited in (graph_edit, program_edit, weightless):
        assert own_lowering(edited) is None


def test_cuda_plan_relowers_a_proven_file() -> None:
    """A proven file is lowered again for CUDA: no ceil_mode or asymmetric pads reach the CUDA
    provider's pooling kernels, and values stay the same."""
    x = Input("x", ("N", 2, 9, 9))
    proto = Model([x], [MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)(x)]).to_onnx()
    assert cuda_caveats(proto)
    cuda = prepare_for(proto, [CUDA])
    assert cuda_caveats(cuda) == []
    assert (
        json.loads(dict((p.key, p.value) for p in cuda.metadata_props)[DIGEST_KEY])["target"]
        == "cuda"
    )
    a = np.random.default_rng(0).standard_normal((2, 2, 9, 9)).astype(np.float32)
    np.testing.assert_array_equal(
        Session(cuda).run({"x": a})["output"], Session(proto).run({"x": a})["output"]
    )
    assert prepare_for(proto, [CPU]) is proto
    assert prepare_for(cuda, [CUDA]) is cuda  # already the CUDA lowering
    back = prepare_for(cuda, [CPU])  # a CUDA-targeted file goes back to the portable lowering
    assert own_lowering(back).target == "any"  # type: ignore[union-attr]


def test_cuda_plan_runs_an_unproven_file_as_it_is_and_warns_once(tmp_path: Path) -> None:
    path = relu_file(tmp_path)
    tamper_graph(path)
    proto = onnx.load(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = prepare_for(proto, [CUDA, CPU])
    assert kept is proto
    assert [w.category for w in caught] == [LoweringNotAppliedWarning]
    assert "not applied" in str(caught[0].message)


def test_files_not_written_by_us_are_never_relowered() -> None:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 21)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prepare_for(proto, [CUDA]) is proto


def test_the_oracle_imports_neither_onnxruntime_torch_nor_the_lowering() -> None:
    code = (
        "import sys\n"
        "import onnxlayers.runtime.oracle\n"
        "heavy = ['onnxruntime', 'torch', 'onnxlayers.builder.layers', 'onnxlayers.builder.graph',"
        " 'onnxlayers.builder.lowering', 'onnxlayers.builder.model',"
        " 'onnxlayers.builder.torch_import']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
