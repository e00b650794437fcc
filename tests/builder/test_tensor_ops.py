"""Parity of the tensor functions (Mul, Cat, Mean, Reshape, Permute, Transpose, Chunk, Split)
with torch, for onnxruntime (both lowering targets) and the NumPy oracle.

Seeded sweeps draw shapes, dims (negative ones too), dtypes, dynamic batch dims and special
values; every case also checks the shapes inferred while building against torch's. Rejections
are compared with torch: where torch raises, building raises our error. Two network pieces
(ShuffleNetV2's channel shuffle and split, a squeeze-excitation block) run against torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    Linear,
    Model,
    ReLU,
    ShapeError,
    Sigmoid,
)
from onnxlayers.builder.layers.tensor_ops import (
    Cat,
    Chunk,
    Mean,
    Mul,
    Permute,
    Reshape,
    Split,
    Transpose,
    chunk_sizes,
    split_sizes,
)
from onnxlayers.runtime import oracle
from onnxlayers.runtime.cuda_kernels import cuda_fallbacks
from tests.helpers import checked_proto, run_oracle, run_ort

FLOATS = ("float32", "float64", "float16")
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
TOL = {"float64": (1e-10, 1e-12), "float32": (1e-4, 1e-5), "float16": (2e-3, 1e-3)}
TORCH_DTYPE = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "int64": torch.int64,
}


# ------------------------------------------------------------------------------ the checker
def data(
    shape: Sequence[int], dtype: str, rng: np.random.Generator, specials: bool = True
) -> np.ndarray:
    """Random values of ``dtype``; float arrays get NaN, infinities and signed zeros."""
    shape = tuple(shape)
    if dtype == "int64":
        return rng.integers(-1000, 1000, shape).astype(np.int64)
    x = np.asarray((rng.standard_normal(shape) * 3).astype(dtype))
    if specials and x.size >= 2 * len(SPECIALS):
        idx = rng.choice(x.size, len(SPECIALS), replace=False)
        x.reshape(-1)[idx] = SPECIALS.astype(dtype)
    return x


@dataclass
class Case:
    """One call: our layer on symbolic inputs against a torch function on the same arrays."""

    layer: Callable[..., Any]
    torch_fn: Callable[..., Any]
    arrays: list[np.ndarray]
    dims: list[tuple[Any, ...]] | None = None  # symbolic dims; default: the static shapes
    exact: bool = True  # data movement: bit-exact; arithmetic: within TOL
    call: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"{self.layer!r} on {[a.shape for a in self.arrays]} {self.arrays[0].dtype}"


def _names(dims: Sequence[tuple[Any, ...]], arrays: Sequence[np.ndarray]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for ds, a in zip(dims, arrays, strict=True):
        for d, n in zip(ds, a.shape, strict=True):
            if isinstance(d, str):
                assert sizes.setdefault(d, n) == n, f"dim {d!r} has two sizes"
    return sizes


def torch_out(case: Case) -> list[np.ndarray]:
    with torch.no_grad():
        res = case.torch_fn(*[torch.from_numpy(np.array(a)) for a in case.arrays])
    res = res if isinstance(res, (tuple, list)) else (res,)
    return [r.contiguous().numpy() for r in res]


def compare(got: np.ndarray, want: np.ndarray, exact: bool, what: str) -> float:
    """Shapes and dtypes equal; values bit-equal (NaN included) or within TOL. Worst error."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch's {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != torch's {want.dtype}"
    if exact or want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return 0.0
    rtol, atol = TOL[want.dtype.name]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    both = np.isfinite(got) & np.isfinite(want)
    diff = np.abs(got[both].astype(np.float64) - want[both].astype(np.float64))
    return float(diff.max()) if diff.size else 0.0


def check(case: Case, *, targets: Sequence[str] = ("any", "cuda"), opset: int = 21) -> float:
    """Build the case, check its inferred shapes, run it every way; the worst error."""
    dims = case.dims or [a.shape for a in case.arrays]
    inputs = [
        Input(f"x{i}", d, a.dtype.name)
        for i, (d, a) in enumerate(zip(dims, case.arrays, strict=True))
    ]
    out = case.layer(*inputs, **case.call)
    outs = list(out) if isinstance(out, tuple) else [out]
    want = torch_out(case)
    assert len(outs) == len(want), f"{case!r}: {len(outs)} outputs, torch gives {len(want)}"
    sizes = _names(dims, case.arrays)
    for t, w in zip(outs, want, strict=True):
        assert len(t.shape) == w.ndim, f"{case!r}: inferred {t.shape}, torch {w.shape}"
        for d, n in zip(t.shape, w.shape, strict=True):
            assert d is None or sizes.get(d, d) == n, f"{case!r}: inferred {t.shape} vs {w.shape}"
    if not outs:
        return 0.0
    model = Model(inputs, outs)
    feeds = {t.name: a for t, a in zip(inputs, case.arrays, strict=True)}
    worst = 0.0
    for target in targets:
        proto = checked_proto(model, target=target, opset=opset)
        if target == "cuda":
            assert not cuda_fallbacks(proto), f"{case!r}: nodes without a CUDA kernel"
        for got, w in zip(run_ort(proto, feeds), want, strict=True):
            worst = max(worst, compare(got, w, case.exact, f"onnxruntime[{target}] {case!r}"))
    for got, w in zip(run_oracle(model, feeds), want, strict=True):
        worst = max(worst, compare(got, w, case.exact, f"oracle {case!r}"))
    return worst


