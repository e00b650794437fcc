"""``audit``: every rule proven on a file from torch's exporter, and clean files stay clean.

Each rule's test exports a torch module with ``torch.onnx.export`` (the legacy exporter, or the
dynamo one where only it writes the op), runs the file on onnxruntime with data that triggers
the rule, shows the result differs from torch eager, and shows the audit flags that node.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import pytest

from onnxlayers.builder import (
    Identity,
    Input,
    Linear,
    MaxPool2d,
    MaxUnpool2d,
    Model,
    ReLU,
    Upsample,
)
from onnxlayers.builder.program import DIGEST_KEY
from onnxlayers.runtime.audit import RULES, audit, empty_windows
from onnxlayers.runtime.cli import main
from onnxlayers.runtime.compare import compare_outputs
from onnxlayers.runtime.errors import ModelLoadError
from onnxlayers.runtime.session import Session

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional


RNG = np.random.default_rng(0)


def export_legacy(module: Any, shape: tuple[int, ...], **kw: Any) -> onnx.ModelProto:
    """``torch.onnx.export(dynamo=False)`` of ``module`` in eval mode, opset 18."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.zeros(shape),),
            buffer,  # type: ignore[arg-type]  # the legacy exporter takes a file object too
            dynamo=False,
            opset_version=18,
            **kw,
        )
    return onnx.load_from_string(buffer.getvalue())


def export_dynamo(module: Any, shape: tuple[int, ...]) -> onnx.ModelProto:
    """``torch.onnx.export(dynamo=True)`` (needs onnxscript) of ``module`` in eval mode."""
    pytest.importorskip("onnxscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(), (torch.zeros(shape),), dynamo=True, opset_version=18, verbose=False
        )
    assert program is not None
    return program.model_proto


def differs(proto: onnx.ModelProto, module: Any, x: np.ndarray) -> int:
    """How many output elements onnxruntime gets wrong (NaN must match NaN)."""
    session = Session(proto)
    got = session.run({session.input_specs[0].name: x})
    with torch.no_grad():
        want = module(torch.from_numpy(x.copy()))
    want = want if isinstance(want, tuple) else (want,)
    expected = {n: w.numpy() for n, w in zip(session.output_names, want, strict=True)}
    return sum(row.mismatches for row in compare_outputs(got, expected).rows)


class Interpolate(torch.nn.Module):
    def __init__(self, **kw: Any) -> None:
        super().__init__()
        self.kw = kw

    def forward(self, x: Any) -> Any:
        return F.interpolate(x, **self.kw)


class PoolUnpool(torch.nn.Module):
    """MaxPool2d(2, return_indices=True) then max_unpool2d back to 4x4."""

    def forward(self, x: Any) -> Any:
        y, i = F.max_pool2d(x, 2, return_indices=True)
        return torch.ops.aten.max_unpool2d(y, i, [4, 4])


@contextlib.contextmanager
def unpool_symbolic() -> Iterator[None]:
    """The usual recipe for exporting max_unpool2d: a custom symbolic writing ONNX MaxUnpool."""

    def symbolic(g: Any, x: Any, indices: Any, output_size: Any) -> Any:
        return g.op("MaxUnpool", x, indices, kernel_shape_i=[2, 2], strides_i=[2, 2])

    torch.onnx.register_custom_op_symbolic("aten::max_unpool2d", symbolic, 11)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::max_unpool2d", 11)


