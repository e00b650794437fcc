"""The ``onnxlayers`` command line: every command, its output, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnxlayers.builder import Flatten, Input, Linear, Model, ReLU, Sigmoid
from onnxlayers.runtime import MismatchError, Session
from onnxlayers.runtime.cli import main


@pytest.fixture
def mlp(tmp_path: Path) -> Path:
    x = Input("x", ("N", 2, 3))
    y = ReLU()(Linear(6, 4, seed=0)(Flatten()(x)))
    return Model([x], [y]).save(tmp_path / "mlp.onnx")


def _tampered(path: Path) -> Path:
    """The same file with its Relu swapped for a Sigmoid: the oracle must notice."""
    proto = onnx.load(path)
    for node in proto.graph.node:
        if node.op_type == "Relu":
            node.op_type = "Sigmoid"
    bad = path.with_name("tampered.onnx")
    onnx.save(proto, bad)
    return bad


def test_verify_ok_and_json(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(mlp)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["verify", str(mlp), "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["outputs"][0]["name"] == "output"


def test_verify_catches_a_wrong_graph(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(mlp), str(_tampered(mlp))]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "would pass" in out


def test_verify_without_layer_program(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proto = onnx.load(mlp)
    del proto.metadata_props[:]
    plain = mlp.with_name("plain.onnx")
    onnx.save(proto, plain)
    assert main(["verify", str(plain)]) == 2
    assert "no onnxlayers layer program" in capsys.readouterr().err


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx" in capsys.readouterr().err


def test_run_writes_outputs(mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.save(tmp_path / "a.npy", a)
    out_dir = tmp_path / "out"
    assert (
        main(["run", str(mlp), "--input", f"x={tmp_path / 'a.npy'}", "--output-dir", str(out_dir)])
        == 0
    )
    expected = Session(mlp).run({"x": a})["output"]
    np.testing.assert_array_equal(np.load(out_dir / "output.npy"), expected)
    assert "output: float32[2, 4]" in capsys.readouterr().out


def test_run_bad_input(mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 5), np.float32))
    assert main(["run", str(mlp), "--input", f"x={tmp_path / 'a.npy'}"]) == 2
    assert "input 'x'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", str(mlp), "--input", "x"])
    assert e.value.code == 2


def test_inspect(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(mlp), "--provider", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "Linear(in_features=6, out_features=4, bias=True)" in out
    assert "ai.onnx 21" in out
    assert "CUDA" in out


def test_bench_json(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(mlp), "--batch", "4", "--seconds", "0.05", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["batch"] == 4 and result["p50_ms"] > 0 and result["ratio"] > 0


def test_bench_plot(mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    assert (
        main(
            [
                "bench",
                str(mlp),
                "--batch",
                "4",
                "--seconds",
                "0.02",
                "--no-torch",
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "batch 1:" in capsys.readouterr().out


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "verify", "run", "inspect", "bench"):
        assert cmd in out


def test_session_check_rate_uses_the_real_oracle(mlp: Path) -> None:
    a = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32)
    sess = Session(mlp, check_rate=1.0)
    sess.run({"x": a})
    assert (sess.checked_runs, sess.mismatched_runs) == (1, 0)
    bad = Session(_tampered(mlp), check_rate=1.0)
    with pytest.raises(MismatchError, match="FAIL"):
        bad.run({"x": a})
    assert bad.mismatched_runs == 1


def test_verify_sigmoid_model_is_within_default_tolerance() -> None:
    from onnxlayers.runtime import verify

    x = Input("x", ("N", 64))
    rep = verify(Model([x], [Sigmoid()(x)]), dims={"N": 128})
    assert rep.ok, str(rep)
