"""``from_torch``: round trips from torch for every supported layer (module and functional
forms), Sequential trees, fx modules (pool -> unpool, flatten, residual adds), the zoo's torch
equivalents, and the errors for what is not supported."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
    from torch import nn
else:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    F = torch.nn.functional

from onnxlayers.builder import (
    LAYERS,
    BuildError,
    LayerArgumentError,
    LayerTypeError,
    ShapeError,
)
from onnxlayers.builder.torch_import import (
    UnsupportedTorchError,
    from_torch,
    run_torch,
    supported,
)
from onnxlayers.runtime import oracle
from tests.helpers import assert_close, run_oracle, run_ort, torch_tolerance


def _have(layer: str, module: str) -> bool:
    """Whether a layer written by another module is there (importing it registers it)."""
    try:
        importlib.import_module(f"onnxlayers.builder.layers.{module}")
    except ImportError:
        return False
    return layer in LAYERS


POOL = pytest.mark.skipif(not _have("MaxPool2d", "pooling"), reason="pooling layers missing")
UNPOOL = pytest.mark.skipif(
    not (_have("MaxPool2d", "pooling") and _have("MaxUnpool2d", "unpool")),
    reason="unpool layer missing",
)


class Fn(nn.Module):
    """A module whose forward is ``fn(self, x)``; keyword tensors become parameters."""

    def __init__(self, fn: Callable[..., Any], **params: Any) -> None:
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, nn.Parameter(v))

    def forward(self, x: Any) -> Any:
        return self.fn(self, x)


class Fn2(Fn):
    """``fn(self, x, y)``: two inputs."""

    def forward(self, x: Any, y: Any) -> Any:  # type: ignore[override]
        return self.fn(self, x, y)


def feeds_for(model: Any, batch: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Random normal feeds; the dynamic batch dim gets ``batch`` (not the example's)."""
    rng = np.random.default_rng(seed)
    return {
        t.name: rng.standard_normal([batch if d == "N" else d for d in t.shape]).astype(t.dtype)
        for t in model.inputs
    }


def roundtrip(module: Any, example: Any, *, exact: bool = False, **kw: Any) -> Any:
    """Convert, run torch, onnxruntime and the oracle on the same feeds, compare all three."""
    model = from_torch(module, example, **kw)
    feeds = feeds_for(model)
    expected = run_torch(module, list(feeds.values()))
    rtol, atol = torch_tolerance(model.inputs[0].dtype)
    for what, got in (("onnxruntime", run_ort(model, feeds)), ("oracle", run_oracle(model, feeds))):
        assert len(got) == len(expected), what
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_close(
                g,
                e,
                rtol=rtol,
                atol=atol,
                exact=exact or e.dtype.kind == "i",
                what=f"{what} output {i}",
            )
    return model


