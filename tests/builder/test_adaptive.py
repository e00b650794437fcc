"""AdaptiveAvgPool2d / AdaptiveMaxPool2d against torch.nn: onnxruntime (CPU and CUDA lowerings)
and the oracle.

Seeded sweeps over input sizes 1-12 and output sizes from 1 to twice the input (divisible,
non-divisible, larger than the input), ``None`` entries, ints and pairs, rank 3 and 4, three
dtypes; max pooling with distinct values, ties, NaN, infinities and all -inf windows, its
indices compared exactly; static and dynamic dims (one graph, several sizes); the
``target="cuda"`` lowering runs on CPU too. Every combination torch rejects is rejected here.
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
    Identity,
    Input,
    LayerArgumentError,
    LayerTypeError,
    Model,
    ShapeError,
    from_torch,
)
from onnxlayers.builder.layers.adaptive import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from onnxlayers.runtime import Session, oracle
from onnxlayers.runtime.oracle import OracleCall
from onnxlayers.runtime.oracle.adaptive import adaptive_avg_pool2d, adaptive_max_pool2d
from tests.helpers import run_ort, torch_tolerance

TARGETS = ("any", "cuda")
WORST: dict[str, float] = {}


@dataclass
class Case:
    """One configuration: max or avg, torch's arguments, the input and its declared dims."""

    kind: str
    output_size: Any
    shape: tuple[int, ...]
    return_indices: bool = False
    dtype: str = "float32"
    values: str = "distinct"
    seed: int = 0
    dims: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def kwargs(self) -> dict[str, Any]:
        if self.kind == "max":
            return {"output_size": self.output_size, "return_indices": self.return_indices}
        return {"output_size": self.output_size}

    def ours(self, name: str | None = "pool") -> AdaptiveAvgPool2d | AdaptiveMaxPool2d:
        cls = AdaptiveMaxPool2d if self.kind == "max" else AdaptiveAvgPool2d
        return cls(**self.kwargs, name=name)

    def torch_module(self) -> torch.nn.Module:
        if self.kind == "max":
            return torch.nn.AdaptiveMaxPool2d(**self.kwargs)
        return torch.nn.AdaptiveAvgPool2d(**self.kwargs)

    def __str__(self) -> str:
        return f"{self.kind}{self.kwargs} {self.shape} {self.dtype} {self.values}"


def make_input(shape: tuple[int, ...], dtype: str, values: str, seed: int) -> np.ndarray:
    """Distinct values (exact indices), ties, NaN/infinities, or mostly -inf."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if values == "ties":
        x = rng.integers(-2, 3, size).astype(np.float64)
    else:
        x = ((rng.permutation(size) - size // 2) * 0.25).astype(np.float64)
    if values == "special" and size:
        k = max(1, size // 5)
        x[rng.choice(size, k, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], k)
    if values == "minus_inf" and size:
        x[rng.random(size) < 0.7] = -np.inf
    return x.reshape(shape).astype(dtype)


def torch_outputs(case: Case, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        out = case.torch_module()(torch.from_numpy(x))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def build(case: Case) -> Model:
    inp = Input("x", case.dims or case.shape, case.dtype)
    out = case.ours()(inp)
    return Model([inp], list(out) if isinstance(out, tuple) else [out])


def assert_matches(got: list[np.ndarray], want: list[np.ndarray], case: Case, what: str) -> None:
    assert len(got) == len(want), f"{what} {case}: {len(got)} outputs, expected {len(want)}"
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        label = f"{what} {case} output {k}"
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{label}: {a.shape} {a.dtype} != {b.shape} {b.dtype}"
        )
        if case.kind == "max":  # values are copied and indices counted: exactly equal
            np.testing.assert_array_equal(a, b, err_msg=label)
            continue
        rtol, atol = torch_tolerance(case.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=label)
        finite = np.isfinite(b)
        if finite.any():
            err = np.abs(a[finite].astype(np.float64) - b[finite]) / np.maximum(
                np.abs(b[finite].astype(np.float64)), 1
            )
            WORST[case.dtype] = max(WORST.get(case.dtype, 0.0), float(err.max()))


def check_case(
    case: Case,
    targets: tuple[str, ...] = TARGETS,
    sizes: tuple[tuple[int, ...], ...] = (),
    opset: int | None = None,
) -> None:
    """onnxruntime (each target) and the oracle give torch's outputs, for every input size."""
    model = build(case)
    kw: dict[str, Any] = {} if opset is None else {"opset": opset}
    protos = {t: model.to_onnx(target=t, **kw) for t in targets}  # full_check=True inside
    for shape in sizes or (case.shape,):
        x = make_input(shape, case.dtype, case.values, case.seed)
        want = torch_outputs(case, x)
        for target, proto in protos.items():
            assert_matches(run_ort(proto, {"x": x}), want, case, f"onnxruntime[{target}] {shape}")
        assert_matches(list(oracle.run(model, {"x": x}).values()), want, case, f"oracle {shape}")


