"""Static check: which nodes would onnxruntime's CUDA provider leave to the CPU?

The answer comes from `cuda_kernels.tsv` beside this module, a compact table derived from
onnxruntime's published CUDA kernel list (see `_make_cuda_table` for how to regenerate it). A
node falls back when the table has no CUDA kernel for its op and domain, none whose opset range
holds the node's op version, or none for the dtypes its inputs and outputs carry. Model-local
functions are inlined first (onnxruntime runs their bodies), and ONNX shape inference supplies
the dtypes of intermediate values; where it cannot, the dtype is reported as ``"unknown"``.

The table is a published list, not a GPU: `cuda_caveats` lists nodes where it is known to be
optimistic (e.g. the Random* ops at opset 22), and a real CUDA session has the last word
(``Session(model, ["cuda"]).placement()``).

>>> import onnx.helper as h
>>> from onnx import TensorProto as TP
>>> graph = h.make_graph([h.make_node("Relu", ["x"], ["y"], name="relu"),
...     h.make_node("MaxUnpool", ["y", "i"], ["z"], name="unpool", kernel_shape=[2, 2])], "g",
...     [h.make_tensor_value_info("x", TP.FLOAT, [1, 1, 2, 2]),
...      h.make_tensor_value_info("i", TP.INT64, [1, 1, 2, 2])],
...     [h.make_tensor_value_info("z", TP.FLOAT, None)])
>>> model = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
>>> [(f.node, f.op, f.dtype) for f in cuda_fallbacks(model)]
[('unpool', 'MaxUnpool', 'float')]
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx.inliner
import onnx.shape_inference

from .loading import iter_graphs, iter_nodes, node_label

__all__ = [
    "TABLE_PATH",
    "Caveat",
    "Fallback",
    "KernelRange",
    "cuda_caveats",
    "cuda_fallbacks",
    "format_fallbacks",
    "kernel_table",
    "read_kernel_rows",
]

#: The derived table shipped as package data.
TABLE_PATH = Path(__file__).with_name("cuda_kernels.tsv")
UNKNOWN = "unknown"
_DEFAULT_DOMAIN = "ai.onnx"


@dataclass(frozen=True)
class KernelRange:
    """One CUDA kernel registration: op, domain, opsets ``since..until`` and allowed dtypes."""

    op: str
    domain: str
    since: int
    until: int | None
    types: tuple[tuple[str, frozenset[str]], ...]  # (type constraint, dtypes), e.g. ("T", ...)

    def covers(self, version: int) -> bool:
        """Whether this registration serves op version ``version``."""
        return self.since <= version and (self.until is None or version <= self.until)

    def span(self) -> str:
        """``'11+'`` or ``'1-10'``."""
        return f"{self.since}+" if self.until is None else f"{self.since}-{self.until}"


@dataclass(frozen=True)
class Fallback:
    """A node the CUDA provider has no kernel for (it would run on the CPU)."""

    node: str
    op: str
    domain: str
    opset: int
    dtype: str
    reason: str


@dataclass(frozen=True)
class Caveat:
    """A node the table says CUDA runs, where the table is known to be unreliable."""

    node: str
    op: str
    note: str


def read_kernel_rows(lines: Iterable[str]) -> Iterator[KernelRange]:
    """Parse TSV rows ``op, domain, since, until, types`` (``#`` comments and header skipped).

    Reads both the shared source list and the derived table; ``types`` is ``T=a,b;T1=c``.

    >>> row = next(read_kernel_rows(["op\\tdomain", "Relu\\tai.onnx\\t14\\t\\tT=float,float16"]))
    >>> row.op, row.since, row.until, sorted(dict(row.types)["T"])
    ('Relu', 14, None, ['float', 'float16'])
    """
    for line in lines:
        if not line.strip() or line.startswith(("#", "op\t")):
            continue
        op, domain, since, until, types = line.rstrip("\n").split("\t")
        yield KernelRange(op, domain, int(since), int(until) if until else None, _types(types))


@functools.cache
def kernel_table() -> dict[tuple[str, str], tuple[KernelRange, ...]]:
    """The shipped table, keyed by ``(domain, op)``; loaded once."""
    table: dict[tuple[str, str], list[KernelRange]] = {}
    with TABLE_PATH.open(encoding="utf-8") as lines:
        for row in read_kernel_rows(lines):
            table.setdefault((row.domain, row.op), []).append(row)
    return {key: tuple(rows) for key, rows in table.items()}


def cuda_fallbacks(model: onnx.ModelProto) -> list[Fallback]:
    """Nodes (after inlining local functions) that the CUDA provider has no kernel for."""
    inlined = _inline(model)
    dtypes = _value_dtypes(inlined)
    opsets = _opsets(inlined)
    found = []
    for index, node in enumerate(iter_nodes(inlined, functions=False)):
        fallback = _check_node(node, index, opsets, dtypes)
        if fallback is not None:
            found.append(fallback)
    return found


def cuda_caveats(model: onnx.ModelProto) -> list[Caveat]:
    """Nodes where the published list is known to be optimistic or CUDA has had bugs.

    >>> import onnx.helper as h
    >>> graph = h.make_graph([h.make_node("RandomUniformLike", ["x"], ["y"], name="r")], "g",
    ...     [h.make_tensor_value_info("x", 1, [2])], [h.make_tensor_value_info("y", 1, [2])])
    >>> [c.op for c in cuda_caveats(h.make_model(graph, opset_imports=[h.make_opsetid("", 22)]))]
    ['RandomUniformLike']
    """
    inlined = _inline(model)
    opsets = _opsets(inlined)
    return [
        Caveat(node_label(node.name, node.op_type, index), node.op_type, note)
        for index, node in enumerate(iter_nodes(inlined, functions=False))
        for applies, note in _CAVEATS
        if applies(node, opsets.get(_domain(node), 0))
    ]


def format_fallbacks(fallbacks: Sequence[Fallback], caveats: Sequence[Caveat] = ()) -> str:
    """A report for the CLI: one line per fallback, then the caveats and the general note.

    >>> print(format_fallbacks([]).splitlines()[0])
    CUDA placement (static, from onnxruntime's published kernel list): every node has a CUDA kernel
    """
    head = "CUDA placement (static, from onnxruntime's published kernel list): "
    lines = [
        head
        + (
            f"{len(fallbacks)} node(s) would run on CPU"
            if fallbacks
            else "every node has a CUDA kernel"
        )
    ]
    lines += [
        f"  {f.node} ({f.domain}::{f.op}, opset {f.opset}, dtype {f.dtype}): {f.reason}"
        for f in fallbacks
    ]
    if caveats:
        lines.append("Known caveats:")
        lines += [f"  {c.node} ({c.op}): {c.note}" for c in caveats]
    lines.append(
        "Note: this is a static check; a real CUDA session has the last word "
        "(Session(model, ['cuda']).placement()), and onnxruntime also keeps small shape "
        "computations on the CPU on purpose."
    )
    return "\n".join(lines)


def _types(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    pairs = (item.split("=", 1) for item in text.split(";") if item)
    return tuple((name, frozenset(dtypes.split(","))) for name, dtypes in pairs)


def _inline(model: onnx.ModelProto) -> onnx.ModelProto:
    return onnx.inliner.inline_local_functions(model) if model.functions else model


def _domain(node: onnx.NodeProto) -> str:
    return node.domain or _DEFAULT_DOMAIN


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {imp.domain or _DEFAULT_DOMAIN: imp.version for imp in model.opset_import}


def _dtype_name(elem_type: int) -> str:
    """``TensorProto.FLOAT`` -> ``'float'``, the spelling of onnxruntime's kernel list."""
    if elem_type == onnx.TensorProto.UNDEFINED:
        return UNKNOWN
    return onnx.helper.tensor_dtype_to_string(elem_type).removeprefix("TensorProto.").lower()


def _value_dtypes(model: onnx.ModelProto) -> dict[str, str]:
    """Dtype names of every value ONNX shape inference can type (graph and subgraphs)."""
    with contextlib.suppress(Exception):  # best effort: what it cannot type stays "unknown"
        model = onnx.shape_inference.infer_shapes(model)
    dtypes = {}
    for graph in iter_graphs(model.graph):
        for info in (*graph.input, *graph.output, *graph.value_info):
            if info.type.HasField("tensor_type"):
                dtypes[info.name] = _dtype_name(info.type.tensor_type.elem_type)
        dtypes.update((t.name, _dtype_name(t.data_type)) for t in graph.initializer)
    return dtypes


def _schema(op: str, domain: str, opset: int) -> onnx.defs.OpSchema | None:
    try:
        return onnx.defs.get_schema(op, opset, "" if domain == _DEFAULT_DOMAIN else domain)
    except onnx.defs.SchemaError:
        return None


def _bindings(
    node: onnx.NodeProto, schema: onnx.defs.OpSchema | None, dtypes: dict[str, str]
) -> dict[str, str]:
    """Type constraint -> dtype for this node, from its inputs and outputs (known dtypes win)."""
    if schema is None:  # no ONNX schema (e.g. com.microsoft): assume the first input binds T
        return {"T": dtypes.get(node.input[0], UNKNOWN)} if node.input else {}
    bound: dict[str, str] = {}
    for params, names in ((schema.inputs, node.input), (schema.outputs, node.output)):
        for position, name in enumerate(names):
            param = _formal(params, position)
            if name and param is not None and bound.get(param.type_str, UNKNOWN) == UNKNOWN:
                bound[param.type_str] = dtypes.get(name, UNKNOWN)
    return bound


def _formal(
    params: Sequence[onnx.defs.OpSchema.FormalParameter], position: int
) -> onnx.defs.OpSchema.FormalParameter | None:
    """The formal parameter at ``position``; a trailing variadic one takes the rest."""
    if position < len(params):
        return params[position]
    variadic = onnx.defs.OpSchema.FormalParameterOption.Variadic
    return params[-1] if params and params[-1].option == variadic else None


def _node_dtype(node: onnx.NodeProto, dtypes: dict[str, str]) -> str:
    names = [name for name in (*node.input, *node.output) if name]
    return dtypes.get(names[0], UNKNOWN) if names else UNKNOWN


NEVER_PLACED = frozenset({("ai.onnx", "Constant")})
"""Ops onnxruntime turns into initializers while loading: they run on no provider."""

EXPANDED = {("ai.onnx", "CastLike"): "Cast"}
"""Ops onnxruntime has no kernel for and replaces by their ONNX function body (checked:
``Session.placement()`` shows a ``Cast`` where the model has a ``CastLike``)."""


def _check_node(
    node: onnx.NodeProto, index: int, opsets: dict[str, int], dtypes: dict[str, str]
) -> Fallback | None:
    domain = _domain(node)
    if (domain, node.op_type) in NEVER_PLACED:
        return None
    if (domain, node.op_type) in EXPANDED:
        node = onnx.helper.make_node(
            EXPANDED[domain, node.op_type], node.input[:1], node.output, name=node.name
        )
    opset = opsets.get(domain, 0)
    schema = _schema(node.op_type, domain, opset)
    version = schema.since_version if schema is not None else opset
    ranges = kernel_table().get((domain, node.op_type), ())
    matching = [r for r in ranges if r.covers(version)]
    reason, dtype = None, _node_dtype(node, dtypes)
    if not ranges:
        reason = f"onnxruntime's CUDA provider has no kernel for {domain}::{node.op_type}"
        if _has_function_body(schema):
            reason += " (onnxruntime may expand its ONNX function body instead: check that)"
    elif not matching:
        spans = ", ".join(r.span() for r in ranges)
        reason = (
            f"CUDA kernels for {node.op_type} cover opsets {spans}; this node is "
            f"version {version} (model opset {opset})"
        )
    else:
        reason, dtype = _dtype_problem(
            node.op_type, matching[0], _bindings(node, schema, dtypes), dtype
        )
    if reason is None:
        return None
    return Fallback(
        node_label(node.name, node.op_type, index), node.op_type, domain, opset, dtype, reason
    )


def _has_function_body(schema: onnx.defs.OpSchema | None) -> bool:
    names = ("has_function", "has_context_dependent_function")
    return schema is not None and any(getattr(schema, name, False) for name in names)


def _dtype_problem(
    op: str, kernel: KernelRange, bound: dict[str, str], dtype: str
) -> tuple[str | None, str]:
    """(reason, dtype): a dtype the kernel lacks, an unknown dtype, or (None, dtype) if fine."""
    unknown = []
    for constraint, allowed in kernel.types:
        actual = bound.get(constraint)
        if actual == UNKNOWN:
            unknown.append(constraint)
        elif actual is not None and actual not in allowed:
            return (
                f"no CUDA kernel for {op} with {constraint}={actual} (opsets {kernel.span()} "
                f"take {constraint} in {sorted(allowed)})",
                actual,
            )
    if unknown:
        return (
            f"dtype unknown for {', '.join(unknown)} (shape inference could not tell), so "
            f"a CUDA kernel cannot be confirmed; possible fallback",
            UNKNOWN,
        )
    return None, dtype


_RANDOM_OPS = frozenset({"RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike"})


def _ints(node: onnx.NodeProto, name: str) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == name), [])


