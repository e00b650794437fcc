"""load_model: every refusal raises ModelLoadError naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.helper as h
import pytest
from onnx import TensorProto as TP
from onnx.external_data_helper import set_external_data

from onnxlayers.runtime.errors import ModelLoadError
from onnxlayers.runtime.loading import SUPPORTED_OPSETS, load_model

DOMAIN = "ai.onnxlayers"


def relu_model(
    opset: int = 21,
    nodes: list[onnx.NodeProto] | None = None,
    domains: dict[str, int] | None = None,
) -> onnx.ModelProto:
    graph = h.make_graph(
        nodes or [h.make_node("Relu", ["x"], ["y"], name="relu")],
        "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [1, 3])],
        [h.make_tensor_value_info("y", TP.FLOAT, [1, 3])],
    )
    imports = [h.make_opsetid("", opset)] + [
        h.make_opsetid(d, v) for d, v in (domains or {}).items()
    ]
    return h.make_model(graph, opset_imports=imports)


def double_function() -> onnx.FunctionProto:
    """ai.onnxlayers::Double(x) = x + x, a model-local function."""
    return h.make_function(
        DOMAIN,
        "Double",
        ["x"],
        ["y"],
        [h.make_node("Add", ["x", "x"], ["y"])],
        [h.make_opsetid("", 21)],
    )


def custom_model(with_function: bool = True) -> onnx.ModelProto:
    model = relu_model(
        nodes=[h.make_node("Double", ["x"], ["y"], name="dbl", domain=DOMAIN)], domains={DOMAIN: 1}
    )
    if with_function:
        model.functions.append(double_function())
    return model


def external_model(tmp_path: Path, location: str) -> Path:
    """A model whose weight ``w`` lives in external data at ``location``."""
    w = h.make_tensor("w", TP.FLOAT, [3], np.ones(3, np.float32).tobytes(), raw=True)
    graph = h.make_graph(
        [h.make_node("Add", ["x", "w"], ["y"], name="add")],
        "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [3])],
        [h.make_tensor_value_info("y", TP.FLOAT, [3])],
        [w],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
    tensor = model.graph.initializer[0]
    (tmp_path / "weights.bin").write_bytes(tensor.raw_data)
    set_external_data(tensor, location)
    tensor.ClearField("raw_data")
    tensor.data_location = TP.EXTERNAL
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_loads_proto_bytes_and_path(tmp_path: Path) -> None:
    model = relu_model()
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    for source in (model, model.SerializeToString(), path, str(path)):
        assert load_model(source).graph.node[0].op_type == "Relu"


def test_does_not_mutate_or_share_the_callers_proto() -> None:
    model = custom_model()
    before = model.SerializeToString()
    loaded = load_model(model)
    loaded.graph.node[0].name = "changed"
    assert loaded is not model
    assert model.SerializeToString() == before


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.onnx"
    with pytest.raises(ModelLoadError, match=r"absent\.onnx.*does not exist"):
        load_model(path)


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.9])
def test_truncated_file(tmp_path: Path, cut: float) -> None:
    data = relu_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ModelLoadError, match=r"cut\.onnx.*truncated or not an ONNX model"):
        load_model(path)


@pytest.mark.parametrize("junk", [b"hello, this is not ONNX", b"\x00\x01\x02\x03", b""])
def test_not_onnx_bytes(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(junk)
    with pytest.raises(ModelLoadError, match=r"junk\.onnx.*truncated or not an ONNX model"):
        load_model(path)
    with pytest.raises(ModelLoadError, match=r"<bytes>.*not an ONNX model"):
        load_model(junk)


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot read the file"):
        load_model(tmp_path)


@pytest.mark.parametrize("opset", [13, 16, 23])
def test_opset_out_of_range(opset: int) -> None:
    with pytest.raises(
        ModelLoadError,
        match=rf"opset {opset} is outside the supported range "
        r"17\.\.22",
    ):
        load_model(relu_model(opset))


@pytest.mark.parametrize("opset", [SUPPORTED_OPSETS[0], SUPPORTED_OPSETS[-1]])
def test_opset_bounds_accepted(opset: int) -> None:
    assert load_model(relu_model(opset)).opset_import[0].version == opset


def test_no_default_opset() -> None:
    model = relu_model()
    del model.opset_import[:]
    model.opset_import.append(h.make_opsetid("com.microsoft", 1))
    with pytest.raises(ModelLoadError, match=r"no default-domain.*17\.\.22"):
        load_model(model)


def test_unknown_domain() -> None:
    model = relu_model(
        nodes=[h.make_node("Mystery", ["x"], ["y"], name="m", domain="acme.ops")],
        domains={"acme.ops": 1},
    )
    with pytest.raises(ModelLoadError, match=r"node 'm' .*unknown domain 'acme\.ops'.*allowed"):
        load_model(model)


def test_custom_domain_with_function_loads() -> None:
    assert load_model(custom_model()).functions[0].name == "Double"


def test_missing_function() -> None:
    with pytest.raises(
        ModelLoadError,
        match=r"node 'dbl' \(ai\.onnxlayers::Double\) has no "
        r"function definition in model\.functions",
    ):
        load_model(custom_model(with_function=False))


def test_missing_function_called_from_a_function() -> None:
    model = custom_model()
    model.functions[0].node.append(h.make_node("Triple", ["y"], ["z"], domain=DOMAIN))
    with pytest.raises(ModelLoadError, match=r"Triple.*no function definition"):
        load_model(model)


def test_domain_not_imported() -> None:
    model = custom_model()
    del model.opset_import[1:]
    with pytest.raises(ModelLoadError, match=r"'ai\.onnxlayers'.*does not import"):
        load_model(model)


def test_unknown_domain_inside_a_subgraph() -> None:
    branch = h.make_graph(
        [h.make_node("Mystery", ["x"], ["z"], name="deep", domain="acme")],
        "b",
        [],
        [h.make_tensor_value_info("z", TP.FLOAT, [1, 3])],
    )
    cond = h.make_node("If", ["c"], ["y"], name="if", then_branch=branch, else_branch=branch)
    model = relu_model(nodes=[cond])
    with pytest.raises(ModelLoadError, match=r"node 'deep'.*unknown domain 'acme'"):
        load_model(model)


def test_external_data_inside_directory_loads(tmp_path: Path) -> None:
    loaded = load_model(external_model(tmp_path, "weights.bin"))
    tensor = loaded.graph.initializer[0]
    assert tensor.data_location == TP.DEFAULT
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(tensor), np.ones(3, np.float32))


@pytest.mark.parametrize("location", ["../weights.bin", "sub/../../weights.bin", "/etc/passwd"])
def test_external_data_escaping_directory(tmp_path: Path, location: str) -> None:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    path = external_model(model_dir, location)
    with pytest.raises(ModelLoadError, match=r"model\.onnx.*'w'.*escapes the model's directory"):
        load_model(path)


def test_external_data_symlink_escaping_directory(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    path = external_model(model_dir, "link.bin")
    (model_dir / "link.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(ModelLoadError, match="escapes the model's directory"):
        load_model(path)


def test_external_data_missing_file(tmp_path: Path) -> None:
    path = external_model(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.onnx.*cannot read its external data"):
        load_model(path)


def test_external_data_in_memory_is_refused(tmp_path: Path) -> None:
    model = onnx.load(external_model(tmp_path, "weights.bin"), load_external_data=False)
    with pytest.raises(ModelLoadError, match=r"<ModelProto>.*'w' refers to external data"):
        load_model(model)
