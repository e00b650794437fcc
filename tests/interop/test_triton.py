"""Triton model repositories: configs parsed by Triton's own schema, files, names, overwrites."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.helper as h
import pytest

from onnxlayers.builder import Flatten, Input, Linear, Model, ReLU, Tanh
from onnxlayers.runtime.cli import add_triton_parser
from onnxlayers.runtime.errors import ModelLoadError
from onnxlayers.runtime.triton import (
    TritonConfigError,
    model_config_schema,
    parse_config,
    triton_config,
    write_triton_repository,
)
from tests.helpers import run_ort


@pytest.fixture(scope="module")
def schema() -> Any:
    try:
        return model_config_schema()
    except ImportError:
        pytest.skip("tritonclient is not installed (pip install 'onnxlayers[triton]')")


def mlp(batch: Any = "N", dtype: str = "float32") -> Model:
    x = Input("image", (batch, 2, 3, 4), dtype)
    h1 = Flatten()(x)
    return Model(
        [x],
        [Tanh()(Linear(24, 5, seed=0)(h1)), ReLU()(h1)],
        output_names=["logits", "features"],
        name="mlp",
    )


def test_batching_config_fits_triton_schema(tmp_path: Path, schema: Any) -> None:
    folder = write_triton_repository(
        mlp(), tmp_path, max_batch_size=16, instances=3, provider="cuda"
    )
    assert folder == tmp_path / "mlp"
    cfg = parse_config(folder / "config.pbtxt")
    assert (cfg.name, cfg.platform, cfg.backend, cfg.max_batch_size) == (
        "mlp",
        "onnxruntime_onnx",
        "onnxruntime",
        16,
    )
    dt = schema.DataType
    assert [(i.name, dt.Name(i.data_type), list(i.dims)) for i in cfg.input] == [
        ("image", "TYPE_FP32", [2, 3, 4])
    ]
    assert [(o.name, dt.Name(o.data_type), list(o.dims)) for o in cfg.output] == [
        ("logits", "TYPE_FP32", [5]),
        ("features", "TYPE_FP32", [24]),
    ]
    assert cfg.HasField("dynamic_batching")
    kind = schema.ModelInstanceGroup.Kind
    assert [(g.count, kind.Name(g.kind)) for g in cfg.instance_group] == [(3, "KIND_GPU")]


def test_no_batching_keeps_dynamic_dims_as_minus_one(schema: Any) -> None:
    cfg = parse_config(triton_config(mlp().to_onnx(), name="mlp"))
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [-1, 2, 3, 4] and list(cfg.output[0].dims) == [-1, 5]
    assert cfg.instance_group[0].kind == schema.ModelInstanceGroup.Kind.Value("KIND_CPU")


def test_static_model_without_batching(schema: Any) -> None:
    cfg = parse_config(triton_config(mlp(batch=1).to_onnx(), name="mlp"))
    assert list(cfg.input[0].dims) == [1, 2, 3, 4]


def test_batching_needs_a_dynamic_first_dim() -> None:
    with pytest.raises(
        TritonConfigError,
        match=r"input 'image' has shape \[1, 2, 3, 4\], whose "
        r"first dim is not dynamic",
    ):
        triton_config(mlp(batch=1).to_onnx(), name="mlp", max_batch_size=8)


def test_batching_needs_one_batch_dim_name() -> None:
    a, b = Input("a", ("N", 3)), Input("b", ("M", 3))
    model = Model([a, b], [ReLU()(a), ReLU()(b)])
    with pytest.raises(TritonConfigError, match=r"first dims are named \['M', 'N'\]"):
        triton_config(model.to_onnx(), name="two", max_batch_size=4)


@pytest.mark.parametrize(("dtype", "triton"), [("float64", "TYPE_FP64"), ("float16", "TYPE_FP16")])
def test_dtypes(dtype: str, triton: str, schema: Any) -> None:
    cfg = parse_config(triton_config(mlp(dtype=dtype).to_onnx(), name="m", max_batch_size=2))
    assert {schema.DataType.Name(t.data_type) for t in [*cfg.input, *cfg.output]} == {triton}


def test_int64_output_and_scalars(schema: Any) -> None:
    x = Input("x", ("N",), "float32")
    s = Input("s", (), "float32")
    model = Model([x, s], [ReLU()(x), ReLU()(s)], output_names=["y", "t"])
    batched = parse_config(triton_config(model.to_onnx(), name="m", max_batch_size=0))
    scalar = batched.input[1]
    assert list(scalar.dims) == [1] and scalar.HasField("reshape") and not scalar.reshape.shape
    graph = h.make_graph(
        [h.make_node("ArgMax", ["x"], ["i"], keepdims=0)],
        "argmax",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
        [h.make_tensor_value_info("i", onnx.TensorProto.INT64, ["N"])],
    )
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
    cfg = parse_config(triton_config(proto, name="argmax", max_batch_size=8))
    out = cfg.output[0]
    assert schema.DataType.Name(out.data_type) == "TYPE_INT64"
    assert list(out.dims) == [1] and out.HasField("reshape")  # batched (N,) -> [1] reshaped []


def test_model_file_is_the_model(tmp_path: Path) -> None:
    model = mlp()
    folder = write_triton_repository(model, tmp_path, max_batch_size=4)
    stored = onnx.load(folder / "1" / "model.onnx")
    onnx.checker.check_model(stored, full_check=True)
    feeds = {"image": np.random.default_rng(0).standard_normal((3, 2, 3, 4)).astype(np.float32)}
    for a, b in zip(run_ort(stored, feeds), run_ort(model, feeds), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(os.listdir(tmp_path)) == ["mlp"]  # no temporary folder left behind


def test_default_name_from_a_file_and_explicit_name(tmp_path: Path) -> None:
    path = mlp().save(tmp_path / "my-net.v2.onnx")
    assert write_triton_repository(path, tmp_path / "repo").name == "my-net.v2"
    assert write_triton_repository(path, tmp_path / "repo", name="other").name == "other"


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "../up", "a b", "é"])
def test_bad_model_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(TritonConfigError, match=r"model name .* is invalid"):
        write_triton_repository(mlp(), tmp_path, name=name)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_batch_size": -1}, "max_batch_size=-1 is invalid"),
        ({"instances": 0}, "instances=0 is invalid"),
        ({"provider": "tpu"}, "provider='tpu' is invalid"),
    ],
)
def test_bad_arguments(tmp_path: Path, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(TritonConfigError, match=match):
        write_triton_repository(mlp(), tmp_path, **kw)


def test_full_provider_names_are_accepted(schema: Any) -> None:
    cfg = parse_config(triton_config(mlp().to_onnx(), name="m", provider="CUDAExecutionProvider"))
    assert cfg.instance_group[0].kind == schema.ModelInstanceGroup.Kind.Value("KIND_GPU")


def test_rewrite_same_model_updates_config_different_model_needs_overwrite(tmp_path: Path) -> None:
    folder = write_triton_repository(mlp(), tmp_path)
    write_triton_repository(mlp(), tmp_path, max_batch_size=8)  # same model: config updated
    assert "max_batch_size: 8" in (folder / "config.pbtxt").read_text()
    x = Input("image", ("N", 2, 3, 4))
    other = Model([x], [ReLU()(x)], name="mlp")
    before = (folder / "1" / "model.onnx").read_bytes()
    with pytest.raises(TritonConfigError, match=r"holds a different model .* overwrite=True"):
        write_triton_repository(other, tmp_path)
    assert (folder / "1" / "model.onnx").read_bytes() == before
    write_triton_repository(other, tmp_path, overwrite=True)
    assert (folder / "1" / "model.onnx").read_bytes() == other.to_onnx().SerializeToString()


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(OSError, match="disk full"):
        write_triton_repository(mlp(), tmp_path)
    assert not list(tmp_path.iterdir())


def test_custom_domain_without_functions_is_refused(tmp_path: Path) -> None:
    graph = h.make_graph(
        [h.make_node("Mystery", ["x"], ["y"], domain="ai.onnxlayers")],
        "g",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 2])],
    )
    proto = h.make_model(
        graph, opset_imports=[h.make_opsetid("", 21), h.make_opsetid("ai.onnxlayers", 1)]
    )
    with pytest.raises(ModelLoadError, match="Mystery"):
        write_triton_repository(proto, tmp_path, name="mystery")


def test_schema_rejects_a_broken_config(schema: Any) -> None:
    with pytest.raises(TritonConfigError, match="ModelConfig schema"):
        parse_config('name: "x"\nmax_batch_size: "eight"\n')


def test_cli_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: Any) -> None:
    path = mlp().save(tmp_path / "mlp.onnx")
    parser = argparse.ArgumentParser()
    add_triton_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "export-triton",
            str(path),
            "--repository",
            str(tmp_path / "r"),
            "--max-batch-size",
            "32",
            "--instances",
            "2",
        ]
    )
    assert args.fn(args) == 0
    assert "tritonserver --model-repository=" in capsys.readouterr().out
    cfg = parse_config(tmp_path / "r" / "mlp" / "config.pbtxt")
    assert (cfg.max_batch_size, cfg.instance_group[0].count) == (32, 2)


@pytest.mark.parametrize(
    ("umask", "dir_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)]
)
def test_repository_follows_the_umask(
    tmp_path: Path, umask: int, dir_mode: int, file_mode: int
) -> None:
    """A Triton server running as another user must be able to read what we write (0755 and
    0644 under umask 022), never the 0700 of a private temp folder."""
    x = Input("x", ("N", 4))
    old = os.umask(umask)
    try:
        folder = write_triton_repository(Model([x], [ReLU()(x)]), tmp_path / "repo", name="m")
    finally:
        os.umask(old)
    for path in (folder, folder / "1"):
        assert path.stat().st_mode & 0o777 == dir_mode, path
    for path in (folder / "config.pbtxt", folder / "1" / "model.onnx"):
        assert path.stat().st_mode & 0o777 == file_mode, path
