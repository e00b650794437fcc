"""The provider really used is the provider reported, on every onnxruntime build.

With the CPU ``onnxruntime`` the CUDA provider is not available at all; with ``onnxruntime-gpu``
on a host without CUDA libraries (CI's second environment) it is listed as available, fails to
load, and onnxruntime runs on the CPU. Either way: ``strict=True`` raises `ProviderError` with
onnxruntime's reason, otherwise one warning says CUDA was requested and CPU is used, and
``Session.providers`` tells the truth.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

from onnxlayers.builder import Input, Model, ReLU
from onnxlayers.runtime import ProviderError, Session
from onnxlayers.runtime.providers import ProviderFallbackWarning, load_failure

pytestmark = pytest.mark.providers

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def cuda_usable() -> bool:
    return CUDA in ort.get_available_providers() and load_failure(CUDA) is None


needs_broken_cuda = pytest.mark.skipif(
    CUDA not in ort.get_available_providers() or cuda_usable(),
    reason="needs onnxruntime-gpu without the CUDA libraries (CI's second environment)",
)


def relu() -> Model:
    x = Input("x", ("N", 3))
    return Model([x], [ReLU()(x)])


@pytest.mark.skipif(cuda_usable(), reason="CUDA works here")
def test_strict_cuda_raises_with_the_reason() -> None:
    with pytest.raises(ProviderError) as info:
        Session(relu(), providers=["cuda"], strict=True)
    message = str(info.value)
    assert "CUDAExecutionProvider" in message and "strict=True" in message
    if CUDA in ort.get_available_providers():  # onnxruntime-gpu: the loader's own words
        assert "cannot open shared object file" in message or "cannot load" in message


@pytest.mark.skipif(cuda_usable(), reason="CUDA works here")
def test_fallback_warns_once_and_reports_cpu() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = Session(relu(), providers=["cuda", "cpu"])
    fallbacks = [w for w in caught if issubclass(w.category, ProviderFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    assert "CUDAExecutionProvider" in str(fallbacks[0].message)
    assert session.providers == [CPU]
    x = np.array([[-1.0, 0.0, 2.0]], np.float32)
    np.testing.assert_array_equal(session.run({"x": x})["output"], np.maximum(x, 0))


@needs_broken_cuda
def test_onnxruntime_gpu_without_cuda_libraries_names_the_missing_library() -> None:
    reason = load_failure(CUDA)
    assert reason is not None and "libonnxruntime_providers_cuda" in reason
    with pytest.raises(ProviderError, match="cannot open shared object file"):
        Session(relu(), providers=["cuda"], strict=True)


def test_cpu_sessions_never_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Session(relu(), providers=["cpu"]).providers == [CPU]
