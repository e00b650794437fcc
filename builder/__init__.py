"""onnxlayers.builder: torch-style layers called on symbolic tensors, lowered to ONNX.

>>> from onnxlayers.builder import Input, Model, Sequential, Linear, Flatten, ReLU
>>> x = Input("x", ("N", 3, 4, 4))
>>> model = Model([x], [Sequential(Flatten(), Linear(48, 10, seed=0), ReLU())(x)])
>>> model.to_onnx().opset_import[0].version
21
"""

from .errors import BuildError, LayerArgumentError, LayerTypeError, ModelFormatError, ShapeError
from .graph import DEFAULT_OPSET, GraphBuilder, LowerCall, ShapeRef
from .layer import Layer
from .layers import (
    Add,
    AvgPool2d,
    Flatten,
    LeakyReLU,
    Linear,
    MaxPool2d,
    MaxUnpool2d,
    PReLU,
    ReLU,
    RReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .model import Model
from .program import Program
from .registry import LAYERS, register_layer
from .tensor import Input, Shape, Tensor, TensorSpec
from .torch_import import UnsupportedTorchError, from_torch

__all__ = [
    "DEFAULT_OPSET",
    "LAYERS",
    "Add",
    "AvgPool2d",
    "BuildError",
    "Flatten",
    "GraphBuilder",
    "Input",
    "Layer",
    "LayerArgumentError",
    "LayerTypeError",
    "LeakyReLU",
    "Linear",
    "LowerCall",
    "MaxPool2d",
    "MaxUnpool2d",
    "Model",
    "ModelFormatError",
    "PReLU",
    "Program",
    "RReLU",
    "ReLU",
    "Sequential",
    "Shape",
    "ShapeError",
    "ShapeRef",
    "Sigmoid",
    "Tanh",
    "Tensor",
    "TensorSpec",
    "UnsupportedTorchError",
    "from_torch",
    "register_layer",
]
