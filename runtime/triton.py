"""Write a Triton Inference Server model repository for an ONNX model.

Triton's onnxruntime backend runs our files as they are: every ``ai.onnxlayers`` op carries
its function body in the file, so no plugin library is needed. :func:`write_triton_repository`
writes ``DIR/<name>/config.pbtxt`` (inputs and outputs with their names, dtypes and dims, the
batch dim folded into ``max_batch_size``, dynamic batching, instance groups) and
``DIR/<name>/1/model.onnx``.

Serving the repository (one machine; run more replicas behind a load balancer, or one per node
of a Kubernetes deployment, to scale past it)::

    onnxlayers export-triton model.onnx --repository repo --max-batch-size 8 --provider cuda
    docker run --rm --gpus all -p 8000:8000 -p 8001:8001 -p 8002:8002 \\
        -v "$PWD/repo:/models" nvcr.io/nvidia/tritonserver:<yy.mm>-py3 \\
        tritonserver --model-repository=/models
    curl localhost:8000/v2/models/model/config   # the config Triton loaded

>>> import tempfile
>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", ("N", 4))
>>> folder = write_triton_repository(Model([x], [ReLU()(x)]), tempfile.mkdtemp(), name="relu",
...                                  max_batch_size=8)
>>> print((folder / "config.pbtxt").read_text())  # doctest: +ELLIPSIS
name: "relu"
platform: "onnxruntime_onnx"
backend: "onnxruntime"
max_batch_size: 8
input [
  {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
...
dynamic_batching { }
instance_group [
  {
    count: 1
    kind: KIND_CPU
  }
]
<BLANKLINE>
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from google.protobuf import text_encoding, text_format

from onnxlayers.builder import Model
from onnxlayers.builder.files import make_dir_public, save_atomic

from .errors import RuntimeFault
from .loading import ModelSource, describe_source, load_model

__all__ = [
    "TritonConfigError",
    "model_config_schema",
    "parse_config",
    "triton_config",
    "write_triton_repository",
]

TRITON_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.UINT64: "TYPE_UINT64",
    onnx.TensorProto.UINT32: "TYPE_UINT32",
    onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
    onnx.TensorProto.STRING: "TYPE_STRING",
}
"""ONNX element types -> Triton ``DataType`` names."""

KINDS = {"cpu": "KIND_CPU", "cuda": "KIND_GPU"}
"""``provider`` -> Triton instance-group kind (onnxruntime's backend picks its CUDA EP on GPU)."""

NAME_RULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
"""Model names: a directory name and a URL path segment (``/v2/models/<name>``)."""

TRITON_HINT = "install tritonclient for Triton's schema: pip install 'onnxlayers[triton]'"


class TritonConfigError(RuntimeFault):
    """The model or the arguments cannot make a valid Triton model configuration."""


@dataclass(frozen=True)
class TritonTensor:
    """One config ``input`` / ``output`` entry; ``reshape`` set for scalars (dims ``[1]``)."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None

    def render(self) -> str:
        lines = [
            f"    name: {_quote(self.name)}",
            f"    data_type: {self.data_type}",
            f"    dims: {_ints(self.dims)}",
        ]
        if self.reshape is not None:
            lines.append(f"    reshape: {{ shape: {_ints(self.reshape)} }}")
        return "  {\n" + "\n".join(lines) + "\n  }"


def _quote(text: str) -> str:
    return '"' + text_encoding.CEscape(text, as_utf8=True) + '"'


def _ints(values: Sequence[int]) -> str:
    return f"[ {', '.join(map(str, values))} ]" if values else "[ ]"


# ------------------------------------------------------------------------------ the config
def _tensor(vi: onnx.ValueInfoProto, batching: bool, where: str) -> TritonTensor:
    """The config entry of one graph input or output; the batch dim dropped when batching."""
    what = f"{where} {vi.name!r}"
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or t.elem_type not in TRITON_DTYPES:
        raise TritonConfigError(
            f"{what}: type {onnx.helper.printable_type(vi.type)!r} has no Triton data type; "
            f"expected a tensor of one of {sorted(TRITON_DTYPES.values())!r}"
        )
    if not t.HasField("shape"):
        raise TritonConfigError(f"{what}: has no shape (unknown rank); Triton needs the rank")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    if batching:
        dims = dims[1:]
    reshape = None
    if not dims:  # Triton wants at least one dim: a scalar is [1] reshaped to []
        dims, reshape = [1], ()
    return TritonTensor(vi.name, TRITON_DTYPES[t.elem_type], tuple(dims), reshape)


def _check_batch_dims(values: Sequence[tuple[str, onnx.ValueInfoProto]], max_batch: int) -> None:
    """With batching, every input and output must start with one shared dynamic dim."""
    named = set()
    for where, vi in values:
        dims = vi.type.tensor_type.shape.dim
        first = dims[0] if dims else None
        if first is None or first.HasField("dim_value"):
            shape = [d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in dims]
            raise TritonConfigError(
                f"max_batch_size={max_batch}: {where} {vi.name!r} has shape {shape!r}, whose "
                "first dim is not dynamic; Triton batches along the first dim of every input "
                "and output. Export with a dynamic batch dim (from_torch(..., "
                "dynamic_batch=True), Input(name, ('N', ...))) or use max_batch_size=0"
            )
        if first.dim_param:
            named.add(first.dim_param)
    if len(named) > 1:
        raise TritonConfigError(
            f"max_batch_size={max_batch}: first dims are named {sorted(named)!r}; Triton "
            "batches every input and output along one batch dim, so they must share one name"
        )


def _inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are fed (initializers listed as inputs are not)."""
    weights = {t.name for t in graph.initializer}
    return [vi for vi in graph.input if vi.name not in weights]


def _check_args(max_batch_size: int, instances: int, provider: str) -> str:
    """Validate the numbers and return the instance kind."""
    for arg, value, low in (("max_batch_size", max_batch_size, 0), ("instances", instances, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise TritonConfigError(f"{arg}={value!r} is invalid; expected an int >= {low}")
    kind = KINDS.get(str(provider).lower().removesuffix("executionprovider"))
    if kind is None:
        raise TritonConfigError(
            f"provider={provider!r} is invalid; expected one of {sorted(KINDS)!r}"
        )
    return kind


def check_name(name: str) -> str:
    """Return ``name`` if Triton can serve a model under it (a folder and a URL segment).

    >>> check_name("resnet-18_v1.2")
    'resnet-18_v1.2'
    """
    if not isinstance(name, str) or not NAME_RULE.match(name) or len(name) > 200:
        raise TritonConfigError(
            f"model name {name!r} is invalid; expected 1 to 200 letters, digits, '_', '-' or "
            "'.', not starting with '.' or '-' (it names a folder and a URL path segment)"
        )
    return name


def triton_config(
    model: onnx.ModelProto,
    *,
    name: str,
    max_batch_size: int = 0,
    instances: int = 1,
    provider: str = "cpu",
) -> str:
    """The ``config.pbtxt`` text (protobuf text format of Triton's ``ModelConfig``).

    With ``max_batch_size > 0`` the first dim of every input and output must be dynamic (the
    batch dim): it is left out of ``dims`` and dynamic batching is on. Other dynamic dims are
    ``-1``; a scalar is ``dims: [ 1 ]`` with ``reshape: { shape: [ ] }``.
    """
    kind = _check_args(max_batch_size, instances, provider)
    batching = max_batch_size > 0
    graph = model.graph
    values = [("input", vi) for vi in _inputs(graph)] + [("output", vi) for vi in graph.output]
    if batching:
        _check_batch_dims(values, max_batch_size)
    tensors: dict[str, list[TritonTensor]] = {"input": [], "output": []}
    for where, vi in values:
        tensors[where].append(_tensor(vi, batching, where))
    parts = [
        f"name: {_quote(check_name(name))}",
        'platform: "onnxruntime_onnx"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
    ]
    for where, entries in tensors.items():
        parts.append(f"{where} [\n" + ",\n".join(e.render() for e in entries) + "\n]")
    if batching:
        parts.append("dynamic_batching { }")
    parts.append(f"instance_group [\n  {{\n    count: {instances}\n    kind: {kind}\n  }}\n]")
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------ the repository
def _load(model: Model | ModelSource) -> tuple[onnx.ModelProto, str, str]:
    """A checked proto (custom ops must carry their functions), a default name and a label."""
    if isinstance(model, Model):
        return load_model(model.to_onnx()), model.name, f"Model {model.name!r}"
    proto = load_model(model)
    if isinstance(model, (str, os.PathLike)):
        return proto, Path(os.fspath(model)).stem, describe_source(model)
    return proto, proto.graph.name or "model", describe_source(model)


def write_triton_repository(
    model: Model | ModelSource,
    repository: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_batch_size: int = 0,
    instances: int = 1,
    provider: str = "cpu",
    overwrite: bool = False,
) -> Path:
    """Write ``repository/<name>/config.pbtxt`` and ``repository/<name>/1/model.onnx``.

    ``model`` is an onnxlayers ``Model``, a ``ModelProto``, serialized bytes or a path; ``name``
    defaults to the file's stem (or the graph's name). See :func:`triton_config` for
    ``max_batch_size``; ``instances`` model instances run on each GPU (``provider="cuda"``) or
    on the CPU. A new model folder appears at once (written aside, then renamed); an existing
    one is updated file by file (each written aside and renamed), and when its ``1/model.onnx``
    holds a different model the call raises unless ``overwrite``. Returns the model folder.
    """
    proto, default, label = _load(model)
    name = check_name(default if name is None else name)
    config = triton_config(
        proto, name=name, max_batch_size=max_batch_size, instances=instances, provider=provider
    )
    data = proto.SerializeToString()
    root = Path(repository)
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if target.exists():
        _update(target, data, config, overwrite=overwrite, label=label)
    else:
        _create(target, data, config)
    return target


def _create(target: Path, data: bytes, config: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        make_dir_public(tmp)  # mkdtemp's 0700 would hide the model from a server user
        (tmp / "1").mkdir()
        (tmp / "1" / "model.onnx").write_bytes(data)
        (tmp / "config.pbtxt").write_text(config, encoding="utf-8")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _update(target: Path, data: bytes, config: str, *, overwrite: bool, label: str) -> None:
    model_file = target / "1" / "model.onnx"
    if not target.is_dir():
        raise TritonConfigError(f"{target}: exists and is not a folder; expected a model folder")
    if model_file.exists() and model_file.read_bytes() != data and not overwrite:
        raise TritonConfigError(
            f"{target}: its 1/model.onnx holds a different model than {label}; pass "
            "overwrite=True (--overwrite) to replace it, or choose another name"
        )
    save_atomic(data, model_file)
    save_atomic(config.encode("utf-8"), target / "config.pbtxt")


# ------------------------------------------------------------------------------ Triton's schema
@functools.cache
def model_config_schema() -> Any:
    """Triton's ``model_config_pb2`` module, as shipped by ``tritonclient``.

    ``tritonclient.grpc`` refuses to import without its ``grpc`` extra, so the generated file
    is loaded from the installed package directly when that import fails.
    """
    try:
        from tritonclient.grpc import model_config_pb2

        return model_config_pb2
    except (ImportError, RuntimeError):
        pass
    spec = importlib.util.find_spec("tritonclient")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "grpc" / "model_config_pb2.py" if locations else None
    if path is None or not path.exists():
        raise ImportError(f"Triton's model_config schema is not installed; {TRITON_HINT}")
    file_spec = importlib.util.spec_from_file_location("_onnxlayers_model_config_pb2", path)
    assert file_spec is not None and file_spec.loader is not None
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


def parse_config(source: str | os.PathLike[str]) -> Any:
    """Parse config text (a str) or a ``config.pbtxt`` file (a path object) into Triton's
    ``ModelConfig`` message; raise :class:`TritonConfigError` where it does not fit the schema.
    """
    text = source if isinstance(source, str) else Path(source).read_text(encoding="utf-8")
    config = model_config_schema().ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise TritonConfigError(f"config does not fit Triton's ModelConfig schema: {e}") from e
    return config
