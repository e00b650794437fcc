"""onnxlayers.runtime: onnxruntime sessions (CPU/CUDA), the NumPy oracle, and verification.

onnxruntime is imported on first use of a name that needs it (``Session``, ``verify``...), as
Polygraphy does: ``import onnxlayers.runtime.oracle`` loads neither onnxruntime nor torch.

>>> from onnxlayers.runtime import Session, oracle, verify
>>> callable(verify)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    DataError,
    InputError,
    MismatchError,
    ModelLoadError,
    ProviderError,
    RuntimeFault,
)

if TYPE_CHECKING:
    from . import oracle
    from .compare import Report, compare_outputs
    from .session import Session
    from .verification import random_feeds, verify, verify_against

_LAZY = {
    "Report": ".compare",
    "verify_against": ".verification",
    "Session": ".session",
    "compare_outputs": ".compare",
    "random_feeds": ".verification",
    "verify": ".verification",
}


def __getattr__(name: str) -> Any:
    if name == "oracle":
        return importlib.import_module(".oracle", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DataError",
    "InputError",
    "MismatchError",
    "ModelLoadError",
    "ProviderError",
    "Report",
    "RuntimeFault",
    "Session",
    "compare_outputs",
    "oracle",
    "random_feeds",
    "verify",
    "verify_against",
]
