"""MaxPool2d / AvgPool2d against torch.nn: onnxruntime (CPU and CUDA lowerings) and the oracle.

Seeded sweeps cover kernel 1-4 (non-square), stride None/1-3, padding 0..k//2, dilation 1-3,
ceil_mode, count_include_pad, divisor_override, return_indices, rank 3 and 4, odd sizes down
to 1, 1-3 channels and 8 or 16 (onnxruntime's blocked NCHWc kernels), three dtypes, ties, NaN
and infinities, static and dynamic dims; the ``target="cuda"`` lowering runs on CPU too and
must give the same values. Every combination torch rejects must be rejected by us as well.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onnxlayers.builder import (
    DEFAULT_OPSET,
    BuildError,
    Input,
    LayerArgumentError,
    LayerTypeError,
    Model,
    ShapeError,
)
from onnxlayers.builder.args import pair, pool_geometry, pooling_output_shape
from onnxlayers.builder.layers.pooling import AvgPool2d, MaxPool2d
from onnxlayers.runtime import oracle
from onnxlayers.runtime.oracle import OracleCall
from onnxlayers.runtime.oracle.pooling import avg_pool2d, max_pool2d
from tests.helpers import run_ort, torch_tolerance

TARGETS = ("any", "cuda")


# --------------------------------------------------------------------------- helpers
@dataclass
class Case:
    """One pooling configuration: the layer kind, torch's keyword arguments, the input."""

    kind: str
    kwargs: dict[str, Any]
    shape: tuple[int, ...]
    dtype: str = "float32"
    values: str = "distinct"
    seed: int = 0
    dims: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def ours(self) -> Callable[..., Any]:
        return MaxPool2d if self.kind == "max" else AvgPool2d

    def torch_module(self) -> torch.nn.Module:
        cls = torch.nn.MaxPool2d if self.kind == "max" else torch.nn.AvgPool2d
        return cls(**self.kwargs)

    def __str__(self) -> str:
        return f"{self.kind}{self.kwargs} {self.shape} {self.dtype} {self.values}"


def make_input(shape: tuple[int, ...], dtype: str, values: str, seed: int) -> np.ndarray:
    """Distinct values (exact indices), ties, or distinct values with NaN and infinities."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if values == "ties":
        x = rng.integers(-2, 3, size).astype(np.float64)
    else:
        x = (rng.permutation(size) - size // 2) * 0.5  # type: ignore[assignment]  # exact in float16 for size <= 2048
    if values == "special" and size:
        k = max(1, size // 6)
        x[rng.choice(size, k, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], k)
    if values == "minus_inf" and size:
        x[rng.random(size) < 0.6] = -np.inf
    if values == "extreme" and size:  # the lowest float beside -inf, signed zeros, subnormals
        big = float(np.finfo(np.dtype(dtype)).max)
        x[rng.random(size) < 0.3] = -np.inf
        k = max(1, size // 4)
        picks = [np.nan, np.inf, -np.inf, -big, big, 0.0, -0.0, 1e-45, -1e-45]
        x[rng.choice(size, k, replace=False)] = rng.choice(picks, k)
    return x.reshape(shape).astype(dtype)


def torch_outputs(case: Case, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        out = case.torch_module()(torch.from_numpy(x))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def build(case: Case) -> Model:
    inp = Input("x", case.dims or case.shape, case.dtype)
    out = case.ours(**case.kwargs, name="pool")(inp)
    return Model([inp], list(out) if isinstance(out, tuple) else [out])


def assert_matches(got: list[np.ndarray], want: list[np.ndarray], case: Case, what: str) -> None:
    assert len(got) == len(want), f"{what} {case}: {len(got)} outputs, expected {len(want)}"
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        label = f"{what} {case} output {k}"
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{label}: {a.shape} {a.dtype} != {b.shape} {b.dtype}"
        )
        if case.kind == "max":  # values are copied, never computed: equal, NaN included
            np.testing.assert_array_equal(a, b, err_msg=label)
        else:
            rtol, atol = torch_tolerance(case.dtype)
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)


def check_case(
    case: Case,
    targets: tuple[str, ...] = TARGETS,
    sizes: tuple[tuple[int, ...], ...] = (),
    opset: int = DEFAULT_OPSET,
) -> None:
    """onnxruntime (each target) and the oracle give torch's outputs, for every input size."""
    model = build(case)
    protos = {t: model.to_onnx(opset, target=t) for t in targets}  # full_check=True inside
    for shape in sizes or (case.shape,):
        x = make_input(shape, case.dtype, case.values, case.seed)
        want = torch_outputs(case, x)
        for target, proto in protos.items():
            assert_matches(run_ort(proto, {"x": x}), want, case, f"onnxruntime[{target}] {shape}")
        assert_matches(list(oracle.run(model, {"x": x}).values()), want, case, f"oracle {shape}")


