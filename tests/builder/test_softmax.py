"""Parity of ``Softmax`` and ``LogSoftmax`` (``builder/layers/softmax.py``) with torch.nn.

Every rank 0-5 with every valid dim (negative ones too, and torch's implicit ``dim=None``),
float32/float64/float16, NaN/+-inf/1e30 rows, dynamic dims, empty tensors, opsets 17-22 and the
``target="cuda"`` lowering (run on CPU), against torch eager, on onnxruntime and the oracle.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, cast

import numpy as np
import pytest
import torch

from onnxlayers.builder import LAYERS, Input, LayerTypeError, Model, ShapeError, from_torch
from onnxlayers.runtime.cuda_kernels import cuda_fallbacks
from tests.helpers import run_oracle, run_ort, single_layer_model

NAMES = ("Softmax", "LogSoftmax")
DTYPES = ("float32", "float64", "float16")
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12), "float16": (1e-3, 1e-5)}
SHAPES = [(), (6,), (3, 5), (2, 3, 4), (2, 3, 4, 5), (1, 2, 3, 2, 2)]
pytestmark = pytest.mark.filterwarnings("ignore:Implicit dimension choice")


def make_input(shape: tuple[int, ...], dtype: str, seed: int, specials: bool = True) -> np.ndarray:
    """Random values; with ``specials``, rows along the last axis seeded with NaN, +-inf, all
    -inf, +-1e30 (every other axis then sees them too)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * 5, dtype=np.float64)
    if specials and x.ndim >= 2 and x.shape[-1] >= 2:
        rows = x.reshape(-1, x.shape[-1])
        fills = [
            [math.nan],
            [math.inf],
            [-math.inf],
            [-math.inf] * x.shape[-1],
            [1e30, -1e30],
            [-1e30],
            [1e30],
        ]
        for row, fill in zip(rng.permutation(len(rows))[: len(fills)], fills, strict=False):
            rows[row, : len(fill)] = fill
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def torch_out(
    name: str, dim: int | None, x: np.ndarray, *, half_in_float: bool = False
) -> np.ndarray:
    """torch's result; with ``half_in_float`` a float16 input is computed in float32 and
    rounded once (torch's own float16 ``log_softmax`` along the last dim rounds ``max +
    log(sum)`` to float16 first: off by up to half an ulp of the row's maximum)."""
    t = torch.from_numpy(x.copy())
    if half_in_float and x.dtype == np.float16:
        t = t.float()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(torch.nn, name)(dim)(t).numpy().astype(x.dtype)


def build(name: str, dim: int | None, shape: tuple[Any, ...], dtype: str) -> Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return single_layer_model(cast(Any, LAYERS[name])(dim), shape, dtype)


def assert_matches(got: np.ndarray, want: np.ndarray, dtype: str, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape)
    rtol, atol = TOL[dtype]
    g, w = got.astype(np.float64), want.astype(np.float64)
    close = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True) & (np.isnan(g) == np.isnan(w))
    close &= ~(np.isinf(w) & (g != w))
    if not close.all():
        bad = np.flatnonzero(~close.reshape(-1))[:6]
        pytest.fail(
            f"{what}: {int((~close).sum())} of {close.size} differ (got, torch): "
            f"{[(float(g.reshape(-1)[i]), float(w.reshape(-1)[i])) for i in bad]}"
        )


def dims_of(ndim: int) -> list[int | None]:
    span = max(ndim, 1)
    return [None, *range(-span, span)]


CASES = [(name, shape, dim) for name in NAMES for shape in SHAPES for dim in dims_of(len(shape))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "shape", "dim"), CASES, ids=[f"{n}-{s}-{d}" for n, s, d in CASES])
def test_parity_with_torch(name: str, shape: tuple[int, ...], dim: int | None, dtype: str) -> None:
    x = make_input(shape, dtype, len(shape) * 7 + (dim or 0) + 10)
    want = torch_out(name, dim, x, half_in_float=True)
    if name == "Softmax" or dtype != "float16":
        assert_matches(torch_out(name, dim, x), want, dtype, "torch's own float16 kernel")
    model = build(name, dim, shape, dtype)
    for target in ("any", "cuda"):
        (got,) = run_ort(model.to_onnx(target=target), {"x": x})
        assert_matches(got, want, dtype, f"onnxruntime {target} {name}({dim}) {shape}")
    assert_matches(run_oracle(model, {"x": x})[0], want, dtype, f"oracle {name}({dim}) {shape}")


@pytest.mark.parametrize("opset", [17, 18, 20, 22])
@pytest.mark.parametrize("name", NAMES)
def test_every_opset(name: str, opset: int) -> None:
    """ReduceMax takes its axes as an attribute before opset 18, as an input after."""
    x = make_input((2, 3, 4, 5), "float32", opset)
    for dim in (0, 1, 2, -1):
        model = build(name, dim, x.shape, "float32")
        (got,) = run_ort(model.to_onnx(opset), {"x": x})
        assert_matches(got, torch_out(name, dim, x), "float32", f"{name}({dim}) opset {opset}")