def random_output_size(rng: np.random.Generator, h: int, w: int) -> Any:
    def one(n: int) -> int | None:
        r = rng.random()
        if r < 0.12:
            return None
        if r < 0.3:  # divisible
            divisors = [d for d in range(1, n + 1) if n % d == 0]
            return int(rng.choice(divisors))
        return int(rng.integers(1, 2 * n + 2))  # often larger than the input

    a, b = one(h), one(w)
    if rng.random() < 0.2 and a is not None:
        return a
    return (a, b) if rng.random() < 0.6 else [a, b]


def random_cases(n: int, seed: int, dtypes: tuple[str, ...] = ("float32",)) -> list[Case]:
    """``n`` size combinations, each as average and max pooling (rank 3 and 4)."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, 13, 2))
        lead = (int(rng.integers(1, 3)), int(rng.choice([1, 2, 3, 8])))
        shape = (*lead, h, w) if rng.random() < 0.75 else (lead[1], h, w)
        out = random_output_size(rng, h, w)
        dtype = str(rng.choice(dtypes))
        values = str(rng.choice(["distinct", "distinct", "ties", "special", "minus_inf"]))
        cases.append(
            Case(
                "avg",
                out,
                shape,
                dtype=dtype,
                seed=int(rng.integers(1 << 16)),
                values="special" if values == "minus_inf" else values,
            )
        )
        cases.append(
            Case(
                "max",
                out,
                shape,
                bool(rng.random() < 0.7),
                dtype,
                values,
                int(rng.integers(1 << 16)),
            )
        )
    return cases


# --------------------------------------------------------------------------- parity sweeps
SWEEP = random_cases(90, 1)
DTYPE_SWEEP = random_cases(14, 2, ("float64", "float16"))


@pytest.mark.parametrize("case", SWEEP, ids=str)
def test_parity_float32(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", DTYPE_SWEEP, ids=str)
def test_parity_float64_float16(case: Case) -> None:
    check_case(case)


def test_sweep_covers_the_interesting_sizes() -> None:
    """Non-divisible, divisible, larger than the input, None entries, ranks 3 and 4."""
    kinds = set()
    for c in SWEEP:
        h, w = c.shape[-2:]
        outs = c.output_size if isinstance(c.output_size, (list, tuple)) else [c.output_size] * 2
        for n, o in zip((h, w), outs, strict=True):
            kinds.add(
                "none"
                if o is None
                else "larger"
                if o > n
                else "divisible"
                if n % o == 0
                else "overlapping"
            )
        kinds.add(f"rank{len(c.shape)}")
    assert kinds >= {"none", "larger", "divisible", "overlapping", "rank3", "rank4"}
    assert len({(c.shape[-2:], str(c.output_size)) for c in SWEEP}) >= 80


# --------------------------------------------------------------------------- special values
NAN = np.nan


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("output_size", [(1, 1), (2, 3), (3, 2), 1, (None, 2), (4, 4)])
def test_nan_and_ties_like_torch(output_size: Any, dtype: str) -> None:
    """NaN anywhere in a window wins (its last one in row-major order gives the index), ties
    keep the first maximum, all -inf windows give -inf and their first element; onnxruntime's
    own MaxPool/ReduceMax would skip NaN depending on where it is."""
    x = np.array(
        [[1, NAN, 5, 5, 0], [4, 2, NAN, 7, 7], [-np.inf] * 5, [3, 3, 3, NAN, 1]], dtype=np.float64
    )
    x = np.stack([x, np.full_like(x, -np.inf), x[::-1].copy(), np.where(np.isnan(x), 6, x)])[None]
    case = Case("max", output_size, x.shape, True, dtype)
    model, want = build(case), torch_outputs(case, x.astype(dtype))
    for target in TARGETS:
        assert_matches(
            run_ort(model.to_onnx(target=target), {"x": x.astype(dtype)}), want, case, target
        )
    assert_matches(list(oracle.run(model, {"x": x.astype(dtype)}).values()), want, case, "oracle")
    avg = Case("avg", output_size, x.shape, dtype=dtype)
    check_fixed(avg, x.astype(dtype))


def check_fixed(case: Case, x: np.ndarray) -> None:
    model, want = build(case), torch_outputs(case, x)
    for target in TARGETS:
        assert_matches(run_ort(model.to_onnx(target=target), {"x": x}), want, case, target)
    assert_matches(list(oracle.run(model, {"x": x}).values()), want, case, "oracle")


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("output_size", [(3, 4), (8, 4), (1, 1), (None, 3)])
def test_single_nan_in_every_position(kind: str, output_size: Any) -> None:
    """One NaN (or +inf next to -inf for averages) at each position of a 8x8 plane."""
    for pos in range(0, 64, 7):
        x = np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8) - 30
        x.reshape(-1)[pos] = np.nan
        if kind == "avg":
            x.reshape(-1)[(pos + 9) % 64] = np.inf
            x.reshape(-1)[(pos + 20) % 64] = -np.inf
        check_fixed(Case(kind, output_size, x.shape, kind == "max"), x)


# --------------------------------------------------------------------------- dynamic dims
DYNAMIC = [
    Case("avg", (3, 4), (2, 3, 7, 9), dims=("N", 3, 7, 9)),
    Case("max", (3, 4), (2, 3, 7, 9), True, dims=("N", "C", 7, 9), values="special"),
    Case("avg", (3, 5), (2, 3, 7, 9), dims=("N", 3, "H", "W"), values="special"),
    Case("max", (3, 5), (2, 3, 7, 9), True, dims=("N", 3, "H", "W"), values="special"),
    Case("max", (None, 2), (2, 3, 7, 9), True, dims=("N", 3, "H", "W"), values="ties"),
    Case("max", 1, (2, 3, 7, 9), False, dims=("N", 3, "H", "W"), values="special"),
    Case("avg", (1, 1), (3, 7, 9), dims=("C", "H", "W")),
    Case("avg", (4, None), (3, 7, 9), dims=(3, "H", 9), dtype="float64"),
    Case("max", (5, 2), (3, 7, 9), True, dims=(3, "H", "W"), dtype="float16", values="minus_inf"),
    Case("avg", (2, 2), (2, 3, 8, 8), dims=("N", 3, 8, 8), dtype="float16"),
]


@pytest.mark.parametrize("case", DYNAMIC, ids=lambda c: f"{c} dims={c.dims}")
def test_dynamic_dims(case: Case) -> None:
    """One graph, several input sizes: dynamic batch (0 included) and dynamic H/W whose
    windows are computed in the graph."""
    sizes = [case.shape]
    lead = case.shape[:-2]
    if case.dims[-2] == "H" or case.dims[-1] == "W":
        h, w = case.shape[-2:]
        for dh, dw in ((5, 3), (12, 11), (1, 1), (16, 16)):
            sizes.append(
                (*lead, dh if case.dims[-2] == "H" else h, dw if case.dims[-1] == "W" else w)
            )
    if case.dims[0] == "N":
        sizes += [(5, *case.shape[1:]), (0, *case.shape[1:])]
    check_case(case, sizes=tuple(sizes))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_dynamic_empty_dims_fail_in_the_graph(kind: str, target: str) -> None:
    """torch's "non-zero size for non-batch dimensions" on dynamic dims: our guard node."""
    case = Case(kind, (3, 2), (2, 3, 7, 9), dims=("N", "C", "H", "W"))
    proto = build(case).to_onnx(target=target)
    bad = [(2, 3, 0, 9), (2, 3, 7, 0)] + ([(2, 0, 7, 9)] if kind == "max" else [])
    for shape in bad:
        with pytest.raises(Exception, match="'pool': expected an input with non-zero size"):
            run_ort(proto, {"x": np.zeros(shape, np.float32)})
    if kind == "avg":  # torch accepts C = 0 for averages
        assert run_ort(proto, {"x": np.zeros((2, 0, 7, 9), np.float32)})[0].shape == (2, 0, 3, 2)


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("output_size", [0, (0, 3), (None, 0), (2, 0)])
def test_output_size_zero_is_empty_like_torch(kind: str, output_size: Any) -> None:
    case = Case(kind, output_size, (2, 3, 5, 6), kind == "max")
    check_case(case)
    check_case(Case(kind, output_size, (2, 3, 5, 6), kind == "max", dims=("N", 3, "H", "W")))


