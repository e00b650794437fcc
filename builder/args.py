"""torch's window arguments (pooling, unpooling): one normaliser, torch's output size, its checks.

Every window layer (``MaxPool2d``, ``AvgPool2d``, ``MaxUnpool2d``...) reads ``kernel_size``,
``stride``, ``padding`` and ``dilation`` through :func:`pair` / :func:`pool_geometry`, so the
int-or-tuple rule, ``stride=None`` meaning ``kernel_size`` and the error messages are the same
everywhere. :func:`pooling_output_shape` and :func:`pool2d_shape_check` restate torch's
``aten/src/ATen/native/Pool.h`` (including ceil_mode's rule that a last window starting in the
right padding is dropped). The output size formula is written once, over ints or graph values
(:mod:`onnxlayers.builder.shape_algebra`): ``infer`` checks static shapes with it and the
pooling lowering computes dynamic output sizes in the graph with it.

>>> geo = pool_geometry("MaxPool2d", 3, None, 1, ceil_mode=True)
>>> geo.stride, geo.output_size((56, 56))
((3, 3), (19, 19))
>>> pair("MaxUnpool2d", "kernel_size", (2, 3))
(2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import LayerArgumentError, LayerTypeError, ShapeError
from .layer import check_number
from .shape_algebra import Int, indicator
from .tensor import Dim

Pair = tuple[int, int]
"""A (height, width) pair of ints."""


def pair(layer: str, name: str, value: Any, *, minimum: int = 1) -> Pair:
    """torch's "a single int, or a tuple of two ints" as an ``(h, w)`` pair, validated.

    A 1-tuple repeats its int, as torch does. ``layer`` names the layer in errors (its
    :attr:`~onnxlayers.builder.layer.Layer.label`); every int must be ``>= minimum``.

    >>> pair("MaxPool2d", "padding", [1], minimum=0)
    (1, 1)
    >>> try:
    ...     pair("MaxPool2d 'pool1'", "kernel_size", (3, 0))
    ... except LayerArgumentError as e:
    ...     print(e)
    MaxPool2d 'pool1': kernel_size[1]=0 is invalid; expected an int >= 1
    """
    if isinstance(value, (list, tuple)):
        if len(value) not in (1, 2):
            raise LayerArgumentError(
                f"{layer}: {name}={value!r} is invalid; expected a single int or a tuple of "
                "two ints"
            )
        items = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
    else:
        items = [(name, value)]
    ints = [
        int(
            check_number(
                layer, label, v, kind=int, ok=lambda v: v >= minimum, allowed=f"an int >= {minimum}"
            )
        )
        for label, v in items
    ]
    return (ints[0], ints[-1])


def stride_pair(layer: str, stride: Any, kernel: Pair) -> Pair:
    """torch's stride: ``None`` or an empty tuple means the kernel size, else :func:`pair`.

    >>> stride_pair("AvgPool2d", None, (2, 3)), stride_pair("AvgPool2d", (), (2, 3))
    ((2, 3), (2, 3))
    """
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return kernel
    return pair(layer, "stride", stride, minimum=1)


def check_flag(layer: str, name: str, value: Any) -> bool:
    """A bool argument that torch's functional API types as ``bool`` (``1`` is rejected).

    >>> check_flag("AvgPool2d", "ceil_mode", True)
    True
    """
    if not isinstance(value, bool):
        raise LayerTypeError(f"{layer}: {name}={value!r} is invalid; expected True or False")
    return bool(value)


@dataclass(frozen=True)
class PoolGeometry:
    """A validated 2-D window: kernel, stride, padding (both sides), dilation, ceil_mode."""

    kernel: Pair
    stride: Pair
    padding: Pair
    dilation: Pair = (1, 1)
    ceil_mode: bool = False

    @property
    def span(self) -> Pair:
        """The dilated kernel's extent: ``dilation * (kernel - 1) + 1`` per axis."""
        return (
            self.dilation[0] * (self.kernel[0] - 1) + 1,
            self.dilation[1] * (self.kernel[1] - 1) + 1,
        )

    def axis(self, i: int) -> tuple[int, int, int, int]:
        """``(kernel, padding, stride, dilation)`` of spatial axis ``i`` (0: H, 1: W).

        The order of :func:`pooling_output_shape`'s (and torch's) arguments.
        """
        return self.kernel[i], self.padding[i], self.stride[i], self.dilation[i]

    def output_size(self, size: Sequence[int]) -> Pair:
        """torch's output (H, W) for an input of spatial ``size`` (may be < 1: rejected)."""
        h, w = (pooling_output_shape(size[i], *self.axis(i), self.ceil_mode) for i in (0, 1))
        return (h, w)


