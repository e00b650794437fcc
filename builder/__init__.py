"""onnxlayers.builder: torch-style layers called on symbolic tensors, lowered to ONNX.

Names load on first use, so ``import onnxlayers.builder.program`` (what the NumPy oracle reads)
pulls in neither the layers nor the ONNX lowering nor torch. Every registered layer type is an
attribute: ``onnxlayers.builder.Conv2d`` is ``LAYERS["Conv2d"]``.

>>> from onnxlayers.builder import Input, Model, Sequential, Linear, Flatten, ReLU
>>> x = Input("x", ("N", 3, 4, 4))
>>> model = Model([x], [Sequential(Flatten(), Linear(48, 10, seed=0), ReLU())(x)])
>>> model.to_onnx().opset_import[0].version
21
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import BuildError, LayerArgumentError, LayerTypeError, ModelFormatError, ShapeError
from .program import DEFAULT_OPSET, Program, ShapeRef
from .registry import register_layer
from .tensor import Input, Shape, Tensor, TensorSpec

if TYPE_CHECKING:
    from .graph import GraphBuilder, LowerCall
    from .layer import Example, Layer
    from .layers.sequential import Sequential
    from .lowering import lower
    from .model import Model
    from .registry import LAYERS
    from .torch_import import UnsupportedTorchError, from_torch

_LAZY = {
    "Example": ".layer",
    "GraphBuilder": ".graph",
    "Layer": ".layer",
    "LowerCall": ".graph",
    "Model": ".model",
    "Sequential": ".layers.sequential",
    "UnsupportedTorchError": ".torch_import",
    "from_torch": ".torch_import",
    "lower": ".lowering",
}


def _layers() -> dict[str, Any]:
    """The full registry (importing every layer module once)."""
    importlib.import_module(".layers", __name__)
    from .registry import LAYERS

    return LAYERS


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    if name == "LAYERS":
        return _layers()
    if name[:1].isupper() and name in _layers():
        return _layers()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "LAYERS", *_layers()})


__all__ = [
    "DEFAULT_OPSET",
    "LAYERS",
    "BuildError",
    "Example",
    "GraphBuilder",
    "Input",
    "Layer",
    "LayerArgumentError",
    "LayerTypeError",
    "LowerCall",
    "Model",
    "ModelFormatError",
    "Program",
    "Sequential",
    "Shape",
    "ShapeError",
    "ShapeRef",
    "Tensor",
    "TensorSpec",
    "UnsupportedTorchError",
    "from_torch",
    "lower",
    "register_layer",
]
