"""Conv2d / ConvTranspose2d against torch.nn: onnxruntime (CPU and CUDA lowerings) and the oracle.

Seeded sweeps draw every argument at random (kernel 1-4 non-square, stride 1-3, padding ints,
"same" and "valid", dilation 1-3, groups including depthwise, bias, the four padding modes,
output_padding below the stride or the dilation, output_size, rank 3 and 4, sizes down to 1);
each configuration torch accepts runs on onnxruntime and on the oracle and is compared with
torch eager within 1e-4 of the output's scale (float32). Every configuration torch rejects must
be rejected while building, with our error classes. Dynamic dims, float64 / float16, NaN and
infinities, other opsets, ``output_size`` known only at run time, the graph's own size checks
for dynamic dims, ``from_torch``, ``from_weights`` and onnxruntime's Conv fusions are checked
too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

from onnxlayers.builder import (
    DEFAULT_OPSET,
    BuildError,
    Input,
    LayerTypeError,
    Model,
    ShapeError,
    from_torch,
)
from onnxlayers.builder.layers.conv import Conv2d, ConvTranspose2d
from onnxlayers.runtime import oracle
from onnxlayers.runtime.oracle import OracleCall
from onnxlayers.runtime.oracle.conv import conv2d as oracle_conv2d
from tests.helpers import run_ort

TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}
TOLERANCE = {"float32": 1e-4, "float64": 1e-10, "float16": 2e-3}
"""Allowed error relative to the output's scale (max |expected|, at least 1)."""
WORST: dict[str, float] = {}
"""Worst error / scale seen per (kind, dtype, runner): printed with ``pytest -s``."""


# --------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One configuration: the layer kind, torch's keyword arguments, the input, the call."""

    kind: str  # "conv" or "convt"
    kwargs: dict[str, Any]
    shape: tuple[int, ...]
    dtype: str = "float32"
    call: dict[str, Any] = field(default_factory=dict)
    dims: tuple[Any, ...] = ()
    values: str = "normal"
    seed: int = 0

    @property
    def ours_cls(self) -> Any:
        return Conv2d if self.kind == "conv" else ConvTranspose2d

    def torch_module(self) -> torch.nn.Module:
        cls = torch.nn.Conv2d if self.kind == "conv" else torch.nn.ConvTranspose2d
        torch.manual_seed(self.seed)
        module = cls(**self.kwargs)
        with torch.no_grad():  # non-trivial bias values
            if module.bias is not None:
                module.bias.uniform_(-1.0, 1.0)
        return module.to(TORCH_DTYPE[self.dtype]).eval()

    def __str__(self) -> str:
        call = f" call={self.call}" if self.call else ""
        dims = f" dims={self.dims}" if self.dims else ""
        return f"{self.kind}{self.kwargs} {self.shape} {self.dtype} {self.values}{call}{dims}"


def make_input(shape: tuple[int, ...], dtype: str, values: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if values == "special" and x.size:
        k = max(1, x.size // 10)
        x.reshape(-1)[rng.choice(x.size, k, replace=False)] = rng.choice(
            [np.nan, np.inf, -np.inf], k
        )
    return x.astype(dtype)


def torch_run(case: Case, x: np.ndarray, module: torch.nn.Module | None = None) -> np.ndarray:
    module = module or case.torch_module()
    with torch.no_grad():
        out: np.ndarray = module(torch.from_numpy(x), **case.call).numpy()
    return out


def torch_accepts(case: Case) -> tuple[int, ...] | None:
    """torch's output shape, or None where torch raises."""
    try:
        x = make_input(case.shape, case.dtype, "normal", 0)
        return tuple(torch_run(case, x).shape)
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        return None


def build(case: Case, module: torch.nn.Module | None = None) -> Model:
    ours = case.ours_cls(**case.kwargs, name="conv")
    if module is not None:
        ours.load_state_dict(
            {
                k: v.detach().float().numpy() if v.dtype == torch.float16 else v.detach().numpy()
                for k, v in module.state_dict().items()
            }
        )
    inp = Input("x", case.dims or case.shape, case.dtype)
    return Model([inp], [ours(inp, **case.call)])


def assert_close(got: np.ndarray, want: np.ndarray, case: Case, what: str) -> None:
    label = f"{what} {case}"
    assert got.shape == want.shape and got.dtype == want.dtype, (
        f"{label}: {got.shape} {got.dtype} != {want.shape} {want.dtype}"
    )
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{label}: NaN")
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite], err_msg=f"{label}: inf")
    if not finite.any():
        return
    g64, w64 = got[finite].astype(np.float64), want[finite].astype(np.float64)
    scale = max(1.0, float(np.abs(w64).max()))
    err = float(np.abs(g64 - w64).max()) / scale
    key = f"{case.kind} {case.dtype} {what.split()[0]}"
    WORST[key] = max(WORST.get(key, 0.0), err)
    assert err <= TOLERANCE[case.dtype], f"{label}: max error {err:.3g} x scale {scale:.3g}"


