"""The cache of onnxruntime's optimized model (``Session(..., optimized_model_path=...)``).

The cached file is reused when it exists, is not older than the source file (for a path
source) and its ``<file>.key`` sidecar matches `cache_key`: a hash of the model given to
onnxruntime, of what else decides its optimizations (providers and their options) and of
onnxruntime's version. A reused file is loaded with graph optimizations off; otherwise
onnxruntime writes it and the key is written beside it. The file may hold hardware-specific
fusions: keep it on the machine that made it.

>>> import pathlib, tempfile
>>> cache = pathlib.Path(tempfile.mkdtemp()) / "m.opt.onnx"
>>> key = cache_key(b"model bytes", ("CPUExecutionProvider",))
>>> is_fresh(cache, key, b"model bytes")  # nothing written yet
False
>>> key_path(cache).name
'm.opt.onnx.key'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import onnxruntime as ort

from .loading import ModelSource

__all__ = ["cache_key", "is_fresh", "key_path", "open_cached"]

S = TypeVar("S")


def key_path(cache: Path) -> Path:
    """The sidecar holding the key of ``cache``: ``<file>.key``."""
    return cache.with_name(cache.name + ".key")


def cache_key(data: bytes, *salt: object) -> str:
    """The key of a model's optimized file: sha256 of ``data``, ``salt`` and onnxruntime's
    version (``salt``: what else decides the optimizations, such as providers and options)."""
    digest = hashlib.sha256(data)
    digest.update(repr((*salt, ort.__version__)).encode())
    return digest.hexdigest()


def is_fresh(cache: Path, key: str, source: ModelSource) -> bool:
    """Whether ``cache`` and its key exist, the key is ``key`` and a source file is not newer."""
    key_file = key_path(cache)
    if not (cache.is_file() and key_file.is_file()):
        return False
    if isinstance(source, (str, os.PathLike)) and (
        cache.stat().st_mtime_ns < Path(source).stat().st_mtime_ns
    ):
        return False
    return key_file.read_text(encoding="utf-8") == key


def open_cached(
    create: Callable[[bytes | str, ort.SessionOptions], S],
    data: bytes,
    options: ort.SessionOptions,
    cache: Path,
    source: ModelSource,
    *salt: object,
) -> S:
    """``create(model, options)`` from the cached file when it is fresh, else from ``data``
    while onnxruntime writes the cache (and we write its key)."""
    key = cache_key(data, *salt)
    if is_fresh(cache, key, source):
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return create(os.fspath(cache), options)
    options.optimized_model_filepath = os.fspath(cache)
    session = create(data, options)
    key_path(cache).write_text(key, encoding="utf-8")
    return session