@pytest.mark.parametrize("name", NAMES)
def test_dynamic_dims(name: str) -> None:
    for dim in (0, 1, -1):
        model = build(name, dim, ("N", None, "W"), "float32")
        for shape in ((3, 4, 5), (1, 1, 1), (2, 5, 1), (0, 3, 2)):
            x = make_input(shape, "float32", sum(shape))
            want = torch_out(name, dim, x)
            assert_matches(run_ort(model, {"x": x})[0], want, "float32", f"{name}({dim}) {shape}")
            assert_matches(run_oracle(model, {"x": x})[0], want, "float32", f"oracle {shape}")


@pytest.mark.parametrize("name", NAMES)
def test_empty_tensors(name: str) -> None:
    for shape, dim in (((2, 0), 1), ((2, 0), 0), ((0,), 0), ((3, 0, 2), 1), ((0, 3, 4), 1)):
        x = np.zeros(shape, np.float32)
        model = build(name, dim, shape, "float32")
        assert run_ort(model, {"x": x})[0].shape == shape
        assert run_oracle(model, {"x": x})[0].shape == shape
        assert torch_out(name, dim, x).shape == shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_lowering_has_cuda_kernels(dtype: str) -> None:
    for name in NAMES:
        for dim in (0, 1, -1):
            for opset in (17, 21):
                proto = build(name, dim, ("N", 3, 4), dtype).to_onnx(opset, target="cuda")
                assert cuda_fallbacks(proto) == [], (name, dim, dtype, opset)


def test_last_axis_uses_the_fused_kernel() -> None:
    """Last axis: one Softmax node; any other axis: the formula (onnxruntime transposes there)."""
    ops = [n.op_type for n in build("Softmax", -1, ("N", 3, 4), "float32").to_onnx().graph.node]
    assert ops == ["Softmax"]
    ops = [n.op_type for n in build("LogSoftmax", 1, ("N", 3, 4), "float32").to_onnx().graph.node]
    assert "LogSoftmax" not in ops and "ReduceMax" in ops


@pytest.mark.parametrize("name", NAMES)
def test_implicit_dim_warns_like_torch(name: str) -> None:
    for shape, expected in (((), 0), ((4,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)):
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            model = single_layer_model(LAYERS[name](), shape)
        x = make_input(shape, "float32", 3, specials=False)
        explicit = torch_out(name, expected, x)
        assert_matches(torch_out(name, None, x), explicit, "float32", "torch's own rule")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_matches(run_ort(model, {"x": x})[0], explicit, "float32", f"{shape}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("dim", "shape"), [(2, (2, 3)), (-3, (2, 3)), (1, ()), (-2, ()), (5, (1, 2, 3, 4, 5))]
)
def test_dim_out_of_range_rejected_like_torch(name: str, dim: int, shape: tuple[int, ...]) -> None:
    with pytest.raises(IndexError):
        getattr(torch.nn, name)(dim)(torch.zeros(shape))
    with pytest.raises(ShapeError, match=f"dim={dim} is out of range"):
        cast(Any, LAYERS[name])(dim)(Input("x", shape))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [True, 1.0, "0", (1,)])
def test_dim_type_rejected_like_torch(name: str, dim: Any) -> None:
    with pytest.raises(TypeError):
        getattr(torch.nn, name)(dim)(torch.zeros(2, 3))
    with pytest.raises(LayerTypeError, match="dim="):
        cast(Any, LAYERS[name])(dim)


def test_numpy_int_dim_accepted() -> None:
    layer = cast(Any, LAYERS["Softmax"])(np.int64(1))
    assert layer.torch_args() == {"dim": 1}


@pytest.mark.parametrize(
    "module",
    [torch.nn.Softmax(dim=1), torch.nn.LogSoftmax(dim=-1), torch.nn.Softmax(dim=2)],
    ids=repr,
)
def test_from_torch(module: torch.nn.Module) -> None:
    model = from_torch(module, (2, 3, 4))
    x = make_input((5, 3, 4), "float32", 2)
    feeds = {model.inputs[0].name: x}
    with torch.no_grad():
        want = module(torch.from_numpy(x.copy())).numpy()
    assert_matches(run_ort(model, feeds)[0], want, "float32", f"from_torch {module}")
    assert_matches(run_oracle(model, feeds)[0], want, "float32", "oracle")


def test_classifier_head() -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 10),
        torch.nn.LogSoftmax(dim=1),
    )
    model = from_torch(net.eval(), (2, 3, 6, 6))
    x = make_input((2, 3, 6, 6), "float32", 5, specials=False)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    feeds = {model.inputs[0].name: x}
    got = run_ort(model, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
