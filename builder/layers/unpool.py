"""``MaxUnpool2d(kernel_size, stride=None, padding=0)``: torch's partial inverse of MaxPool2d.

Called as ``unpool(x, indices, output_size=None)``: ``indices`` are torch's per-plane int64
indices (``MaxPool2d(return_indices=True)`` gives them); ``output_size`` is None, 2 or 4 ints,
or a whole shape such as ``t.shape`` / ``t.size()`` of another tensor, read at run time when
its dims are dynamic. It lowers to our ``ai.onnxlayers::MaxUnpool2d`` op
(:mod:`onnxlayers.custom_ops.max_unpool`), whose body the file carries and which adds each
plane's offset to the indices and checks their range.

Pool then unpool in one graph (SegNet): where ``indices`` come straight from a
``MaxPool2d(return_indices=True)`` of the same kernel, stride and padding (dilation 1) and
the output planes have the pool input's size (static and equal, or ``output_size`` is that
input's shape), the pool's lowering has left ONNX ``MaxPool``'s whole-tensor indices in the
graph (:class:`~onnxlayers.builder.layers.pooling.RawIndices`), valid by construction: where
the CPU body would run (float32, rank 4, not CUDA), they feed ONNX ``MaxUnpool`` directly, with
no offsets and no range check. The layer program, the oracle and the pool's per-plane indices
are unchanged.

>>> from onnxlayers.builder import Input
>>> x, i = Input("x", ("N", 3, 4, 5)), Input("i", ("N", 3, 4, 5), "int64")
>>> MaxUnpool2d(2)(x, i).shape
('N', 3, 8, 10)
>>> MaxUnpool2d(2)(x, i, output_size=Input("big", ("N", 3, "H", "W")).shape).shape
('N', 3, 'H', 'W')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from onnxlayers.custom_ops import max_unpool as op
from onnxlayers.custom_ops._domain import CustomOpError

from ..args import pair, stride_pair
from ..errors import LayerArgumentError, LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall, ShapeRef
from ..layer import Example, Layer
from ..registry import register_layer
from ..tensor import Dim, Shape, TensorSpec
from .pooling import RawIndices


def unpool_feeds(
    rng: np.random.Generator, shape: tuple[int, ...], out_hw: tuple[int, int]
) -> list[np.ndarray]:
    """Values of ``shape`` and valid, distinct per-plane indices into ``out_hw`` planes."""
    n, c, h, w = shape
    plane = out_hw[0] * out_hw[1]
    idx = np.stack([rng.permutation(plane)[: h * w] for _ in range(n * c)]).reshape(shape)
    return [rng.standard_normal(shape).astype(np.float32), idx.astype(np.int64)]


@register_layer
class MaxUnpool2d(Layer):
    """``MaxUnpool2d(kernel_size, stride=None, padding=0)``; ``stride`` defaults to the kernel.

    Kernel and stride must be >= 1 and padding >= 0, as torch's unpooling kernels check; every
    output dim must be >= 1.
    """

    examples = (
        Example(
            {"kernel_size": 2},
            call={"output_size": (7, 9)},
            feeds=lambda rng: unpool_feeds(rng, (2, 2, 3, 4), (7, 9)),
        ),
    )
    torch_functions = ("F.max_unpool2d",)

    dtypes = ("float32", "float64", "float16")

    def __init__(
        self, kernel_size: Any, stride: Any = None, padding: Any = 0, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.kernel_size = pair(self.label, "kernel_size", kernel_size)
        self.stride = stride_pair(self.label, stride, self.kernel_size)
        self.padding = pair(self.label, "padding", padding, minimum=0)

    def torch_args(self) -> dict[str, Any]:
        return {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
        }

    # ----------------------------------------------------------------- building
    def __call__(self, *inputs: Any, **call_args: Any) -> Any:
        """``unpool(x, indices, output_size=None)``; ``output_size`` may be positional."""
        if len(inputs) == 3:
            if "output_size" in call_args:
                raise LayerTypeError(f"{self.label}: output_size given twice")
            call_args["output_size"] = inputs[2]
        return super().__call__(*inputs[:2], **call_args)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 2)
        x, indices = inputs
        self.check_input(x, ranks=(3, 4))
        self._check_indices(x, indices)
        unknown = set(call_args) - {"output_size"}
        if unknown:
            raise LayerTypeError(
                f"{self.label}: unexpected call arguments {sorted(unknown)!r}; expected output_size"
            )
        size = self._output_size(call_args.get("output_size"))
        try:
            hw = op.resolve_output_size(
                x.shape[-2:], self.kernel_size, self.stride, self.padding, size
            )
        except CustomOpError as e:
            raise LayerArgumentError(f"{self.label}: {e}") from e
        return [TensorSpec((*x.shape[:-2], *hw), x.dtype)]

    def _check_indices(self, x: TensorSpec, indices: TensorSpec) -> None:
        if indices.dtype != "int64":
            raise LayerTypeError(
                f"{self.label}: indices dtype {indices.dtype!r} is not "
                "supported; expected 'int64' (torch's indices)"
            )
        fits = indices.ndim == x.ndim and all(
            not (isinstance(a, int) and isinstance(b, int)) or a == b
            for a, b in zip(x.shape, indices.shape, strict=True)
        )
        if not fits:
            raise ShapeError(
                f"{self.label}: indices have shape {indices.shape!r}; expected "
                f"the input's shape {x.shape!r}"
            )
        empty = [d for d in x.shape[1:] if d == 0]
        if empty:
            raise ShapeError(
                f"{self.label}: input shape {x.shape!r} has an empty non-batch "
                "dim; torch refuses it"
            )

    def _output_size(self, value: Any) -> Sequence[Dim] | None:
        """``output_size`` as dims: None, a whole Shape (dims may be dynamic) or ints."""
        if value is None or isinstance(value, Shape):
            return value
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise LayerTypeError(
                f"{self.label}: output_size={value!r} is invalid; expected "
                "None, 2 or 4 ints, or a tensor's shape (t.shape, t.size())"
            )
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            raise LayerArgumentError(
                f"{self.label}: output_size={tuple(value)!r} is invalid; expected ints (pass a "
                "whole shape, t.shape or t.size(), for dims known only at run time)"
            )
        return tuple(int(v) for v in value)

    # ----------------------------------------------------------------- lowering
    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        x = c.specs[0]
        variant = op.choose_variant(x.dtype, x.ndim, c.target, self.kernel_size, self.padding)
        raw = g.facts.get(c.inputs[1])
        if variant == "cpu" and isinstance(raw, RawIndices) and self._undoes(raw, c):
            dims = [d for d in c.out_specs[0].shape if isinstance(d, int)]
            shape = (
                g.ints(dims, f"{c.node}/output_shape")
                if len(dims) == 4
                else str(
                    g.op(
                        "Concat",
                        g.op("Shape", c.inputs[0], end=2, name=f"{c.node}/lead"),
                        self._size_input(g, c),
                        axis=0,
                        name=f"{c.node}/output_shape",
                    )
                )
            )
            g.op(
                "MaxUnpool",
                c.inputs[0],
                raw.flat,
                shape,
                outputs=[c.outputs[0]],
                kernel_shape=[1, 1],
                name=c.node,
            )
            return
        op.emit(
            g,
            c.inputs[0],
            c.inputs[1],
            self._size_input(g, c),
            c.outputs[0],
            kernel=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            variant=variant,
            name=c.node,
        )

    def _undoes(self, pool: RawIndices, c: LowerCall) -> bool:
        """Whether this call scatters ``pool``'s indices back into planes of its input's size,
        with its geometry (dilation 1): then every index is in range and the output size is
        one torch accepts, by construction, and ``pool.flat`` feeds ONNX ``MaxUnpool`` as is."""
        geo = pool.geometry
        if (geo.kernel, geo.stride, geo.padding, geo.dilation) != (
            self.kernel_size,
            self.stride,
            self.padding,
            (1, 1),
        ):
            return False
        ref = c.call_args.get("output_size")
        if isinstance(ref, ShapeRef) and ref.tensor == pool.source:
            return True
        out = tuple(c.out_specs[0].shape[-2:])
        return all(isinstance(d, int) for d in out) and out == tuple(pool.plane)

    def _size_input(self, g: GraphBuilder, c: LowerCall) -> str:
        """The op's ``output_size``: the (H_out, W_out) known while building, else read at run
        time from the referenced tensor's shape, else empty (torch's default, from X's dims)."""
        known = [d for d in c.out_specs[0].shape[-2:] if isinstance(d, int)]
        if len(known) == 2:
            return g.ints(known, f"{c.node}/output_size")
        value = c.call_args.get("output_size")
        if isinstance(value, ShapeRef):
            return str(g.op("Shape", value.tensor, name=f"{c.node}/output_size", start=-2))
        return g.ints([], f"{c.node}/output_size")