def batch_dims(arrays: Sequence[np.ndarray], name: str = "N") -> list[tuple[Any, ...]]:
    """Each input's first dim made the named dynamic dim."""
    return [(name, *a.shape[1:]) if a.ndim else () for a in arrays]


def rand_shape(rng: np.random.Generator, rank: int, low: int = 1, high: int = 5) -> tuple[int, ...]:
    return tuple(int(v) for v in rng.integers(low, high, rank))


def pick_dtype(rng: np.random.Generator, ints: bool = True) -> str:
    choices = [*FLOATS, "int64"] if ints else list(FLOATS)
    return str(rng.choice(choices, p=[0.55, 0.15, 0.15, 0.15] if ints else [0.6, 0.2, 0.2]))


# ------------------------------------------------------------------------------ Mul
def mul_case(seed: int) -> Case:
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(0, 6))
    a = rand_shape(rng, rank)
    b = list(a[int(rng.integers(0, rank + 1)) :])  # a suffix, some dims made 1
    b = [1 if rng.random() < 0.4 else d for d in b]
    if rng.random() < 0.3:
        a, b = tuple(b), list(a)
    dtype = pick_dtype(rng)
    arrays = [data(a, dtype, rng), data(b, dtype, rng)]
    dims = None
    if rng.random() < 0.5 and len(a) and len(b) == len(a) and b[0] == a[0]:
        dims = batch_dims(arrays)
    return Case(Mul(), lambda x, y: x * y, arrays, dims, exact=False)


@pytest.mark.parametrize("seed", range(30))
def test_mul_sweep(seed: int) -> None:
    check(mul_case(seed))


def test_mul_special_values() -> None:
    """inf * 0 is NaN, NaN propagates, signs of infinities follow torch."""
    a = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 3.0, 1e30], np.float32)
    b = np.array([0.0, 2.0, 1.0, -np.inf, 5.0, np.nan, 1e30], np.float32)
    check(Case(Mul(), lambda x, y: x * y, [a, b], exact=True))


# ------------------------------------------------------------------------------ Cat
def cat_case(seed: int) -> Case:
    rng = np.random.default_rng(100 + seed)
    rank = int(rng.integers(1, 6))
    dim = int(rng.integers(-rank, rank))
    base = rand_shape(rng, rank)
    shapes = []
    for _ in range(int(rng.integers(1, 5))):
        s = list(base)
        s[dim] = int(rng.integers(0, 4))
        shapes.append(tuple(s))
    dtype = pick_dtype(rng)
    arrays = [data(s, dtype, rng) for s in shapes]
    dims = None
    if rng.random() < 0.5:
        if dim % rank == 0:  # every input's own dynamic size: the output's is unknown
            dims = [(f"B{i}", *a.shape[1:]) for i, a in enumerate(arrays)]
        else:
            dims = batch_dims(arrays)
    return Case(Cat(dim), lambda *xs: torch.cat(xs, dim), arrays, dims)


@pytest.mark.parametrize("seed", range(30))
def test_cat_sweep(seed: int) -> None:
    check(cat_case(seed))


def test_cat_skips_empty_1d_tensors_like_torch() -> None:
    rng = np.random.default_rng(0)
    e = np.zeros((0,), np.float32)
    x, y = data((2, 3), "float32", rng), data((2, 4), "float32", rng)
    check(Case(Cat(1), lambda *xs: torch.cat(xs, 1), [e, x, e, y]))
    check(Case(Cat(-1), lambda *xs: torch.cat(xs, -1), [x, e]))
    check(Case(Cat(5), lambda *xs: torch.cat(xs, 5), [e, e]))  # all empty: any dim


# ------------------------------------------------------------------------------ Mean
def mean_case(seed: int) -> Case:
    rng = np.random.default_rng(200 + seed)
    rank = int(rng.integers(0, 6))
    shape = rand_shape(rng, rank, 1, 6)
    if rank and rng.random() < 0.15:
        shape = tuple(0 if i == int(rng.integers(0, rank)) else d for i, d in enumerate(shape))
    kind = rng.random()
    dim: Any
    if kind < 0.15:
        dim = None
    elif kind < 0.2:
        dim = ()
    elif kind < 0.55 or rank == 0:
        dim = int(rng.integers(-max(rank, 1), max(rank, 1)))
    else:
        k = int(rng.integers(1, rank + 1))
        picked = rng.choice(rank, k, replace=False)
        dim = tuple(int(d) - rank if rng.random() < 0.5 else int(d) for d in picked)
    keepdim = bool(rng.random() < 0.5)
    dtype = pick_dtype(rng, ints=False)
    out_dtype = None
    if rng.random() < 0.15:
        dtype, out_dtype = "int64", str(rng.choice(FLOATS))
    elif rng.random() < 0.1:
        out_dtype = str(rng.choice(FLOATS))
    arrays = [data(shape, dtype, rng)]
    dims = batch_dims(arrays) if rank and rng.random() < 0.5 else None
    td = None if out_dtype is None else TORCH_DTYPE[out_dtype]

    def fn(x: torch.Tensor) -> torch.Tensor:
        if dim is None:
            return torch.mean(x, dtype=td) if not keepdim else torch.mean(x, None, True, dtype=td)
        return torch.mean(x, dim, keepdim, dtype=td)

    return Case(Mean(dim, keepdim, dtype=out_dtype), fn, arrays, dims, exact=False)


