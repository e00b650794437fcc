"""The ``onnxlayers`` command line: the package's only argparse user. Each command parses its
arguments here and calls a library function (`verify`, `Session`, `export_factory`,
`write_triton_repository`...).

Exit codes: 0 ok, 1 verification failed, 2 usage or input error (argparse's own errors, a bad
value such as ``--batch 0``, a file that cannot be loaded, a provider explicitly asked for that
onnxruntime cannot use).

>>> build_parser().parse_args(["verify", "models/lenet.onnx", "--json"]).json
True
>>> build_parser().parse_args(["bench", "m.onnx", "--provider", "cuda"]).provider
'CUDAExecutionProvider'
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from onnxlayers.builder import BuildError, LayerTypeError, Program

from .compare import Report, format_table
from .errors import MismatchError, RuntimeFault
from .feeds import TensorSpec

OK, FAILED, USAGE = 0, 1, 2


def version() -> str:
    """The installed package's version (``onnxlayers --version``).

    >>> version().count(".") >= 1
    True
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("onnxlayers")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
        return "unknown (not installed)"


# ----------------------------------------------------------------------------- argument types
def provider_name(text: str) -> str:
    """argparse type of ``--provider``: ``cpu``, ``cuda`` or an onnxruntime provider name,
    matched like `match_provider` (case-insensitive, partial), to its full name.

    >>> provider_name("cuda"), provider_name("CPUExecutionProvider")
    ('CUDAExecutionProvider', 'CPUExecutionProvider')
    >>> provider_name("nope")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'nope' is not a known execution provider; choose cpu, cuda or ...
    """
    import onnxruntime as ort

    from .errors import ProviderError
    from .providers import match_provider

    try:
        return match_provider(text)
    except ProviderError:
        names = ", ".join(ort.get_all_providers())
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a known execution provider; choose cpu, cuda or one of "
            f"onnxruntime's names: {names}"
        ) from None


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type accepting integers >= ``low`` (``--batch``, ``--instances``...).

    >>> _int_at_least(1)("3")
    3
    >>> _int_at_least(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '0' is invalid; expected an integer >= 1
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected an integer >= {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0.

    >>> positive_float("0.5")
    0.5
    >>> positive_float("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '0' is invalid; expected a number > 0
    """
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected a number > 0")
    return value


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)


def parse_dim(text: str) -> tuple[str, int]:
    """argparse type of ``bench --dims``: ``NAME=SIZE`` (a dim's name, or ``INPUT:AXIS`` for an
    unnamed dim) with SIZE an integer >= 1.

    >>> parse_dim("seq=128"), parse_dim("x:2=7")
    (('seq', 128), ('x:2', 7))
    """
    name, sep, size = text.rpartition("=")
    try:
        value = int(size)
    except ValueError:
        value = 0
    if not sep or not name or value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid; expected NAME=SIZE with SIZE >= 1, NAME a dynamic dim's name "
            "or INPUT:AXIS (e.g. seq=128 or x:1=128)"
        )
    return name, value


# ----------------------------------------------------------------------------- providers
def _probe_model() -> onnx.ModelProto:
    """A one-node model: opening a session on it says whether a provider can be used."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "provider_probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    # IR 10 (opset 21's): onnxruntime releases older than this onnx still read it
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def choose_providers(args: argparse.Namespace) -> list[str]:
    """The providers a command's sessions get, decided once per command, before any run.

    ``--provider X`` is an explicit request: when onnxruntime cannot use X this raises
    `ProviderError` with onnxruntime's reason (exit 2), unless ``--fallback`` allows the CPU, in
    which case onnxruntime's fallback warning is printed to stderr once. Without ``--provider``
    the best available is used (`best_providers`: CUDA then CPU where CUDA is listed) and a
    fallback is allowed, with one note on stderr. Either way the commands print the provider
    their sessions really ran on (``Session.providers``), not this choice.

    >>> choose_providers(argparse.Namespace(provider="CPUExecutionProvider", fallback=False,
    ...                                     command="verify"))
    ['CPUExecutionProvider']
    """
    from .errors import ProviderError
    from .providers import CPU, ProviderFallbackWarning, best_providers
    from .session import Session

    explicit = args.provider is not None
    wanted = [args.provider] if explicit else best_providers()
    if wanted[0] == CPU:
        return wanted
    if explicit and args.fallback:
        wanted.append(CPU)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ProviderFallbackWarning)
            used = Session(_probe_model(), providers=wanted, strict=explicit and not args.fallback)
    except ProviderError as err:
        reason = str(err).removesuffix("; strict=True refuses to fall back")
        raise ProviderError(
            f"--provider {args.provider}: {reason}; pass --fallback to run on the CPU instead"
        ) from None
    if wanted[0] in used.providers:
        return wanted
    reasons = [str(w.message) for w in caught if issubclass(w.category, ProviderFallbackWarning)]
    reason = reasons[0] if reasons else f"{wanted[0]} could not be used"
    kind = "warning" if explicit else "note"
    print(
        f"onnxlayers {args.command}: {kind}: running on {used.providers[0]}: {reason}",
        file=sys.stderr,
    )
    return used.providers


# ----------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """Build the model zoo, verify each model on the best provider, print a table."""
    from onnxlayers.builder.zoo import LINEAR_EXAMPLE_INPUT, LINEAR_EXAMPLE_OUTPUT, write_zoo

    from .session import Session
    from .verification import verify

    providers = choose_providers(args)
    paths = write_zoo(args.output_dir)
    rows, failed = [], 0
    for path in paths:
        report = verify(path, providers=providers)
        used = report.providers[0]
        worst = max((r.max_abs for r in report.rows), default=0.0)
        rows.append(
            (
                path.name,
                used.removesuffix("ExecutionProvider"),
                len(report.rows),
                f"{worst:.2g}",
                "ok" if report.ok else "FAIL",
            )
        )
        if not report.ok:
            failed += 1
            print(report, file=sys.stderr)
    example = Path(args.output_dir) / "linear_example.onnx"
    session = Session(example, providers=providers)
    got = session.run({"x": LINEAR_EXAMPLE_INPUT})["output"]
    exact = bool(np.array_equal(got, LINEAR_EXAMPLE_OUTPUT))
    failed += not exact
    print(format_table(("model", "provider", "outputs", "max abs err", "vs NumPy oracle"), rows))
    print(
        f"\nlinear_example on {session.providers[0]}: [1, 2, 3] -> {got.ravel().tolist()} "
        f"({'exact' if exact else 'WRONG: expected [6, 12, 18, 24]'})"
    )
    print(
        f"{len(paths) - failed} of {len(paths)} models verified"
        if failed
        else f"all {len(paths)} models verified against the NumPy oracle"
    )
    return FAILED if failed else OK


# ----------------------------------------------------------------------------- verify
@dataclass
class Checked:
    """One model of ``verify A B C``: its report, or the error that stopped it.

    >>> Checked("gone.onnx", error="gone.onnx: no such file").as_dict()["status"]
    'error'
    """

    model: str
    report: Report | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        if self.report is None:
            return "error"
        return "ok" if self.report.ok else "FAIL"

    @property
    def provider(self) -> str:
        """The provider that really ran (``-`` when none did)."""
        if self.report is None or not self.report.providers:  # not `if report`: bool is .ok
            return "-"
        return self.report.providers[0]

    def as_dict(self) -> dict[str, Any]:
        report = self.report.as_dict() if self.report is not None else {"ok": False}
        return {
            "model": self.model,
            "status": self.status,
            "provider": None if self.report is None else self.provider,
            "providers": list(self.report.providers) if self.report is not None else [],
            "error": self.error,
            **report,
        }


def _check_one(path: str, args: argparse.Namespace, providers: list[str]) -> Checked:
    from .verification import verify

    try:
        report = verify(path, providers=providers, rtol=args.rtol, atol=args.atol, seed=args.seed)
    except (BuildError, LayerTypeError, RuntimeFault, OSError) as e:
        print(f"onnxlayers verify: error: {e}", file=sys.stderr)
        return Checked(path, error=str(e))
    return Checked(path, report=report)


def _short(text: str, width: int = 72) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify every model, then a summary line per model; a model that cannot be loaded or has
    no layer program is an error there, not the end of the run. With ``--against``, any ONNX
    file is checked against a torch module instead (random and adversarial feeds)."""
    if args.against:
        return cmd_verify_against(args)
    providers = choose_providers(args)
    checked = []
    for path in args.model:
        one = _check_one(path, args, providers)
        checked.append(one)
        if one.report is not None and not args.json:
            print(one.report, end="\n\n")
    if args.json:
        print(json.dumps([c.as_dict() for c in checked], indent=2))
    else:
        rows = [
            (
                c.model,
                c.provider,
                c.status
                if c.error is None
                else f"error: {_short(c.error.removeprefix(f'{c.model}: '))}",
            )
            for c in checked
        ]
        print(format_table(("model", "provider", "result"), rows))
        counts = {s: sum(c.status == s for c in checked) for s in ("ok", "FAIL", "error")}
        print(
            f"{counts['ok']} of {len(checked)} verified"
            + (f", {counts['FAIL']} failed" if counts["FAIL"] else "")
            + (f", {counts['error']} could not be checked" if counts["error"] else "")
        )
    if any(c.status == "FAIL" for c in checked):
        return FAILED
    return USAGE if any(c.status == "error" for c in checked) else OK


def cmd_verify_against(args: argparse.Namespace) -> int:
    """``verify FILE... --against PY:FACTORY``: 1 on any mismatch, else 0."""
    from .export import load_factory
    from .verification import verify_against

    module = load_factory(args.against).eval()
    providers = choose_providers(args)
    reports = [
        verify_against(
            path,
            module,
            providers=providers,
            rtol=args.rtol,
            atol=args.atol,
            seed=args.seed,
            input_shapes=args.input_shape,
            kinds=args.feed_kinds,
        )
        for path in args.model
    ]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        print("\n\n".join(str(r) for r in reports))
    return OK if all(r.ok for r in reports) else FAILED


def _feed_kinds(text: str) -> list[str]:
    from .adversarial import FEED_KINDS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in FEED_KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"feed kinds {text!r}: unknown {unknown!r}; expected some of {list(FEED_KINDS)!r}"
        )
    return kinds


# ----------------------------------------------------------------------------- audit
def cmd_audit(args: argparse.Namespace) -> int:
    """Audit each file; print text or JSON; 1 when any node is flagged, else 0."""
    from .audit import audit

    reports = [audit(path) for path in args.model]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        print("\n\n".join(map(str, reports)))
    return OK if all(r.ok for r in reports) else FAILED


# ----------------------------------------------------------------------------- run
def _parse_input(text: str) -> tuple[str, Path]:
    name, sep, file = text.partition("=")
    if not sep or not name or not file:
        raise argparse.ArgumentTypeError(f"--input {text!r}: expected NAME=FILE.npy")
    return name, Path(file)


SMALL = 1000
"""Arrays up to this many elements are printed whole by ``run --print``; larger ones summarised."""


def format_value(value: np.ndarray) -> str:
    """numpy's repr of an output: every element at full (round-trip) precision for a small
    array, numpy's summary plus min/max/mean for a large one.

    >>> print(format_value(np.array([0.1, 1 / 3], np.float32)))
    array([0.1      , 0.33333334], dtype=float32)
    >>> print(format_value(np.arange(2000.0)).splitlines()[-1])
    (2000 elements: min 0, max 1999, mean 999.5)
    """
    array = np.asarray(value)
    with np.printoptions(floatmode="unique", threshold=SMALL, edgeitems=3, linewidth=100):
        text = repr(array)
    if array.size > SMALL and array.dtype.kind in "biuf":
        stats = ", ".join(
            f"{k} {float(f(array)):.6g}"
            for k, f in (("min", np.min), ("max", np.max), ("mean", np.mean))
        )
        text += f"\n({array.size} elements: {stats})"
    return text


def cmd_run(args: argparse.Namespace) -> int:
    """Run any ONNX file on .npy inputs; print each output's type (and values with --print)."""
    from .session import Session

    feeds = {}
    for name, file in args.input:
        try:
            feeds[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise RuntimeFault(f"--input {name}={file}: cannot read a .npy array ({e})") from e
    session = Session(args.model, providers=choose_providers(args))
    outputs = session.run(feeds)
    print(f"provider: {session.providers[0]}")
    out_dir = Path(args.output_dir) if args.output_dir else None
    for name, value in outputs.items():
        line = f"{name}: {value.dtype}{list(value.shape)}"
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            np.save(out_dir / f"{_safe(name)}.npy", value)
            line += f" -> {out_dir / (_safe(name) + '.npy')}"
        print(line)
        if args.print:
            print(format_value(value))
    return OK


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ----------------------------------------------------------------------------- inspect
def graph_specs(proto: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The inputs (initializers excluded) and outputs of a model's graph, read from the file
    (no session: inspect works on files onnxruntime cannot run here).

    >>> import onnx.helper as h
    >>> g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
    ...     [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])],
    ...     [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    >>> [str(s) for s in graph_specs(h.make_model(g))[0] + graph_specs(h.make_model(g))[1]]
    ['float32[N, 3]', 'float32[?]']
    """
    initializers = {t.name for t in proto.graph.initializer}
    inputs = [_spec(v) for v in proto.graph.input if v.name not in initializers]
    return inputs, [_spec(v) for v in proto.graph.output]


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return TensorSpec(value.name, None, None, str(kind or "undefined"))
    tensor = value.type.tensor_type
    onnx_type = f"tensor({onnx.TensorProto.DataType.Name(tensor.elem_type).lower()})"
    try:
        dtype: np.dtype[Any] | None = np.dtype(
            onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        )
    except (KeyError, TypeError, ValueError):
        dtype = None
    shape = (
        tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim
        )
        if tensor.HasField("shape")
        else None
    )
    return TensorSpec(value.name, dtype, shape, onnx_type)


def _spec_dict(spec: TensorSpec) -> dict[str, Any]:
    dtype = spec.dtype.name if spec.dtype is not None else spec.onnx_type
    return {
        "name": spec.name,
        "dtype": dtype,
        "shape": None if spec.shape is None else list(spec.shape),
    }


def jsonable(value: Any) -> Any:
    """A layer argument as JSON: tuples become lists, numpy scalars numbers, the rest repr.

    >>> jsonable({"kernel_size": (2, 2), "p": np.float32(0.5), "dtype": np.dtype("int64")})
    {'kernel_size': [2, 2], 'p': 0.5, 'dtype': "dtype('int64')"}
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return repr(value)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Inputs, outputs, opsets, functions and layers of any ONNX file (ours or not)."""
    from .loading import load_model
    from .providers import CUDA

    proto = load_model(args.model)
    inputs, outputs = graph_specs(proto)
    try:
        prog: Program | None = Program.from_onnx(proto, source=args.model)
    except BuildError:
        prog = None
    info: dict[str, Any] = {
        "model": args.model,
        "opsets": {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import},
        "functions": [{"domain": f.domain, "name": f.name} for f in proto.functions],
        "inputs": [_spec_dict(s) for s in inputs],
        "outputs": [_spec_dict(s) for s in outputs],
        "layer_program": prog is not None,
        "layers": None
        if prog is None
        else [
            {"node": c.node, "type": c.type, "args": jsonable(c.args), "training": c.training}
            for c in prog.calls
        ],
        "provider": args.provider,
        "cuda_fallbacks": None,
        "cuda_caveats": None,
    }
    fallbacks_text = ""
    if args.provider == CUDA:
        from .cuda_kernels import cuda_caveats, cuda_fallbacks, format_fallbacks
        from .session import prepare_for

        on_cuda = prepare_for(proto, [CUDA])  # what a CUDA session runs
        fallbacks, caveats = cuda_fallbacks(on_cuda), cuda_caveats(on_cuda)
        info["cuda_fallbacks"] = [asdict(f) for f in fallbacks]
        info["cuda_caveats"] = [asdict(c) for c in caveats]
        fallbacks_text = format_fallbacks(fallbacks, caveats)
    if args.json:
        print(json.dumps(info, indent=2))
        return OK
    print(f"model:     {args.model}")
    print("opsets:    " + ", ".join(f"{d} {v}" for d, v in info["opsets"].items()))
    print("functions: " + (", ".join(f"{f.domain}.{f.name}" for f in proto.functions) or "none"))
    print("inputs:    " + ", ".join(f"{s.name}: {s}" for s in inputs))
    print("outputs:   " + ", ".join(f"{s.name}: {s}" for s in outputs))
    if prog is None:
        print("layers:    none (no layer program: not built by onnxlayers)")
    else:
        print("layers:")
        for c in prog.calls:
            print(f"  {c.node}: {c.type}({_args(c.args)})" + (" [train]" if c.training else ""))
    if fallbacks_text:
        print(fallbacks_text)
    return OK


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


# ----------------------------------------------------------------------------- bench
def cmd_bench(args: argparse.Namespace) -> int:
    """Time any ONNX file (``--no-torch``), or ours against torch eager."""
    from .bench import bench, plot, torch_program
    from .loading import load_model

    proto = load_model(args.model)
    if not args.no_torch:
        torch_program(proto, repr(args.model))  # before any timing: says to pass --no-torch
    providers = choose_providers(args)
    batches = [args.batch]
    if args.plot:
        batches = sorted({1 << i for i in range(args.batch.bit_length())} | {args.batch})
    results = [
        bench(
            proto,
            providers=providers,
            batch=b,
            seconds=args.seconds,
            torch=not args.no_torch and b == args.batch,
            label=args.model,
            dims=dict(args.dims),
        )
        for b in batches
    ]
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            print(r)
        if args.plot:
            print(f"plot written to {args.plot}")
    return OK


# ----------------------------------------------------------------------------- export
def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,3,32,32"`` -> ``(1, 3, 32, 32)``; every dim an int >= 0.

    >>> parse_shape("1, 3,32,32")
    (1, 3, 32, 32)
    """
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"input shape {text!r} is invalid; expected comma-separated ints >= 0 such as 1,3,32,32"
        )
    return dims


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_factory

    try:
        model = export_factory(
            args.factory,
            args.input_shape,
            args.output,
            verify=args.verify,
            dynamic_batch=not args.static_batch,
            training=args.training,
            log=print,
        )
    except MismatchError:
        return FAILED
    shapes = ", ".join(f"{t.name}{list(t.shape)}" for t in model.inputs)
    print(f"wrote {args.output}: {len(model.calls)} layer calls, inputs {shapes}")
    return OK


def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export FILE.py:FACTORY --input-shape ... -o model.onnx [--verify]``."""
    sp: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="export a torch module made by FILE.py:FACTORY to ONNX"
    )
    sp.add_argument(
        "factory",
        metavar="FILE.py:FACTORY",
        help="a file and a callable in it returning a torch.nn.Module",
    )
    sp.add_argument(
        "--input-shape",
        required=True,
        type=parse_shape,
        metavar="1,3,32,32",
        help="the example input's shape (its first dim becomes dynamic)",
    )
    sp.add_argument("-o", "--output", required=True, metavar="model.onnx")
    sp.add_argument(
        "--verify",
        action="store_true",
        help="check onnxruntime vs NumPy oracle vs torch before writing",
    )
    sp.add_argument(
        "--static-batch",
        action="store_true",
        help="keep the first dim static instead of a dynamic batch dim",
    )
    sp.add_argument(
        "--training",
        action="store_true",
        help="keep each module's training flag (default: export eval behaviour, as "
        "torch.onnx.export does)",
    )
    sp.set_defaults(fn=cmd_export)
    return sp


# ----------------------------------------------------------------------------- export-triton
def cmd_export_triton(args: argparse.Namespace) -> int:
    from .triton import write_triton_repository

    folder = write_triton_repository(
        args.model,
        args.repository,
        name=args.name,
        max_batch_size=args.max_batch_size,
        instances=args.instances,
        provider=args.provider,
        overwrite=args.overwrite,
    )
    print(f"wrote {folder / 'config.pbtxt'} and {folder / '1' / 'model.onnx'}")
    print(f"serve with: tritonserver --model-repository={Path(args.repository).resolve()}")
    return OK


def add_triton_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export-triton MODEL --repository DIR ...`` to an argparse subparsers object."""
    from .triton import KINDS

    sp: argparse.ArgumentParser = subparsers.add_parser(
        "export-triton", help="write a Triton Inference Server model repository for a model"
    )
    sp.add_argument("model", help="an ONNX file")
    sp.add_argument(
        "--repository",
        required=True,
        metavar="DIR",
        help="the model repository (created if missing)",
    )
    sp.add_argument("--name", help="model name (default: the file's stem)")
    sp.add_argument(
        "--max-batch-size",
        type=nonnegative_int,
        default=0,
        metavar="N",
        help="batch along the model's dynamic first dim up to N (default 0: off)",
    )
    sp.add_argument(
        "--instances",
        type=positive_int,
        default=1,
        metavar="K",
        help="model instances per GPU or on the CPU (default 1)",
    )
    sp.add_argument(
        "--provider", choices=sorted(KINDS), default="cpu", help="where instances run (default cpu)"
    )
    sp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a different model already stored under that name",
    )
    sp.set_defaults(fn=cmd_export_triton)
    return sp


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="onnxlayers",
        description="Export PyTorch-style layers to ONNX, run them on onnxruntime and verify "
        "every result against a NumPy oracle.",
        epilog="Exit codes: 0 ok, 1 verification failed, 2 usage or input error.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def provider(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--provider",
            type=provider_name,
            default=None,
            metavar="{cpu,cuda,...}",
            help="execution provider: cpu, cuda or an onnxruntime name; an explicit request "
            "fails (exit 2) when onnxruntime cannot use it, unless --fallback (default: CUDA "
            "when onnxruntime lists it, else CPU, falling back to CPU with a note on stderr)",
        )
        sp.add_argument(
            "--fallback",
            action="store_true",
            help="with --provider: run on the CPU (with a warning) when the provider cannot "
            "be used",
        )

    sp = sub.add_parser("demo", help="build the example models, verify each, print a table")
    sp.add_argument("--output-dir", default="models", help="where to write them (default: models)")
    provider(sp)
    sp.set_defaults(fn=cmd_demo)

    sp = sub.add_parser("verify", help="run models on onnxruntime and the NumPy oracle; compare")
    sp.add_argument(
        "model",
        nargs="+",
        help="ONNX files built by onnxlayers (any ONNX file with --against); each is checked, "
        "then a summary line per model",
    )
    provider(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable report")
    sp.add_argument("--rtol", type=float, default=None, help="relative tolerance override")
    sp.add_argument("--atol", type=float, default=None, help="absolute tolerance override")
    sp.add_argument("--seed", type=int, default=0, help="seed of the random feeds")
    sp.add_argument(
        "--against",
        metavar="PY:FACTORY",
        default=None,
        help="check any ONNX file against the torch module FACTORY() in FILE.py returns (put "
        "in eval mode, as torch.onnx.export does; it must rebuild the file's weights: seed it "
        "or load a state dict), on random and adversarial feeds",
    )
    sp.add_argument(
        "--input-shape",
        type=parse_shape,
        action="append",
        default=None,
        metavar="1,3,32,32",
        help="with --against: an input's shape (repeat per input, in order); dynamic dims "
        "default to 2 (first) and 16",
    )
    sp.add_argument(
        "--feed-kinds",
        type=_feed_kinds,
        default=None,
        metavar="random,nan,...",
        help="with --against: the feed kinds to run (default: all of random, nan, inf, ties, "
        "constant, large, negative, zeros)",
    )
    sp.set_defaults(fn=cmd_verify)

    sp = sub.add_parser(
        "audit",
        help="list nodes of any ONNX file that onnxruntime computes unlike torch",
        description="A static scan: each flagged node with the op, torch's behaviour, what "
        "onnxruntime does, when it shows and the fix. Exit 1 when anything is flagged.",
    )
    sp.add_argument("model", nargs="+", metavar="FILE", help="ONNX files (from any exporter)")
    sp.add_argument("--json", action="store_true", help="machine-readable report")
    sp.set_defaults(fn=cmd_audit)

    sp = sub.add_parser("run", help="run a model on .npy inputs")
    sp.add_argument("model")
    sp.add_argument(
        "--input",
        action="append",
        type=_parse_input,
        default=[],
        required=True,
        metavar="NAME=FILE.npy",
        help="an input (repeat for each)",
    )
    sp.add_argument("--output-dir", help="write each output to DIR/<name>.npy")
    sp.add_argument(
        "--print",
        action="store_true",
        help="print each output's values (every element of small arrays, full precision)",
    )
    provider(sp)
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("inspect", help="inputs, outputs, layers, opsets, custom domains")
    sp.add_argument("model", help="any ONNX file")
    sp.add_argument(
        "--provider",
        type=provider_name,
        default=None,
        metavar="{cpu,cuda,...}",
        help="cuda: list nodes the CUDA provider has no kernel for (static check, no GPU needed)",
    )
    sp.add_argument("--json", action="store_true", help="structured fields, for tools")
    sp.set_defaults(fn=cmd_inspect)

    sp = sub.add_parser("bench", help="latency percentiles, throughput, ratio to torch eager")
    sp.add_argument("model", help="any ONNX file with --no-torch; ours for the torch ratio")
    provider(sp)
    sp.add_argument(
        "--batch", type=positive_int, default=1, help="size of dynamic first dims (>= 1)"
    )
    sp.add_argument(
        "--dims",
        type=parse_dim,
        action="append",
        default=[],
        metavar="NAME=SIZE",
        help="size of another dynamic dim, by name (or INPUT:AXIS when unnamed); repeat for "
        "each; there is no default size for them",
    )
    sp.add_argument(
        "--seconds", type=positive_float, default=2.0, help="time per measurement (> 0)"
    )
    sp.add_argument(
        "--no-torch",
        action="store_true",
        help="skip the torch eager baseline (needed for files without our layer program)",
    )
    sp.add_argument("--json", action="store_true")
    sp.add_argument(
        "--plot", metavar="FILE.png", help="also sweep batch 1, 2, 4.. and plot (needs matplotlib)"
    )
    sp.set_defaults(fn=cmd_bench)

    add_export_parser(sub)
    add_triton_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except (BuildError, LayerTypeError, RuntimeFault, FileNotFoundError, ImportError) as e:
        print(f"onnxlayers {args.command}: error: {e}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
