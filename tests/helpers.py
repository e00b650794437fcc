"""Shared test helpers: build one-layer models, run them on onnxruntime and on the oracle."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from onnxlayers.builder import Input, Model, Tensor
from onnxlayers.runtime import oracle
from onnxlayers.runtime.compare import SINGLE_OP_TOLERANCES

CPU = ("CPUExecutionProvider",)


def single_layer_model(
    layer: Callable[..., Any], shape: Sequence[Any], dtype: str = "float32", **call_args: Any
) -> Model:
    """``Model([x], outputs of layer(x))`` for an input of ``shape`` and ``dtype``."""
    x = Input("x", tuple(shape), dtype)
    out = layer(x, **call_args)
    outs = list(out) if isinstance(out, tuple) else [out]
    assert all(isinstance(t, Tensor) for t in outs)
    return Model([x], outs)


def checked_proto(model: Model, **kw: Any) -> onnx.ModelProto:
    """Lower and run ``onnx.checker.check_model(full_check=True)`` (to_onnx does it too)."""
    proto = model.to_onnx(**kw)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def run_ort(
    model: Model | onnx.ModelProto, feeds: Mapping[str, np.ndarray], providers: Sequence[str] = CPU
) -> list[np.ndarray]:
    """Outputs of plain onnxruntime (no onnxlayers session wrapper), in order."""
    proto = model if isinstance(model, onnx.ModelProto) else checked_proto(model)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=list(providers))
    return list(sess.run(None, dict(feeds)))


def run_oracle(model: Model, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    return list(oracle.run(model, feeds).values())


def assert_close(
    actual: np.ndarray,
    expected: np.ndarray,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    exact: bool = False,
    what: str = "",
) -> None:
    """NaN-aware comparison with shape and dtype checks; ``exact`` for indices."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if exact:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(
            actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what
        )


def torch_tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for comparing one layer against torch at a dtype."""
    return SINGLE_OP_TOLERANCES[dtype]