def seeded(module: Any, seed: int = 0) -> Any:
    """Random (not default) parameters, so a slope or weight mix-up shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return module


# ------------------------------------------------------------------------------ modules
MODULES = [
    pytest.param(lambda: nn.Linear(5, 3), (2, 5), False, id="Linear"),
    pytest.param(lambda: nn.Linear(5, 3, bias=False), (2, 4, 5), False, id="Linear-nobias-3d"),
    pytest.param(lambda: nn.ReLU(), (2, 3, 4), True, id="ReLU"),
    pytest.param(lambda: nn.Sigmoid(), (2, 7), False, id="Sigmoid"),
    pytest.param(lambda: nn.Tanh(), (2, 7), False, id="Tanh"),
    pytest.param(lambda: nn.LeakyReLU(0.3), (2, 7), True, id="LeakyReLU"),
    pytest.param(lambda: seeded(nn.PReLU()), (2, 7), True, id="PReLU"),
    pytest.param(lambda: seeded(nn.PReLU(4)), (2, 4, 3, 3), True, id="PReLU-channels"),
    pytest.param(lambda: nn.RReLU(0.1, 0.3).eval(), (2, 7), True, id="RReLU-eval"),
    pytest.param(lambda: nn.Flatten(), (2, 3, 4, 5), True, id="Flatten"),
    pytest.param(lambda: nn.Flatten(2, 3), (2, 3, 4, 5), True, id="Flatten-2-3"),
    pytest.param(
        lambda: nn.Sequential(nn.Identity(), nn.Dropout(0.5).eval(), nn.ReLU()),
        (2, 3),
        True,
        id="Identity-Dropout-eval",
    ),
    pytest.param(lambda: nn.MaxPool2d(2), (2, 3, 8, 8), True, id="MaxPool2d", marks=POOL),
    pytest.param(
        lambda: nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
        (2, 3, 11, 9),
        True,
        id="MaxPool2d-dilation-ceil",
        marks=POOL,
    ),
    pytest.param(
        lambda: nn.MaxPool2d((3, 2), return_indices=True),
        (2, 3, 9, 8),
        True,
        id="MaxPool2d-indices",
        marks=POOL,
    ),
    pytest.param(
        lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        (2, 3, 9, 8),
        False,
        id="AvgPool2d-exclude-pad",
        marks=POOL,
    ),
    pytest.param(
        lambda: nn.AvgPool2d((2, 3), ceil_mode=True, divisor_override=4),
        (2, 3, 9, 8),
        False,
        id="AvgPool2d-ceil-divisor",
        marks=POOL,
    ),
]


@pytest.mark.parametrize(("make", "shape", "exact"), MODULES)
def test_module_round_trip(make: Callable[[], Any], shape: tuple[int, ...], exact: bool) -> None:
    module = make().eval()
    model = roundtrip(module, shape, exact=exact)
    assert model.inputs[0].shape == ("N", *shape[1:])


# ------------------------------------------------------------------------------ functions
def _pool_unpool(s: Any, x: Any) -> Any:
    y, i = F.max_pool2d(x, 2, return_indices=True)
    return F.max_unpool2d(y, i, 2, output_size=x.size())  # type: ignore[arg-type]


def _pool_unpool_hw(s: Any, x: Any) -> Any:
    y, i = F.max_pool2d(x, (2, 3), return_indices=True)
    return F.max_unpool2d(y, i, (2, 3), output_size=(x.size(2), x.shape[3]))


W4 = torch.rand(4) - 0.5
W35, B3 = torch.rand(3, 5) - 0.5, torch.rand(3) - 0.5

FUNCTIONS = [
    pytest.param(lambda s, x: F.relu(x), {}, (2, 5), True, id="F.relu"),
    pytest.param(lambda s, x: torch.relu(x), {}, (2, 5), True, id="torch.relu"),
    pytest.param(lambda s, x: x.relu(), {}, (2, 5), True, id="Tensor.relu"),
    pytest.param(lambda s, x: torch.sigmoid(x), {}, (2, 5), False, id="torch.sigmoid"),
    pytest.param(lambda s, x: F.sigmoid(x), {}, (2, 5), False, id="F.sigmoid"),
    pytest.param(lambda s, x: x.sigmoid(), {}, (2, 5), False, id="Tensor.sigmoid"),
    pytest.param(lambda s, x: torch.tanh(x), {}, (2, 5), False, id="torch.tanh"),
    pytest.param(lambda s, x: x.tanh(), {}, (2, 5), False, id="Tensor.tanh"),
    pytest.param(lambda s, x: F.leaky_relu(x, 0.25), {}, (2, 5), True, id="F.leaky_relu"),
    pytest.param(lambda s, x: F.prelu(x, s.w), {"w": W4}, (2, 4, 3), True, id="F.prelu"),
    pytest.param(
        lambda s, x: F.rrelu(x, 0.1, 0.2, training=False), {}, (2, 5), True, id="F.rrelu-eval"
    ),
    pytest.param(
        lambda s, x: F.linear(x, s.w, s.b), {"w": W35, "b": B3}, (2, 5), False, id="F.linear"
    ),
    pytest.param(lambda s, x: F.linear(x, s.w), {"w": W35}, (2, 5), False, id="F.linear-nobias"),
    pytest.param(lambda s, x: torch.flatten(x, 1), {}, (2, 3, 4), True, id="torch.flatten"),
    pytest.param(lambda s, x: x.flatten(), {}, (2, 3, 4), True, id="Tensor.flatten-all"),
    pytest.param(lambda s, x: x.view(x.size(0), -1), {}, (2, 3, 4), True, id="view-size0"),
    pytest.param(lambda s, x: x.reshape(x.shape[0], -1), {}, (2, 3, 4), True, id="reshape-shape0"),
    pytest.param(lambda s, x: x.view(-1, 12), {}, (2, 3, 4), True, id="view-minus1-12"),
    pytest.param(
        lambda s, x: torch.reshape(x, (x.size(0), x.size(1), -1)),
        {},
        (2, 3, 4, 2),
        True,
        id="torch.reshape-keep2",
    ),
    pytest.param(lambda s, x: x.contiguous().relu(), {}, (2, 5), True, id="contiguous"),
    pytest.param(
        lambda s, x: F.dropout(x, 0.5, training=False).relu(), {}, (2, 5), True, id="F.dropout-eval"
    ),
    pytest.param(lambda s, x: x + torch.relu(x), {}, (2, 5), True, id="operator.add"),
    pytest.param(lambda s, x: torch.add(x, F.leaky_relu(x, 0.5)), {}, (2, 5), True, id="torch.add"),
    pytest.param(lambda s, x: x.add(x.relu()), {}, (2, 5), True, id="Tensor.add"),
    pytest.param(
        lambda s, x: F.max_pool2d(x, 2), {}, (2, 3, 6, 6), True, id="F.max_pool2d", marks=POOL
    ),
    pytest.param(
        lambda s, x: F.max_pool2d(x, 3, 2, 1, return_indices=True),
        {},
        (2, 3, 7, 6),
        True,
        id="F.max_pool2d-indices",
        marks=POOL,
    ),
    pytest.param(
        lambda s, x: torch.max_pool2d(x, 2),
        {},
        (2, 3, 6, 6),
        True,
        id="torch.max_pool2d",
        marks=POOL,
    ),
    pytest.param(
        lambda s, x: F.avg_pool2d(x, 2, ceil_mode=True),
        {},
        (2, 3, 7, 6),
        False,
        id="F.avg_pool2d",
        marks=POOL,
    ),
    pytest.param(_pool_unpool, {}, (2, 3, 7, 6), True, id="F.max_unpool2d-size", marks=UNPOOL),
    pytest.param(_pool_unpool_hw, {}, (2, 3, 7, 6), True, id="F.max_unpool2d-hw", marks=UNPOOL),
]


@pytest.mark.parametrize(("fn", "params", "shape", "exact"), FUNCTIONS)
def test_function_round_trip(
    fn: Callable[..., Any], params: dict[str, Any], shape: tuple[int, ...], exact: bool
) -> None:
    roundtrip(Fn(fn, **params), shape, exact=exact)


def test_supported_lists_match_the_layers_present() -> None:
    s = supported()
    assert {"torch.nn.Linear", "torch.nn.Sequential", "torch.nn.PReLU"} <= set(s["modules"])
    assert {"F.relu", "Tensor.view", "operator.add", "F.linear"} <= set(s["functions"])
    assert ("torch.nn.MaxPool2d" in s["modules"]) == ("MaxPool2d" in LAYERS)


# ------------------------------------------------------------------------------ structure
def test_sequential_tree_keeps_torch_state_dict_keys() -> None:
    net = nn.Sequential(
        nn.Sequential(nn.Linear(6, 5), nn.ReLU()),
        nn.Sequential(OrderedDict(fc=nn.Linear(5, 4), act=nn.PReLU(4))),
        nn.Tanh(),
    )
    model = roundtrip(seeded(net), (1, 6))
    ours, theirs = model.state_dict(), net.state_dict()
    assert sorted(ours) == sorted(theirs)
    for k, v in theirs.items():
        np.testing.assert_array_equal(ours[k], v.numpy(), err_msg=k)


class PoolUnpool(nn.Module):
    """SegNet-style: pool with indices -> unpool with output_size=x.size(), flatten, a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.fc = nn.Linear(3 * 7 * 6, 16)
        self.fc2 = nn.Linear(16, 16)

    def forward(self, x: Any) -> Any:
        y, idx = self.pool(x)
        up = self.unpool(torch.relu(y), idx, output_size=x.size())
        h = self.fc(torch.flatten(up + x, 1))
        return h + torch.tanh(self.fc2(h))


