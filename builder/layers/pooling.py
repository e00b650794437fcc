"""``MaxPool2d`` and ``AvgPool2d``: torch's 2-D pooling, exactly, lowered for onnxruntime.

Arguments are torch's (an int or a tuple of two ints; ``stride=None`` means ``kernel_size``),
normalised and validated by :mod:`onnxlayers.builder.args`. Inputs are (N, C, H, W) or
(C, H, W), float32, float64 or float16; any dim may be dynamic.

>>> from onnxlayers.builder import Input
>>> y, i = MaxPool2d(3, 2, 1, return_indices=True)(Input("x", ("N", 64, 56, 56)))
>>> y.shape, i.dtype
(('N', 64, 28, 28), 'int64')
>>> AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=7)(Input("x", (64, 55, 55))).shape
(64, 28, 28)

How each case is lowered (as measured with onnxruntime 1.32 on CPU against torch 2.13):

* **MaxPool2d values.** onnxruntime's ``MaxPool`` matches torch on a dense grid of
  kernel/stride/padding/dilation/ceil_mode, but it skips NaN (or not, depending on where in the
  window it is) and returns the lowest finite float for a window whose valid elements are all
  -inf (its blocked NCHWc kernel, used when the channel count is a known multiple of 8, for
  every such window; its plain one only at padded edges).
  A float32 pool of a tensor some layer wrote (inside a network) has no ``If``: the fast
  ``MaxPool``'s output is multiplied by a factor that is NaN for windows holding NaN and 2 for
  all -inf windows, from ``AveragePool`` and ``HardSigmoid`` (:meth:`_MaxCore.masked_values`),
  ops onnxruntime also runs in NCHWc, so the convolutions around the pool keep their layout and
  fusions (an ``If`` made ResNet-18 4% and SqueezeNet 1.1 17% slower than torch's exporter's
  graph). After a layer with a finite :meth:`~onnxlayers.builder.layer.Layer.output_floor`
  (a ReLU), no window is all -inf and the factor is cheaper. Otherwise the graph sums the
  input (:func:`nonfinite`: per-plane ``ReduceSum`` then the
  total, one pass on every core, where a whole-tensor ``ReduceSum`` runs on one) and an ``If``
  runs the plain ``MaxPool`` when the sum is finite, and otherwise an exact branch: ``MaxPool``
  with its ``Indices`` output (a slower kernel that keeps -inf) plus a NaN overlay, ``MaxPool``
  over a map holding each element's plane index where it is NaN and -1 elsewhere: its window
  maximum is torch's index of the last NaN in the window, and where it is >= 0 the value is
  NaN. The ``If`` itself costs little (~0.1 ms); what made this ~1.5x a bare ``MaxPool`` was
  a whole-tensor ``ReduceSum`` (one thread) and onnxruntime's rewrite of a float32
  ``MaxPool`` whose channel count it knows into its blocked (NCHWc) kernel, inside ``If``
  branches too, with a reorder pass in and one out: for a pool alone, twice the plain kernel's
  time. The fast branch hides the channel count (:meth:`_MaxCore.values`), so the plain kernel
  runs and writes the ``If``'s output directly. At (32, 64, 56, 56), ``MaxPool2d(2, 2)`` now
  takes ~0.8x a bare ``MaxPool`` in a default session, ``MaxPool2d(3, 2, 1)`` ~0.8x.
* **MaxPool2d indices.** ``MaxPool``'s ``Indices`` are flat over N*C*H*W; subtracting each
  plane's start ((n*C + c)*H*W, an (N, C, 1, 1) constant, or built from ``Shape`` when N or C
  is dynamic) gives torch's per-plane index with one broadcast ``Sub`` on the output (``Mod``
  costs 7x more); the input is read once. The ``If`` branches both pool (no output copies) and
  the non-finite one adds the NaN overlay to values and indices. The ``Indices`` kernel itself
  is a scalar loop about as fast as torch's: this output costs ~0.9x torch, not less. The
  ``If`` also returns the flat indices (the kernel writes them anyway) and, where each index
  lies in its plane, the lowering records them (:class:`RawIndices`): a ``MaxUnpool2d`` of the
  same geometry feeds them to ONNX ``MaxUnpool`` as they are
  (:mod:`onnxlayers.builder.layers.unpool`).
* **ceil_mode.** ONNX's shape inference lacks ceil_mode's drop rule (onnxruntime has it), so
  the attribute is only written where inference agrees with torch: a window is dropped only
  where none hangs past the padding, and then plain floor mode gives torch's size. Otherwise
  ``MaxPool`` with static H and W takes the overhang as extra end padding (skipped exactly
  like ceil's), and ``AveragePool`` keeps ceil_mode (its divisor clips the overhang as torch
  does); see :class:`_MaxCore` and :meth:`AvgPool2d.mean` for the remaining cases.
* **Empty windows.** With dilation, a window can hold no valid element at all (torch gives
  -inf and the index of the first tap at or past the input's start); onnxruntime gives the
  lowest float and -3. Where such windows exist (static shapes) or may exist (dynamic H/W with
  dilation > 1), a ``Where`` writes torch's values and indices there.
* **AvgPool2d.** onnxruntime's ``AveragePool`` with torch's count_include_pad and ceil_mode
  divides exactly as torch does (checked on a dense grid); it runs onnxruntime's blocked
  (NCHWc) MLAS kernel when the channel count is static (1.5 ms faster than a depthwise
  ``Conv`` of ones at 32x64x56x56), a generic loop otherwise. ``divisor_override`` has no
  attribute: the mean over valid elements (count_include_pad=0) is rescaled by
  ``count / override``, an (OH, OW) constant or a map computed from the output grid. float16
  is averaged in float32 and rounded once (torch accumulates half in float). float64 has no
  CPU ``AveragePool``: a ``Sum`` of shifted strided ``Slice``s of the zero-padded input,
  divided by torch's divisor.
* **target="cuda"**: the CUDA provider has had bugs with asymmetric pads, ceil_mode and
  dilation with pads in pooling, so every window op there gets an explicit ``Pad`` (-inf for
  max, 0 for sums, the ceil overhang included) and runs with zero pads and no ceil_mode.
  Its ``MaxPool`` ``Indices`` kernel is not used at all (it scans windows column by column and
  gives index -1 and an out-of-bounds value when a window's maximum is its first element
  beyond float precision, -inf or NaN): indices come from comparing each window tap (a
  strided ``Slice``) with the maximum, the first match in torch's order winning, and all -inf
  windows get torch's index (their first tap may be padding); the maxima of the exact branch
  are ``Max`` of the same taps. Averages pool the zero-padded input (whole windows) and
  rescale by ``kh * kw / divisor`` (no ``Conv``: the CUDA provider may run it in TF32).
  The same graphs run on CPU and give the CPU lowering's values (within float rounding for
  averages).
* **Dynamic H/W**: sizes, pads, divisor maps and index maps are computed in the graph. torch's
  "output size is too small" (and its zero-sized C/H/W) cannot be checked while building, so
  the graph carries a guard: a ``Range`` whose step is 0 when the input is too small, named
  ``"<Layer> '<node>': output size is too small ..."``; onnxruntime's error names that node,
  and nothing downstream runs, so no empty or clipped output reaches the user.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..args import (
    PoolGeometry,
    check_flag,
    pool2d_shape_check,
    pool_geometry,
    pooling_output_shape,
)
from ..graph import GraphBuilder, LowerCall
from ..layer import Example, Layer, check_number
from ..registry import register_layer
from ..shape_algebra import I64, Val, concat
from ..tensor import DTYPES, Dim, TensorSpec

F32_EXACT_INTS = 2**24
"""float32 holds every int below this exactly (plane indices in the NaN map)."""


# --------------------------------------------------------------------------- graph helpers
def nonfinite(g: GraphBuilder, x: str, dtype: str, hint: str) -> str:
    """A bool scalar: does ``x`` (rank >= 2) hold a NaN or an infinity? (may also say so on
    overflow).

    Sums: any NaN or inf makes them non-finite. onnxruntime sums a whole tensor on one thread,
    and the rows of a partial reduction on all of them, so the last two axes are summed first
    (one pass over ``x``), then their sums. float16 sums ``x * 0`` (0 or NaN) so that large
    finite inputs do not overflow the sum.
    """
    if dtype == "float16":
        x = g.op("Mul", x, g.const(0, dtype, f"{hint}/zero"), name=f"{hint}/zeroed")
    planes = g.op(
        "ReduceSum", x, g.ints([-2, -1], f"{hint}/axes"), keepdims=0, name=f"{hint}/plane_sums"
    )
    total = g.op("ReduceSum", planes, keepdims=0, name=f"{hint}/sum")
    return str(
        g.op(
            "IsNaN",
            g.op("Sub", total, total, name=f"{hint}/sum_minus_sum"),
            name=f"{hint}/nonfinite",
        )
    )


# --------------------------------------------------------------------------- one call's geometry
class Site:
    """One pooling call being lowered: the 4-D input, its sizes and the output grid.

    Static dims are numbers; dynamic ones come from ``Shape`` and the input is routed through
    the "output size is too small" guard.
    """

    def __init__(self, layer: Layer, g: GraphBuilder, c: LowerCall, geo: PoolGeometry) -> None:
        self.g, self.c, self.geo = g, c, geo
        spec = c.specs[0]
        self.rank, self.dtype = spec.ndim, spec.dtype
        dims: tuple[Dim, ...] = ((1,) if spec.ndim == 3 else ()) + tuple(spec.shape)
        self.dims, self.channels = dims, dims[1]
        x = c.inputs[0]
        self.x = (
            x
            if spec.ndim == 4
            else str(g.op("Unsqueeze", x, g.ints([0], f"{c.node}/axes"), name=f"{c.node}/batched"))
        )
        self.size = (self._dim(dims[2], 2), self._dim(dims[3], 3))
        self._lead: tuple[Val, Val] | None = None
        self.out = tuple(
            pooling_output_shape(self.size[i], *geo.axis(i), geo.ceil_mode) for i in (0, 1)
        )
        self._guard(type(layer).__name__)

    # ---------------------------------------------------------------- sizes
    def _dim(self, d: Dim, axis: int) -> Val:
        """Dim ``axis`` of the 4-D input: a number when static, else read with ``Shape``."""
        if isinstance(d, int):
            return Val(self.g, np.asarray(d, I64), self.c.node)
        g = self.g
        one = g.op("Shape", self.x, start=axis, end=axis + 1, name=f"{self.c.node}/dim{axis}")
        return Val(
            g,
            str(
                g.op(
                    "Squeeze",
                    one,
                    g.ints([0], f"{self.c.node}/axes"),
                    name=f"{self.c.node}/dim{axis}",
                )
            ),
            self.c.node,
        )

    @property
    def lead(self) -> tuple[Val, Val]:
        """N and C of the 4-D input (read with ``Shape`` when dynamic, once)."""
        if self._lead is None:
            self._lead = (self._dim(self.dims[0], 0), self._dim(self.dims[1], 1))
        return self._lead

    def _guard(self, kind: str) -> None:
        """torch's checks on dynamic dims: output size >= 1, H, W (and C) >= 1."""
        checks = [
            v
            for i in (0, 1)
            if not self.size[i].known
            for v in (self.out[i] >= 1, self.size[i] >= 1)
        ]
        if not isinstance(self.channels, int):
            checks.append(self._dim(self.channels, 1) >= 1)
        if not checks:
            return
        g, node = self.g, self.c.node
        ok = checks[0]
        for v in checks[1:]:
            ok = ok.and_(v)
        zero = g.const(0, I64, f"{node}/guard")
        step = ok.as_int().name()
        passed = g.fresh(f"{node}/guard")
        g.nodes.append(
            helper.make_node(
                "Range",
                [zero, g.const(1, I64, f"{node}/guard"), step],
                [passed],
                name=f"{kind} {node!r}: output size is too small (the input's H or W plus padding "
                "is smaller than the dilated kernel, or a C/H/W dim is 0; torch rejects it)",
            )
        )
        shape = g.op(
            "Add", g.op("Shape", self.x, name=f"{node}/guard"), passed, name=f"{node}/guard"
        )
        self.x = str(g.op("Reshape", self.x, shape, name=f"{node}/guarded"))

    # ---------------------------------------------------------------- windows
    def starts(self, i: int) -> Val:
        """Where each output window starts along axis ``i`` (may be negative: padding)."""
        _, p, s, _ = self.geo.axis(i)
        return self.out[i].arange() * s - p

    def dropped(self, i: int) -> bool:
        """Whether ceil_mode's drop rule removed a window on static axis ``i``.

        ONNX's shape inference has no drop rule: there, attribute ceil_mode would disagree.
        """
        size = self.size[i]
        if not (self.geo.ceil_mode and isinstance(size.v, np.ndarray)):
            return False
        n, axis = int(size.v), self.geo.axis(i)
        return pooling_output_shape(n, *axis, True) != pooling_output_shape(
            n, *axis, True, drop_rule=False
        )

    def overhang(self, i: int) -> Val:
        """Padding past ``padding`` that ceil_mode's last window needs at the end of axis i."""
        k, p, s, d = self.geo.axis(i)
        if not self.geo.ceil_mode:  # floor mode: every window ends inside the padded input
            return Val(self.g, np.asarray(0, I64), self.c.node)
        return ((self.out[i] - 1) * s + (d * (k - 1) + 1) - self.size[i] - 2 * p).max(0)

    def pads(self) -> str:
        """``Pad``'s pads for the 4-D input: ``padding`` each side, plus the overhang at the end."""
        (ph, pw), (eh, ew) = self.geo.padding, (self.overhang(0), self.overhang(1))
        return concat(self.g, [0, 0, ph, pw, 0, 0, eh + ph, ew + pw], f"{self.c.node}/pads")

    def plane_offsets(self, plane: Val) -> Val:
        """Where each (n, c) plane starts in a flat N*C*plane index, shaped (N, C, 1, 1).

        ``MaxPool``'s indices minus these are torch's per-plane indices: a broadcast ``Sub``
        (cheaper than ``Mod``), with batch and channels dynamic when they are.
        """
        n, c = self.lead
        starts = (n * c).arange() * plane
        if isinstance(starts.v, np.ndarray):
            return Val(self.g, starts.v.reshape(int(n.v), int(c.v), 1, 1), self.c.node)
        shape = concat(self.g, [n, c, 1, 1], f"{self.c.node}/plane_offsets")
        return Val(
            self.g,
            str(self.g.op("Reshape", starts.name(), shape, name=f"{self.c.node}/plane_offsets")),
            self.c.node,
        )

    def grid(self, per_axis: Callable[[int], Val], op: Callable[[Val, Val], Val]) -> Val:
        """An (OH, OW) map ``op(per_axis(0)[:, None], per_axis(1)[None, :])``."""
        return op(per_axis(0).column(), per_axis(1))

    def finish(self, results: Sequence[str]) -> None:
        """Give the results the call's output names (dropping the batch dim for rank 3)."""
        for got, want in zip(results, self.c.outputs, strict=True):
            if self.rank == 3:
                self.g.op(
                    "Squeeze",
                    got,
                    self.g.ints([0], f"{self.c.node}/axes"),
                    outputs=[want],
                    name=f"{self.c.node}/unbatched",
                )
            else:
                self.g.rename(got, want)