@pytest.mark.parametrize("opset", [17, 18, 22])
@pytest.mark.parametrize("case", [SWEEP[0], SWEEP[1], DYNAMIC[3], DYNAMIC[2]], ids=str)
def test_other_opsets(case: Case, opset: int) -> None:
    sizes = (case.shape, (*case.shape[:-2], 5, 11)) if case.dims else ()
    check_case(case, opset=opset, sizes=sizes)


# --------------------------------------------------------------------------- lowering shape
def _ops(layer: Any, dims: tuple[Any, ...], target: str = "any") -> list[str]:
    x = Input("x", dims)
    out = layer(x)
    proto = Model([x], list(out) if isinstance(out, tuple) else [out]).to_onnx(target=target)
    return [n.op_type for n in proto.graph.node]


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_global_average_of_a_layers_output(dtype: str) -> None:
    """Inside a network (a layer's float32 output) 1x1 is ``GlobalAveragePool``: torch's
    means, NaN and infinities included."""
    x = Input("x", ("N", 16, 5, 7), dtype)
    proto = Model([x], [AdaptiveAvgPool2d(1)(Identity()(x))]).to_onnx()
    ops = [n.op_type for n in proto.graph.node]
    assert ("GlobalAveragePool" in ops) == (dtype == "float32"), ops
    data = np.random.default_rng(3).standard_normal((3, 16, 5, 7)).astype(dtype)
    data[0, :3, 1, 1] = [np.nan, np.inf, -np.inf]
    data[1, 4, 0, :2] = np.inf
    with torch.no_grad():
        want = torch.nn.AdaptiveAvgPool2d(1)(torch.from_numpy(data)).numpy()
    rtol, atol = torch_tolerance(dtype)
    np.testing.assert_allclose(run_ort(proto, {"x": data})[0], want, rtol, atol, equal_nan=True)


