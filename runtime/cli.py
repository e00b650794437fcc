"""The ``onnxlayers`` command line: the package's only argparse user. Each command parses its
arguments here and calls a library function (`verify`, `Session`, `export_factory`,
`write_triton_repository`...).

Exit codes: 0 ok, 1 verification failed, 2 usage or input error.

>>> build_parser().parse_args(["verify", "models/lenet.onnx", "--json"]).json
True
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnxlayers.builder import BuildError, LayerTypeError, Program

from .compare import format_table
from .errors import MismatchError, RuntimeFault

OK, FAILED, USAGE = 0, 1, 2


def _providers(arg: str | None) -> list[str]:
    from .providers import best_providers

    return best_providers() if arg is None else [arg]


# ----------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """Build the model zoo, verify each model on the best provider, print a table."""
    from onnxlayers.builder.zoo import LINEAR_EXAMPLE_INPUT, LINEAR_EXAMPLE_OUTPUT, write_zoo

    from .session import Session
    from .verification import verify

    providers = _providers(args.provider)
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
    got = Session(example, providers=providers).run({"x": LINEAR_EXAMPLE_INPUT})["output"]
    exact = bool(np.array_equal(got, LINEAR_EXAMPLE_OUTPUT))
    failed += not exact
    print(format_table(("model", "provider", "outputs", "max abs err", "vs NumPy oracle"), rows))
    print(
        f"\nlinear_example: [1, 2, 3] -> {got.ravel().tolist()} "
        f"({'exact' if exact else 'WRONG: expected [6, 12, 18, 24]'})"
    )
    print(
        f"{len(paths) - failed} of {len(paths)} models verified"
        if failed
        else f"all {len(paths)} models verified against the NumPy oracle"
    )
    return FAILED if failed else OK


# ----------------------------------------------------------------------------- verify
def cmd_verify(args: argparse.Namespace) -> int:
    from .verification import verify

    reports = [
        verify(
            m, providers=_providers(args.provider), rtol=args.rtol, atol=args.atol, seed=args.seed
        )
        for m in args.model
    ]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        print("\n\n".join(str(r) for r in reports))
    return OK if all(r.ok for r in reports) else FAILED


# ----------------------------------------------------------------------------- run
def _parse_input(text: str) -> tuple[str, Path]:
    name, sep, file = text.partition("=")
    if not sep or not name or not file:
        raise argparse.ArgumentTypeError(f"--input {text!r}: expected NAME=FILE.npy")
    return name, Path(file)


def cmd_run(args: argparse.Namespace) -> int:
    from .session import Session

    feeds = {}
    for name, file in args.input:
        try:
            feeds[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise RuntimeFault(f"--input {name}={file}: cannot read a .npy array ({e})") from e
    outputs = Session(args.model, providers=_providers(args.provider)).run(feeds)
    out_dir = Path(args.output_dir) if args.output_dir else None
    for name, value in outputs.items():
        line = f"{name}: {value.dtype}{list(value.shape)}"
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            np.save(out_dir / f"{_safe(name)}.npy", value)
            line += f" -> {out_dir / (_safe(name) + '.npy')}"
        print(line)
    return OK


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ----------------------------------------------------------------------------- inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    from .loading import load_model
    from .session import Session

    proto = load_model(args.model)
    opsets = {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import}
    info: dict[str, Any] = {
        "model": args.model,
        "opsets": opsets,
        "functions": [f"{f.domain}.{f.name}" for f in proto.functions],
    }
    sess = Session(proto)
    info["inputs"] = [f"{s.name}: {s}" for s in sess.input_specs]
    info["outputs"] = [f"{s.name}: {s}" for s in sess.output_specs]
    try:
        prog = Program.from_onnx(proto, source=args.model)
        info["layers"] = [
            f"{c.node}: {c.type}({_args(c.args)})" + (" [train]" if c.training else "")
            for c in prog.calls
        ]
    except BuildError:
        info["layers"] = None
    if args.provider and args.provider.lower().startswith("cuda"):
        from .cuda_kernels import cuda_caveats, cuda_fallbacks, format_fallbacks
        from .session import prepare_for

        on_cuda = prepare_for(proto, ["CUDAExecutionProvider"])  # what a CUDA session runs
        info["cuda_fallbacks"] = format_fallbacks(cuda_fallbacks(on_cuda), cuda_caveats(on_cuda))
    if args.json:
        print(json.dumps(info, indent=2))
        return OK
    print(f"model:     {args.model}")
    print("opsets:    " + ", ".join(f"{d} {v}" for d, v in opsets.items()))
    print("functions: " + (", ".join(info["functions"]) or "none"))
    print("inputs:    " + ", ".join(info["inputs"]))
    print("outputs:   " + ", ".join(info["outputs"]))
    if info["layers"] is None:
        print("layers:    (no onnxlayers layer program: not built by onnxlayers)")
    else:
        print("layers:")
        for line in info["layers"]:
            print(f"  {line}")
    if "cuda_fallbacks" in info:
        print(info["cuda_fallbacks"])
    return OK


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


# ----------------------------------------------------------------------------- bench
def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench, plot

    batches = [args.batch]
    if args.plot:
        batches = sorted({1 << i for i in range(max(args.batch, 1).bit_length())} | {args.batch})
    results = [
        bench(
            args.model,
            providers=_providers(args.provider),
            batch=b,
            seconds=args.seconds,
            torch=not args.no_torch and b == args.batch,
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
        type=int,
        default=0,
        metavar="N",
        help="batch along the model's dynamic first dim up to N (default 0: off)",
    )
    sp.add_argument(
        "--instances",
        type=int,
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
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def provider(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--provider",
            choices=["cpu", "cuda"],
            default=None,
            help="execution provider (default: CUDA when available, else CPU)",
        )

    sp = sub.add_parser("demo", help="build the example models, verify each, print a table")
    sp.add_argument("--output-dir", default="models", help="where to write them (default: models)")
    provider(sp)
    sp.set_defaults(fn=cmd_demo)

    sp = sub.add_parser("verify", help="run models on onnxruntime and the NumPy oracle; compare")
    sp.add_argument("model", nargs="+", help="ONNX files built by onnxlayers")
    provider(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable report")
    sp.add_argument("--rtol", type=float, default=None, help="relative tolerance override")
    sp.add_argument("--atol", type=float, default=None, help="absolute tolerance override")
    sp.add_argument("--seed", type=int, default=0, help="seed of the random feeds")
    sp.set_defaults(fn=cmd_verify)

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
    provider(sp)
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("inspect", help="inputs, outputs, layers, opsets, custom domains")
    sp.add_argument("model")
    sp.add_argument(
        "--provider",
        default=None,
        help="'cuda': list nodes the CUDA provider has no kernel for (static check)",
    )
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_inspect)

    sp = sub.add_parser("bench", help="latency percentiles, throughput, ratio to torch eager")
    sp.add_argument("model")
    provider(sp)
    sp.add_argument("--batch", type=int, default=1, help="size of dynamic first dims")
    sp.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    sp.add_argument("--no-torch", action="store_true", help="skip the torch eager baseline")
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
