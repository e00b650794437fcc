"""Errors raised while building models.

Every error names the layer or input, shows the bad value with ``!r`` and says what is allowed.
They subclass the built-in ``ValueError`` / ``TypeError`` so callers that already catch those
keep working.

>>> from onnxlayers.builder import Linear
>>> try:
...     Linear(-1, 3)
... except LayerArgumentError as e:
...     print(e)
Linear: in_features=-1 is invalid; expected an int >= 0
"""

from __future__ import annotations


class BuildError(ValueError):
    """Base class of every value error the builder raises."""


class LayerArgumentError(BuildError):
    """A layer's constructor or call argument is outside what torch accepts."""


class ShapeError(BuildError):
    """An input's rank or static dims do not fit the layer (torch would reject it too)."""


class LayerTypeError(TypeError):
    """An argument has the wrong Python type (torch raises ``TypeError`` here too)."""


class ModelFormatError(BuildError):
    """A model file or proto does not carry what onnxlayers needs (e.g. no layer program)."""
