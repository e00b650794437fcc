"""BatchNorm2d / LayerNorm against torch.nn: onnxruntime (both lowerings) and the NumPy oracle.

Seeded sweeps draw the arguments (eps, affine, bias, track_running_stats, eval/train,
normalized_shape of 1-3 dims, input ranks 2-4, shapes down to size 1, three dtypes) with
non-trivial running statistics (mean ~ N(0, 1), var in [0.5, 2]) and weights; every case runs
the ``target="any"`` and ``target="cuda"`` lowerings on CPU. Also: dynamic batch (N = 0 too),
NaN/inf propagation, opset 17 (ReduceMean's axes attribute), the CUDA static kernel check,
onnxruntime's Conv+BatchNormalization folding, rejections compared with torch, ``from_torch`` and
``from_weights`` against torch's modules and functions.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from onnxlayers.builder import (
    BuildError,
    Input,
    LayerArgumentError,
    LayerTypeError,
    Model,
    ShapeError,
    from_torch,
)
from onnxlayers.builder.layers.norm import BatchNorm2d, LayerNorm
from tests.helpers import run_oracle, run_ort, single_layer_model

TARGETS = ("any", "cuda")
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}
TOL = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12), "float16": (1e-2, 1e-2)}
"""(rtol, atol) against torch: the contract's float32 tolerance; float16 is one or two ulps."""
M = TypeVar("M", bound=torch.nn.Module)


# --------------------------------------------------------------------------- helpers
def randomize(module: M, rng: np.random.Generator) -> M:
    """Non-trivial state: weights and biases ~ N(0, 1), running mean ~ N(0, 1), var in
    [0.5, 2]; returns the module."""
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if value.is_floating_point():
                shape = tuple(value.shape)
                fresh = (
                    rng.uniform(0.5, 2.0, shape)
                    if key.endswith("running_var")
                    else rng.standard_normal(shape)
                )
                value.copy_(torch.from_numpy(fresh))
    return module


def state_of(module: torch.nn.Module, ours: Any) -> dict[str, np.ndarray]:
    return {
        k: v.detach().numpy().copy()
        for k, v in module.state_dict().items()
        if k in ours.param_shapes()
    }


def torch_out(module: torch.nn.Module, x: np.ndarray, train: bool) -> np.ndarray:
    """torch's output on a copy (training mode updates the running statistics)."""
    twin = copy.deepcopy(module).to(TORCH_DTYPE[x.dtype.name]).train(train)
    with torch.no_grad():
        return twin(torch.from_numpy(x.copy())).numpy()


