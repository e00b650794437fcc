"""``from_torch``: turn a PyTorch module into an onnxlayers :class:`~onnxlayers.builder.Model`.

torch stays optional (``pip install 'onnxlayers[torch]'``): this module imports it only when a
function here runs, so ``import onnxlayers.builder`` never does.

The module is traced with ``torch.fx``; each ``nn`` module, ``torch.nn.functional`` function,
``torch`` function and tensor method in its graph maps to one of our layers, with the weights
copied and each module's training flag kept. ``nn.Sequential`` trees and modules with their own
``forward`` (pool -> unpool with ``output_size=x.size()``, flatten, residual adds) both work.
Anything else raises :class:`UnsupportedTorchError` naming the module path, its type and the
supported set. The first dim of every input of rank >= 2 becomes the dynamic batch dim ``"N"``
unless ``dynamic_batch=False``.

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
>>> model = from_torch(net, (1, 4))
>>> model.inputs[0].shape, sorted(model.state_dict())
(('N', 4), ['0.bias', '0.weight'])
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np

from . import layers as _layers  # noqa: F401  (importing layers registers them all)
from .errors import BuildError, LayerArgumentError, LayerTypeError
from .layer import Layer
from .model import Model
from .registry import LAYERS
from .tensor import Dim, Input, Shape, Tensor, normalize_dtype

__all__ = [
    "TORCH_HINT",
    "UnsupportedTorchError",
    "from_torch",
    "import_torch",
    "run_torch",
    "supported",
]

TORCH_HINT = "install PyTorch to use it: pip install 'onnxlayers[torch]'"


class UnsupportedTorchError(LayerTypeError):
    """A torch module, function or method that has no onnxlayers equivalent."""


# ------------------------------------------------------------------------------ what maps
def _module_layers(torch: Any) -> dict[type, str]:
    """``torch.nn`` class -> our layer type: every registered layer named like a ``torch.nn``
    class maps, its arguments read by ``Layer.args_from_module``."""
    return {getattr(torch.nn, name): name for name in LAYERS if hasattr(torch.nn, name)}


@dataclass(frozen=True)
class _Rule:
    """How one torch function or tensor method maps: a converter with torch's signature."""

    convert: Callable[..., Any]
    layer: str | None
    """The layer type it needs (None: none), so rules whose layer is missing drop out."""


_FUNCTIONS: dict[str, _Rule] = {}
"""Dotted torch names (``"torch.nn.functional.relu"``, ``"Tensor.relu"``) -> rule."""

C = TypeVar("C", bound=Callable[..., Any])


def _maps(*names: str, layer: str | None = None) -> Callable[[C], C]:
    """Register a converter for torch functions (dotted paths) and ``Tensor.<method>`` names."""

    def deco(fn: C) -> C:
        for name in names:
            _FUNCTIONS[name] = _Rule(fn, layer)
        return fn

    return deco


def _available(layer: str | None) -> bool:
    return layer is None or layer in LAYERS


def supported() -> dict[str, list[str]]:
    """The torch modules and functions :func:`from_torch` maps with the layers installed now.

    >>> "torch.nn.Linear" in supported()["modules"]
    True
    """
    torch = import_torch()
    modules = [f"torch.nn.{k}" for k in LAYERS if hasattr(torch.nn, k)]
    modules += ["torch.nn.Sequential"]
    functions = [_short(k) for k, r in _FUNCTIONS.items() if _available(r.layer)]
    return {"modules": sorted(modules), "functions": sorted(set(functions))}


def _supported_text() -> str:
    s = supported()
    return (
        f"Supported modules: {', '.join(s['modules'])}. Supported functions and methods: "
        f"{', '.join(s['functions'])}."
    )


def _short(name: str) -> str:
    return name.replace("torch.nn.functional.", "F.").replace("builtins.", "")


# ------------------------------------------------------------------------------ values
@dataclass(frozen=True)
class _Dim:
    """One dim read from a tensor's size (``x.size(0)``, ``x.shape[0]``): int, str or None."""

    value: Dim


@dataclass(frozen=True)
class _Param:
    """A tensor attribute of the module (``self.weight``) read by ``get_attr``."""

    path: str
    value: Any