@pytest.mark.parametrize("seed", range(45))
def test_mean_sweep(seed: int) -> None:
    check(mean_case(seed))


@pytest.mark.parametrize("opset", range(17, 23))
def test_mean_every_opset(opset: int) -> None:
    """ReduceMean takes axes as an attribute at 17 and as an input from 18."""
    rng = np.random.default_rng(opset)
    x = data((2, 3, 4, 5), "float32", rng)
    check(
        Case(Mean((2, 3), True), lambda t: t.mean((2, 3), keepdim=True), [x], exact=False),
        opset=opset,
    )
    check(Case(Mean(0), lambda t: t.mean(0), [x], batch_dims([x]), exact=False), opset=opset)


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_mean_over_a_dynamic_dim_of_any_size(batch: int) -> None:
    """A mean over no elements is NaN in torch (onnxruntime's ReduceMean gives 0)."""
    rng = np.random.default_rng(batch)
    x = data((batch, 4, 2), "float32", rng)
    for dim in (0, (0, 2), None):
        check(
            Case(
                Mean(dim),
                lambda t, d=dim: t.mean() if d is None else t.mean(d),
                [x],
                [("N", 4, 2)],
                exact=False,
            )
        )
    check(
        Case(
            Mean(1, dtype="float16"),
            lambda t: t.mean(1, dtype=torch.float16),
            [data((batch, 0, 2), "float32", rng)],
            [("N", "C", 2)],
            exact=False,
        )
    )


def test_mean_special_values() -> None:
    x = np.array(
        [[1.0, np.nan, 2.0], [np.inf, 1.0, 2.0], [np.inf, -np.inf, 0.0], [-0.0, -0.0, -0.0]],
        np.float32,
    )
    check(Case(Mean(1), lambda t: t.mean(1), [x], exact=False))
    check(Case(Mean(-1, True), lambda t: t.mean(-1, True), [x.astype(np.float16)], exact=False))


def test_mean_of_a_0d_tensor() -> None:
    x = np.array(2.5, np.float32)
    for dim in (0, -1, (0,), (), None):
        for keep in (False, True):
            check(
                Case(
                    Mean(dim, keep),
                    lambda t, d=dim, k=keep: (
                        torch.mean(t, d, k) if d is not None else torch.mean(t, None, k)
                    ),
                    [x],
                )
            )