def torch_accepts(case: Case) -> bool:
    try:
        torch_outputs(case, make_input(case.shape, case.dtype, "distinct", 0))
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


def random_kwargs(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    def both(lo: int, hi: int) -> Any:
        a, b = (int(v) for v in rng.integers(lo, hi + 1, 2))
        return a if rng.random() < 0.4 else (a, b)

    kernel = both(1, 4)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    kwargs: dict[str, Any] = {
        "kernel_size": kernel,
        "stride": None if rng.random() < 0.25 else both(1, 3),
        "padding": (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))),
        "ceil_mode": bool(rng.random() < 0.5),
    }
    if kind == "max":
        kwargs["dilation"] = both(1, 3)
        kwargs["return_indices"] = bool(rng.random() < 0.6)
    else:
        kwargs["count_include_pad"] = bool(rng.random() < 0.5)
        kwargs["divisor_override"] = (
            None if rng.random() < 0.6 else int(rng.choice([1, 2, 3, 5, 7, 9, -4]))
        )
    return kwargs


def random_cases(
    kind: str,
    n: int,
    seed: int,
    dtypes: tuple[str, ...] = ("float32",),
    values: tuple[str, ...] = ("distinct",),
) -> list[Case]:
    """``n`` configurations torch accepts (odd sizes down to 1, rank 3 and 4)."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    while len(cases) < n:
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        lead = (int(rng.integers(1, 3)), int(rng.choice([1, 2, 3, 8, 16])))  # 8, 16: NCHWc
        shape = (*lead, h, w) if rng.random() < 0.7 else (lead[1], h, w)
        case = Case(
            kind,
            random_kwargs(kind, rng),
            shape,
            str(rng.choice(dtypes)),
            str(rng.choice(values)),
            int(rng.integers(1 << 16)),
        )
        if torch_accepts(case):
            cases.append(case)
    return cases


# --------------------------------------------------------------------------- parity sweeps
MAX_CASES = random_cases("max", 70, 1, values=("distinct", "distinct", "ties", "special"))
AVG_CASES = random_cases("avg", 70, 2, values=("distinct", "distinct", "ties", "special"))
DTYPE_CASES = random_cases(
    "max", 16, 3, ("float64", "float16"), ("distinct", "special")
) + random_cases("avg", 16, 4, ("float64", "float16"), ("distinct", "special"))


@pytest.mark.parametrize("case", MAX_CASES + AVG_CASES, ids=str)
def test_parity_float32(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", DTYPE_CASES, ids=str)
def test_parity_float64_float16(case: Case) -> None:
    check_case(case)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["max", "avg"]),
    seed=st.integers(0, 2**32 - 1),
    values=st.sampled_from(["distinct", "ties", "special", "minus_inf"]),
    dtype=st.sampled_from(["float32", "float64", "float16"]),
)
def test_parity_hypothesis(kind: str, seed: int, values: str, dtype: str) -> None:
    """Random configurations, the oracle and the CPU lowering against torch."""
    (case,) = random_cases(kind, 1, seed, (dtype,), (values,))
    check_case(case, targets=("any",))


SPECIAL_CASES = [
    # several NaNs in one window: torch keeps the last one's index
    Case("max", {"kernel_size": (1, 6), "return_indices": True}, (1, 1, 1, 6)),
    Case("max", {"kernel_size": 3, "stride": 1, "return_indices": True}, (1, 2, 5, 5)),
    # all -inf windows next to padding: -inf and the first valid element
    Case(
        "max",
        {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True},
        (2, 3, 6, 7),
        values="minus_inf",
    ),
    Case(
        "max", {"kernel_size": 2, "padding": 1, "ceil_mode": True}, (2, 3, 5, 5), values="minus_inf"
    ),
    # dilated windows that hold no element at all (torch: -inf, index past the plane)
    Case(
        "max",
        {"kernel_size": (2, 1), "padding": (1, 0), "dilation": (3, 1), "return_indices": True},
        (1, 2, 2, 2),
    ),
    Case(
        "max", {"kernel_size": 2, "padding": 1, "dilation": 3, "return_indices": True}, (2, 3, 2, 3)
    ),
    Case("max", {"kernel_size": 2, "padding": 1, "dilation": 3}, (3, 2, 3)),
    # ceil_mode windows hanging past the padding; count_include_pad clipping
    Case("avg", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 6, 6)),
    Case(
        "avg",
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 7},
        (2, 3, 6, 5),
        values="special",
    ),
    Case(
        "avg",
        {
            "kernel_size": (4, 3),
            "stride": (3, 2),
            "padding": (2, 1),
            "ceil_mode": True,
            "count_include_pad": False,
        },
        (2, 2, 8, 7),
    ),
    Case("avg", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 1, 5, 5)),
]


@pytest.mark.parametrize("case", SPECIAL_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_special_windows(case: Case, dtype: str) -> None:
    x = make_input(case.shape, "float64", case.values, case.seed)
    if case.kwargs.get("kernel_size") == (1, 6):
        x = np.array([1.0, np.nan, 5.0, np.nan, 2.0, 0.0]).reshape(case.shape)
    elif case.shape == (1, 2, 5, 5):
        x[0, 0, 1, 1] = x[0, 0, 1, 3] = x[0, 0, 2, 2] = x[0, 1, 4, 4] = np.nan
    spec = Case(case.kind, case.kwargs, case.shape, dtype, case.values, case.seed)
    if case.values == "minus_inf":
        check_case(spec)
    else:
        _check_fixed(spec, x.astype(dtype))


def _check_fixed(case: Case, x: np.ndarray) -> None:
    model, want = build(case), torch_outputs(case, x)
    for target in TARGETS:
        assert_matches(run_ort(model.to_onnx(target=target), {"x": x}), want, case, target)
    assert_matches(list(oracle.run(model, {"x": x}).values()), want, case, "oracle")


# --------------------------------------------------------------------------- after a layer
AFTER = [
    Case("max", {**c.kwargs, "return_indices": False}, c.shape, values=c.values, seed=c.seed)
    for c in random_cases("max", 48, 7, values=("distinct", "special", "minus_inf", "extreme"))
]
BEFORE = {"Identity": -np.inf, "ReLU": 0.0, "Hardtanh": -1.0}


@pytest.mark.parametrize("before", sorted(BEFORE))
def test_pool_of_a_layers_output(before: str) -> None:
    """A float32 pool of a tensor some layer wrote is lowered with no ``If`` (onnxruntime keeps
    its blocked layout through it): values exactly torch's, NaN, all -inf windows and the
    lowest float included, with the -inf fix where the layer's floor is -inf and without; also
    with dynamic H and W (run at two sizes) and at opset 17 (no dilated ``AveragePool``)."""
    from onnxlayers.builder import LAYERS

    without_if = 0
    for case in AFTER:
        layer = LAYERS[before]()
        assert layer.output_floor() == BEFORE[before]
        dynamic: tuple[int | str, ...] = (*case.shape[:-2], "H", "W")
        bigger = (*case.shape[:-2], case.shape[-2] + 3, case.shape[-1] + 2)
        cases: list[tuple[tuple[int | str, ...], int, list[tuple[int, ...]]]] = [
            (case.shape, DEFAULT_OPSET, [case.shape]),
            (dynamic, 17, [case.shape, bigger]),
        ]
        for dims, opset, sizes in cases:
            inp = Input("x", dims)
            proto = Model([inp], [MaxPool2d(**case.kwargs)(layer(inp))]).to_onnx(opset)
            without_if += dims == case.shape and "If" not in {n.op_type for n in proto.graph.node}
            for shape in sizes:
                x = make_input(shape, "float32", case.values, case.seed)
                with torch.no_grad():
                    twin = getattr(torch.nn, before)()
                    want = [case.torch_module()(twin(torch.from_numpy(x))).numpy()]
                label = f"onnxruntime after {before}, {dims} opset {opset}"
                assert_matches(run_ort(proto, {"x": x}), want, case, label)
    assert without_if >= 0.9 * len(AFTER), f"{without_if} of {len(AFTER)} lowered with no If"


def test_layer_floors_hold() -> None:
    """Every layer claiming a finite ``output_floor`` stays at or above it (or gives NaN) on
    torch's own outputs for -inf, the lowest float and other extremes."""
    from onnxlayers.builder import LAYERS

    big = float(np.finfo(np.float32).max)
    x = np.array([-np.inf, -big, -1e30, -88.0, -20.0, -1.0, -1e-45, -0.0, 0.0, 1.0, np.inf, np.nan])
    x = np.concatenate([x, np.linspace(-10, 10, 4001)]).astype(np.float32)
    feeds = [v.reshape(s) for v in (x, x[np.isfinite(x)]) for s in ((1, 1, 1, -1), (-1, 1, 1, 1))]
    checked = 0
    for cls in LAYERS.values():
        for example in cls.examples:
            layer = cls.from_torch_args(example.args)
            if not np.isfinite(layer.output_floor()):
                continue
            with torch.no_grad():
                ys = [cls.torch_module(example.args)(torch.from_numpy(v)).numpy() for v in feeds]
            low = min(y[~np.isnan(y)].min() for y in ys if not np.isnan(y).all())
            assert low >= layer.output_floor(), f"{layer!r}: {low!r} < {layer.output_floor()!r}"
            checked += 1
    assert checked >= 15, checked