def check_case(
    case: Case,
    targets: tuple[str, ...] = ("any",),
    sizes: tuple[tuple[int, ...], ...] = (),
    opset: int | None = None,
) -> None:
    """onnxruntime (each target) and the oracle give torch's output, for every input size."""
    module = case.torch_module()
    model = build(case, module)
    protos = {t: model.to_onnx(opset or DEFAULT_OPSET, target=t) for t in targets}
    for shape in sizes or (case.shape,):
        x = make_input(shape, case.dtype, case.values, case.seed)
        want = torch_run(case, x, module)
        for target, proto in protos.items():
            (got,) = run_ort(proto, {"x": x})
            assert_close(got, want, case, f"onnxruntime[{target}] {shape}")
        (ref,) = oracle.run(model, {"x": x}).values()
        assert_close(ref, want, case, f"oracle {shape}")


def _both(rng: np.random.Generator, lo: int, hi: int) -> Any:
    a, b = (int(v) for v in rng.integers(lo, hi + 1, 2))
    return a if rng.random() < 0.5 else (a, b)


def _hw(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def random_conv(rng: np.random.Generator, dtypes: tuple[str, ...] = ("float32",)) -> Case:
    kind = rng.random()
    if kind < 0.2:  # depthwise (with a channel multiplier)
        groups = int(rng.integers(2, 6))
        cin, cout = groups, groups * int(rng.integers(1, 3))
    else:
        groups = 1 if kind < 0.6 else int(rng.integers(2, 4))
        cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kwargs: dict[str, Any] = {
        "in_channels": cin,
        "out_channels": cout,
        "kernel_size": _both(rng, 1, 4),
    }
    if rng.random() < 0.7:
        kwargs["stride"] = _both(rng, 1, 3)
    r = rng.random()
    kwargs["padding"] = "same" if r < 0.25 else "valid" if r < 0.35 else _both(rng, 0, 3)
    if kwargs["padding"] == "same" and rng.random() < 0.8:
        kwargs["stride"] = 1
    if rng.random() < 0.6:
        kwargs["dilation"] = _both(rng, 1, 3)
    if groups > 1 or rng.random() < 0.2:
        kwargs["groups"] = groups
    if rng.random() < 0.3:
        kwargs["bias"] = False
    kwargs["padding_mode"] = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
    h, w = (int(v) for v in rng.integers(1, 11, 2))
    shape = (int(rng.integers(1, 4)), cin, h, w) if rng.random() < 0.75 else (cin, h, w)
    return Case("conv", kwargs, shape, str(rng.choice(dtypes)), seed=int(rng.integers(1 << 16)))


def random_convt(rng: np.random.Generator, dtypes: tuple[str, ...] = ("float32",)) -> Case:
    groups = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kernel, stride, dilation = _both(rng, 1, 4), _both(rng, 1, 3), _both(rng, 1, 3)
    padding = _both(rng, 0, 3)
    kwargs: dict[str, Any] = {
        "in_channels": cin,
        "out_channels": cout,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }
    s, d = _hw(stride), _hw(dilation)
    if rng.random() < 0.75:  # usually valid: below the stride or the dilation
        kwargs["output_padding"] = tuple(int(rng.integers(0, max(s[i], d[i]))) for i in (0, 1))
    elif rng.random() < 0.5:
        kwargs["output_padding"] = _both(rng, 0, 3)
    if groups > 1:
        kwargs["groups"] = groups
    if rng.random() < 0.3:
        kwargs["bias"] = False
    h, w = (int(v) for v in rng.integers(1, 7, 2))
    batched = rng.random() < 0.75
    shape = (int(rng.integers(1, 4)), cin, h, w) if batched else (cin, h, w)
    call: dict[str, Any] = {}
    if rng.random() < 0.25:
        k, p = _hw(kernel), _hw(padding)
        lows = [
            (size - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i, size in enumerate((h, w))
        ]
        size = tuple(
            lo + int(rng.integers(0, s[i] + (1 if rng.random() < 0.1 else 0)))
            for i, lo in enumerate(lows)
        )
        call["output_size"] = (*shape[:-3], cout, *size) if rng.random() < 0.3 else size
    return Case(
        "convt", kwargs, shape, str(rng.choice(dtypes)), call, seed=int(rng.integers(1 << 16))
    )


def sweep(make: Any, n: int, seed: int, **kw: Any) -> tuple[list[Case], list[Case]]:
    """``n`` configurations torch accepts, and those it rejected on the way."""
    rng = np.random.default_rng(seed)
    accepted: list[Case] = []
    rejected: list[Case] = []
    while len(accepted) < n:
        case = make(rng, **kw)
        out = torch_accepts(case)
        if out is None or 0 in out[-2:]:  # torch's mkldnn path accepts an empty output dim
            rejected.append(case)
        else:
            accepted.append(case)
    return accepted, rejected


CONV_CASES, CONV_REJECTED = sweep(random_conv, 160, 1)
CONVT_CASES, CONVT_REJECTED = sweep(random_convt, 70, 2)


# --------------------------------------------------------------------------- parity sweeps
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_parity(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d_parity(case: Case) -> None:
    check_case(case)


def test_sweeps_cover_every_argument() -> None:
    """The random draws reach every interesting value at least once."""
    kw = [c.kwargs for c in CONV_CASES]
    assert {k.get("padding_mode") for k in kw} == {"zeros", "reflect", "replicate", "circular"}
    assert any(k["padding"] == "same" and max(_hw(k["kernel_size"])) % 2 == 0 for k in kw)
    assert any(k["padding"] == "valid" for k in kw)
    assert any(k.get("groups", 1) == k["in_channels"] > 1 for k in kw)  # depthwise
    assert any(max(_hw(k.get("dilation", 1))) > 1 and max(_hw(k.get("stride", 1))) > 1 for k in kw)
    assert {len(c.shape) for c in CONV_CASES + CONVT_CASES} == {3, 4}
    tkw = [c.kwargs for c in CONVT_CASES]
    assert any(
        any(o >= s for o, s in zip(_hw(k.get("output_padding", 0)), _hw(k["stride"]), strict=True))
        for k in tkw
    )
    assert sum("output_size" in c.call for c in CONVT_CASES) >= 10
    assert len(CONV_REJECTED) >= 20 and len(CONVT_REJECTED) >= 10


# 30 of the sweeps again with the CUDA lowering, run on CPU, plus float64 and float16
CUDA_CASES = CONV_CASES[:20] + CONVT_CASES[:10]
DTYPE_CASES = (
    sweep(random_conv, 12, 3, dtypes=("float64", "float16"))[0]
    + sweep(random_convt, 8, 4, dtypes=("float64", "float16"))[0]
)


@pytest.mark.parametrize("case", CUDA_CASES, ids=str)
def test_cuda_lowering_on_cpu(case: Case) -> None:
    check_case(case, targets=("cuda",))


@pytest.mark.parametrize("case", DTYPE_CASES, ids=str)
def test_float64_float16(case: Case) -> None:
    check_case(case, targets=("any", "cuda"))


# --------------------------------------------------------------------------- special values
SPECIAL = [
    Case(
        "conv",
        {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1},
        (2, 3, 6, 6),
        values="special",
    ),
    Case(
        "conv",
        {
            "in_channels": 4,
            "out_channels": 4,
            "kernel_size": 2,
            "groups": 4,
            "padding_mode": "reflect",
            "padding": 1,
        },
        (1, 4, 5, 5),
        values="special",
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 3,
            "padding": "same",
            "padding_mode": "circular",
            "dilation": 2,
        },
        (2, 6, 7),
        values="special",
    ),
    Case(
        "convt",
        {
            "in_channels": 3,
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
        },
        (2, 3, 4, 4),
        values="special",
    ),
    Case(
        "convt",
        {"in_channels": 2, "out_channels": 2, "kernel_size": 2, "dilation": 3, "output_padding": 2},
        (1, 2, 3, 3),
        values="special",
    ),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("case", SPECIAL, ids=str)
def test_nan_and_infinities(case: Case, dtype: str) -> None:
    """NaN and +-inf propagate as in torch (0 * inf is NaN; sums of opposite infinities too)."""
    check_case(
        Case(case.kind, case.kwargs, case.shape, dtype, values="special", seed=5),
        targets=("any", "cuda"),
    )


def test_zero_weights_times_infinity_is_nan() -> None:
    case = Case(
        "conv", {"in_channels": 1, "out_channels": 1, "kernel_size": 2, "bias": False}, (1, 1, 3, 3)
    )
    module = case.torch_module()
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[[[0.0, 1.0], [2.0, 0.0]]]]))  # type: ignore[operator]
    model = build(case, module)
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    x[0, 0, 0, 0] = np.inf
    want = torch_run(case, x, module)
    assert np.isnan(want[0, 0, 0, 0])
    for target in ("any", "cuda"):
        assert_close(run_ort(model.to_onnx(target=target), {"x": x})[0], want, case, target)
    assert_close(oracle.run(model, {"x": x})["output"], want, case, "oracle")


