"""Our files run anywhere: plain onnxruntime without onnxlayers, onnx's ReferenceEvaluator.

Also the ``ai.onnxlayers`` plumbing: idempotent schema registration and guard messages.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.inliner
import pytest
import torch
import torch.nn.functional as F
from onnx.reference import ReferenceEvaluator

from onnxlayers import custom_ops
from onnxlayers.builder import Input, Model
from onnxlayers.builder.layers.rrelu import RReLU
from onnxlayers.builder.layers.unpool import MaxUnpool2d
from onnxlayers.custom_ops import DOMAIN, NEW_OPS, explain_failure, max_unpool, rrelu

RUN_ALONE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import onnxruntime as ort
    feeds = dict(np.load(sys.argv[2]))
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    np.savez(sys.argv[3], *outputs)
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "onnxlayers")))
""")


def _model() -> Model:
    """Unpool to the size of a dynamic shape, then a seeded training RReLU with its noise."""
    x, i = Input("x", ("N", 2, 3, 4)), Input("i", ("N", 2, 3, 4), "int64")
    ref = Input("ref", ("N", 2, "H", "W"))
    up = MaxUnpool2d(2)(x, i, output_size=ref.shape)
    y, noise = RReLU(0.1, 0.3, seed=7, return_noise=True).train()(up)
    return Model([x, i, ref], [up, y, noise], output_names=["up", "y", "noise"])


def _feeds() -> tuple[dict[str, np.ndarray], np.ndarray]:
    source = torch.from_numpy(
        np.random.default_rng(0).permutation(2 * 2 * 7 * 8).reshape(2, 2, 7, 8).astype(np.float32)
        - 50
    )
    values, indices = F.max_pool2d(source, 2, return_indices=True)
    expected = F.max_unpool2d(values, indices, (2, 2), output_size=source.size()).numpy()
    return {"x": values.numpy(), "i": indices.numpy(), "ref": source.numpy()}, expected


def test_saved_file_runs_with_onnxruntime_alone(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _model().save(path)
    feeds, expected = _feeds()
    np.savez(tmp_path / "feeds.npz", **feeds)  # type: ignore[arg-type]
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            RUN_ALONE,
            str(path),
            str(tmp_path / "feeds.npz"),
            str(tmp_path / "out.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []  # onnxlayers never imported
    with np.load(tmp_path / "out.npz") as out:
        up, y, noise = out["arr_0"], out["arr_1"], out["arr_2"]
    np.testing.assert_array_equal(up, expected)
    np.testing.assert_array_equal(y, np.where(up <= 0, up * noise, up))
    assert noise[up > 0].tolist() == [1.0] * int((up > 0).sum())


def test_reference_evaluator_runs_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _model().save(path)
    feeds, expected = _feeds()
    up, y, noise = map(
        np.asarray, ReferenceEvaluator(str(path), new_ops=list(NEW_OPS)).run(None, feeds)
    )
    np.testing.assert_array_equal(up, expected)
    np.testing.assert_array_equal(y, np.where(up <= 0, up * noise, up))


def test_plain_reference_evaluator_runs_the_portable_bodies() -> None:
    """The portable body, inlined, under onnx's own evaluator: the body checked without ORT."""
    proto = _model().to_onnx(target="cuda")
    feeds, expected = _feeds()
    evaluator = ReferenceEvaluator(onnx.inliner.inline_local_functions(proto))
    up, y, noise = map(np.asarray, evaluator.run(None, feeds))
    np.testing.assert_array_equal(up, expected)
    np.testing.assert_array_equal(y, np.where(up <= 0, up * noise, up))


def test_checker_and_strict_shape_inference_accept_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _model().save(path)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(path)
    assert {(f.domain, f.name) for f in model.functions} == {
        (DOMAIN, "MaxUnpool2d"),
        (DOMAIN, "RReLU"),
    }
    assert {(o.domain, o.version) for o in model.opset_import} >= {(DOMAIN, 1)}
    onnx.shape_inference.infer_shapes(model, strict_mode=True, check_type=True, data_prop=True)


def test_registration_is_idempotent() -> None:
    for module in (max_unpool, rrelu):
        importlib.reload(module)
        assert onnx.defs.has(module.OP, DOMAIN)
        custom_ops._domain.register(module.SCHEMA)
    importlib.reload(custom_ops)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Name:'_inlfunc_MaxUnpool2d_indices_out_of_range' Status Message: ...", "an index"),
        ("Name:'_inlfunc_MaxUnpool2d_output_size_out_of_range' ...", "output_size is outside"),
        ("Name:'_inlfunc_MaxUnpool2d_input_has_empty_dims' ...", "empty non-batch dim"),
    ],
)
def test_guard_failures_are_explained(message: str, expected: Any) -> None:
    assert expected in (explain_failure(message) or "")
