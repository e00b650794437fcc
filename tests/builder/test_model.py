"""Model building, naming, state dicts, saving and loading; every builder error path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnxlayers.builder import (
    BuildError,
    Flatten,
    Input,
    LayerArgumentError,
    LayerTypeError,
    LeakyReLU,
    Linear,
    Model,
    ModelFormatError,
    PReLU,
    ReLU,
    RReLU,
    Sequential,
    ShapeError,
    Sigmoid,
)
from onnxlayers.builder.program import METADATA_KEY, Program
from onnxlayers.runtime import oracle
from tests.helpers import run_ort


def _mlp() -> tuple[Model, Sequential]:
    x = Input("x", ("N", 3, 4, 4))
    seq = Sequential(Flatten(), Linear(48, 10, seed=0), ReLU(), Linear(10, 2, seed=1))
    return Model([x], [seq(x)]), seq


def test_issue_example_end_to_end(tmp_path: Path) -> None:
    x = Input("x", ("N", 3, 32, 32))
    lin = Linear(3 * 32 * 32, 10)
    w = np.random.default_rng(0).standard_normal((10, 3 * 32 * 32)).astype(np.float32) * 0.01
    lin.weight = w
    y = ReLU()(lin(Flatten()(x)))
    model = Model([x], [y])
    proto = model.to_onnx()
    assert proto.opset_import[0].version == 21
    onnx.checker.check_model(proto, full_check=True)
    path = model.save(tmp_path / "mlp.onnx")
    a = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (got,) = run_ort(onnx.load(path), {"x": a})
    ref = oracle.run(model, {"x": a})["output"]
    expected = np.maximum(a.reshape(2, -1) @ w.T + lin.bias, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ref, expected, rtol=1e-5, atol=1e-5)
    assert oracle.run(str(path), {"x": a})["output"].shape == (2, 10)


def test_sequential_state_dict_uses_torch_keys() -> None:
    model, seq = _mlp()
    keys = ["1.weight", "1.bias", "3.weight", "3.bias"]
    assert list(seq.state_dict()) == keys
    assert list(model.state_dict()) == keys
    proto = model.to_onnx()
    assert {t.name for t in proto.graph.initializer} >= set(keys)


def test_load_state_dict_validates_everything_before_assigning() -> None:
    _, seq = _mlp()
    before = seq.state_dict()
    bad = dict(before)
    bad["3.bias"] = np.zeros(5, np.float32)  # wrong shape, after a valid key
    bad["1.weight"] = np.ones((10, 48), np.float32)
    with pytest.raises(LayerArgumentError, match=r"bias has shape \(5,\); expected \(2,\)"):
        seq.load_state_dict(bad)
    np.testing.assert_array_equal(seq.state_dict()["1.weight"], before["1.weight"])
    with pytest.raises(LayerArgumentError, match="missing keys"):
        seq.load_state_dict({"1.weight": before["1.weight"]})
    seq.load_state_dict({"1.weight": before["1.weight"]}, strict=False)


def test_model_load_round_trip(tmp_path: Path) -> None:
    model, _ = _mlp()
    model.train()  # flags are carried
    path = model.save(tmp_path / "m.onnx")
    again = Model.load(path)
    assert list(again.layers) == list(model.layers)
    assert all(layer.training for layer in again.layers.values())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v)
    prog = Program.from_onnx(onnx.load(path))
    assert [c.type for c in prog.calls] == ["Flatten", "Linear", "ReLU", "Linear"]


def test_shared_layer_called_twice() -> None:
    x = Input("x", (2, 4))
    lin = Linear(4, 4, seed=3)
    model = Model([x], [lin(ReLU()(lin(x)))])
    a = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    expected = np.maximum(a @ lin.weight.T + lin.bias, 0) @ lin.weight.T + lin.bias
    np.testing.assert_allclose(run_ort(model, {"x": a})[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        oracle.run(model, {"x": a})["output"], expected, rtol=1e-5, atol=1e-6
    )
    assert len(model.state_dict()) == 2


def test_multiple_outputs_and_names() -> None:
    x = Input("x", (2, 4))
    h = Sigmoid()(x)
    model = Model([x], [h, LeakyReLU(0.2)(h)], output_names=["prob", "act"])
    proto = model.to_onnx()
    assert [o.name for o in proto.graph.output] == ["prob", "act"]


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _mlp()
    path = model.save(tmp_path / "m.onnx")
    before = path.read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    x = Input("x", (2, 3))
    with pytest.raises(OSError, match="disk full"):
        Model([x], [ReLU()(x)]).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temp file left


def test_file_without_program_is_refused(tmp_path: Path) -> None:
    model, _ = _mlp()
    proto = model.to_onnx()
    del proto.metadata_props[:]
    with pytest.raises(ModelFormatError, match="no onnxlayers layer program"):
        oracle.run(proto, {})
    proto.metadata_props.add(key=METADATA_KEY, value="{not json")
    with pytest.raises(ModelFormatError, match="malformed"):
        Program.from_onnx(proto)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Linear(-1, 3), LayerArgumentError, "in_features=-1"),
        (lambda: Linear(3.5, 3), LayerTypeError, "in_features=3.5"),
        (lambda: Linear(3, True), LayerTypeError, "out_features=True"),
        (lambda: PReLU(0), LayerArgumentError, "num_parameters=0"),
        (lambda: LeakyReLU("a"), LayerTypeError, "negative_slope='a'"),
        (lambda: RReLU(0.5, 0.1), LayerArgumentError, "lower=0.5 is greater than upper=0.1"),
        (lambda: Flatten(1.0), LayerTypeError, "start_dim=1.0"),
        (lambda: Input("x", (2, -1)), LayerArgumentError, "dim 1 is -1"),
        (lambda: Input("x", (2, 3), dtype="int8"), LayerArgumentError, "dtype='int8'"),
        (lambda: Input("", (2,)), LayerTypeError, "name=''"),
        (lambda: Sequential(ReLU(), "relu"), LayerTypeError, "child '1' is 'relu'"),
    ],
)
def test_constructor_errors(make: object, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        make()  # type: ignore[operator]
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("layer", "shape", "dtype", "error", "words"),
    [
        (Linear(4, 2), (2, 5), "float32", ShapeError, "last dim is 5"),
        (Linear(4, 2), (), "float32", ShapeError, "0-d"),
        (PReLU(3), (2, 4, 5), "float32", ShapeError, "3 channels"),
        (PReLU(3), (3,), "float32", ShapeError, "rank >= 2"),
        (Flatten(2), (2, 3), "float32", ShapeError, "start_dim=2 is out of range"),
        (Flatten(2, 1), (2, 3, 4), "float32", ShapeError, "comes after"),
        (ReLU(), (2, 3), "int64", LayerTypeError, "dtype 'int64' is not supported"),
    ],
)
def test_call_errors(
    layer: object, shape: tuple[int, ...], dtype: str, error: type, words: str
) -> None:
    with pytest.raises(error) as info:
        layer(Input("x", shape, dtype))  # type: ignore[operator]
    assert words in str(info.value)


def test_model_errors() -> None:
    x, z = Input("x", (2, 3)), Input("z", (2, 3))
    y = ReLU()(z)
    with pytest.raises(LayerArgumentError, match="depend on input 'z'"):
        Model([x], [y])
    with pytest.raises(LayerArgumentError, match="an input cannot be an output"):
        Model([x], [x])
    with pytest.raises(LayerTypeError, match="expected a symbolic Tensor"):
        ReLU()(np.zeros(3))
    with pytest.raises(LayerArgumentError, match="opset=23"):
        Model([z], [y]).to_onnx(23)
    with pytest.raises(BuildError, match="must be 1 unique names"):
        Model([z], [y], output_names=["a", "b"])


def test_weight_assignment_is_validated() -> None:
    lin = Linear(3, 2)
    with pytest.raises(LayerArgumentError, match=r"weight has shape \(3, 2\); expected \(2, 3\)"):
        lin.weight = np.zeros((3, 2))
    with pytest.raises(LayerTypeError, match="float array"):
        lin.bias = np.array(["a", "b"])
    lin.weight = np.arange(6).reshape(2, 3)  # ints become float32
    assert lin.weight.dtype == np.float32
