"""onnxlayers.runtime: onnxruntime sessions (CPU/CUDA), the NumPy oracle, and verification.

>>> from onnxlayers.runtime import Session, oracle, verify
>>> callable(verify)
True
"""

from . import oracle
from .compare import Report, compare_outputs
from .errors import (
    DataError,
    InputError,
    MismatchError,
    ModelLoadError,
    ProviderError,
    RuntimeFault,
)
from .session import Session
from .verify import random_feeds, verify

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
]
