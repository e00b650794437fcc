"""Load an ONNX model and refuse, with our own message, what onnxlayers cannot run.

`load_model` accepts a ``ModelProto``, serialized bytes, or a path. It never mutates a caller's
proto (it works on a copy) and raises `ModelLoadError` naming the file and the problem for: a
missing file, truncated or not-ONNX bytes, a default-domain opset outside `SUPPORTED_OPSETS`, a
node whose domain we do not know, a node of a function domain (``ai.onnxlayers``) whose function
definition is missing from ``model.functions``, and external data that would be read from outside
the model's directory (checked before any data is read).

>>> import onnx.helper as h
>>> from onnx import TensorProto
>>> graph = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
...     [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
...     [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
>>> model = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
>>> load_model(model.SerializeToString()).graph.node[0].op_type
'Relu'
>>> load_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 13)]))
Traceback (most recent call last):
...
onnxlayers.runtime.errors.ModelLoadError: model <ModelProto>: default-domain opset 13 is outside \
the supported range 17..22; re-export it with an opset in 17..22
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model

from onnxlayers.builder.program import OPSETS
from onnxlayers.custom_ops import DOMAIN

from .errors import ModelLoadError

if TYPE_CHECKING:
    from onnxlayers.builder.model import Model

__all__ = [
    "CUSTOM_DOMAIN",
    "STANDARD_DOMAINS",
    "SUPPORTED_OPSETS",
    "ModelSource",
    "default_opset",
    "describe_source",
    "iter_graphs",
    "iter_nodes",
    "load_model",
    "node_label",
]

ModelSource: TypeAlias = "onnx.ModelProto | bytes | str | os.PathLike[str] | Model"
"""A ModelProto, serialized bytes, a path, or a builder ``Model`` (lowered on load)."""

#: Default-domain opsets the layers, the oracle and the CUDA table are checked against (17..22).
SUPPORTED_OPSETS = OPSETS
#: Our custom-op domain; its nodes must come with their function bodies.
CUSTOM_DOMAIN = DOMAIN
#: Domains onnxruntime implements itself.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})

_OPSET_TEXT = f"{SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}"


def load_model(model: ModelSource) -> onnx.ModelProto:
    """Return a private, checked copy of ``model`` with its external data loaded.

    A path's external data is read from the model's directory only; an in-memory model must
    not refer to external data at all (there is no directory to read it from safely).

    >>> load_model("/no/such/model.onnx")
    Traceback (most recent call last):
    ...
    onnxlayers.runtime.errors.ModelLoadError: model '/no/such/model.onnx': file does not exist
    """
    label = describe_source(model)
    if hasattr(model, "to_onnx"):  # a builder Model: its own lowering, checked as any file
        model = model.to_onnx()
    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        base_dir = None
    elif isinstance(model, bytes):
        proto, base_dir = _parse(model, label), None
    else:
        path = Path(os.fspath(model))
        proto, base_dir = _parse(_read(path, label), label), path.parent
    _check_structure(proto, label)
    _check_opset(proto, label)
    _check_domains(proto, label)
    _load_external_data(proto, base_dir, label)
    return proto


def describe_source(model: ModelSource) -> str:
    """How error messages name a model: the path (quoted), ``<bytes>`` or ``<ModelProto>``.

    >>> describe_source(b"")
    '<bytes>'
    """
    if isinstance(model, onnx.ModelProto):
        return "<ModelProto>"
    if isinstance(model, bytes):
        return "<bytes>"
    if hasattr(model, "to_onnx"):
        return f"<Model {getattr(model, 'name', '')!r}>"
    return repr(os.fspath(model))


def default_opset(model: onnx.ModelProto) -> int | None:
    """The model's import version of the default ONNX domain (``''`` or ``'ai.onnx'``)."""
    return next((imp.version for imp in model.opset_import if imp.domain in ("", "ai.onnx")), None)


def iter_nodes(model: onnx.ModelProto, *, functions: bool = True) -> Iterator[onnx.NodeProto]:
    """Every node of the main graph and its subgraphs, then (optionally) of local functions.

    >>> import onnx.helper as h
    >>> [n.op_type for n in iter_nodes(h.make_model(h.make_graph(
    ...     [h.make_node("Relu", ["x"], ["y"])], "g", [], [])))]
    ['Relu']
    """
    for graph in iter_graphs(model.graph):
        yield from graph.node
    if functions:
        for function in model.functions:
            for node in function.node:
                yield node
                for sub in _subgraphs(node):
                    for graph in iter_graphs(sub):
                        yield from graph.node