# --------------------------------------------------------------------------- layers
class _Pool2d(Layer):
    """Shared constructor checks, shape inference and lowering entry of the 2-D pools."""

    geometry: PoolGeometry

    def infer(self, inputs: Sequence[TensorSpec], **call_args: Any) -> list[TensorSpec]:
        self.expect_arity(inputs, 1)
        x = inputs[0]
        self.check_input(x, ranks=(3, 4))
        oh, ow = pool2d_shape_check(self.label, x.shape, self.geometry)
        out = TensorSpec((*x.shape[:-2], oh, ow), x.dtype)
        return self._outputs(out)

    def _outputs(self, out: TensorSpec) -> list[TensorSpec]:
        return [out]

    def _geometry_args(self) -> dict[str, Any]:
        geo = self.geometry
        return {"kernel_size": geo.kernel, "stride": geo.stride, "padding": geo.padding}

    def emit(self, g: GraphBuilder, c: LowerCall) -> None:
        site = Site(self, g, c, self.geometry)
        site.finish(self.lower(site))

    def lower(self, site: Site) -> list[str]:
        """The 4-D results of this pooling (their names are fixed up by :meth:`Site.finish`)."""
        raise NotImplementedError


@register_layer
class MaxPool2d(_Pool2d):
    """``MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
    ceil_mode=False)``: torch's max pooling, NaN propagating, with torch's per-plane indices.

    >>> from onnxlayers.builder import Input
    >>> MaxPool2d((2, 3), dilation=2, ceil_mode=True)(Input("x", (1, 1, 9, 9))).shape
    (1, 1, 4, 3)
    """

    copies = True

    examples = (
        Example(
            {
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "dilation": 2,
                "return_indices": True,
                "ceil_mode": True,
            },
            ((2, 3, 9, 8),),
        ),
        Example({"kernel_size": 2}, ((2, 3, 8, 8),)),
    )
    torch_functions = ("F.max_pool2d", "F.max_pool2d_with_indices", "torch.max_pool2d")

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.geometry = pool_geometry(self.label, kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

    def torch_args(self) -> dict[str, Any]:
        return {
            **self._geometry_args(),
            "dilation": self.geometry.dilation,
            "return_indices": self.return_indices,
            "ceil_mode": self.geometry.ceil_mode,
        }

    def _outputs(self, out: TensorSpec) -> list[TensorSpec]:
        return [out, TensorSpec(out.shape, I64)] if self.return_indices else [out]

    def lower(self, site: Site) -> list[str]:
        core = _MaxCore(site)
        g, node = site.g, site.c.node
        if not self.return_indices and (y := core.masked_values()) is not None:
            return [core.fix_empty(y)]
        cond = nonfinite(g, site.x, site.dtype, f"{node}/check")
        if not self.return_indices:
            (y,) = g.if_(
                cond,
                lambda b: [core.exact_values(b)],
                lambda b: [core.values(b, cond)],
                [(site.dtype, 4)],
                f"{node}/nan_or_inf",
            )
            return [core.fix_empty(y)]
        # Both branches pool (no copies of the outputs); only one runs.
        y, i, *whole = g.if_(
            cond,
            lambda b: core.nan_overlay(b, *core.indices(b)),
            core.indices,
            [(site.dtype, 4)] + [(I64, 4)] * (1 + core.whole),
            f"{node}/nan",
        )
        y = core.fix_empty(y)
        fixed = core.fix_minus_inf_indices(y, i)
        if whole and fixed == i and site.rank == 4:
            g.facts[site.c.outputs[1]] = RawIndices(
                whole[0], site.c.inputs[0], site.dims[2:], site.geo
            )
        return [y, fixed]


@dataclass(frozen=True)
class RawIndices:
    """A ``MaxPool2d``'s indices before the plane offsets are taken off: ``flat`` indexes the
    whole (N, C, H, W) input ``source`` (H, W = ``plane``), as ONNX ``MaxUnpool`` wants them.

    The lowering records them in ``GraphBuilder.facts`` under the name of torch's per-plane
    indices where each of those lies in its plane (no window can be empty), so that a
    ``MaxUnpool2d`` of the same ``geometry`` scattering into planes of ``source``'s size uses
    them as they are (see :mod:`onnxlayers.builder.layers.unpool`).
    """

    flat: str
    source: str
    plane: tuple[Dim, ...]
    geometry: PoolGeometry


class _MaxCore:
    """The target's max-pooling primitives for one call.

    Target "any" (CPU): ``MaxPool`` with pads attributes. ONNX's shape inference lacks
    ceil_mode's drop rule (onnxruntime has it), so with static H and W ceil_mode becomes end
    padding (pads are skipped exactly like ceil's overhang, and where a window is dropped no
    overhang is needed) when onnxruntime allows it (pads below the undilated kernel); else the
    ceil_mode attribute, kept only if no static axis drops a window. Otherwise (a dynamic axis
    beside a static one that drops), and always on CUDA: an explicit ``Pad`` with -inf (ceil
    overhang included), then ``MaxPool`` with zero pads.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self._empty: Val | None = None
        self._offsets: str | None = None
        geo, g = site.geo, site.g
        self.attrs: dict[str, Any] = {
            "kernel_shape": list(geo.kernel),
            "strides": list(geo.stride),
            "dilations": list(geo.dilation),
        }
        (ph, pw), over = geo.padding, (site.overhang(0), site.overhang(1))
        self.cuda = self.padded = site.c.target == "cuda"
        self.src = site.x
        if not self.padded and all(o.known for o in over):
            ends = [p + int(np.asarray(o.v)) for p, o in zip(geo.padding, over, strict=True)]
            if ends[0] < geo.kernel[0] and ends[1] < geo.kernel[1]:
                self.attrs["pads"] = [ph, pw, *ends]  # no ceil_mode needed
                return
        if not self.padded and not any(site.dropped(i) for i in (0, 1)):
            self.attrs.update(pads=[ph, pw, ph, pw], ceil_mode=int(geo.ceil_mode))
            return
        self.padded = True
        self.src = g.op(
            "Pad",
            site.x,
            site.pads(),
            g.const(-np.inf, site.dtype, f"{site.c.node}/minus_inf"),
            name=f"{site.c.node}/padded",
        )

    @property
    def whole(self) -> bool:
        """Whether :meth:`indices` also gives ``MaxPool``'s whole-tensor indices."""
        return not self.padded

    def offsets(self) -> str:
        """Where each (n, c) plane starts in a whole-tensor index (one tensor per call)."""
        if self._offsets is None:
            h, w = self.site.size
            self._offsets = self.site.plane_offsets(h * w).name()
        return self._offsets

    def masked_values(self) -> str | None:
        """torch's values with no ``If``, for a float32 CPU pool of a tensor some layer wrote
        (None where this does not apply: the ``If`` lowering is used).

        onnxruntime's fast ``MaxPool`` skips NaN and gives the lowest float for all -inf
        windows; its output is multiplied by a factor from ops it also runs in its blocked
        (NCHWc) layout, so the layout chain from the convolution before to the one after is
        not broken (an ``If`` breaks it: reorder passes, and the next convolution's fused
        residual ``Add`` is lost). ``AveragePool`` propagates NaN:

        * input with a finite floor (a ReLU's): ``HardSigmoid(AveragePool(x), 2**-126, 1)`` is
          1 for any window mean, inf included, and NaN for a NaN window;
        * otherwise ``u = HardSigmoid(x, 2**-126, 5)`` is 0 for -inf, 1 for every other
          number (``2**-126 * x`` is within +-4) and NaN for NaN; its window mean ``a`` is 0
          only where every valid element is -inf, and the factor ``HardSigmoid(a, -2k, 1) +
          HardSigmoid(a, 0, 1)`` (k taps) is 2 there (lowest float * 2 = -inf), 1 elsewhere.

        Zero padding (``count_include_pad``) and ceil's clipped windows keep both means
        positive wherever a valid element is. A graph input keeps the ``If``: with no layout
        chain to keep, its plain-kernel branch (:meth:`values`) is the faster one.
        """
        site, g = self.site, self.site.g
        x, node, geo = site.x, site.c.node, site.geo
        if (
            self.cuda
            or self.padded
            or site.dtype != "float32"
            or site.c.inputs[0] in g.inputs
            or (geo.dilation != (1, 1) and g.opset < 19)  # AveragePool's dilations: opset 19
        ):
            return None
        window = {k: v for k, v in self.attrs.items() if k != "dilations"}
        if geo.dilation != (1, 1):
            window["dilations"] = list(geo.dilation)
        tiny = float(np.float32(2.0**-126))

        def mean(t: str) -> str:
            return str(g.op("AveragePool", t, count_include_pad=1, name=f"{node}/mean", **window))

        if g.floors.get(site.c.inputs[0], -np.inf) > -1e30:  # window sums cannot reach -inf
            factor = g.op("HardSigmoid", mean(x), alpha=tiny, beta=1.0, name=f"{node}/nan_mask")
        else:
            a = mean(g.op("HardSigmoid", x, alpha=tiny, beta=5.0, name=f"{node}/not_minus_inf"))
            taps = geo.kernel[0] * geo.kernel[1]
            factor = g.op(
                "Add",
                g.op("HardSigmoid", a, alpha=-2.0 * taps, beta=1.0, name=f"{node}/all_minus_inf"),
                g.op("HardSigmoid", a, alpha=0.0, beta=1.0, name=f"{node}/nan_mask"),
                name=f"{node}/factor",
            )
        y = g.op("MaxPool", self.src, name=node, **self.attrs)
        return str(g.op("Mul", y, factor, name=f"{node}/exact"))

    def values(self, g: GraphBuilder, cond: str) -> str:
        """Fast values (NaN skipped, all -inf windows may give the lowest float), for the
        branch where the 0-d bool ``cond`` is false.

        onnxruntime rewrites a float32 ``MaxPool`` whose channel count it knows to its blocked
        (NCHWc) kernel, with a reorder pass in and one out: for a pool alone that is twice the
        work of its plain kernel. The input is therefore reshaped to its own shape plus
        ``cond`` (0 here), which its optimiser cannot fold: the channel count stays unknown.
        """
        src = self.src
        if not self.cuda and self.site.dtype == "float32":
            node = self.site.c.node
            shape = g.op(
                "Add",
                g.op("Shape", src, name=f"{node}/opaque"),
                g.op("Cast", cond, to=onnx.TensorProto.INT64, name=f"{node}/opaque"),
                name=f"{node}/opaque",
            )
            src = g.op("Reshape", src, shape, name=f"{node}/opaque")
        return str(g.op("MaxPool", src, name=self.site.c.node, **self.attrs))

    def indices(self, g: GraphBuilder) -> list[str]:
        """Values (-inf kept; NaN windows are left to the overlay), torch's plane indices and,
        where :attr:`whole`, ``MaxPool``'s own whole-tensor indices."""
        if self.cuda:
            taps = self.taps(g)
            y = self.tap_max(g, taps)
            return [y, self.tap_indices(g, taps, y)]
        site = self.site
        y, flat = g.op("MaxPool", self.src, outputs=2, name=site.c.node, **self.attrs)
        if not self.padded:
            return [
                y,
                str(g.op("Sub", flat, self.offsets(), name=f"{site.c.node}/plane_index")),
                flat,
            ]
        h, w = site.size
        (eh, ew), (ph, pw) = (site.overhang(0), site.overhang(1)), site.geo.padding
        wide = w + (2 * pw) + ew
        offsets = site.plane_offsets((h + (2 * ph) + eh) * wide)
        q = Val(
            g,
            str(g.op("Sub", flat, offsets.name(), name=f"{site.c.node}/padded_index")),
            site.c.node,
        )
        # q >= 0: ONNX's truncating Div is the floor division here (no Mod on a whole tensor)
        row = Val(
            g,
            str(g.op("Div", q.name(), wide.name(), name=f"{site.c.node}/padded_row")),
            site.c.node,
        )
        return [y, (q - row * (wide - w) - (w * ph + pw)).name()]

    def taps(self, g: GraphBuilder) -> list[str]:
        """Every window tap, row by row: a strided ``Slice`` of the padded input each."""
        site, geo, node = self.site, self.site.geo, self.site.c.node
        (kh, kw), (dh, dw) = geo.kernel, geo.dilation
        reach = [(site.out[a] - 1) * geo.stride[a] + 1 for a in (0, 1)]
        axes, steps = g.ints([2, 3], f"{node}/axes"), g.ints(list(geo.stride), f"{node}/steps")
        return [
            str(
                g.op(
                    "Slice",
                    self.src,
                    g.ints([i * dh, j * dw], f"{node}/tap_starts"),
                    concat(g, [reach[0] + i * dh, reach[1] + j * dw], f"{node}/tap_ends"),
                    axes,
                    steps,
                    name=f"{node}/tap",
                )
            )
            for i, j in itertools.product(range(kh), range(kw))
        ]

    def tap_max(self, g: GraphBuilder, taps: list[str]) -> str:
        """The window maxima as ``Max`` of the taps (-inf kept on every provider)."""
        node = self.site.c.node
        return (
            str(g.op("Max", *taps, name=f"{node}/max"))
            if len(taps) > 1
            else str(g.op("Identity", taps[0], name=f"{node}/max"))
        )

    def tap_indices(self, g: GraphBuilder, taps: list[str], y: str) -> str:
        """torch's index as the first tap (row by row) of each window equal to its maximum.

        For CUDA: onnxruntime's CUDA ``MaxPool`` with ``Indices`` scans windows column by
        column (ties resolve differently from torch) and starts from ``first - 1``, so a window
        whose maximum is its first element beyond float precision (or -inf, or NaN) gets
        index -1 and a value read out of bounds; its values-only (cuDNN) kernel and
        onnxruntime's CPU one disagree on all -inf windows. Taps compared with their ``Max``
        avoid all of it; windows whose maximum is -inf are fixed afterwards
        (:meth:`fix_minus_inf_indices`), NaN windows by the overlay.
        """
        site, geo, node = self.site, self.site.geo, self.site.c.node
        (kh, kw), (dh, dw) = geo.kernel, geo.dilation
        none = g.const(0, "int32", f"{node}/no_match")
        codes = [
            g.op(
                "Where",
                g.op("Equal", tap, y, name=f"{node}/tap_is_max"),
                g.const(kh * kw - t, "int32", f"{node}/tap_code"),
                none,
                name=f"{node}/tap_code",
            )
            for t, tap in enumerate(taps)
        ]
        best = g.op("Max", *codes, name=f"{node}/first_max") if len(codes) > 1 else codes[0]
        first = g.op(
            "Sub",
            g.const(kh * kw, I64, f"{node}/taps"),
            g.op("Cast", best, to=onnx.TensorProto.INT64, name=f"{node}/first_max"),
            name=f"{node}/first_tap",
        )
        row = g.op("Div", first, g.const(kw, I64, f"{node}/kw"), name=f"{node}/tap_row")
        col = g.op(
            "Sub",
            first,
            g.op("Mul", row, g.const(kw, I64, f"{node}/kw"), name=f"{node}/tap_row"),
            name=f"{node}/tap_col",
        )
        w = site.size[1]
        base = site.grid(site.starts, lambda a, b: a * w + b).name()
        rows = g.op("Mul", row, (w * dh).name(), name=f"{node}/tap_row_offset")
        cols = g.op("Mul", col, g.const(dw, I64, f"{node}/dw"), name=f"{node}/tap_col_offset")
        return str(
            g.op(
                "Add",
                g.op("Add", rows, cols, name=f"{node}/tap_offset"),
                base,
                name=f"{node}/tap_index",
            )
        )

    def code_type(self) -> str:
        """float32 holds every plane index of a static plane below 2**24; else float64."""
        hw = self.site.size[0] * self.site.size[1]
        return "float32" if hw.known and int(np.asarray(hw.v)) < F32_EXACT_INTS else "float64"

    def nan_positions(self, g: GraphBuilder) -> str:
        """Per window: torch's index of its last NaN, or a negative number when it has none."""
        site, ftype = self.site, self.code_type()
        node = site.c.node
        h, w = site.size
        if h.known and w.known:
            plane = g.const(
                np.arange(int(h.v) * int(w.v)).reshape(int(h.v), int(w.v)), ftype, f"{node}/plane"
            )
        else:
            flat = g.op("Cast", (h * w).arange().name(), to=DTYPES[ftype], name=f"{node}/plane")
            plane = g.op("Reshape", flat, concat(g, [h, w], f"{node}/plane"), name=f"{node}/plane")
        none = g.const(-1, ftype, f"{node}/none")
        code = g.op(
            "Where",
            g.op("IsNaN", site.x, name=f"{node}/isnan"),
            plane,
            none,
            name=f"{node}/nan_code",
        )
        if self.padded:
            code = g.op("Pad", code, site.pads(), none, name=f"{node}/nan_code")
        return str(g.op("MaxPool", code, name=f"{node}/nan_pool", **self.attrs))

    def nan_overlay(
        self, g: GraphBuilder, y: str, i: str | None = None, whole: str | None = None
    ) -> list[str]:
        """``y`` (and ``i``, ``whole``) with torch's NaN values (and indices) where windows
        hold NaN."""
        node = self.site.c.node
        pos = self.nan_positions(g)
        has = g.op(
            "GreaterOrEqual",
            pos,
            g.const(0, self.code_type(), f"{node}/zero"),
            name=f"{node}/has_nan",
        )
        out = [
            str(
                g.op(
                    "Where",
                    has,
                    g.const(np.nan, self.site.dtype, f"{node}/nan"),
                    y,
                    name=f"{node}/nan_values",
                )
            )
        ]
        if i is not None:
            where = g.op("Cast", pos, to=onnx.TensorProto.INT64, name=f"{node}/nan_index")
            out.append(str(g.op("Where", has, where, i, name=f"{node}/nan_indices")))
            if whole is not None:
                where = g.op("Add", where, self.offsets(), name=f"{node}/nan_whole_index")
                out.append(str(g.op("Where", has, where, whole, name=f"{node}/nan_whole")))
        return out

    def exact_values(self, g: GraphBuilder) -> str:
        """Values with torch's NaN and -inf. onnxruntime's fast CPU kernel turns all -inf
        windows into the lowest float, its ``Indices`` kernel does not; for CUDA, ``Max`` of
        the taps."""
        if self.cuda:
            y = self.tap_max(g, self.taps(g))
        else:
            y, _ = g.op("MaxPool", self.src, outputs=2, name=self.site.c.node, **self.attrs)
        return self.nan_overlay(g, y)[0]

    # ---------------------------------------------------------------- -inf and empty windows
    def first_taps(self, i: int) -> Val:
        """torch's initial index along axis ``i``: each window's first tap at or after 0."""
        _, _, _, d = self.site.geo.axis(i)
        start = self.site.starts(i)
        before = (start * -1).max(0)
        return start + (before + (d - 1)) // d * d

    def first_index(self) -> Val:
        w = self.site.size[1]
        return self.site.grid(self.first_taps, lambda a, b: a * w + b)

    def empty(self) -> Val | None:
        """An (OH, OW) bool map of windows with no valid element, or None when there are none."""
        if self._empty is None:
            if self.site.geo.dilation == (1, 1):
                return None  # a contiguous window always overlaps the input
            size = self.site.size
            mask = self.site.grid(lambda i: self.first_taps(i) >= size[i], Val.or_)
            self._empty = mask
        return self._empty if self._empty.any() else None

    def fix_empty(self, y: str) -> str:
        empty = self.empty()
        if empty is None:
            return y
        node = self.site.c.node
        return str(
            self.site.g.op(
                "Where",
                empty.name(),
                self.site.g.const(-np.inf, self.site.dtype, f"{node}/minus_inf"),
                y,
                name=f"{node}/empty_values",
            )
        )

    def fix_minus_inf_indices(self, y: str, i: str) -> str:
        """torch's index where a window's maximum is -inf: its first valid tap.

        onnxruntime's kernel already gives it except in empty windows when it pads; over an
        explicitly padded input a -inf window may pick a padding element, so every -inf window
        is rewritten.
        """
        g, node = self.site.g, self.site.c.node
        if self.padded:
            where = g.op(
                "Equal",
                y,
                g.const(-np.inf, self.site.dtype, f"{node}/minus_inf"),
                name=f"{node}/all_minus_inf",
            )
        else:
            empty = self.empty()
            if empty is None:
                return i
            where = empty.name()
        return str(
            g.op("Where", where, self.first_index().name(), i, name=f"{node}/minus_inf_indices")
        )


@register_layer
class AvgPool2d(_Pool2d):
    """``AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)``: torch's average pooling.

    >>> from onnxlayers.builder import Input
    >>> AvgPool2d(2)(Input("x", ("N", 3, "H", "W"))).shape
    ('N', 3, None, None)
    """

    examples = (
        Example(
            {
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "ceil_mode": True,
                "count_include_pad": False,
            },
            ((2, 3, 9, 8),),
        ),
        Example(
            {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 5},
            ((2, 3, 9, 8),),
        ),
    )
    torch_functions = ("F.avg_pool2d",)

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.geometry = pool_geometry(self.label, kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = check_flag(self.label, "count_include_pad", count_include_pad)
        self.divisor_override = (
            None
            if divisor_override is None
            else int(
                check_number(
                    self.label,
                    "divisor_override",
                    divisor_override,
                    kind=int,
                    ok=lambda v: v != 0,
                    allowed="None or a non-zero int",
                )
            )
        )

    def torch_args(self) -> dict[str, Any]:
        return {
            **self._geometry_args(),
            "ceil_mode": self.geometry.ceil_mode,
            "count_include_pad": self.count_include_pad,
            "divisor_override": self.divisor_override,
        }

    def lower(self, site: Site) -> list[str]:
        g, node = site.g, site.c.node
        work = "float32" if site.dtype == "float16" else site.dtype
        x = (
            site.x
            if work == site.dtype
            else str(g.op("Cast", site.x, to=DTYPES[work], name=f"{node}/to_float32"))
        )
        if work == "float64":  # no float64 AveragePool on CPU
            y = g.op(
                "Div",
                _sum_taps(site, x),
                Ratio(site, self.divisor(site)).as_float(work),
                name=f"{node}/mean",
            )
        else:
            y = self.mean(site, x)
        if work != site.dtype:
            y = g.op("Cast", y, to=DTYPES[site.dtype], name=f"{node}/to_float16")
        return [str(y)]

    def divisor(self, site: Site) -> Val:
        """torch's divisor: the override, or per window its size clipped to the padded input
        (``count_include_pad``) or its count of elements inside the input."""
        if self.divisor_override is not None:
            return Val(site.g, np.asarray(self.divisor_override, I64), site.c.node)
        return window_counts(site, self.count_include_pad)

    def mean(self, site: Site, x: str) -> str:
        """float32 means: onnxruntime's ``AveragePool``, rescaled where torch divides otherwise.

        On CPU the native attributes (ceil_mode, count_include_pad) give torch's divisor
        exactly (checked on a dense grid); ``divisor_override`` rescales the mean over valid
        elements by ``count / override``. ceil_mode is kept only where a window hangs past the
        padding (and then no static axis drops one, so ONNX's shape inference agrees); the
        rest, and CUDA, pool the explicitly zero-padded input, whose windows are all whole,
        and rescale ``kh * kw / divisor``.
        """
        g, geo, node = site.g, site.geo, site.c.node
        (kh, kw), (ph, pw) = geo.kernel, geo.padding
        attrs: dict[str, Any] = {"kernel_shape": [kh, kw], "strides": list(geo.stride)}
        hangs = [
            not o.known or int(np.asarray(o.v)) > 0 for o in (site.overhang(0), site.overhang(1))
        ]
        if site.c.target != "cuda" and not (any(hangs) and any(map(site.dropped, (0, 1)))):
            exclude = self.divisor_override is not None or not self.count_include_pad
            mean = g.op(
                "AveragePool",
                x,
                pads=[ph, pw, ph, pw],
                ceil_mode=int(any(hangs)),
                count_include_pad=int(not exclude),
                name=f"{node}/mean",
                **attrs,
            )
            if self.divisor_override is None:
                return str(mean)
            scale = Ratio(site, window_counts(site, False), self.divisor(site))
        else:
            padded = g.op(
                "Pad", x, site.pads(), g.const(0, "float32", f"{node}/zero"), name=f"{node}/padded"
            )
            mean = g.op("AveragePool", padded, name=f"{node}/mean", **attrs)
            whole = Val(g, np.asarray(kh * kw, I64), node)
            scale = Ratio(site, whole, self.divisor(site))
        if scale.is_one:
            return str(mean)
        return str(g.op("Mul", mean, scale.as_float("float32"), name=f"{node}/rescaled"))


@dataclass(frozen=True)
class Ratio:
    """``num / den`` of int64 :class:`Val` maps (``den`` 1 by default), as a float tensor."""

    site: Site
    num: Val
    den: Val | None = None

    @property
    def is_one(self) -> bool:
        den = self.den
        return (
            self.num.known
            and (den is None or den.known)
            and bool(np.all(np.asarray(self.num.v) == (1 if den is None else den.v)))
        )

    def as_float(self, dtype: str) -> str:
        """A constant (a scalar when uniform) when known, else computed in the graph."""
        g, node = self.site.g, self.site.c.node
        num, den = self.num, self.den
        if num.known and (den is None or den.known):
            value = np.asarray(num.v, np.float64) / (1 if den is None else np.asarray(den.v))
            if value.size and np.all(value == value.flat[0]):
                value = np.asarray(value.flat[0])
            return g.const(value, dtype, f"{node}/scale")
        out = g.op("Cast", num.name(), to=DTYPES[dtype], name=f"{node}/scale")
        if den is not None:
            out = g.op(
                "Div",
                out,
                g.op("Cast", den.name(), to=DTYPES[dtype], name=f"{node}/scale"),
                name=f"{node}/scale",
            )
        return str(out)


def window_counts(site: Site, include_pad: bool) -> Val:
    """Per window (an (OH, OW) map): its size clipped to the padded input, or its number of
    elements inside the input (torch's two ``avg_pool2d`` divisors)."""

    def count(i: int) -> Val:
        k, p, _, _ = site.geo.axis(i)
        start, size = site.starts(i), site.size[i]
        if include_pad:
            return (start + k).min(size + p) - start
        return (start + k).min(size) - start.max(0)

    return site.grid(count, Val.__mul__)


def _sum_taps(site: Site, x: str) -> str:
    """Window sums as a ``Sum`` of shifted strided ``Slice``s of the zero-padded input."""
    g, geo, node = site.g, site.geo, site.c.node
    padded = g.op(
        "Pad", x, site.pads(), g.const(0, site.dtype, f"{node}/zero"), name=f"{node}/padded"
    )
    (kh, kw), (sh, sw) = geo.kernel, geo.stride
    reach = [(site.out[a] - 1) * geo.stride[a] + 1 for a in (0, 1)]
    axes, steps = g.ints([2, 3], f"{node}/axes"), g.ints([sh, sw], f"{node}/steps")
    taps = []
    for i in range(kh):
        for j in range(kw):
            ends = concat(g, [reach[0] + i, reach[1] + j], f"{node}/ends")
            taps.append(
                g.op(
                    "Slice",
                    padded,
                    g.ints([i, j], f"{node}/starts"),
                    ends,
                    axes,
                    steps,
                    name=f"{node}/tap",
                )
            )
    return str(g.op("Sum", *taps, name=f"{node}/sum"))