@UNPOOL
def test_fx_module_pool_unpool_flatten_residual() -> None:
    model = roundtrip(seeded(PoolUnpool()), (1, 3, 7, 6))
    types = [c.type for c in model.program().calls]
    assert types == [
        "MaxPool2d",
        "ReLU",
        "MaxUnpool2d",
        "Add",
        "Flatten",
        "Linear",
        "Linear",
        "Tanh",
        "Add",
    ]
    assert sorted(model.state_dict()) == sorted(PoolUnpool().state_dict())


@POOL
def test_tuple_and_dict_outputs() -> None:
    pooled = roundtrip(nn.MaxPool2d(2, return_indices=True), (1, 2, 4, 4))
    assert pooled.output_names == ["output_0", "output_1"]
    named = roundtrip(Fn(lambda s, x: {"a": x.relu(), "b": x.tanh()}), (1, 3))
    assert named.output_names == ["a", "b"]


def test_two_inputs_and_names() -> None:
    model = roundtrip(Fn2(lambda s, x, y: x + y.relu()), [(2, 4), (2, 4)])
    assert [t.name for t in model.inputs] == ["x", "y"]
    renamed = from_torch(
        Fn2(lambda s, x, y: x + y), [(2, 4), (1, 4)], input_names=["a", "b"], output_names=["sum"]
    )
    assert [t.name for t in renamed.inputs] == ["a", "b"] and renamed.output_names == ["sum"]


