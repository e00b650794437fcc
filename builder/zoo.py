"""The example models of ``models/``: built here, written by ``models/make_models.py``.

Every model is deterministic (seeded weights), small, and carries its layer program, so
``onnxlayers verify models/*.onnx`` checks each against the NumPy oracle.

>>> sorted(ZOO)[:2]
['avgpool_ceil', 'lenet']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .files import save_atomic
from .layers.activations import LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from .layers.flatten import Flatten
from .layers.linear import Linear
from .layers.pooling import AvgPool2d, MaxPool2d
from .layers.rrelu import RReLU
from .layers.sequential import Sequential
from .layers.unpool import MaxUnpool2d
from .model import Model
from .tensor import Input

LINEAR_EXAMPLE_INPUT = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
LINEAR_EXAMPLE_OUTPUT = np.array([[6.0, 12.0, 18.0, 24.0]], dtype=np.float32)


def linear_example() -> Model:
    """The worked example: no bias, torch weight (4, 3) whose row j is all j+1, so
    ``W_0 = weight.T`` has every row [1, 2, 3, 4] and input [1, 2, 3] gives [6, 12, 18, 24]."""
    x = Input("x", ("N", 3))
    lin = Linear(3, 4, bias=False)
    lin.weight = np.repeat(np.arange(1.0, 5.0, dtype=np.float32)[:, None], 3, axis=1)
    return Model([x], [lin(x)], name="linear_example")


def lenet() -> Model:
    """A LeNet-style classifier without convolutions: pooling, Linear and every activation."""
    x = Input("image", ("N", 1, 28, 28))
    net = Sequential(
        MaxPool2d(2),
        AvgPool2d(2),
        Flatten(),
        Linear(49, 32, seed=1),
        ReLU(),
        Linear(32, 32, seed=2),
        LeakyReLU(0.1),
        PReLU(32),
        Linear(32, 16, seed=3),
        Tanh(),
        RReLU(),
        Linear(16, 10, seed=4),
        Sigmoid(),
    )
    return Model([x], [net(x)], output_names=["scores"], name="lenet")


def segnet() -> Model:
    """A SegNet-style pool -> unpool autoencoder: ``return_indices`` and ``output_size``."""
    x = Input("image", ("N", 3, 17, 15))
    pool1 = MaxPool2d(2, return_indices=True, name="pool1")
    pool2 = MaxPool2d(2, return_indices=True, name="pool2")
    h1, i1 = pool1(x)
    h2, i2 = pool2(ReLU()(h1))
    u2 = MaxUnpool2d(2, name="unpool2")(h2, i2, output_size=h1.shape)
    u1 = MaxUnpool2d(2, name="unpool1")(Tanh()(u2), i1, output_size=x.shape)
    return Model([x], [u1], output_names=["reconstruction"], name="segnet")


def avgpool_ceil() -> Model:
    """AvgPool2d with ceil_mode, count_include_pad=False, and divisor_override."""
    x = Input("x", ("N", 4, 9, 10))
    exclude_pad = AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, name="exclude_pad")
    override = AvgPool2d((3, 2), (2, 3), (1, 1), ceil_mode=True, divisor_override=5,
                         name="divisor")
    return Model([x], [exclude_pad(x), override(x)], output_names=["mean", "sum_over_5"],
                 name="avgpool_ceil")


def rrelu_train() -> Model:
    """RReLU in training mode with a seed; the sampled slopes are an output, so verification
    replays them and checks the random run exactly."""
    x = Input("x", ("N", 8))
    rrelu = RReLU(0.1, 0.3, seed=7, return_noise=True, name="rrelu").train()
    y, noise = rrelu(x)
    return Model([x], [y, noise], output_names=["y", "noise"], name="rrelu_train")


ZOO: dict[str, Callable[[], Model]] = {
    "avgpool_ceil": avgpool_ceil,
    "lenet": lenet,
    "linear_example": linear_example,
    "rrelu_train": rrelu_train,
    "segnet": segnet,
}
"""Every zoo model by file stem."""


def write_zoo(directory: str | Path) -> list[Path]:
    """Build every zoo model and write ``<directory>/<name>.onnx`` atomically."""
    out = Path(directory)
    return [save_atomic(make().to_onnx().SerializeToString(), out / f"{name}.onnx")
            for name, make in ZOO.items()]
