"""``audit``: a static scan of any ONNX file for nodes onnxruntime computes unlike torch.

Each rule names an op, what torch does, what onnxruntime does instead, the data that shows it
and the fix. Every rule was measured (onnxruntime 1.32 CPU, torch 2.13, files from both torch
exporters) and has a test that exports a torch module, shows onnxruntime and torch disagree on
data that triggers it, and shows the audit flags that node (``tests/runtime/test_audit.py``):

=============================== ===========================================================
rule                            fault
=============================== ===========================================================
maxpool-nan                     MaxPool skips NaN in some window positions; torch propagates
maxpool-minus-inf               values-only MaxPool gives -3.4e38 for all -inf windows (1-D,
                                3-D, 2-D windows on a last-axis pad or ceil_mode edge, and
                                any 2-D window with a known channel count divisible by 8)
maxpool-empty-window            a window whose dilated taps skip the whole input: -3.4e38 and
                                index -3 where torch gives -inf
maxunpool-plane-indices         MaxUnpool reads whole-tensor indices; torch's are per plane
resize-inf                      linear/cubic Resize returns inf where torch's 0-weight tap
                                gives NaN
resize-antialias-align-corners  antialiased Resize with align_corners: other values
resize-antialias-scale          antialiased Resize with ``sizes`` where torch used a
                                non-integer ``scale_factor``
=============================== ===========================================================

Measured and *not* rules (they agree on onnxruntime 1.32 CPU): AveragePool with ceil_mode,
pads and count_include_pad (1362 cases from both exporters), Resize without antialias (every
nearest / bilinear / bicubic case torch's exporters write). ``AvgPool2d(divisor_override=)``
leaves no trace in the file (the exporters drop it): only ``verify --against`` finds it.

A node is not flagged where the file shows the fault fixed: a file whose layer program and
lowering record match its graph (``builder.program.own_lowering``) is onnxlayers' own
lowering, which fixes every fault marked so below; without the record, the NaN-exact pattern
our MaxPool and Upsample lowerings write (an ``If`` on ``IsNaN`` of the input's sum running the
fast op only for finite inputs, a NaN overlay ``Where`` on ``IsNaN`` of the pooled input, a
``Mul`` by a factor from ``AveragePool`` of the input or of its ``HardSigmoid``) is recognised
in any file. Bodies of our own ``ai.onnxlayers`` functions are not scanned.

>>> import onnx.helper as h
>>> from onnx import TensorProto as TP
>>> graph = h.make_graph([h.make_node("MaxPool", ["x"], ["y"], "pool", kernel_shape=[2, 2])],
...     "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 1, 4, 4])],
...     [h.make_tensor_value_info("y", TP.FLOAT, None)])
>>> report = audit(h.make_model(graph, opset_imports=[h.make_opsetid("", 18)]))
>>> report.ok, [(f.rule, f.node) for f in report.findings]
(False, [('maxpool-nan', 'pool')])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from onnxlayers.builder.program import own_lowering

from .loading import CUSTOM_DOMAIN, ModelSource, describe_source, load_model, node_label

__all__ = [
    "RULES",
    "AuditReport",
    "Finding",
    "Rule",
    "audit",
]

REEXPORT = (
    "re-export with `onnxlayers export FILE.py:FACTORY --input-shape ...`, whose lowering "
    "computes torch's result"
)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Finding:
    """One flagged node: the rule, the node, torch's and onnxruntime's behaviour, the fix.

    ``certain`` is True where the file's own shapes prove some input triggers the fault; False
    where it depends on what the file does not say (input sizes, the torch call).
    """

    rule: str
    node: str
    op: str
    where: str
    detail: str
    torch: str
    onnxruntime: str
    when: str
    fix: str
    certain: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return "\n".join(
            [
                f"[{self.rule}] node {self.node!r} ({self.op}) in {self.where}: {self.detail}",
                f"    torch:       {self.torch}",
                f"    onnxruntime: {self.onnxruntime}",
                f"    when:        {self.when}{'' if self.certain else ' (possible: see when)'}",
                f"    fix:         {self.fix}",
            ]
        )


@dataclass
class AuditReport:
    """Every finding in one model; ``ok`` when there is none."""

    model: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    nodes: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def __bool__(self) -> bool:
        return self.ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "ok": self.ok,
            "nodes": self.nodes,
            "findings": [f.as_dict() for f in self.findings],
            "notes": self.notes,
        }

    def __str__(self) -> str:
        if self.ok:
            head = f"audit {self.model}: clean ({self.nodes} nodes against {len(RULES)} rules)"
        else:
            head = f"audit {self.model}: {len(self.findings)} node(s) differ from torch"
        return "\n".join([head, *map(str, self.findings), *self.notes])


# ----------------------------------------------------------------------------- graph views
@dataclass
class _View:
    """One graph (or function body) with its producers, constants and enclosing If branch."""

    nodes: Sequence[onnx.NodeProto]
    where: str
    parent: _View | None = None
    branch: tuple[onnx.NodeProto, str] | None = None
    producer: dict[str, onnx.NodeProto] = field(default_factory=dict)
    consumers: dict[str, list[onnx.NodeProto]] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in self.nodes:
            for out in node.output:
                self.producer[out] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
            if node.op_type == "Constant" and node.output:
                for attr in node.attribute:
                    if attr.name == "value":
                        self.consts[node.output[0]] = numpy_helper.to_array(attr.t)

    def find(self, name: str) -> tuple[onnx.NodeProto, _View] | None:
        """The node producing ``name`` here or in an enclosing graph (outer-scope names)."""
        view: _View | None = self
        while view is not None:
            if name in view.producer:
                return view.producer[name], view
            view = view.parent
        return None

    def const(self, name: str) -> np.ndarray | None:
        view: _View | None = self
        while view is not None:
            if name in view.consts:
                return view.consts[name]
            view = view.parent
        return None

    def upstream(self, name: str, depth: int = 8) -> Iterator[onnx.NodeProto]:
        """Nodes ``name`` is computed from, nearest first, at most ``depth`` steps back."""
        seen: set[str] = set()
        frontier = [name]
        for _ in range(depth):
            following = []
            for tensor in frontier:
                found = self.find(tensor)
                if found is None or tensor in seen:
                    continue
                seen.add(tensor)
                yield found[0]
                following += [i for i in found[0].input if i]
            frontier = following


def _views(model: onnx.ModelProto) -> Iterator[_View]:
    """The main graph, every subgraph (with its If branch) and every foreign function body."""
    main = _View(model.graph.node, "the main graph")
    for init in model.graph.initializer:
        main.consts[init.name] = numpy_helper.to_array(init)
    yield from _walk(main)
    for function in model.functions:
        if function.domain != CUSTOM_DOMAIN:  # our own ops' bodies implement torch's semantics
            yield from _walk(_View(function.node, f"function {function.domain}::{function.name}"))


def _walk(view: _View) -> Iterator[_View]:
    yield view
    for index, node in enumerate(view.nodes):
        for attr in node.attribute:
            graphs = [attr.g] if attr.HasField("g") else list(attr.graphs)
            for graph in graphs:
                label = node_label(node.name, node.op_type, index)
                sub = _View(
                    graph.node, f"{view.where} > {label}.{attr.name}", view, (node, attr.name)
                )
                for init in graph.initializer:
                    sub.consts[init.name] = numpy_helper.to_array(init)
                yield from _walk(sub)


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int | None, ...]]:
    """Tensor name -> dims (None where unknown) from the file and onnx shape inference."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # inference is a best-effort aid: fall back to the file
        inferred = model
    out: dict[str, tuple[int | None, ...]] = {}
    graph = inferred.graph
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor = info.type.tensor_type
        if tensor.HasField("shape"):
            out[info.name] = tuple(
                d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
            )
    for init in graph.initializer:
        out[init.name] = tuple(init.dims)
    return out


