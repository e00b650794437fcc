"""Every layer module; importing this package imports each one, registering every layer type.

A new layer is one module here (a :class:`~onnxlayers.builder.layer.Layer` subclass decorated
with ``@register_layer``); nothing else lists it.

>>> from onnxlayers.builder.registry import LAYERS
>>> {"Conv2d", "BatchNorm2d", "ReLU"} <= set(LAYERS)
True
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
