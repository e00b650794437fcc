"""``export FILE.py:FACTORY``: loading factories, exporting, verifying, and every error."""

from __future__ import annotations

import argparse
import importlib
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import onnxlayers.runtime.oracle.add  # noqa: F401  (until runtime.oracle imports it)
from onnxlayers.builder import Model
from onnxlayers.runtime.cli import add_export_parser, parse_shape
from onnxlayers.runtime.errors import MismatchError, ModelLoadError
from onnxlayers.runtime.export import export_factory, load_factory
from onnxlayers.runtime.verification import verify

verify_module = importlib.import_module("onnxlayers.runtime.verification")  # not the function

NET = """
import torch
from torch import nn

from helper import WIDTH  # a sibling module: the file's folder is importable


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, WIDTH), Residual(), nn.Tanh())


def make_small():
    return nn.Sequential(nn.Linear(12, 4), nn.Sigmoid())


def broken():
    raise RuntimeError("no weights here")


def not_a_module():
    return 42


NOT_CALLABLE = 3
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET))
    (tmp_path / "helper.py").write_text("WIDTH = 6\n")
    return tmp_path


def test_export_with_verify_writes_a_verified_file(folder: Path) -> None:
    logged: list[str] = []
    out = folder / "out" / "net.onnx"
    model = export_factory(
        f"{folder}/net.py:make_net", (2, 3, 4), out, verify=True, log=logged.append
    )
    assert isinstance(model, Model) and out.exists()
    assert model.inputs[0].shape == ("N", 3, 4)
    note, report = logged  # the factory's module is in training mode (nn.Module's default)
    assert note.startswith("note: net.py:make_net returned a module in training mode")
    assert "vs NumPy oracle vs torch" in report and "FAIL" not in report
    assert verify(out).ok  # the file alone carries its layer program
    assert [c.type for c in Model.load(out).program().calls] == [
        "Flatten",
        "Linear",
        "Linear",
        "ReLU",
        "Add",
        "Tanh",
    ]


def test_static_batch(folder: Path) -> None:
    model = export_factory(
        f"{folder}/net.py:make_net", (2, 3, 4), folder / "n.onnx", dynamic_batch=False
    )
    assert model.inputs[0].shape == (2, 3, 4)


@pytest.fixture
def torch_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's outputs off by 0.1 (as when a module's forward is not what was traced)."""
    real = verify_module.torch_outputs

    def off(*args: Any) -> dict[str, np.ndarray]:
        return {k: v + np.float32(0.1) for k, v in real(*args).items()}

    monkeypatch.setattr(verify_module, "torch_outputs", off)


@pytest.mark.usefixtures("torch_disagrees")
def test_failed_verification_writes_nothing(folder: Path) -> None:
    out = folder / "small.onnx"
    with pytest.raises(MismatchError, match="verification failed; nothing was written"):
        export_factory(f"{folder}/net.py:make_small", (2, 12), out, verify=True)
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("net.py", r"expected FILE\.py:FACTORY"),
        ("missing.py:make", r"file '.*missing\.py' does not exist"),
        ("net.py:nope", r"has no attribute 'nope'; its callables are \[.*'make_net'"),
        ("net.py:NOT_CALLABLE", r"NOT_CALLABLE is 3, not callable"),
        ("net.py:broken", r"broken\(\) raised RuntimeError: no weights here"),
        ("net.py:not_a_module", r"not_a_module\(\) returned int 42; expected a torch\.nn\.Module"),
        ("bad.py:make", r"importing '.*bad\.py' raised SyntaxError"),
    ],
)
def test_factory_errors(folder: Path, spec: str, match: str) -> None:
    (folder / "bad.py").write_text("def make(:\n")
    with pytest.raises(ModelLoadError, match=match):
        load_factory(f"{folder}/{spec}")


def test_parse_shape() -> None:
    assert parse_shape("1,3,32,32") == (1, 3, 32, 32)
    for bad in ("", "1,x", "1,-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected comma-separated ints"):
            parse_shape(bad)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_export_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_subcommand(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = folder / "cli.onnx"
    args = _parser().parse_args(
        [
            "export",
            f"{folder}/net.py:make_net",
            "--input-shape",
            "1,3,4",
            "-o",
            str(out),
            "--verify",
        ]
    )
    assert args.fn(args) == 0 and out.exists()
    text = capsys.readouterr().out
    assert "onnxruntime vs torch" in text and f"wrote {out}" in text
    x = np.ones((5, 3, 4), np.float32)
    from onnxlayers.runtime.session import Session

    assert Session(out).run({"input": x})["output"].shape == (5, 6)


@pytest.mark.usefixtures("torch_disagrees")
def test_cli_verification_failure_exits_1(folder: Path) -> None:
    args = _parser().parse_args(
        [
            "export",
            f"{folder}/net.py:make_small",
            "--input-shape",
            "2,12",
            "-o",
            str(folder / "r.onnx"),
            "--verify",
        ]
    )
    assert args.fn(args) == 1 and not (folder / "r.onnx").exists()
