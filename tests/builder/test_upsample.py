"""Upsample against torch.nn.Upsample: onnxruntime (CPU and CUDA lowerings) and the oracle.

Seeded sweeps over modes (nearest, nearest-exact, linear, bilinear, bicubic, trilinear,
area), align_corners, size or scale_factor (integer and not: 2.3, 0.6, 1.05, 2.01...),
recompute_scale_factor, ranks 3-5 and three dtypes; nearest results compared exactly, the
others within float tolerance with NaN/inf placed exactly; both of torch's nearest kernels
(chosen by torch from the output size and layout); static and dynamic dims through one
graph; the ``target="cuda"`` lowering on CPU. Every argument torch rejects is rejected here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from onnxlayers.builder import (
    BuildError,
    Input,
    LayerArgumentError,
    LayerTypeError,
    Model,
    ShapeError,
    from_torch,
)
from onnxlayers.builder.layers.upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from onnxlayers.runtime import Session, oracle
from onnxlayers.runtime.oracle import OracleCall
from onnxlayers.runtime.oracle.upsample import upsample as oracle_upsample
from tests.helpers import run_ort

TARGETS = ("any", "cuda")
RTOL = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3}
"""Largest error allowed, relative to max(|torch's value|, 1)."""
WORST: dict[str, float] = {}
EXACT_MODES = ("nearest", "nearest-exact")


@dataclass
class Case:
    """One configuration: torch's arguments, the input, its declared dims."""

    kwargs: dict[str, Any]
    shape: tuple[int, ...]
    dtype: str = "float32"
    values: str = "normal"
    seed: int = 0
    dims: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def mode(self) -> str:
        return str(self.kwargs.get("mode", "nearest"))

    def torch_module(self) -> torch.nn.Module:
        return torch.nn.Upsample(**self.kwargs)

    def __str__(self) -> str:
        return f"{self.kwargs} {self.shape} {self.dtype} {self.values}"


def make_input(shape: tuple[int, ...], dtype: str, values: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    if values == "special" and x.size:
        k = max(1, x.size // 8)
        x.reshape(-1)[rng.choice(x.size, k, replace=False)] = rng.choice(
            [np.nan, np.inf, -np.inf], k
        )
    return x.astype(dtype)


def torch_output(case: Case, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return case.torch_module()(torch.from_numpy(x)).numpy()


def build(case: Case) -> Model:
    inp = Input("x", case.dims or case.shape, case.dtype)
    return Model([inp], [Upsample(**case.kwargs, name="up")(inp)])


def assert_matches(got: np.ndarray, want: np.ndarray, case: Case, what: str) -> None:
    label = f"{what} {case}"
    assert got.shape == want.shape and got.dtype == want.dtype, (
        f"{label}: {got.shape} {got.dtype} != {want.shape} {want.dtype}"
    )
    if case.mode in EXACT_MODES:  # values are copied: exactly torch's
        np.testing.assert_array_equal(got, want, err_msg=label)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{label}: NaN")
    finite = np.isfinite(want)
    np.testing.assert_array_equal(
        got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)], err_msg=f"{label}: inf"
    )
    if finite.any():
        a, b = got[finite].astype(np.float64), want[finite].astype(np.float64)
        err = float((np.abs(a - b) / np.maximum(np.abs(b), 1)).max())
        WORST[case.dtype] = max(WORST.get(case.dtype, 0.0), err)
        assert err <= RTOL[case.dtype], f"{label}: relative error {err:.3g}"


def check_case(
    case: Case,
    targets: tuple[str, ...] = TARGETS,
    sizes: tuple[tuple[int, ...], ...] = (),
    opset: int | None = None,
) -> None:
    """onnxruntime (each target) and the oracle give torch's output, for every input size."""
    model = build(case)
    kw: dict[str, Any] = {} if opset is None else {"opset": opset}
    protos = {t: model.to_onnx(target=t, **kw) for t in targets}  # full_check=True inside
    for shape in sizes or (case.shape,):
        x = make_input(shape, case.dtype, case.values, case.seed)
        want = torch_output(case, x)
        for target, proto in protos.items():
            (got,) = run_ort(proto, {"x": x})
            assert_matches(got, want, case, f"onnxruntime[{target}] {shape}")
        assert_matches(oracle.run(model, {"x": x})["output"], want, case, f"oracle {shape}")


SCALES: list[Any] = [2, 2.3, 0.6, 1.5, 0.5, 3, 1.05, 2.01, 0.37, 1.0, 1.7]
MODES = (
    ["nearest"] * 5
    + ["bilinear"] * 5
    + ["nearest-exact"] * 2
    + ["bicubic"] * 2
    + ["linear"] * 2
    + ["trilinear", "area", "area"]
)


def random_case(rng: np.random.Generator, dtypes: tuple[str, ...]) -> Case:
    mode = str(rng.choice(MODES))
    rank = {"linear": 3, "trilinear": 5, "bilinear": 4, "bicubic": 4}.get(
        mode, int(rng.choice([3, 4, 4, 4, 5]))
    )
    if mode == "area":
        rank = int(rng.choice([3, 4]))
    hi = 6 if rank == 5 else 11
    spatial = tuple(int(v) for v in rng.integers(1, hi, rank - 2))
    shape = (int(rng.integers(1, 3)), int(rng.choice([1, 2, 3, 5])), *spatial)
    kwargs: dict[str, Any] = {"mode": mode}
    if rng.random() < 0.35:
        sizes = tuple(int(v) for v in rng.integers(1, 3 * hi, rank - 2))
        kwargs["size"] = sizes if rng.random() < 0.7 or rank == 3 else sizes[0]
        if len(set(sizes)) > 1 and not isinstance(kwargs["size"], tuple):
            kwargs["size"] = sizes[0]
    else:
        factors = tuple(float(rng.choice(SCALES)) for _ in range(rank - 2))
        kwargs["scale_factor"] = factors if rng.random() < 0.5 else factors[0]
        if rng.random() < 0.3:
            kwargs["recompute_scale_factor"] = True
    if mode in ("linear", "bilinear", "bicubic", "trilinear") and rng.random() < 0.7:
        kwargs["align_corners"] = bool(rng.random() < 0.5)
    values = "special" if rng.random() < 0.2 else "normal"
    return Case(kwargs, shape, str(rng.choice(dtypes)), values, int(rng.integers(1 << 16)))


def torch_accepts(case: Case) -> bool:
    try:
        torch_output(case, make_input(case.shape, case.dtype, "normal", 0))
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        return False
    return True


def random_cases(n: int, seed: int, dtypes: tuple[str, ...] = ("float32",)) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    while len(cases) < n:
        case = random_case(rng, dtypes)
        if torch_accepts(case):
            cases.append(case)
    return cases


# --------------------------------------------------------------------------- parity sweeps
SWEEP = random_cases(110, 1)
DTYPE_SWEEP = random_cases(24, 2, ("float64", "float16"))


@pytest.mark.parametrize("case", SWEEP, ids=str)
def test_parity_float32(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", DTYPE_SWEEP, ids=str)
def test_parity_float64_float16(case: Case) -> None:
    check_case(case)


def test_sweep_covers_the_arguments() -> None:
    seen = set()
    for c in SWEEP:
        k = c.kwargs
        seen.add(c.mode)
        seen.add("size" if "size" in k else "scale_factor")
        seen.add(f"align_corners={k.get('align_corners')}")
        if k.get("recompute_scale_factor"):
            seen.add("recompute")
        factors = k.get("scale_factor")
        for f in factors if isinstance(factors, tuple) else [factors]:
            if f is not None and f != int(f):
                seen.add("non-integer factor")
    assert seen >= {
        "nearest",
        "nearest-exact",
        "bilinear",
        "bicubic",
        "linear",
        "trilinear",
        "area",
        "size",
        "scale_factor",
        "align_corners=True",
        "align_corners=False",
        "recompute",
        "non-integer factor",
    }, seen


# --------------------------------------------------------------------------- torch's kernels
KERNEL_CASES = [
    # torch's vectorized nearest kernel (OH + OW <= 128) copies when o == n and shifts when
    # o == 2n whatever the factor; its generic kernel (larger outputs) does not
    Case({"scale_factor": (1.01, 1.5)}, (1, 2, 40, 20)),
    Case({"scale_factor": (1.01, 1.5)}, (1, 2, 40, 60)),
    Case({"scale_factor": (1.05, 2.01)}, (1, 2, 40, 70)),
    Case({"scale_factor": (1.05, 2.01)}, (1, 2, 20, 30)),
    Case({"scale_factor": 2.01}, (1, 2, 60, 65)),
    Case({"scale_factor": (2.3, 3.0)}, (1, 5, 1, 1)),  # C > 3 with a 1x1 plane
    Case({"scale_factor": (1.01, 1.5), "mode": "nearest-exact"}, (1, 2, 40, 60)),
    Case({"scale_factor": 1.01}, (1, 2, 40)),  # 1-D: always the generic kernel
    Case({"scale_factor": (1.01, 2.01, 1.5)}, (1, 2, 40, 30, 3)),
    Case({"scale_factor": (1.01, 2.01, 1.5)}, (1, 5, 1, 1, 1)),
    Case({"size": (100, 90), "mode": "bilinear"}, (1, 2, 40, 70)),
    Case({"scale_factor": 0.37, "mode": "bicubic", "align_corners": True}, (1, 2, 40, 70)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=str)
def test_torch_kernel_choice(case: Case, dtype: str) -> None:
    check_case(Case(case.kwargs, case.shape, dtype))


# --------------------------------------------------------------------------- special values
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale_factor": 2},
        {"scale_factor": 2.3, "mode": "nearest-exact"},
        {"scale_factor": 2, "mode": "bilinear"},
        {"size": (3, 4), "mode": "bilinear"},
        {"scale_factor": 1.1, "mode": "bilinear", "align_corners": True},
        {"scale_factor": 0.6, "mode": "bicubic"},
        {"size": (2, 3), "mode": "area"},
    ],
    ids=str,
)
def test_nan_and_infinities_like_torch(kwargs: dict[str, Any], dtype: str) -> None:
    """A weight of 0 times an infinity is NaN in torch (even where an axis is copied);
    onnxruntime's Resize blends such taps differently, so a non-finite input takes the
    exact taps."""
    x = np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4) - 10
    x[0, 0, 1, 1], x[0, 0, 2, 3], x[0, 1, 0, 2], x[0, 1, 2, 0] = np.inf, np.inf, np.nan, -np.inf
    case = Case(kwargs, x.shape, dtype)
    model, want = build(case), torch_output(case, x.astype(dtype))
    for target in TARGETS:
        (got,) = run_ort(model.to_onnx(target=target), {"x": x.astype(dtype)})
        assert_matches(got, want, case, target)
    assert_matches(oracle.run(model, {"x": x.astype(dtype)})["output"], want, case, "oracle")


# --------------------------------------------------------------------------- dynamic dims
DYNAMIC = [
    Case({"scale_factor": 2}, (2, 3, 5, 7), dims=("N", 3, 5, 7)),
    Case({"size": (9, 4), "mode": "bilinear"}, (2, 3, 5, 7), dims=("N", "C", 5, 7)),
    Case({"scale_factor": (1.01, 2.01)}, (2, 3, 40, 20), dims=("N", 3, "H", "W")),
    Case({"scale_factor": 2.3, "mode": "nearest-exact"}, (2, 3, 5, 7), dims=("N", 3, "H", "W")),
    Case(
        {"scale_factor": 0.6, "mode": "bilinear"},
        (2, 3, 5, 7),
        dims=("N", 3, "H", "W"),
        values="special",
    ),
    Case(
        {"scale_factor": 1.7, "mode": "bicubic", "align_corners": True},
        (2, 3, 5, 7),
        dims=("N", 3, "H", "W"),
    ),
    Case({"size": (4, 3), "mode": "area"}, (2, 3, 9, 7), dims=("N", 3, "H", "W")),
    Case(
        {"scale_factor": 2.5, "mode": "linear", "recompute_scale_factor": True},
        (2, 3, 7),
        dims=("N", "C", "W"),
    ),
    Case(
        {"scale_factor": (2, 0.5, 1.3), "mode": "trilinear"},
        (1, 2, 3, 4, 5),
        dims=("N", 2, "D", "H", "W"),
        dtype="float64",
    ),
    Case({"scale_factor": (1.01, 1.5)}, (1, 3, 40, 20), dims=(1, "C", "H", "W"), dtype="float16"),
]


@pytest.mark.parametrize("case", DYNAMIC, ids=lambda c: f"{c} dims={c.dims}")
def test_dynamic_dims(case: Case) -> None:
    """One graph, several input sizes (the tables are computed in the graph; torch's kernel
    choice too: 40x20 and 40x70 take different nearest kernels)."""
    sizes = [case.shape]
    lead, spatial = case.shape[:2], case.shape[2:]
    if any(d in ("H", "W", "D") for d in case.dims):
        for scale in (2, 3):
            sizes.append(
                (
                    *lead,
                    *[
                        s + scale if d in ("H", "W", "D") else s
                        for s, d in zip(spatial, case.dims[2:], strict=True)
                    ],
                )
            )
        if case.kwargs.get("scale_factor") == (1.01, 2.01):
            sizes.append((*lead, 40, 70))
    if case.dims[0] == "N":
        sizes += [(4, *case.shape[1:]), (0, *case.shape[1:])]
    check_case(case, sizes=tuple(sizes))


@pytest.mark.parametrize("target", TARGETS)
def test_dynamic_sizes_torch_rejects_fail_in_the_graph(target: str) -> None:
    case = Case({"scale_factor": 0.6, "mode": "bilinear"}, (2, 3, 5, 7), dims=("N", "C", "H", "W"))
    proto = build(case).to_onnx(target=target)
    for shape in [(2, 3, 1, 7), (2, 3, 5, 1), (2, 0, 5, 7), (2, 3, 0, 7)]:
        assert not torch_accepts(Case(case.kwargs, shape))
        with pytest.raises(Exception, match="'up': input and output sizes should be greater"):
            run_ort(proto, {"x": np.zeros(shape, np.float32)})


@pytest.mark.parametrize("opset", [17, 18, 22])
@pytest.mark.parametrize(
    "case",
    [
        Case({"size": (9, 4)}, (2, 3, 5, 7)),
        Case({"scale_factor": 2.3}, (2, 3, 5, 7)),
        Case({"size": (9, 4), "mode": "bilinear"}, (2, 3, 5, 7)),
        Case({"scale_factor": (1.5, 0.6), "mode": "bilinear"}, (2, 3, 5, 7)),
        Case({"size": (3, 4), "mode": "area"}, (2, 3, 7, 9)),
        DYNAMIC[2],
    ],
    ids=str,
)
def test_other_opsets(case: Case, opset: int) -> None:
    check_case(case, opset=opset)


# --------------------------------------------------------------------------- lowering shape
def _graph(
    kwargs: dict[str, Any], dims: tuple[Any, ...], dtype: str = "float32", target: str = "any"
) -> Any:
    x = Input("x", dims, dtype)
    return Model([x], [Upsample(**kwargs)(x)]).to_onnx(target=target).graph


def test_fast_paths() -> None:
    """onnxruntime's Resize wherever it reproduces torch's indices (checked while building);
    for linear modes behind a finite-input check; taps where it cannot."""
    for kwargs in (
        {"scale_factor": 2},
        {"scale_factor": 2.3},
        {"scale_factor": 0.6},
        {"size": (9, 4)},
        {"scale_factor": 2, "mode": "nearest-exact"},
    ):
        assert [n.op_type for n in _graph(kwargs, ("N", 3, 5, 7)).node] == ["Resize"], kwargs
    graph = _graph({"scale_factor": 2, "mode": "bilinear"}, ("N", 3, 56, 56))
    assert [n.op_type for n in graph.node] == ["ReduceSum", "Sub", "IsNaN", "If"]
    finite = next(a.g for a in graph.node[-1].attribute if a.name == "else_branch")
    assert [n.op_type for n in finite.node] == ["Resize"]
    for kwargs, dtype, target in (
        ({"scale_factor": 2}, "float64", "any"),
        ({"scale_factor": 2}, "float32", "cuda"),
        ({"scale_factor": 2, "mode": "bilinear"}, "float32", "cuda"),
    ):
        ops = [n.op_type for n in _graph(kwargs, ("N", 3, 5, 7), dtype, target).node]
        assert "Resize" not in ops and "Gather" in ops and "If" not in ops


def test_cuda_lowering_has_cuda_kernels() -> None:
    """Every node of the ``target="cuda"`` graphs has a CUDA kernel for its dtypes (no
    ``MatMul``: the CUDA provider may run it in TF32)."""
    from onnxlayers.runtime.cuda_kernels import cuda_fallbacks

    for dtype in ("float32", "float16", "float64"):
        for dims in (("N", 3, 8, 12), ("N", 3, "H", "W")):
            for kwargs in (
                {"scale_factor": 2},
                {"size": (9, 4), "mode": "bilinear"},
                {"scale_factor": 1.7, "mode": "bicubic", "align_corners": True},
                {"size": (3, 4), "mode": "area"},
                {"scale_factor": 2.3, "mode": "nearest-exact"},
            ):
                graph = _graph(kwargs, dims, dtype, "cuda")
                assert "MatMul" not in [n.op_type for n in graph.node]
                x = Input("x", dims, dtype)
                proto = Model([x], [Upsample(**kwargs)(x)]).to_onnx(target="cuda")
                assert cuda_fallbacks(proto) == [], (kwargs, dims, dtype)


# --------------------------------------------------------------------------- arguments
ARGUMENTS: list[dict[str, Any]] = [
    {},
    {"size": 5, "scale_factor": 2},
    {"size": 5},
    {"size": (5, 4)},
    {"size": (5,)},
    {"size": (5, 4, 3)},
    {"size": 0},
    {"size": -1},
    {"size": (0, 3)},
    {"size": 5.0},
    {"size": (5.0, 4)},
    {"size": True},
    {"size": (None, 4)},
    {"size": np.int64(5)},
    {"size": [5, np.int64(4)]},
    {"scale_factor": 2},
    {"scale_factor": (2, 3)},
    {"scale_factor": [2, 3]},
    {"scale_factor": (2,)},
    {"scale_factor": 0.01},
    {"scale_factor": 0},
    {"scale_factor": -1},
    {"scale_factor": (0, 2)},
    {"scale_factor": float("nan")},
    {"scale_factor": float("inf")},
    {"scale_factor": "2"},
    {"scale_factor": True},
    {"scale_factor": (2, None)},
    {"scale_factor": np.float64(2.5)},
    {"size": 5, "mode": "nearest", "align_corners": True},
    {"size": 5, "mode": "nearest-exact", "align_corners": False},
    {"size": 5, "mode": "area", "align_corners": False},
    {"size": 5, "mode": "bilinear"},
    {"size": 5, "mode": "bilinear", "align_corners": 1},
    {"size": 5, "mode": "bicubic"},
    {"size": 5, "mode": "linear"},
    {"size": 5, "mode": "trilinear"},
    {"size": 5, "mode": "area"},
    {"size": 5, "mode": "foo"},
    {"scale_factor": 2, "mode": "lanczos"},
    {"scale_factor": 2, "recompute_scale_factor": True},
    {"size": 5, "recompute_scale_factor": True},
    {"size": 5, "recompute_scale_factor": False},
    {"scale_factor": 2, "recompute_scale_factor": 1},
    {"scale_factor": 0.6, "mode": "area"},
]
ARG_CASES = [
    Case(kw, shape) for kw in ARGUMENTS for shape in ((2, 3, 7, 9), (3, 7, 9), (1, 2, 3, 4, 5))
]
ARG_CASES += [
    Case({"scale_factor": 2, "mode": m}, shape)
    for m in ("nearest", "bilinear", "nearest-exact")
    for shape in (
        (0, 3, 4, 5),
        (2, 0, 4, 5),
        (2, 3, 0, 5),
        (0, 4, 5),
        (3, 0, 5),
        (4, 5),
        (1, 1, 1, 2, 3, 4),
    )
]
ARG_CASES += [Case({"scale_factor": 0.6}, (1, 1, 1, 5))]


@pytest.mark.parametrize("case", ARG_CASES, ids=lambda c: f"{c.kwargs!r}{c.shape}")
def test_accepts_and_rejects_like_torch(case: Case) -> None:
    """torch decides: accepted arguments give torch's output, rejected ones raise our errors
    (at construction or while building) naming the layer."""
    if torch_accepts(case):
        check_case(case, targets=("any",))
        return
    with pytest.raises((BuildError, LayerTypeError)) as info:
        build(case)
    assert str(info.value).startswith("Upsample 'up'"), str(info.value)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Upsample(), LayerArgumentError, "either size or scale_factor should be defined"),
        (lambda: Upsample(5, 2), LayerArgumentError, "only one of them should be defined"),
        (lambda: Upsample(size=0), LayerArgumentError, "expected sizes >= 1"),
        (lambda: Upsample(size=-1, mode="area"), LayerArgumentError, "expected sizes >= 0"),
        (lambda: Upsample(size=2.5), LayerTypeError, "size=2.5 is invalid"),
        (lambda: Upsample(scale_factor=[2, 3]), LayerTypeError, "scale_factor=[2, 3]"),
        (lambda: Upsample(scale_factor=-2), LayerArgumentError, "expected finite factors > 0"),
        (
            lambda: Upsample(scale_factor=2, mode="cubic"),
            LayerArgumentError,
            "mode='cubic' is invalid",
        ),
        (
            lambda: Upsample(scale_factor=2, align_corners=True),
            LayerArgumentError,
            "can only be set with the interpolating modes",
        ),
        (
            lambda: Upsample(size=3, recompute_scale_factor=True),
            LayerArgumentError,
            "not meaningful with an explicit size",
        ),
        (
            lambda: Upsample(size=3, mode="bilinear")(Input("x", (1, 2, 3))),
            ShapeError,
            "needs a 4-D input",
        ),
        (lambda: Upsample(size=(3, 4))(Input("x", (1, 2, 3))), ShapeError, "has 1 spatial dims"),
        (
            lambda: Upsample(scale_factor=0.2)(Input("x", (1, 2, 3, 3))),
            ShapeError,
            "should be greater than 0",
        ),
        (
            lambda: Upsample(scale_factor=2)(Input("x", (1, 2, 3, 3), "int64")),
            LayerTypeError,
            "dtype 'int64' is not supported",
        ),
    ],
)
def test_error_messages(make: Callable[[], Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value), str(info.value)
    assert str(info.value).startswith("Upsample")


# --------------------------------------------------------------------------- torch interop
@pytest.mark.parametrize(
    "module",
    [
        torch.nn.Upsample(scale_factor=2),
        torch.nn.Upsample(size=(11, 5), mode="bilinear"),
        torch.nn.Upsample(scale_factor=(2.3, 0.6), mode="bilinear", align_corners=True),
        torch.nn.Upsample(scale_factor=1.7, mode="nearest-exact", recompute_scale_factor=True),
        torch.nn.Upsample(scale_factor=1.5, mode="bicubic"),
        torch.nn.Upsample(size=(4, 3), mode="area"),
        torch.nn.UpsamplingNearest2d(scale_factor=2.3),
        torch.nn.UpsamplingBilinear2d(size=(5, 12)),
    ],
    ids=repr,
)
def test_from_torch(module: torch.nn.Module) -> None:
    model = from_torch(module, (2, 3, 8, 9))
    assert model.inputs[0].shape[0] == "N"
    x = make_input((3, 3, 8, 9), "float32", "normal", 5)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    name = model.inputs[0].name
    (got,) = Session(model.to_onnx()).run({name: x}).values()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(oracle.run(model, {name: x})["output"], want, rtol=1e-5, atol=1e-5)


def test_upsampling_subclasses() -> None:
    """torch's fixed-mode subclasses: their own type in the program, torch's arguments."""
    x = Input("x", ("N", 3, 5, 7))
    for layer, twin in (
        (UpsamplingNearest2d(scale_factor=1.5), torch.nn.UpsamplingNearest2d),
        (UpsamplingBilinear2d(size=(4, 9)), torch.nn.UpsamplingBilinear2d),
    ):
        model = Model([x], [layer(x)])
        again = Model.load(model.to_onnx())
        assert [repr(v) for v in again.layers.values()] == [repr(layer)]
        module = twin(**layer.torch_args())
        assert type(layer).args_from_module(module) == layer.torch_args()
        data = make_input((2, 3, 5, 7), "float32", "special", 1)
        with torch.no_grad():
            want = module(torch.from_numpy(data)).numpy()
        case = Case({"mode": "nearest" if "Nearest" in repr(layer) else "bilinear"}, (2, 3, 5, 7))
        assert_matches(run_ort(model.to_onnx(), {"x": data})[0], want, case, repr(layer))
        assert_matches(oracle.run(model, {"x": data})["output"], want, case, repr(layer))
    with pytest.raises(TypeError):  # as torch: no mode argument
        UpsamplingBilinear2d(scale_factor=2, mode="nearest")  # type: ignore[call-arg]


def test_torch_args_round_trip() -> None:
    """``torch_args`` rebuild torch's module and ours (through JSON: tuples as lists)."""
    for layer in (
        Upsample(scale_factor=(2.3, 0.6), mode="bilinear", align_corners=True),
        Upsample(size=[4, 5], mode="nearest-exact"),
        Upsample(scale_factor="2"),
        Upsample(scale_factor=1.5, recompute_scale_factor=True),
    ):
        args = layer.torch_args()
        module = Upsample.torch_module(args)
        assert Upsample.args_from_module(module) == args
        json_args = {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
        assert repr(Upsample.from_torch_args(json_args)) == repr(layer)
    x = Input("x", ("N", 3, 5, 7))
    model = Model([x], [Upsample(scale_factor=(2.3, 0.6), mode="bilinear")(x)])
    again = Model.load(model.to_onnx())
    assert [repr(v) for v in again.layers.values()] == [repr(v) for v in model.layers.values()]


# --------------------------------------------------------------------------- oracle
def test_oracle_is_vectorised() -> None:
    x = np.random.default_rng(0).standard_normal((8, 64, 56, 56)).astype(np.float32)
    start = time.perf_counter()
    for mode in ("nearest", "bilinear"):
        args = {
            "size": None,
            "scale_factor": 2.3,
            "mode": mode,
            "align_corners": None,
            "recompute_scale_factor": None,
        }
        oracle_upsample(OracleCall(args, {}, [x], {}, False))
    assert time.perf_counter() - start < 3.0


def test_report_worst_errors() -> None:
    """Runs last in this module: the worst errors of the interpolating modes seen above."""
    assert WORST and all(v <= RTOL[k] for k, v in WORST.items()), WORST
    print(f"worst relative error vs torch (interpolating modes): {WORST}")
