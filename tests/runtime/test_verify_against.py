"""``verify --against``: any ONNX file vs a torch module, on random and adversarial feeds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from onnx import TensorProto

from onnxlayers.builder import Input, Linear, Model, ReLU
from onnxlayers.builder.errors import ModelFormatError
from onnxlayers.runtime.adversarial import FEED_KINDS, FeedSpec, adversarial_feeds, feed_specs
from onnxlayers.runtime.cli import main
from onnxlayers.runtime.errors import InputError
from onnxlayers.runtime.session import TensorSpec
from onnxlayers.runtime.verification import match_inputs, verify, verify_against

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
from tests.runtime.test_audit import export_dynamo, export_legacy


def failing_kinds(report: Any, who: str = "your file") -> dict[str, int]:
    """``{feed kind: mismatched elements}`` of one run's rows that failed."""
    out: dict[str, int] = {}
    for row in report.rows:
        if row.pair.startswith(f"{who} vs torch [") and not row.ok:
            kind = row.pair.rsplit("[", 1)[1].rstrip("]")
            out[kind] = out.get(kind, 0) + max(row.mismatches, 1)
    return out


def pooling() -> Any:
    return torch.nn.Sequential(
        torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        torch.nn.MaxPool2d(3, 2, 1),
    ).eval()


# ------------------------------------------------------------------ adversarial feeds
def test_each_kind_has_its_pattern() -> None:
    spec = FeedSpec("x", np.dtype("float32"), (2, 3, 6, 8))
    sets = {s.kind: s.feeds["x"] for s in adversarial_feeds([spec], seed=1)}
    assert list(sets) == list(FEED_KINDS)
    rows = sets["nan"].reshape(-1, 8)
    nan_at = {int(np.flatnonzero(np.isnan(r))[0]) for r in rows[::2] if np.isnan(r).any()}
    assert {0, 1, 6, 7} <= nan_at  # first, second, second-to-last and last of rows
    assert np.isfinite(rows[1::2]).sum() > rows[1::2].size - 4  # other rows mostly finite
    inf = sets["inf"]
    assert np.all(inf[0, 0] == -np.inf) and np.isposinf(inf).any()
    assert np.isfinite(inf[1]).sum() < inf[1].size  # infinities beyond the -inf plane too
    assert set(np.unique(sets["ties"])) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    constant = sets["constant"]
    assert np.all(constant == constant[:, :, :1, :1]) and len(np.unique(constant)) > 1
    assert np.abs(sets["large"]).max() > 1e27
    assert sets["negative"].max() < 0 and not sets["zeros"].any()
    again = {s.kind: s.feeds["x"] for s in adversarial_feeds([spec], seed=1)}
    assert all(np.array_equal(sets[k], again[k], equal_nan=True) for k in sets)


def test_integer_inputs_are_the_same_in_every_kind() -> None:
    specs = [FeedSpec("x", np.dtype("float16"), (4,)), FeedSpec("i", np.dtype("int64"), (4,))]
    sets = adversarial_feeds(specs)
    assert all(np.array_equal(s.feeds["i"], sets[0].feeds["i"]) for s in sets)
    assert {s.feeds["x"].dtype for s in sets} == {np.dtype("float16")}
    assert np.isfinite(sets[list(FEED_KINDS).index("large")].feeds["x"]).all()


def test_feed_specs_dims_shapes_and_errors() -> None:
    x = TensorSpec("x", np.dtype("float32"), ("N", 3, "H", "W"), "tensor(float)")
    y = TensorSpec("y", np.dtype("float32"), None, "tensor(float)")
    assert feed_specs([x])[0].shape == (2, 3, 16, 16)
    assert feed_specs([x], dims={"N": 1, "W": 5})[0].shape == (1, 3, 16, 5)
    with pytest.raises(InputError, match="rank 3, the model expects rank 4"):
        feed_specs([x], shapes=[(1, 3, 8)])
    with pytest.raises(InputError, match="does not say its rank"):
        feed_specs([x, y])
    with pytest.raises(InputError, match="2 input shapes given"):
        feed_specs([x], shapes=[(1, 3, 8, 8), (1,)])


