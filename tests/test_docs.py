"""Every docstring example in the package runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ["onnxlayers.builder", "onnxlayers.runtime", "onnxlayers.custom_ops"]


def _modules() -> list[str]:
    names = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        names.append(pkg_name)
        names += [
            m.name
            for m in pkgutil.walk_packages(pkg.__path__, f"{pkg_name}.")
            if not m.name.rsplit(".", 1)[-1].startswith("_make")
        ]
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_public_modules_have_examples() -> None:
    """Each public module documents itself with at least one runnable example."""
    missing = []
    for name in _modules():
        module = importlib.import_module(name)
        finder = doctest.DocTestFinder(recurse=False)
        private = name.rsplit(".", 1)[-1].startswith("_")
        if not private and not any(t.examples for t in finder.find(module)):
            missing.append(name)
    assert not missing, f"modules without a docstring example: {missing}"