def assert_matches(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    rtol, atol = TOL[got.dtype.name]
    np.testing.assert_allclose(
        got.astype(np.float64),
        expected.astype(np.float64),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
        err_msg=what,
    )


def check_all(
    model: Model,
    x: np.ndarray,
    expected: np.ndarray,
    what: str,
    targets: tuple[str, ...] = TARGETS,
    opset: int = 21,
) -> None:
    """onnxruntime (each lowering) and the oracle against torch's ``expected``."""
    for target in targets:
        (got,) = run_ort(model.to_onnx(opset, target=target), {"x": x})
        assert_matches(got, expected, f"onnxruntime target={target} {what}")
    (ref,) = run_oracle(model, {"x": x})
    assert_matches(ref, expected, f"oracle {what}")


def make_x(
    shape: tuple[int, ...], dtype: str, rng: np.random.Generator, offset: float = 0.0
) -> np.ndarray:
    return (rng.standard_normal(shape) * 2 + offset).astype(dtype)


# --------------------------------------------------------------------------- BatchNorm2d sweep
@dataclass
class BNCase:
    kwargs: dict[str, Any]
    train: bool
    shape: tuple[int, ...]
    dtype: str
    seed: int
    offset: float = 0.0

    def __str__(self) -> str:
        mode = "train" if self.train else "eval"
        return f"{self.kwargs}-{mode}-{self.shape}-{self.dtype}"


def bn_cases(n: int = 48) -> list[BNCase]:
    rng = np.random.default_rng(2024)
    cases = []
    for i in range(n):
        affine, track, train = (bool(i & 4), bool(i & 2), bool(i & 1))  # every combination
        kwargs: dict[str, Any] = {
            "eps": float(rng.choice([1e-5, 1e-3, 0.1, 1.0])),
            "affine": affine,
            "track_running_stats": track,
            "momentum": [0.1, None, 0.5][i % 3],
        }
        if affine and rng.random() < 0.3:
            kwargs["bias"] = False
        c = int(rng.integers(1, 7))
        shape = (int(rng.integers(1, 5)), c, int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        batch_stats = train or not kwargs["track_running_stats"]
        if batch_stats and shape[0] * shape[2] * shape[3] == 1:
            shape = (2, *shape[1:])
        dtype = ["float32", "float32", "float64", "float16"][(i // 8) % 4]
        cases.append(BNCase(kwargs, train, shape, dtype, i, offset=float(rng.choice([0, 3]))))
    return cases


@pytest.mark.parametrize("case", bn_cases(), ids=str)
def test_batchnorm_parity(case: BNCase) -> None:
    rng = np.random.default_rng(case.seed)
    c = case.shape[1]
    theirs = randomize(torch.nn.BatchNorm2d(c, **case.kwargs), rng)
    ours = BatchNorm2d(c, **case.kwargs)
    ours.load_state_dict(state_of(theirs, ours))
    ours.train(case.train)
    x = make_x(case.shape, case.dtype, rng, case.offset)
    expected = torch_out(theirs, x, case.train)
    model = single_layer_model(ours, ("N", *case.shape[1:]), case.dtype)
    check_all(model, x, expected, str(case))


def test_batchnorm_sweep_covers_the_arguments() -> None:
    cases = bn_cases()
    assert len(cases) >= 40
    seen = {(c.kwargs["affine"], c.kwargs["track_running_stats"], c.train) for c in cases}
    assert len(seen) == 8, seen
    assert {c.kwargs["eps"] for c in cases} == {1e-5, 1e-3, 0.1, 1.0}
    assert {c.dtype for c in cases} == {"float32", "float64", "float16"}
    assert any(c.kwargs.get("bias") is False for c in cases)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_batchnorm_eval_is_one_batchnormalization_node(dtype: str) -> None:
    """Eval with running statistics: a BatchNormalization onnxruntime can fold into a Conv (an
    ``Add`` on the variance initializer puts back float32 epsilon rounding for float64)."""
    cases: tuple[dict[str, Any], ...] = ({}, {"affine": False}, {"bias": False, "eps": 1e-3})
    for kwargs in cases:
        model = single_layer_model(BatchNorm2d(3, **kwargs), ("N", 3, 4, 4), dtype)
        for target in TARGETS:
            ops = [n.op_type for n in model.to_onnx(target=target).graph.node]
            extra = ["Add"] if dtype == "float64" and kwargs.get("eps", 1e-5) else []
            assert ops == [*extra, "BatchNormalization"], (kwargs, ops)


def test_batchnorm_float64_epsilon_rounding() -> None:
    """eps=0.1 is not a float32: without the correction float64 would be off by ~1e-9."""
    rng = np.random.default_rng(0)
    theirs = randomize(torch.nn.BatchNorm2d(4, eps=0.1), rng).double()
    ours = BatchNorm2d(4, eps=0.1)
    ours.load_state_dict(state_of(theirs, ours))
    x = make_x((3, 4, 5, 5), "float64", rng)
    (got,) = run_ort(single_layer_model(ours, ("N", 4, 5, 5), "float64"), {"x": x})
    np.testing.assert_allclose(got, torch_out(theirs, x, False), rtol=1e-13, atol=1e-14)


def _with_conv_in_front(proto: onnx.ModelProto, channels: int) -> onnx.ModelProto:
    """The lowered model with a Conv (1x1) feeding the BatchNormalization."""
    g = proto.graph
    w = np.random.default_rng(0).standard_normal((channels, channels, 1, 1)).astype(np.float32)
    g.initializer.append(numpy_helper.from_array(w, "conv_w"))
    for node in g.node:
        for i, name in enumerate(node.input):
            if name == "x":
                node.input[i] = "conv_out"
    g.node.insert(0, helper.make_node("Conv", ["x", "conv_w"], ["conv_out"], name="conv"))
    del proto.metadata_props[:]
    return proto


def test_onnxruntime_folds_conv_batchnorm(tmp_path: Any) -> None:
    rng = np.random.default_rng(1)
    ours = BatchNorm2d(4)
    ours.load_state_dict(state_of(randomize(torch.nn.BatchNorm2d(4), rng), ours))
    proto = _with_conv_in_front(single_layer_model(ours, ("N", 4, 6, 6)).to_onnx(), 4)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node]
    assert ops == ["Conv"], ops


# --------------------------------------------------------------------------- LayerNorm sweep
@dataclass
class LNCase:
    normalized_shape: tuple[int, ...]
    kwargs: dict[str, Any]
    shape: tuple[int, ...]
    dtype: str
    seed: int
    as_int: bool = False
    offset: float = 0.0

    def __str__(self) -> str:
        return f"{self.normalized_shape}-{self.kwargs}-{self.shape}-{self.dtype}"

    @property
    def arg(self) -> Any:
        return self.normalized_shape[0] if self.as_int else self.normalized_shape


def ln_cases(n: int = 48) -> list[LNCase]:
    rng = np.random.default_rng(7)
    cases = []
    for i in range(n):
        k = int(rng.integers(1, 4))
        ns = tuple(int(d) for d in rng.integers(1, 6, k))
        rank = int(rng.integers(max(2, k), 5))
        lead = tuple(int(d) for d in rng.integers(1, 4, rank - k))
        kwargs: dict[str, Any] = {
            "eps": float(rng.choice([1e-5, 1e-3, 0.1, 1.0])),
            "elementwise_affine": bool(rng.random() < 0.7),
            "bias": bool(rng.random() < 0.7),
        }
        dtype = ["float32", "float32", "float64", "float16"][i % 4]
        cases.append(
            LNCase(
                ns,
                kwargs,
                lead + ns,
                dtype,
                i,
                as_int=k == 1 and i % 2 == 0,
                offset=float(rng.choice([0, 5])),
            )
        )
    return cases


@pytest.mark.parametrize("case", ln_cases(), ids=str)
def test_layernorm_parity(case: LNCase) -> None:
    rng = np.random.default_rng(case.seed)
    theirs = randomize(torch.nn.LayerNorm(case.arg, **case.kwargs), rng)
    ours = LayerNorm(case.arg, **case.kwargs)
    ours.load_state_dict(state_of(theirs, ours))
    x = make_x(case.shape, case.dtype, rng, case.offset)
    expected = torch_out(theirs, x, False)
    model = single_layer_model(ours, ("N", *case.shape[1:]), case.dtype)
    check_all(model, x, expected, str(case))


def test_layernorm_sweep_covers_the_arguments() -> None:
    cases = ln_cases()
    assert len(cases) >= 40
    assert {len(c.normalized_shape) for c in cases} == {1, 2, 3}
    assert {len(c.shape) for c in cases} == {2, 3, 4}
    assert {(c.kwargs["elementwise_affine"], c.kwargs["bias"]) for c in cases} == {
        (True, True),
        (True, False),
        (False, True),
        (False, False),
    }
    assert {c.dtype for c in cases} == {"float32", "float64", "float16"}


def test_layernorm_lowerings() -> None:
    """LayerNormalization for float32/float16; the formula for float64 (float32 epsilon, CUDA
    computes double in float) and, on CUDA, for one normalised element."""

    def ops(layer: LayerNorm, shape: tuple[Any, ...], dtype: str, target: str) -> list[str]:
        return [
            n.op_type
            for n in single_layer_model(layer, shape, dtype).to_onnx(target=target).graph.node
        ]

    for target in TARGETS:
        assert ops(LayerNorm((4, 5)), ("N", 4, 5), "float32", target) == ["LayerNormalization"]
        assert ops(LayerNorm(5), ("N", 5), "float16", target) == ["LayerNormalization"]
        assert "LayerNormalization" not in ops(LayerNorm(5), ("N", 5), "float64", target)
        assert ops(LayerNorm((2, 0)), ("N", 2, 0), "float32", target) == ["Identity"]
    assert ops(LayerNorm(1), ("N", 1), "float32", "any") == ["LayerNormalization"]
    assert "LayerNormalization" not in ops(LayerNorm(1), ("N", 1), "float32", "cuda")
    node = single_layer_model(LayerNorm((4, 5)), ("N", 3, 4, 5)).to_onnx().graph.node[0]
    assert helper.get_attribute_value(node.attribute[0]) == -2  # axis


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_layernorm_single_and_empty_normalised_size(dtype: str) -> None:
    rng = np.random.default_rng(3)
    for ns, shape in [((1,), (4, 1)), ((3, 1), (2, 3, 1)), ((2, 0), (3, 2, 0))]:
        theirs = randomize(torch.nn.LayerNorm(ns), rng)
        ours = LayerNorm(ns)
        ours.load_state_dict(state_of(theirs, ours))
        x = make_x(shape, dtype, rng)
        if x.size:
            x.reshape(-1)[0] = np.nan
        model = single_layer_model(ours, ("N", *shape[1:]), dtype)
        check_all(model, x, torch_out(theirs, x, False), f"{ns} {dtype}")


# --------------------------------------------------------------------------- shared behaviour
def _bn(
    kwargs: dict[str, Any], c: int, rng: np.random.Generator
) -> tuple[BatchNorm2d, torch.nn.BatchNorm2d]:
    theirs = randomize(torch.nn.BatchNorm2d(c, **kwargs), rng)
    ours = BatchNorm2d(c, **kwargs)
    ours.load_state_dict(state_of(theirs, ours))
    return ours, theirs


@pytest.mark.parametrize("mode", ["eval", "train", "no_stats"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_batchnorm_dynamic_batch(mode: str, dtype: str) -> None:
    """One model, batch sizes 1..5 (and 0 where torch allows it); dynamic H and W too."""
    rng = np.random.default_rng(5)
    kwargs = {"track_running_stats": False} if mode == "no_stats" else {}
    ours, theirs = _bn(kwargs, 3, rng)
    train = mode == "train"
    ours.train(train)
    for dims in [("N", 3, 4, 5), ("N", 3, "H", "W")]:
        model = single_layer_model(ours, dims, dtype)
        for n in (1, 2, 5, 0):
            if n == 1 and mode != "eval":
                continue  # one value per channel: torch refuses it
            x = make_x((n, 3, 4, 5), dtype, rng)
            check_all(model, x, torch_out(theirs, x, train), f"{mode} N={n} {dims}")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_layernorm_dynamic_dims(dtype: str) -> None:
    rng = np.random.default_rng(6)
    theirs = randomize(torch.nn.LayerNorm((3, 4)), rng)
    ours = LayerNorm((3, 4))
    ours.load_state_dict(state_of(theirs, ours))
    for dims in [("N", 2, 3, 4), ("N", "T", 3, 4), ("N", "T", None, 4)]:
        model = single_layer_model(ours, dims, dtype)
        for n in (1, 3, 0):
            x = make_x((n, 2, 3, 4), dtype, rng)
            check_all(model, x, torch_out(theirs, x, False), f"N={n} {dims}")


SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0]


@pytest.mark.parametrize("mode", ["eval", "train", "no_stats"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_batchnorm_special_values(mode: str, dtype: str) -> None:
    """NaN/inf: element-wise in eval mode; with batch statistics they poison their channel
    (torch gives NaN for the whole channel), zeros in other channels stay finite."""
    rng = np.random.default_rng(8)
    kwargs = {"track_running_stats": False} if mode == "no_stats" else {}
    ours, theirs = _bn(kwargs, 4, rng)
    train = mode == "train"
    ours.train(train)
    x = make_x((2, 4, 3, 3), dtype, rng)
    x[0, 0, 0, 0], x[1, 1, 2, 2], x[0, 2, 1, 1] = np.nan, np.inf, -np.inf
    x[:, 3] = 0.0  # a constant channel: variance 0
    expected = torch_out(theirs, x, train)
    if mode != "eval":
        assert np.isnan(expected[:, :3]).all() and np.isfinite(expected[:, 3]).all()
    check_all(single_layer_model(ours, ("N", 4, 3, 3), dtype), x, expected, mode)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_layernorm_special_values(dtype: str) -> None:
    rng = np.random.default_rng(9)
    theirs = randomize(torch.nn.LayerNorm(4), rng)
    ours = LayerNorm(4)
    ours.load_state_dict(state_of(theirs, ours))
    x = make_x((7, 4), dtype, rng)
    for row, v in enumerate(SPECIALS):
        x[row, 1] = v
    x[5] = 3.0  # constant row: variance 0
    x[6] = 0.0
    expected = torch_out(theirs, x, False)
    assert np.isnan(expected[:3]).all()
    check_all(single_layer_model(ours, ("N", 4), dtype), x, expected, dtype)


def test_weight_special_values() -> None:
    """A zero weight times inf is NaN in torch, in onnxruntime and in the oracle."""
    rng = np.random.default_rng(10)
    ours, theirs = _bn({}, 2, rng)
    w = np.array([0.0, 1.0], np.float32)
    ours.weight = w
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    x = make_x((2, 2, 2, 2), "float32", rng)
    x[0, 0, 0, 0], x[1, 1, 1, 1] = np.inf, np.nan
    check_all(single_layer_model(ours, ("N", 2, 2, 2)), x, torch_out(theirs, x, False), "w=0")


@pytest.mark.parametrize("opset", [17, 18, 22])
def test_opsets(opset: int) -> None:
    """ReduceMean takes axes as an attribute at 17 and as an input from 18."""
    rng = np.random.default_rng(11)
    ours, theirs = _bn({}, 3, rng)
    ours.train()
    x = make_x((2, 3, 4, 4), "float32", rng)
    check_all(
        single_layer_model(ours, ("N", 3, 4, 4)),
        x,
        torch_out(theirs, x, True),
        f"opset {opset}",
        opset=opset,
    )
    ln_t = randomize(torch.nn.LayerNorm(4), rng).double()
    ln = LayerNorm(4)
    ln.load_state_dict(state_of(ln_t, ln))
    xd = make_x((3, 4), "float64", rng)
    check_all(
        single_layer_model(ln, ("N", 4), "float64"),
        xd,
        torch_out(ln_t, xd, False),
        f"opset {opset}",
        opset=opset,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_cuda_lowering_has_cuda_kernels(dtype: str) -> None:
    from onnxlayers.runtime.cuda_kernels import cuda_fallbacks

    layers: list[tuple[Any, tuple[Any, ...]]] = [
        (BatchNorm2d(3), ("N", 3, 4, 4)),
        (BatchNorm2d(3, affine=False).train(), ("N", 3, 4, 4)),
        (BatchNorm2d(3, track_running_stats=False), ("N", 3, 4, 4)),
        (LayerNorm((3, 4)), ("N", 3, 4)),
        (LayerNorm(1, bias=False), ("N", 1)),
    ]
    for layer, shape in layers:
        proto = single_layer_model(layer, shape, dtype).to_onnx(target="cuda")
        assert cuda_fallbacks(proto) == [], (layer, dtype)


# --------------------------------------------------------------------------- rejections
def _raises_torch(make: Any) -> BaseException:
    try:
        make()
    except Exception as e:
        return e
    raise AssertionError("torch accepted it")


@pytest.mark.parametrize(
    ("build_torch", "build_ours", "error", "match"),
    [
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3)(torch.zeros(2, 3, 4)),
            lambda: BatchNorm2d(3)(Input("x", (2, 3, 4))),
            ShapeError,
            r"expected 4D input \(got 3D input",
            id="bn-rank3",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3)(torch.zeros(2, 3, 4, 4, 4)),
            lambda: BatchNorm2d(3)(Input("x", (2, 3, 4, 4, 4))),
            ShapeError,
            r"expected 4D input \(got 5D",
            id="bn-rank5",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3).eval()(torch.zeros(2, 4, 4, 4)),
            lambda: BatchNorm2d(3)(Input("x", ("N", 4, 4, 4))),
            ShapeError,
            r"input has 4 channels .* expected num_features=3",
            id="bn-channels",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3, track_running_stats=False)(torch.zeros(2, 4, 4, 4)),
            lambda: BatchNorm2d(3, track_running_stats=False)(Input("x", (2, 4, 4, 4))),
            ShapeError,
            r"4 channels",
            id="bn-channels-affine-only",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3)(torch.zeros(1, 3, 1, 1)),
            lambda: BatchNorm2d(3).train()(Input("x", (1, 3, 1, 1))),
            ShapeError,
            r"expected more than 1 value per channel",
            id="bn-train-one-value",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3, track_running_stats=False).eval()(
                torch.zeros(1, 3, 1, 1)
            ),
            lambda: BatchNorm2d(3, track_running_stats=False)(Input("x", (1, 3, 1, 1))),
            ShapeError,
            r"more than 1 value",
            id="bn-nostats-one-value",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3, eps=-1e-3).eval()(torch.zeros(2, 3, 2, 2)),
            lambda: BatchNorm2d(3, eps=-1e-3)(Input("x", (2, 3, 2, 2))),
            LayerArgumentError,
            r"eps=-0.001 .*non-negative",
            id="bn-negative-eps",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(3, eps=0.0).train()(torch.zeros(2, 3, 2, 2)),
            lambda: BatchNorm2d(3, eps=0.0).train()(Input("x", (2, 3, 2, 2))),
            LayerArgumentError,
            r"eps=0.0 .*positive during training",
            id="bn-train-eps0",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(0).eval()(torch.zeros(2, 0, 2, 2)),
            lambda: BatchNorm2d(0)(Input("x", (2, 0, 2, 2))),
            ShapeError,
            r"0 channels",
            id="bn-zero-channels",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(-1),
            lambda: BatchNorm2d(-1),
            LayerArgumentError,
            r"num_features=-1 is invalid",
            id="bn-negative-features",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(2.0),  # type: ignore[arg-type]
            lambda: BatchNorm2d(2.0),  # type: ignore[arg-type]
            LayerTypeError,
            r"num_features=2.0",
            id="bn-float-features",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(
                3,
                eps="a",  # type: ignore[arg-type]
            ).eval()(torch.zeros(2, 3, 2, 2)),
            lambda: BatchNorm2d(3, eps="a"),  # type: ignore[arg-type]
            LayerTypeError,
            r"eps='a'",
            id="bn-str-eps",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(
                3,
                momentum="x",  # type: ignore[arg-type]
            ).eval()(torch.zeros(2, 3, 2, 2)),
            lambda: BatchNorm2d(3, momentum="x"),  # type: ignore[arg-type]
            LayerTypeError,
            r"momentum='x'",
            id="bn-str-momentum",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm(3)(torch.zeros(2, 4)),
            lambda: LayerNorm(3)(Input("x", ("N", 4))),
            ShapeError,
            r"expected input with shape \[\*, 3\], but got input of shape \('N', 4\)",
            id="ln-last-dim",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm((2, 3))(torch.zeros(4, 3, 3)),
            lambda: LayerNorm((2, 3))(Input("x", (4, 3, 3))),
            ShapeError,
            r"\[\*, 2, 3\]",
            id="ln-two-dims",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm((2, 3))(torch.zeros(3)),
            lambda: LayerNorm((2, 3))(Input("x", (3,))),
            ShapeError,
            r"\[\*, 2, 3\]",
            id="ln-rank-too-small",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm(())(torch.zeros(3)),
            lambda: LayerNorm(()),
            LayerArgumentError,
            r"normalized_shape=\(\) is empty",
            id="ln-empty",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm(-1),
            lambda: LayerNorm(-1),
            LayerArgumentError,
            r"normalized_shape=-1",
            id="ln-negative",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm([2.0, 3]),
            lambda: LayerNorm([2.0, 3]),  # type: ignore[list-item]
            LayerTypeError,
            r"normalized_shape=2.0",
            id="ln-float-dim",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm(2.0),
            lambda: LayerNorm(2.0),  # type: ignore[arg-type]
            LayerTypeError,
            r"normalized_shape=2.0",
            id="ln-float",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm(3, eps=None)(torch.zeros(2, 3)),  # type: ignore[arg-type]
            lambda: LayerNorm(3, eps=None),  # type: ignore[arg-type]
            LayerTypeError,
            r"eps=None",
            id="ln-none-eps",
        ),
    ],
)
def test_rejections_match_torch(
    build_torch: Any, build_ours: Any, error: type[Exception], match: str
) -> None:
    _raises_torch(build_torch)
    with pytest.raises(error, match=match):
        build_ours()