# ------------------------------------------------------------------ verify, any file
def test_torch_export_of_pooling_is_caught_by_nan_feeds(tmp_path: Path) -> None:
    module = pooling()
    path = tmp_path / "pool.onnx"
    onnx.save_model(export_legacy(module, (1, 3, 16, 16)), path)
    report = verify(path, against=module)
    assert not report.ok
    bad = failing_kinds(report)
    assert "random" not in bad and "nan" in bad  # what random data never shows
    assert "inf" in bad  # the all -inf plane: -3.4e38 on padded windows
    assert failing_kinds(report, "onnxlayers") == {} and failing_kinds(report, "oracle") == {}
    text = str(report)
    assert "your file vs torch [nan]" in text and "onnxlayers vs torch [nan]" in text
    assert "fix: re-export with `onnxlayers export" in text
    row = next(r for r in report.rows if r.pair == "your file vs torch [nan]")
    assert row.worst_index is not None and np.isnan(row.expected) and np.isfinite(row.actual)
    assert row.needed_atol == np.inf


def test_divisor_override_is_caught_by_random_feeds() -> None:
    module = torch.nn.AvgPool2d(2, divisor_override=3).eval()
    report = verify_against(export_legacy(module, (1, 2, 6, 6)), module, kinds=["random"])
    assert failing_kinds(report) == {"random": 18}
    assert failing_kinds(report, "onnxlayers") == {}


def test_dynamo_export_is_verified_too() -> None:
    module = torch.nn.MaxPool2d(2).eval()
    report = verify(export_dynamo(module, (1, 2, 6, 6)), against=module, kinds=["random", "nan"])
    assert set(failing_kinds(report)) == {"nan"}


def test_a_clean_file_passes_and_keeps_its_verdict_without_ours() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
    report = verify_against(export_legacy(module, (2, 4)), module)
    assert report.ok, str(report)
    assert len(report.rows) == 3 * len(FEED_KINDS)
    assert "your file vs torch: agrees on every feed kind" in str(report)
    alone = verify_against(export_legacy(module, (2, 4)), module, ours=False)
    assert alone.ok and len(alone.rows) == len(FEED_KINDS)


def test_unsupported_modules_still_get_your_file_compared() -> None:
    module = torch.nn.MaxPool1d(2).eval()
    report = verify_against(export_legacy(module, (1, 2, 8)), module, kinds=["random", "nan"])
    assert set(failing_kinds(report)) == {"nan"}
    assert any("onnxlayers cannot export MaxPool1d itself" in n for n in report.notes)
    assert all(len(n) < 400 for n in report.notes)


def test_outputs_with_no_finite_value_are_explained() -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.MaxPool2d(2), torch.nn.AdaptiveAvgPool2d(1)
    ).eval()
    report = verify_against(export_legacy(net, (1, 2, 8, 8)), net, kinds=["random", "nan"])
    assert report.ok  # the NaN spreads everywhere: MaxPool's fault cannot show at the output
    assert any("hold no finite value" in n and "audit" in n for n in report.notes)


def test_verify_of_our_own_models_is_unchanged() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Tanh()).eval()
    from onnxlayers.builder.torch_import import from_torch

    report = verify(from_torch(net, (1, 4)), against=net)
    assert sorted({r.pair for r in report.rows}) == [
        "onnxruntime vs oracle",
        "onnxruntime vs torch",
        "oracle vs torch",
    ]
    with pytest.raises(ModelFormatError):
        verify(export_legacy(net, (1, 4)))  # no program and nothing to compare with
    with pytest.raises(InputError, match="pass against="):
        verify(from_torch(net, (1, 4)), kinds=["nan"])


def test_our_own_file_can_be_verified_as_any_file() -> None:
    from onnxlayers.builder.torch_import import from_torch

    net = pooling()
    report = verify(from_torch(net, (1, 3, 16, 16)).to_onnx(), against=net, kinds=list(FEED_KINDS))
    assert report.ok, str(report)


def test_external_data_files(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU()).eval()
    path = tmp_path / "net.onnx"
    onnx.save_model(
        export_legacy(net, (1, 2, 8, 8)),
        path,
        save_as_external_data=True,
        location="net.data",
        size_threshold=0,
    )
    assert verify(path, against=net, kinds=["random", "large"]).ok


