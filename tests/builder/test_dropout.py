"""Dropout / Dropout2d / Identity against torch.nn: the identity in eval mode, refused in training.

Eval mode returns the input exactly (NaN and infinities included, every dtype and rank torch
takes, dynamic dims); training mode with p > 0 is random and refused at build time, p = 0 is the
identity in both modes; argument checks match torch's; ``from_torch`` maps the modules.
"""

from __future__ import annotations

import copy
import json
import warnings
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
    from_torch,
)
from onnxlayers.builder.layers.dropout import Dropout, Dropout2d, Identity
from onnxlayers.runtime.errors import ModelLoadError
from tests.helpers import run_oracle, run_ort, single_layer_model

TARGETS = ("any", "cuda")
DTYPES = ("float32", "float64", "float16", "int64")


def _input(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "int64":
        return rng.integers(-100, 100, shape)
    x = np.asarray(rng.standard_normal(shape) * 3).astype(dtype)
    if x.size >= 4:
        x.reshape(-1)[:4] = np.array([np.nan, np.inf, -np.inf, -0.0], dtype)
    return x


def _torch(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module(torch.from_numpy(x.copy())).numpy()


def _check_identity(
    ours: Any,
    theirs: torch.nn.Module,
    shape: tuple[int, ...],
    dtype: str,
    dims: tuple[Any, ...] | None = None,
) -> None:
    x = _input(shape, dtype, len(shape))
    expected = _torch(theirs, x)
    np.testing.assert_array_equal(expected, x)  # torch's eval dropout is the identity
    with warnings.catch_warnings():  # Dropout2d warns on ranks other than 3 and 4, as torch
        warnings.simplefilter("ignore")
        model = single_layer_model(ours, dims or shape, dtype)
        protos = {target: model.to_onnx(target=target) for target in TARGETS}
    for proto in protos.values():
        assert [n.op_type for n in proto.graph.node] == ["Identity"]
        (got,) = run_ort(proto, {"x": x})
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    (ref,) = run_oracle(model, {"x": x})
    np.testing.assert_array_equal(ref, expected)


SHAPES = [(), (5,), (2, 3), (2, 3, 4), (2, 3, 4, 5), (1, 2, 3, 2, 2), (0, 3, 2, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    "make",
    [
        lambda: (Dropout(), torch.nn.Dropout().eval()),
        lambda: (Dropout(0.9, inplace=True), torch.nn.Dropout(0.9).eval()),
        lambda: (Dropout(1.0), torch.nn.Dropout(1.0).eval()),
        lambda: (Dropout2d(0.3), torch.nn.Dropout2d(0.3).eval()),
        lambda: (Identity(), torch.nn.Identity()),
        lambda: (Identity(54, unused=0.1), torch.nn.Identity(54, unused=0.1)),
    ],
    ids=lambda f: repr(f()[0]),
)
def test_eval_is_identity(make: Any, shape: tuple[int, ...], dtype: str) -> None:
    ours, theirs = make()
    _check_identity(ours, theirs, shape, dtype)


@pytest.mark.parametrize("layer", [Dropout(0.5), Dropout2d(0.5), Identity()], ids=repr)
def test_dynamic_dims(layer: Any) -> None:
    model = single_layer_model(layer, ("N", "C", 4, None))
    for n in (1, 3, 0):
        x = _input((n, 2, 4, 3), "float32", n)
        np.testing.assert_array_equal(run_ort(model, {"x": x})[0], x)
        np.testing.assert_array_equal(run_oracle(model, {"x": x})[0], x)


@pytest.mark.parametrize("cls", [Dropout, Dropout2d])
@pytest.mark.parametrize("p", [0.5, 1.0, 1e-9, float("nan")])
def test_training_mode_is_refused(cls: type, p: float) -> None:
    layer = cls(p).train()
    with pytest.raises(
        LayerArgumentError,
        match=rf"{cls.__name__}: training-mode dropout is random; call \.eval\(\)",
    ):
        layer(Input("x", ("N", 3, 4, 4)))
    layer.eval()  # the same layer builds once it is in eval mode
    assert layer(Input("x", ("N", 3, 4, 4))).shape == ("N", 3, 4, 4)


def test_training_refusal_names_the_layer() -> None:
    layer = Dropout(0.2, name="drop1").train()
    with pytest.raises(LayerArgumentError, match=r"Dropout 'drop1': training-mode dropout"):
        layer(Input("x", (2, 3)))


def test_model_train_is_refused_when_lowering() -> None:
    """Switching a built model to training mode: its program cannot be lowered."""
    x = Input("x", ("N", 3))
    model = Model([x], [Dropout(0.5)(x)])
    model.train()
    with pytest.raises(LayerArgumentError, match="training-mode dropout is random"):
        model.to_onnx()
    with pytest.raises(ModelLoadError, match="training mode"):
        run_oracle(model, {"x": np.zeros((1, 3), np.float32)})
    model.eval()
    assert [n.op_type for n in model.to_onnx().graph.node] == ["Identity"]


@pytest.mark.parametrize("cls", ["Dropout", "Dropout2d"])
def test_training_with_p_zero_is_identity_like_torch(cls: str) -> None:
    ours = {"Dropout": Dropout, "Dropout2d": Dropout2d}[cls](0.0).train()
    theirs = getattr(torch.nn, cls)(0.0).train()
    x = _input((2, 3, 4, 4), "float32", 0)
    np.testing.assert_array_equal(_torch(theirs, x), x)
    model = single_layer_model(ours, ("N", 3, 4, 4))
    assert model.program().calls[0].training
    for target in TARGETS:
        np.testing.assert_array_equal(run_ort(model.to_onnx(target=target), {"x": x})[0], x)
    np.testing.assert_array_equal(run_oracle(model, {"x": x})[0], x)


@pytest.mark.parametrize("rank", [0, 1, 2, 5])
def test_dropout2d_warns_like_torch_on_other_ranks(rank: int) -> None:
    shape = (2, 3, 4, 5, 6)[:rank]
    with pytest.warns(UserWarning, match=r"dropout2d"):
        torch.nn.Dropout2d().eval()(torch.zeros(shape))
    with pytest.warns(UserWarning, match=rf"received a {rank}-D input"):
        Dropout2d()(Input("x", shape))


@pytest.mark.parametrize("rank", [3, 4])
def test_dropout2d_ranks_3_and_4_do_not_warn(rank: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dropout2d()(Input("x", (2, 3, 4, 5)[:rank]))


def _torch_error(make: Any) -> Exception:
    try:
        make()
    except Exception as e:
        return e
    raise AssertionError("torch accepted it")


@pytest.mark.parametrize("cls", ["Dropout", "Dropout2d"])
@pytest.mark.parametrize(
    ("p", "error", "match"),
    [
        (1.5, LayerArgumentError, r"dropout probability has to be between 0 and 1, but got 1\.5"),
        (-0.1, LayerArgumentError, r"dropout probability has to be between 0 and 1, but got -0\.1"),
        (2, LayerArgumentError, r"but got 2"),
        ("a", LayerTypeError, r"p='a' is invalid"),
        (None, LayerTypeError, r"p=None is invalid"),
    ],
)
def test_bad_p_rejected_like_torch(cls: str, p: Any, error: type[Exception], match: str) -> None:
    theirs = _torch_error(lambda: getattr(torch.nn, cls)(p))
    assert isinstance(theirs, ValueError if error is LayerArgumentError else TypeError)
    if isinstance(theirs, ValueError):
        assert "dropout probability has to be between 0 and 1, but got" in str(theirs)
    with pytest.raises(error, match=match):
        {"Dropout": Dropout, "Dropout2d": Dropout2d}[cls](p)


@pytest.mark.parametrize("p", [0, 1, True, False, np.float64(0.3), 0.0, 1.0])
def test_p_accepted_like_torch(p: Any) -> None:
    torch.nn.Dropout(p)
    assert Dropout(p).p == float(p)
    assert Dropout2d(p).p == float(p)


def test_arity_and_args() -> None:
    with pytest.raises(LayerTypeError, match="called with 2 inputs; expected 1"):
        Identity()(Input("a", (2,)), Input("b", (2,)))
    assert Identity(1, 2, three=3).torch_args() == {}
    assert Identity(name="skip").name == "skip"
    for layer in (Dropout(0.25, True), Dropout2d(0.75), Identity("ignored")):
        args = json.loads(json.dumps(layer.torch_args()))
        again = type(layer).from_torch_args(args)
        assert again.torch_args() == layer.torch_args()
        type(layer).torch_module(args)  # torch's twin takes the same arguments
        assert layer.param_shapes() == {}


def test_from_torch_modules() -> None:
    net = torch.nn.Sequential(
        torch.nn.Identity(54),
        torch.nn.Dropout(0.5),
        torch.nn.ReLU(),
        torch.nn.Dropout2d(0.2),
        torch.nn.Flatten(),
    ).eval()
    model = from_torch(copy.deepcopy(net), (2, 3, 4, 4))
    assert [type(layer).__name__ for layer in model.layers.values()] == [
        "Identity",
        "Dropout",
        "ReLU",
        "Dropout2d",
        "Flatten",
    ]
    x = _input((2, 3, 4, 4), "float32", 1)
    expected = _torch(net, x)
    name = model.inputs[0].name
    np.testing.assert_array_equal(run_ort(model.to_onnx(), {name: x})[0], expected)
    np.testing.assert_array_equal(run_oracle(model, {name: x})[0], expected)


@pytest.mark.parametrize("cls", ["Dropout", "Dropout2d"])
def test_from_torch_training_dropout_is_refused(cls: str) -> None:
    """``from_torch(..., training=True)`` keeps the modules' modes: random dropout is refused;
    by default the export has eval behaviour (like torch.onnx.export)."""
    net = torch.nn.Sequential(torch.nn.ReLU(), getattr(torch.nn, cls)(0.2))
    with pytest.raises(BuildError, match=r"training-mode dropout is random; call \.eval\(\)"):
        from_torch(net, (2, 3, 4, 4), training=True)
    assert net.training  # put back as it was
    assert from_torch(net, (2, 3, 4, 4)).outputs[0].shape == ("N", 3, 4, 4)
    net_p0 = torch.nn.Sequential(getattr(torch.nn, cls)(0.0)).train()
    model = from_torch(net_p0, (2, 3, 4, 4), training=True)
    assert [layer.training for layer in model.layers.values()] == [True]
