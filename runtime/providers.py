"""Match execution-provider names like Polygraphy does, and fall back honestly.

Names match case-insensitively and partially (``"cpu"`` -> ``CPUExecutionProvider``,
``"cuda"`` -> ``CUDAExecutionProvider``); full names work too, and a ``(name, options)`` tuple
passes provider options through. A name onnxruntime has never heard of raises `ProviderError`
listing what was requested and what is available. A provider onnxruntime knows but this build
lacks (CUDA on a CPU wheel) warns with `ProviderFallbackWarning` and is dropped, leaving the
others (or CPU); with ``strict=True`` it raises `ProviderError` instead.

>>> match_provider("cpu")
'CPUExecutionProvider'
>>> plan = resolve_providers(["cpu"])
>>> plan.names, plan.requested
(('CPUExecutionProvider',), ('CPUExecutionProvider',))
>>> "CPUExecutionProvider" in best_providers()
True
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import onnxruntime as ort

from .errors import ProviderError

__all__ = [
    "CPU",
    "CUDA",
    "ProviderFallbackWarning",
    "ProviderPlan",
    "ProviderRequest",
    "best_providers",
    "load_failure",
    "match_provider",
    "resolve_providers",
    "settle",
    "target_for",
]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

#: A provider name (full or partial) or a ``(name, options)`` pair.
ProviderRequest = str | tuple[str, Mapping[str, object]]


class ProviderFallbackWarning(UserWarning):
    """A requested provider exists in onnxruntime but not in this build; it was dropped."""


@dataclass(frozen=True)
class ProviderPlan:
    """What to ask onnxruntime for.

    ``requested`` is every requested provider by its full name (available or not); ``names`` and
    ``options`` are the providers (and their string-valued options) handed to onnxruntime.
    """

    requested: tuple[str, ...]
    names: tuple[str, ...]
    options: tuple[dict[str, str], ...]


def match_provider(name: str) -> str:
    """The full onnxruntime provider name for ``name``: exact, case-insensitive, or partial.

    >>> match_provider("CUDA"), match_provider("TensorrtExecutionProvider")
    ('CUDAExecutionProvider', 'TensorrtExecutionProvider')
    """
    if not isinstance(name, str) or not name:
        raise ProviderError(
            f"provider name must be a non-empty string, got {name!r}; available: {_available()}"
        )
    known = list(dict.fromkeys([*ort.get_available_providers(), *ort.get_all_providers()]))
    key = name.lower()
    exact = [p for p in known if p.lower() in (key, key + "executionprovider")]
    if exact:
        return exact[0]
    partial = [p for p in known if key in p.lower()]
    if len(partial) == 1:
        return partial[0]
    problem = f"is ambiguous: it matches {partial}" if partial else "is unknown to onnxruntime"
    raise ProviderError(f"requested provider {name!r} {problem}; available: {_available()}")


def resolve_providers(
    requested: ProviderRequest | Sequence[ProviderRequest],
    *,
    strict: bool = False,
    provider_options: Mapping[str, Mapping[str, object]] | None = None,
) -> ProviderPlan:
    """Match ``requested`` names, merge their options, and drop (or refuse) unavailable ones.

    ``provider_options`` maps a provider name (matched like ``requested``) to its options; a
    ``(name, options)`` pair in ``requested`` wins over it for the keys both give. Option values
    are passed to onnxruntime as strings.

    >>> resolve_providers([("cpu", {"arena_extend_strategy": "kSameAsRequested"})]).options
    ({'arena_extend_strategy': 'kSameAsRequested'},)
    """
    pairs = [_split(item) for item in _as_list(requested)]
    if not pairs:
        raise ProviderError(f"no execution provider requested; available: {_available()}")
    try:
        options = {match_provider(k): dict(v) for k, v in (provider_options or {}).items()}
        full_names = [match_provider(name) for name, _ in pairs]
    except ProviderError as err:
        raise ProviderError(f"{err} (requested: {[name for name, _ in pairs]})") from None
    merged: dict[str, dict[str, str]] = {}
    for full, (_, extra) in zip(full_names, pairs, strict=True):
        merged[full] = {k: str(v) for k, v in {**options.get(full, {}), **extra}.items()}
    chosen = _drop_unavailable(list(merged), strict=strict)
    return ProviderPlan(
        requested=tuple(merged),
        names=tuple(chosen),
        options=tuple(merged.get(name, {}) for name in chosen),
    )


_PROVIDER_LIBRARIES = {
    "CUDAExecutionProvider": "onnxruntime_providers_cuda",
    "TensorrtExecutionProvider": "onnxruntime_providers_tensorrt",
}


@functools.cache
def load_failure(provider: str) -> str | None:
    """Why this onnxruntime cannot load ``provider``'s shared library, or None when it can (or
    the provider is built in).

    onnxruntime-gpu on a host without the CUDA libraries lists ``CUDAExecutionProvider`` as
    available, logs that its library failed to load and runs on the CPU; this says why, in the
    dynamic loader's words (``libcublasLt.so.13: cannot open shared object file...``).

    >>> load_failure("CPUExecutionProvider") is None
    True
    """
    stem = _PROVIDER_LIBRARIES.get(provider)
    if stem is None or provider not in ort.get_available_providers():
        return None
    capi = os.path.join(os.path.dirname(ort.__file__), "capi")
    prefix, suffix = ("", ".dll") if sys.platform == "win32" else ("lib", ".so")
    try:
        ctypes.CDLL(
            os.path.join(capi, f"{prefix}onnxruntime_providers_shared{suffix}"),
            mode=getattr(ctypes, "RTLD_GLOBAL", 0),
        )
        ctypes.CDLL(os.path.join(capi, f"{prefix}{stem}{suffix}"))
    except OSError as err:
        return f"onnxruntime cannot load {prefix}{stem}{suffix}: {err}"
    return None


def settle(plan: ProviderPlan, actual: Sequence[str], *, strict: bool) -> None:
    """Compare the providers a session was given (``plan.names``) with those onnxruntime really
    uses (``actual``); a dropped one raises `ProviderError` with ``strict``, else warns once
    with `ProviderFallbackWarning`, carrying onnxruntime's reason where it can be found.

    >>> settle(resolve_providers(["cpu"]), ["CPUExecutionProvider"], strict=True)
    """
    dropped = [name for name in plan.names if name not in actual]
    if not dropped:
        return
    reasons = "; ".join(
        load_failure(name) or f"onnxruntime gave no reason for {name}" for name in dropped
    )
    message = (
        f"requested provider(s) {dropped} could not be used: {reasons}; the session runs "
        f"on {list(actual)}"
    )
    if strict:
        raise ProviderError(f"{message}; strict=True refuses to fall back")
    warnings.warn(message, ProviderFallbackWarning, stacklevel=3)


def target_for(providers: Sequence[str]) -> str:
    """The lowering target for a session on ``providers`` (full names, first preferred): the
    one mapping used both to lower a layer program again and to pick custom-op bodies.

    >>> target_for([CUDA, CPU]), target_for([CPU]), target_for([])
    ('cuda', 'any', 'any')
    """
    return "cuda" if providers and providers[0] == CUDA else "any"


def best_providers() -> list[str]:
    """CUDA then CPU where this onnxruntime has CUDA, else CPU alone.

    >>> best_providers()[-1]
    'CPUExecutionProvider'
    """
    return [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]


def _available() -> list[str]:
    return list(ort.get_available_providers())


def _as_list(
    requested: ProviderRequest | Sequence[ProviderRequest],
) -> list[ProviderRequest]:
    if isinstance(requested, str):
        return [requested]
    if isinstance(requested, tuple) and len(requested) == 2 and isinstance(requested[1], Mapping):
        return [(str(requested[0]), requested[1])]
    if not isinstance(requested, Sequence):
        raise ProviderError(
            f"providers must be a name, a (name, options) pair or a sequence of them, "
            f"got {requested!r}; available: {_available()}"
        )
    return list(cast("Sequence[ProviderRequest]", requested))


def _split(item: ProviderRequest) -> tuple[str, Mapping[str, object]]:
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], Mapping):
            raise ProviderError(
                f"a provider with options must be a (name, dict) pair, got {item!r}"
            )
        return item[0], item[1]
    return item, {}


def _drop_unavailable(names: list[str], *, strict: bool) -> list[str]:
    available = ort.get_available_providers()
    missing = [name for name in names if name not in available]
    if not missing:
        return names
    kept = [name for name in names if name in available] or [CPU]
    message = (
        f"requested provider(s) {missing} exist in onnxruntime but not in this build "
        f"(onnxruntime {ort.__version__}, device {ort.get_device()}); available: {available}"
    )
    if strict:
        raise ProviderError(f"{message}; strict=True refuses to fall back")
    warnings.warn(f"{message}; falling back to {kept}", ProviderFallbackWarning, stacklevel=3)
    return kept