def test_fast_paths() -> None:
    """Plain pooling where torch's windows are a plain grid, free ``Reshape`` windows where an
    axis divides, copies where nothing changes; ``Gather`` only for overlapping windows."""
    assert _ops(AdaptiveAvgPool2d(1), ("N", 64, 7, 7)) == ["ReduceMean"]
    ops = _ops(AdaptiveAvgPool2d((1, 1)), ("N", 64, "H", "W"))  # and the size guard
    assert ops.count("ReduceMean") == 1 and "Gather" not in ops and "ReduceSum" not in ops
    assert _ops(AdaptiveAvgPool2d((7, 7)), ("N", 64, 14, 14)) == ["AveragePool"]
    ops = _ops(AdaptiveAvgPool2d((7, None)), ("N", 64, 7, "W"))  # a guard on W, a copy
    assert ops[-1] == "Identity" and not {"Gather", "ReduceSum", "AveragePool"} & set(ops)
    x = Input("x", ("N", 3, 8, 8))
    graph = Model([x], list(AdaptiveMaxPool2d(4, True)(x))).to_onnx().graph
    for branch in graph.node[-1].attribute:  # free Reshape windows, no gather
        ops = [n.op_type for n in branch.g.node]
        assert "Reshape" in ops and "Gather" not in ops and "MaxPool" not in ops
    x = Input("x", ("N", 3, 8, 12))
    graph = Model([x], [AdaptiveMaxPool2d((4, 3))(x)]).to_onnx().graph
    assert [n.op_type for n in graph.node] == ["ReduceSum", "Sub", "IsNaN", "If"]
    finite = next(a.g for a in graph.node[-1].attribute if a.name == "else_branch")
    assert [n.op_type for n in finite.node] == ["MaxPool"]
    x = Input("x", ("N", 3, 7, 9))
    graph = Model([x], [AdaptiveAvgPool2d((3, 4))(x)]).to_onnx().graph
    assert [n.op_type for n in graph.node] == ["ReduceSum", "Sub", "IsNaN", "If"]
    branches = {a.name: [n.op_type for n in a.g.node] for a in graph.node[-1].attribute}
    assert branches["else_branch"] == ["MatMul", "MatMul", "Div"]  # finite: window matrices
    assert {"Gather", "ReduceSum", "Div"} <= set(branches["then_branch"])  # NaN or inf: taps
    ops = _ops(AdaptiveAvgPool2d((3, 4)), ("N", 3, 7, 9), "cuda")
    assert "MatMul" not in ops and "Gather" in ops
    for target in TARGETS:  # indices: the finite branch skips the NaN codes
        x = Input("x", ("N", 3, 7, 9))
        y, i = AdaptiveMaxPool2d((3, 4), True)(x)
        graph = Model([x], [y, i]).to_onnx(target=target).graph
        assert [n.op_type for n in graph.node] == ["ReduceSum", "Sub", "IsNaN", "If"]
        branches = {a.name: [n.op_type for n in a.g.node] for a in graph.node[-1].attribute}
        for ops in branches.values():  # two stages, one index map
            assert "MaxPool" not in ops and ops.count("Gather") == 3
        assert "IsNaN" in branches["then_branch"] and "IsNaN" not in branches["else_branch"]


