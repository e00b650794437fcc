"""RReLU: eval mode exactly as torch; training mode through ``ai.onnxlayers::RReLU``.

torch's random stream cannot be reproduced, so training runs are checked by torch's formula
given the slopes the run drew (the ``noise`` output): positives pass exactly, negatives are
``x * noise`` exactly, slopes lie in ``[lower, upper]`` and spread over it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from onnxlayers.builder import Input, Layer, LayerArgumentError, LayerTypeError, Model
from onnxlayers.builder.layers.rrelu import RReLU
from onnxlayers.custom_ops import reference_evaluator
from onnxlayers.runtime import oracle, verify
from onnxlayers.runtime.compare import compare_outputs
from tests.helpers import run_ort

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30], np.float64)
TORCH = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}


def _x(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    x.reshape(-1)[: len(SPECIALS)] = SPECIALS
    return x.astype(dtype)


def _model(layer: Layer, shape: tuple[Any, ...], dtype: str = "float32") -> Model:
    x = Input("x", shape, dtype)
    out = layer(x)
    return Model([x], list(out) if isinstance(out, tuple) else [out])


def _session(proto: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------ eval mode
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize(("lower", "upper"), [(1 / 8, 1 / 3), (0.0, 0.5), (-0.2, 0.9)])
def test_eval_matches_torch_exactly(dtype: str, lower: float, upper: float) -> None:
    x = _x((3, 5, 7), dtype)
    expected = torch.nn.RReLU(lower, upper).eval()(torch.from_numpy(x)).numpy()
    model = _model(RReLU(lower, upper, return_noise=True), x.shape, dtype)
    proto = model.to_onnx()
    assert proto.graph.node[0].op_type in ("LeakyRelu", "Mul")  # no custom op
    assert not proto.functions
    slope = np.where(x <= 0, np.asarray((lower + upper) / 2, dtype), np.ones((), dtype))
    rtol = 1e-3 if dtype == "float16" else 0  # torch rounds float16 products via float32
    for y, noise in (run_ort(model, {"x": x}), oracle.run(model, {"x": x}).values()):
        np.testing.assert_allclose(y, expected, rtol=rtol, atol=0)
        np.testing.assert_array_equal(noise, slope)


# ------------------------------------------------------------------ training mode
def _check_training(
    x: np.ndarray, y: np.ndarray, noise: np.ndarray, lower: float, upper: float
) -> None:
    """torch's training semantics, given the slopes the run drew.

    Exact, but for float16 on onnxruntime's CPU provider, which computes in float32 and may
    multiply by the slope before rounding it to the float16 ``noise``: one rounding apart.
    """
    tx, tn = torch.from_numpy(x), torch.from_numpy(noise)
    nonpositive = x <= 0
    np.testing.assert_array_equal(y[~nonpositive], x[~nonpositive])  # positives and NaN
    np.testing.assert_array_equal(noise[~nonpositive], 1)
    rtol = 2e-3 if x.dtype == np.float16 else 0
    np.testing.assert_allclose(y, torch.where(tx <= 0, tx * tn, tx).numpy(), rtol=rtol, atol=0)
    r = noise[nonpositive].astype(np.float64)
    slack = 2 * float(np.finfo(x.dtype).eps)
    assert r.min() >= lower - slack and r.max() <= upper + slack
    if r.size > 100:  # spread over the whole range
        assert r.min() < lower + 0.05 * (upper - lower) and r.max() > upper - 0.05 * (upper - lower)
        assert abs(r.mean() - (lower + upper) / 2) < 0.05 * (upper - lower)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_training_follows_torch_given_the_slopes(dtype: str) -> None:
    lower, upper = 0.1, 0.4
    x = _x((4, 16, 9), dtype)
    model = _model(RReLU(lower, upper, return_noise=True, seed=3).train(), x.shape, dtype)
    proto = model.to_onnx()
    assert [n.op_type for n in proto.graph.node] == ["RReLU"]
    y, noise = run_ort(proto, {"x": x})
    _check_training(x, y, noise, lower, upper)
    if dtype == "float16":
        return  # torch's CPU rrelu has no float16 training kernel
    # torch itself, for the same semantics on its own slopes
    tx = torch.from_numpy(x)
    noise_t = torch.empty_like(tx)
    ty = torch.ops.aten.rrelu_with_noise(tx, noise_t, lower, upper, True)
    _check_training(x, ty.numpy(), noise_t.numpy(), lower, upper)


def test_seeded_sessions_repeat_and_runs_advance() -> None:
    x = _x((64, 64), "float32")
    proto = _model(RReLU(return_noise=True, seed=11).train(), x.shape).to_onnx()
    first, second = _session(proto), _session(proto)
    runs = [first.run(None, {"x": x})[1] for _ in range(3)]
    assert not np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[1], runs[2])
    np.testing.assert_array_equal(second.run(None, {"x": x})[1], runs[0])
    np.testing.assert_array_equal(second.run(None, {"x": x})[1], runs[1])
    other_seed = _model(RReLU(return_noise=True, seed=12).train(), x.shape).to_onnx()
    assert not np.array_equal(_session(other_seed).run(None, {"x": x})[1], runs[0])


def test_verify_checks_a_random_run_exactly() -> None:
    model = _model(RReLU(0.2, 0.3, return_noise=True).train(), ("N", 40))
    report = verify(model, dims={"N": 8})
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["output_0", "output_1"]


def test_oracle_flags_slopes_torch_could_not_draw() -> None:
    model = _model(RReLU(0.2, 0.3, return_noise=True).train(), (2, 4))
    x = np.array([[-1.0, 2.0, -3.0, 0.0], [np.nan, -1.0, 1.0, -2.0]], np.float32)
    _, noise = run_ort(model, {"x": x})
    for where, value in [((0, 0), 0.5), ((0, 1), 0.25), ((1, 0), 0.25)]:
        bad = noise.copy()
        bad[where] = value
        ys = np.where(x <= 0, x * bad, x)
        observed = {"output_0": ys, "output_1": bad}
        report = compare_outputs(observed, oracle.run(model, {"x": x}, observed=observed))
        assert [r.ok for r in report.rows] == [True, False], (where, str(report))


def test_training_without_noise_output_and_other_opsets() -> None:
    x = _x((8, 8), "float32")
    model = _model(RReLU().train(), x.shape)
    (y,) = run_ort(model, {"x": x})
    positive = x > 0
    np.testing.assert_array_equal(y[positive], x[positive])
    negative = np.isfinite(x) & (x < 0)
    ratio = y[negative] / x[negative]
    assert ratio.min() >= 1 / 8 - 1e-6 and ratio.max() <= 1 / 3 + 1e-6
    for opset in (17, 18, 21):
        assert run_ort(model.to_onnx(opset=opset), {"x": x})[0].shape == x.shape
    with pytest.raises(LayerArgumentError, match=r"RReLU.*opset 21; got opset=22"):
        model.to_onnx(opset=22)
    model.eval().to_onnx(opset=22)  # eval mode needs no random op


def test_reference_evaluator_runs_the_op() -> None:
    x = _x((5, 6), "float64")
    proto = _model(RReLU(0.1, 0.2, return_noise=True, seed=1).train(), x.shape, "float64")
    y, noise = map(np.asarray, reference_evaluator(proto.to_onnx()).run(None, {"x": x}))
    _check_training(x, y, noise, 0.1, 0.2)


@pytest.mark.cuda
def test_training_runs_on_the_gpu(tmp_path: Any) -> None:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime's CUDAExecutionProvider is not available")
    x = _x((32, 1000), "float32")
    proto = _model(RReLU(return_noise=True, seed=2).train(), x.shape).to_onnx()
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "rrelu")
    session = ort.InferenceSession(
        proto.SerializeToString(),
        options,
        providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    y, noise = session.run(None, {"x": x})
    _check_training(x, y, noise, 1 / 8, 1 / 3)
    with open(session.end_profiling(), encoding="utf-8") as f:
        events = json.load(f)
    on_cpu = {
        e["args"]["op_name"]
        for e in events
        if e.get("cat") == "Node" and e["args"].get("provider") == "CPUExecutionProvider"
    }
    assert not on_cpu & {"RandomUniformLike", "LessOrEqual", "Mul", "Where"}, on_cpu


def test_layer_arguments_and_saving(tmp_path: Any) -> None:
    with pytest.raises(LayerArgumentError, match=r"lower=0\.5 is greater than upper=0\.1"):
        RReLU(0.5, 0.1)
    for seed in (-1, 2**25):
        with pytest.raises(LayerArgumentError, match=r"seed=.* expected None or an int"):
            RReLU(seed=seed)
    with pytest.raises(LayerTypeError, match=r"seed=1.5"):
        RReLU(seed=1.5)  # type: ignore[arg-type]
    model = _model(RReLU(0.1, 0.2, seed=5, return_noise=True).train(), ("N", 3))
    model.save(tmp_path / "rrelu.onnx")
    layer = next(iter(Model.load(tmp_path / "rrelu.onnx").layers.values()))
    assert isinstance(layer, RReLU) and layer.training
    assert (layer.lower, layer.upper, layer.seed, layer.return_noise) == (0.1, 0.2, 5, True)