# --------------------------------------------------------------------------- dynamic dims
DYNAMIC = [
    Case(
        "conv",
        {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
        (2, 3, 9, 8),
        dims=("N", 3, 9, 8),
    ),
    Case(
        "conv",
        {
            "in_channels": 4,
            "out_channels": 4,
            "kernel_size": (3, 2),
            "groups": 2,
            "padding": "same",
            "dilation": (1, 2),
        },
        (2, 4, 9, 8),
        dims=("N", 4, "H", "W"),
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 3,
            "kernel_size": 3,
            "padding": 2,
            "padding_mode": "replicate",
            "stride": (2, 1),
        },
        (2, 2, 9, 8),
        dims=("N", "C", "H", "W"),
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 3,
            "padding": 1,
            "padding_mode": "reflect",
        },
        (2, 9, 8),
        dims=(2, "H", 8),
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 4,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "dilation": 2,
            "groups": 2,
        },
        (2, 2, 9, 8),
        "float64",
        dims=("N", 2, "H", "W"),
    ),
    Case(
        "convt",
        {
            "in_channels": 3,
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
        },
        (2, 3, 4, 5),
        dims=("N", 3, 4, 5),
    ),
    Case(
        "convt",
        {
            "in_channels": 4,
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 2,
            "padding": 2,
            "dilation": 2,
            "groups": 2,
        },
        (2, 4, 4, 5),
        dims=("N", 4, "H", "W"),
    ),
    Case(
        "convt",
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 2,
            "stride": 1,
            "dilation": 3,
            "output_padding": 2,
        },
        (2, 2, 4, 5),
        dims=("N", 2, "H", "W"),
    ),
    Case(
        "convt",
        {
            "in_channels": 2,
            "out_channels": 3,
            "kernel_size": 3,
            "stride": 3,
            "padding": 1,
            "output_padding": (2, 1),
        },
        (2, 2, 4, 5),
        "float64",
        dims=("N", 2, "H", "W"),
    ),
    Case(
        "convt",
        {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2},
        (2, 2, 4, 5),
        dims=("N", 2, 4, 5),
        call={"output_size": (10, 12)},
    ),
]