# --------------------------------------------------------------------------- dynamic dims
DYNAMIC = [
    Case(
        "max",
        {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True},
        (2, 3, 9, 8),
        dims=("N", 3, "H", "W"),
    ),
    Case(
        "max",
        {
            "kernel_size": (2, 3),
            "stride": 1,
            "padding": 1,
            "dilation": (2, 3),
            "return_indices": True,
            "ceil_mode": True,
        },
        (2, 3, 9, 8),
        dims=("N", "C", "H", "W"),
    ),
    Case(
        "max",
        {"kernel_size": 2, "ceil_mode": True},
        (3, 9, 8),
        dims=("C", "H", 8),
        values="special",
    ),
    Case(
        "avg",
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 7},
        (2, 3, 9, 8),
        dims=("N", 3, "H", "W"),
    ),
    Case(
        "avg",
        {
            "kernel_size": (3, 2),
            "stride": (2, 3),
            "padding": (1, 1),
            "ceil_mode": True,
            "count_include_pad": False,
        },
        (2, 3, 9, 8),
        dims=("N", "C", "H", "W"),
    ),
    Case(
        "avg",
        {"kernel_size": 2, "count_include_pad": True, "padding": 1},
        (3, 9, 8),
        dims=(3, "H", "W"),
        dtype="float64",
    ),
    Case(
        "avg",
        {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        (2, 3, 9, 8),
        dims=("N", 3, "H", "W"),
        dtype="float16",
    ),
    # dilated windows with no element at all, found at run time
    Case(
        "max",
        {"kernel_size": 2, "padding": 1, "dilation": 3, "return_indices": True},
        (2, 3, 9, 3),
        dims=("N", 3, "H", "W"),
    ),
    Case(
        "max",
        {"kernel_size": 2, "padding": 1, "dilation": 3},
        (2, 3, 9, 3),
        dims=("N", 3, "H", "W"),
        values="special",
    ),
    # static W where ceil_mode drops a window, dynamic H: ONNX's inference has no drop rule
    Case(
        "max",
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True},
        (2, 3, 9, 7),
        dims=("N", 3, "H", 7),
        values="special",
    ),
    Case(
        "avg",
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": True},
        (2, 3, 9, 7),
        dims=("N", 3, "H", 7),
    ),
]