def test_int_input_rejected_like_torch() -> None:
    _raises_torch(lambda: torch.nn.LayerNorm(3)(torch.arange(6).reshape(2, 3)))
    with pytest.raises(LayerTypeError, match="dtype 'int64' is not supported"):
        LayerNorm(3)(Input("x", (2, 3), "int64"))
    with pytest.raises(LayerTypeError, match="dtype 'int64' is not supported"):
        BatchNorm2d(3)(Input("x", (2, 3, 2, 2), "int64"))


def test_accepted_like_torch() -> None:
    """No parameters and no statistics: torch takes any channel count, and so do we."""
    rng = np.random.default_rng(12)
    kwargs: dict[str, Any] = {"affine": False, "track_running_stats": False}
    theirs = torch.nn.BatchNorm2d(3, **kwargs)
    x = make_x((2, 5, 3, 3), "float32", rng)
    model = single_layer_model(BatchNorm2d(3, **kwargs), ("N", 5, 3, 3))
    check_all(model, x, torch_out(theirs, x, False), "any channels")
    # dynamic channels and trailing dims are checked at run time only
    assert BatchNorm2d(3)(Input("x", ("N", "C", 4, 4))).shape == ("N", "C", 4, 4)
    assert LayerNorm((3, 4))(Input("x", ("N", None, "W"))).shape == ("N", None, "W")
    # torch accepts these at construction; eps and momentum are unused in eval
    assert BatchNorm2d(3, momentum=None).momentum is None
    assert LayerNorm(3, eps=-0.5).eps == -0.5
    assert LayerNorm(np.int64(3)).normalized_shape == (3,)
    assert LayerNorm(torch.Size([2, 3])).normalized_shape == (2, 3)