@pytest.mark.parametrize("case", DYNAMIC, ids=str)
def test_dynamic_dims(case: Case) -> None:
    """One graph, several input sizes (N = 0 included where the batch is dynamic)."""
    lead, (h, w) = case.shape[:-2], case.shape[-2:]
    sizes = [case.shape]
    dh, dw = (isinstance(d, str) for d in case.dims[-2:])
    if dh or dw:
        sizes += [(*lead, h + 3 * dh, w), (*lead, h + 1 * dh, w + 2 * dw)]
    if case.dims[0] == "N":
        sizes += [(3, *case.shape[1:]), (0, *case.shape[1:])]
    check_case(case, targets=("any", "cuda"), sizes=tuple(sizes))


GUARDED = [
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 1,
            "kernel_size": 3,
            "dilation": (2, 1),
            "padding": (1, 0),
        },
        (1, 2, 5, 5),
        dims=("N", "C", "H", "W"),
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 1,
            "kernel_size": 2,
            "padding": 2,
            "padding_mode": "reflect",
        },
        (1, 2, 5, 5),
        dims=("N", 2, "H", "W"),
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 1,
            "kernel_size": 1,
            "padding": 2,
            "padding_mode": "circular",
        },
        (2, 5, 5),
        dims=(2, "H", "W"),
    ),
    Case(
        "convt",
        {"in_channels": 2, "out_channels": 1, "kernel_size": 1, "padding": 3, "stride": 2},
        (1, 2, 5, 5),
        dims=("N", 2, "H", "W"),
    ),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", GUARDED, ids=str)
def test_dynamic_too_small_input_fails_at_run_time(case: Case, dtype: str) -> None:
    """torch's size checks, where H / W / C are dynamic, fail in a node named after the layer
    (the float64 lowering would otherwise return an empty tensor)."""
    case = Case(case.kind, case.kwargs, case.shape, dtype, dims=case.dims)
    proto = build(case).to_onnx()
    lead = case.shape[:-2]
    small = [(*lead, h, w) for h in range(0, 5) for w in (0, 1, 5)]
    if case.dims[-3] == "C":
        small.append((case.shape[0], 3, 5, 5))
    rejected = [s for s in small if torch_accepts(Case(case.kind, case.kwargs, s)) is None]
    assert rejected
    for shape in rejected:
        with pytest.raises(Exception, match=r"'conv': the input \(C, H, W\) must have"):
            run_ort(proto, {"x": np.zeros(shape, dtype)})
    for shape in set(small) - set(rejected):
        run_ort(proto, {"x": np.zeros(shape, dtype)})


def test_output_size_known_at_run_time() -> None:
    """``output_size`` from a tensor whose H / W are dynamic, or with a dynamic input: the
    widest output sliced to the size, torch's range checked in the graph."""
    for dtype in ("float32", "float64"):
        layer = ConvTranspose2d(2, 3, 3, stride=3, padding=1, dilation=2, seed=0, name="up")
        x, skip = Input("x", ("N", 2, "H", "W"), dtype), Input("skip", ("N", 3, "H2", "W2"))
        y = layer(x, output_size=skip.shape)
        assert y.shape == ("N", 3, "H2", "W2")
        x2 = Input("x", ("N", 2, "H", 3), dtype)
        z = layer(x2, output_size=(13, 9))
        assert z.shape == ("N", 3, 13, 9)
        by_shape, by_ints = Model([x, skip], [y]), Model([x2], [z])
        twin = torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1, dilation=2)
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
        twin = twin.to(TORCH_DTYPE[dtype])
        case = Case("convt", {}, (2, 2, 4, 3), dtype)
        protos = [m.to_onnx(target=t) for m in (by_shape, by_ints) for t in ("any", "cuda")]
        # input (4, 3): valid sizes (12..14, 9..11); input (4, 4): (12..14, 12..14)
        for (h, w), size in [((4, 3), (13, 9)), ((4, 3), (12, 11)), ((4, 4), (14, 12))]:
            xs = make_input((2, 2, h, w), dtype, "normal", h)
            feeds = {"x": xs, "skip": np.zeros((2, 3, *size), np.float32)}
            with torch.no_grad():
                want = twin(torch.from_numpy(xs), output_size=size).numpy()
            for proto in protos[:2]:
                assert_close(run_ort(proto, feeds)[0], want, case, "onnxruntime")
            assert_close(oracle.run(by_shape, feeds)["output"], want, case, "oracle")
            if size == (13, 9):
                for proto in protos[2:]:
                    assert_close(run_ort(proto, {"x": xs})[0], want, case, "onnxruntime")
        for h, size in [(4, (15, 9)), (4, (11, 9)), (4, (13, 12)), (5, (13, 9))]:  # out of range
            x_bad = np.zeros((1, 2, h, 3), dtype)
            feeds = {"x": x_bad, "skip": np.zeros((1, 3, *size), np.float32)}
            with pytest.raises(Exception, match="output_size must lie in torch's range"):
                run_ort(protos[0], feeds)
        with pytest.raises(Exception, match="output_size must lie in torch's range"):
            run_ort(protos[2], {"x": np.zeros((1, 2, 5, 3), dtype)})


