"""Whole reference networks through ``from_torch``, verified three ways at a dynamic batch.

Each network of :mod:`tests.networks` (seeded weights, non-trivial batch-norm statistics) is
imported with ``from_torch``, lowered, and run on onnxruntime, on the NumPy oracle and in torch
eager at two batch sizes; every pair agrees within 1e-4 of the output's scale.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from onnxlayers.builder import from_torch
from onnxlayers.runtime import Session, compare_outputs, oracle
from tests.networks import NETWORKS, seeded


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_network_three_ways(name: str) -> None:
    factory, shape = NETWORKS[name]
    net = seeded(factory())
    model = from_torch(net, shape)
    assert model.inputs[0].shape[0] == "N"
    session = Session(model.to_onnx())
    for batch in (shape[0], 3):
        x = np.random.default_rng(batch).standard_normal((batch, *shape[1:])).astype(np.float32)
        feeds = {model.inputs[0].name: x}
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        scale = float(np.abs(want).max())
        runs = {
            "onnxruntime": session.run(feeds),
            "oracle": oracle.run(model, feeds),
            "torch": {model.output_names[0]: want},
        }
        for a, b in (("onnxruntime", "torch"), ("oracle", "torch"), ("onnxruntime", "oracle")):
            report = compare_outputs(runs[a], runs[b], rtol=0.0, atol=1e-4 * scale)
            assert report.ok, f"{name} batch {batch}: {a} vs {b}\n{report}"