# ----------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Hit:
    """A rule's verdict on one node: what about it, and whether the file proves it."""

    detail: str
    certain: bool = True


@dataclass
class Site:
    """What a rule sees: the node, its graph and the model's known shapes."""

    node: onnx.NodeProto
    view: _View
    shapes: dict[str, tuple[int | None, ...]]

    def attr(self, name: str, default: Any = None) -> Any:
        for a in self.node.attribute:
            if a.name == name:
                value = onnx.helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def spatial(self) -> tuple[int | None, ...] | None:
        shape = self.shapes.get(self.node.input[0])
        return None if shape is None else shape[2:]


@dataclass(frozen=True)
class Rule:
    """One known difference: its op, both behaviours, the trigger and the fix."""

    id: str
    op_type: str
    torch: str
    onnxruntime: str
    when: str
    fix: str
    fixed_by_onnxlayers: bool
    check: Callable[[Site], Hit | None]


def _pool_attrs(site: Site) -> tuple[list[int], list[int], list[int], list[int], bool]:
    kernel = list(site.attr("kernel_shape", []))
    rank = len(kernel)
    strides = list(site.attr("strides", [1] * rank))
    dilations = list(site.attr("dilations", [1] * rank))
    pads = list(site.attr("pads", [0] * (2 * rank)))
    return kernel, strides, dilations, pads, bool(site.attr("ceil_mode", 0))