def _plain(v: Any) -> Any:
    """fx's immutable containers and torch's ``Size`` as plain tuples (JSON-able arguments)."""
    if isinstance(v, (list, tuple)) and not isinstance(v, Shape):
        return tuple(_plain(x) for x in v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _static(v: Any) -> Any:
    """A call argument with dims resolved: ints stay, a whole :class:`Shape` stays symbolic."""
    if isinstance(v, Shape) or v is None or isinstance(v, (int, float, bool, str)):
        return v
    if isinstance(v, _Dim):
        if isinstance(v.value, int):
            return v.value
        raise UnsupportedTorchError(
            f"a dynamic dim ({v.value!r}) is used as a number; pass the whole size (x.size()) "
            "or export with dynamic_batch=False"
        )
    if isinstance(v, tuple):
        return tuple(_static(x) for x in v)
    raise UnsupportedTorchError(f"argument {v!r} is neither a size nor a constant")


def _dim_of(v: Any) -> Dim | bool:
    """A view/reshape target entry as a dim (``-1`` stays ``-1``); False if it is no size."""
    if isinstance(v, _Dim):
        return v.value
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return False


def flatten_start(shape: Sequence[Dim], target: Sequence[Dim]) -> int | None:
    """``k`` when reshaping ``shape`` to ``target`` is provably ``flatten(start_dim=k)``.

    Entries of ``target`` are ints, ``-1`` or dims read from tensors (named dynamic dims such
    as ``"N"`` match the same name). None when the reshape is not a flatten, or not provably.

    >>> flatten_start(("N", 16, 2, 2), ("N", -1)), flatten_start(("N", 16, 2, 2), (-1, 64))
    (1, 1)
    >>> flatten_start(("N", 16, 2, 2), (1, -1)) is None
    True
    """
    k = len(target) - 1
    if not 0 <= k < max(len(shape), 1) or sum(1 for t in target if t == -1) > 1:
        return None
    rest = shape[k:]
    merged: Dim = math.prod(rest) if all(isinstance(d, int) for d in rest) else None  # type: ignore[arg-type]
    wanted = [*shape[:k], merged]
    for t, w in zip(target, wanted, strict=True):
        if t != -1 and (w is None or t != w):
            return None
    return k


# ------------------------------------------------------------------------------ the importer
class _Importer:
    """Walks one fx graph, mapping each node to onnxlayers layers applied to symbolic tensors."""

    def __init__(self, torch: Any, root: Any, *, keep_training: bool = False) -> None:
        self.torch = torch
        self.root = root
        self.keep_training = keep_training
        """False: every layer in eval mode, a forward's literal ``training=True`` included."""
        self.modules = _module_layers(torch)
        self.functions, self.methods = _function_tables()
        self.layers: dict[str, Layer] = {}
        self.env: dict[Any, Any] = {}
        self.node: Any = None

    # -------------------------------------------------------------- errors and names
    def where(self, node: Any) -> str:
        if node.op == "call_module":
            return self._module_label(node.target, self.root.get_submodule(node.target))
        path, kind = self._owner(node)
        return f"{self._target_name(node)} in {self._module_label(path, kind)}"

    def _owner(self, node: Any) -> tuple[str, Any]:
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return "", self.root
        entry = list(stack.values())[-1]
        path, kind = entry if isinstance(entry, tuple) else (list(stack)[-1], entry)
        return path, kind

    @staticmethod
    def _module_label(path: str, module_or_type: Any) -> str:
        kind = module_or_type if isinstance(module_or_type, type) else type(module_or_type)
        label = f"module {path!r}" if path else "the top-level module"
        return f"{label} ({_type_name(kind)})"

    def _target_name(self, node: Any) -> str:
        if node.op == "call_method":
            return f"Tensor.{node.target}"
        if node.op == "get_attr":
            return f"attribute {node.target!r}"
        t = node.target
        mod = getattr(t, "__module__", None) or "torch"
        mod = {"_operator": "operator", "torch._C._nn": "torch.nn.functional"}.get(mod, mod)
        return _short(f"{mod}.{getattr(t, '__name__', repr(t))}")

    def unsupported(self, node: Any, reason: str = "") -> UnsupportedTorchError:
        """The error for ``node``: where it is, why (when known) and the supported set."""
        why = f": {reason}" if reason else ""
        return UnsupportedTorchError(
            f"from_torch: {self.where(node)} is not supported{why}. {_supported_text()}"
        )

    # -------------------------------------------------------------- building blocks
    def tensor(self, v: Any, what: str = "input") -> Tensor:
        """``v`` as a symbolic tensor: an input, a layer's output, or a module's own tensor
        (``self.layer_scale``) as the output of a :class:`Parameter` layer."""
        if isinstance(v, Tensor):
            return v
        if isinstance(v, _Param) and "Parameter" in LAYERS and v.value.is_floating_point():
            key = f"<parameter {v.path}>"
            if key not in self.layers:
                layer = cast(Any, LAYERS["Parameter"])(tuple(v.value.shape))
                layer.name = v.path
                layer.weight = _numpy(v.value)
                self.layers[key] = layer
            out: Tensor = self.layers[key]()
            return out
        raise UnsupportedTorchError(
            f"{what} is {v!r}; only tensors (inputs, layer outputs, the module's own float "
            "tensors) can be used here"
        )

    def adopt(self, layer: Layer, training: bool | None = None) -> Layer:
        """Name ``layer`` after the current node and set its mode (see :meth:`new_layer`)."""
        layer.name = self.node.name
        wanted = self._owner_training() if training is None else training
        layer.train(self.keep_training and wanted)
        return layer

    @staticmethod
    def param(v: Any, what: str) -> np.ndarray:
        """A ``get_attr`` tensor (``self.weight``) as a numpy copy with torch's shape."""
        if not isinstance(v, _Param):
            raise UnsupportedTorchError(
                f"{what} is {v!r}; only the module's own parameters can be used here"
            )
        return _numpy(v.value)

    def new_layer(self, layer_type: str, *, training: bool | None = None, **args: Any) -> Layer:
        """A layer for the current function node, named after the node."""
        return self.adopt(LAYERS[layer_type](**args), training)

    def _owner_training(self) -> bool:
        path, _ = self._owner(self.node)
        return bool(self.root.get_submodule(path).training)

    def call(self, layer: Layer, *inputs: Any, **call_args: Any) -> Any:
        tensors = [self.tensor(t, f"input {i}") for i, t in enumerate(inputs)]
        return layer(*tensors, **{k: _static(v) for k, v in call_args.items()})

    def apply(
        self, layer_type: str, args: Mapping[str, Any], *inputs: Any, training: bool | None = None
    ) -> Any:
        return self.call(self.new_layer(layer_type, training=training, **_plain(args)), *inputs)

    def reshape(self, x: Any, target: Sequence[Any]) -> Any:
        t = self.tensor(x)
        if len(target) == 1 and isinstance(target[0], tuple):
            target = target[0]
        dims = [_dim_of(d) for d in target]
        start = None if any(d is False for d in dims) else flatten_start(t.shape, dims)
        if start is not None:
            return self.apply("Flatten", {"start_dim": start, "end_dim": -1}, t)
        if any(d is False or d is None for d in dims) or "Reshape" not in LAYERS:
            raise UnsupportedTorchError(
                f"reshaping {t.shape!r} to {tuple(dims)!r}: each size must be an int, -1 or a "
                "dim read from a tensor (x.size(0)); an unnamed dynamic dim cannot be used"
            )
        named = [d for d in dims if isinstance(d, str)]
        if dims and t.shape and isinstance(t.shape[0], str) and not named and dims[0] != -1:
            raise UnsupportedTorchError(
                f"reshaping {t.shape!r} to {tuple(dims)!r} fixes the dynamic batch dim "
                f"{t.shape[0]!r} to {dims[0]!r}; write x.size(0) rather than a literal batch "
                "size, or use from_torch(..., dynamic_batch=False)"
            )
        return self.apply("Reshape", {"shape": dims}, t)

    # -------------------------------------------------------------- nodes
    def unsupported_nodes(self, graph: Any) -> list[str]:
        """Where each node that nothing maps sits (module path and type, or function), in
        graph order without repeats: the whole list, before anything is converted."""
        found: list[str] = []
        for node in graph.nodes:
            if node.op == "call_module":
                module = self.root.get_submodule(node.target)
                known = type(module) in self.modules
            elif node.op in ("call_function", "call_method"):
                table = self.methods if node.op == "call_method" else self.functions
                rule = table.get(node.target)
                known = rule is not None and _available(rule.layer)
            else:
                known = True
            if not known and (where := self.where(node)) not in found:
                found.append(where)
        return found

    def run(self, graph: Any, inputs: Sequence[Tensor]) -> Any:
        missing = self.unsupported_nodes(graph)
        if missing:
            listed = "".join(f"\n  - {m} is not supported" for m in missing)
            raise UnsupportedTorchError(
                f"from_torch: {len(missing)} part(s) of the model are not supported:{listed}\n"
                f"{_supported_text()}"
            )
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        self.env.update(zip(placeholders, inputs, strict=True))
        for node in graph.nodes:
            self.node = node
            if node.op == "output":
                return self._values(node.args[0])
            if node.op != "placeholder":
                self.env[node] = self._guarded(node)
        raise BuildError("from_torch: the traced graph has no output")

    def _values(self, a: Any) -> Any:
        return _plain(self.torch.fx.node.map_arg(a, self.env.__getitem__))

    def _guarded(self, node: Any) -> Any:
        """Evaluate ``node``; every error names it (the module path and type) and says why."""
        try:
            return self._eval(node)
        except UnsupportedTorchError as e:
            raise self.unsupported(node, str(e)) from None
        except (BuildError, LayerTypeError) as e:
            raise type(e)(f"from_torch: {self.where(node)}: {e}") from e

    def _eval(self, node: Any) -> Any:
        if node.op == "get_attr":
            return _Param(node.target, functools.reduce(getattr, node.target.split("."), self.root))
        args, kwargs = self._values(node.args), self._values(node.kwargs)
        if node.op == "call_module":
            return self._call_module(node.target, args, kwargs)
        table = self.methods if node.op == "call_method" else self.functions
        rule = table.get(node.target)
        if rule is None or not _available(rule.layer):
            raise UnsupportedTorchError()
        return rule.convert(self, *args, **kwargs)

    def _call_module(self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        module = self.root.get_submodule(path)
        layer_type = self.modules.get(type(module))
        if layer_type is None:
            raise UnsupportedTorchError()
        layer = self.layers.get(path)
        if layer is None:
            layer = self.layers[path] = _module_layer(layer_type, module, path)
        return self.call(layer, *args, **kwargs)


def _module_layer(layer_type: str, module: Any, path: str) -> Layer:
    """Our layer for one torch module: its arguments, weights (torch's keys) and mode."""
    cls = LAYERS[layer_type]
    layer = cls(**cls.args_from_module(module))
    layer.name = path or None
    state = {k: _numpy(v) for k, v in module.state_dict().items()}
    layer.load_state_dict({k: v for k, v in state.items() if k in layer.param_shapes()})
    layer.train(bool(module.training))
    return layer


def _numpy(t: Any) -> np.ndarray:
    return np.array(t.detach().cpu().numpy(), copy=True)


def _type_name(kind: type) -> str:
    module = kind.__module__
    if module.startswith("torch.nn.modules."):
        return f"torch.nn.{kind.__name__}"
    return f"{module}.{kind.__qualname__}"


def _resolve(name: str) -> Any:
    mod, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(mod), attr, None)
    except ImportError:
        return None


@functools.cache
def _function_tables() -> tuple[dict[Any, _Rule], dict[str, _Rule]]:
    """(torch callable -> rule, method name -> rule), resolved once torch is imported."""
    functions: dict[Any, _Rule] = {}
    methods: dict[str, _Rule] = {}
    for name, rule in _FUNCTIONS.items():
        if name.startswith("Tensor."):
            methods[name.removeprefix("Tensor.")] = rule
        elif (fn := _resolve(name)) is not None:
            functions[fn] = rule
    return functions, methods


# ------------------------------------------------------------------------------ converters
# Each converter has the signature of the torch callables it maps (after the importer), so
# fx's positional and keyword arguments bind as they do in torch.
@_maps("torch.nn.functional.relu", "torch.relu", "Tensor.relu", layer="ReLU")
def _relu(cx: _Importer, input: Any, inplace: bool = False) -> Any:
    return cx.apply("ReLU", {}, input)


@_maps("torch.sigmoid", "torch.nn.functional.sigmoid", "Tensor.sigmoid", layer="Sigmoid")
def _sigmoid(cx: _Importer, input: Any) -> Any:
    return cx.apply("Sigmoid", {}, input)


@_maps("torch.tanh", "torch.nn.functional.tanh", "Tensor.tanh", layer="Tanh")
def _tanh(cx: _Importer, input: Any) -> Any:
    return cx.apply("Tanh", {}, input)


@_maps("torch.nn.functional.leaky_relu", layer="LeakyReLU")
def _leaky_relu(
    cx: _Importer, input: Any, negative_slope: float = 0.01, inplace: bool = False
) -> Any:
    return cx.apply("LeakyReLU", {"negative_slope": negative_slope}, input)


@_maps("torch.nn.functional.prelu", "torch.prelu", layer="PReLU")
def _prelu(cx: _Importer, input: Any, weight: Any) -> Any:
    w = cx.param(weight, "weight").reshape(-1)
    layer = cx.new_layer("PReLU", num_parameters=int(w.size))
    layer.weight = w
    return cx.call(layer, input)


@_maps("torch.nn.functional.rrelu", "torch.rrelu", layer="RReLU")
def _rrelu(
    cx: _Importer,
    input: Any,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Any:
    return cx.apply("RReLU", {"lower": lower, "upper": upper}, input, training=bool(training))


@_maps("torch.nn.functional.linear", layer="Linear")
def _linear(cx: _Importer, input: Any, weight: Any, bias: Any = None) -> Any:
    w = cx.param(weight, "weight")
    if w.ndim != 2:
        raise UnsupportedTorchError(
            f"weight has shape {w.shape!r}; expected (out_features, in_features)"
        )
    layer = cx.new_layer(
        "Linear", in_features=w.shape[1], out_features=w.shape[0], bias=bias is not None
    )
    layer.weight = w
    if bias is not None:
        layer.bias = cx.param(bias, "bias")
    return cx.call(layer, input)


@_maps("torch.flatten", "Tensor.flatten", layer="Flatten")
def _flatten(cx: _Importer, input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    return cx.apply("Flatten", {"start_dim": start_dim, "end_dim": end_dim}, input)


@_maps("Tensor.view", "Tensor.reshape", layer="Flatten")
def _view(cx: _Importer, input: Any, *shape: Any) -> Any:
    return cx.reshape(input, shape)


@_maps("torch.reshape", layer="Flatten")
def _torch_reshape(cx: _Importer, input: Any, shape: Any) -> Any:
    return cx.reshape(input, (shape,))


@_maps("operator.add", "operator.iadd", "torch.add", "Tensor.add", layer="Add")
def _add(cx: _Importer, input: Any, other: Any, *, alpha: Any = 1, out: Any = None) -> Any:
    if alpha != 1 or out is not None:
        raise UnsupportedTorchError(f"alpha={alpha!r}, out={out!r}; expected alpha=1 and no out=")
    return cx.apply("Add", {}, input, other)


_POOL = (
    "torch.nn.functional.max_pool2d",
    "torch.nn.functional.max_pool2d_with_indices",
    "torch.nn.functional._max_pool2d",
)


@_maps(*_POOL, layer="MaxPool2d")
def _max_pool2d(
    cx: _Importer,
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    args = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "return_indices": return_indices,
        "ceil_mode": ceil_mode,
    }
    return cx.apply("MaxPool2d", args, input)


@_maps("torch.max_pool2d", layer="MaxPool2d")
def _aten_max_pool2d(
    cx: _Importer,
    input: Any,
    kernel_size: Any,
    stride: Any = (),
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> Any:
    return _max_pool2d(cx, input, kernel_size, stride or None, padding, dilation, ceil_mode)


@_maps("torch.nn.functional.avg_pool2d", layer="AvgPool2d")
def _avg_pool2d(
    cx: _Importer,
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
) -> Any:
    args = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "ceil_mode": ceil_mode,
        "count_include_pad": count_include_pad,
        "divisor_override": divisor_override,
    }
    return cx.apply("AvgPool2d", args, input)


@_maps("torch.nn.functional.max_unpool2d", layer="MaxUnpool2d")
def _max_unpool2d(
    cx: _Importer,
    input: Any,
    indices: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Any:
    layer = cx.new_layer(
        "MaxUnpool2d", **_plain({"kernel_size": kernel_size, "stride": stride, "padding": padding})
    )
    return cx.call(layer, input, indices, output_size=output_size)


@_maps("torch.nn.functional.dropout", layer="Dropout")
def _dropout(
    cx: _Importer, input: Any, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Any:
    return cx.apply("Dropout", {"p": p}, input, training=bool(training))


@_maps("torch.nn.functional.dropout2d", layer="Dropout2d")
def _dropout2d(
    cx: _Importer, input: Any, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Any:
    return cx.apply("Dropout2d", {"p": p}, input, training=bool(training))


def _optional(cx: _Importer, v: Any, what: str) -> np.ndarray | None:
    return None if v is None else cx.param(v, what)


@_maps("torch.nn.functional.conv2d", "torch.conv2d", layer="Conv2d")
def _conv2d(
    cx: _Importer,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Any:
    layer = LAYERS["Conv2d"].from_weights(  # type: ignore[attr-defined]
        cx.param(weight, "weight"),
        _optional(cx, bias, "bias"),
        stride=_plain(stride),
        padding=_plain(padding),
        dilation=_plain(dilation),
        groups=groups,
    )
    return cx.call(cx.adopt(layer), input)


@_maps("torch.nn.functional.conv_transpose2d", "torch.conv_transpose2d", layer="ConvTranspose2d")
def _conv_transpose2d(
    cx: _Importer,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Any:
    layer = LAYERS["ConvTranspose2d"].from_weights(  # type: ignore[attr-defined]
        cx.param(weight, "weight"),
        _optional(cx, bias, "bias"),
        stride=_plain(stride),
        padding=_plain(padding),
        output_padding=_plain(output_padding),
        groups=groups,
        dilation=_plain(dilation),
    )
    return cx.call(cx.adopt(layer), input)


@_maps("torch.nn.functional.batch_norm", layer="BatchNorm2d")
def _batch_norm(
    cx: _Importer,
    input: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Any:
    x = cx.tensor(input)
    if x.ndim != 4:
        raise UnsupportedTorchError(f"batch_norm of a rank-{x.ndim} input; only 4-D (N, C, H, W)")
    stats = [
        _optional(cx, v, n)
        for v, n in ((running_mean, "running_mean"), (running_var, "running_var"))
    ]
    batch = bool(training) or stats[0] is None  # no running statistics: batch statistics
    layer = LAYERS["BatchNorm2d"].from_weights(  # type: ignore[attr-defined]
        stats[0],
        stats[1],
        _optional(cx, weight, "weight"),
        _optional(cx, bias, "bias"),
        eps,
        training=batch,
        momentum=momentum,
        num_features=x.shape[1],
    )
    layer.name = cx.node.name
    return cx.call(layer.train(batch and (cx.keep_training or stats[0] is None)), x)


@_maps("torch.nn.functional.layer_norm", layer="LayerNorm")
def _layer_norm(
    cx: _Importer,
    input: Any,
    normalized_shape: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Any:
    layer = LAYERS["LayerNorm"].from_weights(  # type: ignore[attr-defined]
        _plain(normalized_shape), _optional(cx, weight, "weight"), _optional(cx, bias, "bias"), eps
    )
    return cx.call(cx.adopt(layer), input)


def _pointwise(layer: str, *names: str, **defaults: Any) -> None:
    """Map ``names`` (functions with torch's ``(input, <defaults...>, inplace)`` signature) to
    ``layer`` built from the keyword arguments in ``defaults``' order."""

    def convert(cx: _Importer, input: Any, *args: Any, **kwargs: Any) -> Any:
        bound = dict(zip(defaults, args, strict=False)) | kwargs
        values = {k: bound.get(k, v) for k, v in defaults.items()}
        return cx.apply(layer, values, input)

    _maps(*names, layer=layer)(convert)


_pointwise("ReLU6", "torch.nn.functional.relu6")
_pointwise("Hardtanh", "torch.nn.functional.hardtanh", min_val=-1.0, max_val=1.0)
_pointwise("ELU", "torch.nn.functional.elu", alpha=1.0)
_pointwise("SELU", "torch.nn.functional.selu", "torch.selu")
_pointwise("CELU", "torch.nn.functional.celu", "torch.celu", alpha=1.0)
_pointwise("GELU", "torch.nn.functional.gelu", approximate="none")
_pointwise("SiLU", "torch.nn.functional.silu")
_pointwise("Mish", "torch.nn.functional.mish")
_pointwise("Hardswish", "torch.nn.functional.hardswish")
_pointwise("Hardsigmoid", "torch.nn.functional.hardsigmoid")
_pointwise("Softplus", "torch.nn.functional.softplus", beta=1.0, threshold=20.0)


def _softmax_rule(layer: str, *names: str) -> None:
    def convert(
        cx: _Importer, input: Any, dim: Any = None, _stacklevel: int = 3, dtype: Any = None
    ) -> Any:
        if dtype is not None:
            raise UnsupportedTorchError(f"dtype={dtype!r}; cast the input instead")
        return cx.apply(layer, {"dim": dim}, input)

    _maps(*names, layer=layer)(convert)


_softmax_rule("Softmax", "torch.nn.functional.softmax", "torch.softmax", "Tensor.softmax")
_softmax_rule(
    "LogSoftmax", "torch.nn.functional.log_softmax", "torch.log_softmax", "Tensor.log_softmax"
)


@_maps("torch.nn.functional.adaptive_avg_pool2d", layer="AdaptiveAvgPool2d")
def _adaptive_avg_pool2d(cx: _Importer, input: Any, output_size: Any) -> Any:
    return cx.apply("AdaptiveAvgPool2d", {"output_size": output_size}, input)


@_maps(
    "torch.nn.functional.adaptive_max_pool2d",
    "torch.nn.functional.adaptive_max_pool2d_with_indices",
    layer="AdaptiveMaxPool2d",
)
def _adaptive_max_pool2d(
    cx: _Importer, input: Any, output_size: Any, return_indices: bool = False
) -> Any:
    if cx.node.target is _resolve("torch.nn.functional.adaptive_max_pool2d_with_indices"):
        return_indices = True
    args = {"output_size": output_size, "return_indices": return_indices}
    return cx.apply("AdaptiveMaxPool2d", args, input)


@_maps("torch.nn.functional.interpolate", "torch.nn.functional.upsample", layer="Upsample")
def _interpolate(
    cx: _Importer,
    input: Any,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: Any = None,
    recompute_scale_factor: Any = None,
    antialias: bool = False,
) -> Any:
    if antialias:
        raise UnsupportedTorchError("antialias=True; only antialias=False")
    if isinstance(scale_factor, list):
        scale_factor = tuple(scale_factor)  # fx passes F.interpolate's list as it is
    args = {
        "size": size,
        "scale_factor": scale_factor,
        "mode": mode,
        "align_corners": align_corners,
        "recompute_scale_factor": recompute_scale_factor,
    }
    return cx.apply("Upsample", args, input)


@_maps("operator.mul", "operator.imul", "torch.mul", "Tensor.mul", layer="Mul")
def _mul(cx: _Importer, input: Any, other: Any, *, out: Any = None) -> Any:
    sizes = _size_arith(input, other, lambda a, b: a * b)
    if sizes is not None:
        return sizes
    if out is not None:
        raise UnsupportedTorchError(f"out={out!r}; expected no out=")
    return cx.apply("Mul", {}, input, other)


@_maps("operator.floordiv")
def _floordiv(cx: _Importer, a: Any, b: Any) -> Any:
    sizes = _size_arith(a, b, lambda x, y: x // y)
    if sizes is None:
        raise UnsupportedTorchError(f"{a!r} // {b!r}; only sizes read from tensors (x.size(1))")
    return sizes


def _size_arith(a: Any, b: Any, fn: Callable[[int, int], int]) -> Any:
    """Arithmetic on sizes read from tensors (``c // groups``); None when either is a tensor."""
    if (
        isinstance(a, Tensor)
        or isinstance(b, Tensor)
        or isinstance(a, _Param)
        or isinstance(b, _Param)
    ):
        return None
    x, y = (v.value if isinstance(v, _Dim) else v for v in (a, b))
    if isinstance(x, int) and isinstance(y, int):
        return _Dim(fn(x, y)) if isinstance(a, _Dim) or isinstance(b, _Dim) else fn(x, y)
    raise UnsupportedTorchError(f"arithmetic on the dynamic dim {x!r}; only static sizes")


@_maps("torch.cat", "torch.concat", "torch.concatenate", layer="Cat")
def _cat(cx: _Importer, tensors: Any, dim: int = 0, *, axis: Any = None, out: Any = None) -> Any:
    if out is not None:
        raise UnsupportedTorchError(f"out={out!r}; expected no out=")
    return cx.apply("Cat", {"dim": dim if axis is None else axis}, *tensors)


@_maps("torch.mean", "Tensor.mean", layer="Mean")
def _mean(
    cx: _Importer,
    input: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Any = None,
) -> Any:
    if out is not None:
        raise UnsupportedTorchError(f"out={out!r}; expected no out=")
    return cx.apply("Mean", {"dim": dim, "keepdim": keepdim, "dtype": dtype}, input)


@_maps("torch.permute", layer="Permute")
def _permute(cx: _Importer, input: Any, dims: Any) -> Any:
    return cx.apply("Permute", {"dims": dims}, input)


@_maps("Tensor.permute", layer="Permute")
def _permute_method(cx: _Importer, input: Any, *dims: Any) -> Any:
    if len(dims) == 1 and isinstance(dims[0], tuple):
        dims = dims[0]
    return cx.apply("Permute", {"dims": dims}, input)


@_maps(
    "torch.transpose",
    "Tensor.transpose",
    "torch.swapaxes",
    "torch.swapdims",
    "Tensor.swapaxes",
    "Tensor.swapdims",
    layer="Transpose",
)
def _transpose(cx: _Importer, input: Any, dim0: int, dim1: int) -> Any:
    return cx.apply("Transpose", {"dim0": dim0, "dim1": dim1}, input)


@_maps("torch.chunk", "Tensor.chunk", layer="Chunk")
def _chunk(cx: _Importer, input: Any, chunks: int, dim: int = 0) -> Any:
    return cx.apply("Chunk", {"chunks": chunks, "dim": dim}, input)


@_maps("torch.split", "Tensor.split", "Tensor.split_with_sizes", layer="Split")
def _split(cx: _Importer, tensor: Any, split_size_or_sections: Any, dim: int = 0) -> Any:
    return cx.apply("Split", {"split_size_or_sections": split_size_or_sections, "dim": dim}, tensor)


@_maps("Tensor.contiguous")
def _contiguous(cx: _Importer, input: Any, memory_format: Any = None) -> Any:
    return cx.tensor(input)


@_maps("Tensor.size")
def _size(cx: _Importer, input: Any, dim: int | None = None) -> Any:
    t = cx.tensor(input)
    return t.shape if dim is None else _Dim(t.shape[dim])


@_maps("builtins.getattr")
def _getattr(cx: _Importer, obj: Any, name: str, *default: Any) -> Any:
    if isinstance(obj, Tensor) and name in ("shape", "ndim"):
        return getattr(obj, name)
    raise UnsupportedTorchError(f"reading .{name} of {obj!r}; only .shape and .ndim of tensors")


@_maps("operator.getitem")
def _getitem(cx: _Importer, obj: Any, index: Any) -> Any:
    if isinstance(obj, Shape):
        picked = obj[index]
        return tuple(_Dim(d) for d in picked) if isinstance(index, slice) else _Dim(picked)
    if isinstance(obj, tuple):
        return obj[index]
    raise UnsupportedTorchError(
        f"indexing {obj!r} with {index!r}; only tuples of layer outputs and sizes can be indexed"
    )


# ------------------------------------------------------------------------------ public API
def import_torch() -> Any:
    """The ``torch`` module, or an ImportError saying how to install it."""
    try:
        import torch
        import torch.fx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"onnxlayers.builder.from_torch: {TORCH_HINT}") from e
    return torch


def _is_shape(v: Any) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, (str, bytes))
        and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in v)
    )


def _example_specs(torch: Any, example: Any, dtype: str) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) per forward input from a tensor, an array, a shape or a tuple of those."""

    def one(v: Any) -> tuple[tuple[int, ...], str] | None:
        if isinstance(v, torch.Tensor):
            return tuple(v.shape), normalize_dtype(
                str(v.dtype).removeprefix("torch."), where="from_torch"
            )
        if isinstance(v, np.ndarray):
            return v.shape, normalize_dtype(v.dtype, where="from_torch")
        if _is_shape(v):
            return tuple(int(d) for d in v), dtype
        return None

    single = one(example)
    if single is not None:
        return [single]
    if isinstance(example, Sequence) and not isinstance(example, (str, bytes)):
        specs = [one(v) for v in example]
        if specs and all(s is not None for s in specs):
            return specs  # type: ignore[return-value]
    raise LayerTypeError(
        f"from_torch: example={example!r} is invalid; expected a torch.Tensor, a numpy array, "
        "a shape (a sequence of ints) or a tuple of those, one per forward() input"
    )


def _default_dtype(module: Any) -> str:
    for p in module.parameters():
        if p.is_floating_point():
            return normalize_dtype(str(p.dtype).removeprefix("torch."), where="from_torch")
    return "float32"


def _trace(torch: Any, module: Any) -> Any:
    """The fx graph of ``module``; a leaf module (``nn.Linear``) becomes one call_module node."""
    tracer = torch.fx.Tracer()
    if tracer.is_leaf_module(module, ""):
        graph = torch.fx.Graph()
        params = inspect.signature(module.forward).parameters.values()
        args = [graph.placeholder(p.name) for p in params if p.default is inspect.Parameter.empty]
        graph.output(graph.call_module("", tuple(args)))
        return graph
    try:
        return tracer.trace(module)
    except Exception as e:
        raise UnsupportedTorchError(
            f"from_torch: torch.fx cannot trace {_type_name(type(module))}: {e}. forward() must "
            "not branch on tensor values or sizes; supported: nn.Sequential trees and forward() "
            "methods built from the supported modules and functions"
        ) from e


def _outputs(value: Any, names: Sequence[str] | None) -> tuple[list[Tensor], list[str] | None]:
    """The output tensors of forward(): a tensor, a tuple/list, or a dict (keys are names)."""
    if isinstance(value, dict):
        return list(value.values()), list(names) if names else [str(k) for k in value]
    outs = list(value) if isinstance(value, tuple) else [value]
    return outs, list(names) if names else None


def from_torch(
    module: Any,
    example: Any,
    *,
    dynamic_batch: bool = True,
    dtype: Any = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    training: bool = False,
) -> Model:
    """Our :class:`Model` for a torch ``nn.Module``, with its weights copied.

    Like ``torch.onnx.export``, the export has eval behaviour by default, whatever mode the
    module is in (it is traced in eval mode and put back as it was); ``training=True`` keeps
    each module's training flag (RReLU then samples its slopes; Dropout in training mode is
    refused, its output being random).

    ``example`` gives each forward() input's shape and dtype: a ``torch.Tensor``, a numpy array,
    a shape such as ``(1, 3, 32, 32)`` (dtype ``dtype``, else the module's parameter dtype, else
    float32), or a tuple of those for several inputs. With ``dynamic_batch`` the first dim of
    every input of rank >= 2 is the named dynamic dim ``"N"``. Inputs are named after forward()'s
    parameters and outputs ``"output"`` (or ``"output_<i>"``, or a returned dict's keys) unless
    ``input_names`` / ``output_names`` say otherwise. Layers from modules carry the module
    paths as names, so ``model.state_dict()`` keys equal torch's for ``nn.Sequential`` trees.

    >>> import torch
    >>> class Residual(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(8, 8)
    ...     def forward(self, x):
    ...         return torch.relu(self.fc(x)) + x
    >>> model = from_torch(Residual(), torch.zeros(2, 8))
    >>> [c.type for c in model.program().calls]
    ['Linear', 'ReLU', 'Add']
    """
    torch = import_torch()
    if not isinstance(module, torch.nn.Module):
        raise LayerTypeError(
            f"from_torch: module={module!r} is invalid; expected a torch.nn.Module"
        )
    default = (
        normalize_dtype(dtype, where="from_torch") if dtype is not None else _default_dtype(module)
    )
    modes = {m: m.training for m in module.modules()}
    try:
        if not training:
            module.eval()
        return _convert(
            torch, module, example, default, dynamic_batch, input_names, output_names, training
        )
    finally:
        for m, mode in modes.items():
            m.training = mode


def _convert(
    torch: Any,
    module: Any,
    example: Any,
    default: str,
    dynamic_batch: bool,
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
    training: bool,
) -> Model:
    """``from_torch``'s work, with the module already in the mode to export."""
    graph = _trace(torch, module)
    params = [str(n.target) for n in graph.nodes if n.op == "placeholder"]
    specs = _example_specs(torch, example, default)
    names = list(input_names) if input_names is not None else params
    if not len(specs) == len(params) == len(names):
        raise LayerArgumentError(
            f"from_torch: forward() of {_type_name(type(module))} takes {len(params)} inputs "
            f"{params!r}; got {len(specs)} example inputs and input_names={input_names!r}"
        )
    inputs = [
        Input(name, ("N", *shape[1:]) if dynamic_batch and len(shape) >= 2 else shape, dt)
        for name, (shape, dt) in zip(names, specs, strict=True)
    ]
    result = _Importer(torch, module, keep_training=training).run(graph, inputs)
    outs, out_names = _outputs(result, output_names)
    for i, t in enumerate(outs):
        if not isinstance(t, Tensor) or t.producer is None:
            raise UnsupportedTorchError(
                f"from_torch: output {i} of {_type_name(type(module))} is {t!r}; expected a "
                "tensor computed by at least one supported layer"
            )
    return Model(inputs, outs, output_names=out_names, name=type(module).__name__)


def run_torch(module: Any, inputs: Sequence[Any]) -> list[np.ndarray]:
    """Run ``module`` as it is (its current mode, no grad) on numpy inputs; outputs in order.

    A returned tuple or list gives its items, a dict its values.

    >>> import torch
    >>> run_torch(torch.nn.ReLU(), [np.array([-1.0, 2.0])])
    [array([0., 2.])]
    """
    torch = import_torch()
    tensors = [torch.from_numpy(np.array(x, copy=True)) for x in inputs]
    with torch.no_grad():
        out = module(*tensors)
    return [_numpy(t) for t in _leaves(out)]


def _leaves(out: Any) -> Iterator[Any]:
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for v in out:
            yield from _leaves(v)
    else:
        yield out
