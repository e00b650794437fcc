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
from .layer import Layer
from .layers.activations import LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from .layers.adaptive import AdaptiveAvgPool2d
from .layers.add import Add
from .layers.conv import Conv2d, ConvTranspose2d
from .layers.flatten import Flatten
from .layers.linear import Linear
from .layers.norm import BatchNorm2d
from .layers.pooling import AvgPool2d, MaxPool2d
from .layers.rrelu import RReLU
from .layers.sequential import Sequential
from .layers.tensor_ops import Cat
from .layers.unpool import MaxUnpool2d
from .layers.upsample import Upsample
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


def conv_bn(
    cin: int, cout: int, seed: int, *, stride: int = 1, relu: bool = True, name: str
) -> Sequential:
    """``Conv2d(3x3, no bias) -> BatchNorm2d -> ReLU`` with seeded weights and batch-norm
    statistics far from (0, 1), so a wrong normalisation would show."""
    rng = np.random.default_rng(seed)
    bn = BatchNorm2d(cout)
    bn.weight = rng.uniform(0.5, 1.5, cout)
    bn.bias = rng.normal(0, 0.1, cout)
    bn.running_mean = rng.normal(0, 0.2, cout)
    bn.running_var = rng.uniform(0.5, 2.0, cout)
    layers: list[Layer] = [Conv2d(cin, cout, 3, stride, 1, bias=False, seed=seed), bn]
    return Sequential(*layers, *([ReLU()] if relu else []), name=name)


def resnet_small() -> Model:
    """A small ResNet: stem, max pool, two basic blocks (one downsampling), global pool, fc."""
    x = Input("image", ("N", 3, 32, 32))
    h = MaxPool2d(3, 2, 1, name="maxpool")(conv_bn(3, 6, 10, name="stem")(x))
    r = conv_bn(6, 6, 11, name="block1.conv1")(h)
    r = conv_bn(6, 6, 12, relu=False, name="block1.conv2")(r)
    h = ReLU(name="block1.relu")(Add(name="block1.add")(r, h))
    down = Conv2d(6, 12, 1, 2, bias=False, seed=13, name="block2.downsample")(h)
    r = conv_bn(6, 12, 14, stride=2, name="block2.conv1")(h)
    r = conv_bn(12, 12, 15, relu=False, name="block2.conv2")(r)
    h = ReLU(name="block2.relu")(Add(name="block2.add")(r, down))
    pooled = Flatten(name="flatten")(AdaptiveAvgPool2d(1, name="avgpool")(h))
    return Model(
        [x],
        [Linear(12, 10, seed=16, name="fc")(pooled)],
        output_names=["logits"],
        name="resnet_small",
    )


def segnet() -> Model:
    """A small SegNet: conv encoder, pool with indices, conv, unpool with ``output_size``."""
    x = Input("image", ("N", 3, 17, 15))
    e1 = conv_bn(3, 4, 20, name="enc1")(x)
    h1, i1 = MaxPool2d(2, return_indices=True, name="pool1")(e1)
    e2 = conv_bn(4, 8, 21, name="enc2")(h1)
    h2, i2 = MaxPool2d(2, return_indices=True, name="pool2")(e2)
    u2 = MaxUnpool2d(2, name="unpool2")(h2, i2, output_size=e2.shape)
    d2 = conv_bn(8, 4, 22, name="dec2")(u2)
    u1 = MaxUnpool2d(2, name="unpool1")(d2, i1, output_size=e1.shape)
    out = Conv2d(4, 3, 3, padding=1, seed=23, name="dec1")(u1)
    return Model([x], [out], output_names=["segmentation"], name="segnet")


def unet_small() -> Model:
    """A small UNet: two levels, ConvTranspose2d and bilinear upsampling, skip ``Cat``s."""
    x = Input("image", ("N", 3, 16, 16))
    x1 = conv_bn(3, 4, 30, name="inc")(x)
    x2 = conv_bn(4, 8, 31, name="down1")(MaxPool2d(2, name="pool1")(x1))
    x3 = conv_bn(8, 8, 32, name="down2")(MaxPool2d(2, name="pool2")(x2))
    up1 = ConvTranspose2d(8, 8, 2, stride=2, seed=33, name="up1")(x3)
    y = conv_bn(16, 4, 34, name="conv1")(Cat(1, name="cat1")(x2, up1))
    up2 = Upsample(scale_factor=2, mode="bilinear", align_corners=True, name="up2")(y)
    y = conv_bn(8, 4, 35, name="conv2")(Cat(1, name="cat2")(x1, up2))
    out = Conv2d(4, 2, 1, seed=36, name="outc")(y)
    return Model([x], [out], output_names=["mask"], name="unet_small")


def avgpool_ceil() -> Model:
    """AvgPool2d with ceil_mode, count_include_pad=False, and divisor_override."""
    x = Input("x", ("N", 4, 9, 10))
    exclude_pad = AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, name="exclude_pad")
    override = AvgPool2d((3, 2), (2, 3), (1, 1), ceil_mode=True, divisor_override=5, name="divisor")
    return Model(
        [x], [exclude_pad(x), override(x)], output_names=["mean", "sum_over_5"], name="avgpool_ceil"
    )


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
    "resnet_small": resnet_small,
    "rrelu_train": rrelu_train,
    "segnet": segnet,
    "unet_small": unet_small,
}
"""Every zoo model by file stem."""


def write_zoo(directory: str | Path) -> list[Path]:
    """Build every zoo model and write ``<directory>/<name>.onnx`` atomically."""
    out = Path(directory)
    return [
        save_atomic(make().to_onnx().SerializeToString(), out / f"{name}.onnx")
        for name, make in ZOO.items()
    ]