def _describe_pool(site: Site) -> str:
    kernel, strides, dilations, pads, ceil = _pool_attrs(site)
    parts = [f"kernel {kernel}", f"strides {strides}"]
    if any(pads):
        parts.append(f"pads {pads}")
    if any(d != 1 for d in dilations):
        parts.append(f"dilations {dilations}")
    if ceil:
        parts.append("ceil_mode")
    if len([o for o in site.node.output if o]) > 1:
        parts.append("with Indices")
    return ", ".join(parts)


_SAME_DATA = ("Reshape", "Identity", "Cast", "Squeeze", "Unsqueeze", "Flatten")
"""Ops that pass values through unchanged (what a lowering may put before a pool)."""


def _sources(view: _View, name: str) -> set[str]:
    """``name`` and the tensors it copies through `_SAME_DATA` ops (``x`` of Reshape(x))."""
    names = {name}
    for _ in range(4):
        found = view.find(name)
        if found is None or found[0].op_type not in _SAME_DATA:
            break
        name = found[0].input[0]
        names.add(name)
    return names


def _is_isnan_of(node: onnx.NodeProto, x: set[str] | None = None) -> bool:
    return node.op_type == "IsNaN" and (x is None or node.input[0] in x)


def _nan_code_map(site: Site) -> bool:
    """The input is ``Where(IsNaN(..), codes, none)`` (maybe padded): it cannot hold NaN."""
    name = site.node.input[0]
    for _ in range(3):
        found = site.view.find(name)
        if found is None:
            return False
        node, view = found
        if node.op_type == "Where":
            cond = view.find(node.input[0])
            return cond is not None and _is_isnan_of(cond[0])
        if node.op_type not in ("Pad", "Cast", "Reshape", "Identity"):
            return False
        name = node.input[0]
    return False


def _nan_overlaid(site: Site) -> bool:
    """Some ``Where`` on the output is conditioned on ``IsNaN`` of this node's own input."""
    x = _sources(site.view, site.node.input[0])
    for consumer in site.view.consumers.get(site.node.output[0], []):
        if consumer.op_type == "Where" and any(
            _is_isnan_of(n, x) for n in site.view.upstream(consumer.input[0])
        ):
            return True
    return False


