"""``ai.onnxlayers::RReLU``: torch's RReLU in training mode, as an ONNX op.

Input ``X`` (any float tensor); outputs ``Y`` and, optionally, ``noise`` (both ``X``'s shape).
Attributes ``lower``, ``upper`` (floats, torch's defaults 1/8 and 1/3) and optional ``seed``.
Every element gets a slope ``r ~ U(lower, upper)``; as torch's ``rrelu_with_noise`` in
training::

    Y     = X * r   where X <= 0, else X      (NaN stays NaN)
    noise = r       where X <= 0, else 1      (torch's noise buffer)

so ``Y == where(X <= 0, X * noise, X)`` holds exactly, which is how verification checks a
random run. With ``seed`` every new session repeats the same sequence and successive runs of one
session differ; without it onnxruntime picks a seed per process. The body draws with
``RandomUniformLike``, which onnxruntime 1.32 only implements up to ``ai.onnx`` opset 21:
:func:`check_opset` refuses opset 22 at build time. Eval mode needs no op of ours (it is
``LeakyRelu((lower + upper) / 2)``).

>>> fn = function(21)
>>> [n.op_type for n in fn.node if n.op_type not in ("Constant", "CastLike")]
['RandomUniformLike', 'LessOrEqual', 'Mul', 'Where', 'Where']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto
from onnx.defs import OpSchema
from onnx.reference.op_run import OpRun
from onnx.shape_inference import InferenceContext

from ._domain import DOMAIN, MAX_RANDOM_OPSET, VERSION, Body, CustomOpError, GraphLike, register

OP = "RReLU"
DEFAULT_LOWER = 1.0 / 8
DEFAULT_UPPER = 1.0 / 3


# ------------------------------------------------------------------ NumPy reference
def apply_noise(x: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """torch's training formula given the slopes: ``x * noise`` where ``x <= 0``, else ``x``.

    >>> apply_noise(np.array([-2.0, 3.0]), np.array([0.25, 1.0]))
    array([-0.5,  3. ])
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(x <= 0, x * noise.astype(x.dtype), x)