def test_layernorm_negative_eps_like_torch() -> None:
    rng = np.random.default_rng(13)
    theirs = randomize(torch.nn.LayerNorm(4, eps=-0.5), rng)
    ours = LayerNorm(4, eps=-0.5)
    ours.load_state_dict(state_of(theirs, ours))
    x = make_x((6, 4), "float32", rng) * 0.3
    expected = torch_out(theirs, x, False)
    assert np.isnan(expected).any() and np.isfinite(expected).any()
    check_all(single_layer_model(ours, ("N", 4)), x, expected, "eps<0")


# --------------------------------------------------------------------------- args, from_torch
def test_torch_args_round_trip_through_json() -> None:
    for layer in [
        BatchNorm2d(3, 1e-3, None, affine=True, bias=False),
        BatchNorm2d(2, affine=False, track_running_stats=False),
        LayerNorm((2, 3), 0.1, elementwise_affine=False),
        LayerNorm(4, bias=False),
    ]:
        args = json.loads(json.dumps(layer.torch_args()))
        again = type(layer).from_torch_args(args)
        assert again.torch_args() == layer.torch_args()
        assert again.param_shapes() == layer.param_shapes()
        twin = type(layer).torch_module(args)
        assert {k for k, v in twin.state_dict().items() if v.is_floating_point()} == set(
            layer.param_shapes()
        )