def test_output_size_errors_while_building() -> None:
    layer = ConvTranspose2d(2, 2, 3, stride=2, name="up")
    with pytest.raises(LayerTypeError, match=r"'up'.*expected ints"):
        layer(Input("x", ("N", 2, 4, 4)), output_size=("H", 9))
    with pytest.raises(BuildError, match=r"'up'.*valid sizes along spatial dim 1"):
        layer(Input("x", ("N", 2, "H", 4)), output_size=(9, 12))


def test_output_size_as_a_whole_shape() -> None:
    """``output_size=t.shape`` (4 dims, batch dynamic) and positional, as torch allows."""
    layer = ConvTranspose2d(2, 3, 3, stride=2, padding=1, seed=0, name="up")
    x, skip = Input("x", ("N", 2, 4, 5)), Input("skip", ("N", 3, 8, 10))
    y = layer(x, skip.shape)
    assert y.shape == ("N", 3, 8, 10)
    model = Model([x, skip], [y])
    xs = make_input((2, 2, 4, 5), "float32", "normal", 0)
    feeds = {"x": xs, "skip": np.zeros((2, 3, 8, 10), np.float32)}
    twin = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    with torch.no_grad():
        want = twin(torch.from_numpy(xs), output_size=(2, 3, 8, 10)).numpy()
    case = Case("convt", {}, (2, 2, 4, 5))
    assert_close(run_ort(model.to_onnx(), feeds)[0], want, case, "onnxruntime")
    assert_close(oracle.run(model, feeds)["output"], want, case, "oracle")
    again = Model.load(model.to_onnx())
    np.testing.assert_array_equal(
        oracle.run(again, feeds)["output"], oracle.run(model, feeds)["output"]
    )


# --------------------------------------------------------------------------- opsets
OPSET_CASES = [
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 3,
            "kernel_size": 3,
            "padding": (1, 2),
            "padding_mode": "circular",
        },
        (2, 2, 5, 6),
    ),
    Case(
        "conv",
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 4,
            "padding": "same",
            "padding_mode": "circular",
            "groups": 2,
        },
        (2, 5, 6),
        dims=(2, "H", "W"),
    ),
    Case(
        "convt",
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 2,
            "dilation": 3,
            "output_padding": 2,
            "padding": 1,
        },
        (2, 2, 5, 6),
        "float64",
    ),
]


@pytest.mark.parametrize("opset", [17, 18, 22])
@pytest.mark.parametrize("case", OPSET_CASES, ids=str)
def test_other_opsets(case: Case, opset: int) -> None:
    """Circular padding without Pad's "wrap" (opset < 19) is Slice + Concat."""
    check_case(case, targets=("any", "cuda"), opset=opset)


# --------------------------------------------------------------------------- rejections
def _ours(case: Case) -> None:
    inp = Input("x", case.shape, case.dtype)
    case.ours_cls(**case.kwargs, name="c")(inp, **case.call)


def _assert_rejected(case: Case) -> None:
    with pytest.raises((BuildError, LayerTypeError)) as info:
        _ours(case)
    assert f"{case.ours_cls.__name__} 'c'" in str(info.value), str(info.value)


@pytest.mark.parametrize("case", CONV_REJECTED + CONVT_REJECTED, ids=str)
def test_sweep_rejections_like_torch(case: Case) -> None:
    """Everything the sweeps drew that torch refused is refused while building."""
    _assert_rejected(case)


