"""The :class:`Layer` base class: torch-style modules called on symbolic tensors.

A layer validates its constructor arguments like torch does, infers output shapes when called
(so shape errors surface at build time), holds its parameters as numpy arrays with torch's
shapes, and knows how to lower itself to ONNX nodes.

>>> from onnxlayers.builder import Input, ReLU
>>> y = ReLU()(Input("x", (2, 3)))
>>> y.shape, y.producer.layer
((2, 3), ReLU())
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import LayerArgumentError, LayerTypeError, ShapeError
from .tensor import FLOAT_DTYPES, Shape, Tensor, TensorSpec

if TYPE_CHECKING:
    from .graph import GraphBuilder, LowerCall


@dataclass(eq=False)
class Call:
    """One call of a layer on symbolic tensors: a record of the layer program."""

    layer: Layer
    inputs: tuple[Tensor, ...]
    call_args: dict[str, Any]
    outputs: list[Tensor] = field(default_factory=list)

    def dependencies(self) -> list[Tensor]:
        """Tensors this call reads: its inputs and any ``Shape`` passed as a call argument."""
        deps = list(self.inputs)
        deps += [v.of for v in self.call_args.values() if isinstance(v, Shape)]
        return deps


@dataclass(frozen=True)
class Example:
    """One sample call of a layer type, run three ways (onnxruntime, oracle, torch) by the tests.

    ``args`` are torch's constructor keyword arguments (the same dict builds our layer and
    torch's twin), ``inputs`` the input shapes (float32, first dim the dynamic batch), ``call``
    keyword arguments of the call (passed to both sides). Parameters and buffers are drawn at
    random and copied into both sides. ``feeds`` makes the input arrays where random distinct
    values will not do (unpooling's indices).

    >>> Example({"negative_slope": 0.2}, ((2, 3),)).inputs
    ((2, 3),)
    """

    args: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[tuple[int, ...], ...] = ((2, 3, 8, 8),)
    call: Mapping[str, Any] = field(default_factory=dict)
    feeds: Callable[[np.random.Generator], list[np.ndarray]] | None = None


class Layer:
    """Base class of every layer.

    Subclasses set :attr:`dtypes`, implement :meth:`infer` (validation + output specs) and
    :meth:`emit` (ONNX nodes), list their parameters in :meth:`param_shapes`, and give a few
    :attr:`examples` (the registry test runs each against torch). A layer whose torch twin is
    not ``torch.nn.<ClassName>(**torch_args)`` overrides :meth:`torch_module`.
    """

    dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES
    """Input dtypes the layer accepts."""

    examples: ClassVar[tuple[Example, ...]] = ()
    """Sample calls checked against torch by ``tests/test_registry.py`` (at least one)."""

    torch_functions: ClassVar[tuple[str, ...]] = ()
    """Dotted names of torch functions and ``Tensor.<method>`` names with the same meaning
    (documentation and ``from_torch``'s supported list; the converters live in torch_import)."""

    floor: ClassVar[float] = -math.inf
    """A lower bound on every output value whatever the input, -inf included (NaN aside); see
    :meth:`output_floor`."""

    copies: ClassVar[bool] = False
    """Outputs hold values of the (float) inputs only, moved or selected: their floor is the
    inputs' lowest (``Cat``, reshapes, ``MaxPool2d``'s values)."""

    def __init__(self, *, name: str | None = None) -> None:
        object.__setattr__(self, "_params", {})
        self.training = False
        self.name = name

    def output_floor(self, inputs: Sequence[float] = ()) -> float:
        """No output of this layer is below this (torch's semantics; NaN aside), when no value
        of input ``i`` is below ``inputs[i]`` (none known: -inf each). Layers downstream may
        lower more cheaply when it is finite (a ``MaxPool2d`` then has no all -inf windows to
        fix); -inf when nothing is known.

        >>> from onnxlayers.builder import Cat, ReLU
        >>> ReLU().output_floor(), Cat(1).output_floor([0.0, -1.0]), Cat(1).output_floor()
        (0.0, -1.0, -inf)
        """
        if self.copies:
            return min(inputs, default=-math.inf)
        return self.floor

    # ----------------------------------------------------------------- description
    def torch_args(self) -> dict[str, Any]:
        """The torch constructor arguments (JSON-able) that rebuild this layer."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.torch_args().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    @property
    def label(self) -> str:
        """How errors name this layer: its type, and its name when it has one."""
        kind = type(self).__name__
        return f"{kind} {self.name!r}" if self.name else kind

    @classmethod
    def from_torch_args(cls, args: Mapping[str, Any]) -> Layer:
        """Rebuild a layer from :meth:`torch_args` (used when a saved model is loaded)."""
        return cls(**args)

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        """torch's twin of this layer built from ``args`` (imports torch): by default
        ``torch.nn.<ClassName>(**args)``, every argument passed as it is.

        >>> Layer.torch_module.__doc__ is not None
        True
        """
        import torch

        return getattr(torch.nn, cls.__name__)(**args)

    @classmethod
    def args_from_module(cls, module: Any) -> dict[str, Any]:
        """Our constructor arguments read from a torch module of the twin class.

        Each parameter of our constructor that the module has as an attribute of the same name
        is read (tuples made plain); a tensor-or-None attribute (``bias``) becomes a bool.
        Weights are not read here: ``from_torch`` loads the module's ``state_dict``.
        """
        out: dict[str, Any] = {}
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name in ("self", "name", "device", "dtype") or p.kind not in (
                p.POSITIONAL_OR_KEYWORD,
                p.KEYWORD_ONLY,
            ):
                continue
            if not hasattr(module, name):
                continue
            value = getattr(module, name)
            if (value is None and name == "bias") or hasattr(value, "detach"):
                value = value is not None
            out[name] = _plain(value)
        return out

    # ----------------------------------------------------------------- parameters
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Torch's parameter names and shapes (``{"weight": (out, in), ...}``)."""
        return {}

    def __getattr__(self, key: str) -> Any:
        params = self.__dict__.get("_params", {})
        if key in params:
            return params[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self.__dict__.get("_params", {}) or key in self._declared_params():
            self._params[key] = self._check_param(key, value)
        else:
            object.__setattr__(self, key, value)

    def _declared_params(self) -> dict[str, tuple[int, ...]]:
        try:
            return self.param_shapes()
        except AttributeError:  # constructor has not set what the shapes depend on yet
            return {}

    def _check_param(self, key: str, value: Any) -> np.ndarray:
        shape = self.param_shapes()[key]
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
            raise LayerTypeError(
                f"{self.label}: {key} must be a float array; got dtype {arr.dtype.name!r}"
            )
        if arr.shape != shape:
            raise LayerArgumentError(
                f"{self.label}: {key} has shape {arr.shape!r}; expected {shape!r} (torch's shape)"
            )
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        return np.array(arr, copy=True)

    def parameters(self) -> dict[str, np.ndarray]:
        """This layer's own parameters by torch name (no copies)."""
        return dict(self._params)

    def children(self) -> Iterator[tuple[str, Layer]]:
        """Direct sub-layers with their torch names (only containers have any)."""
        return iter(())

    def state_dict(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Parameters with torch's keys (``"0.weight"`` inside a Sequential), as copies."""
        out = {prefix + k: v.copy() for k, v in self._params.items()}
        for child_name, child in self.children():
            out.update(child.state_dict(f"{prefix}{child_name}."))
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Load parameters with torch's keys; with ``strict``, missing or extra keys raise.

        Every value is validated before any is assigned, so a bad dict changes nothing.
        """
        load_params(self.label, dict(self._param_slots()), state, strict)

    def _param_slots(self, prefix: str = "") -> Iterator[tuple[str, tuple[Layer, str]]]:
        for k in self._params:
            yield prefix + k, (self, k)
        for child_name, child in self.children():
            yield from child._param_slots(f"{prefix}{child_name}.")

    # ----------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Layer:
        """torch's ``train()``: set training mode here and in every sub-layer."""
        self.training = bool(mode)
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        """torch's ``eval()``."""
        return self.train(False)

    # ----------------------------------------------------------------- calling
    def __call__(self, *inputs: Tensor, **call_args: Any) -> Any:
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise LayerTypeError(
                    f"{self.label}: input {i} is {t!r}; expected a symbolic Tensor "
                    "(from Input(...) or another layer)"
                )
        specs = self.infer([t.spec for t in inputs], **call_args)
        call = Call(self, tuple(inputs), dict(call_args))
        call.outputs = [
            Tensor(f"{type(self).__name__}_out", s.shape, s.dtype, call, i)
            for i, s in enumerate(specs)
        ]
        return call.outputs[0] if len(call.outputs) == 1 else tuple(call.outputs)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        """Validate the inputs (and call arguments) and return the output specs."""
        raise NotImplementedError

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        """Emit ONNX nodes into ``g`` computing ``c.outputs`` from ``c.inputs``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- validation helpers
    def check_input(
        self, spec: TensorSpec, *, ranks: Sequence[int] | None = None, what: str = "input"
    ) -> None:
        """Raise unless ``spec`` has an accepted dtype and (when given) one of ``ranks``."""
        if spec.dtype not in self.dtypes:
            raise LayerTypeError(
                f"{self.label}: {what} dtype {spec.dtype!r} is not supported; expected one of "
                f"{list(self.dtypes)!r}"
            )
        if ranks is not None and spec.ndim not in ranks:
            allowed = " or ".join(str(r) for r in ranks)
            raise ShapeError(
                f"{self.label}: {what} has rank {spec.ndim} (shape {spec.shape!r}); expected "
                f"rank {allowed}"
            )

    def expect_arity(self, inputs: Sequence[TensorSpec], n: int) -> None:
        if len(inputs) != n:
            raise LayerTypeError(f"{self.label}: called with {len(inputs)} inputs; expected {n}")


def _plain(v: Any) -> Any:
    """Lists and tuple subclasses (``torch.Size``) as plain tuples, recursively."""
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def load_params(
    who: str, slots: Mapping[str, tuple[Layer, str]], state: Mapping[str, Any], strict: bool
) -> None:
    """Assign ``state[key]`` to each ``slots[key] = (layer, param)``, all validated first."""
    unexpected, missing = sorted(set(state) - set(slots)), sorted(set(slots) - set(state))
    if strict and (unexpected or missing):
        raise LayerArgumentError(
            f"{who}: load_state_dict: missing keys {missing!r}, unexpected keys "
            f"{unexpected!r}; expected exactly {sorted(slots)!r}"
        )
    checked = [
        (*slots[k], slots[k][0]._check_param(slots[k][1], v))
        for k, v in state.items()
        if k in slots
    ]
    for layer, pname, arr in checked:
        layer._params[pname] = arr


def elementwise(inputs: Sequence[TensorSpec], layer: Layer) -> list[TensorSpec]:
    """``infer`` for one-input layers whose output has the input's shape and dtype."""
    layer.expect_arity(inputs, 1)
    layer.check_input(inputs[0])
    return [inputs[0]]


def check_number(
    layer: str,
    name: str,
    value: Any,
    *,
    kind: type | tuple[type, ...] = (int, float),
    ok: Callable[[Any], bool] = lambda v: True,
    allowed: str = "a number",
) -> Any:
    """Validate one constructor argument; raise naming the layer, the argument and the value.

    >>> check_number("Linear", "in_features", 3, kind=int, ok=lambda v: v >= 1)
    3
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, kind):
        raise LayerTypeError(f"{layer}: {name}={value!r} is invalid; expected {allowed}")
    if not ok(value):
        raise LayerArgumentError(f"{layer}: {name}={value!r} is invalid; expected {allowed}")
    return value
