"""The one registry of layer types: ``type name -> Layer class``.

Adding a layer means one builder module (a :class:`~onnxlayers.builder.layer.Layer` subclass
decorated with :func:`register_layer`) and one oracle module (decorated with
``onnxlayers.runtime.oracle.implements``). Tests are parametrized over :data:`LAYERS`.

>>> "Linear" in LAYERS
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .layer import Layer

LAYERS: dict[str, type[Layer]] = {}
"""Every registered layer class, keyed by its torch name (``"MaxPool2d"``)."""

L = TypeVar("L", bound="type[Layer]")


def register_layer(cls: L) -> L:
    """Class decorator: add ``cls`` to :data:`LAYERS` under its class name; duplicates raise."""
    name = cls.__name__
    if name in LAYERS and LAYERS[name] is not cls:
        raise RuntimeError(f"layer type {name!r} is registered twice ({LAYERS[name]!r}, {cls!r})")
    LAYERS[name] = cls
    return cls
