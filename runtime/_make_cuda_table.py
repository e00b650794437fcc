"""Regenerate ``runtime/cuda_kernels.tsv`` from the shared onnxruntime CUDA kernel list.

In a checkout (package installed editable), with the project's ``shared/`` folder beside the
repository (``../shared/data/ort-cuda-kernels.tsv`` from its root, `SHARED_TABLE`)::

    python -m onnxlayers.runtime._make_cuda_table [PATH/ort-cuda-kernels.tsv]

It writes ``cuda_kernels.tsv`` beside `cuda_kernels` (or to ``--out``). The derived table keeps
the domains a model can name (``ai.onnx``, ``com.microsoft``; onnxruntime's internal NHWC domain
is dropped), drops sequence types (the check looks at tensor dtypes), and merges adjacent opset
ranges of one op whose dtypes are equal. Its first lines say where it came from.

>>> rows = list(derive(["Relu\\tai.onnx\\t13\\t13\\tT=float", "Relu\\tai.onnx\\t14\\t\\tT=float"]))
>>> [(r.since, r.until) for r in rows]
[(13, None)]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from onnxlayers.runtime.cuda_kernels import TABLE_PATH, KernelRange, read_kernel_rows

KEPT_DOMAINS = ("ai.onnx", "com.microsoft")


def shared_table(repository: Path) -> Path:
    """The shared kernel list of a checkout: ``shared/`` lies beside the repository's root."""
    return repository.resolve().parent / "shared" / "data" / "ort-cuda-kernels.tsv"


SHARED_TABLE = shared_table(Path(__file__).resolve().parents[1])
"""The source list for this checkout (``runtime/`` is one level below the repository root)."""
SOURCE_NOTE = (
    "onnxruntime docs/OperatorKernels.md (microsoft/onnxruntime "
    "commit 001d12d2623fd411ce0f83d05abb5e82304a3389), CUDAExecutionProvider rows"
)


def derive(lines: Iterable[str]) -> Iterator[KernelRange]:
    """The compact rows: kept domains, tensor types only, equal adjacent ranges merged."""
    rows = sorted(
        (_tensor_types_only(r) for r in read_kernel_rows(lines) if r.domain in KEPT_DOMAINS),
        key=lambda r: (r.domain, r.op, r.since),
    )
    previous: KernelRange | None = None
    for row in rows:
        if previous is not None and _continues(previous, row):
            previous = replace(previous, until=row.until)
            continue
        if previous is not None:
            yield previous
        previous = row
    if previous is not None:
        yield previous


def format_row(row: KernelRange) -> str:
    """One TSV line: ``op, domain, since, until (empty = open), types``."""
    types = ";".join(f"{name}={','.join(sorted(dtypes))}" for name, dtypes in row.types)
    until = "" if row.until is None else str(row.until)
    return "\t".join((row.op, row.domain, str(row.since), until, types))


def write_table(source: Path, out: Path = TABLE_PATH) -> int:
    """Derive the table from ``source`` into ``out``; returns the number of rows written."""
    rows = list(derive(source.read_text(encoding="utf-8").splitlines()))
    header = [
        f"# Derived from {source.name}: {SOURCE_NOTE}.",
        "# Regenerate: python -m onnxlayers.runtime._make_cuda_table PATH/ort-cuda-kernels.tsv",
        "# Domains ai.onnx, com.microsoft; sequence types dropped; equal adjacent ranges merged.",
        "op\tdomain\tsince\tuntil\ttypes",
    ]
    out.write_text("\n".join([*header, *map(format_row, rows)]) + "\n", encoding="utf-8")
    return len(rows)


def _tensor_types_only(row: KernelRange) -> KernelRange:
    kept = ((name, frozenset(t for t in ts if not t.startswith("seq("))) for name, ts in row.types)
    return replace(row, types=tuple((name, ts) for name, ts in kept if ts))


def _continues(previous: KernelRange, row: KernelRange) -> bool:
    return (
        (previous.domain, previous.op, previous.types) == (row.domain, row.op, row.types)
        and previous.until is not None
        and previous.until + 1 == row.since
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[SOURCE] [--out PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source",
        type=Path,
        nargs="?",
        default=SHARED_TABLE,
        help=f"ort-cuda-kernels.tsv (default: {SHARED_TABLE})",
    )
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help="derived table to write")
    args = parser.parse_args(argv)
    count = write_table(args.source, args.out)
    print(f"wrote {count} rows to {args.out}")


if __name__ == "__main__":
    main()
