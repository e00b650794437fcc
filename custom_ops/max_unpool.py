"""``ai.onnxlayers::MaxUnpool2d``: torch's ``max_unpool2d`` as an ONNX op.

Inputs ``X`` (``(N, C, H, W)`` or ``(C, H, W)``), ``I`` (int64, ``X``'s shape: torch's
*per-plane* indices, as ``max_pool2d(return_indices=True)`` gives them) and ``output_size``
(int64, 1-D, 0, 2 or 4 elements: empty means torch's default size, 4 elements use the last
two). Attributes ``kernel_size``, ``stride``, ``padding``: two ints each, torch's meaning, all
required. ``Y`` has ``X``'s leading dims and the output size; it is zero except
``Y[..., I[..., j]] = X[..., j]`` in each plane.

Two bodies compute the same values:

- ``"cpu"``: plane offsets added to ``I``, then ONNX ``MaxUnpool`` with the whole output shape
  (the fastest on onnxruntime's CPU provider; float32 rank-4 inputs with
  ``kernel - 2 * padding >= 1`` only, see :func:`choose_variant`; no CUDA kernel);
- ``"portable"``: ``ScatterElements`` into zeros (any float dtype, every provider, CUDA
  included).

Both refuse what torch refuses, at run time: an output size outside torch's range (a node named
``output_size_out_of_range`` fails) and indices outside ``[0, H_out * W_out)`` (a node named
``indices_out_of_range`` fails) -- never silent garbage.

>>> resolve_output_size((3, 3), (2, 2), (2, 2), (0, 0), None)
(6, 6)
>>> resolve_output_size((3, 3), (2, 2), (2, 2), (0, 0), (1, 1, 7, 5))
(7, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import onnx
from onnx.defs import OpSchema
from onnx.reference.op_run import OpRun
from onnx.shape_inference import InferenceContext, InferenceError

from ._domain import (
    DOMAIN,
    INT64_MAX,
    VERSION,
    Body,
    CustomOpError,
    GraphLike,
    body_variant,
    register,
)

OP = "MaxUnpool2d"
VARIANTS = ("cpu", "portable")
"""Body variants, fastest first; ``"portable"`` runs everywhere."""

GUARDS = {
    "output_size_out_of_range": "output_size is outside torch's range for this input: each "
    "dim must be >= 1 and strictly between default - stride and default + stride, where "
    "default = (in - 1) * stride + kernel - 2 * padding; output_size has 0, 2 or 4 elements",
    "indices_out_of_range": "an index is outside [0, H_out * W_out) of its plane",
    "input_has_empty_dims": "X has an empty non-batch dim (torch refuses it)",
}
"""Guard node name -> what it means (see :func:`onnxlayers.custom_ops.explain_failure`)."""

Dim = int | str | None


# ------------------------------------------------------------------ torch's size rule
def resolve_output_size(
    in_hw: Sequence[Dim],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    output_size: Sequence[Dim] | None,
) -> tuple[Dim, Dim]:
    """torch's ``_unpool_output_size`` over known (int) and unknown (str/None) dims.

    Known dims are checked as torch checks them (plus ``>= 1``, as torch's kernels require);
    unknown ones pass through. Raises :class:`CustomOpError` with torch's condition.

    >>> resolve_output_size(("H", 4), (2, 2), (2, 2), (0, 0), None)
    (None, 8)
    >>> resolve_output_size((3, 3), (2, 2), (2, 2), (0, 0), (8, 6))
    Traceback (most recent call last):
    ...
    onnxlayers.custom_ops._domain.CustomOpError: output_size=(8, 6) is invalid: dim 0 is 8; \
expected strictly between 4 and 8 (default size 6 -/+ stride 2)
    """
    default = [
        (d - 1) * s + k - 2 * p if isinstance(d, int) else None
        for d, k, s, p in zip(in_hw, kernel, stride, padding, strict=True)
    ]
    if output_size is None:
        _check_positive(default, "the default output size")
        return default[0], default[1]
    if len(output_size) not in (2, 4):
        raise CustomOpError(
            f"output_size={tuple(output_size)!r} has {len(output_size)} elements; expected 2 "
            "(H_out, W_out) or 4 (N, C, H_out, W_out)"
        )
    out = list(output_size[-2:])
    for d, (size, base, s) in enumerate(zip(out, default, stride, strict=True)):
        if isinstance(size, int) and isinstance(base, int) and not base - s < size < base + s:
            raise CustomOpError(
                f"output_size={tuple(output_size)!r} is invalid: dim {d} is {size}; expected "
                f"strictly between {base - s} and {base + s} (default size {base} -/+ stride {s})"
            )
    _check_positive(out, f"output_size={tuple(output_size)!r}")
    return out[0], out[1]


def _check_positive(dims: Sequence[Dim], what: str) -> None:
    for d, size in enumerate(dims):
        if isinstance(size, int) and size < 1:
            raise CustomOpError(f"{what} has dim {d} = {size}; expected >= 1")


# ------------------------------------------------------------------ NumPy reference
def unpool(x: np.ndarray, indices: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Scatter each plane of ``x`` to ``indices`` of a zero plane of ``out_hw``.

    >>> unpool(np.array([[[5.0]]]), np.array([[[3]]]), (2, 2))
    array([[[0., 0.],
            [0., 5.]]])
    """
    if x.shape != indices.shape:
        raise CustomOpError(f"indices have shape {indices.shape}; expected X's {x.shape}")
    size = out_hw[0] * out_hw[1]
    planes = x.reshape(-1, x.shape[-2] * x.shape[-1])
    where = indices.reshape(planes.shape)
    bad = (where < 0) | (where >= size)
    if bad.any():
        raise CustomOpError(
            f"index {int(where[bad][0])} is out of range: each index must be in [0, {size}) "
            f"(output planes of {out_hw[0]}x{out_hw[1]})"
        )
    out = np.zeros((planes.shape[0], size), dtype=x.dtype)
    np.put_along_axis(out, where, planes, axis=1)
    return out.reshape(*x.shape[:-2], *out_hw)


class MaxUnpool2d(OpRun):
    """The NumPy reference, for ``ReferenceEvaluator(model, new_ops=[MaxUnpool2d, ...])``."""

    op_domain = DOMAIN

    def _run(
        self,
        x: np.ndarray,
        indices: np.ndarray,
        output_size: np.ndarray | None = None,
        kernel_size: Sequence[int] = (),
        stride: Sequence[int] = (),
        padding: Sequence[int] = (),
    ) -> tuple[np.ndarray]:
        given = None if output_size is None or output_size.size == 0 else output_size
        hw = resolve_output_size(
            x.shape[-2:],
            list(kernel_size),
            list(stride),
            list(padding),
            None if given is None else [int(v) for v in given],
        )
        return (unpool(x, indices, (int(hw[0]), int(hw[1]))),)  # type: ignore[arg-type]


# ------------------------------------------------------------------ schema
def _attr_ints(ctx: InferenceContext, name: str) -> list[int]:
    attr = ctx.get_attribute(name)
    return [] if attr is None else list(attr.ints)


def _given_size(ctx: InferenceContext) -> list[Dim] | None:
    """The ``output_size`` values known at inference time (constants or propagated shapes)."""
    data = ctx.get_input_data(2)
    if data is not None:
        return [int(v) for v in onnx.numpy_helper.to_array(data).reshape(-1)]
    symbolic = ctx.get_symbolic_input(2)
    if symbolic is not None:
        return [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in symbolic.dim
        ]
    return None


def _infer(ctx: InferenceContext) -> None:
    x_type = ctx.get_input_type(0)
    out = onnx.TypeProto()
    out.tensor_type.elem_type = x_type.tensor_type.elem_type
    if x_type.tensor_type.HasField("shape"):
        dims = list(x_type.tensor_type.shape.dim)
        if len(dims) not in (3, 4):
            raise InferenceError(f"{OP}: X has rank {len(dims)}; expected 3 or 4")
        in_hw = [d.dim_value if d.HasField("dim_value") else None for d in dims[-2:]]
        given = _given_size(ctx)
        try:
            if given is None:
                hw: tuple[Dim, Dim] = (None, None)
            else:
                hw = resolve_output_size(
                    in_hw,
                    _attr_ints(ctx, "kernel_size"),
                    _attr_ints(ctx, "stride"),
                    _attr_ints(ctx, "padding"),
                    given or None,
                )
        except CustomOpError as e:
            raise InferenceError(f"{OP}: {e}") from e
        shape = out.tensor_type.shape
        for d in dims[:-2]:
            shape.dim.add().CopyFrom(d)
        for size in hw:
            dim = shape.dim.add()
            if isinstance(size, int):
                dim.dim_value = size
            elif isinstance(size, str):
                dim.dim_param = size
    ctx.set_output_type(0, out)


def _schema() -> OpSchema:
    param = OpSchema.FormalParameter
    ints = OpSchema.AttrType.INTS
    schema = OpSchema(
        OP,
        DOMAIN,
        VERSION,
        doc=__doc__ or "",
        inputs=[
            param("X", "T", "Input, (N, C, H, W) or (C, H, W)."),
            param("I", "tensor(int64)", "Per-plane indices into the output planes; X's shape."),
            param(
                "output_size",
                "tensor(int64)",
                "1-D: empty (torch's default size), (H_out, W_out) or (N, C, H_out, W_out).",
            ),
        ],
        outputs=[param("Y", "T", "X's leading dims + (H_out, W_out).")],
        type_constraints=[
            ("T", ["tensor(float)", "tensor(double)", "tensor(float16)"], "Float tensors.")
        ],
        attributes=[
            OpSchema.Attribute("kernel_size", ints, "(kH, kW) of the pooling undone."),
            OpSchema.Attribute("stride", ints, "(sH, sW); torch's default is kernel_size."),
            OpSchema.Attribute("padding", ints, "(pH, pW), torch's symmetric padding."),
        ],
    )
    schema.set_type_and_shape_inference_function(_infer)
    return schema


SCHEMA = register(_schema())


# ------------------------------------------------------------------ function bodies
def _guard_name(problem: str) -> str:
    """A guard node's name: onnxruntime's error message shows it, so it says it all."""
    return f"{OP} {problem}: {GUARDS[problem]}"


def _input_hw(b: Body) -> str:
    """(H, W) of ``X``, guarded: torch refuses empty non-batch dims."""
    dims = b.op("Slice", b.op("Shape", "X"), b.ints([1]), b.ints([INT64_MAX]))
    nonempty = b.all_of(b.op("GreaterOrEqual", dims, b.ints([1])))
    return b.guard(b.op("Shape", "X", start=-2), nonempty, _guard_name("input_has_empty_dims"))


def _output_hw(b: Body, hw_in: str) -> str:
    """(H_out, W_out) from ``output_size`` or torch's default, guarded by torch's rule."""
    kernel, stride, padding = (b.attr_ints(a) for a in ("kernel_size", "stride", "padding"))
    default = b.op(
        "Add",
        b.op("Mul", b.op("Sub", hw_in, b.ints([1])), stride),
        b.op("Sub", kernel, b.op("Add", padding, padding)),
    )
    given = b.op("Slice", "output_size", b.ints([-2]), b.ints([INT64_MAX]))
    out_hw = b.op("Slice", b.op("Concat", given, default, axis=0), b.ints([0]), b.ints([2]))
    count = b.op("Size", "output_size")
    length_ok = b.op("Equal", b.ints([0, 2, 4]), count)
    in_range = b.op(
        "And",
        b.op("Greater", out_hw, b.op("Sub", default, stride)),
        b.op("Less", out_hw, b.op("Add", default, stride)),
    )
    range_ok = b.op("Or", in_range, b.op("Equal", count, b.scalar(0)))
    positive = b.op("GreaterOrEqual", out_hw, b.ints([1]))
    ok = b.op("And", b.any_of(length_ok), b.all_of(range_ok, positive))
    return b.guard(out_hw, ok, _guard_name("output_size_out_of_range"))


def _indices_ok(b: Body, plane: str) -> str:
    """0-d bool: every index is in ``[0, plane)`` (``plane`` a 1-element int64 tensor)."""
    low = b.op("GreaterOrEqual", "I", b.ints([0]))
    return b.all_of(b.op("And", low, b.op("Less", "I", plane)))


def function(variant: str, opset: int) -> onnx.FunctionProto:
    """The body ``variant`` (one of :data:`VARIANTS`) for models of ``ai.onnx`` ``opset``.

    >>> fn = function("portable", 21)
    >>> "ScatterElements" in [n.op_type for n in fn.node], list(fn.input)
    (True, ['X', 'I', 'output_size'])
    """
    if variant not in VARIANTS:
        raise CustomOpError(f"{OP}: body variant {variant!r} is unknown; expected {VARIANTS!r}")
    b = Body(opset)
    hw_in = _input_hw(b)
    out_hw = _output_hw(b, hw_in)
    in_plane, plane = b.product2(hw_in), b.product2(out_hw)
    # N*C (or C): from the element count, so one body serves rank 3 and 4.
    planes = b.op("Div", b.op("Size", "X"), b.op("Max", in_plane, b.ints([1])))
    ok = _indices_ok(b, plane)
    z = _Sizes(b.op("Shape", "X", end=-2), hw_in, out_hw, in_plane, plane, planes)
    y = (_cpu_tail if variant == "cpu" else _portable_tail)(b, z, ok)
    return b.function(
        OP,
        ["X", "I", "output_size"],
        [y],
        attributes=["kernel_size", "stride", "padding"],
        doc=f"torch's max_unpool2d ({variant} body)",
        variant=variant,
    )


class _Sizes(NamedTuple):
    """Names of the 1-D int64 size tensors a body tail uses."""

    lead: str  # (N, C) or (C,)
    hw_in: str  # (H, W)
    out_hw: str  # (H_out, W_out)
    in_plane: str  # [H * W]
    plane: str  # [H_out * W_out]
    planes: str  # [N * C]


def _cpu_tail(b: Body, z: _Sizes, ok: str) -> str:
    """Plane offsets + ONNX MaxUnpool (rank 4 only: a final Reshape would copy the output)."""
    out_shape = b.guard(
        b.op("Concat", z.lead, z.out_hw, axis=0), ok, _guard_name("indices_out_of_range")
    )
    step = b.to_scalar(z.plane)
    offsets = b.op("Range", b.scalar(0), b.op("Mul", b.to_scalar(z.planes), step), step)
    offsets = b.op("Reshape", offsets, b.op("Concat", z.lead, b.ints([1, 1]), axis=0))
    return b.op("MaxUnpool", "X", b.op("Add", "I", offsets), out_shape, kernel_shape=[1, 1])


def _portable_tail(b: Body, z: _Sizes, ok: str) -> str:
    """ScatterElements of (N*C, H*W) rows into (N*C, H_out*W_out) zeros."""
    rows = b.op("Concat", z.planes, z.in_plane, axis=0)
    out_rows = b.guard(
        b.op("Concat", z.planes, z.plane, axis=0), ok, _guard_name("indices_out_of_range")
    )
    zeros = b.op("Expand", b.like(0.0, "X"), out_rows)
    flat = b.op(
        "ScatterElements", zeros, b.op("Reshape", "I", rows), b.op("Reshape", "X", rows), axis=1
    )
    return b.op("Reshape", flat, b.op("Concat", z.lead, z.out_hw, axis=0))


# ------------------------------------------------------------------ emitting
def choose_variant(
    dtype: str, rank: int, target: str, kernel: Sequence[int], padding: Sequence[int]
) -> str:
    """The body for one call: ``"cpu"`` where onnxruntime's ``MaxUnpool`` can run it.

    That is float32, rank 4, off CUDA, and ``kernel - 2 * padding >= 1`` per dim: then
    torch's rule keeps every output dim >= the input's, which onnxruntime's ``MaxUnpool``
    requires (it refuses an ``output_shape`` smaller than its kernel-1 inferred shape).

    >>> choose_variant("float32", 4, "any", (2, 2), (0, 0))
    'cpu'
    >>> choose_variant("float32", 4, "any", (2, 2), (1, 1)), choose_variant("float16", 4, "cpu",
    ...                                                                     (2, 2), (0, 0))
    ('portable', 'portable')
    """
    fits = all(k - 2 * p >= 1 for k, p in zip(kernel, padding, strict=True))
    return "cpu" if dtype == "float32" and rank == 4 and target != "cuda" and fits else "portable"


def add_function(g: GraphLike, variant: str) -> None:
    """Carry the body in ``g``; a portable body, once there, serves every later call."""
    present = g.functions.get((DOMAIN, OP))
    if present is not None and VARIANTS.index(body_variant(present)) >= VARIANTS.index(variant):
        return
    g.add_function(function(variant, g.opset), VERSION)


def emit(
    g: GraphLike,
    x: str,
    indices: str,
    output_size: str,
    output: str,
    *,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    variant: str,
    name: str,
) -> None:
    """Emit one ``ai.onnxlayers::MaxUnpool2d`` node (and carry its function)."""
    add_function(g, variant)
    g.op(
        OP,
        x,
        indices,
        output_size,
        outputs=[output],
        domain=DOMAIN,
        name=name,
        kernel_size=list(kernel),
        stride=list(stride),
        padding=list(padding),
    )


__all__ = [
    "GUARDS",
    "OP",
    "SCHEMA",
    "VARIANTS",
    "MaxUnpool2d",
    "add_function",
    "choose_variant",
    "emit",
    "function",
    "resolve_output_size",
    "unpool",
]
