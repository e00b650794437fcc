"""Session: checked feeds, providers, placement, IO binding, oracle checks, threads, memory."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.helper as h
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP

from onnxlayers.builder import Input, Linear, MaxPool2d, MaxUnpool2d, Model
from onnxlayers.runtime.errors import (
    DataError,
    InputError,
    MismatchError,
    ModelLoadError,
    ProviderError,
    RuntimeFault,
)
from onnxlayers.runtime.providers import ProviderFallbackWarning, resolve_providers
from onnxlayers.runtime.session import OracleMismatchWarning, Session

CPU = "CPUExecutionProvider"
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def make_model(
    nodes: list[onnx.NodeProto],
    inputs: Sequence[tuple[str, int, Any]],
    outputs: Sequence[tuple[str, int, Any]],
    opset: int = 21,
) -> onnx.ModelProto:
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info(*i) for i in inputs],
        [h.make_tensor_value_info(*o) for o in outputs],
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def relu(shape: Sequence[Any] = ("N", 3), dtype: int = TP.FLOAT) -> onnx.ModelProto:
    return make_model(
        [h.make_node("Relu", ["x"], ["y"], name="relu")],
        [("x", dtype, list(shape))],
        [("y", dtype, list(shape))],
    )


def two_inputs() -> onnx.ModelProto:
    """z = a * b, w = a + b, with outputs declared in the order (w, z)."""
    return make_model(
        [
            h.make_node("Mul", ["a", "b"], ["z"], name="mul"),
            h.make_node("Add", ["a", "b"], ["w"], name="add"),
        ],
        [("a", TP.FLOAT, ["N", 4]), ("b", TP.FLOAT, [1, 4])],
        [("w", TP.FLOAT, ["N", 4]), ("z", TP.FLOAT, ["N", 4])],
    )


@pytest.fixture(scope="module")
def sess() -> Session:
    return Session(relu())


X = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], np.float32)
Y = np.maximum(X, 0)


# ------------------------------------------------------------------ basics
def test_run_returns_outputs_in_model_order() -> None:
    s = Session(two_inputs())
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.full((1, 4), 2.0, np.float32)
    result = s.run({"a": a, "b": b})
    assert list(result) == ["w", "z"] == list(s.output_names)
    np.testing.assert_array_equal(result["w"], a + b)
    np.testing.assert_array_equal(result["z"], a * b)


def test_specs_and_attributes(sess: Session) -> None:
    (spec,) = sess.input_specs
    assert (spec.name, spec.dtype, spec.shape, spec.rank) == ("x", np.dtype("float32"), ("N", 3), 2)
    assert spec.static_dims == ((1, 3),)
    assert sess.output_names == ("y",)
    assert sess.providers == [CPU] and sess.requested_providers == (CPU,)
    assert sess.creation_seconds > 0  # how long: benchmarks/bench_runtime.py
    assert sess.model.graph.node[0].op_type == "Relu"


def test_model_from_path_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "relu.onnx"
    path.write_bytes(relu().SerializeToString())
    for source in (path, str(path), path.read_bytes()):
        np.testing.assert_array_equal(Session(source).run({"x": X})["y"], Y)


def test_load_errors_surface_as_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        Session(tmp_path / "nope.onnx")


def test_onnxruntime_refusal_is_wrapped() -> None:
    model = make_model(
        [h.make_node("RandomUniformLike", ["x"], ["y"], name="noise")],
        [("x", TP.FLOAT, [2])],
        [("y", TP.FLOAT, [2])],
        opset=22,
    )
    with pytest.raises(
        ModelLoadError,
        match=r"<ModelProto>: onnxruntime cannot create a "
        r"session on \['CPUExecutionProvider'\].*"
        "RandomUniformLike",
    ):
        Session(model)


def test_runtime_failure_is_a_data_error() -> None:
    model = make_model(
        [h.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
        [("x", TP.FLOAT, ["N"]), ("s", TP.INT64, [1])],
        [("y", TP.FLOAT, None)],
    )
    s = Session(model)
    with pytest.raises(
        DataError,
        match=r"onnxruntime failed in its Reshape node 'reshape': .*; feeds x=float32\[5\], "
        r"s=int64\[1\]; the model takes",
    ):
        s.run({"x": np.zeros(5, np.float32), "s": np.array([4], np.int64)})


def test_run_faults_name_the_layer_and_the_feeds() -> None:
    x = Input("x", ("N", "K"))
    session = Session(Model([x], [Linear(3, 4, seed=0, name="fc")(x)]))
    with pytest.raises(
        DataError,
        match=r"Linear 'fc' \(in_features=3, out_features=4, "
        r"bias=True\) failed in its Gemm node 'fc/\S+': GEMM: Dimension mismatch"
        r".*; feeds x=float32\[2, 5\]; the model takes \{'x': float32\[N, K\]\}",
    ):
        session.run({"x": np.zeros((2, 5), np.float32)})


def test_run_faults_of_guards_name_the_layer_and_the_rule() -> None:
    x = Input("x", ("N", 3, "H", "W"))
    pool = Session(Model([x], [MaxPool2d(3, name="pool")(x)]))
    with pytest.raises(
        DataError,
        match=r"MaxPool2d 'pool' \(kernel_size=\[3, 3\].*\) failed: "
        r"output size is too small.*; feeds x=float32\[1, 3, 2, 2\]",
    ):
        pool.run({"x": np.zeros((1, 3, 2, 2), np.float32)})
    v, i = Input("v", ("N", 2, 2, 2)), Input("i", ("N", 2, 2, 2), "int64")
    unpool = Session(Model([v, i], [MaxUnpool2d(2, name="up")(v, i)]))
    with pytest.raises(
        DataError,
        match=r"MaxUnpool2d 'up' .* failed: MaxUnpool2d: an index is "
        r"outside \[0, H_out \* W_out\) of its plane",
    ):
        unpool.run({"v": np.zeros((1, 2, 2, 2), np.float32), "i": np.full((1, 2, 2, 2), 99)})


# ------------------------------------------------------------------ feed errors
@pytest.mark.parametrize(
    ("feeds", "words"),
    [
        ({"X": X}, [r"unknown 'X' \(did you mean 'x'\?\)", "missing \\['x'\\]"]),
        ({}, [r"missing \['x'\]", r"'x': float32\[N, 3\]"]),
        ({"x": X, "extra": X}, [r"unknown 'extra'", r"feeds \['x', 'extra'\]"]),
    ],
)
def test_wrong_names(sess: Session, feeds: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(InputError) as info:
        sess.run(feeds)
    for word in words:
        assert info.match(word)


def test_overridable_initializer_is_an_optional_feed() -> None:
    model = make_model(
        [h.make_node("Add", ["x", "b"], ["y"], name="add")],
        [("x", TP.FLOAT, [3]), ("b", TP.FLOAT, [3])],
        [("y", TP.FLOAT, [3])],
    )
    model.graph.initializer.append(h.make_tensor("b", TP.FLOAT, [3], [1.0, 2.0, 3.0]))
    s = Session(model)
    assert [spec.name for spec in s.optional_input_specs] == ["b"]
    ones = np.ones(3, np.float32)
    np.testing.assert_array_equal(s.run({"x": ones})["y"], [2, 3, 4])
    np.testing.assert_array_equal(s.run({"x": ones, "b": [0, 0, 0]})["y"], ones)
    with pytest.raises(InputError, match=r"missing \['x'\].*'b': float32\[3\] \(optional\)"):
        s.run({"b": ones})


def test_feeds_must_be_a_mapping(sess: Session) -> None:
    with pytest.raises(InputError, match=r"feeds must be a mapping.*got list"):
        sess.run([X])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            X.astype(np.float64),
            r"input 'x': got dtype 'float64', the model expects 'float32' "
            r"\(float32\[N, 3\]\)",
        ),
        (X.astype(np.int32), r"got dtype 'int32'"),
        (X[0], r"input 'x': got rank 1 \(shape \(3,\)\), the model expects rank 2"),
        (np.zeros((2, 4), np.float32), r"input 'x': dim 1 is 4, the model expects 3"),
        (["a", "b", "c"], r"input 'x': got \['a', 'b', 'c'\] \(str\d+\), the model expects"),
        ([[1.5, 2.0], [1.0]], r"input 'x': cannot make an array of"),
    ],
)
def test_wrong_values(sess: Session, value: Any, words: str) -> None:
    with pytest.raises(InputError, match=words):
        sess.run({"x": value})


def test_errors_are_value_errors(sess: Session) -> None:
    with pytest.raises(ValueError):
        sess.run({"x": X.astype(np.float64)})


# ------------------------------------------------------------------ conversions
def test_python_lists_convert_when_lossless(sess: Session) -> None:
    np.testing.assert_array_equal(sess.run({"x": [[-1, 2, 0.25]]})["y"], [[0, 2, 0.25]])
    np.testing.assert_array_equal(
        sess.run({"x": [[0.1, 0.2, 0.3]]})["y"], np.array([[0.1, 0.2, 0.3]], np.float32)
    )  # float rounding is fine


def test_python_values_refused_when_lossy() -> None:
    s = Session(relu(("N",), TP.INT32))
    np.testing.assert_array_equal(s.run({"x": [-3, 4]})["y"], np.array([0, 4], np.int32))
    with pytest.raises(InputError, match=r"input 'x': \[1\.5, 2\.0\] does not fit int32"):
        s.run({"x": [1.5, 2.0]})
    with pytest.raises(InputError, match="does not fit int32"):
        s.run({"x": [2**40]})
    with pytest.raises(InputError, match="does not fit float32"):
        Session(relu(("N",))).run({"x": [1e300]})


def test_scalar_input() -> None:
    s = Session(relu(()))
    assert s.run({"x": -2.0})["y"].shape == ()
    assert s.run({"x": np.float32(3)})["y"] == 3


def test_non_contiguous_input(sess: Session) -> None:
    wide = np.zeros((2, 6), np.float32)
    wide[:, ::2] = X
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(sess.run({"x": view})["y"], Y)
    np.testing.assert_array_equal(sess.run({"x": np.asfortranarray(X)})["y"], Y)


def test_big_endian_input(sess: Session) -> None:
    big = X.astype(">f4")
    result = sess.run({"x": big})["y"]
    assert result.dtype == np.float32 and result.dtype.isnative
    np.testing.assert_array_equal(result, Y)


def test_nan_and_inf_pass_through(sess: Session) -> None:
    x = np.array([[np.nan, np.inf, -np.inf]], np.float32)
    np.testing.assert_array_equal(sess.run({"x": x})["y"], [[np.nan, np.inf, 0.0]])


def test_empty_batch(sess: Session) -> None:
    y = sess.run({"x": np.zeros((0, 3), np.float32)})["y"]
    assert y.shape == (0, 3) and y.dtype == np.float32


def test_feeds_are_not_modified(sess: Session) -> None:
    feeds = {"x": X.astype(">f4")}
    sess.run(feeds)
    assert feeds["x"].dtype == np.dtype(">f4")


# ------------------------------------------------------------------ providers
def test_provider_names_match_partially() -> None:
    assert resolve_providers(["CPU"]).names == (CPU,)
    assert resolve_providers([CPU]).names == (CPU,)
    assert Session(relu(), providers="cpu").providers == [CPU]


def test_unknown_provider_lists_requested_and_available() -> None:
    with pytest.raises(
        ProviderError,
        match=r"'warp' is unknown to onnxruntime; available: "
        r"\[.*'CPUExecutionProvider'.*\] \(requested: "
        r"\['warp', 'cpu'\]\)",
    ):
        Session(relu(), providers=["warp", "cpu"])


def test_ambiguous_provider() -> None:
    with pytest.raises(ProviderError, match="ambiguous"):
        resolve_providers(["ExecutionProvider"])


@pytest.mark.skipif(HAS_CUDA, reason="needs a build without CUDA")
def test_unavailable_provider_warns_and_falls_back() -> None:
    with pytest.warns(
        ProviderFallbackWarning,
        match=r"\['CUDAExecutionProvider'\] exist in "
        r"onnxruntime but not in this build.*"
        r"available: .*falling back to "
        r"\['CPUExecutionProvider'\]",
    ):
        s = Session(relu(), providers=["cuda", "cpu"])
    assert s.providers == [CPU]
    assert s.requested_providers == ("CUDAExecutionProvider", CPU)
    np.testing.assert_array_equal(s.run({"x": X})["y"], Y)


@pytest.mark.skipif(HAS_CUDA, reason="needs a build without CUDA")
def test_unavailable_provider_strict_raises() -> None:
    with pytest.raises(ProviderError, match=r"not in this build.*available: .*strict=True"):
        Session(relu(), providers=["cuda"], strict=True)


def test_provider_options_pass_through() -> None:
    plan = resolve_providers([("cpu", {"arena_extend_strategy": "kSameAsRequested"})])
    assert plan.options == ({"arena_extend_strategy": "kSameAsRequested"},)
    merged = resolve_providers(["cpu"], provider_options={"CPU": {"a": 1}})
    assert merged.options == ({"a": "1"},)
    s = Session(relu(), providers=[("cpu", {"arena_extend_strategy": "kSameAsRequested"})])
    np.testing.assert_array_equal(s.run({"x": X})["y"], Y)


def test_bad_provider_request_shapes() -> None:
    with pytest.raises(ProviderError, match="no execution provider requested"):
        resolve_providers([])
    with pytest.raises(ProviderError, match=r"\(name, dict\) pair"):
        resolve_providers([("cpu", {}, 3)])  # type: ignore[list-item]


# ------------------------------------------------------------------ placement
def test_placement_on_cpu() -> None:
    model = make_model(
        [h.make_node("Relu", ["x"], ["r"], name="relu"), h.make_node("Neg", ["r"], ["y"])],
        [("x", TP.FLOAT, ["N", 3])],
        [("y", TP.FLOAT, ["N", 3])],
    )
    s = Session(model)
    assert s.placement() == {"relu": CPU, "<Neg #1>": CPU}
    profiled = s._profiled_placement()  # the fallback for onnxruntime without assignment info
    assert set(profiled.values()) == {CPU} and "relu" in profiled and len(profiled) == 2


# ------------------------------------------------------------------ out= and binding
def test_out_arrays_are_written_in_place() -> None:
    s = Session(two_inputs())
    a, b = np.ones((3, 4), np.float32), np.full((1, 4), 2.0, np.float32)
    w, z = np.empty((3, 4), np.float32), np.empty((3, 4), np.float32)
    result = s.run({"a": a, "b": b}, out={"w": w, "z": z})
    assert result["w"] is w and result["z"] is z
    np.testing.assert_array_equal(w, a + b)
    np.testing.assert_array_equal(z, a * b)
    partial = s.run({"a": a, "b": b}, out={"z": z})
    assert partial["z"] is z and list(partial) == ["w", "z"]
    np.testing.assert_array_equal(partial["w"], a + b)


@pytest.mark.parametrize(
    ("target", "words"),
    [
        (np.empty((2, 3), np.float64), r"out\['y'\]: dtype is '<f8'"),
        (np.empty((2, 3), ">f4"), r"out\['y'\]: dtype is '>f4'"),
        (np.empty((2, 4), np.float32), r"out\['y'\]: shape \(2, 4\) does not fit"),
        (np.empty((3, 3), np.float32), r"expected \(2, 3\)"),
        (np.empty((2, 6), np.float32)[:, ::2], "C-contiguous"),
        ([0.0] * 6, r"got list, expected a numpy array"),
    ],
)
def test_bad_out_arrays(sess: Session, target: Any, words: str) -> None:
    with pytest.raises(InputError, match=words):
        sess.run({"x": X}, out={"y": target})


def test_out_with_unknown_name(sess: Session) -> None:
    with pytest.raises(
        InputError,
        match=r"out has 'z', which is not an output; outputs are "
        r"\['y'\]",
    ):
        sess.run({"x": X}, out={"z": np.empty((2, 3), np.float32)})


def test_ortvalue_inputs_on_cpu(sess: Session) -> None:
    value = ort.OrtValue.ortvalue_from_numpy(X)
    np.testing.assert_array_equal(sess.run({"x": value})["y"], Y)
    with pytest.raises(InputError, match=r"input 'x': got an OrtValue of tensor\(double\)"):
        sess.run({"x": ort.OrtValue.ortvalue_from_numpy(X.astype(np.float64))})
    with pytest.raises(InputError, match="dim 1 is 2"):
        sess.run({"x": ort.OrtValue.ortvalue_from_numpy(X[:, :2].copy())})


def test_bad_output_device(sess: Session) -> None:
    with pytest.raises(InputError, match="output_device must be 'cpu', 'cuda' or 'cuda:N'"):
        sess.run({"x": X}, output_device="tpu")


@pytest.mark.cuda
def test_cuda_outputs_stay_on_device() -> None:
    s = Session(relu(), providers=["cuda"], strict=True)
    first = s.run({"x": X}, output_device="cuda")
    assert isinstance(first["y"], ort.OrtValue) and first["y"].device_name().lower() == "cuda"
    second = s.run({"x": first["y"]}, output_device="cuda:0")  # device in, device out
    np.testing.assert_array_equal(second["y"].numpy(), Y)
    assert s.placement() == {"relu": "CUDAExecutionProvider"}


# ------------------------------------------------------------------ optimized model cache
def test_optimized_model_cache(tmp_path: Path) -> None:
    source, cache = tmp_path / "relu.onnx", tmp_path / "relu.opt.onnx"
    source.write_bytes(relu().SerializeToString())
    Session(source, optimized_model_path=cache)
    assert cache.is_file() and Path(f"{cache}.key").is_file()
    written = cache.stat().st_mtime_ns
    reused = Session(source, optimized_model_path=cache)
    assert cache.stat().st_mtime_ns == written  # loaded, not rewritten
    np.testing.assert_array_equal(reused.run({"x": X})["y"], Y)
    os.utime(source, ns=(written + 10**9, written + 10**9))  # the source is now newer
    Session(source, optimized_model_path=cache)
    assert cache.stat().st_mtime_ns != written


def test_optimized_model_cache_keyed_on_the_model(tmp_path: Path) -> None:
    cache = tmp_path / "m.opt.onnx"
    Session(relu(), optimized_model_path=cache)
    neg = make_model(
        [h.make_node("Neg", ["x"], ["y"])], [("x", TP.FLOAT, ["N", 3])], [("y", TP.FLOAT, ["N", 3])]
    )
    np.testing.assert_array_equal(Session(neg, optimized_model_path=cache).run({"x": X})["y"], -X)


# ------------------------------------------------------------------ oracle checks
class Report:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def __str__(self) -> str:
        return "y: max abs error 1.0 > atol"


def patch_check(monkeypatch: pytest.MonkeyPatch, ok: bool) -> list[Any]:
    calls: list[Any] = []

    def check(
        self: Session, feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
    ) -> Report:
        calls.append((feeds, outputs))
        return Report(ok)

    monkeypatch.setattr(Session, "_oracle_check", check)
    return calls


def test_check_rate_zero_never_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = patch_check(monkeypatch, ok=False)
    s = Session(relu())
    for _ in range(50):
        s.run({"x": X})
    assert calls == [] and s.checked_runs == 0


def test_check_rate_fraction_is_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check(monkeypatch, ok=True)
    counts = []
    for _ in range(2):
        s = Session(relu(), check_rate=0.3, seed=7)
        for _ in range(1000):
            s.run({"x": X})
        counts.append(s.checked_runs)
        assert s.mismatched_runs == 0
    assert counts[0] == counts[1] and 230 < counts[0] < 370


def test_checked_run_gets_feeds_and_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = patch_check(monkeypatch, ok=True)
    Session(relu(), check_rate=1.0).run({"x": X.astype(">f4")})
    ((feeds, outputs),) = calls
    assert feeds["x"].dtype == np.float32 and feeds["x"].dtype.isnative
    np.testing.assert_array_equal(outputs["y"], Y)


def test_mismatch_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check(monkeypatch, ok=False)
    s = Session(relu(), check_rate=1.0)
    with pytest.raises(MismatchError, match="max abs error"):
        s.run({"x": X})
    assert (s.checked_runs, s.mismatched_runs) == (1, 1)


def test_mismatch_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check(monkeypatch, ok=False)
    s = Session(relu(), check_rate=1.0, on_mismatch="warn")
    with pytest.warns(OracleMismatchWarning, match="max abs error"):
        np.testing.assert_array_equal(s.run({"x": X})["y"], Y)


def test_mismatch_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check(monkeypatch, ok=False)
    reports: list[Any] = []
    s = Session(relu(), check_rate=1.0, on_mismatch=reports.append)
    s.run({"x": X})
    s.run({"x": X})
    assert len(reports) == 2 and not reports[0].ok and s.mismatched_runs == 2


def test_counters_are_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check(monkeypatch, ok=False)
    s = Session(relu(), check_rate=1.0, on_mismatch=lambda report: None)
    threads = [
        threading.Thread(target=lambda: [s.run({"x": X}) for _ in range(200)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.checked_runs == s.mismatched_runs == 800


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"check_rate": 1.5}, r"check_rate must be in \[0, 1\], got 1\.5"),
        ({"on_mismatch": "ignore"}, r"on_mismatch must be 'raise', 'warn' or a callable.*'ignore'"),
        ({"threads": 0}, "threads must be a positive int or None, got 0"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(RuntimeFault, match=words):
        Session(relu(), **kwargs)


# ------------------------------------------------------------------ threads and memory
def test_one_session_shared_by_eight_threads() -> None:
    s = Session(relu(), threads=1)
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((8, 1000, 1, 3)).astype(np.float32)
    expected = [[s.run({"x": x})["y"] for x in per_thread] for per_thread in inputs]
    results: list[list[np.ndarray]] = [[] for _ in range(8)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            results[k] = [s.run({"x": x})["y"] for x in inputs[k]]
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k in range(8):
        np.testing.assert_array_equal(np.stack(results[k]), np.stack(expected[k]))


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_memory_is_stable_over_ten_thousand_runs(sess: Session) -> None:
    feeds = {"x": X}
    out = {"y": np.empty_like(Y)}
    for _ in range(500):  # warm up allocators and arenas
        sess.run(feeds)
        sess.run(feeds, out=out)
    before = rss_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(10_000):
            sess.run(feeds) if i % 2 else sess.run(feeds, out=out)
    growth = rss_bytes() - before
    print(f"RSS growth over 10,000 runs: {growth / 2**20:.2f} MiB")
    assert growth < 20 * 2**20


def test_cuda_sessions_get_the_cuda_lowering() -> None:
    """A file built for any target is lowered again for CUDA: no ceil_mode or asymmetric pads
    reach the CUDA provider's pooling kernels, and values stay the same."""
    from onnxlayers.builder import Input, MaxPool2d, Model
    from onnxlayers.runtime.cuda_kernels import cuda_caveats
    from onnxlayers.runtime.session import prepare_for

    x = Input("x", ("N", 2, 9, 9))
    proto = Model([x], [MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)(x)]).to_onnx()
    assert cuda_caveats(proto)
    cuda = prepare_for(proto, ["CUDAExecutionProvider"])
    assert cuda_caveats(cuda) == []
    a = np.random.default_rng(0).standard_normal((2, 2, 9, 9)).astype(np.float32)
    np.testing.assert_array_equal(
        Session(cuda).run({"x": a})["output"], Session(proto).run({"x": a})["output"]
    )
    assert prepare_for(proto, ["CPUExecutionProvider"]) is proto