def pool_geometry(
    layer: str,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: Any = False,
) -> PoolGeometry:
    """Normalise and validate torch's pooling arguments, as ``max_pool2d`` / ``avg_pool2d`` do.

    Rejected like torch: kernel, stride or dilation < 1, negative padding, and padding greater
    than half the kernel (``pad <= kernel // 2``, which also implies torch's "at most half of
    the effective kernel" rule).

    >>> pool_geometry("AvgPool2d", (3, 2), padding=(1, 0)).stride
    (3, 2)
    >>> try:
    ...     pool_geometry("MaxPool2d", 3, padding=2)
    ... except LayerArgumentError as e:
    ...     print(e)
    MaxPool2d: padding=(2, 2) is invalid; expected at most half the kernel_size (3, 3): <= (1, 1)
    """
    kernel = pair(layer, "kernel_size", kernel_size, minimum=1)
    geo = PoolGeometry(
        kernel=kernel,
        stride=stride_pair(layer, stride, kernel),
        padding=pair(layer, "padding", padding, minimum=0),
        dilation=pair(layer, "dilation", dilation, minimum=1),
        ceil_mode=check_flag(layer, "ceil_mode", ceil_mode),
    )
    limit = (kernel[0] // 2, kernel[1] // 2)
    if geo.padding[0] > limit[0] or geo.padding[1] > limit[1]:
        raise LayerArgumentError(
            f"{layer}: padding={geo.padding!r} is invalid; expected at most half the "
            f"kernel_size {kernel!r}: <= {limit!r}"
        )
    return geo


def pooling_output_shape(
    size: Int,
    kernel: int,
    pad: int,
    stride: int,
    dilation: int,
    ceil_mode: bool,
    *,
    drop_rule: bool = True,
) -> Int:
    """torch's ``pooling_output_shape`` for one axis: floor division, then ceil's drop rule.

    With ``ceil_mode`` a last window that would start in the right padding is dropped;
    ``drop_rule=False`` leaves it (ONNX's shape inference, which lacks the rule). ``size`` is an
    int, or a :class:`~onnxlayers.builder.shape_algebra.Val` while lowering: the same formula
    then gives the output size in the graph (valid where torch accepts the size: >= 1).

    >>> pooling_output_shape(5, 2, 0, 2, 1, True), pooling_output_shape(5, 2, 1, 2, 1, True)
    (3, 3)
    >>> pooling_output_shape(5, 2, 1, 2, 1, True, drop_rule=False)
    4
    """
    span = dilation * (kernel - 1) + 1
    out = (size + (2 * pad - span + (stride - 1 if ceil_mode else 0))) // stride + 1
    if ceil_mode and drop_rule:
        out = out - indicator((out - 1) * stride >= size + pad)
    return out


def pool2d_shape_check(layer: str, shape: Sequence[Dim], geo: PoolGeometry) -> tuple[Dim, Dim]:
    """torch's ``pool2d_shape_check`` on the static dims of a rank-3 or rank-4 ``shape``.

    Every dim but the batch must be non-zero and the output at least 1x1 ("Output size is too
    small"); dynamic dims (str or None) are left to the run-time guard. Returns the output
    (H, W): ints where the input's are static, None otherwise.

    >>> pool2d_shape_check("MaxPool2d", ("N", 3, 8, "W"), pool_geometry("MaxPool2d", 2))
    (4, None)
    >>> try:
    ...     pool2d_shape_check("MaxPool2d", (1, 4, 4), pool_geometry("MaxPool2d", 5))
    ... except ShapeError as e:
    ...     print(e)
    MaxPool2d: output size is too small: input (C, H, W) (1, 4, 4) gives an output of (0, 0) ...
    """
    names = "(C, H, W)" if len(shape) == 3 else "(N, C, H, W)"
    for i, d in enumerate(shape):
        if d == 0 and not (len(shape) == 4 and i == 0):
            raise ShapeError(
                f"{layer}: input {names} {tuple(shape)!r} has a zero-sized dim {i}; only the "
                "batch dim of a rank-4 input may be 0"
            )
    h, w = shape[-2], shape[-1]
    out: list[Dim] = [None, None]
    for i, size in enumerate((h, w)):
        if isinstance(size, int):
            out[i] = pooling_output_shape(size, *geo.axis(i), geo.ceil_mode)
    if any(isinstance(o, int) and o < 1 for o in out):
        shown = tuple("?" if o is None else o for o in out)
        raise ShapeError(
            f"{layer}: output size is too small: input {names} {tuple(shape)!r} gives an "
            f"output of {shown!r} with kernel_size={geo.kernel!r}, stride={geo.stride!r}, "
            f"padding={geo.padding!r}, dilation={geo.dilation!r}, ceil_mode={geo.ceil_mode!r}; "
            "every output dim must be >= 1"
        )
    return out[0], out[1]