def _int(node: onnx.NodeProto, name: str) -> int:
    return next((a.i for a in node.attribute if a.name == name), 0)


def _asymmetric_pads(node: onnx.NodeProto) -> bool:
    """Explicit begin pads != end pads, or SAME_* auto padding (asymmetric for odd totals)."""
    pads = _ints(node, "pads")
    half = len(pads) // 2
    auto = next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    return pads[:half] != pads[half:] or auto.startswith(b"SAME")


def _pool_mode_risk(node: onnx.NodeProto, opset: int) -> bool:
    return node.op_type in ("MaxPool", "AveragePool") and (
        _int(node, "ceil_mode") == 1 or _asymmetric_pads(node)
    )


def _dilated_padded_maxpool(node: onnx.NodeProto, opset: int) -> bool:
    pads = _ints(node, "pads")
    return (
        node.op_type == "MaxPool"
        and any(d > 1 for d in _ints(node, "dilations"))
        and any(pads[: len(pads) // 2])
    )


_CAVEATS: tuple[tuple[Callable[[onnx.NodeProto, int], bool], str], ...] = (
    (
        lambda node, opset: node.op_type in _RANDOM_OPS and opset >= 22,
        "the published list registers it from opset 1 (open-ended), yet onnxruntime 1.32's "
        "CPU build has no kernel for the opset-22 version (session creation fails; opset 21 "
        "works); a real CUDA session has the last word",
    ),
    (
        _pool_mode_risk,
        "CUDA pooling has had bugs with ceil_mode and asymmetric pads (onnxruntime PRs #16752, "
        "#27375, #29629, #29631); check it on a GPU",
    ),
    (
        _dilated_padded_maxpool,
        "CUDA MaxPool with dilation > 1 and a begin pad gives wrong values and indices "
        "(onnxruntime issue #29637)",
    ),
)