@pytest.mark.parametrize("case", DYNAMIC, ids=lambda c: f"{c} dims={c.dims}")
def test_dynamic_dims(case: Case) -> None:
    """One graph, several input sizes (N = 0, odd H/W, the smallest accepted)."""
    lead, w = case.shape[:-2], case.shape[-1]
    sizes = [(*lead, 9, w), (*lead, 5, w), (*lead, 12, w)]
    if case.dims[0] == "N":
        sizes.append((0, *lead[1:], 7, w))
    smallest = 1
    while not torch_accepts(Case(case.kind, case.kwargs, (*lead, smallest, w))):
        smallest += 1
    sizes.append((*lead, smallest, w))
    check_case(case, sizes=tuple(sizes))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", [DYNAMIC[0], DYNAMIC[1], DYNAMIC[4]], ids=str)
def test_dynamic_too_small_fails_in_the_graph(case: Case, target: str) -> None:
    """torch's "Output size is too small" and zero-sized dims fail with our node's name."""
    proto = build(case).to_onnx(target=target)
    small = [(2, 3, h, w) for h in range(1, 4) for w in range(1, 4)]
    bad = [s for s in small if not torch_accepts(Case(case.kind, case.kwargs, s))]
    bad += [(2, 3, 9, 0), (2, 3, 0, 8)] + ([(2, 0, 9, 8)] if case.dims[1] == "C" else [])
    for shape in bad:
        with pytest.raises(Exception, match="'pool': output size is too small"):
            run_ort(proto, {"x": np.zeros(shape, np.float32)})


