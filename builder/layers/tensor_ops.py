"""Tensor functions used in ``forward``s beside modules: ``Mul``, ``Cat``, ``Mean``, ``Reshape``,
``Permute``, ``Transpose``, ``Chunk`` and ``Split``.

torch has no ``nn`` class for these, so each layer is named after the torch function and its
torch twin (:meth:`~onnxlayers.builder.layer.Layer.torch_module`) is a plain callable with
torch's semantics. Dims may be negative and are checked against the input's rank like torch's
``maybe_wrap_dim``; static sizes are checked while building.

>>> from onnxlayers.builder import Input
>>> x = Input("x", ("N", 116, 28, 28))
>>> y = Reshape(["N", 2, 58, 28, 28])(x)
>>> y = Reshape(["N", -1, 28, 28])(Transpose(1, 2)(y))
>>> y.shape
('N', 116, 28, 28)
>>> [t.shape[1] for t in Chunk(2, dim=1)(y)]
[58, 58]
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..args import check_flag
from ..errors import LayerArgumentError, LayerTypeError, ShapeError
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..registry import register_layer
from ..tensor import DTYPES, FLOAT_DTYPES, Dim, Tensor, TensorSpec, normalize_dtype
from .add import Broadcasting

DATA_DTYPES = (*FLOAT_DTYPES, "int64")
"""Dtypes the data-movement layers (and ``Mul``) accept: every float dtype and int64."""


# ------------------------------------------------------------------------------ helpers
def wrap_dim(label: str, dim: int, rank: int, what: str = "dim") -> int:
    """torch's ``maybe_wrap_dim``: ``dim`` in ``[-r, r - 1]`` (``r = max(rank, 1)``) as ``0..r-1``.

    >>> wrap_dim("Cat", -1, 3), wrap_dim("Mean", 0, 0)
    (2, 0)
    """
    wrap = max(rank, 1)
    if not -wrap <= dim < wrap:
        raise ShapeError(
            f"{label}: {what}={dim!r} is out of range for an input of rank {rank}; expected "
            f"{-wrap} to {wrap - 1} (Dimension out of range)"
        )
    return dim % wrap


def int_arg(label: str, name: str, value: Any, *, minimum: int | None = None) -> int:
    """An int argument (not a bool, like torch), optionally ``>= minimum``."""
    allowed = "an int" if minimum is None else f"an int >= {minimum}"
    ok = (lambda v: True) if minimum is None else (lambda v: v >= minimum)
    return int(check_number(label, name, value, kind=int, ok=ok, allowed=allowed))


def int_list(label: str, name: str, value: Any, *, minimum: int | None = None) -> list[int]:
    """A list or tuple of ints (torch's ``int[]``); a bare int is refused as torch does."""
    if not isinstance(value, (list, tuple)):
        raise LayerTypeError(
            f"{label}: {name}={value!r} is invalid; expected a list or tuple of ints"
        )
    return [int_arg(label, f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(value)]


def merge_equal_dims(dims: Sequence[Dim]) -> Dim:
    """One dim for several dims that must be equal: a static size wins, then a name."""
    for d in dims:
        if isinstance(d, int):
            return d
    for d in dims:
        if isinstance(d, str):
            return d
    return None


def _node(g: GraphBuilder, c: LowerCall, op: str, *inputs: str, **attrs: Any) -> None:
    """The call's one node, writing its outputs."""
    g.op(op, *inputs, outputs=c.outputs, name=c.node, **attrs)


def chunk_sizes(size: int, chunks: int) -> list[int]:
    """torch.chunk's piece sizes: ``ceil(size / chunks)`` each, the last smaller, maybe fewer.

    >>> chunk_sizes(5, 4), chunk_sizes(13, 4), chunk_sizes(0, 3)
    ([2, 2, 1], [4, 4, 4, 1], [0, 0, 0])
    """
    split = -(-size // chunks)
    if split == 0 and size == 0:  # torch keeps the number of chunks for an empty dim
        return [0] * chunks
    return split_sizes(size, split)


def split_sizes(size: int, split: int) -> list[int]:
    """torch.split's piece sizes for an int ``split_size``: full pieces, the last smaller.

    >>> split_sizes(5, 2), split_sizes(5, 7), split_sizes(0, 0)
    ([2, 2, 1], [5], [0])
    """
    n = 1 if split == 0 else max(-(-size // split), 1)
    return [split] * (n - 1) + [size - split * (n - 1)]


# ------------------------------------------------------------------------------ Mul
@register_layer
class Mul(Broadcasting):
    """``Mul()``: called on two tensors ``a`` and ``b`` of one dtype, returns ``a * b`` with
    torch's broadcasting (a squeeze-excitation block's ``x * scale``).

    >>> from onnxlayers.builder import Input
    >>> Mul()(Input("x", ("N", 8, 4, 4)), Input("s", ("N", 8, 1, 1))).shape
    ('N', 8, 4, 4)
    """

    onnx_op = "Mul"
    torch_op = operator.mul
    dtypes = DATA_DTYPES
    examples = (
        Example(inputs=((2, 3, 4), (3, 1))),
        Example(inputs=((2, 8, 4, 4), (2, 8, 1, 1))),
        Example(inputs=((2, 5), (5,))),
    )
    torch_functions = ("operator.mul", "operator.imul", "torch.mul", "Tensor.mul")


# ------------------------------------------------------------------------------ Cat
def _legacy_empty(spec: TensorSpec) -> bool:
    """torch.cat skips 1-D tensors of static size 0 (a legacy rule), whatever their rank."""
    return spec.shape == (0,)


@register_layer
class Cat(Layer):
    """``Cat(dim=0)``: called on one or more tensors of one dtype, returns ``torch.cat(xs, dim)``.

    Every dim but ``dim`` must match (static sizes are checked while building). As in torch, a
    1-D tensor of size 0 is skipped whatever the others' rank.

    >>> from onnxlayers.builder import Input
    >>> Cat(dim=1)(Input("a", ("N", 3, 4)), Input("b", ("N", 5, 4))).shape
    ('N', 8, 4)
    """

    copies = True

    dtypes = DATA_DTYPES
    examples = (
        Example({"dim": 1}, ((2, 3, 4), (2, 5, 4))),
        Example({"dim": -1}, ((2, 3), (2, 1), (2, 4))),
        Example({}, ((2, 3), (3, 3))),
    )
    torch_functions = ("torch.cat", "torch.concat", "torch.concatenate")

    def __init__(self, dim: int = 0, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.dim = int_arg(self.label, "dim", dim)

    def torch_args(self) -> dict[str, Any]:
        return {"dim": self.dim}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        dim = args.get("dim", 0)
        return lambda *xs: torch.cat(xs, dim=dim)

    def kept(self, inputs: Sequence[TensorSpec]) -> list[int]:
        """Positions of the inputs that take part (all but torch's legacy empty 1-D ones)."""
        return [i for i, s in enumerate(inputs) if not _legacy_empty(s)]

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        if not inputs:
            raise LayerArgumentError(
                f"{self.label}: called with no inputs; expected one or more tensors (torch.cat "
                "expects a non-empty list of Tensors)"
            )
        for i, s in enumerate(inputs):
            self.check_input(s, what=f"input {i}")
            if s.dtype != inputs[0].dtype:
                raise LayerTypeError(
                    f"{self.label}: input {i} has dtype {s.dtype!r} but input 0 has "
                    f"{inputs[0].dtype!r}; expected one dtype (cast the inputs first)"
                )
            if s.ndim == 0:
                raise ShapeError(
                    f"{self.label}: input {i} is 0-d; expected rank >= 1 (torch: a "
                    "zero-dimensional tensor cannot be concatenated)"
                )
        kept = self.kept(inputs)
        if not kept:
            return [TensorSpec((0,), inputs[0].dtype)]
        first = inputs[kept[0]]
        axis = wrap_dim(self.label, self.dim, first.ndim)
        for i in kept:
            if inputs[i].ndim != first.ndim:
                raise ShapeError(
                    f"{self.label}: input {i} has rank {inputs[i].ndim} (shape "
                    f"{inputs[i].shape!r}) but input {kept[0]} has rank {first.ndim} (shape "
                    f"{first.shape!r}); expected the same number of dims"
                )
        out: list[Dim] = []
        for d in range(first.ndim):
            dims = [inputs[i].shape[d] for i in kept]
            if d == axis:
                static = all(isinstance(v, int) for v in dims)
                out.append(sum(dims) if static else None)  # type: ignore[arg-type]
                continue
            sizes = [(i, v) for i, v in zip(kept, dims, strict=True) if isinstance(v, int)]
            for i, v in sizes[1:]:
                if v != sizes[0][1]:
                    raise ShapeError(
                        f"{self.label}: sizes must match except in dim {axis}; input {i} has "
                        f"size {v!r} in dim {d} (shape {inputs[i].shape!r}) but input "
                        f"{sizes[0][0]} has {sizes[0][1]!r} (shape {inputs[sizes[0][0]].shape!r})"
                    )
            out.append(merge_equal_dims(dims))
        return [TensorSpec(tuple(out), first.dtype)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        kept = self.kept(c.specs)
        names = [c.inputs[i] for i in kept] or c.inputs[:1]
        if len(names) == 1:
            _node(g, c, "Identity", names[0])
            return
        axis = wrap_dim(self.label, self.dim, c.specs[kept[0]].ndim)
        _node(g, c, "Concat", *names, axis=axis)


# ------------------------------------------------------------------------------ Mean
def _float_dtype(label: str, dtype: Any) -> str:
    """A float dtype given as a name, a numpy dtype or a ``torch.dtype``."""
    text = str(dtype)
    name = text.removeprefix("torch.") if text.startswith("torch.") else dtype
    if name in ("half", "float", "double"):
        name = {"half": "float16", "float": "float32", "double": "float64"}[name]
    canonical = normalize_dtype(name, where=label)
    if canonical not in FLOAT_DTYPES:
        raise LayerArgumentError(
            f"{label}: dtype={dtype!r} is invalid; expected a floating point dtype, one of "
            f"{list(FLOAT_DTYPES)!r} (torch: mean() could not infer output dtype)"
        )
    return canonical


@register_layer
class Mean(Layer):
    """``Mean(dim=None, keepdim=False, *, dtype=None)``: ``torch.mean(x, dim, keepdim)``.

    ``dim`` is an int, a list or tuple of ints (an empty one, like None, reduces every dim),
    negative dims allowed. ``dtype`` casts the input first, as torch does; an int64 input
    needs it. A mean over zero elements is NaN, as in torch (onnxruntime's ReduceMean gives 0
    there, so the graph adds the NaN).

    >>> from onnxlayers.builder import Input
    >>> Mean((2, 3), keepdim=True)(Input("x", ("N", 8, 7, 7))).shape
    ('N', 8, 1, 1)
    >>> Mean()(Input("x", (2, 3))).shape
    ()
    """

    dtypes = DATA_DTYPES
    examples = (
        Example({"dim": (2, 3), "keepdim": True}, ((2, 8, 4, 4),)),
        Example({"dim": -1}, ((2, 3, 5),)),
        Example({}, ((2, 3, 4),)),
        Example({"dim": [0, 2]}, ((2, 3, 4),)),
    )
    torch_functions = ("torch.mean", "Tensor.mean")

    def __init__(
        self,
        dim: int | Sequence[int] | None = None,
        keepdim: bool = False,
        *,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if dim is None or isinstance(dim, (list, tuple)):
            dims = None if dim is None else int_list(self.label, "dim", dim)
            self.dim: int | list[int] | None = dims
        else:
            self.dim = int_arg(self.label, "dim", dim)
        if isinstance(self.dim, list):
            for i, d in enumerate(self.dim):
                if d in self.dim[:i]:
                    raise LayerArgumentError(
                        f"{self.label}: dim={dim!r} is invalid: dim {d} appears multiple times; "
                        "expected distinct dims"
                    )
        self.keepdim = check_flag(self.label, "keepdim", keepdim)
        self.dtype = None if dtype is None else _float_dtype(self.label, dtype)

    def torch_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"dim": self.dim, "keepdim": self.keepdim}
        if self.dtype is not None:
            args["dtype"] = self.dtype
        return args

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        dim = args.get("dim")
        dim = tuple(dim) if isinstance(dim, (list, tuple)) else dim
        keepdim = bool(args.get("keepdim", False))
        dtype = None if args.get("dtype") is None else getattr(torch, args["dtype"])
        return lambda x: torch.mean(x, dim=dim, keepdim=keepdim, dtype=dtype)

    def axes(self, rank: int) -> list[int]:
        """The reduced dims of an input of ``rank``, sorted and checked like torch."""
        if self.dim is None or self.dim == []:
            return list(range(rank))
        dims = self.dim if isinstance(self.dim, list) else [self.dim]
        wrapped = [wrap_dim(self.label, d, rank) for d in dims]
        for i, d in enumerate(wrapped):
            if d in wrapped[:i]:
                raise ShapeError(
                    f"{self.label}: dim={self.dim!r} names dim {d} more than once for an input "
                    f"of rank {rank}; expected distinct dims"
                )
        return sorted(wrapped)

    def out_dtype(self, dtype: str) -> str:
        return self.dtype or dtype

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        if x.dtype not in FLOAT_DTYPES and self.dtype is None:
            raise LayerTypeError(
                f"{self.label}: input dtype {x.dtype!r} has no mean; expected a float input or "
                "dtype= a float dtype (torch: mean() could not infer output dtype)"
            )
        axes = self.axes(x.ndim)
        if self.keepdim:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [TensorSpec(shape, self.out_dtype(x.dtype))]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        spec, out_dtype = c.specs[0], c.out_specs[0].dtype
        x = c.inputs[0]
        if spec.ndim == 0:  # the mean of one element is that element
            if spec.dtype == out_dtype:
                _node(g, c, "Identity", x)
            else:
                _node(g, c, "Cast", x, to=DTYPES[out_dtype])
            return
        axes = self.axes(spec.ndim)
        # float16 sums in float32 (torch accumulates in float32 too); other dtypes as they are.
        work = "float32" if out_dtype == "float16" else out_dtype
        if spec.dtype != work:
            x = g.op("Cast", x, to=DTYPES[work], name=f"{c.node}/cast_in")
        reduced = [spec.shape[a] for a in axes]
        static = all(isinstance(d, int) for d in reduced)
        # onnxruntime's mean of no elements is 0 where torch's is NaN: adding 0 / count (0, or
        # NaN when count is 0) fixes that, one op on the reduced output, where it can happen.
        fix = not static or math.prod(reduced) == 0  # type: ignore[arg-type]
        cast = work != out_dtype
        keep = int(self.keepdim)

        def node(op: str, *inputs: str, last: bool, **attrs: Any) -> str:
            if last:
                _node(g, c, op, *inputs, **attrs)
                return c.outputs[0]
            return str(g.op(op, *inputs, name=f"{c.node}/{op.lower()}", **attrs))

        spatial = (axes, keep, fix, cast, spec.ndim) == ([2, 3], 1, False, False, 4)
        if spatial and work == "float32" and x not in g.inputs:
            # a layer's output (squeeze-excitation): onnxruntime runs GlobalAveragePool in the
            # blocked (NCHWc) layout of the convolution before, ReduceMean after a reorder
            _node(g, c, "GlobalAveragePool", x)
            return
        if g.opset >= 18:
            mean = node(
                "ReduceMean",
                x,
                g.ints(axes, f"{c.node}/axes"),
                keepdims=keep,
                last=not (fix or cast),
            )
        else:
            mean = node("ReduceMean", x, axes=axes, keepdims=keep, last=not (fix or cast))
        if fix:
            nan_if_empty = (
                self._nan_if_empty(g, c, x, axes, work)
                if not static
                else g.const(float("nan"), work, f"{c.node}/nan")
            )
            mean = node("Add", mean, nan_if_empty, last=not cast)
        if cast:
            node("Cast", mean, to=DTYPES[out_dtype], last=True)

    @staticmethod
    def _nan_if_empty(g: GraphBuilder, c: LowerCall, x: str, axes: list[int], work: str) -> str:
        """``0 / count`` as a 0-d tensor of ``work``: 0, or NaN when no element is reduced."""
        shape = g.op("Shape", x, name=f"{c.node}/shape")
        dims = g.op(
            "Gather",
            shape,
            g.ints(axes, f"{c.node}/reduced"),
            axis=0,
            name=f"{c.node}/reduced_dims",
        )
        dims = g.op("Cast", dims, to=DTYPES[work], name=f"{c.node}/reduced_float")
        count = g.op("ReduceProd", dims, keepdims=0, name=f"{c.node}/count")
        return str(
            g.op("Div", g.const(0.0, work, f"{c.node}/zero"), count, name=f"{c.node}/zero_or_nan")
        )


# ------------------------------------------------------------------------------ Reshape
def _shape_text(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(e) for e in shape) + "]"


@register_layer
class Reshape(Layer):
    """``Reshape(shape)``: ``torch.reshape(x, shape)`` / ``x.view(shape)``.

    Each entry of ``shape`` is an int >= 0, one ``-1`` at most (inferred), or a str naming a
    dynamic dim of the input (``"N"``: its batch dim), so ``x.view(b, groups, c // groups, h,
    w)`` works with a dynamic batch. The input is taken as contiguous (a graph has no strides):
    where torch's ``view`` needs ``.contiguous()`` first, this layer does not.

    Calling it records, as the call argument ``axes``, the input dim each str entry names
    (in order): the torch twin and the NumPy oracle read sizes from there.

    >>> from onnxlayers.builder import Input
    >>> Reshape(["N", -1])(Input("x", ("N", 3, 4))).shape
    ('N', 12)
    >>> Reshape([4, -1])(Input("x", (2, 3, 4))).shape
    (4, 6)
    """

    copies = True

    dtypes = DATA_DTYPES
    examples = (
        Example({"shape": [-1, 12]}, ((2, 3, 4),)),
        Example({"shape": ["N", 2, 2, -1]}, ((2, 4, 3),), call={"axes": (0,)}),
        Example({"shape": ["N", 2, 3, 2, 2]}, ((2, 6, 2, 2),), call={"axes": (0,)}),
        Example({"shape": [4, -1, 2]}, ((2, 3, 4),)),
    )
    torch_functions = ("torch.reshape", "Tensor.reshape", "Tensor.view")

    def __init__(self, shape: Sequence[int | str], *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(shape, (list, tuple)):
            raise LayerTypeError(
                f"{self.label}: shape={shape!r} is invalid; expected a list or tuple of ints "
                "and dim names"
            )
        entries: list[int | str] = []
        for i, e in enumerate(shape):
            if isinstance(e, str):
                if not e:
                    raise LayerArgumentError(
                        f"{self.label}: shape[{i}]='' is invalid; expected a dim name"
                    )
                entries.append(e)
                continue
            v = int_arg(self.label, f"shape[{i}]", e)
            if v < -1:
                raise LayerArgumentError(
                    f"{self.label}: shape[{i}]={v!r} is invalid (invalid shape dimension {v} "
                    f"at index {i} of shape {_shape_text(shape)}); expected an int >= 0, -1 or a "
                    "dim name"
                )
            entries.append(v)
        if entries.count(-1) > 1:
            raise LayerArgumentError(
                f"{self.label}: shape={_shape_text(entries)} has more than one -1; expected one "
                "at most (only one dimension can be inferred)"
            )
        self.shape = entries

    def torch_args(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        shape = list(args["shape"])

        def reshape(x: Any, axes: Sequence[int] = ()) -> Any:
            named = iter(axes)
            target = [int(x.shape[next(named)]) if isinstance(e, str) else e for e in shape]
            return torch.reshape(x, target)

        return reshape

    def named_axes(self, shape: Sequence[Dim]) -> tuple[int, ...]:
        """For each str entry in order, the input dim it names (the same position first)."""
        axes = []
        for i, e in enumerate(self.shape):
            if not isinstance(e, str):
                continue
            if i < len(shape) and shape[i] == e:
                axes.append(i)
            elif e in shape:
                axes.append(list(shape).index(e))
            else:
                names = [d for d in shape if isinstance(d, str)]
                raise ShapeError(
                    f"{self.label}: shape entry {i} is {e!r}, which names no dim of the input "
                    f"(shape {tuple(shape)!r}); expected an int, -1 or one of the input's dim "
                    f"names {names!r}"
                )
        return tuple(axes)

    def __call__(self, *inputs: Tensor, **call_args: Any) -> Any:
        has_names = any(isinstance(e, str) for e in self.shape)
        if (
            has_names
            and call_args.get("axes") is None
            and len(inputs) == 1
            and isinstance(inputs[0], Tensor)
        ):
            call_args["axes"] = self.named_axes(inputs[0].shape)
        return super().__call__(*inputs, **call_args)

    def _axes(self, x: TensorSpec, call_args: Mapping[str, Any]) -> tuple[int, ...]:
        unknown = sorted(set(call_args) - {"axes"})
        if unknown:
            raise LayerTypeError(
                f"{self.label}: unexpected call arguments {unknown!r}; expected only axes"
            )
        if call_args.get("axes") is None:
            return self.named_axes(x.shape)
        given = call_args["axes"]
        names = [e for e in self.shape if isinstance(e, str)]
        if (
            not isinstance(given, (list, tuple))
            or len(given) != len(names)
            or not all(
                isinstance(a, int)
                and not isinstance(a, bool)
                and 0 <= a < x.ndim
                and x.shape[a] == n
                for a, n in zip(given, names, strict=False)
            )
        ):
            raise LayerArgumentError(
                f"{self.label}: axes={given!r} does not give, for each named entry {names!r}, an "
                f"input dim of that name (input shape {x.shape!r})"
            )
        return tuple(given)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        self._axes(x, call_args)
        return [TensorSpec(self.target(x), x.dtype)]

    def _invalid(self, x: TensorSpec, why: str = "") -> ShapeError:
        ints = [d for d in x.shape if isinstance(d, int)]
        numel = math.prod(ints) if len(ints) == x.ndim else None
        size = f"input of size {numel}" if numel is not None else f"input of shape {x.shape!r}"
        return ShapeError(
            f"{self.label}: shape '{_shape_text(self.shape)}' is invalid for {size}{why}; "
            "expected a shape with as many elements as the input"
        )

    def target(self, x: TensorSpec) -> tuple[Dim, ...]:
        """The output dims, with torch's element count checks where the sizes are known.

        Named dims cancel between the input and the target, so ``("N", 6, 4)`` to
        ``["N", -1]`` is proved to be ``("N", 24)``.
        """
        in_static = math.prod(d for d in x.shape if isinstance(d, int))
        in_names = Counter(d for d in x.shape if isinstance(d, str))
        unknown = any(d is None for d in x.shape)
        ints = [e for e in self.shape if isinstance(e, int) and e != -1]
        out_static = math.prod(ints)
        out_names = Counter(e for e in self.shape if isinstance(e, str))
        common = in_names & out_names
        rest_in, rest_out = in_names - common, out_names - common
        out: list[Dim] = list(self.shape)
        if -1 not in self.shape:
            if not unknown and not rest_in and not rest_out and in_static != out_static:
                raise self._invalid(x)
            return tuple(out)
        where = self.shape.index(-1)
        inferred: Dim = None
        if out_static == 0:
            why = (
                " (the unspecified dimension size -1 can be any value and is ambiguous)"
                if in_static == 0
                else ""
            )
            raise self._invalid(x, why)
        if in_static == 0:
            inferred = 0
        elif unknown or rest_out:
            inferred = None
        elif not rest_in:
            if in_static % out_static:
                raise self._invalid(x)
            inferred = in_static // out_static
        elif in_static == out_static and sum(rest_in.values()) == 1:
            inferred = next(iter(rest_in))
        out[where] = inferred
        return tuple(out)

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        x, spec = c.inputs[0], c.specs[0]
        out = c.out_specs[0].shape
        named = iter(self._axes(spec, c.call_args))
        zero = 0 in self.shape  # a literal 0 is a size 0 in torch: Reshape(allowzero=1)
        parts: list[list[int] | int] = []  # constant runs, and input dims read at run time
        value: int
        for i, e in enumerate(self.shape):
            if isinstance(e, str):
                axis = next(named)
                if not zero and axis == i:
                    value = 0  # ONNX: copy the input's dim at this position
                else:
                    parts.append(axis)
                    continue
            elif e == -1:
                d = out[i]
                value = d if isinstance(d, int) and d > 0 else -1
            else:
                value = e
            if parts and isinstance(parts[-1], list):
                parts[-1].append(value)
            else:
                parts.append([value])
        attrs: dict[str, Any] = {"allowzero": 1} if zero else {}
        if all(isinstance(p, list) for p in parts):
            flat = [v for p in parts if isinstance(p, list) for v in p]
            shape = g.ints(flat, f"{c.node}/shape")
        else:
            pieces = [
                g.ints(p, f"{c.node}/dims")
                if isinstance(p, list)
                else g.op("Shape", x, start=p, end=p + 1, name=f"{c.node}/dim{p}")
                for p in parts
            ]
            shape = g.op("Concat", *pieces, axis=0, name=f"{c.node}/target")
        g.op("Reshape", x, shape, outputs=c.outputs, name=c.node, **attrs)


# ------------------------------------------------------------------------------ Permute
def _permuted(label: str, dims: Sequence[int], x: TensorSpec) -> list[int]:
    if len(dims) != x.ndim:
        raise ShapeError(
            f"{label}: dims={list(dims)!r} has {len(dims)} entries for an input of rank "
            f"{x.ndim} (shape {x.shape!r}); expected one entry per input dim"
        )
    perm = [wrap_dim(label, d, x.ndim, "dims entry") for d in dims]
    if len(set(perm)) != len(perm):
        raise ShapeError(
            f"{label}: dims={list(dims)!r} names a dim twice for an input of rank {x.ndim}; "
            "expected a permutation (duplicate dims are not allowed)"
        )
    return perm


def _emit_transpose(g: GraphBuilder, c: LowerCall, perm: list[int]) -> None:
    if perm == sorted(perm):
        _node(g, c, "Identity", c.inputs[0])
    else:
        _node(g, c, "Transpose", c.inputs[0], perm=perm)


@register_layer
class Permute(Layer):
    """``Permute(dims)``: ``torch.permute(x, dims)`` / ``x.permute(*dims)``.

    >>> from onnxlayers.builder import Input
    >>> Permute((0, 2, 3, 1))(Input("x", ("N", 3, 4, 5))).shape
    ('N', 4, 5, 3)
    """

    copies = True

    dtypes = DATA_DTYPES
    examples = (
        Example({"dims": (0, 2, 1)}, ((2, 3, 4),)),
        Example({"dims": [-1, 0, 2, 1]}, ((2, 3, 4, 5),)),
    )
    torch_functions = ("torch.permute", "Tensor.permute")

    def __init__(self, dims: Sequence[int], *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.dims = int_list(self.label, "dims", dims)
        if len(set(self.dims)) != len(self.dims):
            raise LayerArgumentError(
                f"{self.label}: dims={self.dims!r} repeats a dim; expected a permutation "
                "(duplicate dims are not allowed)"
            )

    def torch_args(self) -> dict[str, Any]:
        return {"dims": list(self.dims)}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        dims = tuple(args["dims"])
        return lambda x: torch.permute(x, dims)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        perm = _permuted(self.label, self.dims, x)
        return [TensorSpec(tuple(x.shape[p] for p in perm), x.dtype)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        _emit_transpose(g, c, _permuted(self.label, self.dims, c.specs[0]))


@register_layer
class Transpose(Layer):
    """``Transpose(dim0, dim1)``: ``torch.transpose(x, dim0, dim1)``, swapping two dims.

    >>> from onnxlayers.builder import Input
    >>> Transpose(1, -1)(Input("x", ("N", 3, 4, 5))).shape
    ('N', 5, 4, 3)
    """

    copies = True

    dtypes = DATA_DTYPES
    examples = (
        Example({"dim0": 1, "dim1": 2}, ((2, 3, 4, 5),)),
        Example({"dim0": -1, "dim1": 0}, ((2, 3),)),
    )
    torch_functions = ("torch.transpose", "Tensor.transpose", "torch.swapaxes", "torch.swapdims")

    def __init__(self, dim0: int, dim1: int, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.dim0 = int_arg(self.label, "dim0", dim0)
        self.dim1 = int_arg(self.label, "dim1", dim1)

    def torch_args(self) -> dict[str, Any]:
        return {"dim0": self.dim0, "dim1": self.dim1}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        dim0, dim1 = args["dim0"], args["dim1"]
        return lambda x: torch.transpose(x, dim0, dim1)

    def perm(self, x: TensorSpec) -> list[int]:
        a = wrap_dim(self.label, self.dim0, x.ndim, "dim0")
        b = wrap_dim(self.label, self.dim1, x.ndim, "dim1")
        perm = list(range(x.ndim))
        if x.ndim:
            perm[a], perm[b] = perm[b], perm[a]
        return perm

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        return [TensorSpec(tuple(x.shape[p] for p in self.perm(x)), x.dtype)]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        _emit_transpose(g, c, self.perm(c.specs[0]))


# ------------------------------------------------------------------------------ Chunk, Split
class _Pieces(Layer):
    """A layer cutting its input along ``dim`` into pieces; calling it returns a tuple, as
    torch does, even of one tensor."""

    copies = True

    dtypes = DATA_DTYPES
    dim: int

    def __call__(self, *inputs: Tensor, **call_args: Any) -> Any:
        out = super().__call__(*inputs, **call_args)
        return out if isinstance(out, tuple) else (out,)

    def sizes(self, size: Dim) -> list[Dim]:
        """The pieces' sizes along the split dim of size ``size``."""
        raise NotImplementedError

    def _axis(self, x: TensorSpec) -> int:
        what = type(self).__name__.lower()
        if x.ndim == 0:
            raise ShapeError(
                f"{self.label}: input is 0-d; expected rank >= 1 ({what} expects at least a "
                "1-dimensional tensor)"
            )
        return wrap_dim(self.label, self.dim, x.ndim)

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x)
        axis = self._axis(x)
        return [
            TensorSpec((*x.shape[:axis], s, *x.shape[axis + 1 :]), x.dtype)
            for s in self.sizes(x.shape[axis])
        ]

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        if len(c.outputs) == 1:
            _node(g, c, "Identity", c.inputs[0])
            return
        axis = self._axis(c.specs[0])
        sizes = [s.shape[axis] for s in c.out_specs]
        _node(
            g,
            c,
            "Split",
            c.inputs[0],
            g.ints(sizes, f"{c.node}/sizes"),  # type: ignore[arg-type]
            axis=axis,
        )

    def _static(self, size: Dim) -> int:
        if not isinstance(size, int):
            raise ShapeError(
                f"{self.label}: dim={self.dim!r} has dynamic size {size!r}; expected a static "
                "size (the number of pieces must be known while building)"
            )
        return size


@register_layer
class Chunk(_Pieces):
    """``Chunk(chunks, dim=0)``: ``torch.chunk(x, chunks, dim)``, a tuple of
    ``ceil(size / chunks)``-sized pieces (the last smaller; fewer than ``chunks`` where torch
    gives fewer). The split dim must be static.

    >>> from onnxlayers.builder import Input
    >>> [t.shape for t in Chunk(4, dim=1)(Input("x", ("N", 6)))]
    [('N', 2), ('N', 2), ('N', 2)]
    """

    examples = (
        Example({"chunks": 2, "dim": 1}, ((2, 6, 3),)),
        Example({"chunks": 3, "dim": -1}, ((2, 4, 5),)),
        Example({"chunks": 4, "dim": 1}, ((2, 6),)),
    )
    torch_functions = ("torch.chunk", "Tensor.chunk")

    def __init__(self, chunks: int, dim: int = 0, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.chunks = int_arg(self.label, "chunks", chunks)
        if self.chunks <= 0:
            raise LayerArgumentError(
                f"{self.label}: chunks={self.chunks!r} is invalid; expected an int >= 1 (chunk "
                "expects `chunks` to be greater than 0)"
            )
        self.dim = int_arg(self.label, "dim", dim)

    def torch_args(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "dim": self.dim}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        chunks, dim = args["chunks"], args.get("dim", 0)
        return lambda x: torch.chunk(x, chunks, dim)

    def sizes(self, size: Dim) -> list[Dim]:
        return list(chunk_sizes(self._static(size), self.chunks))


@register_layer
class Split(_Pieces):
    """``Split(split_size_or_sections, dim=0)``: ``torch.split(x, split_size_or_sections, dim)``.

    An int cuts pieces of that size (the last smaller; the dim must then be static); a list
    gives each piece's size, which must add up to the dim's size (checked when it is static).

    >>> from onnxlayers.builder import Input
    >>> [t.shape for t in Split([1, 3], dim=-1)(Input("x", ("N", 4)))]
    [('N', 1), ('N', 3)]
    """

    examples = (
        Example({"split_size_or_sections": 2, "dim": 1}, ((2, 5, 3),)),
        Example({"split_size_or_sections": [1, 3, 1], "dim": -1}, ((2, 3, 5),)),
    )
    torch_functions = (
        "torch.split",
        "Tensor.split",
        "torch.split_with_sizes",
        "Tensor.split_with_sizes",
    )

    def __init__(
        self, split_size_or_sections: int | Sequence[int], dim: int = 0, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        value = split_size_or_sections
        if isinstance(value, (list, tuple)):
            self.split_size_or_sections: int | list[int] = int_list(
                self.label, "split_size_or_sections", value, minimum=0
            )
        else:
            self.split_size_or_sections = int_arg(
                self.label, "split_size_or_sections", value, minimum=0
            )
        self.dim = int_arg(self.label, "dim", dim)

    def torch_args(self) -> dict[str, Any]:
        s = self.split_size_or_sections
        return {"split_size_or_sections": list(s) if isinstance(s, list) else s, "dim": self.dim}

    @classmethod
    def torch_module(cls, args: Mapping[str, Any]) -> Any:
        import torch

        s, dim = args["split_size_or_sections"], args.get("dim", 0)
        s = list(s) if isinstance(s, (list, tuple)) else s
        return lambda x: torch.split(x, s, dim)

    def sizes(self, size: Dim) -> list[Dim]:
        s = self.split_size_or_sections
        if isinstance(s, list):
            if isinstance(size, int) and sum(s) != size:
                raise ShapeError(
                    f"{self.label}: split_size_or_sections={s!r} adds up to {sum(s)} but dim "
                    f"{self.dim} has size {size}; expected sizes that add up to it exactly"
                )
            return list(s)
        n = self._static(size)
        if s == 0 and n != 0:
            raise ShapeError(
                f"{self.label}: split_size_or_sections=0 is only valid for a dim of size 0 but "
                f"dim {self.dim} has size {n}; expected a size >= 1"
            )
        return list(split_sizes(n, s))


__all__ = [
    "DATA_DTYPES",
    "Cat",
    "Chunk",
    "Mean",
    "Mul",
    "Permute",
    "Reshape",
    "Split",
    "Transpose",
    "chunk_sizes",
    "split_sizes",
    "wrap_dim",
]
