"""Test-wide hooks: tests marked ``cuda`` run only where onnxruntime has CUDAExecutionProvider."""

from __future__ import annotations

import onnxruntime as ort
import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return
    skip = pytest.mark.skip(reason="needs onnxruntime's CUDAExecutionProvider (not available)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(
    params=[
        pytest.param("CPUExecutionProvider", id="cpu"),
        pytest.param("CUDAExecutionProvider", id="cuda", marks=pytest.mark.cuda),
    ]
)
def provider(request: pytest.FixtureRequest) -> str:
    """Each parity test that takes this runs on CPU, and on CUDA where it is available."""
    return str(request.param)