# ------------------------------------------------------------------ inputs and shapes
def _sub_file(names: tuple[str, str]) -> onnx.ModelProto:
    """``y = a - b`` with inputs declared in the order ``names``."""
    node = oh.make_node("Sub", ["a", "b"], ["y"])
    value = {n: oh.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("a", "b")}
    graph = oh.make_graph(
        [node],
        "g",
        [value[n] for n in names],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 18)])


class Sub(torch.nn.Module):
    def forward(self, a: Any, b: Any) -> Any:
        return a - b


def test_inputs_match_by_name_then_by_order() -> None:
    assert verify_against(_sub_file(("b", "a")), Sub(), ours=False).ok  # by name
    renamed = export_legacy(torch.nn.Sequential(torch.nn.ReLU()), (2, 3), input_names=["input_0"])
    assert verify_against(renamed, torch.nn.ReLU(), kinds=["random"]).ok  # by order
    assert match_inputs(["input.1", "input.2"], Sub()) == ["input.1", "input.2"]
    with pytest.raises(InputError, match=r"neither by name nor by order"):
        verify_against(renamed, Sub())


def test_output_count_must_match() -> None:
    class Both(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x, -x

    with pytest.raises(InputError, match="returned 2 outputs; the file has 1"):
        verify_against(export_legacy(torch.nn.Sequential(torch.nn.ReLU()), (2, 3)), Both())


def test_dynamic_dims_from_input_shapes_or_dims() -> None:
    module = torch.nn.MaxPool2d(2).eval()
    proto = export_legacy(
        module, (1, 2, 8, 8), input_names=["x"], dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}}
    )
    report = verify_against(proto, module, input_shapes=[(3, 2, 10, 12)], kinds=["random"])
    assert report.rows[0].shape == (3, 2, 5, 6)
    report = verify_against(proto, module, dims={"H": 6, "W": 4}, kinds=["random"])
    assert report.rows[0].shape == (2, 2, 3, 2)
    given = verify_against(proto, module, feeds={"x": np.ones((1, 2, 4, 4))})
    assert given.ok and {r.pair for r in given.rows} >= {"your file vs torch [given]"}


# ------------------------------------------------------------------ CLI
FACTORY = """
import torch

def pooling():
    return torch.nn.Sequential(torch.nn.MaxPool2d(3, 2, 1))

def mlp():
    torch.manual_seed(0)  # the weights of the file: a factory must rebuild them
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
"""


def _cli(argv: list[str]) -> int:
    return main(["verify", "--provider", "cpu", *argv])


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(FACTORY))
    pool, mlp = tmp_path / "pool.onnx", tmp_path / "mlp.onnx"
    onnx.save_model(
        export_legacy(
            torch.nn.MaxPool2d(3, 2, 1),
            (1, 2, 8, 8),
            input_names=["x"],
            dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}},
        ),
        pool,
    )
    torch.manual_seed(0)
    onnx.save_model(
        export_legacy(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), (2, 4)), mlp
    )
    assert _cli([str(mlp), "--against", f"{tmp_path}/net.py:mlp"]) == 0
    assert "agrees on every feed kind" in capsys.readouterr().out
    assert (
        _cli([str(pool), "--against", f"{tmp_path}/net.py:pooling", "--input-shape", "1,2,12,12"])
        == 1
    )
    out = capsys.readouterr().out
    assert "x=(1, 2, 12, 12)" in out and "differs on nan" in out
    assert (
        _cli(
            [
                str(pool),
                "--against",
                f"{tmp_path}/net.py:pooling",
                "--json",
                "--feed-kinds",
                "random,nan",
            ]
        )
        == 1
    )
    data = json.loads(capsys.readouterr().out)
    assert {o["pair"] for o in data[0]["outputs"]} >= {
        "your file vs torch [nan]",
        "onnxlayers vs torch [nan]",
    }
    with pytest.raises(SystemExit):
        _cli([str(pool), "--against", "net.py:pooling", "--feed-kinds", "noise"])


def test_cli_model_with_a_layer_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(FACTORY))
    x = Input("x", ("N", 4))
    path = Model([x], [ReLU()(Linear(4, 3)(x))]).save(tmp_path / "ours.onnx")
    assert (
        _cli([str(path), "--against", f"{tmp_path}/net.py:mlp", "--feed-kinds", "random"]) == 1
    )  # other weights: torch's factory made its own Linear
    assert "differs on random" in capsys.readouterr().out
