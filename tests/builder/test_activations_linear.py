"""Parity of the pooling-free layers with torch.nn, for onnxruntime and the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnxlayers.builder import (
    Flatten,
    LeakyReLU,
    Linear,
    PReLU,
    ReLU,
    RReLU,
    Sigmoid,
    Tanh,
)
from tests.helpers import assert_close, run_oracle, run_ort, single_layer_model, torch_tolerance

DTYPES = ["float32", "float64", "float16"]
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30])


def _input(shape: tuple[int, ...], dtype: str, seed: int, specials: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.asarray((rng.standard_normal(shape) * 3).astype(dtype))
    if specials and x.size >= len(SPECIALS):
        idx = rng.choice(x.size, len(SPECIALS), replace=False)
        x.reshape(-1)[idx] = SPECIALS.astype(dtype)
    return x


def _torch_out(module: torch.nn.Module, x: np.ndarray, dtype: str) -> np.ndarray:
    with torch.no_grad():
        return module.to(TORCH_DTYPE[dtype])(torch.from_numpy(np.asarray(x))).numpy()


def _check_both(
    ours: object,
    theirs: torch.nn.Module,
    shape: tuple[int, ...],
    dtype: str,
    seed: int,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    specials: bool = True,
    provider: str = "CPUExecutionProvider",
) -> None:
    x = _input(shape, dtype, seed, specials)
    expected = _torch_out(theirs, x, dtype)
    model = single_layer_model(ours, shape, dtype)  # type: ignore[arg-type]
    r, a = torch_tolerance(dtype)
    rtol, atol = rtol or r, atol or a
    (got_ort,) = run_ort(model, {"x": x}, providers=(provider,))
    (got_oracle,) = run_oracle(model, {"x": x})
    assert_close(got_ort, expected, rtol=rtol, atol=atol, what=f"onnxruntime {ours!r}")
    assert_close(got_oracle, expected, rtol=rtol, atol=atol, what=f"oracle {ours!r}")


SHAPES = [(7,), (2, 5), (2, 3, 4), (2, 3, 4, 5), (1, 2, 3, 2, 2), ()]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    "make",
    [
        lambda: (ReLU(), torch.nn.ReLU()),
        lambda: (Sigmoid(), torch.nn.Sigmoid()),
        lambda: (Tanh(), torch.nn.Tanh()),
        lambda: (LeakyReLU(), torch.nn.LeakyReLU()),
        lambda: (LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
        lambda: (LeakyReLU(-0.5), torch.nn.LeakyReLU(-0.5)),
        lambda: (LeakyReLU(2.5), torch.nn.LeakyReLU(2.5)),
        lambda: (LeakyReLU(0.0), torch.nn.LeakyReLU(0.0)),
        lambda: (RReLU(), torch.nn.RReLU().eval()),
        lambda: (RReLU(0.1, 0.6), torch.nn.RReLU(0.1, 0.6).eval()),
        lambda: (PReLU(), torch.nn.PReLU()),
        lambda: (PReLU(init=0.0), torch.nn.PReLU(init=0.0)),
        lambda: (PReLU(init=-1.5), torch.nn.PReLU(init=-1.5)),
        lambda: (PReLU(init=3.0), torch.nn.PReLU(init=3.0)),
    ],
    ids=lambda f: repr(f()[0]),
)
def test_elementwise_parity(
    make: object, shape: tuple[int, ...], dtype: str, provider: str
) -> None:
    ours, theirs = make()  # type: ignore[operator]
    rtol = 1e-2 if dtype == "float16" else None
    _check_both(ours, theirs, shape, dtype, seed=len(shape), rtol=rtol, provider=provider)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    channels=st.integers(1, 6),
    rank=st.integers(2, 5),
    dtype=st.sampled_from(DTYPES),
    slopes=st.sampled_from(["mixed", "small", "large", "zero"]),
    seed=st.integers(0, 2**16),
)
def test_prelu_per_channel(
    channels: int, rank: int, dtype: str, slopes: str, seed: int, provider: str
) -> None:
    """Per-channel slopes on dim 1, every rank; each slope regime takes its own lowering."""
    rng = np.random.default_rng(seed)
    w = {
        "mixed": rng.uniform(-2, 2, channels),
        "small": rng.uniform(0.01, 1, channels),
        "large": rng.uniform(1, 3, channels),
        "zero": np.zeros(channels),
    }[slopes].astype(np.float32)
    shape = (2, channels, *rng.integers(1, 4, rank - 2))
    ours, theirs = PReLU(channels), torch.nn.PReLU(channels)
    ours.weight = w
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    rtol = 1e-2 if dtype == "float16" else None
    _check_both(
        ours, theirs, tuple(int(d) for d in shape), dtype, seed, rtol=rtol, provider=provider
    )


def test_prelu_square_input_uses_channels_not_last_axis() -> None:
    """W == C: ONNX's PRelu would silently broadcast (C,) against the last axis."""
    ours, theirs = PReLU(4), torch.nn.PReLU(4)
    w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    ours.weight = w
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    _check_both(ours, theirs, (2, 4, 4, 4), "float32", 0)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    in_f=st.integers(1, 40),
    out_f=st.integers(1, 20),
    bias=st.booleans(),
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_linear_parity(
    in_f: int, out_f: int, bias: bool, lead: list[int], dtype: str, seed: int, provider: str
) -> None:
    """Any rank >= 1 (Gemm on rank 2, MatMul + Add elsewhere), weights copied from torch."""
    torch.manual_seed(seed)
    theirs = torch.nn.Linear(in_f, out_f, bias=bias)
    ours = Linear(in_f, out_f, bias=bias)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    rtol, atol = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-12), "float16": (1e-2, 1e-2)}[
        dtype
    ]
    _check_both(
        ours,
        theirs,
        (*lead, in_f),
        dtype,
        seed,
        rtol=rtol,
        atol=atol,
        specials=False,
        provider=provider,
    )