def test_broadcasting_add_checks_static_dims() -> None:
    roundtrip(Fn2(lambda s, x, y: x + y), [(2, 3, 4), (4,)], exact=True)
    with pytest.raises(ShapeError, match=r"from_torch: operator.add .*do not broadcast"):
        from_torch(Fn2(lambda s, x, y: x + y), [(2, 3), (2, 4)])


def test_example_tensor_float64_and_static_batch() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).double()
    model = roundtrip(net, torch.zeros(2, 4, dtype=torch.float64), dynamic_batch=False)
    assert model.inputs[0].shape == (2, 4) and model.inputs[0].dtype == "float64"
    assert from_torch(net, (2, 4)).inputs[0].dtype == "float64"  # from the parameters


def test_training_flags_are_copied() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.RReLU())
    kept = from_torch(net.train(), (1, 3), training=True)
    assert all(layer.training for layer in kept.layers.values())
    assert not any(layer.training for layer in from_torch(net.eval(), (1, 3)).layers.values())
    functional = Fn(lambda s, x: F.rrelu(x, training=True)).eval()
    kept = from_torch(functional, (1, 3), training=True)
    assert [layer.training for layer in kept.layers.values()] == [True]
    assert [layer.training for layer in from_torch(functional, (1, 3)).layers.values()] == [False]


def test_shared_module_is_one_layer() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: Any) -> Any:
            return self.fc(self.fc(x))

    model = roundtrip(Twice(), (1, 4))
    assert list(model.layers) == ["fc"] and len(model.calls) == 2