def test_static_too_small_is_rejected_while_building() -> None:
    for layer in (MaxPool2d(5, name="p"), AvgPool2d(3, 2, ceil_mode=True, name="p")):
        with pytest.raises(ShapeError, match=r"'p': output size is too small.*\(1, 1, 1\)"):
            layer(Input("x", (1, 1, 1)))


@pytest.mark.parametrize("opset", [17, 18, 22])
@pytest.mark.parametrize(
    "case", [SPECIAL_CASES[2], SPECIAL_CASES[8], DYNAMIC[1], DYNAMIC[5]], ids=str
)
def test_other_opsets(case: Case, opset: int) -> None:
    """Every lowering target (``TARGETS``: "any" and "cuda"; there is no "cpu" one any more)."""
    check_case(
        case,
        targets=TARGETS,
        opset=opset,
        sizes=(case.shape, (*case.shape[:-2], 5, case.shape[-1])) if case.dims else (),
    )


def test_indices_read_the_input_once() -> None:
    """torch's plane indices come from MaxPool's own indices minus plane offsets (a broadcast
    Sub on the output), not from a second pass over the input; dynamic N and C still work."""
    x = Input("x", ("N", "C", 56, 56))
    y, i = MaxPool2d(3, 2, 1, return_indices=True)(x)
    graph = Model([x], [y, i]).to_onnx().graph
    top = [n.op_type for n in graph.node]
    assert "MaxPool" not in top and top.count("If") == 1
    (branch,) = [n for n in graph.node if n.op_type == "If"]
    finite = next(a.g for a in branch.attribute if a.name == "else_branch")
    ops = [n.op_type for n in finite.node]
    assert ops == ["MaxPool", "Sub"], ops