ARG_VALUES: list[tuple[str, str, list[Any]]] = [
    (
        "both",
        "kernel_size",
        [0, -1, 1, (2, 3), [2, 1], (3,), (), (2, 2, 2), (0, 2), 2.0, np.int64(2), "3"],
    ),
    ("both", "stride", [0, -1, 2, (1, 3), (2,), (1, 1, 1), (), 1.5, np.int64(2)]),
    ("both", "padding", [-1, 0, 1, (1, 0), (2,), (1, 1, 1), 1.0, "same", "valid", "SAME", "foo"]),
    ("both", "dilation", [0, -2, 2, (1, 3), (2,), (1, 1, 1), 1.5]),
    ("both", "groups", [0, -1, 2, 3, 4, 2.0, np.int64(2)]),
    ("both", "in_channels", [-1, 3, 2.0, np.int64(4)]),
    ("both", "out_channels", [0, -2, 6, 5, 2.0]),
    ("both", "padding_mode", ["zeros", "reflect", "replicate", "circular", "foo", "Zeros"]),
    ("convt", "output_padding", [-1, 0, 1, 2, 3, (0, 1), (1,), (1, 1, 1), 1.5]),
]
ARG_CASES = [
    Case(
        kind, {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **extra, arg: v}, (2, 4, 7, 8)
    )
    for scope, arg, values in ARG_VALUES
    for kind in ("conv", "convt")
    if scope in ("both", kind)
    for v in values
    for extra in ([{}, {"stride": 2}] if arg in ("padding", "output_padding") else [{}])
]
ARG_CASES += [
    Case(
        kind,
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": k,
            "padding": p,
            "dilation": d,
            **({"padding_mode": m} if kind == "conv" else {}),
        },
        (1, 2, h, 5),
    )
    for kind, k, p, d, h, m in itertools.product(
        ("conv", "convt"),
        (3, (4, 1)),
        (0, 2, 3),
        (1, 3),
        (1, 3),
        ("zeros", "reflect", "circular"),
    )
    if not (kind == "convt" and m != "zeros")
]
ARG_CASES += [
    Case(
        "conv",
        {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": (1,), "padding_mode": m},
        (1, 2, 5, 5),
    )
    for m in ("zeros", "reflect", "replicate", "circular")
]
ARG_CASES += [
    Case(
        "convt",
        {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "stride": 2, **op},
        shape,
        call={"output_size": size},
    )
    for shape in ((1, 2, 4, 4), (2, 4, 4))
    for size in ((9, 9), (10, 9), (8, 9), (11, 9), (2, 9, 9), (1, 2, 9, 9), (9,), (1, 2, 3, 9, 9))
    for op in ({}, {"output_padding": 5})
]
ARG_CASES += [
    Case(kind, {"in_channels": 2, "out_channels": 2, "kernel_size": 2}, shape)
    for kind in ("conv", "convt")
    for shape in (
        (2, 2),
        (1, 1, 2, 4, 4),
        (0, 2, 4, 4),
        (1, 2, 0, 4),
        (2, 4, 0),
        (1, 3, 4, 4),
        (3, 4, 4),
    )
]


@pytest.mark.parametrize("case", ARG_CASES, ids=str)
def test_accepts_and_rejects_like_torch(case: Case) -> None:
    """The accept / reject decision is torch's (bools and in_channels=0 aside: see below)."""
    if torch_accepts(case) is not None:
        _ours(case)
    else:
        _assert_rejected(case)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Conv2d(3, 4, 0), BuildError, "kernel_size=0 is invalid; expected an int >= 1"),
        (lambda: Conv2d(3, 4, (3,)), BuildError, "kernel_size=(3,) is invalid"),
        (lambda: Conv2d(3, 4, 3, groups=2), BuildError, "in_channels=3 is invalid"),
        (lambda: Conv2d(3, 4, 3, padding="same", stride=2), BuildError, "padding='same'"),
        (lambda: Conv2d(3, 4, 3, padding_mode="wrap"), BuildError, "padding_mode='wrap'"),
        (lambda: Conv2d(0, 4, 3), BuildError, "in_channels=0 is invalid"),
        (lambda: Conv2d(True, 4, 3), LayerTypeError, "in_channels=True"),
        (lambda: Conv2d(3, 4, True), LayerTypeError, "kernel_size=True"),
        (lambda: Conv2d(3, 4, 3, dtype="int64"), BuildError, "dtype='int64'"),
        (lambda: ConvTranspose2d(3, 4, 3, padding_mode="reflect"), BuildError, "'zeros'"),
        (lambda: ConvTranspose2d(3, 4, 3, padding="same"), LayerTypeError, "padding strings"),
        (lambda: Conv2d(3, 4, 3)(Input("x", (1, 4, 5, 5))), ShapeError, "has 4 channels"),
        (
            lambda: Conv2d(3, 4, 3, dilation=2)(Input("x", (3, 4, 9))),
            ShapeError,
            "kernel size can't be greater",
        ),
        (
            lambda: Conv2d(3, 4, 3, padding=3, padding_mode="reflect")(Input("x", (3, 3, 9))),
            ShapeError,
            "padding_mode='reflect'",
        ),
        (lambda: Conv2d(3, 4, 3)(Input("x", (3, 5, 5), "int64")), LayerTypeError, "int64"),
        (
            lambda: ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)(Input("x", (2, 4, 4))),
            BuildError,
            "smaller than either stride=(2, 2) or dilation=(1, 1)",
        ),
        (
            lambda: ConvTranspose2d(2, 2, 3, stride=2)(Input("x", (2, 4, 4)), output_size=(12, 9)),
            BuildError,
            "spatial dim 0 range from 9 to 10",
        ),
        (
            lambda: ConvTranspose2d(2, 2, 1, padding=1)(Input("x", (2, 2, 2))),
            ShapeError,
            "output size is too small",
        ),
    ],
)
def test_error_messages(make: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value), str(info.value)


def test_deliberate_differences_from_torch() -> None:
    """Where torch's acceptance is an accident we refuse, with a clear error.

    torch accepts ``in_channels=0`` (and returns an (N, 0, H', W') tensor whatever
    out_channels is), bools as ``kernel_size`` / ``in_channels`` (but not as ``stride`` or
    ``out_channels``), and, on its float32 oneDNN path only, a transposed convolution whose
    output has one zero-sized spatial dim (its float64 / float16 / dilated paths refuse it).
    """
    with pytest.raises(BuildError):
        Conv2d(0, 4, 3)
    with pytest.raises(LayerTypeError):
        Conv2d(3, 4, True)
    empty = Case(
        "convt", {"in_channels": 2, "out_channels": 3, "kernel_size": 4, "padding": 2}, (1, 2, 1, 5)
    )
    assert torch_accepts(empty) == (1, 3, 0, 4)
    with pytest.raises(ShapeError, match="output size is too small"):
        _ours(empty)