# ------------------------------------------------------------------------------ Reshape
def factors(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """``k`` ints whose product is ``n`` (n >= 1)."""
    out = [1] * k
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
            if k:
                out[int(rng.integers(0, k))] *= p
    if k:
        out[int(rng.integers(0, k))] *= n
    return out


def reshape_case(seed: int) -> Case:
    rng = np.random.default_rng(300 + seed)
    rank = int(rng.integers(0, 6))
    shape = rand_shape(rng, rank, 1, 5)
    dynamic = rank >= 1 and rng.random() < 0.5
    dtype = pick_dtype(rng)
    arrays = [data(shape, dtype, rng)]
    numel = int(np.prod(shape))
    batch = shape[0] if dynamic else 1
    k = int(rng.integers(0 if numel // batch == 1 and not dynamic else 1, 6))
    target: list[Any] = factors(numel // batch, k, rng)
    if dynamic and rng.random() < 0.7:
        target.insert(0 if rng.random() < 0.5 else int(rng.integers(0, len(target) + 1)), "N")
    else:
        target = factors(numel, k, rng)
    if target and rng.random() < 0.6:
        ints = [i for i, e in enumerate(target) if isinstance(e, int)]
        if ints:
            target[int(rng.choice(ints))] = -1
    concrete = [batch if e == "N" else e for e in target]
    dims = batch_dims(arrays) if dynamic else None
    return Case(Reshape(target), lambda t: t.reshape(concrete), arrays, dims)


@pytest.mark.parametrize("seed", range(45))
def test_reshape_sweep(seed: int) -> None:
    check(reshape_case(seed))


@pytest.mark.parametrize(
    ("shape", "dims", "target", "expected"),
    [
        ((2, 6, 4), ("N", 6, 4), ["N", -1], ("N", 24)),
        ((2, 6, 4), ("N", 6, 4), [-1, 24], ("N", 24)),
        ((2, 6, 4), ("N", 6, 4), [4, "N", 6], (4, "N", 6)),  # N read at run time (Shape)
        ((2, 6, 4), ("N", 6, 4), [3, -1, 2], (3, None, 2)),
        ((2, 6, 4), ("N", 6, "W"), ["W", "N", -1], ("W", "N", 6)),
        ((2, 0, 3), ("N", 0, 3), ["N", 5, 0], ("N", 5, 0)),  # literal 0: allowzero=1
        ((2, 0, 3), ("N", 0, 3), [3, -1], (3, 0)),
        ((0, 3), (0, 3), [3, 0, 5], (3, 0, 5)),
        ((1, 1), (1, 1), [], ()),
        ((), (), [1, -1, 1], (1, 1, 1)),
        ((3, 4), (None, 4), [-1, 2], (None, 2)),
    ],
)
def test_reshape_named_dims_and_zeros(
    shape: tuple[int, ...], dims: tuple[Any, ...], target: list[Any], expected: tuple[Any, ...]
) -> None:
    rng = np.random.default_rng(1)
    x = data(shape, "float32", rng)
    layer = Reshape(target)
    assert layer(Input("x0", dims)).shape == expected
    sizes = dict(zip(dims, shape, strict=True))
    concrete = [sizes[e] if isinstance(e, str) else e for e in target]
    check(Case(layer, lambda t: t.reshape(concrete), [x], [dims]))


@pytest.mark.parametrize("opset", range(17, 23))
def test_reshape_chunk_split_every_opset(opset: int) -> None:
    rng = np.random.default_rng(opset)
    x = data((2, 6, 5), "float32", rng)
    check(
        Case(Reshape([5, "N", 6]), lambda t: t.reshape(5, 2, 6), [x], batch_dims([x])), opset=opset
    )
    check(Case(Chunk(3, 1), lambda t: t.chunk(3, 1), [x], batch_dims([x])), opset=opset)
    check(Case(Split([2, 0, 3], -1), lambda t: t.split([2, 0, 3], -1), [x]), opset=opset)


def test_reshape_program_keeps_the_named_axes() -> None:
    """The call argument ``axes`` survives saving; torch eager and the oracle read it."""
    from onnxlayers.runtime.torch_eager import to_torch

    x = Input("x", ("N", 6, 4))
    model = Model([x], [Reshape([4, "N", 6])(x)])
    (rec,) = model.program().calls
    assert rec.args == {"shape": [4, "N", 6]} and rec.call_args == {"axes": (0,)}
    again = Model.load(model.to_onnx())
    feeds = {"x": data((3, 6, 4), "float32", np.random.default_rng(0))}
    want = feeds["x"].reshape(4, 3, 6)
    np.testing.assert_array_equal(oracle.run(again, feeds)["output"], want)
    np.testing.assert_array_equal(to_torch(again.program())(feeds)["output"], want)
    np.testing.assert_array_equal(run_ort(again, feeds)[0], want)


# ------------------------------------------------------------------------------ Permute, Transpose
def permute_case(seed: int) -> Case:
    rng = np.random.default_rng(400 + seed)
    rank = int(rng.integers(0, 6))
    shape = rand_shape(rng, rank, 1, 5)
    perm = [int(p) - rank if rng.random() < 0.4 else int(p) for p in rng.permutation(rank)]
    arrays = [data(shape, pick_dtype(rng), rng)]
    dims = batch_dims(arrays) if rank and rng.random() < 0.5 else None
    return Case(Permute(perm), lambda t: t.permute(perm), arrays, dims)


def transpose_case(seed: int) -> Case:
    rng = np.random.default_rng(500 + seed)
    rank = int(rng.integers(0, 6))
    shape = rand_shape(rng, rank, 1, 5)
    wrap = max(rank, 1)
    d0, d1 = (int(v) for v in rng.integers(-wrap, wrap, 2))
    arrays = [data(shape, pick_dtype(rng), rng)]
    dims = batch_dims(arrays) if rank and rng.random() < 0.5 else None
    return Case(Transpose(d0, d1), lambda t: torch.transpose(t, d0, d1), arrays, dims)


@pytest.mark.parametrize("seed", range(30))
def test_permute_sweep(seed: int) -> None:
    check(permute_case(seed))


@pytest.mark.parametrize("seed", range(30))
def test_transpose_sweep(seed: int) -> None:
    check(transpose_case(seed))


# ------------------------------------------------------------------------------ Chunk, Split
def chunk_case(seed: int) -> Case:
    rng = np.random.default_rng(600 + seed)
    rank = int(rng.integers(1, 5))
    shape = list(rand_shape(rng, rank, 1, 4))
    dim = int(rng.integers(-rank, rank))
    shape[dim] = int(rng.integers(0, 14))
    chunks = int(rng.integers(1, 8))
    arrays = [data(shape, pick_dtype(rng), rng)]
    dims = None
    if rank > 1 and dim % rank != 0 and rng.random() < 0.6:
        dims = batch_dims(arrays)
    return Case(Chunk(chunks, dim), lambda t: torch.chunk(t, chunks, dim), arrays, dims)


def split_case(seed: int) -> Case:
    rng = np.random.default_rng(700 + seed)
    rank = int(rng.integers(1, 5))
    shape = list(rand_shape(rng, rank, 1, 4))
    dim = int(rng.integers(-rank, rank))
    size = shape[dim] = int(rng.integers(0, 12))
    sections: Any
    if rng.random() < 0.5:
        sections = int(rng.integers(0 if size == 0 else 1, 8))
    else:
        cuts = np.sort(rng.integers(0, size + 1, int(rng.integers(0, 4))))
        sections = np.diff([0, *cuts.tolist(), size]).astype(int).tolist()
    arrays = [data(shape, pick_dtype(rng), rng)]
    dims = None
    if rank > 1 and dim % rank != 0 and rng.random() < 0.6:
        dims = batch_dims(arrays)
    elif isinstance(sections, list) and rng.random() < 0.5:  # split a dynamic dim by sizes
        dims = [tuple("S" if i == dim % rank else d for i, d in enumerate(shape))]
    return Case(Split(sections, dim), lambda t: torch.split(t, sections, dim), arrays, dims)


@pytest.mark.parametrize("seed", range(30))
def test_chunk_sweep(seed: int) -> None:
    check(chunk_case(seed))


@pytest.mark.parametrize("seed", range(30))
def test_split_sweep(seed: int) -> None:
    check(split_case(seed))


def test_piece_sizes_are_torchs() -> None:
    for size in range(0, 20):
        for n in range(1, 9):
            want = [t.shape[0] for t in torch.zeros(size).chunk(n)]
            assert chunk_sizes(size, n) == want, (size, n)
        for s in range(0 if size == 0 else 1, 9):
            assert split_sizes(size, s) == [t.shape[0] for t in torch.zeros(size).split(s)]


def test_one_piece_is_still_a_tuple() -> None:
    x = Input("x", ("N", 3))
    (y,) = Chunk(1, 1)(x)
    assert y.shape == ("N", 3)
    (y,) = Split(5, 1)(x)
    assert y.shape == ("N", 3)
    assert Split([], 0)(Input("e", (0, 2))) == ()


# ------------------------------------------------------------------------------ rejections
Z = np.zeros


def _torch_error(fn: Callable[[], Any]) -> BaseException | None:
    try:
        fn()
    except Exception as e:
        return e
    return None


REJECTED: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
    # (id, our build, torch's call): torch raises -> we raise while building
    (
        "mul-shapes",
        lambda: Mul()(Input("a", (2, 3)), Input("b", (4,))),
        lambda: torch.zeros(2, 3) * torch.zeros(4),
    ),
    (
        "cat-sizes",
        lambda: Cat(0)(Input("a", (2, 3)), Input("b", (2, 4))),
        lambda: torch.cat([torch.zeros(2, 3), torch.zeros(2, 4)], 0),
    ),
    (
        "cat-sizes-dynamic",
        lambda: Cat(1)(Input("a", ("N", 3, 5)), Input("b", ("N", 4, 6))),
        lambda: torch.cat([torch.zeros(2, 3, 5), torch.zeros(2, 4, 6)], 1),
    ),
    (
        "cat-rank",
        lambda: Cat(0)(Input("a", (2, 3)), Input("b", (2,))),
        lambda: torch.cat([torch.zeros(2, 3), torch.zeros(2)], 0),
    ),
    (
        "cat-dim",
        lambda: Cat(2)(Input("a", (2, 3)), Input("b", (2, 3))),
        lambda: torch.cat([torch.zeros(2, 3)] * 2, 2),
    ),
    (
        "cat-negative-dim",
        lambda: Cat(-3)(Input("a", (2, 3))),
        lambda: torch.cat([torch.zeros(2, 3)], -3),
    ),
    (
        "cat-empty-1d-dim",
        lambda: Cat(2)(Input("a", (0,)), Input("b", (2, 2))),
        lambda: torch.cat([torch.zeros(0), torch.zeros(2, 2)], 2),
    ),
    (
        "cat-0d",
        lambda: Cat(0)(Input("a", ()), Input("b", ())),
        lambda: torch.cat([torch.zeros(()), torch.zeros(())], 0),
    ),
    ("cat-none", lambda: Cat(0)(), lambda: torch.cat([], 0)),
    ("cat-bool-dim", lambda: Cat(True), lambda: torch.cat([torch.zeros(2)], True)),
    (
        "cat-float-dim",
        lambda: Cat(1.0),  # type: ignore[arg-type]
        lambda: torch.cat([torch.zeros(2)], 1.0),  # type: ignore[arg-type]
    ),
    ("mean-dim", lambda: Mean(2)(Input("x", (2, 3))), lambda: torch.zeros(2, 3).mean(2)),
    ("mean-dim-0d", lambda: Mean(1)(Input("x", ())), lambda: torch.zeros(()).mean(1)),
    ("mean-repeat", lambda: Mean((1, 1)), lambda: torch.zeros(2, 3).mean((1, 1))),
    (
        "mean-repeat-wrapped",
        lambda: Mean((1, -1))(Input("x", (2, 3))),
        lambda: torch.zeros(2, 3).mean((1, -1)),
    ),
    (
        "mean-float-dim",
        lambda: Mean(1.0),  # type: ignore[arg-type]
        lambda: torch.zeros(2, 3).mean(1.0),  # type: ignore[call-overload]
    ),
    ("mean-bool-dim", lambda: Mean((True,)), lambda: torch.zeros(2, 3).mean((True,))),
    (
        "mean-int-keepdim",
        lambda: Mean(1, 1),  # type: ignore[arg-type]
        lambda: torch.zeros(2, 3).mean(1, keepdim=1),  # type: ignore[call-overload]
    ),
    (
        "mean-int-dtype",
        lambda: Mean(1, dtype="int64"),
        lambda: torch.zeros(2, 3).mean(1, dtype=torch.int64),
    ),
    (
        "mean-int-input",
        lambda: Mean(1)(Input("x", (2, 3), "int64")),
        lambda: torch.zeros(2, 3, dtype=torch.int64).mean(1),
    ),
    (
        "reshape-size",
        lambda: Reshape([2, 13])(Input("x", (2, 3, 4))),
        lambda: torch.zeros(2, 3, 4).reshape(2, 13),
    ),
    (
        "reshape-size-infer",
        lambda: Reshape([5, -1])(Input("x", (2, 3, 4))),
        lambda: torch.zeros(2, 3, 4).reshape(5, -1),
    ),
    (
        "reshape-size-named",
        lambda: Reshape(["N", 5, -1])(Input("x", ("N", 3, 4))),
        lambda: torch.zeros(2, 3, 4).reshape(2, 5, -1),
    ),
    (
        "reshape-size-named-static",
        lambda: Reshape(["N", 5])(Input("x", ("N", 3, 4))),
        lambda: torch.zeros(2, 3, 4).reshape(2, 5),
    ),
    ("reshape-two-infer", lambda: Reshape([-1, -1]), lambda: torch.zeros(4).reshape(-1, -1)),
    ("reshape-minus-two", lambda: Reshape([-2, 2]), lambda: torch.zeros(4).reshape(-2, 2)),
    (
        "reshape-ambiguous",
        lambda: Reshape([0, -1])(Input("x", (0, 3))),
        lambda: torch.zeros(0, 3).reshape(0, -1),
    ),
    (
        "reshape-zero-infer",
        lambda: Reshape([0, -1])(Input("x", ("N", 3))),
        lambda: torch.zeros(2, 3).reshape(0, -1),
    ),
    (
        "reshape-empty",
        lambda: Reshape([])(Input("x", (2, 3))),
        lambda: torch.zeros(2, 3).reshape(()),
    ),
    (
        "reshape-float",
        lambda: Reshape([2.0, 3]),  # type: ignore[list-item]
        lambda: torch.zeros(6).reshape((2.0, 3)),  # type: ignore[arg-type]
    ),
    ("reshape-bool", lambda: Reshape([True, 6]), lambda: torch.zeros(6).reshape((True, 6))),
    (
        "reshape-int",
        lambda: Reshape(6),  # type: ignore[arg-type]
        lambda: torch.reshape(torch.zeros(6), 6),  # type: ignore[arg-type]
    ),
    (
        "permute-length",
        lambda: Permute((2, 0))(Input("x", (2, 3, 4))),
        lambda: torch.zeros(2, 3, 4).permute(2, 0),
    ),
    ("permute-repeat", lambda: Permute((2, 0, 0)), lambda: torch.zeros(2, 3, 4).permute(2, 0, 0)),
    (
        "permute-repeat-wrapped",
        lambda: Permute((2, 0, -1))(Input("x", (2, 3, 4))),
        lambda: torch.zeros(2, 3, 4).permute(2, 0, -1),
    ),
    (
        "permute-range",
        lambda: Permute((3, 0, 1))(Input("x", (2, 3, 4))),
        lambda: torch.zeros(2, 3, 4).permute(3, 0, 1),
    ),
    (
        "permute-bool",
        lambda: Permute([True, 0, 2]),
        lambda: torch.permute(torch.zeros(2, 3, 4), [True, 0, 2]),
    ),
    (
        "transpose-range",
        lambda: Transpose(0, 5)(Input("x", (2, 3, 4))),
        lambda: torch.zeros(2, 3, 4).transpose(0, 5),
    ),
    (
        "transpose-0d",
        lambda: Transpose(0, 1)(Input("x", ())),
        lambda: torch.zeros(()).transpose(0, 1),
    ),
    ("chunk-zero", lambda: Chunk(0), lambda: torch.zeros(5).chunk(0)),
    ("chunk-negative", lambda: Chunk(-1), lambda: torch.zeros(5).chunk(-1)),
    (
        "chunk-float",
        lambda: Chunk(2.0),  # type: ignore[arg-type]
        lambda: torch.zeros(5).chunk(2.0),  # type: ignore[arg-type]
    ),
    ("chunk-bool", lambda: Chunk(True), lambda: torch.zeros(5).chunk(True)),
    ("chunk-0d", lambda: Chunk(1)(Input("x", ())), lambda: torch.zeros(()).chunk(1)),
    ("chunk-dim", lambda: Chunk(2, 1)(Input("x", (5,))), lambda: torch.zeros(5).chunk(2, 1)),
    ("split-negative", lambda: Split(-1), lambda: torch.zeros(5).split(-1)),
    ("split-zero", lambda: Split(0)(Input("x", (5,))), lambda: torch.zeros(5).split(0)),
    ("split-sum", lambda: Split([2, 2])(Input("x", (5,))), lambda: torch.zeros(5).split([2, 2])),
    ("split-empty-list", lambda: Split([])(Input("x", (5,))), lambda: torch.zeros(5).split([])),
    ("split-negative-entry", lambda: Split([-1, 6]), lambda: torch.zeros(5).split([-1, 6])),
    (
        "split-float",
        lambda: Split(2.0),  # type: ignore[arg-type]
        lambda: torch.zeros(5).split(2.0),
    ),
    (
        "split-float-entry",
        lambda: Split([2.0, 3]),  # type: ignore[list-item]
        lambda: torch.zeros(5).split([2.0, 3]),
    ),
    ("split-0d", lambda: Split(1)(Input("x", ())), lambda: torch.zeros(()).split(1)),
    (
        "split-dim",
        lambda: Split(2, dim=3)(Input("x", (4, 6))),
        lambda: torch.zeros(4, 6).split(2, dim=3),
    ),
]


DTYPE_ERRORS = {"mean-int-input"}
"""torch raises RuntimeError for these dtype errors; ours are LayerTypeError, like every
dtype error of the builder (``Layer.check_input``)."""


@pytest.mark.parametrize(("key", "ours", "theirs"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejects_what_torch_rejects(
    key: str, ours: Callable[[], Any], theirs: Callable[[], Any]
) -> None:
    err = _torch_error(theirs)
    assert err is not None, "torch accepts this case"
    typed = isinstance(err, TypeError) or key in DTYPE_ERRORS
    expected = LayerTypeError if typed else BuildError
    with pytest.raises(expected):
        ours()


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Reshape(["M", -1])(Input("x", ("N", 3))), ShapeError, "'M', which names no dim"),
        (
            lambda: Reshape(["N", -1])(Input("x", ("N", 3)), axes=(1,)),
            LayerArgumentError,
            "axes=(1,)",
        ),
        (lambda: Reshape([""]), LayerArgumentError, "shape[0]=''"),
        (lambda: Chunk(2, 0)(Input("x", ("N", 4))), ShapeError, "dynamic size 'N'"),
        (lambda: Split(2, 0)(Input("x", ("N", 4))), ShapeError, "dynamic size 'N'"),
        (lambda: Mul()(Input("a", (2,)), Input("b", (2,), "float64")), LayerTypeError, "one dtype"),
        (lambda: Cat()(Input("a", (2,)), Input("b", (2,), "float64")), LayerTypeError, "one dtype"),
        (
            lambda: Reshape([5, -1], name="r1")(Input("x", (2, 3, 4))),
            ShapeError,
            "Reshape 'r1': shape '[5, -1]' is invalid for input of size 24",
        ),
        (lambda: Mean((0, 3))(Input("x", (2, 3))), ShapeError, "dim=3 is out of range"),
    ],
)
def test_error_messages(make: Callable[[], Any], error: type[Exception], words: str) -> None:
    """Our own limits (named dims, static pieces, one dtype) and the messages' contents."""
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value)


# ------------------------------------------------------------------------------ network pieces
def test_shufflenet_channel_shuffle_and_split() -> None:
    """ShuffleNetV2's stride-1 unit: chunk, branch, cat, then view -> transpose -> view."""
    groups, c, h, w = 2, 116, 7, 7

    def theirs(t: torch.Tensor) -> torch.Tensor:
        x1, x2 = t.chunk(2, dim=1)
        t = torch.cat((x1, torch.relu(x2)), dim=1)
        b, ch, hh, ww = t.size()
        t = t.view(b, groups, ch // groups, hh, ww)
        t = torch.transpose(t, 1, 2).contiguous()
        return t.view(b, -1, hh, ww)

    x = Input("x", ("N", c, h, w))
    x1, x2 = Chunk(2, dim=1)(x)
    y = Cat(dim=1)(x1, ReLU()(x2))
    b, ch, hh, ww = y.shape
    y = Reshape([b, groups, ch // groups, hh, ww])(y)
    y = Reshape([b, -1, hh, ww])(Transpose(1, 2)(y))
    assert y.shape == ("N", c, h, w)
    model = Model([x], [y])
    for batch in (1, 3):
        arr = data((batch, c, h, w), "float32", np.random.default_rng(batch))
        want = theirs(torch.from_numpy(arr)).numpy()
        for target in ("any", "cuda"):
            compare(
                run_ort(checked_proto(model, target=target), {"x": arr})[0],
                want,
                True,
                f"onnxruntime[{target}]",
            )
        compare(run_oracle(model, {"x": arr})[0], want, True, "oracle")
    ops = [n.op_type for n in model.to_onnx().graph.node]
    assert ops.count("Reshape") == 2 and "Shape" not in ops  # the batch is copied with 0


def test_squeeze_excitation_block() -> None:
    """``x * sigmoid(fc2(relu(fc1(x.mean((2, 3))))).view(b, c, 1, 1)``, weights from torch."""
    c, r = 16, 4
    fc1, fc2 = torch.nn.Linear(c, c // r), torch.nn.Linear(c // r, c)

    def theirs(t: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(fc2(torch.relu(fc1(t.mean((2, 3))))))
        return t * s.view(t.size(0), c, 1, 1)

    ours1, ours2 = Linear(c, c // r), Linear(c // r, c)
    ours1.load_state_dict({k: v.detach().numpy() for k, v in fc1.state_dict().items()})
    ours2.load_state_dict({k: v.detach().numpy() for k, v in fc2.state_dict().items()})
    x = Input("x", ("N", c, 5, 5))
    s = Sigmoid()(ours2(ReLU()(ours1(Mean((2, 3))(x)))))
    y = Mul()(x, Reshape(["N", c, 1, 1])(s))
    keep = Mul()(x, Sigmoid()(Mean((-2, -1), keepdim=True)(x)))  # the parameter-free form
    model = Model([x], [y, keep])
    for batch in (1, 4):
        arr = data((batch, c, 5, 5), "float32", np.random.default_rng(batch), specials=False)
        t = torch.from_numpy(arr)
        with torch.no_grad():
            want = [theirs(t).numpy(), (t * torch.sigmoid(t.mean((-2, -1), True))).numpy()]
        for target in ("any", "cuda"):
            for got, w in zip(
                run_ort(checked_proto(model, target=target), {"x": arr}), want, strict=True
            ):
                compare(got, w, False, f"onnxruntime[{target}]")
        for got, w in zip(run_oracle(model, {"x": arr}), want, strict=True):
            compare(got, w, False, "oracle")


def test_from_torch_functions() -> None:
    """Once ``from_torch`` maps these functions, a module using them imports and matches."""
    from onnxlayers.builder import from_torch
    from onnxlayers.builder.torch_import import supported

    needed = {
        "torch.cat",
        "torch.chunk",
        "Tensor.mean",
        "Tensor.view",
        "torch.transpose",
        "operator.mul",
        "Tensor.permute",
        "torch.split",
    }
    missing = needed - set(supported()["functions"])
    if missing:
        pytest.skip(f"from_torch does not map {sorted(missing)} yet")

    class Net(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = torch.chunk(x, 2, 1)
            y = torch.cat([a * torch.sigmoid(a.mean((2, 3), keepdim=True)), b], 1)
            n, _, h, w = y.size()
            y = torch.transpose(y.view(n, 2, 4, h, w), 1, 2).contiguous().view(n, -1, h, w)
            p, q = torch.split(y.permute(0, 2, 3, 1), [3, 5], -1)
            return p.mean(-1) + q.mean(-1)

    net = Net().eval()
    model = from_torch(net, (2, 8, 4, 4))
    arr = data((3, 8, 4, 4), "float32", np.random.default_rng(0), specials=False)
    with torch.no_grad():
        want = net(torch.from_numpy(arr)).numpy()
    compare(run_ort(model, {model.inputs[0].name: arr})[0], want, False, "onnxruntime")


def test_spatial_mean_of_a_layers_output_is_global_average_pool() -> None:
    """Squeeze-excitation's ``x.mean((2, 3), keepdim=True)`` of a float32 layer output runs as
    ``GlobalAveragePool`` (onnxruntime keeps the convolutions' blocked layout through it):
    torch's means, NaN and infinities included; a graph input keeps ``ReduceMean``."""
    x = Input("x", ("N", 16, 5, 7))
    inside = Model([x], [Mean((2, 3), keepdim=True)(ReLU()(x))]).to_onnx()
    alone = Model([x], [Mean((2, 3), keepdim=True)(x)]).to_onnx()
    assert "GlobalAveragePool" in [n.op_type for n in inside.graph.node]
    assert "GlobalAveragePool" not in [n.op_type for n in alone.graph.node]
    data = np.random.default_rng(5).standard_normal((3, 16, 5, 7)).astype(np.float32)
    data[0, :3, 1, 1] = [np.nan, np.inf, -np.inf]
    with torch.no_grad():
        want = torch.relu(torch.from_numpy(data)).mean((2, 3), keepdim=True).numpy()
    np.testing.assert_allclose(run_ort(inside, {"x": data})[0], want, 1e-5, 1e-6, equal_nan=True)