@pytest.mark.parametrize(
    ("shape", "start", "end"),
    [
        ((2, 3, 4, 5), 1, -1),
        ((2, 3, 4, 5), 0, -1),
        ((2, 3, 4, 5), 1, 2),
        ((2, 3, 4, 5), -2, -1),
        ((2, 3, 4, 5), 2, 2),
        ((2, 3), 1, 1),
        ((0, 3, 4), 1, -1),
        ((5,), 0, 0),
        ((), 0, -1),
    ],
    ids=str,
)
def test_flatten_parity(shape: tuple[int, ...], start: int, end: int) -> None:
    _check_both(Flatten(start, end), torch.nn.Flatten(start, end), shape, "float32", 0)


@pytest.mark.parametrize("dynamic", [(0,), (0, 2), (1, 2, 3), (3,)], ids=str)
def test_flatten_dynamic_dims(dynamic: tuple[int, ...]) -> None:
    """Dynamic dims anywhere (in and out of the merged span), N = 0 included."""
    shape = (3, 2, 4, 5)
    sym = tuple(f"d{i}" if i in dynamic else d for i, d in enumerate(shape))
    for layer, ref in [
        (Flatten(), torch.nn.Flatten()),
        (Flatten(0, 1), torch.nn.Flatten(0, 1)),
        (Flatten(1, 2), torch.nn.Flatten(1, 2)),
    ]:
        model = single_layer_model(layer, sym)
        for n in (3, 0) if 0 in dynamic else (3,):
            x = _input((n, *shape[1:]), "float32", 0, specials=False)
            expected = _torch_out(ref, x, "float32")
            assert_close(run_ort(model, {"x": x})[0], expected, what=f"{layer!r} N={n}")
            assert_close(run_oracle(model, {"x": x})[0], expected, what=f"{layer!r} N={n}")