def node_label(name: str, op_type: str, index: int) -> str:
    """A node's name, or ``'<Op #index>'`` for an unnamed node (names are optional in ONNX).

    >>> node_label("", "Relu", 3), node_label("relu0", "Relu", 3)
    ('<Relu #3>', 'relu0')
    """
    return name or f"<{op_type} #{index}>"


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.HasField("g"):
            yield attr.g
        yield from attr.graphs


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and, depth first, every subgraph of its nodes (If branches, Loop bodies, ...)."""
    yield graph
    for node in graph.node:
        for sub in _subgraphs(node):
            yield from iter_graphs(sub)


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor that may hold external data: initializers and tensor attributes."""
    for graph in iter_graphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
    for node in iter_nodes(model):
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


def _read(path: Path, label: str) -> bytes:
    if not path.exists():
        raise ModelLoadError(f"model {label}: file does not exist")
    try:
        return path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"model {label}: cannot read the file ({err.strerror})") from err


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except DecodeError as err:
        raise ModelLoadError(
            f"model {label}: truncated or not an ONNX model ({len(data)} bytes do not parse as "
            f"onnx.ModelProto: {err})"
        ) from err
    return proto


def _check_structure(proto: onnx.ModelProto, label: str) -> None:
    missing = [
        what
        for what, present in (
            ("ir_version", proto.ir_version > 0),
            ("graph", proto.HasField("graph")),
            ("opset_import", len(proto.opset_import) > 0),
        )
        if not present
    ]
    if missing:
        raise ModelLoadError(
            f"model {label}: truncated or not an ONNX model (no {', '.join(missing)}); "
            "an ONNX model needs ir_version, graph and opset_import"
        )


def _check_opset(proto: onnx.ModelProto, label: str) -> None:
    version = default_opset(proto)
    if version is None:
        raise ModelLoadError(
            f"model {label}: imports no default-domain ('' or 'ai.onnx') opset; "
            f"supported opsets are {_OPSET_TEXT}"
        )
    if version not in SUPPORTED_OPSETS:
        raise ModelLoadError(
            f"model {label}: default-domain opset {version!r} is outside the supported range "
            f"{_OPSET_TEXT}; re-export it with an opset in {_OPSET_TEXT}"
        )


def _check_domains(proto: onnx.ModelProto, label: str) -> None:
    functions = {(f.domain, f.name, f.overload) for f in proto.functions}
    function_domains = {f.domain for f in proto.functions} | {CUSTOM_DOMAIN}
    for node in iter_nodes(proto):
        if node.domain in function_domains:
            if (node.domain, node.op_type, node.overload) not in functions:
                present = sorted(f"{d}::{n}" for d, n, _ in functions) or "none"
                raise ModelLoadError(
                    f"{_where(label, node)} has no function definition in model.functions "
                    f"(present: {present}); a model using domain {node.domain!r} must carry the "
                    "function bodies of the ops it uses"
                )
        elif node.domain not in STANDARD_DOMAINS:
            allowed = sorted(STANDARD_DOMAINS | function_domains)
            raise ModelLoadError(
                f"{_where(label, node)} uses unknown domain {node.domain!r}; allowed domains are "
                f"{allowed} (a custom domain is allowed when model.functions defines its ops)"
            )
    imported = {imp.domain or "ai.onnx" for imp in proto.opset_import}
    for node in iter_nodes(proto, functions=False):
        if (node.domain or "ai.onnx") not in imported:
            raise ModelLoadError(
                f"{_where(label, node)} uses domain {node.domain!r}, which model.opset_import "
                f"does not import (imported: {sorted(imported)})"
            )


def _where(label: str, node: onnx.NodeProto) -> str:
    return f"model {label}: node {node.name!r} ({node.domain}::{node.op_type})"


def _load_external_data(proto: onnx.ModelProto, base_dir: Path | None, label: str) -> None:
    external = [t for t in _tensors(proto) if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return
    if base_dir is None:
        raise ModelLoadError(
            f"model {label}: tensor {external[0].name!r} refers to external data, but the model "
            "was given in memory; pass the model's file path so its data is read from its "
            "directory"
        )
    for tensor in external:
        _check_location(tensor, base_dir, label)
    try:
        load_external_data_for_model(proto, str(base_dir))
    except (OSError, ValueError, onnx.checker.ValidationError) as err:
        raise ModelLoadError(
            f"model {label}: cannot read its external data from {str(base_dir)!r}: {err}"
        ) from err


def _check_location(tensor: onnx.TensorProto, base_dir: Path, label: str) -> None:
    """Refuse absolute locations, ``..`` and symlinks that resolve outside ``base_dir``."""
    location = ExternalDataInfo(tensor).location
    root = os.path.realpath(base_dir)
    if not os.path.realpath(os.path.join(root, location)).startswith(root + os.sep):
        raise ModelLoadError(
            f"model {label}: tensor {tensor.name!r} has external data location {location!r}, "
            "which escapes the model's directory; only relative paths inside "
            f"{str(base_dir)!r} are allowed"
        )