# --------------------------------------------------------------------------- construction
def test_init_like_torch() -> None:
    """kaiming_uniform(a=sqrt(5)): weight and bias in +-1/sqrt(fan_in), seeded."""
    for layer, fan_in in (
        (Conv2d(6, 8, (3, 2), groups=2, seed=1), 3 * 3 * 2),
        (ConvTranspose2d(6, 8, (3, 2), groups=2, seed=1), 4 * 3 * 2),
    ):
        bound = 1 / np.sqrt(fan_in)
        for p in (layer.weight, layer.bias):
            assert p.dtype == np.float32 and np.abs(p).max() <= bound
            assert np.abs(p).max() > 0.8 * bound
    np.testing.assert_array_equal(Conv2d(3, 4, 3, seed=7).weight, Conv2d(3, 4, 3, seed=7).weight)
    assert Conv2d(3, 4, 3, dtype=torch.float64).weight.dtype == np.float64
    assert ConvTranspose2d(3, 4, 3, dtype="float16").bias.dtype == np.float16


@pytest.mark.parametrize("kind", ["conv", "convt"])
def test_torch_args_round_trip(kind: str) -> None:
    cls = Conv2d if kind == "conv" else ConvTranspose2d
    extra: dict[str, Any] = (
        {"padding": "same", "padding_mode": "circular"}
        if kind == "conv"
        else {"padding": (1, 2), "output_padding": (1, 0), "stride": 2}
    )
    layer = cls(4, 6, (3, 2), dilation=(1, 2), groups=2, bias=False, **extra)
    args = layer.torch_args()
    again = cls.from_torch_args(args)
    assert again.torch_args() == args and again.param_shapes() == layer.param_shapes()
    twin = cls.torch_module(args)
    assert {k: tuple(v.shape) for k, v in twin.state_dict().items()} == layer.param_shapes()


@pytest.mark.parametrize("kind", ["conv", "convt"])
def test_from_weights(kind: str) -> None:
    """The functional twins' layers: shapes from the weight, torch's other arguments."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 7)).astype(np.float32)
    args: dict[str, Any]
    layer: Conv2d | ConvTranspose2d
    if kind == "conv":
        w, b = rng.standard_normal((6, 2, 3, 2)).astype(np.float32), rng.standard_normal(6)
        args = {"stride": 2, "padding": (1, 0), "dilation": (1, 2), "groups": 2}
        layer = Conv2d.from_weights(w, b.astype(np.float32), **args)
        want = torch.nn.functional.conv2d(
            torch.from_numpy(x),
            torch.from_numpy(w),
            torch.from_numpy(b.astype(np.float32)),
            stride=2,
            padding=(1, 0),
            dilation=(1, 2),
            groups=2,
        )
    else:
        w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
        args = {"stride": 2, "padding": 1, "output_padding": (1, 0), "groups": 2}
        layer = ConvTranspose2d.from_weights(w, None, **args)
        want = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(x),
            torch.from_numpy(w),
            None,
            stride=2,
            padding=1,
            output_padding=(1, 0),
            groups=2,
        )
    inp = Input("x", ("N", 4, 6, 7))
    model = Model([inp], [layer(inp)])
    case = Case(kind, {}, x.shape)
    assert_close(run_ort(model.to_onnx(), {"x": x})[0], want.numpy(), case, "onnxruntime")
    assert_close(oracle.run(model, {"x": x})["output"], want.numpy(), case, "oracle")
    with pytest.raises(BuildError, match="4-D"):
        Conv2d.from_weights(np.ones((3, 3)), None)


FROM_TORCH = [
    lambda: torch.nn.Conv2d(
        3,
        6,
        (3, 2),
        stride=(2, 1),
        padding="valid",
        dilation=(1, 2),
        groups=3,
        padding_mode="reflect",
    ),
    lambda: torch.nn.Conv2d(3, 4, 4, padding="same", bias=False, padding_mode="circular"),
    lambda: torch.nn.Conv2d(3, 3, 3, padding=(2, 1), groups=3, padding_mode="replicate"),
    lambda: torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
    lambda: torch.nn.ConvTranspose2d(
        3, 6, (2, 3), stride=(1, 2), dilation=(3, 1), output_padding=(2, 1), groups=3, bias=False
    ),
]


@pytest.mark.parametrize("make", FROM_TORCH, ids=lambda f: repr(f()))
def test_from_torch(make: Any) -> None:
    """``from_torch`` reads the module's attributes and weights; the batch is dynamic."""
    torch.manual_seed(0)
    module = make().eval()
    model = from_torch(module, (2, 3, 8, 9))
    assert model.inputs[0].shape == ("N", 3, 8, 9)
    for n in (2, 1):
        x = make_input((n, 3, 8, 9), "float32", "normal", n)
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        feeds = {model.inputs[0].name: x}
        case = Case("conv", {}, x.shape)
        assert_close(run_ort(model.to_onnx(), feeds)[0], want, case, "onnxruntime")
        assert_close(next(iter(oracle.run(model, feeds).values())), want, case, "oracle")


