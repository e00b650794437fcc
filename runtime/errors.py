"""Errors raised by sessions, the oracle, verification and the CLI.

>>> from onnxlayers.runtime.errors import InputError
>>> issubclass(InputError, ValueError)
True
"""

from __future__ import annotations


class RuntimeFault(ValueError):
    """Base class of every value error the runtime raises."""


class InputError(RuntimeFault):
    """A feed does not match the model: name, dtype, rank or a static dim."""


class ModelLoadError(RuntimeFault):
    """A model file is missing, truncated, not ONNX, or uses what we cannot run."""


class ProviderError(RuntimeFault):
    """An execution provider was asked for that this onnxruntime cannot give."""


class DataError(RuntimeFault):
    """A data-dependent fault found while running (e.g. out-of-range unpool indices)."""


class MismatchError(RuntimeFault):
    """A checked run disagreed with the NumPy oracle beyond the model's tolerances."""