def test_initial_values_like_torch() -> None:
    for ours, theirs in [
        (BatchNorm2d(3), torch.nn.BatchNorm2d(3)),
        (LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3))),
        (BatchNorm2d(2, dtype=torch.float64), torch.nn.BatchNorm2d(2, dtype=torch.float64)),
    ]:
        for k, v in ours.parameters().items():
            np.testing.assert_array_equal(v, theirs.state_dict()[k].numpy())
            assert v.dtype == theirs.state_dict()[k].numpy().dtype


@pytest.mark.parametrize(
    ("make", "shape", "train"),
    [
        pytest.param(lambda: torch.nn.BatchNorm2d(4), (2, 4, 5, 5), False, id="bn-eval"),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(4, eps=1e-3, momentum=None),
            (3, 4, 2, 3),
            True,
            id="bn-train",
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(4, affine=False), (2, 4, 3, 3), False, id="bn-no-affine"
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(4, bias=False), (2, 4, 3, 3), False, id="bn-no-bias"
        ),
        pytest.param(
            lambda: torch.nn.BatchNorm2d(4, track_running_stats=False),
            (2, 4, 3, 3),
            False,
            id="bn-no-stats",
        ),
        pytest.param(lambda: torch.nn.LayerNorm(6), (2, 3, 6), False, id="ln"),
        pytest.param(
            lambda: torch.nn.LayerNorm((3, 6), elementwise_affine=False),
            (2, 3, 6),
            False,
            id="ln-no-affine",
        ),
        pytest.param(
            lambda: torch.nn.LayerNorm([6], bias=False, eps=0.1), (2, 6), False, id="ln-no-bias"
        ),
    ],
)
def test_from_torch_module(make: Any, shape: tuple[int, ...], train: bool) -> None:
    rng = np.random.default_rng(14)
    module = randomize(make(), rng).train(train)
    x = make_x(shape, "float32", rng)
    expected = torch_out(module, x, train)
    model = from_torch(copy.deepcopy(module), shape, training=train)
    assert model.inputs[0].shape[0] == "N"
    (layer,) = model.layers.values()
    assert layer.training == train
    (got,) = run_ort(model.to_onnx(), {model.inputs[0].name: x})
    assert_matches(got, expected, "from_torch onnxruntime")
    assert_matches(run_oracle(model, {model.inputs[0].name: x})[0], expected, "from_torch oracle")


