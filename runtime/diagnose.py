"""Run failures in our words: which layer failed, on which feeds, and what it allows.

A fault only a run can find (a dynamic dim with the wrong size, a pool on a too-small dynamic
input, an unpool index outside its plane) makes onnxruntime raise with a C++ message that names
a node. Every node we write is named after its layer call (``"<layer>"`` or ``"<layer>/<step>"``)
and every guard node after the problem it checks, so the node leads back to the layer program's
record: the layer's type, name and torch arguments.

>>> explain("Non-zero status code returned while running Gemm node. Name:'fc/node_0' "
...         "Status Message: GEMM: Dimension mismatch", {"fc": ("Linear", "Linear 'fc' (...)")})
"Linear 'fc' (...) failed in its Gemm node 'fc/node_0': GEMM: Dimension mismatch"
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import onnx

from onnxlayers.builder.program import METADATA_KEY
from onnxlayers.custom_ops import explain_failure

_NODE = re.compile(r"running (\w+) node\. Name:'(.*?)' Status Message: (.*)", re.S)


def layer_labels(model: onnx.ModelProto) -> dict[str, tuple[str, str]]:
    """Layer call node -> (layer type, how to name the call: type, name, torch arguments),
    read from the model's layer program; empty for files without one."""
    text = {p.key: p.value for p in model.metadata_props}.get(METADATA_KEY)
    if text is None:
        return {}
    try:
        calls = json.loads(text)["calls"]
        labels = {}
        for call in calls:
            args = ", ".join(f"{k}={v!r}" for k, v in call.get("args", {}).items())
            labels[call["node"]] = (call["type"], f"{call['type']} {call['node']!r} ({args})")
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}
    return labels


def explain(message: str, labels: Mapping[str, tuple[str, str]]) -> str:
    """onnxruntime's ``message`` told as the failing layer's fault, where the node is ours."""
    match = _NODE.search(message)
    if match is None:
        return message.strip()
    op, node, status = match.group(1), match.group(2), match.group(3).strip().splitlines()[0]
    status = re.sub(r"^/\S+:\d+ \S+\(.*?\) ", "", status)  # drop C++ file and signature
    meaning = explain_failure(message)
    for call, (kind, label) in labels.items():
        if node == call or node.startswith(call + "/"):
            return f"{label} failed in its {op} node {node!r}: {meaning or status}"
        if node.startswith(f"{kind} {call!r}"):  # a guard named after the problem
            return f"{label} failed: {node.removeprefix(f'{kind} {call!r}: ')}"
    owners = [label for kind, label in labels.values() if f"_inlfunc_{kind}" in node]
    if owners:
        who = owners[0] if len(owners) == 1 else "one of " + "; ".join(owners)
        return f"{who} failed: {meaning or status}"
    return f"onnxruntime failed in its {op} node {node!r}: {meaning or status}"
