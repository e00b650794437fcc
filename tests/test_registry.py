"""One place per layer: every registered layer has an oracle and examples, each checked three ways.

Each layer class lists :attr:`~onnxlayers.builder.Layer.examples`; every example runs on
onnxruntime, on the NumPy oracle and on torch eager, with torch's module built directly from the
same constructor arguments (``Layer.torch_module``: ``torch.nn.<Type>(**args)`` unless the layer
says otherwise) and its floating-point state (weights, batch-norm statistics) drawn at random
and copied into ours. A new layer type is tested here by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from onnxlayers.builder import LAYERS, Example, Input, Model
from onnxlayers.runtime import Session, compare_outputs, oracle

CASES = [(name, i) for name, cls in sorted(LAYERS.items()) for i in range(len(cls.examples))]


def test_every_layer_has_examples_and_an_oracle() -> None:
    assert not [n for n, cls in LAYERS.items() if not cls.examples], "add examples to each layer"
    assert set(LAYERS) <= set(oracle.IMPLS)


def feeds_for(example: Example, rng: np.random.Generator) -> list[np.ndarray]:
    """Distinct values (no ties in max pooling), or the example's own feeds."""
    if example.feeds is not None:
        return example.feeds(rng)
    return [
        ((rng.permutation(int(np.prod(s))).reshape(s) - np.prod(s) / 2) / 7).astype(np.float32)
        for s in example.inputs
    ]


def randomized(module: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fill every floating tensor of the module's state with seeded values; return the state."""
    state = {}
    for key, value in module.state_dict().items():
        if value.is_floating_point():
            shape = tuple(value.shape)
            fresh = (
                rng.uniform(0.5, 1.5, shape)
                if "var" in key.rsplit(".", 1)[-1]
                else rng.standard_normal(shape) * 0.5
            )
            value.copy_(torch.from_numpy(fresh.astype(np.float32)))
        state[key] = value.detach().numpy().copy()
    return state


@pytest.mark.parametrize(("layer_type", "index"), CASES)
def test_three_way(layer_type: str, index: int) -> None:
    cls = LAYERS[layer_type]
    example = cls.examples[index]
    rng = np.random.default_rng(index)
    twin = cls.torch_module(dict(example.args))
    if isinstance(twin, torch.nn.Module):
        twin.eval()
    state = randomized(twin, rng) if isinstance(twin, torch.nn.Module) else {}
    ours = cls(**example.args)
    ours.load_state_dict({k: v for k, v in state.items() if k in ours.param_shapes()})
    arrays = feeds_for(example, rng)
    inputs = [
        Input(f"x{i}", ("N", *a.shape[1:]) if a.ndim > 1 else a.shape, a.dtype.name)
        for i, a in enumerate(arrays)
    ]
    out = ours(*inputs, **example.call)
    model = Model(inputs, list(out) if isinstance(out, tuple) else [out])
    feeds = {t.name: a for t, a in zip(inputs, arrays, strict=True)}
    got = Session(model.to_onnx()).run(feeds)
    ref = oracle.run(model, feeds)
    with torch.no_grad():
        res = twin(*[torch.from_numpy(a) for a in arrays], **example.call)
    res = res if isinstance(res, tuple) else (res,)
    theirs = {n: r.detach().numpy() for n, r in zip(model.output_names, res, strict=True)}
    for a, b, label in [
        (got, ref, "onnxruntime vs oracle"),
        (ref, theirs, "oracle vs torch"),
        (got, theirs, "onnxruntime vs torch"),
    ]:
        report = compare_outputs(a, b)
        assert report.ok, f"{layer_type} example {index}: {label}\n{report}"
    again = Model.load(model.to_onnx())  # the saved program rebuilds the same model
    np.testing.assert_equal(oracle.run(again, feeds), ref)
