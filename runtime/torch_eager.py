"""Run a layer program with torch eager (the baseline of every speed ratio).

Our layers take torch's constructor arguments, so each call maps to its layer's torch twin
(``Layer.torch_module``: ``torch.nn.<Type>(**args)`` unless the layer says otherwise) with the
program's weights loaded by torch's state-dict names. torch is optional: importing this
module imports it.

>>> import numpy as np
>>> from onnxlayers.builder import Input, Model, ReLU
>>> x = Input("x", (3,))
>>> fn = to_torch(Model([x], [ReLU()(x)]).program())
>>> fn({"x": np.array([-1.0, 2.0, 3.0], np.float32)})["output"]
array([0., 2., 3.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from onnxlayers.builder import LAYERS, Program
from onnxlayers.builder.program import resolve_shapes

TorchFn = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def _module(rec_type: str, args: Mapping[str, Any], training: bool) -> Callable[..., Any]:
    twin = LAYERS[rec_type].torch_module(args)
    return twin.train(training) if isinstance(twin, torch.nn.Module) else twin


def to_torch(prog: Program) -> TorchFn:
    """A function running ``prog`` with torch eager on numpy feeds (weights copied once)."""
    steps = []
    for rec in prog.calls:
        module = _module(rec.type, rec.args, rec.training)
        if isinstance(module, torch.nn.Module) and rec.weights:
            dtype = getattr(torch, str(prog.weights[next(iter(rec.weights.values()))].dtype))
            module.to(dtype).load_state_dict(
                {k: torch.from_numpy(np.array(prog.weights[v])) for k, v in rec.weights.items()}
            )
        steps.append((rec, module))

    @torch.no_grad()
    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, Any] = {k: torch.from_numpy(np.asarray(v)) for k, v in feeds.items()}
        for rec, module in steps:
            kwargs = resolve_shapes(rec.call_args, lambda n: tuple(env[n].shape))
            out = module(*[env[n] for n in rec.inputs], **kwargs)
            env.update(zip(rec.outputs, out if isinstance(out, tuple) else (out,), strict=True))
        return {n: env[n].numpy() for n in prog.outputs}

    return run


def torch_runner(prog: Program, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
    """A zero-argument callable running ``prog`` on ``feeds`` with tensors prepared once."""
    fn = to_torch(prog)
    return lambda: fn(feeds)