def _finite_branch(site: Site, *, infinities: bool = True) -> bool:
    """The node runs in an If's else branch taken only when ``IsNaN(ReduceSum(x))`` is false
    (no NaN in ``x``) or, with ``infinities``, when ``IsNaN(s - s)`` of that sum ``s`` is false
    (no NaN and no infinity)."""
    x = _sources(site.view, site.node.input[0])
    view: _View | None = site.view
    while view is not None and view.branch is not None and view.parent is not None:
        node, branch = view.branch
        if branch == "else_branch" and node.input:
            above = list(view.parent.upstream(node.input[0]))
            summed = any(n.op_type == "ReduceSum" and n.input and n.input[0] in x for n in above)
            nonfinite = any(n.op_type == "Sub" and n.input[0] == n.input[1] for n in above)
            if summed and any(map(_is_isnan_of, above)) and (nonfinite or not infinities):
                return True
        view = view.parent
    return False


def _masked(site: Site, *, infinities: bool = True) -> bool:
    """The output is multiplied by a factor built from ``AveragePool`` (NaN propagating) of
    this node's input (NaN only) or, with ``infinities``, of ``HardSigmoid`` of it (0 marks
    -inf): the If-free NaN- and -inf-exact pattern of our ``MaxPool2d`` lowering."""
    x = _sources(site.view, site.node.input[0])
    for consumer in site.view.consumers.get(site.node.output[0], []):
        if consumer.op_type != "Mul":
            continue
        factor = next((i for i in consumer.input if i != site.node.output[0]), None)
        for pool in site.view.upstream(factor) if factor else ():
            if pool.op_type != "AveragePool":
                continue
            if pool.input[0] in x and not infinities:
                return True
            found = site.view.find(pool.input[0])
            if found and found[0].op_type == "HardSigmoid" and found[0].input[0] in x:
                return True
    return False


def _check_maxpool_nan(site: Site) -> Hit | None:
    if (
        _nan_code_map(site)
        or _nan_overlaid(site)
        or _finite_branch(site, infinities=False)
        or _masked(site, infinities=False)
    ):
        return None
    kernel = _pool_attrs(site)[0]
    with_indices = len([o for o in site.node.output if o]) > 1
    if all(k == 1 for k in kernel) and (len(kernel) == 2 or with_indices):
        return None  # one-element windows: these kernels keep NaN (1-D/3-D values-only do not)
    return Hit(_describe_pool(site))


_FLOORED = frozenset({"Relu", "Sigmoid", "Tanh", "HardSigmoid", "Softmax", "Softplus"})
"""Ops whose output is never -inf, whatever their input."""


def _floored(view: _View, name: str, depth: int = 4) -> bool:
    """``name`` comes (through copies and ``Concat``) from ops that never give -inf."""
    found = view.find(name)
    while found is not None and found[0].op_type in _SAME_DATA:
        found = view.find(found[0].input[0])
    if found is None or depth == 0:
        return False
    if found[0].op_type == "Concat":
        return all(_floored(view, i, depth - 1) for i in found[0].input)
    return found[0].op_type in _FLOORED


def _check_maxpool_minus_inf(site: Site) -> Hit | None:
    if (
        len([o for o in site.node.output if o]) > 1  # the kernel with Indices keeps -inf
        or _nan_code_map(site)
        or _finite_branch(site)
        or _masked(site)
        or _floored(site.view, site.node.input[0])
    ):
        return None
    kernel, _, _, pads, ceil = _pool_attrs(site)
    auto = site.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID", "")
    shape = site.shapes.get(site.node.input[0])
    channels = shape[1] if shape is not None and len(shape) > 1 else None
    blocked = channels is not None and channels % 8 == 0  # onnxruntime's NCHWc kernel
    if len(kernel) == 2 and not (pads[1] or pads[3] or ceil or auto or blocked):
        return None
    return Hit(_describe_pool(site))