def test_stage_order_puts_the_last_axis_gather_on_less_data() -> None:
    """H windows first (a block copy that shrinks the data), then the element-wise W gather."""
    x = Input("x", ("N", 64, 56, 56))
    graph = Model([x], [AdaptiveAvgPool2d(9)(x)]).to_onnx(target="cuda").graph
    gathers = [
        next(a.i for a in n.attribute if a.name == "axis")
        for n in graph.node
        if n.op_type == "Gather"
    ]
    assert gathers == [2, 3]


def test_cuda_lowering_has_cuda_kernels() -> None:
    """Every node of the ``target="cuda"`` graphs has a CUDA kernel for its dtypes."""
    from onnxlayers.runtime.cuda_kernels import cuda_fallbacks

    for dtype in ("float32", "float16", "float64"):
        for dims in (("N", 3, 8, 12), ("N", 3, "H", "W")):
            layers = (
                AdaptiveAvgPool2d((3, 4)),
                AdaptiveAvgPool2d(1),
                AdaptiveAvgPool2d((2, 3)),
                AdaptiveMaxPool2d((3, 4), True),
                AdaptiveMaxPool2d((3, 5)),
                AdaptiveMaxPool2d(2),
                AdaptiveMaxPool2d(0, True),
            )
            for layer in layers:
                x = Input("x", dims, dtype)
                out = layer(x)
                model = Model([x], list(out) if isinstance(out, tuple) else [out])
                assert cuda_fallbacks(model.to_onnx(target="cuda")) == [], (layer, dims, dtype)


# --------------------------------------------------------------------------- arguments
OUTPUT_SIZES: list[Any] = [
    0,
    -1,
    3,
    (3,),
    (3, 4),
    [3, 4],
    (3, 4, 5),
    (None, 3),
    (None, None),
    (None,),
    [None, 2],
    (-1, 3),
    (None, -1),
    2.5,
    (2.5, 3),
    True,
    (True, 2),
    "3",
    None,
    np.int64(3),
    (np.int64(3), 2),
    (20, 1),
    torch.Size([3, 4]),
]
ARG_CASES = [
    Case(kind, out, shape, kind == "max")
    for kind in ("avg", "max")
    for out in OUTPUT_SIZES
    for shape in ((2, 3, 7, 9), (3, 7, 9))
]
ARG_CASES += [
    Case(kind, 3, shape)
    for kind in ("avg", "max")
    for shape in (
        (7, 9),
        (1, 2, 3, 7, 9),
        (0, 3, 7, 9),
        (2, 0, 7, 9),
        (2, 3, 0, 9),
        (2, 3, 7, 0),
        (0, 7, 9),
        (3, 0, 9),
        (3, 7, 0),
    )
]


