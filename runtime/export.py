"""Export the torch module that a factory file makes (``onnxlayers export`` runs this).

FACTORY is a callable in FILE.py that takes no arguments and returns a ``torch.nn.Module``;
:func:`export_factory` imports the file, calls it, converts the module with ``from_torch``
(weights copied, dynamic batch by default), optionally verifies onnxruntime vs the NumPy oracle
vs torch, and saves the ONNX file (only once verification passed). Like ``torch.onnx.export``,
the export has the module's eval behaviour unless ``training=True`` (``--training``) asks to keep
each module's training flag.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "net.py").write_text(
...     "import torch\\n"
...     "def make():\\n"
...     "    return torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())\\n")
>>> model = export_factory(f"{folder}/net.py:make", (1, 4), folder / "net.onnx", verify=True)
>>> (folder / "net.onnx").exists(), model.inputs[0].shape
(True, ('N', 4))
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from onnxlayers.builder import Model
from onnxlayers.builder.torch_import import from_torch, import_torch

from .errors import MismatchError, ModelLoadError

__all__ = ["export_factory", "load_factory"]


def _split_spec(spec: str) -> tuple[Path, str]:
    path, sep, attr = str(spec).rpartition(":")
    if not sep or not path or not attr.isidentifier():
        raise ModelLoadError(
            f"factory {spec!r} is invalid; expected FILE.py:FACTORY, e.g. models/net.py:make_net"
        )
    return Path(path), attr


@contextlib.contextmanager
def _importable_from(folder: Path) -> Iterator[None]:
    """Let the factory file import its sibling modules while it loads, as a script would."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _import_file(path: Path, spec: str) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"factory {spec!r}: file {str(path)!r} does not exist")
    name = f"_onnxlayers_factory_{abs(hash(path.resolve()))}"
    file_spec = importlib.util.spec_from_file_location(name, path)
    if file_spec is None or file_spec.loader is None:
        raise ModelLoadError(f"factory {spec!r}: {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[name] = module  # dataclasses, pickling and fx look modules up by name
    try:
        with _importable_from(path.resolve().parent):
            file_spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        raise ModelLoadError(
            f"factory {spec!r}: importing {str(path)!r} raised {type(e).__name__}: {e}"
        ) from e
    return module


def load_factory(spec: str) -> Any:
    """Import FILE.py, call its FACTORY with no arguments and return the ``nn.Module`` it makes.

    Raises :class:`ModelLoadError` naming the file for: a malformed spec, a missing file, an
    import that fails, a missing or non-callable FACTORY, a call that fails, or a result that is
    not a ``torch.nn.Module``.
    """
    path, attr = _split_spec(spec)
    module = _import_file(path, spec)
    factory = getattr(module, attr, None)
    if factory is None:
        public = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise ModelLoadError(
            f"factory {spec!r}: {str(path)!r} has no attribute {attr!r}; its callables are "
            f"{public!r}"
        )
    if not callable(factory):
        raise ModelLoadError(
            f"factory {spec!r}: {attr} is {factory!r}, not callable; expected a function "
            "returning a torch.nn.Module"
        )
    try:
        built = factory()
    except Exception as e:
        raise ModelLoadError(f"factory {spec!r}: {attr}() raised {type(e).__name__}: {e}") from e
    if not isinstance(built, import_torch().nn.Module):
        raise ModelLoadError(
            f"factory {spec!r}: {attr}() returned {type(built).__name__} {built!r:.80}; expected "
            "a torch.nn.Module"
        )
    return built


def export_factory(
    spec: str,
    input_shape: Sequence[int],
    output: str | os.PathLike[str],
    *,
    verify: bool = False,
    dynamic_batch: bool = True,
    training: bool = False,
    log: Callable[[str], object] | None = None,
) -> Model:
    """Build the module of ``spec`` (``FILE.py:FACTORY``), convert it and save ``output``.

    ``input_shape`` is the example input's shape (dtype: the module's parameters'). The export
    has eval behaviour (``from_torch``'s default, as ``torch.onnx.export``); a module the factory
    left in training mode (``nn.Module``'s default) gets a one-line note to ``log`` saying so.
    ``training=True`` keeps each module's training flag instead. With ``verify`` the model is
    checked on random feeds of that shape (onnxruntime vs NumPy oracle vs torch, torch in the
    mode that was exported) before anything is written; the report goes to ``log`` and a
    failure raises :class:`MismatchError` carrying it, leaving ``output`` untouched.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "drop.py").write_text(
    ...     "import torch\\n"
    ...     "def make():\\n"
    ...     "    return torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Dropout(0.5))\\n")
    >>> model = export_factory(f"{folder}/drop.py:make", (1, 4), folder / "d.onnx", log=print)
    note: drop.py:make returned a module in training mode; its eval behaviour was exported, ...
    >>> [(c.type, c.training) for c in model.program().calls]
    [('Linear', False), ('Dropout', False)]
    """
    module = load_factory(spec)
    if not training and log is not None and any(m.training for m in module.modules()):
        log(
            f"note: {Path(spec).name} returned a module in training mode; its eval behaviour "
            "was exported, as torch.onnx.export does (--training, or training=True, keeps the "
            "training behaviour)"
        )
    model = from_torch(module, tuple(input_shape), dynamic_batch=dynamic_batch, training=training)
    if verify:
        with _exported_mode(module, training):
            _verify(model, module, tuple(input_shape), log)
    model.save(output)
    return model


@contextlib.contextmanager
def _exported_mode(module: Any, training: bool) -> Iterator[None]:
    """The module in the mode that was exported (eval unless ``training``), then as it was."""
    modes = {m: m.training for m in module.modules()}
    if not training:
        module.eval()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def _verify(
    model: Model, module: Any, shape: tuple[int, ...], log: Callable[[str], object] | None
) -> None:
    from .verification import random_feeds, verify

    prog = model.program()
    feeds = random_feeds(prog, dims={"N": shape[0]} if shape else None)
    report = verify(model, feeds, against=module)
    if log is not None:
        log(str(report))
    if not report.ok:
        raise MismatchError(f"export: verification failed; nothing was written\n{report}")
