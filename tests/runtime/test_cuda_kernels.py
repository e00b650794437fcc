"""The static CUDA placement check against the derived kernel table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnx.helper as h
import pytest
from onnx import TensorProto as TP

from onnxlayers.runtime._make_cuda_table import derive, format_row, shared_table, write_table
from onnxlayers.runtime.cuda_kernels import (
    TABLE_PATH,
    cuda_caveats,
    cuda_fallbacks,
    format_fallbacks,
    kernel_table,
)

SHARED_TABLE = shared_table(Path(__file__).resolve().parents[2])  # this checkout's shared/


def model_of(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    opset: int = 21,
    functions: Sequence[onnx.FunctionProto] = (),
    **imports: int,
) -> onnx.ModelProto:
    outputs = [h.make_tensor_value_info(nodes[-1].output[0], TP.UNDEFINED, None)]
    opsets = [h.make_opsetid("", opset)] + [
        h.make_opsetid(d.replace("_", "."), v) for d, v in imports.items()
    ]
    return h.make_model(
        h.make_graph(nodes, "g", inputs, outputs), opset_imports=opsets, functions=list(functions)
    )


def tensor(
    name: str, dtype: int = TP.FLOAT, shape: tuple[int, ...] = (1, 1, 4, 4)
) -> onnx.ValueInfoProto:
    return h.make_tensor_value_info(name, dtype, list(shape))


def unpool_model() -> onnx.ModelProto:
    return model_of(
        [
            h.make_node("Relu", ["x"], ["r"], name="relu"),
            h.make_node("MaxUnpool", ["r", "i"], ["y"], name="unpool", kernel_shape=[2, 2]),
        ],
        [tensor("x"), tensor("i", TP.INT64)],
    )


def test_maxunpool_is_reported_relu_is_not() -> None:
    found = cuda_fallbacks(unpool_model())
    assert [(f.node, f.op, f.domain, f.opset, f.dtype) for f in found] == [
        ("unpool", "MaxUnpool", "ai.onnx", 21, "float")
    ]
    assert "no kernel for ai.onnx::MaxUnpool" in found[0].reason


@pytest.mark.parametrize(
    ("dtype", "reported"), [(TP.FLOAT16, True), (TP.FLOAT, False), (TP.INT64, False)]
)
def test_range_float16_is_reported(dtype: int, reported: bool) -> None:
    scalars = [h.make_tensor_value_info(n, dtype, []) for n in ("start", "limit", "delta")]
    model = model_of(
        [h.make_node("Range", ["start", "limit", "delta"], ["y"], name="range")], scalars
    )
    found = cuda_fallbacks(model)
    assert bool(found) is reported
    if reported:
        assert found[0].dtype == "float16"
        assert "T=float16" in found[0].reason and "'float'" in found[0].reason


def test_intermediate_dtype_comes_from_shape_inference() -> None:
    model = model_of(
        [
            h.make_node("Cast", ["x"], ["h"], name="cast", to=TP.FLOAT16),
            h.make_node("Range", ["h", "h", "h"], ["y"], name="range"),
        ],
        [tensor("x", shape=())],
    )
    assert [(f.node, f.dtype) for f in cuda_fallbacks(model)] == [("range", "float16")]


def test_unknown_dtype_is_said() -> None:
    graph = h.make_graph(
        [h.make_node("Relu", ["t"], ["y"], name="relu")],
        "g",
        [],
        [h.make_tensor_value_info("y", TP.UNDEFINED, None)],
    )
    graph.input.append(onnx.ValueInfoProto(name="t"))  # no type at all
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
    (found,) = cuda_fallbacks(model)
    assert found.dtype == "unknown"
    assert "dtype unknown" in found.reason and "possible fallback" in found.reason


def test_opset_outside_every_kernel_range() -> None:
    # the CUDA list registers Dropout from opset 7: a model at opset 6 has no kernel for it
    model = model_of([h.make_node("Dropout", ["x"], ["y"], name="drop")], [tensor("x")], opset=6)
    (found,) = cuda_fallbacks(model)
    assert "cover opsets" in found.reason and "model opset 6" in found.reason


def test_local_functions_are_inlined() -> None:
    body = [h.make_node("MaxUnpool", ["x", "i"], ["y"], kernel_shape=[2, 2])]
    function = h.make_function(
        "ai.onnxlayers", "Unpool", ["x", "i"], ["y"], body, [h.make_opsetid("", 21)]
    )
    model = model_of(
        [h.make_node("Unpool", ["x", "i"], ["y"], name="mine", domain="ai.onnxlayers")],
        [tensor("x"), tensor("i", TP.INT64)],
        functions=[function],
        ai_onnxlayers=1,
    )
    assert [f.op for f in cuda_fallbacks(model)] == ["MaxUnpool"]


def test_onnx_ml_domain_has_no_cuda_kernels() -> None:
    model = model_of(
        [h.make_node("Normalizer", ["x"], ["y"], name="norm", domain="ai.onnx.ml")],
        [tensor("x", shape=(1, 4))],
        ai_onnx_ml=3,
    )
    (found,) = cuda_fallbacks(model)
    assert found.domain == "ai.onnx.ml"


@pytest.mark.parametrize(("opset", "caveat"), [(22, True), (21, False)])
def test_random_uniform_like_carries_the_caveat(opset: int, caveat: bool) -> None:
    model = model_of(
        [h.make_node("RandomUniformLike", ["x"], ["y"], name="noise")], [tensor("x")], opset=opset
    )
    assert cuda_fallbacks(model) == []  # the published list says CUDA has it ...
    caveats = cuda_caveats(model)  # ... but onnxruntime 1.32's CPU build refuses opset 22
    assert bool(caveats) is caveat
    if caveat:
        assert caveats[0].node == "noise"
        assert "opset 1" in caveats[0].note and "real CUDA session" in caveats[0].note
        assert "noise (RandomUniformLike)" in format_fallbacks([], caveats)


def test_pooling_caveats() -> None:
    pool = h.make_node(
        "MaxPool",
        ["x"],
        ["y"],
        name="pool",
        kernel_shape=[2, 2],
        dilations=[2, 2],
        pads=[1, 1, 0, 0],
        ceil_mode=1,
    )
    notes = [c.note for c in cuda_caveats(model_of([pool], [tensor("x")]))]
    assert len(notes) == 2
    assert "ceil_mode" in notes[0] and "#29637" in notes[1]
    same = h.make_node(
        "AveragePool", ["x"], ["y"], name="avg", kernel_shape=[2, 2], auto_pad="SAME_UPPER"
    )
    plain = h.make_node(
        "AveragePool", ["x"], ["y"], name="avg", kernel_shape=[2, 2], pads=[1, 1, 1, 1]
    )
    assert len(cuda_caveats(model_of([same], [tensor("x")]))) == 1
    assert cuda_caveats(model_of([plain], [tensor("x")])) == []


def test_format_lists_fallbacks_and_the_general_note() -> None:
    text = format_fallbacks(cuda_fallbacks(unpool_model()))
    assert "1 node(s) would run on CPU" in text
    assert "unpool (ai.onnx::MaxUnpool, opset 21, dtype float)" in text
    assert "a real CUDA session has the last word" in text


def test_table_header_and_content() -> None:
    header = TABLE_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("# Derived from ort-cuda-kernels.tsv")
    table = kernel_table()
    assert ("ai.onnx", "MaxUnpool") not in table
    assert ("com.ms.internal.nhwc", "MaxPool") not in table
    relu = {r.span() for r in table[("ai.onnx", "Relu")]}
    assert relu == {"6-12", "13+"}  # 13-13 and 14+ carry the same types: merged


def test_shipped_table_is_up_to_date(tmp_path: Path) -> None:
    if not SHARED_TABLE.is_file():
        missing = (
            f"the shared CUDA kernel list {str(SHARED_TABLE)!r} is missing (a checkout "
            "has the project's shared/ folder beside the repository)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing}; on CI it must be there")
        pytest.skip(f"{missing}; set CI=true to make this a failure")
    out = tmp_path / "derived.tsv"
    write_table(SHARED_TABLE, out)
    assert out.read_text(encoding="utf-8") == TABLE_PATH.read_text(encoding="utf-8")


def test_derive_keeps_gaps_and_type_changes() -> None:
    rows = derive(
        [
            "A\tai.onnx\t1\t5\tT=float",
            "A\tai.onnx\t7\t\tT=float",
            "B\tai.onnx\t1\t5\tT=float",
            "B\tai.onnx\t6\t\tT=float,seq(float)",
            "C\tai.onnx\t1\t\tS=seq(float);T=int64",
        ]
    )
    assert [format_row(r) for r in rows] == [
        "A\tai.onnx\t1\t5\tT=float",
        "A\tai.onnx\t7\t\tT=float",
        "B\tai.onnx\t1\t\tT=float",
        "C\tai.onnx\t1\t\tT=int64",
    ]


def test_constant_nodes_are_never_placed() -> None:
    """onnxruntime folds Constant nodes into initializers: no provider runs them."""
    one = h.make_tensor("one", TP.FLOAT, [], [1.0])
    model = model_of(
        [
            h.make_node("Constant", [], ["c"], name="c", value=one),
            h.make_node("Add", ["x", "c"], ["y"], name="add"),
        ],
        [tensor("x")],
    )
    assert cuda_fallbacks(model) == []


def test_castlike_is_checked_as_the_cast_it_expands_to() -> None:
    model = model_of(
        [h.make_node("CastLike", ["x", "t"], ["y"], name="cl")],
        [tensor("x", TP.INT64), tensor("t", TP.FLOAT, (1,))],
    )
    assert cuda_fallbacks(model) == []
