"""Saved files: atomic, readable as the umask allows, external data for big weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnxlayers.builder import Input, Linear, Model
from onnxlayers.builder.files import save_atomic, save_model
from onnxlayers.runtime import Session, verify


def model(seed: int = 0) -> Model:
    x = Input("x", ("N", 64))
    return Model([x], [Linear(64, 32, seed=seed)(x)])


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        path = model().save(tmp_path / "m.onnx")
        text = save_atomic(b"x", tmp_path / "t.txt")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert text.stat().st_mode & 0o777 == mode


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = model().save(tmp_path / "m.onnx")
    before = path.read_bytes()

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        model(seed=1).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp file left


def test_big_weights_go_to_external_data_beside_the_model(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    save_model(model().to_onnx(), path, external_threshold=1024)
    data = [p.name for p in tmp_path.iterdir() if p.name.endswith(".data")]
    assert len(data) == 1 and data[0].startswith("m.onnx.")
    assert path.stat().st_size < 8192  # the weights are not in the model file
    assert verify(path).ok  # loads through the escape-checked loader
    x = np.ones((2, 64), np.float32)
    want = Session(model().to_onnx()).run({"x": x})["output"]
    np.testing.assert_array_equal(Session(path).run({"x": x})["output"], want)
    # saving new weights replaces the pair and removes the old data file
    save_model(model(seed=1).to_onnx(), path, external_threshold=1024)
    data2 = [p.name for p in tmp_path.iterdir() if p.name.endswith(".data")]
    assert len(data2) == 1 and data2 != data
    refs = {
        e.value
        for t in onnx.load(os.fspath(path), load_external_data=False).graph.initializer
        for e in t.external_data
        if e.key == "location"
    }
    assert refs == set(data2)