class _DownUp(torch.nn.Module):
    """A U-Net step: the transposed convolution restores the input's size from ``x.size()``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = torch.nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.up(self.down(x), output_size=x.size())
        return out


@pytest.mark.parametrize("shape", [(2, 3, 9, 10), (2, 3, 8, 8)])
def test_from_torch_output_size(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    module = _DownUp().eval()
    model = from_torch(module, shape)
    for n in (2, 3):
        x = make_input((n, *shape[1:]), "float32", "normal", n)
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        feeds = {model.inputs[0].name: x}
        case = Case("convt", {}, x.shape)
        assert_close(run_ort(model.to_onnx(), feeds)[0], want, case, "onnxruntime")
        assert_close(next(iter(oracle.run(model, feeds).values())), want, case, "oracle")


# --------------------------------------------------------------------------- graph shape
def _optimized_ops(proto: onnx.ModelProto, tmp_path: Any) -> list[str]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node]


@pytest.mark.parametrize("padding", [1, "same"])
def test_onnxruntime_fuses_conv_batchnorm_relu(padding: Any, tmp_path: Any) -> None:
    """A plain Conv with explicit pads: onnxruntime folds a BatchNormalization into it and
    fuses the Relu (no auto_pad, no extra nodes around the Conv)."""
    x = Input("x", ("N", 4, 8, 8))
    proto = Model([x], [Conv2d(4, 6, 4, padding=padding, seed=0)(x)]).to_onnx()
    assert [n.op_type for n in proto.graph.node] == ["Conv"]
    conv = proto.graph.node[0]
    assert "auto_pad" not in [a.name for a in conv.attribute]
    g = proto.graph
    out = g.output[0].name
    conv.output[0] = "conv_out"
    for name, value in (("scale", 1.5), ("bias_bn", 0.1), ("mean", 0.2), ("var", 2.0)):
        g.initializer.append(numpy_helper.from_array(np.full(6, value, np.float32), name))
    g.node.append(
        helper.make_node(
            "BatchNormalization", ["conv_out", "scale", "bias_bn", "mean", "var"], ["bn_out"]
        )
    )
    g.node.append(helper.make_node("Relu", ["bn_out"], [out]))
    del proto.metadata_props[:]
    ops = _optimized_ops(proto, tmp_path)
    assert "BatchNormalization" not in ops and "Relu" not in ops, ops
    assert ops.count("FusedConv") == 1 or ops.count("Conv") == 1, ops


def test_lowered_ops() -> None:
    """The op inventory per case (documented in the module's docstring)."""

    def ops(
        layer: Any, dtype: str = "float32", shape: tuple[Any, ...] = ("N", 4, 9, 9), **kw: Any
    ) -> list[str]:
        x = Input("x", shape, dtype)
        return [n.op_type for n in Model([x], [layer(x)]).to_onnx(**kw).graph.node]

    assert ops(Conv2d(4, 4, 3)) == ["Conv"]
    assert ops(Conv2d(4, 4, 3, padding=1, padding_mode="reflect")) == ["Pad", "Conv"]
    assert ops(Conv2d(4, 4, 3, padding=1, padding_mode="circular"), opset=18) == [
        "Slice",
        "Slice",
        "Concat",
        "Slice",
        "Slice",
        "Concat",
        "Conv",
    ]
    assert ops(Conv2d(4, 4, 3, padding=1, padding_mode="circular")) == ["Pad", "Conv"]
    assert ops(Conv2d(4, 4, 3, padding=(1, 0), padding_mode="circular"), target="cuda") == [
        "Slice",
        "Slice",
        "Concat",
        "Conv",
    ]
    assert ops(Conv2d(4, 4, 3), shape=(4, 9, 9)) == ["Unsqueeze", "Conv", "Squeeze"]
    assert ops(ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)) == ["ConvTranspose"]
    assert ops(ConvTranspose2d(4, 4, 2, dilation=3, output_padding=2)) == [
        "ConvTranspose",
        "Pad",
        "Unsqueeze",
        "Add",
    ]
    f64 = ops(Conv2d(4, 4, 3), "float64")
    assert "Conv" not in f64 and f64.count("Einsum") == 1 and f64.count("Slice") == 9
    t64 = ops(ConvTranspose2d(4, 4, 3, stride=2), "float64")
    assert "ConvTranspose" not in t64 and t64.count("Einsum") == 1 and "Gather" in t64


def test_oracle_direct() -> None:
    """The oracle on its own: unbatched input and torch's "same" padding."""
    args = {
        "kernel_size": [2, 2],
        "stride": [1, 1],
        "padding": "same",
        "dilation": [1, 1],
        "groups": 1,
        "bias": False,
        "padding_mode": "zeros",
    }
    x = np.arange(9.0).reshape(1, 3, 3)
    (y,) = oracle_conv2d(OracleCall(args, {"weight": np.ones((1, 1, 2, 2))}, [x], {}, False))
    want = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.ones(1, 1, 2, 2, dtype=torch.float64), padding="same"
    ).numpy()
    np.testing.assert_array_equal(y, want)


def test_print_worst_errors() -> None:
    """Runs last in the file: the worst error / scale per kind, dtype and runner (-s shows)."""
    for key, value in sorted(WORST.items()):
        print(f"worst {key}: {value:.3g}")