def empty_windows(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> list[int]:
    """Output positions along one axis whose ``k`` taps (``d`` apart) all miss ``[0, n)``.

    The output size follows torch (and onnxruntime 1.32): ceil_mode drops a last window that
    starts in the end padding.

    >>> empty_windows(2, k=2, s=1, d=3, pb=1, pe=1, ceil=False)
    [0]
    >>> empty_windows(4, k=2, s=1, d=3, pb=1, pe=1, ceil=False)
    []
    """
    num = n + pb + pe - d * (k - 1) - 1
    if num < 0:
        return []
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + pb:
        out -= 1
    return [o for o in range(out) if not any(0 <= o * s - pb + j * d < n for j in range(k))]


def _check_maxpool_empty(site: Site) -> Hit | None:
    if _nan_code_map(site):
        return None
    kernel, strides, dilations, pads, ceil = _pool_attrs(site)
    rank = len(kernel)
    if site.attr("auto_pad", "NOTSET") not in ("NOTSET", ""):
        return None
    sizes = site.spatial() or (None,) * rank
    certain, possible = [], []
    for axis in range(rank):
        args = (kernel[axis], strides[axis], dilations[axis], pads[axis], pads[axis + rank], ceil)
        n = sizes[axis] if axis < len(sizes) else None
        if n is not None:
            if empty_windows(n, *args):
                certain.append(f"axis {axis + 2} has size {n}")
            continue
        reach = kernel[axis] * dilations[axis] + pads[axis] + pads[axis + rank] + 1
        bad = [m for m in range(1, reach + 1) if empty_windows(m, *args)]
        if bad:
            possible.append(f"axis {axis + 2} has size {_ranges(bad)}")
    if certain:
        return Hit(
            f"{_describe_pool(site)}; {', '.join(certain)}: some windows hold no input element"
        )
    if possible:
        return Hit(
            f"{_describe_pool(site)}; windows hold no input element when {' or '.join(possible)}",
            certain=False,
        )
    return None


def _ranges(values: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``'1..3 or 7'``.

    >>> _ranges([1, 2, 3, 7])
    '1..3 or 7'
    """
    parts: list[str] = []
    start = prev = values[0]
    for value in [*values[1:], None]:
        if value is None or value != prev + 1:
            parts.append(str(start) if start == prev else f"{start}..{prev}")
            start = value if value is not None else start
        prev = value if value is not None else prev
    return " or ".join(parts)


def _check_maxunpool(site: Site) -> Hit | None:
    if len(site.node.input) < 2:
        return None
    found = site.view.find(site.node.input[1])
    if found is not None:
        node, view = found
        if node.op_type == "MaxPool" and list(node.output).index(site.node.input[1]) == 1:
            return None  # straight from ONNX MaxPool: whole-tensor indices
        if node.op_type == "Sub" and any(
            (p := view.find(i)) is not None
            and p[0].op_type == "MaxPool"
            and list(p[0].output).index(i) == 1
            for i in node.input
        ):
            return Hit(
                f"indices {site.node.input[1]!r} are MaxPool's minus the plane offsets "
                "(torch's per-plane indices, as torch's exporter computes them)"
            )
    return Hit(
        f"indices {site.node.input[1]!r} are not MaxPool's own; nothing shows they "
        "are whole-tensor indices",
        certain=False,
    )


def _check_resize_inf(site: Site) -> Hit | None:
    mode = site.attr("mode", "nearest")
    if mode not in ("linear", "cubic") or _finite_branch(site):
        return None
    ctm = site.attr("coordinate_transformation_mode", "half_pixel")
    detail = f"mode {mode}, coordinate_transformation_mode {ctm}"
    if ctm == "align_corners":
        return Hit(f"{detail}: the first output samples input pixel 0 exactly")
    inputs = list(site.node.input) + [""] * 4
    shape_in, shape_out = site.shapes.get(inputs[0]), site.shapes.get(site.node.output[0])
    if (
        shape_in is not None
        and shape_out is not None
        and any(
            n is not None and n > 1 and n == o
            for n, o in zip(shape_in[2:], shape_out[2:], strict=False)
        )
    ):
        return Hit(f"{detail}: an axis keeps its size, so outputs sample input pixels exactly")
    return Hit(f"{detail}: where an output samples an input pixel exactly", certain=False)


def _check_antialias_corners(site: Site) -> Hit | None:
    if (
        not site.attr("antialias", 0)
        or site.attr("coordinate_transformation_mode", "half_pixel") != "align_corners"
    ):
        return None
    return Hit(f"mode {site.attr('mode', 'nearest')}, antialias=1, align_corners")


def _check_antialias_scale(site: Site) -> Hit | None:
    if (
        not site.attr("antialias", 0)
        or site.attr("mode", "nearest") == "nearest"
        or site.attr("coordinate_transformation_mode", "half_pixel") == "align_corners"
    ):
        return None
    inputs = list(site.node.input) + [""] * 4
    if not inputs[3]:
        return None  # given scales: the same scale torch used
    sizes = site.view.const(inputs[3])
    shape = site.shapes.get(inputs[0])
    if sizes is not None and shape is not None:
        axes = list(site.attr("axes", range(len(shape))))
        pairs = [(shape[a], int(o)) for a, o in zip(axes, sizes.tolist(), strict=False)]
        if all(
            n is not None and (o == n or (n and o % n == 0) or (o and n % o == 0)) for n, o in pairs
        ):
            return None  # integer ratios: any scale_factor giving these sizes is out/in
        return Hit(
            f"antialias=1 with sizes {sizes.tolist()} from input {list(shape)}: non-integer ratios",
            certain=False,
        )
    return Hit("antialias=1 with sizes the file does not fix", certain=False)


RULES: tuple[Rule, ...] = (
    Rule(
        "maxpool-nan",
        "MaxPool",
        torch="max pooling propagates NaN: a window holding NaN gives NaN (and its index)",
        onnxruntime="MaxPool skips NaN in some window positions, depending on its kernel "
        "(a window [nan, 1] gives 1; 1-D and 3-D values-only pooling turn a lone NaN into "
        "-3.4e38)",
        when="an input window holds NaN",
        fix=f"{REEXPORT} (its MaxPool propagates NaN)",
        fixed_by_onnxlayers=True,
        check=_check_maxpool_nan,
    ),
    Rule(
        "maxpool-minus-inf",
        "MaxPool",
        torch="a window whose values are all -inf gives -inf",
        onnxruntime="the values-only MaxPool kernel gives -3.4e38 (the lowest float) for such "
        "windows in 1-D and 3-D pooling, in 2-D where the window touches the last axis's "
        "padding or a ceil_mode edge, and in every 2-D window when the channel count is "
        "known and a multiple of 8 (onnxruntime's blocked NCHWc kernel)",
        when="every input value in a window is -inf",
        fix=f"{REEXPORT} (its MaxPool keeps -inf)",
        fixed_by_onnxlayers=True,
        check=_check_maxpool_minus_inf,
    ),
    Rule(
        "maxpool-empty-window",
        "MaxPool",
        torch="a window whose dilated taps all fall in the padding gives -inf (and torch's "
        "start index)",
        onnxruntime="-3.4e38 (the lowest float), and index -3",
        when="an axis is smaller than the dilation (any data)",
        fix=f"{REEXPORT} (it writes -inf there), or avoid padding with dilation on inputs "
        "smaller than the dilation",
        fixed_by_onnxlayers=True,
        check=_check_maxpool_empty,
    ),
    Rule(
        "maxunpool-plane-indices",
        "MaxUnpool",
        torch="max_unpool2d takes per-plane indices (0..H_out*W_out-1 in each (n, c) plane), "
        "as MaxPool2d(return_indices=True) returns them",
        onnxruntime="MaxUnpool reads indices flattened over the whole N*C*H*W tensor: "
        "per-plane ones put every plane's values into the first plane, silently",
        when="the indices are torch's per-plane ones and N*C > 1",
        fix="add the plane offsets (n*C + c)*H_out*W_out to the indices and pass "
        f"output_shape, or {REEXPORT} (ai.onnxlayers::MaxUnpool2d)",
        fixed_by_onnxlayers=True,
        check=_check_maxunpool,
    ),
    Rule(
        "resize-inf",
        "Resize",
        torch="linear and cubic interpolation multiply every tap by its weight: where an "
        "output falls exactly on a pixel, the next pixel (the pixel itself at the last one) is "
        "a tap of weight 0, and an infinity there gives NaN (inf * 0)",
        onnxruntime="Resize(mode=linear or cubic) takes the sampled pixel alone where an "
        "output falls exactly on one, so the infinite neighbour does not make it NaN",
        when="the input holds +inf or -inf next to (or at the last) pixel an output samples "
        "exactly (align_corners, axes that keep their size, some integer upscales)",
        fix=f"{REEXPORT} (its Upsample uses torch's taps when the input is not finite)",
        fixed_by_onnxlayers=True,
        check=_check_resize_inf,
    ),
    Rule(
        "resize-antialias-align-corners",
        "Resize",
        torch="F.interpolate(antialias=True, align_corners=True) (bilinear, bicubic)",
        onnxruntime="Resize(antialias=1, align_corners) computes other values (errors of "
        "0.5 to 2.2 on standard-normal inputs, every size measured)",
        when="always",
        fix="no Resize computes torch's result: interpolate with antialias=False or "
        "align_corners=False, and check with `onnxlayers verify FILE --against PY:FACTORY`",
        fixed_by_onnxlayers=False,
        check=_check_antialias_corners,
    ),
    Rule(
        "resize-antialias-scale",
        "Resize",
        torch="antialias=True with a scale_factor sizes its filter from that scale factor",
        onnxruntime="Resize(antialias=1) given sizes (what torch's exporter writes) uses "
        "out/in: scale_factor 2.3 on 7 gives 16, and 16/7 != 2.3",
        when="the torch call gave a non-integer scale_factor (a size= call matches)",
        fix="interpolate with size= instead of scale_factor, and check with "
        "`onnxlayers verify FILE --against PY:FACTORY`",
        fixed_by_onnxlayers=False,
        check=_check_antialias_scale,
    ),
)
"""Every rule, in report order."""


# ----------------------------------------------------------------------------- audit
def audit(model: ModelSource) -> AuditReport:
    """Scan ``model`` (a path, bytes or ModelProto; external data read with the escape check
    of ``load_model``) and return one finding per flagged node and rule.

    >>> from onnxlayers.builder import Input, Linear, Model, ReLU
    >>> x = Input("x", ("N", 4))
    >>> print(audit(Model([x], [ReLU()(Linear(4, 2)(x))]).to_onnx()))
    audit <ModelProto>: clean (2 nodes against 7 rules)
    """
    proto = load_model(model)
    report = AuditReport(describe_source(model))
    ours = own_lowering(proto) is not None
    shapes = _shapes(proto)
    spared = 0
    for view in _views(proto):
        for index, node in enumerate(view.nodes):
            report.nodes += 1
            for rule in RULES:
                if node.op_type != rule.op_type or node.domain not in ("", "ai.onnx"):
                    continue
                hit = rule.check(Site(node, view, shapes))
                if hit is None:
                    continue
                if ours and rule.fixed_by_onnxlayers:
                    spared += 1
                    continue
                report.findings.append(
                    Finding(
                        rule.id,
                        node_label(node.name, node.op_type, index),
                        node.op_type,
                        view.where,
                        hit.detail,
                        rule.torch,
                        rule.onnxruntime,
                        rule.when,
                        rule.fix,
                        hit.certain,
                    )
                )
    if spared:
        report.notes.append(
            f"note: {spared} finding(s) not reported: this file is onnxlayers' own lowering "
            "(its lowering record matches the graph), which computes torch's result there"
        )
    skipped = [f"{f.domain}::{f.name}" for f in proto.functions if f.domain == CUSTOM_DOMAIN]
    if skipped:
        report.notes.append(
            f"note: onnxlayers' own ops {skipped} implement torch's semantics; "
            "their bodies were not scanned"
        )
    return report


# ----------------------------------------------------------------------------- CLI
