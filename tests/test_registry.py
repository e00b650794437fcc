"""One place per layer: every registered layer has an oracle, a torch twin and a sample here.

A new layer type without a sample below fails ``test_every_layer_has_a_sample``; with one, it is
checked three ways (onnxruntime, the NumPy oracle, torch eager) by construction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from onnxlayers.builder import LAYERS, Input, Model
from onnxlayers.runtime import Session, compare_outputs, oracle
from onnxlayers.runtime.torch_eager import to_torch

Sample = Callable[[], tuple[Model, dict[str, np.ndarray]]]


def _one(layer_type: str, shape: tuple[int, ...], *args: object, **kwargs: object) -> Sample:
    def build() -> tuple[Model, dict[str, np.ndarray]]:
        x = Input("x", ("N", *shape[1:]))
        out = LAYERS[layer_type](*args, **kwargs)(x)  # type: ignore[arg-type]
        feeds = {"x": np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape)
                 .astype(np.float32) / 7}
        return Model([x], list(out) if isinstance(out, tuple) else [out]), feeds

    return build


def _unpool() -> tuple[Model, dict[str, np.ndarray]]:
    x = Input("x", ("N", 2, 7, 9))
    values, indices = LAYERS["MaxPool2d"](2, return_indices=True)(x)  # type: ignore[call-arg]
    out = LAYERS["MaxUnpool2d"](2)(values, indices, output_size=x.shape)  # type: ignore[call-arg]
    feeds = {"x": np.random.default_rng(1).permutation(2 * 2 * 7 * 9).reshape(2, 2, 7, 9)
             .astype(np.float32)}
    return Model([x], [out]), feeds


def _add() -> tuple[Model, dict[str, np.ndarray]]:
    x, y = Input("x", ("N", 3, 4)), Input("y", (3, 1))
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((2, 3, 4)).astype(np.float32),
             "y": rng.standard_normal((3, 1)).astype(np.float32)}
    return Model([x, y], [LAYERS["Add"]()(x, y)]), feeds  # type: ignore[call-arg]


SAMPLES: dict[str, list[Sample]] = {
    "Linear": [_one("Linear", (2, 3, 5), 5, 4, seed=0)],
    "Flatten": [_one("Flatten", (2, 3, 4, 5)), _one("Flatten", (2, 3, 4, 5), 0, 2)],
    "Sigmoid": [_one("Sigmoid", (2, 3))],
    "Tanh": [_one("Tanh", (2, 3))],
    "ReLU": [_one("ReLU", (2, 3))],
    "LeakyReLU": [_one("LeakyReLU", (2, 3), 0.2)],
    "PReLU": [_one("PReLU", (2, 3, 4), 3, 0.3)],
    "RReLU": [_one("RReLU", (2, 3), 0.1, 0.4)],
    "MaxPool2d": [_one("MaxPool2d", (2, 3, 9, 8), 3, 2, 1, 2, True, True)],
    "AvgPool2d": [_one("AvgPool2d", (2, 3, 9, 8), 3, 2, 1, True, False, None),
                  _one("AvgPool2d", (2, 3, 9, 8), 3, 2, 1, True, True, 5)],
    "MaxUnpool2d": [_unpool],
    "Add": [_add],
}


def test_every_layer_has_a_sample() -> None:
    assert sorted(LAYERS) == sorted(SAMPLES), "add a sample for each new layer type"


def test_every_layer_has_an_oracle() -> None:
    assert set(LAYERS) <= set(oracle.IMPLS)


@pytest.mark.parametrize(("layer_type", "index"),
                         [(k, i) for k, v in SAMPLES.items() for i in range(len(v))])
def test_three_way(layer_type: str, index: int) -> None:
    model, feeds = SAMPLES[layer_type][index]()
    proto = model.to_onnx()
    ours = Session(proto).run(feeds)
    ref = oracle.run(model, feeds)
    theirs = to_torch(model.program())(feeds)
    for a, b, label in [(ours, ref, "onnxruntime vs oracle"), (ref, theirs, "oracle vs torch"),
                        (ours, theirs, "onnxruntime vs torch")]:
        report = compare_outputs(a, b)
        assert report.ok, f"{layer_type} {label}\n{report}"
    again = Model.load(proto)  # the saved program rebuilds the same model
    np.testing.assert_equal(oracle.run(again, feeds), ref)