# --------------------------------------------------------------------------- arguments
INT_LIKE: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    (2, 3),
    [2],
    (1,),
    (),
    (2, 2, 2),
    (0, 2),
    (3, -1),
    2.0,
    True,
    "2",
    np.int64(2),
    (1.0, 2),
    None,
]
VARIATIONS: list[tuple[str, str, list[Any]]] = [
    ("both", "kernel_size", INT_LIKE),
    ("both", "stride", [None, (), 0, -1, 1, 2, (1, 3), (2,), (1, 1, 1), 1.5, False]),
    ("both", "padding", [-1, 0, 1, 2, (1, 0), (0, 2), (1,), (1, 1, 1), 1.0, None]),
    ("both", "ceil_mode", [True, False, 1, None, np.bool_(True)]),
    ("max", "dilation", [0, -2, 1, 2, (1, 3), (2,), (1, 1, 1), 1.5]),
    ("max", "return_indices", [True, 0, 1]),
    ("avg", "count_include_pad", [True, False, 0, None]),
    ("avg", "divisor_override", [None, 0, -1, 3, 2.5, True, np.int64(3), "3"]),
]
ARG_CASES = [
    Case(kind, {"kernel_size": 3, **{arg: v}}, (2, 3, 7, 8))
    for scope, arg, values in VARIATIONS
    for kind in ("max", "avg")
    if scope in ("both", kind)
    for v in values
    if not (arg == "kernel_size" and v is None)
]
ARG_CASES += [Case(c.kind, {**c.kwargs, "padding": 1}, c.shape) for c in ARG_CASES[:36]]
ARG_CASES += [
    Case(
        k,
        {"kernel_size": ks, "padding": p, "dilation": d}
        if k == "max"
        else {"kernel_size": ks, "padding": p},
        (1, 2, h, 5),
    )
    for k, ks, p, d, h in itertools.product(
        ("max", "avg"), (1, 2, 3, (4, 1)), (0, 1, 2), (1, 3), (1, 2, 4)
    )
]


def _ours(case: Case) -> None:
    case.ours(**case.kwargs, name="p")(Input("x", case.shape))


