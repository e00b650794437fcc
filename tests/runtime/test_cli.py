"""The ``onnxlayers`` command line: every command, its output, and its exit codes.

Tests marked ``providers`` run again in CI's second environment (onnxruntime-gpu, CUDA listed but
its libraries missing); they pass in three: CPU onnxruntime (CUDA not in the build), that one
(CUDA fails to load), and a machine where CUDA works.
"""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest
from onnx import TensorProto

from onnxlayers.builder import Flatten, Input, Linear, Model, ReLU, Sigmoid
from onnxlayers.runtime import MismatchError, Session
from onnxlayers.runtime.bench import bench
from onnxlayers.runtime.cli import main
from onnxlayers.runtime.errors import RuntimeFault
from onnxlayers.runtime.providers import load_failure

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
CUDA_LISTED = CUDA in ort.get_available_providers()
CUDA_WORKS = CUDA_LISTED and load_failure(CUDA) is None


@pytest.fixture
def mlp(tmp_path: Path) -> Path:
    x = Input("x", ("N", 2, 3))
    y = ReLU()(Linear(6, 4, seed=0)(Flatten()(x)))
    return Model([x], [y]).save(tmp_path / "mlp.onnx")


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    """An ONNX file not made by onnxlayers: no layer program, a batch dim B and a length L."""
    graph = oh.make_graph(
        [oh.make_node("Add", ["a", "b"], ["y"], name="add")],
        "plain",
        [
            oh.make_tensor_value_info("a", TensorProto.FLOAT, ["B", "L", 4]),
            oh.make_tensor_value_info("b", TensorProto.FLOAT, [1, "L", 4]),
        ],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "L", 4])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 21)], ir_version=10), path)
    return path


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


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
    assert main(["verify", str(mlp), str(_tampered(mlp)), "--provider", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "would pass" in out
    summary = _lines(out)[-4:-1]
    assert summary[0].split() == ["model", "provider", "result"]
    assert summary[1].split() == [str(mlp), CPU, "ok"]
    assert summary[2].split() == [str(mlp.with_name("tampered.onnx")), CPU, "FAIL"]


def test_verify_checks_every_model_and_summarises(
    mlp: Path, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model that cannot be loaded or has no layer program is an error in the summary, not the
    end of the run: exit 2 when nothing failed verification, 1 when something did."""
    missing = tmp_path / "missing.onnx"
    args = ["verify", "--provider", "cpu", str(mlp), str(plain), str(missing)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "no onnxlayers layer program" in captured.err and "missing.onnx" in captured.err
    table = {line.split()[0]: line.split()[1:] for line in _lines(captured.out)[-4:-1]}
    assert table[str(mlp)] == [CPU, "ok"]
    assert table[str(plain)][:2] == ["-", "error:"]
    assert table[str(missing)][:2] == ["-", "error:"]
    assert _lines(captured.out)[-1] == "1 of 3 verified, 2 could not be checked"

    assert main([*args, str(_tampered(mlp))]) == 1  # a failure wins over the errors
    assert "1 failed, 2 could not be checked" in capsys.readouterr().out

    assert main([*args, "--json"]) == 2
    reports = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["status"]) for r in reports] == [
        (str(mlp), "ok"),
        (str(plain), "error"),
        (str(missing), "error"),
    ]
    assert reports[0]["provider"] == CPU and reports[0]["providers"] == [CPU]
    assert reports[0]["error"] is None and reports[0]["ok"]
    assert reports[1]["provider"] is None and not reports[1]["ok"]
    assert "no onnxlayers layer program" in reports[1]["error"]


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


def test_run_prints_values_of_any_onnx_file(
    plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "a.npy", np.full((2, 3, 4), 1 / 3, np.float32))
    np.save(tmp_path / "b.npy", np.zeros((1, 3, 4), np.float32))
    argv = ["run", str(plain), "--input", f"a={tmp_path / 'a.npy'}"]
    assert main([*argv, "--input", f"b={tmp_path / 'b.npy'}", "--print", "--provider", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"provider: {CPU}\ny: float32[2, 3, 4]\narray([[[0.33333334, ")
    assert out.count("0.33333334") == 24 and "..." not in out  # small: every element, full
    np.save(tmp_path / "a.npy", np.full((2, 500, 4), 0.5, np.float32))  # 4000 elements
    np.save(tmp_path / "b.npy", np.ones((1, 500, 4), np.float32))
    assert main([*argv, "--input", f"b={tmp_path / 'b.npy'}", "--print"]) == 0
    out = capsys.readouterr().out
    assert "..." in out and "(4000 elements: min 1.5, max 1.5, mean 1.5)" in out


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


def test_inspect_any_onnx_file(plain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(plain)]) == 0
    out = capsys.readouterr().out
    assert "inputs:    a: float32[B, L, 4], b: float32[1, L, 4]" in out
    assert "outputs:   y: float32[B, L, 4]" in out
    assert "opsets:    ai.onnx 21" in out and "no layer program" in out
    assert main(["inspect", str(plain), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"][0] == {"name": "a", "dtype": "float32", "shape": ["B", "L", 4]}
    assert info["layer_program"] is False and info["layers"] is None
    assert info["opsets"] == {"ai.onnx": 21} and info["functions"] == []


def test_inspect_json_is_structured(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(mlp), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["N", 2, 3]}]
    assert info["outputs"] == [{"name": "output", "dtype": "float32", "shape": ["N", 4]}]
    assert info["opsets"] == {"ai.onnx": 21}
    assert info["layer_program"] is True
    assert info["layers"][1] == {
        "node": "linear_0",
        "type": "Linear",
        "args": {"in_features": 6, "out_features": 4, "bias": True},
        "training": False,
    }
    assert info["provider"] is None and info["cuda_fallbacks"] is None


def test_inspect_json_lists_cuda_fallbacks_as_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = oh.make_graph(
        [oh.make_node("MaxUnpool", ["x", "i"], ["y"], name="unpool", kernel_shape=[2, 2])],
        "g",
        [
            oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2]),
            oh.make_tensor_value_info("i", TensorProto.INT64, [1, 1, 2, 2]),
        ],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "unpool.onnx"
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 21)], ir_version=10), path)
    assert main(["inspect", str(path), "--provider", "CUDAExecutionProvider", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["provider"] == CUDA and info["cuda_caveats"] == []
    (fallback,) = info["cuda_fallbacks"]
    assert {k: fallback[k] for k in ("node", "op", "domain", "opset", "dtype")} == {
        "node": "unpool",
        "op": "MaxUnpool",
        "domain": "ai.onnx",
        "opset": 21,
        "dtype": "float",
    }
    assert isinstance(fallback["reason"], str) and fallback["reason"]
    assert info["inputs"][0] == {"name": "x", "dtype": "float32", "shape": [1, 1, 2, 2]}
    assert info["outputs"][0]["shape"] is None


@pytest.mark.providers
@pytest.mark.parametrize("command", ["inspect", "verify", "bench", "run", "demo"])
def test_unknown_provider_is_a_usage_error(
    mlp: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--input", "x=x.npy"] if command == "run" else []
    model = [] if command == "demo" else [str(mlp)]
    with pytest.raises(SystemExit) as e:
        main([command, *model, *extra, "--provider", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --provider: 'nope' is not a known execution provider" in err
    assert "choose cpu, cuda or one of onnxruntime's names: " in err and CUDA in err


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


def test_bench_any_onnx_file_without_torch(plain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", str(plain), "--no-torch", "--seconds", "0.02", "--provider", "cpu"]
    assert main([*argv, "--batch", "3", "--dims", "L=5", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["inputs"] == {"a": [3, 5, 4], "b": [1, 5, 4]}
    assert result["batch"] == 3 and result["provider"] == CPU and result["ratio"] is None
    assert main([*argv, "--dims", "L=5"]) == 0
    assert f"[{CPU}] batch 1:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "input 'a' dim 1 ('L'), input 'b' dim 1 ('L') are dynamic with no size"),
        ([], "(CLI: --dims L=SIZE)"),
        (["--dims", "l=5"], "dims ['l'] name no dynamic dim of the model; its non-batch "),
        (["--dims", "L=5", "--dims", "B=2"], "dims ['B'] are first (batch) dims"),
    ],
)
def test_bench_dynamic_dims_need_sizes(
    plain: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", str(plain), "--no-torch", "--seconds", "0.02", "--provider", "cpu", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bench_torch_needs_our_program(plain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(plain), "--seconds", "100", "--dims", "L=5"]) == 2  # no timing
    err = capsys.readouterr().err
    assert "carries no onnxlayers layer program" in err and "pass --no-torch" in err


def test_bench_batch_needs_a_dynamic_first_dim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = Input("x", (2, 3))
    path = Model([x], [ReLU()(x)]).save(tmp_path / "static.onnx")
    argv = ["bench", str(path), "--seconds", "0.02", "--no-torch", "--provider", "cpu"]
    assert main([*argv, "--batch", "4"]) == 2
    assert "no input of" in capsys.readouterr().err
    assert main(argv) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "m.onnx", "--batch", "0"], "argument --batch: '0' is invalid; expected an "),
        (["bench", "m.onnx", "--batch", "-1"], "argument --batch: '-1' is invalid"),
        (["bench", "m.onnx", "--batch", "two"], "argument --batch: 'two' is invalid"),
        (["bench", "m.onnx", "--seconds", "0"], "argument --seconds: '0' is invalid; expected"),
        (["bench", "m.onnx", "--seconds", "-2"], "argument --seconds: '-2' is invalid"),
        (["bench", "m.onnx", "--seconds", "nan"], "argument --seconds: 'nan' is invalid"),
        (["bench", "m.onnx", "--dims", "L=0"], "argument --dims: 'L=0' is invalid"),
        (["bench", "m.onnx", "--dims", "L"], "argument --dims: 'L' is invalid"),
        (
            ["export-triton", "m.onnx", "--repository", "r", "--max-batch-size", "-1"],
            "argument --max-batch-size: '-1' is invalid; expected an integer >= 0",
        ),
        (
            ["export-triton", "m.onnx", "--repository", "r", "--instances", "0"],
            "argument --instances: '0' is invalid; expected an integer >= 1",
        ),
    ],
)
def test_bad_numbers_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bench_library_refuses_bad_numbers(mlp: Path) -> None:
    with pytest.raises(RuntimeFault, match=r"batch=0 is invalid; expected an integer >= 1"):
        bench(str(mlp), batch=0, torch=False)
    with pytest.raises(RuntimeFault, match=r"seconds=0 is invalid; expected a number > 0"):
        bench(str(mlp), seconds=0, torch=False)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"onnxlayers {version('onnxlayers')}\n"


FACTORY = """
import torch


def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.RReLU())


def make_eval():
    return make().eval()
"""


@pytest.mark.parametrize(
    ("factory", "extra", "training", "note"),
    [
        ("make", [], False, True),  # nn.Module's default mode: eval exported, with a note
        ("make", ["--training"], True, False),
        ("make_eval", [], False, False),
    ],
)
def test_export_training_flag(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    factory: str,
    extra: list[str],
    training: bool,
    note: bool,
) -> None:
    pytest.importorskip("torch")
    (tmp_path / "net.py").write_text(textwrap.dedent(FACTORY))
    out = tmp_path / "net.onnx"
    argv = ["export", f"{tmp_path}/net.py:{factory}", "--input-shape", "2,4", "-o", str(out)]
    assert main([*argv, *extra]) == 0
    lines = capsys.readouterr().out.splitlines()
    notes = [line for line in lines if line.startswith("note:")]
    assert len(notes) == int(note)
    if note:
        assert "training mode; its eval behaviour was exported" in notes[0]
        assert "--training" in notes[0]
    calls = Model.load(out).program().calls
    assert [(c.type, c.training) for c in calls] == [("Linear", training), ("RReLU", training)]


# ----------------------------------------------------------------------------- providers
def _provider_line(err: str) -> str:
    (line,) = _lines(err)  # exactly one line, however many sessions the command opened
    return line


@pytest.mark.providers
@pytest.mark.skipif(CUDA_WORKS, reason="CUDA works here: nothing to refuse")
@pytest.mark.parametrize("command", ["verify", "bench", "run", "demo"])
def test_explicit_cuda_that_cannot_be_had_exits_2_with_the_reason(
    mlp: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 3), np.float32))
    argv = {
        "verify": ["verify", str(mlp)],
        "bench": ["bench", str(mlp), "--seconds", "0.02"],
        "run": ["run", str(mlp), "--input", f"x={tmp_path / 'x.npy'}"],
        "demo": ["demo", "--output-dir", str(tmp_path / "zoo")],
    }[command]
    assert main([*argv, "--provider", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = _provider_line(captured.err)
    assert line.startswith(f"onnxlayers {command}: error: --provider {CUDA}: ")
    assert "pass --fallback to run on the CPU instead" in line
    if CUDA_LISTED:  # onnxruntime-gpu without the CUDA libraries: the loader's own words
        assert "cannot open shared object file" in line
    else:  # the CPU build: CUDA is simply not in it
        assert "exist in onnxruntime but not in this build" in line


@pytest.mark.providers
def test_explicit_cuda_with_fallback_runs_on_cpu_and_says_so(
    mlp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(mlp), str(mlp), "--provider", "cuda", "--fallback"]) == 0
    captured = capsys.readouterr()
    summary = _lines(captured.out)[-3:-1]
    if CUDA_WORKS:
        assert captured.err == ""
        assert all(line.split()[1] == CUDA for line in summary)
        return
    line = _provider_line(captured.err)  # once, though two models were verified
    assert line.startswith(f"onnxlayers verify: warning: running on {CPU}: ")
    assert CUDA in line
    if CUDA_LISTED:
        assert "cannot open shared object file" in line
    assert all(line.split()[1] == CPU for line in summary)
    assert f"on {CPU} vs NumPy oracle" in captured.out


@pytest.mark.providers
def test_bench_run_and_demo_print_the_provider_that_ran(
    mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = CUDA if CUDA_WORKS else CPU
    fallback = ["--provider", "cuda", "--fallback"]
    assert main(["bench", str(mlp), "--seconds", "0.02", "--no-torch", "--json", *fallback]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["provider"] == ran
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 3), np.float32))
    assert main(["run", str(mlp), "--input", f"x={tmp_path / 'x.npy'}", *fallback]) == 0
    assert capsys.readouterr().out.startswith(f"provider: {ran}\n")
    assert main(["demo", "--output-dir", str(tmp_path / "zoo"), *fallback]) == 0
    out = capsys.readouterr().out
    assert f"linear_example on {ran}: [1, 2, 3] -> [6.0, 12.0, 18.0, 24.0] (exact)" in out
    rows = _lines(out.split("\n\n")[0])[1:]
    assert rows and all(row.split()[1] == ran.removesuffix("ExecutionProvider") for row in rows)


@pytest.mark.providers
def test_default_provider_is_the_best_and_falls_back_with_one_line(
    mlp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(mlp), str(mlp)]) == 0
    captured = capsys.readouterr()
    providers = {line.split()[1] for line in _lines(captured.out)[-3:-1]}
    if CUDA_WORKS:
        assert providers == {CUDA} and captured.err == ""
    elif CUDA_LISTED:  # CUDA is tried first, cannot load: CPU, with one note
        assert providers == {CPU}
        line = _provider_line(captured.err)
        assert line.startswith(f"onnxlayers verify: note: running on {CPU}: ")
        assert "cannot open shared object file" in line
    else:  # the CPU build: CPU is the best there is, nothing to say
        assert providers == {CPU} and captured.err == ""


@pytest.mark.providers
def test_explicit_cpu_never_mentions_cuda(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(mlp), "--provider", "CPUExecutionProvider"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and CUDA not in captured.out


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
