"""Parity of the point-wise activations (``builder/layers/pointwise.py``) with torch.nn.

Each case runs on onnxruntime (the default and the ``target="cuda"`` lowering, on CPU) and on the
NumPy oracle, against torch eager, over ranks 0-5, float32/float64/float16, dynamic dims, opsets
17-22 and special values (NaN, +-inf, +-0, +-1e30 and the points where the formulas switch).
Zeros must carry torch's sign too, except GELU's: torch's float32 kernel returns +0.0 where its
float64 kernel returns -0.0.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest
import torch

from onnxlayers.builder import (
    LAYERS,
    Input,
    LayerArgumentError,
    LayerTypeError,
    Model,
    from_torch,
)
from onnxlayers.runtime.cuda_kernels import cuda_fallbacks
from tests.helpers import run_oracle, run_ort, single_layer_model

DTYPES = ("float32", "float64", "float16")
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}
SPECIALS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    1e30,
    -1e30,
    100.0,
    -100.0,
    88.8,
    -88.8,
    20.0,
    20.0001,
    17.5,
    -17.9,
    -12.0,
    1e-3,
    -1e-3,
    1e-30,
    -1e-30,
    3.0,
    -3.0,
    6.0,
    -6.0,
    1e-7,
    -1e-7,
    700.0,
    -750.0,
]
SHAPES = [(), (7,), (3, 5), (2, 3, 4), (2, 3, 4, 5), (1, 2, 3, 2, 2)]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("ReLU6", {}),
    ("ReLU6", {"inplace": True}),
    ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -2.5, "max_val": 0.5}),
    ("Hardtanh", {"min_val": 0, "max_val": math.inf}),
    ("Hardtanh", {"min_val": -math.inf, "max_val": 1}),
    ("Hardtanh", {"min_val": math.nan, "max_val": 1.0}),
    ("Hardtanh", {"min_val": -1e-10, "max_val": 1e-10}),
    ("Hardtanh", {"min_val": False, "max_val": True}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.3}),
    ("ELU", {"alpha": 2.5}),
    ("ELU", {"alpha": 100}),
    ("ELU", {"alpha": 3e38}),
    ("ELU", {"alpha": -1.5}),
    ("ELU", {"alpha": 0.0}),
    ("ELU", {"alpha": math.inf}),
    ("ELU", {"alpha": math.nan}),
    ("SELU", {}),
    ("CELU", {}),
    ("CELU", {"alpha": 2.5}),
    ("CELU", {"alpha": 0.25}),
    ("CELU", {"alpha": 100.0}),
    ("CELU", {"alpha": -2.0}),
    ("CELU", {"alpha": math.inf}),
    ("CELU", {"alpha": math.nan}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("Mish", {}),
    ("Hardswish", {}),
    ("Hardsigmoid", {}),
    ("Softplus", {}),
    ("Softplus", {"beta": 2.0}),
    ("Softplus", {"beta": 0.5, "threshold": 25.0}),
    ("Softplus", {"beta": 0.5, "threshold": 1.0}),
    ("Softplus", {"threshold": 100.0}),
    ("Softplus", {"threshold": -1.0}),
    ("Softplus", {"beta": -1.0}),
    ("Softplus", {"beta": -2.0, "threshold": 5.0}),
    ("Softplus", {"beta": 0.0}),
    ("Softplus", {"beta": math.inf}),
    ("Softplus", {"threshold": math.nan}),
    ("Softplus", {"beta": 1e5, "threshold": 30.0}),
]
IDS = [f"{n}{a}" for n, a in CASES]


def tolerance(name: str, dtype: str) -> tuple[float, float]:
    """(rtol, atol) against torch. GELU's ``1 + erf`` cancels for x < 0 in torch's float32
    kernel itself (its own error there is ~|x| * 6e-8)."""
    if dtype == "float64":
        return 1e-10, 1e-12
    if dtype == "float16":
        return 1e-3, 1e-5
    return 1e-5, 2e-6 if name == "GELU" else 1e-6


def make_input(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * 4, dtype=np.float64)
    flat = x.reshape(-1)
    k = min(flat.size, len(SPECIALS))
    flat[rng.choice(flat.size, k, replace=False)] = rng.choice(SPECIALS, k, replace=False)
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def dense_input(dtype: str) -> np.ndarray:
    """Every special value plus a fine grid over [-40, 40] and the float32 exp overflow edge."""
    grid = np.concatenate(
        [
            np.linspace(-40, 40, 8001),
            np.linspace(85, 92, 701),
            -np.logspace(-12, 1, 400),
            np.logspace(-12, 1, 400),
        ]
    )
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(SPECIALS), grid]).astype(dtype)


def torch_out(name: str, args: dict[str, Any], x: np.ndarray) -> np.ndarray:
    module = getattr(torch.nn, name)(**args)
    with torch.no_grad():
        return module(torch.from_numpy(x.copy())).numpy()


def assert_matches(
    got: np.ndarray, want: np.ndarray, x: np.ndarray, name: str, dtype: str, what: str
) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape)
    rtol, atol = tolerance(name, dtype)
    g, w = got.astype(np.float64), want.astype(np.float64)
    close = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    close &= np.isnan(g) == np.isnan(w)
    close &= ~(np.isinf(w) & (g != w))  # infinities exactly, with their sign
    if name != "GELU":
        close &= ~((g == 0) & (w == 0) & (np.signbit(g) != np.signbit(w)))
    if not close.all():
        bad = np.flatnonzero(~close.reshape(-1))[:8]
        rows = [
            (float(x.reshape(-1)[i]), float(g.reshape(-1)[i]), float(w.reshape(-1)[i])) for i in bad
        ]
        pytest.fail(f"{what}: {int((~close).sum())} of {close.size} differ (x, got, torch): {rows}")


def build(name: str, args: dict[str, Any], shape: tuple[Any, ...], dtype: str) -> Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return single_layer_model(LAYERS[name](**args), shape, dtype)


# --------------------------------------------------------------------------- parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "args"), CASES, ids=IDS)
def test_parity_with_torch(name: str, args: dict[str, Any], dtype: str) -> None:
    """Dense values and random tensors of two random ranks, both lowerings, oracle."""
    seed = zlib.crc32(f"{name}{args}{dtype}".encode())
    shapes = [SHAPES[i] for i in np.random.default_rng(seed).choice(len(SHAPES), 2, replace=False)]
    inputs = [dense_input(dtype)] + [make_input(s, dtype, seed + i) for i, s in enumerate(shapes)]
    for x in inputs:
        want = torch_out(name, args, x)
        model = build(name, args, x.shape, dtype)
        for target in ("any", "cuda"):
            (got,) = run_ort(model.to_onnx(target=target), {"x": x})
            assert_matches(
                got, want, x, name, dtype, f"onnxruntime {target} {name}{args} {x.shape}"
            )
        (ref,) = run_oracle(model, {"x": x})
        assert_matches(ref, want, x, name, dtype, f"oracle {name}{args} {x.shape}")


@pytest.mark.parametrize("opset", [17, 18, 19, 20, 22])
def test_every_opset(opset: int) -> None:
    """GELU('tanh') switches to ai.onnx Gelu at opset 20; the rest is opset-independent."""
    x = dense_input("float32")
    for name, args in [*CASES[::3], ("GELU", {"approximate": "tanh"}), ("GELU", {})]:
        (got,) = run_ort(build(name, args, x.shape, "float32").to_onnx(opset), {"x": x})
        assert_matches(got, torch_out(name, args, x), x, name, "float32", f"{name} opset {opset}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_lowering_has_cuda_kernels(dtype: str) -> None:
    for name, args in CASES:
        for opset in (17, 21):
            proto = build(name, args, ("N", 3), dtype).to_onnx(opset, target="cuda")
            assert cuda_fallbacks(proto) == [], (name, args, dtype, opset)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        c
        for c in CASES
        if c[0]
        in {
            "ReLU6",
            "ELU",
            "SELU",
            "CELU",
            "GELU",
            "SiLU",
            "Mish",
            "Hardswish",
            "Hardsigmoid",
            "Softplus",
        }
        and not any(isinstance(v, float) and not math.isfinite(v) for v in c[1].values())
    ][:14],
)
def test_dynamic_dims(name: str, args: dict[str, Any]) -> None:
    model = build(name, args, ("N", None, 4), "float32")
    for n in (3, 1, 0):
        x = make_input((n, 2, 4), "float32", n)
        (got,) = run_ort(model, {"x": x})
        assert_matches(got, torch_out(name, args, x), x, name, "float32", f"{name} N={n}")
        assert_matches(
            run_oracle(model, {"x": x})[0],
            torch_out(name, args, x),
            x,
            name,
            "float32",
            f"oracle {name} N={n}",
        )


def test_fast_forms_avoid_slow_kernels() -> None:
    """The default arguments lower without Where, Elu/Selu/Celu/Softplus/Mish or Sigmoid."""
    slow = {"Where", "Elu", "Selu", "Celu", "Softplus", "Mish", "Sigmoid"}
    for name in ("ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus"):
        for dtype in DTYPES:
            ops = {n.op_type for n in build(name, {}, (2, 3), dtype).to_onnx().graph.node}
            assert not ops & slow, (name, dtype, ops & slow)
    relu6_ops = [n.op_type for n in build("ReLU6", {}, (2, 3), "float16").to_onnx().graph.node]
    assert relu6_ops == ["Clip"]


# --------------------------------------------------------------------------- rejections
def torch_raises(fn: Callable[[], Any]) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except Exception:
        return True
    return False


REJECTED: list[tuple[str, dict[str, Any], str, type[Exception]]] = [
    ("Hardtanh", {"min_val": 1.0, "max_val": 1.0}, "float32", LayerArgumentError),
    ("Hardtanh", {"min_val": 2.0, "max_val": 1.0}, "float32", LayerArgumentError),
    ("Hardtanh", {"min_val": "a", "max_val": "b"}, "float32", LayerTypeError),
    ("Hardtanh", {"min_val": None}, "float32", LayerTypeError),
    ("Hardtanh", {"min_val": -1e300, "max_val": 1e300}, "float32", LayerArgumentError),
    ("Hardtanh", {"min_val": -1e5, "max_val": 1e5}, "float16", LayerArgumentError),
    ("ELU", {"alpha": "a"}, "float32", LayerTypeError),
    ("ELU", {"alpha": None}, "float32", LayerTypeError),
    ("ELU", {"alpha": 1e300}, "float32", LayerArgumentError),
    ("ELU", {"alpha": 1e300}, "float16", LayerArgumentError),
    ("ELU", {"alpha": 10**40}, "float64", LayerArgumentError),
    ("CELU", {"alpha": 0.0}, "float32", LayerArgumentError),
    ("CELU", {"alpha": -0.0}, "float64", LayerArgumentError),
    ("CELU", {"alpha": False}, "float32", LayerArgumentError),
    ("CELU", {"alpha": 1e-39}, "float32", LayerArgumentError),
    ("CELU", {"alpha": 1e-39}, "float16", LayerArgumentError),
    ("CELU", {"alpha": 1e300}, "float32", LayerArgumentError),
    ("GELU", {"approximate": "foo"}, "float32", LayerArgumentError),
    ("GELU", {"approximate": "TANH"}, "float32", LayerArgumentError),
    ("GELU", {"approximate": None}, "float32", LayerTypeError),
    ("GELU", {"approximate": 1}, "float32", LayerTypeError),
    ("Softplus", {"beta": "a"}, "float32", LayerTypeError),
    ("Softplus", {"beta": 1e300}, "float32", LayerArgumentError),
    ("Softplus", {"threshold": 1e300}, "float16", LayerArgumentError),
]


@pytest.mark.parametrize(
    ("name", "args", "dtype", "error"), REJECTED, ids=[f"{n}{a}-{d}" for n, a, d, _ in REJECTED]
)
def test_rejections_match_torch(
    name: str, args: dict[str, Any], dtype: str, error: type[Exception]
) -> None:
    """torch raises (building or running the module); we raise when the layer is built/called."""
    x = torch.zeros(2, 3, dtype=TORCH_DTYPE[dtype])
    assert torch_raises(lambda: getattr(torch.nn, name)(**args)(x))
    with pytest.raises(error, match=name), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LAYERS[name](**args)(Input("x", (2, 3), dtype))


ACCEPTED = [
    ("ELU", {"alpha": 1e300}, "float64"),
    ("CELU", {"alpha": 1e-39}, "float64"),
    ("Hardtanh", {"min_val": -1e5, "max_val": 1e5}, "float32"),
    ("Softplus", {"beta": 1e30, "threshold": 3e38}, "float32"),
    ("ELU", {"alpha": True}, "float32"),
    ("CELU", {"alpha": np.float32(0.5)}, "float32"),
]


@pytest.mark.parametrize(
    ("name", "args", "dtype"), ACCEPTED, ids=[f"{n}{a}-{d}" for n, a, d in ACCEPTED]
)
def test_edge_arguments_accepted_like_torch(name: str, args: dict[str, Any], dtype: str) -> None:
    x = make_input((4, 7), dtype, 0)
    want = torch_out(name, args, x)
    model = build(name, args, x.shape, dtype)
    assert_matches(run_ort(model, {"x": x})[0], want, x, name, dtype, f"{name}{args}")
    assert_matches(run_oracle(model, {"x": x})[0], want, x, name, dtype, f"oracle {name}{args}")


def test_integer_input_rejected() -> None:
    with pytest.raises(LayerTypeError, match="dtype 'int64'"):
        LAYERS["GELU"]()(Input("x", (2, 3), "int64"))


def test_hardtanh_deprecated_keywords() -> None:
    with pytest.warns(FutureWarning, match="is deprecated and renamed"):
        layer = cast(Any, LAYERS["Hardtanh"])(min_value=-2.0, max_value=2.0)
    assert layer.torch_args() == {"min_val": -2.0, "max_val": 2.0}


# --------------------------------------------------------------------------- from_torch
FROM_TORCH = [
    torch.nn.ReLU6(),
    torch.nn.Hardtanh(-0.5, 2.0),
    torch.nn.ELU(0.4),
    torch.nn.SELU(),
    torch.nn.CELU(1.7),
    torch.nn.GELU(),
    torch.nn.GELU("tanh"),
    torch.nn.SiLU(),
    torch.nn.Mish(),
    torch.nn.Hardswish(),
    torch.nn.Hardsigmoid(),
    torch.nn.Softplus(2.0, 15.0),
    torch.nn.Sequential(
        torch.nn.Linear(5, 6),
        torch.nn.GELU(),
        torch.nn.Linear(6, 6),
        torch.nn.Softplus(),
        torch.nn.Hardswish(),
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the Linear oracle on inf inputs
@pytest.mark.parametrize("module", FROM_TORCH, ids=repr)
def test_from_torch(module: torch.nn.Module) -> None:
    model = from_torch(module, (4, 3, 5))
    assert model.inputs[0].shape == ("N", 3, 5)
    x = make_input((6, 3, 5), "float32", 1)
    with torch.no_grad():
        want = module(torch.from_numpy(x.copy())).numpy()
    name = type(module).__name__ if not isinstance(module, torch.nn.Sequential) else "GELU"
    feeds = {model.inputs[0].name: x}
    assert_matches(run_ort(model, feeds)[0], want, x, name, "float32", f"from_torch {module}")
    assert_matches(run_oracle(model, feeds)[0], want, x, name, "float32", "oracle")


def test_args_round_trip_through_the_file() -> None:
    for name, args in CASES:
        model = build(name, args, (2, 3), "float32")
        again = Model.load(model.to_onnx())
        layer = again.program().calls[0]
        assert layer.type == name
        assert LAYERS[name].from_torch_args(layer.args).torch_args() == layer.args