@pytest.mark.parametrize("case", ARG_CASES, ids=lambda c: f"{c.kind}{c.kwargs!r}{c.shape}")
def test_accepts_and_rejects_like_torch(case: Case) -> None:
    """The accept/reject decision is torch's; errors name the layer, the argument and value."""
    if torch_accepts(case):
        _ours(case)
        return
    with pytest.raises((BuildError, LayerTypeError)) as info:
        _ours(case)
    message = str(info.value)
    assert f"{case.ours.__name__} 'p'" in message, message
    names = [k for k in case.kwargs if k in message] + ["output size is too small"]
    assert any(n in message for n in names), message


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (
            lambda: MaxPool2d(0),
            LayerArgumentError,
            "kernel_size=0 is invalid; expected an int >= 1",
        ),
        (lambda: MaxPool2d((2, 2, 2)), LayerArgumentError, "a single int or a tuple of two ints"),
        (lambda: MaxPool2d(2.0), LayerTypeError, "kernel_size=2.0 is invalid"),
        (lambda: MaxPool2d(3, 0), LayerArgumentError, "stride=0 is invalid"),
        (lambda: MaxPool2d(3, dilation=(1, 0)), LayerArgumentError, "dilation[1]=0"),
        (lambda: MaxPool2d(3, padding=2), LayerArgumentError, "at most half the kernel_size"),
        (lambda: MaxPool2d(3, padding=-1), LayerArgumentError, "padding=-1 is invalid"),
        (
            lambda: MaxPool2d(3, ceil_mode=1),  # type: ignore[arg-type]
            LayerTypeError,
            "ceil_mode=1 is invalid",
        ),
        (
            lambda: AvgPool2d(3, divisor_override=0),
            LayerArgumentError,
            "divisor_override=0 is invalid; expected None or a non-zero int",
        ),
        (
            lambda: AvgPool2d(3, divisor_override=2.5),  # type: ignore[arg-type]
            LayerTypeError,
            "divisor_override=2.5",
        ),
        (lambda: MaxPool2d(2)(Input("x", (4, 4))), ShapeError, "expected rank 3 or 4"),
        (lambda: AvgPool2d(2)(Input("x", (1, 1, 1, 4, 4))), ShapeError, "expected rank 3 or 4"),
        (lambda: MaxPool2d(2)(Input("x", (2, 0, 4, 4))), ShapeError, "zero-sized dim 1"),
        (lambda: MaxPool2d(2)(Input("x", (0, 4, 4))), ShapeError, "zero-sized dim 0"),
        (
            lambda: MaxPool2d(2)(Input("x", (1, 2, 4, 4), "int64")),
            LayerTypeError,
            "dtype 'int64' is not supported",
        ),
    ],
)
def test_error_messages(make: Callable[[], Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value)
    assert str(info.value).startswith(("MaxPool2d", "AvgPool2d"))


def test_batch_of_zero_is_accepted() -> None:
    case = Case("max", {"kernel_size": 2, "return_indices": True}, (0, 3, 4, 4))
    check_case(case)


def test_normaliser_and_output_size() -> None:
    assert pair("X", "k", 3) == (3, 3) and pair("X", "k", [4]) == (4, 4)
    geo = pool_geometry("X", (3, 2), None, (1, 0), 2, True)
    assert geo.stride == (3, 2) and geo.span == (5, 3)
    for size, k, p, s, d, ceil in itertools.product(
        range(1, 9), range(1, 4), range(2), range(1, 4), range(1, 3), (False, True)
    ):
        if p > k // 2:
            continue
        x = torch.zeros(1, 1, size, 1)
        try:
            want = torch.nn.functional.max_pool2d(
                x, (k, 1), (s, 1), (p, 0), (d, 1), ceil_mode=ceil
            ).shape[2]
        except RuntimeError:
            want = None
        got = pooling_output_shape(size, k, p, s, d, ceil)
        assert (got if got >= 1 else None) == want, (size, k, p, s, d, ceil)


# --------------------------------------------------------------------------- models and files
def test_save_load_and_verify_the_file() -> None:
    """The layer program in the file rebuilds the layers; the oracle runs from the file."""
    x = Input("x", ("N", 3, 9, 8))
    y, i = MaxPool2d(3, 2, 1, 2, True, True, name="pool")(x)
    z = AvgPool2d((3, 2), 1, (1, 0), True, False, 3, name="avg")(y)
    model = Model([x], [z, i])
    proto = model.to_onnx()
    again = Model.load(proto)
    assert [repr(layer) for layer in again.layers.values()] == [
        repr(layer) for layer in model.layers.values()
    ]
    feeds = {"x": make_input((2, 3, 9, 8), "float32", "special", 5)}
    ours = run_ort(proto, feeds)
    ref = list(oracle.run(proto, feeds).values())
    with torch.no_grad():
        ty, ti = torch.nn.MaxPool2d(3, 2, 1, 2, True, True)(torch.from_numpy(feeds["x"]))
        tz = torch.nn.AvgPool2d((3, 2), 1, (1, 0), True, False, 3)(ty)
    for got in (ours, ref):
        np.testing.assert_allclose(got[0], tz.numpy(), rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(got[1], ti.numpy())


def test_layer_program_arguments_are_torchs() -> None:
    layer = AvgPool2d(3, None, 1, True, False, 7)
    assert layer.torch_args() == {
        "kernel_size": (3, 3),
        "stride": (3, 3),
        "padding": (1, 1),
        "ceil_mode": True,
        "count_include_pad": False,
        "divisor_override": 7,
    }
    torch.nn.AvgPool2d(**layer.torch_args())  # a valid torch constructor call
    torch.nn.MaxPool2d(**MaxPool2d(2, return_indices=True).torch_args())


# --------------------------------------------------------------------------- oracle, large inputs
LARGE_ARGS: dict[str, Any] = {
    "kernel_size": 3,
    "stride": 2,
    "padding": 1,
    "dilation": 1,
    "ceil_mode": True,
    "return_indices": True,
    "count_include_pad": True,
    "divisor_override": 7,
}


def _oracle_matches_torch(kind: str, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x.reshape(-1)[::997] = np.nan
    fn = max_pool2d if kind == "max" else avg_pool2d
    got = fn(OracleCall(LARGE_ARGS, {}, [x], {}, False))
    keys = ("kernel_size", "stride", "padding", "ceil_mode") + (
        ("dilation", "return_indices")
        if kind == "max"
        else ("count_include_pad", "divisor_override")
    )
    case = Case(kind, {k: LARGE_ARGS[k] for k in keys}, shape)
    assert_matches(got, torch_outputs(case, x), case, "oracle")


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_oracle_on_a_large_input(kind: str) -> None:
    """(8, 64, 56, 56), NaN included: torch's outputs (its speed is timed by
    ``benchmarks/bench_pool_unpool.py``, never asserted here)."""
    _oracle_matches_torch(kind, (8, 64, 56, 56))


@pytest.mark.slow
def test_oracle_benchmark_size() -> None:
    _oracle_matches_torch("max", (32, 64, 56, 56))


# --------------------------------------------------------------------------- onnxruntime's kernels
def _profiled_ops(proto: Any, x: np.ndarray, tmp_path: Any) -> set[str]:
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "pool")
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    session.run(None, {"x": x})
    with open(session.end_profiling(), encoding="utf-8") as f:
        return {e["args"]["op_name"] for e in json.load(f) if e.get("cat") == "Node"}


def test_finite_inputs_run_the_plain_max_pool_kernel(tmp_path: Any) -> None:
    """onnxruntime's NCHWc rewrite of a lone MaxPool reorders its input and output (two extra
    passes); the values lowering hides the channel count from it, so none runs."""
    x = Input("x", (2, 16, 8, 8))
    proto = Model([x], [MaxPool2d(2, 2)(x)]).to_onnx()
    ops = _profiled_ops(proto, make_input((2, 16, 8, 8), "float32", "distinct", 0), tmp_path)
    assert "MaxPool" in ops and not ops & {"ReorderInput", "ReorderOutput"}, ops


# --------------------------------------------------------------------------- CUDA
CUDA_CASES = [
    Case(
        "max",
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True},
        (2, 3, 8, 9),
        values="special",
    ),
    Case(
        "max",
        {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2, "return_indices": True},
        (2, 3, 9, 9),
    ),
    Case(
        "max",
        {"kernel_size": 2, "padding": 1, "dilation": 3, "return_indices": True},
        (2, 3, 2, 3),
        values="minus_inf",
    ),
    Case(
        "avg",
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
        (2, 3, 8, 9),
    ),
    Case(
        "avg",
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 7},
        (2, 3, 8, 9),
        values="special",
    ),
]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("case", CUDA_CASES, ids=str)
def test_cuda_provider(case: Case, dtype: str) -> None:
    """Asymmetric pads, ceil_mode and dilation with pads on CUDAExecutionProvider."""
    assert "CUDAExecutionProvider" in ort.get_available_providers()
    spec = Case(case.kind, case.kwargs, case.shape, dtype, case.values)
    x = make_input(spec.shape, dtype, spec.values, spec.seed)
    want = torch_outputs(spec, x)
    for target in TARGETS:
        got = run_ort(
            build(spec).to_onnx(target=target),
            {"x": x},
            providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        )
        assert_matches(got, want, spec, f"cuda[{target}]")
