"""MaxUnpool2d (``ai.onnxlayers::MaxUnpool2d``) against torch.nn.MaxUnpool2d.

Every case runs both function bodies on onnxruntime's CPU provider (the ``cpu`` body and the
``portable`` body CUDA gets, which must give the same values), the NumPy oracle and the
op's ``OpRun``; unpooling copies values, so every comparison is exact. Indices come from
torch's own ``max_pool2d`` on tie-free inputs.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import tempfile
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from onnxlayers.builder import Input, LayerArgumentError, LayerTypeError, Model, ShapeError
from onnxlayers.builder.layers.unpool import MaxUnpool2d
from onnxlayers.builder.registry import LAYERS
from onnxlayers.custom_ops import reference_evaluator
from onnxlayers.custom_ops._domain import body_variant
from onnxlayers.runtime import oracle
from onnxlayers.runtime.errors import DataError
from onnxlayers.runtime.session import prepare_for
from tests.helpers import run_ort

CPU = ["CPUExecutionProvider"]
VARIANTS = ["CPUExecutionProvider", "CUDAExecutionProvider"]  # the bodies sessions run


# ------------------------------------------------------------------ helpers
def _pooled(
    shape: tuple[int, ...],
    kernel: Any,
    stride: Any,
    padding: Any,
    dtype: str = "float32",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
    """Tie-free input pooled by torch: (values, indices) as numpy and as torch tensors."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.permutation(int(np.prod(shape))).reshape(shape).astype(dtype))
    values, indices = F.max_pool2d(x.double(), kernel, stride, padding, return_indices=True)
    values = values.to(x.dtype)
    return values.numpy(), indices.numpy(), values, indices


def _model(
    shape: tuple[int, ...],
    layer: MaxUnpool2d,
    dtype: str = "float32",
    *,
    dims: tuple[Any, ...] | None = None,
    **call: Any,
) -> Model:
    """``layer(x, i, **call)`` with inputs of ``dims`` (default: ``shape``)."""
    dims = dims or shape
    x, i = Input("x", dims, dtype), Input("i", dims, "int64")
    inputs = [x, i, *[v.of for v in call.values() if hasattr(v, "of")]]
    return Model(inputs, [layer(x, i, **call)])