def test_torch_is_not_imported_by_the_package() -> None:
    code = (
        "import sys, onnxlayers.builder, onnxlayers.builder.torch_import, "
        "onnxlayers.runtime.triton, onnxlayers.runtime.export; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ errors
def _error(module: Any, example: Any = (1, 3, 4, 4), kind: type = UnsupportedTorchError) -> str:
    with pytest.raises(kind) as info:
        from_torch(module, example)
    return str(info.value)


def test_unsupported_module_in_sequential_names_path_type_and_set() -> None:
    msg = _error(nn.Sequential(nn.ReLU(), nn.Sequential(nn.Tanh(), nn.GroupNorm(1, 3))))
    assert "module '1.1' (torch.nn.GroupNorm) is not supported" in msg
    assert "Supported modules: " in msg and "torch.nn.Linear" in msg and "F.relu" in msg


def test_every_unsupported_part_is_listed_at_once() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.GroupNorm(1, 3), nn.ReLU(), nn.InstanceNorm2d(3)

        def forward(self, x: Any) -> Any:
            return self.c(torch.sin(self.b(self.a(x)))) + torch.cos(x)

    msg = _error(Net())
    assert "4 part(s) of the model are not supported" in msg
    net = "the top-level module ("
    for part in (
        "module 'a' (torch.nn.GroupNorm)",
        f"torch.sin in {net}",
        "module 'c' (torch.nn.InstanceNorm2d)",
        f"torch.cos in {net}",
    ):
        assert part in msg, part


def test_unsupported_top_level_module() -> None:
    assert "the top-level module (torch.nn.GroupNorm) is not supported" in _error(
        nn.GroupNorm(1, 3)
    )


class Sine(nn.Module):
    def forward(self, x: Any) -> Any:
        return torch.sin(x)


def test_custom_op_in_forward_names_function_and_module() -> None:
    msg = _error(nn.Sequential(nn.ReLU(), nn.Sequential(Sine())))
    assert f"torch.sin in module '1.0' ({__name__}.Sine) is not supported" in msg


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        pytest.param(
            lambda s, x: x.view(1, -1),
            r"reshaping \('N', 3, 4, 4\) to \(1, -1\)",
            id="view-literal-batch",
        ),
        pytest.param(lambda s, x: x + 1.0, r"is not supported: input 1 is 1\.0", id="add-scalar"),
        pytest.param(lambda s, x: torch.add(x, x, alpha=2), r"alpha=2", id="add-alpha"),
        pytest.param(lambda s, x: x[:, 0], r"indexing", id="tensor-index"),
        pytest.param(lambda s, x: x * 2, r"operator.mul in the top-level module", id="mul"),
    ],
)
def test_unsupported_functions(fn: Callable[..., Any], match: str) -> None:
    with pytest.raises(UnsupportedTorchError, match=match):
        from_torch(Fn(fn), (1, 3, 4, 4))


def test_training_modules_export_eval_behaviour_by_default() -> None:
    net = nn.Sequential(nn.Dropout(0.2), nn.RReLU(0.1, 0.3), nn.ReLU()).train()
    model = from_torch(net, (1, 3))
    assert not any(layer.training for layer in model.layers.values())
    assert all(m.training for m in net.modules())  # the module is put back as it was
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_allclose(oracle.run(model, {"input": x})["output"], [[0.0, 0.5, 2.0]])


def test_training_true_keeps_the_flags_and_refuses_training_dropout() -> None:
    model = from_torch(nn.Sequential(nn.RReLU(0.1, 0.3)).train(), (1, 3), training=True)
    assert all(layer.training for layer in model.layers.values())
    with pytest.raises(BuildError, match=r"Dropout '0': training-mode dropout is random"):
        from_torch(nn.Sequential(nn.Dropout(0.2), nn.ReLU()).train(), (1, 3), training=True)


def test_data_dependent_control_flow() -> None:
    def branchy(s: Any, x: Any) -> Any:
        return x.relu() if x.sum() > 0 else x

    assert "torch.fx cannot trace" in _error(Fn(branchy))