class ReluCat(torch.nn.Module):
    """ReLU of the input beside ReLU of its negation, pooled: no -inf reaches the pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(torch.cat([torch.relu(x), torch.relu(-x)], 1), 3, 2, 1)


def with_values(shape: tuple[int, ...], **at: float) -> np.ndarray:
    """Random data with ``at={"0,0,0,1": nan}``-style overrides (``"0,0"``: a whole plane)."""
    x = RNG.standard_normal(shape).astype(np.float32)
    for where, value in at.items():
        x[tuple(int(i) for i in where.split("_"))] = value
    return x


@dataclass
class Case:
    """A rule, a torch module whose export triggers it, and data that shows it."""

    rule: str
    module: Callable[[], Any]
    shape: tuple[int, ...]
    trigger: Callable[[], np.ndarray]
    exporter: str = "legacy"
    op: str = ""


CASES = [
    Case(
        "maxpool-nan",
        lambda: torch.nn.MaxPool2d(2),
        (1, 2, 4, 4),
        lambda: with_values((1, 2, 4, 4), **{"0_0_0_0": np.nan}),
    ),
    Case(
        "maxpool-nan",
        lambda: torch.nn.MaxPool2d(2, return_indices=True),
        (1, 2, 4, 4),
        lambda: with_values((1, 2, 4, 4), **{"0_0_1_1": np.nan}),
    ),  # last in its window
    Case(
        "maxpool-nan",
        lambda: torch.nn.MaxPool1d(2),
        (1, 2, 6),
        lambda: with_values((1, 2, 6), **{"0_0_1": np.nan}),
    ),
    Case(
        "maxpool-nan",
        lambda: torch.nn.MaxPool2d(2),
        (1, 2, 4, 4),
        lambda: with_values((1, 2, 4, 4), **{"0_0_0_0": np.nan}),
        exporter="dynamo",
    ),
    Case(
        "maxpool-minus-inf",
        lambda: torch.nn.MaxPool2d(3, 2, 1),
        (1, 2, 6, 6),
        lambda: with_values((1, 2, 6, 6), **{"0_0": -np.inf}),
    ),
    Case(
        "maxpool-minus-inf",
        lambda: torch.nn.MaxPool2d(2, ceil_mode=True),
        (1, 2, 5, 5),
        lambda: with_values((1, 2, 5, 5), **{"0_0": -np.inf}),
    ),
    Case(  # no padding, but 8 channels: onnxruntime's blocked (NCHWc) kernel
        "maxpool-minus-inf",
        lambda: torch.nn.MaxPool2d(2),
        (1, 8, 4, 4),
        lambda: with_values((1, 8, 4, 4), **{"0_3": -np.inf}),
    ),
    Case(
        "maxpool-minus-inf",
        lambda: torch.nn.MaxPool1d(2),
        (1, 2, 6),
        lambda: with_values((1, 2, 6), **{"0_0": -np.inf}),
    ),
    Case(
        "maxpool-empty-window",
        lambda: torch.nn.MaxPool2d(2, padding=1, dilation=3),
        (1, 2, 2, 2),
        lambda: with_values((1, 2, 2, 2)),
    ),
    Case(
        "maxpool-empty-window",
        lambda: torch.nn.MaxPool2d(2, padding=1, dilation=3, return_indices=True),
        (1, 2, 2, 2),
        lambda: with_values((1, 2, 2, 2)),
    ),
    Case("maxunpool-plane-indices", PoolUnpool, (2, 3, 4, 4), lambda: with_values((2, 3, 4, 4))),
    Case(
        "resize-inf",
        lambda: Interpolate(scale_factor=2.0, mode="bilinear", align_corners=True),
        (1, 2, 5, 5),
        lambda: with_values((1, 2, 5, 5), **{"0_0_0_4": np.inf}),
    ),  # last column
    Case(
        "resize-inf",
        lambda: Interpolate(size=(5, 7), mode="bicubic"),
        (1, 2, 5, 7),
        lambda: with_values((1, 2, 5, 7), **{"0_0_2_3": np.inf}),
    ),
    Case(
        "resize-antialias-align-corners",
        lambda: Interpolate(size=(14, 5), mode="bilinear", antialias=True, align_corners=True),
        (1, 2, 7, 9),
        lambda: with_values((1, 2, 7, 9)),
        exporter="dynamo",
    ),
    Case(
        "resize-antialias-scale",
        lambda: Interpolate(scale_factor=2.3, mode="bilinear", antialias=True),
        (1, 2, 7, 9),
        lambda: with_values((1, 2, 7, 9)),
        exporter="dynamo",
    ),
]


def _export(case: Case, module: Any) -> onnx.ModelProto:
    if case.exporter == "dynamo":
        return export_dynamo(module, case.shape)
    if case.rule == "maxunpool-plane-indices":
        with unpool_symbolic():
            return export_legacy(module, case.shape)
    return export_legacy(module, case.shape)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}-{c.exporter}")
def test_rule_is_true_and_flagged(case: Case) -> None:
    module = case.module().eval()
    proto = _export(case, module)
    assert differs(proto, module, case.trigger()) > 0, "onnxruntime agrees: the rule is false"
    hits = [f for f in audit(proto).findings if f.rule == case.rule]
    assert hits, f"{case.rule} not flagged"
    names = {n.name for n in proto.graph.node}
    assert all(f.node in names and f.op == RULES_BY_ID[case.rule].op_type for f in hits)


RULES_BY_ID = {rule.id: rule for rule in RULES}


def test_every_rule_has_a_proof() -> None:
    assert {c.rule for c in CASES} == set(RULES_BY_ID)


@pytest.mark.parametrize(
    ("module", "shape", "x"),
    [
        # 2-D pooling without a last-axis pad keeps -inf: not flagged, and onnxruntime agrees
        (
            lambda: torch.nn.MaxPool2d(2),
            (1, 2, 4, 4),
            lambda: with_values((1, 2, 4, 4), **{"0_0": -np.inf}),
        ),
        # an integer upscale with half_pixel samples no pixel exactly
        (
            lambda: Interpolate(scale_factor=2.0, mode="bilinear"),
            (1, 2, 5, 5),
            lambda: with_values((1, 2, 5, 5), **{"0_0_0_1": np.inf}),
        ),
        (  # a ReLU's output holds no -inf
            lambda: torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, 1)),
            (1, 8, 6, 6),
            lambda: with_values((1, 8, 6, 6), **{"0_0": -np.inf}),
        ),
        (  # nor does a Concat of ReLUs (SqueezeNet's fire modules)
            lambda: ReluCat(),
            (1, 4, 6, 6),
            lambda: with_values((1, 4, 6, 6), **{"0_0": -np.inf}),
        ),
    ],
    ids=[
        "maxpool2d-no-pad-minus-inf",
        "bilinear-x2-inf",
        "relu-maxpool-minus-inf",
        "relu-cat-maxpool-minus-inf",
    ],
)
def test_rule_not_raised_where_onnxruntime_agrees(
    module: Any, shape: tuple[int, ...], x: Any
) -> None:
    m = module().eval()
    proto = export_legacy(m, shape)
    assert differs(proto, m, x()) == 0
    rules = {f.rule for f in audit(proto).findings}
    assert "maxpool-minus-inf" not in rules
    bilinear = [f for f in audit(proto).findings if f.rule == "resize-inf"]
    assert all(not f.certain for f in bilinear)  # possible at most: no exact sample shown


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (lambda: torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), (2, 4)),
        (
            lambda: torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
            (1, 2, 7, 7),
        ),
        (lambda: Interpolate(scale_factor=2.3, mode="nearest"), (1, 2, 7, 9)),
        (lambda: torch.nn.MaxPool2d(2, padding=1, dilation=3), (1, 2, 8, 8)),
    ],
    ids=["linear-relu", "avgpool-ceil", "nearest", "dilated-pool-big-enough"],
)
def test_clean_files_pass(module: Any, shape: tuple[int, ...]) -> None:
    report = audit(export_legacy(module(), shape))
    assert "maxpool-empty-window" not in {f.rule for f in report.findings}
    if shape != (1, 2, 8, 8):
        assert report.ok, str(report)
        assert "clean" in str(report)


def test_antialias_with_an_integer_scale_is_not_flagged() -> None:
    m = Interpolate(scale_factor=2.0, mode="bilinear", antialias=True)
    proto = export_dynamo(m, (1, 2, 7, 9))
    assert differs(proto, m, with_values((1, 2, 7, 9))) == 0
    assert "resize-antialias-scale" not in {f.rule for f in audit(proto).findings}


def test_empty_windows_where_the_size_is_unknown_are_possible() -> None:
    proto = export_legacy(
        torch.nn.MaxPool2d(2, padding=1, dilation=3),
        (1, 2, 2, 2),
        input_names=["x"],
        dynamic_axes={"x": {2: "H", 3: "W"}},
    )
    hits = [f for f in audit(proto).findings if f.rule == "maxpool-empty-window"]
    assert len(hits) == 1 and not hits[0].certain
    assert "axis 2 has size 2" in hits[0].detail
    assert empty_windows(2, k=2, s=2, d=3, pb=1, pe=1, ceil=False) == [0]


# ------------------------------------------------------------------ our own files
def _own_files() -> dict[str, Model]:
    x = Input("x", ("N", 2, 6, 6))
    small = Input("x", ("N", 2, 2, 2))
    i = Input("i", ("N", 2, 3, 3), "int64")
    p = Input("p", ("N", 2, 3, 3))
    return {
        "maxpool": Model([x], [MaxPool2d(3, 2, 1)(x)]),
        "maxpool-of-a-layer": Model([x], [MaxPool2d(3, 2, 1)(Identity()(x))]),
        "maxpool-of-relu": Model([x], [MaxPool2d(3, 2, 1)(ReLU()(x))]),
        "maxpool-indices": Model([x], list(MaxPool2d(3, 2, 1, return_indices=True)(x))),
        "maxpool-empty": Model([small], [MaxPool2d(2, padding=1, dilation=3)(small)]),
        "upsample": Model([x], [Upsample(scale_factor=2, mode="bilinear", align_corners=True)(x)]),
        "unpool": Model([p, i], [MaxUnpool2d(2)(p, i)]),
    }


@pytest.mark.parametrize("name", list(_own_files()))
def test_our_own_files_audit_clean(name: str) -> None:
    report = audit(_own_files()[name].to_onnx())
    assert report.ok, str(report)


def test_our_files_fix_what_the_rules_flag() -> None:
    """The same triggers that break torch's exports agree on our lowering."""
    cases = [
        (
            torch.nn.MaxPool2d(3, 2, 1),
            MaxPool2d(3, 2, 1),
            (1, 2, 6, 6),
            with_values((1, 2, 6, 6), **{"0_0": -np.inf, "0_1_0_0": np.nan}),
        ),
        (
            torch.nn.MaxPool2d(2, padding=1, dilation=3),
            MaxPool2d(2, padding=1, dilation=3),
            (1, 2, 2, 2),
            with_values((1, 2, 2, 2)),
        ),
    ]
    for module, layer, shape, x in cases:
        inp = Input("x", shape)
        assert differs(Model([inp], [layer(inp)]).to_onnx(), module, x) == 0