def test_from_torch_sequential_with_names() -> None:
    rng = np.random.default_rng(15)
    net = randomize(
        torch.nn.Sequential(
            torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LayerNorm(48)
        ),
        rng,
    ).eval()
    model = from_torch(net, (2, 3, 4, 4))
    assert set(model.state_dict()) == {
        k for k, v in net.state_dict().items() if v.is_floating_point()
    }
    x = make_x((2, 3, 4, 4), "float32", rng)
    (got,) = run_ort(model.to_onnx(), {model.inputs[0].name: x})
    assert_matches(got, torch_out(net, x, False), "Sequential")


def test_from_torch_errors_name_the_module() -> None:
    with pytest.raises(BuildError, match=r"module '0' \(torch.nn.BatchNorm2d\).*4 channels"):
        from_torch(torch.nn.Sequential(torch.nn.BatchNorm2d(3)), (2, 4, 3, 3))
    with pytest.raises(BuildError, match=r"expected 4D input"):
        from_torch(torch.nn.BatchNorm2d(3), (2, 3, 3))


# --------------------------------------------------------------------------- from_weights
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("stats", [True, False])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_batchnorm_from_weights_matches_functional(
    training: bool, stats: bool, affine: str
) -> None:
    if not stats and not training:
        with pytest.raises(LayerArgumentError, match="evaluation mode"):
            BatchNorm2d.from_weights(None, None, training=False, num_features=3)
        _raises_torch(lambda: F.batch_norm(torch.zeros(2, 3, 2, 2), None, None))
        return
    rng = np.random.default_rng(16)
    c = 3
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    weight = w if affine in ("both", "weight") else None
    bias = b if affine in ("both", "bias") else None
    layer = BatchNorm2d.from_weights(
        mean if stats else None,
        var if stats else None,
        weight,
        bias,
        1e-3,
        training=training,
        num_features=c,
    )
    x = make_x((2, c, 4, 4), "float64", rng)

    def t(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.from_numpy(a.copy())

    expected = F.batch_norm(
        torch.from_numpy(x),
        t(mean) if stats else None,
        t(var) if stats else None,
        t(weight),
        t(bias),
        training=training,
        eps=1e-3,
    ).numpy()
    model = single_layer_model(layer, ("N", c, 4, 4), "float64")
    check_all(model, x, expected, f"from_weights {training} {stats} {affine}")


def test_from_weights_errors() -> None:
    with pytest.raises(LayerArgumentError, match="running_var is None"):
        BatchNorm2d.from_weights(np.zeros(3), None)
    with pytest.raises(LayerArgumentError, match="channel count"):
        BatchNorm2d.from_weights(np.zeros(3), np.ones(4))
    with pytest.raises(LayerArgumentError, match="channel count"):
        BatchNorm2d.from_weights(None, None, training=True)
    with pytest.raises(LayerArgumentError, match="1-D array"):
        BatchNorm2d.from_weights(np.zeros((3, 1)), np.ones((3, 1)))
    with pytest.raises(LayerArgumentError, match="expected \\(2,\\)"):
        LayerNorm.from_weights((2,), np.ones(3))


@pytest.mark.parametrize("which", ["both", "weight", "bias", "none"])
def test_layernorm_from_weights_matches_functional(which: str) -> None:
    rng = np.random.default_rng(17)
    shape = (3, 4)
    w = rng.standard_normal(shape) if which in ("both", "weight") else None
    b = rng.standard_normal(shape) if which in ("both", "bias") else None
    layer = LayerNorm.from_weights(list(shape), w, b, 1e-3)
    x = make_x((2, 3, 4), "float64", rng)
    expected = F.layer_norm(
        torch.from_numpy(x),
        shape,
        None if w is None else torch.from_numpy(w),
        None if b is None else torch.from_numpy(b),
        1e-3,
    ).numpy()
    check_all(single_layer_model(layer, ("N", 3, 4), "float64"), x, expected, which)


def test_training_flag_survives_save_and_load() -> None:
    """A BatchNorm2d built in training mode keeps using batch statistics after Model.load."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rng = np.random.default_rng(18)
        ours, theirs = _bn({}, 2, rng)
        model = single_layer_model(ours.train(), ("N", 2, 3, 3))
        again = Model.load(model.to_onnx())
        x = make_x((2, 2, 3, 3), "float32", rng)
        check_all(again, x, torch_out(theirs, x, True), "reloaded")