class RReLU(OpRun):
    """The NumPy reference, for ``ReferenceEvaluator(model, new_ops=[RReLU, ...])``.

    Draws with NumPy (``seed`` seeds a fresh generator per run), so its values differ from
    onnxruntime's; the relation between ``Y``, ``noise`` and ``X`` is the same.
    """

    op_domain = DOMAIN

    def _run(
        self,
        x: np.ndarray,
        lower: float = DEFAULT_LOWER,
        upper: float = DEFAULT_UPPER,
        seed: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(None if seed is None else int(seed))
        r = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
        noise = np.where(x <= 0, r, np.ones((), x.dtype))
        return apply_noise(x, noise), noise


# ------------------------------------------------------------------ schema
def _infer(ctx: InferenceContext) -> None:
    for i in range(ctx.get_num_outputs()):
        if ctx.has_output(i):
            ctx.set_output_type(i, ctx.get_input_type(0))


def _schema() -> OpSchema:
    param = OpSchema.FormalParameter
    optional = OpSchema.FormalParameterOption.Optional
    floats = OpSchema.AttrType.FLOAT
    schema = OpSchema(
        OP,
        DOMAIN,
        VERSION,
        doc=__doc__ or "",
        inputs=[param("X", "T", "Input.")],
        outputs=[
            param("Y", "T", "X * r where X <= 0, else X."),
            param("noise", "T", "The slopes: r where X <= 0, else 1.", param_option=optional),
        ],
        type_constraints=[
            ("T", ["tensor(float)", "tensor(double)", "tensor(float16)"], "Float tensors.")
        ],
        attributes=[
            OpSchema.Attribute(
                "lower",
                onnx.helper.make_attribute("lower", DEFAULT_LOWER),
                "Lower bound of the uniform slopes.",
            ),
            OpSchema.Attribute(
                "upper",
                onnx.helper.make_attribute("upper", DEFAULT_UPPER),
                "Upper bound of the uniform slopes.",
            ),
            OpSchema.Attribute(
                "seed", floats, "Seed of the generator (absent: unseeded).", required=False
            ),
        ],
        node_determinism=OpSchema.NodeDeterminism.NonDeterministic,  # type: ignore[call-arg]
    )
    schema.set_type_and_shape_inference_function(_infer)
    return schema


SCHEMA = register(_schema())


# ------------------------------------------------------------------ function body
def check_opset(opset: int, where: str) -> None:
    """Refuse ``ai.onnx`` opsets whose ``RandomUniformLike`` onnxruntime cannot run.

    >>> check_opset(22, "RReLU")
    Traceback (most recent call last):
    ...
    onnxlayers.custom_ops._domain.CustomOpError: RReLU: training mode draws random slopes with \
RandomUniformLike, which onnxruntime 1.32 implements up to ai.onnx opset 21; got opset=22: lower \
the model with opset=21 or call .eval()
    """
    if opset > MAX_RANDOM_OPSET:
        raise CustomOpError(
            f"{where}: training mode draws random slopes with RandomUniformLike, which "
            f"onnxruntime 1.32 implements up to ai.onnx opset {MAX_RANDOM_OPSET}; got "
            f"opset={opset!r}: lower the model with opset={MAX_RANDOM_OPSET} or call .eval()"
        )


def function(opset: int) -> onnx.FunctionProto:
    """The body for models of ``ai.onnx`` ``opset`` (<= 21); one body for every provider."""
    check_opset(opset, OP)
    b = Body(opset)
    floats = AttributeProto.FLOAT
    r = b.op(
        "RandomUniformLike",
        "X",
        refs={"low": ("lower", floats), "high": ("upper", floats), "seed": ("seed", floats)},
    )
    nonpositive = b.op("LessOrEqual", "X", b.like(0.0, "X"))
    y = b.op("Where", nonpositive, b.op("Mul", "X", r), "X")
    noise = b.op("Where", nonpositive, r, b.like(1.0, "X"))
    return b.function(
        OP,
        ["X"],
        [y, noise],
        attributes=["lower", "upper", "seed"],
        doc="torch's rrelu in training mode",
        variant="any",
    )


# ------------------------------------------------------------------ emitting
def seed_attr(seed: int | None) -> dict[str, float]:
    """The node's ``seed`` attribute (a float32 in ONNX: seeds must be exact there).

    >>> seed_attr(7), seed_attr(None)
    ({'seed': 7.0}, {})
    """
    if seed is None:
        return {}
    if float(np.float32(seed)) != seed:
        raise CustomOpError(
            f"seed={seed!r} is not exactly representable as ONNX's float32 seed attribute; "
            f"expected an int in [0, {2**24}]"
        )
    return {"seed": float(seed)}


def emit(
    g: GraphLike,
    x: str,
    outputs: Sequence[str],
    *,
    lower: float,
    upper: float,
    seed: int | None,
    name: str,
) -> None:
    """Emit one ``ai.onnxlayers::RReLU`` node (``outputs``: ``[y]`` or ``[y, noise]``).

    The node always names both outputs (onnxruntime wants a function's every output).
    """
    check_opset(g.opset, OP)
    if len(outputs) == 1:
        outputs = [outputs[0], g.fresh(f"{name}/noise")]
    if (DOMAIN, OP) not in g.functions:
        g.add_function(function(g.opset), VERSION)
    attrs: dict[str, Any] = {"lower": float(lower), "upper": float(upper), **seed_attr(seed)}
    g.op(OP, x, outputs=list(outputs), domain=DOMAIN, name=name, **attrs)


__all__ = ["OP", "SCHEMA", "RReLU", "apply_noise", "check_opset", "emit", "function", "seed_attr"]