def test_nan_pattern_is_recognised_without_the_lowering_record() -> None:
    """Drop the record that proves the file is ours: the NaN-exact pattern still shows."""
    for name in ("maxpool", "maxpool-of-a-layer", "maxpool-of-relu", "maxpool-indices", "upsample"):
        proto = _own_files()[name].to_onnx()
        keep = [p for p in proto.metadata_props if p.key != DIGEST_KEY]
        del proto.metadata_props[:]
        proto.metadata_props.extend(keep)
        rules = {f.rule for f in audit(proto).findings}
        assert not rules & {"maxpool-nan", "maxpool-minus-inf", "resize-inf"}, (name, rules)


def test_an_edited_file_of_ours_is_audited_as_any_file() -> None:
    proto = _own_files()["maxpool-empty"].to_onnx()
    keep = [p for p in proto.metadata_props if p.key != DIGEST_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    assert "maxpool-empty-window" in {f.rule for f in audit(proto).findings}


# ------------------------------------------------------------------ files and CLI
def test_external_data_is_read_and_checked(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.MaxPool2d(2))
    proto = export_legacy(net, (1, 2, 8, 8))
    path = tmp_path / "net.onnx"
    onnx.save_model(
        proto,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="net.data",
        size_threshold=0,
    )
    assert (tmp_path / "net.data").exists()
    assert [f.rule for f in audit(path).findings] == ["maxpool-nan"]
    evil = onnx.load(path, load_external_data=False)
    for init in evil.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = "../outside.data"
    onnx.save_model(evil, tmp_path / "evil.onnx")
    with pytest.raises(ModelLoadError, match="escapes the model's directory"):
        audit(tmp_path / "evil.onnx")


def _cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flagged, clean = tmp_path / "pool.onnx", tmp_path / "mlp.onnx"
    onnx.save_model(export_legacy(torch.nn.MaxPool2d(3, 2, 1), (1, 2, 6, 6)), flagged)
    x = Input("x", ("N", 4))
    Model([x], [ReLU()(Linear(4, 2)(x))]).save(clean)
    assert _cli(["audit", str(clean)]) == 0
    assert "clean" in capsys.readouterr().out
    assert _cli(["audit", str(flagged)]) == 1
    text = capsys.readouterr().out
    assert "[maxpool-nan] node '/MaxPool' (MaxPool)" in text
    assert "fix:" in text and "onnxlayers export" in text
    assert _cli(["audit", str(flagged), str(clean), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [d["ok"] for d in data] == [False, True]
    finding = data[0]["findings"][0]
    assert {"rule", "node", "op", "torch", "onnxruntime", "when", "fix"} <= set(finding)