def torch_accepts(case: Case) -> bool:
    try:
        torch_outputs(case, make_input(case.shape, case.dtype, "distinct", 0))
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize("case", ARG_CASES, ids=lambda c: f"{c.kind}{c.output_size!r}{c.shape}")
def test_accepts_and_rejects_like_torch(case: Case) -> None:
    """The accept/reject decision is torch's (at construction or while building); errors name
    the layer and the bad value."""
    if torch_accepts(case):
        model = build(case)
        x = make_input(case.shape, case.dtype, "distinct", 0)
        assert_matches(run_ort(model.to_onnx(), {"x": x}), torch_outputs(case, x), case, "ort")
        return
    with pytest.raises((BuildError, LayerTypeError)) as info:
        build(case)
    message = str(info.value)
    assert message.startswith(f"Adaptive{case.kind.capitalize()}Pool2d 'pool'"), message


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (
            lambda: AdaptiveAvgPool2d(-1),
            LayerArgumentError,
            "output_size=-1 is invalid; expected sizes >= 0",
        ),
        (
            lambda: AdaptiveMaxPool2d((3, 4, 5)),
            LayerArgumentError,
            "expected an int or a pair of ints or None",
        ),
        (lambda: AdaptiveAvgPool2d(2.5), LayerTypeError, "output_size=2.5 is invalid"),
        (lambda: AdaptiveMaxPool2d((3, "4")), LayerTypeError, "entry 1 is '4'"),
        (lambda: AdaptiveAvgPool2d(2)(Input("x", (4, 4))), ShapeError, "expected rank 3 or 4"),
        (lambda: AdaptiveMaxPool2d(2)(Input("x", (2, 0, 4, 4))), ShapeError, "zero-sized dim 1"),
        (lambda: AdaptiveAvgPool2d(2)(Input("x", (2, 3, 4, 0))), ShapeError, "zero-sized dim 3"),
        (
            lambda: AdaptiveAvgPool2d(2)(Input("x", (1, 2, 4, 4), "int64")),
            LayerTypeError,
            "dtype 'int64' is not supported",
        ),
    ],
)
def test_error_messages(make: Callable[[], Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value)
    assert str(info.value).startswith(("AdaptiveAvgPool2d", "AdaptiveMaxPool2d"))


# --------------------------------------------------------------------------- torch interop
@pytest.mark.parametrize(
    "module",
    [
        torch.nn.AdaptiveAvgPool2d((None, 3)),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.AdaptiveAvgPool2d([5, 4]),  # type: ignore[arg-type]
        torch.nn.AdaptiveMaxPool2d((3, 5)),
        torch.nn.AdaptiveMaxPool2d(2, return_indices=True),
    ],
    ids=repr,
)
def test_from_torch(module: torch.nn.Module) -> None:
    """``from_torch`` reads the module's arguments; the model (dynamic batch) equals torch."""
    model = from_torch(module, (2, 3, 8, 9))
    assert model.inputs[0].shape[0] == "N"
    x = make_input((3, 3, 8, 9), "float32", "special", 3)
    with torch.no_grad():
        want = module(torch.from_numpy(x))
    want = [t.numpy() for t in (want if isinstance(want, tuple) else (want,))]
    got = list(Session(model.to_onnx()).run({model.inputs[0].name: x}).values())
    ref = list(oracle.run(model, {model.inputs[0].name: x}).values())
    for a, b, r in zip(got, want, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(r, b, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_in_a_network_and_saved() -> None:
    """Conv -> AdaptiveAvgPool2d -> Flatten -> Linear from torch; the file rebuilds the layers."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d((3, None)),
        torch.nn.AdaptiveAvgPool2d((2, 3)),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 5),
    ).eval()
    try:
        model = from_torch(net, (1, 3, 11, 10))
    except Exception as e:  # Conv2d may not be registered in this checkout
        pytest.skip(f"network layers missing: {e}")
    x = make_input((2, 3, 11, 10), "float32", "distinct", 0) / 10
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    proto = model.to_onnx()
    again = Model.load(proto)
    assert [repr(v) for v in again.layers.values()] == [repr(v) for v in model.layers.values()]
    (got,) = Session(proto).run({model.inputs[0].name: x}).values()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_torch_args_rebuild_torch_modules() -> None:
    for layer in (
        AdaptiveAvgPool2d((None, 3)),
        AdaptiveMaxPool2d(4, True),
        AdaptiveMaxPool2d([2, None]),
    ):
        args = layer.torch_args()
        module = type(layer).torch_module(args)
        assert type(layer).args_from_module(module) == {
            k: tuple(v) if isinstance(v, list) else v for k, v in args.items()
        }
        assert repr(type(layer).from_torch_args(args)) == repr(layer)


# --------------------------------------------------------------------------- oracle
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_oracle_is_vectorised(kind: str) -> None:
    x = np.random.default_rng(0).standard_normal((8, 64, 56, 56)).astype(np.float32)
    fn = adaptive_max_pool2d if kind == "max" else adaptive_avg_pool2d
    start = time.perf_counter()
    fn(OracleCall({"output_size": [9, 13], "return_indices": True}, {}, [x], {}, False))
    assert time.perf_counter() - start < 1.5


def test_report_worst_errors() -> None:
    """Runs last in this module: the worst relative errors of averages seen above."""
    assert all(v < 1e-3 for v in WORST.values()), WORST
    print(f"worst relative error of averages vs torch: {WORST}")