def test_bad_arguments() -> None:
    with pytest.raises(LayerTypeError, match=r"expected a torch\.nn\.Module"):
        from_torch(object(), (1, 3))
    with pytest.raises(LayerTypeError, match="example='abc' is invalid"):
        from_torch(nn.ReLU(), "abc")
    with pytest.raises(LayerArgumentError, match=r"takes 1 inputs \['input'\]; got 2"):
        from_torch(nn.ReLU(), [(1, 3), (1, 3)])
    with pytest.raises(UnsupportedTorchError, match=r"output 0 .* is Tensor"):
        from_torch(Fn(lambda s, x: x), (1, 3))


def test_layer_errors_name_the_torch_module() -> None:
    msg = _error(nn.Sequential(nn.Flatten(), nn.Linear(5, 2)), (1, 3, 4), ShapeError)
    assert msg.startswith("from_torch: module '1' (torch.nn.Linear): Linear '1':")


# ------------------------------------------------------------------------------ verify(against=)
def test_verify_against_torch_gives_three_pairs_in_one_report() -> None:
    from onnxlayers.runtime.verification import verify

    net = seeded(nn.Sequential(nn.Linear(6, 4), nn.PReLU(4), nn.Linear(4, 2), nn.Sigmoid()))
    report = verify(from_torch(net, (1, 6)), against=net)
    assert report.ok, str(report)
    assert [r.pair for r in report.rows] == [
        "onnxruntime vs oracle",
        "oracle vs torch",
        "onnxruntime vs torch",
    ]
    text = str(report)
    assert "vs NumPy oracle vs torch" in text and text.splitlines()[1].startswith("pair")
    assert [row["pair"] for row in report.as_dict()["outputs"]] == [r.pair for r in report.rows]


def test_verify_against_a_different_module_fails_only_torch_pairs() -> None:
    from onnxlayers.runtime.verification import verify

    net = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    other = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    report = verify(from_torch(net, (1, 3)), against=other)
    assert not report.ok
    assert {r.pair: r.ok for r in report.rows} == {
        "onnxruntime vs oracle": True,
        "oracle vs torch": False,
        "onnxruntime vs torch": False,
    }
    assert "training mode" not in str(report)  # exported in eval mode: no random layer


@POOL
def test_verify_against_torch_compares_indices_exactly() -> None:
    from onnxlayers.runtime.verification import verify

    pool = nn.MaxPool2d(2, return_indices=True)
    report = verify(from_torch(pool, (1, 2, 6, 6)), against=pool)
    assert report.ok and [r.rtol for r in report.rows if r.dtype == "int64"] == [0.0] * 3


def test_verify_against_a_module_with_other_outputs() -> None:
    from onnxlayers.runtime.errors import InputError
    from onnxlayers.runtime.verification import verify

    model = from_torch(Fn(lambda s, x: (x.relu(), x.tanh())), (1, 3))
    with pytest.raises(InputError, match="returned 1 outputs; the model has 2"):
        verify(model, against=nn.ReLU())


def test_plain_verify_report_is_unchanged() -> None:
    from onnxlayers.runtime.verification import verify

    report = verify(from_torch(nn.ReLU(), (1, 3)))
    assert len(report.rows) == 1 and report.rows[0].pair == ""
    assert "pair" not in report.as_dict()["outputs"][0]
    assert str(report).splitlines()[1].startswith("output")


# ------------------------------------------------------------------------------ the zoo
def _lenet() -> Any:
    return nn.Sequential(
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(49, 32),
        nn.ReLU(),
        nn.Linear(32, 32),
        nn.LeakyReLU(0.1),
        nn.PReLU(32),
        nn.Linear(32, 16),
        nn.Tanh(),
        nn.RReLU(),
        nn.Linear(16, 10),
        nn.Sigmoid(),
    ).eval()


def _conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))


class SegNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc1, self.enc2, self.dec2 = _conv_bn(3, 4), _conv_bn(4, 8), _conv_bn(8, 4)
        self.pool1 = nn.MaxPool2d(2, return_indices=True)
        self.pool2 = nn.MaxPool2d(2, return_indices=True)
        self.unpool2 = nn.MaxUnpool2d(2)
        self.unpool1 = nn.MaxUnpool2d(2)
        self.dec1 = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, image: Any) -> Any:
        e1 = self.enc1(image)
        h1, i1 = self.pool1(e1)
        e2 = self.enc2(h1)
        h2, i2 = self.pool2(e2)
        d2 = self.dec2(self.unpool2(h2, i2, output_size=e2.size()))
        return self.dec1(self.unpool1(d2, i1, output_size=e1.size()))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.downsample = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride > 1 else None
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = _conv_bn(cout, cout, relu=False)
        self.relu = nn.ReLU()

    def forward(self, h: Any) -> Any:
        identity = h if self.downsample is None else self.downsample(h)
        return self.relu(self.conv2(self.conv1(h)) + identity)


class ResNetSmall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.maxpool = _conv_bn(3, 6), nn.MaxPool2d(3, 2, 1)
        self.block1, self.block2 = _Block(6, 6, 1), _Block(6, 12, 2)
        self.avgpool, self.flatten = nn.AdaptiveAvgPool2d(1), nn.Flatten()
        self.fc = nn.Linear(12, 10)

    def forward(self, image: Any) -> Any:
        h = self.block2(self.block1(self.maxpool(self.stem(image))))
        return self.fc(self.flatten(self.avgpool(h)))


class UNetSmall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inc, self.down1, self.down2 = _conv_bn(3, 4), _conv_bn(4, 8), _conv_bn(8, 8)
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)
        self.up1 = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.conv1, self.conv2 = _conv_bn(16, 4), _conv_bn(8, 4)
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.outc = nn.Conv2d(4, 2, 1)

    def forward(self, image: Any) -> Any:
        x1 = self.inc(image)
        x2 = self.down1(self.pool1(x1))
        x3 = self.down2(self.pool2(x2))
        y = self.conv1(torch.cat([x2, self.up1(x3)], 1))
        y = self.conv2(torch.cat([x1, self.up2(y)], 1))
        return self.outc(y)


class AvgPoolCeil(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.exclude_pad = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.divisor = nn.AvgPool2d((3, 2), (2, 3), (1, 1), ceil_mode=True, divisor_override=5)

    def forward(self, x: Any) -> Any:
        return self.exclude_pad(x), self.divisor(x)


def _linear_example() -> Any:
    lin = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(1.0, 5.0)[:, None].expand(4, 3))
    return lin


ZOO_TORCH = {
    "linear_example": (_linear_example, (1, 3)),
    "lenet": (_lenet, (1, 1, 28, 28)),
    "segnet": (SegNet, (1, 3, 17, 15)),
    "resnet_small": (ResNetSmall, (1, 3, 32, 32)),
    "unet_small": (UNetSmall, (1, 3, 16, 16)),
    "avgpool_ceil": (AvgPoolCeil, (1, 4, 9, 10)),
}


@UNPOOL
@pytest.mark.parametrize("name", sorted(ZOO_TORCH))
def test_zoo_torch_equivalents(name: str) -> None:
    """The torch twin of each zoo model converts to the same layer program and, with the zoo's
    weights, gives the zoo model's outputs exactly; and it round-trips against torch."""
    zoo = importlib.import_module("onnxlayers.builder.zoo")
    native = zoo.ZOO[name]()
    make, shape = ZOO_TORCH[name]
    module = make().eval()
    weights = native.state_dict()
    if weights and name != "linear_example":
        result = module.load_state_dict(
            {k: torch.from_numpy(v) for k, v in weights.items()}, strict=False
        )
        assert not result.unexpected_keys
        assert all(k.endswith("num_batches_tracked") for k in result.missing_keys)
    model = roundtrip(
        module, shape, input_names=[t.name for t in native.inputs], output_names=native.output_names
    )
    assert [c.type for c in model.program().calls] == [c.type for c in native.program().calls]
    feeds = feeds_for(model, batch=2, seed=1)
    for ours, theirs in zip(run_ort(model, feeds), run_ort(native, feeds), strict=True):
        np.testing.assert_array_equal(ours, theirs)