def _run_all(model: Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of both bodies on onnxruntime, the oracle and the reference OpRun."""
    proto = model.to_onnx()
    out = {p: run_ort(prepare_for(proto, [p]), feeds)[0] for p in VARIANTS}
    out["oracle"] = oracle.run(model, feeds)["output"]
    (out["reference"],) = map(np.asarray, reference_evaluator(proto).run(None, feeds))
    return out


def _assert_all_equal(got: dict[str, np.ndarray], expected: np.ndarray) -> None:
    for who, value in got.items():
        assert value.dtype == expected.dtype and value.shape == expected.shape, who
        np.testing.assert_array_equal(value, expected, err_msg=who)


# ------------------------------------------------------------------ sweeps against torch
SWEEP = [  # (shape, kernel, stride, padding)
    ((2, 3, 7, 6), 2, None, 0),
    ((2, 3, 9, 7), 3, 2, 1),
    ((1, 2, 8, 11), (2, 3), (1, 2), (1, 1)),
    ((2, 2, 5, 5), 3, 1, 0),
    ((1, 3, 10, 9), (3, 2), (3, 2), (1, 0)),
    ((2, 4, 11, 13), 2, 2, 1),
    ((1, 2, 6, 9), 2, 1, 0),
    ((2, 2, 6, 7), 2, 1, 1),  # output smaller than the input: the portable body
    ((2, 3, 13, 10), (3, 3), (2, 3), (1, 1)),
    ((4, 9, 7), 2, 2, 0),
    ((3, 6, 5), 3, (2, 1), 1),
    ((5, 8, 8), 3, 3, 1),
]


def _sizes(
    values: np.ndarray, indices: np.ndarray, kernel: Any, stride: Any, padding: Any
) -> list[Any]:
    """None, plus every size torch allows around its default that holds every index."""
    layer = MaxUnpool2d(kernel, stride, padding)
    default = [
        (d - 1) * s + k - 2 * p
        for d, k, s, p in zip(
            values.shape[-2:], layer.kernel_size, layer.stride, layer.padding, strict=True
        )
    ]
    deltas = [range(1 - s, s) for s in layer.stride]
    sizes: list[Any] = []
    for dh, dw in itertools.product(*deltas):
        hw = (default[0] + dh, default[1] + dw)
        if indices.max() >= hw[0] * hw[1]:
            continue
        if dh == dw == 0:
            sizes.append(None)
        sizes.append(hw if (dh + dw) % 2 == 0 else (7, 7, *hw))  # torch ignores the 7s
    return sizes


@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), SWEEP, ids=str)
def test_static_sizes_match_torch(
    shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any
) -> None:
    values, indices, tv, ti = _pooled(shape, kernel, stride, padding)
    for size in _sizes(values, indices, kernel, stride, padding):
        expected = torch.nn.MaxUnpool2d(kernel, stride, padding)(tv, ti, output_size=size)
        model = _model(values.shape, MaxUnpool2d(kernel, stride, padding), output_size=size)
        _assert_all_equal(_run_all(model, {"x": values, "i": indices}), expected.numpy())


@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), SWEEP[:4], ids=str)
def test_dynamic_shape_as_output_size(
    shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any
) -> None:
    """``output_size=t.shape`` of a tensor with dynamic dims is read at run time."""
    values, indices, tv, ti = _pooled(shape, kernel, stride, padding)
    for size in [s for s in _sizes(values, indices, kernel, stride, padding) if s]:
        ref = Input("ref", ("N", "C", "H", "W")[4 - len(size) :])
        dyn = tuple(f"d{k}" for k in range(values.ndim))
        model = _model(
            values.shape,
            MaxUnpool2d(kernel, stride, padding),
            dims=dyn,
            output_size=ref.shape if len(size) == 4 else ref.size(),
        )
        feeds = {"x": values, "i": indices, "ref": np.zeros(size, np.float32)}
        expected = torch.nn.MaxUnpool2d(kernel, stride, padding)(tv, ti, output_size=size)
        _assert_all_equal(_run_all(model, feeds), expected.numpy())


@pytest.mark.parametrize("opset", [17, 18, 22])
def test_other_opsets(opset: int) -> None:
    """Bodies are written per ``ai.onnx`` opset (a function imports the model's)."""
    values, indices, tv, ti = _pooled((2, 3, 8, 6), 2, None, 0)
    ref = Input("ref", ("N", 3, "H", "W"))
    model = _model(values.shape, MaxUnpool2d(2), output_size=ref.shape)
    proto = model.to_onnx(opset=opset)
    expected = F.max_unpool2d(tv, ti, (2, 2), output_size=(2, 3, 8, 6)).numpy()
    feeds = {"x": values, "i": indices, "ref": np.zeros((2, 3, 8, 6), np.float32)}
    for provider in VARIANTS:
        np.testing.assert_array_equal(run_ort(prepare_for(proto, [provider]), feeds)[0], expected)


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_dtypes_use_the_portable_body(dtype: str) -> None:
    values, indices, tv, ti = _pooled((2, 3, 6, 4), 2, None, 0, dtype=dtype)
    model = _model(values.shape, MaxUnpool2d(2), dtype)
    assert body_variant(model.to_onnx().functions[0]) == "portable"
    expected = torch.nn.MaxUnpool2d(2)(tv, ti).numpy()
    _assert_all_equal(_run_all(model, {"x": values, "i": indices}), expected)


# ------------------------------------------------------------------ refusals, as torch
def test_invalid_static_sizes_raise_at_build_time() -> None:
    values, _, tv, ti = _pooled((1, 2, 6, 6), 2, None, 0)
    for size in [(4, 6), (6, 8), (1, 2, 8, 6), (6,), (1, 6, 6)]:
        with pytest.raises(ValueError):
            torch.nn.MaxUnpool2d(2)(tv, ti, output_size=size)
        with pytest.raises(LayerArgumentError, match=r"MaxUnpool2d: output_size="):
            _model(values.shape, MaxUnpool2d(2), output_size=size)


def test_invalid_dynamic_sizes_fail_clearly_at_run_time() -> None:
    values, indices, tv, ti = _pooled((1, 2, 6, 6), 2, None, 0)
    ref = Input("ref", ("N", "C", "H", "W"))
    model = _model(values.shape, MaxUnpool2d(2), output_size=ref.shape)
    proto = model.to_onnx()
    for size in [(1, 2, 4, 6), (1, 2, 6, 8)]:
        with pytest.raises(ValueError):
            torch.nn.MaxUnpool2d(2)(tv, ti, output_size=size)
        feeds = {"x": values, "i": indices, "ref": np.zeros(size, np.float32)}
        for provider in VARIANTS:
            with pytest.raises(Exception, match="output_size_out_of_range"):
                run_ort(prepare_for(proto, [provider]), feeds)
        with pytest.raises(DataError, match="strictly between"):
            oracle.run(model, feeds)


@pytest.mark.parametrize(
    ("shape", "where", "value"),
    [  # output planes of 4x4 = 16
        ((2, 3, 4, 4), (0, 1, 0, 0), 16),  # one past plane (0, 1): lands in plane (0, 2) unchecked
        ((2, 3, 4, 4), (1, 0, 1, 1), -1),  # negative in a later plane: lands in the previous one
        ((2, 3, 4, 4), (1, 2, 1, 1), 10**9),
        ((3, 4, 4), (1, 0, 0), 16),
        ((3, 4, 4), (2, 1, 1), -17),
    ],
)
def test_out_of_range_indices_are_errors(
    shape: tuple[int, ...], where: tuple[int, ...], value: int
) -> None:
    values, indices, tv, _ = _pooled(shape, 2, None, 0)
    indices[where] = value
    with pytest.raises(RuntimeError, match="invalid max index"):
        torch.nn.MaxUnpool2d(2)(tv, torch.from_numpy(indices))
    model = _model(values.shape, MaxUnpool2d(2))
    proto, feeds = model.to_onnx(), {"x": values, "i": indices}
    for provider in VARIANTS:
        with pytest.raises(Exception, match="indices_out_of_range"):
            run_ort(prepare_for(proto, [provider]), feeds)
    with pytest.raises(DataError, match=f"invalid max index {value}"):
        oracle.run(model, feeds)
    with pytest.raises(ValueError, match=f"index {value} is out of range"):
        reference_evaluator(proto).run(None, feeds)


def test_batch_of_zero_and_empty_dims_as_torch() -> None:
    dims = ("N", "C", "H", "W")
    model = _model((0, 2, 3, 3), MaxUnpool2d(2), dims=dims)
    empty: dict[str, np.ndarray] = {
        "x": np.zeros((0, 2, 3, 3), np.float32),
        "i": np.zeros((0, 2, 3, 3), np.int64),
    }
    expected = F.max_unpool2d(torch.from_numpy(empty["x"]), torch.from_numpy(empty["i"]), (2, 2))
    _assert_all_equal(_run_all(model, empty), expected.numpy())
    no_channels: dict[str, np.ndarray] = {
        "x": np.zeros((1, 0, 3, 3), np.float32),
        "i": np.zeros((1, 0, 3, 3), np.int64),
    }
    with pytest.raises(RuntimeError, match="non-zero size for non-batch dimensions"):
        F.max_unpool2d(
            torch.from_numpy(no_channels["x"]), torch.from_numpy(no_channels["i"]), (2, 2)
        )
    for provider in VARIANTS:
        with pytest.raises(Exception, match="input_has_empty_dims"):
            run_ort(prepare_for(model.to_onnx(), [provider]), no_channels)
    with pytest.raises(DataError, match="non-empty non-batch dims"):
        oracle.run(model, no_channels)


def test_output_size_may_be_positional() -> None:
    x, i, ref = Input("x", (1, 2, 3, 3)), Input("i", (1, 2, 3, 3), "int64"), Input("r", (7, 6))
    assert MaxUnpool2d(2)(x, i, ref.shape).shape == (1, 2, 7, 6)


def test_build_time_checks() -> None:
    x, i = Input("x", (1, 2, 4, 4)), Input("i", (1, 2, 4, 4), "int64")
    cases = [
        (lambda: MaxUnpool2d(0), LayerArgumentError, r"kernel_size=0 is invalid"),
        (
            lambda: MaxUnpool2d(2, name="up", padding=-1),
            LayerArgumentError,
            r"MaxUnpool2d 'up': padding=-1",
        ),
        (lambda: MaxUnpool2d(2, (1, 0)), LayerArgumentError, r"stride\[1\]=0"),
        (lambda: MaxUnpool2d(2, padding=-1), LayerArgumentError, r"padding=-1"),
        (lambda: MaxUnpool2d((2, 2, 2)), LayerArgumentError, r"a single int or a tuple"),
        (lambda: MaxUnpool2d(2.5), LayerTypeError, r"kernel_size=2.5"),
        (
            lambda: MaxUnpool2d(2)(x, Input("j", (1, 2, 4, 4), "float32")),
            LayerTypeError,
            r"indices dtype 'float32'",
        ),
        (
            lambda: MaxUnpool2d(2)(x, Input("j", (1, 2, 4, 3), "int64")),
            ShapeError,
            r"indices have shape",
        ),
        (
            lambda: MaxUnpool2d(2)(Input("y", (4, 4)), Input("j", (4, 4), "int64")),
            ShapeError,
            r"rank 2",
        ),
        (
            lambda: MaxUnpool2d(2)(x, i, output_size=Input("r", ("C", "H", "W")).shape),
            LayerArgumentError,
            r"has 3 elements",
        ),
        (
            lambda: MaxUnpool2d(2)(x, i, output_size=(Input("r", ("H", 8)).size(0), 8)),
            LayerArgumentError,
            r"pass a whole shape",
        ),
        (lambda: MaxUnpool2d(2)(x, i, output_size="8x8"), LayerTypeError, r"output_size='8x8'"),
        (
            lambda: MaxUnpool2d(2)(Input("e", (1, 0, 4, 4)), Input("j", (1, 0, 4, 4), "int64")),
            ShapeError,
            r"empty non-batch dim",
        ),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()


# ------------------------------------------------------------------ the ONNX file
def test_schema_shape_inference_and_checker() -> None:
    ref = Input("ref", ("N", 3, "H", "W"))
    x, i = Input("x", ("N", 3, 4, 5)), Input("i", ("N", 3, 4, 5), "int64")
    model = Model(
        [x, i, ref],
        [
            MaxUnpool2d(2)(x, i, output_size=ref.shape),
            MaxUnpool2d(2)(x, i, output_size=(9, 11)),
            MaxUnpool2d(2)(x, i),
        ],
    )
    proto = model.to_onnx()  # checks with full_check
    stripped = onnx.ModelProto()
    stripped.CopyFrom(proto)
    del stripped.graph.output[:]
    stripped.graph.output.extend(
        onnx.helper.make_tensor_value_info(o.name, 1, None) for o in proto.graph.output
    )
    inferred = onnx.shape_inference.infer_shapes(stripped, strict_mode=True, data_prop=True)
    dims = [
        [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
        for o in inferred.graph.output
    ]
    assert dims == [["N", 3, "H", "W"], ["N", 3, 9, 11], ["N", 3, 8, 10]]


def test_each_target_lowers_its_body_and_sessions_keep_the_file() -> None:
    model = _model((1, 2, 4, 4), MaxUnpool2d(2))
    proto = model.to_onnx()
    before = proto.SerializeToString()
    assert body_variant(proto.functions[0]) == "cpu"
    cuda = prepare_for(proto, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    ops = {n.op_type for n in cuda.functions[0].node}
    assert "ScatterElements" in ops and "MaxUnpool" not in ops
    assert proto.SerializeToString() == before
    assert prepare_for(proto, ("CPUExecutionProvider",)) is proto
    back = prepare_for(model.to_onnx(target="cuda"), ["CPUExecutionProvider"])
    assert body_variant(back.functions[0]) == "cpu"
    rank3 = _model((2, 4, 4), MaxUnpool2d(2)).to_onnx()
    assert body_variant(rank3.functions[0]) == "portable"
    assert prepare_for(rank3, CPU) is rank3


def test_portable_body_has_cuda_kernels() -> None:
    """Static check with onnxruntime's published CUDA kernel list (the GPU test is below)."""
    cuda_kernels = pytest.importorskip("onnxlayers.runtime.cuda_kernels")
    ref = Input("ref", ("N", 3, "H", "W"))
    for dtype in ["float32", "float16", "float64"]:
        x, i = Input("x", ("N", 3, 4, 5), dtype), Input("i", ("N", 3, 4, 5), "int64")
        proto = Model([x, i, ref], [MaxUnpool2d(2)(x, i, output_size=ref.shape)]).to_onnx()
        found = cuda_kernels.cuda_fallbacks(prepare_for(proto, ["CUDAExecutionProvider"]))
        # Constant nodes become initializers and CastLike becomes Cast when onnxruntime loads
        # a model: neither needs a kernel of its own.
        assert [f for f in found if f.op not in ("Constant", "CastLike")] == [], dtype


@pytest.mark.cuda
def test_cuda_provider_runs_every_node_on_the_gpu() -> None:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime's CUDAExecutionProvider is not available")
    values, indices, tv, ti = _pooled((4, 8, 28, 30), 2, None, 0)
    ref = Input("ref", ("N", "C", "H", "W"))
    model = _model(values.shape, MaxUnpool2d(2), output_size=ref.shape)
    proto = prepare_for(model.to_onnx(), ["CUDAExecutionProvider", "CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = os.path.join(tmp, "unpool")
        session = ort.InferenceSession(
            proto.SerializeToString(),
            options,
            providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        )
        feeds = {"x": values, "i": indices, "ref": np.zeros((4, 8, 56, 60), np.float32)}
        got = session.run(None, feeds)[0]
        with open(session.end_profiling(), encoding="utf-8") as f:
            events = json.load(f)
    np.testing.assert_array_equal(got, F.max_unpool2d(tv, ti, (2, 2)).numpy())
    on_cpu = {
        e["args"]["op_name"]
        for e in events
        if e.get("cat") == "Node" and e["args"].get("provider") == "CPUExecutionProvider"
    }
    # onnxruntime keeps tiny shape arithmetic (Shape/Slice/Concat on int64 shapes) on the CPU
    # on purpose; nothing that touches X or I may be there.
    heavy = {
        "ScatterElements",
        "Expand",
        "Less",
        "GreaterOrEqual",
        "And",
        "Cast",
        "ReduceMin",
        "MaxUnpool",
    }
    assert not on_cpu & heavy, on_cpu
    with pytest.raises(Exception, match="indices_out_of_range"):
        bad = indices.copy()
        bad[0, 1, 0, 0] = -1
        session.run(None, {**feeds, "i": bad})


# ------------------------------------------------------------------ in a graph
def _pooling() -> Any:
    try:
        importlib.import_module("onnxlayers.builder.layers.pooling")
    except ImportError:
        return None
    return LAYERS.get("MaxPool2d")


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, None, 0), (3, 2, 1), ((2, 3), 1, 0)])
def test_pool_unpool_chain_with_output_size_from_shape(
    kernel: Any, stride: Any, padding: Any
) -> None:
    pool_cls = _pooling()
    if pool_cls is None:
        pytest.skip("MaxPool2d (builder/layers/pooling.py) is not there yet")
    x = Input("x", ("N", 3, "H", "W"))
    pooled, indices = pool_cls(kernel, stride, padding, return_indices=True)(x)
    up = MaxUnpool2d(kernel, stride, padding)(pooled, indices, output_size=x.shape)
    again = MaxUnpool2d(kernel, stride, padding)(pooled, indices, output_size=x.size())
    model = Model([x], [up, again])
    feeds = {
        "x": np.random.default_rng(1)
        .permutation(2 * 3 * 9 * 11)
        .reshape(2, 3, 9, 11)
        .astype(np.float32)
    }
    tx = torch.from_numpy(feeds["x"])
    tp, ti = F.max_pool2d(tx, kernel, stride, padding, return_indices=True)
    expected = F.max_unpool2d(tp, ti, kernel, stride, padding, output_size=tx.size()).numpy()
    proto = model.to_onnx()
    for provider in VARIANTS:
        for got in run_ort(prepare_for(proto, [provider]), feeds):
            np.testing.assert_array_equal(got, expected, err_msg=provider)
    for got in oracle.run(model, feeds).values():
        np.testing.assert_array_equal(got, expected)


def test_saved_model_round_trip(tmp_path: Any) -> None:
    ref = Input("ref", ("N", 2, "H", "W"))
    model = _model((1, 2, 3, 3), MaxUnpool2d((2, 3), (2, 1), (1, 0)), output_size=ref.size())
    path = tmp_path / "unpool.onnx"
    model.save(path)
    loaded = Model.load(path)
    layer = next(iter(loaded.layers.values()))
    assert isinstance(layer, MaxUnpool2d)
    assert (layer.kernel_size, layer.stride, layer.padding) == ((2, 3), (2, 1), (1, 0))
    assert loaded.to_onnx().graph == model.to_onnx().graph
    assert (
        json.loads(next(p.value for p in onnx.load(path).metadata_props))["calls"][0]["call_args"][
            "output_size"
        ]["shape_of"]
        == "ref"
    )


# ------------------------------------------------------------------ pool -> unpool (SegNet)
POOL_UNPOOL = [  # (kernel, stride, padding, ceil_mode, dims)
    (2, None, 0, False, (2, 16, 8, 10)),
    (3, 2, 1, False, (2, 3, 9, 11)),
    ((3, 2), (2, 1), (1, 0), True, (1, 4, 7, 9)),
    (2, None, 0, True, ("N", 3, "H", "W")),
]


def _pool_unpool(
    kernel: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    dims: tuple[Any, ...],
    unpool: MaxUnpool2d | None = None,
    dtype: str = "float32",
) -> Model:
    """``x -> MaxPool2d(return_indices) -> MaxUnpool2d(output_size=x.shape)``, both outputs."""
    pool_cls = _pooling()
    if pool_cls is None:
        pytest.skip("MaxPool2d (builder/layers/pooling.py) is not there yet")
    x = Input("x", dims, dtype)
    pooled, indices = pool_cls(kernel, stride, padding, return_indices=True, ceil_mode=ceil_mode)(x)
    layer = unpool or MaxUnpool2d(kernel, stride, padding)
    return Model([x], [layer(pooled, indices, output_size=x.shape), indices])


def _pool_unpool_feeds(
    shape: tuple[int, ...], seed: int, dtype: str = "float32"
) -> list[np.ndarray]:
    """Distinct values; ties; distinct with NaN, +-inf and a whole plane of -inf."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    distinct = rng.permutation(size).reshape(shape).astype(dtype)
    ties = rng.integers(-2, 3, size).reshape(shape).astype(dtype)
    special = distinct.copy()
    special.reshape(-1)[rng.choice(size, size // 7, replace=False)] = np.nan
    special.reshape(-1)[rng.choice(size, size // 9, replace=False)] = np.inf
    special[0, 1] = -np.inf
    return [distinct, ties, special]


def _assert_like_torch(
    model: Model, x: np.ndarray, kernel: Any, stride: Any, padding: Any, ceil_mode: bool
) -> None:
    tx = torch.from_numpy(x)
    tp, ti = F.max_pool2d(tx, kernel, stride, padding, return_indices=True, ceil_mode=ceil_mode)
    expected = [
        F.max_unpool2d(tp, ti, kernel, stride, padding, output_size=tx.size()).numpy(),
        ti.numpy(),
    ]
    proto = model.to_onnx()
    for provider in VARIANTS:
        for got, want in zip(
            run_ort(prepare_for(proto, [provider]), {"x": x}), expected, strict=True
        ):
            np.testing.assert_array_equal(got, want, err_msg=provider)
    for got, want in zip(oracle.run(model, {"x": x}).values(), expected, strict=True):
        np.testing.assert_array_equal(got, want, err_msg="oracle")


@pytest.mark.parametrize(("kernel", "stride", "padding", "ceil_mode", "dims"), POOL_UNPOOL, ids=str)
def test_unpool_of_a_pool_uses_its_whole_tensor_indices(
    kernel: Any, stride: Any, padding: Any, ceil_mode: bool, dims: tuple[Any, ...]
) -> None:
    """One native MaxUnpool on the pool's own indices (no offsets, no range check): torch's
    values, NaN and -inf included, and the pool's per-plane indices are still torch's; CUDA
    sessions get the portable body."""
    model = _pool_unpool(kernel, stride, padding, ceil_mode, dims)
    proto = model.to_onnx()
    top = [n.op_type for n in proto.graph.node]
    assert "MaxUnpool" in top and "MaxUnpool2d" not in top and not proto.functions, top
    cuda = prepare_for(proto, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert [body_variant(f) for f in cuda.functions] == ["portable"]
    shape = tuple(d if isinstance(d, int) else s for d, s in zip(dims, (2, 3, 9, 11), strict=True))
    for x in _pool_unpool_feeds(shape, 3):
        _assert_like_torch(model, x, kernel, stride, padding, ceil_mode)


@pytest.mark.parametrize(
    ("unpool", "pool_kwargs", "dims", "dtype"),
    [
        (MaxUnpool2d(2, 3), {}, (2, 3, 8, 9), "float32"),  # another geometry
        (MaxUnpool2d(3, 2, 1), {"dilation": 2}, (2, 3, 9, 11), "float32"),  # dilated pool
        (MaxUnpool2d(2), {}, (2, 3, 8, 10), "float64"),  # no native MaxUnpool for it
        (MaxUnpool2d(2), {}, (3, 8, 10), "float32"),  # rank 3
    ],
    ids=["geometry", "dilation", "float64", "rank3"],
)
def test_other_unpools_of_a_pool_keep_the_op(
    unpool: MaxUnpool2d, pool_kwargs: dict[str, Any], dims: tuple[int, ...], dtype: str
) -> None:
    """Where the indices are not known to be valid (or no native kernel fits), the op runs,
    with its offsets and range check."""
    pool_cls = _pooling()
    if pool_cls is None:
        pytest.skip("MaxPool2d (builder/layers/pooling.py) is not there yet")
    k, s, p = unpool.kernel_size, unpool.stride, unpool.padding
    if "dilation" not in pool_kwargs:
        k, s, p = (2, 2), (2, 2), (0, 0)
    x = Input("x", dims, dtype)
    pooled, indices = pool_cls(k, s, p, return_indices=True, **pool_kwargs)(x)
    try:
        up = unpool(pooled, indices, output_size=x.shape)
    except LayerArgumentError:  # torch refuses this output size too
        up = unpool(pooled, indices)
    proto = Model([x], [up]).to_onnx()
    assert "MaxUnpool2d" in [n.op_type for n in proto.graph.node]
