"""``BatchNorm2d`` and ``LayerNorm``: torch's normalisation layers, lowered for onnxruntime.

>>> from onnxlayers.builder import Input
>>> BatchNorm2d(3)(Input("x", ("N", 3, 8, 8))).shape
('N', 3, 8, 8)
>>> LayerNorm((4, 5))(Input("x", ("N", 3, 4, 5))).shape
('N', 3, 4, 5)

How each case is lowered (measured on onnxruntime 1.32, CPU):

* **BatchNorm2d, eval mode with running statistics** (the inference case): one
  ``BatchNormalization`` node (``training_mode=0``) reading the layer's weights and buffers as
  initializers; with ``affine=False`` (or ``bias=False``) the missing scale/bias are constants 1
  and 0. onnxruntime folds it into a preceding ``Conv`` and fuses a following activation. ONNX's
  ``epsilon`` is a float32 attribute: for float64 inputs the rounding is put back by an ``Add``
  on the variance initializer (constant-folded by onnxruntime), so float64 matches torch to
  1e-12. ``target="cuda"`` keeps the node (cuDNN computes float16 in float32; onnxruntime
  clamps ``eps`` to cuDNN's minimum, 0 since cuDNN 7.5, and negative ``eps`` is refused as
  torch refuses it). An ``eps`` beyond float32's range gets the explicit formula below with
  the running statistics.
* **BatchNorm2d with batch statistics** (``.train()``, or ``track_running_stats=False`` in any
  mode, as torch does): mean and biased variance over N, H, W (two passes: ``ReduceMean``,
  ``Sub``, ``Mul``, ``ReduceMean``), then ``(x - mean) * (weight / sqrt(var + eps)) + bias``;
  float16 is computed in float32 and rounded once (torch accumulates half in float). An
  inference graph cannot update the running statistics: training mode here gives torch's
  *output* only, and the layer's buffers stay as they are.
* **LayerNorm**: one ``LayerNormalization`` node (``axis = -len(normalized_shape)``, biased
  variance, ``eps`` inside the square root, like torch) for float32 and float16 (computed in
  float32, ``stash_type=1``). float64 uses the explicit two-pass formula on every target:
  ``epsilon`` is a float32 attribute and onnxruntime's CUDA kernel computes double inputs in
  float32. ``target="cuda"`` also uses the formula when ``normalized_shape`` holds a single
  element (that kernel refuses a normalised size <= 1), and every target for an ``eps`` beyond
  float32's range (or NaN). An input whose normalised part is
  empty (a 0 in ``normalized_shape``) is returned as it is (``Identity``: the output is empty).

Known divergence: float32 values so large that their squares overflow (|x| > ~1e19) give NaN
in torch's LayerNorm, finite values here (onnxruntime accumulates in double).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto

from ..errors import LayerArgumentError, LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..registry import register_layer
from ..tensor import TensorSpec, normalize_dtype

_ONNX_TYPE = {
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
    "float16": TensorProto.FLOAT16,
}


def _param_dtype(dtype: Any, where: str) -> str:
    if dtype is None:
        return "float32"
    text = str(dtype)  # torch dtypes (torch.float64) by name; torch is not imported here
    name = normalize_dtype(text[6:] if text.startswith("torch.") else dtype, where=where)
    if name not in _ONNX_TYPE:
        raise LayerArgumentError(
            f"{where}: dtype={dtype!r} is not supported for parameters; expected one of "
            f"{list(_ONNX_TYPE)!r}"
        )
    return name


def _real(layer: str, name: str, value: Any) -> float:
    return float(check_number(layer, name, value, allowed="a real number"))


def reduce_mean(g: GraphBuilder, x: str, axes: Sequence[int], name: str) -> str:
    """``ReduceMean`` over ``axes`` keeping dims (axes as an input from opset 18, an attribute
    before)."""
    if g.opset >= 18:
        return str(g.op("ReduceMean", x, g.ints(list(axes), f"{name}/axes"), keepdims=1, name=name))
    return str(g.op("ReduceMean", x, axes=list(axes), keepdims=1, name=name))


class _Compute:
    """Casts for computing a float16 layer in float32 (other dtypes compute as they are)."""

    def __init__(self, g: GraphBuilder, node: str, dtype: str) -> None:
        self.g, self.node, self.dtype = g, node, dtype
        self.wide = "float32" if dtype == "float16" else dtype

    def cast_in(self, name: str, hint: str) -> str:
        if self.wide == self.dtype:
            return name
        return str(self.g.op("Cast", name, to=_ONNX_TYPE[self.wide], name=f"{self.node}/{hint}"))

    def const(self, value: Any, hint: str) -> str:
        with np.errstate(over="ignore"):  # an eps beyond float32's range becomes inf, as in torch
            arr = np.asarray(value).astype(self.wide)
        return self.g.const(arr, self.wide, f"{self.node}/{hint}")

    def finish(self, name: str, out: str) -> None:
        """Make ``name`` (the last result, in the compute dtype) the layer output ``out``."""
        if self.wide == self.dtype:
            self.g.rename(name, out)
        else:
            self.g.op("Cast", name, outputs=[out], to=_ONNX_TYPE[self.dtype], name=self.node)


def _moments(g: GraphBuilder, x: str, axes: Sequence[int], node: str) -> tuple[str, str]:
    """``(x - mean, biased var)`` over ``axes`` (two passes, dims kept)."""
    mean = reduce_mean(g, x, axes, f"{node}/mean")
    centered = str(g.op("Sub", x, mean, name=f"{node}/centered"))
    square = g.op("Mul", centered, centered, name=f"{node}/square")
    return centered, reduce_mean(g, square, axes, f"{node}/var")


def _inv_std(g: GraphBuilder, cx: _Compute, var: str, eps: float) -> str:
    """``1 / sqrt(var + eps)``."""
    shifted = g.op("Add", var, cx.const(eps, "eps"), name=f"{cx.node}/var_eps")
    std = g.op("Sqrt", shifted, name=f"{cx.node}/std")
    return str(g.op("Reciprocal", std, name=f"{cx.node}/inv_std"))


# ------------------------------------------------------------------------------ BatchNorm2d
@register_layer
class BatchNorm2d(Layer):
    """``BatchNorm2d(num_features, eps=1e-05, momentum=0.1, affine=True,
    track_running_stats=True, device=None, dtype=None, *, bias=True)`` on (N, C, H, W) inputs.

    Parameters ``weight`` and ``bias`` (with ``affine``; ``bias=False`` drops the bias) start at
    1 and 0, buffers ``running_mean`` and ``running_var`` (with ``track_running_stats``) at 0
    and 1, as in torch. In eval mode the running statistics normalise; in training mode
    (``.train()``), and always when ``track_running_stats=False``, the batch statistics do
    (mean and biased variance over N, H and W). ``momentum`` only drives torch's update of the
    running statistics, which an inference graph does not perform: a model built in training
    mode computes torch's training-mode *output* and leaves the buffers unchanged.

    >>> import numpy as np
    >>> from onnxlayers.builder import Input
    >>> bn = BatchNorm2d(2)
    >>> bn.running_var = np.array([4.0, 1.0])
    >>> sorted(bn.param_shapes()), bn(Input("x", ("N", 2, 5, 5))).shape
    (['bias', 'running_mean', 'running_var', 'weight'], ('N', 2, 5, 5))
    """

    examples = (
        Example({"num_features": 3}, ((2, 3, 8, 8),)),
        Example({"num_features": 4, "eps": 1e-3, "affine": False}, ((3, 4, 5, 6),)),
        Example({"num_features": 3, "track_running_stats": False}, ((2, 3, 4, 5),)),
        Example({"num_features": 3, "bias": False, "momentum": None}, ((2, 3, 4, 4),)),
    )
    torch_functions = ("F.batch_norm",)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-05,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        label = self.label
        self.num_features = check_number(
            label,
            "num_features",
            num_features,
            kind=int,
            ok=lambda v: v >= 0,
            allowed="an int >= 0",
        )
        self.eps = _real(label, "eps", eps)
        self.momentum = None if momentum is None else _real(label, "momentum", momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.has_bias = self.affine and bool(bias)
        pdtype = _param_dtype(dtype, label)
        c = self.num_features
        if self.affine:
            self.weight = np.ones((c,), pdtype)
        if self.has_bias:
            self.bias = np.zeros((c,), pdtype)
        if self.track_running_stats:
            self.running_mean = np.zeros((c,), pdtype)
            self.running_var = np.ones((c,), pdtype)

    @classmethod
    def from_weights(
        cls,
        running_mean: Any = None,
        running_var: Any = None,
        weight: Any = None,
        bias: Any = None,
        eps: float = 1e-05,
        *,
        training: bool = False,
        momentum: float | None = 0.1,
        num_features: int | None = None,
        name: str | None = None,
    ) -> BatchNorm2d:
        """The layer computing ``F.batch_norm(input, running_mean, running_var, weight, bias,
        training, momentum, eps)`` on a 4-D input (arrays or None, torch's order).

        Running statistics given: they normalise unless ``training``. Both None: batch
        statistics (torch refuses that with ``training=False``, so do we). A missing weight is
        1, a missing bias 0. ``num_features`` is needed only when every array is None.

        >>> import numpy as np
        >>> bn = BatchNorm2d.from_weights(np.zeros(3), np.ones(3), bias=np.ones(3), eps=1e-3)
        >>> bn.affine, bn.eps, bn.weight.tolist()
        (True, 0.001, [1.0, 1.0, 1.0])
        """
        where = "BatchNorm2d.from_weights"
        if (running_mean is None) != (running_var is None):
            missing = "running_mean" if running_mean is None else "running_var"
            raise LayerArgumentError(
                f"{where}: {missing} is None but the other running statistic is not; "
                "expected both arrays or both None"
            )
        if running_mean is None and not training:
            raise LayerArgumentError(
                f"{where}: running_mean and running_var are None with training=False; torch "
                "requires them in evaluation mode (pass training=True for batch statistics)"
            )
        arrays = {
            k: None if v is None else np.asarray(v)
            for k, v in (
                ("running_mean", running_mean),
                ("running_var", running_var),
                ("weight", weight),
                ("bias", bias),
            )
        }
        sizes = {k: a.shape for k, a in arrays.items() if a is not None}
        for k, shape in sizes.items():
            if len(shape) != 1:
                raise LayerArgumentError(
                    f"{where}: {k} has shape {shape!r}; expected a 1-D array (num_features,)"
                )
        lengths = {k: s[0] for k, s in sizes.items()}
        counts = set(lengths.values()) | ({num_features} if num_features is not None else set())
        if len(counts) != 1:
            raise LayerArgumentError(
                f"{where}: cannot tell the channel count: array lengths {lengths!r}, "
                f"num_features={num_features!r}; expected one count (pass num_features when "
                "every array is None)"
            )
        dtype = next(
            (a.dtype for a in arrays.values() if a is not None and a.dtype.kind == "f"), None
        )
        layer = cls(
            counts.pop(),
            eps,
            momentum,
            weight is not None or bias is not None,
            running_mean is not None,
            dtype=dtype,
            bias=bias is not None,
            name=name,
        )
        for k, arr in arrays.items():
            if arr is not None:
                setattr(layer, k, arr)
        layer.train(training)
        return layer

    def torch_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
        }
        if self.affine and not self.has_bias:
            args["bias"] = False  # torch >= 2.10 only; omitted when it is the default
        return args

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        c = (self.num_features,)
        shapes: dict[str, tuple[int, ...]] = {}
        if self.affine:
            shapes["weight"] = c
        if self.has_bias:
            shapes["bias"] = c
        if self.track_running_stats:
            shapes["running_mean"] = c
            shapes["running_var"] = c
        return shapes

    def uses_batch_stats(self, training: bool) -> bool:
        """True when batch statistics normalise: training mode, or no running statistics."""
        return training or not self.track_running_stats

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        if x.ndim != 4:
            raise ShapeError(
                f"{self.label}: expected 4D input (got {x.ndim}D input, shape {x.shape!r}); "
                "BatchNorm2d takes (N, C, H, W)"
            )
        channels = x.shape[1]
        if isinstance(channels, int):
            checked = self.affine or self.track_running_stats
            if checked and channels != self.num_features:
                raise ShapeError(
                    f"{self.label}: input has {channels} channels (dim 1 of shape {x.shape!r}); "
                    f"expected num_features={self.num_features}"
                )
            if channels == 0:
                raise ShapeError(
                    f"{self.label}: input has 0 channels (shape {x.shape!r}); torch fails on "
                    "it; expected at least 1 channel"
                )
        batch_stats = self.uses_batch_stats(self.training)
        if batch_stats and self.eps <= 0:
            raise LayerArgumentError(
                f"{self.label}: eps={self.eps!r} is invalid with batch statistics (training "
                "mode or track_running_stats=False); torch: 'batch_norm eps must be positive "
                "during training'"
            )
        if self.eps < 0:
            raise LayerArgumentError(
                f"{self.label}: eps={self.eps!r} is invalid; torch: 'batch_norm eps must be "
                "non-negative'"
            )
        spatial = (x.shape[0], x.shape[2], x.shape[3])
        if batch_stats and all(isinstance(d, int) for d in spatial) and math.prod(spatial) == 1:  # type: ignore[arg-type]
            raise ShapeError(
                f"{self.label}: expected more than 1 value per channel when using batch "
                f"statistics (training mode or track_running_stats=False), got input of size "
                f"{x.shape!r}"
            )
        return [x]

    # ------------------------------------------------------------------ lowering
    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        if self.uses_batch_stats(c.training):
            self._emit_batch_stats(g, c)
        elif abs(self.eps) <= float(np.finfo(np.float32).max):  # epsilon is a float32
            self._emit_node(g, c)
        else:
            self._emit_running_formula(g, c)

    def _channel_param(self, g: GraphBuilder, c: LowerCall, cx: _Compute, key: str) -> str:
        """A (C,) weight as (C, 1, 1) in the compute dtype (broadcasts against N, C, H, W)."""
        w = cx.cast_in(c.weights[key], f"{key}_wide")
        return str(
            g.op("Reshape", w, g.ints([-1, 1, 1], f"{c.node}/{key}_shape"), name=f"{c.node}/{key}")
        )

    def _affine(
        self, g: GraphBuilder, c: LowerCall, cx: _Compute, centered: str, inv_std: str
    ) -> None:
        """``centered * (inv_std * weight) + bias`` written to the output."""
        scale = inv_std
        if self.affine:
            w = self._channel_param(g, c, cx, "weight")
            scale = str(g.op("Mul", inv_std, w, name=f"{c.node}/scale"))
        y = str(g.op("Mul", centered, scale, name=f"{c.node}/scaled"))
        if self.has_bias:
            b = self._channel_param(g, c, cx, "bias")
            y = str(g.op("Add", y, b, name=f"{c.node}/shifted"))
        cx.finish(y, c.outputs[0])

    def _emit_batch_stats(self, g: GraphBuilder, c: LowerCall) -> None:
        cx = _Compute(g, c.node, c.dtype)
        x = cx.cast_in(c.inputs[0], "x_wide")
        centered, var = _moments(g, x, (0, 2, 3), c.node)
        self._affine(g, c, cx, centered, _inv_std(g, cx, var, self.eps))

    def _emit_running_formula(self, g: GraphBuilder, c: LowerCall) -> None:
        cx = _Compute(g, c.node, c.dtype)
        x = cx.cast_in(c.inputs[0], "x_wide")
        mean = self._channel_param(g, c, cx, "running_mean")
        var = self._channel_param(g, c, cx, "running_var")
        centered = str(g.op("Sub", x, mean, name=f"{c.node}/centered"))
        self._affine(g, c, cx, centered, _inv_std(g, cx, var, self.eps))

    def _emit_node(self, g: GraphBuilder, c: LowerCall) -> None:
        dtype, n = c.dtype, self.num_features
        scale = (
            c.weights["weight"] if self.affine else g.const(np.ones(n), dtype, f"{c.node}/scale")
        )
        bias = c.weights["bias"] if self.has_bias else g.const(np.zeros(n), dtype, f"{c.node}/bias")
        var = c.weights["running_var"]
        eps32 = float(np.float32(self.eps))
        if dtype == "float64" and eps32 != self.eps:
            # epsilon is a float32 attribute: add back what rounding it lost (folded by ORT).
            var = g.op(
                "Add",
                var,
                g.const(self.eps - eps32, dtype, f"{c.node}/eps_rest"),
                name=f"{c.node}/var_eps_rest",
            )
        g.op(
            "BatchNormalization",
            c.inputs[0],
            scale,
            bias,
            c.weights["running_mean"],
            var,
            outputs=c.outputs,
            epsilon=eps32,
            training_mode=0,
            name=c.node,
        )


# ------------------------------------------------------------------------------ LayerNorm
def _shape_tuple(value: Any, label: str) -> tuple[int, ...]:
    """torch's ``normalized_shape``: an int or a sequence of ints >= 0, at least one."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        dims: Iterable[Any] = (value,)
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise LayerTypeError(
            f"{label}: normalized_shape={value!r} is invalid; expected an int or a sequence of ints"
        )
    else:
        dims = value
    out = tuple(
        check_number(
            label,
            "normalized_shape",
            d,
            kind=int,
            ok=lambda v: v >= 0,
            allowed="an int >= 0 or a sequence of ints >= 0",
        )
        for d in dims
    )
    if not out:
        raise LayerArgumentError(
            f"{label}: normalized_shape={value!r} is empty; expected at least one dim (torch "
            "fails on it: 'Expected normalized_shape to be at least 1-dimensional')"
        )
    return out


@register_layer
class LayerNorm(Layer):
    """``LayerNorm(normalized_shape, eps=1e-05, elementwise_affine=True, bias=True,
    device=None, dtype=None)``: normalise over the trailing dims equal to ``normalized_shape``.

    Mean and biased variance over those dims, ``(x - mean) / sqrt(var + eps) * weight + bias``;
    ``weight`` (ones) and ``bias`` (zeros) have the shape ``normalized_shape`` (``bias=False``
    drops the bias, ``elementwise_affine=False`` both).

    >>> from onnxlayers.builder import Input
    >>> ln = LayerNorm(4, bias=False)
    >>> ln.normalized_shape, sorted(ln.param_shapes()), ln(Input("x", ("N", 3, 4))).shape
    ((4,), ['weight'], ('N', 3, 4))
    """

    examples = (
        Example({"normalized_shape": (8,)}, ((2, 3, 8),)),
        Example(
            {"normalized_shape": (4, 5), "elementwise_affine": False, "eps": 1e-3}, ((2, 3, 4, 5),)
        ),
        Example({"normalized_shape": 6, "bias": False}, ((2, 6),)),
    )
    torch_functions = ("F.layer_norm",)

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-05,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        label = self.label
        self.normalized_shape = _shape_tuple(normalized_shape, label)
        self.eps = _real(label, "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.has_bias = self.elementwise_affine and bool(bias)
        pdtype = _param_dtype(dtype, label)
        if self.elementwise_affine:
            self.weight = np.ones(self.normalized_shape, pdtype)
        if self.has_bias:
            self.bias = np.zeros(self.normalized_shape, pdtype)

    @classmethod
    def from_weights(
        cls,
        normalized_shape: int | Sequence[int],
        weight: Any = None,
        bias: Any = None,
        eps: float = 1e-05,
        *,
        name: str | None = None,
    ) -> LayerNorm:
        """The layer computing ``F.layer_norm(input, normalized_shape, weight, bias, eps)``
        (arrays or None; a missing weight is 1 when a bias is given).

        >>> import numpy as np
        >>> ln = LayerNorm.from_weights((2,), None, np.array([1.0, 2.0]))
        >>> ln.weight.tolist(), ln.bias.tolist()
        ([1.0, 1.0], [1.0, 2.0])
        """
        affine = weight is not None or bias is not None
        arrays = [np.asarray(a) for a in (weight, bias) if a is not None]
        dtype = next((a.dtype for a in arrays if a.dtype.kind == "f"), None)
        layer = cls(normalized_shape, eps, affine, bias is not None, dtype=dtype, name=name)
        if weight is not None:
            layer.weight = weight
        if bias is not None:
            layer.bias = bias
        return layer

    def torch_args(self) -> dict[str, Any]:
        return {
            "normalized_shape": list(self.normalized_shape),
            "eps": self.eps,
            "elementwise_affine": self.elementwise_affine,
            "bias": self.has_bias,
        }

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        if self.elementwise_affine:
            shapes["weight"] = self.normalized_shape
        if self.has_bias:
            shapes["bias"] = self.normalized_shape
        return shapes

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        k = len(self.normalized_shape)
        tail = x.shape[x.ndim - k :] if x.ndim >= k else None
        if tail is None or any(
            isinstance(d, int) and d != n for d, n in zip(tail, self.normalized_shape, strict=True)
        ):
            dims = ", ".join(str(d) for d in self.normalized_shape)
            raise ShapeError(
                f"{self.label}: given normalized_shape={list(self.normalized_shape)!r}, "
                f"expected input with shape [*, {dims}], but got input of shape {x.shape!r}"
            )
        return [x]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        numel = math.prod(self.normalized_shape)
        if numel == 0:  # the output is empty
            g.op("Identity", c.inputs[0], outputs=c.outputs, name=c.node)
        elif (
            c.dtype == "float64"
            or (c.target == "cuda" and numel == 1)
            or not abs(self.eps) <= float(np.finfo(np.float32).max)
        ):  # epsilon is a float32
            self._emit_formula(g, c)
        else:
            self._emit_node(g, c)

    def _emit_node(self, g: GraphBuilder, c: LowerCall) -> None:
        scale = (
            c.weights["weight"]
            if self.elementwise_affine
            else g.const(np.ones(self.normalized_shape), c.dtype, f"{c.node}/scale")
        )
        args = [c.inputs[0], scale] + ([c.weights["bias"]] if self.has_bias else [])
        g.op(
            "LayerNormalization",
            *args,
            outputs=c.outputs,
            axis=-len(self.normalized_shape),
            epsilon=float(np.float32(self.eps)),
            stash_type=1,
            name=c.node,
        )

    def _emit_formula(self, g: GraphBuilder, c: LowerCall) -> None:
        cx = _Compute(g, c.node, c.dtype)
        x = cx.cast_in(c.inputs[0], "x_wide")
        axes = range(-len(self.normalized_shape), 0)
        centered, var = _moments(g, x, list(axes), c.node)
        y = str(g.op("Mul", centered, _inv_std(g, cx, var, self.eps), name=f"{c.node}/normed"))
        if self.elementwise_affine:
            w = cx.cast_in(c.weights["weight"], "weight_wide")
            y = str(g.op("Mul", y, w, name=f"{c.node}/scaled"))
        if self.has_bias:
            b = cx.cast_in(c.weights["bias"], "bias_wide")
            y = str(g.op("Add", y, b, name=f"{c.node}/shifted"))
        cx.finish(y, c.outputs[0])
